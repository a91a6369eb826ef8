/**
 * Small helpers shared by the dissectors: prefix comparison, line scanning, per-direction
 * signature-hit look-ups through the application's declared signature names, and a structural
 * bencode peek (BEP 3). No regular expressions: every check compares bytes directly. Integer
 * readers and `ascii` live in ./bytes.ts.
 */
import { ascii } from './bytes.js';
import type { Dir, SearchContext, SearchResult, SignatureHit } from './types.js';
import { DETECTED, EXCLUDED, NEED_MORE } from './types.js';

/**
 * The signature names one dissector declares, with its application name: what the dissector may
 * look up (`hitAt(ctx, SIG, 'handshake', d)`, a name outside `names` is a type error) and what
 * its descriptor publishes as `signatures` (src/apps/types.ts). Every name must be defined by a
 * `sig <app> <name> …` line of the rules files, or loading the rules fails (src/apps/rules.ts).
 */
export interface SigSet<N extends string = string> {
  /** Application name (`AppDescriptor.name`). */
  readonly app: string;
  /** Declared signature names, in declaration order. */
  readonly names: readonly N[];
}

/** The name type of a SigSet: `SigOf<typeof SIG>` is the union of its declared names. */
export type SigOf<S> = S extends SigSet<infer N> ? N : never;

/**
 * Declares application `app`'s signature names (rules/README.md "sig": lowercase letters,
 * digits, `-`, `_`). Pass a literal array so each name keeps its literal type:
 * `const SIG = sigNames('bittorrent', ['handshake', 'info-hash'])`. Returns a frozen SigSet.
 * @throws TypeError on a duplicate name (a programming error, raised when the module loads)
 */
export function sigNames<const N extends string>(app: string, names: readonly N[]): SigSet<N> {
  if (new Set(names).size !== names.length) throw new TypeError(`${app}: duplicate signature name in ${names.join(', ')}`);
  return Object.freeze({ app, names: Object.freeze([...names]) });
}

/** Outcome of comparing a possibly short prefix with a token: full match, still possible, or not. */
export type PrefixState = 'match' | 'partial' | 'mismatch';

/**
 * Compares the start of `buf` (from `off`) with `pat`: `match` if the whole token is there,
 * `partial` if `buf` ends before the token but agrees so far (wait for more bytes), else `mismatch`.
 * Used for TCP streams that may arrive one byte at a time (RFC 9293 makes no segmentation promise).
 */
export function prefixState(buf: Uint8Array, pat: Uint8Array, off = 0): PrefixState {
  const n = Math.min(pat.length, buf.length - off);
  for (let i = 0; i < n; i++) if (buf[off + i] !== pat[i]) return 'mismatch';
  return n === pat.length ? 'match' : 'partial';
}

/** Best `prefixState` over several tokens (`match` beats `partial` beats `mismatch`). */
export function anyPrefixState(buf: Uint8Array, pats: readonly Uint8Array[], off = 0): PrefixState {
  let best: PrefixState = 'mismatch';
  for (const p of pats) {
    const s = prefixState(buf, p, off);
    if (s === 'match') return s;
    if (s === 'partial') best = s;
  }
  return best;
}

/** First index of `pat` in `buf` at or after `from`, or -1. */
export function indexOf(buf: Uint8Array, pat: Uint8Array, from = 0, to = buf.length): number {
  const end = Math.min(to, buf.length) - pat.length;
  outer: for (let i = Math.max(0, from); i <= end; i++) {
    for (let j = 0; j < pat.length; j++) if (buf[i + j] !== pat[j]) continue outer;
    return i;
  }
  return -1;
}

const CRLF = ascii('\r\n');
const CRLFCRLF = ascii('\r\n\r\n');
const LFLF = ascii('\n\n');

/** Index of the first CRLF at or after `from` (end of an RFC 9112 start line), or -1. */
export function indexOfCrlf(buf: Uint8Array, from = 0): number {
  return indexOf(buf, CRLF, from);
}

/**
 * Length of the RFC 9112 header section (start line, fields and the empty line) at the start of
 * `buf`, or -1 while it is incomplete. A bare-LF empty line (`\n\n`) is accepted as RFC 9112 §2.2
 * allows recipients to do.
 */
export function headerBlockEnd(buf: Uint8Array): number {
  const a = indexOf(buf, CRLFCRLF);
  const b = indexOf(buf, LFLF);
  if (a < 0 && b < 0) return -1;
  if (a < 0) return b + 2;
  if (b < 0) return a + 4;
  return Math.min(a + 4, b + 2);
}

