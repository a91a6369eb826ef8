/**
 * SigDatabase on repeated input (issue 13, item 5): the engine skips the lookups inside runs of one
 * byte ("aaaa...") or of a 2-byte unit ("abab...") and verifies only the few candidates such a run
 * can hold (asm/assembly/sigdb_probe.ts). These properties check that the shortcut changes no
 * result: signatures built from runs, wildcards, nibbles, byte sets and nocase letters, inputs built
 * from long runs, every stride (odd and even: the 2-byte case depends on it), both filter variants,
 * one-shot, streamed with random cuts and chunked, all against a naive search. Speed is measured
 * by `npm run bench:matcher` (pathological-* rows), not here.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SigDatabase } from '../../src/sigscan/sigdb.js';

/** One position of a fixed-length signature: a byte, any byte, a nibble, or a set of bytes. */
type Pos = { k: 'byte'; b: number } | { k: 'any' } | { k: 'nib'; hi: number } | { k: 'set'; bytes: number[] };
interface Sig {
  pos: Pos[];
  nocase: boolean;
}
type Hit = [sig: number, start: number, end: number];

const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
const RUN_BYTES = [0x61, 0x62, 0x41, 0x00, 0x90, 0xff];
const hex = (b: number): string => b.toString(16).padStart(2, '0');
const letter = (x: number): boolean => (x >= 0x41 && x <= 0x5a) || (x >= 0x61 && x <= 0x7a);

function posTakes(p: Pos, x: number, nocase: boolean): boolean {
  const xs = nocase && letter(x) ? [x, x ^ 0x20] : [x];
  return xs.some((y) => (p.k === 'byte' ? y === p.b : p.k === 'any' ? true : p.k === 'nib' ? y >> 4 === p.hi : p.bytes.includes(y)));
}

/** Naive search: every start at which every position takes its byte. */
function reference(sigs: Sig[], input: Uint8Array): Hit[] {
  const hits: Hit[] = [];
  sigs.forEach((sig, id) => {
    const n = sig.pos.length;
    for (let s = 0; s + n <= input.length; s++) {
      if (sig.pos.every((p, i) => posTakes(p, input[s + i], sig.nocase))) hits.push([id, s, s + n]);
    }
  });
  return sortHits(hits);
}
const sortHits = (h: Hit[]): Hit[] => [...h].sort((a, b) => a[0] - b[0] || a[2] - b[2] || a[1] - b[1]);

function render(pos: Pos[]): string {
  const parts: string[] = [];
  for (let i = 0; i < pos.length; ) {
    const p = pos[i];
    if (p.k === 'any') {
      let j = i;
      while (j < pos.length && pos[j].k === 'any') j++;
      parts.push(j - i > 1 && i > 0 && j < pos.length ? `{${j - i}}` : '??'.repeat(j - i));
      i = j;
      continue;
    }
    parts.push(p.k === 'byte' ? hex(p.b) : p.k === 'nib' ? `${p.hi.toString(16)}?` : `(${p.bytes.map(hex).join('|')})`);
    i++;
  }
  return parts.join('');
}

const runByte = fc.constantFrom(...RUN_BYTES);
/** A signature piece: a run of one byte, a run of a 2-byte unit, or one position of any kind. */
const pieceArb: fc.Arbitrary<Pos[]> = fc.oneof(
  { arbitrary: fc.tuple(runByte, fc.integer({ min: 1, max: 40 })).map(([b, n]) => Array.from({ length: n }, (): Pos => ({ k: 'byte', b }))), weight: 5 },
  { arbitrary: fc.tuple(runByte, runByte, fc.integer({ min: 1, max: 20 })).map(([a, b, n]) => Array.from({ length: 2 * n }, (_, i): Pos => ({ k: 'byte', b: i % 2 ? b : a }))), weight: 3 },
  { arbitrary: fc.integer({ min: 0, max: 255 }).map((b): Pos[] => [{ k: 'byte', b }]), weight: 2 },
  { arbitrary: fc.integer({ min: 1, max: 6 }).map((n) => Array.from({ length: n }, (): Pos => ({ k: 'any' }))), weight: 1 },
  { arbitrary: fc.constantFrom(6, 4, 0, 9).map((hi): Pos[] => [{ k: 'nib', hi }]), weight: 1 },
  { arbitrary: fc.uniqueArray(runByte, { minLength: 2, maxLength: 3 }).map((bytes): Pos[] => [{ k: 'set', bytes }]), weight: 1 },
);
/** Fixed-length signatures of 1-4 pieces that start and end with a concrete position. */
const sigArb: fc.Arbitrary<Sig> = fc
  .record({ pieces: fc.array(pieceArb, { minLength: 1, maxLength: 4 }), nocase: fc.boolean() })
  .map(({ pieces, nocase }) => ({ pos: pieces.flat(), nocase }))
  .filter((s) => s.pos[0].k !== 'any' && s.pos[s.pos.length - 1].k !== 'any');
