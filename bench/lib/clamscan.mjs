// clamscan as a benchmark engine: the same patterns as a .ndb (target type 0, offset *), timed over
// the same files written to disk; database load time is measured on one empty file and subtracted.
// clamscan reports which signatures hit per file (with --allmatch), so it is compared per file.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const SCAN_FLAGS = [
  '--no-summary', '--infected', '--allmatch=yes', '--stdout',
  // Raw-content scanning only: no archive/format parsing that would scan extracted or normalised data.
  '--scan-archive=no', '--scan-pe=no', '--scan-elf=no', '--scan-ole2=no', '--scan-pdf=no', '--scan-html=no',
  '--scan-mail=no', '--scan-swf=no', '--scan-xmldocs=no', '--scan-hwp3=no', '--scan-image=no',
];

/** True if clamscan runs here. */
export function haveClamscan() {
  return spawnSync('clamscan', ['--version'], { encoding: 'utf8' }).status === 0;
}

function run(db, target) {
  const useTime = existsSync('/usr/bin/time');
  const args = useTime ? ['-f', 'MAXRSS_KB=%M', 'clamscan', ...SCAN_FLAGS, '-d', db, target] : [...SCAN_FLAGS, '-d', db, target];
  const t0 = performance.now();
  const r = spawnSync(useTime ? '/usr/bin/time' : 'clamscan', args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  const ms = performance.now() - t0;
  if (r.status !== 0 && r.status !== 1) throw new Error(`clamscan failed (${r.status}): ${r.stderr.slice(0, 500)}`);
  const rss = /MAXRSS_KB=(\d+)/.exec(r.stderr);
  return { ms, stdout: r.stdout, rss: rss ? Number(rss[1]) * 1024 : null };
}

/** Writes files once per corpus into `dir/name/`; returns the directory. */
export function writeCorpus(dir, name, files) {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  files.forEach((f, i) => writeFileSync(join(d, `f${String(i).padStart(5, '0')}.bin`), f));
  const empty = join(dir, 'empty');
  mkdirSync(empty, { recursive: true });
  writeFileSync(join(empty, 'empty.bin'), '');
  return d;
}

/** Writes the pattern set as .ndb (names P<index>). */
export function writeNdb(dir, patterns) {
  const p = join(dir, `set-${patterns.length}.ndb`);
  writeFileSync(p, patterns.map((b, i) => `P${i}:0:*:${b.toString('hex')}`).join('\n') + '\n');
  return p;
}

/** Scans `corpusDir` with `ndb`: per-file sets of pattern indices, times, memory. */
export function clamscanRun(dir, ndb, corpusDir) {
  const load = run(ndb, join(dir, 'empty'));
  const full = run(ndb, corpusDir);
  const perFile = new Map();
  for (const line of full.stdout.split('\n')) {
    const m = /f(\d+)\.bin: P(\d+)(?:\.UNOFFICIAL)? FOUND$/.exec(line);
    if (!m) continue;
    const f = Number(m[1]);
    if (!perFile.has(f)) perFile.set(f, new Set());
    perFile.get(f).add(Number(m[2]));
  }
  return { load_ms: load.ms, total_ms: full.ms, scan_ms: Math.max(1, full.ms - load.ms), mem_bytes: full.rss, perFile };
}
