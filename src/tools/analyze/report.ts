/**
 * The HTML report of `p2pgw analyze`: one self-contained page (inline CSS and SVG, no scripts, no
 * external resources, no CDN) with the run's parameters, the findings with their evidence, one
 * cluster histogram per metric (clusters, noise, interesting region, DBSCAN parameters found,
 * concentration) and the host table. Method: host-behaviour metrics and per-metric DBSCAN
 * parameter search after the ISP P2P behaviour study.
 */
import type { AnalysisResult, MetricReport } from './analyze.js';
import type { Finding } from './findings.js';
import { CLUSTER_COLORS, INTERESTING_COLOR, NOISE_COLOR, clusterColor, esc, histogramSvg, num, pct } from './charts.js';

/** Most host rows shown in the HTML (the JSON has all). */
export const HTML_HOST_ROWS = 40;

const CSS = `
:root{--ink:#1d2433;--muted:#5b6475;--faint:#8a94a6;--line:#e3e7ee;--bg:#f3f5f9;--card:#fff;--accent:#3b5bdb}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 "DejaVu Sans","Segoe UI",Helvetica,Arial,sans-serif}
header{background:linear-gradient(120deg,#1f2a44 0%,#2f3f6b 55%,#3b5bdb 100%);color:#fff;padding:28px 40px 64px}
header h1{margin:0 0 4px;font-size:26px;letter-spacing:.2px}
header p{margin:2px 0;color:#d5ddf3;font-size:13px}
main{max-width:1380px;margin:-44px auto 40px;padding:0 28px}
.cards{display:grid;grid-template-columns:repeat(6,1fr);gap:14px;margin-bottom:22px}
.card{background:var(--card);border-radius:12px;box-shadow:0 1px 3px rgba(20,30,60,.08),0 6px 18px rgba(20,30,60,.06);padding:14px 16px}
.stat .v{font-size:24px;font-weight:700}.stat .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.6px}
section{margin-bottom:26px}
h2{font-size:18px;margin:0 0 12px;display:flex;align-items:baseline;gap:10px}
h2 small{color:var(--muted);font-weight:400;font-size:13px}
table{width:100%;border-collapse:collapse;font-size:13px}
th{text-align:left;color:var(--muted);font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.4px;border-bottom:2px solid var(--line);padding:8px 10px}
td{border-bottom:1px solid var(--line);padding:8px 10px;vertical-align:top}
tr:last-child td{border-bottom:0}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.sev{display:inline-block;border-radius:999px;padding:2px 10px;font-size:11px;font-weight:700;text-transform:uppercase;letter-spacing:.5px}
.sev.high{background:#fde2e1;color:#b42318}.sev.medium{background:#fff1d6;color:#9a5b00}.sev.low{background:#e3f2e8;color:#1e7b3e}
.chip{display:inline-block;background:#eef1f7;border-radius:6px;padding:1px 7px;margin:1px 3px 1px 0;font:12px "DejaVu Sans Mono",Menlo,monospace}
.chip.rule{background:#e8edff;color:#2f44a8;font-family:inherit;white-space:nowrap}
.nw{white-space:nowrap}
.bar{display:inline-block;height:8px;border-radius:4px;background:linear-gradient(90deg,#f28e2b,#e15759);vertical-align:middle;margin-left:8px}
td.pm{max-width:330px}
.muted{color:var(--muted)}.faint{color:var(--faint);font-size:12px}
details{margin-top:6px}summary{cursor:pointer;color:var(--accent);font-size:12px}
pre{background:#f6f8fb;border-radius:8px;padding:10px;overflow:auto;font-size:11.5px;max-height:260px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(392px,1fr));gap:14px}
.metric h3{margin:0;font-size:14px;display:flex;justify-content:space-between;gap:8px}
.metric h3 .l4{font-size:11px;font-weight:700;color:#fff;background:#6c7a96;border-radius:4px;padding:1px 6px;margin-right:6px}
.metric h3 .l4.udp{background:#0f8b8d}.metric h3 .l4.tcp{background:#3b5bdb}
.metric .def{color:var(--muted);font-size:12px;margin:3px 0 6px;min-height:34px}
.metric svg{display:block;width:100%;height:auto}
.kv{display:flex;flex-wrap:wrap;gap:4px 12px;font-size:12px;color:var(--muted);margin-top:6px}.kv b{color:var(--ink);font-weight:600}
.legend{display:flex;flex-wrap:wrap;gap:4px 10px;font-size:11.5px;margin-top:6px}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.flag{color:#b45309;font-weight:600}
.examples td{font:11.5px "DejaVu Sans Mono",Menlo,monospace;padding:4px 6px}
footer{color:var(--faint);font-size:12px;text-align:center;margin:30px 0}
`;

const utc = (t: number | null): string => (t === null ? '–' : new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' '));

