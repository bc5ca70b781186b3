/*
 * N-API binding of the fast path, part 1: conversions, the delivery of deferred datagrams to
 * JavaScript, and the Engine's life cycle (addon_methods.c has its methods; src/engine.ts the
 * typed interface).
 * One Engine per worker thread; it runs on that thread's libuv loop. Errors from the OS become
 * JavaScript Errors with `code` set to the errno name (EADDRINUSE, …).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addon.h"

static void maybe_free(native_engine *ne) {
  if (ne->closed && ne->finalized) free(ne);
}

napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[160];
  const char *name = uv_err_name(-err);
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, name, msg);
  return NULL;
}

/* address text + port → fp_addr; a v4 address for a v6 socket becomes ::ffff:a.b.c.d. */
int parse_addr(napi_env env, napi_value text, napi_value port, uint8_t want_family, fp_addr *out) {
  char buf[64];
  size_t n = 0;
  uint32_t p = 0;
  if (napi_get_value_string_utf8(env, text, buf, sizeof buf, &n) != napi_ok || napi_get_value_uint32(env, port, &p) != napi_ok) return -1;
  if (p > 65535) return -1;
  memset(out, 0, sizeof *out);
  out->port = (uint16_t)p;
  if (strchr(buf, ':')) {
    if (uv_inet_pton(AF_INET6, buf, out->addr) != 0) return -1;
    out->family = 6;
  } else {
    if (uv_inet_pton(AF_INET, buf, out->addr) != 0) return -1;
    out->family = 4;
    if (want_family == 6) {
      memmove(out->addr + 12, out->addr, 4);
      memset(out->addr, 0, 10);
      out->addr[10] = out->addr[11] = 0xff;
      out->family = 6;
    }
  }
  return 0;
}

napi_value addr_text(napi_env env, const fp_addr *a) {
  char buf[64];
  struct sockaddr_storage ss;
  engine_from_fp(a, &ss);
  if (a->family == 4) uv_ip4_name((const struct sockaddr_in *)&ss, buf, sizeof buf);
  else uv_ip6_name((const struct sockaddr_in6 *)&ss, buf, sizeof buf);
  napi_value v;
  napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &v);
  return v;
}

void set_uint(napi_env env, napi_value obj, const char *name, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, obj, name, x);
}

void set_str(napi_env env, napi_value obj, const char *name, const char *s) {
  napi_value x;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &x);
  napi_set_named_property(env, obj, name, x);
}

/* The deferred datagrams as [{listener, address, port, data}], in one call to onBatch. */
void deliver(engine *e, void *ctx) {
  native_engine *ne = ctx;
  napi_env env = ne->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value list, cb, recv, result;
  napi_create_array_with_length(env, e->ndf, &list);
  size_t off = 0;
  for (uint32_t i = 0; i < e->ndf; i++) {
    const deferred *d = (const deferred *)(e->dfarena + off);
    napi_value rec, data;
    napi_create_object(env, &rec);
    set_uint(env, rec, "listener", d->listener);
    napi_set_named_property(env, rec, "address", addr_text(env, &d->src));
    set_uint(env, rec, "port", d->src.port);
    void *copy;
    napi_create_buffer_copy(env, d->len, d + 1, &copy, &data);
    napi_set_named_property(env, rec, "data", data);
    napi_set_element(env, list, i, rec);
    off += (sizeof(deferred) + d->len + 7) & ~(size_t)7;
  }
  napi_get_reference_value(env, ne->on_batch, &cb);
  napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
  napi_status st = napi_make_callback(env, ne->actx, recv, cb, 1, &list, &result);
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

native_engine *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok || napi_unwrap(env, self, &data) != napi_ok) {
    napi_throw_error(env, NULL, "dari turn-native: not an Engine");
    return NULL;
  }
  native_engine *ne = data;
  if (ne->closing) {
    napi_throw_error(env, "ERR_CLOSED", "dari turn-native: the engine is closed");
    return NULL;
  }
  return ne;
}

void on_engine_closed(void *ctx) {
  native_engine *ne = ctx;
  napi_env env = ne->env;
  engine_free(&ne->e);
  if (ne->hook) {
    napi_remove_async_cleanup_hook(ne->hook);
    ne->hook = NULL;
  }
  if (ne->on_closed) {
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value cb, recv, result;
    napi_get_reference_value(env, ne->on_closed, &cb);
    napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
    napi_make_callback(env, ne->actx, recv, cb, 0, NULL, &result);
    napi_close_handle_scope(env, scope);
    napi_delete_reference(env, ne->on_closed);
    ne->on_closed = NULL;
  }
  napi_async_destroy(env, ne->actx);
  napi_delete_reference(env, ne->on_batch);
  ne->closed = 1;
  maybe_free(ne);
}

/* The worker (or process) is going away with sockets still open: close them first. */
void cleanup_hook(napi_async_cleanup_hook_handle handle, void *arg) {
  native_engine *ne = arg;
  ne->hook = handle;
  ne->closing = 1;
  engine_close(&ne->e, on_engine_closed, ne);
}

void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  native_engine *ne = data;
  ne->finalized = 1;
  maybe_free(ne);
}

