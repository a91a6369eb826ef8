import { describe, expect, it } from 'vitest';
import { http } from '../../src/apps/http/detect.js';
import { DETECTED, EXCLUDED, NEED_MORE } from '../../src/apps/types.js';
import { bytewise, run, verdict, type Pkt } from './ctx.js';

const OTHER: Pkt = [1, 'SSH-2.0-OpenSSH_9.6\r\n'];

describe('http: RFC 9112 start lines', () => {
  it('detects a request once its request line is complete (byte by byte)', () => {
    const line = 'GET /index.html HTTP/1.1\r\n';
    const r = run(http, 'tcp', bytewise(0, line + 'Host: a\r\n\r\n'));
    expect(r).toHaveLength(line.length);
    expect(r.slice(0, -1).every((x) => x === NEED_MORE)).toBe(true);
    expect(r[r.length - 1]).toBe(DETECTED);
  });

  it('detects every standard method and a status line from either side', () => {
    for (const m of ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE']) {
      expect(verdict(http, 'tcp', [[0, `${m} /x HTTP/1.1\r\nHost: a\r\n\r\n`]]), m).toBe(DETECTED);
    }
    expect(verdict(http, 'tcp', [[0, 'CONNECT example.com:443 HTTP/1.1\r\n\r\n']])).toBe(DETECTED);
    expect(verdict(http, 'tcp', [[1, 'HTTP/1.1 200 OK\r\nServer: x\r\n\r\n']])).toBe(DETECTED);
    expect(verdict(http, 'tcp', [[0, 'HTTP/1.0 404 Not Found\r\n\r\n']])).toBe(DETECTED);
  });

  it('gives applications riding on HTTP the header section first', () => {
    // A single segment holding only part of the header section: wait for its end or the answer.
    expect(run(http, 'tcp', [[0, 'GET /f HTTP/1.1\r\nHost: a\r\n'], [1, 'HTTP/1.1 200 OK\r\n\r\n']])).toEqual([NEED_MORE, DETECTED]);
    expect(run(http, 'tcp', [[0, 'GET /f HTTP/1.1\r\nHost: a\r\n'], [0, 'X: y\r\n']])).toEqual([NEED_MORE, DETECTED]);
  });

  it('excludes near misses', () => {
    for (const l of ['GET / HTTP/2.0\r\n\r\n', 'GETX / HTTP/1.1\r\n\r\n', 'get / HTTP/1.1\r\n\r\n', 'FOO / HTTP/1.1\r\n\r\n', 'GET  HTTP/1.1\r\n\r\n', 'GET / HTTP/1.1\n\n', 'HTTP/1.1 2x0 OK\r\n\r\n', 'HTTP/1.1 200OK\r\n\r\n']) {
      expect(verdict(http, 'tcp', [[0, l], OTHER]), l).toBe(EXCLUDED);
    }
  });

  it('waits on a partial method or version', () => {
    expect(run(http, 'tcp', [[0, 'PO'], [1, 'HTT']])).toEqual([NEED_MORE, NEED_MORE]);
  });
});
