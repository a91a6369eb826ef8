// p2pgw matcher v1: multi-pattern byte matcher (Aho-Corasick) for streaming classification and
// keyword lists. Small automata are a full DFA (automaton.ts: one table load per byte, 1 KiB per
// state); large ones the sparse goto/failure form (sparse.ts: 25 bytes per state).
//
// ABI (all integers i32; pointers are byte offsets into the exported `memory`):
//   abi_version(): i32                      -> 2
//   alloc(size): ptr                        zeroed, 16-aligned bump allocation; 0 = out of memory
//   set_dense_max(states)                   automata with more states use the sparse form (default
//                                           4096; call before build)
//   build(blobPtr, blobLen): code           compile the pattern blob (once per instance); 0 or < 0
//   export_image(): code                    copy the built matcher into one image (image.ts) at
//   image_ptr(), image_len()                image_ptr(), image_len() bytes; 0 or < 0
//   load_image(ptr, len): code              adopt an image copied to ptr (instead of build()); 0 or < 0
//   max_out(): i32                          most (pattern, end) pairs one input byte can produce;
//                                           scan() needs outCap >= max_out()
//   state_count(which): i32                 states of automaton 0 (case-sensitive) / 1 (nocase)
//   automaton_kind(which): i32              0 empty, 1 dense, 2 sparse
//   input_reserve(size): ptr                the one reusable input buffer, grown in place when it is
//                                           the last allocation; 0 = out of memory
//   scan(stCs, stCi, inPtr, inLen, outPtr, outCap): count or < 0
//       Runs both automata from states (stCs, stCi) over inLen bytes. Writes `count` pairs
//       (patternIndex i32, end i32) to outPtr, end = exclusive end offset relative to inPtr.
//       Stops early, *before* a byte whose matches would not fit, so no match is ever split or lost.
//   result_pos(): bytes of the input consumed by the last scan (== inLen unless the output filled)
//   result_state_cs(), result_state_ci(): states after those bytes (feed them to the next scan)
//
// Blob: u32 version (1), u32 count, then per pattern: u32 length (> 0), u32 flags (bit 0 = nocase),
// length bytes. Little-endian, no padding. Pattern index = position in the blob.
//
// Linear time: dense, one table load per automaton per byte; sparse, at most two edge lookups per
// byte amortised (sparse.ts); plus O(1) per reported match.

import { calloc, extendLast, heapTop, inBounds, isLast } from "./mem";
import { buildDense } from "./automaton";
import { Automaton, KIND_DENSE, KIND_EMPTY, KIND_SPARSE, buildTrie, trieSize } from "./trie";
import { HAS_OUT, buildSparse, lower, stepSparse } from "./sparse";
import { imageBytes, readImage, writeImage } from "./image";
import {
  ABI_VERSION, BLOB_VERSION, BLOB_HEADER, ENTRY_HEADER, FLAG_NOCASE, MAX_STATES, OK, ERR_OOM, ERR_BAD_BLOB,
  ERR_EMPTY_PATTERN, ERR_ALREADY_BUILT, ERR_NOT_BUILT, ERR_BAD_STATE, ERR_OUT_TOO_SMALL, ERR_BAD_ARG,
  ERR_TOO_MANY_STATES, ERR_BAD_IMAGE,
} from "./codes";

let built = false;
let csPtr: usize = 0; // Automaton (case-sensitive)
let ciPtr: usize = 0; // Automaton (case-insensitive)
let patNext: usize = 0;
let patCount: i32 = 0;
let denseMax: i32 = 4096;
let imgPtr: usize = 0;
let imgLen: u32 = 0;
let inBuf: usize = 0;
let inCap: i32 = 0;

let resPos: i32 = 0;
let resCs: i32 = 0;
let resCi: i32 = 0;
let resOne: u32 = 0; // state entry left by scanOne

export function abi_version(): i32 {
  return ABI_VERSION;
}

export function alloc(size: i32): i32 {
  if (size < 0) return 0;
  return <i32>calloc(<u64>size);
}

export function set_dense_max(states: i32): void {
  denseMax = states;
}

