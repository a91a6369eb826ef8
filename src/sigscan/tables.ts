/**
 * Signature compiler, back half: atoms -> anchors -> the engine blob scanned by asm/assembly/sigdb.ts
 * (written by blob.ts; layout documented in asm/assembly/sigdb_layout.ts).
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
import { assemble, classInfo, Entries, type ClassInfo, type TierBuild, type TierStats } from './blob.js';

export { gramHash, HC_HI, HC_LO, type TierStats } from './blob.js';

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

/** Multiplier of the anchor-choice load counter (any odd constant; not part of the engine ABI). */
export const H1 = 0x9e3779b1;

const COMMON = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  COMMON[b] = b === 0 ? 6 : b === 0xff ? 4 : b === 0x20 ? 5 : b === 10 || b === 13 ? 3
    : b >= 0x61 && b <= 0x7a ? 3 : (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) ? 2 : b > 0x20 && b < 0x7f ? 1 : 0;
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

/** Per atom: its static bytes (lowercase for pairs, else -1) and its longest static run. */
interface StaticRuns {
  firstByte: Int16Array[];
  runStart: Int32Array;
  runLen: Int32Array;
  /** Shortest longest-run among atoms with runs >= 8 (tier L) and 4..7 (tier M); Infinity if none. */
  minL: number;
  minM: number;
}

function staticRuns(atoms: readonly Int32Array[], info: ClassInfo[]): StaticRuns {
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
  return { firstByte, runStart, runLen, minL, minM };
}

/** Tier 1: registers every member of atom `a`'s position with the smallest, least common class. */
function anchorSingle(t1: TierBuild, codes: Int32Array, a: number, info: ClassInfo[]): void {
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
}

/** Start of the best-scoring window of q + k - 1 static bytes (up to 12 candidates over all static runs). */
function bestWindow(t: TierBuild, codes: Int32Array, fb: Int16Array, runStart: number, load: Uint16Array): number {
  const win = t.q + t.k - 1;
  const starts: number[] = [];
  for (let s = 0, run = 0; s < codes.length; s++) {
    run = fb[s] >= 0 ? run + 1 : 0;
    if (run >= win) starts.push(s - win + 1);
  }
  if (starts.length === 0) starts.push(runStart);
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
  return best;
}

/** Registers the k grams (all case variants) of atom `a`'s window at `best` in tier `t`; counts bucket load. */
function registerWindow(t: TierBuild, codes: Int32Array, fb: Int16Array, a: number, best: number, info: ClassInfo[], load: Uint16Array): void {
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
  const runs = staticRuns(atoms, info);
  const kL = runs.minL === Infinity ? 1 : Math.min(maxStride, runs.minL - 3);
  const kM = runs.minM === Infinity ? 1 : Math.min(maxStride, runs.minM - 3);
  const tL: TierBuild = { q: 4, k: kL, atoms: 0, entries: new Entries() };
  const tM: TierBuild = { q: 4, k: kM, atoms: 0, entries: new Entries() };
  const t2: TierBuild = { q: 2, k: 1, atoms: 0, entries: new Entries() };
  const t1: TierBuild = { q: 1, k: 1, atoms: 0, entries: new Entries() };
  const load = new Uint16Array(1 << 16);
  // 2. Anchor window per atom (best score over up to 12 candidate windows of all static runs).
  atoms.forEach((codes, a) => {
    const r = runs.runLen[a];
    const t = r >= 8 ? tL : r >= 4 ? tM : r >= 2 ? t2 : t1;
    t.atoms++;
    if (t === t1) return anchorSingle(t1, codes, a, info);
    const fb = runs.firstByte[a];
    registerWindow(t, codes, fb, a, bestWindow(t, codes, fb, runs.runStart[a], load), info, load);
  });
  const sizing = { maxBits, bitsPer, oneBit: opt.oneBitFilterBytes ?? 64 * 1024 };
  return assemble(atoms, classes, info, [tL, tM, t2, t1].filter((t) => t.entries.length > 0), sizing);
}
