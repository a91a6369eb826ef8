/*
 * The sender thread of p2pgw_nfq (open's `sendThread`): verdict chunks (each up to 64 KiB of
 * NFQNL_MSG_VERDICT / _BATCH messages, built by verdicts() in nfq.c) are copied into a queue and
 * sent, in order, by one thread of the queue's own. The kernel does its forwarding of the released
 * packets (NAT, conntrack, the next hop) inside that sendmsg, so with the thread it runs on another
 * core beside the JavaScript thread instead of stopping it.
 *
 * Bounds: at most SENDQ_MAX_ITEMS chunks (one per verdicts() call, usually one batch's verdicts)
 * wait for the thread; verdicts() then waits for room (counted, S_SENDQ_FULL). A deeper queue would
 * let JavaScript run ahead of the kernel's forwarding and the verdicts wait in it (measured with a
 * 4 MiB queue: p99 wait 131 ms); two chunks keep the thread busy while bounding that wait to
 * about two sendmsg calls. Measured: the peak of queued bytes, the longest wait and a log2 histogram of each
 * chunk's wait from hand-over to the start of its sendmsg (µs), copied into the stats array by the
 * main thread (tx_sync_stats), so JavaScript reads no memory the thread writes.
 * Errors: a failed sendmsg is counted (S_SEND_ERRORS, S_LAST_ERRNO), as on the main thread.
 */
#define _GNU_SOURCE
#include "nfq.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void *run(void *arg) {
  nfq_t *q = (nfq_t *)arg;
  sender_t *t = &q->tx;
  pthread_mutex_lock(&t->mu);
  for (;;) {
    while (!t->head && !t->stop) pthread_cond_wait(&t->cv, &t->mu);
    sendq_item *it = t->head;
    if (!it) break; /* stop, and nothing left to send */
    t->head = it->next;
    if (!t->head) t->tail = NULL;
    pthread_mutex_unlock(&t->mu);
    double wait = now_us() - it->t_enq;
    ssize_t r = nl_send(q->fd, it->data, it->len);
    int e = r < 0 ? errno : 0;
    pthread_mutex_lock(&t->mu);
    if (e) { t->send_errors++; t->last_errno = e; } else t->sends++;
    if (wait > t->wait_max) t->wait_max = wait;
    int k = 0;
    for (double w = wait; w >= 2 && k < SENDQ_HIST - 1; w /= 2) k++;
    t->hist[k]++;
    t->bytes -= it->len;
    t->items--;
    pthread_cond_signal(&t->room);
    free(it);
  }
  pthread_mutex_unlock(&t->mu);
  return NULL;
}

/* Starts the thread; 0, or the errno of pthread_create (the caller then sends on its own thread). */
int tx_start(nfq_t *q) {
  sender_t *t = &q->tx;
  pthread_mutex_init(&t->mu, NULL);
  pthread_cond_init(&t->cv, NULL);
  pthread_cond_init(&t->room, NULL);
  int rc = pthread_create(&t->th, NULL, run, q);
  if (rc) {
    pthread_cond_destroy(&t->room);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    return rc;
  }
  t->on = 1;
  return 0;
}

/* Hands `len` bytes of verdict messages to the thread (copied); waits while the queue is full. */
void tx_send(nfq_t *q, const uint8_t *buf, size_t len) {
  sender_t *t = &q->tx;
  sendq_item *it = (sendq_item *)malloc(sizeof *it + len);
  if (!it) { /* no memory for the copy: send it here */
    if (nl_send(q->fd, buf, len) < 0) { q->stats[S_SEND_ERRORS]++; q->stats[S_LAST_ERRNO] = errno; }
    return;
  }
  memcpy(it->data, buf, len);
  it->len = len;
  it->next = NULL;
  pthread_mutex_lock(&t->mu);
  if (t->items >= SENDQ_MAX_ITEMS) {
    t->full++;
    while (t->items >= SENDQ_MAX_ITEMS) pthread_cond_wait(&t->room, &t->mu);
  }
  it->t_enq = now_us();
  if (t->tail) t->tail->next = it; else t->head = it;
  t->tail = it;
  t->bytes += len;
  t->items++;
  if (t->bytes > t->peak) t->peak = (double)t->bytes;
  pthread_cond_signal(&t->cv);
  pthread_mutex_unlock(&t->mu);
}

/* Sends what is queued, ends the thread and joins it (before the queue is unbound). */
void tx_stop(nfq_t *q) {
  sender_t *t = &q->tx;
  if (!t->on) return;
  pthread_mutex_lock(&t->mu);
  t->stop = 1;
  pthread_cond_signal(&t->cv);
  pthread_mutex_unlock(&t->mu);
  pthread_join(t->th, NULL);
  tx_sync_stats(q);
  t->on = 0;
  pthread_cond_destroy(&t->room);
  pthread_cond_destroy(&t->cv);
  pthread_mutex_destroy(&t->mu);
}

/* Copies the thread's counters into the stats array (main thread only). */
void tx_sync_stats(nfq_t *q) {
  sender_t *t = &q->tx;
  if (!t->on) return;
  double *s = q->stats;
  pthread_mutex_lock(&t->mu);
  s[S_SENDS] += t->sends;
  s[S_SEND_ERRORS] += t->send_errors;
  if (t->send_errors) s[S_LAST_ERRNO] = t->last_errno;
  t->sends = t->send_errors = 0;
  s[S_SENDQ_PEAK] = t->peak;
  s[S_SENDQ_WAIT_MAX] = t->wait_max;
  s[S_SENDQ_FULL] = t->full;
  for (int k = 0; k < SENDQ_HIST; k++) s[S_SENDQ_HIST0 + k] = t->hist[k];
  pthread_mutex_unlock(&t->mu);
}
