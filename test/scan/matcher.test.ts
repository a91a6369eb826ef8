import { describe, expect, it } from 'vitest';
import { P2pgwError } from '../../src/core/errors.js';
import { Matcher, type PatternSpec } from '../../src/matcher/matcher.js';
import { instantiateMatcher, matcherModule, matcherWasmUrl, WasmCodes } from '../../src/matcher/wasm.js';

const enc = new TextEncoder();
const b = (s: string): Uint8Array => enc.encode(s);
const pat = (id: number, s: string | Uint8Array, nocase = false): PatternSpec => ({
  id,
  bytes: typeof s === 'string' ? b(s) : s,
  nocase,
});

type Hit = [id: number, start: number];
const sortHits = (h: Hit[]): Hit[] => [...h].sort((x, y) => x[1] - y[1] || x[0] - y[0]);

function scanAll(m: Matcher, input: Uint8Array | string): Hit[] {
  const hits: Hit[] = [];
  m.scan(typeof input === 'string' ? b(input) : input, (id, start) => hits.push([id, start]));
  return sortHits(hits);
}

function streamAll(m: Matcher, chunks: (Uint8Array | string)[]): Hit[] {
  const s = m.newStream();
  const hits: Hit[] = [];
  for (const c of chunks) s.write(typeof c === 'string' ? b(c) : c, (id, start) => hits.push([id, start]));
  return sortHits(hits);
}

describe('Matcher basics', () => {
  it('reports overlapping matches (he / she / his / hers)', () => {
    const m = Matcher.compile([pat(1, 'he'), pat(2, 'she'), pat(3, 'his'), pat(4, 'hers')]);
    expect(m.patternCount).toBe(4);
    expect(m.maxPatternLength).toBe(4);
    expect(scanAll(m, 'ushers')).toEqual([
      [2, 1],
      [1, 2],
      [4, 2],
    ]);
    expect(scanAll(m, 'ahishers')).toEqual([
      [3, 1],
      [2, 3],
      [1, 4],
      [4, 4],
    ]);
  });

  it('reports patterns that are suffixes (and prefixes) of others', () => {
    const m = Matcher.compile([pat(1, 'abcd'), pat(2, 'bcd'), pat(3, 'cd'), pat(4, 'd'), pat(5, 'ab')]);
    expect(scanAll(m, 'xabcdx')).toEqual([
      [1, 1],
      [5, 1],
      [2, 2],
      [3, 3],
      [4, 4],
    ]);
  });

  it('reports self-overlapping occurrences', () => {
    const m = Matcher.compile([pat(7, 'aa'), pat(8, 'aba')]);
    expect(scanAll(m, 'aaaa')).toEqual([
      [7, 0],
      [7, 1],
      [7, 2],
    ]);
    expect(scanAll(m, 'ababa')).toEqual([
      [8, 0],
      [8, 2],
    ]);
  });

  it('reports duplicate patterns once per spec, ids may repeat', () => {
    const m = Matcher.compile([pat(1, 'xy'), pat(2, 'xy'), pat(1, 'xy'), pat(3, 'XY', true)]);
    expect(scanAll(m, 'xy')).toEqual([
      [1, 0],
      [1, 0],
      [2, 0],
      [3, 0],
    ]);
  });

  it('matches nocase patterns on ASCII letters only', () => {
    const m = Matcher.compile([pat(1, 'BitTorrent protocol', true), pat(2, 'GET'), pat(3, 'x-Y_1', true)]);
    expect(scanAll(m, '\x13bittorrent PROTOCOL')).toEqual([[1, 1]]);
    expect(scanAll(m, 'get GET Get')).toEqual([[2, 4]]);
    expect(scanAll(m, 'X-y_1 x-Y_1 X-Y-1')).toEqual([
      [3, 0],
      [3, 6],
    ]);
    // Bytes that differ by 0x20 but are not letters must not be folded: '[' (0x5b) vs '{' (0x7b),
    // '@' (0x40) vs '`' (0x60), and non-ASCII 0xc1 vs 0xe1.
    const m2 = Matcher.compile([pat(1, '[@', true), pat(2, new Uint8Array([0xc1]), true)]);
    expect(scanAll(m2, '{`')).toEqual([]);
    expect(scanAll(m2, '[@')).toEqual([[1, 0]]);
    expect(scanAll(m2, new Uint8Array([0xe1, 0xc1]))).toEqual([[2, 1]]);
  });

  it('mixes case-sensitive and nocase patterns with shared text', () => {
    const m = Matcher.compile([pat(1, 'abc'), pat(2, 'ABC', true), pat(3, 'bC', true), pat(4, 'bC')]);
    expect(scanAll(m, 'abcABCaBcbC')).toEqual([
      [1, 0],
      [2, 0],
      [3, 1],
      [2, 3],
      [3, 4],
      [2, 6],
      [3, 7],
      [3, 9],
      [4, 9],
    ]);
  });

  it('handles binary bytes including 0x00 and 0xff', () => {
    const m = Matcher.compile([
      pat(1, new Uint8Array([0x00])),
      pat(2, new Uint8Array([0xff, 0x00, 0xff])),
      pat(3, new Uint8Array([0x00, 0x00])),
      pat(4, new Uint8Array([0xff])),
    ]);
    expect(scanAll(m, new Uint8Array([0xff, 0x00, 0xff, 0x00, 0x00]))).toEqual([
      [4, 0],
      [1, 1],
      [2, 0],
      [4, 2],
      [1, 3],
      [3, 3],
      [1, 4],
    ].sort((x, y) => x[1] - y[1] || x[0] - y[0]) as Hit[]);
  });

  it('handles empty input, patterns longer than the input, and empty pattern sets', () => {
    const m = Matcher.compile([pat(1, 'abcdef'), pat(2, 'ABCDEFG', true)]);
    expect(scanAll(m, '')).toEqual([]);
    expect(scanAll(m, 'abcde')).toEqual([]);
    expect(streamAll(m, ['', 'abc', '', 'de', ''])).toEqual([]);
    const none = Matcher.compile([]);
    expect(none.patternCount).toBe(0);
    expect(scanAll(none, 'anything')).toEqual([]);
    const s = none.newStream();
    s.write(b('abc'), () => expect.unreachable());
    expect(s.offset).toBe(3);
  });

  it('accepts Buffers and subarrays', () => {
    const m = Matcher.compile([pat(1, Buffer.from('needle'))]);
    const big = b('xxneedlexx');
    expect(scanAll(m, big.subarray(2, 8))).toEqual([[1, 0]]);
    expect(scanAll(m, Buffer.from('..needle'))).toEqual([[1, 2]]);
  });
});

