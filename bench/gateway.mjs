#!/usr/bin/env node
/**
 * `npm run bench:gateway`: the thesis' §5 gateway experiment, reproduced in network namespaces
 * (2 clients — gateway — 3 servers, thesis Figure 6; bench/lib/gateway-netns.mjs). The clients run
 * many concurrent HTTP downloads of 2 MiB files (one TCP connection per download) from the servers,
 * through the gateway, for a bounded time, under each configuration (bench/lib/gateway-configs.mjs):
 *
 *   0 plain forwarding · 1 NAT · A-pp / A-b C accept-all on libnetfilter_queue (bench/nfq-anchor.c,
 *   built by the bench; verdict per packet / batched) · 2 NAT + every packet queued (accept-all in
 *   JS; 2-nfqueue: the old binding) · 3 p2pgw classification · 4 HTTP inspected + file-name keywords
 *   · 5 4 + audit · 6 4 + virus scan (1,000 / 100,000 sigs) · 7 everything on; the same with GSO
 *   traffic (`<key>@gso`, and A-bg@gso: the C anchor with NFQA_CFG_F_GSO); plus config 4 with
 *   --queues 2, traced runs (--trace-steps) of 4 and 6, and a scan buffer sweep of 6.
 *
 * Every figure is reported as a ratio to a baseline measured in the same run; every queued
 * configuration also as a ratio to the batched C anchor of the same traffic (÷A). Runs are interleaved
 * (run 1 of every configuration, then run 2, …) so slow drifts of the shared machine hit every
 * configuration alike. Output: bench/results/<date>-<host>.{json,md} and SVG charts; the table is
 * printed.
 *
 * Options: --quick (1 run, 3 s windows, fewer sweep points, no profiles) · --only KEYS (comma list
 * of run keys, e.g. 0,3,4 or 6-100k, 4-q2, 6-buf32k; `sweep`, `trace`, `queues` select groups)
 * · --runs N · --window S · --warmup S · --conns N (concurrent downloads per client×server pair)
 * · --client wrk|node · --profile / --no-profile · --out DIR · --status-interval MS · --keep
 * · --render FILE.json (rewrite the markdown and charts of an earlier run; no root needed)
 * · --keep-profiles (copy the raw .cpuprofile / perf.data files to <out>/profiles/)
 * · --profile-keys K1,K2 (profile these configurations instead of the missed targets' ones)
 * · --dry-run (print the plan of runs and exit)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createTopology, destroyStale, addr, run, setTraffic } from './lib/gateway-netns.mjs';
import { CONFIGS, extras, writeDaemonConfig, writeNdb } from './lib/gateway-configs.mjs';
import { anchorArgv, buildAnchor } from './lib/gateway-anchor.mjs';
import { DEFAULTS } from '../dist/core/defaults.js';
import {
  readCpu, cpuSplit, procTree, procCpuSeconds, procCpuSplit, procMem, readNfq, clientRxBytes, readStatus, pollStatus,
  waitIdle, backgroundLoad, topFrames,
} from './lib/gateway-measure.mjs';
import { summarize, renderMarkdown, renderCharts, renderTable } from './lib/gateway-report.mjs';

const ROOT = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const MAIN = path.join(ROOT, 'dist', 'cli', 'main.js');
const TRAFFIC = path.join(ROOT, 'bench', 'lib', 'gateway-traffic.mjs');
const ACCEPTALL = path.join(ROOT, 'bench', 'lib', 'gateway-acceptall.mjs');
const DBBUILD = path.join(ROOT, 'bench', 'lib', 'gateway-dbbuild.mjs');
const PORT = 8080;
const FILE_BYTES = 2 * 1024 * 1024;

const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    runs: { type: 'string' },
    window: { type: 'string' },
    warmup: { type: 'string' },
    conns: { type: 'string' },
    client: { type: 'string' },
    profile: { type: 'boolean' },
    'no-profile': { type: 'boolean' },
    out: { type: 'string' },
    'status-interval': { type: 'string' },
    'start-timeout': { type: 'string' },
    'quiet-pct': { type: 'string' },
    'quiet-budget': { type: 'string' },
    keep: { type: 'boolean', default: false },
    render: { type: 'string' },
    'keep-profiles': { type: 'boolean', default: false },
    'profile-keys': { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (a.help) {
  process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0].replace(/^#!.*\n\/\*\*\n/, '').replace(/^ \* ?/gm, ''));
  process.exit(0);
}

// --render FILE.json: recompute the statistics and rewrite the markdown and charts of an earlier run.
if (a.render) {
  const file = path.resolve(a.render);
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  const known = [...CONFIGS, ...extras({ quick: false }), ...extras({ quick: true })];
  const runnable = [...new Map(known.map((c) => [c.key, c])).values()];
  const { profiles } = doc;
  Object.assign(doc, summarize(doc.runs, { runnable }), { profiles });
  const dir = path.dirname(file);
  const base = path.basename(file, '.json');
  doc.charts = renderCharts(doc, dir, base);
  fs.writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, `${base}.md`), renderMarkdown(doc));
  process.stdout.write(`${renderTable(doc)}\n`);
  process.exit(0);
}

const quick = a.quick;
const opt = {
  quick,
  runs: Number(a.runs ?? (quick ? 1 : 3)),
  window: Number(a.window ?? (quick ? 3 : 7)),
  warmup: Number(a.warmup ?? (quick ? 1 : 2)),
  conns: Number(a.conns ?? 8),
  profile: a['no-profile'] ? false : (a.profile ?? (!quick || !!a['profile-keys'])),
  // 0 = no polling during the window when the daemon reports held_peak itself (every status request
  // makes the daemon run `conntrack -L` twice: polling perturbs what we measure); otherwise 200 ms.
  statusIntervalMs: a['status-interval'] != null ? Number(a['status-interval']) : null,
  startTimeoutMs: Number(a['start-timeout'] ?? 90) * 1000,
  quietPct: Number(a['quiet-pct'] ?? 25),
  quietBudgetS: Number(a['quiet-budget'] ?? (quick ? 10 : 60)),
  out: path.resolve(a.out ?? path.join(ROOT, 'bench', 'results')),
};
const log = (...m) => process.stderr.write(`[bench:gateway ${new Date().toISOString().slice(11, 19)}] ${m.join(' ')}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : null;
};

// ---------------------------------------------------------------------------------------------
// Preconditions
if (process.getuid?.() !== 0) {
  log('needs root (network namespaces, iptables, NFQUEUE); nothing was run');
  process.exit(77);
}
if (!fs.existsSync(MAIN)) {
  log(`${MAIN} is missing: run \`npm run build\` first`);
  process.exit(1);
}
const haveWrk = spawnSync('wrk', ['--version'], { encoding: 'utf8' }).error === undefined;
const client = a.client ?? (haveWrk ? 'wrk' : 'node');
if (client === 'wrk' && !haveWrk) {
  log('--client wrk: wrk is not installed (apt-get install wrk)');
  process.exit(1);
}
const help = spawnSync(process.execPath, [MAIN, '--help'], { encoding: 'utf8' });
const havePerf = spawnSync('perf', ['--version'], { encoding: 'utf8' }).status === 0;
const flags = { '--trace-steps': /--trace-steps/.test(help.stdout + help.stderr), '--queues': /--queues/.test(help.stdout + help.stderr) };

// ---------------------------------------------------------------------------------------------
// Plan
const all = [...CONFIGS, ...extras({ quick })];
const only = a.only ? a.only.split(',').map((s) => s.trim()).filter(Boolean) : null;
const selected = all.filter((c) => !only || only.includes(c.key) || (c.group && only.includes(c.group)));
if (!selected.length) {
  log(`--only ${a.only}: no such configuration (known: ${all.map((c) => c.key).join(', ')}, sweep, trace, queues)`);
  process.exit(2);
}
const skipped = [];
// The C anchor, built once per bench (bench/nfq-anchor.c).
const anchorDir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-bench-anchor-'));
const anchor = selected.some((c) => c.kind === 'anchor') ? await buildAnchor(anchorDir) : { error: 'not needed' };
const runnable = selected.filter((c) => {
  if (c.needsFlag && !flags[c.needsFlag]) {
    skipped.push({ key: c.key, reason: `this build's \`p2pgw run\` has no ${c.needsFlag}` });
    return false;
  }
  if (c.kind === 'anchor' && anchor.error) {
    skipped.push({ key: c.key, reason: anchor.error });
    return false;
  }
  return true;
});
// ---------------------------------------------------------------------------------------------
const t0 = Date.now();
const host = os.hostname().replace(/[^A-Za-z0-9_.-]/g, '_');
const date = new Date().toISOString().slice(0, 10);
const base = `${date}-${host}${quick ? '-quick' : ''}`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-bench-gw-'));
const ctx = { dir: tmp, status: path.join(tmp, 'status.sock'), ndb1k: path.join(tmp, 'random-1000.ndb'), ndb100k: path.join(tmp, 'random-100000.ndb') };
writeNdb(ctx.ndb1k, 1000);
if (runnable.some((c) => c.bigDb)) writeNdb(ctx.ndb100k, 100_000);
const lua = path.join(tmp, 'report.lua');
fs.writeFileSync(lua, [
  'done = function(s, latency, requests)',
  '  io.write(string.format(\'{"bytes":%d,"requests":%d,"duration_us":%d,"errors":%d,"timeouts":%d}\\n\',',
  '    s.bytes, s.requests, s.duration, s.errors.connect + s.errors.read + s.errors.write + s.errors.status, s.errors.timeout))',
  'end',
  '',
].join('\n'));

// Signature databases: build them once the way the scan workers do (child process, time-limited)
// to report build time and memory; a database the scanner cannot load is measured once only.
const dbBuilds = {};
for (const [key, file, count] of [['6', ctx.ndb1k, 1000], ['6-100k', ctx.ndb100k, 100_000]]) {
  if (!runnable.some((c) => c.key === key || (key === '6' && /^6-(buf|trace)/.test(c.key)))) continue;
  log(`building the ${count}-signature database once, as a scan worker does (limit ${opt.startTimeoutMs / 1000} s)`);
  const t = Date.now();
  const r = await run([process.execPath, DBBUILD, file], { timeoutMs: opt.startTimeoutMs });
  let j = null;
  try {
    j = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    j = { error: r.signal ? `did not finish within ${opt.startTimeoutMs / 1000} s` : `exit ${r.code}: ${r.stderr.trim().split('\n').pop()}` };
  }
  dbBuilds[key] = { ...j, generated: count, wall_ms: Date.now() - t };
}
const bigDbFailed = dbBuilds['6-100k']?.error;

// Interleaved main runs (configurations 0–7 and 4-q2, `runs` times each), then the one-off runs.
const repeated = runnable.filter((c) => !c.runs && !(c.bigDb && bigDbFailed));
const oneOff = runnable.filter((c) => c.runs || (c.bigDb && bigDbFailed));
// Within a round, each target's numerator runs right after its denominator (0→3, 2→4→6→4-q2), so
// per-round (paired) ratios see the same machine conditions.
const ROUND_ORDER = ['0', '3', '1', 'A-pp', 'A-b', '2-closed', '4-closed', '2-nfqueue', '2', '4', '6', '4-q2', '5', '7', '6-100k',
  '0@gso', '1@gso', '3@gso', 'A-pp@gso', 'A-b@gso', 'A-bg@gso', '2@gso', '4@gso', '6@gso'];
const rank = (k) => (ROUND_ORDER.includes(k) ? ROUND_ORDER.indexOf(k) : ROUND_ORDER.length);
repeated.sort((x, y) => rank(x.key) - rank(y.key));
const plan = [];
for (let r = 1; r <= opt.runs; r++) for (const c of repeated) plan.push({ cfg: c, run: r });
for (const c of oneOff.filter((x) => x.group !== 'sweep')) for (let r = 1; r <= (c.runs ?? 1); r++) plan.push({ cfg: c, run: r });
// The sweep's points in rounds, up and then down the buffer sizes, so a drift does not follow the size.
const sweep = oneOff.filter((x) => x.group === 'sweep');
for (let r = 1; r <= Math.max(0, ...sweep.map((c) => c.runs)); r++) {
  for (const c of r % 2 ? sweep : [...sweep].reverse()) if (r <= c.runs) plan.push({ cfg: c, run: r });
}

if (a['dry-run']) {
  for (const [i, p] of plan.entries()) process.stdout.write(`${String(i + 1).padStart(2)} ${p.cfg.key} run ${p.run}\n`);
  fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(0);
}

const rulesOut = spawnSync(process.execPath, [MAIN, 'rules'], { encoding: 'utf8' }).stdout ?? '';
const rules = rulesOut.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/)).filter((f) => f.length >= 5)
  .map((f) => ({ app: f[0], mark: f[1], action: f[2], l4: f[3], signatures: Number(f[4]) }));

const stale = await destroyStale();
if (stale.length) log(`removed stale namespaces: ${stale.join(', ')}`);
log(`building the topology (2 clients, gateway, 3 servers); client ${client}, ${opt.conns} downloads per client×server pair (${opt.conns * 6} concurrent)`);
const lab = await createTopology();
let interrupted = false;
const onSignal = (sig) => {
  if (interrupted) return;
  interrupted = true;
  log(`${sig}: cleaning up`);
  lab.destroySync();
  if (!a.keep) fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(130);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const gw = lab.ns.gw;
const ipt = (...args) => lab.exec(gw, ['iptables', '-w', ...args]);

async function startServers() {
  const servers = lab.ns.servers.map((n) => lab.spawn(n, [process.execPath, TRAFFIC, 'server', '--port', String(PORT), '--size', String(FILE_BYTES), '--max-seconds', '1800']));
  await Promise.all(servers.map((s, j) => new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server ${j + 1} did not start`)), 15_000);
    s.stdout.once('data', () => (clearTimeout(t), resolve()));
    s.once('exit', (c) => reject(new Error(`server ${j + 1} exited (${c})`)));
  })));
  return servers;
}
const servers = await startServers();
const serverPids = servers.map((s) => s.pid);

/** Lines of a child's stream, JSON ones parsed. */
function collectLines(stream, onJson) {
  let buf = '';
  const text = [];
  stream.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith('{')) {
        try {
          onJson(JSON.parse(line));
          continue;
        } catch {
          /* not JSON */
        }
      }
      text.push(line);
      if (text.length > 200) text.shift();
    }
  });
  return text;
}

