/*
 * STUN Binding load generator in C (bench/stun/run.mjs builds it with cc and starts one or more),
 * the same closed loop as gen.mjs at a small fraction of its CPU per request, so that the
 * generator, not the server, stops being the limit on a 2-core machine.
 *
 *   gen PORT SOCKETS WINDOW WARMUP_S SECONDS ID
 *
 * SOCKETS UDP sockets on 127.0.0.1, each keeping WINDOW Binding requests (20 bytes, no
 * attributes) outstanding: a success response releases a slot and the next request goes out; a
 * request unanswered after 1 s counts as lost and is replaced. Reads with recvmmsg and writes
 * with sendmmsg. Counts only during the SECONDS after WARMUP_S; prints one line `GEN {json}`
 * (responsesPerS, sent, received, lost, bad, p50Ms, p99Ms, cpuPct) and exits. Bounded: it
 * always exits by WARMUP_S + SECONDS + 1 s.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define BUCKET_US 20 /* latency histogram: 0.02 ms buckets up to 200 ms */
#define BUCKETS 10000

/* One outstanding request per slot; its transaction id carries (socket, slot, sequence). */
typedef struct {
  int fd;
  double *sent_at; /* per slot: when the current request went out */
  uint32_t *seq;   /* per slot: sequence number of the current request */
} sock_t;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static unsigned hist[BUCKETS];
static long sent, received, lost, bad;
static int counting;
static uint32_t gen_id;
static struct sockaddr_in server;

