/**
 * Entry script of a queue worker of `p2pgw run --queues N` (started by worker-pool.ts, never by
 * hand):
 *
 *     node dist/runtime/worker-main.js '<RunOptions as JSON, with worker.index>'
 *
 * Runs the daemon (daemon.ts) for queue num+index with those options. Errors end it like the
 * command line: `p2pgw: <message>` on stderr, exit code 2 for usage, config and rules errors, 1
 * otherwise (exit.ts).
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { P2pgwError } from '../core/errors.js';
import type { RunOptions } from './boot.js';
import { reportFatal } from './exit.js';

/**
 * Parses the worker's arguments: exactly one, a JSON object of RunOptions with `worker.index` a
 * non-negative integer.
 * @throws P2pgwError(P2PGW_ERR_USAGE) otherwise
 */
export function parseWorkerOptions(argv: string[]): RunOptions {
  const bad = (why: string): never => {
    throw new P2pgwError('P2PGW_ERR_USAGE', `queue worker: ${why} (this script is started by \`p2pgw run --queues N\`)`);
  };
  if (argv.length !== 1) bad(`expected one JSON argument, got ${argv.length}`);
  let o: unknown;
  try {
    o = JSON.parse(argv[0]);
  } catch (err) {
    bad(`bad JSON argument: ${(err as Error).message}`);
  }
  const index = (o as RunOptions | null)?.worker?.index;
  if (!o || typeof o !== 'object' || Array.isArray(o) || !Number.isInteger(index) || index! < 0) bad('the options need worker.index, an integer ≥ 0');
  return o as RunOptions;
}

/**
 * Runs a queue worker with `argv` (after node and script) until SIGTERM/SIGINT.
 * @returns the exit code of runDaemon
 * @throws P2pgwError(P2PGW_ERR_USAGE) for bad arguments, and whatever runDaemon throws
 */
export async function workerMain(argv: string[]): Promise<number> {
  const opts = parseWorkerOptions(argv);
  const { runDaemon } = await import('./daemon.js');
  return runDaemon(opts);
}

const isMain = process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
if (isMain) {
  workerMain(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.exitCode = reportFatal(err);
    },
  );
}
