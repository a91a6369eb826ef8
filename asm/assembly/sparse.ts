// Aho-Corasick construction and transition function, sparse form (issue 14, item 6: keyword lists).
//
// The dense form costs 1 KiB per state (a 256-entry row): 100,000 keywords of 10 bytes (about a
// million states) took 0.8 GB. The sparse form keeps what the automaton needs and nothing more:
// per state a 16-byte record (own outputs, dictionary link, failure link, first goto edge) and an
// output count, per trie edge one byte and one target (every state but the root has exactly one
// incoming trie edge): 25 bytes per state, plus the root's full 256-entry goto row. Layout: see
// Automaton in trie.ts.
//
// Scanning follows Aho & Corasick's goto/failure machine: from state s on byte b take s's edge b if
// it has one, else move to fail(s) and retry; the root answers every byte from its row. Each input
// byte deepens the state by at most one and each failure step makes it shallower, so a buffer of
// n bytes costs at most 2n edge lookups (linear time, whatever the input). Edge lookup: a linear
// scan for up to 8 edges (almost every state has one), binary search above that. Case-insensitive
// automata lowercase the input byte first (the trie holds lowercased patterns).

import { calloc } from "./mem";
import { OK, ERR_OOM } from "./codes";
import { Automaton, KIND_SPARSE, listLength, nByte, nDepth, nFirst, nNext, nOwn, trieDepth } from "./trie";

/** Bit of an edge target / root entry: the target state has outputs. */
export const HAS_OUT: u32 = 0x80000000;

/** ASCII lowercase. */
// @ts-ignore: decorator
@inline export function lower(b: u32): u32 {
  return b - 0x41 < 26 ? b | 0x20 : b;
}