const waitExit = (p, ms) => new Promise((resolve) => {
  if (p.exitCode !== null || p.signalCode !== null) return resolve(true);
  const t = setTimeout(() => resolve(false), ms);
  p.once('exit', () => (clearTimeout(t), resolve(true)));
});

/** Our chains' or queue rules still in the gateway's tables (IPv4 and IPv6). */
async function leftoverRules() {
  const left = [];
  for (const tool of ['iptables-save', 'ip6tables-save']) {
    const r = await lab.exec(gw, [tool]);
    for (const l of r.stdout.split('\n')) if (/P2PGW|NFQUEUE/.test(l)) left.push(`${tool}: ${l}`);
  }
  return left;
}

/** Back to a clean gateway: our NAT/queue rules gone, conntrack empty. */
async function resetGateway() {
  for (const t of ['nat', 'mangle', 'filter']) {
    await ipt('-t', t, '-F');
    await ipt('-t', t, '-X');
  }
  await lab.exec(gw, ['conntrack', '-F']).catch(() => undefined);
}

/** Starts what the configuration needs in the gateway; returns {proc, pid, startup_ms, settle_ms, lines, stderr} or throws. */
async function setup(cfg, { profileDir, perfFile } = {}) {
  if (cfg.kind === 'plain') return { kind: 'plain' };
  const nat = await ipt('-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan+', '-j', 'MASQUERADE');
  if (nat.code !== 0) throw new Error(`MASQUERADE: ${nat.stderr.trim()}`);
  if (cfg.kind === 'nat') return { kind: 'nat' };
  if (cfg.kind === 'acceptall' || cfg.kind === 'anchor') {
    const argv = cfg.kind === 'anchor'
      ? anchorArgv(anchor.bin, cfg.anchor, DEFAULTS.queue, cfg.failOpen ?? DEFAULTS.queue.failOpen)
      : [process.execPath, ACCEPTALL, ...(cfg.failOpen === false ? ['--fail-open', 'off'] : []), ...(cfg.binding ? ['--binding', cfg.binding] : [])];
    const p = lab.spawn(gw, argv, { env: perfFile && havePerf ? { ...process.env, NODE_OPTIONS: '--perf-basic-prof' } : undefined });
    const res = { kind: 'acceptall', proc: p, pid: p.pid, lines: [], info: null, onCount: null };
    res.received = () => new Promise((resolve) => {
      const t = setTimeout(() => ((res.onCount = null), resolve(null)), 2000);
      res.onCount = (n) => (clearTimeout(t), resolve(n));
      p.kill('SIGUSR2');
    });
    res.stderr = collectLines(p.stderr, () => {});
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('accept-all program did not bind the queue in 10 s')), 10_000);
      collectLines(p.stdout, (j) => {
        res.lines.push(j);
        if (j.ready) (clearTimeout(t), (res.info = j), resolve());
        if (typeof j.count === 'number' && res.onCount) (res.onCount(j.count), (res.onCount = null));
      });
      p.once('exit', (c) => (clearTimeout(t), reject(new Error(`accept-all exited (${c}): ${res.stderr.join('\n')}`))));
    });
    // Every forwarded packet, both directions, at the daemon's hook (mangle FORWARD).
    const q = await ipt('-t', 'mangle', '-A', 'FORWARD', '-p', 'tcp', '-j', 'NFQUEUE', '--queue-num', '0', '--queue-bypass');
    if (q.code !== 0) throw new Error(`NFQUEUE rule: ${q.stderr.trim()}`);
    return res;
  }
  const file = writeDaemonConfig(cfg, ctx);
  fs.rmSync(ctx.status, { force: true });
  const env = { ...process.env };
  // --cpu-prof is not allowed in NODE_OPTIONS: it goes on the daemon's command line (queue workers
  // of --queues are separate processes without it: perf covers them). --perf-basic-prof is allowed
  // there, so every node process of the daemon writes /tmp/perf-<pid>.map for perf.
  if (perfFile && havePerf) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --perf-basic-prof`.trim();
  const argv = [process.execPath, ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []), MAIN, 'run', '--config', file, '--log-dest', 'stderr', '--status-socket', ctx.status, ...(cfg.args ?? [])];
  const started = Date.now();
  const p = lab.spawn(gw, argv, { env });
  const res = { kind: 'daemon', proc: p, pid: p.pid, lines: [], config: file, argv: argv.slice(1) };
  res.received = async () => {
    const st = await readStatus(ctx.status, 3000);
    return st?.nfq?.received ?? null;
  };
  const ready = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`did not start: no \`ready\` line within ${opt.startTimeoutMs / 1000} s`)), opt.startTimeoutMs);
    res.stderr = collectLines(p.stderr, (j) => {
      if (j.msg === 'classified') return; // one per connection: count, don't keep
      res.lines.push(j);
      if (j.msg === 'ready' && j.pid === p.pid) (clearTimeout(t), resolve());
    });
    p.once('exit', (c, s) => (clearTimeout(t), reject(new Error(`did not start: exited (${c ?? s}) before \`ready\`: ${res.stderr.slice(-5).join(' | ')}`))));
  });
  try {
    await ready;
  } catch (e) {
    p.kill('SIGKILL');
    await waitExit(p, 5000);
    res.error = e.message;
    return res;
  }
  res.startup_ms = Date.now() - started;
  // Scan workers compile their matchers after `ready`: wait until the daemon is idle.
  // (A profiled daemon never gets that idle: V8's sampler thread keeps it busy; settle for less.)
  const idle = await waitIdle(procTree(p.pid), profileDir ? { maxPct: 25, capMs: 10_000 } : { capMs: opt.startTimeoutMs });
  res.settle_ms = idle === null ? null : res.startup_ms + idle;
  res.idle_mem = procMem(procTree(p.pid));
  const st0 = await readStatus(ctx.status, 3000);
  res.hasHeldPeak = typeof st0?.held_peak === 'number';
  if (p.exitCode !== null) res.error = `exited (${p.exitCode}) after ready: ${res.stderr.slice(-5).join(' | ')}`;
  return res;
}

