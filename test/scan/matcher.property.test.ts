import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Matcher, type PatternSpec } from '../../src/matcher/matcher.js';

type Hit = [id: number, start: number];
const sortHits = (h: Hit[]): Hit[] => [...h].sort((x, y) => x[1] - y[1] || x[0] - y[0]);

/** ASCII-only case fold, the documented nocase semantics. */
const fold = (x: number): number => (x >= 0x41 && x <= 0x5a ? x + 0x20 : x);

/** Reference: try every pattern at every position. */
function naive(patterns: readonly PatternSpec[], input: Uint8Array): Hit[] {
  const hits: Hit[] = [];
  for (const p of patterns) {
    const n = p.bytes.length;
    for (let i = 0; i + n <= input.length; i++) {
      let ok = true;
      for (let j = 0; j < n && ok; j++) {
        const a = input[i + j];
        const c = p.bytes[j];
        ok = p.nocase ? fold(a) === fold(c) : a === c;
      }
      if (ok) hits.push([p.id, i]);
    }
  }
  return sortHits(hits);
}

function oneShot(m: Matcher, input: Uint8Array): Hit[] {
  const hits: Hit[] = [];
  m.scan(input, (id, start) => hits.push([id, start]));
  return sortHits(hits);
}

function streamed(m: Matcher, input: Uint8Array, cuts: readonly number[]): Hit[] {
  const s = m.newStream();
  const hits: Hit[] = [];
  let prev = 0;
  for (const c of [...cuts, input.length]) {
    s.write(input.subarray(prev, c), (id, start) => hits.push([id, start]));
    prev = c;
  }
  expect(s.offset).toBe(input.length);
  return sortHits(hits);
}

// Small alphabet (with case pairs, 0x00 and 0xff) to force overlaps and shared prefixes/suffixes;
// now and then any byte, including letters the patterns use in the other case.
const SMALL = [0x61, 0x62, 0x41, 0x42, 0x00, 0xff];
const byteArb = fc.oneof(
  { arbitrary: fc.constantFrom(...SMALL), weight: 8 },
  { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 },
);
const bytesArb = (minLength: number, maxLength: number): fc.Arbitrary<Uint8Array> =>
  fc.array(byteArb, { minLength, maxLength }).map((a) => Uint8Array.from(a));

const patternsArb: fc.Arbitrary<PatternSpec[]> = fc
  .array(fc.record({ bytes: bytesArb(1, 6), nocase: fc.boolean() }), { minLength: 1, maxLength: 12 })
  .map((ps) => ps.map((p, id) => ({ id, ...p })));

const inputArb = bytesArb(0, 80);

/** Sorted cut points inside [0, len]. */
const cutsFor = (len: number): fc.Arbitrary<number[]> =>
  fc.array(fc.integer({ min: 0, max: len }), { maxLength: 8 }).map((c) => c.sort((x, y) => x - y));

const RUNS = 300;

/**
 * Automaton form: undefined = default (dense here), 0 = sparse, small values mix the two (one of
 * the case-sensitive / nocase automata dense, the other sparse).
 */
const formArb = fc.constantFrom(undefined, 0, 0, 3, 8);