/** RFC 5234 DIGIT (0x30-0x39). */
export const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
/** ASCII uppercase letter (MSNP command names, G2 packet names). */
export const isUpper = (c: number): boolean => c >= 0x41 && c <= 0x5a;
/** RFC 5234 HEXDIG, either case (Gnutella GUIDs in GIV/PUSH lines). */
export const isHex = (c: number): boolean =>
  isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
/** Printable ASCII excluding space (an RFC 9112 request-target / token octet, loosely). */
export const isVisible = (c: number): boolean => c > 0x20 && c < 0x7f;

/** Count of ASCII digits starting at `off` (decimal fields: BEP 3 bencode lengths, MSNP TrIDs). */
export function digitRun(b: Uint8Array, off: number, end = b.length): number {
  let i = off;
  while (i < end && isDigit(b[i])) i++;
  return i - off;
}

/**
 * Every hit of the declared signature `sig` of `sigs.app` in direction `dir` (or either, when
 * omitted), in the order found. `ctx.hit()` only returns the first hit of a signature in the
 * whole flow; dissectors that must know about a direction or a datagram use this instead.
 */
export function hitsOf<N extends string>(ctx: SearchContext, sigs: SigSet<N>, sig: NoInfer<N>, dir?: Dir): SignatureHit[] {
  const out: SignatureHit[] = [];
  for (const h of ctx.hits) {
    if (h.app === sigs.app && h.sig === sig && (dir === undefined || h.dir === dir)) out.push(h);
  }
  const first = ctx.hit(sig);
  if (out.length === 0 && first && (dir === undefined || first.dir === dir)) out.push(first);
  return out;
}

/** True if declared signature `sig` matched at stream offset `off` (TCP) of direction `dir`. */
export function hitAt<N extends string>(ctx: SearchContext, sigs: SigSet<N>, sig: NoInfer<N>, dir: Dir, off = 0): boolean {
  return hitsOf(ctx, sigs, sig, dir).some((h) => h.offset === off);
}

/** True if declared signature `sig` matched in direction `dir` starting inside `[from, to)`. */
export function hitWithin<N extends string>(ctx: SearchContext, sigs: SigSet<N>, sig: NoInfer<N>, dir: Dir, from: number, to: number): boolean {
  return hitsOf(ctx, sigs, sig, dir).some((h) => h.offset >= from && h.offset < to);
}

/**
 * UDP: true if declared signature `sig` matched in the datagram now being searched (at `off`, if
 * given), or in an earlier datagram of the same direction. A classifier may record only the first
 * hit of a signature per direction, so callers must also check the current datagram's structure.
 */
export function hitInDatagram<N extends string>(ctx: SearchContext, sigs: SigSet<N>, sig: NoInfer<N>, off?: number): boolean {
  const pkt = ctx.packets[ctx.dir];
  return hitsOf(ctx, sigs, sig, ctx.dir).some((h) => h.pkt <= pkt && (off === undefined || h.offset === off));
}

/** RFC 1950 §2.2: CMF/FLG pair of a zlib stream (deflate, window ≤ 32 KiB, FCHECK valid). */
export function isZlibHeader(b: Uint8Array, off: number): boolean {
  if (b.length < off + 2) return false;
  const cmf = b[off];
  const flg = b[off + 1];
  return (cmf & 0x0f) === 8 && cmf >> 4 <= 7 && ((cmf << 8) | flg) % 31 === 0;
}

/** Outcome of a structural bencode walk: `end` offset, or -1 invalid, or -2 truncated. */
const B_INVALID = -1;
const B_TRUNC = -2;

/**
 * Skips one bencoded value (BEP 3 "bencoding": `i<int>e`, `<len>:<bytes>`, `l...e`, `d...e` with
 * byte-string keys) starting at `off`. Returns the offset just after it, -1 if the bytes cannot be
 * bencode, -2 if they stop before the value ends. `depth` bounds nesting.
 */
export function bSkip(b: Uint8Array, off: number, depth = 16): number {
  if (off >= b.length) return B_TRUNC;
  const c = b[off];
  if (c === 0x69 /* i */) {
    let i = off + 1;
    if (i < b.length && b[i] === 0x2d) i++;
    const n = digitRun(b, i);
    i += n;
    if (i >= b.length) return B_TRUNC;
    return n > 0 && b[i] === 0x65 ? i + 1 : B_INVALID;
  }
  if (isDigit(c)) {
    const n = digitRun(b, off);
    if (n > 7) return B_INVALID;
    const colon = off + n;
    if (colon >= b.length) return B_TRUNC;
    if (b[colon] !== 0x3a) return B_INVALID;
    let len = 0;
    for (let i = off; i < colon; i++) len = len * 10 + (b[i] - 0x30);
    const end = colon + 1 + len;
    return end <= b.length ? end : B_TRUNC;
  }
  if (c === 0x6c /* l */ || c === 0x64 /* d */) {
    if (depth <= 0) return B_INVALID;
    let i = off + 1;
    let key = true;
    for (;;) {
      if (i >= b.length) return B_TRUNC;
      if (b[i] === 0x65) return c === 0x64 && !key ? B_INVALID : i + 1;
      if (c === 0x64 && key && !isDigit(b[i])) return B_INVALID;
      const r = bSkip(b, i, depth - 1);
      if (r < 0) return r;
      i = r;
      if (c === 0x64) key = !key;
    }
  }
  return B_INVALID;
}

