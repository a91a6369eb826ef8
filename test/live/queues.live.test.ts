/**
 * `p2pgw run --queues 2` live: the supervisor starts two queue workers, installs `--queue-balance`
 * rules, every scripted session (TCP and UDP, IPv4 and IPv6) is still classified and marked, the
 * status document merges both workers, a killed worker is respawned, and SIGTERM removes every
 * rule. Skipped, with the reason printed, only when not root or without `ip netns`.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, type Lab } from '../../src/lab/netns.js';
import { onLines, parseJsonLine, runGenClient, startGenServer, waitExit } from '../../src/lab/run.js';
import { ROOT } from '../helpers/paths.js';
import { liveEnv } from './fixtures/netns.js';

const env = liveEnv('queues');
if (!env.ok) console.warn(`skipping live multi-queue tests: ${env.reason}`);
const MAIN = path.join(ROOT, 'dist', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-queues-'));

describe.skipIf(!env.ok || !fs.existsSync(MAIN))('run --queues 2 (live)', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await createLab({ name: `pgq${process.pid % 10000}`, ipv6: true });
  });
  afterAll(async () => {
    await lab?.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('two workers share the traffic by flow; sessions are classified; status merges; stop removes the rules', async () => {
    const sock = path.join(tmp, 'st.sock');
    const d: ChildProcess = lab.spawn('gw', [process.execPath, MAIN, 'run', '--queues', '2', '--log-dest', 'stderr', '--status-socket', sock]);
    const lines: Record<string, unknown>[] = [];
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`not ready: ${JSON.stringify(lines)}`)), 30_000);
      onLines(d.stderr, (l) => {
        const j = parseJsonLine(l);
        if (j) lines.push(j);
        if (j?.msg === 'ready' && j.queues) (clearTimeout(t), resolve());
      });
      d.once('exit', (c) => (clearTimeout(t), reject(new Error(`exited ${c}: ${JSON.stringify(lines)}`))));
    });
    const rules = spawnSync('ip', ['netns', 'exec', lab.ns.gw, 'iptables-save', '-t', 'mangle'], { encoding: 'utf8' }).stdout;
    expect(rules).toMatch(/--queue-balance 0:1/);

    const apps = 'bittorrent.peerwire,bittorrent.dht,edonkey.hello,edonkey.kad,gnutella.handshake,msn.notification,http.get';
    for (const server of [lab.addr.server, lab.addr.server6!]) {
      const src = ['--apps', apps, '--base-port', server.includes(':') ? '47100' : '47000'];
      const srv = await startGenServer(lab, { source: src, timeoutMs: 5000 });
      const cli = await runGenClient(lab, { source: src, server, timeoutMs: 5000, sessions: 7 });
      await srv.stop();
      expect(cli.results.map((r) => `${r.name}:${r.ok}`).sort()).toEqual(apps.split(',').map((a) => `${a}:true`).sort());
    }
    const classified = lines.filter((l) => l.msg === 'classified');
    expect(classified).toHaveLength(14);
    expect(new Set(classified.map((l) => l.worker))).toEqual(new Set([0, 1])); // both workers judged flows

    const st = JSON.parse(spawnSync(process.execPath, [MAIN, 'status', '--json', '--socket', sock], { encoding: 'utf8' }).stdout);
    expect(st.queues).toBe(2);
    expect(st.workers).toHaveLength(2);
    expect(st.counters.classified_bittorrent).toBe(4);
    expect(st.nfq.received).toBe(st.nfq.accept + st.nfq.drop + st.nfq.repeat);

    // a worker that dies is respawned
    const victim = (st.workers as { pid: number }[])[0].pid;
    process.kill(victim, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 2500));
    const st2 = JSON.parse(spawnSync(process.execPath, [MAIN, 'status', '--json', '--socket', sock], { encoding: 'utf8' }).stdout);
    expect(st2.workers).toHaveLength(2);
    expect((st2.workers as { pid: number }[]).map((w) => w.pid)).not.toContain(victim);
    expect(st2.supervisor.worker_died).toBe(1);

    d.kill('SIGTERM');
    expect(await waitExit(d, 20_000, true)).toBe(true);
    expect(d.exitCode).toBe(0);
    const after = spawnSync('ip', ['netns', 'exec', lab.ns.gw, 'iptables-save'], { encoding: 'utf8' }).stdout;
    expect(after).not.toMatch(/P2PGW/);
  }, 90_000);
});
