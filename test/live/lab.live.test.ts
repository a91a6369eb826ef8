/**
 * Live lab test: builds the client — gateway — server namespaces of src/tools/lab/netns.ts (10.232.1.0/24,
 * 10.232.2.0/24, fd00:232:1::/64, fd00:232:2::/64, only inside the namespaces), runs the traffic
 * generator (src/tools/lab/gen.ts, compiled on its own into a temp dir) with plain forwarding (no daemon)
 * and checks that every scripted session completes byte-exact over IPv4 and IPv6 (20 MB bulk in each
 * direction, sha256 compared), that capture flows re-enact byte-exact, and that destroyStale cleans a
 * crashed lab. Skipped, with the reason printed, when not root or `ip netns` is unavailable.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionResult } from '../../src/tools/lab/gen-core.js';
import { createLab, destroyStale, listNamespaces, type Lab } from '../../src/tools/lab/netns.js';
import { runGenClient, startGenServer, waitExit } from '../../src/tools/lab/run.js';
import { writeScenario } from '../../src/tools/lab/scenario.js';
import { buildScenario } from '../../src/tools/lab/sessions.js';
import type { Session } from '../../src/apps/session-types.js';
import { capture, ROOT, TSC } from '../helpers/paths.js';
import { liveEnv } from './fixtures/netns.js';

const env = liveEnv('lab');
if (!env.ok) console.warn(`skipping live lab tests: ${env.reason}`);

const ID = process.pid % 100000;
const BULK = 20 * 1024 * 1024;

/** sha256 of the concatenated steps of one direction: what the other side must have received. */
const digest = (s: Session, dir: 'out' | 'in'): string => {
  const h = createHash('sha256');
  for (const st of s.steps) if (st.dir === dir) h.update(st.bytes);
  return h.digest('hex');
};

/** Every client result ok and byte-exact against its session; server lines likewise. */
function checkResults(sessions: Session[], client: SessionResult[], server: SessionResult[]): void {
  expect(client.length).toBe(sessions.length);
  for (const s of sessions) {
    const c = client.find((r) => r.port === s.port);
    expect(c, s.name).toBeDefined();
    expect({ name: s.name, ok: c!.ok, error: c!.error }).toEqual({ name: s.name, ok: true, error: undefined });
    expect(c!.reset).toBe(false);
    expect(c!.sha256Received, s.name).toBe(digest(s, 'in'));
    const srv = server.filter((r) => r.port === s.port && r.l4 === s.l4);
    expect(srv.length, `server lines for ${s.name}`).toBeGreaterThan(0);
    for (const r of srv) {
      expect(r.ok, `${s.name} server: ${r.error}`).toBe(true);
      expect(r.sha256Received, s.name).toBe(digest(s, 'out'));
    }
  }
}

