/**
 * A real BitTorrent client through `p2pgw run` (live, network namespaces): libtorrent-rasterbar
 * (Debian's python3-libtorrent, test/live/fixtures/bt-peer.py) seeds a 16 MiB torrent in the
 * server namespace and leeches it in the client namespace, through the gateway. Variants: TCP
 * plaintext, TCP with MSE/PE and RC4 forced both ways, uTP, uTP with RC4, DHT discovery only (no
 * tracker, no direct peer) and an HTTP tracker (Debian's opentracker).
 *  - `bittorrent: {action: allow}`: the download completes and every connection between the hosts
 *    that carried payload (peer connections, DHT and tracker exchanges) carries BitTorrent's
 *    connmark; one opened and closed unused may only stay unmarked (never 'unknown').
 *  - `bittorrent: {action: block}`: within an observation window 10× longer than the allowed
 *    download takes, the leecher receives less than 1 % of the torrent.
 * Skipped, with the reason printed, when not root, without `ip netns`, or without libtorrent's
 * Python binding / opentracker (CI installs both).
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { prngBytes } from '../../src/apps/bytes.js';
import type { Lab } from '../../src/tools/lab/netns.js';
import { waitExit } from '../../src/tools/lab/run.js';
import { ROOT } from '../helpers/paths.js';
import { waitUntil } from '../helpers/wait.js';
import { liveEnv } from './fixtures/netns.js';
import { MAIN, useLab, watchLines, type Daemon } from './fixtures/daemon.js';

const PY = '/usr/bin/python3';
const PEER = path.join(ROOT, 'test', 'live', 'fixtures', 'bt-peer.py');
const SIZE = 16 * 1024 * 1024;
const BT_MARK = 1;
const SEED_PORT = 6881;
const LEECH_PORT = 6882;
const TRACKER_PORT = 6969;

const env = liveEnv('btclient');
const why = !env.ok
  ? env.reason
  : spawnSync(PY, ['-c', 'import libtorrent'], { encoding: 'utf8' }).status !== 0
    ? `${PY} cannot import libtorrent (apt-get install python3-libtorrent)`
    : !fs.existsSync('/usr/bin/opentracker')
      ? 'opentracker missing (apt-get install opentracker)'
      : !fs.existsSync(MAIN)
        ? 'dist/cli/main.js missing (npm run build)'
        : '';
if (why) console.warn(`skipping the real BitTorrent client live tests: ${why}`);

interface Variant {
  name: string;
  /** Session options of both peers (bt-peer.py). */
  opts: Record<string, unknown>;
  /** How the leecher finds the seeder. */
  find: 'direct' | 'dht' | 'tracker';
}

const VARIANTS: Variant[] = [
  { name: 'TCP, plaintext', opts: { enc: 'plain', tcp: true, utp: false }, find: 'direct' },
  { name: 'TCP, MSE/PE with RC4 forced both ways', opts: { enc: 'forced', level: 'rc4', tcp: true, utp: false }, find: 'direct' },
  { name: 'uTP', opts: { enc: 'plain', tcp: false, utp: true }, find: 'direct' },
  { name: 'uTP + RC4', opts: { enc: 'forced', level: 'rc4', tcp: false, utp: true }, find: 'direct' },
  { name: 'DHT discovery only (default encryption policy)', opts: { dht: true }, find: 'dht' },
  { name: 'HTTP tracker (default encryption policy)', opts: {}, find: 'tracker' },
];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-btc-'));
const results: Record<string, unknown>[] = [];

type Proc = Daemon;

const watch = watchLines;

/** Conntrack entries of the gateway between the two lab hosts: protocol, ports, mark, packets. */
function conntrack(lab: Lab): { l4: string; sport: number; dport: number; mark: number; payload: boolean; line: string }[] {
  const r = spawnSync('ip', ['netns', 'exec', lab.ns.gw, 'conntrack', '-L', '-s', lab.addr.client], { encoding: 'utf8' });
  const r2 = spawnSync('ip', ['netns', 'exec', lab.ns.gw, 'conntrack', '-L', '-s', lab.addr.server], { encoding: 'utf8' });
  return `${r.stdout}\n${r2.stdout}`
    .split('\n')
    .filter((l) => l.includes(lab.addr.client) && l.includes(lab.addr.server))
    .map((line) => ({
      l4: line.split(/\s+/)[0],
      sport: Number(/sport=(\d+)/.exec(line)?.[1]),
      dport: Number(/dport=(\d+)/.exec(line)?.[1]),
      mark: Number(/mark=(\d+)/.exec(line)?.[1] ?? -1),
      // nf_conntrack_acct: packets and bytes per direction. Headers alone (IPv4 + TCP with options)
      // stay within 80 bytes a packet; more means application payload.
      payload: [...line.matchAll(/packets=(\d+) bytes=(\d+)/g)].some((m) => Number(m[2]) > 80 * Number(m[1])),
      line,
    }));
}

