/**
 * The batch boundary, JavaScript side (src/capture/nfq-batch.ts), with a fake addon that fills the
 * arena and the header rows the way nfq.c does and hands the verdict commands to a kernel model:
 * ids, lengths, marks, flags and bytes of every packet in a batch arrive exactly; one verdict call
 * per batch; held packets are never answered by a batch verdict; close() accepts what waits.
 */
import { describe, expect, it } from 'vitest';
import { NfqBatch, histP99, type BatchPacket } from '../../src/capture/nfq-batch.js';
import { NF_ACCEPT, NF_DROP, NF_REPEAT, ROW, S, SKB_CSUMNOTREADY, SKB_GSO, type NfqNative } from '../../src/capture/nfq-native.js';
import { KernelQueue } from './kernel-model.js';

interface Pkt { id: number; bytes: Uint8Array; mark?: number; flags?: number; indev?: number; outdev?: number }

/** A fake addon: deliver() writes packets like nfq.c (payloads at 8-aligned offsets after a header gap). */
function fakeNative(opts: { rcGso?: number } = {}) {
  const kernel = new KernelQueue();
  const calls: { n: number }[] = [];
  let arena: ArrayBuffer;
  let rows: Uint32Array;
  let stats: Float64Array;
  let onBatch: (count: number) => void;
  const native: NfqNative = {
    abi: 2,
    open(_o, a, r, s, cb) {
      arena = a;
      rows = r;
      stats = s;
      onBatch = cb;
      return { handle: {}, rcMaxlen: 0, rcFailOpen: 0, rcGso: opts.rcGso ?? 0, pending: 0, portId: 1 };
    },
    pump() {},
    verdicts(_h, cmds, n, packets) {
      calls.push({ n });
      kernel.apply(cmds, n, packets);
      stats[S.sends]++;
      return n * 40;
    },
    close() {},
  };
  const deliver = (pkts: Pkt[]) => {
    const u8 = new Uint8Array(arena);
    let off = 0;
    pkts.forEach((p, i) => {
      off += 36; // netlink + attribute headers before the payload
      u8.set(p.bytes, off);
      rows.set([p.id, off, p.bytes.length, p.mark ?? 0, p.indev ?? 2, p.outdev ?? 3, p.flags ?? 0, p.bytes.length], i * ROW);
      kernel.enqueue(p.id);
      off = (off + p.bytes.length + 7) & ~7;
    });
    onBatch(pkts.length);
  };
  return { native, kernel, calls, deliver, stats: () => stats };
}

