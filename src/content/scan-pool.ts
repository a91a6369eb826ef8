/**
 * Scanners run scan jobs against the virus database. `SyncScanner` scans in-process (replay,
 * tests); `PoolScanner` uses worker threads, each with its own WebAssembly engine instance loaded
 * from the serialised database, so a slow scan holds only its own connection's packets (thesis
 * §3.5.2 without head-of-line blocking). A transfer is pinned to one worker (by its key), which
 * keeps the transfer's signature stream — its overlap carry (longest atom − 1 bytes) and partial
 * matches — between jobs, so each buffer is scanned once and a signature split across buffers is
 * reported exactly once.
 *
 * Scan buffers are recycled (issue 13 item 4): each scanner has a free list (`buffers`,
 * ./scanbuffer.ts) that its transfers' ScanBuffers take from. A worker transfers the job's buffer
 * back in its reply (any size: the list keeps only buffers of its size, so the view of a partial
 * last buffer brings back its whole scan buffer, and an empty final job brings back nothing);
 * the in-process scanner gives it back when the scan returns. A job in flight on a worker that
 * dies loses its buffer (not recycled).
 */
import { Worker } from 'node:worker_threads';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SigDatabase } from '../sigscan/sigdb.js';
import type { SigStream } from '../sigscan/stream.js';
import { ScanBufferFreeList, type ScanJobData } from './scanbuffer.js';

/**
 * Cap of the in-process scanner's free list: it scans each job before the next is handed over,
 * so the list only holds the buffers of jobs cut together (a pre-classification replay of many
 * buffers at once); at 32 KiB, 8 buffers = 256 KiB at most.
 */
export const SYNC_FREE_BUFFERS = 8;

/**
 * Cap of a worker pool's free list: 2 × threads + 8 buffers (at 32 KiB and 2 threads, 12 buffers
 * = 384 KiB at most): about one buffer being scanned and one coming back per thread, plus a few
 * for bursts. Buffers coming back past the cap are left to the garbage collector.
 * @param threads worker count (≥ 1)
 */
export const poolFreeBuffers = (threads: number): number => 2 * threads + 8;

/** Outcome of one job: the first signature found (in this job), or null if clean. */
export interface ScanResult {
  virus: string | null;
  /** Scan time in ms (worker side). */
  ms: number;
  error?: string;
}

export interface Scanner {
  /**
   * Scans `job` and calls `done` once (at once or later). The scanner owns `job.data` from this
   * call on: the caller must not read it afterwards (take its length before).
   */
  scan(job: ScanJobData, done: (r: ScanResult) => void): void;
  /** Forgets a transfer that ends without a final job (connection killed or closed). */
  drop(key: string): void;
  /** Jobs submitted and not finished. */
  readonly busy: number;
  /** Where the scan buffers of this scanner's jobs come from and go back to (none: not recycled). */
  readonly buffers?: ScanBufferFreeList;
  close(): Promise<void>;
}

/**
 * The per-transfer scanners of one thread, shared by both scanner kinds: runs `job` on the
 * transfer's signature stream (created on its first job, ended and forgotten on its final one).
 */
export class TransferScanners {
  private readonly byKey = new Map<string, SigStream>();

  constructor(private readonly db: SigDatabase) {}

  run(job: Pick<ScanJobData, 'key' | 'data' | 'final'>): string | null {
    let st = this.byKey.get(job.key);
    // Whole-file hashes are checked in the main thread (ContentSession), not here.
    if (!st) this.byKey.set(job.key, (st = this.db.newStream({ hashes: false })));
    let hit: number | null = null;
    const on = (sig: number) => {
      if (hit === null) hit = sig;
    };
    st.write(job.data, on);
    if (job.final) {
      st.end(on);
      this.byKey.delete(job.key);
    }
    if (hit !== null) this.byKey.delete(job.key);
    return hit === null ? null : this.db.sigName(hit);
  }

  drop(key: string): void {
    this.byKey.delete(key);
  }