/** Stops what setup() started; returns {stopped lines, exit code, leftover rules}. */
async function teardown(s) {
  const out = { exit: null, stopped: [], rules_left: [] };
  if (s.kind === 'acceptall') {
    await ipt('-t', 'mangle', '-D', 'FORWARD', '-p', 'tcp', '-j', 'NFQUEUE', '--queue-num', '0', '--queue-bypass');
    s.proc.kill('SIGTERM');
    if (!(await waitExit(s.proc, 5000))) s.proc.kill('SIGKILL');
    out.exit = s.proc.exitCode;
    out.packets = s.lines.find((j) => typeof j.packets === 'number')?.packets ?? null;
  } else if (s.kind === 'daemon' && s.proc) {
    if (s.proc.exitCode === null && s.proc.signalCode === null) {
      s.proc.kill('SIGTERM');
      if (!(await waitExit(s.proc, 20_000))) {
        s.proc.kill('SIGKILL');
        await waitExit(s.proc, 5000);
        out.killed = true;
      }
    }
    await sleep(100); // the last lines
    out.exit = s.proc.exitCode ?? s.proc.signalCode;
    out.stopped = s.lines.filter((j) => j.msg === 'stopped');
    out.rules_left = await leftoverRules();
  }
  await resetGateway();
  // Each run starts with empty audit and flow-log directories.
  for (const d of ['audit', 'flowlog']) fs.rmSync(path.join(ctx.dir, d), { recursive: true, force: true });
  return out;
}

