/*
 * What the TCP pump (pump.c) shares with TLS termination (tls.c): the pair of sides a session is made of, and the
 * few pump functions the TLS code calls.
 */
#ifndef KONG_TS_NATIVE_PUMP_H
#define KONG_TS_NATIVE_PUMP_H

#include "common.h"
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
  uint8_t closing;
  uint8_t closed_by;
  uint8_t connecting; /* adopted client, upstream connect in flight or not yet asked (u.fd -1 when none) */
  uint64_t last;      /* uv_now of the last progress */
  uint32_t read_timeout, write_timeout;
  tls_side_t *tls; /* TLS terminated on the client side (tls.c), NULL for a plain client */
  pair_t *prev, *next; /* the live list the sweep walks; once ended, the list of pairs waiting to be freed */
};

/* pump.c */
extern uv_loop_t *g_loop;
extern char g_buf[READ_SIZE];
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