describe('MatchStream', () => {
  it('finds matches spanning chunk boundaries with absolute offsets', () => {
    const m = Matcher.compile([pat(1, 'hello'), pat(2, 'LOW', true), pat(3, 'o')]);
    expect(streamAll(m, ['xxhe', 'l', 'lowor', 'ld hel', 'lo'])).toEqual([
      [1, 2],
      [2, 5],
      [3, 6],
      [3, 8],
      [1, 13],
      [3, 17],
    ]);
  });

  it('tracks offset and resets', () => {
    const m = Matcher.compile([pat(1, 'abc')]);
    const s = m.newStream();
    const hits: Hit[] = [];
    s.write(b('xab'), (id, start) => hits.push([id, start]));
    expect(s.offset).toBe(3);
    s.reset();
    expect(s.offset).toBe(0);
    s.write(b('c'), (id, start) => hits.push([id, start])); // no partial match survives reset
    s.write(b('abc'), (id, start) => hits.push([id, start]));
    expect(hits).toEqual([[1, 1]]);
    expect(s.offset).toBe(4);
  });

  it('interleaves many streams over one Matcher', () => {
    const m = Matcher.compile([pat(1, 'GET /'), pat(2, 'bittorrent', true), pat(3, '\x00\x01')]);
    const texts = Array.from({ length: 50 }, (_, k) =>
      b(`${'z'.repeat(k % 7)}GET /x BitTorrent\x00\x01 ${k} GET / bittorrENT`),
    );
    const expected = texts.map((t) => scanAll(m, t));
    const streams = texts.map(() => m.newStream());
    const got: Hit[][] = texts.map(() => []);
    // Round-robin 3-byte chunks across all streams.
    for (let pos = 0; texts.some((t) => pos < t.length); pos += 3) {
      texts.forEach((t, k) => {
        if (pos < t.length) streams[k].write(t.subarray(pos, pos + 3), (id, start) => got[k].push([id, start]));
      });
    }
    got.forEach((g, k) => {
      expect(sortHits(g)).toEqual(expected[k]);
      expect(expected[k].length).toBe(5);
    });
  });

  it('lets onMatch scan other streams of the same Matcher (re-entrancy)', () => {
    const m = Matcher.compile([pat(1, 'ab'), pat(2, 'b')], { outputCapacity: 2 });
    const outer = m.newStream();
    const inner = m.newStream();
    const outerHits: Hit[] = [];
    const innerHits: Hit[] = [];
    outer.write(b('abababab'), (id, start) => {
      outerHits.push([id, start]);
      inner.write(b('xxbbxx'), (i, s) => innerHits.push([i, s]));
    });
    expect(sortHits(outerHits)).toEqual(scanAll(m, 'abababab'));
    expect(innerHits.length).toBe(2 * outerHits.length);
    expect(inner.offset).toBe(6 * outerHits.length);
  });

  it('keeps several Matchers independent', () => {
    const m1 = Matcher.compile([pat(1, 'foo')]);
    const m2 = Matcher.compile([pat(2, 'bar', true)]);
    const s1 = m1.newStream();
    const s2 = m2.newStream();
    const h1: Hit[] = [];
    const h2: Hit[] = [];
    s1.write(b('fo'), (i, s) => h1.push([i, s]));
    s2.write(b('BA'), (i, s) => h2.push([i, s]));
    s1.write(b('obar'), (i, s) => h1.push([i, s]));
    s2.write(b('rfoo'), (i, s) => h2.push([i, s]));
    expect(h1).toEqual([[1, 0]]);
    expect(h2).toEqual([[2, 0]]);
  });
});

