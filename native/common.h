/*
 * What the native parts (pump.c: TCP pairs, udp.c: UDP flows) share: ids for JavaScript, one way to call back into
 * JavaScript, and IP literal parsing. Header-only (static functions), each file gets its own copy of the state.
 */
#ifndef KONG_TS_NATIVE_COMMON_H
#define KONG_TS_NATIVE_COMMON_H

#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* id -> item; ids are slot + 1, reused after the item is given back */
typedef struct {
  void **items;
  uint32_t *free;
  uint32_t cap, nfree, next;
} slots_t;

/* The new item's id, 0 when out of memory. */
static inline uint32_t slots_take(slots_t *t, void *item) {
  uint32_t s;
  if (t->nfree > 0) {
    s = t->free[--t->nfree];
  } else {
    if (t->next == t->cap) {
      uint32_t cap = t->cap ? t->cap * 2 : 1024;
      void **items = realloc(t->items, cap * sizeof *items);
      if (!items) return 0;
      t->items = items;
      uint32_t *fr = realloc(t->free, cap * sizeof *fr);
      if (!fr) return 0;
      t->free = fr;
      t->cap = cap;
    }
    s = t->next++;
  }
  t->items[s] = item;
  return s + 1;
}

static inline void slots_give(slots_t *t, uint32_t id) {
  t->items[id - 1] = NULL;
  t->free[t->nfree++] = id - 1;
}

static inline void *slots_get(const slots_t *t, uint32_t id) {
  if (id == 0 || id > t->next) return NULL;
  return t->items[id - 1];
}

/*
 * Calls `fn` with `argc` values made by `fill(env, ctx, argv)` inside the call's handle scope, as an async callback
 * of `async` (so async hooks and the microtask queue see it); an exception it throws is fatal, as an exception in
 * any event handler is.
 */
static inline void call_js(napi_env env, napi_async_context async, napi_ref fn, size_t argc,
                    void (*fill)(napi_env, void *, napi_value *), void *ctx) {
  napi_handle_scope scope;
  if (!fn || napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[8], result;
  napi_get_reference_value(env, fn, &cb);
  napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
  fill(env, ctx, argv);
  if (napi_make_callback(env, async, recv, cb, argc, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

/* An IPv6 literal, with its zone when it has one ("fe80::1%eth0" or "%2"), as Node's connect takes it. */
static inline int parse_ip6(char *ip, struct sockaddr_in6 *a) {
  char *zone = strchr(ip, '%');
  if (zone) *zone++ = 0;
  if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1) return -1;
  if (zone && *zone) {
    char *end;
    unsigned long n = strtoul(zone, &end, 10);
    a->sin6_scope_id = *end == 0 ? (uint32_t)n : if_nametoindex(zone);
    if (a->sin6_scope_id == 0) return -1;
  }
  return 0;
}

/* An IP literal and a port as a socket address (v4, or v6 with its zone); its length, 0 when `ip` is neither. */
static inline socklen_t parse_address(char *ip, uint32_t port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
    ss->ss_family = AF_INET;
    ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    return sizeof(struct sockaddr_in);
  }
  if (parse_ip6(ip, (struct sockaddr_in6 *)ss) == 0) {
    ss->ss_family = AF_INET6;
    ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    return sizeof(struct sockaddr_in6);
  }
  return 0;
}

/* A socket address as JavaScript values: out[i] = the IP text, out[i + 1] = the port; -EAFNOSUPPORT otherwise. */
static inline int put_address(napi_env env, napi_value out, uint32_t i, const struct sockaddr_storage *ss) {
  char text[INET6_ADDRSTRLEN];
  uint16_t port;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  } else {
    return -EAFNOSUPPORT;
  }
  napi_value ip, pt;
  napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &ip);
  napi_create_uint32(env, port, &pt);
  napi_set_element(env, out, i, ip);
  napi_set_element(env, out, i + 1, pt);
  return 0;
}

static inline napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

/* True when `v` is a function. */
static inline int is_function(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == napi_function;
}

/* Keeps `fn` for calls from C (a callback set up again replaces the one before). */
static inline void keep_ref(napi_env env, napi_value fn, napi_ref *ref) {
  if (*ref) napi_delete_reference(env, *ref);
  napi_create_reference(env, fn, 1, ref);
}

/* The async context calls into JavaScript are made in, named for async hooks. */
static inline napi_async_context async_context(napi_env env, const char *name) {
  napi_value resource, n;
  napi_async_context ctx = NULL;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &n);
  napi_async_init(env, resource, n, &ctx);
  return ctx;
}

#endif
