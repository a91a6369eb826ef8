// Child process for bench/memory.mjs: one trial in a fresh process (so RSS baselines are clean),
// against the built daemon in dist/ (`npm run build`). Prints one JSON line.
//   keywords N LEN   keyword lists built in this thread: RSS added, build time, linear memory
//   keywords-worker N LEN   the same built in a worker thread (KeywordSet.build): time to ready
//   reload N LEN MODE   a reload of a config with N keywords while "verdicts" run; MODE off-thread
//                    (the daemon: src/runtime/reload-config.ts) or in-thread (loadForReload + build)
//   flows N SOURCES   a SYN flood of N flows through the pipeline (SOURCES: ports = one inside
//                    host, spoofed = one inside address per flow): RSS and heap per flow, release
// Run with --expose-gc (for clean measurements; the daemon's own release does not need it).
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const dist = new URL('../../dist/', import.meta.url);
const load = (p) => import(new URL(p, dist).href);
const [trial, ...args] = process.argv.slice(2);
const gc = () => (globalThis.gc(), globalThis.gc());
const mb = (b) => Number((b / 1e6).toFixed(1));
const settle = (ms) => new Promise((r) => setTimeout(r, ms));

/** `n` distinct keywords of `len` lowercase letters and digits (deterministic). */
function words(n, len, seed = 1) {
  const abc = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = seed;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) % abc.length;
  const out = new Set();
  while (out.size < n) out.add(Array.from({ length: len }, () => abc[next()]).join(''));
  return [...out];
}

async function keywords(n, len, worker) {
  const { KeywordSet } = await load('content/keywords.js');
  const list = words(n, len);
  gc();
  await settle(200);
  const before = process.memoryUsage();
  const t0 = performance.now();
  const k = worker ? await KeywordSet.build({ big: list }) : new KeywordSet({ big: list });
  const ms = performance.now() - t0;
  gc();
  await settle(500);
  const after = process.memoryUsage();
  if (k.find(`..${list[n - 1]}..`)?.id !== `big#${n - 1}`) throw new Error('keyword not found');
  return { n, len, build_ms: Math.round(ms), rss_added_mb: mb(after.rss - before.rss), linear_memory_mb: mb(k.memoryBytes), built_in_thread: k.builtInThread };
}

/** Max gap between consecutive setImmediate turns ("verdicts") and the event-loop delay histogram while `work` runs. */
async function stallDuring(work) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  let last = performance.now();
  let maxGap = 0;
  let turns = 0;
  let on = true;
  const spin = () => {
    const t = performance.now();
    if (t - last > maxGap) maxGap = t - last;
    last = t;
    turns++;
    if (on) setImmediate(spin);
  };
  setImmediate(spin);
  h.enable();
  const t0 = performance.now();
  const r = await work();
  const ms = performance.now() - t0;
  maxGap = Math.max(maxGap, performance.now() - last); // work that never yields is one gap
  on = false;
  h.disable();
  return { r, ms: Math.round(ms), max_gap_ms: Number(maxGap.toFixed(1)), loop_delay_max_ms: Number((h.max / 1e6).toFixed(1)), loop_delay_p99_ms: Number((h.percentile(99) / 1e6).toFixed(1)), turns };
}

async function reload(n, len, mode) {
  const { KeywordSet } = await load('content/keywords.js');
  const { loadForReload } = await load('runtime/boot.js');
  const { loadForReloadOffThread } = await load('runtime/reload-config.js');
  const { Counters } = await load('core/counters.js');
  const dir = mkdtempSync(join(tmpdir(), 'p2pgw-bench-reload-'));
  const file = join(dir, 'p2pgw.yaml');
  const list = words(n, len, 2);
  writeFileSync(file, `keywords:\n  chat: true\n  lists:\n    big:\n${list.map((w) => `      - "${w}"\n`).join('')}`);
  const running = new KeywordSet({ big: words(n, len, 3) });
  const lines = [];
  const logger = { info() {}, warn() {}, error: (f, m) => lines.push([f, m]) };
  const counters = new Counters();
  gc();
  await settle(200);
  const s = await stallDuring(async () => {
    if (mode === 'off-thread') return loadForReloadOffThread(file, logger, counters, file, running);
    const r = loadForReload(file, logger, counters, file); // what SIGHUP ran before: all in the main thread
    return r && { ...r, keywords: new KeywordSet(r.next.keywords.lists) };
  });
  rmSync(dir, { recursive: true, force: true });
  if (!s.r || s.r.keywords.find(`..${list[7]}..`)?.id !== 'big#7') throw new Error(`reload failed: ${JSON.stringify(lines)}`);
  return { n, len, mode, reload_ms: s.ms, max_verdict_gap_ms: s.max_gap_ms, loop_delay_max_ms: s.loop_delay_max_ms, loop_delay_p99_ms: s.loop_delay_p99_ms, turns: s.turns };
}

