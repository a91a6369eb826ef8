/**
 * NFQUEUE in batches, over p2pgw's own addon (src/capture/native/nfq.c): one JavaScript call per
 * batch of packets read from the socket, one sendmsg per batch of verdicts. Same contract as the
 * `nfqueue` wrapper (./nfq.ts): every packet must get exactly one verdict(), given inside onPacket or
 * later; close() accepts what is still waiting; `repeat` without a mark, or with the mark the packet
 * was queued with, becomes `accept` (counted: it would be queued again).
 *
 * Memory: payloads are views into one reused ArrayBuffer (the arena). A payload is valid until
 * onPacket of the NEXT batch: whoever keeps packet bytes longer (held packets, out-of-order
 * segments) must copy them. With P2PGW_NFQ_POISON=1 the arena is overwritten after each batch, so
 * a consumer that forgot to copy sees garbage (tests). The QueuedPacket object handed to onPacket
 * is reused for every packet.
 *
 * Verdicts: verdict() stages; the stage is planned (./verdict-plan.ts: batch commands for runs of
 * identical verdicts, never reaching a held packet) and sent when the batch's callbacks are done, or,
 * for a verdict given outside a batch (a scan finished, a timer), in a microtask.
 */
import { P2pgwError } from '../core/errors.js';
import { readQueueStats } from './nfqstats.js';
import { CMD, CMD_BATCH, NF_ACCEPT, NF_DROP, NF_REPEAT, ROW, S, SENDQ_HIST, SKB_CSUMNOTREADY, SKB_GSO, ROW_TRUNC, loadNfqNative, type NfqNative } from './nfq-native.js';
import { VerdictStage, idBefore } from './verdict-plan.js';
import { padGsoReplacement } from './gso-pad.js';
import type { NfQueueOptions, VerdictName } from './nfq.js';

/** Options of the batch queue: the wrapper's plus GSO and batch sizes. */
export interface NfqBatchOptions extends NfQueueOptions {
  /** NFQA_CFG_F_GSO: take GSO super-packets whole (checksums may be left to the NIC). */
  gso: boolean;
  /** Most packets per batch (header rows). */
  batch: number;
  /** Arena size, bytes; at least 2 × 66.5 KiB. */
  arenaBytes: number;
  /** Verdicts sent by the addon's sender thread (src/capture/native/tx.c); absent: false. */
  sendThread?: boolean;
}

/** One queued packet (the same object for every packet: copy what you keep). */
export interface BatchPacket {
  id: number;
  /** From the IP header on; a view into the arena, valid until the next batch. */
  payload: Uint8Array;
  mark: number;
  indev: number;
  outdev: number;
  /** NFQA_SKB_* bits (SKB_CSUMNOTREADY, SKB_GSO, SKB_CSUM_NOTVERIFIED) and ROW_TRUNC. */
  flags: number;
}

export interface NfqBatchStats {
  received: number; accept: number; drop: number; repeat: number; marked: number;
  repeatWithoutMark: number; repeatSameMark: number; unknownId: number; afterClose: number; callbackErrors: number;
  flushedOnClose: number; rewritten: number;
  /** Largest packet received, and largest packet replaced by a rewrite (e.g. a RST for a GSO super-packet), bytes. */
  maxPacket: number; rewrittenMaxLen: number;
  /** Replacements of GSO packets padded to the original's length (./gso-pad.ts). */
  gsoPadded: number;
  /** Batches delivered, largest batch, verdict commands sent as batch / single messages. */
  batches: number; maxBatch: number; batchVerdicts: number; singleVerdicts: number;
  /** Packets with NFQA_SKB_GSO / NFQA_SKB_CSUMNOTREADY / cut at the copy range. */
  gso: number; csumNotReady: number; truncated: number;
  /** From the addon: sendmsg calls, socket overruns (ENOBUFS), errors the kernel reported for verdicts. */
  sends: number; enobufs: number; verdictErrors: number; sendErrors: number; recvErrors: number; lastErrno: number;
  /** The last message the kernel refused: NFQNL_MSG_* type (1 verdict, 3 batch verdict) and its id. */
  lastErrorType: number; lastErrorId: number;
  /**
   * The sender thread (false: verdicts are sent on the JavaScript thread): peak bytes waiting for
   * it, times a verdict call waited for room, longest wait and the p99 wait of a chunk from
   * hand-over to its sendmsg (µs; p99 as the upper edge of its log2 bucket).
   */
  sendThread: boolean; sendqPeak: number; sendqFull: number; sendqWaitMaxUs: number; sendqWaitP99Us: number;
}

