/**
 * Shaping through the product: `p2pgw run` with a `shaping:` config builds the HTB tree and the
 * CLASSIFY rules itself, BitTorrent capped at 5 Mbit/s gets 5 Mbit/s ± 15 %, `p2pgw status --json`
 * reports the per-class bytes, and SIGTERM removes the tree. (shaping.live.test.ts covers the
 * module in more depth.) Skipped, with the reason printed, only when not root or without netns.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { onLines, parseJsonLine, waitExit } from '../../src/tools/lab/run.js';
import { ROOT } from '../helpers/paths.js';
import { waitUntil } from '../helpers/wait.js';
import { liveEnv } from './fixtures/netns.js';
import { awaitReady, MAIN, useLab } from './fixtures/daemon.js';

const env = liveEnv('shapecfg');
if (!env.ok) console.warn(`skipping live shaping-config tests: ${env.reason}`);
const STREAM = path.join(ROOT, 'test', 'live', 'fixtures', 'shape-stream.mjs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-shapecfg-'));
const MBIT = 1e6;

describe.skipIf(!env.ok || !fs.existsSync(MAIN))('shaping from the config (live)', () => {
  const ctx = useLab({ name: `psc${process.pid % 10000}`, tmp, lab: { ipv6: false } });

  it('the daemon shapes BitTorrent to its cap, reports class usage, and removes the tree on stop', async () => {
    const { lab } = ctx;
    const cfg = path.join(tmp, 'p2pgw.yaml');
    fs.writeFileSync(cfg, [
      'shaping:',
      '  wan: {dev: wan0, rate: 20mbit}',
      '  lan: {dev: lan0, rate: 20mbit}',
      'apps:',
      '  bittorrent: {shape: {rate: 5mbit, ceil: 5mbit}}',
      '',
    ].join('\n'));
    const sock = path.join(tmp, 'status.sock');
    const daemon = lab.spawn('gw', [process.execPath, MAIN, 'run', '--log-dest', 'stderr', '--config', cfg, '--status-socket', sock]);
    const lines: Record<string, unknown>[] = [];
    await awaitReady(daemon, { stderr: [], lines }, 'daemon');
    const tc = (dev: string) => spawnSync('ip', ['netns', 'exec', lab.ns.gw, 'tc', 'qdisc', 'show', 'dev', dev], { encoding: 'utf8' }).stdout;
    expect(tc('lan0')).toMatch(/qdisc htb 1: root/);
    expect(tc('wan0')).toMatch(/qdisc htb 1: root/);

    const server = lab.spawn('server', [process.execPath, STREAM, 'server', lab.addr.server, '46100', '46101']);
    await new Promise<void>((resolve) => onLines(server.stdout, (l) => parseJsonLine(l)?.ready && resolve()));
    const r = await lab.exec('client', [process.execPath, STREAM, 'client', lab.addr.server, '700', '8000', '46100:bt'], { timeoutMs: 20_000 });
    const flow = r.stdout.split('\n').map(parseJsonLine).find(Boolean) as { bps: number; bytes: number };
    expect(flow.bps).toBeGreaterThanOrEqual(5 * MBIT * 0.85);
    expect(flow.bps).toBeLessThanOrEqual(5 * MBIT * 1.15);

    // The daemon refreshes its class statistics every second: poll the status until they show the
    // flow's bytes, up to a deadline.
    const classBytes = (): number | undefined => {
      const st = spawnSync(process.execPath, [MAIN, 'status', '--json', '--socket', sock], { encoding: 'utf8' });
      expect(st.status, st.stderr).toBe(0);
      const status = JSON.parse(st.stdout) as { shaping: { dev: string; app?: string; bytes: number }[] };
      return status.shaping.find((c) => c.dev === 'lan0' && c.app === 'bittorrent')?.bytes;
    };
    const shown = (): number => {
      const b = classBytes() ?? 0;
      return b > flow.bytes ? b : 0;
    };
    const bytes = await waitUntil(shown, 10_000, 'class statistics show the flow', 200).catch(() => classBytes());
    expect(bytes).toBeGreaterThan(flow.bytes);

    server.kill('SIGTERM');
    daemon.kill('SIGTERM');
    expect(await waitExit(daemon, 15_000, true)).toBe(true);
    expect(daemon.exitCode).toBe(0);
    expect(tc('lan0')).not.toMatch(/htb/);
    expect(tc('wan0')).not.toMatch(/htb/);
  }, 60_000);
});
