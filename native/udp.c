/*
 * kong-ts's native UDP relay: the datagrams of established UDP sessions, both ways, on Node's own event loop.
 *
 * A udp listener's socket is bound by TypeScript (src/udp/server.ts) with Node's dgram, which then stops reading
 * it; its descriptor is duplicated here and read with recvmmsg (up to 32 datagrams per call). A datagram from a
 * client address with a flow here goes straight to that flow's connected upstream socket (sendmmsg for a run of
 * datagrams of one flow); any other datagram goes to the JavaScript callback, where the session starts as before
 * (limits, router, preread plugins, balancer, DNS). Once the session knows its upstream, TypeScript asks for a flow
 * (flow()): a connected UDP socket to the upstream, found from then on by the client's address. Replies read from
 * the upstream socket (recvmmsg) go back to the client from the listener socket (sendmmsg).
 *
 * So a datagram of an established session costs no JavaScript and a fraction of a system call each way; the
 * session's counts stay here until the session ends (close() hands them over for the record). A datagram the
 * kernel will not take (EAGAIN: a full socket buffer) is dropped and counted, as UDP does; any other error on an
 * upstream socket (ECONNREFUSED from an ICMP port unreachable) ends the flow, reported once to the end callback.
 *
 * Datagram order per session is kept: a client's datagrams are read in order, and those that reach JavaScript
 * before its flow exists are sent by TypeScript (send()) before the flow is made known to the read loop.
 * Main thread only, like pump.c (the addon's init gives other environments nothing).
 */
#define _GNU_SOURCE /* recvmmsg, sendmmsg */
#include <errno.h>

#include "common.h"
#include <uv.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define VLEN 32
#define DGRAM_MAX 65536
#define BATCHES_PER_EVENT 8 /* then the loop goes on: other descriptors get their turn */
#define UPSTREAM_RCVBUF (1024 * 1024)

typedef struct listener {
  uv_poll_t poll;
  int fd;
  int family;
  uint32_t id;
  uint32_t refs; /* the poll handle while open, plus one per flow */
  uint8_t closed;
  double in, out, dropped; /* datagrams moved here (not those that went to JavaScript) */
} listener_t;

typedef struct flow {
  uv_poll_t poll;
  int fd;
  uint32_t id;
  uint32_t hash;
  listener_t *l;
  struct flow *hnext;
  struct sockaddr_storage client;
  socklen_t client_len;
  char *hdr; /* PROXY protocol v2 header sent in front of every upstream datagram, or NULL */
  size_t hdr_len;
  uint8_t closed;
  uint8_t failed;
  uint64_t last; /* uv_hrtime (ns) of the last datagram either way: the caps compare sessions a few µs apart */
  double rx, rx_bytes, tx, tx_bytes, up_sent, up_received;
} flow_t;

static napi_env u_env = NULL;
static napi_ref u_on_datagram = NULL; /* (listenerId, ip, port, payload): a datagram no flow took */
static napi_ref u_on_end = NULL;      /* (flowId, errno): a flow's upstream socket failed */
static napi_async_context u_async = NULL;
static uv_loop_t *u_loop = NULL;
static slots_t u_listeners, u_flows;

/* flows by (listener, client address): chained buckets, a power of two of them */
static flow_t **u_buckets = NULL;
static uint32_t u_nbuckets = 0, u_nflows = 0;

static struct mmsghdr u_in[VLEN];
static struct iovec u_in_iov[VLEN];
static struct sockaddr_storage u_in_addr[VLEN];
static char u_bufs[VLEN][DGRAM_MAX];
static struct mmsghdr u_out[VLEN];
static struct iovec u_out_iov[VLEN][2];

/* ---- the flow table ---- */

static const uint8_t *addr_bytes(const struct sockaddr_storage *ss, size_t *n, uint16_t *port) {
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    *n = 4;
    *port = a->sin_port;
    return (const uint8_t *)&a->sin_addr;
  }
  const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
  *n = 16;
  *port = a->sin6_port;
  return (const uint8_t *)&a->sin6_addr;
}

