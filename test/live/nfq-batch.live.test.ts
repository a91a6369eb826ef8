/**
 * The batch boundary, live: p2pgw's own NFQUEUE addon (src/capture/native/nfq.c through the
 * compiled src/capture/nfq-batch.ts) in a client – gateway – server namespace trio
 * (10.233.1.0/24, 10.233.2.0/24, only inside the namespaces):
 *  1. ids, lengths and marks of every packet of UDP bursts round-trip exactly (the gateway marks
 *     them 0x42 before the queue; the worker accepts them with mark 0x43, which a counting rule
 *     after the queue sees on every one); batches of more than one packet occur;
 *  2. held packets are never answered by a batch verdict: they stay queued in the kernel (and never
 *     reach the server) while later packets are accepted in batch verdicts, until released;
 *  3. exactly one verdict per packet under load: a bulk TCP transfer with GSO on, verdicts from
 *     batches and from timers, fail-open off: byte-identical, the kernel reports no verdict error
 *     (a second verdict for an id is ENOENT), nothing left queued, every packet id accounted for.
 * Skipped only when not root or without `ip netns`; a missing addon fails.
 */
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readQueueStats } from '../../src/capture/nfqstats.js';
import { nativeAddonPath } from '../../src/capture/nfq-native.js';
import { ROOT, TSC } from '../helpers/paths.js';
import { liveEnv, nsAdd, nsDel, nsExec, sh } from './fixtures/netns.js';
import { JsonProc } from './fixtures/json-proc.js';

const env = liveEnv('nfqb');
if (!env.ok) console.warn(`skipping live NFQUEUE batch tests: ${env.reason}`);
const FIX = path.join(ROOT, 'test', 'live', 'fixtures');
const ID = `${process.pid}`;
const [CLI, GW, SRV] = ['c', 'g', 's'].map((r) => `p2pgwtB-${r}-${ID}`);
const QUEUE = 5;
const SRV4 = '10.233.2.2';
const UDP_PORT = 9100;
const TCP_PORT = 9200;

type Proc = JsonProc;

const procStats = () => readQueueStats(QUEUE, nsExec(GW, 'cat', ['/proc/net/netfilter/nfnetlink_queue']));
const ipt = (...args: string[]) => nsExec(GW, 'iptables', ['-w', ...args]);

