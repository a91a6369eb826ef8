/**
 * The compiled-database container (`.p2pgwdb`): one self-checking byte blob that a router saves
 * once (`p2pgw compile-sigs`) and loads at start, or that a worker thread receives and loads into
 * its own WebAssembly instance. Everything is little-endian.
 *
 *   0   8  magic "P2PGWSDB"        8  4  format version (1)     12 4  zero
 *   16  4  total length            20 4  zero                   24 32 SHA-256 of bytes [56, total)
 *   56  4  section count, then (tag u32, offset u32, length u32) per section; payloads 16-aligned.
 * Sections: 1 = META (UTF-8 JSON: names, hash signatures, tier stats, array layout), 2 = ENGINE
 * (the WebAssembly engine blob, asm/assembly/sigdb_layout.ts), 3 = ARRAYS (typed arrays of DbMeta).
 * Load checks magic, version, length, checksum, section bounds and every index (`validateMeta`);
 * the engine validates its own tables. Any failure is a P2pgwError naming the source, never a crash.
 */
import { createHash } from 'node:crypto';
import { ErrorCodes, P2pgwError } from '../core/errors.js';
import type { DbMeta, HashEntry } from './compile.js';
import type { TierStats } from './blob.js';

const MAGIC = 'P2PGWSDB';
/** Container format version. */
export const DB_FORMAT_VERSION = 1;
const TAG_META = 1;
const TAG_ENGINE = 2;
const TAG_ARRAYS = 3;

type ArrayName = 'sigOff' | 'sigN' | 'sigShift' | 'sigNVar' | 'atomLen' | 'ownerStart' | 'ownerVar' | 'ownerSeg' | 'varSig' | 'varNSeg' | 'varGap0' | 'gapMin' | 'gapMax';
const ARRAYS: [ArrayName, 'u8' | 'i32' | 'f64'][] = [
  ['sigOff', 'u8'], ['sigN', 'f64'], ['sigShift', 'f64'], ['sigNVar', 'i32'], ['atomLen', 'i32'], ['ownerStart', 'i32'],
  ['ownerVar', 'i32'], ['ownerSeg', 'i32'], ['varSig', 'i32'], ['varNSeg', 'i32'], ['varGap0', 'i32'], ['gapMin', 'f64'], ['gapMax', 'f64'],
];
const CTOR = { u8: Uint8Array, i32: Int32Array, f64: Float64Array };

/** What a container holds. */
export interface DbContents {
  meta: DbMeta;
  engine: Uint8Array;
  tiers: TierStats[];
}

const align16 = (n: number): number => (n + 15) & ~15;

/** Serialises metadata + engine blob into one container. */
export function writeContainer(c: DbContents): Uint8Array {
  const m = c.meta;
  const layout: [string, number, number][] = [];
  let arrLen = 0;
  for (const [name] of ARRAYS) {
    const a = m[name];
    layout.push([name, arrLen, a.length]);
    arrLen = (arrLen + a.byteLength + 7) & ~7;
  }
  const arrays = new Uint8Array(arrLen);
  ARRAYS.forEach(([name], k) => {
    const a = m[name];
    arrays.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), layout[k][1]);
  });
  const json = new TextEncoder().encode(JSON.stringify({
    names: m.names, hashes: m.hashes, maxAtomLen: m.maxAtomLen, maxEof: m.maxEof, tiers: c.tiers, layout,
  }));
  const sections: [number, Uint8Array][] = [[TAG_META, json], [TAG_ENGINE, c.engine], [TAG_ARRAYS, arrays]];
  let off = align16(60 + sections.length * 12);
  const placed = sections.map(([tag, data]) => {
    const at = off;
    off = align16(off + data.length);
    return [tag, at, data] as const;
  });
  const out = new Uint8Array(off);
  const dv = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MAGIC), 0);
  dv.setUint32(8, DB_FORMAT_VERSION, true);
  dv.setUint32(16, off, true);
  dv.setUint32(56, sections.length, true);
  placed.forEach(([tag, at, data], k) => {
    dv.setUint32(60 + k * 12, tag, true);
    dv.setUint32(64 + k * 12, at, true);
    dv.setUint32(68 + k * 12, data.length, true);
    out.set(data, at);
  });
  out.set(createHash('sha256').update(out.subarray(56)).digest(), 24);
  return out;
}

