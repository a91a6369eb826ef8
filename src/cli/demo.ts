/**
 * `p2pgw demo`: the whole gateway without a router. Builds a client — gateway — server lab in
 * network namespaces (src/tools/lab/netns.ts), runs `p2pgw run` in the gateway namespace with the bundled
 * default config (or `--config`), sends protocol-accurate sessions of each application as real
 * TCP/UDP traffic through it (src/tools/lab/gen.ts, scripts in src/apps/<app>/session.ts), optionally re-enacts the
 * flows of capture files, prints the daemon's verdict lines and the sessions' outcomes as tables,
 * stops the daemon with SIGTERM and tears the lab down.
 *
 * Without root it says so and runs `replay` over the bundled sample captures instead.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type { SessionResult } from '../tools/lab/gen-core.js';
import { checkLabPrereqs, createLab, destroyStale, listNamespaces, type Lab } from '../tools/lab/netns.js';
import { SESSION_LEGEND, isVerdict, sessionSummary, sessionTable, table, verdictTable, type Expectation, type Verdict } from '../tools/lab/report.js';
import { onLines, parseJsonLine, runGenClient, startGenServer, waitExit, type GenServerHandle } from '../tools/lab/run.js';
import { writeScenario } from '../tools/lab/scenario.js';
import { buildScenario } from '../tools/lab/sessions.js';
import type { Session } from '../apps/session-types.js';
import { APPS } from '../apps/registry.js';
import { loadConfig } from '../config/load.js';
import { buildClassifier } from '../runtime/setup.js';

/** Options of `demo`. */
export interface DemoOpts {
  /** Applications / `app.variant` names to script (default all; see src/apps/<app>/session.ts). */
  apps?: string[];
  /** Capture files whose TCP/UDP flows are re-enacted too. */
  capture?: string[];
  /** Config file for the daemon (default: the daemon's bundled default). */
  config?: string;
  /** Leave the namespaces in place after the run (the daemon is stopped regardless). */
  keep?: boolean;
  /** Where the human output goes. */
  out: NodeJS.WritableStream;
  /** Per-session timeout, ms (default 10000). */
  timeoutMs?: number;
  /** Size of each bulk transfer, bytes (default 4 MiB). */
  bulkBytes?: number;
}

/** The options of `p2pgw demo`. */
export const DEMO_OPTIONS = {
  app: { type: 'string' },
  capture: { type: 'string', multiple: true },
  config: { type: 'string' },
  keep: { type: 'boolean', default: false },
} as const satisfies ParseArgsOptionsConfig;

/**
 * Runs `p2pgw demo [--app A,B] [--capture FILE]... [--config FILE] [--keep]`, output on stdout.
 * @param argv arguments after `demo`
 * @returns the exit code of `demo()`
 * @throws parseArgs' ERR_PARSE_ARGS_* errors for unknown options or missing values
 */
export async function demoMain(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: DEMO_OPTIONS });
  return demo({
    apps: values.app ? values.app.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
    capture: values.capture,
    config: values.config,
    keep: values.keep,
    out: process.stdout,
  });
}

/** Project root (two levels above this module: dist/cli or src/cli). */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Lab name prefix; the owning pid follows, so stale labs of dead demos can be told apart. */
const PREFIX = 'pgd';

/** Sample captures shipped with or next to the project, for the no-root fallback. */
export function sampleCaptures(root = ROOT): string[] {
  const dirs = [process.env.P2PGW_CAPTURES, path.join(root, 'samples'), path.join(root, 'test', 'fixtures', 'captures'), path.resolve(root, '..', 'shared', 'fixtures', 'captures')];
  for (const d of dirs) {
    if (!d || !existsSync(d)) continue;
    const files = readdirSync(d).filter((f) => /\.(pcap|pcapng)$/.test(f)).sort();
    if (files.length) return files.map((f) => path.join(d, f));
  }
  return [];
}

/**
 * The no-root path: `replayFiles` (src/runtime/replay.ts, loaded dynamically) over `files` with the
 * effective config, then one summary row per capture (flows, classified, applications).
 */
