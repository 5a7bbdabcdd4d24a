/*
 * kong-ts's native byte pump: the bytes of a connected plain TCP session, both ways, on a thread of its own.
 *
 * The TypeScript side accepts, routes, runs the preread plugins and connects (src/proxy/); once a plain client and
 * a plain upstream are connected it hands both descriptors here (src/proxy/native-pump.ts) and lets go of its two
 * net.Socket objects. From then on a session costs one `struct pair` (under 200 bytes) instead of two sockets
 * with their stream states, and a read is one recv() and one send() in C with no JavaScript in between.
 *
 * The pairs' descriptors live in one epoll set of ours, level-triggered, which the pump thread waits on: a pair costs
 * two EPOLL_CTL_ADD at start and two EPOLL_CTL_DEL at the end, plus one call when a side stops or starts being read
 * (backpressure, EOF). A side with nothing to watch is taken out of the set (a hung-up socket would otherwise be
 * reported again and again).
 *
 * The set is served by Node's loop (one uv_poll_t on the set's descriptor), and by the pump thread whenever the main
 * thread is held: a reload's build, a collection of the main heap or a slow callback can hold it for tens of
 * milliseconds at 50,000 routes, and the bytes of every pumped session must not wait for that (HAProxy's and nginx's
 * forwarding never waits for a reload). The thread looks at the set every millisecond without fetching from it; ready
 * twice in a row and not served in between, it serves the set itself, waking on its readiness, until the main loop
 * serves it again. It also runs the pairs' timeouts. A pump thread that served everything all the time was measured
 * (docs/performance.md, round 9): the hops between threads cost new connections a quarter of their rate.
 *
 * One mutex guards every pair and the set: whoever serves the set holds it while it fetches and uses a batch of
 * ready descriptors, and JavaScript's calls hold it while they create or change a pair. What JavaScript must hear (a
 * pair's end, a connect's result, a handshake's, ClientHello bytes) is an event: made on the main thread, it is
 * delivered as the serve or the call that made it returns (abort() reports the end before it returns, as ever);
 * made by the pump thread, it waits for the main loop (a uv_async_t) and goes before the loop's own. A pair's id is
 * given back only once its end is delivered; events for an id given back are dropped.
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
 * One instance per process (the main thread's environment; a second environment gets no exports and the TypeScript
 * path serves there).
 */
#include <errno.h>

#include "pump.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

static napi_env g_env = NULL;
static napi_ref g_callback = NULL;
static napi_ref g_on_connect = NULL; /* (id, errno): an upstream connect asked by connect() finished */
static napi_async_context g_async = NULL;
static int g_epfd = -1;
static uv_poll_t g_set;           /* Node's loop watching our epoll set */
static uint32_t g_serves = 0;     /* times the main loop served the set (the pump thread reads it) */
#define TICK_MS 1                 /* how often the pump thread looks at the set */
#define IDLE_TICK_MS 20           /* ... when no pair is open */
static pthread_t g_thread;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static __thread int t_pump = 0;   /* set on the pump thread */
static int g_stop = 0;
static uv_async_t g_wake;         /* the pump thread's events are waiting for the main loop */
static event_t *g_queue = NULL, *g_queue_tail = NULL; /* from the pump thread, for the main loop */
static event_t *g_sync = NULL, *g_sync_tail = NULL;   /* from JavaScript's calls, delivered as they return */
static pair_t *g_dead = NULL;     /* ids given back: freed by the pump thread before it waits again */
static uint64_t g_sweep_every = 0; /* ms; 0 while no pair asked for a sweep */
static uint64_t g_swept = 0;       /* now_ms() of the last sweep */
static pair_t *g_live = NULL;
static uint32_t g_count = 0;      /* pairs open */
static uint32_t g_held = 0;       /* ids not given back (main thread): the loop is kept alive while there are */
static uint32_t g_gen = 0;
char g_buf[READ_SIZE];
/* set while start() settles a new pair, and at teardown: an end then is not reported (start returns an error) */
static int g_quiet = 0;
/* TLS clients whose next bytes OpenSSL already read ahead (tls.c reads the socket in big chunks): no event of the
 * socket announces them, so they are served again at the end of the serve that left them, or by the next serve, which
 * the eventfd in the set makes happen when they were left outside one (a JavaScript call). */
