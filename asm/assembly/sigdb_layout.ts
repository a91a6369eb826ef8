// Layout of the compiled signature-database engine blob (matcher v2) and its validation.
//
// The blob is produced by src/sigscan/tables.ts, copied as-is into linear memory (16-byte aligned) and
// used in place: no pointers, only offsets from the blob start, so the same bytes can be saved to a
// file or handed to another worker thread. All integers are little-endian u32 unless noted.
//
// Header (HEADER_SIZE bytes, u32 words):
//   [0] MAGIC  [1] BLOB_VERSION  [2] total length  [3] atom count  [4] atoms offset
//   [5] class count  [6] classes offset  [7] tier count  [8] tiers offset  [9] longest atom
//   [10] data offset  [11] data length  [12..15] zero
// Atom record (ATOM_SIZE): len, flags (ATOM_MASKED), data offset (8-aligned), class-position count.
//   data: V[n] (u64), and if masked A[n], O[n] (u64); n = ceil(len / 8); chunk c covers bytes
//   [off_c, off_c + 8) with off_c = min(8c, len - 8) (len >= 8; unmasked atoms always have len >= 8,
//   a masked atom with len < 8 has one chunk at 0 whose A masks the bytes past len).
//   A chunk matches input x (u64 load) iff ((x | O) & A) == V. Then nClassPos u32 entries
//   (position | class index << 16): the byte at `position` must be in the 256-bit class.
// Class: 32 bytes, bit b set = byte value b allowed.
// Tier record (TIER_SIZE): q (gram bytes: 1, 2 or 4) | Bloom bits per entry << 8 (q = 4: 1 or 3), k (stride), wbits (log2 of 64-bit bitmap words),
//   bitmap offset, buckets offset (nBuckets + 1 u32, CSR starts), entries offset, entry count,
//   largest bucket. Entry (ENTRY_SIZE = 16): gram; atom index | ENTRY_TAIL if the tail check is valid;
//   offset of the gram inside the atom | atom length << 16; the atom's last 4 bytes (exact atoms):
//   candidates whose last 4 input bytes differ are dropped without touching the atom tables.
//   nBuckets = 2^wbits for q = 4 (bucket = bitmap word), 65536 for q = 2, 256 for q = 1.

export const MAGIC: u32 = 0x31424453; // "SDB1"
export const BLOB_VERSION: u32 = 1;
export const HEADER_SIZE: u32 = 64;
export const ATOM_SIZE: u32 = 16;
export const CLASS_SIZE: u32 = 32;
export const TIER_SIZE: u32 = 32;
export const ENTRY_SIZE: u32 = 16;
export const ENTRY_TAIL: u32 = 0x80000000;
export const ATOM_MASKED: u32 = 1;
export const MAX_ATOM_LEN: u32 = 65535;
export const MAX_TIERS: u32 = 8;
export const MAX_STRIDE: u32 = 8;
export const MAX_WBITS: u32 = 22;

/** 64-bit multiplicative hash constant for 4-byte grams (mirrored in src/sigscan/tables.ts). */
export const HC: u64 = 0x9e3779b97f4a7c15;

export const OK: i32 = 0;
export const ERR_OOM: i32 = -1;
export const ERR_BAD_ARG: i32 = -9;
export const ERR_BAD_DB: i32 = -10;
export const ERR_NOT_LOADED: i32 = -11;
export const ERR_ALREADY_LOADED: i32 = -12;
export const ERR_OUT_TOO_SMALL: i32 = -13;

// @ts-ignore: decorator
@inline export function u32At(base: usize, word: u32): u32 {
  return load<u32>(base + (<usize>word << 2));
}

/** Number of CSR buckets of a tier. */
export function bucketCount(q: u32, wbits: u32): u32 {
  return q == 4 ? <u32>1 << wbits : q == 2 ? 65536 : 256;
}

/** True if [off, off + len) lies inside a blob of `total` bytes. */
// @ts-ignore: decorator
@inline function fits(off: u64, len: u64, total: u64): bool {
  return off <= total && len <= total - off;
}

/** Largest bucket over all tiers, set by validate(). */
export let maxBucket: u32 = 0;

/**
 * Checks every offset, count and index of the blob at `b` (length `total`) so that scanning can never
 * read outside it, and returns OK or ERR_BAD_DB. Work is linear in the blob size.
 */