static uint32_t flow_hash(const listener_t *l, const struct sockaddr_storage *ss) {
  size_t n;
  uint16_t port;
  const uint8_t *b = addr_bytes(ss, &n, &port);
  uint32_t h = 2166136261u ^ l->id;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 16777619u;
  h = (h ^ port) * 16777619u;
  return h ^ (h >> 15);
}

static int same_client(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) return 0;
  size_t n, m;
  uint16_t pa, pb;
  const uint8_t *x = addr_bytes(a, &n, &pa), *y = addr_bytes(b, &m, &pb);
  return pa == pb && memcmp(x, y, n) == 0;
}

static flow_t *flow_find(const listener_t *l, const struct sockaddr_storage *ss) {
  if (u_nflows == 0) return NULL;
  uint32_t h = flow_hash(l, ss);
  for (flow_t *f = u_buckets[h & (u_nbuckets - 1)]; f; f = f->hnext)
    if (f->hash == h && f->l == l && same_client(&f->client, ss)) return f;
  return NULL;
}

static int flow_insert(flow_t *f) {
  if (u_nflows + 1 > u_nbuckets) {
    uint32_t n = u_nbuckets ? u_nbuckets * 2 : 256;
    flow_t **b = calloc(n, sizeof *b);
    if (!b) return -1;
    for (uint32_t i = 0; i < u_nbuckets; i++) {
      for (flow_t *g = u_buckets[i], *next; g; g = next) {
        next = g->hnext;
        g->hnext = b[g->hash & (n - 1)];
        b[g->hash & (n - 1)] = g;
      }
    }
    free(u_buckets);
    u_buckets = b;
    u_nbuckets = n;
  }
  flow_t **head = &u_buckets[f->hash & (u_nbuckets - 1)];
  f->hnext = *head;
  *head = f;
  u_nflows++;
  return 0;
}

static void flow_remove(flow_t *f) {
  for (flow_t **p = &u_buckets[f->hash & (u_nbuckets - 1)]; *p; p = &(*p)->hnext) {
    if (*p == f) {
      *p = f->hnext;
      u_nflows--;
      return;
    }
  }
}

/* ---- lifetimes: a handle is freed in its close callback, a listener once its last flow is gone ---- */

static void listener_unref(listener_t *l) {
  if (--l->refs == 0) free(l);
}

static void on_listener_closed(uv_handle_t *h) { listener_unref(h->data); }

/* Closes a listener's poll handle and, at once, its descriptor (so the port is free when the caller's socket closes). */
static void listener_close(listener_t *l) {
  l->closed = 1;
  uv_close((uv_handle_t *)&l->poll, on_listener_closed); /* stops watching the descriptor now */
  close(l->fd);
  l->fd = -1;
}

static void on_flow_closed(uv_handle_t *h) {
  flow_t *f = h->data;
  listener_unref(f->l);
  free(f->hdr);
  free(f);
}

/* Forgets a flow: no datagram reaches it from now on; its memory goes in the handle's close callback. */
static void flow_close(flow_t *f) {
  if (f->closed) return;
  f->closed = 1;
  flow_remove(f);
  slots_give(&u_flows, f->id);
  uv_close((uv_handle_t *)&f->poll, on_flow_closed);
  close(f->fd);
  f->fd = -1;
}

/* ---- callbacks into JavaScript ---- */

typedef struct {
  listener_t *l;
  struct sockaddr_storage *from;
  char *data;
  size_t len;
} datagram_t;

static void datagram_args(napi_env env, void *ctx, napi_value *argv) {
  datagram_t *d = ctx;
  napi_value pair;
  napi_create_array_with_length(env, 2, &pair);
  napi_create_uint32(env, d->l->id, &argv[0]);
  if (put_address(env, pair, 0, d->from) == 0) {
    napi_get_element(env, pair, 0, &argv[1]);
    napi_get_element(env, pair, 1, &argv[2]);
  } else {
    napi_get_undefined(env, &argv[1]);
    napi_get_undefined(env, &argv[2]);
  }
  void *copy;
  napi_create_buffer_copy(env, d->len, d->data, &copy, &argv[3]);
}

typedef struct {
  flow_t *f;
  int err;
} failure_t;

static void end_args(napi_env env, void *ctx, napi_value *argv) {
  failure_t *e = ctx;
  napi_create_uint32(env, e->f->id, &argv[0]);
  napi_create_int32(env, e->err, &argv[1]);
}