export interface BatchHooks {
  /** Called when onPacket throws (the packet is accepted). */
  onError?: (err: unknown, packet: BatchPacket) => void;
  /** Called after each batch, once its verdicts were sent (tests). */
  onBatchEnd?: (count: number) => void;
  /**
   * Called for each sendmsg of verdicts within a batch (tracing): `n` verdicts, `waitMs` from the
   * batch's arrival in JavaScript to this send, `sendMs` for the sendmsg (in which the kernel
   * re-injects and forwards the packets).
   */
  onFlush?: (n: number, waitMs: number, sendMs: number) => void;
  /** Use this addon instead of the built one (tests). */
  native?: NfqNative;
  /** Kernel queue stats reader for drain(). */
  readStats?: (num: number) => { queueTotal: number } | null;
}

/** p99 of a log2 histogram (bucket k: [2^k, 2^(k+1)) µs; k = 0 from 0), as its bucket's upper edge, µs; 0 when empty. */
export function histP99(hist: ArrayLike<number>): number {
  let total = 0;
  for (let k = 0; k < hist.length; k++) total += hist[k];
  if (total === 0) return 0;
  let seen = 0;
  for (let k = 0; k < hist.length; k++) {
    seen += hist[k];
    if (seen >= 0.99 * total) return 2 ** (k + 1);
  }
  return 2 ** hist.length;
}

const CODES: Record<VerdictName, number> = { accept: NF_ACCEPT, drop: NF_DROP, repeat: NF_REPEAT };
/** Payload lengths are below 2^17 (copy range 0xffff): mark, GSO bit and length share one number (< 2^50). */
const LEN_SPAN = 1 << 17;

export class NfqBatch {
  readonly warnings: string[] = [];
  private readonly counts = {
    received: 0, accept: 0, drop: 0, repeat: 0, marked: 0, repeatWithoutMark: 0, repeatSameMark: 0, unknownId: 0, afterClose: 0,
    callbackErrors: 0, flushedOnClose: 0, rewritten: 0, maxPacket: 0, rewrittenMaxLen: 0, gsoPadded: 0, batches: 0, maxBatch: 0, batchVerdicts: 0, singleVerdicts: 0,
    gso: 0, csumNotReady: 0, truncated: 0,
  };
  /** Packets waiting for a verdict and not staged: id → (queued mark × 2 + GSO bit) × 2^17 + length. */
  private readonly pendingIds = new Map<number, number>();
  private readonly stage = new VerdictStage();
  private readonly arena: ArrayBuffer;
  private readonly arenaBytes: Uint8Array;
  private readonly rows: Uint32Array;
  private readonly nstats = new Float64Array(S.count);
  private readonly pkt: BatchPacket = { id: 0, payload: new Uint8Array(0), mark: 0, indev: 0, outdev: 0, flags: 0 };
  private handle: object | null = null;
  private sendThread = false;
  private inBatch = false;
  private flushQueued = false;
  private closed = false;
  private readonly poison = process.env.P2PGW_NFQ_POISON === '1';
  /** When the current batch reached JavaScript (performance.now(), ms). */
  private batchStart = 0;
  /**
   * A batch that takes longer than this (ms) sends the verdicts it has so far, so a packet that
   * is not held waits at most about this long in user space, whatever the batch size.
   */
  private static readonly FLUSH_AFTER_MS = 0.5;

  private constructor(
    readonly options: Readonly<NfqBatchOptions>,
    private readonly native: NfqNative,
    private readonly onPacket: (p: BatchPacket) => void,
    private readonly hooks: BatchHooks,
  ) {
    this.arena = new ArrayBuffer(options.arenaBytes);
    this.arenaBytes = new Uint8Array(this.arena);
    this.rows = new Uint32Array(options.batch * ROW);
  }

