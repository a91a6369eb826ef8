import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { APPS } from '../../../src/apps/registry.js';
import { contentLength, dispositionName, extValue, urlName } from '../../../src/apps/parse/headers.js';
import { chunkSize } from '../../../src/apps/parse/http-body.js';
import {
  HEAD_TOO_LONG, HeadReader, LINE_TOO_LONG, LineReader, MAX_HEAD, MAX_LINE, decodeText, parseFields, percentDecode,
} from '../../../src/apps/parse/lines.js';
import type { InspectEvents } from '../../../src/apps/types.js';
import { feed, splitInvariant, text } from './harness.js';

/** Feeds `b` to a LineReader in pieces cut at `cuts`; returns the finished lines or 'overflow'. */
function lines(b: Uint8Array, cuts: number[], cap = MAX_LINE): string[] | 'overflow' {
  const r = new LineReader(cap);
  const out: string[] = [];
  const pts = [...new Set(cuts.filter((c) => c > 0 && c < b.length))].sort((x, y) => x - y);
  let from = 0;
  for (const to of [...pts, b.length]) {
    let off = from;
    while (off < to) {
      const used = r.read(b.subarray(0, to), off);
      if (used === LINE_TOO_LONG) return 'overflow';
      expect(used).toBeGreaterThan(0);
      off += used;
      if (r.line) out.push(Buffer.from(r.line).toString('latin1'));
    }
    from = to;
  }
  return out;
}

describe('LineReader', () => {
  it('yields CRLF and bare-LF lines whatever the split, and enforces the cap exactly', () => {
    const input = text('GET / HTTP/1.1\r\nHost: x\n\r\nlast');
    for (let k = 0; k <= input.length; k++) expect(lines(input, [k])).toEqual(['GET / HTTP/1.1', 'Host: x', '']);
    const cap = 10;
    expect(lines(text('0123456789\r\n'), [], cap)).toEqual(['0123456789']);
    expect(lines(text('0123456789\n'), [], cap)).toEqual(['0123456789']);
    for (let k = 0; k < 13; k++) {
      expect(lines(text('0123456789A\r\n'), [k], cap)).toBe('overflow');
      expect(lines(text('0123456789\r\n'), [k], cap)).toEqual(['0123456789']);
    }
    expect(lines(text('0123456789AB'), [], cap)).toBe('overflow');
    expect(lines(text('0123456789A'), [], cap)).toEqual([]);
  });

  it('property: any split gives the same lines or the same overflow', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', '\r', '\n', 'xyz'), { maxLength: 40 }), fc.array(fc.nat(60)), (parts, cuts) => {
        const b = text(parts.join(''));
        expect(lines(b, cuts, 6)).toEqual(lines(b, [], 6));
      }),
    );
  });
});

describe('HeadReader', () => {
  it('skips empty lines before the start line, unfolds obs-fold, counts bad lines', () => {
    const h = new HeadReader(true);
    const b = text('\r\n\r\nHTTP/1.1 200 OK\r\nA: 1\r\n  continued\r\nbad line\r\nB :x\r\nC:\t 3 \t\r\n\r\nrest');
    const used = h.read(b, 0);
    expect(h.done).toBe(true);
    expect(Buffer.from(b.subarray(used)).toString()).toBe('rest');
    expect(h.start).toBe('HTTP/1.1 200 OK');
    expect(h.fields).toEqual([{ name: 'a', value: '1 continued' }, { name: 'c', value: '3' }]);
    expect(h.bad).toBe(2);
  });

  it('caps the section at 64 KiB and lines at 8 KiB', () => {
    const field = `X: ${'v'.repeat(1000)}\r\n`;
    const n = Math.floor(MAX_HEAD / field.length);
    expect(new HeadReader(false).read(text(field.repeat(n) + '\r\n'), 0)).toBeGreaterThan(0);
    expect(new HeadReader(false).read(text(field.repeat(n + 1) + '\r\n'), 0)).toBe(HEAD_TOO_LONG);
    expect(new HeadReader(false).read(text(`X: ${'v'.repeat(MAX_LINE)}\r\n`), 0)).toBe(LINE_TOO_LONG);
  });

  it('parses an in-memory MIME block', () => {
    expect(parseFields(text('Content-Type: text/plain\r\nX-A: b\n\tc\r\n')).fields).toEqual([
      { name: 'content-type', value: 'text/plain' },
      { name: 'x-a', value: 'b c' },
    ]);
  });
});

