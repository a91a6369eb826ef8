/**
 * Exact one-dimensional DBSCAN (Ester, Kriegel, Sander, Xu, KDD 1996) in O(n log n), and the
 * per-metric parameter search of the ISP P2P behaviour study (each host metric is clustered on its
 * own, on its natural scale, with distance |a − b|).
 *
 * DBSCAN definitions used (as the paper and scikit-learn's `min_samples`): the ε-neighbourhood of
 * a point holds every point q with |p − q| ≤ ε, the point itself included; p is a core point when
 * its neighbourhood holds ≥ MinPts points. Clusters are the connected components of core points
 * under "within ε"; a non-core point within ε of a core point is a border point of that core's
 * cluster (of the nearest core when two clusters reach it: DBSCAN leaves this case to visiting
 * order); every other point is noise.
 *
 * In one dimension on sorted values: neighbourhood sizes come from two moving pointers, and two
 * cores are in one cluster exactly when no gap > ε separates consecutive cores between them. So
 * after one sort per metric, each run is O(n). The results are checked in the tests against a
 * brute-force O(n²) DBSCAN and the density-clustering package.
 */
import { DEFAULTS } from '../../core/defaults.js';

/**
 * Values sorted once, reused by every DBSCAN run of a parameter search. Equal values always get
 * the same label (same neighbourhood, same nearest core), so a label is looked up by value:
 * `position(x)` is the first sorted position holding x.
 */
export class Sorted1d {
  /** Sorted values (ascending). */
  readonly v: Float64Array;
  /** The input values, in input order. */
  readonly input: Float64Array;
  constructor(values: ArrayLike<number>) {
    this.input = Float64Array.from(values);
    this.v = Float64Array.from(values).sort();
  }
  get length(): number {
    return this.v.length;
  }
  /** First sorted position whose value is ≥ x (binary search). */
  position(x: number): number {
    let a = 0;
    let b = this.v.length;
    while (a < b) {
      const m = (a + b) >>> 1;
      if (this.v[m] < x) a = m + 1;
      else b = m;
    }
    return a;
  }
}

/** One cluster: value range and size. Clusters are numbered 0.. in ascending value order. */
export interface Cluster1d {
  id: number;
  lo: number;
  hi: number;
  count: number;
  /** Median value of the cluster's points. */
  median: number;
}

/** Result of one DBSCAN run. */
export interface Dbscan1dResult {
  eps: number;
  minPts: number;
  /** Per input index: cluster id, or -1 for noise (computed on first use). */
  readonly labels: Int32Array;
  /** Per input index: 1 for a core point (computed on first use). */
  readonly core: Uint8Array;
  /** Per sorted position: cluster id or -1, and core flag. */
  sortedLabels: Int32Array;
  sortedCore: Uint8Array;
  clusters: Cluster1d[];
  noiseCount: number;
}

/** Maps per-sorted-position arrays back to input order (equal values share a position). */
function toInput<T extends Int32Array | Uint8Array>(s: Sorted1d, sorted: T, make: (n: number) => T): T {
  const out = make(s.length);
  for (let i = 0; i < s.length; i++) out[i] = sorted[s.position(s.input[i])];
  return out;
}

/**
 * Runs DBSCAN on sorted values.
 * @param s the values, sorted (Sorted1d)
 * @param eps neighbourhood radius, in the values' unit (≥ 0)
 * @param minPts core threshold, points including itself (≥ 1)
 */
