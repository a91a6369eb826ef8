// Aho-Corasick construction, dense form: trie (trie.ts) -> full DFA transition table + output sets.
//
// The case-insensitive automaton folds lowercasing of the input into the table (column 'A'..'Z' :=
// column 'a'..'z' in every row), so scanning costs the same as case-sensitive. Correctness: pattern
// P (nocase) occurs at i in T  <=>  lower(P) occurs at i in lower(T), and delta_ci(s, b) =
// delta_lower(s, lower(b)) by construction. Layout: see Automaton in trie.ts. One table load per
// input byte, 1 KiB per state: used for small automata (the classifier's signatures); large ones
// (keyword lists) use the sparse form (sparse.ts).

import { relocateDown, calloc } from "./mem";
import { OK, ERR_OOM } from "./codes";
import { Automaton, KIND_DENSE, listLength, nByte, nFirst, nNext, nOwn } from "./trie";

// @ts-ignore: decorator
@inline function i32At(base: usize, idx: i32): i32 { return load<i32>(base + (<usize>idx << 2)); }
// @ts-ignore: decorator
@inline function setI32At(base: usize, idx: i32, v: i32): void { store<i32>(base + (<usize>idx << 2), v); }

/**
 * Builds the dense automaton of the trie `nodes` (`states` nodes, allocated at heap mark `mark`,
 * the temporaries above it are compacted away). Fills `a`; returns OK or ERR_OOM.
 */
export function buildDense(a: Automaton, mark: usize, nodes: usize, states: i32, nocase: bool, patNext: usize): i32 {
  // 1. Temporaries for the BFS, then the persistent table + info (last, so they can move down).
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

  // 2. BFS: failure links, dictionary links, output counts, and the full transition function.
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

  // 3. Fold case into the table, then encode entries as (target << 8) | hasOutput.
  for (let s: i32 = 0; s < states; s++) {
    const row = table + (<usize>s << 10);
    if (nocase) memory.copy(row + (0x41 << 2), row + (0x61 << 2), 26 << 2);
    for (let b: usize = 0; b < 256; b++) {
      const t = load<i32>(row + (b << 2));
      const has = load<i32>(info + (<usize>t << 4), 8) > 0 ? 1 : 0;
      store<i32>(row + (b << 2), (t << 8) | has);
    }
  }

  // 4. Compact: move table + info down over the temporaries.
  relocateDown(mark, table, tableSize + infoSize);
  a.kind = KIND_DENSE;
  a.table = mark;
  a.info = mark + tableSize;
  a.states = states;
  a.maxOut = maxOut;
  a.nocase = nocase ? 1 : 0;
  return OK;
}