/** Slot list as date, "hh:mm – hh:mm UTC" and the number of slots. */
function slotSpan(f: Finding, slotSec: number): string {
  if (!f.slots.length) return '–';
  const a = utc(f.slots[0]);
  const b = utc(f.slots[f.slots.length - 1] + slotSec);
  const sameDay = a.slice(0, 10) === b.slice(0, 10) || b.slice(11) === '00:00';
  const range = sameDay ? `${a.slice(11)} – ${b.slice(11)}` : `${a.slice(11)} – ${b}`;
  return `<div>${a.slice(0, 10)}</div><div class="nw"><b>${range}</b> UTC</div><div class="faint">${f.slots.length} slot${f.slots.length > 1 ? 's' : ''}</div>`;
}

function hostChips(hosts: string[], max = 8): string {
  const shown = hosts.slice(0, max).map((h) => `<span class="chip">${esc(h)}</span>`);
  if (hosts.length > max) shown.push(`<span class="faint">+${hosts.length - max} more</span>`);
  return shown.join('');
}

function examplesTable(f: Finding): string {
  if (!f.examples.length) return '';
  const rows = f.examples
    .map(
      (e) =>
        `<tr><td>${esc(utc(e.ts_start).slice(11))}</td><td>${e.l4}</td><td>${esc(e.src)}:${e.sport}</td><td>→ ${esc(e.dst)}:${e.dport}</td><td>${esc(e.app ?? '–')}</td><td class="n">${e.pkts_out}/${e.bytes_out} B</td><td class="n">${e.pkts_in}/${e.bytes_in} B</td><td>${e.answered ? 'answered' : '<span class="flag">unanswered</span>'}</td></tr>`,
    )
    .join('');
  return `<table class="examples"><tr><th>time</th><th>l4</th><th>initiator</th><th>responder</th><th>app</th><th class="n">out pkts/bytes</th><th class="n">in pkts/bytes</th><th></th></tr>${rows}</table>`;
}

function findingsSection(r: AnalysisResult): string {
  if (!r.findings.length) {
    return `<section class="card"><h2>Findings <small>none: no domain rule matched</small></h2><p class="muted">Every metric still has its noise region (the parameter search aims at ${pct(r.params.noise.target)} noise), but no host shows a known P2P behaviour.</p></section>`;
  }
  const rows = r.findings
    .map(
      (f) => `<tr>
<td><span class="sev ${f.severity}">${f.severity}</span></td>
<td><b>${esc(f.title)}</b><div class="muted">${esc(f.summary)}</div>
<details><summary>evidence and example flows</summary><pre>${esc(JSON.stringify(f.evidence, null, 2))}</pre>${examplesTable(f)}</details></td>
<td>${hostChips(f.hosts)}</td>
<td>${slotSpan(f, r.params.slotSec)}</td>
<td>${f.metrics.map((m) => `<span class="chip">${esc(m)}</span>`).join(' ') || '<span class="faint">flow rule</span>'}</td>
</tr>`,
    )
    .join('');
  return `<section class="card"><h2>Findings <small>${r.findings.length} by domain rules</small></h2>
<table><tr><th>severity</th><th>finding</th><th>hosts</th><th>when</th><th>supporting metrics</th></tr>${rows}</table></section>`;
}

function metricCard(m: MetricReport): string {
  const s = m.search;
  const legend: string[] = m.clusters.map(
    (c, k) =>
      `<span><span class="sw" style="background:${clusterColor(m, k)}"></span>C${k + 1} [${num(c.lo)}, ${num(c.hi)}] ${pct(c.share)}${c.pattern ? ` <b class="flag">${esc(c.pattern)}</b>` : ''}</span>`,
  );
  if (m.noise.count) legend.push(`<span><span class="sw" style="background:${NOISE_COLOR}"></span>noise ${pct(m.noise.share)}</span>`);
  const params = s
    ? s.degenerate
      ? `<span>all ${m.n} values equal: one cluster, no noise</span>`
      : `<span>ε <b>${num(s.eps)}</b></span><span>MinPts <b>${s.minPts}</b></span><span>noise <b>${pct(s.noiseFraction)}</b>${s.inBand ? '' : ' <span class="flag">outside band</span>'}</span><span>${s.runs} runs</span>`
    : `<span>${esc(m.skipped ?? '')}</span>`;
  const i = m.interesting;
  const conc = i.count
    ? `<span>interesting <b>${i.count}</b> (${esc(i.region)})</span><span>90 % from <b>${i.hosts90}</b> of ${i.hosts} hosts (${pct(i.fraction90)})</span>`
    : `<span>no interesting samples</span>`;
  return `<div class="card metric" id="m-${esc(m.id)}">
<h3><span><span class="l4 ${m.proto}">${m.proto.toUpperCase()}</span>${esc(m.name)}</span><span class="faint">n = ${m.n}</span></h3>
<div class="def">${esc(m.definition)}</div>
${histogramSvg(m)}
<div class="legend">${legend.join('')}</div>
<div class="kv">${params}</div>
<div class="kv">${conc}</div>
</div>`;
}

