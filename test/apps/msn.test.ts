import { describe, expect, it } from 'vitest';
import { msn } from '../../src/apps/msn/detect.js';
import { msnftp } from '../../src/apps/msnftp/detect.js';
import { DETECTED, EXCLUDED, NEED_MORE } from '../../src/apps/types.js';
import { bytewise, run, verdict, type Pkt } from './ctx.js';

const OTHER: Pkt = [1, 'SSH-2.0-OpenSSH_9.6\r\n'];

describe('msn: MSNP commands at stream start', () => {
  it('detects VER with an MSNP version once the line ends (byte by byte)', () => {
    const line = 'VER 1 MSNP8 CVR0\r\n';
    const r = run(msn, 'tcp', bytewise(0, line));
    expect(r).toHaveLength(line.length);
    expect(r.slice(0, -1).every((x) => x === NEED_MORE)).toBe(true);
    expect(r[r.length - 1]).toBe(DETECTED);
  });

  it('detects the server side and the other opening commands', () => {
    const lines = [
      [1, 'VER 1 MSNP15 MSNP14 CVR0\r\n'],
      [0, 'USR 3 TWN I bob@hotmail.com\r\n'],
      [0, 'ANS 1 bob@hotmail.com 849102291.520491113 11752013\r\n'],
      [0, 'CVR 2 0x0409 winnt 5.1 i386 MSNMSGR 8.5.1302 msmsgs bob@hotmail.com\r\n'],
      [1, 'XFR 3 NS 207.46.106.118:1863 0 207.46.104.20:1863\r\n'],
      [0, 'MSG 4 N 133\r\n'],
      [1, 'MSG alice@hotmail.com Alice 133\r\n'],
    ] as const;
    for (const [d, l] of lines) expect(verdict(msn, 'tcp', [[d, l]]), l).toBe(DETECTED);
  });

  it('excludes near misses', () => {
    for (const l of ['VER 1 MSNFTP\r\n', 'VER x MSNP8\r\n', 'VER 1 CVR0\r\n', 'USR abc TWN I x\r\n', 'MSG 4 Q 133\r\n', 'XFR 3 XX 1.2.3.4:1863 0\r\n', 'ver 1 MSNP8\r\n', 'HELO x\r\n']) {
      expect(verdict(msn, 'tcp', [[0, l], OTHER]), l).toBe(EXCLUDED);
    }
  });
});

describe('msnftp: VER MSNFTP', () => {
  it('detects both forms, from either side', () => {
    expect(verdict(msnftp, 'tcp', [[0, 'VER MSNFTP\r\n']])).toBe(DETECTED);
    expect(verdict(msnftp, 'tcp', [[1, 'VER 1 MSNFTP\r\n']])).toBe(DETECTED);
    const r = run(msnftp, 'tcp', bytewise(0, 'VER MSNFTP\r\n'));
    expect(r.slice(0, -1).every((x) => x === NEED_MORE)).toBe(true);
    expect(r[r.length - 1]).toBe(DETECTED);
  });

  it('leaves MSNP and near misses alone', () => {
    for (const l of ['VER 1 MSNP8 CVR0\r\n', 'VER MSNFTPX\r\n', 'VER 1 MSNFTP MSNP8\r\n', 'VER  MSNFTP\r\n', 'USR bob@x.com 123\r\n']) {
      expect(verdict(msnftp, 'tcp', [[0, l], OTHER]), l).toBe(EXCLUDED);
    }
  });
});
