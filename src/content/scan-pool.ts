/**
 * Scanners run scan jobs against the virus database. `SyncScanner` scans in-process (replay,
 * tests); `PoolScanner` uses worker threads, each with its own WebAssembly engine instance loaded
 * from the serialised database, so a slow scan holds only its own connection's packets (thesis
 * §3.5.2 without head-of-line blocking). A transfer is pinned to one worker (by its key), which
 * keeps the transfer's signature stream — its overlap carry (longest atom − 1 bytes) and partial
 * matches — between jobs, so each buffer is scanned once and a signature split across buffers is
 * reported exactly once.
 */
import { Worker } from 'node:worker_threads';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SigDatabase } from '../sigscan/sigdb.js';
import type { SigStream } from '../sigscan/stream.js';
import type { ScanJobData } from './scanbuffer.js';

/** Outcome of one job: the first signature found (in this job), or null if clean. */
export interface ScanResult {
  virus: string | null;
  /** Scan time in ms (worker side). */
  ms: number;
  error?: string;
}

export interface Scanner {
  scan(job: ScanJobData, done: (r: ScanResult) => void): void;
  /** Forgets a transfer that ends without a final job (connection killed or closed). */
  drop(key: string): void;
  /** Jobs submitted and not finished. */
  readonly busy: number;
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

export class SyncScanner implements Scanner {
  private readonly t: TransferScanners;
  readonly busy = 0;

  constructor(db: SigDatabase) {
    this.t = new TransferScanners(db);
  }

  scan(job: ScanJobData, done: (r: ScanResult) => void): void {
    const t0 = performance.now();
    done({ virus: this.t.run(job), ms: performance.now() - t0 });
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

export class PoolScanner implements Scanner {
  private readonly workers: { w: Worker; jobs: Map<number, (r: ScanResult) => void> }[] = [];
  private nextId = 1;

  /**
   * @param dbBytes the serialised database (SigDatabase.serialize), posted to each worker
   * @param threads worker count (≥ 1)
   * @param debugDelayMs test hook: each scan sleeps this long first (0 in production)
   */
  constructor(dbBytes: Uint8Array, threads: number, debugDelayMs = 0) {
    for (let i = 0; i < Math.max(1, threads); i++) {
      const w = new Worker(workerScript(), { workerData: { db: dbBytes, delayMs: debugDelayMs } });
      const slot = { w, jobs: new Map<number, (r: ScanResult) => void>() };
      w.on('message', (m: { id: number; virus: string | null; ms: number; error?: string }) => {
        const done = slot.jobs.get(m.id);
        if (!done) return;
        slot.jobs.delete(m.id);
        done({ virus: m.virus, ms: m.ms, error: m.error });
      });
      w.on('error', (err) => {
        for (const done of slot.jobs.values()) done({ virus: null, ms: 0, error: String(err) });
        slot.jobs.clear();
      });
      w.unref();
      this.workers.push(slot);
    }
  }

  get busy(): number {
    return this.workers.reduce((n, s) => n + s.jobs.size, 0);
  }

  scan(job: ScanJobData, done: (r: ScanResult) => void): void {
    const slot = this.workers[workerOf(job.key, this.workers.length)];
    const id = this.nextId++;
    slot.jobs.set(id, done);
    slot.w.postMessage({ op: 'scan', id, key: job.key, data: job.data, final: job.final }, [job.data.buffer as ArrayBuffer]);
  }

  drop(key: string): void {
    this.workers[workerOf(key, this.workers.length)].w.postMessage({ op: 'drop', key });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((s) => s.w.terminate()));
  }
}
