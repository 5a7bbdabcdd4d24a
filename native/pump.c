/*
 * kong-ts's native byte pump: the bytes of a connected plain TCP session, both ways, on Node's own event loop.
 *
 * The TypeScript side accepts, routes, runs the preread plugins and connects (src/proxy/); once a plain client and
 * a plain upstream are connected it hands both descriptors here (src/proxy/native-pump.ts) and lets go of its two
 * net.Socket objects. From then on a session costs one `struct pair` (under 200 bytes) instead of two sockets
 * with their stream states, and a read is one read() and one send() in C with no JavaScript in between.
 *
 * The pairs' descriptors live in one epoll set of ours, level-triggered, which Node's loop watches as one more
 * descriptor (one uv_poll_t for the whole set): a pair costs two EPOLL_CTL_ADD at start and two EPOLL_CTL_DEL at
 * the end, plus one call when a side stops or starts being read (backpressure, EOF). A side with nothing to watch is
 * taken out of the set (a hung-up socket would otherwise be reported again and again).
 *
 * Semantics kept from the TypeScript pipe (session-pipe.ts, session.ts):
 *   - backpressure: a side is not read while the bytes it sent wait to be written to the other side;
 *   - half-close: EOF from one side becomes shutdown(SHUT_WR) on the other once its pending bytes are written;
 *     the pair ends when both directions have ended;
 *   - an error on either side (reset, broken pipe) ends the pair at once;
 *   - timeouts (one sweep timer for all pairs): with no progress (a read or a write on either side), a pending write
 *     to the upstream is cut after write_timeout (when shorter), otherwise the pair after read_timeout.
 * Every end calls the JavaScript callback once, with who closed first and the four byte counts.
 *
 * It runs on the main thread's loop only (one instance per process; a second environment gets no exports and the
 * TypeScript path serves there).
 */
#include <errno.h>

#include "pump.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

static napi_env g_env = NULL;
static napi_ref g_callback = NULL;
static napi_ref g_on_connect = NULL; /* (id, errno): an upstream connect asked by connect() finished */
static napi_async_context g_async = NULL;
uv_loop_t *g_loop = NULL;
static uv_timer_t g_sweep;
static int g_epfd = -1;
static uv_poll_t g_set; /* Node's loop watching our epoll set */
static pair_t *g_dead = NULL; /* ended pairs: freed where no event fetched from the set can still name them */
static uint64_t g_sweep_every = 0; /* ms; 0 while the timer has not started */
static pair_t *g_live = NULL;
static uint32_t g_count = 0;
char g_buf[READ_SIZE];
/* set while start() settles a new pair, and at teardown: an end then is not reported (start returns an error) */
static int g_quiet = 0;

/* id -> pair */
static slots_t g_slots;

int slot_take(pair_t *p) {
  p->id = slots_take(&g_slots, p);
  return p->id ? 0 : -1;
}

static void slot_give(pair_t *p) { slots_give(&g_slots, p->id); }

static pair_t *slot_get(uint32_t id) { return slots_get(&g_slots, id); }

/* The open pair `id` names, NULL when none is (tls.c). */
pair_t *pair_of(uint32_t id) {
  pair_t *p = slot_get(id);
  return p && !p->closing ? p : NULL;
}

static void free_dead(void) {
  while (g_dead) {
    pair_t *p = g_dead;
    g_dead = p->next;
    free(p);
  }
}

/* Takes a side out of the set (if in it) and closes its descriptor. */
static void drop_side(side_t *s) {
  if (s->fd < 0) return;
  if (s->events) epoll_ctl(g_epfd, EPOLL_CTL_DEL, s->fd, NULL);
  s->events = 0;
  close(s->fd);
  s->fd = -1;
}

/* The end callback's arguments: (id, closedBy, clientRead, upstreamWritten, upstreamRead, clientWritten). */
static void end_args(napi_env env, void *ctx, napi_value *argv) {
  pair_t *p = ctx;
  napi_create_uint32(env, p->id, &argv[0]);
  napi_create_uint32(env, p->closed_by, &argv[1]);
  napi_create_double(env, p->up.nread, &argv[2]);
  napi_create_double(env, p->up.nwritten, &argv[3]);
  napi_create_double(env, p->down.nread, &argv[4]);
  napi_create_double(env, p->down.nwritten, &argv[5]);
}

