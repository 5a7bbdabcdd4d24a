/*
 * What the TCP pump (pump.c) shares with TLS termination (tls.c): the pair of sides a session is made of, and the
 * few pump functions the TLS code calls.
 */
#ifndef KONG_TS_NATIVE_PUMP_H
#define KONG_TS_NATIVE_PUMP_H

#include "common.h"
#include <pthread.h>
#include <sys/types.h>
#include <uv.h>

#define READ_SIZE (64 * 1024)

/* who closed first, as the callback reports it (native-pump.ts maps these to the record's closed_by) */
enum { BY_NONE = 0, BY_CLIENT = 1, BY_UPSTREAM = 2, BY_PROXY = 3 };

typedef struct pair pair_t;
typedef struct tls_side tls_side_t; /* tls.c */

typedef struct {
  int fd;
  uint32_t events; /* what the epoll set watches for this side now (EPOLLIN | EPOLLOUT), 0: not in the set */
  uint8_t by;      /* BY_CLIENT or BY_UPSTREAM: who this side is */
  pair_t *pair;
} side_t;

/* one direction: bytes read from `from` waiting to be written to the other side */
typedef struct {
  char *buf;
  size_t len, off;
  double nread, nwritten;
  uint8_t eof;  /* the reading side sent FIN */
  uint8_t shut; /* shutdown(SHUT_WR) done on the writing side */
} dir_t;

struct pair {
  side_t c, u;
  dir_t up;   /* client -> upstream */
  dir_t down; /* upstream -> client */
  uint32_t id;
  uint32_t gen; /* which pair held this id: an event for a pair whose id was given back is dropped */
  uint8_t closing;
  uint8_t closed_by;
  uint8_t connecting; /* adopted client, upstream connect in flight or not yet asked (u.fd -1 when none) */
  uint64_t last;      /* now_ms() of the last progress */
  uint32_t read_timeout, write_timeout;
  tls_side_t *tls; /* TLS terminated on the client side (tls.c), NULL for a plain client */
  uint8_t again;   /* in the again list: the client's bytes wait in OpenSSL, where no socket event announces them */
  pair_t *again_next;
  pair_t *prev, *next; /* the live list the sweep walks; once ended, the list of pairs waiting to be freed */
};

/*
 * What the pump thread tells JavaScript (a pair's end, a connect's or a handshake's result, ClientHello bytes): an
 * event made under the lock, delivered on the main thread by calling `*fn` with `argc` values that `fill` makes from
 * it. Events for a pair whose id was given back meanwhile are dropped (`gen`); an END event (`end` set) gives the id
 * back once delivered.
 */
typedef struct event event_t;
struct event {
  event_t *next;
  uint32_t id, gen;
  pair_t *end;
  napi_ref *fn;
  napi_async_context *async;
  size_t argc;
  void (*fill)(napi_env env, event_t *e, napi_value *argv);
  int32_t code;
  uint8_t by;
  double n[4];
  const char *version, *cipher; /* OpenSSL's static names */
  char *text;                   /* owned: a reason or the bytes read so far */
  size_t len;
};

/* pump.c */
extern char g_buf[READ_SIZE];
uint64_t now_ms(void);
/* A new event about `p` (NULL when out of memory: the event is lost), then emitted under the lock: from the pump
 * thread it is queued for the main loop, from a JavaScript call it is delivered when that call returns. */
event_t *event_new(pair_t *p, napi_ref *fn, napi_async_context *async, size_t argc,
                   void (*fill)(napi_env, event_t *, napi_value *));
void emit(event_t *e);
/* Every JavaScript call that touches pairs holds the pump's lock (the pump thread holds it while it serves events);
 * unlocking delivers what the call emitted. LOCKED(js_name) { body } defines js_name as the body under the lock. */
void pump_lock(void);
void pump_unlock(napi_env env);
#define LOCKED(name)                                                                                                   \
  static napi_value name##_locked(napi_env env, napi_callback_info info);                                              \
  static napi_value name(napi_env env, napi_callback_info info) {                                                      \
    pump_lock();                                                                                                       \
    napi_value r = name##_locked(env, info);                                                                           \
    pump_unlock(env);                                                                                                  \
    return r;                                                                                                          \
  }                                                                                                                    \
  static napi_value name##_locked(napi_env env, napi_callback_info info)

int pump_ready(void); /* setup() was called: the end callback is there */
int slot_take(pair_t *p);
void init_side(side_t *s, pair_t *p, int fd, uint8_t by);
void link_pair(pair_t *p, uint32_t rt, uint32_t wt);
void sweep_for(uint32_t timeout_ms); /* a timeout this short is checked in time */
void end_pair(pair_t *p, uint8_t by);
int watch(side_t *s, uint32_t want);
void settle(pair_t *p);

/* tls.c: the client side's bytes through OpenSSL, with read()/send()'s conventions (-1 and errno EAGAIN when it
 * would block, 0 at the end of the stream) */
ssize_t tls_recv(pair_t *p, char *buf, size_t n);
ssize_t tls_send(pair_t *p, const char *buf, size_t n);
void tls_close_notify(pair_t *p);
int tls_read_wants_out(const pair_t *p); /* a read waits for the socket to be writable (a TLS 1.3 KeyUpdate) */
int tls_has_more(const pair_t *p);       /* the last read left bytes (or the stream's end) in OpenSSL's buffer */
int tls_busy(const pair_t *p);            /* reading the ClientHello (helloRead) or handshaking */
void tls_ready(pair_t *p);                /* the client side is ready while busy */
uint32_t tls_hs_timeout(const pair_t *p); /* ms the hello and the handshake may take */
void tls_expired(pair_t *p);              /* that time is up */
/* what was read from the client before the upstream existed: appended to `d` (after the upstream's `early` bytes)
 * at each connect, dropped once one connected */
int tls_append_pre(pair_t *p, dir_t *d);
void tls_drop_pre(pair_t *p);
void tls_free(pair_t *p);
void tls_init(napi_env env, napi_value exports);

#endif
