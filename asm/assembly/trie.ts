// The automaton descriptor and the pattern trie shared by both automaton forms (automaton.ts:
// full DFA table; sparse.ts: compact goto edges + failure links).
//
// One `Automaton` covers either the case-sensitive patterns or the case-insensitive ones. The
// case-insensitive automaton is the ordinary Aho-Corasick automaton of the ASCII-lowercased
// patterns, run over the ASCII-lowercased input.

import { calloc } from "./mem";
import { BLOB_HEADER, ENTRY_HEADER, FLAG_NOCASE } from "./codes";

/** No patterns. */
export const KIND_EMPTY: i32 = 0;
/** Full DFA: 256 i32 per state (1 KiB), one table load per input byte; for small automata. */
export const KIND_DENSE: i32 = 1;
/** Sparse: 25 bytes per state (record, output count, one goto edge), failure links; large sets. */
export const KIND_SPARSE: i32 = 2;

/**
 * Layout of an automaton in linear memory (absolute pointers; `image.ts` stores them as offsets).
 *   dense:  table = states * 256 i32, entry = (target << 8) | (target has outputs ? 1 : 0);
 *           info  = states * 16 bytes: [0] ownHead, [4] dictLink, [8] outCount.
 *   sparse: rec   = (states + 1) * 16 bytes: [0] ownHead, [4] dictLink, [8] fail, [12] first edge
 *                   (the edges of s are [rec[s].first, rec[s + 1].first), sorted by byte);
 *           outCnt = states i32; eb = edge bytes (u8); et = edge targets (u32, bit 31 = has outputs);
 *           root = 256 u32: the root's goto for every byte (0 = stay at the root), flagged like et.
 * ownHead: first pattern index ending exactly here (-1 none), chained through patNext; dictLink:
 * nearest proper-suffix state with own outputs (0 none); the full output set of s is own(s), then
 * own(dictLink(s)), ... (enumerated in O(output)). `info` points at the per-state records in both
 * forms (rec for sparse: same offsets of ownHead and dictLink, same 16-byte stride).
 */
@unmanaged
export class Automaton {
  kind: i32;
  states: i32;
  maxOut: i32;
  nocase: i32;
  table: usize;
  info: usize;
  outCnt: usize;
  eb: usize;
  et: usize;
  root: usize;
}

// Trie node temporaries (16 bytes each): first child, next sibling, byte | depth << 8, own-output head.
// @ts-ignore: decorator
@inline export function nFirst(nodes: usize, n: i32): i32 { return load<i32>(nodes + (<usize>n << 4)); }
// @ts-ignore: decorator
@inline export function nNext(nodes: usize, n: i32): i32 { return load<i32>(nodes + (<usize>n << 4), 4); }
// @ts-ignore: decorator
@inline export function nByte(nodes: usize, n: i32): i32 { return load<i32>(nodes + (<usize>n << 4), 8) & 0xff; }
// @ts-ignore: decorator
@inline export function nDepth(nodes: usize, n: i32): i32 { return load<i32>(nodes + (<usize>n << 4), 8) >>> 8; }
// @ts-ignore: decorator
@inline export function nOwn(nodes: usize, n: i32): i32 { return load<i32>(nodes + (<usize>n << 4), 12); }

/** Length of the own-output list starting at pattern index `p`. */
export function listLength(patNext: usize, p: i32): i32 {
  let n = 0;
  while (p >= 0) {
    n++;
    p = load<i32>(patNext + (<usize>p << 2));
  }
  return n;
}

let trieStates: i32 = 0;
let deepest: i32 = 0;

/** Node count of the last trie built by buildTrie (root included). */
export function trieSize(): i32 {
  return trieStates;
}

/** Depth of the deepest node of the last trie built by buildTrie (its longest pattern). */
export function trieDepth(): i32 {
  return deepest;
}

/** ASCII-lowercases b when nocase. */
// @ts-ignore: decorator
@inline function foldIf(nocase: bool, b: i32): i32 {
  return nocase && b >= 0x41 && b <= 0x5a ? b + 0x20 : b;
}

