/**
 * Issue 13 item 4, scanner input without copies: scan buffers are recycled instead of allocated
 * per job. ScanBuffer takes its buffers from the scanner's free list (bounded), a worker thread
 * transfers each job's buffer back in its reply, and the in-process scanner gives it back right
 * after the scan. Recycled buffers are not zeroed: job contents must still be exact.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { ScanBuffer, ScanBufferFreeList, type ScanJobData } from '../../src/content/scanbuffer.js';
import { SyncScanner, poolFreeBuffers, SYNC_FREE_BUFFERS, type ScanResult, type Scanner } from '../../src/content/scan-pool.js';
import { ContentSession, type ContentShared } from '../../src/content/session.js';
import { KeywordSet } from '../../src/content/keywords.js';
import { Counters } from '../../src/core/counters.js';
import { waitUntil } from '../helpers/wait.js';
import { eicar, eicarDb, scanPools } from '../helpers/scan-pools.js';

const db = eicarDb;
const { pool, closeAll } = scanPools();
afterEach(closeAll);

const scan = (s: Scanner, job: ScanJobData): Promise<ScanResult> => new Promise((resolve) => s.scan(job, resolve));
/** Body bytes that are never 0 and never the poison byte 0xee. */
const bodyOf = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => 1 + ((i * 7 + seed) % 200));
/** A free list of `size`-byte buffers holding `n` buffers filled with 0xee (stale bytes). */
function poisoned(size: number, n: number, cap = n): { list: ScanBufferFreeList; seeded: Set<ArrayBuffer> } {
  const list = new ScanBufferFreeList(cap);
  const bufs = Array.from({ length: n }, () => list.take(size).fill(0xee));
  for (const b of bufs) expect(list.give(b.buffer)).toBe(true);
  list.allocated = 0;
  return { list, seeded: new Set(bufs.map((b) => b.buffer as ArrayBuffer)) };
}

describe('ScanBufferFreeList', () => {
  it('never holds more than its cap; keeps only live ArrayBuffers of its size', () => {
    const list = new ScanBufferFreeList(3);
    const taken = Array.from({ length: 10 }, () => list.take(64));
    expect(list.allocated).toBe(10);
    expect(taken.map((b) => list.give(b.buffer))).toEqual([true, true, true, false, false, false, false, false, false, false]);
    expect(list.length).toBe(3);
    expect(list.give(new ArrayBuffer(64))).toBe(false); // at the cap
    list.take(64);
    expect(list.give(new ArrayBuffer(32))).toBe(false); // another size
    expect(list.give(new SharedArrayBuffer(64))).toBe(false);
    const detached = new ArrayBuffer(64);
    structuredClone(detached, { transfer: [detached] });
    expect(list.give(detached)).toBe(false);
    expect(list.give(new ArrayBuffer(64))).toBe(true);
    expect(list.length).toBe(3);
  });

  it('hands out the buffer given back (identity, contents not zeroed); a new size empties the list', () => {
    const list = new ScanBufferFreeList(4);
    const a = list.take(16).fill(9);
    expect(list.issued(a.buffer)).toBe(true);
    list.give(a.buffer);
    expect(list.issued(a.buffer)).toBe(false);
    const b = list.take(16);
    expect(b.buffer).toBe(a.buffer);
    expect(b[15]).toBe(9);
    expect([list.allocated, list.reused]).toEqual([1, 1]);
    list.give(b.buffer);
    expect(list.take(32).buffer).not.toBe(a.buffer);
    expect(list.length).toBe(0);
    expect(list.size).toBe(32);
  });
});

