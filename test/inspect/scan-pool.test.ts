/**
 * Issue 14, item 9 (b, c, e, f) at the level of the inspect engine and the worker-thread scanner:
 *  b. `scanned_bytes` counts the bytes of scans that ran in worker threads (the job's buffer is
 *     transferred to the worker, which used to leave 0 bytes to count);
 *  c. hold and scan timeouts fire on time (a timer for the earliest deadline), not at the next
 *     once-a-second tick;
 *  e. a scan worker that dies is reported once, its jobs in flight fail open, and it is respawned
 *     (a bounded number of times);
 *  f. scan workers start at the first scan, not at start-up.
 */
import { describe, it, expect, afterEach, vi } from 'vitest';
import { InspectEngine, InspectFlow, type QPkt } from '../../src/content/hold.js';
import { ContentSession, type ContentShared } from '../../src/content/session.js';
import { KeywordSet } from '../../src/content/keywords.js';
import { PoolScanner, type Scanner, type ScanResult, type WorkerExit } from '../../src/content/scan-pool.js';
import type { ScanJobData } from '../../src/content/scanbuffer.js';
import { buildContent } from '../../src/content/setup.js';
import { parseConfig } from '../../src/config/load.js';
import { APPS } from '../../src/apps/registry.js';
import { TcpReassembler } from '../../src/stream/reassembly.js';
import { Counters } from '../../src/core/counters.js';
import type { Verdict } from '../../src/core/types.js';
import { decodeIp } from '../../src/decode/index.js';
import { ipv4 } from '../helpers/packets.js';
import { waitUntil } from '../helpers/wait.js';
import { eicar, eicarDb, fileInspector, scanPools, StuckScanner } from '../helpers/scan-pools.js';

const waitFor = (cond: () => unknown, o: { timeoutMs?: number } = {}) => waitUntil(cond, o.timeoutMs ?? 10_000, String(cond), 5);

const db = eicarDb;
const { pool, closeAll } = scanPools();
afterEach(async () => {
  vi.useRealTimers();
  await closeAll();
});

/** Runs one job through a scanner; resolves with its result. */
const scanOnce = (s: Scanner, job: Partial<ScanJobData> = {}): Promise<ScanResult> =>
  new Promise((resolve) => s.scan({ key: 'k1', data: eicar.slice(), base: 0, final: true, ...job }, resolve));

/** An engine over `scanner` with one inspected flow; `send(seq, payload, flags, t)` judges a server→client packet. */
function harness(scanner: Scanner, opts: { timers?: boolean; scanTimeoutMs?: number; holdTimeoutMs?: number; scanBuffer?: number } = {}) {
  const counters = new Counters();
  const shared: ContentShared = {
    keywords: new KeywordSet({}), keywordsOn: { chat: false, filenames: false },
    audit: null, scanner, hashes: null, scanBuffer: opts.scanBuffer ?? 1024, counters,
  };
  const verdicts = new Map<number, Verdict>();
  const engine = new InspectEngine(
    { maxHeldPerFlow: 64, maxHeldTotal: 1024, holdTimeoutMs: opts.holdTimeoutMs ?? 2000, scanTimeoutMs: opts.scanTimeoutMs ?? 10_000, killMark: 0xfe, timers: opts.timers },
    scanner, counters, (id, v) => verdicts.set(id, v),
  );
  const session = new ContentSession(shared, { app: 'http', src: '10.0.0.1', sport: 30000, dst: '10.0.0.2', dport: 80 });
  const ra = new TcpReassembler({ onData() {}, onGap() {}, onEnd() {} }, { maxOooBytesPerDir: 1 << 20, maxOooSegmentsPerDir: 64 });
  const flow = new InspectFlow('k', {}, ra, fileInspector(session), session, null);
  let pid = 0;
  const q = (seq: number, payload: Uint8Array, flags: number, t: number): QPkt => {
    const d = decodeIp(ipv4({ src: '10.0.0.2', dst: '10.0.0.1', sport: 80, dport: 30000, l4: 'tcp', seq, ack: 1, flags, payload }));
    if (!d.ok) throw new Error(d.event);
    return { id: pid++, pkt: d.pkt, ip: new Uint8Array(0), dir: 1, t };
  };
  ra.segment(1, 5000, 0x12, new Uint8Array(0)); // the SYN-ACK, as the pipeline's reassembler saw it
  const first = engine.attach(flow, [], [0, 0], q(5000, new Uint8Array(0), 0x12, Date.now()));
  if (first) verdicts.set(0, first);
  const send = (seq: number, payload: Uint8Array, flags = 0x18, t = Date.now()) => {
    const p = q(seq, payload, flags, t);
    engine.packet(flow, p);
    return p.id;
  };
  return { counters, verdicts, engine, send, ids: () => pid };
}

