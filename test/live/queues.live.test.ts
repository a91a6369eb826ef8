/**
 * `p2pgw run --queues 2` live: the supervisor starts two queue workers, installs `--queue-balance`
 * rules, every scripted session (TCP and UDP, IPv4 and IPv6) is still classified and marked, the
 * status document merges both workers, the workers share learned endpoints, a killed worker is
 * respawned, and SIGTERM removes every rule. Skipped, with the reason printed, only when not root
 * or without `ip netns`.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { addClientAddresses } from '../../src/tools/lab/netns.js';
import { writeScenario } from '../../src/tools/lab/scenario.js';
import { buildScenario } from '../../src/tools/lab/sessions.js';
import { runGenClient, startGenServer, waitExit } from '../../src/tools/lab/run.js';
import { waitUntil } from '../helpers/wait.js';
import { liveEnv } from './fixtures/netns.js';
import { awaitReady, MAIN, useLab } from './fixtures/daemon.js';

const env = liveEnv('queues');
if (!env.ok) console.warn(`skipping live multi-queue tests: ${env.reason}`);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-queues-'));

describe.skipIf(!env.ok || !fs.existsSync(MAIN))('run --queues 2 (live)', () => {
  const block = useLab({ name: `pgq${process.pid % 10000}`, tmp, lab: { ipv6: true } });

  it('two workers share the traffic by flow; sessions are classified; status merges; stop removes the rules', async () => {
    const { lab } = block;
    const sock = path.join(tmp, 'st.sock');
    const d: ChildProcess = lab.spawn('gw', [process.execPath, MAIN, 'run', '--queues', '2', '--log-dest', 'stderr', '--status-socket', sock]);
    const lines: Record<string, unknown>[] = [];
    await awaitReady(d, { stderr: [], lines }, 'supervisor', 30_000, (j) => j.msg === 'ready' && !!j.queues);
    const rules = spawnSync('ip', ['netns', 'exec', lab.ns.gw, 'iptables-save', '-t', 'mangle'], { encoding: 'utf8' }).stdout;
    expect(rules).toMatch(/--queue-balance 0:1/);

    // `--queue-balance` hashes the address pair and protocol (not ports) with a seed the kernel draws
    // at boot, so which queue a flow lands in is not ours to choose: every session comes from its own
    // client address, and more sessions from new addresses follow until both workers have judged a
    // flow (bounded: with 2 queues the chance that the 94 address pairs all hash alike is 2^-93).
    const v4 = await addClientAddresses(lab, 48, 4);
    const v6 = await addClientAddresses(lab, 48, 6);
    const apps = 'bittorrent.peerwire,bittorrent.dht,edonkey.hello,edonkey.kad,gnutella.handshake,msn.notification,http.get';
    const sent: string[] = []; // the source address of every session, in session order
    for (const [server, from] of [[lab.addr.server, v4.slice(0, 7)], [lab.addr.server6!, v6.slice(0, 7)]] as const) {
      const src = ['--apps', apps, '--base-port', server.includes(':') ? '47100' : '47000'];
      const srv = await startGenServer(lab, { source: src, timeoutMs: 5000 });
      const cli = await runGenClient(lab, { source: src, server, timeoutMs: 5000, sessions: 7, from });
      await srv.stop();
      expect(cli.results.map((r) => `${r.name}:${r.ok}`).sort()).toEqual(apps.split(',').map((a) => `${a}:true`).sort());
      sent.push(...from);
    }
    const classified = (): Record<string, unknown>[] => lines.filter((l) => l.msg === 'classified');
    const workersSeen = (): Set<unknown> => new Set(classified().map((l) => l.worker));
    const extraFile = path.join(tmp, 'extra.json');
    const extra = buildScenario(['http.get'], { basePort: 47200 }).flatMap((s) => Array.from({ length: 8 }, (_, i) => ({ ...s, name: `${s.name}.${i}`, port: s.port + i })));
    await writeScenario(extraFile, extra);
    for (let i = 7; workersSeen().size < 2 && i + 4 <= v4.length; i += 4) {
      const from = [...v4.slice(i, i + 4), ...v6.slice(i, i + 4)];
      const src = ['--scenario', extraFile];
      const srv = await startGenServer(lab, { source: src, timeoutMs: 5000 });
      for (const [server, fam] of [[lab.addr.server, from.slice(0, 4)], [lab.addr.server6!, from.slice(4)]] as const) {
        const cli = await runGenClient(lab, { source: src, server, timeoutMs: 5000, sessions: extra.length, from: fam });
        expect(cli.results.every((r) => r.ok), JSON.stringify(cli.results)).toBe(true);
        sent.push(...extra.map((_, k) => fam[k % fam.length]));
      }
      await srv.stop();
    }

    // Every session was judged and classified exactly once, by one worker (no flow was split across
    // the queues), and from the address it was sent from; both workers judged flows.
    const all = classified();
    expect(all).toHaveLength(sent.length);
    const tuples = all.map((l) => `${l.l4} ${l.src} ${l.sport} ${l.dst} ${l.dport}`);
    expect(new Set(tuples).size).toBe(all.length);
    expect(all.every((l) => l.worker === 0 || l.worker === 1)).toBe(true);
    expect(new Set(all.map((l) => l.src))).toEqual(new Set(sent));
    expect(workersSeen()).toEqual(new Set([0, 1]));

    // The status document merges both workers: its counters are the sums of what each one logged.
    const st = JSON.parse(spawnSync(process.execPath, [MAIN, 'status', '--json', '--socket', sock], { encoding: 'utf8' }).stdout);
    expect(st.queues).toBe(2);
    expect(st.workers).toHaveLength(2);
    expect(st.counters.classified_bittorrent).toBe(4);
    expect(st.counters.classified_http).toBe(all.filter((l) => l.app === 'http').length);
    expect(st.nfq.received).toBe(st.nfq.accept + st.nfq.drop + st.nfq.repeat);

    // Endpoints one worker learned (the BitTorrent and eDonkey peer flows) reach the other one: with
    // two workers every entry sent out is adopted once, and the supervisor relayed each.
    type Shares = { counters: Record<string, number>; supervisor: Record<string, number> };
    const shares = (): Shares => JSON.parse(spawnSync(process.execPath, [MAIN, 'status', '--json', '--socket', sock], { encoding: 'utf8' }).stdout) as Shares;
    const adopted = (s: Shares): boolean => s.counters.endpoint_share_out > 0 && s.counters.endpoint_share_in === s.counters.endpoint_share_out;
    await waitUntil(() => adopted(shares()), 10_000, 'every shared endpoint adopted by the other worker', 100).catch(() => {});
    const sh = shares();
    expect(sh.counters.endpoint_share_out).toBeGreaterThan(0);
    expect(sh.counters.endpoint_share_in).toBe(sh.counters.endpoint_share_out);
    expect(sh.supervisor.endpoint_share_relayed).toBe(sh.counters.endpoint_share_out);
    expect(sh.counters.endpoint_share_dropped ?? 0).toBe(0);

    // a worker that dies is respawned
    const victim = (st.workers as { pid: number }[])[0].pid;
    process.kill(victim, 'SIGKILL');
    type St = { workers: { pid: number | null }[]; supervisor: { worker_died: number } };
    const status = (): St | null => {
      const r = spawnSync(process.execPath, [MAIN, 'status', '--json', '--socket', sock], { encoding: 'utf8' });
      return r.status === 0 ? (JSON.parse(r.stdout) as St) : null;
    };
    const respawned = (s: St | null): boolean => !!s && s.workers.length === 2 && s.workers.every((w) => typeof w.pid === 'number' && w.pid !== victim);
    const st2 = await waitUntil(() => { const s = status(); return respawned(s) ? s : null; }, 15_000, 'a new worker replaces the killed one', 100).catch(() => status());
    expect(st2?.workers).toHaveLength(2);
    expect(st2!.workers.map((w) => w.pid)).not.toContain(victim);
    expect(st2!.supervisor.worker_died).toBe(1);

    d.kill('SIGTERM');
    expect(await waitExit(d, 20_000, true)).toBe(true);
    expect(d.exitCode).toBe(0);
    const after = spawnSync('ip', ['netns', 'exec', lab.ns.gw, 'iptables-save'], { encoding: 'utf8' }).stdout;
    expect(after).not.toMatch(/P2PGW/);
  }, 180_000);
});
