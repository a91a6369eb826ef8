// Benchmark data: seeded pattern sets and corpora laid out as many files (so per-file signature sets
// from clamscan are comparable with per-(pattern, offset) matches of the in-process engines).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** EICAR test string (the classic anti-virus test file body). */
export const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*', 'latin1');

/** Deterministic PRNG (mulberry32) returning floats in [0, 1). */
export function prng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` random patterns of 8-64 bytes (distinct), then EICAR as the last one. */
export function makePatterns(n, seed = 1) {
  const rnd = prng(seed);
  const seen = new Set();
  const pats = [];
  while (pats.length < n) {
    const len = 8 + Math.floor(rnd() * 57);
    const b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) b[i] = Math.floor(rnd() * 256);
    const key = b.toString('latin1');
    if (!seen.has(key)) seen.add(key), pats.push(b);
  }
  pats.push(EICAR);
  return pats;
}

/** Pseudo-random bytes. */
export function randomBytes(size, seed = 7) {
  const rnd = prng(seed);
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) b.writeUInt32LE(Math.floor(rnd() * 4294967296), i);
  return b;
}

/** Real text and binaries from this machine (/usr/share/doc, /usr/lib), concatenated to `size`. */
export function machineBytes(size, roots = ['/usr/share/doc', '/usr/lib']) {
  const out = Buffer.alloc(size);
  let pos = 0;
  const walk = (dir, depth) => {
    if (pos >= size || depth > 6) return;
    let names;
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const n of names) {
      if (pos >= size) return;
      const p = join(dir, n);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p, depth + 1);
      else if (st.isFile() && st.size > 0 && st.size < 8 << 20 && !n.endsWith('.gz')) {
        try {
          pos += readFileSync(p).copy(out, pos);
        } catch {
          /* unreadable: skip */
        }
      }
    }
  };
  // Interleave text (docs) and binaries (libraries) in 1 MiB slices.
  const half = Math.floor(size / 2);
  const text = Buffer.alloc(half);
  const bin = Buffer.alloc(size - half);
  pos = 0;
  size = half;
  walk(roots[0], 0);
  out.copy(text, 0, 0, pos);
  const textLen = pos;
  pos = 0;
  size = bin.length;
  walk(roots[1], 0);
  out.copy(bin, 0, 0, pos);
  const binLen = pos;
  const res = Buffer.alloc(half + bin.length);
  let w = 0;
  for (let t = 0, b = 0; w < res.length; ) {
    const slice = 1 << 20;
    if (t < textLen) w += text.copy(res, w, t, Math.min(textLen, t + slice)), (t += slice);
    if (b < binLen && w < res.length) w += bin.copy(res, w, b, Math.min(binLen, b + slice)), (b += slice);
    if (t >= textLen && b >= binLen) break;
  }
  return res.subarray(0, w);
}

/**
 * Splits `bytes` into files of `fileSize` and plants `perFile` random patterns (and EICAR in every
 * 16th file) at random positions, so every engine has matches to agree on.
 */
export function makeFiles(bytes, fileSize, patterns, perFile, seed = 3) {
  const rnd = prng(seed);
  const files = [];
  for (let off = 0; off < bytes.length; off += fileSize) {
    const f = Buffer.from(bytes.subarray(off, off + fileSize));
    const k = files.length;
    for (let j = 0; j < perFile; j++) {
      const p = patterns[Math.floor(rnd() * (patterns.length - 1))];
      if (f.length > p.length) p.copy(f, Math.floor(rnd() * (f.length - p.length)));
    }
    const e = patterns[patterns.length - 1];
    if (k % 16 === 0 && f.length > e.length) e.copy(f, Math.floor(rnd() * (f.length - e.length)));
    files.push(f);
  }
  return files;
}

/** Pathological input: pattern `p` minus its last byte, repeated (every byte a partial match). */
export function prefixRuns(p, size) {
  const unit = p.subarray(0, p.length - 1);
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += unit.length) unit.copy(b, i);
  return b;
}
