/**
 * Issue 14, item 7: the watchdog. Its shell loop runs here against a fake iptables (a script that
 * records its arguments), so no rule is touched: a main thread blocked past `watchdog.timeout_ms`
 * makes it insert the queue bypass, heartbeats again make it delete it, with one log line each way;
 * it stops with the process it watches. The live test (test/live/watchdog.live.test.ts) does the
 * same with SIGSTOP and real connections.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Watchdog, WATCHDOG_SCRIPT, watchdogTiming } from '../../src/runtime/watchdog.js';
import { bypassScripts, bypassSpecs } from '../../src/enforce/bypass.js';
import { buildClassifier } from '../../src/runtime/setup.js';
import { learningWindow } from '../../src/runtime/enforcement.js';
import { parseConfig } from '../../src/config/load.js';
import { APPS } from '../../src/apps/registry.js';
import { Counters } from '../../src/core/counters.js';
import type { Backend } from '../../src/enforce/backend.js';
import { waitUntil } from '../helpers/wait.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-wd-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A backend whose iptables tools append their arguments to `log`. */
function fakeBackend(name: string): { backend: Backend; log: string } {
  const log = path.join(tmp, `${name}.log`);
  const tool = path.join(tmp, `${name}-ipt`);
  fs.writeFileSync(tool, `#!/bin/sh\necho "$(basename "$0") $*" >> '${log}'\n`, { mode: 0o755 });
  fs.symlinkSync(tool, `${tool}6`);
  const backend = { backend: 'legacy', iptables: tool, ip6tables: `${tool}6`, save: '', save6: '', restore: '', restore6: '', families: [4, 6], version: '', reason: '', warnings: [] } as Backend;
  return { backend, log };
}

const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n').filter(Boolean) : []);
/** Blocks this thread (timers, I/O, heartbeats) for `ms`, as a long synchronous reload would. */
const block = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

describe('bypass rules', () => {
  it('RETURN for unmarked and learning-window connections, inserted after the save-mark rule, per family', () => {
    expect(bypassSpecs([1, 0x12, 1])).toEqual([
      ['-m', 'connmark', '--mark', '0x0', '-j', 'RETURN'],
      ['-m', 'connmark', '--mark', '0x1', '-j', 'RETURN'],
      ['-m', 'connmark', '--mark', '0x12', '-j', 'RETURN'],
    ]);
    expect(bypassSpecs([1], 0xff)).toEqual([
      ['-m', 'connmark', '--mark', '0x0/0xff', '-j', 'RETURN'],
      ['-m', 'connmark', '--mark', '0x1/0xff', '-j', 'RETURN'],
    ]);
    const { backend } = fakeBackend('text');
    const s = bypassScripts(backend, 'P2PGW', bypassSpecs([]));
    expect(s.lift).toBe(`rc=0\n${backend.iptables} -w -t mangle -I P2PGW 2 -m connmark --mark 0x0 -j RETURN || rc=1\n${backend.ip6tables} -w -t mangle -I P2PGW 2 -m connmark --mark 0x0 -j RETURN || rc=1\nexit $rc\n`);
    expect(s.restore).toContain(`${backend.iptables} -w -t mangle -D P2PGW -m connmark --mark 0x0 -j RETURN || rc=1`);
  });

  it('timing: a heartbeat at least six times per timeout, at most every poll_ms', () => {
    expect(watchdogTiming({ timeoutMs: 1500, pollMs: 250 })).toEqual({ pollMs: 250, limit: 6 });
    expect(watchdogTiming({ timeoutMs: 300, pollMs: 250 })).toEqual({ pollMs: 50, limit: 6 });
    expect(watchdogTiming({ timeoutMs: 20, pollMs: 250 })).toEqual({ pollMs: 10, limit: 2 });
  });
});

