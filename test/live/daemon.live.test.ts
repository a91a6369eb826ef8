/**
 * The daemon live, on NFQUEUE, in a client–gateway–server lab (src/tools/lab/netns.ts, addresses only
 * inside our namespaces). Runs the built CLI (`dist/cli/main.js run`, built by `npm test`) in the
 * gateway namespace with real TCP/UDP traffic from the traffic generator:
 *  - BitTorrent flows re-enacted from nDPI's bittorrent.pcap end with connmark = BitTorrent's mark;
 *  - a blocked application gets a TCP reset and the receiver gets no data; blocked UDP is dropped;
 *  - 200 MB of unclassified bulk passes byte-identical and leaves user space early;
 *  - after SIGTERM no rule of ours remains; after SIGKILL new connections still pass (queue-bypass)
 *    and a restart leaves no duplicate rules.
 * Skipped, with the reason printed, only when not root or without `ip netns`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Lab } from '../../src/tools/lab/netns.js';
import { runGenClient, startGenServer } from '../../src/tools/lab/run.js';
import { capture } from '../helpers/paths.js';
import { liveEnv } from './fixtures/netns.js';
import { MAIN, startDaemon, stopDaemon, useLabDaemon, type Daemon } from './fixtures/daemon.js';

const env = liveEnv('daemon');
if (!env.ok) console.warn(`skipping live daemon tests: ${env.reason}`);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-live-'));

/** `p2pgw run` with the defaults or `config`, and `extra` arguments. */
const start = (lab: Lab, config?: string, extra: string[] = []): Promise<Daemon> => startDaemon(lab, [...(config ? ['--config', config] : []), ...extra]);

/** Stops the daemon with `sig`; its exit code (it must exit within 15 s). */
async function stop(d: Daemon, sig: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  expect(await stopDaemon(d, sig)).toBe(true);
  return d.proc.exitCode;
}

function writeConfig(name: string, text: string): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, text);
  return f;
}

/** conntrack entries in the gateway: dport → mark. */
function conntrackMarks(lab: Lab, proto: 'tcp' | 'udp'): Map<number, number> {
  const r = spawnSync('ip', ['netns', 'exec', lab.ns.gw, 'conntrack', '-L', '-p', proto], { encoding: 'utf8' });
  const out = new Map<number, number>();
  for (const line of r.stdout.split('\n')) {
    const dport = /dport=(\d+)/.exec(line);
    const mark = /mark=(\d+)/.exec(line);
    if (dport && mark) out.set(Number(dport[1]), Number(mark[1]));
  }
  return out;
}

/** Every line of our chains or jumps to them, in both families and both backends. */
function ourRules(lab: Lab): string[] {
  const found: string[] = [];
  for (const tool of ['iptables-legacy-save', 'ip6tables-legacy-save', 'iptables-nft-save', 'ip6tables-nft-save']) {
    const r = spawnSync('ip', ['netns', 'exec', lab.ns.gw, tool], { encoding: 'utf8' });
    for (const l of (r.stdout ?? '').split('\n')) if (l.includes('P2PGW')) found.push(`${tool}: ${l}`);
  }
  return found;
}