/** Builds one automaton: trie, then the dense form up to denseMax states, else the sparse one. */
function buildOne(a: Automaton, blob: usize, count: i32, nocase: bool, nPats: i32, sumLen: u64): i32 {
  a.kind = KIND_EMPTY;
  a.states = 0;
  a.maxOut = 0;
  a.nocase = nocase ? 1 : 0;
  if (nPats == 0) return OK;
  const mark = heapTop();
  const nodes = buildTrie(blob, count, nocase, sumLen, patNext);
  if (nodes == 0) return ERR_OOM;
  const states = trieSize();
  if (states <= denseMax) {
    if (states >= MAX_STATES) return ERR_TOO_MANY_STATES;
    return buildDense(a, mark, nodes, states, nocase, patNext);
  }
  if (<u32>states >= HAS_OUT) return ERR_TOO_MANY_STATES;
  return buildSparse(a, nodes, states, nocase, patNext);
}

export function export_image(): i32 {
  if (!built) return ERR_NOT_BUILT;
  const cs = changetype<Automaton>(csPtr);
  const ci = changetype<Automaton>(ciPtr);
  const n = imageBytes(cs, ci, patCount);
  if (n > 0x7fff0000) return ERR_OOM;
  const p = calloc(n);
  if (p == 0) return ERR_OOM;
  writeImage(p, cs, ci, patNext, patCount);
  imgPtr = p;
  imgLen = <u32>n;
  return OK;
}

export function image_ptr(): i32 {
  return <i32>imgPtr;
}

export function image_len(): i32 {
  return <i32>imgLen;
}

export function load_image(ptr: i32, len: i32): i32 {
  if (built) return ERR_ALREADY_BUILT;
  if (ptr <= 0 || len < 0 || (ptr & 15) != 0 || !inBounds(<usize>ptr, <u64>len)) return ERR_BAD_ARG;
  if (csPtr == 0) {
    csPtr = calloc(offsetof<Automaton>() * 2);
    if (csPtr == 0) return ERR_OOM;
    ciPtr = csPtr + offsetof<Automaton>();
  }
  const pn = readImage(<usize>ptr, <u32>len, changetype<Automaton>(csPtr), changetype<Automaton>(ciPtr));
  if (pn == 0) return ERR_BAD_IMAGE;
  patNext = pn;
  patCount = <i32>load<u32>(<usize>ptr, 12);
  built = true;
  return OK;
}

export function automaton_kind(which: i32): i32 {
  if (!built) return ERR_NOT_BUILT;
  return changetype<Automaton>(which == 0 ? csPtr : ciPtr).kind;
}

export function input_reserve(size: i32): i32 {
  if (size < 0) return 0;
  if (size <= inCap && inBuf != 0) return <i32>inBuf;
  if (inBuf != 0 && isLast(inBuf, <u64>inCap)) {
    if (!extendLast(inBuf, <u64>inCap, <u64>size)) return 0;
    inCap = size;
    return <i32>inBuf;
  }
  const p = calloc(<u64>size);
  if (p == 0) return 0;
  inBuf = p;
  inCap = size;
  return <i32>p;
}

export function build(ptr: i32, len: i32): i32 {
  if (built) return ERR_ALREADY_BUILT;
  if (len < <i32>BLOB_HEADER || ptr <= 0 || !inBounds(<usize>ptr, <u64>len)) return ERR_BAD_BLOB;
  const blob = <usize>ptr;
  const end = blob + <usize>len;
  if (load<u32>(blob) != BLOB_VERSION) return ERR_BAD_BLOB;
  const count = load<u32>(blob, 4);
  if (<u64>count * <u64>ENTRY_HEADER > <u64>len) return ERR_BAD_BLOB;
  let nCs: i32 = 0;
  let nCi: i32 = 0;
  let sumCs: u64 = 0;
  let sumCi: u64 = 0;
  let pos = blob + BLOB_HEADER;
  for (let p: u32 = 0; p < count; p++) {
    if (<u64>pos + <u64>ENTRY_HEADER > <u64>end) return ERR_BAD_BLOB;
    const plen = load<u32>(pos);
    const flags = load<u32>(pos, 4);
    if (plen == 0) return ERR_EMPTY_PATTERN;
    if ((flags & ~FLAG_NOCASE) != 0) return ERR_BAD_BLOB;
    if (<u64>pos + <u64>ENTRY_HEADER + <u64>plen > <u64>end) return ERR_BAD_BLOB;
    pos += ENTRY_HEADER + <usize>plen;
    if (flags & FLAG_NOCASE) {
      nCi++;
      sumCi += plen;
    } else {
      nCs++;
      sumCs += plen;
    }
  }
  if (pos != end) return ERR_BAD_BLOB;

  csPtr = calloc(offsetof<Automaton>() * 2);
  if (csPtr == 0) return ERR_OOM;
  ciPtr = csPtr + offsetof<Automaton>();
  patNext = calloc(<u64>count << 2);
  if (patNext == 0) return ERR_OOM;
  patCount = <i32>count;
  let r = buildOne(changetype<Automaton>(csPtr), blob, <i32>count, false, nCs, sumCs);
  if (r != OK) return r;
  r = buildOne(changetype<Automaton>(ciPtr), blob, <i32>count, true, nCi, sumCi);
  if (r != OK) return r;
  built = true;
  return OK;
}

