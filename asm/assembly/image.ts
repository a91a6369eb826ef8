// Matcher image: a built matcher (both automata and the duplicate-pattern chain) as one
// position-independent byte block, so that a matcher built in one instance (a worker thread, or a
// throwaway instance whose memory is full of build temporaries) is adopted by another with one copy.
//
// Layout (u32 little-endian words; every part 16-byte aligned, offsets from the image start):
//   [0] IMG_MAGIC  [1] IMG_VERSION  [2] total bytes  [3] pattern count  [4] patNext offset
//   [8 + 12a ..] automaton a (0 = case-sensitive, 1 = case-insensitive): kind, states, maxOut,
//   nocase, offsets of table, info, outCnt, eb, et, root (0 = unused), 2 reserved words.
// Part sizes follow from kind and states (see Automaton in trie.ts).

import { Automaton, KIND_DENSE, KIND_EMPTY, KIND_SPARSE } from "./trie";
import { MAX_STATES } from "./codes";

export const IMG_MAGIC: u32 = 0x31474d50; // "PMG1"
export const IMG_VERSION: u32 = 1;
export const IMG_HEADER: u32 = 128;

// @ts-ignore: decorator
@inline function a16(x: u64): u64 {
  return (x + 15) & ~(<u64>15);
}

/** Sizes of part k (0 table, 1 info, 2 outCnt, 3 eb, 4 et, 5 root) of an automaton; 0 if unused. */
function partBytes(kind: i32, states: u64, k: i32): u64 {
  if (kind == KIND_DENSE) return k == 0 ? states << 10 : k == 1 ? states << 4 : 0;
  if (kind != KIND_SPARSE) return 0;
  if (k == 1) return (states + 1) << 4;
  if (k == 2 || k == 4) return states << 2;
  if (k == 3) return states;
  return k == 5 ? 1024 : 0;
}

// @ts-ignore: decorator
@inline function partPtr(a: Automaton, k: i32): usize {
  return k == 0 ? a.table : k == 1 ? a.info : k == 2 ? a.outCnt : k == 3 ? a.eb : k == 4 ? a.et : a.root;
}

// @ts-ignore: decorator
@inline function setPart(a: Automaton, k: i32, p: usize): void {
  if (k == 0) a.table = p;
  else if (k == 1) a.info = p;
  else if (k == 2) a.outCnt = p;
  else if (k == 3) a.eb = p;
  else if (k == 4) a.et = p;
  else a.root = p;
}

/** Bytes of the image of automata `cs`, `ci` with `count` patterns. */
export function imageBytes(cs: Automaton, ci: Automaton, count: i32): u64 {
  let n = <u64>IMG_HEADER + a16(<u64>count << 2);
  for (let k = 0; k < 6; k++) n += a16(partBytes(cs.kind, <u64>cs.states, k)) + a16(partBytes(ci.kind, <u64>ci.states, k));
  return n;
}

/** Writes the image (imageBytes() bytes, zeroed) at dst. */
export function writeImage(dst: usize, cs: Automaton, ci: Automaton, patNext: usize, count: i32): void {
  const total = imageBytes(cs, ci, count);
  store<u32>(dst, IMG_MAGIC);
  store<u32>(dst, IMG_VERSION, 4);
  store<u32>(dst, <u32>total, 8);
  store<u32>(dst, <u32>count, 12);
  let off = <usize>IMG_HEADER;
  store<u32>(dst, <u32>off, 16);
  memory.copy(dst + off, patNext, <usize>count << 2);
  off += <usize>a16(<u64>count << 2);
  for (let w = 0; w < 2; w++) {
    const a = w == 0 ? cs : ci;
    const h = dst + 32 + <usize>w * 48;
    store<i32>(h, a.kind);
    store<i32>(h, a.states, 4);
    store<i32>(h, a.maxOut, 8);
    store<i32>(h, a.nocase, 12);
    for (let k = 0; k < 6; k++) {
      const size = <usize>partBytes(a.kind, <u64>a.states, k);
      if (size == 0) continue;
      store<u32>(h + 16 + (<usize>k << 2), <u32>off);
      memory.copy(dst + off, partPtr(a, k), size);
      off += <usize>a16(size);
    }
  }
}

/**
 * Adopts the image at src (len bytes) in place: fills `cs` and `ci` with pointers into it.
 * Returns the patNext pointer, or 0 if the header is inconsistent (magic, version, length, kinds,
 * state counts, a part outside the image). Part contents are trusted (images come from build()).
 */
export function readImage(src: usize, len: u32, cs: Automaton, ci: Automaton): usize {
  if (len < IMG_HEADER || load<u32>(src) != IMG_MAGIC || load<u32>(src, 4) != IMG_VERSION || load<u32>(src, 8) != len) return 0;
  const count = <u64>load<u32>(src, 12);
  const pn = <u64>load<u32>(src, 16);
  if (pn < <u64>IMG_HEADER || pn + (count << 2) > <u64>len) return 0;
  for (let w = 0; w < 2; w++) {
    const a = w == 0 ? cs : ci;
    const h = src + 32 + <usize>w * 48;
    a.kind = load<i32>(h);
    a.states = load<i32>(h, 4);
    a.maxOut = load<i32>(h, 8);
    a.nocase = load<i32>(h, 12);
    if (a.kind != KIND_EMPTY && a.kind != KIND_DENSE && a.kind != KIND_SPARSE) return 0;
    if (a.kind == KIND_EMPTY ? a.states != 0 : a.states < 1 || a.maxOut < 0) return 0;
    if (a.kind == KIND_DENSE && a.states >= MAX_STATES) return 0;
    for (let k = 0; k < 6; k++) {
      const size = partBytes(a.kind, <u64>a.states, k);
      const off = <u64>load<u32>(h + 16 + (<usize>k << 2));
      if (size == 0) continue;
      if (off < <u64>IMG_HEADER || off + size > <u64>len) return 0;
      setPart(a, k, src + <usize>off);
    }
  }
  return src + <usize>pn;
}
