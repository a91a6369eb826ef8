/*
 * p2pgw_nfq: NFQUEUE in batches for Node.js (N-API, C). See README.md beside this file for why it
 * speaks netlink itself rather than through libnetfilter_queue.
 *
 * Receive: when the netlink socket is readable (uv_poll on the Node.js loop), packets are read with
 * recv(MSG_DONTWAIT) straight into one caller-owned ArrayBuffer (the arena) until EAGAIN, `max`
 * packets, or less than one maximal message of room is left; one header row per packet goes into a
 * caller-owned Uint32Array (ROW words each, layout in nfq-native.ts); then ONE JavaScript call
 * onBatch(count) sees them all. The arena is reused by the next batch.
 *
 * Verdicts: verdicts(h, cmds, n, packets) turns n commands (CMD words each) into NFQNL_MSG_VERDICT
 * (one packet) and NFQNL_MSG_VERDICT_BATCH (every queued packet up to an id) messages and sends them
 * all in one sendmsg (chunked at 64 KiB), on the calling thread or on the queue's sender thread
 * (tx.c); the kernel processes them in order. Which packets may go
 * in a batch verdict is decided by the caller (held packets must not).
 *
 * Control: bind, copy mode, queue length, flags (fail-open, GSO) are NFQNL_MSG_CONFIG messages with
 * NLM_F_ACK; packets that arrive while waiting for an ack are kept in the arena for the first batch.
 *
 * Errors: open throws an Error whose message names the step and errno (code = errno name); later
 * socket errors are counted in the stats array (index constants S_* below), never thrown.
 */
#define _GNU_SOURCE
#include "nfq.h"

static void throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
}

static void deliver(nfq_t *q);
static void release_refs(nfq_t *q);

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)events;
  nfq_t *q = (nfq_t *)h->data;
  if (q->closed) return;
  if (status < 0) { q->stats[S_RECV_ERRORS]++; return; }
  nl_read_ready(q, 0, NULL);
  deliver(q);
  tx_sync_stats(q);
}

/* Calls onBatch(count) once for the packets in the arena (if any), then starts a new batch. */
static void deliver(nfq_t *q) {
  if (q->count == 0 || q->in_cb) { if (!q->in_cb) q->off = 0; return; }
  napi_env env = q->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, argv[1], res;
  napi_get_reference_value(env, q->cb_ref, &cb);
  napi_get_global(env, &recv); /* MakeCallback needs an object receiver */
  napi_create_uint32(env, q->count, &argv[0]);
  q->stats[S_BATCHES]++;
  q->in_cb = 1;
  napi_status st = napi_make_callback(env, q->actx, recv, cb, 1, argv, &res);
  q->in_cb = 0;
  q->count = 0;
  q->off = 0;
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
  if (q->closed) release_refs(q); /* closed from inside onBatch */
}

static nfq_t *unwrap(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) { napi_throw_type_error(env, NULL, "not an nfq handle"); return NULL; }
  return (nfq_t *)p;
}

static void poll_closed(uv_handle_t *h) { free(h); }

static void shutdown_queue(nfq_t *q) {
  if (q->closed) return;
  q->closed = 1;
  if (q->poll) { uv_poll_stop(q->poll); uv_close((uv_handle_t *)q->poll, poll_closed); q->poll = NULL; }
  tx_stop(q); /* the verdicts handed to the sender thread go out before the unbind */
  if (q->fd >= 0) {
    uint8_t cmd = NFQNL_CFG_CMD_UNBIND;
    uint8_t buf[128];
    struct nlmsghdr *nlh = nl_put_header(buf, NFQNL_MSG_CONFIG, 0, q->queue, ++q->seq);
    nl_fill_cmd(nlh, &cmd);
    nl_send(q->fd, buf, nlh->nlmsg_len);
    close(q->fd);
    q->fd = -1;
  }
  if (!q->in_cb) release_refs(q); /* else deliver() releases them once onBatch has returned */
}