export function dbscanSorted(s: Sorted1d, eps: number, minPts: number): Dbscan1dResult {
  const { v } = s;
  const n = v.length;
  const coreS = new Uint8Array(n);
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < n; i++) {
    while (v[i] - v[lo] > eps) lo++;
    if (hi < i) hi = i;
    while (hi + 1 < n && v[hi + 1] - v[i] <= eps) hi++;
    if (hi - lo + 1 >= minPts) coreS[i] = 1;
  }
  // Cluster ids of cores in sorted order.
  const labS = new Int32Array(n).fill(-1);
  let cid = -1;
  let lastCore = -1;
  for (let i = 0; i < n; i++) {
    if (!coreS[i]) continue;
    if (lastCore < 0 || v[i] - v[lastCore] > eps) cid++;
    labS[i] = cid;
    lastCore = i;
  }
  // Border points: nearest core on either side within eps (ties go to the lower side).
  const prevCore = new Int32Array(n);
  let p = -1;
  for (let i = 0; i < n; i++) {
    if (coreS[i]) p = i;
    prevCore[i] = p;
  }
  let next = -1;
  for (let i = n - 1; i >= 0; i--) {
    if (coreS[i]) {
      next = i;
      continue;
    }
    const a = prevCore[i];
    const dl = a >= 0 ? v[i] - v[a] : Infinity;
    const dr = next >= 0 ? v[next] - v[i] : Infinity;
    if (dl <= eps && dl <= dr) labS[i] = labS[a];
    else if (dr <= eps) labS[i] = labS[next];
  }
  const clusters: Cluster1d[] = [];
  let noiseCount = 0;
  for (let k = 0; k < n; k++) {
    const l = labS[k];
    if (l < 0) {
      noiseCount++;
      continue;
    }
    const c = clusters[l];
    if (!c) clusters[l] = { id: l, lo: v[k], hi: v[k], count: 1, median: NaN };
    else {
      c.hi = v[k];
      c.count++;
    }
  }
  // In one dimension a cluster is contiguous in sorted order: every point between two cores of
  // a cluster is within ε of one of them, and a point between two clusters goes to the nearer
  // core, so the split is a single point. Noise therefore lies only between or outside clusters.
  let k = 0;
  for (const c of clusters) {
    while (labS[k] !== c.id) k++;
    c.median = (v[k + Math.floor((c.count - 1) / 2)] + v[k + Math.ceil((c.count - 1) / 2)]) / 2;
    k += c.count;
  }
  let labels: Int32Array | null = null;
  let core: Uint8Array | null = null;
  return {
    eps,
    minPts,
    get labels() {
      return (labels ??= toInput(s, labS, (k) => new Int32Array(k)));
    },
    get core() {
      return (core ??= toInput(s, coreS, (k) => new Uint8Array(k)));
    },
    sortedLabels: labS,
    sortedCore: coreS,
    clusters,
    noiseCount,
  };
}

/** DBSCAN on unsorted values (sorts them first). See dbscanSorted. */
export function dbscan1d(values: ArrayLike<number>, eps: number, minPts: number): Dbscan1dResult {
  return dbscanSorted(new Sorted1d(values), eps, minPts);
}

/** Options of the parameter search. */
export interface SearchOptions {
  /** Target noise fraction (default DEFAULTS.analyze.noise, 0.06). */
  target?: number;
  /** Acceptable noise band (default target/3 .. target×5/3, i.e. 2–10 % for 6 %). */
  lo?: number;
  hi?: number;
  /** Factor applied to ε at each lowering step (default 0.9). */
  epsFactor?: number;
  /** Most ε-lowering steps (default 60). */
  maxEpsSteps?: number;
  /** ε is never lowered below this (the metric's resolution, e.g. 1 for counts; default range×1e-4). */
  epsFloor?: number;
}

/** One evaluated parameter pair. */
export interface SearchStep {
  stage: 'minpts' | 'eps';
  eps: number;
  minPts: number;
  noise: number;
  clusters: number;
}

/** Outcome of the search: the chosen run and how it was found. */
export interface SearchResult {
  result: Dbscan1dResult;
  eps: number;
  minPts: number;
  noiseFraction: number;
  /** True when the noise fraction ends inside [lo, hi]. */
  inBand: boolean;
  band: { target: number; lo: number; hi: number };
  steps: SearchStep[];
  /** Why no search was run: all values equal (one cluster, no noise). */
  degenerate?: 'constant';
}