/* An upstream socket failed: the flow takes no more datagrams, and JavaScript hears it once (it then calls close). */
static void flow_fail(flow_t *f, int err) {
  if (f->failed || f->closed) return;
  f->failed = 1;
  uv_poll_stop(&f->poll);
  failure_t e = {f, err};
  call_js(u_env, u_async, u_on_end, 2, end_args, &e);
}

static int is_again(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == EINTR; }

/* sendmmsg of u_out[0..n) on `fd`: how many the kernel took; the rest are dropped. -errno on a hard failure. */
static int send_all(int fd, unsigned n, int *err) {
  unsigned sent = 0;
  *err = 0;
  while (sent < n) {
    int r = sendmmsg(fd, u_out + sent, n - sent, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (!is_again(errno)) *err = errno;
      break;
    }
    sent += (unsigned)r;
  }
  return (int)sent;
}

/* Client datagrams u_in[a..b) (all of flow f) to its upstream, the PROXY header in front when it has one. */
static void to_upstream(flow_t *f, int a, int b) {
  unsigned n = 0;
  for (int i = a; i < b; i++, n++) {
    struct msghdr *m = &u_out[n].msg_hdr;
    struct iovec *iov = u_out_iov[n];
    int k = 0;
    if (f->hdr) iov[k++] = (struct iovec){f->hdr, f->hdr_len};
    iov[k++] = (struct iovec){u_bufs[i], u_in[i].msg_len};
    memset(m, 0, sizeof *m);
    m->msg_iov = iov;
    m->msg_iovlen = (size_t)k;
    f->rx++;
    f->rx_bytes += u_in[i].msg_len;
  }
  int err;
  int sent = send_all(f->fd, n, &err);
  for (int i = 0; i < sent; i++) f->up_sent += u_in[a + i].msg_len;
  f->l->in += n;
  f->l->dropped += n - (unsigned)sent;
  f->last = uv_hrtime();
  if (err) flow_fail(f, err);
}

static void prepare_reads(void) {
  for (int i = 0; i < VLEN; i++) {
    u_in_iov[i].iov_base = u_bufs[i];
    u_in_iov[i].iov_len = DGRAM_MAX;
    struct msghdr *m = &u_in[i].msg_hdr;
    m->msg_name = &u_in_addr[i];
    m->msg_namelen = sizeof u_in_addr[i];
    m->msg_iov = &u_in_iov[i];
    m->msg_iovlen = 1;
    m->msg_control = NULL;
    m->msg_controllen = 0;
    m->msg_flags = 0;
  }
}

/* The listener socket is readable: datagrams of known clients go to their flows in runs, others to JavaScript. */
static void on_listener(uv_poll_t *h, int status, int events) {
  (void)events;
  listener_t *l = h->data;
  if (l->closed) return;
  if (status < 0) {
    /* libuv stops a handle on POLLERR: clear the socket's error (an unconnected socket's, never fatal) and go on */
    int err;
    socklen_t len = sizeof err;
    getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    uv_poll_start(&l->poll, UV_READABLE, on_listener);
    return;
  }
  for (int round = 0; round < BATCHES_PER_EVENT && !l->closed; round++) {
    prepare_reads();
    int n = recvmmsg(l->fd, u_in, VLEN, MSG_DONTWAIT, NULL);
    if (n <= 0) return; /* EAGAIN, or an error a UDP socket reports for an earlier send: nothing to read */
    int i = 0;
    while (i < n && !l->closed) {
      flow_t *f = flow_find(l, &u_in_addr[i]);
      if (f && !f->failed) {
        int j = i + 1;
        while (j < n && same_client(&u_in_addr[j], &f->client)) j++;
        to_upstream(f, i, j);
        i = j;
        continue;
      }
      if (f) {
        l->in++;
        l->dropped++; /* its session is ending */
      } else {
        datagram_t d = {l, &u_in_addr[i], u_bufs[i], u_in[i].msg_len};
        call_js(u_env, u_async, u_on_datagram, 4, datagram_args, &d);
      }
      i++;
    }
    if (n < VLEN) return;
  }
}