static pair_t *g_again = NULL;
static int g_again_fd = -1;
static side_t g_again_side; /* the eventfd's epoll data: a side of no pair */
static int g_serving = 0;

uint64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

void pump_lock(void) { pthread_mutex_lock(&g_mu); }

/* id -> pair */
static slots_t g_slots;

int slot_take(pair_t *p) {
  p->id = slots_take(&g_slots, p);
  p->gen = ++g_gen;
  return p->id ? 0 : -1;
}

/* Main thread, under the lock: the id of an ended pair is free again; the pump thread frees the pair. */
static void give_back(pair_t *p) {
  slots_give(&g_slots, p->id);
  p->prev = NULL;
  p->next = g_dead;
  g_dead = p;
  if (--g_held == 0) uv_unref((uv_handle_t *)&g_wake);
}

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

event_t *event_new(pair_t *p, napi_ref *fn, napi_async_context *async, size_t argc,
                   void (*fill)(napi_env, event_t *, napi_value *)) {
  event_t *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->id = p->id;
  e->gen = p->gen;
  e->fn = fn;
  e->async = async;
  e->argc = argc;
  e->fill = fill;
  return e;
}

void emit(event_t *e) {
  if (!e) return;
  event_t **head = t_pump ? &g_queue : &g_sync, **tail = t_pump ? &g_queue_tail : &g_sync_tail;
  if (*tail) (*tail)->next = e;
  else *head = e;
  *tail = e;
}

/* Takes a whole list of events (under the lock). */
static event_t *take(event_t **head, event_t **tail) {
  event_t *e = *head;
  *head = *tail = NULL;
  return e;
}

static void fill_shim(napi_env env, void *ctx, napi_value *argv) {
  event_t *e = ctx;
  e->fill(env, e, argv);
}

/* Main thread, without the lock: calls JavaScript for each event in order, then gives back the ids of ended pairs. */
static void deliver(napi_env env, event_t *e) {
  while (e) {
    event_t *next = e->next;
    pair_t *now = slot_get(e->id); /* slots change on the main thread only */
    if (now && now->gen == e->gen) call_js(env, *e->async, *e->fn, e->argc, fill_shim, e);
    if (e->end) {
      pump_lock();
      give_back(e->end);
      pump_unlock(NULL);
    }
    free(e->text);
    free(e);
    e = next;
  }
}

void pump_unlock(napi_env env) {
  event_t *mine = env ? take(&g_sync, &g_sync_tail) : NULL;
  pthread_mutex_unlock(&g_mu);
  if (mine) deliver(env, mine);
}

/* The main loop's turn for the pump thread's events. */
static void on_wake(uv_async_t *h) {
  (void)h;
  pump_lock();
  event_t *e = take(&g_queue, &g_queue_tail);
  pump_unlock(NULL);
  deliver(g_env, e);
}

/* The end callback's arguments: (id, closedBy, clientRead, upstreamWritten, upstreamRead, clientWritten). */
static void end_args(napi_env env, event_t *e, napi_value *argv) {
  napi_create_uint32(env, e->id, &argv[0]);
  napi_create_uint32(env, e->by, &argv[1]);
  for (int i = 0; i < 4; i++) napi_create_double(env, e->n[i], &argv[2 + i]);
}

/* The connect callback's arguments: (id, errno), 0 when the upstream is connected and the bytes flow. */
static void connect_args(napi_env env, event_t *e, napi_value *argv) {
  napi_create_uint32(env, e->id, &argv[0]);
  napi_create_int32(env, e->code, &argv[1]);
}

/* The pair's end for JavaScript; its id is given back once that is delivered (at once when nobody is told). */
static void report(pair_t *p) {
  event_t *e = g_quiet ? NULL : event_new(p, &g_callback, &g_async, 6, end_args);
  if (!e) {
    /* quiet, or out of memory: on the pump thread the main loop cannot be told, and the id stays taken (a leak,
     * not a reuse) */
    if (!t_pump) give_back(p);
    return;
  }
  e->end = p;
  e->by = p->closed_by;
  e->n[0] = p->up.nread;
  e->n[1] = p->up.nwritten;
  e->n[2] = p->down.nread;
  e->n[3] = p->down.nwritten;
  emit(e);
}

