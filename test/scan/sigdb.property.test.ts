/**
 * SigDatabase vs a naive reference matcher (fast-check): random signatures using every construct of
 * the pattern language, random inputs, random split points, three scan modes (one-shot, streaming,
 * chunked with tiny buffers and flushes). The reference is the definition in src/sigscan/chain.ts:
 * for every end offset at which a match ends, one report with the leftmost start.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SigDatabase } from '../../src/sigscan/sigdb.js';
import type { BodySigSource } from '../../src/sigscan/compile.js';

type Item =
  | { k: 'byte'; b: number }
  | { k: 'nib'; hi: number | null; lo: number | null }
  | { k: 'any' }
  | { k: 'set'; bytes: number[]; neg: boolean }
  | { k: 'alt'; branches: number[][] }
  | { k: 'gap'; min: number; max: number; form: 'fixed' | 'range' | 'upto' | 'from' | 'star' | 'bracket' };
type Off = { kind: 'any' } | { kind: 'abs' | 'eof'; n: number; shift: number };
interface Sig {
  items: Item[];
  nocase: boolean;
  off: Off;
}
type Hit = [sig: number, start: number, end: number];

const ALPHA = [0x41, 0x42, 0x61, 0x62, 0x4a, 0x00, 0xff, 0x14];
const hex = (b: number): string => b.toString(16).padStart(2, '0');
const letter = (x: number): boolean => (x >= 0x41 && x <= 0x5a) || (x >= 0x61 && x <= 0x7a);
/** Bytes that `x` may stand for: itself, plus the other case of an ASCII letter under nocase. */
const spellings = (x: number, nocase: boolean): number[] => (nocase && letter(x) ? [x, x ^ 0x20] : [x]);

function posMatches(it: Item, x: number): boolean {
  switch (it.k) {
    case 'byte':
      return x === it.b;
    case 'nib':
      return (it.hi === null || x >> 4 === it.hi) && (it.lo === null || (x & 15) === it.lo);
    case 'any':
      return true;
    case 'set':
      return it.bytes.includes(x) !== it.neg;
    default:
      return false;
  }
}

/**
 * Leftmost start of a match ending at each offset: best[t] = smallest allowed start s such that
 * input[s, t) matches the items (Infinity if none). A DP straight from the definition of each
 * construct; min distributes over the union of matches, so best[t] is exact.
 */
function leftmostStarts(items: Item[], input: Uint8Array, nocase: boolean, lo: number, hi: number): number[] {
  const n = input.length;
  let cur = new Array<number>(n + 1).fill(Infinity);
  for (let s = Math.max(0, lo); s <= Math.min(n, hi); s++) cur[s] = s;
  const ok = (it: Item, at: number): boolean => at < n && spellings(input[at], nocase).some((y) => posMatches(it, y));
  for (const it of items) {
    const next = new Array<number>(n + 1).fill(Infinity);
    for (let t = 0; t <= n; t++) {
      if (it.k === 'gap') {
        for (let e = Math.max(0, t - (it.max === Infinity ? n : it.max)); e <= t - it.min; e++) next[t] = Math.min(next[t], cur[e]);
      } else if (it.k === 'alt') {
        for (const br of it.branches) {
          const e = t - br.length;
          if (e >= 0 && br.every((b, i) => ok({ k: 'byte', b }, e + i))) next[t] = Math.min(next[t], cur[e]);
        }
      } else if (t > 0 && ok(it, t - 1)) {
        next[t] = cur[t - 1];
      }
    }
    cur = next;
  }
  return cur;
}

/** Reference reports of all signatures over a complete input. */
function reference(sigs: Sig[], input: Uint8Array): Hit[] {
  const hits: Hit[] = [];
  sigs.forEach((sig, id) => {
    const n = input.length;
    let lo = 0;
    let hi = n;
    if (sig.off.kind === 'abs') (lo = sig.off.n), (hi = sig.off.n + sig.off.shift);
    if (sig.off.kind === 'eof') (lo = n - sig.off.n), (hi = n - sig.off.n + sig.off.shift);
    leftmostStarts(sig.items, input, sig.nocase, lo, hi).forEach((s, e) => {
      if (s !== Infinity) hits.push([id, s, e]);
    });
  });
  return sortHits(hits);
}

