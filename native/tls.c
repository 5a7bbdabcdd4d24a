/*
 * TLS termination in the pump: the handshake and the client side's records of a terminated session, through the
 * OpenSSL that Node itself is linked with (its symbols; the headers come with Node's).
 *
 * The TypeScript side accepts, reads the ClientHello (tls/peek.ts), routes on its SNI and picks the certificate
 * (tls/native-tls.ts), then hands the client's descriptor here with the bytes it read: they are given to OpenSSL
 * from memory, and once they are used up OpenSSL reads the socket itself. The handshake runs on the pump's epoll
 * set; its end is told to TypeScript once, with the version and cipher or with OpenSSL's reason. The pair then waits
 * as an adopted pair does: the session runs its preread plugins, asks whether the client already left (tlsPeek:
 * openssl s_time and health probes close right after the handshake) and connects the upstream with connect(), and
 * from then on pump.c moves plaintext both ways with tls_recv/tls_send in place of read()/send().
 *
 * Contexts (tlsContext) are made once per certificate at config time and owned by a JavaScript object: the
 * context is freed when that object is collected and the last session using it has ended (OpenSSL counts).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "pump.h"

struct tls_side {
  SSL *ssl;
  BIO *mem;           /* the ClientHello bytes TypeScript read, until OpenSSL has taken them all */
  uint8_t hs;         /* the handshake is not done */
  uint8_t read_out;   /* SSL_read wants the socket writable first */
  uint8_t more;       /* the last read left bytes in OpenSSL's buffer that no socket event will announce */
  uint8_t held;       /* the last read met the stream's end or an error after some bytes: the next read returns it */
  int held_errno;     /* ... that error (0: the end) */
  uint32_t hs_timeout;
  uint8_t hello;      /* reading the ClientHello (helloRead) */
  uint32_t hello_max; /* the most bytes read for it */
  char *pre;          /* the ClientHello's bytes while they are read; then plaintext the client sent before the
                         upstream existed (tlsPeek) */
  size_t pre_len;
};

static napi_ref t_on_tls = NULL;
static napi_ref t_on_hello = NULL;
static napi_async_context t_async = NULL;

pair_t *pair_of(uint32_t id); /* pump.c */

/* The first argument as an id; *second the second argument (undefined when not given). */
static int id_arg(napi_env env, napi_callback_info info, uint32_t *id, napi_value *second) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (second) {
    if (argc > 1) *second = argv[1];
    else napi_get_undefined(env, second);
  }
  return argc >= 1 && napi_get_value_uint32(env, argv[0], id) == napi_ok;
}

/* ---- contexts ---- */

static int no_passphrase(char *buf, int size, int rwflag, void *u) {
  (void)buf;
  (void)size;
  (void)rwflag;
  (void)u;
  return 0; /* an encrypted key is an error, never a prompt on the terminal */
}

/* OpenSSL's reason for the last error of this thread, and the queue emptied. */
static const char *last_reason(char *out, size_t size) {
  unsigned long e = ERR_peek_last_error();
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  snprintf(out, size, "%s", r ? r : "unknown error");
  ERR_clear_error();
  return out;
}

static int use_pair(SSL_CTX *ctx, const char *cert, size_t cert_len, const char *key, size_t key_len) {
  BIO *b = BIO_new_mem_buf(cert, (int)cert_len);
  if (!b) return 0;
  X509 *x = PEM_read_bio_X509_AUX(b, NULL, no_passphrase, NULL);
  int ok = x != NULL && SSL_CTX_use_certificate(ctx, x) == 1;
  X509_free(x);
  if (ok) {
    /* the rest of the PEM is the chain sent after the leaf */
    SSL_CTX_clear_chain_certs(ctx);
    X509 *ca;
    while (ok && (ca = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) != NULL)
      if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
        X509_free(ca);
        ok = 0;
      }
    if (ok) ERR_clear_error(); /* the end of the PEM */
  }
  BIO_free(b);
  if (!ok) return 0;
  b = BIO_new_mem_buf(key, (int)key_len);
  if (!b) return 0;
  EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
  BIO_free(b);
  ok = k != NULL && SSL_CTX_use_PrivateKey(ctx, k) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  EVP_PKEY_free(k);
  return ok;
}

static void free_ctx(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  SSL_CTX_free((SSL_CTX *)data);
}

