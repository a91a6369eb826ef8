import { describe, it, expect, afterAll } from 'vitest';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatSyslog, rfc3164Time, severityOf, SyslogDestination, FACILITIES } from '../../src/observe/syslog.js';
import { createLogger } from '../../src/observe/log.js';

const require = createRequire(import.meta.url);
let unix: { createSocket(t: string, cb?: (msg: Buffer) => void): any } | null = null;
try {
  unix = require('unix-dgram');
} catch {
  unix = null;
}

describe('syslog line format (RFC 3164 local form)', () => {
  it('PRI = facility*8 + severity from the pino level', () => {
    const d = new Date(2026, 10, 1, 9, 5, 7);
    expect(rfc3164Time(d)).toBe('Nov  1 09:05:07');
    expect(formatSyslog('{"level":30,"msg":"classified"}\n', FACILITIES.daemon, 'p2pgw', 42, d)).toBe(
      '<30>Nov  1 09:05:07 p2pgw[42]: {"level":30,"msg":"classified"}',
    );
    expect(formatSyslog('{"level":40,"msg":"blocked"}', FACILITIES.local3, 'p2pgw', 1, d).startsWith('<156>')).toBe(true);
    expect([severityOf(10), severityOf(30), severityOf(40), severityOf(50), severityOf(60)]).toEqual([7, 6, 4, 3, 2]);
  });
});

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-syslog-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!unix)('syslog destination over a Unix datagram socket standing in for /dev/log', () => {
  it('a verdict line arrives as one datagram with tag, facility and the JSON fields', async () => {
    const sockPath = path.join(tmp, 'log');
    const got: string[] = [];
    const server = unix!.createSocket('unix_dgram', (msg: Buffer) => got.push(msg.toString()));
    server.bind(sockPath);
    const { logger, notice, close } = createLogger({ level: 'info', dest: 'syslog', facility: 'local0', syslogSocket: sockPath }, 'live');
    expect(notice).toBeUndefined();
    logger.info({ app: 'bittorrent', mark: 1, l4: 'tcp', src: '10.0.0.1', sport: 5, dst: '10.0.0.2', dport: 6, verdict: 'reset' }, 'blocked');
    for (let i = 0; i < 50 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    close();
    server.close();
    expect(got.length).toBe(1);
    expect(got[0]).toMatch(/^<134>\w{3} [ \d]\d \d\d:\d\d:\d\d p2pgw\[\d+\]: \{/);
    const json = JSON.parse(got[0].slice(got[0].indexOf(': ') + 2));
    expect(json).toMatchObject({ msg: 'blocked', app: 'bittorrent', verdict: 'reset', src: '10.0.0.1', dport: 6 });
  });

  it('falls back to stderr with a notice when the socket does not exist', () => {
    const { notice } = createLogger({ level: 'info', dest: 'syslog', facility: 'daemon', syslogSocket: path.join(tmp, 'none') }, 'live');
    expect(notice).toMatch(/syslog unavailable .*none.*stderr/);
    expect(() => new SyslogDestination(path.join(tmp, 'none'), 3)).toThrow(/no syslog socket/);
  });
});
if (!unix) console.warn('skipping the syslog socket test: the unix-dgram addon is not installed');
