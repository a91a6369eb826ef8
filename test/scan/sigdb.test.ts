/**
 * SigDatabase: semantics by example, compile errors, the compiled-DB file (round trip, corruption
 * never crashes), ChunkedScanner buffering/resumption, the compile-sigs CLI, and a sanity check
 * that pathological input stays within a generous factor of random input (speed targets live in
 * bench/matcher.mjs, not here).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { P2pgwError } from '../../src/core/errors.js';
import { SigDatabase } from '../../src/sigscan/sigdb.js';
import type { SigSource } from '../../src/sigscan/compile.js';
import { compileSigsMain } from '../../src/cli/compile-sigs.js';
import { errorOf } from '../helpers/errors.js';

type Hit = [name: string, start: number, end: number];
const B = (s: string): Uint8Array => Buffer.from(s, 'latin1');
function hitsOf(db: SigDatabase, input: Uint8Array | string): Hit[] {
  const hits: Hit[] = [];
  db.scan(typeof input === 'string' ? B(input) : input, (id, s, e) => hits.push([db.sigName(id), s, e]));
  return hits.sort((a, b) => a[2] - b[2] || a[0].localeCompare(b[0]) || a[1] - b[1]);
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'p2pgw-sigdb-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('semantics by example', () => {
  it('literal occurrences, overlapping, every one reported', () => {
    const db = SigDatabase.compile([{ name: 'aa', literal: 'aa' }, { name: 'aba', literal: 'aba' }, { name: 'x', literal: B('x') }]);
    expect(hitsOf(db, 'aaaxababa')).toEqual([['aa', 0, 2], ['aa', 1, 3], ['x', 3, 4], ['aba', 4, 7], ['aba', 6, 9]]);
  });

  it('`*` is greedy-earliest: every B after the first A, reported from that A', () => {
    const db = SigDatabase.compile([{ name: 'AB', hex: '4141*4242' }]);
    expect(hitsOf(db, 'AA..AA..BB..BB')).toEqual([['AB', 0, 10], ['AB', 0, 14]]);
    expect(hitsOf(db, 'BB..AA')).toEqual([]);
  });

  it('bounded gaps report the leftmost start within the window', () => {
    const db = SigDatabase.compile([{ name: 'g', hex: '4141{2-4}4242' }]);
    expect(hitsOf(db, 'AAAA..BB')).toEqual([['g', 0, 8]]);
    expect(hitsOf(db, 'AA.....BB')).toEqual([]);
    expect(hitsOf(db, 'AA.BB')).toEqual([]);
    const upto = SigDatabase.compile([{ name: 'u', hex: '4141{-1}4242' }, { name: 'f', hex: '4141{3-}4242' }]);
    expect(hitsOf(upto, 'AABB AA.BB AA...BB')).toEqual([['u', 0, 4], ['f', 0, 10], ['u', 5, 10], ['f', 0, 18]]);
  });

  it('alternatives of different lengths, nocase, class alternatives, negation', () => {
    const db = SigDatabase.compile([
      { name: 'alt', hex: '78(4142|43)79' },
      { name: 'nc', literal: 'GET /', nocase: true },
      { name: 'cls', hex: '3c(41|42|43)3e' },
      { name: 'neg', hex: '5b!(30|31)5d' },
    ]);
    expect(hitsOf(db, 'xABy xCy get / <B> [2] [1]')).toEqual([['alt', 0, 4], ['alt', 5, 8], ['nc', 9, 14], ['cls', 15, 18], ['neg', 19, 22]]);
  });

  it('offsets: absolute, absolute with shift, EOF-n (reported at end)', () => {
    const db = SigDatabase.compile([
      { name: 'at0', literal: 'MZ', offset: '0' },
      { name: 'at2s', literal: 'ab', offset: '2,3' },
      { name: 'eof', literal: 'END', offset: 'EOF-3' },
    ]);
    expect(hitsOf(db, 'MZabab.abEND')).toEqual([['at0', 0, 2], ['at2s', 2, 4], ['at2s', 4, 6], ['eof', 9, 12]]);
    const st = db.newStream();
    const got: Hit[] = [];
    const on = (id: number, s: number, e: number): void => void got.push([db.sigName(id), s, e]);
    st.write(B('xxEND'), on);
    expect(got).toEqual([]);
    st.end(on);
    expect(got).toEqual([['eof', 2, 5]]);
  });

  it('reports exactly once when many streams share a database', () => {
    const db = SigDatabase.compile([{ name: 'p', literal: 'needle' }, { name: 'q', hex: '6e65*6c65' }]);
    const streams = Array.from({ length: 20 }, () => db.newStream());
    const counts = streams.map(() => 0);
    const text = B('..needle..needle..');
    for (let pos = 0; pos < text.length; pos += 1) streams.forEach((s, k) => s.write(text.subarray(pos, pos + 1), () => counts[k]++));
    expect(new Set(counts)).toEqual(new Set([4])); // p twice; q at each "le" after the first "ne": twice
  });
});

describe('edge cases', () => {
  it('empty databases and hash-only databases scan without matches or errors', () => {
    const empty = SigDatabase.compile([]);
    expect(empty.sigCount).toBe(0);
    expect(hitsOf(empty, 'anything at all')).toEqual([]);
    expect(hitsOf(SigDatabase.load(empty.serialize()), 'x')).toEqual([]);
    const hashOnly = SigDatabase.compile([{ name: 'h', hash: createHash('sha256').update('abc').digest('hex') }]);
    expect(hitsOf(hashOnly, 'abc')).toEqual([['h', 0, 3]]);
    expect(hashOnly.chunked().bufferSize).toBe(32768);
  });

  it('single-byte and wildcard-only pieces still match (1-byte and 2-byte tiers)', () => {
    const db = SigDatabase.compile([{ name: 'one', hex: '00' }, { name: 'two', hex: 'ff??fe' }, { name: 'nib', hex: '4?' }]);
    expect(hitsOf(db, B('\x00\xff\x01\xfeA'))).toEqual([['one', 0, 1], ['two', 1, 4], ['nib', 4, 5]]);
    expect(db.stats.tiers.map((t) => t.q)).toEqual([1]);
  });
});

describe('larger databases (3-bit filter, many tiers) vs a direct search', () => {
  it('5,000 random patterns planted in random data, chunked and streamed', () => {
    let x = 12345;
    const rnd = (): number => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8) / 16777216;
    const pats: Buffer[] = [];
    for (let i = 0; i < 5000; i++) pats.push(Buffer.from(Array.from({ length: 2 + Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256))));
    const db = SigDatabase.compile(pats.map((p, i) => ({ name: `p${i}`, literal: p })));
    expect(db.stats.tiers.find((t) => t.q === 4 && t.stride === 5)?.bloomBits).toBe(3);
    const input = Buffer.from(Array.from({ length: 300_000 }, () => Math.floor(rnd() * 256)));
    for (let i = 0; i < 400; i++) pats[i * 12].copy(input, Math.floor(rnd() * (input.length - 64)));
    const want: string[] = [];
    pats.forEach((p, id) => {
      for (let at = input.indexOf(p); at >= 0; at = input.indexOf(p, at + 1)) want.push(`${id}:${at}`);
    });
    want.sort();
    const got: string[] = [];
    const sc = db.chunked();
    for (let p = 0; p < input.length; p += 1460) sc.push(input.subarray(p, p + 1460), (id, s) => got.push(`${id}:${s}`));
    sc.finish((id, s) => got.push(`${id}:${s}`));
    expect(got.sort()).toEqual(want);
    expect(want.length).toBeGreaterThan(400);
  });
});

describe('compile errors', () => {
  const cases: [SigSource, RegExp][] = [
    [{ name: 'x', hex: '' }, /empty signature/],
    [{ name: 'x', hex: '41', literal: 'A' }, /exactly one of hex and literal/],
    [{ name: '', literal: 'A' }, /needs a name/],
    [{ name: 'x', hex: '41*', origin: 'my.pat:7' }, /^my\.pat:7: a signature cannot start or end with a gap/],
    [{ name: 'x', hex: '(41|4243)(41|4243)(41|4243)(41|4243)(41|4243)(41|4243)(41|4243)' }, /more than 64 variants/],
    [{ name: 'x', literal: 'A', offset: 'EOF-99999999' }, /exceeds maxEofDistance/],
    [{ name: 'x', hash: 'abc' }, /bad hash/],
  ];
  it.each(cases)('%o', (src, re) => {
    const e = errorOf(() => SigDatabase.compile([src]));
    expect(e.code).toBe('P2PGW_ERR_PATTERN');
    expect(e.message).toMatch(re);
  });
});

const SIGS: SigSource[] = [
  { name: 'lit', literal: 'evil' },
  { name: 'wild', hex: '41??43{1-3}44*4546' },
  { name: 'eof', literal: 'Z', offset: 'EOF-1' },
  { name: 'md5', hash: createHash('md5').update('hello').digest('hex'), size: 5 },
];

describe('compiled database file', () => {
  it('round-trips through a file and keeps scanning identically', async () => {
    const db = SigDatabase.compile(SIGS);
    const p = join(dir, 'ok.p2pgwdb');
    await db.saveFile(p);
    const back = SigDatabase.loadFile(p);
    const input = 'xxevilAxC..D...EFevilZ';
    expect(hitsOf(back, input)).toEqual(hitsOf(db, input));
    expect(hitsOf(back, input).map((h) => h[0])).toEqual(['lit', 'wild', 'lit', 'eof']);
    expect(hitsOf(back, 'hello')).toEqual([['md5', 0, 5]]);
    expect(back.stats).toMatchObject({ sigs: 4, bodySigs: 3, hashSigs: 1, atoms: db.stats.atoms });
    // The blob is plain transferable bytes (what a worker thread receives).
    const moved = structuredClone(db.serialize());
    expect(hitsOf(SigDatabase.load(moved), input)).toEqual(hitsOf(db, input));
  });

  it('a corrupted file is a clear P2PGW_ERR_PATTERN naming the file', () => {
    const good = SigDatabase.compile(SIGS).serialize();
    const p = join(dir, 'bad.p2pgwdb');
    const check = (bytes: Uint8Array, re: RegExp): void => {
      writeFileSync(p, bytes);
      const e = errorOf(() => SigDatabase.loadFile(p));
      expect(e.code).toBe('P2PGW_ERR_PATTERN');
      expect(e.message).toContain(p);
      expect(e.message).toMatch(re);
    };
    const flipped = good.slice();
    flipped[good.length - 40] ^= 0x55;
    check(flipped, /checksum mismatch/);
    check(good.subarray(0, good.length - 16), /truncated/);
    check(B('hello, I am not a database at all, really not one'), /bad magic/);
    check(new Uint8Array(0), /bad magic/);
    const v2 = good.slice();
    v2[8] = 9;
    check(v2, /format version 9/);
    expect(errorOf(() => SigDatabase.loadFile(join(dir, 'missing.p2pgwdb'))).message).toMatch(/missing\.p2pgwdb: cannot read/);
  });

  it('corruption behind a valid checksum is still an error, never a crash (fuzz)', () => {
    const good = SigDatabase.compile([...SIGS, { name: 'n', hex: '6162(63|64)??{2-5}6566', nocase: true }]).serialize();
    let rejected = 0;
    for (let k = 0; k < 400; k++) {
      const bad = good.slice();
      const flips = 1 + (k % 3);
      for (let f = 0; f < flips; f++) {
        const at = 56 + ((Math.imul(k * 7 + f, 2654435761) >>> 0) % (good.length - 56));
        bad[at] ^= 1 << ((k + f) % 8);
      }
      bad.set(createHash('sha256').update(bad.subarray(56)).digest(), 24); // forge the checksum
      try {
        const db = SigDatabase.load(bad, { source: 'fuzz.p2pgwdb' });
        db.scan(B('xxevilAxC..D...EFevilZ hello abcd..ef'), () => {}); // still scans without crashing
      } catch (e) {
        expect(e).toBeInstanceOf(P2pgwError);
        expect(['P2PGW_ERR_PATTERN', 'P2PGW_ERR_WASM']).toContain((e as P2pgwError).code);
        expect((e as Error).message).toContain('fuzz.p2pgwdb');
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(100);
  });
});

describe('ChunkedScanner (thesis buffer + overlap scheme)', () => {
  it('buffers until full, exposes pendingBytes, finds matches across buffers once', () => {
    const db = SigDatabase.compile([{ name: 'p', literal: 'boundary' }]);
    const sc = db.chunked({ bufferSize: 16 });
    const hits: Hit[] = [];
    const on = (id: number, s: number, e: number): void => void hits.push([db.sigName(id), s, e]);
    sc.push(B('0123456789'), on);
    expect(sc.pendingBytes).toBe(10);
    expect(sc.scannedOffset).toBe(0);
    sc.push(B('abcboundary'), on); // fills 16 -> scan; 'bound' crosses the buffer edge
    expect(sc.scannedOffset).toBe(16);
    expect(sc.pendingBytes).toBe(5);
    expect(hits).toEqual([]);
    sc.push(B('xxboundary'), on);
    sc.finish(on);
    expect(hits).toEqual([['p', 13, 21], ['p', 23, 31]]);
    expect(sc.offset).toBe(0); // finished: ready for the next transfer
  });

  it('raises a too-small buffer to hold the overlap', () => {
    const db = SigDatabase.compile([{ name: 'p', literal: 'x'.repeat(40) }]);
    expect(db.chunked({ bufferSize: 8 }).bufferSize).toBe(79);
    expect(errorOf(() => db.chunked({ bufferSize: 0 })).code).toBe('P2PGW_ERR_USAGE');
  });

  it('is resumable after onMatch throws: nothing lost, nothing repeated', () => {
    const db = SigDatabase.compile([{ name: 'a', literal: 'ab' }]);
    for (const mk of [() => db.chunked({ bufferSize: 8 }), () => db.newStream()]) {
      const sc = mk();
      const seen: number[] = [];
      let throws = 3;
      const on = (_id: number, s: number): void => {
        seen.push(s);
        if (throws-- > 0) throw new Error('consumer hiccup');
      };
      const feed = (f: () => void): void => {
        try {
          f();
        } catch (e) {
          expect((e as Error).message).toBe('consumer hiccup');
        }
      };
      const text = B('ababababababababab');
      for (let i = 0; i < text.length; i += 5) feed(() => ('push' in sc ? sc.push(text.subarray(i, i + 5), on) : sc.write(text.subarray(i, i + 5), on)));
      feed(() => ('finish' in sc ? sc.finish(on) : sc.end(on)));
      for (let k = 0; k < 3; k++) feed(() => ('flush' in sc ? sc.flush(on) : sc.write(new Uint8Array(0), on)));
      expect(seen).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16]);
    }
  });
});

describe('pathological input (sanity bound only; see bench/matcher.mjs for numbers)', () => {
  it('runs of a pattern prefix stay within 25x of random input', () => {
    const rnd = Buffer.alloc(2 << 20);
    for (let i = 0; i < rnd.length; i++) rnd[i] = (Math.imul(i, 2654435761) >>> 13) & 0xff;
    const pats: SigSource[] = [{ name: 'long-a', literal: `${'a'.repeat(63)}b` }, { name: 'mid', literal: 'aaaaaaab' }];
    for (let k = 0; k < 500; k++) pats.push({ name: `r${k}`, literal: rnd.subarray(k * 97, k * 97 + 8 + (k % 50)) });
    pats.push({ name: 'chain', hex: '616161*62626262{0-8}6363' });
    const db = SigDatabase.compile(pats);
    const patho = Buffer.alloc(rnd.length, 0x61);
    const time = (buf: Uint8Array): number => {
      const st = db.newStream();
      let best = Infinity;
      for (let r = 0; r < 3; r++) {
        const t0 = performance.now();
        for (let p = 0; p < buf.length; p += 32768) st.write(buf.subarray(p, p + 32768), () => {});
        best = Math.min(best, performance.now() - t0);
      }
      return best;
    };
    time(rnd);
    const tr = time(rnd);
    const tp = time(patho);
    expect(tp).toBeLessThan(Math.max(25 * tr, 200));
  });
});

describe('p2pgw compile-sigs', () => {
  it('compiles .ndb + .hdb + .pat into a loadable database', async () => {
    const ndb = join(dir, 'c.ndb');
    const hdb = join(dir, 'c.hdb');
    const pat = join(dir, 'c.pat');
    writeFileSync(ndb, 'Nd.One:0:*:6576696c\nNd.Pe:1:*:4d5a\n');
    writeFileSync(hdb, `${createHash('md5').update('hello').digest('hex')}:5:Hd.Hello\n`);
    writeFileSync(pat, 'Pat.Two nocase "GOOD"\n');
    const out = join(dir, 'c.p2pgwdb');
    expect(await compileSigsMain([ndb, hdb, pat, '-o', out, '--quiet'])).toBe(0);
    const db = SigDatabase.load(readFileSync(out));
    expect(db.sigCount).toBe(3);
    expect(hitsOf(db, 'xevil good').map((h) => h[0])).toEqual(['Nd.One', 'Pat.Two']);
    expect(hitsOf(db, 'hello')).toEqual([['Hd.Hello', 0, 5]]);
  });

  it('usage and pattern errors', async () => {
    await expect(compileSigsMain([])).rejects.toMatchObject({ code: 'P2PGW_ERR_USAGE' });
    await expect(compileSigsMain([join(dir, 'c.ndb')])).rejects.toMatchObject({ code: 'P2PGW_ERR_USAGE' });
    await expect(compileSigsMain(['--bogus'])).rejects.toMatchObject({ code: 'P2PGW_ERR_USAGE' });
    writeFileSync(join(dir, 'e.ndb'), 'A:0:*:4142\nB:0:*:zz\n');
    await expect(compileSigsMain([join(dir, 'e.ndb'), '-o', join(dir, 'e.db')])).rejects.toThrow(/e\.ndb:2: bad hex byte 'zz'/);
  });
});