async function fallbackReplay(opts: DemoOpts, say: (s: string) => void): Promise<number> {
  const files = opts.capture?.length ? opts.capture : sampleCaptures();
  if (files.length === 0) {
    say('demo: no sample captures found (set P2PGW_CAPTURES to a directory of .pcap/.pcapng files)');
    return 1;
  }
  let replay: typeof import('../runtime/replay.js');
  try {
    replay = await import('../runtime/replay.js');
  } catch (e) {
    say(`demo: replay is unavailable in this build (${(e as Error).message.split('\n')[0]})`);
    return 1;
  }
  const [{ loadConfig }, { APPS }] = await Promise.all([import('../config/load.js'), import('../apps/registry.js')]);
  say(`demo: replaying ${files.length} capture(s): ${files.map((f) => path.basename(f)).join(', ')}`);
  try {
    const config = loadConfig(opts.config, APPS.map((a) => a.name));
    const { records } = replay.replayFiles(files, { config });
    const rows = files.map((f) => {
      const recs = records.filter((r) => r.capture === f);
      const apps = new Map<string, number>();
      for (const r of recs) if (r.app) apps.set(r.app, (apps.get(r.app) ?? 0) + 1);
      const blocked = recs.filter((r) => r.verdict !== 'accept').length;
      const list = [...apps].map(([a, n]) => `${a}×${n}`).join(' ');
      return [path.basename(f), String(recs.length), String(recs.filter((r) => r.app).length), String(blocked), list || '-'];
    });
    say(table(['capture', 'flows', 'classified', 'blocked', 'applications'], rows));
    return 0;
  } catch (e) {
    say(`demo: replay failed: ${(e as Error).message}`);
    return 1;
  }
}

/** Deletes namespaces of earlier demos whose process is gone (`pgd<pid>-c|g|s`). */
async function cleanStaleDemos(): Promise<string[]> {
  const pids = new Set<number>();
  for (const ns of await listNamespaces()) {
    const m = new RegExp(`^${PREFIX}(\\d+)-[cgs]$`).exec(ns);
    if (m) pids.add(Number(m[1]));
  }
  const gone: string[] = [];
  for (const pid of pids) if (!pidAlive(pid)) gone.push(...(await destroyStale(`${PREFIX}${pid}-`)));
  return gone;
}

/** True if `pid` runs and is not a zombie (/proc/<pid>/stat state Z or X counts as gone). */
function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    try {
      process.kill(pid, 0);
      return existsSync('/proc/self') ? false : true;
    } catch {
      return false;
    }
  }
}

/**
 * Runs the demo and resolves with an exit code: 0 when the daemon came up, the traffic ran as the
 * config says and the daemon exited cleanly on SIGTERM; 1 otherwise. Sessions of applications the
 * config blocks are expected not to complete: they are reported `blocked`, and only a session
 * against the config (a passing one that failed, a blocked one that completed) is a `FAIL`. Never
 * leaves processes behind; leaves namespaces only with `keep`.
 */
export async function demo(opts: DemoOpts): Promise<number> {
  // A closed output (e.g. `p2pgw demo | head`) must not crash the run before it cleans up; write
  // errors surface asynchronously, so the listener stays (later writes are dropped quietly).
  if (!opts.out.listeners('error').includes(ignoreError)) opts.out.on('error', ignoreError);
  return demoRun(opts);
}

/** No-op error listener for the output stream. */
function ignoreError(): void {}

/** Writes one line (a newline is added when missing) to the demo's output. */
type Say = (s: string) => void;

/** The compiled daemon and traffic generator the demo runs (under dist/). */
interface DemoBuild {
  mainJs: string;
  genJs: string;
}

/** What the demo must clean up, filled in as it goes. */
interface DemoState {
  t0: number;
  tmp?: string;
  lab?: Lab;
  server?: GenServerHandle;
}

/**
 * The demo proper: the lab prerequisites (else the replay fallback), the build, stale labs, the
 * sessions, then the lab run; cleans up whatever it made.
 */
