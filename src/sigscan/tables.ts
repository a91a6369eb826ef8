/**
 * Signature compiler, back half: atoms -> the engine blob scanned by asm/assembly/sigdb.ts (layout
 * documented in asm/assembly/sigdb_layout.ts).
 *
 * Anchors: each atom gets one window of "static" positions (an exact byte or an ASCII case pair).
 * Its longest static run R picks the tier: R >= 8 -> hashed 4-grams with stride kL (<= 8), R 4..7 ->
 * hashed 4-grams with stride kM, R 2..3 -> direct 2-grams, else the single position with the
 * smallest class (direct 1-gram, every member registered). A window of q + k - 1 bytes registers its
 * k grams (all case variants), so a scan that looks up one gram every k bytes meets exactly one of
 * them per occurrence (q-gram filtering with sampling, cf. Navarro & Raffinot, "Flexible Pattern
 * Matching in Strings", 2002, ch. 3-4; Wu & Manber 1994 for block hashing). Windows are chosen
 * by a score that avoids common bytes (0x00, 0xff, space, letters) and already crowded buckets.
 * The q = 4 filter is a 3-bit blocked Bloom filter (one 64-bit word per lookup; 1 bit for small ones; Putze, Sanders,
 * Singler, "Cache-, Hash- and Space-Efficient Bloom Filters", 2007) sized at ~16 bits per entry.
 * Each bucket entry also carries the atom's length and last 4 bytes, so most false candidates are
 * dropped before the atom tables are touched (inputs that repeat a pattern's prefix).
 */
import type { ByteClass } from './syntax.js';
import { classMembers } from './syntax.js';

/** Tunables of the tables (for benchmarks; defaults are what `SigDatabase.compile` uses). */
export interface TableOptions {
  /** Largest stride for atoms with >= 8 static bytes (1..8, default 5). */
  maxStride?: number;
  /** log2 of the largest q = 4 filter, in 64-bit words (default 17 = 1 MiB). */
  maxFilterBits?: number;
  /** Filter bits per entry (default 16; 32 for small 1-bit filters). */
  bitsPerEntry?: number;
  /** Largest q = 4 filter (bytes) probed with 1 Bloom bit instead of 3 (default 64 KiB). */
  oneBitFilterBytes?: number;
}

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

/** Multiplier of the anchor-choice load counter (any odd constant; not part of the engine ABI). */
export const H1 = 0x9e3779b1;
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
const COMMON = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  COMMON[b] = b === 0 ? 6 : b === 0xff ? 4 : b === 0x20 ? 5 : b === 10 || b === 13 ? 3
    : b >= 0x61 && b <= 0x7a ? 3 : (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) ? 2 : b > 0x20 && b < 0x7f ? 1 : 0;
}

interface ClassInfo {
  /** Case pair (ASCII letter both cases): the lowercase byte, else -1. */
  pair: number;
  /** ((x | o) & a) == v represents the class exactly, else a = -1. */
  v: number;
  a: number;
  o: number;
  size: number;
  members: number[];
}

