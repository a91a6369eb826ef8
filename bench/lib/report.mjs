// Result records -> JSON file and a markdown table (printed and written).
import { writeFileSync, mkdirSync } from 'node:fs';

const fmt = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? '–' : Number(x).toFixed(d));
const mib = (b) => (b === null || b === undefined ? '–' : (b / 1048576).toFixed(1));

/** Markdown table of all records, grouped by pattern count and corpus. */
export function markdown(meta, records) {
  const lines = [];
  lines.push(`# Matcher benchmark ${meta.date}`, '');
  lines.push(`Node ${meta.node}, ${meta.cpu}, ${meta.cores} cores; load average at start ${meta.loadStart}, at end ${meta.loadEnd}.`);
  lines.push(`Corpora: ${meta.corpusMiB} MiB each as ${meta.files} files of ${meta.fileKiB} KiB; ${meta.plantsPerFile} planted patterns per file, EICAR in every 16th. Best of ${meta.reps} runs.`);
  if (meta.acChoice) lines.push(`Pure-JS Aho-Corasick: tried ${meta.acCandidates.map((c) => `${c.pkg} (${c.ok ? `${fmt(c.mbps)} MB/s` : `excluded: ${c.error}`})`).join(', ')}; fastest correct: **${meta.acChoice}**.`);
  lines.push('', '| patterns | corpus | engine | MB/s | build ms | load ms | memory MiB | matches | load avg | note |', '|---:|---|---|---:|---:|---:|---:|---:|---:|---|');
  for (const r of records) {
    lines.push(`| ${r.patterns} | ${r.corpus} | ${r.engine} | ${fmt(r.mbps, r.mbps < 10 ? 2 : 0)} | ${fmt(r.build_ms)} | ${fmt(r.load_ms)} | ${mib(r.mem_bytes)} | ${r.matches ?? '–'} | ${fmt(r.load1, 1)} | ${r.note ?? ''} |`);
  }
  if (meta.targets?.length) {
    lines.push('', '## Targets', '', '| target | measured | met |', '|---|---|---|');
    for (const t of meta.targets) lines.push(`| ${t.what} | ${t.measured} | ${t.met ? 'yes' : '**no**'} |`);
  }
  if (meta.mismatches?.length) lines.push('', '## MISMATCHES', '', ...meta.mismatches.map((m) => `- ${m}`));
  return `${lines.join('\n')}\n`;
}

/** Writes bench/results/matcher-<date>.{json,md}; returns the paths. */
export function writeResults(dir, meta, records) {
  mkdirSync(dir, { recursive: true });
  const stamp = meta.date.replace(/[:]/g, '-');
  const json = `${dir}/matcher-${stamp}.json`;
  const md = `${dir}/matcher-${stamp}.md`;
  writeFileSync(json, `${JSON.stringify({ meta, records }, null, 1)}\n`);
  const text = markdown(meta, records);
  writeFileSync(md, text);
  return { json, md, text };
}
