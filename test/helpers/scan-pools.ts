/**
 * Scanners and inspectors for content-inspection tests: pools created through `pool()` and all
 * closed by `closeAll()` (call it in afterEach), so no worker thread outlives its test (the
 * database holds EICAR only); a scanner that answers only when told; a one-file inspector.
 */
import { PoolScanner, type Scanner, type ScanResult } from '../../src/content/scan-pool.js';
import type { ScanJobData } from '../../src/content/scanbuffer.js';
import type { ContentSession } from '../../src/content/session.js';
import type { StreamInspector } from '../../src/apps/types.js';
import { buildVirusDb, EICAR } from '../../src/content/virusdb.js';

export const eicarDb = buildVirusDb({ eicar: true });
export const eicar = new TextEncoder().encode(EICAR);

export function scanPools(): { pool: (threads: number, opts?: ConstructorParameters<typeof PoolScanner>[2]) => PoolScanner; closeAll: () => Promise<void> } {
  const pools: PoolScanner[] = [];
  return {
    pool: (threads, opts = {}) => {
      const p = new PoolScanner(eicarDb.bytes!, threads, opts);
      pools.push(p);
      return p;
    },
    closeAll: async () => {
      await Promise.all(pools.splice(0).map((p) => p.close()));
    },
  };
}

/** A scanner that keeps every job unanswered until the test answers it (`pending[i].done`, `answer()`). */
export class StuckScanner implements Scanner {
  readonly pending: { job: ScanJobData; done: (r: ScanResult) => void }[] = [];
  readonly dropped: string[] = [];
  get busy(): number {
    return this.pending.length;
  }
  scan(job: ScanJobData, done: (r: ScanResult) => void): void {
    this.pending.push({ job, done });
  }
  drop(key: string): void {
    this.dropped.push(key);
  }
  /** Answers every pending job with `virus` (null: clean). */
  answer(virus: string | null = null): void {
    for (const p of this.pending.splice(0)) p.done({ virus, ms: 1 });
  }
  async close(): Promise<void> {}
}

/**
 * Inspector: direction 1 carries one file (`name`) from its first byte; FIN ends it complete; with
 * `endOnGap`, a gap ends it incomplete (else a gap is ignored).
 */
export function fileInspector(s: ContentSession, name = 'f.bin', endOnGap = false): StreamInspector {
  let id: number | null = null;
  return {
    onData: (dir, b) => {
      if (dir !== 1) return;
      id ??= s.fileStart(1, { name, size: null });
      s.fileData(id, b);
    },
    onGap: (dir) => {
      if (endOnGap && dir === 1 && id !== null) s.fileEnd(id, false);
    },
    onEnd: (dir) => {
      if (dir === 1 && id !== null) s.fileEnd(id, true);
    },
  };
}