async function flows(n, sources) {
  const { loadConfig } = await load('config/load.js');
  const { APPS } = await load('apps/registry.js');
  const { buildClassifier, pipelineOptions } = await load('runtime/setup.js');
  const { Pipeline } = await load('runtime/pipeline.js');
  const { Counters } = await load('core/counters.js');
  const { HeapRelease } = await load('runtime/heap-release.js');
  const cfg = loadConfig(undefined, APPS.map((a) => a.name));
  const counters = new Counters();
  const p = new Pipeline(buildClassifier(cfg).classifier, pipelineOptions(cfg, false), counters, {});
  globalThis.keep = p;
  // The idle daemon: pipeline built, a few flows seen (code warm), collected.
  const b = new Uint8Array(40);
  // `ports`: like hping3 -S --flood, one inside host (two past 32,768 flows) to an outside server,
  // source ports varying; `spoofed`: every flow from its own inside address (host heuristics churn).
  const syn = (i) => {
    b.fill(0);
    const src = sources === 'spoofed' ? [10, (i >> 16) & 255, (i >> 8) & 255, i & 255] : [10, 1, 0, 2 + (i >> 15)];
    const sport = sources === 'spoofed' ? 0x8000 | (i & 0x3fff) : 1024 + (i & 0x7fff);
    b.set([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, ...src, 198, 51, 100, 7], 0);
    b.set([sport >> 8, sport & 255, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff], 20);
    return b;
  };
  for (let i = 0; i < 2000; i++) p.handle(syn(0x3f0000 + i), 1);
  if (sources !== 'spoofed') for (let i = 0; i < 2000; i++) p.handle(syn(0x3f0000 + i).map((x, k) => (k === 15 ? 99 : x)), 1);
  p.expire(10_000);
  gc();
  await settle(1000);
  const idle = process.memoryUsage();
  const ts0 = 20_000;
  for (let i = 0; i < n; i++) p.handle(syn(i), ts0 + i / n);
  const full = process.memoryUsage();
  gc();
  await settle(500);
  const fullGc = process.memoryUsage();
  // Flows expire; without a collection the garbage stays (what the issue saw), then HeapRelease.
  p.expire(ts0 + 1000);
  await settle(3000);
  const expired = process.memoryUsage();
  const release = new HeapRelease();
  release.tick(n);
  const asked = release.tick(p.flows.size);
  await settle(3000);
  const released = process.memoryUsage();
  return {
    n, flows_live: n, table_size_after_flood: n,
    rss_full_mb: mb(full.rss - idle.rss), rss_full_after_gc_mb: mb(fullGc.rss - idle.rss),
    heap_per_flow_bytes: Math.round((fullGc.heapUsed - idle.heapUsed) / n),
    rss_after_expiry_mb: mb(expired.rss - idle.rss), heap_after_expiry_mb: mb(expired.heapUsed - idle.heapUsed),
    heap_release_asked: asked, rss_after_release_mb: mb(released.rss - idle.rss), heap_after_release_mb: mb(released.heapUsed - idle.heapUsed),
    idle_rss_mb: mb(idle.rss), flags: process.execArgv.filter((a) => a !== '--expose-gc').join(' '), sources,
  };
}

const n = Number(args[0] ?? 100_000);
const len = Number(args[1] ?? 10);
const out = trial === 'keywords' ? await keywords(n, len, false)
  : trial === 'keywords-worker' ? await keywords(n, len, true)
    : trial === 'reload' ? await reload(n, len, args[2] ?? 'off-thread')
      : trial === 'flows' ? await flows(n, args[1] ?? 'ports') : null;
if (!out) throw new Error(`unknown trial ${trial}`);
process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