/** A top-level bencoded dictionary: its keys (latin-1) mapped to the value's [start, end). */
export interface BDict {
  keys: Map<string, [number, number]>;
  end: number;
}

/**
 * Parses the top-level bencoded dictionary at `off` (BEP 3) without decoding values: returns its
 * keys and value spans, `'truncated'` if more bytes are needed, or `null` if it is not bencode.
 */
export function bDict(b: Uint8Array, off = 0): BDict | 'truncated' | null {
  if (off >= b.length) return 'truncated';
  if (b[off] !== 0x64) return null;
  const keys = new Map<string, [number, number]>();
  let i = off + 1;
  for (;;) {
    if (i >= b.length) return 'truncated';
    if (b[i] === 0x65) return { keys, end: i + 1 };
    if (!isDigit(b[i])) return null;
    const kEnd = bSkip(b, i);
    if (kEnd === B_TRUNC) return 'truncated';
    if (kEnd < 0) return null;
    const colon = i + digitRun(b, i);
    let k = '';
    for (let j = colon + 1; j < kEnd; j++) k += String.fromCharCode(b[j]);
    const vEnd = bSkip(b, kEnd);
    if (vEnd === B_TRUNC) return 'truncated';
    if (vEnd < 0) return null;
    keys.set(k, [kEnd, vEnd]);
    i = vEnd;
  }
}

/** Bytes of a bencoded byte string value spanning [start, end) (after its `<len>:`), or null. */
export function bString(b: Uint8Array, span: [number, number]): Uint8Array | null {
  const [s, e] = span;
  if (!isDigit(b[s])) return null;
  const colon = s + digitRun(b, s);
  return b.subarray(colon + 1, e);
}

/** What one direction's stream says about a TCP protocol so far. */
export type DirState = 'detected' | 'candidate' | 'no' | 'empty';

/**
 * The verdict of a TCP dissector that recognises its protocol from either direction's stream
 * start (mid-stream captures may begin with the responder): detected if either direction is,
 * need-more while either is still a candidate or has sent nothing, excluded when both say no.
 */
export function eitherDirection(ctx: SearchContext, dir: (ctx: SearchContext, d: Dir) => DirState): SearchResult {
  const s0 = dir(ctx, 0);
  const s1 = dir(ctx, 1);
  if (s0 === 'detected' || s1 === 'detected') return DETECTED;
  if (s0 === 'no' && s1 === 'no') return EXCLUDED;
  return NEED_MORE;
}

/**
 * Expected number of distinct byte values among `n` uniformly random bytes, and its standard
 * deviation (occupancy problem: 256 bins, n balls).
 */
function distinctStats(n: number): { mean: number; sd: number } {
  const q1 = Math.pow(255 / 256, n);
  const q2 = Math.pow(254 / 256, n);
  const mean = 256 * (1 - q1);
  const variance = 256 * q1 * (1 - q1) + 256 * 255 * (q2 - q1 * q1);
  return { mean, sd: Math.sqrt(Math.max(variance, 0)) };
}

/**
 * Whether `b` (its first 1,024 bytes) could be uniformly random bytes: a count of distinct byte
 * values more than 5 standard deviations below the mean expected for random bytes of that length
 * is rejected (text and protocol headers repeat few values; 96 random bytes show about 80 distinct
 * values, σ ≈ 3). Fewer than 32 bytes: false (too few to judge).
 * @param b bytes to judge (not modified)
 * @returns true when the distinct-value count is within 5 σ of random data's
 */
export function looksRandom(b: Uint8Array): boolean {
  const n = Math.min(b.length, 1024);
  if (n < 32) return false;
  const seen = new Uint8Array(256);
  let distinct = 0;
  for (let i = 0; i < n; i++) if (seen[b[i]]++ === 0) distinct++;
  const { mean, sd } = distinctStats(n);
  return distinct >= mean - 5 * sd;
}
