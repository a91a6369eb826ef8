/**
 * Scan worker thread: loads its own WebAssembly engine instance from the posted serialised
 * database and answers `{op: 'scan', id, key, data, final}` with `{id, virus, ms, buffer}`
 * (`{id, virus: null, ms, error, buffer}` when the scan threw); `{op: 'drop', key}` forgets a
 * transfer. `buffer` is the job's scan buffer (`data.buffer`, whole, whatever part of it `data`
 * views), transferred back for reuse (src/content/scan-pool.ts, ./scanbuffer.ts); absent when it
 * has no bytes (an empty final job). See ./scan-pool.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SigDatabase } from '../sigscan/sigdb.js';
import { TransferScanners } from './scan-pool.js';

const init = workerData as { db: Uint8Array; delayMs: number };
const scanners = new TransferScanners(SigDatabase.load(init.db, { source: 'scan worker database' }));
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Posts `reply` with the job's scan buffer transferred back (not when empty or already detached). */
function answer(reply: { id: number; virus: string | null; ms: number; error?: string }, data: Uint8Array): void {
  const b = data.buffer;
  if (b instanceof ArrayBuffer && b.byteLength > 0) parentPort!.postMessage({ ...reply, buffer: b }, [b]);
  else parentPort!.postMessage(reply);
}

parentPort!.on('message', (m: { op: 'scan'; id: number; key: string; data: Uint8Array; final: boolean } | { op: 'drop'; key: string }) => {
  if (m.op === 'drop') {
    scanners.drop(m.key);
    return;
  }
  const t = performance.now();
  try {
    if (init.delayMs > 0) Atomics.wait(sleeper, 0, 0, init.delayMs); // test hook: a slow scanner
    answer({ id: m.id, virus: scanners.run(m), ms: performance.now() - t }, m.data);
  } catch (err) {
    answer({ id: m.id, virus: null, ms: performance.now() - t, error: String(err) }, m.data);
  }
});