const OPTS = { num: 3, maxlen: 4096, failOpen: true, rcvbuf: 1 << 20, gso: true, batch: 64, arenaBytes: 4 << 20 };
const bytes = (id: number, len: number) => Uint8Array.from({ length: len }, (_, i) => (id * 31 + i) & 0xff);
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('NfqBatch (fake addon)', () => {
  it('delivers every packet of a batch exactly (id, length, mark, ifindexes, flags, bytes) and answers the batch in one call', () => {
    const f = fakeNative();
    const seen: { id: number; len: number; mark: number; flags: number; indev: number; outdev: number; bytes: number[] }[] = [];
    const q = NfqBatch.open(OPTS, (p) => {
      seen.push({ id: p.id, len: p.payload.length, mark: p.mark, flags: p.flags, indev: p.indev, outdev: p.outdev, bytes: [...p.payload] });
      q.verdict(p.id, 'accept');
    }, { native: f.native });
    const pkts: Pkt[] = [
      { id: 100, bytes: bytes(100, 60), mark: 0 },
      { id: 101, bytes: bytes(101, 1500), mark: 0x42, flags: SKB_CSUMNOTREADY },
      { id: 102, bytes: bytes(102, 65_000), mark: 0xffffffff, flags: SKB_GSO | SKB_CSUMNOTREADY, indev: 7, outdev: 9 },
      { id: 103, bytes: bytes(103, 41), mark: 5 },
    ];
    f.deliver(pkts);
    expect(seen).toEqual(pkts.map((p) => ({ id: p.id, len: p.bytes.length, mark: p.mark ?? 0, flags: p.flags ?? 0, indev: p.indev ?? 2, outdev: p.outdev ?? 3, bytes: [...p.bytes] })));
    expect(f.calls).toEqual([{ n: 1 }]); // one batch command for the four accepts
    expect(f.kernel.queued).toEqual([]);
    expect(f.kernel.judged.map((j) => [j.id, j.verdict, j.via])).toEqual([100, 101, 102, 103].map((id) => [id, NF_ACCEPT, 'batch']));
    expect(q.stats).toMatchObject({ received: 4, accept: 4, batches: 1, maxBatch: 4, batchVerdicts: 1, singleVerdicts: 0, gso: 1, csumNotReady: 2, maxPacket: 65_000 });
  });

  it('a held packet is never answered by a batch verdict; its own verdict comes later, alone, in a microtask', async () => {
    const f = fakeNative();
    const held: number[] = [];
    const q = NfqBatch.open(OPTS, (p) => {
      if (p.payload[0] === 0xee) held.push(p.id);
      else q.verdict(p.id, 'repeat', 7);
    }, { native: f.native });
    const hold = new Uint8Array(100).fill(0xee);
    f.deliver([{ id: 1, bytes: bytes(1, 80) }, { id: 2, bytes: hold }, { id: 3, bytes: bytes(3, 80) }, { id: 4, bytes: bytes(4, 80) }]);
    expect(f.kernel.queued).toEqual([2]);
    expect(f.kernel.judged.map((j) => [j.id, j.via, j.mark])).toEqual([[1, 'single', 7], [3, 'single', 7], [4, 'single', 7]]);
    f.deliver([{ id: 5, bytes: bytes(5, 80) }, { id: 6, bytes: bytes(6, 80) }]);
    expect(f.kernel.queued).toEqual([2]); // 5 and 6 went one by one: a batch up to 6 would take 2
    expect(q.pending).toBe(1);
    q.verdict(held[0], 'drop');
    expect(f.kernel.queued).toEqual([2]); // staged, not yet sent
    await tick();
    expect(f.kernel.queued).toEqual([]);
    expect(f.kernel.judged.at(-1)).toMatchObject({ id: 2, verdict: NF_DROP, via: 'single' });
    f.deliver([{ id: 7, bytes: bytes(7, 80) }, { id: 8, bytes: bytes(8, 80) }]);
    expect(f.kernel.judged.slice(-2).map((j) => j.via)).toEqual(['batch', 'batch']); // nothing held any more
    expect(f.kernel.errors).toEqual([]);
  });

  it('repeat without a mark or with the queued mark becomes accept; unknown ids and verdicts after close are counted', () => {
    const f = fakeNative();
    const q = NfqBatch.open(OPTS, (p) => {
      if (p.id === 1) q.verdict(1, 'repeat');
      if (p.id === 2) q.verdict(2, 'repeat', 9); // queued with mark 9
      if (p.id === 3) q.verdict(3, 'repeat', 4);
    }, { native: f.native });
    f.deliver([{ id: 1, bytes: bytes(1, 40) }, { id: 2, bytes: bytes(2, 40), mark: 9 }, { id: 3, bytes: bytes(3, 40) }]);
    q.verdict(1, 'drop');
    expect(f.kernel.judged.map((j) => [j.id, j.verdict, j.mark])).toEqual([[1, NF_ACCEPT, undefined], [2, NF_ACCEPT, 9], [3, NF_REPEAT, 4]]);
    expect(q.stats).toMatchObject({ repeatWithoutMark: 1, repeatSameMark: 1, repeat: 1, accept: 2, unknownId: 1 });
    q.close();
    q.verdict(3, 'accept');
    expect(q.stats.afterClose).toBe(1);
  });

  it('close() accepts everything still waiting with one batch verdict; a throwing onPacket accepts its packet', () => {
    const f = fakeNative();
    const errors: unknown[] = [];
    const q = NfqBatch.open(OPTS, (p) => {
      if (p.id === 12) throw new Error('boom');
    }, { native: f.native, onError: (e) => errors.push(e) });
    f.deliver([{ id: 11, bytes: bytes(11, 40) }, { id: 12, bytes: bytes(12, 40) }, { id: 13, bytes: bytes(13, 40) }]);
    expect(errors).toHaveLength(1);
    expect(f.kernel.queued).toEqual([11, 13]);
    expect(q.stats.callbackErrors).toBe(1);
    q.close();
    expect(f.kernel.queued).toEqual([]);
    expect(f.kernel.judged.slice(-2).map((j) => [j.id, j.verdict, j.via])).toEqual([[11, NF_ACCEPT, 'batch'], [13, NF_ACCEPT, 'batch']]);
    expect(q.stats.flushedOnClose).toBe(2);
    expect(q.isClosed).toBe(true);
  });

  it('a rewritten packet goes alone with its bytes; the largest replaced packet is counted', () => {
    const f = fakeNative();
    const rst = new Uint8Array(40).fill(1);
    const q = NfqBatch.open(OPTS, (p) => q.verdict(p.id, p.id === 22 ? 'repeat' : 'accept', p.id === 22 ? 0x99 : undefined, p.id === 22 ? rst : undefined), { native: f.native });
    f.deliver([{ id: 21, bytes: bytes(21, 40) }, { id: 22, bytes: bytes(22, 30_000) }, { id: 23, bytes: bytes(23, 40) }]);
    expect(f.kernel.judged.map((j) => [j.id, j.via, j.packet])).toEqual([[21, 'single', undefined], [22, 'single', rst], [23, 'single', undefined]]);
    expect(q.stats).toMatchObject({ rewritten: 1, rewrittenMaxLen: 30_000 });
  });

  it('warns when the kernel refuses GSO; the payload views are valid during the callback only (arena reused)', () => {
    const f = fakeNative({ rcGso: 95 });
    const views: Uint8Array[] = [];
    const q = NfqBatch.open(OPTS, (p) => {
      views.push(p.payload);
      q.verdict(p.id, 'accept');
    }, { native: f.native });
    expect(q.warnings.join(' ')).toMatch(/refused GSO/);
    f.deliver([{ id: 1, bytes: new Uint8Array(50).fill(1) }]);
    f.deliver([{ id: 2, bytes: new Uint8Array(50).fill(2) }]);
    expect(views[0].buffer).toBe(views[1].buffer);
    expect(views[0][0]).toBe(2); // overwritten by the next batch: consumers must copy what they keep
  });

  it('rejects bad options before binding', () => {
    const f = fakeNative();
    const cb = (p: BatchPacket) => void p;
    expect(() => NfqBatch.open({ ...OPTS, arenaBytes: 1000 }, cb, { native: f.native })).toThrow(/arena/);
    expect(() => NfqBatch.open({ ...OPTS, num: 70000 }, cb, { native: f.native })).toThrow(/num/);
  });
});

describe('histP99 (the sender thread wait histogram)', () => {
  it('gives the upper edge of the bucket that holds the 99th percentile', () => {
    expect(histP99([0, 0, 0])).toBe(0);
    const h = new Array(24).fill(0);
    h[3] = 990; // [8, 16) µs
    h[10] = 10; // [1024, 2048) µs: the slowest 1 %
    expect(histP99(h)).toBe(16);
    h[10] = 11;
    expect(histP99(h)).toBe(2048);
    expect(histP99([5])).toBe(2);
  });
});
