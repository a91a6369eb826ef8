/**
 * Scan worker thread: builds its own WebAssembly matcher from the posted database and answers
 * `{id, data, skip}` jobs with `{id, virus, ms}`. See scanner.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { compileDb, scanJob } from './scanner.js';

const db = workerData as { names: string[]; patterns: Uint8Array[]; delayMs: number };
const m = compileDb(db);
const sleeper = new Int32Array(new SharedArrayBuffer(4));

parentPort!.on('message', (job: { id: number; data: Uint8Array; skip: number }) => {
  const t = performance.now();
  try {
    if (db.delayMs > 0) Atomics.wait(sleeper, 0, 0, db.delayMs); // test hook: a slow scanner
    const virus = scanJob(m, db, { data: job.data, skip: job.skip, base: 0 });
    parentPort!.postMessage({ id: job.id, virus, ms: performance.now() - t });
  } catch (err) {
    parentPort!.postMessage({ id: job.id, virus: null, ms: performance.now() - t, error: String(err) });
  }
});
