/**
 * The live runtime's pieces that need no root: reload checks, the stop sequence both modes share,
 * the supervisor's status merge, queue worker options and entry arguments, and the error exit.
 * The live behaviour (queues, SIGHUP, SIGTERM) is covered by test/live/{daemon,queues,reload}.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { APPS } from '../../src/apps/registry.js';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { Counters } from '../../src/core/counters.js';
import { ConfigError, P2pgwError, RulesError } from '../../src/core/errors.js';
import { loadForReload, restartNeeded, serveUntilStopped, type RunOptions, type StopPlan } from '../../src/runtime/boot.js';
import { exitCodeOf, fatalText, reportFatal } from '../../src/runtime/exit.js';
import { mergeStatus } from '../../src/runtime/supervisor.js';
import { parseWorkerOptions } from '../../src/runtime/worker-main.js';
import { WORKER_MAIN, workerArgv, workerOptions } from '../../src/runtime/worker-pool.js';
import { ROOT } from '../helpers/paths.js';

const NAMES = APPS.map((a) => a.name);

/** A logger that records `[level, fields, msg]`. */
function fakeLogger() {
  const lines: [string, unknown, string | undefined][] = [];
  const at = (level: string) => (fields: unknown, msg?: string) => void lines.push([level, fields, msg]);
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error') } as never };
}

describe('restartNeeded', () => {
  it('names the sections a reload cannot change, and nothing for the same config', () => {
    const cur = parseConfig('', 'a.yaml', NAMES);
    expect(restartNeeded(parseConfig('', 'b.yaml', NAMES), cur)).toEqual([]);
    const next = parseConfig('queue:\n  num: 7\n', 'b.yaml', NAMES);
    expect(restartNeeded(next, cur)).toEqual(['queue']);
  });
});

describe('loadForReload', () => {
  it('compiles a valid config: classifier, rules and keyword lists', () => {
    const { logger, lines } = fakeLogger();
    const counters = new Counters();
    const r = loadForReload(undefined, logger, counters, 'x.yaml');
    expect(r?.next.file).toBe(loadConfig(undefined, NAMES).file);
    expect(r?.built.classifier.apps.length).toBeGreaterThan(0);
    expect(r?.built.rules.sigs.length).toBeGreaterThan(0);
    expect(counters.get('reload_refused')).toBe(0);
    expect(lines).toEqual([]);
  });

  it('refuses an invalid config with one error line and a counter', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-reload-'));
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, 'queue: [not, a, map]\n');
    const { logger, lines } = fakeLogger();
    const counters = new Counters();
    try {
      expect(loadForReload(file, logger, counters, 'current.yaml')).toBeNull();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(counters.get('reload_refused')).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0][0]).toBe('error');
    expect(lines[0][2]).toBe('reload refused: invalid config; the old config keeps running');
    expect(lines[0][1]).toMatchObject({ config: 'current.yaml', err: expect.stringContaining('bad.yaml') });
  });
});

describe('serveUntilStopped', () => {
  /** A plan that records the order of the stop steps. */
  function plan(order: string[], rulesRemoved = true): StopPlan {
    return {
      tick: setInterval(() => order.push('tick'), 60_000),
      enforcement: { stop: async () => (order.push('rules removed'), rulesRemoved) },
      begin: () => void order.push('begin'),
      release: async () => void order.push('release'),
      stopped: () => (order.push('stopped fields'), { n: 1 }),
      after: () => void order.push('after'),
      reload: async () => {
        order.push('reload start');
        await new Promise((r) => setTimeout(r, 20));
        order.push('reload end');
      },
      usr1: () => void order.push('usr1'),
    };
  }

  it('stops once, in order: begin, stopping, rules, release, stopped, after, log closed; exit 0', async () => {
    const order: string[] = [];
    const signals = new EventEmitter();
    const { logger, lines } = fakeLogger();
    const done = serveUntilStopped({ logger, closeLog: () => void order.push('log closed') }, plan(order), signals);
    signals.emit('SIGTERM');
    signals.emit('SIGINT'); // a second signal while stopping changes nothing
    expect(await done).toBe(0);
    expect(order).toEqual(['begin', 'rules removed', 'release', 'stopped fields', 'after', 'log closed']);
    expect(lines).toEqual([
      ['info', { signal: 'SIGTERM' }, 'stopping'],
      ['info', { n: 1 }, 'stopped'],
    ]);
  });

  it('exits 1 when the rules could not all be removed; a worker (no rules) exits 0', async () => {
    const signals = new EventEmitter();
    const done = serveUntilStopped({ ...fakeLogger(), closeLog: () => undefined }, plan([], false), signals);
    signals.emit('SIGINT');
    expect(await done).toBe(1);
    const worker = new EventEmitter();
    const done2 = serveUntilStopped({ ...fakeLogger(), closeLog: () => undefined }, { ...plan([]), enforcement: null }, worker);
    worker.emit('SIGTERM');
    expect(await done2).toBe(0);
  });

  it('runs SIGHUP reloads one after the other and SIGUSR1 at once', async () => {
    const order: string[] = [];
    const signals = new EventEmitter();
    const done = serveUntilStopped({ ...fakeLogger(), closeLog: () => undefined }, plan(order), signals);
    signals.emit('SIGHUP');
    signals.emit('SIGHUP');
    signals.emit('SIGUSR1');
    await new Promise((r) => setTimeout(r, 80));
    expect(order).toEqual(['usr1', 'reload start', 'reload end', 'reload start', 'reload end']);
    signals.emit('SIGTERM');
    await done;
  });
});

