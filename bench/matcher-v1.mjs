// Matcher v1 throughput: 50 patterns over 16 MiB of random bytes and of text, one-shot and streamed
// in 1460-byte chunks. Needs the build: `npm run build` (asm + dist). Prints a table and a JSON line.
// Usage: node bench/matcher-v1.mjs [MiB]
import { Matcher } from '../dist/matcher/matcher.js';

const MIB = Number(process.argv[2] ?? 16);
const SIZE = MIB * 1024 * 1024;
let seed = 0x9e3779b9;
const rnd = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const WORDS = ('the of and to in is that for it as with was on be by this are from at or an have not ' +
  'peer torrent protocol announce tracker info hash client server request response message data ' +
  'GET POST HTTP Host User-Agent Content-Length connection keep alive ping pong handshake').split(' ');

const text = Buffer.alloc(SIZE);
for (let pos = 0; pos < SIZE; ) pos += text.write(WORDS[(rnd() * WORDS.length) | 0] + (rnd() < 0.1 ? '.\n' : ' '), pos);
const random = Buffer.alloc(SIZE);
for (let i = 0; i < SIZE; i++) random[i] = (rnd() * 256) | 0;

const patterns = [];
for (let id = 0; id < 50; id++) {
  const kind = id % 3;
  let bytes;
  if (kind === 0) bytes = Buffer.from(`${WORDS[id % WORDS.length]} ${WORDS[(id * 7) % WORDS.length]}`);
  else if (kind === 1) bytes = Buffer.from(WORDS[(id * 3) % WORDS.length].slice(0, 4 + (id % 5)));
  else bytes = Buffer.from(Array.from({ length: 4 + (id % 9) }, () => (rnd() * 256) | 0));
  patterns.push({ id, bytes, nocase: id % 4 === 1 });
}
const m = Matcher.compile(patterns);

function run(input, streamed) {
  let matches = 0;
  const onMatch = () => void matches++;
  const t0 = process.hrtime.bigint();
  if (streamed) {
    const streams = Array.from({ length: 64 }, () => m.newStream());
    for (let pos = 0, k = 0; pos < input.length; pos += 1460, k++) {
      streams[k & 63].write(input.subarray(pos, pos + 1460), onMatch);
    }
  } else {
    m.scan(input, onMatch);
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { mbps: input.length / 1e6 / s, matches };
}

const results = [];
for (const [name, input] of [['random', random], ['text', text]]) {
  for (const streamed of [false, true]) {
    run(input, streamed); // warm-up
    const best = [run(input, streamed), run(input, streamed), run(input, streamed)].sort((a, b) => b.mbps - a.mbps)[0];
    results.push({ input: name, mode: streamed ? 'stream-1460' : 'one-shot', mbps: +best.mbps.toFixed(1), matches: best.matches });
  }
}
console.log(`matcher v1: ${patterns.length} patterns, ${m.stateCount} states, ${MIB} MiB per input`);
console.log('input   mode          MB/s     matches');
for (const r of results) {
  console.log(`${r.input.padEnd(7)} ${r.mode.padEnd(12)} ${String(r.mbps).padStart(7)} ${String(r.matches).padStart(11)}`);
}
console.log(JSON.stringify({ bench: 'matcher-v1', patterns: patterns.length, states: m.stateCount, mib: MIB, node: process.version, results }));
