/**
 * The exact 1-D DBSCAN of src/tools/analyze/dbscan.ts against two references on random data:
 * a brute-force O(n²) DBSCAN written here from the paper's definitions (|a − b| ≤ ε, MinPts
 * counting the point itself) and the density-clustering npm package (which uses distance < ε, so
 * it is compared on continuous data where no distance equals ε). Border points reachable from two
 * clusters are ambiguous in DBSCAN (visiting order decides); for them the test only requires a
 * cluster that has a core point within ε. Then the parameter search on known data.
 */
import { describe, it, expect } from 'vitest';
import { createRequire } from 'node:module';
import { dbscan1d, searchParameters, Sorted1d, dbscanSorted } from '../../src/tools/analyze/dbscan.js';
import { rng } from '../helpers/rng.js';

const require = createRequire(import.meta.url);
const { DBSCAN } = require('density-clustering') as { DBSCAN: new () => { run(d: number[][], eps: number, minPts: number): number[][] } };

/** Brute-force DBSCAN: core flags and, per point, the set of clusters (as core-point components) it may belong to. */
function brute(v: number[], eps: number, minPts: number, strict = false) {
  const n = v.length;
  const near = (i: number, j: number): boolean => (strict ? Math.abs(v[i] - v[j]) < eps : Math.abs(v[i] - v[j]) <= eps);
  const core = v.map((_, i) => v.filter((_, j) => near(i, j)).length >= minPts);
  const comp = new Array<number>(n).fill(-1);
  let c = 0;
  for (let i = 0; i < n; i++) {
    if (!core[i] || comp[i] >= 0) continue;
    const stack = [i];
    comp[i] = c;
    while (stack.length) {
      const p = stack.pop()!;
      for (let q = 0; q < n; q++) if (core[q] && comp[q] < 0 && near(p, q)) (comp[q] = c), stack.push(q);
    }
    c++;
  }
  const reach = v.map((_, i) => (core[i] ? new Set([comp[i]]) : new Set(v.flatMap((_, j) => (core[j] && near(i, j) ? [comp[j]] : [])))));
  return { core, comp, reach };
}

/** Checks that `labels` is a valid DBSCAN labelling given the brute-force facts. */
function checkAgainst(v: number[], labels: ArrayLike<number>, ref: ReturnType<typeof brute>): void {
  const n = v.length;
  // Core points: same cluster iff same component (a bijection between ids).
  const map = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    if (!ref.core[i]) continue;
    expect(labels[i]).toBeGreaterThanOrEqual(0);
    const m = map.get(ref.comp[i]);
    if (m === undefined) map.set(ref.comp[i], labels[i]);
    else expect(labels[i]).toBe(m);
  }
  expect(new Set(map.values()).size).toBe(map.size);
  const inv = new Map([...map].map(([a, b]) => [b, a]));
  for (let i = 0; i < n; i++) {
    if (ref.core[i]) continue;
    if (ref.reach[i].size === 0) expect(labels[i]).toBe(-1); // noise
    else expect(ref.reach[i].has(inv.get(labels[i])!)).toBe(true); // border of a reachable cluster
  }
}