const sortHits = (h: Hit[]): Hit[] => [...h].sort((a, b) => a[0] - b[0] || a[2] - b[2] || a[1] - b[1]);

function render(items: Item[]): string {
  return items.map((it): string => {
    switch (it.k) {
      case 'byte':
        return hex(it.b);
      case 'nib':
        return (it.hi === null ? '?' : it.hi.toString(16)) + (it.lo === null ? '?' : it.lo.toString(16));
      case 'any':
        return '??';
      case 'set':
        return `${it.neg ? '!' : ''}(${it.bytes.map(hex).join('|')})`;
      case 'alt':
        return `(${it.branches.map((br) => br.map(hex).join('')).join('|')})`;
      case 'gap':
        return it.form === 'star' ? '*' : it.form === 'fixed' ? `{${it.min}}` : it.form === 'range' ? `{${it.min}-${it.max}}`
          : it.form === 'upto' ? `{-${it.max}}` : it.form === 'from' ? `{${it.min}-}` : `[${it.min}-${it.max}]`;
    }
  }).join('');
}

const byteArb = fc.oneof({ arbitrary: fc.constantFrom(...ALPHA), weight: 6 }, { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 });
const posArb: fc.Arbitrary<Item> = fc.oneof(
  { arbitrary: byteArb.map((b): Item => ({ k: 'byte', b })), weight: 12 },
  { arbitrary: fc.record({ hi: fc.option(fc.constantFrom(4, 6, 0)), lo: fc.option(fc.constantFrom(1, 2, 0xa)) }).filter((r) => r.hi === null || r.lo === null).map((r): Item => ({ k: 'nib', hi: r.hi, lo: r.lo })), weight: 2 },
  { arbitrary: fc.constant<Item>({ k: 'any' }), weight: 1 },
  { arbitrary: fc.record({ bytes: fc.uniqueArray(byteArb, { minLength: 2, maxLength: 3 }), neg: fc.boolean() }).map((r): Item => ({ k: 'set', ...r })), weight: 2 },
  { arbitrary: fc.uniqueArray(fc.array(byteArb, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 3, selector: (a) => a.join(',') }).filter((bs) => bs.some((b) => b.length > 1)).map((branches): Item => ({ k: 'alt', branches })), weight: 1 },
);
const gapArb: fc.Arbitrary<Item> = fc.oneof(
  fc.integer({ min: 0, max: 40 }).map((n): Item => ({ k: 'gap', min: n, max: n, form: 'fixed' })),
  fc.tuple(fc.nat(4), fc.nat(5)).map(([a, d]): Item => ({ k: 'gap', min: a, max: a + d, form: 'range' })),
  fc.nat(5).map((n): Item => ({ k: 'gap', min: 0, max: n, form: 'upto' })),
  fc.nat(4).map((n): Item => ({ k: 'gap', min: n, max: Infinity, form: 'from' })),
  fc.constant<Item>({ k: 'gap', min: 0, max: Infinity, form: 'star' }),
  fc.tuple(fc.nat(3), fc.nat(3)).map(([a, d]): Item => ({ k: 'gap', min: a, max: a + d, form: 'bracket' })),
);
/** 1-3 runs of positions separated by single gaps (no leading/trailing gap). */
const itemsArb: fc.Arbitrary<Item[]> = fc
  .array(fc.array(posArb, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 })
  .chain((runs) => fc.array(gapArb, { minLength: runs.length - 1, maxLength: runs.length - 1 }).map((gaps) => runs.flatMap((r, i) => (i === 0 ? r : [gaps[i - 1], ...r]))));
