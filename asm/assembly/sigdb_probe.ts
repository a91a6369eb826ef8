// Candidate verification of the signature engine (asm/assembly/sigdb.ts) and its repeated-input
// shortcut.
//
// This module owns the loaded blob's base pointers and the current scan buffer (set by sigdb.ts
// through setDb / setBuffer); the tier loops of sigdb.ts call probe() on a filter hit, and runSkip()
// just before it.
//
// Repeated input (issue 13, item 5): on input that repeats one byte ("aaaa...") or a 2-byte unit
// ("abab..."), a database with a pattern such as a{63}b has that run's gram registered k times
// (once per offset of its anchor window), so every lookup hit the filter and probed a bucket of
// candidates that the last-4-bytes check then rejected one by one: 0.13x the speed of random data.
// runSkip() measures such a run once (8 bytes per compare) and verifies only the few candidate
// starts that can match in it (see "Repeated-input shortcut" below), then the scan jumps past the
// run's lookups. Results are unchanged: every skipped lookup's candidates are among those verified.

import { ATOM_MASKED, ATOM_SIZE, CLASS_SIZE, ENTRY_SIZE, ENTRY_TAIL, HC } from "./sigdb_layout";

let db: usize = 0;
let atoms: usize = 0;
let classes: usize = 0;
let sIn: usize = 0;
let sLen: i32 = 0;
let sCarry: i32 = 0;

/** Sets the loaded blob's base, atom table and class table. */
export function setDb(base: usize, atomTable: usize, classTable: usize): void {
  db = base;
  atoms = atomTable;
  classes = classTable;
}

/** Sets the buffer being scanned (`len` bytes, the first `carry` already scanned) and forgets runs. */
export function setBuffer(input: usize, len: i32, carry: i32): void {
  sIn = input;
  sLen = len;
  sCarry = carry;
  runReset();
}

/** Masked 8-byte-chunk compare of atom `rec` against the input at `at`, then class positions. */
function verify(rec: usize, at: usize): bool {
  const len = load<u32>(rec);
  const d = db + <usize>load<u32>(rec, 8);
  const n = <usize>((len + 7) >> 3);
  const last = n - 1;
  const lastOff = len >= 8 ? <usize>(len - 8) : 0;
  let cp: usize;
  if (load<u32>(rec, 4) & ATOM_MASKED) {
    const a = d + (n << 3);
    const o = a + (n << 3);
    // Last chunk first: input that repeats a pattern's prefix fails there at once.
    const x = load<u64>(at + lastOff);
    if (((x | load<u64>(o + (last << 3))) & load<u64>(a + (last << 3))) != load<u64>(d + (last << 3))) return false;
    for (let c: usize = 0; c < last; c++) {
      const y = load<u64>(at + (c << 3));
      if (((y | load<u64>(o + (c << 3))) & load<u64>(a + (c << 3))) != load<u64>(d + (c << 3))) return false;
    }
    cp = o + (n << 3);
  } else {
    if (load<u64>(at + lastOff) != load<u64>(d + (last << 3))) return false;
    for (let c: usize = 0; c < last; c++) {
      if (load<u64>(at + (c << 3)) != load<u64>(d + (c << 3))) return false;
    }
    cp = d + (n << 3);
  }
  const ncp = load<u32>(rec, 12);
  for (let i: u32 = 0; i < ncp; i++) {
    const e = load<u32>(cp + (<usize>i << 2));
    const v = <u32>load<u8>(at + <usize>(e & 0xffff));
    const bits = <u32>load<u8>(classes + <usize>(e >>> 16) * CLASS_SIZE + <usize>(v >> 3));
    if ((bits & (<u32>1 << (v & 7))) == 0) return false;
  }
  return true;
}

/**
 * Probes bucket entries [from, to) for gram `g` looked up at position `p`: writes an (atom u32,
 * end u32) pair at out[w] for every verified candidate; returns the new w.
 */
export function probe(en: usize, from: u32, to: u32, g: u32, p: i32, out: usize, w: i32): i32 {
  for (let i = from; i < to; i++) {
    const e = en + <usize>i * ENTRY_SIZE;
    if (load<u32>(e) != g) continue;
    const ol = load<u32>(e, 8);
    const s = p - <i32>(ol & 0xffff);
    if (s < 0) continue;
    const end = s + <i32>(ol >>> 16);
    if (end > sLen || end <= sCarry) continue;
    let atom = load<u32>(e, 4);
    if (atom & ENTRY_TAIL) {
      if (load<u32>(sIn + <usize>(end - 4)) != load<u32>(e, 12)) continue;
      atom &= ~ENTRY_TAIL;
    }
    const rec = atoms + <usize>atom * ATOM_SIZE;
    if (!verify(rec, sIn + <usize>s)) continue;
    const o = out + (<usize>w << 3);
    store<u32>(o, atom);
    store<u32>(o, <u32>end, 4);
    w++;
  }
  return w;
}