describe('1-D DBSCAN', () => {
  it('hand example: two clusters, one noise point; medians and ranges', () => {
    const r = dbscan1d([5.1, 1, 9, 1.2, 5, 1.1, 5.2], 0.25, 3);
    expect([...r.labels]).toEqual([1, 0, -1, 0, 1, 0, 1]);
    expect(r.clusters.map((c) => [c.lo, c.hi, c.count, c.median])).toEqual([
      [1, 1.2, 3, 1.1],
      [5, 5.2, 3, 5.1],
    ]);
    expect(r.noiseCount).toBe(1);
    // A border point between two clusters (cores 0 and 1.5, ε = 1) goes to the nearer core.
    for (const [x, want] of [
      [0.6, 0],
      [0.9, 1],
    ]) {
      const b = dbscan1d([-0.5, -0.5, -0.5, 0, x, 1.5, 2, 2, 2], 1, 4);
      expect([...b.core]).toEqual([1, 1, 1, 1, 0, 1, 1, 1, 1]);
      expect([...b.labels]).toEqual([0, 0, 0, 0, want, 1, 1, 1, 1]);
    }
  });

  it('equals a brute-force O(n²) DBSCAN on random data (ties and integer values included)', () => {
    const R = rng(42);
    for (let t = 0; t < 300; t++) {
      const n = 1 + Math.floor(R() * 120);
      const integer = t % 3 === 0;
      const v = Array.from({ length: n }, () => {
        const centre = [0, 10, 13, 40][Math.floor(R() * 4)];
        const x = centre + (R() - 0.5) * 8 * R();
        return integer ? Math.round(x) : x;
      });
      const eps = integer ? Math.floor(R() * 4) : R() * 3;
      const minPts = 1 + Math.floor(R() * 10);
      const got = dbscan1d(v, eps, minPts);
      const ref = brute(v, eps, minPts);
      expect([...got.core].map(Boolean)).toEqual(ref.core);
      expect(got.clusters.length).toBe(new Set(ref.comp.filter((c) => c >= 0)).size);
      checkAgainst(v, got.labels, ref);
      expect(got.noiseCount).toBe(ref.reach.filter((s) => s.size === 0).length);
      // Cluster facts are consistent with the labels.
      for (const c of got.clusters) {
        const members = v.filter((_, i) => got.labels[i] === c.id).sort((a, b) => a - b);
        expect([c.lo + 0, c.hi + 0, c.count]).toEqual([members[0] + 0, members[members.length - 1] + 0, members.length]);
        expect(c.median).toBeCloseTo((members[(members.length - 1) >> 1] + members[members.length >> 1]) / 2, 12);
      }
    }
  });

  it('agrees with the density-clustering package (continuous data)', () => {
    const R = rng(7);
    for (let t = 0; t < 60; t++) {
      const n = 20 + Math.floor(R() * 150);
      const v = Array.from({ length: n }, () => [0, 5, 6.5, 20][Math.floor(R() * 4)] + (R() - 0.5) * 4 * R());
      const eps = 0.05 + R() * 1.5;
      const minPts = 2 + Math.floor(R() * 8);
      const lib = new DBSCAN().run(
        v.map((x) => [x]),
        eps,
        minPts,
      );
      const libLabels = new Array<number>(n).fill(-1);
      lib.forEach((members, c) => members.forEach((i) => (libLabels[i] = c)));
      const ref = brute(v, eps, minPts, true);
      checkAgainst(v, libLabels, ref); // the reference agrees with the paper's definitions...
      // ...and so do we (no distance equals eps on continuous random data).
      const got = dbscan1d(v, eps, minPts);
      checkAgainst(v, got.labels, ref);
      expect(got.noiseCount).toBe(libLabels.filter((l) => l < 0).length);
      expect(got.clusters.length).toBe(lib.length);
    }
  });

  it('runs in O(n log n): 200 000 values in well under a second per run', () => {
    const R = rng(3);
    const s = new Sorted1d(Array.from({ length: 200_000 }, () => R() * 100));
    const t = performance.now();
    const r = dbscanSorted(s, 0.01, 5);
    expect(r.labels.length).toBe(200_000);
    expect(performance.now() - t).toBeLessThan(2000);
  });
});

describe('parameter search', () => {
  it('starts at eps = 10 % of the range and MinPts = 50 % of the samples, ends with noise in the band', () => {
    const R = rng(11);
    // 1000 samples around 10 (± a few) plus 30 scattered outliers up to 100.
    const v = [...Array.from({ length: 1000 }, () => 10 + (R() + R() + R() - 1.5) * 3), ...Array.from({ length: 30 }, () => 20 + R() * 80)];
    const s = searchParameters(v);
    const range = Math.max(...v) - Math.min(...v);
    expect(s.steps[0]).toMatchObject({ stage: 'minpts', minPts: Math.ceil(v.length / 2) });
    expect(s.steps[0].eps).toBeCloseTo(0.1 * range, 12);
    expect(s.inBand).toBe(true);
    expect(s.noiseFraction).toBeGreaterThanOrEqual(0.02);
    expect(s.noiseFraction).toBeLessThanOrEqual(0.1);
    expect(s.eps).toBeLessThan(0.1 * range);
    expect(s.result.clusters.length).toBe(1);
    // Every outlier far from the bulk is noise.
    const far = v.map((x, i) => [x, i] as const).filter(([x]) => x > 40);
    for (const [, i] of far) expect(s.result.labels[i]).toBe(-1);
    // The ε steps lowered ε while the noise stayed in the band; one more step would leave it.
    const epsSteps = s.steps.filter((t) => t.stage === 'eps');
    expect(epsSteps.filter((t) => t.noise <= 0.1).every((t) => t.eps >= s.eps)).toBe(true);
  });

  it('all values equal: one cluster, no noise', () => {
    const s = searchParameters(new Array(50).fill(3));
    expect(s.degenerate).toBe('constant');
    expect(s.result.clusters).toHaveLength(1);
    expect(s.result.noiseCount).toBe(0);
  });

  it('a custom target moves the band (target/3 .. 5·target/3)', () => {
    const R = rng(5);
    const v = Array.from({ length: 2000 }, () => (R() < 0.5 ? R() * 10 : 30 + R() * R() * 40));
    const s = searchParameters(v, { target: 0.03 });
    expect(s.band.lo).toBeCloseTo(0.01, 12);
    expect(s.band.hi).toBeCloseTo(0.05, 12);
    expect(s.noiseFraction).toBeLessThanOrEqual(s.band.hi);
  });
});