/** Index of the edge with byte b among edges [lo, hi) (sorted by byte), or -1. */
// @ts-ignore: decorator
@inline function findEdge(eb: usize, lo: u32, hi: u32, b: u32): i32 {
  if (hi - lo <= 8) {
    for (let e = lo; e < hi; e++) if (<u32>load<u8>(eb + <usize>e) == b) return <i32>e;
    return -1;
  }
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = <u32>load<u8>(eb + <usize>mid);
    if (v == b) return <i32>mid;
    if (v < b) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

/** goto/failure transition of sparse automaton `a` from state s on byte b (already folded): target | HAS_OUT. */
// @ts-ignore: decorator
@inline export function stepSparse(a: Automaton, s: u32, b: u32): u32 {
  const rec = a.info;
  while (s != 0) {
    const r = rec + (<usize>s << 4);
    const e = findEdge(a.eb, load<u32>(r, 12), load<u32>(r, 28), b);
    if (e >= 0) return load<u32>(a.et + (<usize>e << 2));
    s = load<u32>(r, 8);
  }
  return load<u32>(a.root + (<usize>b << 2));
}

/**
 * Builds the sparse automaton of the trie `nodes` (`states` nodes). Fills `a`; returns OK or
 * ERR_OOM. The trie and one BFS queue are the only temporaries.
 */
export function buildSparse(a: Automaton, nodes: usize, states: i32, nocase: bool, patNext: usize): i32 {
  const n = <u64>states;
  const rec = calloc((n + 1) << 4);
  const outCnt = calloc(n << 2);
  const eb = calloc(n);
  const et = calloc(n << 2);
  const root = calloc(1024);
  const queue = calloc(n << 2);
  if (rec == 0 || outCnt == 0 || eb == 0 || et == 0 || root == 0 || queue == 0) return ERR_OOM;
  a.kind = KIND_SPARSE;
  a.states = states;
  a.nocase = nocase ? 1 : 0;
  a.info = rec;
  a.outCnt = outCnt;
  a.eb = eb;
  a.et = et;
  a.root = root;

  // 1. Goto edges per state (CSR), each state's slice sorted by byte (insertion sort: slices are
  //    short but for a few states near the root).
  let pos: u32 = 0;
  for (let s: i32 = 0; s < states; s++) {
    const r = rec + (<usize>s << 4);
    store<i32>(r, nOwn(nodes, s));
    store<u32>(r, pos, 12);
    const first = pos;
    for (let c = nFirst(nodes, s); c != 0; c = nNext(nodes, c)) {
      const b = <u8>nByte(nodes, c);
      let j = pos++;
      while (j > first && load<u8>(eb + <usize>(j - 1)) > b) {
        store<u8>(eb + <usize>j, load<u8>(eb + <usize>(j - 1)));
        store<u32>(et + (<usize>j << 2), load<u32>(et + (<usize>(j - 1) << 2)));
        j--;
      }
      store<u8>(eb + <usize>j, b);
      store<u32>(et + (<usize>j << 2), <u32>c);
    }
  }
  store<u32>(rec + (<usize>states << 4), pos, 12);
  for (let e = load<u32>(rec, 12); e < load<u32>(rec, 28); e++) {
    store<u32>(root + (<usize>load<u8>(eb + <usize>e) << 2), load<u32>(et + (<usize>e << 2)));
  }

  // 2. Breadth-first: failure links, dictionary links, output counts. Parents are taken by depth,
  //    and by id within a depth (a counting sort), not from a FIFO queue: node ids follow insertion
  //    order, so this walks the records and edges nearly sequentially (a FIFO order jumps around
  //    memory and made the build miss the cache on every node). fail and dictLink of the root's
  //    children stay 0 from calloc.
  const maxDepth = trieDepth();
  const cnt = calloc(<u64>(maxDepth + 2) << 2);
  if (cnt == 0) return ERR_OOM;
  for (let s: i32 = 0; s < states; s++) {
    const c = cnt + (<usize>(nDepth(nodes, s) + 1) << 2);
    store<u32>(c, load<u32>(c) + 1);
  }
  for (let d: i32 = 1; d <= maxDepth + 1; d++) {
    const c = cnt + (<usize>d << 2);
    store<u32>(c, load<u32>(c) + load<u32>(c - 4));
  }
  for (let s: i32 = 0; s < states; s++) {
    const c = cnt + (<usize>nDepth(nodes, s) << 2);
    const at = load<u32>(c);
    store<u32>(c, at + 1);
    store<u32>(queue + (<usize>at << 2), <u32>s);
  }
  let maxOut: i32 = 0;
  for (let e = load<u32>(rec, 12); e < load<u32>(rec, 28); e++) {
    const c = load<u32>(et + (<usize>e << 2));
    const cnt1 = listLength(patNext, load<i32>(rec + (<usize>c << 4)));
    store<i32>(outCnt + (<usize>c << 2), cnt1);
    if (cnt1 > maxOut) maxOut = cnt1;
  }
  for (let qh: i32 = 1; qh < states; qh++) {
    const r = load<u32>(queue + (<usize>qh << 2));
    const rr = rec + (<usize>r << 4);
    const f = load<u32>(rr, 8);
    for (let e = load<u32>(rr, 12); e < load<u32>(rr, 28); e++) {
      const c = load<u32>(et + (<usize>e << 2));
      const t = stepSparse(a, f, <u32>load<u8>(eb + <usize>e)) & ~HAS_OUT;
      const cr = rec + (<usize>c << 4);
      const tr = rec + (<usize>t << 4);
      store<u32>(cr, t, 8);
      store<u32>(cr, load<i32>(tr) >= 0 ? t : load<u32>(tr, 4), 4);
      const n1 = listLength(patNext, load<i32>(cr)) + load<i32>(outCnt + (<usize>t << 2));
      store<i32>(outCnt + (<usize>c << 2), n1);
      if (n1 > maxOut) maxOut = n1;
    }
  }
  a.maxOut = maxOut;

  // 3. Flag targets that have outputs (one bit test per input byte in the scan loop).
  for (let e: u32 = 0; e < pos; e++) {
    const p = et + (<usize>e << 2);
    const t = load<u32>(p);
    if (load<i32>(outCnt + (<usize>t << 2)) > 0) store<u32>(p, t | HAS_OUT);
  }
  for (let b: usize = 0; b < 256; b++) {
    const p = root + (b << 2);
    const t = load<u32>(p);
    if (t != 0 && load<i32>(outCnt + (<usize>t << 2)) > 0) store<u32>(p, t | HAS_OUT);
  }
  return OK;
}
