/**
 * Reload worker (./reload-config.ts): reads and validates the config, and compiles its keyword
 * lists, off the main thread. Posts `{ next, keywords }` (keywords null when their fingerprint
 * equals the running set's; the automaton image's buffers transferred) or `{ error }` (the message
 * of what loadConfig or the keyword build threw). One reload per worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { APPS } from '../apps/registry.js';
import { loadConfig } from '../config/load.js';
import { buildKeywordImage, keywordImageTransfer } from '../content/keywords.js';
import type { ReloadWorkerReply } from './reload-config.js';

const { file, keywordsFingerprint } = workerData as { file: string | undefined; keywordsFingerprint: string };
let reply: ReloadWorkerReply;
let transfer: ArrayBuffer[] = [];
try {
  const next = loadConfig(file, APPS.map((a) => a.name));
  const kw = buildKeywordImage(next.keywords.lists, keywordsFingerprint);
  reply = { next, keywords: kw === 'same' ? null : kw };
  if (kw !== 'same') transfer = keywordImageTransfer(kw);
} catch (err) {
  reply = { error: (err as Error).message ?? String(err) };
}
parentPort!.postMessage(reply, transfer);
