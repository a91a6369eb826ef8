#!/usr/bin/env node
/**
 * Builds the virus database the way the daemon does (dist/inspect: buildVirusDb, then compileDb,
 * what each scan worker thread runs at start-up) for one `.ndb` file and reports the cost:
 *
 *   node gateway-dbbuild.mjs FILE.ndb
 *   → {"signatures":N,"parse_ms":…,"compile_ms":…,"rss_before":…,"rss_after":…,"hwm":…,"scan_32k_us":…,"error":null}
 *
 * Run in a child process by bench/gateway.mjs with a time limit, so a build that takes too long is
 * reported as "did not start" instead of hanging the bench.
 */
import fs from 'node:fs';
import { buildVirusDb } from '../../dist/inspect/virusdb.js';
import { compileDb } from '../../dist/inspect/scanner.js';

const file = process.argv[2];
const out = { file, signatures: null, max_len: null, parse_ms: null, compile_ms: null, rss_before: process.memoryUsage().rss, rss_after: null, error: null };
try {
  let t = performance.now();
  const db = buildVirusDb({ eicar: true, ndb: [file] });
  out.parse_ms = Math.round(performance.now() - t);
  out.signatures = db.patterns.length;
  out.max_len = db.maxLen;
  out.pattern_bytes = db.patterns.reduce((a, p) => a + p.length, 0);
  out.notices = db.notices;
  t = performance.now();
  const m = compileDb(db);
  out.compile_ms = Math.round(performance.now() - t);
  const buf = new Uint8Array(32 * 1024);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 131 + 7) & 0xff;
  t = performance.now();
  for (let i = 0; i < 50; i++) m.scan(buf, () => {});
  out.scan_32k_us = Math.round(((performance.now() - t) / 50) * 1000);
} catch (e) {
  out.error = String(e?.message ?? e).split('\n')[0];
}
out.rss_after = process.memoryUsage().rss;
try {
  out.hwm = Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
} catch {
  out.hwm = null;
}
process.stdout.write(`${JSON.stringify(out)}\n`);
