/*
 * Sockets and batching for the fast path (see engine.h). Everything runs on the loop's thread:
 * libuv calls on_listener / on_relay when a socket is readable (level-triggered epoll); each
 * reads up to ENGINE_BATCH datagrams per recvmmsg, asks fastpath.c what to do with each, and
 * queues the results; on_check (the check phase, after all poll callbacks of this iteration)
 * hands deferred datagrams to JavaScript, then writes the queue with one sendmmsg per socket.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

/* Reads at most this many batches per readiness callback, so one busy socket cannot starve others. */
#define BATCHES_PER_WAKE 4

int64_t engine_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fp_refill_random(fp_table *t) {
  size_t got = 0;
  while (got < sizeof t->rnd) {
    ssize_t n = getrandom(t->rnd + got, sizeof t->rnd - got, 0);
    if (n <= 0) break;
    got += (size_t)n;
  }
  t->rnd_pos = 0;
}

void engine_to_fp(const struct sockaddr_storage *sa, fp_addr *out) {
  memset(out, 0, sizeof *out);
  if (sa->ss_family == AF_INET) {
    const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
    out->family = 4;
    memcpy(out->addr, &s->sin_addr, 4);
    out->port = ntohs(s->sin_port);
  } else {
    const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
    out->family = 6;
    memcpy(out->addr, &s->sin6_addr, 16);
    out->port = ntohs(s->sin6_port);
  }
}

socklen_t engine_from_fp(const fp_addr *a, struct sockaddr_storage *out) {
  memset(out, 0, sizeof *out);
  if (a->family == 4) {
    struct sockaddr_in *s = (struct sockaddr_in *)out;
    s->sin_family = AF_INET;
    memcpy(&s->sin_addr, a->addr, 4);
    s->sin_port = htons(a->port);
    return sizeof *s;
  }
  struct sockaddr_in6 *s = (struct sockaddr_in6 *)out;
  s->sin6_family = AF_INET6;
  memcpy(&s->sin6_addr, a->addr, 16);
  s->sin6_port = htons(a->port);
  return sizeof *s;
}

static void on_check(uv_check_t *h);

int engine_init(engine *e, uv_loop_t *loop, const uint8_t *software, size_t software_len, int answer_binding) {
  memset(e, 0, sizeof *e);
  e->loop = loop;
  if (fp_table_init(&e->table, software, software_len, answer_binding) != 0) return -ENOMEM;
  e->rxbuf = malloc((size_t)ENGINE_BATCH * ENGINE_RX_SLOT);
  e->txarena = malloc(ENGINE_TX_ARENA);
  e->dfarena = malloc(ENGINE_DEFER_ARENA);
  if (!e->rxbuf || !e->txarena || !e->dfarena) return -ENOMEM;
  for (int i = 0; i < ENGINE_BATCH; i++) {
    e->rxiov[i].iov_base = e->rxbuf + (size_t)i * ENGINE_RX_SLOT;
    e->rxiov[i].iov_len = ENGINE_RX_SLOT;
  }
  uv_check_init(loop, &e->check);
  e->check.data = e;
  uv_check_start(&e->check, on_check);
  uv_unref((uv_handle_t *)&e->check);
  e->open_handles = 1;
  return 0;
}

static int open_udp(const struct sockaddr *addr, socklen_t addrlen, int reuse_port, int buffer_bytes) {
  int fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  if (bind(fd, addr, addrlen) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  /* Capped by net.core.rmem_max / wmem_max, as Node's setRecvBufferSize. */
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof buffer_bytes);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof buffer_bytes);
  return fd;
}

