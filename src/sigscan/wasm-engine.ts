/**
 * JS boundary of the signature engine's WebAssembly module (asm/assembly/sigdb.ts): its ABI, one
 * instance per loaded database, and the buffer scan call that returns atom occurrences as (atom,
 * end) pairs. Locating, compiling (once per process and variant), instantiating and ABI-checking the
 * module is src/matcher/wasm.ts's, the one WebAssembly loader.
 */
import type { P2pgwError } from '../core/errors.js';
import { instantiateWasm, returnCodeError, type WasmMemory } from '../matcher/wasm.js';

/** ABI version of asm/assembly/sigdb.ts this wrapper speaks. */
export const SIGDB_ABI_VERSION = 2;

/** Raw exports (all i32). */
export interface SigdbExports {
  readonly memory: WasmMemory;
  abi_version(): number;
  alloc(size: number): number;
  input_reserve(size: number): number;
  db_load(ptr: number, len: number): number;
  db_max_out(): number;
  db_atom_count(): number;
  db_atom_len(atom: number): number;
  scan_begin(inPtr: number, len: number, carry: number, absMod: number): number;
  scan_next(outPtr: number, cap: number): number;
  scan_done(): number;
}

/** Return codes of the engine (asm/assembly/sigdb_layout.ts). */
export const SigdbCodes = Object.freeze({
  OK: 0, ERR_OOM: -1, ERR_BAD_ARG: -9, ERR_BAD_DB: -10, ERR_NOT_LOADED: -11, ERR_ALREADY_LOADED: -12, ERR_OUT_TOO_SMALL: -13,
} as const);

const CODE_TEXT: Record<number, string> = {
  [-1]: 'out of memory (memory.grow failed)',
  [-9]: 'invalid argument',
  [-10]: 'engine tables are corrupt',
  [-11]: 'no database loaded',
  [-12]: 'database already loaded',
  [-13]: 'output buffer too small',
};

/** A P2pgwError(P2PGW_ERR_WASM) for engine return code `code` during `what`. */
export function sigdbError(code: number, what: string): P2pgwError {
  return returnCodeError('sigdb', code, what, CODE_TEXT);
}

/** Largest slice handed to the engine per call (bytes, excluding the carry). */
export const MAX_SLICE = 256 * 1024;

/**
 * One engine instance with a loaded blob. `scan` runs over the instance's input buffer, which the
 * caller fills via `input(len)`; occurrences land in `events` as (atom, end) pairs.
 */
export class Engine {
  readonly ex: SigdbExports;
  readonly maxOut: number;
  readonly atomCount: number;
  /** (atom, end relative to the buffer) pairs of the last scan; `eventCount` pairs are valid. */
  events = new Int32Array(1024);
  eventCount = 0;
  private readonly outPtr: number;
  private readonly outCap: number;
  private readonly blobPtr: number;
  /** Size of the loaded engine blob (bytes). */
  readonly blobSize: number;
  private inPtr = 0;
  private inCap = 0;
  private u8view: Uint8Array;

  /** @throws P2pgwError(P2PGW_ERR_WASM) if the blob is rejected or memory runs out. */
  constructor(blob: Uint8Array, debug?: boolean) {
    const ex = instantiateWasm<SigdbExports>('sigdb', SIGDB_ABI_VERSION, debug);
    this.ex = ex;
    const ptr = ex.alloc(blob.length) >>> 0;
    if (ptr === 0) throw sigdbError(SigdbCodes.ERR_OOM, 'load');
    new Uint8Array(ex.memory.buffer).set(blob, ptr);
    const rc = ex.db_load(ptr, blob.length);
    if (rc !== 0) throw sigdbError(rc, 'load');
    this.blobPtr = ptr;
    this.blobSize = blob.length;
    this.maxOut = ex.db_max_out();
    this.atomCount = ex.db_atom_count();
    this.outCap = Math.max(4096, this.maxOut);
    this.outPtr = ex.alloc(this.outCap * 8) >>> 0;
    if (this.outPtr === 0) throw sigdbError(SigdbCodes.ERR_OOM, 'load');
    this.u8view = new Uint8Array(ex.memory.buffer);
  }

  /** Current view of linear memory (views die when memory grows). */
  mem(): Uint8Array {
    if (this.u8view.buffer !== this.ex.memory.buffer) this.u8view = new Uint8Array(this.ex.memory.buffer);
    return this.u8view;
  }

  /** Pointer of an input buffer of at least `len` bytes (+16 padding). */
  input(len: number): number {
    if (len > this.inCap) {
      const cap = Math.max(len, Math.min(MAX_SLICE * 2, this.inCap * 2), 4096);
      const p = this.ex.input_reserve(cap) >>> 0;
      if (p === 0) throw sigdbError(SigdbCodes.ERR_OOM, 'input_reserve');
      this.inPtr = p;
      this.inCap = cap;
    }
    return this.inPtr;
  }

  /**
   * Scans `len` bytes at the input buffer; the first `carry` were scanned before. `absStart` is the
   * absolute stream offset of the buffer start (for stride alignment). Fills `events`.
   */
  scan(len: number, carry: number, absStart: number): number {
    const ex = this.ex;
    let rc = ex.scan_begin(this.inPtr, len, carry, absStart % 840);
    if (rc !== 0) throw sigdbError(rc, 'scan');
    let n = 0;
    do {
      rc = ex.scan_next(this.outPtr, this.outCap);
      if (rc < 0) throw sigdbError(rc, 'scan');
      if (rc > 0) {
        if ((n + rc) * 2 > this.events.length) {
          const grown = new Int32Array(Math.max(this.events.length * 2, (n + rc) * 2));
          grown.set(this.events.subarray(0, n * 2));
          this.events = grown;
        }
        const m = this.mem();
        this.events.set(new Int32Array(m.buffer, this.outPtr, rc * 2), n * 2);
        n += rc;
      }
    } while (ex.scan_done() === 0);
    this.eventCount = n;
    return n;
  }

  /** A copy of the loaded blob (the engine never modifies it). */
  blob(): Uint8Array {
    return this.mem().slice(this.blobPtr, this.blobPtr + this.blobSize);
  }

  /** Bytes of linear memory in use by this instance. */
  memoryBytes(): number {
    return this.ex.memory.buffer.byteLength;
  }
}