describe.skipIf(!!why)('a real BitTorrent client through p2pgw run (live)', () => {
  let plainTorrent = '';
  let trackerTorrent = '';
  const running: ChildProcess[] = [];

  const ctx = useLab({
    name: `pgbt${process.pid % 10000}`,
    tmp,
    timeouts: { beforeAll: 120_000 },
    afterCreate: (lab) => {
      // nf_conntrack_acct: conntrack lists packets and bytes per entry (to tell peer connections apart).
      spawnSync('ip', ['netns', 'exec', lab.ns.gw, 'sysctl', '-qw', 'net.netfilter.nf_conntrack_acct=1']);
      const seedDir = path.join(tmp, 'seed');
      fs.mkdirSync(seedDir);
      const file = path.join(seedDir, 'file.bin');
      fs.writeFileSync(file, prngBytes(12, SIZE, 'torrent'));
      const made = (out: string, trackers: string[]) => {
        const r = spawnSync(PY, [PEER, 'make', JSON.stringify({ file, out, trackers })], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`making ${out}: ${r.stderr}`);
        return JSON.parse(r.stdout.trim().split('\n').pop()!) as { info_hash: string };
      };
      plainTorrent = path.join(tmp, 'plain.torrent');
      trackerTorrent = path.join(tmp, 'tracker.torrent');
      made(plainTorrent, []);
      const { info_hash } = made(trackerTorrent, [`http://${lab.addr.server}:${TRACKER_PORT}/announce`]);
      // Debian's opentracker only tracks listed torrents, and reads the list as user nobody.
      fs.chmodSync(tmp, 0o755);
      fs.writeFileSync(path.join(tmp, 'whitelist'), `${info_hash}\n`, { mode: 0o644 });
    },
    afterEach: async (lab) => {
      for (const p of running.splice(0)) {
        if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
        await waitExit(p, 10_000, true);
      }
      spawnSync('ip', ['netns', 'exec', lab.ns.gw, 'conntrack', '-F'], { encoding: 'utf8' });
    },
    beforeDestroy: () => {
      if (results.length) console.info(`real BitTorrent client results:\n${results.map((r) => JSON.stringify(r)).join('\n')}`);
    },
  });

  const spawnIn = (ns: 'client' | 'gw' | 'server', argv: string[], stream: 'stdout' | 'stderr' = 'stdout'): Proc => {
    const p = watch(ctx.lab.spawn(ns, argv), stream);
    running.push(p.proc);
    return p;
  };
  const py = (mode: string, o: Record<string, unknown>): string[] => [PY, PEER, mode, JSON.stringify(o)];

  /** Starts the daemon in the gateway with BitTorrent's `action`; resolves once it is ready. */
  async function daemon(action: 'allow' | 'block'): Promise<Proc> {
    const cfg = path.join(tmp, `${action}.yaml`);
    fs.writeFileSync(cfg, `apps:\n  bittorrent: {action: ${action}}\n`);
    const d = spawnIn('gw', [process.execPath, MAIN, 'run', '--log-dest', 'stderr', '--config', cfg, '--status-socket', path.join(tmp, `${action}-${Date.now()}.sock`)], 'stderr');
    await waitUntil(() => d.lines.some((l) => l.msg === 'ready') || d.proc.exitCode !== null, 20_000, 'the daemon is ready');
    if (d.proc.exitCode !== null) throw new Error(`daemon exited: ${d.stderr.join('\n')}`);
    return d;
  }

  /** One transfer: tracker (if any), seeder, leecher; resolves with the leecher's final line. */
  async function transfer(v: Variant, leechSeconds: number): Promise<{ final: Record<string, unknown>; done: boolean }> {
    const { lab } = ctx;
    const torrent = v.find === 'tracker' ? trackerTorrent : plainTorrent;
    if (v.find === 'tracker') {
      const t = spawnIn('server', ['opentracker', '-i', lab.addr.server, '-p', String(TRACKER_PORT), '-P', String(TRACKER_PORT), '-w', path.join(tmp, 'whitelist')]);
      await waitUntil(() => spawnSync('ip', ['netns', 'exec', lab.ns.server, 'ss', '-ltn', `sport = :${TRACKER_PORT}`], { encoding: 'utf8' }).stdout.includes(`:${TRACKER_PORT}`) || t.proc.exitCode !== null, 10_000, 'opentracker listens');
      if (t.proc.exitCode !== null) throw new Error(`opentracker exited: ${t.stderr.join('\n')}`);
    }
    const leechDir = fs.mkdtempSync(path.join(tmp, 'leech-'));
    const seeder = spawnIn('server', py('seed', {
      ...v.opts, addr: lab.addr.server, port: SEED_PORT, torrent, dir: path.join(tmp, 'seed'), seconds: leechSeconds + 30,
      ...(v.find === 'dht' ? { nodes: [[lab.addr.client, LEECH_PORT]] } : {}),
    }));
    await waitUntil(() => seeder.lines.some((l) => l.event === 'ready') || seeder.proc.exitCode !== null, 20_000, 'the seeder is ready');
    const leecher = spawnIn('client', py('leech', {
      ...v.opts, addr: lab.addr.client, port: LEECH_PORT, torrent, dir: leechDir, seconds: leechSeconds,
      ...(v.find === 'direct' ? { peers: [[lab.addr.server, SEED_PORT]] } : {}),
      ...(v.find === 'dht' ? { nodes: [[lab.addr.server, SEED_PORT]] } : {}),
    }));
    await waitExit(leecher.proc, (leechSeconds + 20) * 1000, true);
    const final = leecher.lines.find((l) => l.event === 'final');
    if (!final) throw new Error(`the leecher printed no result: ${leecher.stderr.join('\n')}`);
    return { final, done: leecher.lines.some((l) => l.event === 'done') };
  }

  for (const v of VARIANTS) {
    it(`${v.name}: allowed, every connection carries BitTorrent's mark; blocked, < 1 % arrives`, async () => {
      const { lab } = ctx;
      // allow: the download completes and every connection between the peers is marked BitTorrent.
      const a = await daemon('allow');
      const allowed = await transfer(v, 30);
      const entries = conntrack(lab);
      const methods = [...new Set(a.lines.filter((l) => l.msg === 'classified').map((l) => `${l.l4}/${l.method ?? '?'}`))];
      expect(allowed.done, JSON.stringify(allowed.final)).toBe(true);
      const peers = entries.filter((e) => [SEED_PORT, LEECH_PORT].includes(e.dport) || [SEED_PORT, LEECH_PORT].includes(e.sport));
      expect(peers.length, entries.map((e) => e.line).join('\n')).toBeGreaterThan(0);
      // Every connection that carried payload is marked BitTorrent; one that carried none (a client
      // may open and close a connection unused) can only have stayed unmarked, never "unknown".
      expect(entries.filter((e) => e.mark !== BT_MARK && (e.payload || e.mark !== 0)).map((e) => e.line)).toEqual([]);
      a.proc.kill('SIGTERM');
      await waitExit(a.proc, 15_000, true);
      spawnSync('ip', ['netns', 'exec', lab.ns.gw, 'conntrack', '-F']);

      // block: the leecher gets less than 1 % of the torrent within 10× the time the allowed download took.
      const b = await daemon('block');
      const blocked = await transfer(v, 10);
      const down = Number(blocked.final.down);
      results.push({ variant: v.name, allow_marks: [...new Set(entries.map((e) => e.mark))], allow_connections: entries.length, allow_methods: methods, block_bytes: down, block_share: down / SIZE });
      expect(blocked.done).toBe(false);
      expect(down).toBeLessThan(SIZE / 100);
      expect(b.lines.some((l) => l.msg === 'blocked' && l.app === 'bittorrent'), JSON.stringify(b.lines.slice(-5))).toBe(true);
    }, 150_000);
  }
});