/* Drops the references to the arena, rows, stats and callback, and the async context. */
static void release_refs(nfq_t *q) {
  napi_env env = q->env;
  napi_delete_reference(env, q->arena_ref);
  napi_delete_reference(env, q->rows_ref);
  napi_delete_reference(env, q->stats_ref);
  napi_delete_reference(env, q->cb_ref);
  napi_async_destroy(env, q->actx);
  free(q->sendbuf);
  q->sendbuf = NULL;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  nfq_t *q = (nfq_t *)data;
  if (!q->closed) return; /* still bound: an open queue is never collected (cb_ref holds it) */
  free(q);
}

static int get_u32(napi_env env, napi_value obj, const char *name, uint32_t *out) {
  napi_value v;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return 0;
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

static int get_bool(napi_env env, napi_value obj, const char *name) {
  napi_value v;
  bool b = false;
  if (napi_get_named_property(env, obj, name, &v) == napi_ok) napi_get_value_bool(env, v, &b);
  return b;
}

static int typed_u32(napi_env env, napi_value v, uint32_t **data, size_t *len) {
  napi_typedarray_type t;
  size_t n; void *d; napi_value ab; size_t o;
  if (napi_get_typedarray_info(env, v, &t, &n, &d, &ab, &o) != napi_ok || t != napi_uint32_array) return 0;
  *data = (uint32_t *)d; *len = n;
  return 1;
}

/*
 * open({queue, copyRange, maxlen, flags, rcvbuf, sendThread}, arena: ArrayBuffer, rows: Uint32Array,
 *      stats: Float64Array, onBatch: (count) => void)
 * → {handle, rcMaxlen, rcFailOpen, rcGso, rcSendThread, pending}: rc* are 0 or an errno (the setting
 * was refused; a sender thread that could not start leaves verdicts on the calling thread);
 * pending = packets read while binding (call pump() for them).
 */
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) { napi_throw_type_error(env, NULL, "open(opts, arena, rows, stats, onBatch)"); return NULL; }
  uint32_t queue = 0, copy_range = 0xffff, maxlen = 0, rcvbuf = 0;
  if (!get_u32(env, argv[0], "queue", &queue) || queue > 65535) { napi_throw_range_error(env, NULL, "bad queue number"); return NULL; }
  get_u32(env, argv[0], "copyRange", &copy_range);
  get_u32(env, argv[0], "maxlen", &maxlen);
  get_u32(env, argv[0], "rcvbuf", &rcvbuf);
  int fail_open = get_bool(env, argv[0], "failOpen");
  int gso = get_bool(env, argv[0], "gso");
  int send_thread = get_bool(env, argv[0], "sendThread");
  void *arena; size_t arena_len;
  if (napi_get_arraybuffer_info(env, argv[1], &arena, &arena_len) != napi_ok || arena_len < 2 * MSG_MAX) {
    napi_throw_range_error(env, NULL, "arena must be an ArrayBuffer of at least 2 maximal messages (~130 KiB)"); return NULL;
  }
  uint32_t *rows; size_t rows_len;
  if (!typed_u32(env, argv[2], &rows, &rows_len) || rows_len < ROW) { napi_throw_type_error(env, NULL, "rows must be a Uint32Array"); return NULL; }
  napi_typedarray_type t; size_t slen; void *sdata; napi_value sab; size_t soff;
  if (napi_get_typedarray_info(env, argv[3], &t, &slen, &sdata, &sab, &soff) != napi_ok || t != napi_float64_array || slen < S_NSTATS) {
    napi_throw_type_error(env, NULL, "stats must be a Float64Array"); return NULL;
  }
  nfq_t *q = (nfq_t *)calloc(1, sizeof *q);
  q->env = env; q->queue = (uint16_t)queue; q->arena = (uint8_t *)arena; q->arena_len = arena_len;
  q->rows = rows; q->max = (uint32_t)(rows_len / ROW); q->stats = (double *)sdata;
  q->sendbuf = (uint8_t *)malloc(SEND_CHUNK + MSG_MAX);
  q->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (q->fd < 0) { int e = errno; free(q->sendbuf); free(q); throw_errno(env, "socket(AF_NETLINK, NETLINK_NETFILTER)", e); return NULL; }
  struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
  socklen_t sl = sizeof sa;
  if (bind(q->fd, (struct sockaddr *)&sa, sizeof sa) < 0 || getsockname(q->fd, (struct sockaddr *)&sa, &sl) < 0) {
    int e = errno; close(q->fd); free(q->sendbuf); free(q); throw_errno(env, "bind netlink socket", e); return NULL;
  }
  q->portid = sa.nl_pid;
  if (rcvbuf) {
    int v = (int)rcvbuf;
    if (setsockopt(q->fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) < 0) setsockopt(q->fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
  }
  uint8_t cmd = NFQNL_CFG_CMD_BIND;
  int rc = nl_config(q, nl_fill_cmd, &cmd);
  if (rc) {
    close(q->fd); free(q->sendbuf); free(q);
    char what[64];
    snprintf(what, sizeof what, "bind NFQUEUE %u", queue);
    throw_errno(env, what, rc);
    return NULL;
  }
  rc = nl_config(q, nl_fill_params, &copy_range);
  if (rc) {
    uint8_t un = NFQNL_CFG_CMD_UNBIND; nl_config(q, nl_fill_cmd, &un);
    close(q->fd); free(q->sendbuf); free(q);
    throw_errno(env, "set copy mode (NFQA_CFG_PARAMS)", rc);
    return NULL;
  }
  int rc_max = maxlen ? nl_config(q, nl_fill_maxlen, &maxlen) : 0;
  uint32_t fo[2] = { fail_open ? NFQA_CFG_F_FAIL_OPEN : 0, NFQA_CFG_F_FAIL_OPEN };
  int rc_fo = nl_config(q, nl_fill_flags, fo);
  uint32_t gs[2] = { gso ? NFQA_CFG_F_GSO : 0, NFQA_CFG_F_GSO };
  int rc_gso = nl_config(q, nl_fill_flags, gs);
  int rc_tx = send_thread ? tx_start(q) : 0;

  napi_create_reference(env, argv[1], 1, &q->arena_ref);
  napi_create_reference(env, argv[2], 1, &q->rows_ref);
  napi_create_reference(env, argv[3], 1, &q->stats_ref);
  napi_create_reference(env, argv[4], 1, &q->cb_ref);
  napi_value name;
  napi_create_string_utf8(env, "p2pgw:nfq", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &q->actx);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  q->poll = (uv_poll_t *)malloc(sizeof(uv_poll_t));
  uv_poll_init(loop, q->poll, q->fd);
  q->poll->data = q;
  uv_poll_start(q->poll, UV_READABLE, on_poll);

  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_external(env, q, finalize, NULL, &v);
  napi_set_named_property(env, out, "handle", v);
  napi_create_int32(env, rc_max, &v); napi_set_named_property(env, out, "rcMaxlen", v);
  napi_create_int32(env, rc_fo, &v); napi_set_named_property(env, out, "rcFailOpen", v);
  napi_create_int32(env, rc_gso, &v); napi_set_named_property(env, out, "rcGso", v);
  napi_create_int32(env, rc_tx, &v); napi_set_named_property(env, out, "rcSendThread", v);
  napi_create_uint32(env, q->count, &v); napi_set_named_property(env, out, "pending", v);
  napi_create_uint32(env, q->portid, &v); napi_set_named_property(env, out, "portId", v);
  return out;
}

