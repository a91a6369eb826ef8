/**
 * Scanning with a compiled SigDatabase: `SigStream` (streaming: every write is scanned at once,
 * state carried across writes) and `ChunkedScanner` (the thesis' scheme: fixed buffers, default
 * 32 KiB, scanned when full, keeping an overlap tail of longest-atom - 1 bytes). Both report every
 * match exactly once with absolute offsets, whatever the chunking, and both are cheap per instance:
 * many streams (connections) share one database and its WebAssembly instance.
 *
 * Callbacks: `onMatch(sig, start, end)` — `sig` is the signature id (index in the compiled list,
 * name via `db.sigName(sig)`), `start`/`end` absolute stream offsets, end exclusive. Matches found
 * in one call are reported before it returns, in no particular order. EOF-anchored signatures and
 * hash signatures (start 0, end = size) are reported by `end()` / `finish()`. Every call first
 * consumes its bytes, then delivers queued matches in order; if `onMatch` throws, the exception
 * propagates and the matches not yet delivered are delivered first by the next call on that stream
 * (after `end`/`finish`, by the next call of the next transfer): nothing is lost or repeated, so a
 * scanner can be resumed after an error. `onMatch` may scan other streams of the same database,
 * but not the stream that called it.
 */
import { DEFAULTS } from '../core/defaults.js';
import { ErrorCodes, P2pgwError } from '../core/errors.js';
import { GapState, MODE_EOF, MODE_NORMAL, processEvents } from './chain.js';
import type { DbMeta } from './compile.js';
import { MAX_SLICE, type Engine } from './wasm-engine.js';
import type { FileHasher, HashSigs } from './hash.js';

/** Match callback: signature id, absolute start and end (exclusive) offsets. */
export type OnSigMatch = (sig: number, start: number, end: number) => void;

/** What streams need from a database (internal to src/sigscan). */
export interface DbCore {
  readonly engine: Engine;
  readonly meta: DbMeta;
  readonly direct: Uint8Array;
  readonly hashSigs: HashSigs | null;
}

/** Per-stream options. */
export interface StreamOptions {
  /** Compute file hashes for the database's hash signatures (default true when it has any). */
  hashes?: boolean;
}

/** Fixed-size ring of the last `cap` bytes (for EOF-anchored signatures). */
class TailRing {
  private readonly buf: Uint8Array;
  private pos = 0;
  private total = 0;
  constructor(private readonly cap: number) {
    this.buf = new Uint8Array(cap);
  }
  append(chunk: Uint8Array): void {
    const cap = this.cap;
    this.total += chunk.length;
    if (chunk.length >= cap) {
      this.buf.set(chunk.subarray(chunk.length - cap));
      this.pos = 0;
      return;
    }
    const first = Math.min(chunk.length, cap - this.pos);
    this.buf.set(chunk.subarray(0, first), this.pos);
    this.buf.set(chunk.subarray(first), 0);
    this.pos = (this.pos + chunk.length) % cap;
  }
  linear(): Uint8Array {
    if (this.total < this.cap) return this.buf.subarray(0, this.total);
    const out = new Uint8Array(this.cap);
    out.set(this.buf.subarray(this.pos));
    out.set(this.buf.subarray(0, this.pos), this.cap - this.pos);
    return out;
  }
  clear(): void {
    this.pos = 0;
    this.total = 0;
  }
}

/** State shared by both stream kinds: chain state, delivery queue, hasher, EOF tail. */
class ScanCore {
  readonly overlap: number;
  private queue: number[] = [];
  private qh = 0;
  private gaps = new Map<number, GapState>();
  private readonly hasher: FileHasher | null;
  private readonly tail: TailRing | null;

  constructor(readonly db: DbCore, opts: StreamOptions) {
    this.overlap = Math.max(0, db.meta.maxAtomLen - 1);
    this.hasher = db.hashSigs && db.hashSigs.size > 0 && opts.hashes !== false ? db.hashSigs.newHasher() : null;
    this.tail = db.meta.maxEof > 0 ? new TailRing(db.meta.maxEof) : null;
  }