/* A flow's upstream socket is readable: replies go back to the client from the listener socket. */
static void on_flow(uv_poll_t *h, int status, int events) {
  (void)events;
  flow_t *f = h->data;
  if (f->closed || f->failed) return;
  if (status < 0) {
    /* POLLERR (libuv says UV_EBADF): the socket's own error is the one to report, ECONNREFUSED for a closed port */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err == 0) err = -status;
    flow_fail(f, err);
    return;
  }
  listener_t *l = f->l;
  for (int round = 0; round < BATCHES_PER_EVENT; round++) {
    prepare_reads();
    int n = recvmmsg(f->fd, u_in, VLEN, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (!is_again(errno)) flow_fail(f, errno);
      return;
    }
    if (n == 0) return;
    for (int i = 0; i < n; i++) {
      struct msghdr *m = &u_out[i].msg_hdr;
      memset(m, 0, sizeof *m);
      u_out_iov[i][0] = (struct iovec){u_bufs[i], u_in[i].msg_len};
      m->msg_iov = u_out_iov[i];
      m->msg_iovlen = 1;
      m->msg_name = &f->client;
      m->msg_namelen = f->client_len;
      f->up_received += u_in[i].msg_len;
    }
    int err = 0, sent = l->closed ? 0 : send_all(l->fd, (unsigned)n, &err);
    for (int i = 0; i < sent; i++) {
      f->tx++;
      f->tx_bytes += u_in[i].msg_len;
    }
    l->out += sent;
    l->dropped += n - sent;
    f->last = uv_hrtime();
    if (n < VLEN) return;
  }
}

/* ---- the JavaScript API ---- */

/* udpSetup(onDatagram, onEnd) */
static napi_value js_setup(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || !is_function(env, argv[0]) || !is_function(env, argv[1]))
    return throw_type(env, "udpSetup(onDatagram, onEnd): functions");
  keep_ref(env, argv[0], &u_on_datagram);
  keep_ref(env, argv[1], &u_on_end);
  if (!u_async) u_async = async_context(env, "kong-ts.udp");
  return NULL;
}

/*
 * udpListen(fd) -> id (> 0) or -errno: reads a bound UDP socket from now on (the descriptor is duplicated; the
 * caller stops its own reading and keeps its socket for the bind, then calls udpUnlisten before closing it).
 */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  int32_t fd;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !u_on_datagram || napi_get_value_int32(env, argv[0], &fd) != napi_ok)
    return throw_type(env, "udpListen(fd) after udpSetup()");
  int result, d = -1;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  listener_t *l = calloc(1, sizeof *l);
  if (!l) {
    result = -ENOMEM;
  } else if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 || (d = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
    result = -errno;
    free(l);
  } else if ((result = uv_poll_init(u_loop, &l->poll, d)) != 0) {
    close(d);
    free(l);
  } else {
    l->fd = d;
    l->family = ss.ss_family;
    l->refs = 1;
    l->poll.data = l;
    if ((result = uv_poll_start(&l->poll, UV_READABLE, on_listener)) != 0 ||
        (l->id = slots_take(&u_listeners, l)) == 0) {
      if (result == 0) result = -ENOMEM;
      listener_close(l);
    } else {
      result = (int)l->id;
    }
  }
  napi_create_int32(env, result, &out);
  return out;
}

/* The listener a call's first argument names (open ones only). */
static listener_t *listener_arg(napi_env env, napi_value v) {
  uint32_t id;
  if (napi_get_value_uint32(env, v, &id) != napi_ok) return NULL;
  listener_t *l = slots_get(&u_listeners, id);
  return l && !l->closed ? l : NULL;
}

static void put_counts(napi_env env, napi_value out, const double *v, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    napi_value x;
    napi_create_double(env, v[i], &x);
    napi_set_element(env, out, i, x);
  }
}

/* udpListenerStats(id, out): out = [datagrams in, out, dropped] moved by this relay for the listener. */
static napi_value js_listener_stats(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return throw_type(env, "udpListenerStats(id, out)");
  listener_t *l = listener_arg(env, argv[0]);
  double v[3] = {0, 0, 0};
  if (l) {
    v[0] = l->in;
    v[1] = l->out;
    v[2] = l->dropped;
  }
  put_counts(env, argv[1], v, 3);
  return NULL;
}