/** Starts the load: one wrk (or node client) per client×server pair, and the latency probe. */
function startLoad(seconds) {
  const procs = [];
  for (const c of lab.ns.clients) {
    for (let j = 1; j <= lab.ns.servers.length; j++) {
      const url = `http://${addr.server(j)}:${PORT}/files/bench-file-${j}.bin`;
      const argv = client === 'wrk'
        ? ['wrk', '-t1', `-c${opt.conns}`, `-d${seconds}s`, '--timeout', '30s', '-H', 'Connection: close', '-s', lua, url]
        : [process.execPath, TRAFFIC, 'client', '--url', url, '--conns', String(opt.conns), '--seconds', String(seconds)];
      const p = lab.spawn(c, argv);
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', () => {});
      procs.push({ p, done: new Promise((r) => p.once('exit', () => r(out))) });
    }
  }
  return procs;
}

function startProbe(seconds) {
  const p = lab.spawn(lab.ns.clients[0], [process.execPath, TRAFFIC, 'probe', '--url', `http://${addr.server(1)}:${PORT}/tiny`, '--interval-ms', '50', '--seconds', String(seconds)]);
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  return { p, done: new Promise((r) => p.once('exit', () => r(out))) };
}

/** Top symbols of a perf.data file by self time: [{pct, dso, sym}]. */
async function perfTop(file, n = 20) {
  const r = await run(['perf', 'report', '-i', file, '--stdio', '--no-children', '--sort', 'dso,sym', '-g', 'none', '--percent-limit', '0.5'], { timeoutMs: 60_000 });
  const rows = [];
  const byDso = {};
  for (const l of r.stdout.split('\n')) {
    const m = /^\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)$/.exec(l);
    if (!m) continue;
    const row = { pct: Number(m[1]), dso: m[2], kernel: m[3] === 'k', sym: m[4].trim() };
    rows.push(row);
  }
  const all = await run(['perf', 'report', '-i', file, '--stdio', '--no-children', '--sort', 'dso', '-g', 'none'], { timeoutMs: 60_000 });
  for (const l of all.stdout.split('\n')) {
    const m = /^\s*([\d.]+)%\s+(\S+)\s*$/.exec(l);
    if (m) byDso[m[2]] = Number(m[1]);
  }
  // Inclusive shares of the paths that explain a queued packet's cost (perf --children).
  const PATHS = {
    nfqnl_recv_verdict: 'verdict syscall: the kernel reinjects and forwards the packet (NAT, veth) in the caller',
    net_rx_action: 'softirq run inside the caller (the receiving end\'s stack, on this one box)',
    tcp_v4_rcv: 'TCP receive of the client/server, done in the caller\'s softirq',
    __sys_recvfrom: 'reading queued packets from the netlink socket',
    'nfqueue::nf_callback': 'binding callback per packet (info object, payload copy, JS; perf\'s call chains through JIT code are cut, so most of the verdict syscall shows only in its own row)',
    'node::MakeCallback': 'JS work per packet (pipeline, inspection, verdict call)',
    'node::Buffer::Copy': 'copying each payload into a Buffer',
    do_epoll_wait: 'event loop poll (one packet per loop iteration)',
  };
  const ch = await run(['perf', 'report', '-i', file, '--stdio', '--children', '--sort', 'sym', '-g', 'none'], { timeoutMs: 60_000 });
  const inclusive = {};
  for (const l of ch.stdout.split('\n')) {
    const m = /^\s*([\d.]+)%\s+[\d.]+%\s+\[.\]\s+(\S+)/.exec(l);
    if (m && PATHS[m[2]] && inclusive[m[2]] === undefined) inclusive[m[2]] = { pct: Number(m[1]), what: PATHS[m[2]] };
  }
  return { top: rows.slice(0, n), by_dso: byDso, inclusive };
}

