/**
 * Scan pools for tests: a test's pools are created through `pool()` and all closed by `closeAll()`
 * (call it in afterEach), so no worker thread outlives its test. The database holds EICAR only.
 */
import { PoolScanner } from '../../src/content/scan-pool.js';
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