describe.skipIf(!env.ok || !fs.existsSync(MAIN))('p2pgw run (live, NFQUEUE)', () => {
  const ctx = useLabDaemon({
    name: `pgl${process.pid % 10000}`,
    tmp,
    lab: { ipv6: false },
    stop: (d) => stop(d),
    afterStop: (lab) => void spawnSync('ip', ['netns', 'exec', lab.ns.gw, 'conntrack', '-F'], { stdio: 'ignore' }),
  });

  it('re-enacted BitTorrent flows from bittorrent.pcap end with connmark = BitTorrent mark', async () => {
    const flowLog = path.join(tmp, 'flowlog');
    const exportDir = path.join(tmp, 'export');
    const { lab } = ctx;
    const daemon = (ctx.daemon = await start(lab, undefined, ['--trace-steps', '--flow-log', flowLog, '--export-pcap', exportDir]));
    const src = ['--capture', capture('bittorrent.pcap'), '--base-port', '41000'];
    const server = await startGenServer(lab, { source: src, timeoutMs: 5000 });
    const client = await runGenClient(lab, { source: src, timeoutMs: 5000, concurrency: 8, sessions: 24 });
    await server.stop();
    expect(client.results.length).toBe(24);
    const marks = conntrackMarks(lab, 'tcp');
    const ports = client.results.map((r) => r.port);
    const marked = ports.filter((p) => marks.get(p) === 1);
    expect(marked.length, `conntrack marks: ${JSON.stringify([...marks])}`).toBe(ports.length);
    const classified = daemon.lines.filter((l) => l.msg === 'classified' && l.app === 'bittorrent');
    expect(classified.length).toBe(24);
    expect(classified[0]).toMatchObject({ mark: 1, l4: 'tcp', verdict: 'accept', rule: 'bittorrent.handshake' });
    expect(await stop(daemon)).toBe(0);
    const stopped = daemon.lines.find((l) => l.msg === 'stopped') as { counters: Record<string, number>; nfq: Record<string, number> };
    // Every queued packet got exactly one verdict, and none had a bad checksum.
    expect(stopped.nfq.received).toBe(stopped.nfq.accept + stopped.nfq.drop + stopped.nfq.repeat);
    expect(stopped.counters.tcp_bad_checksum ?? 0).toBe(0);
    // --flow-log: every flow ended at stop and was written whole; --export-pcap: a labelled capture
    const logged = fs.readdirSync(flowLog).flatMap((f) => fs.readFileSync(path.join(flowLog, f), 'utf8').trim().split('\n')).map((l) => JSON.parse(l));
    expect(logged.filter((r) => r.app === 'bittorrent' && r.capture === 'live' && r.mark === 1)).toHaveLength(24);
    expect(fs.statSync(path.join(exportDir, 'bittorrent.pcap')).size).toBeGreaterThan(24 * 100);
    // --trace-steps: every step of the classification path was timed
    const steps = (stopped as unknown as { steps: Record<string, { count: number; p50_us: number; p99_us: number }> }).steps;
    for (const s of ['decode', 'flow_lookup', 'order_check', 'matcher', 'dissector', 'verdict', 'packet']) {
      expect(steps[s]?.count, s).toBeGreaterThan(0);
      expect(steps[s].p99_us).toBeGreaterThanOrEqual(steps[s].p50_us);
    }
  });

  it('a blocked TCP application is reset and the receiver gets no data; blocked UDP is dropped', async () => {
    const { lab } = ctx;
    const daemon = (ctx.daemon = await start(lab, writeConfig('block.yaml', 'apps:\n  bittorrent: {action: block}\n')));
    const src = ['--apps', 'bittorrent.peerwire,bittorrent.dht,http.get', '--base-port', '42000'];
    const server = await startGenServer(lab, { source: src, timeoutMs: 2000 });
    const client = await runGenClient(lab, { source: src, timeoutMs: 2000, sessions: 3 });
    await server.waitSessions(2); // the two TCP sessions (the blocked UDP one never reaches the server)
    await server.stop();
    const by = (name: string) => client.results.find((r) => r.name === name)!;
    expect(by('bittorrent.peerwire')).toMatchObject({ ok: false, reset: true, bytesReceived: 0 });
    expect(by('bittorrent.dht')).toMatchObject({ ok: false, bytesReceived: 0 });
    expect(by('http.get').ok).toBe(true);
    const peerwirePort = by('bittorrent.peerwire').port;
    const srvSide = server.results.filter((r) => r.port === peerwirePort);
    expect(srvSide.reduce((n, r) => n + r.bytesReceived, 0)).toBe(0);
    const blocked = daemon.lines.filter((l) => l.msg === 'blocked');
    expect(blocked.map((l) => l.verdict).sort()).toEqual(['drop', 'reset']);
    expect(blocked.every((l) => l.app === 'bittorrent' && l.mark === 1 && typeof l.src === 'string' && l.dport !== undefined)).toBe(true);
  });

  it('200 MB of unclassified bulk passes byte-identical and only its first packets are queued', async () => {
    const { lab } = ctx;
    const daemon = (ctx.daemon = await start(lab));
    const src = ['--apps', 'bulk.download', '--bulk-bytes', String(200 * 1024 * 1024), '--base-port', '43000'];
    const server = await startGenServer(lab, { source: src, timeoutMs: 120_000 });
    const client = await runGenClient(lab, { source: src, timeoutMs: 120_000, sessions: 1 });
    await server.stop();
    const r = client.results[0];
    expect(r).toMatchObject({ ok: true, bytesReceived: 200 * 1024 * 1024 });
    expect(conntrackMarks(lab, 'tcp').get(r.port)).toBe(0xff); // the unknown mark: out of user space
    expect(await stop(daemon)).toBe(0);
    const stopped = daemon.lines.find((l) => l.msg === 'stopped') as { nfq: Record<string, number> };
    // connbytes stops queueing after 2 × 8 conntrack packets (with queue.gso, the default, user
    // space gets them whole; without it NFQUEUE segments GSO super-packets first, so user space may
    // see a few more than 16) — but never the bulk (200 MB is ~140,000 segments).
    expect(stopped.nfq.received).toBeGreaterThan(0);
    expect(stopped.nfq.received).toBeLessThanOrEqual(64);
  }, 180_000);

  it('SIGTERM removes every rule; after SIGKILL traffic still passes and a restart leaves no duplicates', async () => {
    const { lab } = ctx;
    let daemon = (ctx.daemon = await start(lab));
    expect(ourRules(lab).length).toBeGreaterThan(0);
    expect(await stop(daemon)).toBe(0);
    expect(ourRules(lab)).toEqual([]);

    daemon = ctx.daemon = await start(lab);
    const installed = ourRules(lab).sort();
    await stop(daemon, 'SIGKILL');
    expect(ourRules(lab).sort()).toEqual(installed); // a crash leaves the rules, queue-bypass keeps traffic flowing
    const src = ['--apps', 'http.get,bittorrent.peerwire', '--base-port', '44000'];
    const server = await startGenServer(lab, { source: src, timeoutMs: 3000 });
    const client = await runGenClient(lab, { source: src, timeoutMs: 3000, sessions: 2 });
    await server.stop();
    expect(client.results.map((r) => r.ok)).toEqual([true, true]);

    daemon = ctx.daemon = await start(lab);
    expect(ourRules(lab).sort()).toEqual(installed); // restart after the crash: no duplicate rules
    expect(await stop(daemon)).toBe(0);
    expect(ourRules(lab)).toEqual([]);
  });
});