/* udpUnlisten(id): stops reading the listener (before the caller closes its socket); flows of it send no more replies. */
static napi_value js_unlisten(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  listener_t *l = argc >= 1 ? listener_arg(env, argv[0]) : NULL;
  if (l) {
    slots_give(&u_listeners, l->id);
    listener_close(l);
  }
  return NULL;
}

/*
 * udpFlow(listenerId, clientIp, clientPort, upstreamIp, upstreamPort, header) -> id (> 0) or -errno: a connected
 * socket to the upstream (an IP literal) for the client's session; the client's datagrams go to it from now on,
 * `header` (a Buffer or undefined: PROXY protocol v2) in front of each.
 */
static napi_value js_flow(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], out;
  char cip[INET6_ADDRSTRLEN + IF_NAMESIZE + 2], uip[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  uint32_t cport, uport;
  size_t len;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6 || napi_get_value_string_latin1(env, argv[1], cip, sizeof cip, &len) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &cport) != napi_ok ||
      napi_get_value_string_latin1(env, argv[3], uip, sizeof uip, &len) != napi_ok ||
      napi_get_value_uint32(env, argv[4], &uport) != napi_ok)
    return throw_type(env, "udpFlow(listenerId, clientIp, clientPort, upstreamIp, upstreamPort, header)");
  listener_t *l = listener_arg(env, argv[0]);
  struct sockaddr_storage client, up;
  socklen_t cl = parse_address(cip, cport, &client), ul = parse_address(uip, uport, &up);
  int result = 0;
  if (!l || cl == 0 || ul == 0 || client.ss_family != l->family || flow_find(l, &client)) {
    result = -EINVAL;
    goto done;
  }
  flow_t *f = calloc(1, sizeof *f);
  if (!f) {
    result = -ENOMEM;
    goto done;
  }
  bool is_buf = false;
  napi_is_buffer(env, argv[5], &is_buf);
  if (is_buf) {
    void *hdr;
    napi_get_buffer_info(env, argv[5], &hdr, &f->hdr_len);
    if (f->hdr_len > 0 && (f->hdr = malloc(f->hdr_len)) == NULL) {
      free(f);
      result = -ENOMEM;
      goto done;
    }
    if (f->hdr_len > 0) memcpy(f->hdr, hdr, f->hdr_len);
  }
  int fd = socket(up.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    /* a burst of replies must not overflow the default buffer while the loop is busy elsewhere */
    int size = UPSTREAM_RCVBUF;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  if (fd < 0 || connect(fd, (struct sockaddr *)&up, ul) != 0) {
    result = -errno;
    if (fd >= 0) close(fd);
    free(f->hdr);
    free(f);
    goto done;
  }
  f->fd = fd;
  f->l = l;
  f->client = client;
  f->client_len = cl;
  f->hash = flow_hash(l, &client);
  f->last = uv_hrtime();
  f->poll.data = f;
  if ((result = uv_poll_init(u_loop, &f->poll, fd)) != 0) {
    close(fd);
    free(f->hdr);
    free(f);
    goto done;
  }
  if ((f->id = slots_take(&u_flows, f)) == 0) {
    result = -ENOMEM;
  } else if (flow_insert(f) != 0) {
    slots_give(&u_flows, f->id);
    result = -ENOMEM;
  } else if ((result = uv_poll_start(&f->poll, UV_READABLE, on_flow)) != 0) {
    flow_remove(f);
    slots_give(&u_flows, f->id);
  }
  if (result != 0) {
    f->closed = 1;
    l->refs++; /* given back by the close callback */
    uv_close((uv_handle_t *)&f->poll, on_flow_closed);
    close(fd);
    f->fd = -1;
    goto done;
  }
  uv_unref((uv_handle_t *)&f->poll); /* the listener keeps the process alive, not its sessions */
  l->refs++;
  result = (int)f->id;
done:
  napi_create_int32(env, result, &out);
  return out;
}

static flow_t *flow_arg(napi_env env, napi_value v) {
  uint32_t id;
  if (napi_get_value_uint32(env, v, &id) != napi_ok) return NULL;
  flow_t *f = slots_get(&u_flows, id);
  return f && !f->closed ? f : NULL;
}