describe.skipIf(!env.ok)('NFQUEUE batches, live (p2pgw addon)', () => {
  let build = '';
  const procs: Proc[] = [];
  const start = (ns: string, argv: string[], envExtra?: Record<string, string>) => {
    const p = new JsonProc(ns, argv, envExtra);
    procs.push(p);
    return p;
  };
  const worker = (mode: string, ...flags: string[]) =>
    start(GW, [process.execPath, path.join(FIX, 'nfq-batch-worker.mjs'), path.join(build, 'dist', 'capture', 'nfq-batch.js'), String(QUEUE), mode, ...flags], {
      P2PGW_NFQ_ADDON: nativeAddonPath(),
    });
  const traffic = (ns: string, ...args: string[]) => start(ns, [process.execPath, path.join(FIX, 'traffic.mjs'), ...args]);

  beforeAll(async () => {
    expect(existsSync(nativeAddonPath()), `${nativeAddonPath()} is not built (npm install / npm run build:native)`).toBe(true);
    for (const ns of [CLI, GW, SRV]) nsAdd(ns);
    nsExec(CLI, 'ip', ['link', 'add', 'c0', 'type', 'veth', 'peer', 'name', 'g1', 'netns', GW]);
    nsExec(SRV, 'ip', ['link', 'add', 's0', 'type', 'veth', 'peer', 'name', 'g2', 'netns', GW]);
    for (const [ns, dev, a] of [[CLI, 'c0', '10.233.1.2/24'], [GW, 'g1', '10.233.1.1/24'], [GW, 'g2', '10.233.2.1/24'], [SRV, 's0', '10.233.2.2/24']]) {
      nsExec(ns, 'ip', ['addr', 'add', a, 'dev', dev]);
      nsExec(ns, 'ip', ['link', 'set', dev, 'up']);
    }
    nsExec(CLI, 'ip', ['route', 'add', 'default', 'via', '10.233.1.1']);
    nsExec(SRV, 'ip', ['route', 'add', 'default', 'via', '10.233.2.1']);
    nsExec(GW, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    // Compile src/capture/nfq-batch.ts (and what it imports) on its own, as nfq.live.test.ts does.
    build = mkdtempSync(path.join(os.tmpdir(), 'p2pgw-nfqb-'));
    sh(TSC, [
      '--ignoreConfig', '--outDir', path.join(build, 'dist'), '--rootDir', path.join(ROOT, 'src'), '--module', 'NodeNext', '--moduleResolution', 'NodeNext',
      '--target', 'ES2022', '--strict', '--skipLibCheck', '--types', 'node', path.join(ROOT, 'src', 'capture', 'nfq-batch.ts'),
    ]);
    writeFileSync(path.join(build, 'package.json'), '{"type":"module"}\n');
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(build, 'node_modules'));
  });

  afterAll(() => {
    for (const p of procs) p.kill();
    nsDel(CLI, GW, SRV);
    if (build) rmSync(build, { recursive: true, force: true });
  });

  const udpRules = async () => {
    // Resolve the neighbours first (outside the queue): a burst into an unresolved neighbour loses
    // what does not fit in its pending queue.
    await traffic(CLI, 'udp-burst', SRV4, String(UDP_PORT + 1), '1').waitFor((e) => e.sent === 1);
    await new Promise((r) => setTimeout(r, 200));
    ipt('-t', 'mangle', '-F');
    ipt('-F', 'FORWARD');
    ipt('-t', 'mangle', '-A', 'FORWARD', '-p', 'udp', '--dport', String(UDP_PORT), '-j', 'MARK', '--set-mark', '0x42');
    ipt('-t', 'mangle', '-A', 'FORWARD', '-p', 'udp', '--dport', String(UDP_PORT), '-j', 'NFQUEUE', '--queue-num', String(QUEUE));
    ipt('-A', 'FORWARD', '-p', 'udp', '--dport', String(UDP_PORT), '-m', 'mark', '--mark', '0x43', '-j', 'ACCEPT');
  };
  /** Packets counted by the filter rule for mark 0x43. */
  const mark43Hits = () => Number(/^\s*(\d+)/m.exec(ipt('-L', 'FORWARD', '-v', '-x', '-n').split('\n').filter((l) => /mark match 0x43/.test(l))[0] ?? '')?.[1] ?? -1);

  it('ids, lengths and marks of every packet in a batch round-trip exactly', async () => {
    await udpRules();
    const w = worker('record');
    await w.waitFor((e) => e.ev === 'ready');
    const sink = traffic(SRV, 'udp-sink', SRV4, String(UDP_PORT));
    await sink.waitFor((e) => e.ready === true);
    const seq0 = procStats()!.idSequence;
    const N = 400;
    for (let r = 0; r < 2; r++) await traffic(CLI, 'udp-burst', SRV4, String(UDP_PORT), String(N / 2)).waitFor((e) => e.sent === N / 2);
    await sink.until(() => sink.events.filter((e) => 'udp' in e).length >= N, 'every datagram at the sink', 15_000, () =>
      `sink ${sink.events.filter((e) => 'udp' in e).length}, worker ${w.events.filter((e) => e.ev === 'pkt').length}, queue ${JSON.stringify(procStats())}`);
    await w.until(() => w.events.filter((e) => e.ev === 'pkt').length >= N, 'every packet at the worker');
    const pkts = w.events.filter((e) => e.ev === 'pkt') as { id: number; len: number; ipLen: number; mark: number; seq: number; sport: number }[];
    expect(pkts).toHaveLength(N);
    // Every datagram of both bursts (one source port each) once, with its exact length and the
    // mark it was queued with.
    const ports = [...new Set(pkts.map((p) => p.sport))];
    expect(ports).toHaveLength(2);
    const bySeq = new Map(pkts.map((p) => [`${p.sport}:${p.seq}`, p]));
    expect(bySeq.size).toBe(N);
    for (const port of ports) {
      for (let i = 0; i < N / 2; i++) {
        const p = bySeq.get(`${port}:${i}`);
        expect(p, `port ${port} datagram ${i}`).toBeDefined();
        expect(p!.len).toBe(20 + 8 + 8 + ((i * 37) % 1400));
        expect(p!.ipLen).toBe(p!.len);
        expect(p!.mark).toBe(0x42);
      }
    }
    // Ids: consecutive kernel ids, in order, none twice.
    const ids = pkts.map((p) => p.id);
    expect(ids).toEqual(Array.from({ length: N }, (_, i) => seq0 + 1 + i));
    const sizes = w.events.filter((e) => e.ev === 'batch').map((e) => e.size as number);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(N);
    expect(Math.max(...sizes), `batch sizes ${sizes.join(',')}`).toBeGreaterThan(1);
    // The verdicts' mark reached the kernel on every packet; nothing waits.
    expect(mark43Hits()).toBe(N);
    expect(procStats()!.queueTotal).toBe(0);
    w.send('stats');
    const st = (await w.waitFor((e) => e.ev === 'stats')).stats as Record<string, number>;
    expect(st).toMatchObject({ received: N, accept: N, marked: N, verdictErrors: 0, unknownId: 0 });
    expect(st.batchVerdicts).toBeGreaterThan(0);
    w.send('close');
    await w.waitFor((e) => e.ev === 'closed');
    sink.kill();
  }, 60_000);

  it('held packets are never answered by a batch verdict', async () => {
    await udpRules();
    const w = worker('hold');
    await w.waitFor((e) => e.ev === 'ready');
    const sink = traffic(SRV, 'udp-sink', SRV4, String(UDP_PORT));
    await sink.waitFor((e) => e.ready === true);
    const N = 300;
    await traffic(CLI, 'udp-burst', SRV4, String(UDP_PORT), String(N), '10').waitFor((e) => e.sent === N);
    await w.until(() => w.events.filter((e) => e.ev === 'pkt').length >= N, 'every packet at the worker');
    await sink.until(() => sink.events.filter((e) => 'udp' in e).length >= N - N / 10, 'the packets not held at the sink');
    await new Promise((r) => setTimeout(r, 300));
    const got = () => sink.events.filter((e) => 'udp' in e).map((e) => e.udp as number);
    // Batches answered everything else, and not one held datagram got through.
    expect(got().filter((s) => s % 10 === 9)).toEqual([]);
    expect(got()).toHaveLength(N - N / 10);
    expect(procStats()!.queueTotal).toBe(N / 10);
    w.send('stats');
    const st = (await w.waitFor((e) => e.ev === 'stats')).stats as Record<string, number>;
    expect(st.batchVerdicts).toBeGreaterThan(0);
    expect(st.verdictErrors).toBe(0);
    w.send('release');
    await sink.until(() => got().length >= N, 'the released packets at the sink');
    expect(new Set(got()).size).toBe(N);
    expect(procStats()!.queueTotal).toBe(0);
    w.send('close');
    const closed = await w.waitFor((e) => e.ev === 'closed');
    expect((closed.stats as Record<string, number>).verdictErrors).toBe(0);
    sink.kill();
  }, 60_000);

  // Verdicts sent from the JavaScript thread, and handed to the addon's sender thread (tx.c).
  it.each([false, true])('exactly one verdict per packet under load (bulk TCP, GSO, verdicts from batches and timers; sender thread %s)', async (sendThread) => {
    ipt('-t', 'mangle', '-F');
    ipt('-F', 'FORWARD');
    ipt('-t', 'mangle', '-A', 'FORWARD', '-p', 'tcp', '-j', 'NFQUEUE', '--queue-num', String(QUEUE));
    const w = worker('load', '--gso', ...(sendThread ? ['--send-thread'] : []));
    await w.waitFor((e) => e.ev === 'ready');
    const BYTES = 40 * 1024 * 1024;
    const srv = traffic(SRV, 'bulk-server', SRV4, String(TCP_PORT), String(BYTES));
    await srv.waitFor((e) => e.ready === true);
    const want = (await traffic(CLI, 'bulk-sha', String(BYTES)).waitFor((e) => typeof e.sha256 === 'string')).sha256;
    const before = procStats()!;
    const clients = [0, 1, 2].map(() => traffic(CLI, 'bulk-client', SRV4, String(TCP_PORT)));
    for (const c of clients) expect(await c.waitFor((e) => 'bytes' in e, 60_000)).toMatchObject({ bytes: BYTES, sha256: want });
    await new Promise((r) => setTimeout(r, 200));
    const after = procStats()!;
    w.send('stats');
    const ev = await w.waitFor((e) => e.ev === 'stats');
    const st = ev.stats as Record<string, number>;
    expect(st.verdictErrors).toBe(0);
    expect(st.unknownId).toBe(0);
    expect(ev.pending).toBe(0);
    expect(after.queueTotal).toBe(0);
    expect(st.received).toBe(st.accept + st.drop + st.repeat);
    // Every id the kernel handed out reached us (or was dropped at a full socket, counted by both).
    expect(st.received + (after.userDropped - before.userDropped)).toBe(after.idSequence - before.idSequence);
    expect(ev.heldTimers as number).toBeGreaterThan(0);
    expect(st.gso, 'GSO super-packets reached user space').toBeGreaterThan(0);
    expect(st.maxPacket).toBeGreaterThan(1500);
    expect(st.sendThread).toBe(sendThread);
    expect(st.sendErrors).toBe(0);
    if (sendThread) expect(st.sends, 'the thread sent the verdicts (counted when synced)').toBeGreaterThan(0);
    w.send('close');
    await w.waitFor((e) => e.ev === 'closed');
    srv.kill();
  }, 120_000);
});
