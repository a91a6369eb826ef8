import { describe, expect, it } from 'vitest';
import { msnftp } from '../../../src/apps/msnftp/detect.js';
import { MsnftpInspector } from '../../../src/apps/msnftp/inspect.js';
import { MSNFTP, msnftpBlocks } from '../../../src/apps/msnftp/session.js';
import { prngBytes } from '../../../src/apps/bytes.js';
import type { InspectEvents } from '../../../src/apps/types.js';
import { LAB, cat, feed, fromSteps, sha, splitInvariant, text, type Script } from './harness.js';

const make = (ev: InspectEvents) => new MsnftpInspector(ev);
const opening = (size: number): Script => [
  [0, text('VER MSNFTP\r\n')],
  [1, text('VER MSNFTP\r\n')],
  [0, text('USR bob@hotmail.com 1234567\r\n')],
  [1, text(`FIL ${size}\r\n`)],
];

describe('MSNFTP inspector', () => {
  it('lab session: FIL, TFR, blocks, BYE', () => {
    const script = fromSteps(MSNFTP[0].build(LAB));
    const file = prngBytes(LAB.seed, 1024, 'msnftp-file');
    const { events, rec } = splitInvariant(make, script);
    expect(events).toEqual([
      { t: 'start', dir: 1, id: 1, info: { name: null, size: 1024 } },
      { t: 'data', id: 1, len: 1024, sha256: sha(file) },
      { t: 'end', id: 1, complete: true },
    ]);
    expect(sha(rec.file(1))).toBe(sha(file));
    expect(feed((ev) => msnftp.inspect!(ev), script).events()).toEqual(events);
  });

  it('a multi-block file (2045-octet blocks), sender in dir 0, VER with a TrID', () => {
    const file = prngBytes(5, 5000, 'msnftp-multi');
    const script: Script = [
      [1, text('VER 1 MSNFTP\r\n')],
      [0, text('VER 1 MSNFTP\r\n')],
      [1, text('USR alice@hotmail.com 99\r\n')],
      [0, text('FIL 5000\r\n')],
      [1, text('TFR\r\n')],
      [0, msnftpBlocks(file)],
      [1, text('BYE 16777989\r\n')],
    ];
    const { events, rec } = splitInvariant(make, script);
    expect(events).toEqual([
      { t: 'start', dir: 0, id: 1, info: { name: null, size: 5000 } },
      { t: 'data', id: 1, len: 5000, sha256: sha(file) },
      { t: 'end', id: 1, complete: true },
    ]);
    expect(Buffer.compare(rec.file(1), file)).toBe(0);
  });

  it('an empty file ends at TFR; a CCL instead of TFR is no file', () => {
    expect(splitInvariant(make, [...opening(0), [0, text('TFR\r\n')], [0, text('BYE 16777989\r\n')]]).events).toEqual([
      { t: 'start', dir: 1, id: 1, info: { name: null, size: 0 } },
      { t: 'end', id: 1, complete: true },
    ]);
    expect(splitInvariant(make, [...opening(10), [0, text('CCL\r\n')]]).events).toEqual([]);
  });

  it('cancels: a 0x01 block header from the sender, a CCL from the receiver, the end of the stream', () => {
    const f = prngBytes(1, 3000, 'x');
    const blocks = msnftpBlocks(f);
    const senderCancel = splitInvariant(make, [...opening(3000), [0, text('TFR\r\n')], [1, cat(blocks.subarray(0, 2048), Uint8Array.from([1, 0, 0]))]]);
    expect(senderCancel.events).toEqual([
      { t: 'start', dir: 1, id: 1, info: { name: null, size: 3000 } },
      { t: 'data', id: 1, len: 2045, sha256: sha(f.subarray(0, 2045)) },
      { t: 'end', id: 1, complete: false },
    ]);
    const receiverCancel = splitInvariant(make, [...opening(3000), [0, text('TFR\r\n')], [1, blocks.subarray(0, 1000)], [0, text('CCL\r\n')]]);
    expect(receiverCancel.events.slice(-1)).toEqual([{ t: 'end', id: 1, complete: false }]);
    const cut = splitInvariant(make, [...opening(3000), [0, text('TFR\r\n')], [1, blocks.subarray(0, 2500)]]);
    expect(cut.events).toEqual([
      { t: 'start', dir: 1, id: 1, info: { name: null, size: 3000 } },
      { t: 'data', id: 1, len: 2500 - 6, sha256: sha(f.subarray(0, 2494)) },
      { t: 'end', id: 1, complete: false },
    ]);
  });

  it('malformed blocks, FIL and lines are weirds', () => {
    const bad = feed(make, [...opening(100), [0, text('TFR\r\n')], [1, Uint8Array.from([0, 2, 0, 0x41, 0x42, 7, 0, 0])]]).events();
    expect(bad).toEqual([
      { t: 'start', dir: 1, id: 1, info: { name: null, size: 100 } },
      { t: 'data', id: 1, len: 2, sha256: sha(text('AB')) },
      { t: 'weird', name: 'msnftp_bad_block' },
      { t: 'end', id: 1, complete: false },
    ]);
    const big = prngBytes(2, 3000, 'big');
    const long = feed(make, [...opening(3000), [0, text('TFR\r\n')], [1, cat(Uint8Array.from([0, 3000 & 0xff, 3000 >> 8]), big)]]).events();
    expect(long).toEqual([
      { t: 'start', dir: 1, id: 1, info: { name: null, size: 3000 } },
      { t: 'weird', name: 'msnftp_block_too_long' },
      { t: 'data', id: 1, len: 3000, sha256: sha(big) },
      { t: 'end', id: 1, complete: true },
    ]);
    const over = feed(make, [...opening(2), [0, text('TFR\r\n')], [1, Uint8Array.from([0, 3, 0, 1, 2, 3])]]).events();
    expect(over.slice(-2)).toEqual([{ t: 'weird', name: 'msnftp_overrun' }, { t: 'end', id: 1, complete: false }]);
    expect(feed(make, [[1, text('FIL lots\r\n')]]).events()).toEqual([{ t: 'weird', name: 'msnftp_bad_fil' }]);
    expect(feed(make, [[1, new Uint8Array(9000).fill(0x41)]]).events()).toEqual([{ t: 'weird', name: 'msnftp_line_too_long' }]);
  });

  it('a gap in the data direction ends the transfer incomplete and stops that direction', () => {
    const got: string[] = [];
    const m = new MsnftpInspector({
      chat: () => {},
      fileName: () => {},
      fileStart: (d, i) => (got.push(`start ${d} ${i.size}`), 9),
      fileData: (_id, b) => void got.push(`data ${b.length}`),
      fileEnd: (id, c) => void got.push(`end ${id} ${c}`),
      weird: (w) => void got.push(w),
    });
    for (const [d, b] of opening(3000)) m.onData(d, b);
    m.onData(0, text('TFR\r\n'));
    m.onData(1, msnftpBlocks(prngBytes(1, 3000, 'g')).subarray(0, 100));
    m.onGap(1, 1000);
    m.onData(1, new Uint8Array(500));
    expect(got).toEqual(['start 1 3000', 'data 97', 'end 9 false']);
  });

  it('never throws on random input', async () => {
    const fc = (await import('fast-check')).default;
    const pieces = ['VER MSNFTP\r\n', 'FIL 10\r\n', 'FIL 0\r\n', 'TFR\r\n', 'CCL\r\n', 'BYE 1\r\n', '\x00\x03\x00abc', '\x01\x00\x00'].map(text);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(0, 1), fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.constantFrom(...pieces))), { maxLength: 14 }), (parts) => {
        const rec = feed(make, parts.map(([d, b]) => [d as 0 | 1, b] as const));
        expect(rec.openTransfers).toBe(0);
      }),
      { numRuns: 400 },
    );
  });
});