static void report_connect(pair_t *p, int err) {
  event_t *e = event_new(p, &g_on_connect, &g_async, 2, connect_args);
  if (e) e->code = err;
  emit(e);
}

/* Makes the set ready, so that a serve happens (the eventfd's counter; it is reset by the serve). */
static void again_wake(void) {
  uint64_t one = 1;
  if (write(g_again_fd, &one, sizeof one) < 0) { /* the counter is already non-zero: the set is ready anyway */
  }
}

/* Puts `p` on the again list: served at the end of this serve, or by the next one when outside a serve. */
static void serve_again(pair_t *p) {
  if (p->again) return;
  p->again = 1;
  p->again_next = g_again;
  g_again = p;
  if (!g_serving) again_wake();
}

/* Ends the pair once: takes it out of the set, closes both descriptors, reports to JavaScript. */
void end_pair(pair_t *p, uint8_t by) {
  if (p->closing) return;
  p->closing = 1;
  if (p->again) { /* out of the again list (a serve working through a list it took skips closing pairs) */
    pair_t **q = &g_again;
    while (*q && *q != p) q = &(*q)->again_next;
    if (*q) *q = p->again_next;
    p->again = 0;
  }
  if (!p->closed_by) p->closed_by = by;
  if (p->prev) p->prev->next = p->next;
  else g_live = p->next;
  if (p->next) p->next->prev = p->prev;
  p->next = NULL;
  g_count--;
  drop_side(&p->c);
  drop_side(&p->u);
  if (p->tls) tls_free(p);
  free(p->up.buf);
  free(p->down.buf);
  p->up.buf = p->down.buf = NULL;
  report(p);
}

static int is_again(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == EINTR; }

/* A side's bytes in and out: the socket's, or OpenSSL's for a client whose TLS is terminated here (tls.c). */
static ssize_t side_recv(pair_t *p, side_t *s, char *buf, size_t n) {
  return p->tls && s == &p->c ? tls_recv(p, buf, n) : recv(s->fd, buf, n, 0);
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
    p->last = now_ms();
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
  p->last = now_ms();
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
  else if ((c & EPOLLIN) && p->tls && !p->connecting && tls_has_more(p)) serve_again(p);
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

static void sweep(uint64_t now);

/* Serves up to 256 ready descriptors of the set (under the lock: events are fetched and used in one go, so no
 * fetched event can name a pair freed meanwhile). */
static void serve(void) {
  struct epoll_event ev[256];
  free_dead();
  g_serving = 1;
  int n = epoll_wait(g_epfd, ev, 256, 0);
  for (int i = 0; i < n; i++) {
    side_t *s = (side_t *)ev[i].data.ptr;
    if (s == &g_again_side) {
      uint64_t v;
      if (read(g_again_fd, &v, sizeof v) < 0) { /* already reset */
      }
    } else if (!s->pair->closing) {
      on_side(s, ev[i].events);
    }
  }
  /* the clients whose bytes wait in OpenSSL: a few rounds here (each round reads up to READ_SIZE of each), then the
   * next serve, so one fast client does not hold the others */
  for (int round = 0; g_again && round < 4; round++) {
    pair_t *list = g_again;
    g_again = NULL;
    while (list) {
      pair_t *p = list;
      list = p->again_next;
      if (!p->again) continue; /* ended meanwhile */
      p->again = 0;
      on_side(&p->c, EPOLLIN);
    }
  }
  g_serving = 0;
  if (g_again) again_wake();
}

/* Node's loop says our set has ready descriptors: serve them, then let the loop go on. */
static void on_set(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)events;
  pump_lock();
  __atomic_add_fetch(&g_serves, 1, __ATOMIC_RELAXED);
  /* what the pump thread queued happened first: it goes to JavaScript before what this serve emits */
  event_t *before = take(&g_queue, &g_queue_tail);
  if (status >= 0) serve();
  event_t *mine = take(&g_sync, &g_sync_tail);
  pump_unlock(NULL);
  deliver(g_env, before);
  deliver(g_env, mine);
}