/* Sends the next request of each of `n` slots of socket s (index i), with sendmmsg. */
static void send_requests(sock_t *s, uint32_t i, const uint32_t *slots, int n, double t) {
  static uint8_t buf[BATCH][20];
  struct mmsghdr m[BATCH];
  struct iovec iov[BATCH];
  while (n > 0) {
    int k = n < BATCH ? n : BATCH;
    for (int j = 0; j < k; j++) {
      uint32_t slot = slots[j];
      s->sent_at[slot] = t;
      put32(buf[j], 0x00010000); /* Binding request, length 0 */
      put32(buf[j] + 4, 0x2112A442);
      put32(buf[j] + 8, gen_id);
      put32(buf[j] + 12, i << 16 | slot);
      put32(buf[j] + 16, ++s->seq[slot]);
      iov[j].iov_base = buf[j];
      iov[j].iov_len = 20;
      memset(&m[j], 0, sizeof m[j]);
      m[j].msg_hdr.msg_name = &server;
      m[j].msg_hdr.msg_namelen = sizeof server;
      m[j].msg_hdr.msg_iov = &iov[j];
      m[j].msg_hdr.msg_iovlen = 1;
    }
    int r = sendmmsg(s->fd, m, k, 0);
    if (r < 0 && errno != EAGAIN && errno != EINTR) {
      perror("sendmmsg");
      exit(2);
    }
    if (counting && r > 0) sent += r;
    n -= k;
    slots += k;
  }
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s PORT SOCKETS WINDOW WARMUP_S SECONDS ID\n", argv[0]);
    return 2;
  }
  int port = atoi(argv[1]), nsock = atoi(argv[2]), window = atoi(argv[3]);
  double warmup = atof(argv[4]), seconds = atof(argv[5]);
  gen_id = (uint32_t)atoi(argv[6]);
  if (nsock < 1 || window < 1 || window > 4096) return 2;
  memset(&server, 0, sizeof server);
  server.sin_family = AF_INET;
  server.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, "127.0.0.1", &server.sin_addr);
  int ep = epoll_create1(0);
  sock_t *socks = calloc((size_t)nsock, sizeof *socks);
  if (!socks) return 2;
  double t0 = now_s();
  uint32_t *all = malloc(sizeof *all * (size_t)window);
  for (int j = 0; j < window; j++) all[j] = (uint32_t)j;
  for (int i = 0; i < nsock; i++) {
    socks[i].sent_at = calloc((size_t)window, sizeof(double));
    socks[i].seq = calloc((size_t)window, sizeof(uint32_t));
    socks[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in any = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &any.sin_addr);
    int buf = 1 << 20;
    setsockopt(socks[i].fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    if (bind(socks[i].fd, (struct sockaddr *)&any, sizeof any) != 0) return 2;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, socks[i].fd, &ev);
    send_requests(&socks[i], (uint32_t)i, all, window, t0);
  }
  uint32_t *again = malloc(sizeof *again * (size_t)(window > BATCH ? window : BATCH));
  struct mmsghdr m[BATCH];
  struct iovec iov[BATCH];
  static uint8_t rx[BATCH][1500];
  double count_from = t0 + warmup, count_to = count_from + seconds, last_scan = t0, cpu0 = 0;
  for (;;) {
    double t = now_s();
    if (!counting && t >= count_from) {
      counting = 1;
      cpu0 = cpu_s();
    }
    if (t >= count_to) break;
    if (t - last_scan > 0.1) {
      /* Requests unanswered after 1 s are lost: free their slots and replace them. */
      for (int i = 0; i < nsock; i++) {
        int expired = 0;
        for (int j = 0; j < window; j++)
          if (t - socks[i].sent_at[j] > 1.0) again[expired++] = (uint32_t)j;
        if (counting) lost += expired;
        if (expired) send_requests(&socks[i], (uint32_t)i, again, expired, t);
      }
      last_scan = t;
    }
    struct epoll_event evs[64];
    int n = epoll_wait(ep, evs, 64, 50);
    for (int e = 0; e < n; e++) {
      uint32_t i = evs[e].data.u32;
      sock_t *s = &socks[i];
      for (int j = 0; j < BATCH; j++) {
        iov[j].iov_base = rx[j];
        iov[j].iov_len = sizeof rx[j];
        memset(&m[j], 0, sizeof m[j]);
        m[j].msg_hdr.msg_iov = &iov[j];
        m[j].msg_hdr.msg_iovlen = 1;
      }
      int r = recvmmsg(s->fd, m, BATCH, 0, NULL);
      if (r <= 0) continue;
      double tr = now_s();
      int freed = 0;
      for (int j = 0; j < r; j++) {
        const uint8_t *p = rx[j];
        uint32_t tag = get32(p + 12), slot = tag & 0xffff;
        if (m[j].msg_len < 20 || p[0] != 0x01 || p[1] != 0x01 || get32(p + 8) != gen_id || tag >> 16 != i || slot >= (uint32_t)window) {
          if (counting) bad++;
          continue;
        }
        if (get32(p + 16) != s->seq[slot]) continue; /* late answer to a request already counted lost */
        double at = s->sent_at[slot];
        again[freed++] = slot;
        if (counting) {
          received++;
          long b = (long)((tr - at) * 1e6 / BUCKET_US);
          hist[b < BUCKETS ? b : BUCKETS - 1]++;
        }
      }
      if (freed) send_requests(s, i, again, freed, tr);
    }
  }
  double cpu = cpu_s() - cpu0;
  long total = 0, p50 = -1, p99 = -1;
  for (int b = 0; b < BUCKETS; b++) {
    total += hist[b];
    if (p50 < 0 && total * 2 >= received) p50 = b;
    if (p99 < 0 && total * 100 >= received * 99) p99 = b;
  }
  printf("GEN {\"responsesPerS\":%.1f,\"sent\":%ld,\"received\":%ld,\"lost\":%ld,\"bad\":%ld,\"p50Ms\":%.3f,\"p99Ms\":%.3f,\"cpuPct\":%.1f}\n",
         received / seconds, sent, received, lost, bad, (p50 + 0.5) * BUCKET_US / 1000.0, (p99 + 0.5) * BUCKET_US / 1000.0, 100 * cpu / seconds);
  return 0;
}
