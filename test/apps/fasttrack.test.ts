import { describe, expect, it } from 'vitest';
import { fasttrack } from '../../src/apps/fasttrack/detect.js';
import { DETECTED, EXCLUDED, NEED_MORE } from '../../src/apps/types.js';
import { bytewise, run, verdict, type Pkt } from './ctx.js';

const PLAIN_RESP: Pkt = [1, 'HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 0\r\n\r\n'];

describe('fasttrack: Kazaa HTTP transfers', () => {
  it('detects GET /.hash= as soon as the target prefix is there', () => {
    const r = run(fasttrack, 'tcp', bytewise(0, 'GET /.hash=0123456789abcdef HTTP/1.1\r\n\r\n'));
    expect(r).toHaveLength('GET /.hash='.length);
    expect(r.slice(0, -1).every((x) => x === NEED_MORE)).toBe(true);
    expect(r[r.length - 1]).toBe(DETECTED);
  });

  it('detects X-Kazaa- header fields in requests and responses (any case)', () => {
    expect(verdict(fasttrack, 'tcp', [[0, 'GET /file.mp3 HTTP/1.1\r\nHost: a\r\nX-Kazaa-Username: bob\r\n\r\n']])).toBe(DETECTED);
    expect(verdict(fasttrack, 'tcp', [[1, 'HTTP/1.1 200 OK\r\nx-kazaa-ip: 1.2.3.4:1214\r\n\r\n']])).toBe(DETECTED);
    expect(run(fasttrack, 'tcp', [[0, 'GET /f HTTP/1.1\r\nHost: a\r\n'], [0, 'X-Kazaa-Network: KaZaA\r\n\r\n']])).toEqual([NEED_MORE, DETECTED]);
  });

  it('detects the GIVE push answer', () => {
    expect(verdict(fasttrack, 'tcp', [[0, 'GIVE 12345\r\n']])).toBe(DETECTED);
    expect(run(fasttrack, 'tcp', bytewise(0, 'GIVE 7\r\n')).pop()).toBe(DETECTED);
  });

  it('excludes plain HTTP and near misses', () => {
    expect(verdict(fasttrack, 'tcp', [[0, 'GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n'], PLAIN_RESP])).toBe(EXCLUDED);
    expect(verdict(fasttrack, 'tcp', [[0, 'GET /.hashx HTTP/1.1\r\n\r\n'], PLAIN_RESP])).toBe(EXCLUDED);
    expect(verdict(fasttrack, 'tcp', [[0, 'GET / HTTP/1.1\r\n\r\nX-Kazaa-Username: in-body'], PLAIN_RESP])).toBe(EXCLUDED);
    expect(verdict(fasttrack, 'tcp', [[0, 'GIVE 12a\r\n'], PLAIN_RESP])).toBe(EXCLUDED);
    expect(verdict(fasttrack, 'tcp', [[0, 'GIVE \r\n'], PLAIN_RESP])).toBe(EXCLUDED);
    expect(verdict(fasttrack, 'tcp', [[0, '\x16\x03\x01\x02\x00\x01'], [1, '\x16\x03\x03']])).toBe(EXCLUDED);
  });
});