/* A string argument copied to the heap (NULL for null/undefined or on failure); *len its length. */
static char *string_arg(napi_env env, napi_value v, size_t *len) {
  napi_valuetype t;
  *len = 0;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return NULL;
  if (napi_get_value_string_utf8(env, v, NULL, 0, len) != napi_ok) return NULL;
  char *s = malloc(*len + 1);
  if (s && napi_get_value_string_utf8(env, v, s, *len + 1, len) != napi_ok) {
    free(s);
    return NULL;
  }
  return s;
}

/*
 * tlsContext(cert, key, certAlt, keyAlt, ciphers, ciphersuites, ticketKeys, sessionTimeoutS) -> an object owning an
 * SSL_CTX; throws an Error with OpenSSL's reason (never the key) when the pair cannot be used. TLS 1.2 and 1.3,
 * `ciphers` for 1.2 and `ciphersuites` for 1.3 (empty: OpenSSL's), tickets sealed with `ticketKeys` (80 bytes, the
 * same for every context of the process so a ticket resumes across reloads), no session-id cache, no
 * renegotiation, EOF without close_notify taken as the end of the stream.
 */
static napi_value js_tls_context(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8], out = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t timeout;
  void *keys = NULL;
  size_t keys_len = 0;
  bool is_buf = false;
  if (argc < 8 || napi_is_buffer(env, argv[6], &is_buf) != napi_ok || !is_buf ||
      napi_get_buffer_info(env, argv[6], &keys, &keys_len) != napi_ok || keys_len != 80 ||
      napi_get_value_uint32(env, argv[7], &timeout) != napi_ok)
    return throw_type(env, "tlsContext(cert, key, certAlt, keyAlt, ciphers, ciphersuites, ticketKeys80, timeoutS)");
  size_t n[6];
  char *s[6];
  for (int i = 0; i < 6; i++) s[i] = string_arg(env, argv[i], &n[i]);
  char why[256] = "";
  SSL_CTX *ctx = NULL;
  if (!s[0] || !s[1]) {
    snprintf(why, sizeof why, "a certificate and a key are needed");
    goto done;
  }
  ERR_clear_error();
  ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) goto failed;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_default_read_buffer_len(ctx, READ_SIZE); /* read ahead: what one read() may bring (tls_recv) */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_timeout(ctx, timeout);
  if (SSL_CTX_set_tlsext_ticket_keys(ctx, keys, (long)keys_len) != 1) goto failed;
  if (s[4] && n[4] > 0 && SSL_CTX_set_cipher_list(ctx, s[4]) != 1) goto failed;
  if (s[5] && n[5] > 0 && SSL_CTX_set_ciphersuites(ctx, s[5]) != 1) goto failed;
  if (!use_pair(ctx, s[0], n[0], s[1], n[1])) goto failed;
  if (s[2] && s[3] && !use_pair(ctx, s[2], n[2], s[3], n[3])) goto failed;
  goto done;
failed:
  last_reason(why, sizeof why);
  SSL_CTX_free(ctx);
  ctx = NULL;
done:
  for (int i = 0; i < 6; i++) {
    if (s[i]) OPENSSL_cleanse(s[i], n[i]); /* the key's text does not stay in freed memory */
    free(s[i]);
  }
  if (!ctx) {
    napi_throw_error(env, NULL, why);
    return NULL;
  }
  if (napi_create_external(env, ctx, free_ctx, NULL, &out) != napi_ok) {
    SSL_CTX_free(ctx);
    return NULL;
  }
  return out;
}

/* ---- the handshake ---- */

/* The handshake callback's arguments: (id, null, 0, version, cipher) or (id, reason, errno). */
static void done_args(napi_env env, event_t *e, napi_value *argv) {
  napi_create_uint32(env, e->id, &argv[0]);
  if (e->text) {
    napi_create_string_utf8(env, e->text, NAPI_AUTO_LENGTH, &argv[1]);
    napi_create_int32(env, e->code, &argv[2]);
    napi_get_undefined(env, &argv[3]);
    napi_get_undefined(env, &argv[4]);
  } else {
    napi_get_null(env, &argv[1]);
    napi_create_int32(env, 0, &argv[2]);
    napi_create_string_utf8(env, e->version, NAPI_AUTO_LENGTH, &argv[3]);
    napi_create_string_utf8(env, e->cipher, NAPI_AUTO_LENGTH, &argv[4]);
  }
}