/**
 * Builds the trie of the (already validated) blob's patterns whose nocase flag equals `nocase`
 * (`sumLen`: their total length), chaining duplicate patterns through patNext. Returns the node
 * array (16 bytes per node, trieSize() nodes, node 0 = root), or 0 if memory runs out.
 *
 * Patterns are inserted grouped by their first two bytes (a stable counting sort), so the children
 * of the crowded nodes near the root are created close together in memory: inserting 100,000
 * random keywords in list order missed the cache on nearly every sibling-list step and took twice
 * as long. Duplicates keep their relative order.
 */
export function buildTrie(blob: usize, count: i32, nocase: bool, sumLen: u64, patNext: usize): usize {
  const offs = calloc(<u64>count << 2);
  const cnt = calloc(65537 << 2);
  const order = calloc(<u64>count << 2);
  const nodes = calloc((sumLen + 1) << 4);
  if (offs == 0 || cnt == 0 || order == 0 || nodes == 0) return 0;
  let pos: usize = blob + BLOB_HEADER;
  let sel: i32 = 0;
  for (let p: i32 = 0; p < count; p++) {
    const len = <usize>load<u32>(pos);
    const flags = load<u32>(pos, 4);
    store<u32>(offs + (<usize>p << 2), <u32>(pos - blob));
    if (((flags & FLAG_NOCASE) != 0) == nocase) {
      const k = (foldIf(nocase, load<u8>(pos + ENTRY_HEADER)) << 8) | (len > 1 ? foldIf(nocase, load<u8>(pos + ENTRY_HEADER + 1)) : 0);
      const c = cnt + (<usize>(k + 1) << 2);
      store<u32>(c, load<u32>(c) + 1);
      sel++;
    }
    pos += ENTRY_HEADER + len;
  }
  for (let k: usize = 1; k <= 65536; k++) store<u32>(cnt + (k << 2), load<u32>(cnt + (k << 2)) + load<u32>(cnt + ((k - 1) << 2)));
  for (let p: i32 = 0; p < count; p++) {
    const e = blob + <usize>load<u32>(offs + (<usize>p << 2));
    if (((load<u32>(e, 4) & FLAG_NOCASE) != 0) != nocase) continue;
    const len = load<u32>(e);
    const k = (foldIf(nocase, load<u8>(e + ENTRY_HEADER)) << 8) | (len > 1 ? foldIf(nocase, load<u8>(e + ENTRY_HEADER + 1)) : 0);
    const c = cnt + (<usize>k << 2);
    const at = load<u32>(c);
    store<u32>(c, at + 1);
    store<i32>(order + (<usize>at << 2), p);
  }

  store<i32>(nodes, -1, 12);
  let n: i32 = 1;
  deepest = 0;
  for (let j: i32 = 0; j < sel; j++) {
    const p = load<i32>(order + (<usize>j << 2));
    const e = blob + <usize>load<u32>(offs + (<usize>p << 2));
    const len = <usize>load<u32>(e);
    const bytes = e + ENTRY_HEADER;
    let cur: i32 = 0;
    for (let i: usize = 0; i < len; i++) {
      const b = foldIf(nocase, <i32>load<u8>(bytes + i));
      let c = nFirst(nodes, cur);
      while (c != 0 && nByte(nodes, c) != b) c = nNext(nodes, c);
      if (c == 0) {
        c = n++;
        const cn = nodes + (<usize>c << 4);
        store<i32>(cn, 0);
        store<i32>(cn, nFirst(nodes, cur), 4);
        store<i32>(cn, b | (<i32>(i + 1) << 8), 8);
        store<i32>(cn, -1, 12);
        store<i32>(nodes + (<usize>cur << 4), c);
      }
      cur = c;
    }
    if (<i32>len > deepest) deepest = <i32>len;
    const tn = nodes + (<usize>cur << 4);
    store<i32>(patNext + (<usize>p << 2), load<i32>(tn, 12));
    store<i32>(tn, p, 12);
  }
  trieStates = n;
  return nodes;
}