/** Reads and checks a container. @throws P2pgwError(P2PGW_ERR_PATTERN) naming `source` */
export function readContainer(bytes: Uint8Array, source: string): DbContents {
  const bad = (why: string): never => {
    throw new P2pgwError(ErrorCodes.P2PGW_ERR_PATTERN, `${source}: not a usable p2pgw signature database: ${why}`);
  };
  if (!(bytes instanceof Uint8Array)) bad('expected bytes');
  if (bytes.length < 60 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) bad('bad magic (not a .p2pgwdb file)');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== DB_FORMAT_VERSION) bad(`format version ${version}, this p2pgw reads ${DB_FORMAT_VERSION}: recompile it`);
  const total = dv.getUint32(16, true);
  if (total !== bytes.length) bad(`length ${bytes.length} bytes, header says ${total} (truncated or padded)`);
  const sum = createHash('sha256').update(bytes.subarray(56)).digest();
  if (!sum.equals(bytes.subarray(24, 56))) bad('checksum mismatch (corrupted)');
  const n = dv.getUint32(56, true);
  if (n > 16 || 60 + n * 12 > total) bad('bad section table');
  const sec = new Map<number, Uint8Array>();
  for (let k = 0; k < n; k++) {
    const tag = dv.getUint32(60 + k * 12, true);
    const at = dv.getUint32(64 + k * 12, true);
    const len = dv.getUint32(68 + k * 12, true);
    if (at > total || len > total - at) bad(`section ${tag} out of bounds`);
    sec.set(tag, bytes.subarray(at, at + len));
  }
  const metaBytes = sec.get(TAG_META);
  const engine = sec.get(TAG_ENGINE);
  const arrays = sec.get(TAG_ARRAYS);
  if (!metaBytes || !engine || !arrays) return bad('missing section');
  let j: { names: string[]; hashes: HashEntry[]; maxAtomLen: number; maxEof: number; tiers: TierStats[]; layout: [string, number, number][] };
  try {
    j = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(metaBytes));
  } catch {
    return bad('metadata is not valid JSON');
  }
  if (!j || !Array.isArray(j.names) || !Array.isArray(j.hashes) || !Array.isArray(j.layout) || !Array.isArray(j.tiers)) bad('metadata incomplete');
  const meta: Record<string, unknown> = { names: j.names, hashes: j.hashes, maxAtomLen: j.maxAtomLen, maxEof: j.maxEof };
  ARRAYS.forEach(([name, type], k) => {
    const [lname, off, len] = j.layout[k] ?? [];
    const C = CTOR[type];
    if (lname !== name || !Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 0 || off % 8 !== 0) bad(`array ${name} missing`);
    if (off + len * C.BYTES_PER_ELEMENT > arrays.length) bad(`array ${name} out of bounds`);
    const copy = new Uint8Array(len * C.BYTES_PER_ELEMENT);
    copy.set(arrays.subarray(off, off + copy.length));
    meta[name] = new C(copy.buffer);
  });
  const dm = meta as unknown as DbMeta;
  const why = validateMeta(dm);
  if (why) bad(why);
  return { meta: dm, engine: engine.slice(), tiers: j.tiers };
}

/** Checks that every index in the metadata is in range; returns a reason or null. */
export function validateMeta(m: DbMeta): string | null {
  const n = m.names.length;
  if (!m.names.every((s) => typeof s === 'string')) return 'bad names';
  if (m.sigOff.length !== n || m.sigN.length !== n || m.sigShift.length !== n || m.sigNVar.length !== n) return 'signature arrays disagree';
  const nVar = m.varSig.length;
  const nGap = m.gapMin.length;
  const nAtoms = m.atomLen.length;
  if (m.varNSeg.length !== nVar || m.varGap0.length !== nVar || m.gapMax.length !== nGap) return 'variant arrays disagree';
  if (m.ownerStart.length !== nAtoms + 1 || m.ownerStart[0] !== 0) return 'owner index disagrees';
  const nOwn = m.ownerVar.length;
  if (m.ownerSeg.length !== nOwn || m.ownerStart[nAtoms] !== nOwn) return 'owner arrays disagree';
  for (let i = 0; i < n; i++) {
    if (m.sigOff[i] > 3 || !(m.sigN[i] >= 0 && m.sigN[i] <= 0x7fffffff) || !(m.sigShift[i] >= 0 && m.sigShift[i] <= 0x7fffffff)) return `bad offset of signature ${i}`;
    if (m.sigNVar[i] < 0) return `bad variant count of signature ${i}`;
  }
  let maxLen = 0;
  for (let a = 0; a < nAtoms; a++) {
    if (m.atomLen[a] < 1 || m.atomLen[a] > 65535 || m.ownerStart[a + 1] < m.ownerStart[a]) return `bad atom ${a}`;
    maxLen = Math.max(maxLen, m.atomLen[a]);
  }
  if (maxLen !== m.maxAtomLen) return 'bad longest atom';
  if (!(Number.isInteger(m.maxEof) && m.maxEof >= 0 && m.maxEof <= 0x7fffffff)) return 'bad EOF distance';
  for (let v = 0; v < nVar; v++) {
    if (m.varSig[v] < 0 || m.varSig[v] >= n || m.varNSeg[v] < 1 || m.varGap0[v] < 0 || m.varGap0[v] + m.varNSeg[v] - 1 > nGap) return `bad variant ${v}`;
  }
  for (let g = 0; g < nGap; g++) if (!(m.gapMin[g] >= 0 && m.gapMax[g] >= m.gapMin[g])) return `bad gap ${g}`;
  for (let o = 0; o < nOwn; o++) {
    const v = m.ownerVar[o];
    if (v < 0 || v >= nVar || m.ownerSeg[o] < 0 || m.ownerSeg[o] >= m.varNSeg[v]) return `bad owner ${o}`;
  }
  for (const h of m.hashes) {
    const len = { md5: 32, sha1: 40, sha256: 64 }[h?.algo as string];
    if (!h || !len || typeof h.digest !== 'string' || h.digest.length !== len || !/^[0-9a-f]+$/.test(h.digest)) return 'bad hash signature';
    if (!Number.isInteger(h.sig) || h.sig < 0 || h.sig >= n || m.sigOff[h.sig] !== 3 || !Number.isSafeInteger(h.size) || h.size < -1) return 'bad hash signature';
  }
  return null;
}