/* Once the ClientHello's bytes are used up, OpenSSL reads the socket. */
static void drop_mem(tls_side_t *t, int fd) {
  if (!t->mem || BIO_ctrl_pending(t->mem) > 0) return;
  BIO *sock = BIO_new_socket(fd, BIO_NOCLOSE);
  if (!sock) return; /* tried again after the next step */
  SSL_set0_rbio(t->ssl, sock); /* frees the memory BIO */
  t->mem = NULL;
}

/* One step of the handshake: 1 done, 0 waiting for the socket, -1 failed (`why`, `err` say why). */
static int advance(pair_t *p, char *why, size_t size, int *err) {
  tls_side_t *t = p->tls;
  ERR_clear_error();
  errno = 0;
  int r = SSL_do_handshake(t->ssl);
  int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
  int saved = errno;
  drop_mem(t, p->c.fd);
  *err = 0;
  switch (e) {
  case SSL_ERROR_NONE:
    t->hs = 0;
    t->more = SSL_has_pending(t->ssl) != 0; /* records that came with the client's Finished, read ahead */
    return watch(&p->c, 0) == 0 ? 1 : (snprintf(why, size, "epoll: %s", strerror(errno)), -1);
  case SSL_ERROR_WANT_READ:
    if (watch(&p->c, EPOLLIN) == 0) return 0;
    break;
  case SSL_ERROR_WANT_WRITE:
    if (watch(&p->c, EPOLLOUT) == 0) return 0;
    break;
  case SSL_ERROR_SYSCALL:
    ERR_clear_error();
    if (saved == 0 || saved == EPIPE) snprintf(why, size, "connection closed by the client");
    else {
      *err = saved;
      snprintf(why, size, "socket error");
    }
    return -1;
  case SSL_ERROR_ZERO_RETURN:
    ERR_clear_error();
    snprintf(why, size, "connection closed by the client");
    return -1;
  default:
    last_reason(why, size);
    return -1;
  }
  snprintf(why, size, "epoll: %s", strerror(errno));
  return -1;
}

/* The handshake's end for TypeScript: `reason` NULL when it succeeded. */
static void report_tls(pair_t *p, const char *reason, int err) {
  event_t *e = event_new(p, &t_on_tls, &t_async, 5, done_args);
  if (!e) return;
  if (reason) {
    e->text = strdup(reason);
    e->code = err;
  } else {
    const SSL_CIPHER *c = SSL_get_current_cipher(p->tls->ssl);
    e->version = SSL_get_version(p->tls->ssl);
    e->cipher = c ? SSL_CIPHER_get_name(c) : "unknown";
  }
  emit(e);
}

/* The handshake failed: TypeScript hears why, then the pair ends (no session holds it yet). */
static void hs_failed(pair_t *p, const char *why, int err) {
  report_tls(p, why, err);
  end_pair(p, BY_PROXY);
}

/* The client side is ready during the handshake. */
static void hs_step(pair_t *p) {
  char why[256];
  int err;
  int r = advance(p, why, sizeof why, &err);
  if (r == 1) {
    p->last = now_ms();
    report_tls(p, NULL, 0);
  } else if (r < 0) {
    hs_failed(p, why, err);
  }
}

uint32_t tls_hs_timeout(const pair_t *p) { return p->tls->hs_timeout; }

/* A pair for an accepted client's duplicated descriptor, with a TLS side and no upstream yet; NULL: *err says why. */
static pair_t *new_tls_pair(int fd, uint32_t rt, uint32_t wt, int *err) {
  pair_t *p = calloc(1, sizeof *p);
  tls_side_t *t = calloc(1, sizeof *t);
  int c = -1;
  *err = ENOMEM;
  if (!p || !t) goto fail;
  c = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (c < 0) {
    *err = errno;
    goto fail;
  }
  if (slot_take(p) != 0) goto fail;
  int one = 1;
  setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  init_side(&p->c, p, c, BY_CLIENT);
  init_side(&p->u, p, -1, BY_UPSTREAM);
  p->connecting = 1;
  p->tls = t;
  link_pair(p, rt, wt);
  return p;
fail:
  if (c >= 0) close(c);
  free(t);
  free(p);
  return NULL;
}

/*
 * Starts the handshake of a pair whose ClientHello (`hello`, every byte read from the client) is known: 0 when it
 * goes on (its end comes to the tlsSetup callback), else the pair has ended and `why` says why.
 */
