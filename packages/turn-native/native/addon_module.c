/*
 * N-API binding of the fast path, part 3: counters, close, the pure verdicts (processClient /
 * processPeer: the same decisions as the socket path, on given bytes and state, without sockets;
 * the differential fuzz harness compares them with @dari/stun's TurnServer), and the module entry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addon.h"

/* counters(): totals since the engine was made (see src/engine.ts NativeCounters). */
static napi_value Engine_counters(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  native_engine *ne = unwrap(env, info, &argc, NULL);
  if (!ne) return NULL;
  const fp_counters *c = &ne->e.table.counters;
  const engine_counters *k = &ne->e.counters;
  napi_value out, ignored;
  CHECK(napi_create_object(env, &out));
  set_uint(env, out, "toPeerPackets", c->to_peer_packets);
  set_uint(env, out, "toPeerBytes", c->to_peer_bytes);
  set_uint(env, out, "toClientPackets", c->to_client_packets);
  set_uint(env, out, "toClientBytes", c->to_client_bytes);
  set_uint(env, out, "bindings", c->bindings);
  set_uint(env, out, "deferred", c->deferred);
  CHECK(napi_create_object(env, &ignored));
  for (int i = 0; i < FP_R_COUNT; i++) set_uint(env, ignored, fp_reason_names[i], c->ignored[i]);
  CHECK(napi_set_named_property(env, out, "ignored", ignored));
  set_uint(env, out, "recvCalls", k->rx_calls);
  set_uint(env, out, "recvDatagrams", k->rx_datagrams);
  set_uint(env, out, "sendCalls", k->tx_calls);
  set_uint(env, out, "sendDatagrams", k->tx_datagrams);
  set_uint(env, out, "sendErrors", k->tx_errors);
  set_uint(env, out, "dispatches", k->dispatches);
  set_uint(env, out, "allocations", ne->e.table.count);
  return out;
}

/* close(onClosed): closes every socket; onClosed() once they are all closed. */
static napi_value Engine_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  native_engine *ne = unwrap(env, info, &argc, argv);
  if (!ne) return NULL;
  napi_valuetype t;
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_function) return bad_args(env, "close(onClosed: function)");
  CHECK(napi_create_reference(env, argv[0], 1, &ne->on_closed));
  ne->closing = 1;
  engine_close(&ne->e, on_engine_closed, ne);
  return undefined_value(env);
}

static const char *verdict_name(fp_verdict v) {
  switch (v) {
    case FP_DROP: return "drop";
    case FP_RELAY: return "relay";
    case FP_REPLY: return "reply";
    default: return "defer";
  }
}

static napi_value result_object(napi_env env, const fp_result *r, const uint8_t *head, size_t hlen, size_t pad) {
  napi_value out, data;
  CHECK(napi_create_object(env, &out));
  set_str(env, out, "verdict", verdict_name(r->verdict));
  if (r->verdict == FP_DROP) set_str(env, out, "reason", fp_reason_names[r->reason]);
  if (r->verdict == FP_RELAY) {
    set_uint(env, out, "allocation", r->alloc->id);
    CHECK(napi_set_named_property(env, out, "peerAddress", addr_text(env, &r->peer)));
    set_uint(env, out, "peerPort", r->peer.port);
  }
  if (r->verdict == FP_RELAY || r->verdict == FP_REPLY) {
    void *p;
    size_t blen = r->verdict == FP_RELAY ? r->len : (r->data ? r->len : 0);
    CHECK(napi_create_buffer(env, hlen + blen + pad, &p, &data));
    if (hlen) memcpy(p, head, hlen);
    if (blen) memcpy((uint8_t *)p + hlen, r->data, blen);
    if (pad) memset((uint8_t *)p + hlen + blen, 0, pad);
    CHECK(napi_set_named_property(env, out, "data", data));
  }
  return out;
}

/* processClient(listener, listenerFamily, address, port, data, nowMs): the verdict for a client datagram */
static napi_value Engine_processClient(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  native_engine *ne = unwrap(env, info, &argc, argv);
  if (!ne) return NULL;
  uint32_t listener, family;
  fp_addr src;
  const uint8_t *data;
  size_t len;
  double now;
  if (argc < 6 || arg_u32(env, argv[0], &listener) != 0 || arg_u32(env, argv[1], &family) != 0 || (family != 4 && family != 6) ||
      parse_addr(env, argv[2], argv[3], (uint8_t)family, &src) != 0 || arg_bytes(env, argv[4], &data, &len) != 0 || arg_f64(env, argv[5], &now) != 0)
    return bad_args(env, "processClient(listener, listenerFamily: 4 | 6, address, port, data: Uint8Array, nowMs)");
  uint8_t reply[FP_REPLY_MAX];
  size_t rlen = 0;
  fp_result r = fp_client(&ne->e.table, listener, (uint8_t)family, &src, data, len, (int64_t)now, reply, &rlen);
  if (r.verdict == FP_REPLY) return result_object(env, &r, reply, rlen, 0);
  return result_object(env, &r, NULL, 0, 0);
}

/* processPeer(allocation, address, port, data, nowMs): the verdict for a peer datagram */
static napi_value Engine_processPeer(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  native_engine *ne = unwrap(env, info, &argc, argv);
  if (!ne) return NULL;
  uint32_t id;
  fp_addr src;
  const uint8_t *data;
  size_t len;
  double now;
  if (argc < 5 || arg_u32(env, argv[0], &id) != 0 || parse_addr(env, argv[1], argv[2], 0, &src) != 0 || arg_bytes(env, argv[3], &data, &len) != 0 ||
      arg_f64(env, argv[4], &now) != 0)
    return bad_args(env, "processPeer(allocation, address, port, data: Uint8Array, nowMs)");
  fp_alloc *a = fp_find(&ne->e.table, id);
  if (!a) {
    napi_value out;
    CHECK(napi_create_object(env, &out));
    set_str(env, out, "verdict", "drop");
    set_str(env, out, "reason", "no-allocation");
    return out;
  }
  uint8_t head[FP_PEER_HEADER_MAX];
  size_t hlen = 0, pad = 0;
  fp_result r = fp_peer(&ne->e.table, a, &src, data, len, (int64_t)now, head, &hlen, &pad);
  return result_object(env, &r, head, hlen, pad);
}

NAPI_MODULE_INIT() {
  napi_property_descriptor methods[] = {
      {"listen", NULL, Engine_listen, NULL, NULL, NULL, napi_default, NULL},
      {"bindRelay", NULL, Engine_bindRelay, NULL, NULL, NULL, napi_default, NULL},
      {"closeRelay", NULL, Engine_closeRelay, NULL, NULL, NULL, napi_default, NULL},
      {"allocation", NULL, Engine_allocation, NULL, NULL, NULL, napi_default, NULL},
      {"permission", NULL, Engine_permission, NULL, NULL, NULL, napi_default, NULL},
      {"channel", NULL, Engine_channel, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, Engine_send, NULL, NULL, NULL, napi_default, NULL},
      {"relay", NULL, Engine_relay, NULL, NULL, NULL, napi_default, NULL},
      {"counters", NULL, Engine_counters, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, Engine_close, NULL, NULL, NULL, napi_default, NULL},
      {"processClient", NULL, Engine_processClient, NULL, NULL, NULL, napi_default, NULL},
      {"processPeer", NULL, Engine_processPeer, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  CHECK(napi_define_class(env, "Engine", NAPI_AUTO_LENGTH, Engine_new, NULL, sizeof methods / sizeof methods[0], methods, &cls));
  CHECK(napi_set_named_property(env, exports, "Engine", cls));
  return exports;
}
