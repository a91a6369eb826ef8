/**
 * Signature compiler, front half: signature sources -> variants -> atoms + the JS-side metadata that
 * streams need to turn atom occurrences into signature matches (src/sigscan/stream.ts). The engine
 * tables for the atoms are built by src/sigscan/tables.ts.
 *
 * A body signature is parsed (src/sigscan/syntax.ts), case-folded if `nocase`, then expanded:
 * multi-byte alternatives multiply into variants (at most `maxVariants`); each variant is a chain
 * seg0 gap1 seg1 ... gapN segN of fixed-length segments separated by gaps [min, max]. Fixed gaps
 * up to `mergeGap` bytes are folded into the segment as `??` positions. Every distinct segment is
 * one atom (position codes: 0..255 exact byte, 256 + k = interned class k).
 */
import {
  PatternError, MAX_BOUND, anyClass, classSize, foldNodes, foldPos, literalNodes, parseHexBody, parseOffset,
  type ByteClass, type Pos, type SigNode, type SigOffset,
} from './syntax.js';

/** A body (content) signature. Exactly one of `hex` and `literal` must be given. */
export interface BodySigSource {
  /** Reported name (e.g. ClamAV malware name). */
  name: string;
  /** ClamAV body-signature syntax, e.g. `4d5a??00{4-8}(5045|4e45)*0d0a`. */
  hex?: string;
  /** Literal bytes; a JS string is encoded as UTF-8. */
  literal?: Uint8Array | string;
  /** Match ASCII letters case-insensitively. */
  nocase?: boolean;
  /** ClamAV offset: `*` (default), `n`, `n,shift`, `EOF-n`, `EOF-n,shift`. */
  offset?: string;
  /** Where it came from ("file:line"), prefixed to errors. */
  origin?: string;
}

/** A whole-file hash signature (ClamAV .hdb / .hsb line). */
export interface HashSigSource {
  name: string;
  /** Hex digest: 32 digits = MD5, 40 = SHA-1, 64 = SHA-256. */
  hash: string;
  /** File size in bytes, or null/undefined for "any size" (ClamAV `*`). */
  size?: number | null;
  origin?: string;
}

/** Input of `SigDatabase.compile`; the signature id reported to `onMatch` is the array index. */
export type SigSource = BodySigSource | HashSigSource;

/** Compile options. */
export interface CompileOptions {
  /** Largest accepted `EOF-n` (bytes, default 1 MiB): streams keep that many trailing bytes. */
  maxEofDistance?: number;
  /** Fixed gaps `{n}` up to this many bytes become `??` runs inside one atom (default 32). */
  mergeGap?: number;
  /** Most variants one signature's multi-byte alternatives may expand to (default 64). */
  maxVariants?: number;
}

/** Hash algorithm of a hash signature. */
export type HashAlgo = 'md5' | 'sha1' | 'sha256';

/** One compiled hash signature. `size` -1 = any. */
export interface HashEntry {
  sig: number;
  algo: HashAlgo;
  digest: string;
  size: number;
}

/** DbMeta.sigOff: offset `*` (match anywhere). */
export const OFF_ANY = 0;
/** DbMeta.sigOff: offset `n[,shift]` (start in [n, n + shift]). */
export const OFF_ABS = 1;
/** DbMeta.sigOff: offset `EOF-n[,shift]` (start in [size - n, size - n + shift]; reported at end). */
export const OFF_EOF = 2;
/** DbMeta.sigOff: a whole-file hash signature. */
export const OFF_HASH = 3;

/** JS-side metadata of a compiled database. Arrays are indexed by sig, variant, atom, owner, gap. */
export interface DbMeta {
  names: string[];
  /** OFF_* per signature. */
  sigOff: Uint8Array;
  /** Offset n and shift per signature (bytes). */
  sigN: Float64Array;
  sigShift: Float64Array;
  /** Variants per signature. */
  sigNVar: Int32Array;
  /** Length of each atom (bytes). */
  atomLen: Int32Array;
  /** Owners of atom a are records ownerStart[a] .. ownerStart[a+1]-1: (variant, segment index). */
  ownerStart: Int32Array;
  ownerVar: Int32Array;
  ownerSeg: Int32Array;
  /** Per variant: signature, segment count, index of its first gap (gap j of v = varGap0[v]+j-1). */
  varSig: Int32Array;
  varNSeg: Int32Array;
  varGap0: Int32Array;
  /** Gap bounds in bytes (max = Infinity for unbounded). */
  gapMin: Float64Array;
  gapMax: Float64Array;
  hashes: HashEntry[];
  /** Longest atom (the overlap is this minus one) and largest EOF-n. */
  maxAtomLen: number;
  maxEof: number;
}