function classInfo(c: ByteClass): ClassInfo {
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

/** Static-position variants: [byte] or [lower, upper] for a case pair; null if not static. */
function staticOf(code: number, info: ClassInfo[]): number[] | null {
  if (code < 256) return [code];
  const ci = info[code - 256];
  return ci.pair >= 0 ? [ci.pair, ci.pair - 0x20] : null;
}

/** All 4-byte gram values (little-endian u32) of positions p..p+3, or u16 for 2 positions. */
function grams(vars: number[][]): number[] {
  let out = [0];
  vars.forEach((vs, i) => {
    const next: number[] = [];
    for (const g of out) for (const b of vs) next.push((g | (b << (8 * i))) >>> 0);
    out = next;
  });
  return out;
}

/** Growable (gram, atom, offset) entry list. */
class Entries {
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

interface TierBuild {
  q: number;
  k: number;
  atoms: number;
  entries: Entries;
}

/** Builds the engine blob. Returns it with per-tier stats. */
export function buildEngineBlob(atoms: readonly Int32Array[], classes: readonly ByteClass[], opt: TableOptions = {}): {
  blob: Uint8Array;
  tiers: TierStats[];
} {
  const maxStride = Math.max(1, Math.min(8, opt.maxStride ?? 5));
  const maxBits = Math.max(1, Math.min(22, opt.maxFilterBits ?? 17));
  const bitsPer = opt.bitsPerEntry ?? 16;
  const info = classes.map(classInfo);
  // 1. Longest static run per atom -> tier; global strides.
  const runStart = new Int32Array(atoms.length);
  const runLen = new Int32Array(atoms.length);
  let minL = Infinity;
  let minM = Infinity;
  const firstByte: Int16Array[] = []; // per atom position: a static byte (lowercase for pairs) or -1
  atoms.forEach((codes, a) => {
    const fb = new Int16Array(codes.length);
    let best = 0;
    let bestAt = 0;
    let cur = 0;
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      fb[i] = c < 256 ? c : info[c - 256].pair;
      cur = fb[i] >= 0 ? cur + 1 : 0;
      if (cur > best) {
        best = cur;
        bestAt = i - cur + 1;
      }
    }
    firstByte.push(fb);
    runStart[a] = bestAt;
    runLen[a] = best;
    if (best >= 8) minL = Math.min(minL, best);
    else if (best >= 4) minM = Math.min(minM, best);
  });
  const kL = minL === Infinity ? 1 : Math.min(maxStride, minL - 3);
  const kM = minM === Infinity ? 1 : Math.min(maxStride, minM - 3);
  const tL: TierBuild = { q: 4, k: kL, atoms: 0, entries: new Entries() };
  const tM: TierBuild = { q: 4, k: kM, atoms: 0, entries: new Entries() };
  const t2: TierBuild = { q: 2, k: 1, atoms: 0, entries: new Entries() };
  const t1: TierBuild = { q: 1, k: 1, atoms: 0, entries: new Entries() };
  const load = new Uint16Array(1 << 16);
  // 2. Anchor window per atom (best score over up to 12 candidate windows of all static runs).
  atoms.forEach((codes, a) => {
    const r = runLen[a];
    const t = r >= 8 ? tL : r >= 4 ? tM : r >= 2 ? t2 : t1;
    t.atoms++;
    if (t === t1) {
      let bestPos = 0;
      let bestScore = Infinity;
      for (let i = 0; i < codes.length; i++) {
        const c = codes[i];
        const size = c < 256 ? 1 : info[c - 256].size;
        const score = size * 16 + (c < 256 ? COMMON[c] : 0);
        if (score < bestScore) (bestScore = score), (bestPos = i);
      }
      const c = codes[bestPos];
      for (const b of c < 256 ? [c] : info[c - 256].members) t1.entries.push(b, a, bestPos);
      return;
    }
    const win = t.q + t.k - 1;
    const fb = firstByte[a];
    const starts: number[] = [];
    for (let s = 0, run = 0; s < codes.length; s++) {
      run = fb[s] >= 0 ? run + 1 : 0;
      if (run >= win) starts.push(s - win + 1);
    }
    if (starts.length === 0) starts.push(runStart[a]);
    const step = Math.max(1, Math.floor(starts.length / 12));
    let best = starts[0];
    let bestScore = Infinity;
    for (let si = 0; si < starts.length; si += step) {
      const s = starts[si];
      let score = 0;
      for (let i = s; i < s + win; i++) score += COMMON[fb[i]] + (codes[i] >= 256 ? 24 : 0);
      for (let j = 0; j < t.k; j++) {
        let g0 = 0;
        for (let i = 0; i < t.q; i++) g0 |= fb[s + j + i] << (8 * i);
        score += load[Math.imul(g0, H1) >>> 16] * 4;
      }
      if (score < bestScore) (bestScore = score), (best = s);
    }
    for (let j = 0; j < t.k; j++) {
      let exact = true;
      let g0 = 0;
      for (let i = 0; i < t.q; i++) {
        const c = codes[best + j + i];
        exact &&= c < 256;
        g0 = (g0 | (fb[best + j + i] << (8 * i))) >>> 0;
      }
      let list = [g0];
      if (!exact) {
        const vars: number[][] = [];
        for (let i = 0; i < t.q; i++) vars.push(staticOf(codes[best + j + i], info)!);
        list = grams(vars);
      }
      for (const g of list) {
        t.entries.push(g, a, best + j);
        const h = Math.imul(g, H1) >>> 16;
        if (load[h] < 0xffff) load[h]++;
      }
    }
  });
  return assemble(atoms, classes, info, [tL, tM, t2, t1].filter((t) => t.entries.length > 0), maxBits, bitsPer, opt.oneBitFilterBytes ?? 64 * 1024);
}

const align = (n: number, to: number): number => Math.ceil(n / to) * to;

function assemble(atoms: readonly Int32Array[], classes: readonly ByteClass[], info: ClassInfo[], tiers: TierBuild[], maxBits: number, bitsPer: number, oneBit: number): {
  blob: Uint8Array;
  tiers: TierStats[];
} {
  // Sizes.
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
  off = align(off + tiers.length * 32, 16);
  const dataOff = off;
  const atomData = new Int32Array(atoms.length);
  atoms.forEach((codes, a) => {
    atomData[a] = off;
    off = align(off + ((codes.length + 7) >> 3) * (masked[a] ? 24 : 8) + classPos[a].length * 4, 8);
  });
  const dataLen = off - dataOff;
  off = align(off, 16);
  const layout = tiers.map((t) => {
    const wbitsFor = (per: number): number => Math.min(maxBits, Math.max(1, Math.ceil(Math.log2(Math.max(2, (t.entries.length * per) / 64)))));
    // Small filters (cache-resident anyway) use 1 Bloom bit at twice the size: fewer instructions.
    const nbits = t.q !== 4 ? 0 : 8 << wbitsFor(2 * bitsPer) <= oneBit ? 1 : 3;
    const wbits = t.q === 4 ? wbitsFor(nbits === 1 ? 2 * bitsPer : bitsPer) : t.q === 2 ? 10 : 2;
    const nb = t.q === 4 ? 1 << wbits : t.q === 2 ? 65536 : 256;
    const bm = off;
    off = align(off + (8 << wbits), 16);
    const bk = off;
    off = align(off + (nb + 1) * 4, 16);
    const en = off;
    off = align(off + t.entries.length * 16, 16);
    return { wbits, nb, bm, bk, en, nbits };
  });
  const total = off;
  const blob = new Uint8Array(total);
  const dv = new DataView(blob.buffer);
  const hdr = [MAGIC, 1, total, atoms.length, atomsOff, classes.length, classesOff, tiers.length, tiersOff,
    atoms.reduce((m, c) => Math.max(m, c.length), 0), dataOff, dataLen];
  hdr.forEach((v, i) => dv.setUint32(i * 4, v, true));
  classes.forEach((c, k) => blob.set(c, classesOff + k * 32));
  // Atoms: record + V/A/O chunks + class positions.
  atoms.forEach((codes, a) => {
    const len = codes.length;
    const r = atomsOff + a * 16;
    const n = (len + 7) >> 3;
    const d = atomData[a];
    dv.setUint32(r, len, true);
    dv.setUint32(r + 4, masked[a] ? 1 : 0, true);
    dv.setUint32(r + 8, d, true);
    dv.setUint32(r + 12, classPos[a].length, true);
    if (!masked[a]) {
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
        if (masked[a]) {
          blob[d + n * 8 + c * 8 + j] = am;
          blob[d + n * 16 + c * 8 + j] = om;
        }
      }
    }
    const cp = d + n * (masked[a] ? 24 : 8);
    classPos[a].forEach((e, i) => dv.setUint32(cp + i * 4, e >>> 0, true));
  });
  // Tiers.
  const stats: TierStats[] = [];
  tiers.forEach((t, ti) => {
    const L = layout[ti];
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
    const tr = tiersOff + ti * 32;
    [t.q | (L.nbits << 8), t.k, L.wbits, L.bm, L.bk, L.en, t.entries.length, big].forEach((v, i) => dv.setUint32(tr + i * 4, v, true));
    stats.push({ q: t.q, stride: t.k, bloomBits: L.nbits, atoms: t.atoms, entries: t.entries.length, filterBytes: 8 << L.wbits, largestBucket: big });
  });
  return { blob, tiers: stats };
}