const offArb: fc.Arbitrary<Off> = fc.oneof(
  { arbitrary: fc.constant<Off>({ kind: 'any' }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constantFrom<'abs' | 'eof'>('abs', 'eof'), n: fc.nat(20), shift: fc.oneof(fc.constant(0), fc.nat(6)) }), weight: 2 },
);
/** Signatures whose alternatives expand to at most 64 variants (the compile limit). */
const sigArb: fc.Arbitrary<Sig> = fc
  .record({ items: itemsArb, nocase: fc.boolean(), off: offArb })
  .filter((s) => s.items.reduce((v, it) => v * (it.k === 'alt' ? it.branches.length : 1), 1) <= 64);
const sigsArb = fc.array(sigArb, { minLength: 1, maxLength: 6 });
const inputArb = fc.array(byteArb, { minLength: 0, maxLength: 90 }).map((a) => Uint8Array.from(a));

/** Plants rendered-random occurrences so matches are common, not rare. */
const plantedInput = (sigs: Sig[], base: Uint8Array, seed: number): Uint8Array => {
  const out = Array.from(base);
  sigs.forEach((sig, k) => {
    if ((seed + k) % 2) return;
    const bytes: number[] = [];
    for (const it of sig.items) {
      if (it.k === 'byte') bytes.push(it.b);
      else if (it.k === 'alt') bytes.push(...it.branches[seed % it.branches.length]);
      else if (it.k === 'gap') for (let d = 0; d < Math.min(it.min + (seed % 3), it.max); d++) bytes.push(ALPHA[(seed + d) % ALPHA.length]);
      else bytes.push(ALPHA[(seed + k) % ALPHA.length]);
    }
    const at = out.length === 0 ? 0 : (seed * 7 + k * 13) % out.length;
    out.splice(at, 0, ...bytes);
  });
  return Uint8Array.from(out);
};

const toSources = (sigs: Sig[]): BodySigSource[] =>
  sigs.map((s, i) => ({
    name: `S${i}`, hex: render(s.items), nocase: s.nocase,
    offset: s.off.kind === 'any' ? '*' : `${s.off.kind === 'eof' ? 'EOF-' : ''}${s.off.n}${s.off.shift ? `,${s.off.shift}` : ''}`,
  }));

function streamed(db: SigDatabase, input: Uint8Array, cuts: number[]): Hit[] {
  const hits: Hit[] = [];
  const on = (id: number, s: number, e: number): void => void hits.push([id, s, e]);
  const st = db.newStream();
  let prev = 0;
  for (const c of [...cuts, input.length]) {
    st.write(input.subarray(prev, c), on);
    prev = c;
  }
  expect(st.offset).toBe(input.length);
  st.end(on);
  return sortHits(hits);
}

function chunked(db: SigDatabase, input: Uint8Array, cuts: number[], bufferSize: number, flushEvery: number): Hit[] {
  const hits: Hit[] = [];
  const on = (id: number, s: number, e: number): void => void hits.push([id, s, e]);
  const sc = db.chunked({ bufferSize });
  let prev = 0;
  [...cuts, input.length].forEach((c, k) => {
    sc.push(input.subarray(prev, c), on);
    prev = c;
    if (flushEvery > 0 && k % flushEvery === 0) {
      sc.flush(on);
      expect(sc.pendingBytes).toBe(0);
    }
    expect(sc.scannedOffset + sc.pendingBytes).toBe(c);
  });
  sc.finish(on);
  return sortHits(hits);
}

const cutsFor = (len: number): fc.Arbitrary<number[]> =>
  fc.array(fc.integer({ min: 0, max: len }), { maxLength: 10 }).map((c) => c.sort((x, y) => x - y));
const RUNS = Number(process.env.SIGDB_PROP_RUNS ?? 250);

