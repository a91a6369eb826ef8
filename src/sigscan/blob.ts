/**
 * Signature compiler, last step: the chosen anchors (tables.ts) and the atoms -> the engine blob
 * scanned by asm/assembly/sigdb.ts. The layout is documented in asm/assembly/sigdb_layout.ts:
 * header, atom records, byte classes, tier records, then per atom its verification data (V/A/O
 * 8-byte chunks and class positions), then per tier its filter, bucket offsets (CSR) and entries.
 */
import type { ByteClass } from './syntax.js';
import { classMembers } from './syntax.js';

/** Shape of one tier, for reports. */
export interface TierStats {
  q: number;
  stride: number;
  /** Bloom bits per entry of a q = 4 filter (1 for small filters, else 3; 0 for direct tiers). */
  bloomBits: number;
  atoms: number;
  entries: number;
  filterBytes: number;
  largestBucket: number;
}

/** High and low halves of the engine's 64-bit gram hash multiplier HC (asm/assembly/sigdb_layout.ts). */
export const HC_HI = 0x9e3779b9;
export const HC_LO = 0x7f4a7c15;

/** (g * HC) mod 2^64 for a u32 gram g, as [high u32, low u32] (exact, via 16-bit limbs). */
export function gramHash(g: number): [number, number] {
  const a0 = g & 0xffff;
  const a1 = g >>> 16;
  const b0 = HC_LO & 0xffff;
  const b1 = HC_LO >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const lo = (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0;
  const hiLo = (a1 * b1 + Math.floor(p01 / 65536) + Math.floor(p10 / 65536) + Math.floor(mid / 65536)) >>> 0;
  return [(hiLo + Math.imul(g, HC_HI)) >>> 0, lo];
}

/** Bits [s, s + 6) of the 64-bit value hi:lo (0 <= s <= 58). */
function bits6(hi: number, lo: number, s: number): number {
  if (s >= 32) return (hi >>> (s - 32)) & 63;
  if (s <= 26) return (lo >>> s) & 63;
  return ((lo >>> s) | (hi << (32 - s))) & 63;
}
const MAGIC = 0x31424453;

/** What the tables need to know of a byte class. */
export interface ClassInfo {
  /** Case pair (ASCII letter both cases): the lowercase byte, else -1. */
  pair: number;
  /** ((x | o) & a) == v represents the class exactly, else a = -1. */
  v: number;
  a: number;
  o: number;
  size: number;
  members: number[];
}

export function classInfo(c: ByteClass): ClassInfo {
  const members = classMembers(c);
  const size = members.length;
  const lo = members[0];
  const pair = size === 2 && lo >= 0x41 && lo <= 0x5a && members[1] === lo + 0x20 ? lo + 0x20 : -1;
  if (pair >= 0) return { pair, v: pair, a: 0xff, o: 0x20, size, members };
  let diff = 0;
  for (const m of members) diff |= m ^ lo;
  const a = ~diff & 0xff;
  let free = 0;
  for (let x = diff; x; x &= x - 1) free++;
  if (size === 1 << free) return { pair, v: lo & a, a, o: 0, size, members };
  return { pair, v: 0, a: -1, o: 0, size, members };
}

/** Growable (gram, atom, offset) entry list. */
export class Entries {
  gram: Uint32Array = new Uint32Array(1024);
  atom: Uint32Array = new Uint32Array(1024);
  off: Uint32Array = new Uint32Array(1024);
  length = 0;
  push(gram: number, atom: number, off: number): void {
    if (this.length === this.gram.length) {
      const grow = (a: Uint32Array): Uint32Array => {
        const b = new Uint32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.gram = grow(this.gram);
      this.atom = grow(this.atom);
      this.off = grow(this.off);
    }
    this.gram[this.length] = gram;
    this.atom[this.length] = atom;
    this.off[this.length++] = off;
  }
}

/** One tier being built: gram length q, stride k, atoms anchored in it and their entries. */
export interface TierBuild {
  q: number;
  k: number;
  atoms: number;
  entries: Entries;
}

/** Sizes of the filter tiers (see `assemble`). */
export interface FilterSizing {
  /** log2 of the largest q = 4 filter, in 64-bit words. */
  maxBits: number;
  /** Filter bits per entry. */
  bitsPer: number;
  /** Largest q = 4 filter (bytes) probed with 1 Bloom bit instead of 3. */
  oneBit: number;
}

const align = (n: number, to: number): number => Math.ceil(n / to) * to;

/** Where the header's sections and each atom's verification data go. */
interface AtomLayout {
  /** Per atom: 1 when it needs masks (classes, or shorter than 8 bytes). */
  masked: Uint8Array;
  /** Per atom: positions of classes that masks cannot express (position | class << 16). */
  classPos: number[][];
  atomsOff: number;
  classesOff: number;
  tiersOff: number;
  dataOff: number;
  dataLen: number;
  /** Per atom: offset of its V/A/O chunks. */
  atomData: Int32Array;
  /** End of the atom data (16-aligned): the tiers start here. */
  end: number;
}

function layoutAtoms(atoms: readonly Int32Array[], classes: readonly ByteClass[], info: ClassInfo[], tierCount: number): AtomLayout {
  const NONE: number[] = [];
  const masked = new Uint8Array(atoms.length);
  const classPos = atoms.map((codes, a) => {
    let out = NONE;
    let m = codes.length < 8;
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      if (c < 256) continue;
      m = true;
      if (info[c - 256].a < 0) (out === NONE ? (out = []) : out).push(i | ((c - 256) << 16));
    }
    masked[a] = m ? 1 : 0;
    return out;
  });
  let off = 64;
  const atomsOff = off;
  off = align(off + atoms.length * 16, 16);
  const classesOff = off;
  off = align(off + classes.length * 32, 16);
  const tiersOff = off;
  off = align(off + tierCount * 32, 16);
  const dataOff = off;
  const atomData = new Int32Array(atoms.length);
  atoms.forEach((codes, a) => {
    atomData[a] = off;
    off = align(off + ((codes.length + 7) >> 3) * (masked[a] ? 24 : 8) + classPos[a].length * 4, 8);
  });
  return { masked, classPos, atomsOff, classesOff, tiersOff, dataOff, dataLen: off - dataOff, atomData, end: align(off, 16) };
}

/** Where one tier's filter (bm), bucket offsets (bk) and entries (en) go, and its filter's shape. */
interface TierLayout {
  wbits: number;
  nb: number;
  bm: number;
  bk: number;
  en: number;
  nbits: number;
}

/** Lays out `tiers` from `off` on; returns their layouts and the blob's total size. */
function layoutTiers(tiers: readonly TierBuild[], off: number, s: FilterSizing): { layout: TierLayout[]; total: number } {
  const layout = tiers.map((t) => {
    const wbitsFor = (per: number): number => Math.min(s.maxBits, Math.max(1, Math.ceil(Math.log2(Math.max(2, (t.entries.length * per) / 64)))));
    // Small filters (cache-resident anyway) use 1 Bloom bit at twice the size: fewer instructions.
    const nbits = t.q !== 4 ? 0 : 8 << wbitsFor(2 * s.bitsPer) <= s.oneBit ? 1 : 3;
    const wbits = t.q === 4 ? wbitsFor(nbits === 1 ? 2 * s.bitsPer : s.bitsPer) : t.q === 2 ? 10 : 2;
    const nb = t.q === 4 ? 1 << wbits : t.q === 2 ? 65536 : 256;
    const bm = off;
    off = align(off + (8 << wbits), 16);
    const bk = off;
    off = align(off + (nb + 1) * 4, 16);
    const en = off;
    off = align(off + t.entries.length * 16, 16);
    return { wbits, nb, bm, bk, en, nbits };
  });
  return { layout, total: off };
}

/** Writes atom `a`'s record, its V (and A/O when masked) 8-byte chunks and its class positions. */
function writeAtom(blob: Uint8Array, dv: DataView, codes: Int32Array, a: number, L: AtomLayout, info: ClassInfo[]): void {
  const len = codes.length;
  const r = L.atomsOff + a * 16;
  const n = (len + 7) >> 3;
  const d = L.atomData[a];
  const masked = L.masked[a];
  dv.setUint32(r, len, true);
  dv.setUint32(r + 4, masked ? 1 : 0, true);
  dv.setUint32(r + 8, d, true);
  dv.setUint32(r + 12, L.classPos[a].length, true);
  if (!masked) {
    for (let c = 0; c < n; c++) {
      const base = Math.min(8 * c, len - 8);
      for (let j = 0; j < 8; j++) blob[d + c * 8 + j] = codes[base + j];
    }
    return;
  }
  for (let c = 0; c < n; c++) {
    const base = len >= 8 ? Math.min(8 * c, len - 8) : 0;
    for (let j = 0; j < 8; j++) {
      const p = base + j;
      let v = 0;
      let am = 0;
      let om = 0;
      if (p < len) {
        const code = codes[p];
        if (code < 256) (v = code), (am = 0xff);
        else if (info[code - 256].a >= 0) ({ v, a: am, o: om } = info[code - 256]);
      }
      blob[d + c * 8 + j] = v;
      blob[d + n * 8 + c * 8 + j] = am;
      blob[d + n * 16 + c * 8 + j] = om;
    }
  }
  const cp = d + n * 24;
  L.classPos[a].forEach((e, i) => dv.setUint32(cp + i * 4, e >>> 0, true));
}

/** Writes one tier: filter bits, CSR bucket offsets, entries; returns its stats. */
function writeTier(blob: Uint8Array, dv: DataView, t: TierBuild, L: TierLayout, atoms: readonly Int32Array[], masked: Uint8Array, tr: number): TierStats {
  const E = t.entries;
  const bucketOf = new Int32Array(E.length);
  const setBit = (word: number, b: number): void => {
    blob[L.bm + word * 8 + (b >> 3)] |= 1 << (b & 7);
  };
  for (let i = 0; i < E.length; i++) {
    const g = E.gram[i];
    if (t.q === 4) {
      const [hi, lo] = gramHash(g);
      const wb = L.wbits;
      bucketOf[i] = hi >>> (32 - wb);
      setBit(bucketOf[i], bits6(hi, lo, 58 - wb));
      if (L.nbits === 3) {
        setBit(bucketOf[i], bits6(hi, lo, 52 - wb));
        setBit(bucketOf[i], bits6(hi, lo, 46 - wb));
      }
    } else {
      bucketOf[i] = g;
      setBit(g >>> 6, g & 63);
    }
  }
  const counts = new Int32Array(L.nb + 1);
  for (const b of bucketOf) counts[b + 1]++;
  let big = 0;
  for (let i = 0; i < L.nb; i++) {
    big = Math.max(big, counts[i + 1]);
    counts[i + 1] += counts[i];
  }
  for (let i = 0; i <= L.nb; i++) dv.setUint32(L.bk + i * 4, counts[i], true);
  const fill = counts.slice(0, L.nb);
  const u32 = new Uint32Array(blob.buffer, L.en, E.length * 4);
  for (let i = 0; i < E.length; i++) {
    const at = fill[bucketOf[i]]++ * 4;
    const a = E.atom[i];
    const codes = atoms[a];
    const len = codes.length;
    u32[at] = E.gram[i];
    u32[at + 1] = masked[a] ? a : (a | 0x80000000) >>> 0;
    u32[at + 2] = (E.off[i] | (len << 16)) >>> 0;
    if (!masked[a]) u32[at + 3] = (codes[len - 4] | (codes[len - 3] << 8) | (codes[len - 2] << 16) | (codes[len - 1] << 24)) >>> 0;
  }
  [t.q | (L.nbits << 8), t.k, L.wbits, L.bm, L.bk, L.en, t.entries.length, big].forEach((v, i) => dv.setUint32(tr + i * 4, v, true));
  return { q: t.q, stride: t.k, bloomBits: L.nbits, atoms: t.atoms, entries: t.entries.length, filterBytes: 8 << L.wbits, largestBucket: big };
}

/** Writes the engine blob of `atoms` with the anchor `tiers`. Returns it with per-tier stats. */
export function assemble(atoms: readonly Int32Array[], classes: readonly ByteClass[], info: ClassInfo[], tiers: TierBuild[], sizing: FilterSizing): {
  blob: Uint8Array;
  tiers: TierStats[];
} {
  const A = layoutAtoms(atoms, classes, info, tiers.length);
  const { layout, total } = layoutTiers(tiers, A.end, sizing);
  const blob = new Uint8Array(total);
  const dv = new DataView(blob.buffer);
  const hdr = [MAGIC, 1, total, atoms.length, A.atomsOff, classes.length, A.classesOff, tiers.length, A.tiersOff,
    atoms.reduce((m, c) => Math.max(m, c.length), 0), A.dataOff, A.dataLen];
  hdr.forEach((v, i) => dv.setUint32(i * 4, v, true));
  classes.forEach((c, k) => blob.set(c, A.classesOff + k * 32));
  atoms.forEach((codes, a) => writeAtom(blob, dv, codes, a, A, info));
  const stats = tiers.map((t, ti) => writeTier(blob, dv, t, layout[ti], atoms, A.masked, A.tiersOff + ti * 32));
  return { blob, tiers: stats };
}
