/**
 * `p2pgw analyze`: host-behaviour metrics and per-metric DBSCAN parameter search after the ISP
 * P2P behaviour study, then domain-rule findings (findings.ts).
 *
 * Steps: flows → host samples per slot (metrics.ts) → for every metric with at least `minSamples`
 * defined values, 1-D DBSCAN with the study's parameter search (dbscan.ts) → the interesting
 * region of each metric → findings and the host table.
 *
 * Interesting region of a metric: its noise samples; and, when DBSCAN found two or more clusters,
 * also the clusters that match the metric's known pattern (e.g. the `selfish` cluster of
 * ratio-bytes-sent-to-rcvd, median ≤ −0.9), which are named in the report, and the `minor
 * cluster`s: clusters other than the largest that hold less than the noise band's upper bound
 * (10 % by default) of the samples, i.e. outlying groups. Concentration of a
 * metric: the fewest hosts that together hold 90 % of its interesting samples, as a count and as a
 * fraction of the hosts that have samples of the metric.
 */
import { DEFAULTS } from '../../core/defaults.js';
import type { FlowRecord } from '../../observe/flowrecord.js';
import { CidrSet, type Cidr } from './cidr.js';
import { searchParameters, Sorted1d, type SearchResult, type SearchStep } from './dbscan.js';
import { buildSamples, type MetricDef, type SampleSet } from './metrics.js';
import { findFindings, type Finding, type RuleOptions } from './findings.js';
import type { Interesting } from './rules-common.js';

/** Options of analyzeFlows. */
export interface AnalyzeOptions {
  /** Local address space (required, at least one prefix). */
  local: Cidr[];
  /** ISP address space: adds ISP-to-Internet-ratio. */
  isp?: Cidr[];
  /** Slot length ΔT, seconds (default DEFAULTS.analyze.slotSec, 300). */
  slotSec?: number;
  /** Target noise fraction of the parameter search (default DEFAULTS.analyze.noise, 0.06; band target/3 .. 5·target/3). */
  noise?: number;
  /** Metrics with fewer defined samples are not clustered (default DEFAULTS.analyze.minSamples, 10). */
  minSamples?: number;
  /** Histogram bins per metric in the report (default DEFAULTS.analyze.histogramBins, 40). */
  histogramBins?: number;
  /** Thresholds of the domain rules. */
  rules?: Partial<RuleOptions>;
  /** Names of the input files (for the report). */
  files?: string[];
  /**
   * `capture` when the flows came from replaying captures (64 s idle), `collector` from collector
   * files (records stitched at 64 s gaps, ./collector.ts), else `records`.
   */
  inputKind?: 'capture' | 'records' | 'collector';
}

/** One cluster in a metric report. */
export interface ClusterReport {
  id: number;
  lo: number;
  hi: number;
  median: number;
  count: number;
  share: number;
  /** Name of the known pattern it matches (then it is interesting), if any. */
  pattern: string | null;
  interesting: boolean;
}

/** Everything reported about one metric. */
export interface MetricReport {
  id: string;
  proto: 'tcp' | 'udp';
  name: string;
  unit: string;
  definition: string;
  /** Samples where the metric is defined, and their range. */
  n: number;
  min: number | null;
  max: number | null;
  /** Why the metric was not clustered (too few samples), or null. */
  skipped: string | null;
  search: {
    eps: number;
    minPts: number;
    noiseFraction: number;
    inBand: boolean;
    band: { target: number; lo: number; hi: number };
    runs: number;
    degenerate: string | null;
    trace: SearchStep[];
  } | null;
  clusters: ClusterReport[];
  noise: { count: number; share: number };
  interesting: {
    region: 'noise' | 'noise + named clusters' | 'none';
    count: number;
    share: number;
    hosts: number;
    /** Fewest hosts holding 90 % of the interesting samples, and that as a fraction of all hosts of the metric. */
    hosts90: number;
    fraction90: number | null;
  };
  /** Histogram over [min, max]: `counts[bin][k]` for cluster k, last entry = noise. */
  histogram: { lo: number; hi: number; counts: number[][] } | null;
}