describe('header semantics', () => {
  it('percent-decoding (RFC 3986 §2.1) and charset guessing', () => {
    expect(decodeText(percentDecode('a%20b%C3%A9%zz%4'))).toBe('a bé%zz%4');
    expect(decodeText(percentDecode('caf%E9'))).toBe('café');
  });

  it('URL file names', () => {
    expect(urlName('/dir/My%20File.pdf?download=1#x')).toEqual({ name: 'My File.pdf', source: 'url' });
    expect(urlName('http://host:8080/a/b.tar.gz')).toEqual({ name: 'b.tar.gz', source: 'url' });
    expect(urlName('http://host')).toEqual({ name: null });
    expect(urlName('/dir/')).toEqual({ name: null });
    expect(urlName('example.org:443')).toEqual({ name: null });
    expect(urlName('*')).toEqual({ name: null });
    expect(urlName('/x/..%2F..%2Fetc%2Fpasswd')).toEqual({ name: 'passwd', source: 'url' });
  });

  it('Content-Disposition (RFC 6266 appendix D examples, RFC 8187 ext-values)', () => {
    const cd = (v: string) => dispositionName([{ name: 'content-disposition', value: v }])?.name ?? null;
    expect(cd('Attachment; filename=example.html')).toBe('example.html');
    expect(cd('INLINE; FILENAME= "an example.html"')).toBe('an example.html');
    expect(cd(`attachment; filename*= UTF-8''%e2%82%ac%20rates`)).toBe('€ rates');
    expect(cd(`attachment; filename="EURO rates"; filename*=utf-8''%e2%82%ac%20rates`)).toBe('€ rates');
    expect(cd(`attachment; filename*=iso-8859-1'en'%A3%20rates`)).toBe('£ rates');
    expect(cd('attachment; filename="a \\"quoted\\" name.txt"')).toBe('a "quoted" name.txt');
    expect(cd('attachment; filename="C:\\\\Windows\\\\evil.exe"')).toBe('evil.exe');
    expect(cd('attachment; filename="../../etc/passwd"')).toBe('passwd');
    expect(cd(`attachment; filename*=UTF-8''%FF%FE; filename=ok.txt`)).toBe('ok.txt');
    expect(cd('attachment')).toBeNull();
    expect(cd('attachment; filename=""')).toBeNull();
    expect(extValue("koi8-r''x")).toBeNull();
  });

  it('Content-Length and chunk sizes', () => {
    const cl = (...v: string[]) => contentLength(v.map((value) => ({ name: 'content-length', value })));
    expect(cl()).toBe('absent');
    expect(cl('42')).toBe(42);
    expect(cl('0042')).toBe(42);
    expect(cl('42, 42', '42')).toBe(42);
    expect(cl('42', '43')).toBe('bad');
    expect(cl('-1')).toBe('bad');
    expect(cl('+1')).toBe('bad');
    expect(cl('')).toBe('bad');
    expect(cl('9007199254740991')).toBe(9007199254740991);
    expect(cl('9007199254740992')).toBe('huge');
    expect(cl('1'.repeat(400))).toBe('huge');
    expect(chunkSize('1A')).toBe(26);
    expect(chunkSize('0000000000000000000001')).toBe(1);
    expect(chunkSize('ffffffffffffff')).toBeNull();
    expect(chunkSize('5 ; a=b')).toBe(5);
    expect(chunkSize(' 5')).toBeNull();
    expect(chunkSize('')).toBeNull();
  });
});

describe('inspector wiring and harness', () => {
  it('inspected applications have an inspector; eDonkey has none', () => {
    const names = APPS.filter((a) => a.inspect).map((a) => a.name).sort();
    expect(names).toEqual(['bittorrent', 'fasttrack', 'gnutella', 'http', 'msn', 'msnftp']);
    expect(APPS.find((a) => a.name === 'edonkey')!.inspect).toBeUndefined();
  });

  it('the split harness really splits and catches split-dependent inspectors', () => {
    let calls = 0;
    const counting = (_ev: InspectEvents) => ({ onData: () => void calls++, onGap: () => {}, onEnd: () => {} });
    feed(counting, [[0, text('abcdef')], [1, text('xyz')]], { cuts: [2, 7] });
    expect(calls).toBe(4);
    const chatty = (ev: InspectEvents) => ({ onData: () => ev.weird('call'), onGap: () => {}, onEnd: () => {} });
    expect(() => splitInvariant(chatty, [[0, text('abc')]])).toThrow();
  });
});
