/**
 * Multi-pattern byte matcher (v1): the JS boundary of the WebAssembly Aho-Corasick engine in
 * asm/assembly/matcher.ts. Small pattern sets compile to a full DFA (1 KiB per automaton state, one
 * table load per byte); sets with more than `denseMaxStates` states to the sparse goto/failure form
 * (about 25 bytes per state: 100,000 keywords of 10 bytes take about 25 MB instead of 1 GB).
 *
 * Building and scanning can live in different threads: `Matcher.buildImage` (e.g. in a worker)
 * returns the built matcher as one transferable image, `Matcher.fromImage` adopts it with one copy.
 * `Matcher.compile` is both in one call; the build's temporaries die with its throwaway instance.
 *
 * A `Matcher` is a compiled pattern database (one WebAssembly instance, own linear memory). It is
 * shared by any number of `MatchStream`s, one per connection direction; a stream's state is only a
 * few numbers held in JS, so streams interleave freely. Every occurrence of every pattern is
 * reported exactly once, overlaps and chunk-spanning matches included, with absolute start offsets.
 *
 * Re-entrancy: `onMatch` may scan other streams of the same Matcher; matches are copied out of
 * linear memory before callbacks run and the input is reloaded if a callback overwrote it. If
 * `onMatch` throws, the exception propagates and that stream must be `reset()` before reuse.
 */
import { ErrorCodes, P2pgwError } from '../core/errors.js';
import { instantiateMatcher, wasmError, type MatcherExports } from './wasm.js';
import { buildImageFromBlob, PatternBlobWriter, type PatternBlob } from './blob.js';

export { PatternBlobWriter, type PatternBlob } from './blob.js';

export interface PatternSpec {
  /** Reported to `onMatch`; need not be unique (duplicates are reported once per spec). */
  id: number;
  /** Literal bytes, at least one. */
  bytes: Uint8Array;
  /** Match ASCII letters A-Z/a-z case-insensitively (other bytes match exactly). */
  nocase?: boolean;
}

export interface MatcherOptions {
  /**
   * Output buffer capacity in matches per engine call (default 4096). Raised to the largest number
   * of matches a single byte can produce; small values only exercise the resume path (tests).
   */
  outputCapacity?: number;
  /** Use asm/build/matcher.debug.wasm (default: env P2PGW_WASM_DEBUG=1). */
  debug?: boolean;
  /** Automata with more states use the sparse form (default 4096, i.e. up to 4 MiB of DFA table). */
  denseMaxStates?: number;
}

/** A built matcher as transferable parts (postMessage them with `image.buffer` in the transfer list). */
export interface MatcherImage {
  /** Position-independent engine image (asm/assembly/image.ts). */
  image: Uint8Array;
  /** Pattern id per pattern index (what onMatch reports). */
  ids: Float64Array;
  /** Pattern length per pattern index, bytes. */
  lens: Int32Array;
  /** Longest pattern, bytes. */
  maxPatternLength: number;
}

export type OnMatch = (id: number, start: number) => void;

/** Largest slice of a chunk handed to the engine at once; the input buffer never exceeds this. */
const MAX_INPUT = 64 * 1024;
/** Input buffer growth step. */
const INPUT_STEP = 4096;
const DEFAULT_OUTPUT_CAPACITY = 4096;
/** Total pattern bytes (about the state count): 16 MiB, i.e. at most about 400 MB of sparse automaton. */
const MAX_TOTAL_PATTERN_BYTES = 1 << 24;
const DEFAULT_DENSE_MAX_STATES = 4096;

function checkOutputCapacity(options: MatcherOptions): void {
  const oc = options.outputCapacity;
  if (oc !== undefined && (!Number.isInteger(oc) || oc < 1 || oc > 1 << 24)) {
    throw new P2pgwError(ErrorCodes.P2PGW_ERR_USAGE, 'outputCapacity must be an integer in [1, 2^24]');
  }
}

/**
 * A fresh instance with room for `img`'s image: returns it and the image's address (the caller
 * copies the image there, then calls load).
 * @throws P2pgwError(P2PGW_ERR_WASM) for ids that do not match the image, or out of memory
 */
