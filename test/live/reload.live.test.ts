/**
 * SIGHUP reload, live: a changed keyword list takes effect on the next message of an established
 * inspected connection without resetting it; a broken config is refused with an error line and the
 * old one keeps running. Runs the daemon in a lab's gateway namespace. Skipped, with the reason
 * printed, only when not root or without `ip netns`.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { onLines, parseJsonLine, waitExit } from '../../src/tools/lab/run.js';
import { ROOT } from '../helpers/paths.js';
import { liveEnv } from './fixtures/netns.js';
import { MAIN, useLab } from './fixtures/daemon.js';

const env = liveEnv('reload');
if (!env.ok) console.warn(`skipping live reload tests: ${env.reason}`);
const PEER = path.join(ROOT, 'test', 'live', 'fixtures', 'chat-peer.mjs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-reload-'));

/** A child whose JSON lines are collected; `next(pred)` waits for the first new line matching. */
function watch(proc: ChildProcess, stream: 'stdout' | 'stderr') {
  const lines: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; from: number; resolve: (l: Record<string, unknown>) => void }[] = [];
  onLines(proc[stream], (l) => {
    const j = parseJsonLine(l);
    if (!j) return;
    lines.push(j);
    for (const w of [...waiters]) if (w.pred(j)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(j));
  });
  return {
    lines,
    /** Waits for the first line matching `pred` that arrives from now on, or from line index `from`. */
    next(pred: (l: Record<string, unknown>) => boolean, ms = 10_000, from = lines.length): Promise<Record<string, unknown>> {
      const seen = lines.slice(from).find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timeout waiting; lines: ${JSON.stringify(lines.slice(-8))}`)), ms);
        waiters.push({ pred, from: lines.length, resolve: (l) => (clearTimeout(t), resolve(l)) });
      });
    },
  };
}

describe.skipIf(!env.ok || !fs.existsSync(MAIN))('SIGHUP reload (live)', () => {
  const ctx = useLab({ name: `pgr${process.pid % 10000}`, tmp });

  it('a new keyword applies to the next message without resetting the connection; a broken config is refused', async () => {
    const { lab } = ctx;
    const cfg = path.join(tmp, 'p2pgw.yaml');
    const write = (words: string[]) => fs.writeFileSync(cfg, `apps:\n  msn: {action: inspect}\nkeywords:\n  lists:\n    banned: [${words.join(', ')}]\n`);
    write(['alpha']);
    const daemon = lab.spawn('gw', [process.execPath, MAIN, 'run', '--log-dest', 'stderr', '--config', cfg, '--status-socket', path.join(tmp, 's.sock')]);
    const d = watch(daemon, 'stderr');
    await d.next((l) => l.msg === 'ready', 20_000);

    const server = lab.spawn('server', [process.execPath, PEER, 'server', '45500']);
    const srv = watch(server, 'stdout');
    await srv.next((l) => l.event === 'listening');
    const client = lab.spawn('client', [process.execPath, PEER, 'client', lab.addr.server, '45500']);
    const cli = watch(client, 'stdout');
    await cli.next((l) => l.event === 'connected');
    const send = (line: string) => client.stdin!.write(`${line}\n`);

    send('usr');
    await srv.next((l) => l.event === 'data');
    send('msg hello beta');
    await srv.next((l) => l.event === 'data' && String(l.text).includes('hello beta'));

    write(['alpha', 'beta']);
    daemon.kill('SIGHUP');
    const reloaded = await d.next((l) => l.msg === 'reloaded');
    expect(reloaded.keywords).toBe(2);

    send('msg still here');
    await srv.next((l) => l.event === 'data' && String(l.text).includes('still here')); // not reset by the reload
    expect(cli.lines.some((l) => l.event === 'reset' || l.event === 'close')).toBe(false);

    const srvMark = srv.lines.length;
    send('msg beta again');
    await cli.next((l) => l.event === 'reset' || l.event === 'close');
    // The offending packet became a RST toward the server: its end of the connection closes.
    await srv.next((l) => l.event === 'close', 10_000, srvMark);
    expect(srv.lines.some((l) => l.event === 'data' && String(l.text).includes('beta again'))).toBe(false);
    expect(d.lines.find((l) => l.msg === 'keyword')).toMatchObject({ list: 'banned', keyword_id: 'banned#1', verdict: 'reset' });

    // A broken config is refused; the old one (with beta) keeps running.
    fs.writeFileSync(cfg, 'apps:\n  msn: {action: shred}\n');
    daemon.kill('SIGHUP');
    const refused = await d.next((l) => l.msg === 'reload refused: invalid config; the old config keeps running');
    expect(String(refused.err)).toMatch(/apps\.msn\.action \(line 2\): must be one of allow, block, inspect/);
    expect(refused.level).toBe(50);

    const client2 = lab.spawn('client', [process.execPath, PEER, 'client', lab.addr.server, '45500']);
    const cli2 = watch(client2, 'stdout');
    await cli2.next((l) => l.event === 'connected');
    client2.stdin!.write('usr\nmsg beta once more\n');
    await cli2.next((l) => l.event === 'reset' || l.event === 'close');
    expect(d.lines.filter((l) => l.msg === 'keyword')).toHaveLength(2);

    for (const p of [client, client2, server]) p.kill('SIGTERM');
    daemon.kill('SIGTERM');
    expect(await waitExit(daemon, 15_000, true)).toBe(true);
    expect(daemon.exitCode).toBe(0);
  }, 90_000);
});
