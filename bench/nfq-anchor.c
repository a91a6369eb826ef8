/*
 * The C accept-all anchor of bench:gateway: what the kernel's queue carries when user space does
 * the least possible, on libnetfilter_queue as its own examples do. Built by the bench
 * (bench/lib/gateway-anchor.mjs: cc -O2 nfq-anchor.c -lnetfilter_queue -lnfnetlink).
 *
 *   nfq-anchor --queue N --maxlen L --rcvbuf B --fail-open 0|1 --mode perpacket|batch [--gso 0|1]
 *              [--batch 64] [--touch 0|1]
 *
 * perpacket: nfq_set_verdict(NF_ACCEPT) for every packet inside the callback.
 * batch:     nfq_set_verdict_batch(NF_ACCEPT) for the newest id every `batch` packets and whenever
 *            the socket has nothing more to read (so nothing waits for a full batch).
 * --gso 1:   NFQA_CFG_F_GSO (GSO super-packets are queued whole).
 * --touch 1: reads every payload byte (a sum), the least a content inspector must do.
 * Copy mode: whole packets (0xffff), as the daemon.
 *
 * Prints {"ready":true,...} once bound; on SIGUSR2 {"count":N}; on SIGTERM/SIGINT {"packets":N,...}
 * and exits (the caller removed the NFQUEUE rule first).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <poll.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

static volatile sig_atomic_t want_count, want_stop;
static unsigned long long packets, bytes, batches, gso_pkts, sum;
static uint32_t last_id, unanswered;
static int mode_batch, touch, batch_n = 64;

static void on_sig(int s) { if (s == SIGUSR2) want_count = 1; else want_stop = 1; }

static int cb(struct nfq_q_handle *qh, struct nfgenmsg *nfmsg, struct nfq_data *nfa, void *data) {
  (void)nfmsg; (void)data;
  struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
  uint32_t id = ph ? ntohl(ph->packet_id) : 0;
  unsigned char *payload;
  int len = nfq_get_payload(nfa, &payload);
  packets++;
  if (len > 0) bytes += (unsigned)len;
  if (nfq_get_skbinfo(nfa) & NFQA_SKB_GSO) gso_pkts++;
  if (touch && len > 0) for (int i = 0; i < len; i++) sum += payload[i];
  if (!mode_batch) return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
  last_id = id;
  if (++unanswered >= (uint32_t)batch_n) {
    nfq_set_verdict_batch(qh, last_id, NF_ACCEPT);
    unanswered = 0;
    batches++;
  }
  return 0;
}

static const char *arg(int argc, char **argv, const char *name, const char *def) {
  for (int i = 1; i + 1 < argc; i++) if (!strcmp(argv[i], name)) return argv[i + 1];
  return def;
}

int main(int argc, char **argv) {
  int queue = atoi(arg(argc, argv, "--queue", "0"));
  unsigned maxlen = (unsigned)atoi(arg(argc, argv, "--maxlen", "4096"));
  int rcvbuf = atoi(arg(argc, argv, "--rcvbuf", "8388608"));
  int fail_open = atoi(arg(argc, argv, "--fail-open", "1"));
  int gso = atoi(arg(argc, argv, "--gso", "0"));
  mode_batch = !strcmp(arg(argc, argv, "--mode", "batch"), "batch");
  batch_n = atoi(arg(argc, argv, "--batch", "64"));
  touch = atoi(arg(argc, argv, "--touch", "0"));

  struct nfq_handle *h = nfq_open();
  if (!h) { perror("nfq_open"); return 1; }
  struct nfq_q_handle *qh = nfq_create_queue(h, (uint16_t)queue, cb, NULL);
  if (!qh) { perror("nfq_create_queue"); return 1; }
  if (nfq_set_mode(qh, NFQNL_COPY_PACKET, 0xffff) < 0) { perror("nfq_set_mode"); return 1; }
  int rc_max = nfq_set_queue_maxlen(qh, maxlen);
  uint32_t flags = (fail_open ? NFQA_CFG_F_FAIL_OPEN : 0) | (gso ? NFQA_CFG_F_GSO : 0);
  int rc_flags = nfq_set_queue_flags(qh, NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO, flags);
  nfnl_rcvbufsiz(nfq_nfnlh(h), (unsigned)rcvbuf);
  int fd = nfq_fd(h);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sig;
  sigaction(SIGUSR2, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  printf("{\"ready\":true,\"queue\":%d,\"mode\":\"%s\",\"batch\":%d,\"gso\":%d,\"touch\":%d,\"maxlen\":%u,\"fail_open\":%d,\"rcvbuf\":%d,\"rc_maxlen\":%d,\"rc_flags\":%d}\n",
         queue, mode_batch ? "batch" : "perpacket", batch_n, gso, touch, maxlen, fail_open, rcvbuf, rc_max, rc_flags);
  fflush(stdout);

  static char buf[0xffff + 4096] __attribute__((aligned));
  while (!want_stop) {
    if (want_count) { printf("{\"count\":%llu}\n", packets); fflush(stdout); want_count = 0; }
    int n = (int)recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) { nfq_handle_packet(h, buf, n); continue; }
    if (n < 0 && errno == ENOBUFS) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { perror("recv"); break; }
    /* Nothing more to read: answer what is waiting, then sleep until the socket is readable. */
    if (mode_batch && unanswered) { nfq_set_verdict_batch(qh, last_id, NF_ACCEPT); unanswered = 0; batches++; }
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    poll(&pfd, 1, 200);
  }
  if (mode_batch && unanswered) nfq_set_verdict_batch(qh, last_id, NF_ACCEPT);
  printf("{\"packets\":%llu,\"bytes\":%llu,\"batches\":%llu,\"gso_packets\":%llu,\"sum\":%llu}\n", packets, bytes, batches, gso_pkts, sum);
  fflush(stdout);
  nfq_destroy_queue(qh);
  nfq_close(h);
  return 0;
}
