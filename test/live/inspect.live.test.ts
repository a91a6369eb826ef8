/**
 * Content management live, on NFQUEUE, in a client–gateway–server lab, over real TCP through the
 * daemon (`dist/cli/main.js run` in the gateway namespace):
 *  - a 20 MiB file by HTTP and by Gnutella-style GET arrives byte-identical, with its audit copy's
 *    sha256 equal to the original's;
 *  - the same file with EICAR across a 32 KiB buffer boundary: the connection is reset and the
 *    receiver never gets the complete file;
 *  - an MSN chat message with a banned keyword resets the connection; a clean one is audited;
 *  - while one connection is held for a slow scan (test hook `scan.debug_delay_ms`), a second
 *    inspected connection keeps flowing.
 * Skipped, with the reason printed, only when not root or without `ip netns`.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Lab } from '../../src/tools/lab/netns.js';
import { ascii, concat, prngBytes, utf8 } from '../../src/apps/bytes.js';
import type { Session } from '../../src/apps/session-types.js';
import { EICAR } from '../../src/content/virusdb.js';
import { liveEnv } from './fixtures/netns.js';
import { exchange as exchangeIn, httpFile, MAIN, startDaemon, stopDaemon, useLabDaemon, type Daemon } from './fixtures/daemon.js';

const env = liveEnv('inspect');
if (!env.ok) console.warn(`skipping live inspection tests: ${env.reason}`);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-insp-'));
const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const start = (lab: Lab, config: string): Promise<Daemon> => startDaemon(lab, ['--config', config, '--status-socket', path.join(tmp, `st-${Date.now()}.sock`)]);

function config(name: string, yaml: string): string {
  const f = path.join(tmp, `${name}.yaml`);
  fs.writeFileSync(f, yaml);
  return f;
}

const gnutellaGet = (port: number, name: string, body: Uint8Array): Session => ({
  app: 'gnutella', name: `gnutella.${name}`, l4: 'tcp', port,
  steps: [
    { dir: 'out', bytes: ascii(`GET /get/7/${name} HTTP/1.1\r\nUser-Agent: gtk-gnutella/1.2.2\r\nX-Queue: 0.1\r\nConnection: close\r\n\r\n`) },
    { dir: 'in', bytes: concat(ascii(`HTTP/1.1 200 OK\r\nServer: gtk-gnutella/1.2.2\r\nContent-Type: application/binary\r\nContent-Length: ${body.length}\r\n\r\n`), body) },
  ],
});

/** An MSN switchboard session (MSNP8): USR then one MSG per text, client → server. */
function msnChat(port: number, name: string, texts: string[]): Session {
  const steps: Session['steps'] = [
    { dir: 'out', bytes: ascii('USR 1 alice@example.com 17262740.1050826919.32308\r\n') },
    { dir: 'in', bytes: ascii('USR 1 OK alice@example.com Alice\r\n') },
  ];
  texts.forEach((t, i) => {
    const body = utf8(`MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nX-MMS-IM-Format: FN=Arial; EF=; CO=0; CS=0; PF=22\r\n\r\n${t}`);
    steps.push({ dir: 'out', bytes: concat(ascii(`MSG ${i + 2} N ${body.length}\r\n`), body) });
  });
  return { app: 'msn', name: `msn.${name}`, l4: 'tcp', port, steps };
}

const exchange = (lab: Lab, name: string, sessions: Session[], timeoutMs = 30_000) => exchangeIn(lab, tmp, name, sessions, timeoutMs);

const readJsonl = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);