async function demoRun(opts: DemoOpts): Promise<number> {
  const say: Say = (s) => void opts.out.write(s.endsWith('\n') ? s : s + '\n');
  try {
    await checkLabPrereqs();
  } catch (e) {
    say(`demo: ${(e as Error).message}`);
    say('demo: falling back to replay of the sample captures (no live traffic)');
    return fallbackReplay(opts, say);
  }
  const build = findBuild(say);
  if (!build) return 1;
  const st: DemoState = { t0: Date.now() };
  const stale = await cleanStaleDemos();
  if (stale.length) say(`demo: removed stale namespaces ${stale.join(', ')}`);
  const sessions = await demoSessions(opts, say);
  if (!sessions) return 1;
  st.tmp = await mkdtemp(path.join(os.tmpdir(), 'p2pgw-demo-'));
  const scenario = path.join(st.tmp, 'scenario.json');
  await writeScenario(scenario, sessions);
  try {
    return await demoLab(opts, build, scenario, sessions, st, say);
  } catch (e) {
    say(`demo: ${(e as Error).message}`);
    return 1;
  } finally {
    await cleanUp(opts, st, say);
  }
}

/** The compiled daemon and generator, or null (after saying what is missing: build first). */
function findBuild(say: Say): DemoBuild | null {
  const build = { mainJs: path.join(ROOT, 'dist', 'cli', 'main.js'), genJs: path.join(ROOT, 'dist', 'tools', 'lab', 'gen.js') };
  for (const f of [build.mainJs, build.genJs]) {
    if (!existsSync(f)) {
      say(`demo: ${path.relative(ROOT, f)} is missing: build first (npm run build)`);
      return null;
    }
  }
  return build;
}

/**
 * The sessions to run: the scripted ones of `opts.apps` (src/tools/lab/sessions.ts), then the
 * flows of `opts.capture` re-enacted on the ports after them. Null (after saying why) on an error.
 */
async function demoSessions(opts: DemoOpts, say: Say): Promise<Session[] | null> {
  try {
    const sessions = buildScenario(opts.apps ?? [], { bulkBytes: opts.bulkBytes ?? 4 * 1024 * 1024 });
    let port = Math.max(...sessions.map((s) => s.port)) + 1;
    if (opts.capture?.length) {
      const { sessionsFromCapture } = await import('../tools/lab/reenact.js');
      for (const f of opts.capture) {
        const r = sessionsFromCapture(f, { basePort: port });
        say(`demo: ${path.basename(f)}: ${r.stats.sessions} flow(s) to re-enact${r.stats.truncated ? ` (of ${r.stats.flowsWithPayload})` : ''}`);
        sessions.push(...r.sessions);
        port += r.sessions.length;
      }
    }
    return sessions;
  } catch (e) {
    say(`demo: ${(e as Error).message}`);
    return null;
  }
}

/**
 * Creates the lab, starts the daemon in its gateway namespace, runs the sessions through it,
 * prints the tables and stops the daemon.
 * @returns 0 when the daemon came up, every session reported as the config says and the daemon
 *   exited 0 on SIGTERM
 */
async function demoLab(opts: DemoOpts, build: DemoBuild, scenario: string, sessions: Session[], st: DemoState, say: Say): Promise<number> {
  const lab = await createLab({ name: `${PREFIX}${process.pid}`.slice(0, 12), ipv6: true });
  st.lab = lab;
  say(`demo: lab ${lab.name}: client ${lab.addr.client} — gateway ${lab.addr.gwLan}/${lab.addr.gwWan} — server ${lab.addr.server}`);
  for (const n of lab.notes) say(`demo: note: ${n}`);
  const verdicts: Verdict[] = [];
  const daemon = await startDaemon(lab, build.mainJs, opts, st.t0, verdicts, say);
  if (!daemon) return 1;

  const source = ['--scenario', scenario];
  st.server = await startGenServer(lab, { genScript: build.genJs, source, timeoutMs: opts.timeoutMs });
  say(`demo: running ${sessions.length} session(s) through the gateway...`);
  const results: SessionResult[] = [];
  const client = await runGenClient(lab, { genScript: build.genJs, source, timeoutMs: opts.timeoutMs, sessions: sessions.length, onResult: (r) => results.push(r) });
  if (client.stderr.trim()) say(`demo: traffic generator: ${client.stderr.trim()}`);
  await new Promise((r) => setTimeout(r, 500)); // late verdict lines

  say('\nverdicts:');
  say(verdictTable(verdicts));
  say('sessions:');
  results.sort((a, b) => a.port - b.port);
  const blocked = blockedApps(opts.config);
  const expectOf = (r: SessionResult): Expectation => (blocked.has(r.app) ? 'blocked' : 'pass');
  say(sessionTable(results, verdicts, expectOf));
  say(SESSION_LEGEND);
  const summary = sessionSummary(results, sessions.length, verdicts, expectOf);
  say(summary.line);
  const clean = await stopDaemon(daemon, say);
  return clean && client.results.length === sessions.length && summary.against === 0 ? 0 : 1;
}