describe('Watchdog', () => {
  it('a blocked main thread lifts the queue rules; heartbeats again restore them; one line each way', async () => {
    const { backend, log } = fakeBackend('stall');
    const cfg = parseConfig('watchdog: {timeout_ms: 300, poll_ms: 50}\nendpoints: {learn_packets: 0}\n', 't.yaml', APPS.map((a) => a.name));
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    const counters = new Counters();
    const w = new Watchdog(backend, logger, counters);
    await w.configure(cfg, buildClassifier(cfg).classifier);
    await new Promise((r) => setTimeout(r, 400)); // running: no lift
    expect(read(log)).toEqual([]);
    block(1200);
    // the shell lifted while we were blocked; we read its line now, and the heartbeat brings the restore
    await waitUntil(() => counters.get('watchdog_restored') === 1, 5000, 'the restore line');
    const ipt = path.basename(backend.iptables);
    const m = (mark: number) => bypassSpecs([mark], cfg.iptables.markMask).at(-1)!.join(' '); // `-m connmark --mark 0x0[/mask] -j RETURN`
    expect(read(log)).toEqual([
      `${ipt} -w -t mangle -I P2PGW 2 ${m(0)}`,
      `${ipt}6 -w -t mangle -I P2PGW 2 ${m(0)}`,
      `${ipt} -w -t mangle -D P2PGW ${m(0)}`,
      `${ipt}6 -w -t mangle -D P2PGW ${m(0)}`,
    ]);
    const wd = lines.filter((l) => String(l.msg).startsWith('watchdog'));
    expect(wd.map((l) => l.msg)).toEqual([
      'watchdog: no heartbeat from the main thread; queue rules lifted (new connections bypass the queue)',
      'watchdog: heartbeats again; queue rules restored',
    ]);
    expect(wd[0]).toMatchObject({ timeout_ms: 300 });
    expect(wd[1].stalled_ms as number).toBeGreaterThan(1000);
    expect(counters.get('watchdog_lifted')).toBe(1);
    expect(counters.get('watchdog_error') ?? 0).toBe(0);
    // a reload with the endpoint learning window (BitTorrent's mark, …) rewrites the scripts; a second stall uses them
    const cfg2 = parseConfig('watchdog: {timeout_ms: 300, poll_ms: 50}\n', 't.yaml', APPS.map((a) => a.name));
    const cl2 = buildClassifier(cfg2).classifier;
    const learning = learningWindow(cfg2, cl2)!.marks.map((x) => x.mark);
    expect(learning).toContain(cl2.app('bittorrent')!.mark);
    await w.configure(cfg2, cl2);
    block(1200);
    await waitUntil(() => counters.get('watchdog_restored') === 2, 5000, 'the second restore line');
    expect(read(log).slice(4).filter((l) => l.startsWith(`${ipt} `))).toEqual(
      ['-I P2PGW 2', '-D P2PGW'].flatMap((op) => [0, ...learning].map((k) => `${ipt} -w -t mangle ${op} ${m(k)}`)),
    );
    await w.stop();
    expect(w.isLifted).toBe(false);
    expect(read(log)).toHaveLength(4 + 4 * (1 + learning.length));
  }, 20_000);

  it('timeout_ms 0 runs no watchdog', async () => {
    const { backend, log } = fakeBackend('off');
    const cfg = parseConfig('watchdog: {timeout_ms: 0}\n', 't.yaml', APPS.map((a) => a.name));
    const w = new Watchdog(backend, pino({ level: 'silent' }), new Counters());
    await w.configure(cfg, buildClassifier(cfg).classifier);
    block(500);
    await new Promise((r) => setTimeout(r, 200));
    expect(read(log)).toEqual([]);
    await w.stop();
  });

  const shells: string[][] = [['/bin/sh'], ...(spawnSync('busybox', ['true']).status === 0 ? [['busybox', 'sh']] : [])];
  it.each(shells)('the shell loop (%s): lifts, restores when the beat moves, exits with the watched process and removes its files', async (...shell) => {
    const dir = fs.mkdtempSync(path.join(tmp, 'pid-'));
    fs.writeFileSync(path.join(dir, 'beat'), '1\n');
    fs.writeFileSync(path.join(dir, 'params'), '0.05 3\n');
    const log = `${dir}.log`;
    fs.writeFileSync(path.join(dir, 'lift'), `echo lift >> '${log}'\n`);
    fs.writeFileSync(path.join(dir, 'restore'), `echo restore >> '${log}'\nexit 3\n`);
    const victim = spawn('sleep', ['1.5']);
    const sh = spawn(shell[0], [...shell.slice(1), '-c', WATCHDOG_SCRIPT, 'p2pgw-watchdog', dir, String(victim.pid)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const out: string[] = [];
    sh.stdout.on('data', (d: Buffer) => out.push(...d.toString().trim().split('\n')));
    await waitUntil(() => out.length === 1, 5000, 'lifted');
    fs.writeFileSync(path.join(dir, 'beat'), '2\n');
    await waitUntil(() => out.length === 2, 5000, 'restored');
    const code = await new Promise<number | null>((r) => sh.once('exit', (c) => r(c)));
    expect(code).toBe(0);
    // beat unchanged since: lifted again, then the process was gone and nothing more happened
    expect(out.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['lifted 0', 'restored 3', 'lifted 0']);
    expect(read(log)).toEqual(['lift', 'restore', 'lift']);
    expect(fs.existsSync(dir)).toBe(false); // the shell removed its directory
  });
});
