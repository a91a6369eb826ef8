/**
 * Signature file loaders on real-format files (.ndb, .hdb, .hsb, .pat), their file:line errors,
 * skipped target types, and — where clamscan is installed — agreement with ClamAV itself on which
 * signatures hit which files.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadClamav, loadSigFiles } from '../../src/sigscan/clamav.js';
import { SigDatabase } from '../../src/sigscan/sigdb.js';
import { FileHasher, HashSigs } from '../../src/sigscan/hash.js';
import { errorOf } from '../helpers/errors.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'p2pgw-sigs-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const put = (name: string, text: string | Uint8Array): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
/** Signature names that hit `data` (whole-stream scan, EOF and hashes included). */
const namesHit = (db: SigDatabase, data: Uint8Array): string[] => {
  const names = new Set<string>();
  db.scan(data, (id) => names.add(db.sigName(id)));
  return [...names].sort();
};

const NDB = [
  '# comment lines and blank lines are ignored',
  '',
  'Test.Literal:0:*:6576696c2d7061796c6f6164', // "evil-payload"
  'Test.Wild:0:*:4d5a??00{2-4}5045*deadbeef',
  'Test.Alt:0:*:68656c6c6f(2c|3a)20(776f726c64|7468657265)', // hello(,|:) (world|there)
  'Test.Nibble:0:*:c3a?b?0d0a', // high/low nibble wildcards
  'Test.Start:0:0:7f454c46', // ELF magic at offset 0
  'Test.Tail:0:EOF-8:454e444d41524b21', // "ENDMARK!" starting exactly 8 bytes before EOF
  'Test.Shift:0:10,4:5348494654', // "SHIFT" starting in [10, 14]
  'Test.PE.Only:1:*:4d5a9000',
  'Test.Html.Only:3:*:3c736372697074:51:255',
  'Test.Flevel:0:*:666c6576656c2d6f6b:51',
].join('\n');

describe('.ndb loader', () => {
  it('loads target type 0, counts skipped target types with a notice', () => {
    const r = loadClamav(put('t.ndb', NDB));
    expect(r.sigs.map((s) => s.name)).toEqual(['Test.Literal', 'Test.Wild', 'Test.Alt', 'Test.Nibble', 'Test.Start', 'Test.Tail', 'Test.Shift', 'Test.Flevel']);
    expect(r.skipped).toBe(2);
    expect(r.skippedByTarget).toEqual({ 1: 1, 3: 1 });
    expect(r.notices).toHaveLength(1);
    expect(r.notices[0]).toMatch(/t\.ndb: skipped 2 .*1 PE: 1, 3 HTML: 1/);
    expect(r.sigs[0].origin).toMatch(/t\.ndb:3$/);
  });

  it('matches what the signatures say', () => {
    const db = SigDatabase.compile(loadClamav(put('t2.ndb', NDB)).sigs);
    const b = Buffer.from;
    expect(namesHit(db, b('xx evil-payload xx'))).toEqual(['Test.Literal']);
    expect(namesHit(db, Buffer.concat([b('MZ'), b([0x11, 0]), b('abc'), b('PE'), b('....'), b([0xde, 0xad, 0xbe, 0xef])]))).toEqual(['Test.Wild']);
    expect(namesHit(db, b('hello: there'))).toEqual(['Test.Alt']);
    expect(namesHit(db, b('hello; there'))).toEqual([]);
    expect(namesHit(db, b([0xc3, 0xa9, 0xb7, 0x0d, 0x0a]))).toEqual(['Test.Nibble']);
    expect(namesHit(db, b('\x7fELF....'))).toEqual(['Test.Start']);
    expect(namesHit(db, b('.\x7fELF....'))).toEqual([]);
    expect(namesHit(db, b('....ENDMARK!'))).toEqual(['Test.Tail']);
    expect(namesHit(db, b('....ENDMARK!.'))).toEqual([]);
    expect(namesHit(db, b('0123456789abcSHIFT'))).toEqual(['Test.Shift']);
    expect(namesHit(db, b('0123456789abcdeSHIFT'))).toEqual([]);
  });

  it('rejects bad lines with file:line errors', () => {
    const cases: [string, RegExp][] = [
      ['A:0:*', /bad\.ndb:2: expected Name:TargetType:Offset:HexSignature/],
      ['A:x:*:4142', /bad\.ndb:2: bad target type 'x'/],
      ['A:0:*:41424', /bad\.ndb:2: odd number of hex digits/],
      ['A:0:*:4142zz', /bad\.ndb:2: bad hex byte 'zz'/],
      ['A:0:*:*4142', /bad\.ndb:2: a signature cannot start or end with a gap/],
      ['A:0:*:41{5-2}42', /bad\.ndb:2: gap \{5-2\} has max < min/],
      ['A:0:*:41(42|43', /bad\.ndb:2: unterminated '\('/],
      ['A:0:*:41(B)42', /bad\.ndb:2: special alternative '\(B\)' is not supported/],
      ['A:0:*:41!(4243|44)', /bad\.ndb:2: '!\(\.\.\.\)' supports single-byte/],
      ['A:0:EP+10:4142', /bad\.ndb:2: unsupported offset 'EP\+10'/],
      [':0:*:4142', /bad\.ndb:2: empty signature name/],
      ['A:0:*:4142:x', /bad\.ndb:2: bad functionality level/],
    ];
    for (const [line, re] of cases) {
      const e = errorOf(() => loadClamav(put('bad.ndb', `Ok:0:*:41424344\n${line}\n`)));
      expect(e.code).toBe('P2PGW_ERR_PATTERN');
      expect(e.message).toMatch(re);
    }
  });
});

