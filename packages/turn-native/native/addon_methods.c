/*
 * N-API binding of the fast path, part 2: the methods of class Engine that set up sockets and
 * state and move datagrams (addon_module.c: counters, close, the pure verdicts, the module entry).
 * Arguments are checked here; src/engine.ts documents them (units, ranges, errors).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addon.h"

#define MAX_ARGS 8

int arg_u32(napi_env env, napi_value v, uint32_t *out) { return napi_get_value_uint32(env, v, out) == napi_ok ? 0 : -1; }
int arg_f64(napi_env env, napi_value v, double *out) { return napi_get_value_double(env, v, out) == napi_ok ? 0 : -1; }
int arg_bytes(napi_env env, napi_value v, const uint8_t **data, size_t *len) {
  void *p = NULL;
  bool ok = false;
  if (napi_is_typedarray(env, v, &ok) != napi_ok || !ok) return -1;
  napi_typedarray_type type;
  size_t length, offset;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &length, &p, &ab, &offset) != napi_ok || type != napi_uint8_array) return -1;
  *data = p;
  *len = length;
  return 0;
}

napi_value bad_args(napi_env env, const char *usage) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", usage);
  return NULL;
}

napi_value undefined_value(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/* new Engine(onBatch, software: string | null, answerBinding: boolean) */
napi_value Engine_new(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  napi_valuetype t0, t1;
  bool answer = false;
  if (argc < 3 || napi_typeof(env, argv[0], &t0) != napi_ok || t0 != napi_function || napi_typeof(env, argv[1], &t1) != napi_ok ||
      (t1 != napi_string && t1 != napi_null) || napi_get_value_bool(env, argv[2], &answer) != napi_ok)
    return bad_args(env, "new Engine(onBatch: function, software: string | null, answerBinding: boolean)");
  char software[FP_MAX_SOFTWARE + 2];
  size_t slen = 0;
  if (t1 == napi_string) CHECK(napi_get_value_string_utf8(env, argv[1], software, sizeof software, &slen));
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  native_engine *ne = calloc(1, sizeof *ne);
  if (!ne) return throw_errno(env, ENOMEM, "new Engine");
  /* A SOFTWARE longer than FP_MAX_SOFTWARE was cut by the copy: let the core answer Binding then. */
  int too_long = t1 == napi_string && slen > FP_MAX_SOFTWARE;
  int err = engine_init(&ne->e, loop, t1 == napi_string && !too_long ? (const uint8_t *)software : NULL, slen, answer && !too_long);
  if (err != 0) {
    engine_free(&ne->e);
    free(ne);
    return throw_errno(env, -err, "new Engine");
  }
  ne->env = env;
  ne->e.deliver = deliver;
  ne->e.deliver_ctx = ne;
  CHECK(napi_create_reference(env, argv[0], 1, &ne->on_batch));
  napi_value name;
  CHECK(napi_create_string_utf8(env, "DariTurnFastPath", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, self, name, &ne->actx));
  CHECK(napi_wrap(env, self, ne, finalize, NULL, NULL));
  CHECK(napi_add_async_cleanup_hook(env, cleanup_hook, ne, &ne->hook));
  return self;
}

/* listen(address, port, reusePort, bufferBytes): [index, boundPort] */
napi_value Engine_listen(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  native_engine *ne = unwrap(env, info, &argc, argv);
  if (!ne) return NULL;
  fp_addr a;
  bool reuse = false;
  uint32_t buffer = 0;
  if (argc < 4 || parse_addr(env, argv[0], argv[1], 0, &a) != 0 || napi_get_value_bool(env, argv[2], &reuse) != napi_ok || arg_u32(env, argv[3], &buffer) != 0)
    return bad_args(env, "listen(address: string, port: number, reusePort: boolean, bufferBytes: number)");
  struct sockaddr_storage ss;
  socklen_t len = engine_from_fp(&a, &ss);
  uint16_t port = 0;
  int r = engine_listen(&ne->e, (struct sockaddr *)&ss, len, reuse, (int)buffer, &port);
  if (r < 0) return throw_errno(env, -r, "listen");
  napi_value out, x;
  CHECK(napi_create_array_with_length(env, 2, &out));
  CHECK(napi_create_uint32(env, (uint32_t)r, &x));
  CHECK(napi_set_element(env, out, 0, x));
  CHECK(napi_create_uint32(env, port, &x));
  CHECK(napi_set_element(env, out, 1, x));
  return out;
}

/* bindRelay(allocation, address, port, bufferBytes): null, or the errno name */
napi_value Engine_bindRelay(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  native_engine *ne = unwrap(env, info, &argc, argv);
  if (!ne) return NULL;
  uint32_t id, buffer;
  fp_addr a;
  if (argc < 4 || arg_u32(env, argv[0], &id) != 0 || parse_addr(env, argv[1], argv[2], 0, &a) != 0 || arg_u32(env, argv[3], &buffer) != 0)
    return bad_args(env, "bindRelay(allocation: number, address: string, port: number, bufferBytes: number)");
  struct sockaddr_storage ss;
  socklen_t len = engine_from_fp(&a, &ss);
  int r = engine_bind_relay(&ne->e, id, (struct sockaddr *)&ss, len, (int)buffer);
  napi_value out;
  if (r == 0) CHECK(napi_get_null(env, &out));
  else CHECK(napi_create_string_utf8(env, uv_err_name(r), NAPI_AUTO_LENGTH, &out));
  return out;
}

