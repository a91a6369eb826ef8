/**
 * A reload's config, read off the main thread (issue 14, item 6): a SIGHUP with 100,000 keywords
 * used to hold the packet path for seconds (YAML parsing and validation of the lists, then the
 * keyword automaton). Here a worker thread (./reload-worker.ts) does both; the main thread only
 * compiles the rules into the classifier (small) and adopts the keyword automaton 256 KiB per
 * event-loop turn, so verdicts go on meanwhile and the new config applies at once when ready.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Counters } from '../core/counters.js';
import type { EffectiveConfig } from '../config/load.js';
import { KeywordSet, type KeywordImage } from '../content/keywords.js';
import { buildClassifier } from './setup.js';

/** What ./reload-worker.ts posts back. */
export type ReloadWorkerReply = { next: EffectiveConfig; keywords: KeywordImage | null } | { error: string };

/** The worker script: beside this module in dist/, or dist/ when running from src/ under tests. */
function workerScript(): string {
  const here = fileURLToPath(new URL('./reload-worker.js', import.meta.url));
  return fs.existsSync(here) ? here : fileURLToPath(new URL('../../dist/runtime/reload-worker.js', import.meta.url));
}

/** Lets the event loop turn (packets waiting get their verdicts). */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs the reload worker for `file`; resolves with its reply (a dead worker is an error reply). */
function runWorker(file: string | undefined, keywordsFingerprint: string): Promise<ReloadWorkerReply> {
  return new Promise((resolve) => {
    const w = new Worker(workerScript(), { workerData: { file, keywordsFingerprint } });
    let done = false;
    w.once('message', (m: ReloadWorkerReply) => ((done = true), resolve(m), void w.terminate()));
    w.once('error', (err: Error) => ((done = true), resolve({ error: `reload worker failed: ${err.message}` })));
    w.once('exit', (code) => {
      if (!done) resolve({ error: `reload worker exited with code ${code}` });
    });
  });
}

/**
 * loadForReload (./boot.ts) off the main thread.
 * @param file the config file given at start (undefined: the bundled default)
 * @param current the running config's file, for the error line
 * @param keywords the running keyword set: kept when the new lists are the same
 * @returns the new config, its classifier and rules, and its keyword set; null when the new config,
 *   its rules or its keyword lists are invalid: counts `reload_refused` and logs `reload refused:
 *   invalid config; the old config keeps running` with `err` and `config` (as loadForReload)
 */
export async function loadForReloadOffThread(file: string | undefined, logger: Logger, counters: Counters, current: string, keywords: KeywordSet) {
  const refuse = (err: string): null => {
    counters.inc('reload_refused');
    logger.error({ err, config: current }, 'reload refused: invalid config; the old config keeps running');
    return null;
  };
  const reply = await runWorker(file, keywords.fingerprint);
  if ('error' in reply) return refuse(reply.error);
  const { next } = reply;
  await turn(); // the reply's deserialisation and the classifier's compilation in separate turns
  let built: ReturnType<typeof buildClassifier>;
  try {
    built = buildClassifier(next);
  } catch (err) {
    return refuse((err as Error).message);
  }
  await turn();
  try {
    const kw = reply.keywords ? await KeywordSet.adopt(next.keywords.lists, reply.keywords) : keywords;
    return { next, built, keywords: kw };
  } catch (err) {
    return refuse((err as Error).message);
  }
}
