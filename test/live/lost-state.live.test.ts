/**
 * Issue 14, item 2, live: an inspected HTTP download (connmark = HTTP's mark, every packet queued)
 * pauses after its first 16 KiB; its flow state is then lost, and the rest (with EICAR in it) must
 * not pass unscanned:
 *  - the daemon is restarted (SIGTERM, a new `p2pgw run`): with the default `inspect.lost_state:
 *    reset` the download is reset at its next packet and the EICAR bytes never arrive (counted
 *    `inspect_lost_state_reset`, one `lost state` line); with `pass` it completes, counted
 *    `inspect_lost_state_pass` and logged;
 *  - a SYN flood at a small flow cap (`flow.max_flows: 64`) while the download is idle: eviction
 *    takes the flood's flows, the download stays inspected, EICAR is found and the download reset.
 * Skipped, with the reason printed, only when not root or without `ip netns`.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Lab } from '../../src/tools/lab/netns.js';
import { onLines, parseJsonLine, waitExit } from '../../src/tools/lab/run.js';
import { ROOT } from '../helpers/paths.js';
import { waitUntil } from '../helpers/wait.js';
import { liveEnv } from './fixtures/netns.js';
import { MAIN, useLabDaemon } from './fixtures/daemon.js';

const env = liveEnv('lost');
if (!env.ok) console.warn(`skipping live lost-state tests: ${env.reason}`);
const TOOL = path.join(ROOT, 'test', 'live', 'fixtures', 'pause-transfer.mjs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-lost-'));
const TOTAL = 256 * 1024;
const FIRST = 16 * 1024;
const EICAR_AT = 128 * 1024;

/** A child whose stdout/stderr JSON lines are collected. */
interface Proc { proc: ChildProcess; lines: Record<string, unknown>[]; text: string[] }

function collect(proc: ChildProcess, stream: 'stdout' | 'stderr'): Proc {
  const p: Proc = { proc, lines: [], text: [] };
  onLines(proc[stream], (l) => {
    p.text.push(l);
    const j = parseJsonLine(l);
    if (j) p.lines.push(j);
  });
  return p;
}

const line = (p: Proc, pred: (l: Record<string, unknown>) => boolean, ms: number, what: string) =>
  waitUntil(() => p.lines.find(pred), ms, `${what}:\n${p.text.slice(-20).join('\n')}`);

async function startDaemon(lab: Lab, config: string): Promise<Proc> {
  const sock = path.join(tmp, `st-${Date.now()}.sock`);
  const d = collect(lab.spawn('gw', [process.execPath, MAIN, 'run', '--log-dest', 'stderr', '--config', config, '--status-socket', sock]), 'stderr');
  await line(d, (l) => l.msg === 'ready', 20_000, 'daemon ready');
  return d;
}

async function stopDaemon(d: Proc): Promise<Record<string, number>> {
  d.proc.kill('SIGTERM');
  expect(await waitExit(d.proc, 15_000, true)).toBe(true);
  return (d.lines.find((l) => l.msg === 'stopped') as { counters: Record<string, number> }).counters;
}

function config(name: string, yaml: string): string {
  const f = path.join(tmp, `${name}.yaml`);
  fs.writeFileSync(f, yaml);
  return f;
}

/** Starts the paused download; resolves once the client has the first part. */
async function startDownload(lab: Lab, port: number) {
  const server = collect(lab.spawn('server', [process.execPath, TOOL, 'server', lab.addr.server, String(port), String(TOTAL), String(FIRST), String(EICAR_AT)]), 'stdout');
  await line(server, (l) => l.ready === true, 10_000, 'server ready');
  const client = collect(lab.spawn('client', [process.execPath, TOOL, 'client', lab.addr.server, String(port), String(FIRST), '30000']), 'stdout');
  await line(client, (l) => typeof l.progress === 'number', 10_000, 'first part received');
  return {
    server, client,
    /** Lets the server send the rest; resolves with the client's end line. */
    resume: async () => {
      server.proc.stdin!.write('go\n');
      return (await line(client, (l) => typeof l.end === 'string', 30_000, 'client end')) as { end: string; got: number; eicar: boolean };
    },
  };
}

