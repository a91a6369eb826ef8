/**
 * The matcher's pattern blob (format: asm/assembly/matcher.ts) written straight from bytes or text,
 * without an object or array per pattern, and its build into a matcher image in a throwaway
 * WebAssembly instance. 100,000 keywords cost one growing buffer and two typed arrays here, not
 * 100,000 PatternSpec objects and Uint8Arrays (whose allocation and garbage collection took longer
 * than building the automaton).
 */
import { BLOB_HEADER, BLOB_VERSION, ENTRY_HEADER, FLAG_NOCASE, instantiateMatcher, wasmError } from './wasm.js';

/** Patterns in blob form: the blob bytes plus the id and length of each pattern, by index. */
export interface PatternBlob {
  /** Blob bytes (header + entries). */
  blob: Uint8Array;
  /** Pattern id per index (reported to onMatch). */
  ids: Float64Array;
  /** Pattern length per index, bytes. */
  lens: Int32Array;
  /** Longest pattern, bytes. */
  maxPatternLength: number;
  /** Sum of the pattern lengths, bytes. */
  totalBytes: number;
}

const enc = new TextEncoder();

/** Appends patterns to a blob. Lengths are not checked here (`Matcher.buildBlobImage` does). */
export class PatternBlobWriter {
  private buf = new Uint8Array(1 << 16);
  private dv = new DataView(this.buf.buffer);
  private len = BLOB_HEADER;
  private ids = new Float64Array(1024);
  private lens = new Int32Array(1024);
  private n = 0;
  private maxLen = 0;
  private total = 0;

  /** Room for `extra` more bytes and one more pattern. */
  private reserve(extra: number): void {
    if (this.len + extra > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, this.len + extra));
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
      this.dv = new DataView(grown.buffer);
    }
    if (this.n === this.ids.length) {
      const ids = new Float64Array(this.n * 2);
      ids.set(this.ids);
      this.ids = ids;
      const lens = new Int32Array(this.n * 2);
      lens.set(this.lens);
      this.lens = lens;
    }
  }

  /** Closes the entry whose `bytes` bytes were written after its header at `at`. */
  private close(at: number, id: number, bytes: number, nocase: boolean): void {
    this.dv.setUint32(at, bytes, true);
    this.dv.setUint32(at + 4, nocase ? FLAG_NOCASE : 0, true);
    this.len = at + ENTRY_HEADER + bytes;
    this.ids[this.n] = id;
    this.lens[this.n++] = bytes;
    if (bytes > this.maxLen) this.maxLen = bytes;
    this.total += bytes;
  }

  /** Adds pattern `id`: literal `bytes`. */
  add(id: number, bytes: Uint8Array, nocase: boolean): void {
    this.reserve(ENTRY_HEADER + bytes.length);
    const at = this.len;
    this.buf.set(bytes, at + ENTRY_HEADER);
    this.close(at, id, bytes.length, nocase);
  }

  /** Adds pattern `id`: the UTF-8 encoding of `text` (ASCII copied char by char, the rest encoded). */
  addText(id: number, text: string, nocase: boolean): void {
    this.reserve(ENTRY_HEADER + text.length * 3);
    const at = this.len;
    const start = at + ENTRY_HEADER;
    let w = start;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) {
        w = start + enc.encodeInto(text, this.buf.subarray(start)).written;
        break;
      }
      this.buf[w++] = c;
    }
    this.close(at, id, w - start, nocase);
  }

  /** The blob of the patterns added so far (copies, trimmed to size). */
  finish(): PatternBlob {
    this.dv.setUint32(0, BLOB_VERSION, true);
    this.dv.setUint32(4, this.n, true);
    return {
      blob: this.buf.slice(0, this.len),
      ids: this.ids.slice(0, this.n),
      lens: this.lens.slice(0, this.n),
      maxPatternLength: this.maxLen,
      totalBytes: this.total,
    };
  }
}

/**
 * Builds `blob` in a fresh instance (automata up to `denseMaxStates` states dense, larger sparse)
 * and returns the exported image (a copy; the instance and its temporaries are dropped).
 * @throws P2pgwError(P2PGW_ERR_PATTERN) for an empty pattern or too many states;
 *   P2pgwError(P2PGW_ERR_WASM) for a malformed blob or when memory runs out
 */
export function buildImageFromBlob(blob: Uint8Array, denseMaxStates: number, debug?: boolean): Uint8Array {
  const ex = instantiateMatcher(debug);
  ex.set_dense_max(denseMaxStates);
  const ptr = ex.alloc(blob.length) >>> 0;
  if (ptr === 0) throw wasmError(-1, 'alloc');
  new Uint8Array(ex.memory.buffer).set(blob, ptr);
  let rc = ex.build(ptr, blob.length);
  if (rc !== 0) throw wasmError(rc, 'build');
  rc = ex.export_image();
  if (rc !== 0) throw wasmError(rc, 'export_image');
  const at = ex.image_ptr() >>> 0;
  return new Uint8Array(ex.memory.buffer).slice(at, at + (ex.image_len() >>> 0));
}