/* The connect callback's arguments: (id, errno), 0 when the upstream is connected and the bytes flow. */
typedef struct {
  pair_t *p;
  int err;
} connect_done_t;

static void connect_args(napi_env env, void *ctx, napi_value *argv) {
  connect_done_t *c = ctx;
  napi_create_uint32(env, c->p->id, &argv[0]);
  napi_create_int32(env, c->err, &argv[1]);
}

static void report(pair_t *p) {
  if (!g_quiet) call_js(g_env, g_async, g_callback, 6, end_args, p);
}

static void report_connect(pair_t *p, int err) {
  connect_done_t c = {p, err};
  call_js(g_env, g_async, g_on_connect, 2, connect_args, &c);
}

/* Ends the pair once: takes it out of the set, closes both descriptors, reports to JavaScript. */
void end_pair(pair_t *p, uint8_t by) {
  if (p->closing) return;
  p->closing = 1;
  if (!p->closed_by) p->closed_by = by;
  if (p->prev) p->prev->next = p->next;
  else g_live = p->next;
  if (p->next) p->next->prev = p->prev;
  if (--g_count == 0) uv_unref((uv_handle_t *)&g_set);
  drop_side(&p->c);
  drop_side(&p->u);
  if (p->tls) tls_free(p);
  free(p->up.buf);
  free(p->down.buf);
  p->up.buf = p->down.buf = NULL;
  report(p);
  slot_give(p);
  p->prev = NULL;
  p->next = g_dead;
  g_dead = p;
}

static int is_again(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == EINTR; }

/* A side's bytes in and out: the socket's, or OpenSSL's for a client whose TLS is terminated here (tls.c). */
static ssize_t side_recv(pair_t *p, side_t *s, char *buf, size_t n) {
  return p->tls && s == &p->c ? tls_recv(p, buf, n) : read(s->fd, buf, n);
}

static ssize_t side_send(pair_t *p, side_t *s, const char *buf, size_t n) {
  return p->tls && s == &p->c ? tls_send(p, buf, n) : send(s->fd, buf, n, MSG_NOSIGNAL);
}

/* Writes what `d` holds to `to`; 0 on success or would-block, -1 when the side failed. */
static int flush(pair_t *p, dir_t *d, side_t *to) {
  while (d->len > d->off) {
    ssize_t w = side_send(p, to, d->buf + d->off, d->len - d->off);
    if (w < 0) return is_again(errno) ? 0 : -1;
    d->off += (size_t)w;
    d->nwritten += (double)w;
    p->last = uv_now(g_loop);
  }
  free(d->buf);
  d->buf = NULL;
  d->len = d->off = 0;
  return 0;
}

/* Reads once from `from` and sends to `to` at once; what the kernel does not take waits in `d`. -1: failed side. */
static int pump(pair_t *p, dir_t *d, side_t *from, side_t *to, uint8_t *failed) {
  ssize_t n = side_recv(p, from, g_buf, READ_SIZE);
  if (n < 0) {
    if (is_again(errno)) return 0;
    *failed = from->by;
    return -1;
  }
  p->last = uv_now(g_loop);
  if (n == 0) {
    d->eof = 1;
    if (!p->closed_by) p->closed_by = from->by;
    return 0;
  }
  d->nread += (double)n;
  ssize_t w = side_send(p, to, g_buf, (size_t)n);
  if (w < 0) {
    if (!is_again(errno)) {
      *failed = to->by;
      return -1;
    }
    w = 0;
  }
  d->nwritten += (double)w;
  if (w < n) {
    d->buf = malloc((size_t)(n - w));
    if (!d->buf) {
      *failed = BY_PROXY;
      return -1;
    }
    memcpy(d->buf, g_buf + w, (size_t)(n - w));
    d->len = (size_t)(n - w);
    d->off = 0;
  }
  return 0;
}

int watch(side_t *s, uint32_t want) {
  if (want == s->events) return 0;
  int op = want == 0 ? EPOLL_CTL_DEL : s->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  struct epoll_event e;
  e.events = want;
  e.data.ptr = s;
  s->events = want;
  return epoll_ctl(g_epfd, op, s->fd, &e);
}