/* pump(h): reads what is ready and delivers it now (packets left from binding; tests). */
static napi_value Pump(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nfq_t *q = unwrap(env, argv[0]);
  if (!q || q->closed || q->in_cb) return NULL;
  nl_read_ready(q, 0, NULL);
  deliver(q);
  return NULL;
}

/* Sends (or hands to the sender thread) the first `used` bytes of the send buffer. */
static void send_chunk(nfq_t *q, size_t used, int *err, double *total) {
  if (q->tx.on) {
    tx_send(q, q->sendbuf, used);
    *total += used;
    return;
  }
  if (nl_send(q->fd, q->sendbuf, used) < 0) { *err = errno; q->stats[S_SEND_ERRORS]++; q->stats[S_LAST_ERRNO] = *err; }
  else { *total += used; q->stats[S_SENDS]++; }
}

/*
 * verdicts(h, cmds: Uint32Array, n, packets: (Uint8Array|undefined)[] | null) → bytes sent, or
 * -errno (with the sender thread: bytes handed to it; its send errors are counted). Command i is cmds[4i..4i+3] = id, verdict (NF_*), mark, flags (CMD_*; packet index << 8).
 */
static napi_value Verdicts(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nfq_t *q = unwrap(env, argv[0]);
  if (!q) return NULL;
  uint32_t *cmds; size_t clen; uint32_t n = 0;
  if (!typed_u32(env, argv[1], &cmds, &clen)) { napi_throw_type_error(env, NULL, "cmds must be a Uint32Array"); return NULL; }
  napi_get_value_uint32(env, argv[2], &n);
  if ((size_t)n * CMD > clen) { napi_throw_range_error(env, NULL, "n exceeds cmds"); return NULL; }
  napi_value res;
  if (q->closed) { napi_create_int32(env, -EBADF, &res); return res; }
  size_t used = 0;
  double total = 0;
  int err = 0;
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t *c = cmds + (size_t)i * CMD;
    const void *pkt = NULL; size_t plen = 0;
    if (c[3] & CMD_PKT) {
      napi_value arr, el; void *d; size_t l; napi_typedarray_type t; napi_value ab; size_t o;
      arr = argv[3];
      if (napi_get_element(env, arr, c[3] >> 8, &el) == napi_ok &&
          napi_get_typedarray_info(env, el, &t, &l, &d, &ab, &o) == napi_ok && t == napi_uint8_array && l <= 0xffff) {
        pkt = d; plen = l;
      }
    }
    size_t need = NLMSG_LENGTH(sizeof(struct nfgenmsg)) + 3 * NLA_HDRLEN + 12 + NLA_ALIGN(plen);
    if (used && used + need > SEND_CHUNK) {
      send_chunk(q, used, &err, &total);
      used = 0;
    }
    struct nlmsghdr *nlh = nl_put_header(q->sendbuf + used, (c[3] & CMD_BATCH) ? NFQNL_MSG_VERDICT_BATCH : NFQNL_MSG_VERDICT, 0, q->queue, 0);
    struct nfqnl_msg_verdict_hdr vh = { .verdict = htonl(c[1]), .id = htonl(c[0]) };
    nl_put_attr(nlh, NFQA_VERDICT_HDR, &vh, sizeof vh);
    if (c[3] & CMD_MARK) nl_put_u32(nlh, NFQA_MARK, c[2]);
    if (pkt && !(c[3] & CMD_BATCH)) nl_put_attr(nlh, NFQA_PAYLOAD, pkt, (uint32_t)plen);
    used += NLMSG_ALIGN(nlh->nlmsg_len);
  }
  if (used) send_chunk(q, used, &err, &total);
  tx_sync_stats(q);
  napi_create_double(env, err ? -err : total, &res);
  return res;
}

/* close(h): stops polling, unbinds the queue (the kernel drops what is still queued), closes the socket. */
static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nfq_t *q = unwrap(env, argv[0]);
  if (q) shutdown_queue(q);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
    { "open", NULL, Open, NULL, NULL, NULL, napi_default, NULL },
    { "pump", NULL, Pump, NULL, NULL, NULL, napi_default, NULL },
    { "verdicts", NULL, Verdicts, NULL, NULL, NULL, napi_default, NULL },
    { "close", NULL, Close, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  napi_value v;
  napi_create_uint32(env, 2, &v); /* ABI version of this addon, checked by nfq-native.ts */
  napi_set_named_property(env, exports, "abi", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
