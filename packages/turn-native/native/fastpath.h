/*
 * The TURN data plane's decisions, without sockets (sans-I/O, like @dari/stun's TurnServer):
 * tables of the allocations, permissions and channel bindings that the TypeScript core installed,
 * and what to do with one datagram from a client or from a peer.
 *
 * Every verdict is either one the TypeScript core would take for the same bytes and state
 * (relay the same payload to the same peer, answer the same Binding response, drop for the same
 * ignore reason) or FP_DEFER: "give these bytes to the TypeScript core". Anything this file is
 * not sure about is deferred, so the two paths cannot disagree on malformed input.
 *
 * References: RFC 8489 §5-§6, §14 (STUN), RFC 8656 §11-§12 (Send/Data indications, ChannelData),
 * RFC 7983 §7 (first-byte demultiplexing).
 */
#ifndef DARI_FASTPATH_H
#define DARI_FASTPATH_H

#include <stddef.h>
#include <stdint.h>

/* A transport address; family 4 or 6; IPv4 in addr[0..3]. */
typedef struct {
  uint8_t family;
  uint8_t addr[16];
  uint16_t port;
} fp_addr;

/* Ignore reasons the fast path decides itself, named as @dari/stun's IGNORE_REASONS. */
enum fp_reason {
  FP_R_NOT_STUN = 0,
  FP_R_NO_ALLOCATION,
  FP_R_UNKNOWN_CHANNEL,
  FP_R_NO_PERMISSION,
  FP_R_BANDWIDTH_LIMIT,
  FP_R_TOO_LARGE,
  FP_R_COUNT
};
extern const char *const fp_reason_names[FP_R_COUNT];

typedef enum {
  FP_DEFER = 0, /* hand the datagram to the TypeScript core */
  FP_DROP,      /* ignore it, for `reason` */
  FP_RELAY,     /* send data/len from the allocation's relay socket to `peer` */
  FP_REPLY      /* send the bytes written to `out` back to the client (Binding success) */
} fp_verdict;

typedef struct {
  uint8_t family;
  uint8_t addr[16];
  int64_t expires_ms;
} fp_perm;

typedef struct {
  uint16_t number;
  fp_addr peer;
  int64_t expires_ms;
} fp_chan;

typedef struct fp_alloc {
  uint32_t id;
  /* Installed by the core (bound and answered); until then only the relay socket exists. */
  int installed;
  uint32_t listener;
  fp_addr client;
  uint8_t family;
  int64_t expires_ms;
  /* Token bucket, as TurnServer.withinBandwidth: bytes per second, 0 = unlimited. */
  double max_bps;
  double bucket_bytes;
  int64_t bucket_at_ms;
  fp_perm *perms;
  uint32_t nperms, capperms;
  fp_chan *chans;
  uint32_t nchans, capchans;
  /* The engine's relay socket (opaque here). */
  void *relay;
  struct fp_alloc *next_by_id;
  struct fp_alloc *next_by_tuple;
} fp_alloc;

typedef struct {
  double to_peer_packets, to_peer_bytes, to_client_packets, to_client_bytes;
  double bindings;
  double deferred;
  double ignored[FP_R_COUNT];
} fp_counters;

typedef struct {
  fp_alloc **by_id;
  uint32_t id_mask; /* buckets - 1 */
  fp_alloc **by_tuple;
  uint32_t tuple_mask;
  uint32_t count;
  /* SOFTWARE attribute of responses (NULL = none), as TurnServerOptions.software. */
  uint8_t *software;
  size_t software_len;
  /* Answer Binding requests here (off when RFC 5780 other addresses are configured). */
  int answer_binding;
  fp_counters counters;
  /* Random bytes for Data indication transaction ids. */
  uint8_t rnd[4096];
  size_t rnd_pos;
} fp_table;

/* Largest reply fp_client writes (Binding success with a SOFTWARE of at most FP_MAX_SOFTWARE). */
#define FP_MAX_SOFTWARE 512
#define FP_REPLY_MAX 1024
/* Largest header fp_peer writes in front of the payload (Data indication, IPv6 peer). */
#define FP_PEER_HEADER_MAX 48

int fp_table_init(fp_table *t, const uint8_t *software, size_t software_len, int answer_binding);
void fp_table_free(fp_table *t);

/* The allocation with this id, or NULL. */
fp_alloc *fp_find(fp_table *t, uint32_t id);
/* Creates (or returns) the allocation `id`, not yet reachable by its client 5-tuple. NULL on ENOMEM. */
fp_alloc *fp_create(fp_table *t, uint32_t id);
/* Installs/updates the client 5-tuple side (RFC 8656 §2) and lifetime. Returns 0, or -1 on ENOMEM. */
int fp_install(fp_table *t, fp_alloc *a, uint32_t listener, const fp_addr *client, uint8_t family, int64_t expires_ms, double max_bps, int64_t now_ms);
/* Permission for a peer IP address until expires_ms (RFC 8656 §9). Returns 0, or -1 on ENOMEM. */
int fp_permission(fp_alloc *a, uint8_t family, const uint8_t *addr, int64_t expires_ms, int64_t now_ms);
/* Channel binding `number` ↔ peer until expires_ms (RFC 8656 §12). Returns 0, or -1 on ENOMEM. */
int fp_channel(fp_alloc *a, uint16_t number, const fp_addr *peer, int64_t expires_ms, int64_t now_ms);
/* Forgets the allocation (the caller closes its relay first). */
void fp_remove(fp_table *t, fp_alloc *a);

/* The allocation of a client 5-tuple (listener + client address), or NULL. */
fp_alloc *fp_by_tuple(fp_table *t, uint32_t listener, const fp_addr *client);

typedef struct {
  fp_verdict verdict;
  enum fp_reason reason;
  fp_alloc *alloc;
  fp_addr peer;
  const uint8_t *data;
  size_t len;
} fp_result;

/*
 * A datagram from a client 5-tuple on UDP listener `listener` whose socket family is
 * `listener_family`. FP_REPLY writes the answer to `out` (FP_REPLY_MAX bytes) and its length to
 * *out_len. FP_RELAY points data/len into `buf`.
 */
fp_result fp_client(fp_table *t, uint32_t listener, uint8_t listener_family, const fp_addr *src, const uint8_t *buf, size_t len,
                    int64_t now_ms, uint8_t *out, size_t *out_len);

/*
 * A datagram from `src` at allocation `a`'s relayed transport address. On FP_REPLY the client
 * gets `out` (*out_len header bytes), then buf/len, then *pad_len zero bytes.
 */
fp_result fp_peer(fp_table *t, fp_alloc *a, const fp_addr *src, const uint8_t *buf, size_t len, int64_t now_ms,
                  uint8_t *out, size_t *out_len, size_t *pad_len);

/* TurnServer.withinBandwidth: charges `bytes` to the allocation's token bucket; 0 when over. */
int fp_within_bandwidth(fp_alloc *a, size_t bytes, int64_t now_ms);

/* Bytes from the OS's random source for transaction ids; the engine refills t->rnd. */
void fp_refill_random(fp_table *t);

#endif