// ---- Repeated-input shortcut ----
//
// A run is a maximal [rS, rE) with input[x] == input[x + d] for x in [rS, rE - d), d = 1 or 2: the
// input just outside it breaks the period. Every lattice lookup whose gram lies inside the run sees a
// gram g of period d. For an entry (gram g at offset o of atom A, length len), walking A outwards
// from the gram: b / a are the nearest positions (after / before the gram) that reject the periodic
// extension of g (len / -1 if none), b1 / a1 the nearest that do not take it exclusively (b1 <= b,
// a1 >= a). A candidate start s can verify only if
//   - positions that reject lie outside the run: s + b >= rE (b < len), s + a < rS (a >= 0);
//   - the exclusive stretches next to the gram lie inside it (input equal to the extension there
//     continues the period): s + b1 <= rE, s + a1 + 1 >= rS;
//   - its lookup s + o is a lattice point with its gram inside the run.
// For an exact atom that is one start per entry and run (its periodic stretch must end where the run
// ends), a few for wildcards. resolve() verifies exactly those candidates and the scan skips the
// run's lookups, so a run costs O(entries of its grams) instead of one bucket probe per lookup.
// An entry whose atom takes the whole periodic extension (a = -1, b = len) matches all along a long
// run: then the run is scanned as usual (its cost is proportional to the output).

let rD: i32 = 0; // period of the cached run; 0 = none
let rS: i32 = 0;
let rE: i32 = 0;
let rHits: bool = false; // the cached run is scanned as usual
/** Runs with fewer lattice lookups after the first hit are probed as usual (cheaper there); even. */
// @ts-ignore: decorator
@inline const RUN_MIN_LOOKUPS: i32 = 2;
// ceil(2^32 / magicK): x / k == (x * magic) >> 32 for 0 <= x < 2^29 (no division per run).
let magicK: i32 = 0;
let magic: u64 = 0;
/** Next lookup position chosen by runSkip (== p: probe p as usual; -1: stop, no room for output). */
export let runNext: i32 = 0;

// Cache of (a, b) per entry, direct-mapped by entry address: 1024 slots of (entry, a, b, -).
const CACHE_SLOTS: usize = 1024;
const cache = memory.data(<i32>(CACHE_SLOTS << 4), 16);

/** Forgets the cached run (new buffer or new tier: the entries differ). */
export function runReset(): void {
  rD = 0;
}

/** Period (1 or 2) of the input at p as its gram shows it, or 0. */
// @ts-ignore: decorator
@inline function gramPeriod(q: u32, g: u32, p: i32): i32 {
  if (q == 4) return g == (g & 0xff) * 0x01010101 ? 1 : (g >>> 16) == (g & 0xffff) ? 2 : 0;
  if (q == 2) return (g & 0xff) == (g >>> 8) ? 1 : 0;
  return p + 1 < sLen && <u32>load<u8>(sIn + <usize>(p + 1)) == g ? 1 : 0;
}

/**
 * Measures the maximal run of period d around p into the cache: 8 bytes per compare, the first
 * difference located with ctz / clz (the input has 16 bytes of padding past sLen, and the buffer
 * never starts at address 0, so the 8-byte loads next to its ends stay in memory; results are
 * clamped to [0, sLen]).
 */
function runFind(p: i32, d: i32): void {
  const input = sIn;
  let e = p + d;
  while (e < sLen) {
    const x = load<u64>(input + <usize>e) ^ load<u64>(input + <usize>(e - d));
    if (x != 0) {
      e += <i32>(ctz(x) >> 3);
      break;
    }
    e += 8;
  }
  let s = p;
  while (s > 0) {
    const x = load<u64>(input + <usize>s - 8) ^ load<u64>(input + <usize>(s + d) - 8);
    if (x != 0) {
      s -= <i32>(clz(x) >> 3);
      break;
    }
    s -= 8;
  }
  rD = d;
  rS = max(s, 0);
  rE = min(e, sLen);
  rHits = false;
}

/** Gram of size q at p (little-endian). */
// @ts-ignore: decorator
@inline function gramAt(q: u32, p: i32): u32 {
  const a = sIn + <usize>p;
  return q == 4 ? load<u32>(a) : q == 2 ? <u32>load<u16>(a) : <u32>load<u8>(a);
}

// @ts-ignore: decorator
@inline const REJECT: i32 = 0;
// @ts-ignore: decorator
@inline const LOOSE: i32 = 1; // accepts v and other bytes
// @ts-ignore: decorator
@inline const ONLY: i32 = 2; // accepts v alone

