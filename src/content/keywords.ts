/**
 * Keyword lists (thesis §3.6 content filtering) compiled into the WebAssembly matcher: chat
 * messages and requested file names are checked against them, case-insensitively, in UTF-8.
 * Case folding: keywords and text are lowercased with String#toLowerCase (full Unicode) before
 * UTF-8 encoding, and matched with the matcher's ASCII-nocase automaton, so "Секрет" matches
 * "СЕКРЕТ" and "Secret" matches "sEcReT".
 *
 * Memory (issue 14, item 6): large lists compile to the matcher's sparse automaton (about 25 bytes
 * per keyword byte: 100,000 keywords of 10 bytes take about 26 MB), and a set keeps the config's
 * keyword arrays by reference plus two Int32Arrays, no object per keyword. Building: the
 * constructor builds in the calling thread (start-up, check-config); `KeywordSet.build` builds in a
 * worker thread (./keyword-worker.ts), so a reload (SIGHUP) never stalls the packet path: the
 * daemon keeps judging with the old set and swaps in the new one when it is ready.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { threadId, Worker } from 'node:worker_threads';
import { Matcher, PatternBlobWriter, type MatcherImage, type PatternBlob } from '../matcher/matcher.js';
import { ErrorCodes, P2pgwError, type ErrorCode } from '../core/errors.js';

/** A keyword hit: the list's name, the keyword as configured and its index in the list. */
export interface KeywordHit {
  list: string;
  keyword: string;
  /** Stable id `list#index`, used in verdict lines. */
  id: string;
}

/** Keyword lists: list name → keywords (non-empty strings). */
export type KeywordLists = Readonly<Record<string, readonly string[]>>;

const enc = new TextEncoder();

/**
 * The matcher patterns of `lists` in blob form (pattern id = position over all lists in order),
 * lowercased UTF-8, case-insensitive.
 * @throws P2pgwError(P2PGW_ERR_CONFIG) for an empty (or blank) keyword, naming it
 *   (`keywords.lists.<list>[<i>]: empty keyword`)
 */
export function keywordBlob(lists: KeywordLists): PatternBlob {
  const w = new PatternBlobWriter();
  let id = 0;
  for (const [list, words] of Object.entries(lists)) {
    words.forEach((keyword, i) => {
      if (!keyword.trim()) throw new P2pgwError('P2PGW_ERR_CONFIG', `keywords.lists.${list}[${i}]: empty keyword`);
      w.addText(id++, keyword.toLowerCase(), true);
    });
  }
  return w.finish();
}

/**
 * Checks `lists` without compiling them (cheap: no encoding, no automaton), as the main thread
 * does before a worker build.
 * @throws P2pgwError(P2PGW_ERR_CONFIG) for an empty (or blank) keyword, as keywordBlob
 */
export function checkKeywordLists(lists: KeywordLists): void {
  for (const [list, words] of Object.entries(lists)) {
    words.forEach((keyword, i) => {
      if (!keyword.trim()) throw new P2pgwError('P2PGW_ERR_CONFIG', `keywords.lists.${list}[${i}]: empty keyword`);
    });
  }
}

/** The worker script: beside this module in dist/, or dist/ when running from src/ under tests. */
function workerScript(): string {
  const here = fileURLToPath(new URL('./keyword-worker.js', import.meta.url));
  return fs.existsSync(here) ? here : fileURLToPath(new URL('../../dist/content/keyword-worker.js', import.meta.url));
}

/** Fingerprint of `lists` (SHA-256 of their names and keywords in order): equal lists, equal prints. */
export function keywordFingerprint(lists: KeywordLists): string {
  return createHash('sha256').update(JSON.stringify(Object.entries(lists))).digest('hex');
}

/** A keyword automaton built for `lists` (null: no keywords), where, and the lists' fingerprint. */
export interface KeywordImage {
  img: MatcherImage | null;
  threadId: number;
  fingerprint: string;
}

/**
 * Builds the automaton image of `lists` in this thread (a worker's part of `KeywordSet.build`, and
 * of the daemon's reload worker).
 * @param unless a fingerprint: when `lists` has it, returns 'same' without building
 * @throws what the KeywordSet constructor throws
 */
export function buildKeywordImage(lists: KeywordLists, unless?: string): KeywordImage | 'same' {
  const fingerprint = keywordFingerprint(lists);
  if (fingerprint === unless) return 'same';
  const blob = keywordBlob(lists);
  return { img: blob.ids.length ? Matcher.buildBlobImage(blob) : null, threadId, fingerprint };
}

/** Buffers of a KeywordImage to list in postMessage's transfer list. */
export function keywordImageTransfer(k: KeywordImage): ArrayBuffer[] {
  return k.img ? [k.img.image.buffer as ArrayBuffer, k.img.ids.buffer as ArrayBuffer, k.img.lens.buffer as ArrayBuffer] : [];
}

/** What ./keyword-worker.ts posts back: the built image, or the build's error. */
export type KeywordWorkerReply = KeywordImage | { error: { code: string; message: string } };

/** @internal What a set is made of when it was built elsewhere. */
interface Parts {
  matcher: Matcher | null;
  threadId: number;
  fingerprint: string | null;
}

