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
 * Caps (a recipient may bound line and section lengths, RFC 9112 §2.3 and §5) come from
 * {@link INSPECT_LIMITS}: a line (request/status line, field line, chunk-size line, MSNP command)
 * `maxLine`; a header section (start line + field lines, or a trailer section) `maxHead`; a
 * buffered message (MSNP MSG payload, BitTorrent extended message) `maxMessage`.
 */
import { PARSER_LIMITS } from '../../core/defaults.js';
import { P2pgwError } from '../../core/errors.js';
import { ascii, concatList, latin1 } from '../bytes.js';

/** The stream parsers' caps: the keys of core's PARSER_LIMITS, positive integers. */
export type ParserLimits = { readonly [K in keyof typeof PARSER_LIMITS]: number };

/** Default longest line, octets without its CRLF (PARSER_LIMITS.maxLine). */
export const MAX_LINE = PARSER_LIMITS.maxLine;
/** Default longest header section, octets (PARSER_LIMITS.maxHead). */
export const MAX_HEAD = PARSER_LIMITS.maxHead;

/**
 * The caps the stream parsers apply in this process: a frozen object, never mutated. It starts
 * as core's PARSER_LIMITS and is replaced as a whole by {@link setInspectLimits} at start-up and
 * on reload. Parsers read it when they need a cap (an ES module live binding, so they see the
 * current set); a parser created before a reload keeps the caps it was created with.
 */
export let INSPECT_LIMITS: ParserLimits = PARSER_LIMITS;

/**
 * Replaces the whole set of parser caps with `limits` over the defaults: a key that is absent or
 * `undefined` gets the PARSER_LIMITS default, so a reload whose config no longer sets
 * `inspect.max_line` restores the default line cap rather than keeping the previous one.
 * Called with the config's `parserLimits` (src/config/load.ts); `setInspectLimits({})` restores
 * every default.
 * @throws P2pgwError(P2PGW_ERR_CONFIG) when a given cap is not a positive safe integer, or the key
 *   is unknown (nothing is changed then)
 */
export function setInspectLimits(limits: { readonly [K in keyof ParserLimits]?: number | undefined } = {}): void {
  const next: Record<string, number> = { ...PARSER_LIMITS };
  for (const [k, v] of Object.entries(limits)) {
    if (v === undefined) continue;
    if (!(k in PARSER_LIMITS)) throw new P2pgwError('P2PGW_ERR_CONFIG', `unknown parser cap '${k}'`);
    if (!Number.isSafeInteger(v) || v <= 0) throw new P2pgwError('P2PGW_ERR_CONFIG', `parser cap '${k}' must be a positive integer, got ${v}`);
    next[k] = v;
  }
  INSPECT_LIMITS = Object.freeze(next as ParserLimits);
}

/** `read` result: the current line exceeded the line cap. */
export const LINE_TOO_LONG = -1;
/** `read` result: the header section exceeded the section cap. */
export const HEAD_TOO_LONG = -2;

const LF = 0x0a;
const CR = 0x0d;

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
  const src = ascii(s);
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
      line = concatList(this.parts);
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