/** Output of the front half: metadata plus atoms for tables.ts. */
export interface CompiledSigs {
  meta: DbMeta;
  /** Position codes per atom (0..255 exact, 256 + k = classes[k]). */
  atoms: Int32Array[];
  classes: ByteClass[];
}

const HASH_ALGOS: Record<number, HashAlgo> = { 32: 'md5', 40: 'sha1', 64: 'sha256' };
const ANY = anyClass();
/** Longest atom accepted (the engine stores lengths in 16 bits). */
export const MAX_SEGMENT = 65535;

/** Interns byte classes; single-byte classes become plain byte codes. */
class ClassTable {
  readonly list: ByteClass[] = [];
  private readonly index = new Map<string, number>();
  private folded: Int32Array | null = null;
  /** Code of byte `b` under nocase (a case-pair class for ASCII letters). */
  foldedCode(b: number): number {
    if (!this.folded) {
      this.folded = new Int32Array(256);
      for (let x = 0; x < 256; x++) this.folded[x] = this.code(foldPos(x));
    }
    return this.folded[b];
  }
  code(p: Pos): number {
    if (typeof p === 'number') return p;
    if (classSize(p) === 1) for (let b = 0; b < 256; b++) if (p[b >> 3] & (1 << (b & 7))) return b;
    const key = Buffer.from(p.buffer, p.byteOffset, 32).toString('latin1');
    let k = this.index.get(key);
    if (k === undefined) {
      k = this.list.length;
      if (k >= 65536 - 256) throw new PatternError(undefined, 'too many distinct byte classes (limit 65280)');
      this.list.push(Uint8Array.from(p));
      this.index.set(key, k);
    }
    return 256 + k;
  }
}

interface Variant {
  segs: number[][];
  gaps: [number, number][];
}

/** Expands nodes into variants (see module doc). @throws PatternError */
function expand(nodes: readonly SigNode[], ct: ClassTable, origin: string | undefined, o: Required<CompileOptions>): Variant[] {
  // Normalise: merge consecutive gaps, inline small fixed gaps, reject leading/trailing gaps.
  const items: SigNode[] = [];
  for (const n of nodes) {
    const prev = items[items.length - 1];
    if (n.t === 'gap' && prev?.t === 'gap') items[items.length - 1] = { t: 'gap', min: prev.min + n.min, max: prev.max + n.max };
    else items.push(n);
  }
  if (items[0]?.t === 'gap' || items[items.length - 1]?.t === 'gap') {
    throw new PatternError(origin, 'a signature cannot start or end with a gap or *');
  }
  const anyCode = ct.code(ANY);
  let vs: { segs: number[][]; gaps: [number, number][]; cur: number[] }[] = [{ segs: [], gaps: [], cur: [] }];
  for (const n of items) {
    if (n.t === 'pos') {
      const c = ct.code(n.p);
      for (const v of vs) v.cur.push(c);
    } else if (n.t === 'gap' && n.min === n.max && n.min <= o.mergeGap) {
      for (const v of vs) for (let k = 0; k < n.min; k++) v.cur.push(anyCode);
    } else if (n.t === 'gap') {
      if (n.min > MAX_BOUND || (n.max !== Infinity && n.max > MAX_BOUND)) throw new PatternError(origin, 'gap too large');
      for (const v of vs) {
        v.segs.push(v.cur);
        v.cur = [];
        v.gaps.push([n.min, n.max]);
      }
    } else {
      if (vs.length * n.branches.length > o.maxVariants) {
        throw new PatternError(origin, `alternatives expand to more than ${o.maxVariants} variants`);
      }
      const codes = n.branches.map((br) => br.map((p) => ct.code(p)));
      vs = vs.flatMap((v) => codes.map((br) => ({ segs: v.segs.map((s) => s.slice()), gaps: v.gaps.slice(), cur: [...v.cur, ...br] })));
    }
  }
  return vs.map((v) => {
    const segs = [...v.segs, v.cur];
    if (segs.some((s) => s.length > MAX_SEGMENT)) throw new PatternError(origin, `a fixed part is longer than ${MAX_SEGMENT} bytes`);
    return { segs, gaps: v.gaps };
  });
}

/** Map key of a segment (codes fit in 16 bits). */
function keyOf(seg: readonly number[]): string {
  let key = '\u{10000}'; // never a prefix of a Latin-1 fast-path key
  for (let i = 0; i < seg.length; i += 4096) key += String.fromCharCode(...seg.slice(i, i + 4096));
  return key;
}

