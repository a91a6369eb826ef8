/**
 * The signature pattern language: parser for ClamAV body signatures (hex with wildcards), escaped
 * string literals and offsets, producing a small AST of byte classes, alternatives and gaps.
 *
 * Syntax source: ClamAV documentation, "Creating signatures for ClamAV", section "Body-based
 * signature content format" (wildcards `??`, `a?`, `?a`, `*`, `{n}`, `{-n}`, `{n-}`, `{n-m}`,
 * `(aa|bb)`, `!(aa|bb)`, `[n-m]`) and "Extended signature format" (offsets `*`, `n`, `EOF-n`,
 * `,maxshift`). Differences are listed in src/sigscan/README.md.
 */
import { ErrorCodes, P2pgwError } from '../core/errors.js';

/** A set of byte values: 32 bytes, bit (b & 7) of byte (b >> 3) set = value b allowed. */
export type ByteClass = Uint8Array;

/** One input byte position: a number is that exact byte (0..255), a ByteClass any of its members. */
export type Pos = number | ByteClass;

/**
 * One AST node of a body signature: a byte position, alternatives (sequences of positions, lengths
 * may differ), or a gap of min..max arbitrary bytes (max = Infinity for `*` and `{n-}`).
 */
export type SigNode =
  | { readonly t: 'pos'; readonly p: Pos }
  | { readonly t: 'alt'; readonly branches: readonly (readonly Pos[])[] }
  | { readonly t: 'gap'; readonly min: number; readonly max: number };

/** Where a match must start: anywhere, at [n, n+shift], or at [size-n, size-n+shift] (EOF). */
export type SigOffset =
  | { readonly kind: 'any' }
  | { readonly kind: 'abs'; readonly n: number; readonly shift: number }
  | { readonly kind: 'eof'; readonly n: number; readonly shift: number };

/** Largest gap bound, offset or shift accepted (2^31 - 1 bytes). */
export const MAX_BOUND = 0x7fffffff;

/** Thrown for malformed pattern text; `origin` is "file:line" when known. */
export class PatternError extends P2pgwError {
  constructor(readonly origin: string | undefined, readonly problem: string) {
    super(ErrorCodes.P2PGW_ERR_PATTERN, origin ? `${origin}: ${problem}` : problem);
    this.name = 'PatternError';
  }
}

/** A class holding exactly the byte `b`. */
export function byteClass(b: number): ByteClass {
  const c = new Uint8Array(32);
  c[b >> 3] |= 1 << (b & 7);
  return c;
}

/** A class of all 256 bytes (`??`). */
export function anyClass(): ByteClass {
  return new Uint8Array(32).fill(0xff);
}

/** True if `b` is in class `c`. */
export function inClass(c: ByteClass, b: number): boolean {
  return (c[b >> 3] & (1 << (b & 7))) !== 0;
}

/** Number of bytes in class `c`. */
export function classSize(c: ByteClass): number {
  let n = 0;
  for (let i = 0; i < 32; i++) for (let v = c[i]; v; v &= v - 1) n++;
  return n;
}

/** The members of `c` in increasing order. */
export function classMembers(c: ByteClass): number[] {
  const out: number[] = [];
  for (let b = 0; b < 256; b++) if (inClass(c, b)) out.push(b);
  return out;
}

/** ASCII-only case closure: adds 'a'..'z' for 'A'..'Z' members and vice versa. */
export function foldClass(c: ByteClass): ByteClass {
  const r = Uint8Array.from(c);
  for (let b = 0x41; b <= 0x5a; b++) {
    if (inClass(c, b) || inClass(c, b + 0x20)) {
      r[b >> 3] |= 1 << (b & 7);
      r[(b + 0x20) >> 3] |= 1 << ((b + 0x20) & 7);
    }
  }
  return r;
}

const HEX = /^[0-9a-fA-F]$/;

/** Nibble-pattern position: `hi`/`lo` are hex digits or '?'. */
function nibbleClass(hi: string, lo: string): Pos {
  if (hi !== '?' && lo !== '?') return parseInt(hi + lo, 16);
  const c = new Uint8Array(32);
  for (let b = 0; b < 256; b++) {
    if ((hi === '?' || b >> 4 === parseInt(hi, 16)) && (lo === '?' || (b & 15) === parseInt(lo, 16))) {
      c[b >> 3] |= 1 << (b & 7);
    }
  }
  return c;
}

/**
 * Parses a ClamAV hex body signature (whitespace not allowed) into AST nodes.
 * @throws PatternError naming `origin` and the column of the problem.
 */