const sigsArb = fc.array(sigArb, { minLength: 1, maxLength: 6 });

/** Input: runs (one byte, 2-byte units, up to 300 bytes), random bytes and planted signatures. */
const inputArb = (sigs: Sig[]): fc.Arbitrary<Uint8Array> =>
  fc
    .array(
      fc.oneof(
        { arbitrary: fc.tuple(runByte, fc.integer({ min: 0, max: 300 })).map(([b, n]) => new Array<number>(n).fill(b)), weight: 4 },
        { arbitrary: fc.tuple(runByte, runByte, fc.integer({ min: 0, max: 150 })).map(([a, b, n]) => Array.from({ length: 2 * n }, (_, i) => (i % 2 ? b : a))), weight: 2 },
        { arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 12 }), weight: 1 },
        { arbitrary: fc.tuple(fc.nat(sigs.length - 1), fc.nat(255)).map(([k, fill]) => sigs[k].pos.map((p) => (p.k === 'byte' ? p.b : p.k === 'set' ? p.bytes[0] : p.k === 'nib' ? (p.hi << 4) | (fill & 15) : fill))), weight: 2 },
      ),
      { maxLength: 12 },
    )
    .map((parts) => Uint8Array.from(parts.flat()));

const sources = (sigs: Sig[]) => sigs.map((s, i) => ({ name: `R${i}`, hex: render(s.pos), nocase: s.nocase }));

function streamed(db: SigDatabase, input: Uint8Array, cuts: number[]): Hit[] {
  const hits: Hit[] = [];
  const st = db.newStream();
  let prev = 0;
  for (const c of [...cuts, input.length]) {
    st.write(input.subarray(prev, c), (id, s, e) => void hits.push([id, s, e]));
    prev = c;
  }
  st.end((id, s, e) => void hits.push([id, s, e]));
  return sortHits(hits);
}

const RUNS = Number(process.env.SIGDB_PROP_RUNS ?? 200);

