/**
 * Multi-pattern byte matcher (v1): the JS boundary of the WebAssembly Aho-Corasick engine in
 * asm/assembly/matcher.ts.
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
import {
  BLOB_HEADER,
  BLOB_VERSION,
  ENTRY_HEADER,
  FLAG_NOCASE,
  instantiateMatcher,
  wasmError,
  type MatcherExports,
} from './wasm.js';

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
}

export type OnMatch = (id: number, start: number) => void;

/** Largest slice of a chunk handed to the engine at once; the input buffer never exceeds this. */
const MAX_INPUT = 64 * 1024;
/** Input buffer growth step. */
const INPUT_STEP = 4096;
const DEFAULT_OUTPUT_CAPACITY = 4096;
/** Keep state ids (stored as id << 8 in an i32) and the 1 KiB-per-state table addressable. */
const MAX_TOTAL_PATTERN_BYTES = (1 << 21) - 2;

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

  constructor(patterns: readonly PatternSpec[], options: MatcherOptions) {
    const n = patterns.length;
    this.ids = new Float64Array(n);
    this.lens = new Int32Array(n);
    let blobLen = BLOB_HEADER;
    for (let k = 0; k < n; k++) {
      const p = patterns[k];
      this.ids[k] = p.id;
      this.lens[k] = p.bytes.length;
      blobLen += ENTRY_HEADER + p.bytes.length;
    }
    this.ex = instantiateMatcher(options.debug);
    const blob = this.ex.alloc(blobLen) >>> 0;
    if (blob === 0) throw wasmError(-1, 'alloc');
    this.u8 = new Uint8Array(this.ex.memory.buffer);
    this.i32 = new Int32Array(this.ex.memory.buffer);
    const dv = new DataView(this.ex.memory.buffer);
    dv.setUint32(blob, BLOB_VERSION, true);
    dv.setUint32(blob + 4, n, true);
    let pos = blob + BLOB_HEADER;
    for (const p of patterns) {
      dv.setUint32(pos, p.bytes.length, true);
      dv.setUint32(pos + 4, p.nocase === true ? FLAG_NOCASE : 0, true);
      this.u8.set(p.bytes, pos + ENTRY_HEADER);
      pos += ENTRY_HEADER + p.bytes.length;
    }
    const rc = this.ex.build(blob, blobLen);
    if (rc !== 0) throw wasmError(rc, 'build');
    const maxOut = this.ex.max_out();
    const wanted = options.outputCapacity ?? DEFAULT_OUTPUT_CAPACITY;
    this.outCap = Math.max(1, maxOut, wanted);
    this.outPtr = this.ex.alloc(this.outCap * 8) >>> 0;
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
  /** Automaton states (case-sensitive + case-insensitive); the table takes 1 KiB per state. */
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
    if (!Array.isArray(patterns)) {
      throw new P2pgwError(ErrorCodes.P2PGW_ERR_PATTERN, 'patterns must be an array');
    }
    let maxLen = 0;
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
      maxLen = Math.max(maxLen, p.bytes.length);
      total += p.bytes.length;
    });
    if (total > MAX_TOTAL_PATTERN_BYTES) {
      throw new P2pgwError(
        ErrorCodes.P2PGW_ERR_PATTERN,
        `pattern set too large: ${total} bytes (limit ${MAX_TOTAL_PATTERN_BYTES})`,
      );
    }
    const oc = options.outputCapacity;
    if (oc !== undefined && (!Number.isInteger(oc) || oc < 1 || oc > 1 << 24)) {
      throw new P2pgwError(ErrorCodes.P2PGW_ERR_USAGE, 'outputCapacity must be an integer in [1, 2^24]');
    }
    return new Matcher(new Engine(patterns, options), patterns.length, maxLen);
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
