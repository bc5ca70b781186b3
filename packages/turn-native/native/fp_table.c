/*
 * The fast path's tables: allocations by id and by client 5-tuple (RFC 8656 §2), and each
 * allocation's permissions (§9) and channel bindings (§12), as the TypeScript core installed
 * them. Expired entries are purged when new ones are added; lookups compare expiry times.
 */
#include <stdlib.h>
#include <string.h>

#include "fastpath.h"

const char *const fp_reason_names[FP_R_COUNT] = {"not-stun", "no-allocation", "unknown-channel", "no-permission", "bandwidth-limit", "too-large"};

#define INITIAL_BUCKETS 64

static uint32_t hash_id(uint32_t id) {
  id ^= id >> 16;
  id *= 0x7feb352dU;
  id ^= id >> 15;
  id *= 0x846ca68bU;
  id ^= id >> 16;
  return id;
}

/* FNV-1a over the listener and the client address. */
static uint32_t hash_tuple(uint32_t listener, const fp_addr *c) {
  uint32_t h = 2166136261U;
  const uint8_t *p = (const uint8_t *)&listener;
  for (int i = 0; i < 4; i++) h = (h ^ p[i]) * 16777619U;
  size_t n = c->family == 4 ? 4 : 16;
  for (size_t i = 0; i < n; i++) h = (h ^ c->addr[i]) * 16777619U;
  h = (h ^ (c->port & 0xff)) * 16777619U;
  h = (h ^ (c->port >> 8)) * 16777619U;
  return h;
}

static int addr_eq(const fp_addr *a, const fp_addr *b) {
  return a->family == b->family && a->port == b->port && memcmp(a->addr, b->addr, a->family == 4 ? 4 : 16) == 0;
}

int fp_table_init(fp_table *t, const uint8_t *software, size_t software_len, int answer_binding) {
  memset(t, 0, sizeof *t);
  t->by_id = calloc(INITIAL_BUCKETS, sizeof *t->by_id);
  t->by_tuple = calloc(INITIAL_BUCKETS, sizeof *t->by_tuple);
  if (!t->by_id || !t->by_tuple) return -1;
  t->id_mask = t->tuple_mask = INITIAL_BUCKETS - 1;
  t->answer_binding = answer_binding;
  if (software) {
    if (software_len > FP_MAX_SOFTWARE) {
      t->answer_binding = 0; /* too long for our reply buffer: the TypeScript core answers */
    } else {
      t->software = malloc(software_len ? software_len : 1);
      if (!t->software) return -1;
      memcpy(t->software, software, software_len);
      t->software_len = software_len;
    }
  }
  t->rnd_pos = sizeof t->rnd;
  return 0;
}

static void free_alloc(fp_alloc *a) {
  free(a->perms);
  free(a->chans);
  free(a);
}

void fp_table_free(fp_table *t) {
  if (t->by_id) {
    for (uint32_t i = 0; i <= t->id_mask; i++) {
      fp_alloc *a = t->by_id[i];
      while (a) {
        fp_alloc *next = a->next_by_id;
        free_alloc(a);
        a = next;
      }
    }
  }
  free(t->by_id);
  free(t->by_tuple);
  free(t->software);
  memset(t, 0, sizeof *t);
}

fp_alloc *fp_find(fp_table *t, uint32_t id) {
  for (fp_alloc *a = t->by_id[hash_id(id) & t->id_mask]; a; a = a->next_by_id)
    if (a->id == id) return a;
  return NULL;
}

fp_alloc *fp_by_tuple(fp_table *t, uint32_t listener, const fp_addr *client) {
  for (fp_alloc *a = t->by_tuple[hash_tuple(listener, client) & t->tuple_mask]; a; a = a->next_by_tuple)
    if (a->listener == listener && addr_eq(&a->client, client)) return a;
  return NULL;
}

/* Doubles both bucket arrays when the table holds more allocations than buckets. */
static int grow(fp_table *t) {
  uint32_t n = (t->id_mask + 1) * 2;
  fp_alloc **ids = calloc(n, sizeof *ids);
  fp_alloc **tuples = calloc(n, sizeof *tuples);
  if (!ids || !tuples) {
    free(ids);
    free(tuples);
    return -1;
  }
  for (uint32_t i = 0; i <= t->id_mask; i++) {
    fp_alloc *a = t->by_id[i];
    while (a) {
      fp_alloc *next = a->next_by_id;
      uint32_t h = hash_id(a->id) & (n - 1);
      a->next_by_id = ids[h];
      ids[h] = a;
      a = next;
    }
  }
  for (uint32_t i = 0; i <= t->tuple_mask; i++) {
    fp_alloc *a = t->by_tuple[i];
    while (a) {
      fp_alloc *next = a->next_by_tuple;
      uint32_t h = hash_tuple(a->listener, &a->client) & (n - 1);
      a->next_by_tuple = tuples[h];
      tuples[h] = a;
      a = next;
    }
  }
  free(t->by_id);
  free(t->by_tuple);
  t->by_id = ids;
  t->by_tuple = tuples;
  t->id_mask = t->tuple_mask = n - 1;
  return 0;
}