/* After any event: half-close what has ended, end the pair when both ways have, and watch what is needed now. */
void settle(pair_t *p) {
  /* the direction that ends last needs no shutdown: closing the descriptors sends its FIN (the pump holds the only
   * descriptor of each socket by then) */
  int up_done = p->up.eof && p->up.len == 0, down_done = p->down.eof && p->down.len == 0;
  if (down_done && !p->down.shut && p->tls) tls_close_notify(p);
  if (up_done && down_done) {
    end_pair(p, BY_NONE);
    return;
  }
  if (up_done && !p->up.shut) {
    shutdown(p->u.fd, SHUT_WR);
    p->up.shut = 1;
  }
  if (down_done && !p->down.shut) {
    shutdown(p->c.fd, SHUT_WR);
    p->down.shut = 1;
  }
  uint32_t c = 0, u = 0;
  if (!p->up.eof && p->up.len == 0) c |= EPOLLIN;
  if (p->down.len > 0 || (p->tls && tls_read_wants_out(p))) c |= EPOLLOUT;
  if (!p->down.eof && p->down.len == 0) u |= EPOLLIN;
  if (p->up.len > 0) u |= EPOLLOUT;
  if (watch(&p->c, c) != 0 || watch(&p->u, u) != 0) end_pair(p, BY_PROXY);
}

/* One side is ready: write what waits for it, read what it sent. */
static void on_connected(pair_t *p, uint32_t events);

static void on_side(side_t *s, uint32_t events) {
  pair_t *p = s->pair;
  if (p->tls && tls_busy(p)) {
    if (s == &p->c) tls_ready(p);
    return;
  }
  if (p->connecting) {
    if (s == &p->u) on_connected(p, events);
    return;
  }
  int is_client = s == &p->c;
  dir_t *out = is_client ? &p->up : &p->down; /* what this side sends */
  dir_t *in = is_client ? &p->down : &p->up;  /* what this side receives */
  side_t *other = is_client ? &p->u : &p->c;
  uint8_t failed = BY_NONE;
  /* an error or hang-up shows up as a failed read or send below, with the side that failed */
  if (events & (EPOLLERR | EPOLLHUP)) events |= s->events;
  /* OpenSSL's read that had to write first (a KeyUpdate's answer) goes on once the socket takes bytes */
  if (is_client && p->tls && (events & EPOLLOUT) && tls_read_wants_out(p)) events |= EPOLLIN;
  if ((events & EPOLLOUT) && in->len > 0 && flush(p, in, s) != 0) failed = s->by;
  if (!failed && (events & EPOLLIN) && out->len == 0 && !out->eof) pump(p, out, s, other, &failed);
  if (failed) {
    end_pair(p, failed);
    return;
  }
  settle(p);
}

/* Node's loop says our set has ready descriptors: serve up to 256 of them, then let the loop go on. */
static void on_set(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)events;
  free_dead();
  if (status < 0) return;
  struct epoll_event ev[256];
  int n = epoll_wait(g_epfd, ev, 256, 0);
  for (int i = 0; i < n; i++) {
    side_t *s = (side_t *)ev[i].data.ptr;
    if (!s->pair->closing) on_side(s, ev[i].events);
  }
  free_dead();
}

static void on_sweep(uv_timer_t *t) {
  (void)t;
  uint64_t now = uv_now(g_loop);
  /* collect first: ending a pair calls JavaScript, which may end others */
  uint32_t n = 0, cap = 0;
  pair_t **expired = NULL;
  for (pair_t *p = g_live; p; p = p->next) {
    uint32_t limit = p->read_timeout;
    if (p->tls && tls_busy(p)) limit = tls_hs_timeout(p);
    else if (p->connecting) continue; /* connect_timeout is the session's (TypeScript) */
    else if (p->up.len > 0 && p->write_timeout < limit) limit = p->write_timeout;
    if (now - p->last < limit) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      pair_t **e = realloc(expired, cap * sizeof *e);
      if (!e) break;
      expired = e;
    }
    expired[n++] = p;
  }
  for (uint32_t i = 0; i < n; i++) {
    if (expired[i]->tls && tls_busy(expired[i])) tls_expired(expired[i]);
    else end_pair(expired[i], BY_PROXY);
  }
  free(expired);
}