/* Set has ready descriptors now (without fetching them). */
static int set_ready(int timeout_ms) {
  struct pollfd pf = {.fd = g_epfd, .events = POLLIN};
  return poll(&pf, 1, timeout_ms) > 0;
}

/*
 * The pump thread: the set's stand-in server while the main loop is held. Every millisecond it looks (without
 * fetching) whether the set has ready descriptors; ready twice in a row with the main loop not having served it in
 * between means the main thread is busy elsewhere (a reload's build, a collection, a slow callback): the thread then
 * serves the set itself, waking on its readiness, until the main loop serves it again. It also runs the sweep.
 */
/* The kernel's sched_attr (EEVDF, Linux 6.12+: a SCHED_OTHER thread may ask for a shorter time slice). */
struct slice_attr {
  uint32_t size, policy;
  uint64_t flags;
  int32_t nice;
  uint32_t priority;
  uint64_t runtime, deadline, period;
};

static void *pump_main(void *arg) {
  (void)arg;
  t_pump = 1;
  /* a short slice: when it wakes, the thread runs before the threads of a busy main loop (a build, V8's collectors)
   * instead of after their slices; its own work per wake is microseconds. Older kernels refuse or ignore it. */
  struct slice_attr sa = {.size = sizeof sa, .policy = 0 /* SCHED_OTHER */, .runtime = 100000 /* ns */};
  if (syscall(SYS_sched_setattr, 0, &sa, 0) != 0) { /* not this kernel: the default slice */
  }
  uint32_t seen = 0; /* g_serves when the set was seen ready, +1; 0: it was not */
  int standing_in = 0;
  for (;;) {
    if (standing_in) {
      uint32_t mark = __atomic_load_n(&g_serves, __ATOMIC_RELAXED);
      set_ready(TICK_MS);
      if (__atomic_load_n(&g_serves, __ATOMIC_RELAXED) != mark) standing_in = 0; /* the main loop is back */
    } else {
      struct timespec t = {0, (__atomic_load_n(&g_count, __ATOMIC_RELAXED) ? TICK_MS : IDLE_TICK_MS) * 1000000L};
      nanosleep(&t, NULL);
      if (!set_ready(0)) {
        seen = 0;
      } else {
        uint32_t served = __atomic_load_n(&g_serves, __ATOMIC_RELAXED);
        if (seen == served + 1) standing_in = 1;
        else seen = served + 1;
      }
    }
    if (__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) return NULL;
    /* the lock only when there is work: a tick that took it would meet the main loop's serves a thousand times a
     * second, and the main thread preempted while holding it would hold the pump thread too */
    uint64_t now = now_ms(), every = __atomic_load_n(&g_sweep_every, __ATOMIC_RELAXED);
    int sweep_due = every && now - g_swept >= every;
    if (!standing_in && !sweep_due) continue;
    pump_lock();
    if (standing_in) {
      seen = 0;
      serve();
    }
    if (sweep_due) {
      /* the clock read again under the lock: a progress stamped while this thread waited for it is newer than the
       * time read before, and would look like 2^64 ms of silence */
      g_swept = now = now_ms();
      sweep(now);
    }
    int wake = g_queue != NULL;
    pthread_mutex_unlock(&g_mu);
    if (wake) uv_async_send(&g_wake);
  }
}

