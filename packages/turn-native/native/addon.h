/* Shared between addon.c (lifecycle, conversions) and addon_methods.c (the Engine's methods). */
#ifndef DARI_ADDON_H
#define DARI_ADDON_H

#define NAPI_VERSION 8
#include <node_api.h>

#include "engine.h"

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "dari turn-native: " #call " failed"); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

typedef struct {
  engine e;
  napi_env env;
  napi_ref on_batch;
  napi_ref on_closed;
  napi_async_context actx;
  napi_async_cleanup_hook_handle hook;
  int closing, closed, finalized;
} native_engine;

napi_value throw_errno(napi_env env, int err, const char *what);
int parse_addr(napi_env env, napi_value text, napi_value port, uint8_t want_family, fp_addr *out);
napi_value addr_text(napi_env env, const fp_addr *a);
void set_uint(napi_env env, napi_value obj, const char *name, double v);
void set_str(napi_env env, napi_value obj, const char *name, const char *s);
native_engine *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv);
void deliver(engine *e, void *ctx);
void on_engine_closed(void *ctx);
void cleanup_hook(napi_async_cleanup_hook_handle handle, void *arg);
void finalize(napi_env env, void *data, void *hint);

int arg_u32(napi_env env, napi_value v, uint32_t *out);
int arg_f64(napi_env env, napi_value v, double *out);
int arg_bytes(napi_env env, napi_value v, const uint8_t **data, size_t *len);
napi_value bad_args(napi_env env, const char *usage);
napi_value undefined_value(napi_env env);

napi_value Engine_new(napi_env env, napi_callback_info info);
napi_value Engine_listen(napi_env env, napi_callback_info info);
napi_value Engine_bindRelay(napi_env env, napi_callback_info info);
napi_value Engine_closeRelay(napi_env env, napi_callback_info info);
napi_value Engine_allocation(napi_env env, napi_callback_info info);
napi_value Engine_permission(napi_env env, napi_callback_info info);
napi_value Engine_channel(napi_env env, napi_callback_info info);
napi_value Engine_send(napi_env env, napi_callback_info info);
napi_value Engine_relay(napi_env env, napi_callback_info info);

#endif