describe('mergeStatus', () => {
  it('sums the workers numbers key by key and lists each worker', () => {
    const doc = (q: number, pid: number, n: number) => ({
      queue: q, pid, flows: n, held: 1, held_peak: 2, counters: { packets: n * 10, only_here: q === 0 ? 5 : undefined },
      nfq: { received: n, accept: n }, daemon: { cpu_percent: 1 },
      apps: [{ app: 'bittorrent', mark: 0x10, action: 'allow', flows: n, blocks: 0 }],
    });
    const m = mergeStatus([doc(0, 100, 3), doc(1, 101, 4)]);
    expect(m).toMatchObject({ flows: 7, held: 2, held_peak: 4, counters: { packets: 70, only_here: 5 }, nfq: { received: 7, accept: 7 } });
    expect(m.apps).toEqual([{ app: 'bittorrent', mark: 0x10, action: 'allow', flows: 7, blocks: 0 }]);
    expect(m.workers).toEqual([
      { queue: 0, pid: 100, daemon: { cpu_percent: 1 } },
      { queue: 1, pid: 101, daemon: { cpu_percent: 1 } },
    ]);
  });
});

describe('queue workers', () => {
  const opts: RunOptions = {
    config: 'c.yaml', logDest: 'stderr', logLevel: 'debug', flows: '/tmp/f.jsonl', flowLog: '/var/log/fl',
    exportPcap: '/tmp/pcap', statusSocket: '/run/s.sock', traceSteps: true, queues: 2,
  };

  it('each worker gets the overrides, its own outputs and status socket, and no queue count', () => {
    expect(workerOptions(opts, 1, '/run/s.sock')).toEqual({
      config: 'c.yaml', logDest: 'stderr', logLevel: 'debug', traceSteps: true,
      flows: '/tmp/f.jsonl.1', flowLog: path.join('/var/log/fl', 'q1'), exportPcap: path.join('/tmp/pcap', 'q1'),
      statusSocket: '/run/s.sock.1', worker: { index: 1 },
    });
    const bare = workerOptions({ queues: 3 }, 2, '/run/p2pgw.sock');
    expect(JSON.parse(JSON.stringify(bare))).toEqual({ statusSocket: '/run/p2pgw.sock.2', worker: { index: 2 } });
  });

  it('starts the runtime entry script (not the CLI) with its options as one JSON argument', () => {
    expect(WORKER_MAIN).toBe(path.join(ROOT, 'src', 'runtime', 'worker-main.js'));
    const argv = workerArgv(workerOptions(opts, 0, '/run/s.sock'));
    expect(argv).toHaveLength(2);
    expect(argv[0]).toBe(WORKER_MAIN);
    expect(parseWorkerOptions(argv.slice(1))).toEqual(JSON.parse(JSON.stringify(workerOptions(opts, 0, '/run/s.sock'))));
  });

  it('the entry script refuses anything but one JSON object with worker.index (usage error)', () => {
    for (const argv of [[], ['{}', '{}'], ['not json'], ['[1]'], ['{}'], ['{"worker":{"index":-1}}'], ['{"worker":{"index":"0"}}']]) {
      expect(() => parseWorkerOptions(argv), JSON.stringify(argv)).toThrow(expect.objectContaining({ code: 'P2PGW_ERR_USAGE' }));
    }
  });

  it('no runtime module names a CLI module, not even by path', () => {
    const dir = path.join(ROOT, 'src', 'runtime');
    for (const f of fs.readdirSync(dir)) expect(fs.readFileSync(path.join(dir, f), 'utf8'), f).not.toMatch(/\.\.\/cli\//);
  });
});

describe('error exit', () => {
  it('exit code 2 for usage, config and rules errors, 1 for the rest', () => {
    expect(exitCodeOf(new P2pgwError('P2PGW_ERR_USAGE', 'u'))).toBe(2);
    expect(exitCodeOf(new ConfigError('f.yaml', 'queue', 'bad'))).toBe(2);
    expect(exitCodeOf(new RulesError('r.rules', 3, 'bad'))).toBe(2);
    expect(exitCodeOf(new P2pgwError('P2PGW_ERR_NOT_ROOT', 'root'))).toBe(1);
    expect(exitCodeOf(new Error('bug'))).toBe(1);
    expect(exitCodeOf(undefined)).toBe(1);
  });

  it('one `p2pgw: message` line for a P2pgwError, the stack for anything else', () => {
    expect(fatalText(new P2pgwError('P2PGW_ERR_NFQUEUE', 'queue 0 is taken'))).toBe('p2pgw: queue 0 is taken\n');
    const bug = new Error('bug');
    expect(fatalText(bug)).toBe(`p2pgw: ${bug.stack}\n`);
    const out: string[] = [];
    expect(reportFatal(new ConfigError('f.yaml', 'x', 'bad'), { write: (s: string) => out.push(s) })).toBe(2);
    expect(out).toEqual(['p2pgw: f.yaml: x: bad\n']);
  });
});
