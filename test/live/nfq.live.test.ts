/**
 * Live NFQUEUE smoke test in a client – gateway – server namespace trio (10.231.1.0/24 and
 * 10.231.2.0/24, fd00:231:1::/64 and fd00:231:2::/64, only inside the namespaces). A worker inside
 * the gateway namespace accepts every packet and marks the first one of each connection with 0x7 via
 * NF_REPEAT; the mangle chain saves it to the connmark, which conntrack then shows.
 *   1. raw: the patched `nfqueue` binding with test-only rules;
 *   2. p2pgw: src/capture/nfq.ts (compiled) with the real rules of src/enforce/iptables.ts, then
 *      blocking by connmark, then close() and --queue-bypass.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectBackend, install, listOurRules, remove, type Backend } from '../../src/enforce/iptables.js';
import { readQueueStats } from '../../src/capture/nfqstats.js';
import { ROOT, TSC } from '../helpers/paths.js';
import { liveEnv, nsAdd, nsDel, nsExec, sh } from './fixtures/netns.js';
import { JsonProc, type Ev } from './fixtures/json-proc.js';

const env = liveEnv('nfq');
const binding = existsSync(path.join(ROOT, 'node_modules', 'nfqueue', 'build', 'Release', 'nfqueue.node'));
const skip = !env.ok ? env.reason : !binding ? 'the nfqueue binding is not built (needs libnetfilter-queue-dev)' : '';
if (skip) console.warn(`skipping live NFQUEUE tests: ${skip}`);

const FIX = path.join(ROOT, 'test', 'live', 'fixtures');
const ID = `${process.pid}`;
const CLI = `p2pgwtD-cli-${ID}`;
const GW = `p2pgwtD-gw-${ID}`;
const SRV = `p2pgwtD-srv-${ID}`;
const QUEUE = 3;
const MARK = 7;
const PORT = 8080;
const SRV4 = '10.231.2.2';
const SRV6 = 'fd00:231:2::2';

type Proc = JsonProc;

const worker = (mode: 'raw' | 'wrapper', extra: string[] = []): Proc =>
  new JsonProc(GW, [process.execPath, path.join(FIX, 'nfq-worker.mjs'), mode, String(QUEUE), String(MARK), ...extra]);

/** One client exchange from the client namespace. */
function client(proto: 'tcp' | 'udp', host: string, msg: string, ms = 3000): { ok: boolean; reply?: string; code?: string; localPort: number } {
  const out = nsExec(CLI, process.execPath, [path.join(FIX, 'net-tool.mjs'), proto, host, String(PORT), msg, String(ms)]);
  return JSON.parse(out.trim().split('\n').pop()!);
}

/** Same as client() without blocking this process (so a worker can be told things meanwhile). */
function clientAsync(proto: 'tcp' | 'udp', host: string, msg: string, ms = 3000): Promise<{ ok: boolean; reply?: string; code?: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const c = spawn('ip', ['netns', 'exec', CLI, process.execPath, path.join(FIX, 'net-tool.mjs'), proto, host, String(PORT), msg, String(ms)]);
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    c.on('error', reject);
    c.on('close', () => resolve(JSON.parse(out.trim().split('\n').pop()!)));
  });
}

/** Conntrack entries in the gateway for a client source port (`conntrack -L` prints mark=N in decimal). */
function conntrack(family: 'ipv4' | 'ipv6', proto: 'tcp' | 'udp', sport: number): string {
  const r = spawnSync('ip', ['netns', 'exec', GW, 'conntrack', '-L', '-f', family, '-p', proto, '--orig-port-src', String(sport)], { encoding: 'utf8' });
  return r.stdout;
}

let pings = 0;
/**
 * Waits until every event the worker wrote so far has been read: the worker answers `ping N` after
 * the packet events of everything it judged before (client() blocks this process meanwhile).
 */
async function sync(w: Proc): Promise<void> {
  const n = ++pings;
  w.send(`ping ${n}`);
  await w.waitFor((e) => e.ev === 'pong' && e.n === n);
}

/** Packets the worker reported for a client port. */
async function pkts(w: Proc, sport: number): Promise<Ev[]> {
  await sync(w);
  return w.events.filter((e) => e.ev === 'pkt' && (e.sport === sport || e.dport === sport));
}
const procStats = () => readQueueStats(QUEUE, nsExec(GW, 'cat', ['/proc/net/netfilter/nfnetlink_queue']));