describe('SigDatabase on repeated input vs naive search (fast-check)', () => {
  it('one-shot and streamed, every stride and both filter kinds', () => {
    fc.assert(
      fc.property(
        sigsArb.chain((sigs) => fc.tuple(fc.constant(sigs), inputArb(sigs))),
        fc.integer({ min: 1, max: 8 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 6 }),
        ([sigs, input], maxStride, threeBits, rawCuts) => {
          const db = SigDatabase.compile(sources(sigs), { maxStride, oneBitFilterBytes: threeBits ? 0 : undefined });
          const want = reference(sigs, input);
          const hits: Hit[] = [];
          db.scan(input, (id, s, e) => hits.push([id, s, e]));
          expect(sortHits(hits)).toEqual(want);
          const cuts = rawCuts.map((c) => c % (input.length + 1)).sort((x, y) => x - y);
          expect(streamed(db, input, cuts)).toEqual(want);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('chunked with small buffers (runs cut at buffer edges and in the overlap carry)', () => {
    fc.assert(
      fc.property(
        sigsArb.chain((sigs) => fc.tuple(fc.constant(sigs), inputArb(sigs))),
        fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 8 }),
        ([sigs, input], bufferSize, maxStride) => {
          const db = SigDatabase.compile(sources(sigs), { maxStride });
          const hits: Hit[] = [];
          const sc = db.chunked({ bufferSize });
          for (let p = 0; p < input.length; p += 37) sc.push(input.subarray(p, p + 37), (id, s, e) => void hits.push([id, s, e]));
          sc.finish((id, s, e) => void hits.push([id, s, e]));
          expect(sortHits(hits)).toEqual(reference(sigs, input));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('two runs of period 2 that overlap by one byte (A 90 A 90 A 00 A 00): each match once', () => {
    const db = SigDatabase.compile([
      { name: 'R0', hex: '736?419041904190419041904190' },
      { name: 'R1', hex: `${'4100'.repeat(11)}0?e6${'6162'.repeat(17)}`, nocase: true },
    ], { maxStride: 1 });
    const input = Buffer.from(`7360${'4190'.repeat(6)}${'4100'.repeat(11)}00e6${'6162'.repeat(17)}`, 'hex');
    const hits: Hit[] = [];
    db.scan(input, (id, s, e) => hits.push([id, s, e]));
    expect(sortHits(hits)).toEqual([[0, 0, 14], [1, 14, 72]]);
  });

  it('a run that matches everywhere (the pattern is the run itself) reports every occurrence', () => {
    const db = SigDatabase.compile([{ name: 'a8', literal: 'aaaaaaaa' }, { name: 'ab', literal: 'abababab' }, { name: 'x', literal: `${'a'.repeat(63)}b` }]);
    const input = Buffer.from(`${'a'.repeat(5000)}b${'ab'.repeat(3000)}`, 'latin1');
    const hits: Hit[] = [];
    db.scan(input, (id, s, e) => hits.push([id, s, e]));
    const n = (id: number) => hits.filter((h) => h[0] === id).length;
    // (ab)^4 also starts at the last a of the a-run: "...a" + "b" + "abab..."
    expect([n(0), n(1), n(2)]).toEqual([5000 - 7, 3000 - 3 + 1, 1]);
  });

  it('1,000 random patterns + run patterns: identical to Buffer#indexOf on runs and random data', () => {
    const rnd = (seed: number) => () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) & 0xff;
    const r = rnd(7);
    const pats: Buffer[] = Array.from({ length: 1000 }, () => Buffer.from(Array.from({ length: 8 + (r() % 57) }, r)));
    pats.push(Buffer.from(EICAR, 'latin1'), Buffer.from(`${'a'.repeat(63)}b`), Buffer.from(`${'\0'.repeat(20)}\x01${'\0'.repeat(20)}`), Buffer.from(`${'ab'.repeat(30)}c`));
    const db = SigDatabase.compile(pats.map((p, i) => ({ name: `P${i}`, literal: p })));
    const inputs = [
      Buffer.alloc(70_000, 0x61),
      Buffer.from(`${'a'.repeat(63)}b`.repeat(900) + 'a'.repeat(200) + 'b', 'latin1'),
      Buffer.concat([Buffer.alloc(3000), Buffer.from([1]), Buffer.alloc(20), Buffer.from([1]), Buffer.alloc(19)]),
      Buffer.from(`${'ab'.repeat(5000)}c${'ab'.repeat(29)}c`, 'latin1'),
      Buffer.concat([Buffer.from(Array.from({ length: 60_000 }, r)), pats[5], pats[999], Buffer.alloc(500, 0x61), pats[1001]]),
    ];
    for (const input of inputs) {
      const want: string[] = [];
      pats.forEach((p, i) => {
        for (let at = input.indexOf(p); at >= 0; at = input.indexOf(p, at + 1)) want.push(`${i}:${at}`);
      });
      const got: string[] = [];
      const st = db.newStream();
      for (let p = 0; p < input.length; p += 4096) st.write(input.subarray(p, p + 4096), (id, s) => void got.push(`${id}:${s}`));
      st.end((id, s) => void got.push(`${id}:${s}`));
      expect(got.sort()).toEqual(want.sort());
    }
  });
});