export function max_out(): i32 {
  if (!built) return ERR_NOT_BUILT;
  return changetype<Automaton>(csPtr).maxOut + changetype<Automaton>(ciPtr).maxOut;
}

export function state_count(which: i32): i32 {
  if (!built) return ERR_NOT_BUILT;
  return changetype<Automaton>(which == 0 ? csPtr : ciPtr).states;
}

export function result_pos(): i32 {
  return resPos;
}

export function result_state_cs(): i32 {
  return resCs;
}

export function result_state_ci(): i32 {
  return resCi;
}

// @ts-ignore: decorator
@inline function outCount(info: usize, s: u32): i32 {
  return load<i32>(info + (<usize>s << 4), 8);
}

/** Writes the full output set of state `s` as (pattern, end) pairs at out[w..]; returns new w. */
// @ts-ignore: decorator
@inline function emit(info: usize, s: u32, end: i32, out: usize, w: i32): i32 {
  let t = s;
  do {
    const ti = info + (<usize>t << 4);
    let p = load<i32>(ti);
    while (p >= 0) {
      const o = out + (<usize>w << 3);
      store<i32>(o, p);
      store<i32>(o, end, 4);
      w++;
      p = load<i32>(patNext + (<usize>p << 2));
    }
    t = load<u32>(ti, 4);
  } while (t != 0);
  return w;
}

// @ts-ignore: decorator
@inline const ROW_MASK: u32 = 0xffffff00;

function scanOne(a: Automaton, state: i32, input: usize, len: i32, out: usize, cap: i32): i32 {
  const table = a.table;
  const info = a.info;
  let e = <u32>state << 8;
  let w: i32 = 0;
  let i: i32 = 0;
  for (; i < len; i++) {
    const b = <u32>load<u8>(input + <usize>i);
    const ne = load<u32>(table + (<usize>((e & ROW_MASK) | b) << 2));
    if (ne & 1) {
      const s = ne >>> 8;
      if (w + outCount(info, s) > cap) break;
      w = emit(info, s, i + 1, out, w);
    }
    e = ne;
  }
  resPos = i;
  resOne = e >>> 8;
  return w;
}

function scanDual(a1: Automaton, a2: Automaton, st1: i32, st2: i32, input: usize, len: i32, out: usize, cap: i32): i32 {
  const t1 = a1.table;
  const i1 = a1.info;
  const t2 = a2.table;
  const i2 = a2.info;
  let e1 = <u32>st1 << 8;
  let e2 = <u32>st2 << 8;
  let w: i32 = 0;
  let i: i32 = 0;
  for (; i < len; i++) {
    const b = <u32>load<u8>(input + <usize>i);
    const n1 = load<u32>(t1 + (<usize>((e1 & ROW_MASK) | b) << 2));
    const n2 = load<u32>(t2 + (<usize>((e2 & ROW_MASK) | b) << 2));
    if ((n1 | n2) & 1) {
      const c1 = n1 & 1 ? outCount(i1, n1 >>> 8) : 0;
      const c2 = n2 & 1 ? outCount(i2, n2 >>> 8) : 0;
      if (w + c1 + c2 > cap) break;
      if (c1) w = emit(i1, n1 >>> 8, i + 1, out, w);
      if (c2) w = emit(i2, n2 >>> 8, i + 1, out, w);
    }
    e1 = n1;
    e2 = n2;
  }
  resPos = i;
  resCs = <i32>(e1 >>> 8);
  resCi = <i32>(e2 >>> 8);
  return w;
}