const quietBudget = { ms: opt.quietBudgetS * 1000 };

/** Packets that hit the gateway's NFQUEUE rules so far (mangle table counters). */
async function queueRuleHits() {
  const r = await ipt('-t', 'mangle', '-L', '-v', '-x', '-n');
  if (r.code !== 0) return null;
  return r.stdout.split('\n').filter((l) => /NFQUEUE/.test(l)).reduce((a, l) => a + Number(l.trim().split(/\s+/)[0] || 0), 0);
}

const pct = (xs, q) => {
  if (!xs.length) return null;
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

/** One measured run of one configuration. */
async function measure(cfg, runNo, { profileDir, perfFile } = {}) {
  const rec = { key: cfg.key, run: runNo, label: cfg.label, profiled: !!profileDir, notes: [] };
  rec.background_load_pct = await backgroundLoad(700);
  // Other work on the machine (it is shared): wait a little for it to calm down, within a budget.
  const waitStart = Date.now();
  while (rec.background_load_pct > opt.quietPct && Date.now() - waitStart < 10_000 && quietBudget.ms > 0) {
    await sleep(1000);
    rec.background_load_pct = await backgroundLoad(700);
  }
  rec.quiet_wait_ms = Date.now() - waitStart;
  quietBudget.ms -= rec.quiet_wait_ms;
  await setTraffic(lab, cfg.traffic ?? 'mtu');
  rec.traffic = lab.traffic;
  const s = await setup(cfg, { profileDir, perfFile });
  if (s.error) {
    rec.error = s.error;
    rec.startup_ms = null;
    await teardown(s);
    return rec;
  }
  rec.startup_ms = s.startup_ms ?? null;
  rec.daemon_pid = s.pid ?? null;
  rec.daemon_pids = [];
  rec.settle_ms = s.settle_ms ?? null;
  if (s.idle_mem) rec.daemon_idle_rss = s.idle_mem.rss;
  if (s.info) rec.queue_options = s.info;
  const dur = Math.ceil(opt.warmup + opt.window + 0.5);
  const loaders = startLoad(dur);
  const loaderPids = loaders.map((l) => l.p.pid);
  const tStart = Date.now();
  await sleep(opt.warmup * 1000);
  // Window start.
  const daemonPids = s.pid ? procTree(s.pid) : [];
  const probe = startProbe(opt.window);
  const [hitsA, recvA] = await Promise.all([queueRuleHits(), s.received ? s.received() : null]);
  const A = {
    t: performance.now(), epoch: Date.now(), cpu: readCpu(), rx: await clientRxBytes(lab), nfq: await readNfq(lab),
    daemon: procCpuSplit(daemonPids), load: procCpuSeconds(loaderPids), servers: procCpuSeconds(serverPids), self: process.cpuUsage(),
  };
  const interval = opt.statusIntervalMs ?? (s.hasHeldPeak ? 0 : 200);
  const poll = s.kind === 'daemon' && interval > 0 ? pollStatus(ctx.status, interval) : null;
  const perf = perfFile && havePerf && daemonPids.length
    ? run(['perf', 'record', '-F', '499', '-g', '-p', daemonPids.join(','), '-o', perfFile, '--', 'sleep', String(Math.max(1, opt.window - 1))], { timeoutMs: (opt.window + 20) * 1000 })
    : null;
  await sleep(Math.max(0, tStart + (opt.warmup + opt.window) * 1000 - Date.now()));
  // Window end.
  const daemonPids2 = s.pid ? procTree(s.pid) : [];
  const B = {
    t: performance.now(), epoch: Date.now(), cpu: readCpu(), rx: await clientRxBytes(lab), nfq: await readNfq(lab),
    daemon: procCpuSplit(daemonPids2), load: procCpuSeconds(loaderPids), servers: procCpuSeconds(serverPids), self: process.cpuUsage(),
  };
  const [hitsB, recvB] = await Promise.all([queueRuleHits(), s.received ? s.received() : null]);
  rec.window_epoch = [A.epoch, B.epoch];
  rec.daemon_pids = daemonPids2;
  const mem = daemonPids2.length ? procMem(daemonPids2) : null;
  const polled = poll ? await poll.stop() : null;
  if (perf) rec.perf = await perf.then((r) => (r.code === 0 ? perfFile : `perf record failed: ${r.stderr.trim().split('\n').pop()}`));
  const finalStatus = s.kind === 'daemon' ? await readStatus(ctx.status, 3000) : null;
  const winS = (B.t - A.t) / 1000;
  rec.window_s = Math.round(winS * 1000) / 1000;
  rec.mbps = Math.round(((B.rx - A.rx) * 8) / winS / 1e4) / 100;
  rec.cpu = cpuSplit(A.cpu, B.cpu);
  if (s.pid) {
    rec.daemon = {
      cpu_pct: Math.round(((B.daemon.user + B.daemon.system - A.daemon.user - A.daemon.system) / winS) * 1000) / 10,
      user_pct: Math.round(((B.daemon.user - A.daemon.user) / winS) * 1000) / 10,
      sys_pct: Math.round(((B.daemon.system - A.daemon.system) / winS) * 1000) / 10,
      processes: daemonPids2.length,
      rss: mem?.rss ?? null,
      hwm: mem?.hwm ?? null,
    };
  }
  rec.loadgen_cpu_pct = {
    clients: Math.round(((B.load - A.load) / winS) * 1000) / 10,
    servers: Math.round(((B.servers - A.servers) / winS) * 1000) / 10,
    bench: Math.round(((B.self.user + B.self.system - A.self.user - A.self.system) / 1e6 / winS) * 1000) / 10,
  };
  rec.nfq_window = { queue_dropped: B.nfq.queue_dropped - A.nfq.queue_dropped, user_dropped: B.nfq.user_dropped - A.nfq.user_dropped, queued: B.nfq.id_sequence - A.nfq.id_sequence };
  rec.queued_pps = Math.round(rec.nfq_window.queued / winS);
  if (hitsA != null && hitsB != null && hitsB > hitsA) {
    // Packets that hit an NFQUEUE rule but never reached user space: accepted by the kernel because
    // the queue or the netlink socket was full (fail-open; the kernel counts these nowhere).
    rec.queue_rule_hits = hitsB - hitsA;
    if (recvA != null && recvB != null) {
      rec.userspace_received = recvB - recvA;
      rec.failopen_bypass = Math.max(0, rec.queue_rule_hits - rec.userspace_received);
      rec.failopen_bypass_pct = Math.round((1000 * rec.failopen_bypass) / rec.queue_rule_hits) / 10;
    }
  }
  if (rec.userspace_received != null && rec.daemon) {
    rec.judged_pps = Math.round(rec.userspace_received / winS);
    // CPU of the queue program (all its threads/processes) per packet it received: its per-packet
    // cost, independent of how much CPU the shared machine left it.
    if (rec.userspace_received > 0) rec.cpu_us_per_packet = Math.round(((rec.daemon.cpu_pct / 100) * winS * 1e6 * 100) / rec.userspace_received) / 100;
  }
  if (polled) {
    rec.held_max_polled = polled.held_max;
    rec.status_polls = polled.ok;
  }
  if (finalStatus) {
    rec.held_peak = finalStatus.held_peak ?? null;
    const c = finalStatus.counters ?? {};
    rec.counters = Object.fromEntries(Object.entries(c).filter(([k]) =>
      /^(packets|flow_created|inspected_flows|held_packets|scans|scanned_bytes|infected|keyword_hits|transfers|inspect_gaps|hold_cap|hold_timeout|scan_timeout|scan_error|kernel_queue_dropped|accepted_unjudged|audit_files|audit_write_error|audit_quota_evicted|tcp_out_of_order|reassembly_gap|classified_http|unclassified|verdict_callback_error)$/.test(k)));
    if (finalStatus.steps) rec.steps = finalStatus.steps;
    const nq = finalStatus.nfq;
    if (nq && typeof nq.sendThread === 'boolean') {
      rec.sendq = { thread: nq.sendThread, wait_p99_us: nq.sendqWaitP99Us, wait_max_us: nq.sendqWaitMaxUs, peak_bytes: nq.sendqPeak, full: nq.sendqFull };
    }
    if (Array.isArray(finalStatus.workers)) rec.worker_steps = finalStatus.workers.map((w) => w.steps).filter(Boolean);
  }
  // Loaders and probe end by themselves (bounded); collect their summaries.
  const outs = await Promise.race([Promise.all(loaders.map((l) => l.done)), sleep(20_000).then(() => null)]);
  if (!outs) {
    rec.notes.push('a load client overran its time; killed');
    for (const l of loaders) l.p.kill('SIGKILL');
  }
  const sums = (outs ?? []).map((o) => {
    try {
      return JSON.parse(o.trim().split('\n').pop());
    } catch {
      return null;
    }
  }).filter(Boolean);
  const bytes = sums.reduce((x, y) => x + y.bytes, 0);
  const durS = median(sums.map((x) => x.duration_us / 1e6)) || dur;
  rec.goodput_mbps = Math.round((bytes * 8) / durS / 1e4) / 100;
  rec.downloads = sums.reduce((x, y) => x + y.requests, 0);
  rec.download_errors = sums.reduce((x, y) => x + (y.errors ?? 0) + (y.timeouts ?? 0), 0);
  const pr = await Promise.race([probe.done, sleep(10_000).then(() => '')]);
  try {
    const j = JSON.parse(pr.trim().split('\n').pop());
    rec.probe = { n: j.samples_ms.length, errors: j.errors, p50_ms: pct(j.samples_ms, 0.5), p99_ms: pct(j.samples_ms, 0.99), max_ms: Math.max(...j.samples_ms) };
  } catch {
    rec.probe = null;
  }
  const td = await teardown(s);
  if (s.kind === 'daemon') {
    rec.daemon_exit = td.exit;
    rec.rules_left = td.rules_left;
    if (td.killed) rec.notes.push('daemon did not stop within 20 s of SIGTERM; killed');
    const stopped = td.stopped;
    const kqd = stopped.reduce((x, j) => x + (j.counters?.kernel_queue_dropped ?? 0), 0);
    rec.kernel_queue_dropped = kqd;
    const steps = stopped.map((j) => j.steps).filter(Boolean);
    if (steps.length) rec.steps_stopped = steps.length === 1 ? steps[0] : steps;
    if (!rec.steps && steps.length === 1) rec.steps = steps[0];
    const [w0, w1] = rec.window_epoch;
    const warn = {};
    for (const j of s.lines) {
      if (j.level < 40 || j.msg === 'blocked' || !(j.time >= w0 && j.time <= w1)) continue;
      const k = `${j.msg}${j.why ? ` (${j.why})` : ''}`;
      warn[k] = (warn[k] ?? 0) + 1;
    }
    if (Object.keys(warn).length) rec.daemon_warnings = warn;
  } else if (s.kind === 'acceptall') {
    rec.acceptall_packets = td.packets;
    const last = s.lines.findLast((j) => typeof j.packets === 'number');
    if (last) rec.queue_program = last;
  }
  if (s.kind === 'acceptall' && s.pid) {
    // Memory of the accept-all program was read with the daemon's helper above (rec.daemon).
  }
  return rec;
}

// ---------------------------------------------------------------------------------------------
const results = [];
let failed = null;
try {
  log(`plan: ${plan.length} runs (${opt.runs}× ${repeated.map((c) => c.key).join(' ')}${oneOff.length ? `; then ${oneOff.map((c) => `${c.key}${(c.runs ?? 1) > 1 ? `×${c.runs}` : ''}`).join(' ')}` : ''}), window ${opt.window} s after ${opt.warmup} s warm-up`);
  for (const s of skipped) log(`skipping ${s.key}: ${s.reason}`);
  let i = 0;
  for (const { cfg, run: r } of plan) {
    i++;
    const rec = await measure(cfg, r);
    results.push(rec);
    log(`${String(i).padStart(2)}/${plan.length} ${cfg.key.padEnd(8)} run ${r}: ${rec.error ? `ERROR ${rec.error}` : `${rec.mbps} Mb/s, cpu u/s/si ${rec.cpu.user}/${rec.cpu.system}/${rec.cpu.softirq}%${rec.daemon ? `, daemon ${rec.daemon.cpu_pct}% ${(rec.daemon.rss / 2 ** 20).toFixed(0)} MiB` : ''}${rec.held_peak != null ? `, held_peak ${rec.held_peak}` : ''}, bg ${rec.background_load_pct}%`}`);
  }
  var summary = summarize(results, { runnable, opt });
  // Profiles for the targets that were missed (one extra run each, not part of the statistics):
  // node --cpu-prof on the daemon (JS frames by self time, main thread and scan workers) and, when
  // perf is installed, `perf record` on the same processes (kernel and native frames too).
  summary.profiles = [];
  if (opt.profile) {
    const want = a['profile-keys'] ? a['profile-keys'].split(',') : [...new Set(summary.targets.filter((t) => t.met === false && t.profile).flatMap((t) => (t.profile === '4' && t.name.startsWith('4/2') ? ['4', '2'] : [t.profile])))].slice(0, 5);
    for (const key of want) {
      const cfg = runnable.find((c) => c.key === key) ?? all.find((c) => c.key === key);
      if (!cfg || !['daemon', 'acceptall', 'anchor'].includes(cfg.kind) || (cfg.needsFlag && !flags[cfg.needsFlag])) continue;
      if (cfg.kind !== 'daemon' && !havePerf) continue;
      if (cfg.bigDb && bigDbFailed) continue; // nothing to profile: its scanner never started
      const dir = path.join(tmp, `prof-${key}`);
      fs.mkdirSync(dir, { recursive: true });
      const perfFile = havePerf ? path.join(dir, 'perf.data') : null;
      log(`profiling ${key}`);
      const tp = Date.now();
      // With --queues the packets are judged in worker processes that --cpu-prof does not reach:
      // perf (which follows every process of the daemon) profiles those.
      const cpuProf = cfg.kind === 'daemon' && !cfg.args?.includes('--queues');
      const rec = await measure(cfg, 0, { profileDir: cpuProf ? dir : undefined, perfFile });
      log(`  run ${Math.round((Date.now() - tp) / 1000)} s`);
      const prof = { key, label: cfg.label, mbps: rec.mbps, daemon_cpu_pct: rec.daemon?.cpu_pct ?? null, startup_ms: rec.startup_ms, settle_ms: rec.settle_ms, error: rec.error ?? null };
      if (cpuProf) Object.assign(prof, { cpuprof: topFrames(dir, 15) });
      const tr = Date.now();
      if (perfFile && rec.perf === perfFile) prof.perf = await perfTop(perfFile);
      else if (rec.perf) prof.perf_error = rec.perf;
      log(`  reports ${Math.round((Date.now() - tr) / 1000)} s`);
      summary.profiles.push(prof);
      if (a['keep-profiles']) {
        // Raw profiles (several MB each) for Chrome DevTools / speedscope; off by default.
        const keepDir = path.join(opt.out, 'profiles', `${base}-${key}`);
        fs.mkdirSync(keepDir, { recursive: true });
        for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') || f === 'perf.data')) fs.copyFileSync(path.join(dir, f), path.join(keepDir, f));
      }
      for (const pid of rec.daemon_pids ?? []) fs.rmSync(`/tmp/perf-${pid}.map`, { force: true });
    }
  }
} catch (e) {
  failed = e;
  log(`FAILED: ${e.stack ?? e}`);
} finally {
  await lab.destroy();
  if (!a.keep) fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(anchorDir, { recursive: true, force: true });
}
if (failed && !results.length) process.exit(1);
summary ??= summarize(results, { runnable, opt });

fs.mkdirSync(opt.out, { recursive: true });
const doc = {
  bench: 'gateway',
  date: new Date().toISOString(),
  host,
  machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model, kernel: os.release(), node: process.version, mem_bytes: os.totalmem() },
  options: { ...opt, client, file_bytes: FILE_BYTES, concurrent_downloads: opt.conns * 6 },
  flags,
  skipped,
  db_builds: dbBuilds,
  rules: { apps: rules.length, signatures: rules.reduce((x, r) => x + r.signatures, 0), table: rules },
  topology_notes: lab.notes,
  duration_s: Math.round((Date.now() - t0) / 1000),
  error: failed ? String(failed.stack ?? failed) : null,
  ...summary,
  runs: results,
};
const jsonFile = path.join(opt.out, `${base}.json`);
fs.writeFileSync(jsonFile, `${JSON.stringify(doc, null, 2)}\n`);
const charts = renderCharts(doc, opt.out, base);
doc.charts = charts;
fs.writeFileSync(jsonFile, `${JSON.stringify(doc, null, 2)}\n`);
fs.writeFileSync(path.join(opt.out, `${base}.md`), renderMarkdown(doc));
process.stdout.write(`${renderTable(doc)}\n`);
log(`wrote ${path.relative(ROOT, jsonFile)}, ${base}.md and ${charts.length} chart(s) in ${path.relative(ROOT, opt.out) || '.'} (${doc.duration_s} s)`);
process.exit(failed ? 1 : 0);
