/**
 * Self-contained SVG charts (no scripts, no external resources) for the observation reports:
 * the per-metric cluster histogram of `p2pgw analyze` and the packet-size distribution chart of
 * `p2pgw profile`. Text is XML-escaped; numbers are formatted with SI suffixes.
 */
import type { MetricReport } from './analyze.js';
import type { TrafficProfile } from '../profile.js';
import { PROFILE_BINS } from '../profile.js';

/** Escapes text for XML/HTML element content and attribute values. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Compact number: 3 significant digits, k/M/G suffixes from 10 000 up (e.g. 12.3k, 4.56M). */
export function num(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 1e9) return `${+(x / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(x / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(x / 1e3).toPrecision(3)}k`;
  if (a >= 100 || Number.isInteger(x)) return String(Math.round(x));
  return String(+x.toPrecision(3));
}

/** Percentage with one decimal. */
export const pct = (f: number | null | undefined): string => (f === null || f === undefined ? '–' : `${(100 * f).toFixed(1)} %`);

/** Cluster colours (cluster k uses CLUSTER_COLORS[k % n]); noise and interesting clusters. */
export const CLUSTER_COLORS = ['#4e79a7', '#59a14f', '#76b7b2', '#b07aa1', '#9c755f', '#edc948', '#bab0ac'];
export const NOISE_COLOR = '#e15759';
export const INTERESTING_COLOR = '#f28e2b';

/** Colour of cluster `c` of `m` (interesting clusters are orange). */
export function clusterColor(m: MetricReport, k: number): string {
  return m.clusters[k]?.interesting ? INTERESTING_COLOR : CLUSTER_COLORS[k % CLUSTER_COLORS.length];
}

/**
 * Histogram of one metric's samples over [min, max], bars stacked by DBSCAN label (clusters in
 * their colours, noise red), on a log(1 + count) scale so that sparse noise stays visible.
 * The `<svg>` has class `hist` and `data-metric` = the metric id.
 * @param w, h size in px
 */
export function histogramSvg(m: MetricReport, w = 360, h = 150): string {
  const pad = { l: 34, r: 8, t: 8, b: 26 };
  const iw = w - pad.l - pad.r;
  const ih = h - pad.t - pad.b;
  const open = `<svg class="hist" data-metric="${esc(m.id)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${esc(`histogram of ${m.id}`)}">`;
  if (!m.histogram) {
    return `${open}<rect x="0" y="0" width="${w}" height="${h}" fill="#f6f7f9" rx="6"/><text x="${w / 2}" y="${h / 2}" text-anchor="middle" font-size="12" fill="#8a94a6">${esc(m.skipped ?? 'no samples')}</text></svg>`;
  }
  const { counts, lo, hi } = m.histogram;
  const totals = counts.map((c) => c.reduce((a, b) => a + b, 0));
  const maxT = Math.max(1, ...totals);
  const scale = (n: number): number => (Math.log1p(n) / Math.log1p(maxT)) * ih;
  const bw = iw / counts.length;
  const parts: string[] = [open];
  parts.push(`<rect x="${pad.l}" y="${pad.t}" width="${iw}" height="${ih}" fill="#fbfcfd"/>`);
  for (const g of [10, 100, 1000, 10000, 100000]) {
    if (g > maxT) break;
    const y = pad.t + ih - scale(g);
    parts.push(`<line x1="${pad.l}" x2="${pad.l + iw}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#e6e9ef" stroke-width="1"/>`);
    parts.push(`<text x="${pad.l - 4}" y="${(y + 3).toFixed(1)}" text-anchor="end" font-size="9" fill="#8a94a6">${num(g)}</text>`);
  }
  counts.forEach((c, b) => {
    const total = totals[b];
    if (!total) return;
    const full = scale(total);
    let y = pad.t + ih;
    const x = pad.l + b * bw + 0.5;
    c.forEach((n, k) => {
      if (!n) return;
      const part = (full * n) / total;
      y -= part;
      const noise = k === c.length - 1;
      const fill = noise ? NOISE_COLOR : clusterColor(m, k);
      const binLo = lo + ((hi - lo) * b) / counts.length;
      const title = `${noise ? 'noise' : `cluster ${k + 1}`}: ${n} sample(s) in [${num(binLo)}, ${num(binLo + (hi - lo) / counts.length)})`;
      parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(1, bw - 1).toFixed(1)}" height="${Math.max(0.8, part).toFixed(1)}" fill="${fill}"><title>${esc(title)}</title></rect>`);
    });
  });
  parts.push(`<line x1="${pad.l}" x2="${pad.l + iw}" y1="${pad.t + ih}" y2="${pad.t + ih}" stroke="#9aa4b5"/>`);
  const ticks = hi > lo ? [lo, (lo + hi) / 2, hi] : [lo];
  ticks.forEach((t, i) => {
    const x = hi > lo ? pad.l + ((t - lo) / (hi - lo)) * iw : pad.l + iw / 2;
    const anchor = ticks.length === 1 ? 'middle' : i === 0 ? 'start' : i === ticks.length - 1 ? 'end' : 'middle';
    parts.push(`<text x="${x.toFixed(1)}" y="${h - 10}" text-anchor="${anchor}" font-size="10" fill="#5b6475">${esc(num(t))}</text>`);
  });
  parts.push(`<text x="${pad.l + iw}" y="${h - 1}" text-anchor="end" font-size="9" fill="#8a94a6">${esc(m.unit)} · count on log scale</text>`);
  parts.push('</svg>');
  return parts.join('');
}