describe('output buffer full: resume without losing matches', () => {
  it("pattern 'a' over 100k 'a's", () => {
    const m = Matcher.compile([pat(1, 'a')]);
    const input = new Uint8Array(100_000).fill(0x61);
    let count = 0;
    let expectedStart = 0;
    m.scan(input, (id, start) => {
      if (id !== 1 || start !== expectedStart) throw new Error(`got ${id}@${start}, want 1@${expectedStart}`);
      expectedStart++;
      count++;
    });
    expect(count).toBe(100_000);
    // Same through a stream with odd chunk sizes.
    const s = m.newStream();
    count = 0;
    for (let pos = 0; pos < input.length; pos += 9_999) s.write(input.subarray(pos, pos + 9_999), () => count++);
    expect(count).toBe(100_000);
  });

  it('one byte producing more matches than the default output capacity', () => {
    const pats = Array.from({ length: 5000 }, (_, k) => pat(k, k % 2 ? 'x' : 'X', true));
    pats.push(pat(9999, 'xx'));
    const m = Matcher.compile(pats, { outputCapacity: 1 });
    const hits = scanAll(m, 'xxx');
    expect(hits.length).toBe(3 * 5000 + 2);
    expect(hits.filter(([id]) => id === 9999)).toEqual([
      [9999, 0],
      [9999, 1],
    ]);
  });

  it('tiny capacity with mixed automata', () => {
    const pats = [pat(1, 'a'), pat(2, 'aa'), pat(3, 'A', true), pat(4, 'AAA', true)];
    const small = Matcher.compile(pats, { outputCapacity: 1 });
    const big = Matcher.compile(pats);
    const input = 'aAaaAaaaaAAa'.repeat(30);
    expect(scanAll(small, input)).toEqual(scanAll(big, input));
    expect(streamAll(small, input.match(/.{1,5}/g)!)).toEqual(scanAll(big, input));
  });
});