/** Per-host summary. */
export interface HostRow {
  host: string;
  samples: number;
  flowsOut: number;
  flowsIn: number;
  bytesSent: number;
  bytesRcvd: number;
  /** (sample, metric) pairs in an interesting region. */
  interesting: number;
  /** Metrics where at least half of the host's samples are interesting. */
  persistentMetrics: string[];
  findings: string[];
}

/** The whole analysis (the JSON output). */
export interface AnalysisResult {
  tool: 'p2pgw analyze';
  params: {
    local: string[];
    isp: string[] | null;
    slotSec: number;
    noise: { target: number; lo: number; hi: number };
    minSamples: number;
    rules: RuleOptions;
  };
  input: { kind: 'capture' | 'records' | 'collector'; files: string[]; flows: number; localFlows: number; ignoredFlows: number; flowTimeoutSec: number | null };
  summary: { hosts: number; samples: number; slots: number; firstSlot: number | null; lastSlot: number | null; metrics: number; clustered: number; findings: number };
  metrics: MetricReport[];
  findings: Finding[];
  hosts: HostRow[];
}

/** The defined values of metric `mi` and the indexes of their samples. */
function definedValues(set: SampleSet, mi: number): { idx: number[]; vals: number[] } {
  const idx: number[] = [];
  const vals: number[] = [];
  set.samples.forEach((s, i) => {
    const v = s.values[mi];
    if (v !== null && Number.isFinite(v)) {
      idx.push(i);
      vals.push(v);
    }
  });
  return { idx, vals };
}

/** The report of a metric before clustering: its definition, sample count and range. */
function baseReport(set: SampleSet, m: MetricDef, idx: readonly number[], vals: readonly number[]): MetricReport {
  const n = vals.length;
  return {
    id: m.id,
    proto: m.proto,
    name: m.name,
    unit: m.unit,
    definition: m.definition,
    n,
    min: n ? vals.reduce((a, b) => (b < a ? b : a)) : null,
    max: n ? vals.reduce((a, b) => (b > a ? b : a)) : null,
    skipped: null,
    search: null,
    clusters: [],
    noise: { count: 0, share: 0 },
    interesting: { region: 'none', count: 0, share: 0, hosts: new Set(idx.map((i) => set.samples[i].host)).size, hosts90: 0, fraction90: null },
    histogram: null,
  };
}

/** The clusters of a search result, with the known patterns and minor clusters named (interesting). */
function clusterReports(sr: SearchResult, m: MetricDef, n: number): ClusterReport[] {
  const r = sr.result;
  const multi = r.clusters.length >= 2;
  const largestCount = Math.max(0, ...r.clusters.map((c) => c.count));
  return r.clusters.map((c) => {
    let pattern = multi && m.pattern?.test(c.median) ? m.pattern.name : null;
    if (!pattern && multi && c.count < largestCount && c.count / n < sr.band.hi) pattern = 'minor cluster';
    return { id: c.id, lo: c.lo, hi: c.hi, median: c.median, count: c.count, share: c.count / n, pattern, interesting: !!pattern };
  });
}

/**
 * Flags the samples in the metric's interesting region (noise and named clusters; `high` when above
 * the largest cluster's median) and sets `rep.interesting`.
 */