/** The bytes of a literal or wildcard-free hex body (fast path), else null. */
function plainBytes(s: BodySigSource): Uint8Array | null {
  if (typeof s.name !== 'string' || s.name.length === 0) return null;
  if (s.literal instanceof Uint8Array && s.hex === undefined && s.literal.length > 0) return s.literal;
  if (typeof s.hex === 'string' && s.literal === undefined && s.hex.length > 0 && s.hex.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(s.hex)) {
    return Buffer.from(s.hex, 'hex');
  }
  return null;
}

/** Parses one body signature into nodes + offset. @throws PatternError */
export function parseBodySig(s: BodySigSource): { nodes: SigNode[]; offset: SigOffset } {
  const origin = s.origin;
  if (typeof s.name !== 'string' || s.name.length === 0) throw new PatternError(origin, 'signature needs a name');
  if ((s.hex === undefined) === (s.literal === undefined)) {
    throw new PatternError(origin, `${s.name}: give exactly one of hex and literal`);
  }
  let nodes: SigNode[];
  if (s.hex !== undefined) {
    if (typeof s.hex !== 'string') throw new PatternError(origin, `${s.name}: hex must be a string`);
    nodes = parseHexBody(s.hex, origin);
  } else {
    const lit = typeof s.literal === 'string' ? new TextEncoder().encode(s.literal) : s.literal;
    if (!(lit instanceof Uint8Array) || lit.length === 0) throw new PatternError(origin, `${s.name}: empty literal`);
    nodes = literalNodes(lit);
  }
  if (nodes[0].t === 'gap' || nodes[nodes.length - 1].t === 'gap') {
    throw new PatternError(origin, 'a signature cannot start or end with a gap or *');
  }
  if (s.nocase === true) nodes = foldNodes(nodes);
  return { nodes, offset: parseOffset(s.offset, origin) };
}

/** Validates a hash signature. @throws PatternError */
export function parseHashSig(s: HashSigSource): { algo: HashAlgo; digest: string; size: number } {
  const digest = String(s.hash).toLowerCase();
  const algo = HASH_ALGOS[digest.length];
  if (!algo || !/^[0-9a-f]+$/.test(digest)) throw new PatternError(s.origin, `bad hash '${s.hash}' (need 32, 40 or 64 hex digits)`);
  const size = s.size ?? -1;
  if (!Number.isSafeInteger(size) || size < -1) throw new PatternError(s.origin, `bad file size '${s.size}'`);
  return { algo, digest, size };
}

/** Atoms (deduplicated segments), their owners and the variants' chains, as compileSources builds them. */
class AtomTable {
  private readonly index = new Map<string, number>();
  readonly atoms: Int32Array[] = [];
  private readonly owners: number[][] = []; // per atom: [v, j, v, j, ...]
  readonly varSig: number[] = [];
  readonly varNSeg: number[] = [];
  readonly varGap0: number[] = [];
  readonly gapMin: number[] = [];
  readonly gapMax: number[] = [];
  maxAtomLen = 0;

  /** Adds a variant of signature `sig`: segments (atoms, by map key) separated by `gaps`. */
  addVariant(sig: number, segs: readonly { key: string; codes: ArrayLike<number> }[], gaps: readonly [number, number][]): void {
    const vi = this.varSig.length;
    this.varSig.push(sig);
    this.varNSeg.push(segs.length);
    this.varGap0.push(this.gapMin.length);
    for (const [lo, hi] of gaps) {
      this.gapMin.push(lo);
      this.gapMax.push(hi);
    }
    segs.forEach((seg, j) => this.owners[this.atom(seg.key, seg.codes)].push(vi, j));
  }

  /** Index of the atom with map key `key` (added with `codes` when new). */
  private atom(key: string, codes: ArrayLike<number>): number {
    let a = this.index.get(key);
    if (a === undefined) {
      a = this.atoms.length;
      this.index.set(key, a);
      this.atoms.push(Int32Array.from(codes));
      this.owners.push([]);
      if (codes.length > this.maxAtomLen) this.maxAtomLen = codes.length;
    }
    return a;
  }

  /** The owners as CSR arrays: atom a owns records ownerStart[a] .. ownerStart[a+1]-1. */
  ownerArrays(): { ownerStart: Int32Array; ownerVar: Int32Array; ownerSeg: Int32Array } {
    const ownerStart = new Int32Array(this.atoms.length + 1);
    let total = 0;
    for (let a = 0; a < this.atoms.length; a++) {
      ownerStart[a] = total;
      total += this.owners[a].length >> 1;
    }
    ownerStart[this.atoms.length] = total;
    const ownerVar = new Int32Array(total);
    const ownerSeg = new Int32Array(total);
    let w = 0;
    for (const list of this.owners) {
      for (let k = 0; k < list.length; k += 2) {
        ownerVar[w] = list[k];
        ownerSeg[w++] = list[k + 1];
      }
    }
    return { ownerStart, ownerVar, ownerSeg };
  }
}

