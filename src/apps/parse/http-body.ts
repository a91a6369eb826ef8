/**
 * HTTP/1.1 message body reader (RFC 9112 §6): a body delimited by Content-Length (§6.2), by the
 * chunked transfer coding (§7.1: `chunk-size [ chunk-ext ] CRLF chunk-data CRLF` … `0 CRLF
 * trailer-section CRLF`) or by the end of the connection (§6.3 rule 8, responses only). Body
 * octets (de-chunked) go to `InspectEvents.fileData` as views of the input, never copied; a
 * consumer that keeps them must copy.
 */
import type { InspectEvents } from '../types.js';
import { latin1 } from '../bytes.js';
import { HeadReader, LINE_TOO_LONG, LineReader, INSPECT_LIMITS } from './lines.js';

/**
 * Weirds a body reader reports through `error` (its caller raises them and stops the direction):
 * a chunk-size or trailer line over the line cap, a trailer section over the section cap, a
 * malformed chunk-size line, chunk data not followed by CRLF.
 */
export const BODY_WEIRDS = ['http_line_too_long', 'http_header_too_long', 'http_bad_chunk_size', 'http_bad_chunk_end'] as const;
/** One of BODY_WEIRDS. */
export type BodyWeird = (typeof BODY_WEIRDS)[number];

/** How the body ends. */
export type Framing = { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

type ChunkState = 'size' | 'data' | 'data-end' | 'trailer';

/**
 * chunk-size line (RFC 9112 §7.1): 1*HEXDIG, then optional BWS and chunk extensions `;…` (ignored,
 * §7.1.1). Returns the size, or null for a malformed line or a size beyond 2^52 (13 hex digits
 * after leading zeros), which no real body reaches.
 */
export function chunkSize(line: string): number | null {
  const hex = (c: string): boolean => /[0-9A-Fa-f]/.test(c);
  let i = 0;
  while (i < line.length && line[i] === '0') i++;
  let j = i;
  while (j < line.length && hex(line[j])) j++;
  if (j === 0 || j - i > 13) return null;
  let k = j;
  while (k < line.length && (line[k] === ' ' || line[k] === '\t')) k++;
  if (k < line.length && line[k] !== ';') return null;
  return j === i ? 0 : parseInt(line.slice(i, j), 16);
}

/** Reads one message body, emitting its octets as `fileData(id, …)`. */
export class BodyReader {
  private remaining: number;
  private chunk: ChunkState = 'size';
  private line = new LineReader(INSPECT_LIMITS.maxLine);
  private trailer: HeadReader | null = null;
  /** The framing says the body is complete. */
  done = false;
  /** Weird name when the body framing is broken (the caller stops the direction). */
  error: BodyWeird | null = null;

  /** Transfer id, once `fileStart` was reported. */
  id: number | null = null;

  /**
   * `open` reports `fileStart` and returns the transfer id: at once for a Content-Length body,
   * at the first body octet for chunked and close-delimited bodies (an empty one is no file).
   */
  constructor(
    private readonly events: InspectEvents,
    readonly framing: Framing,
    private readonly open: () => number,
  ) {
    this.remaining = framing.kind === 'length' ? framing.length : 0;
    if (framing.kind === 'length') this.id = open();
  }

  /** Octets known to be needed before the body can end (1 when only a line end is awaited). */
  get need(): number {
    if (this.done) return 0;
    return this.remaining > 0 ? this.remaining : 1;
  }

  /** Whether the body counts as complete if the stream ends now (close-delimited bodies do). */
  completeAtEnd(): boolean {
    return this.done || this.framing.kind === 'close';
  }

  /** Consumes body octets from `b[off..]`; returns octets used (stops at the body's end). */
  read(b: Uint8Array, off: number): number {
    switch (this.framing.kind) {
      case 'close':
        this.data(b, off, b.length - off);
        return b.length - off;
      case 'length': {
        const n = Math.min(this.remaining, b.length - off);
        this.data(b, off, n);
        this.remaining -= n;
        if (this.remaining === 0) this.done = true;
        return n;
      }
      case 'chunked':
        return this.readChunked(b, off);
    }
  }

  private data(b: Uint8Array, off: number, n: number): void {
    if (n === 0) return;
    this.id ??= this.open();
    this.events.fileData(this.id, b.subarray(off, off + n));
  }

  private readChunked(b: Uint8Array, off: number): number {
    let i = off;
    while (i < b.length && !this.done && this.error === null) {
      if (this.chunk === 'data') {
        const n = Math.min(this.remaining, b.length - i);
        this.data(b, i, n);
        this.remaining -= n;
        i += n;
        if (this.remaining === 0) this.chunk = 'data-end';
        continue;
      }
      if (this.chunk === 'trailer') {
        const used = this.trailer!.read(b, i);
        if (used < 0) {
          this.error = used === LINE_TOO_LONG ? 'http_line_too_long' : 'http_header_too_long';
          break;
        }
        i += used;
        if (this.trailer!.done) this.done = true;
        continue;
      }
      const used = this.line.read(b, i);
      if (used < 0) {
        this.error = 'http_line_too_long';
        break;
      }
      i += used;
      const line = this.line.line;
      if (line === null) continue;
      if (this.chunk === 'data-end') {
        // chunk-data is followed by exactly CRLF (§7.1); anything else means the size lied.
        if (line.length !== 0) this.error = 'http_bad_chunk_end';
        else this.chunk = 'size';
        continue;
      }
      const size = chunkSize(latin1(line));
      if (size === null) {
        this.error = 'http_bad_chunk_size';
      } else if (size === 0) {
        this.chunk = 'trailer';
        this.trailer = new HeadReader(false);
      } else {
        this.remaining = size;
        this.chunk = 'data';
      }
    }
    return i - off;
  }
}
