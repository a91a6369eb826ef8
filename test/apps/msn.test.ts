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

describe('msn: commands after login (a capture that starts mid-session)', () => {
  /** A notification-server session seen after login: keep-alives, a status change, a ring. */
  const CLIENT = 'PNG\r\nCHG 12 AWY 1073741824\r\nPNG\r\n';
  const SERVER = 'QNG 48\r\nRNG 1742 207.46.108.38:1863 CKI 849102291.520491113 alice@hotmail.com Alice\r\nQNG 50\r\n';

  it('is detected split at every byte, from either side alone or from the keep-alives of both', () => {
    for (const [dir, text] of [[0, CLIENT], [1, SERVER]] as const) {
      const r = run(msn, 'tcp', bytewise(dir, text));
      expect(r[r.length - 1], text).toBe(DETECTED);
      expect(r.slice(0, -1).every((x) => x === NEED_MORE)).toBe(true);
    }
    const pkts: Pkt[] = [...bytewise(0, 'PNG\r\n'), ...bytewise(1, 'QNG 48\r\n')];
    const r = run(msn, 'tcp', pkts);
    expect(r[r.length - 1]).toBe(DETECTED);
    expect(r).toHaveLength(pkts.length);
  });

  it('detects each command from its argument structure', () => {
    const lines = [
      'CHG 5 NLN 0\r\n', 'ILN 7 NLN bob@hotmail.com Bob 268435456\r\n', 'NLN BSY bob@hotmail.com Bob\r\n', 'FLN bob@hotmail.com\r\n',
      'UBX bob@hotmail.com 0\r\n', 'UUX 9 53\r\n', 'SYN 3 2005-04-23T18:57:44.8130000-07:00 2005-04-23T18:57:54.2070000-07:00\r\n',
      'LST N=bob@hotmail.com F=Bob C=12345678-1234-1234-1234-123456789abc 11 1\r\n', 'ADC 10 FL N=bob@hotmail.com F=Bob\r\n',
      'REM 11 AL bob@hotmail.com\r\n', 'BLP 12 AL\r\n', 'PRP 13 MFN Alice\r\n', 'JOI bob@hotmail.com Bob\r\n',
      'IRO 1 1 2 bob@hotmail.com Bob\r\n', 'CAL 2 bob@hotmail.com\r\n', 'CAL 2 RINGING 11752013\r\n', 'BYE bob@hotmail.com\r\n',
      'CHL 0 15570131571988941333\r\n', 'QRY 14 PROD0090YUAUV{2B 32\r\n',
    ];
    for (const l of lines) expect(verdict(msn, 'tcp', [[0, l]]), l).toBe(DETECTED);
  });

  it('a weak keep-alive alone waits for corroboration, and is excluded by a non-MSNP answer or line', () => {
    expect(verdict(msn, 'tcp', [[0, 'PNG\r\n']])).toBe(NEED_MORE);
    expect(verdict(msn, 'tcp', [[0, 'PNG\r\n'], OTHER])).toBe(EXCLUDED);
    expect(verdict(msn, 'tcp', [[1, 'QNG 50\r\nHELLO\r\n'], [0, 'x\r\n']])).toBe(EXCLUDED);
    expect(verdict(msn, 'tcp', [[1, 'OUT OTH\r\n'], [0, 'PNG\r\n']])).toBe(DETECTED);
  });

  it('commands need their argument structure, at offset 0 (a line start), not just the letters', () => {
    const misses = [
      'CHG x NLN\r\n', 'CHG 5 XXX\r\n', 'ILN 7 NLN bob Bob\r\n', 'NLN NLN nobody Bob\r\n', 'FLN bob\r\n', 'UUX x 5\r\n', 'RNG 1 2 CKI x y\r\n',
      'ADC 10 XL N=a@b.com\r\n', 'BLP 1 ZZ\r\n', 'PRP 1 XYZ v\r\n', 'QNG abc\r\n', 'PNG now\r\n', 'OUT NOW\r\n', 'CHL 1 123\r\n', 'BYE\r\n',
      ' PNG\r\n', 'xPNG\r\n', 'png\r\n',
    ];
    for (const l of misses) expect(verdict(msn, 'tcp', [[0, l], OTHER]), l).toBe(EXCLUDED);
  });
});

describe('msn: other line protocols are not MSNP (negative controls, split at every byte)', () => {
  const streams: [string, string, string][] = [
    [
      'smtp',
      'EHLO client.example.com\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nCHG 5 NLN 0\r\nPNG\r\n.\r\nQUIT\r\n',
      '220 mx.example.com ESMTP\r\n250-mx.example.com\r\n250 OK\r\n250 OK\r\n354 go\r\n250 OK\r\n221 bye\r\n',
    ],
    ['ftp', 'USER anonymous\r\nPASS a@b.com\r\nSYST\r\nPWD\r\nCWD /pub\r\nLIST\r\nQUIT\r\n', '220 FTP ready\r\n331 Password\r\n230 OK\r\n215 UNIX\r\n'],
    ['http', 'GET /QNG HTTP/1.1\r\nHost: example.com\r\nPNG: 1\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nPNG\r\n'],
  ];
  for (const [name, client, server] of streams) {
    it(name, () => {
      const pkts: Pkt[] = [...bytewise(1, server.slice(0, 4)), ...bytewise(0, client), ...bytewise(1, server.slice(4))];
      const r = run(msn, 'tcp', pkts);
      expect(r).not.toContain(DETECTED);
      expect(r[r.length - 1]).toBe(EXCLUDED);
    });
  }
});