export function parseHexBody(text: string, origin?: string): SigNode[] {
  const nodes: SigNode[] = [];
  let i = 0;
  const fail = (msg: string, at = i): never => {
    throw new PatternError(origin, `${msg} at column ${at + 1} of '${text.length > 80 ? `${text.slice(0, 77)}...` : text}'`);
  };
  const num = (): number => {
    const m = /^[0-9]+/.exec(text.slice(i));
    if (!m) return fail('expected a number');
    i += m[0].length;
    const n = Number(m[0]);
    if (n > MAX_BOUND) fail(`number ${m[0]} too large`, i - m[0].length);
    return n;
  };
  const nibblePair = (): Pos => {
    const hi = text[i];
    const lo = text[i + 1];
    if (hi === undefined || lo === undefined) return fail('odd number of hex digits');
    if ((hi !== '?' && !HEX.test(hi)) || (lo !== '?' && !HEX.test(lo))) return fail(`bad hex byte '${hi}${lo}'`);
    i += 2;
    return nibbleClass(hi, lo);
  };
  if (text.length === 0) fail('empty signature');
  while (i < text.length) {
    const ch = text[i];
    if (ch === '*') {
      i++;
      nodes.push({ t: 'gap', min: 0, max: Infinity });
    } else if (ch === '{' || ch === '[') {
      const close = ch === '{' ? '}' : ']';
      const at = i++;
      let min = 0;
      let max = Infinity;
      if (text[i] === '-') {
        i++;
        max = num();
      } else {
        min = num();
        if (text[i] === '-') {
          i++;
          max = text[i] === close ? Infinity : num();
        } else {
          max = min;
        }
      }
      if (text[i] !== close) fail(`expected '${close}'`);
      i++;
      if (ch === '[' && (max === Infinity || text.slice(at).startsWith('[-'))) fail("'[n-m]' needs both bounds", at);
      if (max < min) fail(`gap {${min}-${max}} has max < min`, at);
      nodes.push({ t: 'gap', min, max });
    } else if (ch === '(' || (ch === '!' && text[i + 1] === '(')) {
      const negate = ch === '!';
      const at = i;
      i += negate ? 2 : 1;
      const branches: Pos[][] = [[]];
      for (;;) {
        const c = text[i];
        if (c === undefined) fail("unterminated '('", at);
        if (c === ')') break;
        if (c === '|') {
          branches.push([]);
          i++;
          continue;
        }
        if (c === 'B' || c === 'L' || c === 'W') fail(`special alternative '(${c})' is not supported`);
        branches[branches.length - 1].push(nibblePair());
      }
      i++;
      if (branches.some((br) => br.length === 0)) fail('empty alternative', at);
      if (branches.length < 2 && !negate) fail('alternatives need at least two branches', at);
      const single = branches.every((br) => br.length === 1);
      if (negate) {
        if (!single) fail("'!(...)' supports single-byte alternatives only", at);
        const c = new Uint8Array(32).fill(0xff);
        for (const [p] of branches) for (let k = 0; k < 32; k++) c[k] &= ~toClass(p)[k];
        nodes.push({ t: 'pos', p: c });
      } else if (single) {
        const c = new Uint8Array(32);
        for (const [p] of branches) for (let k = 0; k < 32; k++) c[k] |= toClass(p)[k];
        nodes.push({ t: 'pos', p: c });
      } else {
        nodes.push({ t: 'alt', branches });
      }
    } else {
      nodes.push({ t: 'pos', p: nibblePair() });
    }
  }
  return nodes;
}

const ESC: Record<string, number> = { n: 10, r: 13, t: 9, '0': 0, '\\': 92, '"': 34, "'": 39 };

/**
 * Decodes an escaped string literal body (without quotes): `\xHH`, `\n`, `\r`, `\t`, `\0`, `\\`,
 * `\"`, `\'`; other characters must be U+0000..U+00FF and stand for that byte (Latin-1).
 */
export function parseEscaped(text: string, origin?: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch !== '\\') {
      const code = ch.charCodeAt(0);
      if (code > 0xff) throw new PatternError(origin, `non-Latin-1 character '${ch}' in string literal (use \\xHH)`);
      out.push(code);
      continue;
    }
    const e = text[++i];
    if (e === 'x') {
      const h = text.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) throw new PatternError(origin, `bad \\x escape at column ${i}`);
      out.push(parseInt(h, 16));
      i += 2;
    } else if (e !== undefined && e in ESC) {
      out.push(ESC[e]);
    } else {
      throw new PatternError(origin, `bad escape '\\${e ?? ''}' at column ${i}`);
    }
  }
  if (out.length === 0) throw new PatternError(origin, 'empty string literal');
  return Uint8Array.from(out);
}

/** Nodes for a literal byte string. */
export function literalNodes(bytes: Uint8Array): SigNode[] {
  return Array.from(bytes, (b): SigNode => ({ t: 'pos', p: b }));
}

/** Parses `*`, `n`, `n,shift`, `EOF-n`, `EOF-n,shift`. @throws PatternError */
export function parseOffset(text: string | undefined, origin?: string): SigOffset {
  if (text === undefined || text === '*') return { kind: 'any' };
  const m = /^(EOF-)?([0-9]+)(?:,([0-9]+))?$/.exec(text);
  if (!m) {
    const hint = /^(EP|S[0-9]+|SE|SL)/.test(text) ? ' (executable-relative offsets need target types we skip)' : '';
    throw new PatternError(origin, `unsupported offset '${text}'${hint}`);
  }
  const n = Number(m[2]);
  const shift = m[3] === undefined ? 0 : Number(m[3]);
  if (n > MAX_BOUND || shift > MAX_BOUND) throw new PatternError(origin, `offset '${text}' too large`);
  return m[1] ? { kind: 'eof', n, shift } : { kind: 'abs', n, shift };
}

/** A position as a class. */
export function toClass(p: Pos): ByteClass {
  return typeof p === 'number' ? byteClass(p) : p;
}

const isLetter = (b: number): boolean => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);

/** Case-insensitive version of a position (ASCII letters only; other exact bytes stay numbers). */
export function foldPos(p: Pos): Pos {
  if (typeof p === 'number') return isLetter(p) ? foldClass(byteClass(p)) : p;
  return foldClass(p);
}

/** Applies case-insensitivity (ASCII letters) to every position of the nodes. */
export function foldNodes(nodes: readonly SigNode[]): SigNode[] {
  return nodes.map((n): SigNode => {
    if (n.t === 'pos') return { t: 'pos', p: foldPos(n.p) };
    if (n.t === 'alt') return { t: 'alt', branches: n.branches.map((br) => br.map(foldPos)) };
    return n;
  });
}