describe('.hdb / .hsb loaders and incremental hashing', () => {
  const data = Buffer.from('the quick brown fox '.repeat(1000));
  const md5 = createHash('md5').update(data).digest('hex');
  const sha1 = createHash('sha1').update(data).digest('hex');
  const sha256 = createHash('sha256').update(data).digest('hex');

  it('finds files by MD5 / SHA-1 / SHA-256 and size, hashing across chunks', () => {
    const hdb = put('t.hdb', `${md5}:${data.length}:Hash.Md5\n${md5}:1:Hash.Md5.WrongSize\n`);
    const hsb = put('t.hsb', `${sha1}:*:Hash.Sha1.AnySize\n${sha256}:${data.length}:Hash.Sha256:73\n`);
    const r = loadSigFiles([hdb, hsb]);
    expect(r.sigs).toHaveLength(4);
    const db = SigDatabase.compile(r.sigs);
    expect(db.stats.hashSigs).toBe(4);
    const hits: [string, number, number][] = [];
    const st = db.newStream();
    for (let i = 0; i < data.length; i += 777) st.write(data.subarray(i, i + 777), (id, s, e) => hits.push([db.sigName(id), s, e]));
    expect(hits).toEqual([]); // hashes are checked at the end of the transfer
    st.end((id, s, e) => hits.push([db.sigName(id), s, e]));
    expect(hits.sort()).toEqual([
      ['Hash.Md5', 0, data.length],
      ['Hash.Sha1.AnySize', 0, data.length],
      ['Hash.Sha256', 0, data.length],
    ]);
    expect(namesHit(db, data.subarray(1))).toEqual([]);
    // The standalone hasher (HashSigs/FileHasher) agrees.
    const hs = new HashSigs(db.core.meta.hashes, db.core.meta.names);
    const fh = new FileHasher(hs);
    fh.update(data.subarray(0, 5));
    fh.update(data.subarray(5));
    expect(fh.finish().map((h) => h.name).sort()).toEqual(['Hash.Md5', 'Hash.Sha1.AnySize', 'Hash.Sha256']);
  });

  it('rejects bad hash lines with file:line errors', () => {
    const cases: [string, string, RegExp][] = [
      ['bad.hdb', `${sha1}:10:X`, /bad\.hdb:1: an \.hdb hash must be MD5/],
      ['bad.hsb', `${md5}:10:X`, /bad\.hsb:1: an \.hsb hash must be SHA-1 or SHA-256/],
      ['bad.hdb', `${md5}:ten:X`, /bad\.hdb:1: bad file size 'ten'/],
      ['bad.hdb', `${md5}:10`, /bad\.hdb:1: expected HashString:FileSize:MalwareName/],
      ['bad.hdb', `${md5.slice(0, 31)}g:10:X`, /bad\.hdb:1: bad hash/],
    ];
    for (const [name, line, re] of cases) expect(errorOf(() => loadClamav(put(name, `${line}\n`))).message).toMatch(re);
  });
});

describe('.pat loader (p2pgw pattern files)', () => {
  it('parses names, options, hex and escaped strings', () => {
    const p = put('t.pat', [
      '# p2pgw patterns',
      'Eicar "X5O!P%@AP[4\\\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"',
      'BT.Handshake nocase "\\x13bittorrent protocol"',
      'Mz.Header offset=0 hex:4d5a{58}??',
      'Tail\toffset=EOF-4 "END\\n"',
    ].join('\n'));
    const r = loadClamav(p);
    expect(r.sigs.map((s) => s.name)).toEqual(['Eicar', 'BT.Handshake', 'Mz.Header', 'Tail']);
    const db = SigDatabase.compile(r.sigs);
    const eicar = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*');
    expect(namesHit(db, eicar)).toEqual(['Eicar']);
    expect(namesHit(db, Buffer.from('..\x13BitTorrent Protocol..'))).toEqual(['BT.Handshake']);
    expect(namesHit(db, Buffer.concat([Buffer.from('MZ'), Buffer.alloc(59)]))).toEqual(['Mz.Header']);
    expect(namesHit(db, Buffer.from('xxEND\n'))).toEqual(['Tail']);
  });

  it('rejects bad lines with file:line errors', () => {
    const cases: [string, RegExp][] = [
      ['X "unterminated', /bad\.pat:1: unterminated string/],
      ['X 414243', /bad\.pat:1: body must be hex:\.\.\. or "string"/],
      ['X loud "abc"', /bad\.pat:1: unknown option 'loud'/],
      ['X "a\\qb"', /bad\.pat:1: bad escape '\\q'/],
      ['X ""', /bad\.pat:1: empty string literal/],
      ['X', /bad\.pat:1: expected NAME/],
    ];
    for (const [line, re] of cases) expect(errorOf(() => loadClamav(put('bad.pat', `${line}\n`))).message).toMatch(re);
    expect(errorOf(() => loadClamav(put('x.txt', 'a'))).message).toMatch(/unknown signature file type '\.txt'/);
    expect(errorOf(() => loadClamav(join(dir, 'missing.ndb'))).message).toMatch(/missing\.ndb: cannot read/);
  });
});