static void sweep(uint64_t now) {
  /* collect first, then end: ending changes the live list */
  uint32_t n = 0, cap = 0;
  pair_t **expired = NULL;
  for (pair_t *p = g_live; p; p = p->next) {
    uint32_t limit = p->read_timeout;
    if (p->tls && tls_busy(p)) limit = tls_hs_timeout(p);
    else if (p->connecting) continue; /* connect_timeout is the session's (TypeScript) */
    else if (p->up.len > 0 && p->write_timeout < limit) limit = p->write_timeout;
    if (p->last >= now || now - p->last < limit) continue;
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
  p->last = now_ms();
  p->next = g_live;
  if (g_live) g_live->prev = p;
  g_live = p;
  g_count++;
  if (g_held++ == 0) uv_ref((uv_handle_t *)&g_wake);
  sweep_for(rt < wt ? rt : wt);
}

/* The sweep runs every tenth of the shortest timeout seen, between 50 ms and 1 s (as the TypeScript sweep). */
void sweep_for(uint32_t timeout_ms) {
  uint64_t every = timeout_ms / 10;
  if (every < 50) every = 50;
  if (every > 1000) every = 1000;
  if (g_sweep_every == 0 || every < g_sweep_every) {
    if (g_sweep_every == 0) g_swept = now_ms();
    __atomic_store_n(&g_sweep_every, every, __ATOMIC_RELAXED);
  }
}

/*
 * start(clientFd, upstreamFd, early, readTimeoutMs, writeTimeoutMs) -> id (> 0), or -errno when the pair cannot
 * be taken (the caller keeps its sockets and pipes them itself). The descriptors are duplicated: the caller closes
 * its own. `early` (a Buffer or undefined) goes to the upstream before any client byte.
 */
LOCKED(js_start) {
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
 * addresses(fd, out, peerOnly) -> 0 or -errno: the peer's and the local address of an accepted socket, as
 * out = [peerIp, peerPort, localIp, localPort] (what Node's remoteAddress and localAddress give, without a Socket).
 * peerOnly: the caller knows the local address (a listener bound to one address): out[2] and out[3] are left alone
 * and getsockname is not called.
 */
static napi_value js_addresses(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  int32_t fd;
  bool peer_only = false;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) return throw_type(env, "addresses(fd, out)");
  if (argc > 2) napi_get_value_bool(env, argv[2], &peer_only);
  struct sockaddr_storage peer, local;
  socklen_t pl = sizeof peer, ll = sizeof local;
  int result = 0;
  if (getpeername(fd, (struct sockaddr *)&peer, &pl) != 0 ||
      (!peer_only && getsockname(fd, (struct sockaddr *)&local, &ll) != 0))
    result = -errno;
  if (result == 0) result = put_address(env, argv[1], 0, &peer);
  if (result == 0 && !peer_only) result = put_address(env, argv[1], 2, &local);
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

LOCKED(js_adopt) {
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
LOCKED(js_connect) {
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
    p->last = now_ms();
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
LOCKED(js_cancel) {
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
LOCKED(js_abort) {
  int ok;
  pair_t *p = id_arg(env, info, &ok);
  if (!ok) return throw_type(env, "abort(id)");
  if (p) end_pair(p, BY_PROXY);
  return NULL;
}

/* count(): pairs open now. */
LOCKED(js_count) {
  (void)info;
  napi_value out;
  napi_create_uint32(env, g_count, &out);
  return out;
}

/* native/udp.c: the UDP relay's functions, on the same environment and loop */
void udp_init(napi_env env, napi_value exports, uv_loop_t *loop);

static void cleanup(void *arg) {
  (void)arg;
  __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
  pthread_join(g_thread, NULL);
  g_quiet = 1;
  while (g_live) end_pair(g_live, BY_PROXY);
}

NAPI_MODULE_INIT() {
  if (g_env != NULL) return exports; /* one environment only (the main thread): others get nothing */
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return exports;
  g_epfd = epoll_create1(EPOLL_CLOEXEC);
  if (g_epfd < 0) return exports;
  g_again_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event ae = {.events = EPOLLIN, .data.ptr = &g_again_side};
  if (g_again_fd < 0 || epoll_ctl(g_epfd, EPOLL_CTL_ADD, g_again_fd, &ae) != 0) {
    if (g_again_fd >= 0) close(g_again_fd);
    close(g_epfd);
    g_epfd = -1;
    return exports;
  }
  if (uv_poll_init(loop, &g_set, g_epfd) != 0 || uv_poll_start(&g_set, UV_READABLE, on_set) != 0 ||
      uv_async_init(loop, &g_wake, on_wake) != 0 || pthread_create(&g_thread, NULL, pump_main, NULL) != 0) {
    close(g_epfd); /* (handles made before are left on the loop: the process is out of threads or memory) */
    g_epfd = -1;
    return exports;
  }
  uv_unref((uv_handle_t *)&g_set);
  uv_unref((uv_handle_t *)&g_wake); /* only open pairs keep the process alive */
  g_env = env;
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
  udp_init(env, exports, loop);
  tls_init(env, exports);
  return exports;
}
