/**
 * Keyword build worker (src/content/keywords.ts, `KeywordSet.build`): compiles the posted keyword
 * lists into a matcher image off the main thread and posts it back (its buffers transferred), or
 * the build's error as `{ error: { code, message } }`. One build per worker; the thread then ends
 * and its memory (the build's temporaries) goes with it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildKeywordImage, keywordImageTransfer, type KeywordImage, type KeywordLists, type KeywordWorkerReply } from './keywords.js';

const { lists } = workerData as { lists: KeywordLists };
let reply: KeywordWorkerReply;
let transfer: ArrayBuffer[] = [];
try {
  const built = buildKeywordImage(lists) as KeywordImage;
  reply = built;
  transfer = keywordImageTransfer(built);
} catch (err) {
  const e = err as { code?: string; message?: string };
  reply = { error: { code: e.code ?? 'P2PGW_ERR_WASM', message: e.message ?? String(err) } };
}
parentPort!.postMessage(reply, transfer);