/* Appends a datagram to the send queue: head, then body, then pad zero bytes. */
static void enqueue(engine *e, int fd, const struct sockaddr_storage *to, socklen_t tolen, const uint8_t *head, size_t hlen,
                    const uint8_t *body, size_t blen, size_t pad) {
  size_t total = hlen + blen + pad;
  if (total > ENGINE_TX_ARENA) return;
  if (e->ntx == ENGINE_TX_MAX || e->txused + total > ENGINE_TX_ARENA) engine_flush(e);
  uint8_t *p = e->txarena + e->txused;
  if (hlen) memcpy(p, head, hlen);
  if (blen) memcpy(p + hlen, body, blen);
  if (pad) memset(p + hlen + blen, 0, pad);
  txent *t = &e->tx[e->ntx];
  t->fd = fd;
  t->seq = e->ntx;
  memcpy(&t->to, to, tolen);
  t->tolen = tolen;
  t->off = (uint32_t)e->txused;
  t->len = (uint32_t)total;
  e->ntx++;
  e->txused += total;
}

static int by_fd(const void *a, const void *b) {
  const txent *x = a, *y = b;
  if (x->fd != y->fd) return x->fd < y->fd ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void engine_flush(engine *e) {
  if (e->ntx == 0) return;
  /* Group by socket, keeping each socket's order. */
  qsort(e->tx, e->ntx, sizeof e->tx[0], by_fd);
  struct mmsghdr msgs[ENGINE_BATCH];
  struct iovec iov[ENGINE_BATCH];
  uint32_t i = 0;
  while (i < e->ntx) {
    int fd = e->tx[i].fd;
    uint32_t n = 0;
    while (i + n < e->ntx && e->tx[i + n].fd == fd && n < ENGINE_BATCH) {
      txent *t = &e->tx[i + n];
      iov[n].iov_base = e->txarena + t->off;
      iov[n].iov_len = t->len;
      memset(&msgs[n], 0, sizeof msgs[n]);
      msgs[n].msg_hdr.msg_name = &t->to;
      msgs[n].msg_hdr.msg_namelen = t->tolen;
      msgs[n].msg_hdr.msg_iov = &iov[n];
      msgs[n].msg_hdr.msg_iovlen = 1;
      n++;
    }
    uint32_t done = 0;
    while (done < n) {
      int r = sendmmsg(fd, msgs + done, n - done, 0);
      e->counters.tx_calls++;
      if (r > 0) {
        done += (uint32_t)r;
        e->counters.tx_datagrams += r;
      } else if (r < 0 && errno == EINTR) {
        continue;
      } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
        e->counters.tx_errors += n - done; /* send buffer full: UDP drops, as the kernel would */
        break;
      } else {
        e->counters.tx_errors++; /* this datagram failed (EMSGSIZE, EACCES, …): skip it */
        done++;
      }
    }
    i += n;
  }
  e->ntx = 0;
  e->txused = 0;
}

static void deliver(engine *e) {
  if (e->ndf == 0 || !e->deliver) return;
  e->in_dispatch = 1;
  e->counters.dispatches++;
  e->deliver(e, e->deliver_ctx);
  e->in_dispatch = 0;
  e->ndf = 0;
  e->dfused = 0;
}

static void defer_datagram(engine *e, uint32_t index, const fp_addr *src, const uint8_t *buf, size_t len) {
  size_t need = (sizeof(deferred) + len + 7) & ~(size_t)7;
  if (e->dfused + need > ENGINE_DEFER_ARENA) deliver(e);
  deferred *d = (deferred *)(e->dfarena + e->dfused);
  d->listener = index;
  d->len = (uint32_t)len;
  d->src = *src;
  memcpy(d + 1, buf, len);
  e->dfused += need;
  e->ndf++;
}

static int receive(engine *e, int fd) {
  for (int i = 0; i < ENGINE_BATCH; i++) {
    memset(&e->rx[i].msg_hdr, 0, sizeof e->rx[i].msg_hdr);
    e->rx[i].msg_hdr.msg_name = &e->rxaddr[i];
    e->rx[i].msg_hdr.msg_namelen = sizeof e->rxaddr[i];
    e->rx[i].msg_hdr.msg_iov = &e->rxiov[i];
    e->rx[i].msg_hdr.msg_iovlen = 1;
  }
  int n;
  do n = recvmmsg(fd, e->rx, ENGINE_BATCH, 0, NULL);
  while (n < 0 && errno == EINTR);
  e->counters.rx_calls++;
  if (n > 0) e->counters.rx_datagrams += n;
  return n;
}