function markInteresting(
  rep: MetricReport,
  sr: SearchResult,
  set: SampleSet,
  { idx, vals }: { idx: readonly number[]; vals: readonly number[] },
  flags: Uint8Array,
  high: Uint8Array,
): void {
  const r = sr.result;
  const n = vals.length;
  const largest = r.clusters.reduce((a, c) => (!a || c.count > a.count ? c : a), r.clusters[0]);
  const perHost = new Map<string, number>();
  let count = 0;
  for (let k = 0; k < n; k++) {
    const l = r.labels[k];
    if (l >= 0 && !rep.clusters[l].interesting) continue;
    const i = idx[k];
    flags[i] = 1;
    if (largest && vals[k] > largest.median) high[i] = 1;
    count++;
    const h = set.samples[i].host;
    perHost.set(h, (perHost.get(h) ?? 0) + 1);
  }
  const named = rep.clusters.some((c) => c.interesting);
  const desc = [...perHost.values()].sort((a, b) => b - a);
  let acc = 0;
  let hosts90 = 0;
  for (const c of desc) {
    if (acc >= 0.9 * count) break;
    acc += c;
    hosts90++;
  }
  rep.interesting = {
    region: count === 0 && !named ? 'none' : named ? 'noise + named clusters' : 'noise',
    count,
    share: count / n,
    hosts: rep.interesting.hosts,
    hosts90,
    fraction90: count ? hosts90 / rep.interesting.hosts : null,
  };
}

/** Histogram over [min, max] of the sorted values: per bin, counts per cluster and (last) noise. */
function histogram(sorted: Sorted1d, vals: readonly number[], labels: ArrayLike<number>, clusters: number, bins: number): MetricReport['histogram'] {
  const n = vals.length;
  const lo = sorted.v[0];
  const range = sorted.v[n - 1] - lo;
  const width = range / bins || 1;
  const counts = Array.from({ length: range > 0 ? bins : 1 }, () => new Array<number>(clusters + 1).fill(0));
  for (let k = 0; k < n; k++) {
    const b = range > 0 ? Math.min(bins - 1, Math.floor((vals[k] - lo) / width)) : 0;
    const l = labels[k];
    counts[b][l >= 0 ? l : clusters]++;
  }
  return { lo, hi: sorted.v[n - 1], counts };
}

/** Clusters one metric; fills the report and the flags. */
function clusterMetric(
  set: SampleSet,
  mi: number,
  m: MetricDef,
  opts: { target: number; minSamples: number; bins: number },
  flags: Uint8Array,
  high: Uint8Array,
): MetricReport {
  const values = definedValues(set, mi);
  const { idx, vals } = values;
  const n = vals.length;
  const rep = baseReport(set, m, idx, vals);
  if (n < opts.minSamples) {
    rep.skipped = `too few samples (${n} < ${opts.minSamples})`;
    return rep;
  }
  const sorted = new Sorted1d(vals);
  const range = sorted.v[n - 1] - sorted.v[0];
  const sr = searchParameters(sorted, { target: opts.target, epsFloor: Math.max(m.resolution, range * 1e-4) });
  rep.search = {
    eps: sr.eps,
    minPts: sr.minPts,
    noiseFraction: sr.noiseFraction,
    inBand: sr.inBand,
    band: sr.band,
    runs: sr.steps.length,
    degenerate: sr.degenerate ?? null,
    trace: sr.steps,
  };
  rep.clusters = clusterReports(sr, m, n);
  rep.noise = { count: sr.result.noiseCount, share: sr.result.noiseCount / n };
  markInteresting(rep, sr, set, values, flags, high);
  rep.histogram = histogram(sorted, vals, sr.result.labels, sr.result.clusters.length, opts.bins);
  return rep;
}

/**
 * Runs the whole analysis.
 * @param records flow records (from files or replay)
 * @throws P2pgwError(P2PGW_ERR_USAGE) without a local prefix; RangeError for a bad slot or noise
 */