describe('errors', () => {
  const codeOf = (f: () => unknown): string | undefined => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(P2pgwError);
      return (e as P2pgwError).code;
    }
    return undefined;
  };

  it('rejects invalid patterns with P2PGW_ERR_PATTERN', () => {
    expect(codeOf(() => Matcher.compile([pat(1, '')]))).toBe('P2PGW_ERR_PATTERN');
    expect(codeOf(() => Matcher.compile([pat(1, 'ok'), pat(2, new Uint8Array(0), true)]))).toBe('P2PGW_ERR_PATTERN');
    expect(codeOf(() => Matcher.compile([{ id: 1, bytes: 'abc' as unknown as Uint8Array }]))).toBe(
      'P2PGW_ERR_PATTERN',
    );
    expect(codeOf(() => Matcher.compile([{ id: Number.NaN, bytes: b('a') }]))).toBe('P2PGW_ERR_PATTERN');
    expect(codeOf(() => Matcher.compile(null as unknown as PatternSpec[]))).toBe('P2PGW_ERR_PATTERN');
    expect(codeOf(() => Matcher.compile([pat(1, new Uint8Array((1 << 24) + 1))]))).toBe('P2PGW_ERR_PATTERN');
  });

  it('reports running out of linear memory as P2PGW_ERR_WASM', () => {
    // One 1.1 MB pattern -> 1.1 M states -> as a dense automaton a 1.1 GiB table, above the 1 GiB
    // memory cap (the sparse form, the default at this size, takes about 28 MB).
    const huge = new Uint8Array(1_100_000);
    for (let i = 0; i < huge.length; i++) huge[i] = i & 0xff;
    let err: unknown;
    try {
      Matcher.compile([pat(1, huge)], { denseMaxStates: 1 << 21 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(P2pgwError);
    expect((err as P2pgwError).code).toBe('P2PGW_ERR_WASM');
    expect((err as P2pgwError).message).toMatch(/out of memory/);
  });

  it('MatchStream cannot be constructed directly', () => {
    expect(codeOf(() => new (Matcher.compile([]).newStream().constructor as new (x: unknown) => unknown)({}))).toBe(
      'P2PGW_ERR_USAGE',
    );
  });
});

describe('raw ABI (release and debug builds)', () => {
  it('resolves both builds next to the package root and runs the debug build on request', () => {
    expect(matcherWasmUrl(false).pathname).toMatch(/\/asm\/build\/matcher\.release\.wasm$/);
    expect(matcherWasmUrl(true).pathname).toMatch(/\/asm\/build\/matcher\.debug\.wasm$/);
    const m = Matcher.compile([pat(1, 'ab'), pat(2, 'B', true)], { debug: true });
    expect(scanAll(m, 'xAbab')).toEqual([
      [2, 2],
      [1, 3],
      [2, 4],
    ]);
  });

  for (const debug of [false, true]) {
    it(`${debug ? 'debug' : 'release'}: build codes, scan, resume, bad state`, () => {
      expect(matcherModule(debug)).toBe(matcherModule(debug)); // compiled once
      const ex = instantiateMatcher(debug);
      const blobOf = (pats: [string, number][], version = 1): Uint8Array => {
        const parts = pats.map(([s, f]) => {
          const e = new Uint8Array(8 + s.length);
          new DataView(e.buffer).setUint32(0, s.length, true);
          new DataView(e.buffer).setUint32(4, f, true);
          e.set(b(s), 8);
          return e;
        });
        const out = new Uint8Array(8 + parts.reduce((n, p) => n + p.length, 0));
        new DataView(out.buffer).setUint32(0, version, true);
        new DataView(out.buffer).setUint32(4, pats.length, true);
        let pos = 8;
        for (const p of parts) (out.set(p, pos), (pos += p.length));
        return out;
      };
      const put = (bytes: Uint8Array): number => {
        const ptr = ex.alloc(bytes.length);
        new Uint8Array(ex.memory.buffer).set(bytes, ptr);
        return ptr;
      };
      expect(ex.scan(0, 0, 0, 0, 0, 0)).toBe(WasmCodes.ERR_NOT_BUILT);
      let blob = blobOf([['ab', 0]], 2);
      expect(ex.build(put(blob), blob.length)).toBe(WasmCodes.ERR_BAD_BLOB);
      blob = blobOf([['ab', 4]]);
      expect(ex.build(put(blob), blob.length)).toBe(WasmCodes.ERR_BAD_BLOB);
      blob = blobOf([['ab', 0]]);
      expect(ex.build(put(blob), blob.length - 1)).toBe(WasmCodes.ERR_BAD_BLOB);
      blob = blobOf([['', 0]]);
      expect(ex.build(put(blob), blob.length)).toBe(WasmCodes.ERR_EMPTY_PATTERN);
      blob = blobOf([
        ['ab', 0],
        ['b', 0],
        ['AB', 1],
      ]);
      expect(ex.build(put(blob), blob.length)).toBe(0);
      expect(ex.build(put(blob), blob.length)).toBe(WasmCodes.ERR_ALREADY_BUILT);
      expect(ex.max_out()).toBe(3);
      expect(ex.state_count(0)).toBe(4); // root, a, ab, b
      expect(ex.state_count(1)).toBe(3); // root, a, ab
      const out = ex.alloc(8 * 8);
      const inp = ex.input_reserve(4096);
      expect(ex.input_reserve(8192)).toBe(inp); // last allocation: grows in place
      new Uint8Array(ex.memory.buffer).set(b('xaBab'), inp);
      expect(ex.scan(0, 0, inp, 5, out, 2)).toBe(WasmCodes.ERR_OUT_TOO_SMALL);
      expect(ex.scan(99, 0, inp, 5, out, 3)).toBe(WasmCodes.ERR_BAD_STATE);
      expect(ex.scan(0, 0, inp, -1, out, 3)).toBe(WasmCodes.ERR_BAD_ARG);
      // Capacity 3: 'xaB' -> 1 (AB@3); then 'a' none; then 'b' produces ab, b, AB = 3 > 3-1 -> stop.
      const n1 = ex.scan(0, 0, inp, 5, out, 3);
      const pos1 = ex.result_pos();
      expect(n1).toBe(1);
      expect(pos1).toBe(4);
      const pairs1 = Array.from(new Int32Array(ex.memory.buffer, out, 2 * n1));
      expect(pairs1).toEqual([2, 3]);
      const n2 = ex.scan(ex.result_state_cs(), ex.result_state_ci(), inp + pos1, 1, out, 3);
      expect(n2).toBe(3);
      expect(ex.result_pos()).toBe(1);
      const pairs2 = Array.from(new Int32Array(ex.memory.buffer, out, 2 * n2));
      expect(pairs2).toEqual([0, 1, 1, 1, 2, 1]);
      // Memory grows on demand.
      const before = ex.memory.buffer.byteLength;
      expect(ex.alloc(1 << 20)).toBeGreaterThan(0);
      expect(ex.memory.buffer.byteLength).toBeGreaterThan(before);
      expect(ex.alloc(-1)).toBe(0);
      // Linear memory is capped (asconfig maximumMemory, 1 GiB): a failed grow is a 0, not a trap.
      expect(ex.alloc(0x7fff0000)).toBe(0);
      expect(ex.input_reserve(0x7fff0000)).toBe(0);
      expect(ex.alloc(16)).toBeGreaterThan(0);
    });
  }
});

describe('linear time', () => {
  it('1 MiB of a pattern prefix repeated scans quickly', () => {
    const long = 'a'.repeat(1000) + 'b';
    const m = Matcher.compile([pat(1, long), pat(2, 'aaaaaaab'), pat(3, 'A'.repeat(500) + 'c', true)]);
    const input = new Uint8Array(1 << 20).fill(0x61);
    const t0 = performance.now();
    let n = 0;
    m.scan(input, () => n++);
    const s = m.newStream();
    for (let pos = 0; pos < input.length; pos += 1500) s.write(input.subarray(pos, pos + 1500), () => n++);
    const ms = performance.now() - t0;
    expect(n).toBe(0);
    expect(ms).toBeLessThan(2000);
  });
});
