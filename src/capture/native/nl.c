/*
 * The netlink side of p2pgw_nfq (see README.md): NFQUEUE messages built and parsed by hand from the
 * kernel's UAPI (linux/netfilter/nfnetlink_queue.h), no library. Packet messages are parsed in
 * place in the arena into header rows; config messages are acked (errno returned); errors the
 * kernel reports for verdicts are counted in the stats array.
 */
#define _GNU_SOURCE
#include "nfq.h"

static uint32_t be32(const void *p) { uint32_t v; memcpy(&v, p, 4); return ntohl(v); }

/* Appends one attribute to the message at `nlh` (whose nlmsg_len is kept aligned). */
void nl_put_attr(struct nlmsghdr *nlh, uint16_t type, const void *data, uint32_t len) {
  struct nlattr *a = (struct nlattr *)((uint8_t *)nlh + NLMSG_ALIGN(nlh->nlmsg_len));
  a->nla_type = type;
  a->nla_len = (uint16_t)(NLA_HDRLEN + len);
  if (len) memcpy((uint8_t *)a + NLA_HDRLEN, data, len);
  nlh->nlmsg_len = NLMSG_ALIGN(nlh->nlmsg_len) + NLA_ALIGN(a->nla_len);
}

void nl_put_u32(struct nlmsghdr *nlh, uint16_t type, uint32_t v) {
  uint32_t be = htonl(v);
  nl_put_attr(nlh, type, &be, 4);
}

struct nlmsghdr *nl_put_header(uint8_t *buf, uint16_t msgtype, uint16_t flags, uint16_t queue, uint32_t seq) {
  struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
  nlh->nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
  nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | msgtype;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = seq;
  nlh->nlmsg_pid = 0;
  struct nfgenmsg *g = (struct nfgenmsg *)NLMSG_DATA(nlh);
  g->nfgen_family = AF_UNSPEC;
  g->version = NFNETLINK_V0;
  g->res_id = htons(queue);
  return nlh;
}

ssize_t nl_send(int fd, const void *buf, size_t len) {
  struct sockaddr_nl to = { .nl_family = AF_NETLINK };
  ssize_t r;
  do r = sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof to);
  while (r < 0 && errno == EINTR);
  return r;
}

/*
 * Parses the netlink messages in arena[start, start+len): packet messages become rows; an error
 * message answering `want_seq` is returned through *ack (0 = acked), other errors are counted.
 */
static void parse(nfq_t *q, size_t start, size_t len, uint32_t want_seq, int *ack) {
  uint8_t *p = q->arena + start;
  size_t left = len;
  while (left >= NLMSG_HDRLEN) {
    struct nlmsghdr *nlh = (struct nlmsghdr *)p;
    if (nlh->nlmsg_len < NLMSG_HDRLEN || nlh->nlmsg_len > left) break;
    q->stats[S_MESSAGES]++;
    if (nlh->nlmsg_type == NLMSG_ERROR && nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
      struct nlmsgerr *e = (struct nlmsgerr *)NLMSG_DATA(nlh);
      if (ack && e->msg.nlmsg_seq == want_seq && want_seq) *ack = -e->error;
      else if (e->error) {
        q->stats[S_VERDICT_ERRORS]++;
        q->stats[S_LAST_ERRNO] = -e->error;
        /* The refused message comes back whole: keep its type and (verdict) id for diagnosis. */
        q->stats[S_ERR_TYPE] = e->msg.nlmsg_type & 0xff;
        const uint8_t *m = (const uint8_t *)&e->msg + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
        if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr)) + NLMSG_ALIGN(sizeof(struct nfgenmsg)) + 12 &&
            (((const struct nlattr *)m)->nla_type & NLA_TYPE_MASK) == NFQA_VERDICT_HDR)
          q->stats[S_ERR_ID] = be32(m + NLA_HDRLEN + 4);
      }
    } else if (nlh->nlmsg_type == ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET) && q->count < q->max) {
      uint32_t *row = q->rows + (size_t)q->count * ROW;
      memset(row, 0, ROW * 4);
      int have_id = 0;
      uint8_t *a = (uint8_t *)NLMSG_DATA(nlh) + NLMSG_ALIGN(sizeof(struct nfgenmsg));
      uint8_t *end = p + nlh->nlmsg_len;
      while (a + NLA_HDRLEN <= end) {
        struct nlattr *at = (struct nlattr *)a;
        if (at->nla_len < NLA_HDRLEN || a + at->nla_len > end) break;
        uint8_t *d = a + NLA_HDRLEN;
        uint32_t dl = at->nla_len - NLA_HDRLEN;
        switch (at->nla_type & NLA_TYPE_MASK) {
          case NFQA_PACKET_HDR: if (dl >= 4) { row[0] = be32(d); have_id = 1; } break;
          case NFQA_PAYLOAD: row[1] = (uint32_t)(d - q->arena); row[2] = dl; break;
          case NFQA_MARK: if (dl >= 4) row[3] = be32(d); break;
          case NFQA_IFINDEX_INDEV: if (dl >= 4) row[4] = be32(d); break;
          case NFQA_IFINDEX_OUTDEV: if (dl >= 4) row[5] = be32(d); break;
          case NFQA_SKB_INFO: if (dl >= 4) row[6] |= be32(d) & 0xffff; break;
          case NFQA_CAP_LEN: if (dl >= 4) row[7] = be32(d); break;
        }
        a += NLA_ALIGN(at->nla_len);
      }
      if (have_id) {
        if (row[7] > row[2]) { row[6] |= F_TRUNC; q->stats[S_TRUNCATED]++; }
        else row[7] = row[2];
        q->count++;
        q->stats[S_PACKETS]++;
      }
    }
    size_t step = NLMSG_ALIGN(nlh->nlmsg_len);
    if (step >= left) break;
    p += step;
    left -= step;
  }
}