describe.skipIf(!env.ok || !fs.existsSync(MAIN))('inspection state lost (live, NFQUEUE)', () => {
  // One daemon runs at a time: afterEach stops the test's last one if it still runs.
  const ctx = useLabDaemon<Proc>({ name: `pgls${process.pid % 10000}`, tmp });

  async function restartMidTransfer(name: string, yaml: string, port: number) {
    const { lab } = ctx;
    const file = config(name, yaml);
    const a = (ctx.daemon = await startDaemon(lab, file));
    const dl = await startDownload(lab, port);
    const before = await stopDaemon(a);
    expect(before.inspected_flows).toBe(1);
    const b = (ctx.daemon = await startDaemon(lab, file));
    const end = await dl.resume();
    const counters = await stopDaemon(b);
    const lost = b.lines.filter((l) => l.msg === 'lost state');
    console.log(`[lost-state ${name}] client ${JSON.stringify(end)}; counters after restart: ${JSON.stringify(Object.fromEntries(Object.entries(counters).filter(([k]) => /lost_state|inspected|infected|flow_/.test(k))))}`);
    return { end, counters, lost };
  }

  it('daemon restarted mid-transfer, default policy: the download is reset, EICAR never arrives; counted and logged once', async () => {
    const { lab } = ctx;
    const { end, counters, lost } = await restartMidTransfer('reset', 'apps:\n  http: {action: inspect}\n', 46100);
    expect(end.end).toBe('reset');
    expect(end.eicar).toBe(false);
    expect(end.got).toBeLessThan(TOTAL);
    expect(counters.inspect_lost_state_reset).toBe(1);
    expect(counters.inspect_lost_state_pass ?? 0).toBe(0);
    expect(counters.classified_http ?? 0).toBe(0); // never classified again mid-stream (it would have become "unknown")
    expect(lost).toHaveLength(1);
    // the first packet seen after the restart is the server's: the line names it as the sender
    expect(lost[0]).toMatchObject({ app: 'http', mark: 7, verdict: 'reset', policy: 'reset', src: lab.addr.server, sport: 46100, dst: lab.addr.client });
  }, 90_000);

  it('daemon restarted mid-transfer, lost_state: pass: the download completes uninspected, counted and logged once', async () => {
    const { lab } = ctx;
    const { end, counters, lost } = await restartMidTransfer('pass', 'apps:\n  http: {action: inspect}\ninspect: {lost_state: pass}\n', 46101);
    expect(end.end).toBe('eof');
    expect(end.got).toBeGreaterThan(TOTAL);
    expect(counters.inspect_lost_state_pass).toBe(1);
    expect(counters.inspect_lost_state_reset ?? 0).toBe(0);
    expect(counters.infected ?? 0).toBe(0);
    expect(lost).toEqual([expect.objectContaining({ app: 'http', verdict: 'accept', policy: 'pass', src: lab.addr.server, sport: 46101 })]);
  }, 90_000);

  it('a SYN flood at the flow cap does not evict the idle inspected download: EICAR is still found and the download reset', async () => {
    const { lab } = ctx;
    const d = (ctx.daemon = await startDaemon(lab, config('flood', 'apps:\n  http: {action: inspect}\nflow: {max_flows: 64}\n')));
    const dl = await startDownload(lab, 46102);
    const flood = collect(lab.spawn('client', [process.execPath, TOOL, 'flood', lab.addr.server, '46199', '600']), 'stdout');
    await line(flood, (l) => typeof l.flood === 'number', 60_000, 'flood done');
    const end = await dl.resume();
    const counters = await stopDaemon(d);
    console.log(`[lost-state flood] client ${JSON.stringify(end)}; flow_evicted ${counters.flow_evicted}, infected ${counters.infected}, lost ${counters.inspect_lost_state_reset ?? 0}`);
    expect(counters.flow_evicted).toBeGreaterThanOrEqual(500);
    expect(d.lines.find((l) => l.msg === 'infected')).toMatchObject({ app: 'http', verdict: 'reset', dport: 46102 });
    // found when its 32 KiB scan buffer is full, as any transfer: reset before the file is complete
    expect(end.end).toBe('reset');
    expect(end.got).toBeLessThan(TOTAL);
    expect(counters.inspect_lost_state_reset ?? 0).toBe(0);
  }, 120_000);
});