/* setup(onEnd, onConnect): the one callback for every pair's end, and the one for connects asked by connect(). */
static napi_value js_setup(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_valuetype t1 = napi_undefined;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !is_function(env, argv[0]) ||
      (argc > 1 && (napi_typeof(env, argv[1], &t1) != napi_ok || (t1 != napi_function && t1 != napi_undefined))))
    return throw_type(env, "setup(onEnd, onConnect): functions");
  keep_ref(env, argv[0], &g_callback);
  if (g_on_connect) napi_delete_reference(env, g_on_connect);
  g_on_connect = NULL;
  if (t1 == napi_function) napi_create_reference(env, argv[1], 1, &g_on_connect);
  if (!g_async) g_async = async_context(env, "kong-ts.pump");
  return NULL;
}

void init_side(side_t *s, pair_t *p, int fd, uint8_t by) {
  s->fd = fd;
  s->events = 0;
  s->by = by;
  s->pair = p;
}

/* Puts a new pair on the live list (the sweep walks it) with its timeouts, and keeps the loop alive for it. */
void link_pair(pair_t *p, uint32_t rt, uint32_t wt) {
  p->read_timeout = rt;
  p->write_timeout = wt;
  p->last = uv_now(g_loop);
  p->next = g_live;
  if (g_live) g_live->prev = p;
  g_live = p;
  if (g_count++ == 0) uv_ref((uv_handle_t *)&g_set);
  sweep_for(rt < wt ? rt : wt);
}

/* The sweep runs every tenth of the shortest timeout seen, between 50 ms and 1 s (as the TypeScript sweep). */
void sweep_for(uint32_t timeout_ms) {
  uint64_t every = timeout_ms / 10;
  if (every < 50) every = 50;
  if (every > 1000) every = 1000;
  if (g_sweep_every == 0 || every < g_sweep_every) {
    g_sweep_every = every;
    uv_timer_start(&g_sweep, on_sweep, every, every);
  }
}

/*
 * start(clientFd, upstreamFd, early, readTimeoutMs, writeTimeoutMs) -> id (> 0), or -errno when the pair cannot
 * be taken (the caller keeps its sockets and pipes them itself). The descriptors are duplicated: the caller closes
 * its own. `early` (a Buffer or undefined) goes to the upstream before any client byte.
 */
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t cfd, ufd;
  uint32_t rt, wt;
  if (argc < 5 || !g_callback || napi_get_value_int32(env, argv[0], &cfd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &ufd) != napi_ok || napi_get_value_uint32(env, argv[3], &rt) != napi_ok ||
      napi_get_value_uint32(env, argv[4], &wt) != napi_ok)
    return throw_type(env, "start(clientFd, upstreamFd, early, readTimeoutMs, writeTimeoutMs) after setup()");
  void *early = NULL;
  size_t early_len = 0;
  bool is_buf = false;
  napi_is_buffer(env, argv[2], &is_buf);
  if (is_buf) napi_get_buffer_info(env, argv[2], &early, &early_len);

  int result = 0;
  pair_t *p = calloc(1, sizeof *p);
  int c = -1, u = -1;
  if (!p) {
    result = -ENOMEM;
    goto done;
  }
  /* duplicates that a child process never inherits (dup() would drop close-on-exec) */
  c = fcntl(cfd, F_DUPFD_CLOEXEC, 0);
  if (c >= 0) u = fcntl(ufd, F_DUPFD_CLOEXEC, 0);
  if (c < 0 || u < 0) {
    result = -errno;
    goto fail;
  }
  if (early_len > 0) {
    p->up.buf = malloc(early_len);
    if (!p->up.buf) {
      result = -ENOMEM;
      goto fail;
    }
    memcpy(p->up.buf, early, early_len);
    p->up.len = early_len;
  }
  if (slot_take(p) != 0) {
    result = -ENOMEM;
    goto fail;
  }
  init_side(&p->c, p, c, BY_CLIENT);
  init_side(&p->u, p, u, BY_UPSTREAM);
  link_pair(p, rt, wt);
  g_quiet = 1;
  settle(p);
  g_quiet = 0;
  result = p->closing ? -EIO : (int)p->id;
  goto done;
fail:
  if (c >= 0) close(c);
  if (u >= 0) close(u);
  if (p) free(p->up.buf);
  free(p);
done:
  napi_create_int32(env, result, &out);
  return out;
}

/*
 * addresses(fd, out) -> 0 or -errno: the peer's and the local address of an accepted socket, as
 * out = [peerIp, peerPort, localIp, localPort] (what Node's remoteAddress and localAddress give, without a Socket).
 */
