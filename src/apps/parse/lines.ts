/**
 * Shared incremental buffering for the stream inspectors (thesis §3.3–3.6): bounded line, header
 * section and fixed-size readers, plus the text decoders the parsers share.
 *
 * Every reader is an incremental state machine: `read(bytes, off)` consumes a prefix of
 * `bytes[off..]` and returns how many bytes it used (always ≥ 1 while input remains and the reader
 * is not finished, so callers never spin), or a negative code when a cap is exceeded; `need` tells
 * how many more bytes it needs at least before it can finish. Input may be split at any byte: the
 * result (finished line, header list, collected block, or overflow) does not depend on the split.
 *
 * Caps (a recipient may bound line and section lengths, RFC 9112 §2.3 and §5):
 * - a line (request/status line, field line, chunk-size line, MSNP command): {@link MAX_LINE};
 * - a header section (start line + field lines, or a trailer section): {@link MAX_HEAD};
 * - a buffered message (MSNP MSG payload, BitTorrent extended message): {@link MAX_MIME}.
 */

/** Longest line we buffer, in octets, excluding its CRLF (RFC 9112 §3: at least 8000 recommended). */
export const MAX_LINE = 8 * 1024;
/** Longest header section (all lines with their line ends) we buffer. */
export const MAX_HEAD = 64 * 1024;
/** Longest MIME message (MSNP MSG payload) or other length-prefixed message we buffer. */
export const MAX_MIME = 64 * 1024;

/**
 * The caps the stream parsers apply, process-wide. They start at the defaults above and come from
 * the config (`inspect.max_line`, `max_header`, `max_message`, `max_metadata`, `max_bt_message`,
 * `max_pending_requests`) through {@link setInspectLimits} at start-up and on reload. A cap that is
 * hit is a named `weird` and stops inspecting that direction (fail open).
 */
export const INSPECT_LIMITS = {
  /** One line (request/status/field/chunk-size line, MSNP command), bytes. */
  maxLine: MAX_LINE,
  /** One header or trailer section, bytes. */
  maxHead: MAX_HEAD,
  /** One buffered message (MSNP MSG payload, BitTorrent extended message), bytes. */
  maxMessage: MAX_MIME,
  /** BitTorrent torrent metadata (BEP 9), bytes. */
  maxMetadata: 1024 * 1024,
  /** Any BitTorrent peer-wire message, bytes. */
  maxBtMessage: 4 * 1024 * 1024,
  /** HTTP requests waiting for their responses (pipelining). */
  maxPendingRequests: 256,
};

/** Sets some or all parser caps (positive integers). */
export function setInspectLimits(l: Partial<typeof INSPECT_LIMITS>): void {
  for (const [k, v] of Object.entries(l)) if (v !== undefined) (INSPECT_LIMITS as Record<string, number>)[k] = v;
}

/** `read` result: the current line exceeded the line cap. */
export const LINE_TOO_LONG = -1;
/** `read` result: the header section exceeded the section cap. */
export const HEAD_TOO_LONG = -2;

const LF = 0x0a;
const CR = 0x0d;

/** Concatenation of byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Latin-1 view of bytes: each octet becomes one UTF-16 code unit (lossless, RFC 9110 §5.5 obs-text). */
export function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
}

/** Bytes of a latin-1 string (inverse of {@link latin1}). */
export function latin1Bytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Strict UTF-8 decoding (RFC 3629), or null if the bytes are not valid UTF-8. */
export function utf8OrNull(b: Uint8Array): string | null {
  try {
    return UTF8.decode(b);
  } catch {
    return null;
  }
}

/**
 * Decodes a file name or text of unknown charset: UTF-8 when the bytes are valid UTF-8 (what
 * modern senders use), else ISO-8859-1 (the historical HTTP field charset, RFC 9110 §5.5).
 */
export function decodeText(b: Uint8Array): string {
  return utf8OrNull(b) ?? latin1(b);
}

const hexVal = (c: number): number =>
  c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;