function stageImage(img: MatcherImage, debug?: boolean): { ex: MatcherExports; ptr: number } {
  const { image, ids, lens } = img;
  if (image.length < 16 || new DataView(image.buffer, image.byteOffset, image.length).getUint32(12, true) !== ids.length || lens.length !== ids.length) {
    throw new P2pgwError(ErrorCodes.P2PGW_ERR_WASM, 'matcher image does not match its pattern ids');
  }
  const ex = instantiateMatcher(debug);
  const ptr = ex.alloc(image.length) >>> 0;
  if (ptr === 0) throw wasmError(-1, 'alloc');
  return { ex, ptr };
}

/** load_image of a staged, copied image. @throws P2pgwError(P2PGW_ERR_WASM) if it does not load */
function loadStaged(ex: MatcherExports, ptr: number, len: number): void {
  const rc = ex.load_image(ptr, len);
  if (rc !== 0) throw wasmError(rc, 'load_image');
}

/** Bytes copied per event-loop turn by `Matcher.fromImageAsync` (256 KiB: a few ms of first writes to fresh pages). */
const ASYNC_SLICE = 1 << 18;

/** Mutable scan position of one stream: automaton states and absolute offset. */
class StreamState {
  cs = 0;
  ci = 0;
  offset = 0;
  clear(): void {
    this.cs = 0;
    this.ci = 0;
    this.offset = 0;
  }
}

/** One built engine instance plus its buffers. Internal. */
class Engine {
  readonly ex: MatcherExports;
  readonly ids: Float64Array;
  readonly lens: Int32Array;
  readonly outPtr: number;
  readonly outCap: number;
  private inPtr = 0;
  private inCap = 0;
  /** Bumped whenever the input buffer is (re)loaded, so an interrupted feed knows to reload. */
  private gen = 0;
  private u8: Uint8Array;
  private i32: Int32Array;

  /** `ex`: an instance that has loaded the image of `img` (stageImage + load_image). */
  constructor(ex: MatcherExports, img: MatcherImage, options: MatcherOptions) {
    this.ids = img.ids;
    this.lens = img.lens;
    this.ex = ex;
    this.u8 = new Uint8Array(ex.memory.buffer);
    this.i32 = new Int32Array(ex.memory.buffer);
    const maxOut = ex.max_out();
    const wanted = options.outputCapacity ?? DEFAULT_OUTPUT_CAPACITY;
    this.outCap = Math.max(1, maxOut, wanted);
    this.outPtr = ex.alloc(this.outCap * 8) >>> 0;
    if (this.outPtr === 0) throw wasmError(-1, 'alloc');
    this.refresh();
  }

  private refresh(): void {
    const buf = this.ex.memory.buffer;
    if (this.u8.buffer !== buf) {
      this.u8 = new Uint8Array(buf);
      this.i32 = new Int32Array(buf);
    }
  }

  /** Copies chunk[from, to) into the input buffer (growing it in 4 KiB steps). */
  private load(chunk: Uint8Array, from: number, to: number): void {
    const need = to - from;
    if (need > this.inCap) {
      const cap = Math.ceil(need / INPUT_STEP) * INPUT_STEP;
      const ptr = this.ex.input_reserve(cap) >>> 0;
      if (ptr === 0) throw wasmError(-1, 'input_reserve');
      this.inPtr = ptr;
      this.inCap = cap;
    }
    this.refresh();
    this.u8.set(chunk.subarray(from, to), this.inPtr);
    this.gen++;
  }

