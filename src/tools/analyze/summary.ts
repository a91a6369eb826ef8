/**
 * Plain-text summary of an analysis (what `p2pgw analyze` prints): parameters, one line per metric
 * with the DBSCAN parameters found, the clusters, the noise and the concentration of the
 * interesting samples, then the findings with their hosts.
 */
import type { AnalysisResult } from './analyze.js';
import { num, pct } from './charts.js';

/** Formats a text table: first column left-aligned, others right-aligned. */
export function textTable(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 || i === r.length - 1 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/** The summary text, newline-terminated. */
export function analysisText(r: AnalysisResult): string {
  const out: string[] = [];
  const when = (t: number | null): string => (t === null ? '-' : new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' '));
  out.push(
    `Analyzed ${r.input.localFlows} of ${r.input.flows} flows (${r.input.kind === 'capture' ? 'replayed, 64 s flow timeout' : r.input.kind === 'collector' ? 'collector records, stitched at 64 s gaps' : 'flow records'}): ` +
      `${r.summary.hosts} local hosts, ${r.summary.samples} host samples in ${r.summary.slots} slots of ${r.params.slotSec} s (${when(r.summary.firstSlot)} .. ${when(r.summary.lastSlot)} UTC)`,
  );
  out.push(`local ${r.params.local.join(',')}${r.params.isp ? `; ISP ${r.params.isp.join(',')}` : ''}; noise target ${pct(r.params.noise.target)} (band ${pct(r.params.noise.lo)}-${pct(r.params.noise.hi)})`);
  out.push('');
  const rows = r.metrics.map((m) => {
    const s = m.search;
    const clusters = m.clusters.map((c) => `[${num(c.lo)},${num(c.hi)}] ${(100 * c.share).toFixed(0)}%${c.pattern ? ` (${c.pattern})` : ''}`).join(' ');
    return [
      m.id,
      String(m.n),
      s ? num(s.eps) : '-',
      s ? String(s.minPts) : '-',
      s ? pct(s.noiseFraction) : '-',
      String(m.interesting.count),
      m.interesting.count ? `${m.interesting.hosts90}/${m.interesting.hosts}` : '-',
      m.skipped ?? (s?.degenerate ? 'all values equal' : clusters),
    ];
  });
  out.push(textTable(['metric', 'n', 'eps', 'MinPts', 'noise', 'interesting', 'hosts90', 'clusters'], rows));
  out.push('');
  if (!r.findings.length) out.push('Findings: none.');
  else {
    out.push(`Findings (${r.findings.length}):`);
    for (const f of r.findings) {
      out.push(`- [${f.severity}] ${f.rule}: ${f.title}`);
      out.push(`    ${f.summary}`);
      out.push(`    hosts: ${f.hosts.slice(0, 10).join(', ')}${f.hosts.length > 10 ? ` (+${f.hosts.length - 10})` : ''}; slots: ${f.slots.length}${f.metrics.length ? `; metrics: ${f.metrics.join(', ')}` : ''}`);
    }
  }
  return out.join('\n') + '\n';
}