static napi_value js_addresses(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  int32_t fd;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) return throw_type(env, "addresses(fd, out)");
  struct sockaddr_storage peer, local;
  socklen_t pl = sizeof peer, ll = sizeof local;
  int result = 0;
  if (getpeername(fd, (struct sockaddr *)&peer, &pl) != 0 || getsockname(fd, (struct sockaddr *)&local, &ll) != 0)
    result = -errno;
  if (result == 0) result = put_address(env, argv[1], 0, &peer);
  if (result == 0) result = put_address(env, argv[1], 2, &local);
  napi_create_int32(env, result, &out);
  return out;
}

/*
 * adopt(clientFd, readTimeoutMs, writeTimeoutMs) -> id (> 0) or -errno: takes an accepted client (the descriptor is
 * duplicated; the caller closes its own) before any upstream exists. Nothing is read from it until connect() has
 * connected an upstream (its bytes wait in the kernel, as with a paused socket); abort() ends it with its end
 * reported like any pair's.
 */
int pump_ready(void) { return g_callback != NULL && g_on_connect != NULL; }

static napi_value js_adopt(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  int32_t cfd;
  uint32_t rt, wt;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3 || !g_callback || !g_on_connect || napi_get_value_int32(env, argv[0], &cfd) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &rt) != napi_ok || napi_get_value_uint32(env, argv[2], &wt) != napi_ok)
    return throw_type(env, "adopt(clientFd, readTimeoutMs, writeTimeoutMs) after setup(onEnd, onConnect)");
  int result;
  pair_t *p = calloc(1, sizeof *p);
  int c = p ? fcntl(cfd, F_DUPFD_CLOEXEC, 0) : -1;
  if (!p || c < 0) {
    result = p ? -errno : -ENOMEM;
    free(p);
  } else if (slot_take(p) != 0) {
    close(c);
    free(p);
    result = -ENOMEM;
  } else {
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    init_side(&p->c, p, c, BY_CLIENT);
    init_side(&p->u, p, -1, BY_UPSTREAM);
    p->connecting = 1;
    link_pair(p, rt, wt);
    result = (int)p->id;
  }
  napi_create_int32(env, result, &out);
  return out;
}

/*
 * connect(id, ip, port, early) -> 0 or -errno: connects an adopted pair's upstream (an IP literal, v4 or v6),
 * without blocking. The connect callback tells how it ended: (id, 0) once connected, and the bytes then flow both
 * ways with `early` (a Buffer or undefined: the PROXY header) sent first; (id, errno) when it failed, after which
 * the pair waits for another connect() or abort(). -errno: it could not even start (no descriptor, bad address).
 */
static napi_value js_connect(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], out;
  uint32_t id, port;
  char ip[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  size_t iplen = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4 || napi_get_value_uint32(env, argv[0], &id) != napi_ok ||
      napi_get_value_string_latin1(env, argv[1], ip, sizeof ip, &iplen) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &port) != napi_ok)
    return throw_type(env, "connect(id, ip, port, early)");
  pair_t *p = slot_get(id);
  int result = 0;
  struct sockaddr_storage ss;
  socklen_t sl = 0;
  if (!p || p->closing || !p->connecting || p->u.fd >= 0 || (sl = parse_address(ip, port, &ss)) == 0) result = -EINVAL;
  if (result == 0) {
    free(p->up.buf);
    p->up.buf = NULL;
    p->up.len = p->up.off = 0;
    void *early = NULL;
    size_t early_len = 0;
    bool is_buf = false;
    napi_is_buffer(env, argv[3], &is_buf);
    if (is_buf) napi_get_buffer_info(env, argv[3], &early, &early_len);
    if (early_len > 0) {
      p->up.buf = malloc(early_len);
      if (!p->up.buf) result = -ENOMEM;
      else {
        memcpy(p->up.buf, early, early_len);
        p->up.len = early_len;
      }
    }
    /* a terminated TLS client's bytes that came with its handshake go right after */
    if (result == 0 && p->tls && tls_append_pre(p, &p->up) != 0) result = -ENOMEM;
  }
  if (result == 0) {
    int u = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u < 0) {
      result = -errno;
    } else {
      int one = 1;
      setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      p->u.fd = u;
      if (connect(u, (struct sockaddr *)&ss, sl) != 0 && errno != EINPROGRESS) result = -errno;
      else if (watch(&p->u, EPOLLOUT) != 0) result = -errno;
      if (result != 0) drop_side(&p->u);
    }
  }
  napi_create_int32(env, result, &out);
  return out;
}

