/**
 * Turning atom occurrences into signature matches (linear time, no backtracking).
 *
 * Match semantics (also the reference in test/scan/sigdb.property.test.ts): a match of a signature
 * is a pair (start, end) such that input[start, end) is in the language of its body and `start`
 * satisfies its offset. For every signature and every `end` at which at least one match ends, one
 * report is made, with the smallest (leftmost) such `start`. For fixed-length bodies this is every
 * occurrence; for `A*B` it is every occurrence of B after the first A, reported from that first A
 * ("greedy-earliest").
 *
 * Algorithm: atom occurrences (verified by the engine) are processed in order of their end. A
 * variant seg0 gap1 seg1 ... is a chain; for each gap we keep the partial matches (end e', leftmost
 * start s') of the segments before it. An occurrence of segment j starting at p extends the chain
 * iff some partial has p - e' in [min, max]; its start is the minimum s' over those, a sliding-window
 * minimum kept with a monotone deque (bounded gaps) or a single running minimum (unbounded gaps),
 * so each occurrence costs amortised O(1) and memory per gap is bounded by max + longest atom.
 */
import { OFF_ABS, OFF_ANY, OFF_EOF, type DbMeta } from './compile.js';

/** Partial matches waiting at one gap of one variant, for one stream. */
export class GapState {
  private pe: number[] = []; // pending (not yet eligible) ends, increasing
  private ps: number[] = [];
  private ph = 0;
  private min = Infinity; // unbounded gap: smallest eligible start
  private de: number[] = []; // bounded gap: monotone deque of eligible (end, start)
  private ds: number[] = [];
  private dh = 0;

  constructor(readonly lo: number, readonly hi: number) {}

  /** Adds a partial match ending at `e` whose leftmost start is `s` (ends arrive non-decreasing). */
  push(e: number, s: number): void {
    if (this.hi === Infinity) {
      if (s >= this.min) return; // dominated: the eligible minimum never expires
      if (this.pe.length > this.ph && this.ps[this.ps.length - 1] <= s) return;
    }
    this.pe.push(e);
    this.ps.push(s);
  }

  /** Brings the state to query position `p` (the next segment's start); p never decreases by much. */
  advance(p: number): void {
    const lim = p - this.lo;
    while (this.ph < this.pe.length && this.pe[this.ph] <= lim) {
      const e = this.pe[this.ph];
      const s = this.ps[this.ph++];
      if (this.hi === Infinity) {
        if (s < this.min) this.min = s;
      } else {
        while (this.de.length > this.dh && this.ds[this.ds.length - 1] >= s) {
          this.de.pop();
          this.ds.pop();
        }
        this.de.push(e);
        this.ds.push(s);
      }
    }
    if (this.hi !== Infinity) {
      const floor = p - this.hi;
      while (this.dh < this.de.length && this.de[this.dh] < floor) this.dh++;
      if (this.dh > 256 && this.dh * 2 > this.de.length) {
        this.de = this.de.slice(this.dh);
        this.ds = this.ds.slice(this.dh);
        this.dh = 0;
      }
    }
    if (this.ph > 256 && this.ph * 2 > this.pe.length) {
      this.pe = this.pe.slice(this.ph);
      this.ps = this.ps.slice(this.ph);
      this.ph = 0;
    }
  }

  /** Leftmost start of a partial match that a segment starting at `p` can extend, or Infinity. */
  query(p: number): number {
    this.advance(p);
    return this.hi === Infinity ? this.min : this.dh < this.de.length ? this.ds[this.dh] : Infinity;
  }

  /** Entries held (for memory accounting in tests). */
  get held(): number {
    return this.pe.length - this.ph + this.de.length - this.dh;
  }
}

/** Per-owner fast-path flags: 1 = report directly (single segment, single variant, offset `*`). */
export function directOwners(meta: DbMeta): Uint8Array {
  const d = new Uint8Array(meta.ownerVar.length);
  for (let o = 0; o < d.length; o++) {
    const v = meta.ownerVar[o];
    const sig = meta.varSig[v];
    d[o] = meta.varNSeg[v] === 1 && meta.sigNVar[sig] === 1 && meta.sigOff[sig] === OFF_ANY ? 1 : 0;
  }
  return d;
}

/** Scan mode of processEvents: normal pass (every signature except EOF-anchored ones). */
export const MODE_NORMAL = 0;
/** Scan mode of processEvents: end-of-stream pass over the tail (EOF-anchored signatures only). */
export const MODE_EOF = 1;

/**
 * Converts the engine's (atom, end) pairs into (sig, start, end) triples appended to `out`.
 * `absStart` is the absolute offset of the scanned buffer; `gaps` is the stream's chain state
 * (created on demand); in MODE_EOF only EOF-anchored signatures count and `size` is the stream size.
 */
export function processEvents(
  meta: DbMeta, direct: Uint8Array, maxAtomLen: number, events: Int32Array, n: number, absStart: number,
  gaps: Map<number, GapState>, mode: number, size: number, out: number[],
): void {
  const { ownerStart, ownerVar, ownerSeg, varSig, atomLen, sigOff } = meta;
  let slow: number[] | null = null; // (owner, atom, end) triples
  for (let i = 0; i < 2 * n; i += 2) {
    const atom = events[i];
    const end = absStart + events[i + 1];
    for (let o = ownerStart[atom], oe = ownerStart[atom + 1]; o < oe; o++) {
      if (direct[o] === 1) {
        if (mode === MODE_NORMAL) out.push(varSig[ownerVar[o]], end - atomLen[atom], end);
      } else {
        const eof = sigOff[varSig[ownerVar[o]]] === OFF_EOF;
        if (eof === (mode === MODE_EOF)) (slow ??= []).push(o, atom, end);
      }
    }
  }
  if (slow === null) return;
  const sl: number[] = slow;
  const order = Array.from({ length: sl.length / 3 }, (_, k) => k);
  order.sort((x, y) => sl[3 * x + 2] - sl[3 * y + 2] || x - y);
  let multi: Map<string, number[]> | null = null;
  for (const k of order) {
    const o = sl[3 * k];
    const end = sl[3 * k + 2];
    const v = ownerVar[o];
    const j = ownerSeg[o];
    const sig = varSig[v];
    const p = end - atomLen[sl[3 * k + 1]];
    let s: number;
    if (j === 0) {
      const kind = sigOff[sig];
      if (kind === OFF_ABS || kind === OFF_EOF) {
        const lo = kind === OFF_ABS ? meta.sigN[sig] : size - meta.sigN[sig];
        if (p < lo || p > lo + meta.sigShift[sig]) continue;
      }
      s = p;
    } else {
      const g = gaps.get(meta.varGap0[v] + j - 1);
      if (g === undefined) continue;
      s = g.query(p);
      if (s === Infinity) continue;
    }
    if (j === meta.varNSeg[v] - 1) {
      if (meta.sigNVar[sig] === 1) out.push(sig, s, end);
      else {
        const key = `${sig}:${end}`;
        const prev = (multi ??= new Map()).get(key);
        if (prev === undefined) multi.set(key, [sig, s, end]);
        else if (s < prev[1]) prev[1] = s;
      }
    } else {
      const gi = meta.varGap0[v] + j;
      let g = gaps.get(gi);
      if (g === undefined) gaps.set(gi, (g = new GapState(meta.gapMin[gi], meta.gapMax[gi])));
      g.advance(end - maxAtomLen);
      g.push(end, s);
    }
  }
  if (multi !== null) for (const t of multi.values()) out.push(t[0], t[1], t[2]);
}