  get transfers(): number {
    return this.byKey.size;
  }
}

/**
 * The in-process scanner (replay, tests): `done` is called before `scan` returns. The job's scan
 * buffer is given back to `buffers` as soon as the scan returns, when that list issued it: the
 * session keeps only the job's length, base and key (src/content/session.ts PendingScan), and the
 * signature stream copies what it keeps (the overlap carry), so nothing reads the bytes later.
 */
export class SyncScanner implements Scanner {
  private readonly t: TransferScanners;
  readonly busy = 0;
  readonly buffers = new ScanBufferFreeList(SYNC_FREE_BUFFERS);

  constructor(db: SigDatabase) {
    this.t = new TransferScanners(db);
  }

  scan(job: ScanJobData, done: (r: ScanResult) => void): void {
    const t0 = performance.now();
    const virus = this.t.run(job);
    const ms = performance.now() - t0;
    const b = job.data.buffer;
    if (this.buffers.issued(b)) this.buffers.give(b);
    done({ virus, ms });
  }

  drop(key: string): void {
    this.t.drop(key);
  }

  async close(): Promise<void> {}
}

/** The worker script: beside this module in dist/, or dist/ when running from src/ under tests. */
export function workerScript(): string {
  const here = fileURLToPath(new URL('./scan-worker.js', import.meta.url));
  return fs.existsSync(here) ? here : fileURLToPath(new URL('../../dist/content/scan-worker.js', import.meta.url));
}

/** Worker index of a transfer key (FNV-1a): all of a transfer's jobs go to the same worker. */
export function workerOf(key: string, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % n;
}

/** A worker thread that ended while the pool was open (ScanPoolOptions.onWorkerExit). */
export interface WorkerExit {
  /** Slot index (0-based). */
  worker: number;
  /** Exit code of the thread, and the uncaught error that ended it, if any. */
  code: number;
  error?: string;
  /** Scan jobs it had in flight: each is answered with an error, so its data is accepted unscanned (fail open). */
  inFlight: number;
  /** A new thread took the slot; false once `maxRespawns` respawns were used (the slot then fails every scan open). */
  respawned: boolean;
  /** Respawns used so far, over all slots. */
  respawns: number;
}

export interface ScanPoolOptions {
  /** Test hook: each scan sleeps this long first, ms (0 in production). */
  debugDelayMs?: number;
  /** Respawns over the pool's life (DEFAULTS.scan.workerRespawns); past them a dead slot stays dead. */
  maxRespawns?: number;
  /** Told about every worker that ends while the pool is open (the daemon logs one line and counts it). */
  onWorkerExit?: (e: WorkerExit) => void;
}

/** A worker's answer to a scan job, with the job's scan buffer transferred back (if it had bytes). */
interface ScanReply {
  id: number;
  virus: string | null;
  ms: number;
  error?: string;
  buffer?: ArrayBuffer;
}

interface Slot {
  w: Worker;
  jobs: Map<number, (r: ScanResult) => void>;
  /** The uncaught error that is ending the thread ('error' comes before 'exit'). */
  error?: string;
}

/**
 * Scan worker threads, started lazily: a slot's thread starts with the first job for it, so a
 * daemon that inspects nothing (or whose transfers never reach a scan) runs no scan threads. A
 * thread that dies is noticed (WorkerExit), its jobs in flight are answered with an error (the
 * engine accepts their data unscanned and counts `scan_error`), and the slot gets a new thread, up
 * to `maxRespawns` times over the pool's life. A respawned thread starts with no transfer state: the
 * later jobs of a transfer that was on it are scanned without the overlap of its earlier buffers.
 * Scan buffers come back with the replies to `buffers` (cap poolFreeBuffers(threads)).
 */
export class PoolScanner implements Scanner {
  private readonly slots: (Slot | null)[];
  /** Slots whose thread died after the respawn budget was spent: their scans fail open at once. */
  private readonly dead = new Set<number>();
  private nextId = 1;
  private respawns = 0;
  private closing = false;
  /** Free scan buffers (cap poolFreeBuffers(threads)), refilled by the workers' replies. */
  readonly buffers: ScanBufferFreeList;

