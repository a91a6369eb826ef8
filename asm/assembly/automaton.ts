// Aho-Corasick construction: pattern list -> full DFA transition table + output sets.
//
// One `Automaton` covers either the case-sensitive patterns or the case-insensitive ones. The
// case-insensitive automaton is the ordinary Aho-Corasick automaton of the ASCII-lowercased
// patterns, run over the ASCII-lowercased input; lowercasing the input is folded into the table
// (column 'A'..'Z' := column 'a'..'z' in every row), so scanning costs the same as case-sensitive.
// Correctness: pattern P (nocase) occurs at i in T  <=>  lower(P) occurs at i in lower(T), and
// delta_ci(s, b) = delta_lower(s, lower(b)) by construction.
//
// Layout after build (all in linear memory, temporaries compacted away):
//   table: states * 256 i32, entry = (target_state << 8) | (target has outputs ? 1 : 0)
//   info:  states * 16 bytes: [0] ownHead i32 (first pattern index ending exactly here, -1 none)
//                             [4] dictLink i32 (nearest proper-suffix state with own outputs; 0 none)
//                             [8] outCount i32 (size of the full output set of the state)
// Pattern indices of one state's own list are chained through the global patNext array (i32 per
// pattern, -1 ends), so duplicate patterns are all reported. The full output set of s is own(s),
// then own(dictLink(s)), own(dictLink(dictLink(s))), ... which enumerates in O(output) time.

import { calloc, heapTop, relocateDown } from "./mem";
import {
  BLOB_HEADER, ENTRY_HEADER, FLAG_NOCASE, MAX_STATES, OK, ERR_OOM, ERR_TOO_MANY_STATES,
} from "./codes";

@unmanaged
export class Automaton {
  table: usize;
  info: usize;
  states: i32;
  maxOut: i32;
}

// Trie node temporaries (16 bytes each): first child, next sibling, byte, own-output head.
// @ts-ignore: decorator
@inline function nFirst(nodes: usize, n: i32): i32 { return load<i32>(nodes + (<usize>n << 4)); }
// @ts-ignore: decorator
@inline function nNext(nodes: usize, n: i32): i32 { return load<i32>(nodes + (<usize>n << 4), 4); }
// @ts-ignore: decorator
@inline function nByte(nodes: usize, n: i32): i32 { return load<i32>(nodes + (<usize>n << 4), 8); }
// @ts-ignore: decorator
@inline function nOwn(nodes: usize, n: i32): i32 { return load<i32>(nodes + (<usize>n << 4), 12); }

// @ts-ignore: decorator
@inline function i32At(base: usize, idx: i32): i32 { return load<i32>(base + (<usize>idx << 2)); }
// @ts-ignore: decorator
@inline function setI32At(base: usize, idx: i32, v: i32): void { store<i32>(base + (<usize>idx << 2), v); }

/** Length of the own-output list starting at pattern index `p`. */
function listLength(patNext: usize, p: i32): i32 {
  let n = 0;
  while (p >= 0) {
    n++;
    p = i32At(patNext, p);
  }
  return n;
}

/**
 * Builds the automaton of the patterns in the (already validated) blob whose nocase flag equals
 * `nocase`. `nPats` and `sumLen` are their count and total length. Fills `a`; returns OK or an error.
 */
