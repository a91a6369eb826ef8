// p2pgw matcher v2: signature-database scanner (q-gram prefilter + exact verification).
//
// Design (see src/sigscan/README.md): every fixed-length piece of a signature ("atom", a sequence of
// 256-bit byte classes) has an anchor window of static bytes. Tier tables map the q-grams of the
// anchor windows (q = 4 hashed, or q = 2 / q = 1 direct) to (atom, offset) entries. The scanner looks
// up one gram every k bytes (k = stride: an anchor window of q + k - 1 static bytes registers k
// grams, one of which is always at an absolute position divisible by k), tests a 3-bit blocked Bloom
// filter word (q = 4) or a direct bitmap (q = 1, 2), and only on a hit probes the CSR bucket and
// verifies candidate atoms with masked 8-byte compares. Each lookup is O(1); each candidate costs
// O(atom length / 8), so scanning is linear in the input for a fixed database. Verification and the
// shortcut over repeated-byte runs (whose lookups would all probe the same rejected candidates) live
// in sigdb_probe.ts.
//
// Chunk protocol: the caller scans buffers laid out as [carry | new bytes], where carry holds the
// last (longest atom - 1) bytes already scanned. An atom occurrence is reported iff it ends inside
// the new bytes (end > carry) and lies in the buffer, so every occurrence is reported exactly once,
// whatever the chunking, with end offsets relative to the buffer start.
//
// ABI (i32 everywhere; pointers are offsets into the exported memory):
//   abi_version() -> 2
//   alloc(size) -> ptr | 0                 zeroed, 16-aligned bump allocation (0 = out of memory)
//   input_reserve(size) -> ptr | 0         the one reusable input buffer (+16 bytes of padding)
//   db_load(ptr, len) -> 0 | code           validate the blob (copied to ptr) and use it in place
//   db_max_out() -> n                       scan_next() needs cap >= n
//   db_atom_count(), db_atom_len(a)
//   scan_begin(inPtr, len, carry, absMod840) -> 0 | code
//   scan_next(outPtr, cap) -> count | code  writes (atom u32, end u32) pairs; call until scan_done()
//   scan_done() -> 1 when the buffer is finished

import { calloc, extendLast, inBounds, isLast } from "./mem";
import {
  ATOM_SIZE, TIER_SIZE, HC, OK, ERR_BAD_ARG, ERR_NOT_LOADED, ERR_ALREADY_LOADED, ERR_OUT_TOO_SMALL, u32At, validate, maxBucket,
} from "./sigdb_layout";
import { probe, runNext, runReset, runSkip, setBuffer, setDb } from "./sigdb_probe";

let db: usize = 0;
let atoms: usize = 0;
let tiers: usize = 0;
let nTiers: u32 = 0;
let nAtoms: u32 = 0;
let inBuf: usize = 0;
let inCap: i32 = 0;

// Scan state of the current buffer (one buffer at a time per instance).
let sIn: usize = 0;
let sLen: i32 = 0;
let sCarry: i32 = 0;
let sAbsMod: u32 = 0;
let sTier: u32 = 0;
let sPos: i32 = -1; // next lookup position in tier sTier; -1 = tier not started
let sDone: bool = true;
let sStopped: bool = false;

export function abi_version(): i32 {
  return 2;
}

export function alloc(size: i32): i32 {
  if (size < 0) return 0;
  return <i32>calloc(<u64>size);
}

export function input_reserve(size: i32): i32 {
  if (size < 0 || size > 0x7fff0000) return 0;
  const want = size + 16;
  if (want <= inCap && inBuf != 0) return <i32>inBuf;
  if (inBuf != 0 && isLast(inBuf, <u64>inCap)) {
    if (!extendLast(inBuf, <u64>inCap, <u64>want)) return 0;
    inCap = want;
    return <i32>inBuf;
  }
  const p = calloc(<u64>want);
  if (p == 0) return 0;
  inBuf = p;
  inCap = want;
  return <i32>p;
}

export function db_load(ptr: i32, len: i32): i32 {
  if (db != 0) return ERR_ALREADY_LOADED;
  if (ptr <= 0 || len < 0 || (ptr & 15) != 0 || !inBounds(<usize>ptr, <u64>len)) return ERR_BAD_ARG;
  const b = <usize>ptr;
  const r = validate(b, <u32>len);
  if (r != OK) return r;
  db = b;
  nAtoms = u32At(b, 3);
  atoms = b + u32At(b, 4);
  setDb(b, atoms, b + u32At(b, 6));
  nTiers = u32At(b, 7);
  tiers = b + u32At(b, 8);
  return OK;
}

export function db_max_out(): i32 {
  return db == 0 ? ERR_NOT_LOADED : <i32>maxBucket;
}

export function db_atom_count(): i32 {
  return db == 0 ? ERR_NOT_LOADED : <i32>nAtoms;
}

