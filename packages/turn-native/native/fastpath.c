/*
 * Verdicts for one datagram, mirroring @dari/stun's TurnServer.handleClient / handlePeer for the
 * cases the fast path takes (ChannelData and Send indications to a peer, Data indications and
 * ChannelData to a client, Binding success responses). Each check quotes the TypeScript decision
 * it mirrors; every other case is FP_DEFER.
 */
#include <string.h>

#include "fastpath.h"

#define MAGIC_COOKIE 0x2112A442U
#define FINGERPRINT_XOR 0x5354554eU
#define HEADER 20

/* Attribute types (RFC 8489 §18.3, RFC 8656 §18, RFC 5780 §7). */
enum {
  A_XOR_PEER_ADDRESS = 0x0012,
  A_DATA = 0x0013,
  A_DONT_FRAGMENT = 0x001a,
  A_CHANGE_REQUEST = 0x0003,
  A_PADDING = 0x0026,
  A_RESPONSE_PORT = 0x0027,
  A_XOR_MAPPED_ADDRESS = 0x0020,
  A_MAPPED_ADDRESS = 0x0001,
  A_SOFTWARE = 0x8022,
  A_FINGERPRINT = 0x8028
};

/* Comprehension-required attribute types @dari/stun knows (constants.ts KNOWN_ATTRIBUTES < 0x8000). */
static int known_required(uint16_t type) {
  switch (type) {
    case 0x0001: case 0x0003: case 0x0006: case 0x0008: case 0x0009: case 0x000a: case 0x000c:
    case 0x000d: case 0x0012: case 0x0013: case 0x0014: case 0x0015: case 0x0016: case 0x0017:
    case 0x0018: case 0x0019: case 0x001a: case 0x001c: case 0x001d: case 0x001e: case 0x0020:
    case 0x0022: case 0x0024: case 0x0025: case 0x0026: case 0x0027:
      return 1;
    default:
      return 0;
  }
}

static uint32_t crc_table[256];
static int crc_ready;

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320U ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
  crc_ready = 1;
}

