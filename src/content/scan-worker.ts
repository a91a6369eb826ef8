/**
 * Scan worker thread: loads its own WebAssembly engine instance from the posted serialised
 * database and answers `{op: 'scan', id, key, data, final}` with `{id, virus, ms}`; `{op: 'drop',
 * key}` forgets a transfer. See scanner.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SigDatabase } from '../sigscan/sigdb.js';
import { TransferScanners } from './scan-pool.js';

const init = workerData as { db: Uint8Array; delayMs: number };
const scanners = new TransferScanners(SigDatabase.load(init.db, { source: 'scan worker database' }));
const sleeper = new Int32Array(new SharedArrayBuffer(4));

parentPort!.on('message', (m: { op: 'scan'; id: number; key: string; data: Uint8Array; final: boolean } | { op: 'drop'; key: string }) => {
  if (m.op === 'drop') {
    scanners.drop(m.key);
    return;
  }
  const t = performance.now();
  try {
    if (init.delayMs > 0) Atomics.wait(sleeper, 0, 0, init.delayMs); // test hook: a slow scanner
    parentPort!.postMessage({ id: m.id, virus: scanners.run(m), ms: performance.now() - t });
  } catch (err) {
    parentPort!.postMessage({ id: m.id, virus: null, ms: performance.now() - t, error: String(err) });
  }
});