/** How atom `rec` (length len, n chunks, data at dp) takes byte v at position i (lanes only). */
function laneTakes(rec: usize, dp: usize, len: i32, n: i32, i: i32, v: u32): i32 {
  let c = i >> 3;
  let lane = i & 7;
  if (c >= n - 1) {
    c = n - 1;
    lane = len >= 8 ? i - (len - 8) : i;
  }
  const at = dp + (<usize>c << 3) + <usize>lane;
  const want = <u32>load<u8>(at);
  if ((load<u32>(rec, 4) & ATOM_MASKED) == 0) return want == v ? ONLY : REJECT;
  const m = <usize>n << 3;
  const and = <u32>load<u8>(at + m);
  const or = <u32>load<u8>(at + m + m);
  if (((v | or) & and) != want) return REJECT;
  return and == 0xff && or == 0 ? ONLY : LOOSE;
}

/** Byte of the periodic extension of gram g (period d) at atom position i, the gram being at o. */
// @ts-ignore: decorator
@inline function extByte(g: u32, d: i32, o: i32, i: i32): u32 {
  return (g >> (<u32>((i - o) & (d - 1)) << 3)) & 0xff;
}

/**
 * Stretches of entry `e` (gram g at atom offset o, gram size q) around its gram, as two words
 * `a + 1 | b << 16` (positions a < o and b >= o + q nearest the gram that reject the periodic
 * extension of g; -1 / len if none) and `a1 + 1 | b1 << 16` (nearest positions that do not take it
 * exclusively), cached in slot words 1 and 2. Returns the slot.
 */
function entrySpan(e: usize, q: i32): usize {
  const slot = cache + ((e >> 4) & (CACHE_SLOTS - 1)) * 16;
  if (load<u32>(slot) == <u32>e) return slot;
  const g = load<u32>(e);
  const d: i32 = q == 4 && g != (g & 0xff) * 0x01010101 ? 2 : 1;
  const o = <i32>(load<u32>(e, 8) & 0xffff);
  const rec = atoms + <usize>(load<u32>(e, 4) & ~ENTRY_TAIL) * ATOM_SIZE;
  const len = <i32>load<u32>(rec);
  const dp = db + <usize>load<u32>(rec, 8);
  const n = (len + 7) >> 3;
  let b = o + q;
  while (b < len && laneTakes(rec, dp, len, n, b, extByte(g, d, o, b)) == ONLY) b++;
  let b1 = b;
  while (b < len && laneTakes(rec, dp, len, n, b, extByte(g, d, o, b)) != REJECT) b++;
  let a = o - 1;
  while (a >= 0 && laneTakes(rec, dp, len, n, a, extByte(g, d, o, a)) == ONLY) a--;
  let a1 = a;
  while (a >= 0 && laneTakes(rec, dp, len, n, a, extByte(g, d, o, a)) != REJECT) a--;
  // Class positions: never exclusive; rejecting if the class lacks the byte.
  const ncp = <i32>load<u32>(rec, 12);
  const cp = dp + (<usize>n << 3) * ((load<u32>(rec, 4) & ATOM_MASKED) != 0 ? 3 : 1);
  for (let i: i32 = 0; i < ncp; i++) {
    const x = load<u32>(cp + (<usize>i << 2));
    const pos = <i32>(x & 0xffff);
    if (pos >= o && pos < o + q) continue;
    const v = extByte(g, d, o, pos);
    const lacks = (<u32>load<u8>(classes + <usize>(x >>> 16) * CLASS_SIZE + <usize>(v >> 3)) & (<u32>1 << (v & 7))) == 0;
    if (pos < o) {
      a1 = max(a1, pos);
      if (lacks) a = max(a, pos);
    } else {
      b1 = min(b1, pos);
      if (lacks) b = min(b, pos);
    }
  }
  store<u32>(slot, <u32>e);
  store<u32>(slot, <u32>(a + 1) | (<u32>b << 16), 4);
  store<u32>(slot, <u32>(max(a, a1) + 1) | (<u32>min(b, b1) << 16), 8);
  return slot;
}

// @ts-ignore: decorator
@inline const PURE: i32 = -1;
// @ts-ignore: decorator
@inline const FULL: i32 = -2;

/**
 * Verifies the candidates of the cached run for the entries of gram g (bucket [from, to)) whose
 * lookups are lattice points p, p + k, ... (earlier lattice points of the run saw no filter hit);
 * `kMagic` = ceil(2^32 / k). Writes verified (atom, end) pairs from out[w]; returns the new w, PURE
 * if an entry takes the whole periodic extension, or FULL if out[] filled up before the end.
 */
