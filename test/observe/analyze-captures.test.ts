/**
 * `p2pgw analyze` on flows from replaying the shared gnutella.pcap and bittorrent.pcap (64 s
 * idle). Expected numbers are recomputed here independently: every metric of every sample
 * straight from the flow records with deliberately plain code (filter the flows of a host and a
 * slot, then count), and every clustered metric's DBSCAN outcome with a brute-force O(n²) DBSCAN
 * at the parameters the search found.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import { loadFlows } from '../../src/tools/analyze/input.js';
import { analyzeFlows, type AnalysisResult } from '../../src/tools/analyze/analyze.js';
import { buildSamples } from '../../src/tools/analyze/metrics.js';
import { CidrSet, parseCidrList } from '../../src/tools/analyze/cidr.js';
import { analyzeMain } from '../../src/cli/analyze.js';
import type { FlowRecord } from '../../src/observe/flowrecord.js';
import { capture } from '../helpers/paths.js';

const CASES = [
  { file: 'gnutella.pcap', local: '10.0.2.0/24', slot: 10, host: '10.0.2.15' },
  { file: 'bittorrent.pcap', local: '192.168.1.0/24', slot: 1, host: '192.168.1.3' },
];
const have = CASES.every((c) => fs.existsSync(capture(c.file)));
if (!have) console.warn('analyze capture tests skipped: shared captures missing');

/** Every metric of host h in slot [t0, t0 + dt), recomputed from the records. */
function expected(recs: FlowRecord[], h: string, t0: number, dt: number, l4: 'tcp' | 'udp', inIsp: (a: string) => boolean) {
  const t1 = t0 + dt;
  const mine = recs.filter((r) => r.l4 === l4 && (r.src === h || r.dst === h));
  const live = mine.filter((r) => r.ts_start < t1 && Math.floor(r.ts_end / dt) * dt >= t0);
  const started = mine.filter((r) => r.ts_start >= t0 && r.ts_start < t1 && Math.floor(r.ts_start / dt) * dt === t0);
  const out = started.filter((r) => r.src === h);
  const inc = started.filter((r) => r.dst === h && r.src !== h);
  const share = (r: FlowRecord): number => {
    const d = r.ts_end - r.ts_start;
    if (d === 0) return Math.floor(r.ts_start / dt) * dt === t0 ? 1 : 0;
    return (Math.min(r.ts_end, t1) - Math.max(r.ts_start, t0)) / d;
  };
  let bs = 0, br = 0, ps = 0, pr = 0;
  for (const r of live) {
    const f = share(r);
    if (r.src === h) (bs += f * r.bytes_out), (ps += f * r.pkts_out), (br += f * r.bytes_in), (pr += f * r.pkts_in);
    else (bs += f * r.bytes_in), (ps += f * r.pkts_in), (br += f * r.bytes_out), (pr += f * r.pkts_out);
  }
  const mean = (xs: number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  const frac = (xs: FlowRecord[], p: (r: FlowRecord) => boolean): number | null => (xs.length ? xs.filter(p).length / xs.length : null);
  const peers = new Set(started.map((r) => (r.src === h ? r.dst : r.src)));
  const ports = new Set(out.map((r) => r.dport));
  const m: Record<string, number | null> = {
    'inout-avg-duration': mean(out.map((r) => r.ts_end - r.ts_start)),
    'outin-avg-duration': mean(inc.map((r) => r.ts_end - r.ts_start)),
    'inout-live-conn': live.filter((r) => r.src === h).length,
    'outin-live-conn': live.filter((r) => r.dst === h && r.src !== h).length,
    'fract-incoming-conn': started.length ? inc.length / started.length : null,
    'bps-rcvd': (8 * br) / dt,
    'bps-sent': (8 * bs) / dt,
    'avg-pkt-size': ps + pr ? (bs + br) / (ps + pr) : null,
    'ratio-bytes-sent-to-rcvd': bs + br ? (bs - br) / (bs + br) : null,
    'total-conn-attempts': out.length,
    'avg-conn-per-IP': out.length ? out.length / new Set(out.map((r) => r.dst)).size : null,
    'total-peers': peers.size,
    'dest-ports': ports.size,
    '1024-dest-ports': [...ports].filter((p) => p <= 1024).length,
    'ISP-to-Internet-ratio': peers.size ? [...peers].filter(inIsp).length / peers.size : null,
  };
  if (l4 === 'tcp') {
    m['inout-failure-ratio'] = frac(out, (r) => !r.answered);
    m['outin-failure-ratio'] = frac(inc, (r) => !r.answered);
    m['inout-fract-unanswered-appl'] = frac(out.filter((r) => r.answered), (r) => !r.resp_payload);
    m['outin-fract-unanswered-appl'] = frac(inc.filter((r) => r.answered), (r) => !r.resp_payload);
  } else {
    m['inout-fract-unanswered'] = frac(out, (r) => !r.answered);
    m['outin-fract-unanswered'] = frac(inc, (r) => !r.answered);
  }
  return { m, any: live.length > 0 };
}

/** Brute-force DBSCAN noise count (|a − b| ≤ eps, MinPts counts the point itself). */
function bruteNoise(v: number[], eps: number, minPts: number): number {
  const core = v.map((x) => v.filter((y) => Math.abs(x - y) <= eps).length >= minPts);
  return v.filter((x) => !v.some((y, j) => core[j] && Math.abs(x - y) <= eps)).length;
}

describe.skipIf(!have)('analyze on replayed shared captures', () => {
  for (const c of CASES) {
    it(`${c.file}: every metric of every sample matches an independent recomputation`, () => {
      const { records, kind } = loadFlows([capture(c.file)]);
      expect(kind).toBe('capture');
      const local = new CidrSet(parseCidrList(c.local, '--local'));
      const isp = new CidrSet(parseCidrList('10.0.0.0/8', '--isp'));
      const set = buildSamples(records, { local, isp, slotSec: c.slot });
      const inIsp = (a: string) => isp.has(a) || local.has(a);
      let checked = 0;
      for (const s of set.samples) {
        for (const l4 of ['tcp', 'udp'] as const) {
          const { m, any } = expected(records, s.host, s.slot, c.slot, l4, inIsp);
          set.metrics.forEach((def, i) => {
            if (def.proto !== l4) return;
            const got = s.values[i];
            const want = any ? m[def.name] : null;
            if (want === null || got === null) expect({ id: def.id, got }).toEqual({ id: def.id, got: want });
            else expect(got, `${s.host}@${s.slot} ${def.id}`).toBeCloseTo(want, 6);
            checked++;
          });
        }
      }
      expect(checked).toBeGreaterThan(300);
      // Hand-checked anchors: every flow of the host is counted once as started.
      const attempts = (l4: string) => set.samples.filter((s) => s.host === c.host).reduce((a, s) => a + (s.values[set.metrics.findIndex((m) => m.id === `${l4}-total-conn-attempts`)] ?? 0), 0);
      for (const l4 of ['tcp', 'udp']) expect(attempts(l4)).toBe(records.filter((r) => r.l4 === l4 && r.src === c.host).length);
    });
  }

  it('gnutella.pcap: every clustered metric equals brute-force DBSCAN at the parameters found; no findings', () => {
    const { records } = loadFlows([capture('gnutella.pcap')]);
    const res: AnalysisResult = analyzeFlows(records, { local: parseCidrList('10.0.2.0/24', '--local'), slotSec: 10 });
    const set = buildSamples(records, { local: new CidrSet(parseCidrList('10.0.2.0/24', '--local')), slotSec: 10 });
    expect(res.summary).toMatchObject({ hosts: 3, samples: 72, metrics: 34 });
    const clustered = res.metrics.filter((m) => m.search && !m.search.degenerate);
    expect(clustered.length).toBeGreaterThanOrEqual(15);
    for (const m of clustered) {
      const i = set.metrics.findIndex((d) => d.id === m.id);
      const v = set.samples.map((s) => s.values[i]).filter((x): x is number => x !== null);
      expect(v.length).toBe(m.n);
      expect(m.noise.count, m.id).toBe(bruteNoise(v, m.search!.eps, m.search!.minPts));
      expect(m.clusters.reduce((a, k) => a + k.count, 0) + m.noise.count).toBe(m.n);
      const range = Math.max(...v) - Math.min(...v);
      expect(m.search!.trace[0].minPts).toBe(Math.ceil(m.n / 2));
      expect(m.search!.trace[0].eps).toBeGreaterThanOrEqual(0.1 * range - 1e-12);
      // Concentration: one real P2P host in this capture generates most interesting samples.
      if (m.interesting.count) expect(m.interesting.hosts90).toBeLessThanOrEqual(m.interesting.hosts);
    }
    expect(res.findings).toEqual([]);
    expect(res.hosts[0].host).toBe('10.0.2.15');
  });

  it('CLI on both captures: summary, --json - and --html', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } };
    const html = `${fs.mkdtempSync('/tmp/p2pgw-analyze-')}/r.html`;
    const argv = [capture('gnutella.pcap'), capture('bittorrent.pcap'), '--local', '10.0.2.0/24,192.168.1.0/24', '--slot', '10', '--json', '-', '--html', html];
    expect(await analyzeMain(argv, io)).toBe(0);
    const j = JSON.parse(out.join('')) as AnalysisResult;
    expect(j.input).toMatchObject({ kind: 'capture', flows: 929, flowTimeoutSec: 64 });
    expect(j.summary.hosts).toBe(4);
    expect(err.join('')).toMatch(/^Analyzed \d+ of 929 flows \(replayed, 64 s flow timeout\)/);
    const page = fs.readFileSync(html, 'utf8');
    expect(page.match(/<svg class="hist"/g)?.length).toBe(j.metrics.length);
    expect(page).not.toMatch(/<script|<link|src="http|href="http|@import/);
    fs.rmSync(html.replace(/\/r\.html$/, ''), { recursive: true, force: true });
    await expect(analyzeMain([capture('gnutella.pcap')], io)).rejects.toMatchObject({ code: 'P2PGW_ERR_USAGE' });
    await expect(analyzeMain([capture('gnutella.pcap'), '--local', '10.0.2.0/24', '--slot', '0'], io)).rejects.toMatchObject({ code: 'P2PGW_ERR_USAGE' });
    await expect(analyzeMain([capture('gnutella.pcap'), '--local', '10.0.2.0/24', '--bogus'], io)).rejects.toMatchObject({ code: 'P2PGW_ERR_USAGE' });
  });
});