  feed(st: StreamState, chunk: Uint8Array, onMatch: OnMatch): void {
    const len = chunk.length;
    const { ex, ids, lens, outPtr, outCap } = this;
    let cur = 0; // next unconsumed byte of chunk
    let loadedFrom = 0; // chunk index held at inPtr
    let loadedTo = 0;
    let loadedGen = -1;
    while (cur < len) {
      if (cur >= loadedTo || loadedGen !== this.gen) {
        loadedFrom = cur;
        loadedTo = Math.min(len, cur + MAX_INPUT);
        this.load(chunk, loadedFrom, loadedTo);
        loadedGen = this.gen;
      }
      const n = ex.scan(st.cs, st.ci, this.inPtr + (cur - loadedFrom), loadedTo - cur, outPtr, outCap);
      if (n < 0) throw wasmError(n, 'scan');
      const used = ex.result_pos();
      const base = st.offset;
      st.cs = ex.result_state_cs();
      st.ci = ex.result_state_ci();
      st.offset = base + used;
      cur += used;
      if (n > 0) {
        this.refresh();
        const o = outPtr >>> 2;
        const m = this.i32.slice(o, o + 2 * n); // copy: callbacks may re-enter the engine
        for (let k = 0; k < 2 * n; k += 2) {
          const p = m[k];
          onMatch(ids[p], base + m[k + 1] - lens[p]);
        }
      } else if (used === 0) {
        throw new P2pgwError(ErrorCodes.P2PGW_ERR_WASM, 'matcher scan made no progress');
      }
    }
  }
}

export class Matcher {
  readonly patternCount: number;
  readonly maxPatternLength: number;
  /** Automaton states (case-sensitive + case-insensitive): 1 KiB each dense, about 25 bytes sparse. */
  readonly stateCount: number;
  readonly #engine: Engine;

  private constructor(engine: Engine, patternCount: number, maxPatternLength: number) {
    this.#engine = engine;
    this.patternCount = patternCount;
    this.maxPatternLength = maxPatternLength;
    this.stateCount = engine.ex.state_count(0) + engine.ex.state_count(1);
  }

  /** Compiles a pattern database. Throws P2pgwError(P2PGW_ERR_PATTERN) on invalid patterns. */
  static compile(patterns: readonly PatternSpec[], options: MatcherOptions = {}): Matcher {
    return Matcher.fromImage(Matcher.buildImage(patterns, options), options);
  }

  /**
   * Validates and compiles `patterns` into a transferable image (no instance is kept: the build's
   * temporaries are freed with its throwaway instance). Safe to call in a worker thread.
   * @throws P2pgwError(P2PGW_ERR_PATTERN) on invalid patterns or a set too large;
   *   P2pgwError(P2PGW_ERR_USAGE) on bad options; P2pgwError(P2PGW_ERR_WASM) when memory runs out
   */
  static buildImage(patterns: readonly PatternSpec[], options: MatcherOptions = {}): MatcherImage {
    checkOutputCapacity(options);
    if (!Array.isArray(patterns)) {
      throw new P2pgwError(ErrorCodes.P2PGW_ERR_PATTERN, 'patterns must be an array');
    }
    let total = 0;
    patterns.forEach((p, k) => {
      if (p === null || typeof p !== 'object') {
        throw new P2pgwError(ErrorCodes.P2PGW_ERR_PATTERN, `pattern #${k}: not an object`);
      }
      if (typeof p.id !== 'number' || !Number.isFinite(p.id)) {
        throw new P2pgwError(ErrorCodes.P2PGW_ERR_PATTERN, `pattern #${k}: id must be a finite number`);
      }
      if (!(p.bytes instanceof Uint8Array)) {
        throw new P2pgwError(ErrorCodes.P2PGW_ERR_PATTERN, `pattern #${k} (id ${p.id}): bytes must be a Uint8Array`);
      }
      if (p.bytes.length === 0) {
        throw new P2pgwError(ErrorCodes.P2PGW_ERR_PATTERN, `pattern #${k} (id ${p.id}): empty pattern`);
      }
      if (p.nocase !== undefined && typeof p.nocase !== 'boolean') {
        throw new P2pgwError(ErrorCodes.P2PGW_ERR_PATTERN, `pattern #${k} (id ${p.id}): nocase must be a boolean`);
      }
      total += p.bytes.length;
    });
    if (total > MAX_TOTAL_PATTERN_BYTES) {
      throw new P2pgwError(
        ErrorCodes.P2PGW_ERR_PATTERN,
        `pattern set too large: ${total} bytes (limit ${MAX_TOTAL_PATTERN_BYTES})`,
      );
    }
    const w = new PatternBlobWriter();
    for (const p of patterns) w.add(p.id, p.bytes, p.nocase === true);
    return Matcher.buildBlobImage(w.finish(), options);
  }