export class KeywordSet {
  readonly #matcher: Matcher | null;
  readonly #names: string[];
  /** The config's keyword arrays (by reference), parallel to #names. */
  readonly #words: (readonly string[])[];
  /** Per pattern id: list index, and index in that list. */
  readonly #listOf: Int32Array;
  readonly #indexOf: Int32Array;
  #fingerprint: string | null;
  /** worker_threads threadId of the thread that built the automaton (0: the main thread). */
  readonly builtInThread: number;

  /**
   * Builds the set in this thread (start-up, check-config).
   * @param lists list name → keywords (non-empty strings)
   * @throws P2pgwError(P2PGW_ERR_CONFIG) for an empty keyword; P2pgwError(P2PGW_ERR_PATTERN) when
   *   the lists exceed the matcher's 16 MiB of pattern bytes
   */
  constructor(lists: KeywordLists, parts?: Parts) {
    this.#names = Object.keys(lists);
    this.#words = this.#names.map((n) => lists[n]);
    const total = this.#words.reduce((n, w) => n + w.length, 0);
    this.#listOf = new Int32Array(total);
    this.#indexOf = new Int32Array(total);
    let k = 0;
    this.#words.forEach((words, li) => {
      for (let i = 0; i < words.length; i++, k++) (this.#listOf[k] = li), (this.#indexOf[k] = i);
    });
    if (parts) {
      this.#matcher = parts.matcher;
      this.builtInThread = parts.threadId;
      this.#fingerprint = parts.fingerprint;
    } else {
      const blob = keywordBlob(lists);
      this.#matcher = total ? Matcher.fromImage(Matcher.buildBlobImage(blob)) : null;
      this.builtInThread = threadId;
      this.#fingerprint = null;
    }
  }

  /**
   * The set of `lists` from an image built for them elsewhere (`buildKeywordImage` in a worker):
   * copies the image 256 KiB per event-loop turn (Matcher.fromImageAsync), so this thread is
   * never held for long.
   */
  static async adopt(lists: KeywordLists, built: KeywordImage): Promise<KeywordSet> {
    const matcher = built.img ? await Matcher.fromImageAsync(built.img) : null;
    return new KeywordSet(lists, { matcher, threadId: built.threadId, fingerprint: built.fingerprint });
  }

  /**
   * Builds the set in a worker thread (./keyword-worker.ts); this thread only adopts the finished
   * automaton (KeywordSet.adopt) and fills two index arrays.
   * @returns the new set; `current` itself when its lists equal `lists` (nothing to rebuild)
   * @throws (rejects with) what the constructor throws, from the worker; P2pgwError(P2PGW_ERR_WASM)
   *   when the worker dies
   */
  static async build(lists: KeywordLists, current?: KeywordSet): Promise<KeywordSet> {
    if (current?.sameLists(lists)) return current;
    const reply = await new Promise<KeywordWorkerReply>((resolve, reject) => {
      const w = new Worker(workerScript(), { workerData: { lists } });
      let done = false;
      w.once('message', (m: KeywordWorkerReply) => ((done = true), resolve(m), void w.terminate()));
      w.once('error', (err: Error) => ((done = true), reject(new P2pgwError(ErrorCodes.P2PGW_ERR_WASM, `keyword build worker failed: ${err.message}`, { cause: err }))));
      w.once('exit', (code) => {
        if (!done) reject(new P2pgwError(ErrorCodes.P2PGW_ERR_WASM, `keyword build worker exited with code ${code}`));
      });
    });
    if ('error' in reply) throw new P2pgwError(reply.error.code as ErrorCode, reply.error.message);
    return KeywordSet.adopt(lists, reply);
  }

  /** keywordFingerprint of this set's lists (computed on first use). */
  get fingerprint(): string {
    if (this.#fingerprint === null) this.#fingerprint = keywordFingerprint(Object.fromEntries(this.#names.map((n, i) => [n, this.#words[i]])));
    return this.#fingerprint;
  }

  /** True when `lists` holds the same lists, in the same order, with the same keywords. */
  sameLists(lists: KeywordLists): boolean {
    const names = Object.keys(lists);
    if (names.length !== this.#names.length) return false;
    return names.every((n, li) => {
      const a = lists[n];
      const b = this.#words[li];
      if (n !== this.#names[li] || a.length !== b.length) return false;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
      return true;
    });
  }

  /** Number of keywords over all lists. */
  get size(): number {
    return this.#listOf.length;
  }

  /** Bytes this set holds outside the JS heap: the matcher's linear memory and the index arrays. */
  get memoryBytes(): number {
    return (this.#matcher?.memoryBytes ?? 0) + this.#listOf.byteLength + this.#indexOf.byteLength;
  }

  /** The first keyword (lowest position in the text) found in `text`, or null. */
  find(text: string): KeywordHit | null {
    if (!this.#matcher || !text) return null;
    let bestId = -1;
    let bestStart = Infinity;
    this.#matcher.scan(enc.encode(text.toLowerCase()), (id, start) => {
      if (start < bestStart) (bestStart = start), (bestId = id);
    });
    if (bestId < 0) return null;
    const li = this.#listOf[bestId];
    const i = this.#indexOf[bestId];
    const list = this.#names[li];
    return { list, keyword: this.#words[li][i], id: `${list}#${i}` };
  }
}