export function buildAutomaton(
  a: Automaton, blob: usize, count: i32, nocase: bool, nPats: i32, sumLen: u64, patNext: usize,
): i32 {
  a.table = 0;
  a.info = 0;
  a.states = 0;
  a.maxOut = 0;
  if (nPats == 0) return OK;

  const mark = heapTop();

  // 1. Trie with child lists (exact state count before the 1 KiB-per-state table is allocated).
  const maxNodes: u64 = sumLen + 1;
  const nodes = calloc(maxNodes << 4);
  if (nodes == 0) return ERR_OOM;
  store<i32>(nodes, -1, 12);
  let n: i32 = 1;
  let pos: usize = blob + BLOB_HEADER;
  for (let p: i32 = 0; p < count; p++) {
    const len = <usize>load<u32>(pos);
    const flags = load<u32>(pos, 4);
    const bytes = pos + ENTRY_HEADER;
    pos = bytes + len;
    if (((flags & FLAG_NOCASE) != 0) != nocase) continue;
    let cur: i32 = 0;
    for (let i: usize = 0; i < len; i++) {
      let b = <i32>load<u8>(bytes + i);
      if (nocase && b >= 0x41 && b <= 0x5a) b += 0x20;
      let c = nFirst(nodes, cur);
      while (c != 0 && nByte(nodes, c) != b) c = nNext(nodes, c);
      if (c == 0) {
        c = n++;
        const cn = nodes + (<usize>c << 4);
        store<i32>(cn, 0);
        store<i32>(cn, nFirst(nodes, cur), 4);
        store<i32>(cn, b, 8);
        store<i32>(cn, -1, 12);
        store<i32>(nodes + (<usize>cur << 4), c);
      }
      cur = c;
    }
    const tn = nodes + (<usize>cur << 4);
    setI32At(patNext, p, load<i32>(tn, 12));
    store<i32>(tn, p, 12);
  }
  const states = n;
  if (states >= MAX_STATES) return ERR_TOO_MANY_STATES;

  // 2. Temporaries for the BFS, then the persistent table + info (last, so they can move down).
  const fail = calloc(<u64>states << 2);
  if (fail == 0) return ERR_OOM;
  const queue = calloc(<u64>states << 2);
  if (queue == 0) return ERR_OOM;
  const tableSize = <usize>states << 10;
  const infoSize = <usize>states << 4;
  const table = calloc(<u64>tableSize + <u64>infoSize);
  if (table == 0) return ERR_OOM;
  const info = table + tableSize;

  for (let s: i32 = 0; s < states; s++) {
    const row = table + (<usize>s << 10);
    for (let c = nFirst(nodes, s); c != 0; c = nNext(nodes, c)) {
      store<i32>(row + (<usize>nByte(nodes, c) << 2), c);
    }
    store<i32>(info + (<usize>s << 4), nOwn(nodes, s));
    // dictLink (offset 4) and outCount (offset 8) are zero from calloc; root keeps them zero.
  }

  // 3. BFS: failure links, dictionary links, output counts, and the full transition function.
  //    A non-zero entry in a row not yet processed is a trie edge (no edge leads back to root).
  let qh: i32 = 0;
  let qt: i32 = 0;
  let maxOut: i32 = 0;
  for (let b: i32 = 0; b < 256; b++) {
    const s = load<i32>(table + (<usize>b << 2));
    if (s != 0) {
      setI32At(fail, s, 0);
      const si = info + (<usize>s << 4);
      const cnt = listLength(patNext, load<i32>(si));
      store<i32>(si, 0, 4);
      store<i32>(si, cnt, 8);
      if (cnt > maxOut) maxOut = cnt;
      setI32At(queue, qt++, s);
    }
  }
  while (qh < qt) {
    const r = i32At(queue, qh++);
    const f = i32At(fail, r);
    const rowR = table + (<usize>r << 10);
    const rowF = table + (<usize>f << 10);
    for (let b: usize = 0; b < 256; b++) {
      const s = load<i32>(rowR + (b << 2));
      const fb = load<i32>(rowF + (b << 2));
      if (s != 0) {
        setI32At(fail, s, fb);
        const si = info + (<usize>s << 4);
        const fi = info + (<usize>fb << 4);
        store<i32>(si, load<i32>(fi) >= 0 ? fb : load<i32>(fi, 4), 4);
        const cnt = listLength(patNext, load<i32>(si)) + load<i32>(fi, 8);
        store<i32>(si, cnt, 8);
        if (cnt > maxOut) maxOut = cnt;
        setI32At(queue, qt++, s);
      } else {
        store<i32>(rowR + (b << 2), fb);
      }
    }
  }

  // 4. Fold case into the table, then encode entries as (target << 8) | hasOutput.
  for (let s: i32 = 0; s < states; s++) {
    const row = table + (<usize>s << 10);
    if (nocase) memory.copy(row + (0x41 << 2), row + (0x61 << 2), 26 << 2);
    for (let b: usize = 0; b < 256; b++) {
      const t = load<i32>(row + (b << 2));
      const has = load<i32>(info + (<usize>t << 4), 8) > 0 ? 1 : 0;
      store<i32>(row + (b << 2), (t << 8) | has);
    }
  }

  // 5. Compact: move table + info down over the temporaries.
  relocateDown(mark, table, tableSize + infoSize);
  a.table = mark;
  a.info = mark + tableSize;
  a.states = states;
  a.maxOut = maxOut;
  return OK;
}