function scanOneSparse(a: Automaton, state: i32, input: usize, len: i32, out: usize, cap: i32): i32 {
  const info = a.info;
  const outCnt = a.outCnt;
  const nocase = a.nocase != 0;
  let s = <u32>state;
  let w: i32 = 0;
  let i: i32 = 0;
  for (; i < len; i++) {
    let b = <u32>load<u8>(input + <usize>i);
    if (nocase) b = lower(b);
    const t = stepSparse(a, s, b);
    if (t & HAS_OUT) {
      const u = t & ~HAS_OUT;
      if (w + load<i32>(outCnt + (<usize>u << 2)) > cap) break;
      w = emit(info, u, i + 1, out, w);
    }
    s = t & ~HAS_OUT;
  }
  resPos = i;
  resOne = s;
  return w;
}

/** One step of either form: target | HAS_OUT. */
// @ts-ignore: decorator
@inline function stepAny(a: Automaton, s: u32, b: u32): u32 {
  if (a.kind == KIND_SPARSE) return stepSparse(a, s, a.nocase != 0 ? lower(b) : b);
  const e = load<u32>(a.table + (<usize>((s << 8) | b) << 2));
  return (e >>> 8) | (e << 31);
}

// @ts-ignore: decorator
@inline function countOf(a: Automaton, s: u32): i32 {
  return a.kind == KIND_SPARSE ? load<i32>(a.outCnt + (<usize>s << 2)) : outCount(a.info, s);
}

/** Both automata, at least one sparse (a mixed pattern set with many patterns). */
function scanDualMixed(a1: Automaton, a2: Automaton, st1: i32, st2: i32, input: usize, len: i32, out: usize, cap: i32): i32 {
  let s1 = <u32>st1;
  let s2 = <u32>st2;
  let w: i32 = 0;
  let i: i32 = 0;
  for (; i < len; i++) {
    const b = <u32>load<u8>(input + <usize>i);
    const n1 = stepAny(a1, s1, b);
    const n2 = stepAny(a2, s2, b);
    if ((n1 | n2) & HAS_OUT) {
      const u1 = n1 & ~HAS_OUT;
      const u2 = n2 & ~HAS_OUT;
      const c1 = n1 & HAS_OUT ? countOf(a1, u1) : 0;
      const c2 = n2 & HAS_OUT ? countOf(a2, u2) : 0;
      if (w + c1 + c2 > cap) break;
      if (c1) w = emit(a1.info, u1, i + 1, out, w);
      if (c2) w = emit(a2.info, u2, i + 1, out, w);
    }
    s1 = n1 & ~HAS_OUT;
    s2 = n2 & ~HAS_OUT;
  }
  resPos = i;
  resCs = <i32>s1;
  resCi = <i32>s2;
  return w;
}

export function scan(stCs: i32, stCi: i32, inPtr: i32, inLen: i32, outPtr: i32, outCap: i32): i32 {
  if (!built) return ERR_NOT_BUILT;
  if (inLen < 0 || outCap < 0) return ERR_BAD_ARG;
  if (!inBounds(<usize>inPtr, <u64>inLen) || !inBounds(<usize>outPtr, <u64>outCap << 3)) return ERR_BAD_ARG;
  const cs = changetype<Automaton>(csPtr);
  const ci = changetype<Automaton>(ciPtr);
  if (<u32>stCs >= <u32>max(cs.states, 1) || <u32>stCi >= <u32>max(ci.states, 1)) return ERR_BAD_STATE;
  if (outCap < cs.maxOut + ci.maxOut) return ERR_OUT_TOO_SMALL;
  const input = <usize>inPtr;
  const out = <usize>outPtr;
  if (cs.states > 0 && ci.states > 0) {
    if (cs.kind == KIND_DENSE && ci.kind == KIND_DENSE) return scanDual(cs, ci, stCs, stCi, input, inLen, out, outCap);
    return scanDualMixed(cs, ci, stCs, stCi, input, inLen, out, outCap);
  }
  if (cs.states > 0 || ci.states > 0) {
    const a = cs.states > 0 ? cs : ci;
    const st = cs.states > 0 ? stCs : stCi;
    const w = a.kind == KIND_DENSE ? scanOne(a, st, input, inLen, out, outCap) : scanOneSparse(a, st, input, inLen, out, outCap);
    resCs = cs.states > 0 ? <i32>resOne : 0;
    resCi = cs.states > 0 ? 0 : <i32>resOne;
    return w;
  }
  resPos = inLen;
  resCs = 0;
  resCi = 0;
  return 0;
}