describe('ScanBuffer with a free list', () => {
  it('the next job after a recycle uses the recycled buffer; a partial last job views it', () => {
    const list = new ScanBufferFreeList(4);
    const sb = new ScanBuffer('t', 16, list);
    const body = bodyOf(40);
    const [j1] = sb.push(body.subarray(0, 16));
    expect(list.give(j1.data.buffer)).toBe(true);
    const [j2] = sb.push(body.subarray(16, 32));
    expect(j2.data.buffer).toBe(j1.data.buffer);
    expect(Array.from(j2.data)).toEqual(Array.from(body.subarray(16, 32)));
    list.give(j2.data.buffer);
    sb.push(body.subarray(32));
    const j3 = sb.finish();
    expect(j3.data.buffer).toBe(j1.data.buffer);
    expect([j3.base, j3.data.length, j3.data.byteOffset, j3.final]).toEqual([32, 8, 0, true]);
    expect(Array.from(j3.data)).toEqual(Array.from(body.subarray(32)));
    expect(list.allocated).toBe(1);
  });

  it('takes no buffer before a byte arrives: an empty transfer or a body ending on a boundary gives an empty final job', () => {
    const list = new ScanBufferFreeList(4);
    expect(new ScanBuffer('e', 16, list).finish()).toMatchObject({ base: 0, final: true, data: new Uint8Array(0) });
    const sb = new ScanBuffer('b', 16, list);
    expect(sb.push(bodyOf(32))).toHaveLength(2);
    const last = sb.finish();
    expect([last.base, last.data.length, last.data.buffer.byteLength]).toEqual([32, 0, 0]);
    expect(list.allocated).toBe(2);
  });

  for (const mode of ['recycled at once', 'held until the end'] as const) {
    it(`job contents and bases are exact for every split of a body over 3 buffers (${mode}, stale buffers)`, () => {
      const size = 16;
      const body = bodyOf(40);
      for (let i = 0; i <= body.length; i++) {
        for (let j = i; j <= body.length; j++) {
          const { list, seeded } = poisoned(size, 3);
          const sb = new ScanBuffer(`k${i}.${j}`, size, list);
          const jobs: ScanJobData[] = [];
          const got = (js: ScanJobData[]) => {
            for (const job of js) {
              expect(Array.from(job.data)).toEqual(Array.from(body.subarray(job.base, job.base + job.data.length)));
              jobs.push(job);
              if (mode === 'recycled at once') list.give(job.data.buffer);
            }
          };
          got(sb.push(body.subarray(0, i)));
          got(sb.push(body.subarray(i, j)));
          got(sb.push(body.subarray(j)));
          got([sb.finish()]);
          expect(jobs.map((x) => [x.base, x.data.length, x.final])).toEqual([[0, 16, false], [16, 16, false], [32, 8, true]]);
          const bufs = jobs.map((x) => x.data.buffer as ArrayBuffer);
          expect(bufs.every((b) => seeded.has(b))).toBe(true); // every buffer came from the list
          expect(list.allocated).toBe(0);
          // Jobs in use never share a buffer (their contents were checked after the whole push).
          if (mode === 'held until the end') expect(new Set(bufs).size).toBe(3);
        }
      }
    });
  }
});

describe('SyncScanner recycles after the scan', () => {
  it('a transfer of many buffers allocates one; stale bytes of a recycled buffer are never scanned', () => {
    const s = new SyncScanner(db.db!);
    expect(s.buffers.cap).toBe(SYNC_FREE_BUFFERS);
    const size = 1024;
    const a = new ScanBuffer('a', size, s.buffers);
    const infected = new Uint8Array(size).fill(0x41);
    infected.set(eicar, 100);
    const results: (string | null)[] = [];
    const [ja] = a.push(infected);
    const first = ja.data.buffer;
    s.scan(ja, (r) => results.push(r.virus));
    expect(results).toEqual(['Eicar-Test-Signature']);
    // The next transfer's short last buffer reuses the infected one: only its 10 bytes are scanned.
    const b = new ScanBuffer('b', size, s.buffers);
    b.push(new Uint8Array(10).fill(0x42));
    const jb = b.finish();
    expect(jb.data.buffer).toBe(first);
    s.scan(jb, (r) => results.push(r.virus));
    expect(results[1]).toBeNull();
    const c = new ScanBuffer('c', size, s.buffers);
    for (let k = 0; k < 50; k++) for (const job of c.push(bodyOf(size, k))) s.scan(job, (r) => results.push(r.virus));
    s.scan(c.finish(), (r) => results.push(r.virus));
    expect(results.slice(2).every((v) => v === null)).toBe(true);
    expect(s.buffers.allocated).toBe(1);
    expect(s.buffers.reused).toBe(51);
  });

  it('never recycles a buffer it did not hand out (a job made by hand stays the caller\'s)', () => {
    const s = new SyncScanner(db.db!);
    new ScanBuffer('x', 64, s.buffers).push(new Uint8Array(1)); // the list's size is now 64
    const mine = new Uint8Array(64);
    s.scan({ key: 'h', data: mine, base: 0, final: true }, () => {});
    expect(s.buffers.length).toBe(0);
  });

  it('through a content session: an EICAR split over recycled buffers is found at its offset, bytes all counted', () => {
    const s = new SyncScanner(db.db!);
    const counters = new Counters();
    const shared: ContentShared = {
      keywords: new KeywordSet({}), keywordsOn: { chat: false, filenames: false },
      audit: null, scanner: s, hashes: null, scanBuffer: 1024, counters,
    };
    const session = new ContentSession(shared, { app: 'http', src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 80 });
    const body = new Uint8Array(20_000).fill(0x43);
    body.set(eicar, 9 * 1024 - 20); // spans the 9th boundary
    const id = session.fileStart(1, { name: 'f.bin', size: body.length });
    const drain = () => {
      // As the engine does: the jobs after a kill are not scanned.
      for (const p of session.jobs.splice(0)) if (!session.kill) s.scan(p.job, (r) => session.scanned(p, r.virus));
    };
    for (let off = 0; off < body.length && !session.kill; off += 1460) {
      session.fileData(id, body.subarray(off, off + 1460));
      drain();
    }
    expect(session.kill?.fields).toMatchObject({ virus: 'Eicar-Test-Signature', offset: 9 * 1024 });
    expect(counters.get('scanned_bytes')).toBe(10 * 1024);
    // One push of 1460 bytes can cut two 1 KiB jobs and start a third buffer before either is scanned.
    expect(s.buffers.allocated).toBe(3);
    expect(s.buffers.allocated + s.buffers.reused).toBeGreaterThanOrEqual(10); // 10 jobs scanned
  });
});