function resolve(en: usize, from: u32, to: u32, g: u32, q: i32, k: i32, kMagic: u64, p: i32, out: usize, w: i32, cap: i32): i32 {
  for (let i = from; i < to; i++) {
    const e = en + <usize>i * ENTRY_SIZE;
    if (load<u32>(e) != g) continue;
    const slot = entrySpan(e, q);
    const span = load<u32>(slot, 4);
    const tight = load<u32>(slot, 8);
    const a = <i32>(span & 0xffff) - 1;
    const b = <i32>(span >>> 16);
    const ol = load<u32>(e, 8);
    const o = <i32>(ol & 0xffff);
    const len = <i32>(ol >>> 16);
    if (a < 0 && b >= len) return PURE;
    // Rejecting positions lie outside the run; exclusive stretches next to the gram inside it.
    let lo = max(rS - o, rS - <i32>(tight & 0xffff));
    if (b < len) lo = max(lo, rE - b);
    let hi = min(rE - q - o, rE - <i32>(tight >>> 16));
    if (a >= 0) hi = min(hi, rS - a - 1);
    if (lo > hi) continue;
    // First lattice point p + m*k >= lo + o (m = ceil(..) by multiplication: exact below 2^29).
    let pc = p;
    if (lo + o > p) pc = p + <i32>(((<u64>(lo + o - p + k - 1)) * kMagic) >> 32) * k;
    for (; pc <= hi + o; pc += k) {
      if (gramAt(<u32>q, pc) != g) continue;
      const s = pc - o;
      const end = s + len;
      if (s < 0 || end > sLen || end <= sCarry) continue;
      let atom = load<u32>(e, 4);
      if (atom & ENTRY_TAIL) {
        if (load<u32>(sIn + <usize>(end - 4)) != load<u32>(e, 12)) continue;
        atom &= ~ENTRY_TAIL;
      }
      if (!verify(atoms + <usize>atom * ATOM_SIZE, sIn + <usize>s)) continue;
      if (w >= cap) return FULL;
      const r = out + (<usize>w << 3);
      store<u32>(r, atom);
      store<u32>(r, <u32>end, 4);
      w++;
    }
  }
  return w;
}

// @ts-ignore: decorator
@inline function bucketPtr(tr: usize, q: u32, g: u32): usize {
  const bk = db + <usize>load<u32>(tr, 16);
  const i = q == 4 ? <usize>((<u64>g * HC) >> (64 - <u64>load<u32>(tr, 8))) : <usize>g;
  return bk + (i << 2);
}

/**
 * Repeated-input shortcut, called on a filter hit at lookup position p (gram g) of tier `tr` (gram
 * size q, stride k). Sets runNext: p (probe p as usual), -1 (stop at p: the run's matches need more
 * room in out[]) or the first lookup past the run, after writing every verified candidate of the
 * run's lookups from out[w]. Returns the new w.
 */
export function runSkip(tr: usize, q: u32, k: i32, p: i32, g: u32, out: usize, cap: i32, w: i32): i32 {
  runNext = p;
  const d = gramPeriod(q, g, p);
  if (d == 0) return w;
  if (rD != d || p < rS || p + <i32>q > rE) {
    // Too short to pay off (cheap test: the gram RUN_MIN_LOOKUPS lookups ahead): probe as usual.
    const ahead = p + RUN_MIN_LOOKUPS * k;
    if (ahead + <i32>q > sLen || gramAt(q, ahead) != g) return w;
    runFind(p, d);
    rHits = rE - <i32>q - p < RUN_MIN_LOOKUPS * k;
  }
  if (rHits) return w;
  const lastIn = rE - <i32>q; // last lookup position whose gram lies inside the run
  const en = db + <usize>load<u32>(tr, 20);
  if (k != magicK) {
    magicK = k;
    magic = ((<u64>1 << 32) + <u64>(k - 1)) / <u64>k;
  }
  const kMagic = magic;
  // Lattice points inside the run carry at most two grams (d = 2, k odd).
  const g2 = d == 2 && (k & 1) != 0 ? gramAt(q, p + k) : g;
  const b1 = bucketPtr(tr, q, g);
  let r = resolve(en, load<u32>(b1), load<u32>(b1, 4), g, <i32>q, k, kMagic, p, out, w, cap);
  if (r >= 0 && g2 != g) {
    const b2 = bucketPtr(tr, q, g2);
    r = resolve(en, load<u32>(b2), load<u32>(b2, 4), g2, <i32>q, k, kMagic, p, out, r, cap);
  }
  if (r == PURE || (r == FULL && w == 0)) {
    rHits = true;
    return w;
  }
  if (r == FULL) {
    runNext = -1;
    return w;
  }
  runNext = p + (<i32>((<u64>(lastIn - p) * kMagic) >> 32) + 1) * k;
  return r;
}