/* udpSend(flowId, payload) -> 0 or -errno: one datagram to the flow's upstream (the header in front), from JavaScript. */
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data;
  size_t len;
  bool is_buf = false;
  if (argc < 2 || napi_is_buffer(env, argv[1], &is_buf) != napi_ok || !is_buf)
    return throw_type(env, "udpSend(flowId, payload)");
  napi_get_buffer_info(env, argv[1], &data, &len);
  flow_t *f = flow_arg(env, argv[0]);
  int result = 0;
  if (!f || f->failed) {
    result = -EINVAL;
  } else {
    struct iovec iov[2];
    int k = 0;
    if (f->hdr) iov[k++] = (struct iovec){f->hdr, f->hdr_len};
    iov[k++] = (struct iovec){data, len};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = iov;
    m.msg_iovlen = (size_t)k;
    if (sendmsg(f->fd, &m, 0) < 0) result = -errno;
  }
  napi_create_int32(env, result, &out);
  return out;
}

/*
 * udpClose(flowId, out): ends the flow (its socket closes) and hands over what it moved, out = [datagrams from the
 * client, their bytes, datagrams to the client, their bytes, bytes sent upstream, bytes received from upstream].
 */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return throw_type(env, "udpClose(flowId, out)");
  flow_t *f = flow_arg(env, argv[0]);
  double v[6] = {0, 0, 0, 0, 0, 0};
  if (f) {
    v[0] = f->rx;
    v[1] = f->rx_bytes;
    v[2] = f->tx;
    v[3] = f->tx_bytes;
    v[4] = f->up_sent;
    v[5] = f->up_received;
    flow_close(f);
  }
  put_counts(env, argv[1], v, 6);
  return NULL;
}

/* udpIdle(flowId) -> ms since the flow's last datagram either way (-1: no such flow). */
static napi_value js_idle(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  flow_t *f = argc >= 1 ? flow_arg(env, argv[0]) : NULL;
  napi_create_double(env, f ? (double)(uv_hrtime() - f->last) / 1e6 : -1, &out);
  return out;
}

/* udpActivity(flowId) -> datagrams the flow moved either way so far (what changed since the last look). */
static napi_value js_activity(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  flow_t *f = argc >= 1 ? flow_arg(env, argv[0]) : NULL;
  napi_create_double(env, f ? f->rx + f->tx : 0, &out);
  return out;
}

/* At teardown: every descriptor closes (the loop does not run again to close the handles). */
static void udp_cleanup(void *arg) {
  (void)arg;
  for (uint32_t i = 0; i < u_flows.next; i++) {
    flow_t *f = u_flows.items[i];
    if (f && f->fd >= 0) {
      uv_poll_stop(&f->poll);
      close(f->fd);
      f->fd = -1;
    }
  }
  for (uint32_t i = 0; i < u_listeners.next; i++) {
    listener_t *l = u_listeners.items[i];
    if (l && l->fd >= 0) {
      uv_poll_stop(&l->poll);
      close(l->fd);
      l->fd = -1;
    }
  }
}

/* Called by the addon's init (pump.c) on the main thread: adds the udp* functions to its exports. */
void udp_init(napi_env env, napi_value exports, uv_loop_t *loop) {
  u_env = env;
  u_loop = loop;
  napi_add_env_cleanup_hook(env, udp_cleanup, NULL);
  napi_property_descriptor props[] = {
      {"udpSetup", NULL, js_setup, NULL, NULL, NULL, napi_default, NULL},
      {"udpListen", NULL, js_listen, NULL, NULL, NULL, napi_default, NULL},
      {"udpListenerStats", NULL, js_listener_stats, NULL, NULL, NULL, napi_default, NULL},
      {"udpUnlisten", NULL, js_unlisten, NULL, NULL, NULL, napi_default, NULL},
      {"udpFlow", NULL, js_flow, NULL, NULL, NULL, napi_default, NULL},
      {"udpSend", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"udpClose", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"udpIdle", NULL, js_idle, NULL, NULL, NULL, napi_default, NULL},
      {"udpActivity", NULL, js_activity, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