static int start_tls(pair_t *p, SSL_CTX *ctx, uint32_t hs_ms, const void *hello, size_t len, char *why,
                     size_t size) {
  tls_side_t *t = p->tls;
  ERR_clear_error();
  t->ssl = SSL_new(ctx);
  BIO *mem = BIO_new(BIO_s_mem());
  BIO *wb = BIO_new_socket(p->c.fd, BIO_NOCLOSE);
  if (!t->ssl || !mem || !wb || BIO_write(mem, hello, (int)len) != (int)len) {
    BIO_free(mem);
    BIO_free(wb);
    last_reason(why, size);
    end_pair(p, BY_PROXY);
    return -1;
  }
  BIO_set_mem_eof_return(mem, -1); /* empty: "try again", not the end of the stream */
  SSL_set_bio(t->ssl, mem, wb);
  /* OpenSSL reads the socket in chunks of up to READ_SIZE (the context's read buffer), not a record's header and then
   * its body: one read() for several records (tls_recv) */
  SSL_set_read_ahead(t->ssl, 1);
  t->mem = mem;
  SSL_set_accept_state(t->ssl);
  t->hs = 1;
  t->hs_timeout = hs_ms;
  p->last = now_ms();
  sweep_for(hs_ms);
  /* the first step now: the ClientHello is in memory and no event of the socket would bring it */
  int err;
  int r = advance(p, why, size, &err);
  if (r == 0) return 0;
  if (r == 1) snprintf(why, size, "handshake ended before the client's Finished");
  end_pair(p, BY_PROXY);
  return -1;
}

/*
 * tlsAdopt(clientFd, context, hello, handshakeTimeoutMs, readTimeoutMs, writeTimeoutMs) -> id (> 0), -errno when the
 * descriptor cannot be taken (the caller keeps its socket), or a string: OpenSSL refused the ClientHello at once.
 * The descriptor is duplicated (the caller closes its own); `hello` is every byte read from the client so far.
 * The handshake's end comes to the tlsSetup callback: (id, null, 0, version, cipher) or (id, reason, errno).
 */
LOCKED(js_tls_adopt) {
  size_t argc = 6;
  napi_value argv[6], out;
  int32_t cfd;
  uint32_t hs_ms, rt, wt;
  SSL_CTX *ctx = NULL;
  void *hello = NULL;
  size_t hello_len = 0;
  bool is_buf = false;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6 || !t_on_tls || !pump_ready() || napi_get_value_int32(env, argv[0], &cfd) != napi_ok ||
      napi_get_value_external(env, argv[1], (void **)&ctx) != napi_ok || !ctx ||
      napi_is_buffer(env, argv[2], &is_buf) != napi_ok || !is_buf ||
      napi_get_buffer_info(env, argv[2], &hello, &hello_len) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &hs_ms) != napi_ok || napi_get_value_uint32(env, argv[4], &rt) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &wt) != napi_ok)
    return throw_type(env, "tlsAdopt(fd, context, hello, handshakeMs, readMs, writeMs) after setup() and tlsSetup()");
  int err;
  pair_t *p = new_tls_pair(cfd, rt, wt, &err);
  if (!p) {
    napi_create_int32(env, -err, &out);
    return out;
  }
  char why[256];
  if (start_tls(p, ctx, hs_ms, hello, hello_len, why, sizeof why) == 0) napi_create_int32(env, (int32_t)p->id, &out);
  else napi_create_string_utf8(env, why, NAPI_AUTO_LENGTH, &out);
  return out;
}

/* ---- reading the ClientHello (native accept on ssl listeners) ---- */

/* hello callback codes: bytes came (all read so far are passed), the client ended, the time is up; or -errno */
enum { HELLO_BYTES = 0, HELLO_EOF = 1, HELLO_TIMEOUT = 2 };

/* The hello callback's arguments: (id, every byte read so far, HELLO_* or -errno). */
static void hello_args(napi_env env, event_t *e, napi_value *argv) {
  void *data;
  napi_create_uint32(env, e->id, &argv[0]);
  if (napi_create_buffer_copy(env, e->len, e->len ? e->text : "", &data, &argv[1]) != napi_ok)
    napi_get_undefined(env, &argv[1]);
  napi_create_int32(env, e->code, &argv[2]);
}

