/**
 * Per-application bandwidth control, live, in a client–gateway–server lab (src/tools/lab/netns.ts; every
 * address and qdisc is inside our namespaces). The daemon (`dist/cli/main.js run`, default config)
 * runs in the gateway and marks connections; the test applies shaping to the gateway's interfaces
 * through src/enforce/tc.ts (HTB link class of 20 Mbit/s on lan0 and wan0) and measures goodput at
 * the client of two downloads that share lan0's egress: a BitTorrent peer-wire stream (handshake,
 * then endless `piece` messages; fixtures/shape-stream.mjs) and an unclassified bulk stream.
 *  - BitTorrent capped at rate = ceil = 5 Mbit/s gets 5 Mbit/s ± 15 % over 10 s;
 *  - the unclassified flow gets ≥ 80 % of the remaining 15 Mbit/s;
 *  - with no cap, BitTorrent alone gets most of the link;
 *  - re-applying is idempotent, changing the plan prunes classes, removal leaves nothing behind.
 * Skipped, with the reason printed, when not root or without `ip netns`.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { onLines, parseJsonLine, waitExit } from '../../src/tools/lab/run.js';
import { detectBackend, type Backend } from '../../src/enforce/backend.js';
import { listOurRules } from '../../src/enforce/iptables.js';
import {
  applyShaping, describeSupport, detectQdiscSupport, planShaping, readClassStats, removeShaping,
  type ShapedApp, type ShapingConfig, type TcSupport,
} from '../../src/enforce/tc.js';
import { ROOT } from '../helpers/paths.js';
import { liveEnv } from './fixtures/netns.js';
import { MAIN, startDaemon, useLab, type Daemon } from './fixtures/daemon.js';

const env = liveEnv('shaping');
if (!env.ok) console.warn(`skipping live shaping tests: ${env.reason}`);
const STREAM = path.join(ROOT, 'test', 'live', 'fixtures', 'shape-stream.mjs');
if (env.ok && !fs.existsSync(MAIN)) console.warn(`skipping live shaping tests: ${MAIN} missing (npm run build:ts)`);

const MBIT = 1e6;
const LINK = '20mbit';
const WARMUP_MS = 700;
const MEASURE_MS = 10_000;
const PORT = { bt: 45100, plain: 45101 };

interface Flow {
  port: number;
  kind: string;
  localPort: number;
  bytes: number;
  seconds: number;
  bps: number;
  error: string | null;
}

const shaping = (): ShapingConfig => ({ lan: { dev: 'lan0', rate: LINK }, wan: { dev: 'wan0', rate: LINK } });
const apps = (btShape?: ShapedApp['shape']): ShapedApp[] => [
  { name: 'bittorrent', mark: 0x1, shape: btShape ?? null },
  { name: 'edonkey', mark: 0x2 },
  { name: 'http', mark: 0x7 },
];

describe.skipIf(!env.ok || !fs.existsSync(MAIN))('per-application shaping (live, HTB + CLASSIFY)', () => {
  let daemon: Daemon | undefined;
  let server: ChildProcess;
  let backend: Backend;
  let support: TcSupport;

  const ctx = useLab({
    name: `psh${process.pid % 10000}`,
    lab: { ipv6: false },
    afterCreate: async (lab) => {
      daemon = await startDaemon(lab, []);
      server = lab.spawn('server', [process.execPath, STREAM, 'server', lab.addr.server, String(PORT.bt), String(PORT.plain)]);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('stream server not ready in 5 s')), 5000);
        onLines(server.stdout, (l) => parseJsonLine(l)?.ready && (clearTimeout(t), resolve()));
      });
      backend = await detectBackend('auto', { netns: lab.ns.gw });
      support = await detectQdiscSupport({ backend });
      console.info(`tc support (${support.method}): ${describeSupport(support).join('; ') || 'everything'}`);
    },
    beforeDestroy: async (lab) => {
      await removeShaping({ devs: ['lan0', 'wan0'], netns: lab.ns.gw, backend }).catch(() => undefined);
      if (daemon && daemon.proc.exitCode === null) {
        daemon.proc.kill('SIGTERM');
        await waitExit(daemon.proc, 10_000);
      }
    },
  });

  /** Runs the client with `flows` downloading at once; returns one result per flow. */
  async function download(...kinds: ('bt' | 'plain')[]): Promise<Record<string, Flow>> {
    const specs = kinds.map((k) => `${PORT[k]}:${k}`);
    const { lab } = ctx;
    const r = await lab.exec('client', [process.execPath, STREAM, 'client', lab.addr.server, String(WARMUP_MS), String(MEASURE_MS), ...specs], {
      timeoutMs: WARMUP_MS + MEASURE_MS + 10_000,
    });
    expect(r.code, r.stderr).toBe(0);
    const flows = r.stdout.split('\n').map(parseJsonLine).filter(Boolean) as unknown as Flow[];
    expect(flows.length).toBe(kinds.length);
    for (const f of flows) expect(f.error).toBeNull();
    return Object.fromEntries(flows.map((f) => [f.kind, f]));
  }

  /** conntrack mark of the gateway's connection from the client's `localPort`. */
  function connmark(localPort: number): number | null {
    const r = spawnSync('ip', ['netns', 'exec', ctx.lab.ns.gw, 'conntrack', '-L', '-p', 'tcp', '--sport', String(localPort)], { encoding: 'utf8' });
    const m = /mark=(\d+)/.exec(r.stdout);
    return m ? Number(m[1]) : null;
  }

  const tcShow = (what: string, dev: string): string =>
    spawnSync('ip', ['netns', 'exec', ctx.lab.ns.gw, 'tc', what, 'show', 'dev', dev], { encoding: 'utf8' }).stdout;

  it('the kernel has what shaping needs (HTB, a FIFO, CLASSIFY or fw)', () => {
    expect(support.qdiscs.htb).toBe(true);
    expect(support.qdiscs.bfifo).toBe(true);
    expect(support.classify === true || support.filters.fw === true).toBe(true);
  });

  it('BitTorrent capped at 5 Mbit/s gets 5 Mbit/s ± 15 %; the unclassified flow ≥ 80 % of the other 15 Mbit/s', async () => {
    const { lab } = ctx;
    const plan = planShaping({ shaping: shaping(), apps: apps({ rate: '5mbit', ceil: '5mbit' }) }, support);
    const notices = await applyShaping(plan, { netns: lab.ns.gw, backend });
    expect(notices).toEqual([]); // veths start with noqueue: nothing foreign replaced
    const rules = await listOurRules(backend, { netns: lab.ns.gw, chain: plan.iptables.chain });
    expect(rules.some((l) => /-A POSTROUTING -j P2PGW_TC/.test(l))).toBe(true);
    expect(rules.filter((l) => /CLASSIFY|MARK --set/.test(l)).length).toBe(2 * backend.families.length); // bittorrent on lan0 and wan0

    const f = await download('bt', 'plain');
    console.info(`capped: bittorrent ${(f.bt.bps / MBIT).toFixed(2)} Mbit/s, unclassified ${(f.plain.bps / MBIT).toFixed(2)} Mbit/s over ${f.bt.seconds.toFixed(2)} s`);
    expect(connmark(f.bt.localPort)).toBe(0x1);
    expect(connmark(f.plain.localPort)).toBe(0xff);
    expect(f.bt.bps).toBeGreaterThanOrEqual(5 * MBIT * 0.85);
    expect(f.bt.bps).toBeLessThanOrEqual(5 * MBIT * 1.15);
    expect(f.plain.bps).toBeGreaterThanOrEqual(0.8 * 15 * MBIT);

    const stats = await readClassStats('lan0', { netns: lab.ns.gw, apps: apps() });
    const bt = stats.find((c) => c.app === 'bittorrent')!;
    const def = stats.find((c) => c.role === 'default')!;
    expect(bt).toMatchObject({ classid: '1:1', rateBps: 5 * MBIT, ceilBps: 5 * MBIT });
    expect(bt.bytes).toBeGreaterThan(f.bt.bytes);
    expect(def.bytes).toBeGreaterThan(f.plain.bytes);
    expect(bt.overlimits).toBeGreaterThan(0);
  }, 40_000);

  it('re-applying is idempotent; a new plan prunes the BitTorrent class', async () => {
    const { lab } = ctx;
    const plan = planShaping({ shaping: shaping(), apps: apps({ rate: '5mbit', ceil: '5mbit' }) }, support);
    const before = { rules: (await listOurRules(backend, { netns: lab.ns.gw, chain: 'P2PGW_TC' })).sort(), classes: tcShow('class', 'lan0') };
    await applyShaping(plan, { netns: lab.ns.gw, backend });
    expect((await listOurRules(backend, { netns: lab.ns.gw, chain: 'P2PGW_TC' })).sort()).toEqual(before.rules);
    expect(tcShow('class', 'lan0').split('\n').length).toBe(before.classes.split('\n').length);

    const uncapped = planShaping({ shaping: shaping(), apps: apps() }, support);
    await applyShaping(uncapped, { netns: lab.ns.gw, backend });
    expect(tcShow('class', 'lan0')).not.toMatch(/class htb 1:1 /);
    expect((await listOurRules(backend, { netns: lab.ns.gw, chain: 'P2PGW_TC' })).filter((l) => l.includes('CLASSIFY'))).toEqual([]);
  });

  it('with no cap, BitTorrent alone gets most of the link', async () => {
    const f = await download('bt');
    console.info(`uncapped: bittorrent ${(f.bt.bps / MBIT).toFixed(2)} Mbit/s alone on a 20 Mbit/s link`);
    expect(connmark(f.bt.localPort)).toBe(0x1);
    expect(f.bt.bps).toBeGreaterThanOrEqual(0.8 * 20 * MBIT);
    expect(f.bt.bps).toBeLessThanOrEqual(20 * MBIT * 1.05);
  }, 30_000);

  it('removal leaves no rule and no qdisc of ours, and is idempotent', async () => {
    const { lab } = ctx;
    await removeShaping({ devs: ['lan0', 'wan0'], netns: lab.ns.gw, backend });
    await removeShaping({ devs: ['lan0', 'wan0', 'nosuchdev'], netns: lab.ns.gw, backend });
    expect(await listOurRules(backend, { netns: lab.ns.gw, chain: 'P2PGW_TC' })).toEqual([]);
    for (const dev of ['lan0', 'wan0']) expect(tcShow('qdisc', dev)).not.toMatch(/htb/);
    expect(daemon!.proc.exitCode).toBeNull(); // the daemon's own rules are untouched
  });
});