describe.skipIf(!!skip)('NFQUEUE live (client – gw – server namespaces)', () => {
  let server: Proc | undefined;
  const workers: Proc[] = [];
  let backend: Backend; // auto-detected, for the raw test rules
  let build = '';

  beforeAll(async () => {
    for (const ns of [CLI, GW, SRV]) nsAdd(ns);
    nsExec(CLI, 'ip', ['link', 'add', 'c0', 'type', 'veth', 'peer', 'name', 'g1', 'netns', GW]);
    nsExec(SRV, 'ip', ['link', 'add', 's0', 'type', 'veth', 'peer', 'name', 'g2', 'netns', GW]);
    const cfg = (ns: string, dev: string, v4: string, v6: string) => {
      nsExec(ns, 'ip', ['addr', 'add', v4, 'dev', dev]);
      nsExec(ns, 'ip', ['-6', 'addr', 'add', v6, 'dev', dev, 'nodad']);
      nsExec(ns, 'ip', ['link', 'set', dev, 'up']);
    };
    cfg(CLI, 'c0', '10.231.1.2/24', 'fd00:231:1::2/64');
    cfg(GW, 'g1', '10.231.1.1/24', 'fd00:231:1::1/64');
    cfg(GW, 'g2', '10.231.2.1/24', 'fd00:231:2::1/64');
    cfg(SRV, 's0', '10.231.2.2/24', 'fd00:231:2::2/64');
    nsExec(CLI, 'ip', ['route', 'add', 'default', 'via', '10.231.1.1']);
    nsExec(CLI, 'ip', ['-6', 'route', 'add', 'default', 'via', 'fd00:231:1::1']);
    nsExec(SRV, 'ip', ['route', 'add', 'default', 'via', '10.231.2.1']);
    nsExec(SRV, 'ip', ['-6', 'route', 'add', 'default', 'via', 'fd00:231:2::1']);
    nsExec(GW, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    server = new JsonProc(SRV, [process.execPath, path.join(FIX, 'net-tool.mjs'), 'server', String(PORT), SRV4, SRV6]);
    await server.waitFor((e) => e.ready === true);
    backend = await detectBackend('auto', { netns: GW });

    // Compile src/capture/nfq.ts (and what it imports) on its own, so the check does not depend on
    // the rest of the tree compiling; node_modules is linked so `nfqueue` resolves as from dist/.
    build = mkdtempSync(path.join(os.tmpdir(), 'p2pgw-nfq-'));
    sh(TSC, [
      '--ignoreConfig', '--outDir', path.join(build, 'dist'), '--rootDir', path.join(ROOT, 'src'),
      '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--strict', '--skipLibCheck',
      '--types', 'node', path.join(ROOT, 'src', 'capture', 'nfq.ts'),
    ]);
    writeFileSync(path.join(build, 'package.json'), '{"type":"module"}\n');
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(build, 'node_modules'));
  });

  afterAll(() => {
    for (const w of workers) w.kill();
    server?.kill();
    nsDel(CLI, GW, SRV);
    if (build) rmSync(build, { recursive: true, force: true });
  });

  it('routes without any rule (baseline)', () => {
    expect(client('tcp', SRV4, 'hello')).toMatchObject({ ok: true, reply: 'hello' });
    expect(client('tcp', SRV6, 'hello6')).toMatchObject({ ok: true, reply: 'hello6' });
  });

  it('raw binding: NF_REPEAT with mark 7 → conntrack mark=7; close() unbinds and --queue-bypass lets traffic pass', async () => {
    const ipt = backend.iptables;
    nsExec(GW, ipt, ['-w', '-t', 'mangle', '-A', 'FORWARD', '-m', 'mark', '!', '--mark', '0', '-j', 'CONNMARK', '--save-mark']);
    nsExec(GW, ipt, ['-w', '-t', 'mangle', '-A', 'FORWARD', '-p', 'tcp', '-m', 'connmark', '--mark', '0', '-j', 'NFQUEUE', '--queue-num', String(QUEUE), '--queue-bypass']);
    const w = worker('raw');
    workers.push(w);
    try {
      const ready = await w.waitFor((e) => e.ev === 'ready');
      expect(ready).toMatchObject({ rcMax: 0, rcFail: 0 });

      const c = client('tcp', SRV4, 'raw');
      expect(c).toMatchObject({ ok: true, reply: 'raw' });
      expect(conntrack('ipv4', 'tcp', c.localPort)).toMatch(/mark=7\b/);
      // only the SYN went to user space: once marked, the connection bypasses the queue
      const seen = await pkts(w, c.localPort);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ mark: 0, proto: 'tcp', flags: 0x02, dport: PORT });
      const st = procStats();
      expect(st).not.toBeNull();
      expect(st!.queueTotal).toBe(0);
      expect(st!.idSequence).toBeGreaterThanOrEqual(1);

      w.send('close');
      await w.waitFor((e) => e.ev === 'closed');
      expect(procStats()).toBeNull(); // unbound
      const before = w.events.filter((e) => e.ev === 'pkt').length;
      const after = client('tcp', SRV4, 'bypass');
      expect(after).toMatchObject({ ok: true, reply: 'bypass' });
      expect(conntrack('ipv4', 'tcp', after.localPort)).toMatch(/mark=0\b/);
      await sync(w);
      expect(w.events.filter((e) => e.ev === 'pkt').length).toBe(before);
      expect(w.child.exitCode).toBeNull(); // still alive: the bypass is due to close(), not exit
    } finally {
      w.kill();
      nsExec(GW, ipt, ['-w', '-t', 'mangle', '-F', 'FORWARD']);
      nsExec(GW, 'conntrack', ['-F']);
    }
  });

  it('close() accepts the packets still waiting for a verdict; a SIGKILLed worker unbinds the queue', async (ctx) => {
    await install({ chain: 'P2PGW', queueNum: QUEUE, classifyPackets: 8, blocked: [], backend, netns: GW });
    ctx.onTestFinished(() => remove({ chain: 'P2PGW', backend, netns: GW }));
    const nfqJs = path.join(build, 'dist', 'capture', 'nfq.js');
    const held = worker('wrapper', [nfqJs, 'hold']);
    workers.push(held);
    await held.waitFor((e) => e.ev === 'ready');
    // One UDP datagram (no retransmission) sits in the queue without a verdict. The kernel drops
    // whatever is still queued when a queue is unbound, so it only reaches the server if close()
    // accepted it. (Its reply may race with the unbind and be dropped: the daemon removes its rules
    // before closing the queue.)
    const pending = clientAsync('udp', SRV4, 'held', 1500);
    await held.waitFor((e) => e.ev === 'pkt');
    // The kernel still holds it (counted in its queue until a verdict), so it cannot have passed.
    expect(procStats()!.queueTotal).toBe(1);
    expect(server!.events.some((e) => e.udp === 'held')).toBe(false);
    held.send('drain'); // the kernel holds 1 packet, the worker has it pending: nothing to wait for
    expect(await held.waitFor((e) => e.ev === 'drained')).toMatchObject({ ok: true, pending: 1 });
    held.send('close');
    const closed = await held.waitFor((e) => e.ev === 'closed');
    expect((closed.stats as Record<string, number>).flushedOnClose).toBe(1);
    await server!.waitFor((e) => e.udp === 'held', 1000);
    await pending;
    held.kill();

    const w = worker('wrapper', [nfqJs]);
    workers.push(w);
    await w.waitFor((e) => e.ev === 'ready');
    expect(procStats()).not.toBeNull();
    w.kill(); // SIGKILL: the kernel unbinds the queue when the netlink socket goes away
    await new Promise((res) => w.child.once('exit', res));
    expect(procStats()).toBeNull();
    const after = client('tcp', SRV4, 'killed');
    expect(after).toMatchObject({ ok: true, reply: 'killed' });
    expect(conntrack('ipv4', 'tcp', after.localPort)).toMatch(/mark=0\b/);
  });

  for (const name of ['nft', 'legacy'] as const) {
    it(`p2pgw NfQueue + rules installed with iptables-${name}: marks v4/v6 TCP and UDP, blocks by connmark, bypasses after close`, async (ctx) => {
      const backend = await detectBackend(name, { netns: GW }).catch((err: Error) => {
        console.warn(`skipping the ${name} backend: ${err.message}`);
        return null;
      });
      if (!backend) return ctx.skip();
      // a failed earlier run must not leave its worker bound to the queue
      for (const old of workers) old.kill();
      ctx.onTestFinished(async () => {
        await remove({ chain: 'P2PGW', backend, netns: GW });
        nsExec(GW, 'conntrack', ['-F']);
      });
      nsExec(GW, 'conntrack', ['-F']);
      await install({ chain: 'P2PGW', queueNum: QUEUE, classifyPackets: 8, blocked: [], backend, netns: GW });

      // daemon down: --queue-bypass lets traffic through unmarked
      const down = client('tcp', SRV4, 'down');
      expect(down).toMatchObject({ ok: true, reply: 'down' });
      expect(conntrack('ipv4', 'tcp', down.localPort)).toMatch(/mark=0\b/);

      const w = worker('wrapper', [path.join(build, 'dist', 'capture', 'nfq.js')]);
      workers.push(w);
      expect(await w.waitFor((e) => e.ev === 'ready')).toMatchObject({ warnings: [] });

      const t4 = client('tcp', SRV4, 'v4');
      expect(t4).toMatchObject({ ok: true, reply: 'v4' });
      expect(conntrack('ipv4', 'tcp', t4.localPort)).toMatch(/mark=7\b/);
      expect(await pkts(w, t4.localPort)).toHaveLength(1);

      const t6 = client('tcp', SRV6, 'v6');
      expect(t6).toMatchObject({ ok: true, reply: 'v6' });
      expect(conntrack('ipv6', 'tcp', t6.localPort)).toMatch(/mark=7\b/);
      expect(await pkts(w, t6.localPort)).toMatchObject([{ v: 6, proto: 'tcp', flags: 0x02 }]);

      const u4 = client('udp', SRV4, 'u4');
      expect(u4).toMatchObject({ ok: true, reply: 'u4' });
      expect(conntrack('ipv4', 'udp', u4.localPort)).toMatch(/mark=7\b/);
      expect(await pkts(w, u4.localPort)).toMatchObject([{ v: 4, proto: 'udp', mark: 0 }]);

      // the kernel completes CHECKSUM_PARTIAL checksums before copying packets to user space
      const all = w.events.filter((e) => e.ev === 'pkt');
      expect(all.every((e) => e.csumOk === true), JSON.stringify(all)).toBe(true);
      expect(all.every((e) => typeof e.indev === 'number' && (e.indev as number) > 0 && (e.outdev as number) > 0)).toBe(true);

      // block mark 7: new connections are marked on their first packet, then reset / dropped in filter FORWARD
      await install({ chain: 'P2PGW', queueNum: QUEUE, classifyPackets: 8, blocked: [{ mark: MARK }], backend, netns: GW });
      expect(client('tcp', SRV4, 'blocked')).toMatchObject({ ok: false, code: 'ECONNREFUSED' });
      expect(client('tcp', SRV6, 'blocked6')).toMatchObject({ ok: false, code: 'ECONNREFUSED' });
      expect(client('udp', SRV4, `blocked-${name}`, 700)).toMatchObject({ ok: false, code: 'ETIMEDOUT' });
    expect(server!.events.some((e) => e.udp === `blocked-${name}`)).toBe(false);

      w.send('close');
      const closed = await w.waitFor((e) => e.ev === 'closed');
      const stats = closed.stats as Record<string, number>;
      expect(stats.received).toBe(all.length + 3);
      expect(stats.repeat).toBe(stats.received);
      expect(stats.marked).toBe(stats.received);
      expect(stats.accept + stats.drop + stats.repeatWithoutMark + stats.callbackErrors + stats.unknownId).toBe(0);
      expect(closed.pending).toBe(0);
      expect(procStats()).toBeNull();

      // daemon closed: unmarked connections bypass the queue, the block no longer applies to them
      const after = client('tcp', SRV4, 'after');
      expect(after).toMatchObject({ ok: true, reply: 'after' });
      expect(conntrack('ipv4', 'tcp', after.localPort)).toMatch(/mark=0\b/);
      w.send('exit');

      await remove({ chain: 'P2PGW', backend, netns: GW });
      expect(await listOurRules(backend, { netns: GW })).toEqual([]);
    });
  }
});
