/**
 * The traffic generator's engine on loopback (127.0.0.1, no namespaces needed): every scripted
 * session completes byte-exact; a client that deviates from the script is reset (TCP) or times out
 * (UDP); a missing reply times out within the bound; argument parsing rejects bad input.
 */
import { createHash } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { playTcp, type SessionResult } from '../../src/tools/lab/gen-core.js';
import { runClient, runSession } from '../../src/tools/lab/gen-client.js';
import { startServer, type GenServer } from '../../src/tools/lab/gen-server.js';
import { parseGenArgs } from '../../src/tools/lab/gen.js';
import { buildScenario } from '../../src/tools/lab/sessions.js';
import type { Session } from '../../src/apps/session-types.js';
import { waitUntil } from '../helpers/wait.js';

// A random high port range, so parallel runs on one host do not collide.
const BASE = 42000 + Math.floor(Math.random() * 800) * 20;
const sessions = buildScenario([], { basePort: BASE, bulkBytes: 2 * 1024 * 1024 });
const digest = (s: Session, dir: 'out' | 'in'): string => {
  const h = createHash('sha256');
  for (const st of s.steps) if (st.dir === dir) h.update(st.bytes);
  return h.digest('hex');
};

describe('gen engine on loopback', () => {
  let server: GenServer;
  const serverResults: SessionResult[] = [];
  beforeAll(async () => {
    server = await startServer(sessions, { bind: ['127.0.0.1'], timeoutMs: 5000, onResult: (r) => serverResults.push(r) });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('plays every session byte-exact on both sides', async () => {
    const results = await runClient(sessions, { server: '127.0.0.1', timeoutMs: 5000, concurrency: 4 });
    for (const [i, s] of sessions.entries()) {
      const r = results[i];
      expect({ name: r.name, ok: r.ok, error: r.error }).toEqual({ name: s.name, ok: true, error: undefined });
      expect(r.sha256Received).toBe(digest(s, 'in'));
      expect(r.bytesSent).toBe(s.steps.filter((st) => st.dir === 'out').reduce((n, st) => n + st.bytes.length, 0));
    }
    await waitUntil(() => sessions.every((s) => serverResults.some((x) => x.port === s.port)), 5000, 'a server line per session');
    for (const s of sessions) {
      const r = serverResults.find((x) => x.port === s.port);
      expect(r?.ok, s.name).toBe(true);
      expect(r?.sha256Received).toBe(digest(s, 'out'));
    }
  });

  it('resets a TCP client that deviates from the script', async () => {
    const s = sessions.find((x) => x.name === 'gnutella.handshake')!;
    const bad: Session = { ...s, steps: s.steps.map((st, i) => (i === 0 ? { dir: st.dir, bytes: Buffer.from(st.bytes).fill(0x41, 0, 8) } : st)) };
    const r = await runSession(bad, '127.0.0.1', 3000);
    expect(r.ok).toBe(false);
    expect(r.reset).toBe(true);
    await waitUntil(() => serverResults.some((x) => x.port === s.port && /^mismatch at step 0 byte 0/.test(x.error ?? '')), 5000, 'the server reports the mismatch');
  });

  // libuv reports a RST that arrives while received bytes are still unread as end-of-stream (Node
  // emits `end`, not `error`): the client must still report a reset, and a real FIN must not.
  it.each(['reset', 'fin'] as const)('tells a %s behind unread bytes from the other', async (how) => {
    const body = Buffer.alloc(60_000, 7);
    let sentAll!: () => void;
    const serverDone = new Promise<void>((r) => (sentAll = r));
    let clientUp!: () => void;
    const connected = new Promise<void>((r) => (clientUp = r));
    const srv = net.createServer((s) => {
      s.on('error', () => undefined);
      void connected.then(() => s.write(body, () => (how === 'reset' ? (s.resetAndDestroy(), sentAll()) : s.end(sentAll))));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    const session: Session = { app: 'http', name: `end.${how}`, l4: 'tcp', port, steps: [{ dir: 'in', bytes: Buffer.concat([body, Buffer.alloc(10, 7)]) }] };
    const sock = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, clientUp);
    sock.pause(); // nothing is read until the server has sent everything and its RST or FIN
    await serverDone;
    await new Promise((r) => setImmediate(r));
    const played = playTcp(sock, session, 'client', Date.now() + 5000);
    sock.resume();
    const r = (await played).result();
    srv.close();
    expect(r.bytesReceived).toBe(body.length);
    if (how === 'reset') expect(r).toMatchObject({ ok: false, reset: true, error: 'ECONNRESET' });
    else expect(r).toMatchObject({ ok: false, reset: false, error: `peer closed at step 0 after ${body.length} of ${body.length + 10} bytes` });
  });

  it('times out when the expected reply never comes (UDP mismatch, missing TCP bytes)', async () => {
    const u = sessions.find((x) => x.name === 'bittorrent.dht')!;
    const badUdp: Session = { ...u, steps: [{ dir: 'out', bytes: Buffer.from('not krpc') }, u.steps[1]] };
    const t0 = Date.now();
    const r = await runSession(badUdp, '127.0.0.1', 500);
    expect(r.ok).toBe(false);
    expect(r.error).toBe('timeout at step 1');
    expect(Date.now() - t0).toBeLessThan(2000);
    const h = sessions.find((x) => x.name === 'http.get')!;
    const longer: Session = { ...h, steps: [...h.steps, { dir: 'in', bytes: Buffer.from('more') }] };
    const r2 = await runSession(longer, '127.0.0.1', 500);
    expect(r2.ok).toBe(false);
    expect(r2.error).toMatch(/^peer closed at step 2|^timeout at step 2/);
  });
});

describe('parseGenArgs', () => {
  it('parses sources and options', () => {
    const a = parseGenArgs(['client', '--apps', 'bittorrent,msn', '--capture', 'x.pcap', '--server', '10.0.0.1', '--timeout', '500']);
    expect([a.mode, a.apps, a.capture, a.server, a.timeoutMs]).toEqual(['client', ['bittorrent', 'msn'], ['x.pcap'], '10.0.0.1', 500]);
  });
  it('rejects bad usage', () => {
    for (const argv of [[], ['serve'], ['server'], ['client', '--apps', 'all'], ['server', '--apps', 'all', '--timeout', 'x'], ['server', '--bogus', '1']]) {
      expect(() => parseGenArgs(argv), argv.join(' ')).toThrow(expect.objectContaining({ code: 'P2PGW_ERR_USAGE' }));
    }
  });
});