/* The read is over (a whole ClientHello, or not): the client is no longer watched until TypeScript decides. */
static void hello_over(pair_t *p, int code) {
  tls_side_t *t = p->tls;
  t->hello = 0;
  watch(&p->c, 0);
  event_t *e = event_new(p, &t_on_hello, &t_async, 3, hello_args);
  if (e && t->pre_len > 0 && !(e->text = malloc(t->pre_len))) code = -ENOMEM;
  if (e && e->text) {
    memcpy(e->text, t->pre, t->pre_len);
    e->len = t->pre_len;
  }
  if (e) e->code = code;
  emit(e);
}

/*
 * The client sent bytes (read until the socket has no more, as libuv reads, or until `hello_max`): TypeScript parses
 * them and either decides or asks for more (helloContinue).
 */
static void hello_read(pair_t *p) {
  tls_side_t *t = p->tls;
  char *b = t->pre;
  if (!b && !(b = t->pre = malloc(t->hello_max))) return hello_over(p, -ENOMEM);
  size_t before = t->pre_len;
  while (t->pre_len < t->hello_max) {
    ssize_t n = read(p->c.fd, b + t->pre_len, t->hello_max - t->pre_len);
    if (n > 0) {
      t->pre_len += (size_t)n;
      continue;
    }
    if (n == 0) return hello_over(p, HELLO_EOF);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    return hello_over(p, -errno);
  }
  if (t->pre_len > before) hello_over(p, HELLO_BYTES);
}

int tls_busy(const pair_t *p) { return p->tls->hs || p->tls->hello; }

void tls_ready(pair_t *p) {
  if (p->tls->hs) hs_step(p);
  else hello_read(p);
}

void tls_expired(pair_t *p) {
  if (p->tls->hs) hs_failed(p, "timeout", 0);
  else hello_over(p, HELLO_TIMEOUT);
}

/*
 * helloRead(fd, timeoutMs, maxBytes) -> id (> 0) or -errno: reads an accepted client's ClientHello (the descriptor
 * is duplicated; the caller keeps its handle). The tlsSetup hello callback gets (id, bytes, code) with every byte read
 * so far: code 0 when more came (at most maxBytes in all), 1 EOF, 2 timeout, -errno a failed read. Then the caller
 * decides: helloContinue() reads on, tlsStart() terminates, helloRelease() gives the client back.
 */
LOCKED(js_hello_read) {
  size_t argc = 3;
  napi_value argv[3], out;
  int32_t fd;
  uint32_t ms, max;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3 || !t_on_hello || !t_on_tls || !pump_ready() || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &ms) != napi_ok || napi_get_value_uint32(env, argv[2], &max) != napi_ok ||
      max == 0)
    return throw_type(env, "helloRead(fd, timeoutMs, maxBytes) after setup() and tlsSetup()");
  int err;
  pair_t *p = new_tls_pair(fd, ms, ms, &err);
  if (p) {
    p->tls->hello = 1;
    p->tls->hello_max = max;
    p->tls->hs_timeout = ms;
    if (watch(&p->c, EPOLLIN) != 0) {
      err = errno;
      p->tls->hello = 0;
      end_pair(p, BY_PROXY);
      p = NULL;
    }
  }
  napi_create_int32(env, p ? (int32_t)p->id : -err, &out);
  return out;
}

/*
 * tlsStart(id, context, handshakeTimeoutMs, readTimeoutMs, writeTimeoutMs) -> 0, or a string when OpenSSL refused
 * the ClientHello at once (the pair has ended): terminates TLS on a pair whose hello helloRead read.
 */
LOCKED(js_tls_start) {
  size_t argc = 5;
  napi_value argv[5], out;
  uint32_t id, hs_ms, rt, wt;
  SSL_CTX *ctx = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5 || napi_get_value_uint32(env, argv[0], &id) != napi_ok ||
      napi_get_value_external(env, argv[1], (void **)&ctx) != napi_ok || !ctx ||
      napi_get_value_uint32(env, argv[2], &hs_ms) != napi_ok || napi_get_value_uint32(env, argv[3], &rt) != napi_ok ||
      napi_get_value_uint32(env, argv[4], &wt) != napi_ok)
    return throw_type(env, "tlsStart(id, context, handshakeMs, readMs, writeMs)");
  pair_t *p = pair_of(id);
  if (!p || !p->tls || p->tls->ssl || p->tls->hello) return throw_type(env, "tlsStart: no ClientHello read for this id");
  tls_side_t *t = p->tls;
  char *hello = t->pre;
  size_t len = t->pre_len;
  t->pre = NULL;
  t->pre_len = 0;
  p->read_timeout = rt;
  p->write_timeout = wt;
  sweep_for(rt < wt ? rt : wt);
  char why[256];
  int r = start_tls(p, ctx, hs_ms, hello, len, why, sizeof why);
  free(hello);
  if (r == 0) napi_get_undefined(env, &out);
  else napi_create_string_utf8(env, why, NAPI_AUTO_LENGTH, &out);
  return out;
}