  /** Scans the engine input [0, len) whose first `carry` bytes were scanned before. */
  scanFilled(len: number, carry: number, absStart: number): void {
    const { engine, meta, direct } = this.db;
    const n = engine.scan(len, carry, absStart);
    if (n > 0) processEvents(meta, direct, meta.maxAtomLen, engine.events, n, absStart, this.gaps, MODE_NORMAL, 0, this.queue);
  }

  /** Bytes newly consumed (in order): feed the hasher and the EOF tail. */
  consumed(bytes: Uint8Array): void {
    this.hasher?.update(bytes);
    this.tail?.append(bytes);
  }

  /** End of stream at `size` bytes: EOF-anchored signatures over the tail, then hashes. */
  finishEof(size: number): void {
    if (this.tail) {
      const t = this.tail.linear();
      if (t.length > 0) {
        const engine = this.db.engine;
        const ptr = engine.input(t.length);
        engine.mem().set(t, ptr);
        const n = engine.scan(t.length, 0, size - t.length);
        const meta = this.db.meta;
        processEvents(meta, this.db.direct, meta.maxAtomLen, engine.events, n, size - t.length, new Map(), MODE_EOF, size, this.queue);
      }
    }
    if (this.hasher) for (const h of this.hasher.finish()) this.queue.push(h.sig, 0, size);
  }

  /** True if matches wait for delivery. */
  get queued(): boolean {
    return this.qh < this.queue.length;
  }

  /** Delivers queued matches; if onMatch throws, the rest stay queued for the next call. */
  deliver(onMatch: OnSigMatch): void {
    const q = this.queue;
    while (this.qh < q.length) {
      const i = this.qh;
      this.qh = i + 3;
      onMatch(q[i], q[i + 1], q[i + 2]);
    }
    q.length = 0;
    this.qh = 0;
  }

  /** Forgets the stream state for a new stream; undelivered matches too unless `keepQueue`. */
  reset(keepQueue = false): void {
    if (!keepQueue) {
      this.queue = [];
      this.qh = 0;
    }
    this.gaps = new Map();
    this.hasher?.reset();
    this.tail?.clear();
  }

  /** Partial-match entries held by the chain state (memory accounting). */
  heldEntries(): number {
    let n = 0;
    for (const g of this.gaps.values()) n += g.held;
    return n;
  }
}

/** Streaming scanner: each write is scanned immediately. Create with `db.newStream()`. */
export class SigStream {
  readonly #core: ScanCore;
  readonly #carry: Uint8Array;
  #carryLen = 0;
  #offset = 0;

  /** @internal */
  constructor(db: DbCore, opts: StreamOptions = {}) {
    this.#core = new ScanCore(db, opts);
    this.#carry = new Uint8Array(this.#core.overlap);
  }

  /** Bytes written so far. */
  get offset(): number {
    return this.#offset;
  }