describe('a packet that filled several scan buffers (issue 13: GSO super-packets)', () => {
  it('hands all its jobs over at once; the packet waits for the last answer, later packets behind it', () => {
    const s = new StuckScanner();
    const h = harness(s, { scanBuffer: 1024 });
    const id = h.send(5001, new Uint8Array(3000).fill(0x41)); // two full 1 KiB buffers, 952 bytes pending
    expect(s.pending.length).toBe(2);
    const later = h.send(8001, new Uint8Array(50).fill(0x42)); // 952 + 50 bytes: fills no buffer
    expect(s.pending.length).toBe(2); // held unprocessed behind the scans
    s.pending[0].done({ virus: null, ms: 0 });
    expect(h.verdicts.has(id)).toBe(false); // one of its two buffers is still being scanned
    s.pending[1].done({ virus: null, ms: 0 });
    expect([h.verdicts.has(id), h.verdicts.has(later)]).toEqual([true, true]);
    expect(h.counters.get('scans')).toBe(2);
    expect(h.engine.held).toBe(0);
  });
  it('a virus in the first job kills the connection; the answer of the second changes nothing', () => {
    const s = new StuckScanner();
    const h = harness(s, { scanBuffer: 1024 });
    const id = h.send(5001, new Uint8Array(3000).fill(0x41));
    const later = h.send(8001, new Uint8Array(100).fill(0x42));
    s.pending[0].done({ virus: 'Eicar-Test-Signature', ms: 0 });
    expect(h.verdicts.get(id)).toMatchObject({ verdict: 'repeat', mark: 0xfe }); // the kill (RST toward the receiver)
    expect(h.verdicts.get(later)).toEqual({ verdict: 'drop' });
    s.pending[1].done({ virus: null, ms: 0 });
    expect(h.counters.get('killed_flows')).toBe(1);
    expect(h.counters.get('scans')).toBe(1);
    expect(h.verdicts.size).toBe(h.ids());
    expect(h.engine.held).toBe(0);
  });
});

describe('9b: scanned_bytes with worker-thread scans', () => {
  it('counts every scanned byte although the job buffers move to the worker', async () => {
    const h = harness(pool(2), { scanBuffer: 1024 });
    const body = new Uint8Array(5000).fill(0x41);
    h.send(5001, body.subarray(0, 2500));
    h.send(7501, body.subarray(2500), 0x19); // rest + FIN: the final job
    await waitFor(() => h.verdicts.size === h.ids(), { timeoutMs: 10_000 });
    expect(h.counters.get('scanned_bytes')).toBe(5000);
    expect(h.counters.get('scans')).toBe(5); // 4 full 1 KiB buffers + the final 904 bytes
    expect(h.counters.get('scan_error')).toBe(0);
  });
});

describe('9c: hold and scan timeouts fire on time', () => {
  it('a 1 ms scan timeout releases the held packet after 1 ms, not at the next whole second', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const h = harness(new StuckScanner(), { timers: true, scanTimeoutMs: 1 });
    const id = h.send(5001, new Uint8Array(10).fill(0x41), 0x19);
    expect(h.verdicts.has(id)).toBe(false); // held: its scan is pending
    vi.advanceTimersByTime(1);
    expect(h.verdicts.get(id)?.verdict).toBe('accept');
    expect(h.counters.get('scan_timeout')).toBe(1);
    expect(h.engine.held).toBe(0);
  });

  it('an out-of-order packet is released after hold_timeout_ms (5 ms)', () => {
    vi.useFakeTimers({ now: 2_000_000 });
    const h = harness(new StuckScanner(), { timers: true, holdTimeoutMs: 5 });
    const id = h.send(6001, new Uint8Array(10).fill(0x42)); // 1000 bytes missing before it
    expect(h.verdicts.has(id)).toBe(false);
    vi.advanceTimersByTime(4);
    expect(h.verdicts.has(id)).toBe(false);
    vi.advanceTimersByTime(1);
    expect(h.verdicts.get(id)?.verdict).toBe('accept');
    expect(h.counters.get('hold_timeout')).toBe(1);
  });

  it('the earliest of several deadlines fires first; later ones are re-armed', () => {
    vi.useFakeTimers({ now: 3_000_000 });
    const h = harness(new StuckScanner(), { timers: true, holdTimeoutMs: 50 });
    const a = h.send(6001, new Uint8Array(10).fill(0x42));
    vi.advanceTimersByTime(30);
    const b = h.send(7001, new Uint8Array(10).fill(0x43)); // held behind the same gap, later
    expect(h.engine.dueAt).toBe(3_000_000 + 50);
    vi.advanceTimersByTime(20);
    expect(h.verdicts.has(a) && h.verdicts.has(b)).toBe(true); // the gap releases the direction
    expect(h.engine.dueAt).toBe(Infinity);
  });

  it('without timers (replay) the engine only tracks the due time for its caller', () => {
    vi.useFakeTimers({ now: 4_000_000 });
    const h = harness(new StuckScanner(), { timers: false, scanTimeoutMs: 1 });
    const id = h.send(5001, new Uint8Array(10).fill(0x41), 0x19, 500);
    expect(h.engine.dueAt).toBe(501);
    vi.advanceTimersByTime(10_000);
    expect(h.verdicts.has(id)).toBe(false);
    h.engine.tick(501);
    expect(h.verdicts.get(id)?.verdict).toBe('accept');
  });
});