/* helloContinue(id): reads more of the ClientHello (the bytes so far were not a whole one). */
LOCKED(js_hello_continue) {
  uint32_t id;
  if (!id_arg(env, info, &id, NULL)) return throw_type(env, "helloContinue(id)");
  pair_t *p = pair_of(id);
  if (p && p->tls && !p->tls->ssl && !p->tls->hello) {
    p->tls->hello = 1;
    if (watch(&p->c, EPOLLIN) != 0) hello_over(p, -errno);
  }
  return NULL;
}

/*
 * helloRelease(id, drain): lets go of a pair helloRead made (its duplicate closed, nothing reported): the caller
 * serves or closes the client. `drain`: what the client sent meanwhile is read and dropped first (up to 256 KiB), so
 * closing a refused client ends with FIN, not with a reset that could destroy the 400's meaning on its side.
 */
LOCKED(js_hello_release) {
  uint32_t id;
  napi_value second;
  bool drain = false;
  if (!id_arg(env, info, &id, &second)) return throw_type(env, "helloRelease(id, drain)");
  napi_get_value_bool(env, second, &drain);
  pair_t *p = pair_of(id);
  if (p && p->tls && !p->tls->ssl) {
    for (size_t n = 0; drain && n < 4 * READ_SIZE;) {
      ssize_t r = read(p->c.fd, g_buf, READ_SIZE);
      if (r <= 0 && !(r < 0 && errno == EINTR)) break;
      if (r > 0) n += (size_t)r;
    }
    p->tls->hello = 0;
    end_pair(p, BY_PROXY);
  }
  return NULL;
}

/*
 * tlsPeek(id) -> true when the client already ended its side with nothing sent (close_notify or FIN, or its socket
 * failed) after a finished handshake: no upstream is needed. Plaintext it sent meanwhile is kept for the upstream.
 */
LOCKED(js_tls_peek) {
  napi_value out;
  uint32_t id;
  if (!id_arg(env, info, &id, NULL)) return throw_type(env, "tlsPeek(id)");
  pair_t *p = pair_of(id);
  bool gone = false;
  if (p && p->tls && !p->tls->hs) {
    tls_side_t *t = p->tls;
    for (int i = 0; i < 4 && t->pre_len < 4 * READ_SIZE; i++) {
      ssize_t n = tls_recv(p, g_buf, READ_SIZE);
      if (n > 0) {
        char *more = realloc(t->pre, t->pre_len + (size_t)n);
        if (!more) break;
        memcpy(more + t->pre_len, g_buf, (size_t)n);
        t->pre = more;
        t->pre_len += (size_t)n;
        p->up.nread += (double)n;
        if (t->held) break; /* the end or an error after these bytes: the pump reads it once connected (more) */
        continue;
      }
      if (n == 0 || errno != EAGAIN) gone = t->pre_len == 0;
      break;
    }
    t->read_out = 0;
  }
  napi_get_boolean(env, gone, &out);
  return out;
}

int tls_append_pre(pair_t *p, dir_t *d) {
  tls_side_t *t = p->tls;
  if (t->pre_len == 0) return 0;
  char *b = realloc(d->buf, d->len + t->pre_len);
  if (!b) return -1;
  memcpy(b + d->len, t->pre, t->pre_len);
  d->buf = b;
  d->len += t->pre_len;
  return 0;
}

void tls_drop_pre(pair_t *p) {
  free(p->tls->pre);
  p->tls->pre = NULL;
  p->tls->pre_len = 0;
}

/* ---- records after the handshake ---- */

