/*
 * The fast path's I/O on one libuv loop (one per worker thread): UDP listeners and relay
 * sockets read with recvmmsg, answers and relayed datagrams queued and written with sendmmsg once
 * per loop iteration (the check phase, right after the poll phase), and the datagrams the fast
 * path defers collected for one call into JavaScript per iteration.
 */
#ifndef DARI_ENGINE_H
#define DARI_ENGINE_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include "fastpath.h"

#define ENGINE_BATCH 64
#define ENGINE_RX_SLOT 65536
#define ENGINE_TX_MAX 1024
#define ENGINE_TX_ARENA (1 << 20)
#define ENGINE_MAX_LISTENERS 32
#define ENGINE_DEFER_ARENA (4 << 20)

typedef struct engine engine;

/* A UDP socket polled on the loop: a listener (`id` = its index) or a relay (`id` = allocation). */
typedef struct {
  uv_poll_t poll;
  int fd;
  uint8_t family;
  uint32_t id;
  engine *e;
} usock;

typedef struct {
  int fd;
  uint32_t seq;
  struct sockaddr_storage to;
  socklen_t tolen;
  uint32_t off, len;
} txent;

/* One deferred datagram in the defer arena, followed by `len` bytes. */
typedef struct {
  uint32_t listener;
  uint32_t len;
  fp_addr src;
} deferred;

typedef struct {
  double rx_calls, rx_datagrams, tx_calls, tx_datagrams, tx_errors, dispatches;
} engine_counters;

struct engine {
  uv_loop_t *loop;
  fp_table table;
  usock *listeners[ENGINE_MAX_LISTENERS];
  uint32_t nlisteners;
  uv_check_t check;
  struct mmsghdr rx[ENGINE_BATCH];
  struct iovec rxiov[ENGINE_BATCH];
  struct sockaddr_storage rxaddr[ENGINE_BATCH];
  uint8_t *rxbuf;
  txent tx[ENGINE_TX_MAX];
  uint32_t ntx;
  uint8_t *txarena;
  size_t txused;
  uint8_t *dfarena;
  size_t dfused;
  uint32_t ndf;
  int in_dispatch;
  engine_counters counters;
  /* Called with the deferred datagrams (e->dfarena, e->ndf records); the callee consumes them. */
  void (*deliver)(engine *e, void *ctx);
  void *deliver_ctx;
  /* Handles still open; on_closed runs when the last one is closed after engine_close(). */
  uint32_t open_handles;
  int closing;
  void (*on_closed)(void *ctx);
  void *closed_ctx;
};

/* 0, or -errno. The engine is inert until a listener or relay is opened. */
int engine_init(engine *e, uv_loop_t *loop, const uint8_t *software, size_t software_len, int answer_binding);
/* Binds a UDP listener; returns its index (>= 0) and sets *bound_port, or -errno. */
int engine_listen(engine *e, const struct sockaddr *addr, socklen_t addrlen, int reuse_port, int buffer_bytes, uint16_t *bound_port);
/* Binds allocation `id`'s relay socket; 0, or -errno (EADDRINUSE: pick another port). */
int engine_bind_relay(engine *e, uint32_t id, const struct sockaddr *addr, socklen_t addrlen, int buffer_bytes);
/* Closes allocation `id`'s relay socket and forgets the allocation. */
void engine_close_relay(engine *e, uint32_t id);
/* Queues a datagram to a client from listener `index` (flushed now unless inside a dispatch). */
int engine_send(engine *e, uint32_t index, const struct sockaddr *to, socklen_t tolen, const uint8_t *data, size_t len);
/* Queues a datagram from allocation `id`'s relay to a peer, charging its bandwidth bucket; 0 sent, 1 over the limit, -1 no relay. */
int engine_relay(engine *e, uint32_t id, const fp_addr *peer, const uint8_t *data, size_t len);
/* Writes every queued datagram with sendmmsg, grouped by socket. */
void engine_flush(engine *e);
/* Closes every socket; on_closed(ctx) runs once they are all closed (at once if none is open). */
void engine_close(engine *e, void (*on_closed)(void *ctx), void *ctx);
/* Frees memory (after on_closed). */
void engine_free(engine *e);

/* Milliseconds since the epoch, as Date.now(). */
int64_t engine_now_ms(void);
/* sockaddr ↔ fp_addr. */
void engine_to_fp(const struct sockaddr_storage *sa, fp_addr *out);
socklen_t engine_from_fp(const fp_addr *a, struct sockaddr_storage *out);

#endif