describe.skipIf(!env.ok || !fs.existsSync(MAIN))('content management (live, NFQUEUE)', () => {
  const ctx = useLabDaemon({ name: `pgi${process.pid % 10000}`, tmp });

  it('20 MiB by HTTP and by Gnutella GET arrive byte-identical and the audit copies match', async () => {
    const audit = path.join(tmp, 'audit1');
    const { lab } = ctx;
    const daemon = (ctx.daemon = await start(lab, config('a', `apps:\n  http: {action: inspect}\n  gnutella: {action: inspect}\naudit: {enabled: true, dir: ${audit}, min_free: 0}\n`)));
    const body = prngBytes(7, 20 * MiB, 'big');
    const { client } = await exchange(lab, 'big', [httpFile(45100, 'big.bin', body), gnutellaGet(45101, 'song.mp3', body)], 120_000);
    for (const r of client) expect(r, r.name).toMatchObject({ ok: true, reset: false });
    await stopDaemon(daemon);
    const index = readJsonl(path.join(audit, 'index.jsonl'));
    const byApp = (app: string) => index.find((r) => r.app === app && r.size === body.length);
    expect(byApp('http')).toMatchObject({ name: 'big.bin', sha256: sha(body), complete: true });
    expect(byApp('gnutella')).toMatchObject({ name: 'song.mp3', sha256: sha(body), complete: true });
    const stopped = daemon.lines.find((l) => l.msg === 'stopped') as { counters: Record<string, number>; nfq: Record<string, number> };
    expect(stopped.counters.scans).toBeGreaterThanOrEqual(2 * 640); // 20 MiB / 32 KiB per transfer
    expect(stopped.counters.infected ?? 0).toBe(0);
    expect(stopped.nfq.received).toBe(stopped.nfq.accept + stopped.nfq.drop + stopped.nfq.repeat);
  }, 180_000);

  it('EICAR across a 32 KiB buffer boundary resets the connection; the receiver never gets the whole file', async () => {
    const { lab } = ctx;
    const daemon = (ctx.daemon = await start(lab, config('b', 'apps:\n  http: {action: inspect}\n')));
    const body = prngBytes(8, 2 * MiB, 'eicar');
    body.set(ascii(EICAR), 32 * 1024 - 20); // body offset; the boundary is at 32 KiB of the body
    const { client } = await exchange(lab, 'eicar', [httpFile(45200, 'eicar.bin', body)]);
    const infected = daemon.lines.find((l) => l.msg === 'infected');
    expect(infected, JSON.stringify(daemon.lines.slice(-6))).toMatchObject({ virus: 'Eicar-Test-Signature', verdict: 'reset', app: 'http', rule: 'virus.Eicar-Test-Signature' });
    expect(client[0].bytesReceived).toBeLessThan(body.length);
    expect(client[0], JSON.stringify(client[0])).toMatchObject({ ok: false, reset: true });
  }, 60_000);

  it('a banned keyword in an MSN message resets the connection; a clean message is audited', async () => {
    const audit = path.join(tmp, 'audit3');
    const { lab } = ctx;
    const daemon = (ctx.daemon = await start(lab, config('c', `apps:\n  msn: {action: inspect}\nkeywords:\n  lists:\n    banned: [secret plan]\naudit: {enabled: true, dir: ${audit}, min_free: 0}\n`)));
    const { client, server } = await exchange(lab, 'msn', [
      msnChat(45300, 'clean', ['hello there, Привет']),
      msnChat(45301, 'banned', ['hi', 'the SECRET PLAN is on', 'bye']),
    ], 5000);
    const clean = client.find((r) => r.name === 'msn.clean')!;
    const banned = client.find((r) => r.name === 'msn.banned')!;
    expect(clean.ok).toBe(true);
    expect(banned.ok).toBe(false);
    const srvBanned = server.filter((r) => r.port === 45301);
    const got = srvBanned.reduce((n, r) => n + r.bytesReceived, 0);
    const whole = msnChat(45301, 'banned', ['hi', 'the SECRET PLAN is on', 'bye']).steps.filter((s) => s.dir === 'out').reduce((n, s) => n + s.bytes.length, 0);
    expect(got).toBeLessThan(whole); // the banned message never reached the server
    const hit = daemon.lines.find((l) => l.msg === 'keyword');
    expect(hit).toMatchObject({ list: 'banned', keyword_id: 'banned#0', verdict: 'reset', app: 'msn' });
    const chat = readJsonl(path.join(audit, 'chat.jsonl'));
    expect(chat.some((c) => c.text === 'hello there, Привет' && c.app === 'msn' && c.dir === 'out')).toBe(true);
  }, 60_000);

  it('a connection held for a slow scan does not stop another inspected connection', async () => {
    const { lab } = ctx;
    ctx.daemon = await start(lab, config('d', 'apps:\n  http: {action: inspect}\n  msn: {action: inspect}\nscan: {debug_delay_ms: 3000}\n'));
    const body = prngBytes(9, 200 * 1024, 'slow');
    const texts = Array.from({ length: 300 }, (_, i) => `message number ${i} `.repeat(8));
    const { client } = await exchange(lab, 'slow', [httpFile(45400, 'slow.bin', body), msnChat(45401, 'flood', texts)], 60_000);
    const slow = client.find((r) => r.name === 'http.slow.bin')!;
    const flood = client.find((r) => r.name === 'msn.flood')!;
    expect(slow.ok).toBe(true);
    expect(flood.ok).toBe(true);
    // 200 KiB = 7 scan buffers at 3 s each: the HTTP transfer is held for seconds …
    expect(slow.ms).toBeGreaterThan(6000);
    // … while the chat flood through the same queue finishes long before, at a non-zero rate.
    expect(flood.ms).toBeLessThan(3000);
    expect(flood.bytesSent / (flood.ms / 1000)).toBeGreaterThan(10_000);
  }, 90_000);
});