export function validate(b: usize, total: u32): i32 {
  if (total < HEADER_SIZE) return ERR_BAD_DB;
  if (u32At(b, 0) != MAGIC || u32At(b, 1) != BLOB_VERSION || u32At(b, 2) != total) return ERR_BAD_DB;
  for (let w: u32 = 12; w < 16; w++) if (u32At(b, w) != 0) return ERR_BAD_DB;
  const t = <u64>total;
  const nAtoms = u32At(b, 3);
  const atomsOff = u32At(b, 4);
  const nClasses = u32At(b, 5);
  const classesOff = u32At(b, 6);
  const nTiers = u32At(b, 7);
  const tiersOff = u32At(b, 8);
  const longest = u32At(b, 9);
  const dataOff = u32At(b, 10);
  const dataLen = u32At(b, 11);
  if (!fits(atomsOff, <u64>nAtoms * ATOM_SIZE, t) || (atomsOff & 3) != 0) return ERR_BAD_DB;
  if (!fits(classesOff, <u64>nClasses * CLASS_SIZE, t) || nClasses > 65536) return ERR_BAD_DB;
  if (nTiers > MAX_TIERS || !fits(tiersOff, <u64>nTiers * TIER_SIZE, t) || (tiersOff & 3) != 0) return ERR_BAD_DB;
  if (!fits(dataOff, dataLen, t) || longest > MAX_ATOM_LEN) return ERR_BAD_DB;
  const dataEnd = <u64>dataOff + <u64>dataLen;
  for (let a: u32 = 0; a < nAtoms; a++) {
    const r = b + atomsOff + a * ATOM_SIZE;
    const len = load<u32>(r);
    const flags = load<u32>(r, 4);
    const off = <u64>load<u32>(r, 8);
    const ncp = load<u32>(r, 12);
    if (len == 0 || len > longest || (flags & ~ATOM_MASKED) != 0) return ERR_BAD_DB;
    if ((flags & ATOM_MASKED) == 0 && len < 8) return ERR_BAD_DB;
    if ((off & 7) != 0 || off < <u64>dataOff) return ERR_BAD_DB;
    const chunks = <u64>((len + 7) >> 3);
    const size = chunks * ((flags & ATOM_MASKED) != 0 ? 24 : 8) + <u64>ncp * 4;
    if (off + size > dataEnd) return ERR_BAD_DB;
    const cp = b + <usize>(off + chunks * ((flags & ATOM_MASKED) != 0 ? 24 : 8));
    for (let i: u32 = 0; i < ncp; i++) {
      const e = load<u32>(cp + (<usize>i << 2));
      if ((e & 0xffff) >= len || (e >>> 16) >= nClasses) return ERR_BAD_DB;
    }
  }
  let mb: u32 = 0;
  for (let k: u32 = 0; k < nTiers; k++) {
    const r = b + tiersOff + k * TIER_SIZE;
    const q = load<u32>(r) & 0xff;
    const nbits = load<u32>(r) >> 8;
    if (q == 4 ? nbits != 1 && nbits != 3 : nbits != 0) return ERR_BAD_DB;
    const stride = load<u32>(r, 4);
    const wbits = load<u32>(r, 8);
    const bmOff = <u64>load<u32>(r, 12);
    const bkOff = <u64>load<u32>(r, 16);
    const enOff = <u64>load<u32>(r, 20);
    const nEnt = load<u32>(r, 24);
    const big = load<u32>(r, 28);
    if (q != 1 && q != 2 && q != 4) return ERR_BAD_DB;
    if (stride == 0 || stride > MAX_STRIDE || (q != 4 && stride != 1)) return ERR_BAD_DB;
    if (q == 4 ? wbits < 1 || wbits > MAX_WBITS : wbits != (q == 2 ? 10 : 2)) return ERR_BAD_DB;
    if ((bmOff & 7) != 0 || !fits(bmOff, <u64>8 << wbits, t)) return ERR_BAD_DB;
    const nb = bucketCount(q, wbits);
    if ((bkOff & 3) != 0 || !fits(bkOff, (<u64>nb + 1) * 4, t)) return ERR_BAD_DB;
    if ((enOff & 3) != 0 || !fits(enOff, <u64>nEnt * ENTRY_SIZE, t)) return ERR_BAD_DB;
    const bk = b + <usize>bkOff;
    if (load<u32>(bk) != 0 || load<u32>(bk + (<usize>nb << 2)) != nEnt) return ERR_BAD_DB;
    let real: u32 = 0;
    for (let i: u32 = 0; i < nb; i++) {
      const s = load<u32>(bk + (<usize>i << 2));
      const e = load<u32>(bk + (<usize>(i + 1) << 2));
      if (e < s) return ERR_BAD_DB;
      if (e - s > real) real = e - s;
    }
    if (real != big) return ERR_BAD_DB;
    if (big > mb) mb = big;
    const en = b + <usize>enOff;
    for (let i: u32 = 0; i < nEnt; i++) {
      const e = en + <usize>i * ENTRY_SIZE;
      const atom = load<u32>(e, 4) & ~ENTRY_TAIL;
      const off = load<u32>(e, 8) & 0xffff;
      const elen = load<u32>(e, 8) >>> 16;
      if (atom >= nAtoms) return ERR_BAD_DB;
      const len = load<u32>(b + atomsOff + atom * ATOM_SIZE);
      if (<u64>off + <u64>q > <u64>len || elen != len) return ERR_BAD_DB;
      if ((load<u32>(e, 4) & ENTRY_TAIL) != 0 && len < 4) return ERR_BAD_DB;
    }
  }
  maxBucket = mb;
  return OK;
}