/**
 * Packet-size distribution chart of a profile: one group (panel) per application with one bar
 * per PROFILE_BINS bin, height = share of the application's packets; the header line of each
 * group gives flows/s, packets/s and the mean size. Stand-alone SVG document (XML declaration).
 */
export function profileSvg(p: TrafficProfile): string {
  const apps = p.apps.length ? p.apps : [p.total];
  const w = 760;
  const panelH = 150;
  const top = 54;
  const h = top + apps.length * panelH + 16;
  const pad = { l: 56, r: 20 };
  const iw = w - pad.l - pad.r;
  const bw = iw / PROFILE_BINS.length;
  const o: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<rect width="${w}" height="${h}" fill="#ffffff"/>`,
    `<text x="20" y="26" font-size="17" font-weight="bold" fill="#1d2433">Packet-size distribution per application</text>`,
    `<text x="20" y="44" font-size="11" fill="#5b6475">${esc(`sizes ${p.sourceLabel} · ${p.flowTimeoutSec === null ? 'flows as recorded' : `flows end after ${p.flowTimeoutSec} s idle`} · observed ${p.observedSec.toFixed(1)} s`)}</text>`,
  ];
  apps.forEach((a, gi) => {
    const y0 = top + gi * panelH;
    const ih = panelH - 58;
    const base = y0 + 26 + ih;
    const color = CLUSTER_COLORS[gi % CLUSTER_COLORS.length];
    o.push(`<g class="app" data-app="${esc(a.app)}">`);
    o.push(`<text x="20" y="${y0 + 16}" font-size="13" font-weight="bold" fill="#1d2433">${esc(a.app)}</text>`);
    o.push(
      `<text x="${w - pad.r}" y="${y0 + 16}" text-anchor="end" font-size="11" fill="#5b6475">${esc(
        `${a.flows} flows (${num(a.flowsPerSec)}/s) · ${a.packets} pkts (${num(a.pktsPerSec)}/s) · mean ${num(a.avgPktSize)} B`,
      )}</text>`,
    );
    for (const g of [0.25, 0.5, 0.75, 1]) {
      const y = base - g * ih;
      o.push(`<line x1="${pad.l}" x2="${w - pad.r}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#eceff4"/>`);
      o.push(`<text x="${pad.l - 6}" y="${(y + 3).toFixed(1)}" text-anchor="end" font-size="9" fill="#8a94a6">${g * 100}%</text>`);
    }
    a.bins.forEach((n, i) => {
      const share = a.packets ? n / a.packets : 0;
      const bh = share * ih;
      const x = pad.l + i * bw + 6;
      o.push(`<rect x="${x.toFixed(1)}" y="${(base - bh).toFixed(1)}" width="${(bw - 12).toFixed(1)}" height="${Math.max(share > 0 ? 1 : 0, bh).toFixed(1)}" fill="${color}" rx="2"><title>${esc(`${a.app}: ${n} packets of ${PROFILE_BINS[i][0]}–${PROFILE_BINS[i][1]} B (${pct(share)})`)}</title></rect>`);
      if (share > 0) o.push(`<text x="${(x + (bw - 12) / 2).toFixed(1)}" y="${(base - bh - 3).toFixed(1)}" text-anchor="middle" font-size="9" fill="#394150">${(100 * share).toFixed(1)}%</text>`);
      o.push(`<text x="${(x + (bw - 12) / 2).toFixed(1)}" y="${base + 13}" text-anchor="middle" font-size="10" fill="#5b6475">${PROFILE_BINS[i][0]}–${PROFILE_BINS[i][1]}</text>`);
    });
    o.push(`<line x1="${pad.l}" x2="${w - pad.r}" y1="${base}" y2="${base}" stroke="#9aa4b5"/>`);
    o.push('</g>');
  });
  o.push('</svg>');
  return o.join('\n') + '\n';
}