describe('9e: a scan worker that dies', () => {
  it('is reported once, its job in flight fails open, and a new thread takes its place', async () => {
    const exits: WorkerExit[] = [];
    const p = pool(1, { debugDelayMs: 300, maxRespawns: 3, onWorkerExit: (e) => exits.push(e) });
    const inFlight = scanOnce(p);
    await waitFor(() => p.threads === 1);
    await p.killWorker(0);
    const r = await inFlight;
    expect(r.virus).toBeNull();
    expect(r.error).toMatch(/scan worker 0 exited/);
    expect(exits).toEqual([expect.objectContaining({ worker: 0, inFlight: 1, respawned: true, respawns: 1 })]);
    expect(p.threads).toBe(1); // respawned
    expect((await scanOnce(p, { key: 'k2' })).virus).toBe('Eicar-Test-Signature'); // and it scans
  });

  it('respawns are bounded: past them the slot fails every scan open at once', async () => {
    const exits: WorkerExit[] = [];
    const p = pool(1, { maxRespawns: 1, onWorkerExit: (e) => exits.push(e) });
    await scanOnce(p);
    await p.killWorker(0);
    await waitFor(() => exits.length === 1 && p.threads === 1);
    await p.killWorker(0);
    await waitFor(() => exits.length === 2);
    expect(exits.map((e) => e.respawned)).toEqual([true, false]);
    expect(p.threads).toBe(0);
    const r = await scanOnce(p);
    expect(r.error).toMatch(/not running/);
  });

  it('the live content setup logs one line and counts the exit and the respawn', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = { error: (o: Record<string, unknown>, msg: string) => lines.push({ ...o, msg }) } as never;
    const counters = new Counters();
    const cfg = parseConfig('scan: {workers: 1}\n', '/tmp/p2pgw-test.yaml', APPS.map((a) => a.name));
    const content = buildContent(cfg, counters, 'live', logger);
    const scanner = content.inspect.shared.scanner as PoolScanner;
    try {
      await scanOnce(scanner);
      await scanner.killWorker(0);
      await waitFor(() => counters.get('scan_worker_exit') === 1);
      expect(counters.get('scan_worker_respawn')).toBe(1);
      expect(lines).toHaveLength(1);
      expect(lines[0].msg).toMatch(/^scan worker exited; respawned/);
    } finally {
      await content.close();
    }
  });
});

describe('9f: scan workers start lazily', () => {
  it('no thread runs until the first scan, and then only the one that scans', async () => {
    const p = pool(4);
    expect(p.threads).toBe(0);
    p.drop('whatever'); // forgetting a transfer starts nothing
    expect(p.threads).toBe(0);
    expect((await scanOnce(p)).virus).toBe('Eicar-Test-Signature');
    expect(p.threads).toBe(1);
  });

  it('a live daemon with scanning on but nothing inspected runs no scan thread', async () => {
    const cfg = parseConfig('scan: {workers: 2}\n', '/tmp/p2pgw-test.yaml', APPS.map((a) => a.name));
    const content = buildContent(cfg, new Counters(), 'live');
    try {
      expect((content.inspect.shared.scanner as PoolScanner).threads).toBe(0);
    } finally {
      await content.close();
    }
  });
});