export function db_atom_len(a: i32): i32 {
  if (db == 0) return ERR_NOT_LOADED;
  if (<u32>a >= nAtoms) return ERR_BAD_ARG;
  return <i32>load<u32>(atoms + <usize>a * ATOM_SIZE);
}

export function scan_begin(inPtr: i32, len: i32, carry: i32, absMod: i32): i32 {
  if (db == 0) return ERR_NOT_LOADED;
  if (len < 0 || carry < 0 || carry > len || absMod < 0 || inPtr < 0) return ERR_BAD_ARG;
  if (!inBounds(<usize>inPtr, <u64>len + 16)) return ERR_BAD_ARG;
  sIn = <usize>inPtr;
  sLen = len;
  sCarry = carry;
  setBuffer(sIn, len, carry);
  sAbsMod = <u32>absMod;
  sTier = 0;
  sPos = -1;
  sDone = false;
  return OK;
}

export function scan_done(): i32 {
  return sDone ? 1 : 0;
}

/**
 * Hashed 4-gram tier with stride k: h = gram * HC (64-bit); word = h >> (64 - wbits); Bloom bits
 * (h >> (58 - wbits)), (h >> (52 - wbits)), (h >> (46 - wbits)) mod 64 (i64.shl masks the count).
 * Four lookups per iteration share one branch. Stops (sStopped, sPos) when output might overflow.
 * On a filter hit, runSkip (sigdb_probe.ts) may jump over the interior of a repeated-byte run.
 */
function scanTier4(tr: usize, p: i32, out: usize, cap: i32, w: i32): i32 {
  const k = <i32>load<u32>(tr, 4);
  const wbits = <u64>load<u32>(tr, 8);
  const bm = db + <usize>load<u32>(tr, 12);
  const bk = db + <usize>load<u32>(tr, 16);
  const en = db + <usize>load<u32>(tr, 20);
  const big = <i32>load<u32>(tr, 28);
  const last = sLen - 4;
  const input = sIn;
  const si = 64 - wbits;
  const s1 = 58 - wbits;
  const s2 = 52 - wbits;
  const s3 = 46 - wbits;
  const k4 = k * 4;
  while (p <= last) {
    if (p + 3 * k <= last) {
      const h0 = <u64>load<u32>(input + <usize>p) * HC;
      const h1 = <u64>load<u32>(input + <usize>(p + k)) * HC;
      const h2 = <u64>load<u32>(input + <usize>(p + 2 * k)) * HC;
      const h3 = <u64>load<u32>(input + <usize>(p + 3 * k)) * HC;
      const m0 = (<u64>1 << (h0 >> s1)) | (<u64>1 << (h0 >> s2)) | (<u64>1 << (h0 >> s3));
      const m1 = (<u64>1 << (h1 >> s1)) | (<u64>1 << (h1 >> s2)) | (<u64>1 << (h1 >> s3));
      const m2 = (<u64>1 << (h2 >> s1)) | (<u64>1 << (h2 >> s2)) | (<u64>1 << (h2 >> s3));
      const m3 = (<u64>1 << (h3 >> s1)) | (<u64>1 << (h3 >> s2)) | (<u64>1 << (h3 >> s3));
      const t0 = m0 & ~load<u64>(bm + (<usize>(h0 >> si) << 3));
      const t1 = m1 & ~load<u64>(bm + (<usize>(h1 >> si) << 3));
      const t2 = m2 & ~load<u64>(bm + (<usize>(h2 >> si) << 3));
      const t3 = m3 & ~load<u64>(bm + (<usize>(h3 >> si) << 3));
      if ((t0 == 0) | (t1 == 0) | (t2 == 0) | (t3 == 0)) {
        // Slow path: re-check the four positions one by one (below).
      } else {
        p += k4;
        continue;
      }
    }
    const end = min(p + k4, last + 1);
    for (; p < end; p += k) {
      const g = load<u32>(input + <usize>p);
      const h = <u64>g * HC;
      const wi = <usize>(h >> si);
      const m = (<u64>1 << (h >> s1)) | (<u64>1 << (h >> s2)) | (<u64>1 << (h >> s3));
      if ((m & ~load<u64>(bm + (wi << 3))) == 0) {
        if (w + big > cap) {
          sStopped = true;
          sPos = p;
          return w;
        }
        w = runSkip(tr, 4, k, p, g, out, cap, w);
        if (runNext != p) {
          if (runNext < 0) {
            sStopped = true;
            sPos = p;
            return w;
          }
          p = runNext - k;
          continue;
        }
        const bp = bk + (wi << 2);
        w = probe(en, load<u32>(bp), load<u32>(bp, 4), g, p, out, w);
      }
    }
  }
  return w;
}

