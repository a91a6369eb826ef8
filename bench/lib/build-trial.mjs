// Child process for bench/matcher.mjs: compiles n random patterns (+ EICAR) in a fresh process, as a
// router start or `p2pgw compile-sigs` would, then loads the serialised database back.
// argv: n. Prints one JSON line: { build_ms, load_ms, db_file_bytes }.
import { SigDatabase } from './build/sigscan/sigdb.js';
import { makePatterns } from './data.mjs';

const pats = makePatterns(Number(process.argv[2]));
const sigs = pats.map((b, i) => ({ name: `P${i}`, literal: b }));
const t0 = performance.now();
const db = SigDatabase.compile(sigs);
const build_ms = performance.now() - t0;
const bytes = db.serialize();
const t1 = performance.now();
SigDatabase.load(bytes);
const load_ms = performance.now() - t1;
process.stdout.write(`${JSON.stringify({ build_ms, load_ms, db_file_bytes: bytes.length })}\n`);