fp_alloc *fp_create(fp_table *t, uint32_t id) {
  fp_alloc *a = fp_find(t, id);
  if (a) return a;
  if (t->count >= t->id_mask + 1 && grow(t) != 0) return NULL;
  a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->id = id;
  uint32_t h = hash_id(id) & t->id_mask;
  a->next_by_id = t->by_id[h];
  t->by_id[h] = a;
  t->count++;
  return a;
}

static void unlink_tuple(fp_table *t, fp_alloc *a) {
  fp_alloc **p = &t->by_tuple[hash_tuple(a->listener, &a->client) & t->tuple_mask];
  while (*p && *p != a) p = &(*p)->next_by_tuple;
  if (*p) *p = a->next_by_tuple;
  a->next_by_tuple = NULL;
}

int fp_install(fp_table *t, fp_alloc *a, uint32_t listener, const fp_addr *client, uint8_t family, int64_t expires_ms, double max_bps,
               int64_t now_ms) {
  if (!a->installed) {
    a->listener = listener;
    a->client = *client;
    a->family = family;
    a->max_bps = max_bps;
    a->bucket_bytes = max_bps;
    a->bucket_at_ms = now_ms;
    uint32_t h = hash_tuple(listener, client) & t->tuple_mask;
    a->next_by_tuple = t->by_tuple[h];
    t->by_tuple[h] = a;
    a->installed = 1;
  }
  a->expires_ms = expires_ms;
  return 0;
}

/* Drops permissions that expired by now_ms (the core forgot them on its tick). */
static void purge_perms(fp_alloc *a, int64_t now_ms) {
  uint32_t keep = 0;
  for (uint32_t i = 0; i < a->nperms; i++)
    if (a->perms[i].expires_ms > now_ms) a->perms[keep++] = a->perms[i];
  a->nperms = keep;
}

int fp_permission(fp_alloc *a, uint8_t family, const uint8_t *addr, int64_t expires_ms, int64_t now_ms) {
  size_t n = family == 4 ? 4 : 16;
  for (uint32_t i = 0; i < a->nperms; i++) {
    fp_perm *p = &a->perms[i];
    if (p->family == family && memcmp(p->addr, addr, n) == 0) {
      p->expires_ms = expires_ms;
      return 0;
    }
  }
  /* The core bounds live permissions per allocation (maxPermissionsPerAllocation); expired ones
     are dropped here before the array grows. */
  if (a->nperms == a->capperms) purge_perms(a, now_ms);
  if (a->nperms == a->capperms) {
    uint32_t cap = a->capperms ? a->capperms * 2 : 4;
    fp_perm *p = realloc(a->perms, cap * sizeof *p);
    if (!p) return -1;
    a->perms = p;
    a->capperms = cap;
  }
  fp_perm *p = &a->perms[a->nperms++];
  memset(p, 0, sizeof *p);
  p->family = family;
  memcpy(p->addr, addr, n);
  p->expires_ms = expires_ms;
  return 0;
}

int fp_channel(fp_alloc *a, uint16_t number, const fp_addr *peer, int64_t expires_ms, int64_t now_ms) {
  /* RFC 8656 §12.2: one peer per channel and one channel per peer. The core refused any
     conflicting binding that is still live, so an entry with this number or this peer is either
     the same binding (refresh) or a dead one the core already forgot: replace both. */
  uint32_t keep = 0;
  for (uint32_t i = 0; i < a->nchans; i++) {
    fp_chan *c = &a->chans[i];
    int same_number = c->number == number;
    int same_peer = addr_eq(&c->peer, peer);
    if (same_number || same_peer || c->expires_ms <= now_ms) continue;
    a->chans[keep++] = *c;
  }
  a->nchans = keep;
  if (a->nchans == a->capchans) {
    uint32_t cap = a->capchans ? a->capchans * 2 : 4;
    fp_chan *c = realloc(a->chans, cap * sizeof *c);
    if (!c) return -1;
    a->chans = c;
    a->capchans = cap;
  }
  fp_chan *c = &a->chans[a->nchans++];
  memset(c, 0, sizeof *c);
  c->number = number;
  c->peer = *peer;
  c->expires_ms = expires_ms;
  return 0;
}

void fp_remove(fp_table *t, fp_alloc *a) {
  if (a->installed) unlink_tuple(t, a);
  fp_alloc **p = &t->by_id[hash_id(a->id) & t->id_mask];
  while (*p && *p != a) p = &(*p)->next_by_id;
  if (*p) *p = a->next_by_id;
  t->count--;
  free_alloc(a);
}
