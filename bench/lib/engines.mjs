// Engines compared by bench/matcher.mjs. Each engine builds from a pattern list (Buffers) and scans a
// list of files, returning matches as sorted "file:pattern:start" keys (distinct (pattern, offset)
// per file) so that engines can be checked against each other.
import { createRequire } from 'node:module';
import { SigDatabase } from './build/sigscan/sigdb.js';

const require = createRequire(import.meta.url);
const now = () => performance.now();
const gc = () => globalThis.gc?.();
const heap = () => (gc(), gc(), process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers);
const grew = (h0) => Math.max(0, heap() - h0);

/** p2pgw SigDatabase. mode 'stream': 64 KiB writes; 'chunked': 32 KiB buffers fed 1460-byte packets. */
export function oursEngine(mode) {
  return {
    name: mode === 'stream' ? 'p2pgw-stream' : 'p2pgw-chunked32k',
    build(patterns) {
      const t0 = now();
      const db = SigDatabase.compile(patterns.map((b, i) => ({ name: `P${i}`, literal: b })));
      const build_ms = now() - t0;
      const bytes = db.serialize();
      const t1 = now();
      const loaded = SigDatabase.load(bytes);
      const load_ms = now() - t1;
      const st = loaded.stats;
      return { h: loaded, build_ms, load_ms, mem_bytes: st.wasmMemoryBytes + st.metaBytes, db_file_bytes: bytes.length, tiers: st.tiers };
    },
    scan(db, files, keys) {
      const t0 = now();
      files.forEach((f, fi) => {
        const on = keys ? (id, s) => keys.push(`${fi}:${id}:${s}`) : () => {};
        if (mode === 'stream') {
          const s = db.newStream({ hashes: false });
          for (let p = 0; p < f.length; p += 65536) s.write(f.subarray(p, p + 65536), on);
          s.end(on);
        } else {
          const c = db.chunked({ bufferSize: 32768, hashes: false });
          for (let p = 0; p < f.length; p += 1460) c.push(f.subarray(p, p + 1460), on);
          c.finish(on);
        }
      });
      return now() - t0;
    },
  };
}

/** Escapes a byte string for a RegExp source (every byte as \xHH). */
const reEscape = (b) => Array.from(b, (x) => `\\x${x.toString(16).padStart(2, '0')}`).join('');

/** V8 RegExp alternation (longest first, lookahead so overlaps are found), capped in time. */
export function regexpEngine(budgetMs) {
  return {
    name: 'v8-regexp',
    budgetMs,
    build(patterns) {
      const h0 = heap();
      const t0 = now();
      const order = patterns.map((b, i) => i).sort((a, b) => patterns[b].length - patterns[a].length);
      const re = new RegExp(`(?=(${order.map((i) => reEscape(patterns[i])).join('|')}))`, 'g');
      re.exec('warm-up');
      const ids = new Map();
      patterns.forEach((b, i) => {
        const k = b.toString('latin1');
        ids.set(k, [...(ids.get(k) ?? []), i]);
      });
      const build_ms = now() - t0;
      return { h: { re, ids }, build_ms, mem_bytes: grew(h0) };
    },
    scan({ re, ids }, files, keys, strings) {
      const t0 = now();
      let done = 0;
      for (let fi = 0; fi < files.length; fi++) {
        const s = strings[fi];
        re.lastIndex = 0;
        for (let m; (m = re.exec(s)) !== null; re.lastIndex = m.index + 1) {
          const hit = m[1];
          for (let len = 1; len <= hit.length; len++) {
            const list = ids.get(len === hit.length ? hit : hit.slice(0, len));
            if (list) for (const id of list) keys?.push(`${fi}:${id}:${m.index}`);
          }
        }
        done = fi + 1;
        if (now() - t0 > this.budgetMs) break;
      }
      return { ms: now() - t0, files: done };
    },
  };
}

/** Pure-JS Aho-Corasick packages from npm (over Latin-1 strings: one char per byte). */
export const AC_CANDIDATES = {
  '@monyone/aho-corasick': async () => {
    const { AhoCorasick } = await import('@monyone/aho-corasick');
    return { make: (kw) => new AhoCorasick(kw), each: (ac, s, cb) => { for (const m of ac.matchInText(s)) cb(m.keyword, m.begin); } };
  },
  '@monyone/aho-corasick/fast': async () => {
    const { AhoCorasick } = await import('@monyone/aho-corasick/fast');
    return { make: (kw) => new AhoCorasick(kw), each: (ac, s, cb) => { for (const m of ac.matchInText(s)) cb(m.keyword, m.begin); } };
  },
  'modern-ahocorasick': async () => {
    const { default: AC } = await import('modern-ahocorasick');
    return { make: (kw) => new AC(kw), each: (ac, s, cb) => { for (const m of ac.search(s)) cb(m.pattern, m.start); } };
  },
  ahocorasick: async () => {
    const AC = require('ahocorasick');
    return { make: (kw) => new AC(kw), each: (ac, s, cb) => { for (const [end, kws] of ac.search(s)) for (const k of kws) cb(k, end - k.length + 1); } };
  },
};

/** One npm Aho-Corasick package as an engine. */
export async function acEngine(pkg) {
  const lib = await AC_CANDIDATES[pkg]();
  return {
    name: `js-ac(${pkg})`,
    build(patterns) {
      const h0 = heap();
      const t0 = now();
      const kws = patterns.map((b) => b.toString('latin1'));
      const ac = lib.make(kws);
      const ids = new Map();
      kws.forEach((k, i) => ids.set(k, [...(ids.get(k) ?? []), i]));
      const build_ms = now() - t0;
      return { h: { ac, ids }, build_ms, mem_bytes: grew(h0) };
    },
    scan({ ac, ids }, files, keys, strings) {
      const t0 = now();
      files.forEach((_, fi) => lib.each(ac, strings[fi], (kw, start) => {
        if (keys) for (const id of ids.get(kw)) keys.push(`${fi}:${id}:${start}`);
      }));
      return now() - t0;
    },
  };
}
