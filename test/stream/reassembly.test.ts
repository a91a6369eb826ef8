import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { TcpReassembler } from '../../src/stream/reassembly.js';
import { TCP_FIN, TCP_SYN, TCP_RST } from '../../src/decode/types.js';
import { Counters } from '../../src/core/counters.js';
import type { Dir } from '../../src/stream/types.js';

/** Collects what the consumer receives, per direction. */
function sink() {
  const data: [number[], number[]] = [[], []];
  const gaps: [number[], number[]] = [[], []];
  const ends: [number, number] = [0, 0];
  return {
    data, gaps, ends,
    consumer: {
      onData: (d: Dir, b: Uint8Array) => data[d].push(...b),
      onGap: (d: Dir, len: number) => gaps[d].push(len),
      onEnd: (d: Dir) => ends[d]++,
    },
  };
}

const LIMITS = { maxOooBytesPerDir: 1 << 20, maxOooSegmentsPerDir: 1000 };
const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe('TcpReassembler', () => {
  it('delivers in-order data after a SYN from seq+1 and ends at FIN', () => {
    const s = sink();
    const r = new TcpReassembler(s.consumer, LIMITS);
    const isn = 0xfffffff0; // wraps during the stream
    r.segment(0, isn, TCP_SYN, new Uint8Array());
    const d = bytes(40);
    expect(r.segment(0, (isn + 1) >>> 0, 0, d.subarray(0, 20))).toBe('in-order');
    expect(r.segment(0, (isn + 21) >>> 0, TCP_FIN, d.subarray(20))).toBe('in-order');
    expect(s.data[0]).toEqual([...d]);
    expect(s.ends[0]).toBe(1);
  });

  it('does not feed retransmitted bytes twice and delivers only new bytes of a partial overlap', () => {
    const s = sink();
    const c = new Counters();
    const r = new TcpReassembler(s.consumer, LIMITS, c);
    const d = bytes(30);
    r.segment(1, 1000, 0, d.subarray(0, 10));
    expect(r.segment(1, 1000, 0, d.subarray(0, 10))).toBe('retransmit');
    expect(r.segment(1, 1005, 0, d.subarray(5, 20))).toBe('partial-overlap');
    expect(s.data[1]).toEqual([...d.subarray(0, 20)]);
    expect(c.get('tcp_retransmit')).toBe(1);
    expect(c.get('tcp_partial_overlap')).toBe(1);
  });

  it('buffers out-of-order segments and releases them when the hole fills', () => {
    const s = sink();
    const r = new TcpReassembler(s.consumer, LIMITS);
    const d = bytes(30);
    r.segment(0, 1, 0, d.subarray(0, 10));
    expect(r.segment(0, 21, 0, d.subarray(20, 30))).toBe('out-of-order');
    expect(s.data[0].length).toBe(10);
    expect(r.bufferedBytes(0)).toBe(10);
    r.segment(0, 11, 0, d.subarray(10, 20));
    expect(s.data[0]).toEqual([...d]);
    expect(r.bufferedBytes(0)).toBe(0);
  });

  it('declares a gap when the out-of-order cap is hit and resumes at the buffered data', () => {
    const s = sink();
    const c = new Counters();
    const r = new TcpReassembler(s.consumer, { maxOooBytesPerDir: 15, maxOooSegmentsPerDir: 10 }, c);
    const d = bytes(60);
    r.segment(0, 0, 0, d.subarray(0, 10)); // next = 10; 10..20 is lost
    r.segment(0, 20, 0, d.subarray(20, 30)); // buffered (10 bytes)
    r.segment(0, 30, 0, d.subarray(30, 40)); // would exceed 15 → gap of 10, deliver 20..40
    expect(s.gaps[0]).toEqual([10]);
    expect(s.data[0]).toEqual([...d.subarray(0, 10), ...d.subarray(20, 40)]);
    expect(c.get('reassembly_ooo_cap')).toBe(1);
    expect(c.get('reassembly_gap')).toBe(1);
  });

  it('close() turns a remaining hole into a gap and delivers what was buffered', () => {
    const s = sink();
    const r = new TcpReassembler(s.consumer, LIMITS);
    const d = bytes(30);
    r.segment(0, 0, 0, d.subarray(0, 10));
    r.segment(0, 20, 0, d.subarray(20, 30));
    r.close();
    expect(s.gaps[0]).toEqual([10]);
    expect(s.data[0]).toEqual([...d.subarray(0, 10), ...d.subarray(20, 30)]);
    expect(s.ends).toEqual([1, 1]);
  });

  it('RST ends both directions once', () => {
    const s = sink();
    const r = new TcpReassembler(s.consumer, LIMITS);
    r.segment(0, 5, 0, bytes(3));
    r.segment(1, 9, TCP_RST, new Uint8Array());
    r.segment(0, 8, TCP_FIN, new Uint8Array());
    expect(s.ends).toEqual([1, 1]);
  });

  it('delivers every byte exactly once whatever the segmentation, order and duplication (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 400 }),
        fc.array(fc.integer({ min: 1, max: 399 }), { maxLength: 30 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (len, cuts, isn, order, dups) => {
          const d = bytes(len, 7);
          const points = [...new Set([0, ...cuts.filter((x) => x < len), len])].sort((a, b) => a - b);
          const segs = points.slice(0, -1).map((p, i) => ({ off: p, end: points[i + 1] }));
          // shuffle deterministically by `order`, then add duplicates
          for (let i = segs.length - 1; i > 0; i--) {
            const j = (order[i % Math.max(order.length, 1)] ?? 0) % (i + 1);
            [segs[i], segs[j]] = [segs[j], segs[i]];
          }
          for (const k of dups) if (segs.length) segs.push(segs[k % segs.length]);
          const s = sink();
          const r = new TcpReassembler(s.consumer, LIMITS);
          r.segment(0, isn, TCP_SYN, new Uint8Array());
          for (const g of segs) r.segment(0, (isn + 1 + g.off) >>> 0, 0, d.subarray(g.off, g.end));
          expect(s.data[0]).toEqual([...d]);
          expect(s.gaps[0]).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('gives the same stream when the data is split at every byte boundary', () => {
    const d = bytes(64, 3);
    for (let cut = 1; cut < d.length; cut++) {
      const s = sink();
      const r = new TcpReassembler(s.consumer, LIMITS);
      r.segment(0, 100, 0, d.subarray(0, cut));
      r.segment(0, 100 + cut, 0, d.subarray(cut));
      expect(s.data[0]).toEqual([...d]);
    }
  });
});