/* An adopted pair's upstream connect finished (the socket turned writable, or failed). */
static void on_connected(pair_t *p, uint32_t events) {
  int err = 0;
  socklen_t len = sizeof err;
  /* writable with no error or hang-up is a connect that succeeded: only a failure needs its reason read */
  if ((events & (EPOLLERR | EPOLLHUP)) && getsockopt(p->u.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if ((events & (EPOLLERR | EPOLLHUP)) && err == 0) err = ECONNREFUSED;
  if (err == 0) {
    p->connecting = 0;
    p->last = uv_now(g_loop);
    if (p->tls) tls_drop_pre(p);
    report_connect(p, 0);
    if (!p->closing) settle(p);
  } else {
    drop_side(&p->u);
    report_connect(p, err);
  }
}

/* The open pair a call's one argument (an id) names, NULL when none is; *ok = 0 when the argument is not an id. */
static pair_t *id_arg(napi_env env, napi_callback_info info, int *ok) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t id;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  *ok = argc >= 1 && napi_get_value_uint32(env, argv[0], &id) == napi_ok;
  pair_t *p = *ok ? slot_get(id) : NULL;
  return p && !p->closing ? p : NULL;
}

/* cancel(id) -> true when an upstream connect was in flight and is now dropped (connect_timeout): no callback. */
static napi_value js_cancel(napi_env env, napi_callback_info info) {
  napi_value out;
  int ok;
  pair_t *p = id_arg(env, info, &ok);
  if (!ok) return throw_type(env, "cancel(id)");
  bool dropped = p && p->connecting && p->u.fd >= 0;
  if (dropped) drop_side(&p->u);
  napi_get_boolean(env, dropped, &out);
  return out;
}

/* abort(id): ends the pair now (shutdown, reload, the proxy's own decision); the callback reports it. */
static napi_value js_abort(napi_env env, napi_callback_info info) {
  int ok;
  pair_t *p = id_arg(env, info, &ok);
  if (!ok) return throw_type(env, "abort(id)");
  if (p) end_pair(p, BY_PROXY);
  return NULL;
}

/* count(): pairs open now. */
static napi_value js_count(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_uint32(env, g_count, &out);
  return out;
}

/* native/udp.c: the UDP relay's functions, on the same environment and loop */
void udp_init(napi_env env, napi_value exports, uv_loop_t *loop);

static void cleanup(void *arg) {
  (void)arg;
  g_quiet = 1;
  while (g_live) end_pair(g_live, BY_PROXY);
}

NAPI_MODULE_INIT() {
  if (g_env != NULL) return exports; /* one environment only (the main thread): others get nothing */
  if (napi_get_uv_event_loop(env, &g_loop) != napi_ok) return exports;
  g_epfd = epoll_create1(EPOLL_CLOEXEC);
  if (g_epfd < 0) return exports;
  if (uv_poll_init(g_loop, &g_set, g_epfd) != 0 || uv_poll_start(&g_set, UV_READABLE, on_set) != 0) {
    close(g_epfd);
    g_epfd = -1;
    return exports;
  }
  uv_unref((uv_handle_t *)&g_set); /* only open pairs keep the process alive */
  g_env = env;
  uv_timer_init(g_loop, &g_sweep);
  uv_unref((uv_handle_t *)&g_sweep);
  napi_add_env_cleanup_hook(env, cleanup, NULL);
  napi_property_descriptor props[] = {
      {"setup", NULL, js_setup, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"abort", NULL, js_abort, NULL, NULL, NULL, napi_default, NULL},
      {"addresses", NULL, js_addresses, NULL, NULL, NULL, napi_default, NULL},
      {"adopt", NULL, js_adopt, NULL, NULL, NULL, napi_default, NULL},
      {"connect", NULL, js_connect, NULL, NULL, NULL, napi_default, NULL},
      {"cancel", NULL, js_cancel, NULL, NULL, NULL, napi_default, NULL},
      {"count", NULL, js_count, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  udp_init(env, exports, g_loop);
  tls_init(env, exports);
  return exports;
}