  /**
   * `buildImage` for patterns already in blob form (PatternBlobWriter: many patterns, no object
   * per pattern). Checks the total size and the options; the engine checks the rest.
   * @throws as buildImage
   */
  static buildBlobImage(pb: PatternBlob, options: MatcherOptions = {}): MatcherImage {
    checkOutputCapacity(options);
    if (pb.totalBytes > MAX_TOTAL_PATTERN_BYTES) {
      throw new P2pgwError(ErrorCodes.P2PGW_ERR_PATTERN, `pattern set too large: ${pb.totalBytes} bytes (limit ${MAX_TOTAL_PATTERN_BYTES})`);
    }
    const dm = options.denseMaxStates ?? DEFAULT_DENSE_MAX_STATES;
    if (!Number.isInteger(dm) || dm < 0 || dm > 1 << 21) {
      throw new P2pgwError(ErrorCodes.P2PGW_ERR_USAGE, 'denseMaxStates must be an integer in [0, 2^21]');
    }
    const image = buildImageFromBlob(pb.blob, dm, options.debug);
    return { image, ids: pb.ids, lens: pb.lens, maxPatternLength: pb.maxPatternLength };
  }

  /**
   * Adopts a matcher built by `buildImage` (in this thread or another): one instance, one copy of
   * the image; only `outputCapacity` and `debug` of `options` apply.
   * @throws P2pgwError(P2PGW_ERR_WASM) for an image that does not load
   */
  static fromImage(img: MatcherImage, options: MatcherOptions = {}): Matcher {
    checkOutputCapacity(options);
    const { ex, ptr } = stageImage(img, options.debug);
    new Uint8Array(ex.memory.buffer).set(img.image, ptr);
    loadStaged(ex, ptr, img.image.length);
    return new Matcher(new Engine(ex, img, options), img.ids.length, img.maxPatternLength);
  }

  /**
   * `fromImage` that copies the image 256 KiB per event-loop turn, so that adopting a big matcher
   * (tens of MB, first writes to fresh pages) never holds the thread for long: what a reload uses
   * while packets are being judged.
   * @throws (rejects with) what fromImage throws
   */
  static async fromImageAsync(img: MatcherImage, options: MatcherOptions = {}): Promise<Matcher> {
    checkOutputCapacity(options);
    const { ex, ptr } = stageImage(img, options.debug);
    const image = img.image;
    for (let off = 0; off < image.length; off += ASYNC_SLICE) {
      new Uint8Array(ex.memory.buffer).set(image.subarray(off, off + ASYNC_SLICE), ptr + off);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    loadStaged(ex, ptr, image.length);
    return new Matcher(new Engine(ex, img, options), img.ids.length, img.maxPatternLength);
  }

  /** Bytes of linear memory of this matcher's instance (automata, buffers). */
  get memoryBytes(): number {
    return this.#engine.ex.memory.buffer.byteLength;
  }

  newStream(): MatchStream {
    return new MatchStream(this.#engine);
  }

  /** One-shot scan of a whole buffer from a fresh state; `start` is the offset in `buf`. */
  scan(buf: Uint8Array, onMatch: OnMatch): void {
    this.#engine.feed(new StreamState(), buf, onMatch);
  }
}

export class MatchStream {
  readonly #engine: Engine;
  readonly #st = new StreamState();

  /** @internal Use `Matcher.newStream()`. */
  constructor(engine: unknown) {
    if (!(engine instanceof Engine)) {
      throw new P2pgwError(ErrorCodes.P2PGW_ERR_USAGE, 'use Matcher.newStream() to create a MatchStream');
    }
    this.#engine = engine;
  }

  /** Bytes consumed so far. */
  get offset(): number {
    return this.#st.offset;
  }

  /** Scans the next chunk; `start` is the absolute stream offset of the match's first byte. */
  write(chunk: Uint8Array, onMatch: OnMatch): void {
    this.#engine.feed(this.#st, chunk, onMatch);
  }

  /** Back to the start of a new stream (offset 0, no partial matches). */
  reset(): void {
    this.#st.clear();
  }
}