const clamscan = spawnSync('clamscan', ['--version'], { encoding: 'utf8' });
const haveClamscan = clamscan.status === 0;
if (!haveClamscan) console.log('skipping clamscan comparison: clamscan is not installed (apt-get install clamav)');

describe.skipIf(!haveClamscan)('same signatures, same files as clamscan', () => {
  it('body signatures with wildcards, offsets and hashes', () => {
    const rnd = (n: number, seed: number): Buffer => {
      const b = Buffer.alloc(n);
      let x = seed;
      for (let i = 0; i < n; i++) b[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
      return b;
    };
    const hashed = rnd(3000, 99);
    const files: Record<string, Buffer> = {
      'lit.bin': Buffer.concat([rnd(5000, 1), Buffer.from('evil-payload'), rnd(100, 2)]),
      'wild.bin': Buffer.concat([rnd(700, 3), Buffer.from('MZ\x11\x00abcPE....'), rnd(50, 4), Buffer.from([0xde, 0xad, 0xbe, 0xef])]),
      'alt.bin': Buffer.concat([rnd(64, 5), Buffer.from('hello, world'), rnd(64, 6)]),
      'nib.bin': Buffer.concat([rnd(64, 7), Buffer.from([0xc3, 0xa9, 0xb7, 0x0d, 0x0a])]),
      'elf.bin': Buffer.concat([Buffer.from('\x7fELF'), rnd(400, 8)]),
      'notelf.bin': Buffer.concat([Buffer.from('x\x7fELF'), rnd(400, 9)]),
      'tail.bin': Buffer.concat([rnd(900, 10), Buffer.from('ENDMARK!')]),
      'shift.bin': Buffer.concat([rnd(12, 11), Buffer.from('SHIFT'), rnd(30, 12)]),
      'hashed.bin': hashed,
      'clean.bin': rnd(20000, 13),
      // (Not starting with an ELF header: clamscan 1.4 then parses it as a broken ELF and skips the
      // EOF-anchored signature, a file-format behaviour a byte-stream scanner does not reproduce.)
      'many.bin': Buffer.concat([rnd(100, 14), Buffer.from('evil-payload hello: there'), rnd(100, 15), Buffer.from('ENDMARK!')]),
    };
    const sub = join(dir, 'files');
    spawnSync('mkdir', ['-p', sub]);
    for (const [n, d] of Object.entries(files)) writeFileSync(join(sub, n), d);
    const ndb = put('cmp.ndb', NDB.split('\n').filter((l) => l !== '' && !l.startsWith('#')).join('\n')); // ClamAV has no comments
    const hdb = put('cmp.hdb', `${createHash('md5').update(hashed).digest('hex')}:${hashed.length}:Hash.Md5.File\n`);
    const hsb = put('cmp.hsb', `${createHash('sha256').update(hashed).digest('hex')}:${hashed.length}:Hash.Sha256.File\n`);
    const r = spawnSync('clamscan', ['--no-summary', '--allmatch=yes', '--infected', '-d', ndb, '-d', hdb, '-d', hsb, sub], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(1); // 1 = something found
    const theirs = new Map<string, string[]>();
    for (const line of r.stdout.split('\n')) {
      const m = /^(.*): (.*) FOUND$/.exec(line);
      // clamscan --allmatch may name a signature more than once per file (several scan passes).
      const file = m?.[1].split('/').pop();
      if (m && file) theirs.set(file, [...new Set([...(theirs.get(file) ?? []), m[2].replace(/\.UNOFFICIAL$/, '')])].sort());
    }
    const db = SigDatabase.compile(loadSigFiles([ndb, hdb, hsb]).sigs);
    const ours = new Map<string, string[]>();
    for (const [n, d] of Object.entries(files)) {
      const hit = namesHit(db, d);
      if (hit.length) ours.set(n, hit);
    }
    expect(Object.fromEntries(ours)).toEqual(Object.fromEntries(theirs));
    expect(ours.size).toBeGreaterThanOrEqual(9);
  });
});
