import { describe, expect, it } from 'vitest';
import { NfQueue, type NfqueueModule, type QueuedPacket } from '../../src/capture/nfq.js';

/** A fake of the patched binding that records calls and lets the test inject packets. */
function fake(opts: { maxlenRc?: number; failOpenRc?: number; openThrows?: string } = {}) {
  const calls: unknown[][] = [];
  let deliver: ((info: { id: number; len: number; nfmark: number; indev: number; outdev: number }, payload: Buffer) => unknown) | undefined;
  class FakeQueue {
    opened = false;
    bindings = {
      read: (cb: typeof deliver) => {
        deliver = cb;
      },
      setVerdict: (...a: unknown[]) => calls.push(['setVerdict', ...a]),
      close: () => calls.push(['bindings.close']),
    };
    open(num: number, buf: number) {
      calls.push(['open', num, buf]);
      if (opts.openThrows) throw new TypeError(opts.openThrows);
      this.opened = true;
    }
    setQueueMaxLen(n: number) {
      calls.push(['maxlen', n]);
      return opts.maxlenRc ?? 0;
    }
    setFailOpen(on: boolean) {
      calls.push(['failOpen', on]);
      return opts.failOpenRc ?? 0;
    }
    close() {
      calls.push(['close']);
    }
  }
  const mod = { NF_DROP: 0, NF_ACCEPT: 1, NF_REPEAT: 4, NFQueue: FakeQueue } as unknown as NfqueueModule;
  const packet = (id: number, nfmark = 0) => deliver!({ id, len: 40, nfmark, indev: 2, outdev: 3 }, Buffer.alloc(40, id));
  return { mod, calls, packet };
}

const OPTS = { num: 3, maxlen: 4096, failOpen: true, rcvbuf: 1 << 20 };

describe('NfQueue (fake binding)', () => {
  it('opens, configures, delivers packets and maps verdicts', () => {
    const f = fake();
    const seen: QueuedPacket[] = [];
    const q = NfQueue.open(OPTS, (p) => seen.push(p), { binding: f.mod });
    expect(f.calls.slice(0, 3)).toEqual([['open', 3, 1 << 20], ['maxlen', 4096], ['failOpen', true]]);
    expect(q.warnings).toEqual([]);
    f.packet(10);
    f.packet(11, 5);
    f.packet(12);
    expect(seen.map((p) => [p.id, p.mark, p.indev, p.outdev, p.payload.length])).toEqual([
      [10, 0, 2, 3, 40],
      [11, 5, 2, 3, 40],
      [12, 0, 2, 3, 40],
    ]);
    expect(q.pending).toBe(3);
    q.verdict(10, 'repeat', 7);
    q.verdict(11, 'accept');
    q.verdict(12, 'drop');
    q.verdict(12, 'drop'); // twice: ignored
    expect(f.calls.filter((c) => c[0] === 'setVerdict')).toEqual([
      ['setVerdict', 10, 4, 7, null],
      ['setVerdict', 11, 1, null],
      ['setVerdict', 12, 0, null],
    ]);
    expect(q.stats).toMatchObject({ received: 3, accept: 1, drop: 1, repeat: 1, marked: 1, unknownId: 1 });
    expect(q.pending).toBe(0);
  });

  it('turns repeat without a mark into accept (it would loop in the kernel)', () => {
    const f = fake();
    const q = NfQueue.open(OPTS, (p) => q.verdict(p.id, 'repeat'), { binding: f.mod });
    f.packet(1);
    expect(f.calls.at(-1)).toEqual(['setVerdict', 1, 1, null]);
    expect(q.stats).toMatchObject({ accept: 1, repeat: 0, repeatWithoutMark: 1 });
  });

  it('reports refused maxlen / fail-open as warnings', () => {
    const q = NfQueue.open(OPTS, () => undefined, { binding: fake({ maxlenRc: -1, failOpenRc: -1 }).mod });
    expect(q.warnings).toHaveLength(2);
    expect(q.warnings[1]).toContain('dropped when the queue is full');
  });

  it('accepts the packet when onPacket throws, and tells onError', () => {
    const f = fake();
    const errors: unknown[] = [];
    const q = NfQueue.open(OPTS, () => {
      throw new Error('boom');
    }, { binding: f.mod, onError: (e) => errors.push(e) });
    f.packet(5);
    expect(f.calls.at(-1)).toEqual(['setVerdict', 5, 1, null]);
    expect(q.stats.callbackErrors).toBe(1);
    expect(errors).toHaveLength(1);
  });

  it('close accepts pending packets, then unbinds; verdicts after close are ignored', () => {
    const f = fake();
    const q = NfQueue.open(OPTS, () => undefined, { binding: f.mod });
    f.packet(1);
    f.packet(2);
    q.verdict(1, 'accept');
    q.close();
    q.close();
    expect(f.calls.slice(-2)).toEqual([['setVerdict', 2, 1, null], ['close']]);
    q.verdict(2, 'drop');
    expect(q.stats).toMatchObject({ flushedOnClose: 1, afterClose: 1 });
    expect(q.isClosed).toBe(true);
  });

  it('drain waits until the kernel has delivered everything it holds (queue_total <= pending)', async () => {
    const f = fake();
    let kernel = 3;
    const q = NfQueue.open(OPTS, () => undefined, { binding: f.mod, readStats: () => ({ queueTotal: kernel }) });
    f.packet(1);
    setTimeout(() => f.packet(2), 10);
    setTimeout(() => f.packet(3), 20);
    expect(await q.drain(1000)).toBe(true);
    expect(q.pending).toBe(3);
    kernel = 5;
    expect(await q.drain(30)).toBe(false);
    q.close();
    expect(q.stats.flushedOnClose).toBe(3);
  });

  it('wraps open failures and releases the handle', () => {
    const f = fake({ openThrows: 'Unable to create queue' });
    let err: unknown;
    try {
      NfQueue.open(OPTS, () => undefined, { binding: f.mod });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ name: 'P2pgwError' });
    expect((err as Error).message).toContain('cannot bind NFQUEUE 3: Unable to create queue');
    expect(f.calls.at(-1)).toEqual(['bindings.close']);
  });
});
