#!/usr/bin/env node
/**
 * The lab traffic generator, a standalone process (one per namespace):
 *
 *     node dist/tools/lab/gen.js server   <source> [--timeout MS] [--lifetime SEC] [--bind ADDR[,ADDR]]
 *     node dist/tools/lab/gen.js client   <source> --server ADDR [--timeout MS] [--concurrency N] [--from ADDR[,ADDR]]
 *     node dist/tools/lab/gen.js scenario <source> --out FILE
 *
 * `<source>` is any mix of `--scenario FILE` (JSON, see src/tools/lab/scenario.ts), `--apps LIST`
 * (comma-separated names from src/apps/<app>/session.ts, `all`) and `--capture FILE` (repeatable: every
 * TCP/UDP flow re-enacted, see src/tools/lab/reenact.ts); `--base-port N`, `--seed N`, `--bulk-bytes N`
 * tune `--apps`. Capture flows get ports after the last scripted one. Both sides must be given the
 * same source so they follow the same scripts.
 *
 * Output (stdout, one JSON object per line): the server prints `{"event":"listening",ports,ipv6}`
 * once every port is bound, then `{"event":"session",...SessionResult}` per connection; the client
 * prints one SessionResult per session (app, name, l4, port, ok, reset, bytesSent, bytesReceived,
 * sha256Received, error?, ms). Exit codes: 0 all sessions ok (server: stopped by SIGTERM/SIGINT or
 * lifetime), 1 some session failed, 2 usage or setup error.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { P2pgwError } from '../../core/errors.js';
import { runClient } from './gen-client.js';
import { startServer } from './gen-server.js';
import { readScenario, writeScenario } from './scenario.js';
import { buildScenario, SCENARIO_DEFAULTS } from './sessions.js';
import type { Session } from '../../apps/session-types.js';

/** Parsed command line. */
export interface GenArgs {
  mode: 'server' | 'client' | 'scenario';
  scenario: string[];
  apps: string[] | null;
  capture: string[];
  server?: string;
  out?: string;
  timeoutMs: number;
  concurrency: number;
  lifetimeSec: number;
  bind?: string[];
  /** Client: local addresses to connect from, one per session in turn. */
  from?: string[];
  basePort: number;
  seed: number;
  bulkBytes: number;
}

/** Every option `parseGenArgs` takes, with its value (each takes one). */
export const GEN_FLAGS = Object.freeze([
  '--scenario FILE', '--apps LIST', '--capture FILE', '--server ADDR', '--out FILE', '--bind ADDR[,ADDR]', '--from ADDR[,ADDR]',
  '--timeout MS', '--concurrency N', '--lifetime SEC', '--base-port N', '--seed N', '--bulk-bytes N',
] as const);

/** `p2pgw gen --help` (and `node dist/tools/lab/gen.js --help`). */
export const GEN_HELP = `Usage: p2pgw gen server   <source> [--timeout MS] [--lifetime SEC] [--bind ADDR[,ADDR]]
       p2pgw gen client   <source> --server ADDR [--timeout MS] [--concurrency N] [--from ADDR[,ADDR]]
       p2pgw gen scenario <source> --out FILE

<source> is any mix of --scenario FILE (JSON), --apps LIST (lab session names, comma-separated, or
all) and --capture FILE (every TCP/UDP flow re-enacted); --base-port, --seed and --bulk-bytes tune
--apps. Both sides must be given the same source.

Options:
${GEN_FLAGS.map((f) => `  ${f}`).join('\n')}
  -h, --help
`;

const usage = (why: string): never => {
  throw new P2pgwError('P2PGW_ERR_USAGE', `gen: ${why}`);
};

