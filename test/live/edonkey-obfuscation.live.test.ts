/**
 * Real eMule-compatible clients through `p2pgw run` (live, network namespaces), issue 16: aMule
 * daemons (Debian's amule-daemon, driven by fixtures/amule-peer.mjs) exchange a 4 MiB file found
 * through a stand-in eD2k server (fixtures/ed2k-server.mjs) with protocol obfuscation off, requested
 * (aMule's default) and required; the three variants run at once, each with its seeder in the server
 * namespace and its leecher in the client namespace.
 *  - `edonkey: {action: allow}`: each leecher logs in to the stand-in server across the gateway (in
 *    plaintext: the server does not advertise obfuscation), gets its seeder from OP_FOUNDSOURCES
 *    (_OBFU, with crypt options and user hash, when it supports obfuscation) and downloads the file.
 *    Every leecher–seeder TCP connection and server login that carried payload has eDonkey's mark.
 *  - `edonkey: {action: block}`: the leechers log in to a second stand-in server in their own
 *    namespace, so the gateway neither sees nor blocks the source exchange and has to stop the peer
 *    connection itself: within 10x the allowed download time (at most BLOCK_MAX_MS) each leecher
 *    tries its seeder, gets under 1 % of the file, and its peer connections carry eDonkey's mark.
 * Marks, verdict-line methods and bytes per variant are printed as JSON lines.
 * aMule 2.3.3's socket layer now and then stops reading a connection for good (a lost read
 * notification): in the allow phase, a variant with such a socket (wedgeWatch) or without progress
 * for STALL_MS gets its seeder and leecher restarted, at most MAX_KICKS times (`kicks` in the lines).
 * Skipped, with the reason printed, when not root, without `ip netns`, amuled/amulecmd or dist.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { prngBytes } from '../../src/apps/bytes.js';
import type { Lab } from '../../src/tools/lab/netns.js';
import { waitExit } from '../../src/tools/lab/run.js';
import { ROOT } from '../helpers/paths.js';
import { waitUntil } from '../helpers/wait.js';
import { liveEnv } from './fixtures/netns.js';
import { MAIN, useLab, watchLines, type Daemon } from './fixtures/daemon.js';

const FIX = path.join(ROOT, 'test', 'live', 'fixtures');
const PEER = path.join(FIX, 'amule-peer.mjs');
const SERVER = path.join(FIX, 'ed2k-server.mjs');
const SIZE = 4 * 1024 * 1024;
const EDK_MARK = 2;
const SRV_PORT = 4661;
const STALL_MS = 20_000;
const WEDGE_POLLS = 4;
const MAX_KICKS = 4;
const ALLOW_MAX_MS = 150_000;
const BLOCK_MAX_MS = 40_000;
/**
 * amule.conf overrides. With a download cap aMule reads a peer socket from its 100 ms timer, a
 * little at a time, instead of draining it on each read notification, which makes the lost
 * notification (see the file comment) much rarer; the seeder may send faster than that.
 */
const SEED_CONF = { MaxUpload: 10000 };
const LEECH_CONF = { MaxDownload: 3000, MaxUpload: 10000 };

const onPath = (bin: string): boolean => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const env = liveEnv('edk');
const why = !env.ok
  ? env.reason
  : !onPath('amuled') || !onPath('amulecmd')
    ? 'amuled/amulecmd missing (apt-get install amule-daemon amule-utils)'
    : !fs.existsSync(MAIN)
      ? 'dist/cli/main.js missing (npm run build)'
      : '';
if (why) console.warn(`skipping the aMule obfuscation live tests: ${why}`);

type Mode = 'off' | 'requested' | 'required';
interface Variant {
  mode: Mode;
  /** Crypt options byte a server reports for the seeder: bit 0 supported, 1 requested, 2 required. */
  crypt: number;
  seedPort: number;
  leechPort: number;
  /** The shared file, its eD2k hash and link; the seeder's user hash. */
  file: string; hash: string; link: string; userHash: string;
}
type Proc = Daemon;
interface Flow {
  l4: string; src: string; sport: number; dst: string; dport: number;
  mark: number;
  /** Bytes from the connection's responder (nf_conntrack_acct, headers included). */
  replyBytes: number;
  payload: boolean;
}

// Ports: TCP p, server UDP p + 3, client UDP p + 10, External Connections p + 100.
const VARIANTS: Variant[] = (['off', 'requested', 'required'] as Mode[]).map((mode, i) => (
  { mode, crypt: [0, 3, 7][i], seedPort: 4800 + 20 * i, leechPort: 5800 + 20 * i, file: '', hash: '', link: '', userHash: userHash(`seed-${mode}`) }));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-edk-'));