describe('Matcher vs naive reference (fast-check)', () => {
  it('one-shot scan', () => {
    fc.assert(
      fc.property(patternsArb, inputArb, formArb, (pats, input, denseMaxStates) => {
        const m = Matcher.compile(pats, { denseMaxStates });
        expect(oneShot(m, input)).toEqual(naive(pats, input));
      }),
      { numRuns: RUNS },
    );
  });

  it('streaming, input split at every offset', () => {
    fc.assert(
      fc.property(patternsArb, inputArb, (pats, input) => {
        const m = Matcher.compile(pats);
        const want = naive(pats, input);
        for (let cut = 0; cut <= input.length; cut++) expect(streamed(m, input, [cut])).toEqual(want);
      }),
      { numRuns: RUNS },
    );
  });

  it('streaming, random multi-splits (incl. empty chunks)', () => {
    fc.assert(
      fc.property(
        patternsArb,
        inputArb.chain((input) => fc.tuple(fc.constant(input), cutsFor(input.length))),
        formArb,
        (pats, [input, cuts], denseMaxStates) => {
          const m = Matcher.compile(pats, { denseMaxStates });
          expect(streamed(m, input, cuts)).toEqual(naive(pats, input));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('tiny output buffers lose nothing (resume path), one-shot and streamed', () => {
    fc.assert(
      fc.property(
        patternsArb,
        inputArb.chain((input) => fc.tuple(fc.constant(input), cutsFor(input.length))),
        fc.integer({ min: 1, max: 4 }),
        formArb,
        (pats, [input, cuts], cap, denseMaxStates) => {
          const m = Matcher.compile(pats, { outputCapacity: cap, denseMaxStates });
          const want = naive(pats, input);
          expect(oneShot(m, input)).toEqual(want);
          expect(streamed(m, input, cuts)).toEqual(want);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('interleaved streams of one Matcher stay independent', () => {
    fc.assert(
      fc.property(
        patternsArb,
        fc.array(inputArb, { minLength: 2, maxLength: 4 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 9 })), { maxLength: 60 }),
        formArb,
        (pats, inputs, schedule, denseMaxStates) => {
          const m = Matcher.compile(pats, { denseMaxStates });
          const streams = inputs.map(() => m.newStream());
          const hits: Hit[][] = inputs.map(() => []);
          const pos = inputs.map(() => 0);
          const step = (k: number, len: number): void => {
            const chunk = inputs[k].subarray(pos[k], pos[k] + len);
            pos[k] += chunk.length;
            streams[k].write(chunk, (id, start) => hits[k].push([id, start]));
          };
          for (const [who, len] of schedule) step(who % inputs.length, len);
          inputs.forEach((input, k) => step(k, input.length)); // drain the rest
          inputs.forEach((input, k) => {
            expect(streams[k].offset).toBe(input.length);
            expect(sortHits(hits[k])).toEqual(naive(pats, input));
          });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('repeated and random input, 300 patterns, dense and sparse: identical to the naive search', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ bytes: bytesArb(1, 12), nocase: fc.boolean() }), { minLength: 50, maxLength: 300 }).map((ps) => ps.map((p, id) => ({ id, ...p }))),
        fc.oneof(bytesArb(0, 600), fc.tuple(byteArb, fc.nat(600)).map(([x, n]) => new Uint8Array(n).fill(x))),
        fc.boolean(),
        (pats, input, sparse) => {
          const m = Matcher.compile(pats, { denseMaxStates: sparse ? 0 : undefined });
          expect(oneShot(m, input)).toEqual(naive(pats, input));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('larger pattern sets over the full byte range', () => {
    const anyBytes = (min: number, max: number): fc.Arbitrary<Uint8Array> =>
      fc.array(fc.integer({ min: 0, max: 255 }), { minLength: min, maxLength: max }).map((a) => Uint8Array.from(a));
    fc.assert(
      fc.property(
        fc
          .array(fc.record({ bytes: anyBytes(1, 4), nocase: fc.boolean() }), { minLength: 1, maxLength: 60 })
          .map((ps) => ps.map((p, id) => ({ id, ...p }))),
        anyBytes(0, 400),
        formArb,
        (pats, input, denseMaxStates) => {
          // Plant some patterns in the input so there is something to find.
          const planted = Uint8Array.from(input);
          pats.forEach((p, k) => {
            const at = (k * 37) % Math.max(1, planted.length - p.bytes.length);
            if (at + p.bytes.length <= planted.length) planted.set(p.bytes, at);
          });
          const m = Matcher.compile(pats, { denseMaxStates });
          const want = naive(pats, planted);
          expect(oneShot(m, planted)).toEqual(want);
          expect(streamed(m, planted, [1, 2, 3, 100, 101, 250].filter((c) => c <= planted.length))).toEqual(want);
        },
      ),
      { numRuns: 150 },
    );
  });
});