/** Parses `argv` (without node and script). Throws P2pgwError('P2PGW_ERR_USAGE'). */
export function parseGenArgs(argv: string[]): GenArgs {
  const [mode, ...rest] = argv;
  if (mode !== 'server' && mode !== 'client' && mode !== 'scenario') usage('first argument must be server, client or scenario');
  const a: GenArgs = {
    mode: mode as GenArgs['mode'],
    scenario: [],
    apps: null,
    capture: [],
    timeoutMs: 10_000,
    concurrency: 4,
    lifetimeSec: 600,
    basePort: SCENARIO_DEFAULTS.basePort,
    seed: SCENARIO_DEFAULTS.seed,
    bulkBytes: SCENARIO_DEFAULTS.bulkBytes,
  };
  const int = (flag: string, v: string, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) usage(`${flag} must be an integer in ${min}..${max}`);
    return n;
  };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const v = rest[i + 1];
    if (v === undefined) usage(`${flag} needs a value`);
    i++;
    switch (flag) {
      case '--scenario': a.scenario.push(v); break;
      case '--apps': a.apps = [...(a.apps ?? []), ...v.split(',').map((s) => s.trim()).filter(Boolean)]; break;
      case '--capture': a.capture.push(v); break;
      case '--server': a.server = v; break;
      case '--out': a.out = v; break;
      case '--bind': a.bind = v.split(','); break;
      case '--from': a.from = v.split(',').filter(Boolean); break;
      case '--timeout': a.timeoutMs = int(flag, v, 100, 600_000); break;
      case '--concurrency': a.concurrency = int(flag, v, 1, 256); break;
      case '--lifetime': a.lifetimeSec = int(flag, v, 1, 86_400); break;
      case '--base-port': a.basePort = int(flag, v, 1024, 65535); break;
      case '--seed': a.seed = int(flag, v, 0, 2 ** 31); break;
      case '--bulk-bytes': a.bulkBytes = int(flag, v, 0, 1 << 30); break;
      default: usage(`unknown option ${flag}`);
    }
  }
  if (a.scenario.length === 0 && a.apps === null && a.capture.length === 0) usage('give --scenario, --apps or --capture');
  if (a.mode === 'client' && !a.server) usage('client needs --server ADDR');
  if (a.mode === 'scenario' && !a.out) usage('scenario needs --out FILE');
  return a;
}

/** Loads every session the arguments name, in order: scenario files, --apps, then captures. */
export async function loadSessions(a: GenArgs, log: (line: string) => void = () => undefined): Promise<Session[]> {
  const sessions: Session[] = [];
  for (const f of a.scenario) sessions.push(...(await readScenario(f)));
  if (a.apps !== null) sessions.push(...buildScenario(a.apps, { basePort: a.basePort, seed: a.seed, bulkBytes: a.bulkBytes }));
  let port = Math.max(a.basePort + 1000, ...sessions.map((s) => s.port + 1));
  if (a.capture.length > 0) {
    const { sessionsFromCapture } = await import('./reenact.js');
    for (const f of a.capture) {
      const r = sessionsFromCapture(f, { basePort: port });
      sessions.push(...r.sessions);
      port += r.sessions.length;
      log(JSON.stringify({ event: 'capture', file: f, ...r.stats }));
    }
  }
  const seen = new Set<string>();
  for (const s of sessions) {
    const k = `${s.l4}/${s.port}`;
    if (seen.has(k)) usage(`two sessions use ${k}`);
    seen.add(k);
  }
  return sessions;
}

/** Runs the generator with `argv`; resolves with the exit code. Output goes to `out` (default stdout). */
export async function genMain(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const print = (o: unknown): void => void out.write(JSON.stringify(o) + '\n');
  if (argv.includes('--help') || argv.includes('-h')) {
    out.write(GEN_HELP);
    return 0;
  }
  let a: GenArgs;
  let sessions: Session[];
  try {
    a = parseGenArgs(argv);
    sessions = await loadSessions(a, (l) => process.stderr.write(l + '\n'));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  if (a.mode === 'scenario') {
    await writeScenario(a.out!, sessions);
    print({ event: 'scenario', file: a.out, sessions: sessions.length });
    return 0;
  }
  if (a.mode === 'client') {
    const results = await runClient(sessions, { server: a.server!, timeoutMs: a.timeoutMs, concurrency: a.concurrency, sources: a.from, onResult: print });
    return results.every((r) => r.ok) ? 0 : 1;
  }
  let srv;
  try {
    srv = await startServer(sessions, { timeoutMs: a.timeoutMs, bind: a.bind, onResult: (r) => print({ event: 'session', ...r }) });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  print({ event: 'listening', ports: srv.ports, ipv6: srv.ipv6, pid: process.pid });
  const reason = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve('lifetime'), a.lifetimeSec * 1000);
    const stop = (sig: string): void => {
      clearTimeout(timer);
      resolve(sig);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await srv.close();
  print({ event: 'stopped', reason });
  return 0;
}

const isMain = ((): boolean => {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();

if (isMain) {
  genMain(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // Flush stdout, then leave even if a socket lingers.
      process.stdout.write('', () => process.exit(code));
    },
    (e) => {
      process.stderr.write(`gen: ${(e as Error).stack ?? e}\n`);
      process.exit(2);
    },
  );
}