function hostSection(r: AnalysisResult): string {
  const maxInteresting = Math.max(1, ...r.hosts.map((h) => h.interesting));
  const rows = r.hosts
    .slice(0, HTML_HOST_ROWS)
    .map(
      (h) => `<tr><td><span class="chip">${esc(h.host)}</span></td><td class="n">${h.samples}</td><td class="n">${h.flowsOut}</td><td class="n">${h.flowsIn}</td><td class="n">${num(h.bytesSent)}</td><td class="n">${num(h.bytesRcvd)}</td><td class="n nw">${h.interesting}<span class="bar" style="width:${Math.max(2, Math.round((60 * h.interesting) / maxInteresting))}px"></span></td>
<td class="pm">${h.persistentMetrics.length ? `<b>${h.persistentMetrics.length}</b> <span class="faint">${esc(h.persistentMetrics.slice(0, 4).join(', '))}${h.persistentMetrics.length > 4 ? ', …' : ''}</span>` : '<span class="faint">0</span>'}</td>
<td>${h.findings.map((f) => `<span class="chip rule">${esc(f)}</span>`).join(' ')}</td></tr>`,
    )
    .join('');
  const more = r.hosts.length > HTML_HOST_ROWS ? `<p class="faint">${r.hosts.length - HTML_HOST_ROWS} more hosts in the JSON output.</p>` : '';
  return `<section class="card"><h2>Hosts <small>${r.hosts.length} local hosts, most findings first; interesting = (sample, metric) pairs in an interesting region</small></h2>
<table><tr><th>host</th><th class="n">samples</th><th class="n">flows out</th><th class="n">flows in</th><th class="n">bytes sent</th><th class="n">bytes rcvd</th><th class="n">interesting</th><th>persistent metrics (≥ 50 % of its samples)</th><th>findings</th></tr>${rows}</table>${more}</section>`;
}

/** Renders the whole report. */
export function renderReport(r: AnalysisResult): string {
  const sev = (s: string): number => r.findings.filter((f) => f.severity === s).length;
  const cards = [
    ['flows', `${num(r.input.localFlows)}`, `of ${num(r.input.flows)} with a local host`],
    ['hosts', String(r.summary.hosts), `in ${r.params.local.join(', ')}`],
    ['samples', num(r.summary.samples), `${r.summary.slots} slots of ${r.params.slotSec} s`],
    ['metrics', `${r.summary.clustered}/${r.summary.metrics}`, 'clustered with DBSCAN'],
    ['findings', String(r.findings.length), `${sev('high')} high · ${sev('medium')} medium · ${sev('low')} low`],
    ['noise target', pct(r.params.noise.target), `band ${pct(r.params.noise.lo)} – ${pct(r.params.noise.hi)}`],
  ]
    .map(([k, v, sub]) => `<div class="card stat"><div class="k">${esc(k)}</div><div class="v">${esc(v)}</div><div class="faint">${esc(sub)}</div></div>`)
    .join('');
  const files = r.input.files.length ? r.input.files.map((f) => f.split('/').pop()!).join(', ') : '(in memory)';
  const legend = `<span><span class="sw" style="background:${CLUSTER_COLORS[0]}"></span>cluster</span><span><span class="sw" style="background:${INTERESTING_COLOR}"></span>interesting cluster (known pattern or minor)</span><span><span class="sw" style="background:${NOISE_COLOR}"></span>noise</span>`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>p2pgw analyze: P2P host behaviour</title><style>${CSS}</style></head>
<body>
<header><h1>P2P host behaviour</h1>
<p>${esc(`${files} · ${r.input.kind === 'capture' ? 'replayed captures (flows end after 64 s idle)' : r.input.kind === 'collector' ? 'collector records (stitched at 64 s gaps)' : 'flow records'} · ${utc(r.summary.firstSlot)} – ${utc(r.summary.lastSlot === null ? null : r.summary.lastSlot + r.params.slotSec)} UTC`)}</p>
<p>${esc(`local ${r.params.local.join(', ')}${r.params.isp ? ` · ISP ${r.params.isp.join(', ')}` : ''} · slot ΔT = ${r.params.slotSec} s · metrics per host and slot, each clustered alone with 1-D DBSCAN`)}</p></header>
<main>
<div class="cards">${cards}</div>
${findingsSection(r)}
<section><h2>Metrics <small>histograms of the host samples; bars coloured by DBSCAN cluster</small></h2>
<div class="legend" style="margin-bottom:10px">${legend}</div>
<div class="grid">${r.metrics.map(metricCard).join('\n')}</div></section>
${hostSection(r)}
<footer>p2pgw analyze · host-behaviour metrics and per-metric DBSCAN parameter search after the ISP P2P behaviour study (ε from 10 % of the range, MinPts from 50 % of the samples, lowered until the noise is in the band, then ε lowered while it stays there)</footer>
</main></body></html>
`;
}
