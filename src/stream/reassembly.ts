/**
 * TCP stream reassembly for one connection (RFC 9293 §3.4 sequence space, §3.10.7.4 segment
 * arrival). Delivers each direction's bytes to a StreamConsumer in sequence order, exactly once:
 * retransmitted bytes are dropped, partial overlaps deliver only the new bytes, and out-of-order
 * segments are buffered up to per-direction caps. When a cap is hit the missing range is declared
 * a gap (`onGap`) and delivery resumes at the earliest buffered segment (counted event
 * `reassembly_ooo_cap`).
 *
 * Offsets are absolute stream offsets (JS numbers, safe past 2^32); sequence numbers wrap modulo
 * 2^32 and are compared with signed 32-bit differences (RFC 1982 style).
 */
import { TCP_FIN, TCP_RST, TCP_SYN } from '../decode/types.js';
import type { Counters } from '../core/counters.js';
import type { Dir, StreamConsumer } from '../core/types.js';

/** Caps for one connection's reassembly buffers. */
export interface ReassemblyLimits {
  /** Out-of-order bytes buffered per direction. */
  maxOooBytesPerDir: number;
  /** Out-of-order segments buffered per direction. */
  maxOooSegmentsPerDir: number;
}

/** What happened to one segment, for statistics and the later hold/verdict logic. */
export type SegmentOutcome = 'empty' | 'in-order' | 'partial-overlap' | 'retransmit' | 'out-of-order' | 'after-end';

interface Pending {
  off: number;
  bytes: Uint8Array;
}

/** The out-of-order list of a direction that never had one (shared, never mutated: no array per flow). */
const NO_PENDING: Pending[] = Object.freeze([]) as unknown as Pending[];

class DirState {
  /** Sequence number that maps to stream offset `nextOff`. */
  nextSeq = 0;
  /** Next stream offset expected (everything before it was delivered or declared a gap). */
  nextOff = 0;
  started = false;
  ended = false;
  /** Stream offset of the FIN, once seen. */
  finOff = -1;
  /** Out-of-order segments by offset; NO_PENDING until the first one (most flows never have one). */
  pending: Pending[] = NO_PENDING;
  pendingBytes = 0;
}

/** Signed distance a − b in 32-bit sequence space. */
const seqDiff = (a: number, b: number): number => (a - b) | 0;

export class TcpReassembler {
  private readonly dirs: [DirState, DirState] = [new DirState(), new DirState()];

  constructor(
    private consumer: StreamConsumer,
    private readonly limits: ReassemblyLimits,
    private readonly counters?: Counters,
  ) {}

  /** Next expected absolute stream offset of `dir` (bytes delivered or skipped so far). */
  nextOffset(dir: Dir): number {
    return this.dirs[dir].nextOff;
  }

  /** Hands the stream to another consumer (classification done → content inspection). */
  setConsumer(consumer: StreamConsumer): void {
    this.consumer = consumer;
  }

  /**
   * Sequence number expected next in `dir`, or null before the first segment of that direction.
   * Used by the hold logic of inspected flows, which keeps out-of-order packets itself.
   */
  expectedSeq(dir: Dir): number | null {
    const st = this.dirs[dir];
    return st.started ? st.nextSeq : null;
  }

  /** True once `dir` ended (FIN delivered or RST). */
  ended(dir: Dir): boolean {
    return this.dirs[dir].ended;
  }

  /** Bytes currently buffered out of order in `dir`. */
  bufferedBytes(dir: Dir): number {
    return this.dirs[dir].pendingBytes;
  }