/** Like scanTier4 with a 1-bit filter (small databases: one shift instead of three per lookup). */
function scanTier4One(tr: usize, p: i32, out: usize, cap: i32, w: i32): i32 {
  const k = <i32>load<u32>(tr, 4);
  const wbits = <u64>load<u32>(tr, 8);
  const bm = db + <usize>load<u32>(tr, 12);
  const bk = db + <usize>load<u32>(tr, 16);
  const en = db + <usize>load<u32>(tr, 20);
  const big = <i32>load<u32>(tr, 28);
  const last = sLen - 4;
  const input = sIn;
  const si = 64 - wbits;
  const s1 = 58 - wbits;
  const k4 = k * 4;
  while (p <= last) {
    if (p + 3 * k <= last) {
      const h0 = <u64>load<u32>(input + <usize>p) * HC;
      const h1 = <u64>load<u32>(input + <usize>(p + k)) * HC;
      const h2 = <u64>load<u32>(input + <usize>(p + 2 * k)) * HC;
      const h3 = <u64>load<u32>(input + <usize>(p + 3 * k)) * HC;
      const t0 = load<u64>(bm + (<usize>(h0 >> si) << 3)) >> (h0 >> s1);
      const t1 = load<u64>(bm + (<usize>(h1 >> si) << 3)) >> (h1 >> s1);
      const t2 = load<u64>(bm + (<usize>(h2 >> si) << 3)) >> (h2 >> s1);
      const t3 = load<u64>(bm + (<usize>(h3 >> si) << 3)) >> (h3 >> s1);
      if (((t0 | t1 | t2 | t3) & 1) == 0) {
        p += k4;
        continue;
      }
    }
    const end = min(p + k4, last + 1);
    for (; p < end; p += k) {
      const g = load<u32>(input + <usize>p);
      const h = <u64>g * HC;
      const wi = <usize>(h >> si);
      if ((load<u64>(bm + (wi << 3)) >> (h >> s1)) & 1) {
        if (w + big > cap) {
          sStopped = true;
          sPos = p;
          return w;
        }
        w = runSkip(tr, 4, k, p, g, out, cap, w);
        if (runNext != p) {
          if (runNext < 0) {
            sStopped = true;
            sPos = p;
            return w;
          }
          p = runNext - k;
          continue;
        }
        const bp = bk + (wi << 2);
        w = probe(en, load<u32>(bp), load<u32>(bp, 4), g, p, out, w);
      }
    }
  }
  return w;
}

/** Direct tier: q = 2 (u16 gram, 64 Ki-bit bitmap) or q = 1 (byte, 256-bit bitmap), stride 1. */
function scanTierDirect(tr: usize, q: u32, p: i32, out: usize, cap: i32, w: i32): i32 {
  const bm = db + <usize>load<u32>(tr, 12);
  const bk = db + <usize>load<u32>(tr, 16);
  const en = db + <usize>load<u32>(tr, 20);
  const big = <i32>load<u32>(tr, 28);
  const last = sLen - <i32>q;
  const input = sIn;
  for (; p <= last; p++) {
    const g = q == 2 ? <u32>load<u16>(input + <usize>p) : <u32>load<u8>(input + <usize>p);
    const word = load<u64>(bm + (<usize>(g >>> 6) << 3));
    if ((word >> <u64>(g & 63)) & 1) {
      if (w + big > cap) {
        sStopped = true;
        sPos = p;
        return w;
      }
      w = runSkip(tr, q, 1, p, g, out, cap, w);
      if (runNext != p) {
        if (runNext < 0) {
          sStopped = true;
          sPos = p;
          return w;
        }
        p = runNext - 1;
        continue;
      }
      const bp = bk + (<usize>g << 2);
      w = probe(en, load<u32>(bp), load<u32>(bp, 4), g, p, out, w);
    }
  }
  return w;
}

export function scan_next(outPtr: i32, cap: i32): i32 {
  if (db == 0) return ERR_NOT_LOADED;
  if (sDone) return 0;
  if (cap < <i32>maxBucket) return ERR_OUT_TOO_SMALL;
  if (outPtr < 0 || cap < 0 || !inBounds(<usize>outPtr, <u64>cap << 3)) return ERR_BAD_ARG;
  const out = <usize>outPtr;
  let w: i32 = 0;
  while (sTier < nTiers) {
    const tr = tiers + <usize>sTier * TIER_SIZE;
    const q = load<u32>(tr) & 0xff;
    const k = load<u32>(tr, 4);
    let p = sPos;
    if (p < 0) p = <i32>((k - sAbsMod % k) % k);
    sStopped = false;
    if (q != 4) w = scanTierDirect(tr, q, p, out, cap, w);
    else if ((load<u32>(tr) >> 8) == 1) w = scanTier4One(tr, p, out, cap, w);
    else w = scanTier4(tr, p, out, cap, w);
    if (sStopped) return w;
    sTier++;
    sPos = -1;
    runReset();
  }
  sDone = true;
  return w;
}