/**
 * The applications the daemon's config blocks (their action is `block`), as `p2pgw rules` shows.
 * @throws ConfigError / RulesError for an invalid config (the daemon refuses it too)
 */
export function blockedApps(config: string | undefined): Set<string> {
  const { classifier } = buildClassifier(loadConfig(config, APPS.map((a) => a.name)));
  return new Set(classifier.apps.filter((a) => a.action === 'block').map((a) => a.desc.name));
}

/**
 * Starts `p2pgw run --log-dest stderr` in the gateway namespace and waits up to 20 s for its
 * `ready` line; collects its verdict lines into `verdicts`. Null (after printing the daemon's last
 * 20 lines and killing it) when it does not become ready.
 */
async function startDaemon(lab: Lab, mainJs: string, opts: DemoOpts, t0: number, verdicts: Verdict[], say: Say): Promise<ChildProcess | null> {
  const argv = [process.execPath, mainJs, 'run', ...(opts.config ? ['--config', path.resolve(opts.config)] : []), '--log-dest', 'stderr'];
  const daemon = lab.spawn('gw', argv, { cwd: ROOT });
  const daemonTail: string[] = [];
  const ready = new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), 20_000);
    onLines(daemon.stderr, (l) => {
      daemonTail.push(l);
      if (daemonTail.length > 20) daemonTail.shift();
      const j = parseJsonLine(l);
      if (j?.msg === 'ready') (clearTimeout(t), resolve(true));
      if (isVerdict(j)) verdicts.push({ atMs: Date.now() - t0, line: j });
    });
    onLines(daemon.stdout, () => undefined);
    daemon.once('exit', () => (clearTimeout(t), resolve(false)));
  });
  if (!(await ready)) {
    say(`demo: the daemon did not become ready (${daemon.exitCode !== null ? `exit ${daemon.exitCode}` : 'timeout'}); last output:`);
    for (const l of daemonTail) say(`  ${l}`);
    daemon.kill('SIGKILL');
    await waitExit(daemon, 2000);
    return null;
  }
  say(`demo: daemon ready in the gateway namespace (pid ${daemon.pid}), ${Date.now() - t0} ms after start`);
  return daemon;
}

/** SIGTERM to the daemon, SIGKILL when it has not exited 10 s later. True when it exited with code 0. */
async function stopDaemon(daemon: ChildProcess, say: Say): Promise<boolean> {
  daemon.kill('SIGTERM');
  if (await waitExit(daemon, 10_000)) {
    say(`demo: daemon exited on SIGTERM with code ${daemon.exitCode ?? daemon.signalCode}`);
    return daemon.exitCode === 0;
  }
  say('demo: the daemon did not exit within 10 s of SIGTERM; killing it');
  daemon.kill('SIGKILL');
  await waitExit(daemon, 2000);
  return false;
}

/** Stops the generator server, destroys (or with `keep` releases) the lab, removes the scratch directory. */
async function cleanUp(opts: DemoOpts, st: DemoState, say: Say): Promise<void> {
  await st.server?.stop();
  if (st.lab && opts.keep) {
    st.lab.release();
    say(`demo: kept namespaces ${Object.values(st.lab.ns).join(' ')} (remove: ip netns del <name>)`);
  } else await st.lab?.destroy();
  if (st.tmp) await rm(st.tmp, { recursive: true, force: true });
  say(`demo: done in ${((Date.now() - st.t0) / 1000).toFixed(1)} s`);
}