  /**
   * Feeds one TCP segment of direction `dir`.
   * @param seq sequence number (uint32) of the segment
   * @param flags TCP flag bits (SYN consumes one sequence number, FIN one after the data)
   * @param payload segment payload (copied if buffered)
   * @returns what happened to the payload bytes
   */
  segment(dir: Dir, seq: number, flags: number, payload: Uint8Array): SegmentOutcome {
    const st = this.dirs[dir];
    if (flags & TCP_RST) {
      this.end(0);
      this.end(1);
      return payload.length ? 'after-end' : 'empty';
    }
    if (st.ended) return payload.length ? 'after-end' : 'empty';
    if (!st.started) {
      st.started = true;
      // With a SYN the first data byte is seq+1; mid-stream we start at the first segment seen.
      st.nextSeq = flags & TCP_SYN ? (seq + 1) >>> 0 : seq >>> 0;
    }
    const dataSeq = flags & TCP_SYN ? (seq + 1) >>> 0 : seq >>> 0;
    const off = st.nextOff + seqDiff(dataSeq, st.nextSeq);
    if (flags & TCP_FIN && st.finOff < 0) st.finOff = off + payload.length;

    let outcome: SegmentOutcome;
    if (payload.length === 0) {
      outcome = 'empty';
    } else if (off + payload.length <= st.nextOff) {
      if (this.counters) this.counters.hot.tcp_retransmit++;
      outcome = 'retransmit';
    } else if (off <= st.nextOff) {
      outcome = off < st.nextOff ? 'partial-overlap' : 'in-order';
      if (off < st.nextOff) this.counters?.inc('tcp_partial_overlap');
      this.deliver(dir, payload.subarray(st.nextOff - off));
      this.drain(dir);
    } else {
      outcome = 'out-of-order';
      this.buffer(dir, off, payload);
    }
    if (st.finOff >= 0 && st.nextOff >= st.finOff) this.end(dir);
    return outcome;
  }

  /** Ends both directions now (flow expired or closed): pending data after a hole becomes a gap. */
  close(): void {
    for (const dir of [0, 1] as const) {
      const st = this.dirs[dir];
      if (st.ended) continue;
      if (st.pending.length) {
        this.skipToFirstPending(dir);
        this.drain(dir);
      }
      this.end(dir);
    }
  }

  private deliver(dir: Dir, bytes: Uint8Array): void {
    const st = this.dirs[dir];
    st.nextOff += bytes.length;
    st.nextSeq = (st.nextSeq + bytes.length) >>> 0;
    if (bytes.length) this.consumer.onData(dir, bytes);
  }

  private buffer(dir: Dir, off: number, payload: Uint8Array): void {
    const st = this.dirs[dir];
    if (
      st.pending.length >= this.limits.maxOooSegmentsPerDir ||
      st.pendingBytes + payload.length > this.limits.maxOooBytesPerDir
    ) {
      this.counters?.inc('reassembly_ooo_cap');
      if (st.pending.length === 0) {
        // Nothing buffered: the hole before this segment is a gap; deliver the segment itself.
        this.gap(dir, off - st.nextOff);
        this.deliver(dir, payload);
        return;
      }
      this.skipToFirstPending(dir);
      this.drain(dir);
      // Retry now that the buffer has drained as far as it can.
      this.segmentAtOffset(dir, off, payload);
      return;
    }
    if (st.pending === NO_PENDING) st.pending = [];
    let i = st.pending.length;
    while (i > 0 && st.pending[i - 1].off > off) i--;
    st.pending.splice(i, 0, { off, bytes: payload.slice() });
    st.pendingBytes += payload.length;
    if (this.counters) this.counters.hot.tcp_out_of_order++;
  }

  private segmentAtOffset(dir: Dir, off: number, payload: Uint8Array): void {
    const st = this.dirs[dir];
    if (off + payload.length <= st.nextOff) return;
    if (off <= st.nextOff) {
      this.deliver(dir, payload.subarray(st.nextOff - off));
      this.drain(dir);
    } else {
      this.buffer(dir, off, payload);
    }
  }

  private skipToFirstPending(dir: Dir): void {
    const st = this.dirs[dir];
    const first = st.pending[0];
    if (first && first.off > st.nextOff) this.gap(dir, first.off - st.nextOff);
  }

  private gap(dir: Dir, len: number): void {
    const st = this.dirs[dir];
    st.nextOff += len;
    st.nextSeq = (st.nextSeq + len) >>> 0;
    this.counters?.inc('reassembly_gap');
    this.consumer.onGap(dir, len);
  }

  private drain(dir: Dir): void {
    const st = this.dirs[dir];
    while (st.pending.length && st.pending[0].off <= st.nextOff) {
      const p = st.pending.shift()!;
      st.pendingBytes -= p.bytes.length;
      const end = p.off + p.bytes.length;
      if (end > st.nextOff) this.deliver(dir, p.bytes.subarray(st.nextOff - p.off));
    }
  }

  private end(dir: Dir): void {
    const st = this.dirs[dir];
    if (st.ended) return;
    st.ended = true;
    st.pending = NO_PENDING;
    st.pendingBytes = 0;
    this.consumer.onEnd(dir);
  }
}