describe('PoolScanner: worker threads transfer the scan buffers back', () => {
  it('200 jobs with at most 4 in flight allocate 4 buffers, not 200', async () => {
    const p = pool(2);
    const size = 4096;
    const keys = ['a', 'b', 'c', 'd'];
    const bufs = keys.map((k) => new ScanBuffer(k, size, p.buffers));
    for (let round = 0; round < 50; round++) {
      const jobs = bufs.flatMap((b, i) => b.push(bodyOf(size, round + i)));
      expect(jobs).toHaveLength(4);
      const rs = await Promise.all(jobs.map((j) => scan(p, j)));
      expect(rs.every((r) => r.virus === null && !r.error)).toBe(true);
      expect(p.buffers.length).toBeLessThanOrEqual(p.buffers.cap);
    }
    expect(p.buffers.cap).toBe(poolFreeBuffers(2));
    expect(p.buffers.allocated).toBeLessThanOrEqual(4);
    expect(p.buffers.allocated + p.buffers.reused).toBe(200);
    expect(p.buffers.length).toBe(4); // all back once every reply arrived
  });

  it('the free list stops at its cap when more buffers come back', async () => {
    const p = pool(1);
    const cap = poolFreeBuffers(1);
    const jobs = Array.from({ length: 3 * cap }, (_, i) => new ScanBuffer(`t${i}`, 2048, p.buffers).push(bodyOf(2048, i))[0]);
    expect(p.buffers.allocated).toBe(3 * cap);
    await Promise.all(jobs.map((j) => scan(p, j)));
    expect(p.buffers.length).toBe(cap);
  });

  it('a partial last job brings its whole buffer back; stale bytes past it are not scanned', async () => {
    const p = pool(1);
    const size = 2048;
    const a = new ScanBuffer('inf', size, p.buffers);
    const infected = new Uint8Array(size).fill(0x41);
    infected.set(eicar, 500);
    expect((await scan(p, a.push(infected)[0])).virus).toBe('Eicar-Test-Signature');
    expect(p.buffers.length).toBe(1);
    const b = new ScanBuffer('clean', size, p.buffers);
    b.push(new Uint8Array(100).fill(0x42));
    const jb = b.finish();
    expect(p.buffers.length).toBe(0); // it took the infected one
    const r = await scan(p, jb);
    expect(jb.data.length).toBe(0); // transferred away
    expect(r.virus).toBeNull();
    expect(p.buffers.length).toBe(1);
    expect(p.buffers.allocated).toBe(1);
    await scan(p, new ScanBuffer('empty', size, p.buffers).finish()); // nothing to bring back
    expect(p.buffers.length).toBe(1);
  });

  it('a job in flight on a dead worker loses its buffer; a dead slot recycles the untransferred one', async () => {
    const p = pool(1, { debugDelayMs: 300, maxRespawns: 0 });
    const size = 1024;
    const job = new ScanBuffer('k', size, p.buffers).push(bodyOf(size))[0];
    const inFlight = scan(p, job);
    await waitUntil(() => p.threads === 1, 10_000, 'worker started', 5);
    await p.killWorker(0);
    expect((await inFlight).error).toMatch(/exited/);
    expect(p.buffers.length).toBe(0);
    const next = new ScanBuffer('k2', size, p.buffers).push(bodyOf(size))[0];
    expect((await scan(p, next)).error).toMatch(/not running/);
    expect(next.data.length).toBe(size); // not transferred
    expect(p.buffers.length).toBe(1);
  });
});