/* CRC-32 (ISO 3309) over `head` (with its length patched) then `body`. */
static uint32_t crc32_parts(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
  if (!crc_ready) crc_init();
  uint32_t c = 0xffffffffU;
  for (size_t i = 0; i < alen; i++) c = crc_table[(c ^ a[i]) & 0xff] ^ (c >> 8);
  for (size_t i = 0; i < blen; i++) c = crc_table[(c ^ b[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffU;
}

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void wr32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }

static fp_result verdict(fp_verdict v) {
  fp_result r;
  memset(&r, 0, sizeof r);
  r.verdict = v;
  return r;
}

static fp_result drop(fp_table *t, enum fp_reason reason) {
  fp_result r = verdict(FP_DROP);
  r.reason = reason;
  t->counters.ignored[reason]++;
  return r;
}

static fp_result defer(fp_table *t) {
  t->counters.deferred++;
  return verdict(FP_DEFER);
}

/* TurnServer.withinBandwidth: a token bucket of max_bps bytes, refilled per ms. */
int fp_within_bandwidth(fp_alloc *a, size_t bytes, int64_t now_ms) {
  if (a->max_bps <= 0) return 1;
  double b = a->bucket_bytes + ((double)(now_ms - a->bucket_at_ms) / 1000.0) * a->max_bps;
  a->bucket_bytes = b < a->max_bps ? b : a->max_bps;
  a->bucket_at_ms = now_ms;
  if (a->bucket_bytes < (double)bytes) return 0;
  a->bucket_bytes -= (double)bytes;
  return 1;
}

static int permitted(const fp_alloc *a, const fp_addr *peer, int64_t now_ms) {
  size_t n = peer->family == 4 ? 4 : 16;
  for (uint32_t i = 0; i < a->nperms; i++) {
    const fp_perm *p = &a->perms[i];
    if (p->family == peer->family && memcmp(p->addr, peer->addr, n) == 0) return p->expires_ms > now_ms;
  }
  return 0;
}

/* TurnServer.toPeer: permission, then bandwidth, then relay. */
static fp_result to_peer(fp_table *t, fp_alloc *a, const fp_addr *peer, const uint8_t *data, size_t len, int64_t now_ms) {
  if (!permitted(a, peer, now_ms)) return drop(t, FP_R_NO_PERMISSION);
  if (!fp_within_bandwidth(a, len, now_ms)) return drop(t, FP_R_BANDWIDTH_LIMIT);
  t->counters.to_peer_packets++;
  t->counters.to_peer_bytes += (double)len;
  fp_result r = verdict(FP_RELAY);
  r.alloc = a;
  r.peer = *peer;
  r.data = data;
  r.len = len;
  return r;
}

/* TurnServer.channelData (RFC 8656 §12.6) after decodeChannelData's checks. */
static fp_result channel_data(fp_table *t, uint32_t listener, const fp_addr *src, const uint8_t *buf, size_t len, int64_t now_ms) {
  uint16_t number = rd16(buf);
  size_t clen = rd16(buf + 2);
  if (number < 0x4000 || number > 0x7fff || 4 + clen > len || len - 4 - clen > 3) return defer(t); /* malformed */
  fp_alloc *a = fp_by_tuple(t, listener, src);
  /* No allocation here, or expired: the core decides (pending, gone, or to be reaped). */
  if (!a || a->expires_ms <= now_ms) return defer(t);
  const fp_chan *ch = NULL;
  for (uint32_t i = 0; i < a->nchans; i++)
    if (a->chans[i].number == number) ch = &a->chans[i];
  if (!ch || ch->expires_ms <= now_ms) return drop(t, FP_R_UNKNOWN_CHANNEL);
  fp_addr peer = ch->peer;
  return to_peer(t, a, &peer, buf + 4, clen, now_ms);
}

/* readXorAddress (RFC 8489 §14.2): 8 bytes with family 0x01, or 20 with 0x02. */
static int read_xor_address(const uint8_t *v, size_t vlen, const uint8_t *msg, fp_addr *out) {
  memset(out, 0, sizeof *out);
  if (vlen == 8 && v[1] == 0x01) out->family = 4;
  else if (vlen == 20 && v[1] == 0x02) out->family = 6;
  else return -1;
  out->port = rd16(v + 2) ^ (uint16_t)(MAGIC_COOKIE >> 16);
  /* The mask is the magic cookie then the transaction id: header bytes 4..19. */
  for (size_t i = 0; i < vlen - 4; i++) out->addr[i] = v[4 + i] ^ msg[4 + i];
  return 0;
}

/* Writes an (XOR-)address attribute at p; returns its size (header + value). */
static size_t put_address(uint8_t *p, uint16_t type, const fp_addr *a, const uint8_t *msg, int xored) {
  size_t n = a->family == 4 ? 4 : 16;
  wr16(p, type);
  wr16(p + 2, (uint16_t)(4 + n));
  p[4] = 0;
  p[5] = a->family == 4 ? 0x01 : 0x02;
  wr16(p + 6, xored ? a->port ^ (uint16_t)(MAGIC_COOKIE >> 16) : a->port);
  for (size_t i = 0; i < n; i++) p[8 + i] = xored ? a->addr[i] ^ msg[4 + i] : a->addr[i];
  return 8 + n;
}

/* TurnServer.binding for a request without CHANGE-REQUEST, RESPONSE-PORT and PADDING. */
static size_t binding_success(const fp_table *t, const uint8_t *req, const fp_addr *client, uint8_t *out) {
  wr16(out, 0x0101);
  wr32(out + 4, MAGIC_COOKIE);
  memcpy(out + 8, req + 8, 12);
  size_t o = HEADER;
  if (t->software) {
    wr16(out + o, A_SOFTWARE);
    wr16(out + o + 2, (uint16_t)t->software_len);
    memcpy(out + o + 4, t->software, t->software_len);
    size_t padded = (t->software_len + 3) & ~(size_t)3;
    memset(out + o + 4 + t->software_len, 0, padded - t->software_len);
    o += 4 + padded;
  }
  o += put_address(out + o, A_XOR_MAPPED_ADDRESS, client, out, 1);
  o += put_address(out + o, A_MAPPED_ADDRESS, client, out, 0);
  /* FINGERPRINT: CRC-32 of the message with the length covering it, XOR 0x5354554e (§14.7). */
  wr16(out + 2, (uint16_t)(o + 8 - HEADER));
  uint32_t crc = crc32_parts(out, o, NULL, 0) ^ FINGERPRINT_XOR;
  wr16(out + o, A_FINGERPRINT);
  wr16(out + o + 2, 4);
  wr32(out + o + 4, crc);
  return o + 8;
}

fp_result fp_client(fp_table *t, uint32_t listener, uint8_t listener_family, const fp_addr *src, const uint8_t *buf, size_t len,
                    int64_t now_ms, uint8_t *out, size_t *out_len) {
  /* handleClient: looksLikeChannelData (RFC 7983: first byte 64-127), then looksLikeStun. */
  if (len >= 4 && (buf[0] & 0xc0) == 0x40) return channel_data(t, listener, src, buf, len, now_ms);
  if (len < HEADER || (buf[0] & 0xc0) != 0 || rd32(buf + 4) != MAGIC_COOKIE) return drop(t, FP_R_NOT_STUN);
  /* decodeMessage: length a multiple of 4 and exactly the datagram; attributes within it. */
  size_t mlen = rd16(buf + 2);
  if (mlen % 4 != 0 || HEADER + mlen != len) return defer(t);
  const uint8_t *peer_attr = NULL, *data_attr = NULL, *fp_attr = NULL;
  size_t peer_len = 0, data_len = 0, fp_len = 0, fp_off = 0;
  int dont_fragment = 0, rfc5780 = 0, unknown = 0, saw_fingerprint = 0;
  for (size_t off = HEADER; off < len;) {
    if (saw_fingerprint || off + 4 > len) return defer(t);
    uint16_t type = rd16(buf + off);
    size_t alen = rd16(buf + off + 2);
    size_t padded = (alen + 3) & ~(size_t)3;
    if (off + 4 + padded > len) return defer(t);
    const uint8_t *v = buf + off + 4;
    /* getAttribute returns the first of a type. */
    if (type == A_XOR_PEER_ADDRESS && !peer_attr) peer_attr = v, peer_len = alen;
    else if (type == A_DATA && !data_attr) data_attr = v, data_len = alen;
    else if (type == A_FINGERPRINT) {
      saw_fingerprint = 1;
      if (!fp_attr) fp_attr = v, fp_len = alen, fp_off = off;
    }
    if (type == A_DONT_FRAGMENT) dont_fragment = 1;
    if (type == A_CHANGE_REQUEST || type == A_RESPONSE_PORT || type == A_PADDING) rfc5780 = 1;
    if (type < 0x8000 && !known_required(type)) unknown = 1;
    off += 4 + padded;
  }
  /* RFC 8489 §14.7: a FINGERPRINT that does not match is "not STUN" (the core ignores it). */
  if (fp_attr) {
    if (fp_len != 4) return defer(t);
    uint8_t head[HEADER];
    memcpy(head, buf, HEADER);
    wr16(head + 2, (uint16_t)(fp_off - HEADER + 8));
    uint32_t crc = crc32_parts(head, HEADER, buf + HEADER, fp_off - HEADER) ^ FINGERPRINT_XOR;
    if (crc != rd32(fp_attr)) return defer(t);
  }
  uint16_t type = rd16(buf);
  uint16_t cls = type & 0x0110;
  uint16_t method = (uint16_t)(((type & 0x3e00) >> 2) | ((type & 0x00e0) >> 1) | (type & 0x000f));
  if (cls == 0x0010 && method == 0x006) {
    /* TurnServer.send (RFC 8656 §11.2): a live allocation, XOR-PEER-ADDRESS and DATA, no DONT-FRAGMENT. */
    fp_alloc *a = fp_by_tuple(t, listener, src);
    if (!a || a->expires_ms <= now_ms || !peer_attr || !data_attr || dont_fragment) return defer(t);
    fp_addr peer;
    if (read_xor_address(peer_attr, peer_len, buf, &peer) != 0) return defer(t);
    return to_peer(t, a, &peer, data_attr, data_len, now_ms);
  }
  if (cls == 0x0000 && method == 0x001 && t->answer_binding && !unknown && !rfc5780) {
    fp_addr client = *src;
    /* The tuple's family is the listener's (a udp6 listener sees IPv4 clients as ::ffff:a.b.c.d). */
    if (client.family != listener_family) return defer(t);
    *out_len = binding_success(t, buf, &client, out);
    t->counters.bindings++;
    return verdict(FP_REPLY);
  }
  return defer(t);
}

fp_result fp_peer(fp_table *t, fp_alloc *a, const fp_addr *src, const uint8_t *buf, size_t len, int64_t now_ms,
                  uint8_t *out, size_t *out_len, size_t *pad_len) {
  /* TurnServer.handlePeer (RFC 8656 §11.3, §12.7). */
  if (!a->installed) return drop(t, FP_R_NO_PERMISSION); /* bound, not yet answered: no permissions yet */
  if (a->expires_ms <= now_ms) return drop(t, FP_R_NO_ALLOCATION);
  if (!permitted(a, src, now_ms)) return drop(t, FP_R_NO_PERMISSION);
  const fp_chan *ch = NULL;
  for (uint32_t i = 0; i < a->nchans; i++)
    if (a->chans[i].peer.family == src->family && a->chans[i].peer.port == src->port &&
        memcmp(a->chans[i].peer.addr, src->addr, src->family == 4 ? 4 : 16) == 0)
      ch = &a->chans[i];
  int channel = ch && ch->expires_ms > now_ms;
  size_t peer_attr = src->family == 4 ? 12 : 24;
  /* A Data indication must fit STUN's 16-bit length. */
  if (!channel && peer_attr + 4 + ((len + 3) & ~(size_t)3) > 0xffff) return drop(t, FP_R_TOO_LARGE);
  if (!fp_within_bandwidth(a, len, now_ms)) return drop(t, FP_R_BANDWIDTH_LIMIT);
  t->counters.to_client_packets++;
  t->counters.to_client_bytes += (double)len;
  if (channel) {
    /* encodeChannelData(number, data, false): no padding over UDP (§12.5). */
    wr16(out, ch->number);
    wr16(out + 2, (uint16_t)len);
    *out_len = 4;
    *pad_len = 0;
  } else {
    /* Data indication: XOR-PEER-ADDRESS (the allocation's family), DATA; a random transaction id. */
    if (t->rnd_pos + 12 > sizeof t->rnd) fp_refill_random(t);
    size_t padded = (len + 3) & ~(size_t)3;
    wr16(out, 0x0017);
    wr16(out + 2, (uint16_t)(peer_attr + 4 + padded));
    wr32(out + 4, MAGIC_COOKIE);
    memcpy(out + 8, t->rnd + t->rnd_pos, 12);
    t->rnd_pos += 12;
    size_t o = HEADER + put_address(out + HEADER, A_XOR_PEER_ADDRESS, src, out, 1);
    wr16(out + o, A_DATA);
    wr16(out + o + 2, (uint16_t)len);
    *out_len = o + 4;
    *pad_len = padded - len;
  }
  fp_result r = verdict(FP_REPLY);
  r.alloc = a;
  r.data = buf;
  r.len = len;
  return r;
}