const summary: Record<string, unknown>[] = [];

/** A user hash as eMule makes them (byte 5 = 14, byte 14 = 111), derived from `tag`. */
function userHash(tag: string): string {
  const h = createHash('md5').update(`p2pgw-edk:${tag}`).digest();
  h[5] = 14;
  h[14] = 111;
  return h.toString('hex');
}

const watch = watchLines;

const count = (p: Proc, event: string): number => p.lines.filter((l) => l.event === event).length;
const last = (p: Proc, event: string): Record<string, unknown> | undefined => p.lines.filter((l) => l.event === event).at(-1);

/** Conntrack entries of the gateway between the two lab hosts (both directions of setup). */
async function conntrack(lab: Lab): Promise<Flow[]> {
  const r = await lab.exec('gw', ['conntrack', '-L']);
  return r.stdout
    .split('\n')
    .filter((l) => l.includes(`src=${lab.addr.client}`) && l.includes(`src=${lab.addr.server}`))
    .map((line) => {
      const acct = [...line.matchAll(/packets=(\d+) bytes=(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
      return {
        l4: line.split(/\s+/)[0],
        src: /src=(\S+)/.exec(line)![1],
        dst: /dst=(\S+)/.exec(line)![1],
        sport: Number(/sport=(\d+)/.exec(line)?.[1]),
        dport: Number(/dport=(\d+)/.exec(line)?.[1]),
        mark: Number(/mark=(\d+)/.exec(line)?.[1] ?? -1),
        replyBytes: acct[1]?.[1] ?? 0,
        // Headers alone (IPv4 + TCP with options) stay within 80 bytes a packet; more is payload.
        payload: acct.some(([n, b]) => b > 80 * n),
      };
    });
}

/** Polls conntrack every second until `stop()`, keeping every flow seen (closed ones leave the table). */
function conntrackLog(lab: Lab): { stop: () => Promise<Flow[]> } {
  const flows = new Map<string, Flow>();
  let on = true;
  const loop = (async () => {
    while (on) {
      for (const f of await conntrack(lab)) {
        const k = `${f.l4} ${f.src}:${f.sport}>${f.dst}:${f.dport}`;
        const old = flows.get(k);
        flows.set(k, { ...f, mark: f.mark > 0 || !old ? f.mark : old.mark, replyBytes: Math.max(f.replyBytes, old?.replyBytes ?? 0), payload: f.payload || !!old?.payload });
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  return { stop: async () => ((on = false), await loop, [...flows.values()]) };
}

/**
 * Finds amuled connections that stopped reading (aMule 2.3.3 loses a read notification now and
 * then): an established socket with unread data whose receive queue and bytes received stay the
 * same for WEDGE_POLLS polls. The returned function polls both hosts once (`ss -tnip`) and returns
 * the variants (by amuled pid) with such a socket.
 */
function wedgeWatch(lab: Lab): (pids: Map<number, Mode>) => Promise<Set<Mode>> {
  const seen = new Map<string, { q: number; rx: number; n: number }>();
  return async (pids) => {
    const out = new Set<Mode>();
    for (const ns of ['client', 'server'] as const) {
      const lines = (await lab.exec(ns, ['ss', '-Htnip', 'state', 'established'])).stdout.split('\n');
      for (const [i, line] of lines.entries()) {
        const m = /^(\d+)\s+\d+\s+(\S+)\s+(\S+)\s+users:\(\("amuled",pid=(\d+)/.exec(line);
        if (!m || m[3].startsWith('127.')) continue;
        const q = Number(m[1]);
        const rx = Number(/bytes_received:(\d+)/.exec(lines[i + 1] ?? '')?.[1] ?? 0);
        const key = `${ns} ${m[2]} ${m[3]}`;
        const old = seen.get(key);
        const n = q > 0 && old?.q === q && old.rx === rx ? old.n + 1 : 0;
        seen.set(key, { q, rx, n });
        const mode = pids.get(Number(m[4]));
        if (mode && n >= WEDGE_POLLS) out.add(mode);
      }
    }
    return out;
  };
}

describe.skipIf(!!why)('real aMule clients with protocol obfuscation through p2pgw run (live)', () => {
  const running: ChildProcess[] = [];
  const seeders = new Map<Mode, Proc>();
  const allowMs = new Map<Mode, number>();
  let visible: Proc | undefined;

  const ctx = useLab({
    name: `pgek${process.pid % 10000}`,
    tmp,
    timeouts: { beforeAll: 120_000, afterAll: 60_000 },
    afterCreate: async (lab) => {
      spawnSync('ip', ['netns', 'exec', lab.ns.gw, 'sysctl', '-qw', 'net.netfilter.nf_conntrack_acct=1']);
      for (const [i, v] of VARIANTS.entries()) {
        v.file = path.join(tmp, `edk-${v.mode}.bin`);
        fs.writeFileSync(v.file, prngBytes(16 + i, SIZE, 'edonkey'));
        const r = spawnSync(process.execPath, [PEER, 'hash', v.file], { encoding: 'utf8' });
        Object.assign(v, JSON.parse(r.stdout) as { hash: string; link: string });
      }
      visible = await server('server', lab.addr.server);
      for (const v of VARIANTS) {
        const o = { dir: path.join(tmp, `seed-${v.mode}`), port: v.seedPort, ecPort: v.seedPort + 100, server: [lab.addr.server, SRV_PORT], crypt: v.mode, userHash: v.userHash, file: v.file, seconds: 900, conf: SEED_CONF };
        seeders.set(v.mode, spawnIn('server', [process.execPath, PEER, 'seed', JSON.stringify(o)]));
      }
      for (const [mode, s] of seeders) {
        await waitUntil(() => count(s, 'shared') || s.proc.exitCode !== null, 60_000, `the ${mode} seeder shares its file`);
        if (!count(s, 'shared')) throw new Error(`${mode} seeder: ${JSON.stringify(s.lines.slice(-5))} ${s.stderr.join('\n')}`);
      }
    },
    beforeDestroy: () => {
      if (summary.length) console.log(`aMule obfuscation results:\n${summary.map((r) => JSON.stringify(r)).join('\n')}`);
      for (const p of running.splice(0)) {
        if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
      }
    },
  });

  const spawnIn = (ns: 'client' | 'gw' | 'server', argv: string[], stream: 'stdout' | 'stderr' = 'stdout'): Proc => {
    const p = watch(ctx.lab.spawn(ns, argv), stream);
    running.push(p.proc);
    return p;
  };
  const stop = async (p: Proc): Promise<void> => {
    if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGTERM');
    await waitExit(p.proc, 15_000, true);
  };
  const sources = (ip: string): string =>
    JSON.stringify(VARIANTS.map((v) => ({ file: v.hash, ip, port: v.seedPort, crypt: v.crypt, userHash: v.userHash })));

  /** Starts a stand-in eD2k server in `ns` listening on `ip`; resolves once it listens. */
  async function server(ns: 'client' | 'server', ip: string): Promise<Proc> {
    const s = spawnIn(ns, [process.execPath, SERVER, ip, String(SRV_PORT), sources(ctx.lab.addr.server)]);
    await waitUntil(() => count(s, 'listening') || s.proc.exitCode !== null, 10_000, `the stand-in server on ${ip} listens`);
    if (s.proc.exitCode !== null) throw new Error(`stand-in server exited: ${s.stderr.join('\n')}`);
    return s;
  }

  /** Starts the daemon in the gateway with eDonkey's `action`; resolves once it is ready. */
  async function daemon(action: 'allow' | 'block'): Promise<Proc> {
    const cfg = path.join(tmp, `${action}.yaml`);
    fs.writeFileSync(cfg, `apps:\n  edonkey: {action: ${action}}\n`);
    const d = spawnIn('gw', [process.execPath, MAIN, 'run', '--log-dest', 'stderr', '--config', cfg, '--status-socket', path.join(tmp, `${action}.sock`)], 'stderr');
    await waitUntil(() => d.lines.some((l) => l.msg === 'ready') || d.proc.exitCode !== null, 20_000, 'the daemon is ready');
    if (d.proc.exitCode !== null) throw new Error(`daemon exited: ${d.stderr.join('\n')}`);
    return d;
  }

  /** Starts the three leechers against the server at `srvIp`; each runs `ms` at most. */
  function leechers(phase: string, srvIp: string, ms: number): Map<Mode, Proc> {
    return new Map(
      VARIANTS.map((v) => {
        const o = { dir: path.join(tmp, `${phase}-${v.mode}`), port: v.leechPort, ecPort: v.leechPort + 100, server: [srvIp, SRV_PORT], crypt: v.mode, userHash: userHash(`${phase}-${v.mode}`), link: v.link, seconds: Math.ceil(ms / 1000), conf: LEECH_CONF };
        return [v.mode, spawnIn('client', [process.execPath, PEER, 'leech', JSON.stringify(o)])] as const;
      }),
    );
  }

  /**
   * Waits for every leecher's final line. With `kick`, a variant whose amuled stopped reading a
   * connection (wedgeWatch), or whose download made no progress for STALL_MS, gets its seeder, then
   * its leecher restarted, at most MAX_KICKS times.
   */
  async function finish(ls: Map<Mode, Proc>, ms: number, kick: boolean): Promise<Map<Mode, number>> {
    const kicks = new Map<Mode, number>(VARIANTS.map((v) => [v.mode, 0]));
    const seen = new Map<Mode, { done: unknown; at: number }>();
    const busy = new Set<Mode>();
    const wedged = wedgeWatch(ctx.lab);
    const pids = (): Map<number, Mode> => {
      const m = new Map<number, Mode>();
      for (const [mode, p] of [...seeders, ...ls]) for (const l of p.lines) if (l.event === 'started') m.set(Number(l.pid), mode);
      return m;
    };
    const restart = async (mode: Mode, l: Proc): Promise<void> => {
      busy.add(mode);
      kicks.set(mode, kicks.get(mode)! + 1);
      for (const p of [seeders.get(mode)!, l]) {
        const n = count(p, 'restarted');
        p.proc.stdin!.write('restart\n');
        await waitUntil(() => count(p, 'restarted') > n || p.proc.exitCode !== null, 60_000, `${mode} peer restarted`);
      }
      seen.set(mode, { done: last(l, 'progress')?.done, at: Date.now() });
      busy.delete(mode);
    };
    const running = (mode: Mode, l: Proc): boolean => !count(l, 'final') && l.proc.exitCode === null && !busy.has(mode);
    await waitUntil(
      async () => {
        const stuck = kick ? await wedged(pids()) : new Set<Mode>();
        for (const [mode, l] of ls) {
          if (!running(mode, l)) continue;
          const done = last(l, 'progress')?.done;
          const s = seen.get(mode);
          if (!s || s.done !== done) seen.set(mode, { done, at: Date.now() });
          const stalled = stuck.has(mode) || (!!s && s.done === done && Date.now() - s.at > STALL_MS);
          if (kick && stalled && kicks.get(mode)! < MAX_KICKS) void restart(mode, l).catch(() => busy.delete(mode));
        }
        return [...ls.values()].every((l) => count(l, 'final') || l.proc.exitCode !== null) && !busy.size;
      },
      ms + 60_000,
      'every leecher finished',
      1000,
    );
    return kicks;
  }

  /** Per-variant record: connections between leecher and seeder, the leecher's server connection and UDP. */
  function record(v: Variant, flows: Flow[], d: Proc, l: Proc, kicks: number, srv?: Proc): Record<string, unknown> & { peers: Flow[]; logins: Flow[]; final: Record<string, unknown> } {
    const ports = [v.seedPort, v.leechPort];
    const peers = flows.filter((f) => f.l4 === 'tcp' && (f.dport === v.seedPort || (f.src === ctx.lab.addr.server && f.dport === v.leechPort)));
    const udp = flows.filter((f) => f.l4 === 'udp' && [f.sport, f.dport].some((p) => ports.some((q) => p >= q && p <= q + 10)));
    // The leecher's server connections: the stand-in server's logins from the leecher's listen port.
    const loginPorts = new Set((srv?.lines ?? []).filter((x) => x.event === 'login' && x.port === v.leechPort).map((x) => Number(String(x.peer).split(':').pop())));
    const login = flows.filter((f) => f.l4 === 'tcp' && f.dport === SRV_PORT && loginPorts.has(f.sport));
    const method = (f: Flow): string => {
      const line = d.lines.find((x) => x.msg === 'classified' && ((x.sport === f.sport && x.dport === f.dport) || (x.sport === f.dport && x.dport === f.sport)));
      return line ? `${String(line.app)}/${String(line.method ?? '?')}` : '-';
    };
    const final = last(l, 'final') ?? {};
    return {
      variant: v.mode,
      complete: final.complete === true,
      bytes: Number(final.done ?? 0),
      ms: final.ms,
      kicks,
      peers,
      logins: login,
      peer: peers.map((f) => ({ sport: f.sport, mark: f.mark, method: method(f), from_seeder: f.replyBytes, payload: f.payload })),
      server: login.map((f) => ({ sport: f.sport, mark: f.mark, method: method(f), payload: f.payload })),
      udp: udp.map((f) => ({ sport: f.sport, dport: f.dport, mark: f.mark, method: method(f) })),
      final,
    };
  }

  describe('edonkey: {action: allow}', () => {
    const results = new Map<Mode, ReturnType<typeof record>>();
    beforeAll(async () => {
      const { lab } = ctx;
      const d = await daemon('allow');
      const ct = conntrackLog(lab);
      const ls = leechers('allow', lab.addr.server, ALLOW_MAX_MS);
      const kicks = await finish(ls, ALLOW_MAX_MS, true);
      const flows = await ct.stop();
      for (const v of VARIANTS) {
        const r = record(v, flows, d, ls.get(v.mode)!, kicks.get(v.mode)!, visible);
        results.set(v.mode, r);
        if (r.complete) allowMs.set(v.mode, Number(r.ms));
        const { peers: _p, logins: _l, final: _f, ...rest } = r;
        summary.push({ phase: 'allow', ...rest });
      }
      await stop(d);
      spawnSync('ip', ['netns', 'exec', lab.ns.gw, 'conntrack', '-F']);
    }, ALLOW_MAX_MS + 120_000);

    it.each(VARIANTS.map((v) => [v.mode]))("obfuscation %s: the download completes and the peer connection carries eDonkey's mark", (mode) => {
      const r = results.get(mode as Mode)!;
      expect(r, 'the allow phase ran').toBeDefined();
      expect(r.complete, JSON.stringify(r.final)).toBe(true);
      expect(r.peers.length, 'a leecher–seeder TCP connection went through the gateway').toBeGreaterThan(0);
      // Every peer connection that carried payload is eDonkey; one that carried none may stay unmarked.
      expect(r.peers.filter((f) => f.mark !== EDK_MARK && (f.payload || f.mark !== 0)), JSON.stringify(r.peer)).toEqual([]);
      // The leecher's server connection is plain eDonkey (the stand-in server offers no obfuscation).
      expect(r.logins.length, 'the leecher logged in to the server through the gateway').toBeGreaterThan(0);
      expect(r.logins.filter((f) => f.mark !== EDK_MARK && (f.payload || f.mark !== 0)), JSON.stringify(r.server)).toEqual([]);
    });
  });

  describe('edonkey: {action: block}', () => {
    const results = new Map<Mode, ReturnType<typeof record>>();
    beforeAll(async () => {
      const { lab } = ctx;
      // Fresh seeders (and no connection left over from the allow phase).
      const before = new Map([...seeders].map(([mode, s]) => [mode, count(s, 'restarted')]));
      for (const s of seeders.values()) s.proc.stdin!.write('restart\n');
      for (const [mode, s] of seeders) await waitUntil(() => count(s, 'restarted') > before.get(mode)! || s.proc.exitCode !== null, 60_000, `${mode} seeder restarted`);
      // The leechers' source exchange stays inside the client namespace (see the file comment).
      await server('client', lab.addr.client);
      const window = Math.min(10 * Math.max(0, ...allowMs.values()), BLOCK_MAX_MS) || BLOCK_MAX_MS;
      const d = await daemon('block');
      const ct = conntrackLog(lab);
      const ls = leechers('block', lab.addr.client, window);
      await finish(ls, window, false);
      const flows = await ct.stop();
      for (const v of VARIANTS) {
        const r = record(v, flows, d, ls.get(v.mode)!, 0);
        results.set(v.mode, r);
        const { peers: _p, logins: _l, final: _f, ...rest } = r;
        summary.push({ phase: 'block', window_ms: window, blocked_lines: d.lines.filter((l) => l.msg === 'blocked' && l.dport === v.seedPort).length, ...rest });
      }
      await stop(d);
    }, BLOCK_MAX_MS + 150_000);

    it.each(VARIANTS.map((v) => [v.mode]))('obfuscation %s: the leecher gets under 1 % of the file', (mode) => {
      const r = results.get(mode as Mode)!;
      expect(r, 'the block phase ran').toBeDefined();
      expect(r.peers.length, 'the leecher tried the seeder through the gateway').toBeGreaterThan(0);
      // Blocked because classified: a peer connection that carried payload carries eDonkey's mark.
      expect(r.peers.filter((f) => f.mark !== EDK_MARK && (f.payload || f.mark !== 0)), JSON.stringify(r.peer)).toEqual([]);
      expect(r.bytes, JSON.stringify(r.final)).toBeLessThan(SIZE / 100);
      expect(r.peers.map((f) => f.replyBytes).reduce((a, b) => a + b, 0), JSON.stringify(r.peer)).toBeLessThan(SIZE / 100);
      expect(r.complete).toBe(false);
    });
  });
});
