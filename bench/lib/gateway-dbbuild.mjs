#!/usr/bin/env node
/**
 * Builds the virus database the way the daemon does, from dist/, for one `.ndb` file and reports
 * the cost:
 *
 *   node gateway-dbbuild.mjs FILE.ndb
 *   → {"engine":…,"signatures":N,"build_ms":…,"worker_load_ms":…,"serialized_bytes":…,
 *      "rss_before":…,"rss_after":…,"hwm":…,"scan_32k_us":…,"error":null}
 *
 * Two generations of dist/content are handled, whichever is installed:
 * - signature engine (buildVirusDb returns {db, bytes}): the main thread parses and compiles the
 *   database and serialises it; each scan worker thread loads the bytes (SigDatabase.load).
 * - v1 literal matcher (buildVirusDb returns {patterns}): each scan worker compiles the literal
 *   patterns into its own Aho-Corasick DFA (compileDb).
 * Run in a child process by bench/gateway.mjs with a time limit, so a build that takes too long is
 * reported as "did not start" instead of hanging the bench.
 */
import fs from 'node:fs';

const file = process.argv[2];
const out = { file, engine: null, signatures: null, build_ms: null, worker_load_ms: null, serialized_bytes: null, rss_before: process.memoryUsage().rss, rss_after: null, hwm: null, scan_32k_us: null, error: null };
const buf = new Uint8Array(32 * 1024);
for (let i = 0; i < buf.length; i++) buf[i] = (i * 131 + 7) & 0xff;
try {
  const vdb = await import('../../dist/content/virusdb.js');
  let t = performance.now();
  const v = vdb.buildVirusDb({ eicar: true, files: [file], ndb: [file] });
  out.build_ms = Math.round(performance.now() - t);
  out.notices = v.notices;
  if ('bytes' in v) {
    out.engine = 'signature engine (src/sigscan, compiled in the main thread, loaded by each worker)';
    out.signatures = v.bodySigs;
    out.serialized_bytes = v.bytes?.length ?? 0;
    const { SigDatabase } = await import('../../dist/sigscan/sigdb.js');
    t = performance.now();
    const db = SigDatabase.load(v.bytes, { source: 'bench' });
    out.worker_load_ms = Math.round(performance.now() - t);
    t = performance.now();
    for (let i = 0; i < 50; i++) db.scan(buf, () => {});
    out.scan_32k_us = Math.round(((performance.now() - t) / 50) * 1000);
    if (db.stats) out.stats = db.stats;
  } else {
    out.engine = 'v1 literal matcher (Aho-Corasick DFA compiled by each worker)';
    out.signatures = v.patterns.length;
    out.pattern_bytes = v.patterns.reduce((a, p) => a + p.length, 0);
    const { compileDb } = await import('../../dist/content/scan-pool.js');
    t = performance.now();
    const m = compileDb(v);
    out.worker_load_ms = Math.round(performance.now() - t);
    t = performance.now();
    for (let i = 0; i < 50; i++) m.scan(buf, () => {});
    out.scan_32k_us = Math.round(((performance.now() - t) / 50) * 1000);
  }
} catch (e) {
  out.error = String(e?.message ?? e).split('\n')[0];
}
out.rss_after = process.memoryUsage().rss;
try {
  out.hwm = Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
} catch {
  /* not Linux */
}
process.stdout.write(`${JSON.stringify(out)}\n`);
