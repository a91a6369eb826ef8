/**
 * Scanners run scan jobs against the virus database. `SyncScanner` scans in-process (replay,
 * tests); `PoolScanner` uses worker threads, each with its own WebAssembly matcher instance, so a
 * slow scan holds only its own connection's packets (thesis §3.5.2 without head-of-line blocking).
 */
import { Worker } from 'node:worker_threads';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Matcher } from '../scan/matcher.js';
import type { VirusDb } from './virusdb.js';
import type { ScanJobData } from './scanbuffer.js';

/** Outcome of one job: the first signature that ends in the new bytes, or null if clean. */
export interface ScanResult {
  virus: string | null;
  /** Scan time in ms (worker side). */
  ms: number;
  error?: string;
}

export interface Scanner {
  scan(job: ScanJobData, done: (r: ScanResult) => void): void;
  /** Jobs submitted and not finished. */
  readonly busy: number;
  close(): Promise<void>;
}

/** Scans `job` with `m`: first match ending after `skip` wins. Shared by both scanners. */
export function scanJob(m: Matcher, db: Pick<VirusDb, 'names' | 'patterns'>, job: ScanJobData): string | null {
  let hit: number | null = null;
  m.scan(job.data, (id, start) => {
    if (hit === null && start + db.patterns[id].length > job.skip) hit = id;
  });
  return hit === null ? null : db.names[hit];
}

/** Compiles the database into a matcher (one per thread). */
export function compileDb(db: Pick<VirusDb, 'patterns'>): Matcher {
  return Matcher.compile(db.patterns.map((bytes, id) => ({ id, bytes })));
}

export class SyncScanner implements Scanner {
  private readonly m: Matcher;
  readonly busy = 0;

  constructor(private readonly db: VirusDb) {
    this.m = compileDb(db);
  }

  scan(job: ScanJobData, done: (r: ScanResult) => void): void {
    const t = performance.now();
    done({ virus: scanJob(this.m, this.db, job), ms: performance.now() - t });
  }

  async close(): Promise<void> {}
}

interface Pending {
  id: number;
  done: (r: ScanResult) => void;
}

/** The worker script: beside this module in dist/, or dist/ when running from src/ under tests. */
export function workerScript(): string {
  const here = fileURLToPath(new URL('./scan-worker.js', import.meta.url));
  return fs.existsSync(here) ? here : fileURLToPath(new URL('../../dist/inspect/scan-worker.js', import.meta.url));
}

export class PoolScanner implements Scanner {
  private readonly workers: { w: Worker; jobs: Map<number, Pending> }[] = [];
  private nextId = 1;
  private rr = 0;

  /**
   * @param db the database, posted to each worker
   * @param threads worker count (≥ 1)
   * @param debugDelayMs test hook: each scan sleeps this long first (0 in production)
   */
  constructor(db: VirusDb, threads: number, debugDelayMs = 0) {
    for (let i = 0; i < Math.max(1, threads); i++) {
      const w = new Worker(workerScript(), { workerData: { names: db.names, patterns: db.patterns, delayMs: debugDelayMs } });
      const slot = { w, jobs: new Map<number, Pending>() };
      w.on('message', (m: { id: number; virus: string | null; ms: number; error?: string }) => {
        const p = slot.jobs.get(m.id);
        if (!p) return;
        slot.jobs.delete(m.id);
        p.done({ virus: m.virus, ms: m.ms, error: m.error });
      });
      w.on('error', (err) => {
        for (const p of slot.jobs.values()) p.done({ virus: null, ms: 0, error: String(err) });
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
    // Least-loaded worker, round-robin among equals.
    let best = this.workers[this.rr++ % this.workers.length];
    for (const s of this.workers) if (s.jobs.size < best.jobs.size) best = s;
    const id = this.nextId++;
    best.jobs.set(id, { id, done });
    best.w.postMessage({ id, data: job.data, skip: job.skip }, [job.data.buffer as ArrayBuffer]);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((s) => s.w.terminate()));
  }
}
