// Child process for bench/matcher.mjs: times one npm Aho-Corasick package on a sample (so a package
// that takes too long can be stopped by the parent's timeout). argv: pkg, sampleFile, fileSize, nPatterns.
// Prints one JSON line: { mbps, build_ms, keys }.
import { readFileSync } from 'node:fs';
import { makePatterns } from './data.mjs';
import { acEngine } from './engines.mjs';

const [pkg, sampleFile, fileSize, n] = process.argv.slice(2);
const all = makePatterns(Number(n));
const data = readFileSync(sampleFile);
const files = [];
for (let p = 0; p < data.length; p += Number(fileSize)) files.push(data.subarray(p, p + Number(fileSize)));
const e = await acEngine(pkg);
const b = e.build(all);
const keys = [];
const ms = e.scan(b.h, files, keys, files.map((f) => f.toString('latin1')));
process.stdout.write(`${JSON.stringify({ mbps: data.length / 1e6 / (ms / 1000), build_ms: b.build_ms, keys: keys.sort() })}\n`);