static void on_listener(uv_poll_t *h, int status, int events) {
  usock *l = h->data;
  engine *e = l->e;
  if (status < 0 || !(events & UV_READABLE)) return;
  uint8_t reply[FP_REPLY_MAX];
  for (int b = 0; b < BATCHES_PER_WAKE; b++) {
    int n = receive(e, l->fd);
    if (n <= 0) break;
    int64_t now = engine_now_ms();
    for (int i = 0; i < n; i++) {
      fp_addr src;
      engine_to_fp(&e->rxaddr[i], &src);
      const uint8_t *buf = e->rxiov[i].iov_base;
      size_t len = e->rx[i].msg_len;
      size_t rlen = 0;
      fp_result r = fp_client(&e->table, l->id, l->family, &src, buf, len, now, reply, &rlen);
      if (r.verdict == FP_RELAY) {
        usock *rel = r.alloc->relay;
        if (!rel) continue;
        struct sockaddr_storage to;
        socklen_t tolen = engine_from_fp(&r.peer, &to);
        enqueue(e, rel->fd, &to, tolen, NULL, 0, r.data, r.len, 0);
      } else if (r.verdict == FP_REPLY) {
        enqueue(e, l->fd, &e->rxaddr[i], e->rx[i].msg_hdr.msg_namelen, reply, rlen, NULL, 0, 0);
      } else if (r.verdict == FP_DEFER) {
        defer_datagram(e, l->id, &src, buf, len);
      }
    }
    if (n < ENGINE_BATCH) break;
  }
}

static void on_relay(uv_poll_t *h, int status, int events) {
  usock *rel = h->data;
  engine *e = rel->e;
  if (status < 0 || !(events & UV_READABLE)) return;
  fp_alloc *a = fp_find(&e->table, rel->id);
  uint8_t head[FP_PEER_HEADER_MAX];
  for (int b = 0; b < BATCHES_PER_WAKE; b++) {
    int n = receive(e, rel->fd);
    if (n <= 0) break;
    if (!a) continue; /* closing: drain and drop */
    int64_t now = engine_now_ms();
    for (int i = 0; i < n; i++) {
      fp_addr src;
      engine_to_fp(&e->rxaddr[i], &src);
      size_t hlen = 0, pad = 0;
      fp_result r = fp_peer(&e->table, a, &src, e->rxiov[i].iov_base, e->rx[i].msg_len, now, head, &hlen, &pad);
      if (r.verdict != FP_REPLY || a->listener >= e->nlisteners || !e->listeners[a->listener]) continue;
      struct sockaddr_storage to;
      socklen_t tolen = engine_from_fp(&a->client, &to);
      enqueue(e, e->listeners[a->listener]->fd, &to, tolen, head, hlen, r.data, r.len, pad);
    }
    if (n < ENGINE_BATCH) break;
  }
}

static void on_check(uv_check_t *h) {
  engine *e = h->data;
  deliver(e);
  engine_flush(e);
}

int engine_listen(engine *e, const struct sockaddr *addr, socklen_t addrlen, int reuse_port, int buffer_bytes, uint16_t *bound_port) {
  if (e->nlisteners == ENGINE_MAX_LISTENERS) return -EMFILE;
  int fd = open_udp(addr, addrlen, reuse_port, buffer_bytes);
  if (fd < 0) return fd;
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  getsockname(fd, (struct sockaddr *)&local, &len);
  fp_addr bound;
  engine_to_fp(&local, &bound);
  usock *l = calloc(1, sizeof *l);
  if (!l) {
    close(fd);
    return -ENOMEM;
  }
  l->fd = fd;
  l->family = addr->sa_family == AF_INET ? 4 : 6;
  l->id = e->nlisteners;
  l->e = e;
  uv_poll_init(e->loop, &l->poll, fd);
  l->poll.data = l;
  uv_poll_start(&l->poll, UV_READABLE, on_listener);
  e->listeners[e->nlisteners++] = l;
  e->open_handles++;
  *bound_port = bound.port;
  return (int)l->id;
}