/*
 * Reads what the socket holds into the arena (from q->off on) until EAGAIN or no room.
 * Returns 0, or -errno of a socket error other than EAGAIN/ENOBUFS/EINTR.
 */
int nl_read_ready(nfq_t *q, uint32_t want_seq, int *ack) {
  for (;;) {
    if (q->count >= q->max || q->arena_len - q->off < MSG_MAX) return 0;
    ssize_t n = recv(q->fd, q->arena + q->off, q->arena_len - q->off, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      if (errno == ENOBUFS) { q->stats[S_ENOBUFS]++; continue; }
      q->stats[S_RECV_ERRORS]++;
      q->stats[S_LAST_ERRNO] = errno;
      return -errno;
    }
    if (n == 0) return 0;
    q->stats[S_RECV]++;
    size_t start = q->off;
    parse(q, start, (size_t)n, want_seq, ack);
    q->off = (start + (size_t)n + 7) & ~(size_t)7;
    if (ack && *ack != INT32_MIN) return 0;
  }
}

/* Sends one config message and waits up to 2 s for its ack. Returns 0 or an errno. */
int nl_config(nfq_t *q, void (*fill)(struct nlmsghdr *, const void *), const void *arg) {
  uint8_t buf[256];
  uint32_t seq = ++q->seq;
  struct nlmsghdr *nlh = nl_put_header(buf, NFQNL_MSG_CONFIG, NLM_F_ACK, q->queue, seq);
  fill(nlh, arg);
  if (nl_send(q->fd, buf, nlh->nlmsg_len) < 0) return errno;
  int ack = INT32_MIN;
  for (int tries = 0; tries < 20 && ack == INT32_MIN; tries++) {
    struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
    if (poll(&pfd, 1, 100) < 0 && errno != EINTR) return errno;
    int rc = nl_read_ready(q, seq, &ack);
    if (rc < 0) return -rc;
    if (q->arena_len - q->off < MSG_MAX || q->count >= q->max) return ENOSPC; /* flooded before bound */
  }
  return ack == INT32_MIN ? ETIMEDOUT : ack;
}

void nl_fill_cmd(struct nlmsghdr *nlh, const void *arg) {
  struct nfqnl_msg_config_cmd c = { .command = *(const uint8_t *)arg, .pf = 0 };
  nl_put_attr(nlh, NFQA_CFG_CMD, &c, sizeof c);
}
void nl_fill_params(struct nlmsghdr *nlh, const void *arg) {
  struct nfqnl_msg_config_params p = { .copy_range = htonl(*(const uint32_t *)arg), .copy_mode = NFQNL_COPY_PACKET };
  nl_put_attr(nlh, NFQA_CFG_PARAMS, &p, sizeof p);
}
void nl_fill_maxlen(struct nlmsghdr *nlh, const void *arg) { nl_put_u32(nlh, NFQA_CFG_QUEUE_MAXLEN, *(const uint32_t *)arg); }
void nl_fill_flags(struct nlmsghdr *nlh, const void *arg) {
  const uint32_t *fm = (const uint32_t *)arg; /* flags, mask */
  nl_put_u32(nlh, NFQA_CFG_FLAGS, fm[0]);
  nl_put_u32(nlh, NFQA_CFG_MASK, fm[1]);
}
