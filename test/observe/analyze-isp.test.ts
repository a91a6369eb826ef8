/**
 * `p2pgw analyze` on the generated ISP-like flow set (fixtures/isp-flows.ts: 240 hosts, 24 h,
 * ~0.6 M flows) with planted behaviours: every planted behaviour must be named in the findings
 * with exactly the planted hosts, no clean host may appear in any finding, and the clean control
 * set (same seed, nothing planted) must yield no finding at all.
 */
import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateIspFlows, LOCAL, ISP, PLANTED, DNS_VICTIMS, FAKE_SERVER, T0 } from './fixtures/isp-flows.js';
import { analyzeFlows, type AnalysisResult } from '../../src/tools/analyze/analyze.js';
import { parseCidrList } from '../../src/tools/analyze/cidr.js';
import { analyzeMain } from '../../src/cli/analyze.js';

const opts = () => ({ local: parseCidrList(LOCAL, '--local'), isp: parseCidrList(ISP, '--isp') });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-isp-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('planted behaviours in a 24 h ISP flow set', () => {
  let res: AnalysisResult;
  const rule = (r: string) => res.findings.filter((f) => f.rule === r);
  const hour = (t: number) => (t - T0) / 3600;

  it('analyses 240 hosts over 24 h', () => {
    const flows = generateIspFlows({ plant: true });
    expect(flows.length).toBeGreaterThan(300_000);
    res = analyzeFlows(flows, opts());
    expect(res.summary.hosts).toBe(240);
    expect(res.summary.slots).toBeGreaterThanOrEqual(288);
    expect(res.summary.clustered).toBe(36);
    // The parameter search keeps the noise within the band wherever the band can be reached.
    for (const m of res.metrics) if (m.search && !m.search.degenerate && m.search.inBand) expect(m.noise.share).toBeLessThanOrEqual(0.1);
  }, 180_000);

  it('Kad-style UDP to port 53: possible DDoS, the three poisoned hosts and the DNS victims', () => {
    const [f, ...more] = rule('reserved-port');
    expect(more).toEqual([]);
    expect(f.severity).toBe('high');
    expect(f.title).toMatch(/port 53 .*DDoS/);
    expect([...f.hosts].sort()).toEqual([...PLANTED.kad53].sort());
    expect(Object.keys(f.evidence.targets as object).sort()).toEqual([...DNS_VICTIMS].sort());
    expect(f.slots.every((s) => hour(s) >= 10 && hour(s) < 16)).toBe(true);
    // Unclassified (obfuscated) flows from the Kad port count too: more flows than classified ones.
    expect((f.evidence.flows as number) > f.examples.length).toBe(true);
    expect(f.examples.every((e) => e.dport === 53 && e.sport === 4672)).toBe(true);
  });

  it('departed peers: incoming unanswered while the host starts nothing', () => {
    const [f] = rule('departed-peer');
    expect([...f.hosts].sort()).toEqual([...PLANTED.departed].sort());
    expect(f.slots.every((s) => hour(s) >= 8 && hour(s) < 20)).toBe(true);
    expect(f.metrics).toContain('udp-outin-fract-unanswered');
    expect(f.examples.every((e) => !e.answered && PLANTED.departed.includes(e.dst))).toBe(true);
  });

  it('NAT hosts are told apart from departed ones: they still start flows', () => {
    const [f] = rule('behind-nat');
    expect([...f.hosts].sort()).toEqual([...PLANTED.nat].sort());
    const per = f.evidence.perHost as Record<string, { slotsWithOwnFlows: number; slotsWithoutOwnFlows: number }>;
    for (const h of PLANTED.nat) expect(per[h].slotsWithOwnFlows).toBeGreaterThan(per[h].slotsWithoutOwnFlows);
  });

  it('the selfish host', () => {
    const [f] = rule('selfish');
    expect(f.hosts).toEqual(PLANTED.selfish);
    const e = (f.evidence.perHost as Record<string, { medianRatio: number; bytesRcvd: number; bytesSent: number }>)[PLANTED.selfish[0]];
    expect(e.medianRatio).toBeLessThan(-0.9);
    expect(e.bytesSent).toBeLessThan(0.05 * e.bytesRcvd);
  });

  it('repeated connections to one server: possible fake or full server', () => {
    const [f, ...more] = rule('repeated-server');
    expect(more).toEqual([]);
    expect(f.title).toContain(`${FAKE_SERVER}:4661`);
    expect([...f.hosts].sort()).toEqual([...PLANTED.repeated].sort());
    expect(f.slots.every((s) => hour(s) >= 2 && hour(s) < 10)).toBe(true);
    // The interesting samples of tcp-avg-conn-per-IP come from those two hosts only.
    const m = res.metrics.find((x) => x.id === 'tcp-avg-conn-per-IP')!;
    expect(m.interesting.hosts90).toBeLessThanOrEqual(2);
  });

  it('the aggressive peer, and no clean host in any finding', () => {
    const [f] = rule('aggressive');
    expect(f.hosts).toEqual(PLANTED.aggressive);
    expect(f.metrics.length).toBeGreaterThanOrEqual(5);
    const planted = new Set(Object.values(PLANTED).flat());
    for (const x of res.findings) for (const h of x.hosts) expect(planted.has(h), `${x.rule} names clean host ${h}`).toBe(true);
    expect(new Set(res.findings.map((x) => x.rule))).toEqual(new Set(['reserved-port', 'departed-peer', 'behind-nat', 'selfish', 'repeated-server', 'aggressive']));
    // The host table puts the planted hosts first.
    expect(res.hosts.slice(0, planted.size).every((h) => planted.has(h.host))).toBe(true);
  });
});

describe('clean control set', () => {
  it('the same population without planted behaviours yields no findings', () => {
    const res = analyzeFlows(generateIspFlows({ plant: false }), opts());
    expect(res.summary.hosts).toBe(240);
    expect(res.findings).toEqual([]);
    // Noise still exists (the search aims at 6 %), it just matches no domain rule.
    expect(res.metrics.some((m) => m.noise.count > 0)).toBe(true);
  }, 180_000);

  it('CLI on a flow-record file of a smaller clean set: "Findings: none."', async () => {
    const file = path.join(tmp, 'clean.jsonl');
    fs.writeFileSync(file, generateIspFlows({ plant: false, hosts: 60, seed: 9 }).map((r) => JSON.stringify(r)).join('\n') + '\n');
    const out: string[] = [];
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: () => true } };
    expect(await analyzeMain([file, '--local', LOCAL, '--isp', ISP, '--json', path.join(tmp, 'clean.json')], io)).toBe(0);
    expect(out.join('')).toContain('Findings: none.');
    expect(JSON.parse(fs.readFileSync(path.join(tmp, 'clean.json'), 'utf8')).findings).toEqual([]);
  }, 180_000);
});