int engine_bind_relay(engine *e, uint32_t id, const struct sockaddr *addr, socklen_t addrlen, int buffer_bytes) {
  fp_alloc *a = fp_find(&e->table, id);
  if (a && a->relay) return -EEXIST;
  int fd = open_udp(addr, addrlen, 0, buffer_bytes);
  if (fd < 0) return fd;
  usock *r = calloc(1, sizeof *r);
  if (!a) a = fp_create(&e->table, id);
  if (!r || !a) {
    free(r);
    close(fd);
    return -ENOMEM;
  }
  r->fd = fd;
  r->family = addr->sa_family == AF_INET ? 4 : 6;
  r->id = id;
  r->e = e;
  uv_poll_init(e->loop, &r->poll, fd);
  r->poll.data = r;
  uv_poll_start(&r->poll, UV_READABLE, on_relay);
  a->relay = r;
  e->open_handles++;
  return 0;
}

/* The fd is closed only now: closing it earlier would let a new socket reuse its number while
   libuv still knows the old handle (uv_close stops the poll again, on that number). */
static void on_handle_closed(uv_handle_t *h) {
  usock *s = h->data;
  engine *e = s->e;
  close(s->fd);
  free(s);
  if (--e->open_handles == 0 && e->on_closed) e->on_closed(e->closed_ctx);
}

static void on_check_closed(uv_handle_t *h) {
  engine *e = h->data;
  if (--e->open_handles == 0 && e->on_closed) e->on_closed(e->closed_ctx);
}

static void close_socket(usock *s) {
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t *)&s->poll, on_handle_closed);
}

void engine_close_relay(engine *e, uint32_t id) {
  fp_alloc *a = fp_find(&e->table, id);
  if (!a) return;
  if (a->relay) close_socket(a->relay);
  fp_remove(&e->table, a);
}

int engine_send(engine *e, uint32_t index, const struct sockaddr *to, socklen_t tolen, const uint8_t *data, size_t len) {
  if (index >= e->nlisteners || !e->listeners[index]) return -1;
  struct sockaddr_storage dst;
  memcpy(&dst, to, tolen);
  enqueue(e, e->listeners[index]->fd, &dst, tolen, data, len, NULL, 0, 0);
  if (!e->in_dispatch) engine_flush(e);
  return 0;
}

int engine_relay(engine *e, uint32_t id, const fp_addr *peer, const uint8_t *data, size_t len) {
  fp_alloc *a = fp_find(&e->table, id);
  if (!a || !a->relay) return -1;
  if (!fp_within_bandwidth(a, len, engine_now_ms())) return 1;
  struct sockaddr_storage to;
  socklen_t tolen = engine_from_fp(peer, &to);
  enqueue(e, ((usock *)a->relay)->fd, &to, tolen, NULL, 0, data, len, 0);
  if (!e->in_dispatch) engine_flush(e);
  return 0;
}

void engine_close(engine *e, void (*on_closed)(void *ctx), void *ctx) {
  if (e->closing) return;
  e->closing = 1;
  e->on_closed = on_closed;
  e->closed_ctx = ctx;
  engine_flush(e);
  for (uint32_t i = 0; i < e->nlisteners; i++) {
    if (!e->listeners[i]) continue;
    close_socket(e->listeners[i]);
    e->listeners[i] = NULL;
  }
  /* Relays: every allocation that still has one. */
  for (uint32_t b = 0; b <= e->table.id_mask; b++) {
    fp_alloc *a = e->table.by_id[b];
    while (a) {
      fp_alloc *next = a->next_by_id;
      if (a->relay) close_socket(a->relay);
      fp_remove(&e->table, a);
      a = next;
    }
  }
  uv_check_stop(&e->check);
  uv_close((uv_handle_t *)&e->check, on_check_closed);
}

void engine_free(engine *e) {
  fp_table_free(&e->table);
  free(e->rxbuf);
  free(e->txarena);
  free(e->dfarena);
  e->rxbuf = e->txarena = e->dfarena = NULL;
}