/* SSL_read's failure `e` (errno `saved`) as read() would give it: 0 at the end, -1 with errno. */
static ssize_t read_failed(tls_side_t *t, int e, int saved) {
  ERR_clear_error();
  switch (e) {
  case SSL_ERROR_ZERO_RETURN:
    return 0;
  case SSL_ERROR_WANT_READ:
    errno = EAGAIN;
    return -1;
  case SSL_ERROR_WANT_WRITE:
    t->read_out = 1;
    errno = EAGAIN;
    return -1;
  case SSL_ERROR_SYSCALL:
    if (saved == 0) return 0;
    errno = saved == EAGAIN || saved == EINTR ? EIO : saved;
    return -1;
  default:
    errno = EPROTO;
    return -1;
  }
}

/*
 * Up to `n` bytes of plaintext: record after record while OpenSSL holds whole ones (read ahead), so a socket full of
 * records costs one read() and one send() on the other side, not two reads and a wake of the loop per record. What
 * stops it after some bytes (the end, an error) is kept for the next call; bytes left in OpenSSL's buffer when `buf`
 * is full set `more`, and pump.c serves the pair again (no socket event would).
 */
ssize_t tls_recv(pair_t *p, char *buf, size_t n) {
  tls_side_t *t = p->tls;
  t->more = 0;
  if (t->held) {
    t->held = 0;
    errno = t->held_errno;
    return t->held_errno ? -1 : 0;
  }
  t->read_out = 0;
  size_t got = 0;
  for (;;) {
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(t->ssl, buf + got, (int)(n - got));
    int saved = errno;
    if (r > 0) {
      got += (size_t)r;
      if (!SSL_has_pending(t->ssl)) return (ssize_t)got;
      if (got == n) {
        t->more = 1;
        return (ssize_t)got;
      }
      continue;
    }
    ssize_t res = read_failed(t, SSL_get_error(t->ssl, r), saved);
    if (got == 0) return res;
    if (res == 0 || errno != EAGAIN) {
      t->held = 1;
      t->held_errno = res == 0 ? 0 : errno;
      t->more = 1;
    }
    return (ssize_t)got;
  }
}

int tls_has_more(const pair_t *p) { return p->tls->ssl && p->tls->more; }

ssize_t tls_send(pair_t *p, const char *buf, size_t n) {
  tls_side_t *t = p->tls;
  ERR_clear_error();
  errno = 0;
  int r = SSL_write(t->ssl, buf, (int)(n > INT32_MAX ? INT32_MAX : n));
  if (r > 0) return r;
  int e = SSL_get_error(t->ssl, r);
  int saved = errno;
  ERR_clear_error();
  if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
    errno = EAGAIN;
    return -1;
  }
  errno = e == SSL_ERROR_SYSCALL && saved != 0 && saved != EAGAIN && saved != EINTR ? saved : EPIPE;
  return -1;
}

void tls_close_notify(pair_t *p) {
  ERR_clear_error();
  SSL_shutdown(p->tls->ssl);
  ERR_clear_error();
}

int tls_read_wants_out(const pair_t *p) { return p->tls->read_out; }

void tls_free(pair_t *p) {
  tls_side_t *t = p->tls;
  p->tls = NULL;
  SSL_free(t->ssl);
  free(t->pre);
  free(t);
}

/* tlsSetup(onHandshake, onHello): the one callback for every handshake's end, and the one for ClientHello reads. */
static napi_value js_tls_setup(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || !is_function(env, argv[0]) || !is_function(env, argv[1]))
    return throw_type(env, "tlsSetup(onHandshake, onHello): functions");
  keep_ref(env, argv[0], &t_on_tls);
  keep_ref(env, argv[1], &t_on_hello);
  if (!t_async) t_async = async_context(env, "kong-ts.tls");
  return NULL;
}

void tls_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"tlsSetup", NULL, js_tls_setup, NULL, NULL, NULL, napi_default, NULL},
      {"tlsContext", NULL, js_tls_context, NULL, NULL, NULL, napi_default, NULL},
      {"tlsAdopt", NULL, js_tls_adopt, NULL, NULL, NULL, napi_default, NULL},
      {"tlsPeek", NULL, js_tls_peek, NULL, NULL, NULL, napi_default, NULL},
      {"tlsStart", NULL, js_tls_start, NULL, NULL, NULL, napi_default, NULL},
      {"helloRead", NULL, js_hello_read, NULL, NULL, NULL, napi_default, NULL},
      {"helloRelease", NULL, js_hello_release, NULL, NULL, NULL, napi_default, NULL},
      {"helloContinue", NULL, js_hello_continue, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
