/*
 * Shared between nfq.c (the Node-API side) and nl.c (the netlink messages of NFQUEUE): the queue
 * handle, the layouts shared with JavaScript (ROW, CMD, stats indexes: see README.md) and nl.c's
 * functions.
 */
#ifndef P2PGW_NFQ_H
#define P2PGW_NFQ_H
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <node_api.h>
#include <uv.h>
#include <pthread.h>
#include <time.h>

#define ROW 8            /* u32 words per packet row: id, off, len, mark, indev, outdev, flags, caplen */
#define CMD 4            /* u32 words per verdict command: id, verdict, mark, flags */
#define CMD_MARK 1u      /* command flag: set the mark */
#define CMD_BATCH 2u     /* command flag: NFQNL_MSG_VERDICT_BATCH (every queued id <= id) */
#define CMD_PKT 4u       /* command flag: replace the packet with packets[flags >> 8] */
#define F_TRUNC (1u << 16) /* row flag: the payload was cut at the copy range (caplen > len) */
#define MSG_MAX (0xffff + 1024) /* largest packet message: copy range 0xffff plus attributes */
#define SEND_CHUNK 65536

#define SENDQ_HIST 24 /* sender-queue wait histogram: bucket k counts waits in [2^k, 2^(k+1)) µs (k = 0: < 2 µs) */
#define SENDQ_MAX_ITEMS 2 /* verdict chunks waiting for the sender thread before verdicts() waits (double buffering) */

enum { S_RECV, S_PACKETS, S_BATCHES, S_ENOBUFS, S_RECV_ERRORS, S_SENDS, S_SEND_ERRORS, S_VERDICT_ERRORS,
       S_LAST_ERRNO, S_MESSAGES, S_TRUNCATED, S_ERR_TYPE, S_ERR_ID,
       S_SENDQ_PEAK, S_SENDQ_WAIT_MAX, S_SENDQ_FULL, S_SENDQ_HIST0,
       S_NSTATS = S_SENDQ_HIST0 + SENDQ_HIST };

/* A chunk of verdict messages waiting for the sender thread. */
typedef struct sendq_item {
  struct sendq_item *next;
  size_t len;
  double t_enq;          /* CLOCK_MONOTONIC at enqueue, µs */
  uint8_t data[];
} sendq_item;

/*
 * The sender thread (open's sendThread): verdict chunks are handed over and sent by a thread of
 * their own, so the kernel's forwarding inside sendmsg runs beside the JavaScript thread. Fields
 * under mu; the thread's counters are copied into the stats array by the main thread (sync_stats).
 */
typedef struct {
  int on;
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv, room;
  sendq_item *head, *tail;
  size_t bytes;
  unsigned items;
  int stop;
  double sends, send_errors, last_errno, peak, wait_max, full;
  double hist[SENDQ_HIST];
} sender_t;

typedef struct {
  napi_env env;
  int fd;
  uint16_t queue;
  uint32_t seq;
  uint32_t portid;
  uint8_t *arena;
  size_t arena_len;
  size_t off;            /* arena bytes used by the current batch */
  uint32_t *rows;
  uint32_t max;          /* rows capacity */
  uint32_t count;        /* packets in the current batch */
  double *stats;
  napi_ref arena_ref, rows_ref, stats_ref, cb_ref;
  napi_async_context actx;
  uv_poll_t *poll;
  int closed;
  int in_cb;
  uint8_t *sendbuf;
  sender_t tx;
} nfq_t;

/* nl.c: building and sending netlink messages, reading the socket into the arena. */
void nl_put_attr(struct nlmsghdr *nlh, uint16_t type, const void *data, uint32_t len);
void nl_put_u32(struct nlmsghdr *nlh, uint16_t type, uint32_t v);
struct nlmsghdr *nl_put_header(uint8_t *buf, uint16_t msgtype, uint16_t flags, uint16_t queue, uint32_t seq);
ssize_t nl_send(int fd, const void *buf, size_t len);
int nl_read_ready(nfq_t *q, uint32_t want_seq, int *ack);
int nl_config(nfq_t *q, void (*fill)(struct nlmsghdr *, const void *), const void *arg);
void nl_fill_cmd(struct nlmsghdr *nlh, const void *arg);
void nl_fill_params(struct nlmsghdr *nlh, const void *arg);
void nl_fill_maxlen(struct nlmsghdr *nlh, const void *arg);
void nl_fill_flags(struct nlmsghdr *nlh, const void *arg);

/* tx.c: the sender thread. */
int tx_start(nfq_t *q);
void tx_send(nfq_t *q, const uint8_t *buf, size_t len);
void tx_stop(nfq_t *q);
void tx_sync_stats(nfq_t *q);

#endif