/**
 * RFC 3986 §2.1 percent-decoding of a latin-1 string into octets: `%HH` becomes the octet HH; a
 * `%` not followed by two hex digits is kept literally (lenient, like browsers).
 */
export function percentDecode(s: string): Uint8Array {
  const src = latin1Bytes(s);
  const out = new Uint8Array(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === 0x25 && i + 2 < src.length) {
      const h = hexVal(src[i + 1]);
      const l = hexVal(src[i + 2]);
      if (h >= 0 && l >= 0) {
        out[n++] = (h << 4) | l;
        i += 2;
        continue;
      }
    }
    out[n++] = c;
  }
  return out.subarray(0, n);
}

/** Last component of a path-like name (after the last `/` or `\`), as RFC 6266 §4.3 advises. */
export function baseName(name: string): string {
  const i = Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\'));
  return i >= 0 ? name.slice(i + 1) : name;
}

/**
 * A bounded line reader: collects octets up to LF and yields the line without its LF and an
 * optional preceding CR (RFC 9112 §2.2 lets recipients accept a bare LF as a line terminator).
 */
export class LineReader {
  private parts: Uint8Array[] = [];
  private size = 0;
  /** The line finished by the last `read` (without CR LF), or null if more bytes are needed. */
  line: Uint8Array | null = null;

  constructor(readonly cap: number = INSPECT_LIMITS.maxLine) {}

  /** Octets of an unfinished line buffered so far. */
  get pending(): number {
    return this.size;
  }

  /** At least one more octet (the LF) is needed to finish the current line. */
  get need(): number {
    return 1;
  }

  /**
   * Consumes `b[off..]` up to and including the next LF. Returns the octets used (≥ 1 when
   * `off < b.length`), or {@link LINE_TOO_LONG} when the line's content would exceed `cap` octets.
   * The outcome depends only on the line's bytes, not on how they were split.
   */
  read(b: Uint8Array, off: number): number {
    this.line = null;
    // A line may hold cap content octets plus a CR; cap + 2 octets without LF is an overflow.
    const window = Math.min(b.length, off + this.cap + 2 - this.size);
    const lf = b.subarray(off, window).indexOf(LF);
    if (lf < 0) {
      if (this.size + (window - off) >= this.cap + 2) return LINE_TOO_LONG;
      if (window > off) {
        this.parts.push(b.slice(off, window));
        this.size += window - off;
      }
      return window - off;
    }
    const end = off + lf;
    let line: Uint8Array;
    if (this.size === 0) line = b.subarray(off, end);
    else {
      this.parts.push(b.subarray(off, end));
      line = concatBytes(this.parts);
    }
    this.parts = [];
    this.size = 0;
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    if (line.length > this.cap) return LINE_TOO_LONG;
    this.line = line;
    return lf + 1;
  }
}

/** One header field (RFC 9112 §5): lowercase name and value with surrounding OWS removed. */
export interface HeaderField {
  name: string;
  /** Field value as latin-1 (each octet one code unit; decode names with {@link decodeText}). */
  value: string;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Parses a field line `field-name ":" OWS field-value OWS` (RFC 9112 §5.1). Returns null for a
 * line without a colon, with an invalid name or whitespace before the colon.
 */
export function parseFieldLine(line: string): HeaderField | null {
  const colon = line.indexOf(':');
  if (colon <= 0) return null;
  const name = line.slice(0, colon);
  if (!TOKEN.test(name)) return null;
  return { name: name.toLowerCase(), value: line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '') };
}

/**
 * Parses a complete header block held in memory (MIME headers of an MSNP message, RFC 2045/5322
 * fields): lines separated by CRLF or LF; continuation lines (leading SP/HT) are folded into the
 * previous field with one SP (RFC 9112 §5.2 obs-fold). Invalid lines are counted in `bad`.
 */