describe('SigDatabase vs naive reference (fast-check)', () => {
  it('one-shot scan finds exactly the reference matches', () => {
    fc.assert(
      fc.property(sigsArb, inputArb, fc.nat(1000), (sigs, base, seed) => {
        const input = plantedInput(sigs, base, seed);
        // Both filter variants: 1 Bloom bit (small filters, the default here) and 3 bits.
        const db = SigDatabase.compile(toSources(sigs), { oneBitFilterBytes: seed % 2 ? 0 : undefined });
        const hits: Hit[] = [];
        db.scan(input, (id, s, e) => hits.push([id, s, e]));
        expect(sortHits(hits)).toEqual(reference(sigs, input));
      }),
      { numRuns: RUNS },
    );
  });

  it('streaming: random split points, every match exactly once with absolute offsets', () => {
    fc.assert(
      fc.property(sigsArb, inputArb, fc.nat(1000), fc.array(fc.nat(), { maxLength: 10 }), (sigs, base, seed, rawCuts) => {
        const input = plantedInput(sigs, base, seed);
        const cuts = rawCuts.map((c) => c % (input.length + 1)).sort((x, y) => x - y);
        const db = SigDatabase.compile(toSources(sigs), { oneBitFilterBytes: seed % 2 ? 0 : undefined });
        expect(streamed(db, input, cuts)).toEqual(reference(sigs, input));
      }),
      { numRuns: RUNS },
    );
  });

  it('streaming: every single split point', () => {
    fc.assert(
      fc.property(sigsArb, inputArb, fc.nat(1000), (sigs, base, seed) => {
        const input = plantedInput(sigs, base, seed);
        const db = SigDatabase.compile(toSources(sigs));
        const want = reference(sigs, input);
        for (let cut = 0; cut <= input.length; cut++) expect(streamed(db, input, [cut])).toEqual(want);
      }),
      { numRuns: 60 },
    );
  });

  it('chunked: tiny buffers, random pushes and flushes, exactly once at buffer boundaries', () => {
    fc.assert(
      fc.property(
        sigsArb, inputArb, fc.nat(1000), fc.integer({ min: 1, max: 70 }), fc.nat(4),
        (sigs, base, seed, bufferSize, flushEvery) => {
          const input = plantedInput(sigs, base, seed);
          const db = SigDatabase.compile(toSources(sigs));
          const cuts = Array.from({ length: seed % 9 }, (_, k) => Math.floor((input.length * (k + 1)) / 10));
          expect(chunked(db, input, cuts, bufferSize, flushEvery)).toEqual(reference(sigs, input));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('a serialised + reloaded database scans identically', () => {
    fc.assert(
      fc.property(sigsArb, inputArb, fc.nat(1000), cutsFor(40), (sigs, base, seed, cuts) => {
        const input = plantedInput(sigs, base, seed);
        const db = SigDatabase.load(SigDatabase.compile(toSources(sigs)).serialize());
        expect(streamed(db, input, cuts.filter((c) => c <= input.length))).toEqual(reference(sigs, input));
      }),
      { numRuns: 100 },
    );
  });

  it('interleaved streams of one database stay independent', () => {
    fc.assert(
      fc.property(sigsArb, fc.array(inputArb, { minLength: 2, maxLength: 4 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 9 })), { maxLength: 40 }), (sigs, inputs, schedule) => {
        const db = SigDatabase.compile(toSources(sigs));
        const streams = inputs.map(() => db.newStream());
        const hits: Hit[][] = inputs.map(() => []);
        const pos = inputs.map(() => 0);
        const step = (k: number, len: number): void => {
          const chunk = inputs[k].subarray(pos[k], pos[k] + len);
          pos[k] += chunk.length;
          streams[k].write(chunk, (id, s, e) => hits[k].push([id, s, e]));
        };
        for (const [who, len] of schedule) step(who % inputs.length, len);
        inputs.forEach((input, k) => {
          step(k, input.length);
          streams[k].end((id, s, e) => hits[k].push([id, s, e]));
          expect(sortHits(hits[k])).toEqual(reference(sigs, input));
        });
      }),
      { numRuns: 100 },
    );
  });
});