/* closeRelay(allocation) */
napi_value Engine_closeRelay(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  native_engine *ne = unwrap(env, info, &argc, argv);
  if (!ne) return NULL;
  uint32_t id;
  if (argc < 1 || arg_u32(env, argv[0], &id) != 0) return bad_args(env, "closeRelay(allocation: number)");
  engine_close_relay(&ne->e, id);
  return undefined_value(env);
}

/* allocation(id, listener, clientAddress, clientPort, family, expiresAtMs, maxBps) */
napi_value Engine_allocation(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  native_engine *ne = unwrap(env, info, &argc, argv);
  if (!ne) return NULL;
  uint32_t id, listener, family;
  double expires, max_bps;
  fp_addr client;
  if (argc < 7 || arg_u32(env, argv[0], &id) != 0 || arg_u32(env, argv[1], &listener) != 0 || parse_addr(env, argv[2], argv[3], 0, &client) != 0 ||
      arg_u32(env, argv[4], &family) != 0 || (family != 4 && family != 6) || arg_f64(env, argv[5], &expires) != 0 || arg_f64(env, argv[6], &max_bps) != 0)
    return bad_args(env, "allocation(id, listener, clientAddress, clientPort, family: 4 | 6, expiresAtMs, maxBps)");
  /* A client on a udp6 listener is ::ffff:a.b.c.d there. */
  if (listener < ne->e.nlisteners && ne->e.listeners[listener] && ne->e.listeners[listener]->family == 6 && client.family == 4) {
    memmove(client.addr + 12, client.addr, 4);
    memset(client.addr, 0, 10);
    client.addr[10] = client.addr[11] = 0xff;
    client.family = 6;
  }
  fp_alloc *a = fp_create(&ne->e.table, id);
  if (!a || fp_install(&ne->e.table, a, listener, &client, (uint8_t)family, (int64_t)expires, max_bps, engine_now_ms()) != 0)
    return throw_errno(env, ENOMEM, "allocation");
  return undefined_value(env);
}

/* permission(id, peerAddress, expiresAtMs) */
napi_value Engine_permission(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], zero;
  native_engine *ne = unwrap(env, info, &argc, argv);
  if (!ne) return NULL;
  uint32_t id;
  double expires;
  fp_addr peer;
  napi_create_uint32(env, 0, &zero);
  if (argc < 3 || arg_u32(env, argv[0], &id) != 0 || parse_addr(env, argv[1], zero, 0, &peer) != 0 || arg_f64(env, argv[2], &expires) != 0)
    return bad_args(env, "permission(allocation: number, peerAddress: string, expiresAtMs: number)");
  fp_alloc *a = fp_find(&ne->e.table, id);
  if (!a) return undefined_value(env); /* gone meanwhile: nothing to relay for */
  if (fp_permission(a, peer.family, peer.addr, (int64_t)expires, engine_now_ms()) != 0) return throw_errno(env, ENOMEM, "permission");
  return undefined_value(env);
}

/* channel(id, number, peerAddress, peerPort, expiresAtMs) */
napi_value Engine_channel(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  native_engine *ne = unwrap(env, info, &argc, argv);
  if (!ne) return NULL;
  uint32_t id, number;
  double expires;
  fp_addr peer;
  if (argc < 5 || arg_u32(env, argv[0], &id) != 0 || arg_u32(env, argv[1], &number) != 0 || number < 0x4000 || number > 0x7fff ||
      parse_addr(env, argv[2], argv[3], 0, &peer) != 0 || arg_f64(env, argv[4], &expires) != 0)
    return bad_args(env, "channel(allocation: number, number: 0x4000-0x7FFF, peerAddress: string, peerPort: number, expiresAtMs: number)");
  fp_alloc *a = fp_find(&ne->e.table, id);
  if (!a) return undefined_value(env);
  if (fp_channel(a, (uint16_t)number, &peer, (int64_t)expires, engine_now_ms()) != 0) return throw_errno(env, ENOMEM, "channel");
  return undefined_value(env);
}

/* send(listener, address, port, data): to a client, from that listener */
napi_value Engine_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  native_engine *ne = unwrap(env, info, &argc, argv);
  if (!ne) return NULL;
  uint32_t index;
  const uint8_t *data;
  size_t len;
  fp_addr to;
  if (argc < 4 || arg_u32(env, argv[0], &index) != 0 || index >= ne->e.nlisteners || arg_bytes(env, argv[3], &data, &len) != 0 ||
      parse_addr(env, argv[1], argv[2], ne->e.listeners[index]->family, &to) != 0)
    return bad_args(env, "send(listener: number, address: string, port: number, data: Uint8Array)");
  struct sockaddr_storage ss;
  socklen_t sl = engine_from_fp(&to, &ss);
  engine_send(&ne->e, index, (struct sockaddr *)&ss, sl, data, len);
  return undefined_value(env);
}

/* relay(allocation, address, port, data): 0 queued, 1 over the bandwidth limit, -1 no relay socket */
napi_value Engine_relay(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], out;
  native_engine *ne = unwrap(env, info, &argc, argv);
  if (!ne) return NULL;
  uint32_t id;
  const uint8_t *data;
  size_t len;
  fp_addr peer;
  if (argc < 4 || arg_u32(env, argv[0], &id) != 0 || parse_addr(env, argv[1], argv[2], 0, &peer) != 0 || arg_bytes(env, argv[3], &data, &len) != 0)
    return bad_args(env, "relay(allocation: number, address: string, port: number, data: Uint8Array)");
  CHECK(napi_create_int32(env, engine_relay(&ne->e, id, &peer, data, len), &out));
  return out;
}

