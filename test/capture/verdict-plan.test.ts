/**
 * The batch boundary, verdict side (src/capture/verdict-plan.ts): planned commands applied to a
 * model of the kernel's queue (./kernel-model.ts) give every staged packet exactly its own verdict
 * and mark, never touch a held packet, and use batch messages for runs of identical verdicts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CMD, CMD_BATCH, CMD_MARK, CMD_PKT, NF_ACCEPT, NF_DROP, NF_REPEAT } from '../../src/capture/nfq-native.js';
import { VerdictStage, idBefore } from '../../src/capture/verdict-plan.js';
import { KernelQueue } from './kernel-model.js';

const cmdsOf = (st: VerdictStage, n: number) =>
  Array.from({ length: n }, (_, i) => Array.from(st.cmds.subarray(i * CMD, i * CMD + CMD)));

describe('VerdictStage.plan', () => {
  it('a run of plain accepts with nothing held is one batch command for the newest id', () => {
    const st = new VerdictStage();
    for (const id of [5, 6, 7, 8]) st.add(id, NF_ACCEPT, undefined, undefined);
    const n = st.plan(null);
    expect(cmdsOf(st, n)).toEqual([[8, NF_ACCEPT, 0, CMD_BATCH]]);
  });

  it('never lets a batch command reach the oldest held packet: what is after it goes one by one', () => {
    const st = new VerdictStage();
    for (const id of [10, 11, 13, 14]) st.add(id, NF_ACCEPT, undefined, undefined); // 12 is held
    const n = st.plan(12);
    expect(cmdsOf(st, n)).toEqual([[11, NF_ACCEPT, 0, CMD_BATCH], [13, NF_ACCEPT, 0, 0], [14, NF_ACCEPT, 0, 0]]);
    const k = new KernelQueue();
    for (const id of [10, 11, 12, 13, 14]) k.enqueue(id);
    k.apply(st.cmds, n, null);
    expect(k.queued).toEqual([12]);
    expect(k.errors).toEqual([]);
  });

  it('sorts by id (modulo 2^32) and splits runs on verdict, mark and replacement bytes', () => {
    const st = new VerdictStage();
    const rst = new Uint8Array(40);
    st.add(1, NF_REPEAT, 7, undefined);
    st.add(0xfffffffe, NF_ACCEPT, undefined, undefined);
    st.add(0xffffffff, NF_ACCEPT, undefined, undefined);
    st.add(0, NF_ACCEPT, undefined, undefined);
    st.add(2, NF_REPEAT, 7, undefined);
    st.add(3, NF_DROP, undefined, rst);
    st.add(4, NF_ACCEPT, 9, undefined);
    const n = st.plan(null);
    expect(cmdsOf(st, n)).toEqual([
      [0, NF_ACCEPT, 0, CMD_BATCH],
      [2, NF_REPEAT, 7, CMD_MARK | CMD_BATCH],
      [3, NF_DROP, 0, CMD_PKT | (0 << 8)],
      [4, NF_ACCEPT, 9, CMD_MARK],
    ]);
    expect(st.packets[0]).toBe(rst);
  });

  it('grows past its initial capacity and is reusable after reset()', () => {
    const st = new VerdictStage();
    for (let id = 1; id <= 1000; id++) st.add(id, NF_ACCEPT, undefined, undefined);
    expect(cmdsOf(st, st.plan(null))).toEqual([[1000, NF_ACCEPT, 0, CMD_BATCH]]);
    st.reset();
    st.add(1001, NF_DROP, undefined, undefined);
    expect(cmdsOf(st, st.plan(null))).toEqual([[1001, NF_DROP, 0, 0]]);
  });

  it('property: on the kernel model every staged packet gets exactly its verdict, held ones none', () => {
    const verdictArb = fc.oneof(
      fc.constant({ held: true as const }),
      fc.record({ held: fc.constant(false as const), code: fc.constantFrom(NF_ACCEPT, NF_DROP, NF_REPEAT), mark: fc.option(fc.constantFrom(1, 2, 0xff), { nil: undefined }), rewrite: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.array(verdictArb, { minLength: 1, maxLength: 80 }), fc.array(fc.nat(), { maxLength: 20 }), (base, packets, perm) => {
        const ids = packets.map((_, i) => (base + i) >>> 0);
        const k = new KernelQueue();
        for (const id of ids) k.enqueue(id);
        const st = new VerdictStage();
        // Stage in a shuffled order (held packets released later arrive out of order).
        const order = ids.map((_, i) => i);
        for (const [j, p] of perm.entries()) {
          const a = j % order.length;
          const b = p % order.length;
          [order[a], order[b]] = [order[b], order[a]];
        }
        const want = new Map<number, { code: number; mark: number | undefined; pkt: Uint8Array | undefined }>();
        for (const i of order) {
          const p = packets[i];
          if (p.held) continue;
          const pkt = p.rewrite ? new Uint8Array([i]) : undefined;
          st.add(ids[i], p.code, p.mark, pkt);
          want.set(ids[i], { code: p.code, mark: p.mark, pkt });
        }
        const held = ids.filter((_, i) => packets[i].held);
        const oldestHeld = held.length ? held.reduce((m, id) => (idBefore(id, m) ? id : m)) : null;
        const n = st.plan(oldestHeld);
        k.apply(st.cmds, n, st.packets);
        expect(k.errors).toEqual([]);
        expect(k.queued).toEqual(held);
        expect(k.judged.length).toBe(want.size);
        for (const j of k.judged) {
          const w = want.get(j.id)!;
          expect(j.verdict).toBe(w.code);
          expect(j.mark).toBe(w.mark);
          expect(j.packet).toBe(w.pkt);
        }
        // Batch messages are used: no more commands than runs need.
        expect(n).toBeLessThanOrEqual(want.size);
      }),
      { numRuns: 400 },
    );
  });
});