  /**
   * @param dbBytes the serialised database (SigDatabase.serialize), posted to each worker
   * @param threads worker count (≥ 1)
   */
  constructor(
    private readonly dbBytes: Uint8Array,
    threads: number,
    private readonly opts: ScanPoolOptions = {},
  ) {
    this.slots = new Array<Slot | null>(Math.max(1, threads)).fill(null);
    this.buffers = new ScanBufferFreeList(poolFreeBuffers(this.slots.length));
  }

  /** Worker threads running now (0 until the first scan). */
  get threads(): number {
    return this.slots.filter((s) => s !== null).length;
  }

  get busy(): number {
    return this.slots.reduce((n, s) => n + (s?.jobs.size ?? 0), 0);
  }

  scan(job: ScanJobData, done: (r: ScanResult) => void): void {
    const i = workerOf(job.key, this.slots.length);
    if (this.dead.has(i) || this.closing) {
      // Not transferred: the buffer is still ours to recycle.
      if (this.buffers.issued(job.data.buffer)) this.buffers.give(job.data.buffer);
      done({ virus: null, ms: 0, error: `scan worker ${i} is not running (it died and its respawns are used up)` });
      return;
    }
    const slot = this.slots[i] ?? this.start(i);
    const id = this.nextId++;
    slot.jobs.set(id, done);
    // The whole scan buffer moves to the worker (no copy), also for a partial view of it.
    slot.w.postMessage({ op: 'scan', id, key: job.key, data: job.data, final: job.final }, [job.data.buffer as ArrayBuffer]);
  }

  drop(key: string): void {
    this.slots[workerOf(key, this.slots.length)]?.w.postMessage({ op: 'drop', key });
  }

  /** Ends slot `i`'s thread as a crash would (tests, operators): the pool notices and respawns it. */
  async killWorker(i: number): Promise<void> {
    await this.slots[i]?.w.terminate();
  }

  async close(): Promise<void> {
    this.closing = true;
    this.buffers.clear();
    await Promise.all(this.slots.map((s) => s?.w.terminate()));
  }

  private start(i: number): Slot {
    const w = new Worker(workerScript(), { workerData: { db: this.dbBytes, delayMs: this.opts.debugDelayMs ?? 0 } });
    const slot: Slot = { w, jobs: new Map() };
    w.on('message', (m: ScanReply) => {
      // Back before `done`: the scan it lets proceed may already take this buffer.
      if (m.buffer && !this.closing) this.buffers.give(m.buffer);
      const done = slot.jobs.get(m.id);
      if (!done) return;
      slot.jobs.delete(m.id);
      done({ virus: m.virus, ms: m.ms, error: m.error });
    });
    w.on('error', (err) => {
      slot.error = String(err);
    });
    w.on('exit', (code) => this.exited(i, slot, code));
    w.unref();
    this.slots[i] = slot;
    return slot;
  }

  /**
   * A thread ended: fail its jobs open, report it, and respawn the slot while the budget lasts. The
   * scan buffers of its jobs in flight went with the thread: they are not recycled.
   */
  private exited(i: number, slot: Slot, code: number): void {
    if (this.slots[i] !== slot) return;
    this.slots[i] = null;
    if (this.closing) return;
    const inFlight = [...slot.jobs.values()];
    slot.jobs.clear();
    const respawned = this.respawns < (this.opts.maxRespawns ?? Infinity);
    if (respawned) this.respawns++;
    else this.dead.add(i);
    this.opts.onWorkerExit?.({ worker: i, code, error: slot.error, inFlight: inFlight.length, respawned, respawns: this.respawns });
    const error = `scan worker ${i} exited (code ${code}${slot.error ? `: ${slot.error}` : ''})`;
    for (const done of inFlight) done({ virus: null, ms: 0, error });
    if (respawned) this.start(i);
  }
}