/**
 * The study's parameter search on one metric's values:
 * 1. ε = 0.1 × (max − min) (at least epsFloor, the metric's resolution), MinPts = ⌈50 % of the
 *    samples⌉;
 * 2. lower MinPts until the noise fraction is as close to the target as MinPts allows (noise is
 *    monotone in MinPts, so this is a bisection over 2..MinPts₀), preferring values in the band;
 * 3. lower ε geometrically (×epsFactor) while the noise stays in the band (noise only grows as ε
 *    shrinks), keeping the last ε whose noise was at most the band's upper bound, never below
 *    epsFloor. Noise still below the band (e.g. 99 % of the values equal) rises towards it on the
 *    way, which tightens the clusters around their dense cores.
 * With all values equal there is one cluster and no noise (`degenerate: 'constant'`).
 * @param values the metric's samples (finite numbers)
 */
export function searchParameters(values: ArrayLike<number> | Sorted1d, opts: SearchOptions = {}): SearchResult {
  const s = values instanceof Sorted1d ? values : new Sorted1d(values);
  const n = s.length;
  const target = opts.target ?? DEFAULTS.analyze.noise;
  const lo = opts.lo ?? target / 3;
  const hi = opts.hi ?? (target * 5) / 3;
  const band = { target, lo, hi };
  const range = n ? s.v[n - 1] - s.v[0] : 0;
  const steps: SearchStep[] = [];
  const run = (stage: SearchStep['stage'], eps: number, minPts: number): Dbscan1dResult => {
    const r = dbscanSorted(s, eps, minPts);
    steps.push({ stage, eps, minPts, noise: n ? r.noiseCount / n : 0, clusters: r.clusters.length });
    return r;
  };
  if (n === 0 || range === 0) {
    const r = dbscanSorted(s, 0, 1);
    return { result: r, eps: 0, minPts: 1, noiseFraction: 0, inBand: false, band, steps, degenerate: 'constant' };
  }
  const frac = (r: Dbscan1dResult): number => r.noiseCount / n;
  const inBand = (f: number): boolean => f >= lo && f <= hi;
  const floor = opts.epsFloor ?? range * 1e-4;
  let eps = Math.max(0.1 * range, floor);
  const m0 = Math.max(2, Math.ceil(0.5 * n));
  // Stage 2: bisection for the largest MinPts with noise ≤ target (noise grows with MinPts).
  let best = run('minpts', eps, m0);
  let bestM = m0;
  if (frac(best) > target) {
    let a = 2;
    let b = m0; // noise(b) > target
    const ra = run('minpts', eps, a);
    if (frac(ra) > target) {
      best = ra;
      bestM = a;
    } else {
      let rA = ra;
      while (b - a > 1) {
        const mid = (a + b) >> 1;
        const r = run('minpts', eps, mid);
        if (frac(r) <= target) {
          a = mid;
          rA = r;
        } else b = mid;
      }
      const rB = b === m0 ? best : run('minpts', eps, b);
      // Pick the closer of the two neighbours of the target, preferring one inside the band.
      const da = Math.abs(frac(rA) - target) + (inBand(frac(rA)) ? 0 : 1);
      const db = Math.abs(frac(rB) - target) + (inBand(frac(rB)) ? 0 : 1);
      [best, bestM] = da <= db ? [rA, a] : [rB, b];
    }
  }
  // Stage 3: lower ε while the noise stays in the band.
  const factor = opts.epsFactor ?? 0.9;
  const maxSteps = opts.maxEpsSteps ?? 60;
  if (frac(best) <= hi) {
    for (let k = 0; k < maxSteps; k++) {
      const e = eps * factor;
      if (e < floor) break;
      const r = run('eps', e, bestM);
      if (frac(r) > hi) break;
      eps = e;
      best = r;
    }
  }
  return { result: best, eps, minPts: bestM, noiseFraction: frac(best), inBand: inBand(frac(best)), band, steps };
}