export function parseFields(block: Uint8Array): { fields: HeaderField[]; bad: number } {
  const fields: HeaderField[] = [];
  let bad = 0;
  for (const raw of latin1(block).split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.length === 0) continue;
    if ((line[0] === ' ' || line[0] === '\t') && fields.length > 0) {
      fields[fields.length - 1].value += ' ' + line.trim();
      continue;
    }
    const f = parseFieldLine(line);
    if (f) fields.push(f);
    else bad++;
  }
  return { fields, bad };
}

/** Values of every field named `name` (lowercase), in order. */
export function fieldValues(fields: readonly HeaderField[], name: string): string[] {
  return fields.filter((f) => f.name === name).map((f) => f.value);
}

/** Value of the first field named `name` (lowercase), or null. */
export function fieldValue(fields: readonly HeaderField[], name: string): string | null {
  for (const f of fields) if (f.name === name) return f.value;
  return null;
}

/**
 * Reads a header section incrementally: optionally a start line (request or status line, after
 * skipping empty lines as RFC 9112 §2.2 allows), then field lines up to the empty line (RFC 9112
 * §2.1), with obs-fold handled (§5.2). Also used for a chunked trailer section (§7.1.2: no start
 * line). Caps: each line `INSPECT_LIMITS.maxLine`, the whole section `INSPECT_LIMITS.maxHead`.
 */
export class HeadReader {
  private readonly lines = new LineReader(INSPECT_LIMITS.maxLine);
  private readonly maxHead = INSPECT_LIMITS.maxHead;
  private total = 0;
  /** The start line (latin-1), once read. */
  start: string | null = null;
  readonly fields: HeaderField[] = [];
  /** Field lines that could not be parsed (reported as a weird by the caller). */
  bad = 0;
  /** The empty line ending the section has been read. */
  done = false;

  constructor(private readonly withStart: boolean) {}

  /** Octets of this message seen so far (0 = none besides empty lines before a start line). */
  get pending(): number {
    return this.withStart && this.start === null ? this.lines.pending : this.total;
  }

  /** At least one more octet is needed until the section is done. */
  get need(): number {
    return this.done ? 0 : 1;
  }

  /** Consumes lines from `b[off..]` until the section ends; returns octets used or a cap code. */
  read(b: Uint8Array, off: number): number {
    let i = off;
    while (i < b.length && !this.done) {
      const used = this.lines.read(b, i);
      if (used < 0) return used;
      i += used;
      this.total += used;
      const line = this.lines.line;
      if (line === null) continue;
      // Checked once per finished line, so the outcome does not depend on how input was split.
      if (this.total > this.maxHead) return HEAD_TOO_LONG;
      this.take(latin1(line));
    }
    return i - off;
  }

  private take(line: string): void {
    if (this.withStart && this.start === null) {
      if (line.length > 0) this.start = line;
      return;
    }
    if (line.length === 0) {
      this.done = true;
      return;
    }
    if ((line[0] === ' ' || line[0] === '\t') && this.fields.length > 0) {
      this.fields[this.fields.length - 1].value += ' ' + line.trim();
      return;
    }
    const f = parseFieldLine(line);
    if (f) this.fields.push(f);
    else this.bad++;
  }
}

/**
 * Collects exactly `size` octets (a length-prefixed message body). The caller checks `size`
 * against its cap before creating one.
 */
export class Collector {
  private readonly buf: Uint8Array;
  private have = 0;

  constructor(readonly size: number) {
    this.buf = new Uint8Array(size);
  }

  /** Octets still missing. */
  get need(): number {
    return this.size - this.have;
  }

  get done(): boolean {
    return this.have === this.size;
  }

  /** The collected octets (complete once `done`). */
  get bytes(): Uint8Array {
    return this.buf.subarray(0, this.have);
  }

  /** Copies up to `need` octets from `b[off..]`; returns how many. */
  read(b: Uint8Array, off: number): number {
    const n = Math.min(this.need, b.length - off);
    this.buf.set(b.subarray(off, off + n), this.have);
    this.have += n;
    return n;
  }
}