  /**
   * Binds queue `opts.num` and starts delivering packets to `onPacket`, batch by batch.
   * @throws P2pgwError MISSING_FEATURE (addon not built), NOT_ROOT, NFQUEUE (bind refused: the queue
   *   is bound by another process, no nfnetlink_queue module), with the reason
   */
  static open(opts: NfqBatchOptions, onPacket: (p: BatchPacket) => void, hooks: BatchHooks = {}): NfqBatch {
    const lim = { num: 65535, maxlen: 0xffffffff, rcvbuf: 0xffffffff, batch: 65536, arenaBytes: 1 << 30 } as const;
    for (const k of Object.keys(lim) as (keyof typeof lim)[]) {
      const v = opts[k];
      if (!Number.isInteger(v) || v < 0 || v > lim[k]) throw new P2pgwError('P2PGW_ERR_NFQUEUE', `invalid queue option ${k}: ${v}`);
    }
    if (opts.arenaBytes < 2 * 68 * 1024 || opts.batch < 1) {
      throw new P2pgwError('P2PGW_ERR_NFQUEUE', `invalid queue options: arena ${opts.arenaBytes} bytes (>= 139264) and batch ${opts.batch} (>= 1)`);
    }
    const native = hooks.native ?? loadNfqNative();
    const self = new NfqBatch(Object.freeze({ ...opts }), native, onPacket, hooks);
    let r;
    try {
      r = native.open(
        { queue: opts.num, copyRange: 0xffff, maxlen: opts.maxlen, rcvbuf: opts.rcvbuf, failOpen: opts.failOpen, gso: opts.gso, sendThread: !!opts.sendThread },
        self.arena, self.rows, self.nstats, (count) => self.onBatch(count),
      );
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      const notRoot = typeof process.getuid === 'function' && process.getuid() !== 0;
      const hint = notRoot
        ? 'binding a queue needs root or CAP_NET_ADMIN'
        : /busy|not permitted/i.test(msg)
          ? `queue ${opts.num} is bound by another process (a running p2pgw?): see /proc/net/netfilter/nfnetlink_queue`
          : 'is the nfnetlink_queue kernel module available (`modprobe nfnetlink_queue`)?';
      throw new P2pgwError(notRoot ? 'P2PGW_ERR_NOT_ROOT' : 'P2PGW_ERR_NFQUEUE', `cannot bind NFQUEUE ${opts.num}: ${msg}; ${hint}`, { cause: err });
    }
    self.handle = r.handle;
    if (r.rcMaxlen) self.warnings.push(`the kernel refused queue maxlen ${opts.maxlen} (errno ${r.rcMaxlen}); its default (1024 packets) applies`);
    if (r.rcFailOpen) {
      self.warnings.push(`the kernel refused fail-open ${opts.failOpen ? 'on' : 'off'} (errno ${r.rcFailOpen}; needs Linux >= 3.6)` +
        (opts.failOpen ? ': packets are dropped when the queue is full' : ''));
    }
    self.sendThread = !!opts.sendThread && !r.rcSendThread;
    if (opts.sendThread && r.rcSendThread) self.warnings.push(`the verdict sender thread did not start (errno ${r.rcSendThread}): verdicts are sent from the JavaScript thread`);
    if (r.rcGso && opts.gso) self.warnings.push(`the kernel refused GSO (errno ${r.rcGso}; needs Linux >= 3.10): it segments packets before queueing them`);
    if (r.pending) setImmediate(() => self.handle && !self.closed && native.pump(self.handle));
    return self;
  }

  /** Packets received and still waiting for a verdict (held, or staged but not yet sent). */
  get pending(): number {
    return this.pendingIds.size + this.stage.n;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Counters of this side and of the addon (a fresh object). */
  get stats(): NfqBatchStats {
    const s = this.nstats;
    return {
      ...this.counts, sends: s[S.sends], enobufs: s[S.enobufs], verdictErrors: s[S.verdictErrors], sendErrors: s[S.sendErrors],
      recvErrors: s[S.recvErrors], lastErrno: s[S.lastErrno], lastErrorType: s[S.errType], lastErrorId: s[S.errId],
      sendThread: this.sendThread, sendqPeak: s[S.sendqPeak], sendqFull: s[S.sendqFull], sendqWaitMaxUs: Math.round(s[S.sendqWaitMax]),
      sendqWaitP99Us: histP99(s.subarray(S.sendqHist0, S.sendqHist0 + SENDQ_HIST)),
    };
  }

  /**
   * Judges packet `id` (staged; sent at the end of the batch, or in a microtask). `repeat` needs a
   * non-zero mark (else it becomes accept, counted: the packet would loop in the kernel).
   */
  verdict(id: number, v: VerdictName, mark?: number, packet?: Uint8Array): void {
    const c = this.counts;
    if (this.closed) {
      c.afterClose++;
      return;
    }
    const info = this.pendingIds.get(id);
    if (info === undefined) {
      c.unknownId++;
      return;
    }
    const queuedMark = Math.floor(info / (2 * LEN_SPAN));
    const len = info % LEN_SPAN;
    this.pendingIds.delete(id);
    let verdict = v;
    if (verdict === 'repeat' && !mark) {
      c.repeatWithoutMark++;
      verdict = 'accept';
    } else if (verdict === 'repeat' && mark! >>> 0 === queuedMark) {
      // Queued with this mark already (the inspect rule restores it from the connmark): a repeat
      // would queue it again.
      c.repeatSameMark++;
      verdict = 'accept';
    }
    if (packet) {
      c.rewritten++;
      c.rewrittenMaxLen = Math.max(c.rewrittenMaxLen, len);
      // A GSO packet's replacement must stay longer than one segment (./gso-pad.ts).
      if (Math.floor(info / LEN_SPAN) % 2 && packet.length < len) {
        packet = padGsoReplacement(packet, len);
        c.gsoPadded++;
      }
    }
    if (mark !== undefined) c.marked++;
    c[verdict]++;
    this.stage.add(id, CODES[verdict], mark === undefined ? undefined : mark >>> 0, packet);
    if (!this.inBatch && !this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => {
        this.flushQueued = false;
        this.flush();
      });
    }
  }

