// Memory benchmark (issue 14, item 6): keyword lists, reload stall, a full flow table and the RSS
// after a flood, each trial in a fresh child process (bench/lib/memory-trial.mjs) against dist/.
//
// Usage: npm run bench:memory [-- --quick] [--reps=N] [--out=bench/results]
// Output: a markdown table on stdout and bench/results/memory-<date>.{json,md}. Targets are checked
// here (a bench, not timed tests); "before" figures of code that no longer exists are quoted from
// where they were measured (source given), everything else is measured in this run.
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';

const args = Object.fromEntries(process.argv.slice(2).map((a) => {
  const [k, v] = a.replace(/^--/, '').split('=');
  return [k, v ?? true];
}));
const quick = args.quick === true;
const reps = Number(args.reps ?? (quick ? 1 : 3));
const KW = quick ? 20_000 : 100_000;
const FLOWS = quick ? 16_384 : 65_536;
const log = (...a) => console.error(...a);
const trialScript = new URL('./lib/memory-trial.mjs', import.meta.url).pathname;

/** Runs one trial in a fresh process; returns its JSON. */
function trial(flags, ...argv) {
  const r = spawnSync(process.execPath, ['--expose-gc', ...flags, trialScript, ...argv.map(String)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`trial ${argv.join(' ')} failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}
/** Best (lowest `key`) of `reps` trials. */
const best = (key, f) => Array.from({ length: reps }, f).sort((a, b) => a[key] - b[key])[0];

const meta = {
  date: new Date().toISOString().slice(0, 16).replace('T', '-'), node: process.version, cpu: cpus()[0]?.model ?? '?', cores: cpus().length,
  loadStart: loadavg().map((x) => x.toFixed(2)).join(' '), quick, reps, keywords: KW, flows: FLOWS,
  before: {
    source: 'issue 14 item 6 (live daemon) and the dense matcher measured on this machine before the change',
    keywords_100k_10B_rss_mb: 777, keywords_100k_10B_build_ms: 4047, keywords_100k_10B_rss_mb_this_machine: 850,
    reload_stall_ms: 2440, syn_flood_65536_rss_mb: 361, syn_flood_stays: true, heap_per_flow_bytes: 2158,
  },
  targets: [],
};
const records = [];
const add = (what, r) => (records.push({ what, ...r, load1: Number(loadavg()[0].toFixed(2)) }), log(what, JSON.stringify(r)));

log(`keywords: ${KW} x 10 B (best of ${reps})...`);
const kw = best('build_ms', () => trial([], 'keywords', KW, 10));
add('keywords, built in this thread', kw);
const kwWorker = best('build_ms', () => trial([], 'keywords-worker', KW, 10));
add('keywords, built in a worker (reload)', kwWorker);
log('reload stall...');
const off = best('max_verdict_gap_ms', () => trial([], 'reload', KW, 10, 'off-thread'));
add('reload, config + keywords off-thread (daemon)', off);
const inThread = trial([], 'reload', KW, 10, 'in-thread');
add('reload, all in the main thread (as before)', inThread);
log(`flow table: ${FLOWS} SYN flows...`);
const flowsDefault = best('rss_full_mb', () => trial([], 'flows', FLOWS, 'ports'));
add('SYN flood, one inside host (like hping3 -S)', flowsDefault);
const flowsSpoofed = best('rss_full_mb', () => trial([], 'flows', FLOWS, 'spoofed'));
add('SYN flood, an inside address per flow', flowsSpoofed);
const flowsRouter = best('rss_full_mb', () => trial(['--max-semi-space-size=4'], 'flows', FLOWS, 'ports'));
add('SYN flood, one inside host, --max-semi-space-size=4', flowsRouter);

const T = (what, measured, met) => meta.targets.push({ what, measured, met });
T(`${KW.toLocaleString('en')} keywords of 10 B: ≤ 96 MB added, built in ≤ 2 s`, `${kw.rss_added_mb} MB (linear memory ${kw.linear_memory_mb} MB), ${kw.build_ms} ms (worker: ${kwWorker.build_ms} ms)`, kw.rss_added_mb <= 96 && kw.build_ms <= 2000);
T('a reload stalls verdicts ≤ 50 ms', `${off.max_verdict_gap_ms} ms max gap (event-loop delay max ${off.loop_delay_max_ms} ms); in-thread: ${inThread.max_verdict_gap_ms} ms`, off.max_verdict_gap_ms <= 50);
const worst = Math.max(flowsDefault.rss_full_mb, flowsSpoofed.rss_full_mb);
T(`${FLOWS.toLocaleString('en')} flows ≤ 64 MB above the idle daemon`, `${flowsDefault.rss_full_mb} MB (one inside host), ${flowsSpoofed.rss_full_mb} MB (an address per flow), ${flowsRouter.rss_full_mb} MB with --max-semi-space-size=4; ${flowsDefault.heap_per_flow_bytes} B heap per flow`, worst <= 64);
T('RSS falls back after a flood', `once the flows expired ${flowsDefault.rss_after_expiry_mb} / ${flowsSpoofed.rss_after_expiry_mb} MB above idle, after HeapRelease ${flowsDefault.rss_after_release_mb} / ${flowsSpoofed.rss_after_release_mb} MB`, Math.max(flowsDefault.rss_after_release_mb, flowsSpoofed.rss_after_release_mb) <= worst * 0.75);
meta.loadEnd = loadavg().map((x) => x.toFixed(2)).join(' ');

const cols = ['build_ms', 'rss_added_mb', 'linear_memory_mb', 'reload_ms', 'max_verdict_gap_ms', 'loop_delay_max_ms', 'rss_full_mb', 'rss_full_after_gc_mb', 'heap_per_flow_bytes', 'rss_after_expiry_mb', 'rss_after_release_mb', 'load1'];
const lines = [`# Memory benchmark ${meta.date}`, '', `Node ${meta.node}, ${meta.cpu}, ${meta.cores} cores; load average at start ${meta.loadStart}, at end ${meta.loadEnd}. Best of ${reps} where several runs; each trial in a fresh process.`, ''];
lines.push(`| trial | ${cols.join(' | ')} |`, `|---|${cols.map(() => '---:').join('|')}|`);
for (const r of records) lines.push(`| ${r.what} | ${cols.map((c) => r[c] ?? '–').join(' | ')} |`);
lines.push('', '## Before (quoted)', '', `${meta.before.source}: 100,000 keywords of 10 B took ${meta.before.keywords_100k_10B_rss_mb} MB (${meta.before.keywords_100k_10B_rss_mb_this_machine} MB and ${meta.before.keywords_100k_10B_build_ms} ms here); a reload stalled ${meta.before.reload_stall_ms} ms; a SYN flood of 65,536 flows added ${meta.before.syn_flood_65536_rss_mb} MB and stayed; ${meta.before.heap_per_flow_bytes} B heap per flow.`);
lines.push('', '## Targets', '', '| target | measured | met |', '|---|---|---|', ...meta.targets.map((t) => `| ${t.what} | ${t.measured} | ${t.met ? 'yes' : '**no**'} |`));
const text = `${lines.join('\n')}\n`;
const dir = args.out ?? new URL('./results', import.meta.url).pathname;
mkdirSync(dir, { recursive: true });
const stamp = meta.date.replace(/[:]/g, '-');
writeFileSync(`${dir}/memory-${stamp}.json`, `${JSON.stringify({ meta, records }, null, 1)}\n`);
writeFileSync(`${dir}/memory-${stamp}.md`, text);
console.log(text);
log(`wrote ${dir}/memory-${stamp}.{json,md}`);