  /** Scans the next chunk; matches ending in it are reported (absolute offsets). */
  write(chunk: Uint8Array, onMatch: OnSigMatch): void {
    const core = this.#core;
    const engine = core.db.engine;
    const overlap = core.overlap;
    for (let pos = 0; pos < chunk.length; pos += MAX_SLICE) {
      const slice = chunk.subarray(pos, pos + MAX_SLICE);
      const cl = this.#carryLen;
      const len = cl + slice.length;
      const ptr = engine.input(len);
      let m = engine.mem();
      if (cl > 0) m.set(this.#carry.subarray(0, cl), ptr);
      m.set(slice, ptr + cl);
      core.scanFilled(len, cl, this.#offset - cl);
      const keep = Math.min(overlap, len);
      if (keep > 0) {
        m = engine.mem();
        this.#carry.set(m.subarray(ptr + len - keep, ptr + len));
      }
      this.#carryLen = keep;
      this.#offset += slice.length;
      core.consumed(slice);
    }
    core.deliver(onMatch);
  }

  /** Ends the stream: reports EOF-anchored and hash signatures, then resets for a new stream. */
  end(onMatch: OnSigMatch): void {
    const core = this.#core;
    core.finishEof(this.#offset);
    this.#carryLen = 0;
    this.#offset = 0;
    core.reset(true);
    core.deliver(onMatch);
  }

  /** Back to offset 0, no partial matches, nothing queued. */
  reset(): void {
    this.#core.reset();
    this.#carryLen = 0;
    this.#offset = 0;
  }

  /** Partial-match entries held across writes (chain state), for memory accounting. */
  get heldEntries(): number {
    return this.#core.heldEntries();
  }
}

/** Options of a ChunkedScanner. */
export interface ChunkedOptions extends StreamOptions {
  /** Buffer size in bytes (default DEFAULTS.scan.bufferBytes, 32 KiB; raised to 2 × overlap + 1 if smaller). */
  bufferSize?: number;
}

/**
 * The thesis' buffer + overlap scheme: bytes are collected in a fixed buffer and scanned when it is
 * full (or on flush/finish); after a scan the last `overlap` bytes move to the front, so matches
 * that span buffers are found, and reported once. `pendingBytes` bytes are buffered but unscanned.
 */
export class ChunkedScanner {
  readonly bufferSize: number;
  readonly #core: ScanCore;
  readonly #buf: Uint8Array;
  #fill = 0;
  #scanned = 0;
  #base = 0;

  constructor(db: { readonly core: DbCore } | DbCore, opts: ChunkedOptions = {}) {
    const core = 'core' in db ? db.core : db;
    if (!core || !('engine' in core)) throw new P2pgwError(ErrorCodes.P2PGW_ERR_USAGE, 'ChunkedScanner needs a SigDatabase');
    this.#core = new ScanCore(core, opts);
    const size = opts.bufferSize ?? DEFAULTS.scan.bufferBytes;
    if (!Number.isInteger(size) || size < 1) throw new P2pgwError(ErrorCodes.P2PGW_ERR_USAGE, 'bufferSize must be a positive integer');
    this.bufferSize = Math.max(size, 2 * this.#core.overlap + 1);
    this.#buf = new Uint8Array(this.bufferSize);
  }

  /** Bytes pushed but not yet scanned. */
  get pendingBytes(): number {
    return this.#fill - this.#scanned;
  }

  /** Bytes pushed so far (absolute offset of the next byte). */
  get offset(): number {
    return this.#base + this.#fill;
  }

  /** Bytes scanned so far; matches ending at or before this offset have been reported. */
  get scannedOffset(): number {
    return this.#base + this.#scanned;
  }

  /** Buffers `bytes`, scanning each buffer that fills up. */
  push(bytes: Uint8Array, onMatch: OnSigMatch): void {
    const fill = this.#fill;
    if (bytes.length < this.bufferSize - fill) {
      // Fast path (most packets): the bytes fit without filling the buffer.
      this.#buf.set(bytes, fill);
      this.#fill = fill + bytes.length;
      if (this.#core.queued) this.#core.deliver(onMatch);
      return;
    }
    let pos = 0;
    while (pos < bytes.length) {
      const n = Math.min(bytes.length - pos, this.bufferSize - this.#fill);
      this.#buf.set(bytes.subarray(pos, pos + n), this.#fill);
      this.#fill += n;
      pos += n;
      if (this.#fill === this.bufferSize) this.#scanBuffer();
    }
    this.#core.deliver(onMatch);
  }

  /** Scans what is pending now (e.g. on an idle timeout), as if the buffer had filled. */
  flush(onMatch: OnSigMatch): void {
    if (this.pendingBytes > 0) this.#scanBuffer();
    this.#core.deliver(onMatch);
  }

  /** Scans the rest, reports EOF-anchored and hash signatures, then resets for the next transfer. */
  finish(onMatch: OnSigMatch): void {
    if (this.pendingBytes > 0) this.#scanBuffer();
    this.#core.finishEof(this.offset);
    this.#fill = this.#scanned = this.#base = 0;
    this.#core.reset(true);
    this.#core.deliver(onMatch);
  }

  /** Drops all state for a new transfer. */
  reset(): void {
    this.#core.reset();
    this.#fill = this.#scanned = this.#base = 0;
  }

  #scanBuffer(): void {
    const core = this.#core;
    const engine = core.db.engine;
    const len = this.#fill;
    const ptr = engine.input(len);
    engine.mem().set(this.#buf.subarray(0, len), ptr);
    core.scanFilled(len, this.#scanned, this.#base);
    core.consumed(this.#buf.subarray(this.#scanned, len));
    const keep = Math.min(core.overlap, len);
    this.#buf.copyWithin(0, len - keep, len);
    this.#base += len - keep;
    this.#fill = this.#scanned = keep;
  }
}