  /**
   * Waits (yielding to the event loop) until every packet the kernel holds for this queue has been
   * delivered here (/proc's queue_total is no more than `pending`). False on timeout.
   */
  async drain(timeoutMs = 1000): Promise<boolean> {
    const read = this.hooks.readStats ?? ((n: number) => readQueueStats(n));
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (this.closed) return true;
      this.flush();
      const st = read(this.options.num);
      if (!st || st.queueTotal <= this.pendingIds.size) return true;
      if (Date.now() >= end) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Accepts what is still waiting (one batch verdict), unbinds and closes the socket. Idempotent. */
  close(): void {
    if (this.closed || !this.handle) return;
    this.flush();
    let last: number | null = null;
    for (const id of this.pendingIds.keys()) if (last === null || idBefore(last, id)) last = id;
    if (last !== null) {
      // Everything still queued is ours and gets accepted: one batch command up to the newest id.
      this.counts.flushedOnClose += this.pendingIds.size;
      this.native.verdicts(this.handle, new Uint32Array([last, NF_ACCEPT, 0, CMD_BATCH]), 1, null);
      this.pendingIds.clear();
    }
    this.closed = true;
    this.native.close(this.handle);
  }

  /** Sends the staged verdicts. */
  flush(): void {
    const st = this.stage;
    if (st.n === 0 || !this.handle || this.closed) return;
    let held: number | null = null;
    for (const id of this.pendingIds.keys()) if (held === null || idBefore(id, held)) held = id;
    const k = st.plan(held);
    const cmds = st.cmds;
    for (let i = 0; i < k; i++) {
      if (cmds[i * CMD + 3] & CMD_BATCH) this.counts.batchVerdicts++;
      else this.counts.singleVerdicts++;
    }
    this.native.verdicts(this.handle, cmds, k, st.packets.length ? st.packets : null);
    st.reset();
  }

  /** The addon's callback: `count` packets are in the rows and the arena. */
  private onBatch(count: number): void {
    if (this.closed) return;
    this.batchStart = performance.now();
    const c = this.counts;
    c.batches++;
    if (count > c.maxBatch) c.maxBatch = count;
    this.inBatch = true;
    const rows = this.rows;
    const p = this.pkt;
    let end = 0;
    try {
      for (let i = 0; i < count; i++) {
        const o = i * ROW;
        const id = rows[o];
        const off = rows[o + 1];
        const len = rows[o + 2];
        const flags = rows[o + 6];
        if (off + len > end) end = off + len;
        this.pendingIds.set(id, (rows[o + 3] * 2 + (flags & SKB_GSO ? 1 : 0)) * LEN_SPAN + len);
        if (len > c.maxPacket) c.maxPacket = len;
        c.received++;
        if (flags & SKB_GSO) c.gso++;
        if (flags & SKB_CSUMNOTREADY) c.csumNotReady++;
        if (flags & ROW_TRUNC) c.truncated++;
        p.id = id;
        p.payload = new Uint8Array(this.arena, off, len);
        p.mark = rows[o + 3];
        p.indev = rows[o + 4];
        p.outdev = rows[o + 5];
        p.flags = flags;
        // Every 8 packets: a batch that has taken long (new flows, a slow inspector) sends what it has.
        if ((i & 7) === 7 && performance.now() - this.batchStart > NfqBatch.FLUSH_AFTER_MS) this.flushTimed();
        try {
          this.onPacket(p);
        } catch (err) {
          c.callbackErrors++;
          if (this.pendingIds.has(id)) this.verdict(id, 'accept');
          try {
            this.hooks.onError?.(err, p);
          } catch {
            /* ignore */
          }
        }
      }
    } finally {
      this.inBatch = false;
      this.flushTimed();
      if (this.poison) this.arenaBytes.fill(0xaa, 0, end);
    }
    this.hooks.onBatchEnd?.(count);
  }

  /** flush() within a batch, timed for onFlush. */
  private flushTimed(): void {
    const n = this.stage.n;
    if (!this.hooks.onFlush) return this.flush();
    const t1 = performance.now();
    this.flush();
    this.hooks.onFlush(n, t1 - this.batchStart, performance.now() - t1);
  }
}