/** Per-signature arrays of DbMeta. */
interface SigArrays {
  names: string[];
  sigOff: Uint8Array;
  sigN: Float64Array;
  sigShift: Float64Array;
  sigNVar: Int32Array;
}

/** Records signature `i`'s offset; returns its EOF distance (0 unless `EOF-n`). @throws PatternError */
function recordOffset(sa: SigArrays, i: number, offset: SigOffset, origin: string | undefined, o: Required<CompileOptions>): number {
  if (offset.kind === 'any') return 0;
  sa.sigOff[i] = offset.kind === 'abs' ? OFF_ABS : OFF_EOF;
  sa.sigN[i] = offset.n;
  sa.sigShift[i] = offset.shift;
  if (offset.kind !== 'eof') return 0;
  if (offset.n > o.maxEofDistance) throw new PatternError(origin, `EOF-${offset.n} exceeds maxEofDistance ${o.maxEofDistance}`);
  return offset.n;
}

/** Compiles body signature `i` into `at`; returns its EOF distance. @throws PatternError */
function addBodySig(s: BodySigSource, i: number, sa: SigArrays, at: AtomTable, ct: ClassTable, o: Required<CompileOptions>): number {
  const fastBytes = plainBytes(s);
  const { nodes, offset } = fastBytes !== null ? { nodes: null, offset: parseOffset(s.offset, s.origin) } : parseBodySig(s);
  if (fastBytes !== null && fastBytes.length > MAX_SEGMENT) throw new PatternError(s.origin, `a fixed part is longer than ${MAX_SEGMENT} bytes`);
  const eof = recordOffset(sa, i, offset, s.origin, o);
  if (fastBytes !== null && s.nocase !== true) {
    // Fast path (literal bytes): key = the bytes as Latin-1, codes = the bytes.
    sa.sigNVar[i] = 1;
    const key = Buffer.from(fastBytes.buffer, fastBytes.byteOffset, fastBytes.length).toString('latin1');
    at.addVariant(i, [{ key, codes: fastBytes }], []);
    return eof;
  }
  const variants: Variant[] = fastBytes !== null
    ? [{ segs: [Array.from(fastBytes, (b) => ct.foldedCode(b))], gaps: [] }]
    : expand(nodes!, ct, s.origin, o);
  sa.sigNVar[i] = variants.length;
  for (const v of variants) at.addVariant(i, v.segs.map((seg) => ({ key: keyOf(seg), codes: seg })), v.gaps);
  return eof;
}

/** Front half of compilation. @throws PatternError (P2PGW_ERR_PATTERN) */
export function compileSources(sources: readonly SigSource[], options: CompileOptions = {}): CompiledSigs {
  if (!Array.isArray(sources)) throw new PatternError(undefined, 'signatures must be an array');
  const o: Required<CompileOptions> = { maxEofDistance: 1 << 20, mergeGap: 32, maxVariants: 64, ...options };
  const n = sources.length;
  const ct = new ClassTable();
  const sa: SigArrays = { names: new Array(n), sigOff: new Uint8Array(n), sigN: new Float64Array(n), sigShift: new Float64Array(n), sigNVar: new Int32Array(n) };
  const hashes: HashEntry[] = [];
  const at = new AtomTable();
  let maxEof = 0;
  for (let i = 0; i < n; i++) {
    const s = sources[i];
    if (s === null || typeof s !== 'object') throw new PatternError(undefined, `signature #${i}: not an object`);
    sa.names[i] = String(s.name);
    if ('hash' in s) {
      const h = parseHashSig(s);
      sa.sigOff[i] = OFF_HASH;
      hashes.push({ sig: i, ...h });
      continue;
    }
    maxEof = Math.max(maxEof, addBodySig(s, i, sa, at, ct, o));
  }
  const meta: DbMeta = {
    ...sa,
    atomLen: Int32Array.from(at.atoms, (a) => a.length),
    ...at.ownerArrays(),
    varSig: Int32Array.from(at.varSig), varNSeg: Int32Array.from(at.varNSeg), varGap0: Int32Array.from(at.varGap0),
    gapMin: Float64Array.from(at.gapMin), gapMax: Float64Array.from(at.gapMax),
    hashes, maxAtomLen: at.maxAtomLen, maxEof,
  };
  return { meta, atoms: at.atoms, classes: ct.list };
}