export function analyzeFlows(records: readonly FlowRecord[], opts: AnalyzeOptions): AnalysisResult {
  if (!opts.local.length) throw new RangeError('analyze needs at least one --local prefix');
  const target = opts.noise ?? DEFAULTS.analyze.noise;
  if (!(target > 0 && target < 0.5)) throw new RangeError(`noise target must be in (0, 0.5), got ${target}`);
  const minSamples = opts.minSamples ?? DEFAULTS.analyze.minSamples;
  const local = new CidrSet(opts.local);
  const isp = opts.isp?.length ? new CidrSet(opts.isp) : undefined;
  const set = buildSamples(records, { local, isp, slotSec: opts.slotSec ?? DEFAULTS.analyze.slotSec });
  const ns = set.samples.length;
  const interesting: Interesting = { flags: [], high: [] };
  const metrics = set.metrics.map((m, mi) => {
    const f = new Uint8Array(ns);
    const h = new Uint8Array(ns);
    interesting.flags.push(f);
    interesting.high.push(h);
    return clusterMetric(set, mi, m, { target, minSamples, bins: opts.histogramBins ?? DEFAULTS.analyze.histogramBins }, f, h);
  });
  const rules: RuleOptions = { ...DEFAULTS.analyze.rules, ...opts.rules };
  const findings = findFindings(records, set, interesting, { local, rules });
  const hosts = hostTable(set, interesting, findings);
  const slots = new Set(set.samples.map((s) => s.slot));
  const band = metrics.find((m) => m.search)?.search?.band ?? { target, lo: target / 3, hi: (5 * target) / 3 };
  return {
    tool: 'p2pgw analyze',
    params: { local: opts.local.map((c) => c.text), isp: opts.isp?.map((c) => c.text) ?? null, slotSec: set.slotSec, noise: band, minSamples, rules },
    input: {
      kind: opts.inputKind ?? 'records',
      files: opts.files ?? [],
      flows: set.flows.total,
      localFlows: set.flows.local,
      ignoredFlows: set.flows.ignored,
      flowTimeoutSec: opts.inputKind === 'capture' || opts.inputKind === 'collector' ? 64 : null,
    },
    summary: {
      hosts: set.hosts.length,
      samples: ns,
      slots: slots.size,
      firstSlot: ns ? set.samples[0].slot : null,
      lastSlot: ns ? set.samples[ns - 1].slot : null,
      metrics: metrics.length,
      clustered: metrics.filter((m) => m.search).length,
      findings: findings.length,
    },
    metrics,
    findings,
    hosts,
  };
}

/** The host table: every host with samples, most findings and interesting samples first. */
function hostTable(set: SampleSet, it: Interesting, findings: Finding[]): HostRow[] {
  const rows = new Map<string, HostRow & { perMetric: number[]; definedPerMetric: number[] }>();
  const nm = set.metrics.length;
  set.samples.forEach((s, i) => {
    let r = rows.get(s.host);
    if (!r) {
      r = { host: s.host, samples: 0, flowsOut: 0, flowsIn: 0, bytesSent: 0, bytesRcvd: 0, interesting: 0, persistentMetrics: [], findings: [], perMetric: new Array(nm).fill(0), definedPerMetric: new Array(nm).fill(0) };
      rows.set(s.host, r);
    }
    r.samples++;
    r.flowsOut += s.startedOut;
    r.flowsIn += s.startedIn;
    r.bytesSent += s.bytesSent.tcp + s.bytesSent.udp;
    r.bytesRcvd += s.bytesRcvd.tcp + s.bytesRcvd.udp;
    for (let m = 0; m < nm; m++) {
      if (s.values[m] === null) continue;
      r.definedPerMetric[m]++;
      if (it.flags[m][i]) {
        r.interesting++;
        r.perMetric[m]++;
      }
    }
  });
  for (const f of findings) for (const h of f.hosts) rows.get(h)?.findings.push(f.rule);
  const out: HostRow[] = [];
  for (const r of rows.values()) {
    const persistentMetrics = set.metrics.filter((_, m) => r.definedPerMetric[m] >= 3 && r.perMetric[m] >= 0.5 * r.definedPerMetric[m]).map((m) => m.id);
    const { perMetric: _p, definedPerMetric: _d, ...row } = r;
    out.push({ ...row, bytesSent: Math.round(row.bytesSent), bytesRcvd: Math.round(row.bytesRcvd), persistentMetrics, findings: [...new Set(row.findings)] });
  }
  return out.sort((a, b) => b.findings.length - a.findings.length || b.interesting - a.interesting || (a.host < b.host ? -1 : 1));
}