describe.skipIf(!env.ok)('lab (live)', () => {
  let build = '';
  let gen = '';
  let lab: Lab | undefined;

  beforeAll(() => {
    build = mkdtempSync(path.join(os.tmpdir(), 'p2pgw-lab-live-'));
    writeFileSync(path.join(build, 'package.json'), '{"type":"module"}\n');
    const t = Date.now();
    spawnSync(
      TSC,
      ['--ignoreConfig', '--outDir', path.join(build, 'dist'), '--rootDir', path.join(ROOT, 'src'), '--target', 'ES2022', '--module', 'NodeNext',
        '--moduleResolution', 'NodeNext', '--strict', '--skipLibCheck', '--types', 'node', path.join(ROOT, 'src', 'tools', 'lab', 'gen.ts')],
      { cwd: ROOT, encoding: 'utf8' },
    );
    gen = path.join(build, 'dist', 'tools', 'lab', 'gen.js');
    if (!existsSync(gen)) throw new Error('compiling src/tools/lab/gen.ts failed');
    console.log(`[lab.live] compiled the generator in ${Date.now() - t} ms`);
  });

  afterAll(async () => {
    await lab?.destroy();
    if (build) rmSync(build, { recursive: true, force: true });
  });

  it('forwards every scripted session byte-exact over IPv4 and IPv6 (20 MB bulk each way over IPv4)', async () => {
    let t = Date.now();
    lab = await createLab({ name: `lt${ID}`, ipv6: true });
    console.log(`[lab.live] createLab (ipv6) in ${Date.now() - t} ms; notes: ${lab.notes.join('; ') || 'none'}`);
    const fwd = await lab.exec('gw', ['sysctl', '-n', 'net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']);
    expect(fwd.stdout.split(/\s+/).filter(Boolean)).toEqual(['1', '1']);
    const route = await lab.exec('client', ['ip', 'route', 'show', 'default']);
    expect(route.stdout).toContain('via 10.232.1.1');

    const sessions = buildScenario([], { bulkBytes: BULK });
    const file = path.join(build, 'all.json');
    await writeScenario(file, sessions);
    const small = sessions.filter((s) => s.app !== 'bulk');
    const file6 = path.join(build, 'v6.json');
    await writeScenario(file6, small);

    const server = await startGenServer(lab, { genScript: gen, source: ['--scenario', file], timeoutMs: 20_000, lifetimeSec: 120 });
    try {
      t = Date.now();
      const v4 = await runGenClient(lab, { genScript: gen, source: ['--scenario', file], timeoutMs: 20_000, sessions: sessions.length });
      const ms4 = Date.now() - t;
      const bulk = v4.results.filter((r) => r.app === 'bulk').map((r) => `${r.name} ${r.ms} ms`);
      console.log(`[lab.live] IPv4: ${v4.results.filter((r) => r.ok).length}/${sessions.length} ok in ${ms4} ms (${bulk.join(', ')})`);
      expect(v4.stderr).toBe('');
      expect(v4.code).toBe(0);

      t = Date.now();
      const v6 = await runGenClient(lab, { genScript: gen, source: ['--scenario', file6], server: lab.addr.server6, timeoutMs: 20_000, sessions: small.length });
      console.log(`[lab.live] IPv6: ${v6.results.filter((r) => r.ok).length}/${small.length} ok in ${Date.now() - t} ms`);
      expect(v6.code).toBe(0);

      await server.stop();
      const srv4 = server.results.filter((r) => !r.peer?.startsWith('fd00:'));
      const srv6 = server.results.filter((r) => r.peer?.startsWith('fd00:232:1::2'));
      checkResults(sessions, v4.results, srv4);
      checkResults(small, v6.results, srv6);
      // The bulk transfers really were 20 MB and hashed equal to the seeded originals.
      for (const name of ['bulk.upload', 'bulk.download']) {
        const s = sessions.find((x) => x.name === name)!;
        const moved = name === 'bulk.upload' ? srv4.find((r) => r.name === name)!.bytesReceived : v4.results.find((r) => r.name === name)!.bytesReceived;
        expect(moved).toBe(BULK);
        expect(s.steps.some((st) => st.bytes.length === BULK)).toBe(true);
      }
    } finally {
      await server.stop();
    }
  });

  it('re-enacts capture flows byte-exact through the gateway', async () => {
    const names = ['bittorrent', 'edonkey', 'gnutella', 'dns', 'ftp', 'quic', 'sip', 'ssh', 'stun'].map((n) => `${n}.pcap`);
    const files = [...names, 'http.pcapng'].map(capture).filter(existsSync);
    if (files.length === 0) {
      console.warn('[lab.live] no sample captures found: re-enact case skipped');
      return;
    }
    lab ??= await createLab({ name: `lt${ID}`, ipv6: true });
    const source = files.flatMap((f) => ['--capture', f]);
    // The same sessions the generator derives, for the expected hashes.
    const { sessionsFromCapture } = await import('../../src/tools/lab/reenact.js');
    const sessions: Session[] = [];
    let port = 41000;
    for (const f of files) {
      const r = sessionsFromCapture(f, { basePort: port });
      sessions.push(...r.sessions);
      port += r.sessions.length;
    }
    const server = await startGenServer(lab, { genScript: gen, source, timeoutMs: 10_000, lifetimeSec: 120 });
    try {
      const t = Date.now();
      const run = await runGenClient(lab, { genScript: gen, source, timeoutMs: 10_000, concurrency: 8, sessions: sessions.length });
      console.log(`[lab.live] re-enacted ${sessions.length} flows from ${files.length} captures in ${Date.now() - t} ms`);
      await server.stop();
      checkResults(sessions, run.results, server.results);
    } finally {
      await server.stop();
    }
  });

  it('destroyStale removes the namespaces and processes of a crashed lab', async () => {
    const name = `ls${ID}`;
    const crashed = await createLab({ name });
    const sleeper = crashed.spawn('gw', ['sleep', '30'], { stdio: 'ignore' });
    crashed.release(); // as if the owner died: nothing deletes it at exit
    expect(await listNamespaces()).toEqual(expect.arrayContaining([`${name}-c`, `${name}-g`, `${name}-s`]));
    await expect(createLab({ name })).rejects.toMatchObject({ code: 'P2PGW_ERR_LAB' });
    const gone = await destroyStale(`${name}-`);
    expect(gone.sort()).toEqual([`${name}-c`, `${name}-g`, `${name}-s`]);
    expect(await waitExit(sleeper, 5000)).toBe(true);
    const left = await listNamespaces();
    expect(left.filter((n) => n.startsWith(`${name}-`))).toEqual([]);
    await crashed.destroy(); // idempotent on a lab already gone
  });

  it('rejects bad lab names', async () => {
    await expect(createLab({ name: 'bad name!' })).rejects.toMatchObject({ code: 'P2PGW_ERR_LAB' });
    await expect(createLab({ name: 'x'.repeat(13) })).rejects.toMatchObject({ code: 'P2PGW_ERR_LAB' });
  });
});
