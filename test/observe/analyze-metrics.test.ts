/**
 * Host-behaviour metrics on a hand-checked flow set (every expected value worked out by hand in
 * the comments), and the CIDR helpers of `--local` / `--isp`.
 */
import { describe, it, expect } from 'vitest';
import { buildSamples, metricDefs, type HostSample } from '../../src/tools/analyze/metrics.js';
import { CidrSet, parseCidr, parseCidrList, parseAddress } from '../../src/tools/analyze/cidr.js';
import type { FlowRecord } from '../../src/observe/flowrecord.js';

const H = '10.0.0.1';
const rec = (o: Partial<FlowRecord>): FlowRecord => ({
  capture: 'hand', ts_start: 0, ts_end: 0, l4: 'tcp', src: H, sport: 40000, dst: '8.8.8.8', dport: 80, app: null, mark: null,
  pkts_out: 0, bytes_out: 0, pkts_in: 0, bytes_in: 0, answered: true, resp_payload: true, verdict: 'accept', reason: '', classified_after_pkts: null, ...o,
});

const FLOWS: FlowRecord[] = [
  // f1 tcp out, 20 s, answered with payload
  rec({ ts_start: 1210, ts_end: 1230, pkts_out: 5, bytes_out: 500, pkts_in: 5, bytes_in: 3000 }),
  // f2 tcp out to the same server, unanswered
  rec({ ts_start: 1300, ts_end: 1300.5, sport: 40001, pkts_out: 2, bytes_out: 120, answered: false, resp_payload: false }),
  // f3 tcp out 1400–1600: half in slot 1200, half in slot 1500; answered, no responder payload
  rec({ ts_start: 1400, ts_end: 1600, sport: 40002, dst: '9.9.9.9', dport: 6881, pkts_out: 10, bytes_out: 2000, pkts_in: 10, bytes_in: 10000, resp_payload: false }),
  // f4 tcp in, 10 s
  rec({ ts_start: 1250, ts_end: 1260, src: '7.7.7.7', sport: 5555, dst: H, dport: 4662, pkts_out: 3, bytes_out: 300, pkts_in: 2, bytes_in: 200 }),
  // f5 tcp in 1000–1250: started in slot 900, 50 of its 250 s (0.2) in slot 1200
  rec({ ts_start: 1000, ts_end: 1250, src: '7.7.7.8', sport: 5556, dst: H, dport: 4662, pkts_out: 10, bytes_out: 1000, pkts_in: 5, bytes_in: 500 }),
  // f6 udp out to an ISP address, port 53, answered
  rec({ ts_start: 1220, ts_end: 1220, l4: 'udp', sport: 4672, dst: '10.1.0.5', dport: 53, pkts_out: 1, bytes_out: 70, pkts_in: 1, bytes_in: 90 }),
  // f7 udp in, unanswered
  rec({ ts_start: 1230, ts_end: 1230, l4: 'udp', src: '203.0.113.9', sport: 4672, dst: H, dport: 4672, pkts_out: 1, bytes_out: 100, answered: false, resp_payload: false }),
  // f8 udp in, answered
  rec({ ts_start: 1240, ts_end: 1240.2, l4: 'udp', src: '203.0.113.10', sport: 4672, dst: H, dport: 4672, pkts_out: 1, bytes_out: 100, pkts_in: 1, bytes_in: 60 }),
  // f9 not local: ignored
  rec({ ts_start: 1240, ts_end: 1241, src: '1.1.1.1', dst: '2.2.2.2' }),
  // f10 udp between two local hosts: outgoing for 10.0.0.2, incoming for H
  rec({ ts_start: 1250, ts_end: 1250, l4: 'udp', src: '10.0.0.2', sport: 4672, dst: H, dport: 4672, pkts_out: 1, bytes_out: 80, pkts_in: 1, bytes_in: 80 }),
];

describe('metrics on a hand-checked flow set', () => {
  const set = buildSamples(FLOWS, { local: new CidrSet([parseCidr('10.0.0.0/24')]), isp: new CidrSet([parseCidr('10.0.0.0/8')]), slotSec: 300 });
  const at = (host: string, slot: number): HostSample => set.samples.find((s) => s.host === host && s.slot === slot)!;
  const val = (s: HostSample, id: string): number | null => s.values[set.metrics.findIndex((m) => m.id === id)];
  const all = (s: HostSample, proto: string) =>
    Object.fromEntries(set.metrics.filter((m) => m.proto === proto).map((m) => [m.name, val(s, m.id)]));

  it('counts flows and samples', () => {
    expect(set.flows).toEqual({ total: 10, local: 9, ignored: 1 });
    expect(set.hosts).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(set.samples.map((s) => `${s.host}@${s.slot}`)).toEqual(['10.0.0.1@900', '10.0.0.1@1200', '10.0.0.2@1200', '10.0.0.1@1500']);
  });

  it('TCP metrics of 10.0.0.1 in slot 1200', () => {
    const m = all(at(H, 1200), 'tcp');
    // Bs = 500 + 120 + 0.5·2000 + 200 + 0.2·500 = 1920; Br = 3000 + 0 + 0.5·10000 + 300 + 0.2·1000 = 8500
    // packets sent 5 + 2 + 5 + 2 + 1 = 15, received 5 + 0 + 5 + 3 + 2 = 15
    expect(m).toEqual({
      'inout-avg-duration': (20 + 0.5 + 200) / 3,
      'outin-avg-duration': 10,
      'inout-live-conn': 3,
      'outin-live-conn': 2,
      'fract-incoming-conn': 0.25,
      'bps-rcvd': expect.closeTo((8 * 8500) / 300, 9),
      'bps-sent': expect.closeTo((8 * 1920) / 300, 9),
      'avg-pkt-size': expect.closeTo(10420 / 30, 9),
      'ratio-bytes-sent-to-rcvd': expect.closeTo((1920 - 8500) / 10420, 9),
      'total-conn-attempts': 3,
      'avg-conn-per-IP': 1.5,
      'total-peers': 3,
      'dest-ports': 2,
      '1024-dest-ports': 1,
      'inout-failure-ratio': 1 / 3,
      'outin-failure-ratio': 0,
      'inout-fract-unanswered-appl': 0.5,
      'outin-fract-unanswered-appl': 0,
      'ISP-to-Internet-ratio': 0,
    });
  });

  it('UDP metrics of 10.0.0.1 in slot 1200 (a local peer counts as ISP)', () => {
    const m = all(at(H, 1200), 'udp');
    // Bs = 70 + 0 + 60 + 80 = 210; Br = 90 + 100 + 100 + 80 = 370; packets 3 sent, 4 received
    expect(m).toEqual({
      'inout-avg-duration': 0,
      'outin-avg-duration': expect.closeTo(0.2 / 3, 9),
      'inout-live-conn': 1,
      'outin-live-conn': 3,
      'fract-incoming-conn': 0.75,
      'bps-rcvd': expect.closeTo((8 * 370) / 300, 9),
      'bps-sent': expect.closeTo((8 * 210) / 300, 9),
      'avg-pkt-size': expect.closeTo(580 / 7, 9),
      'ratio-bytes-sent-to-rcvd': expect.closeTo(-160 / 580, 9),
      'total-conn-attempts': 1,
      'avg-conn-per-IP': 1,
      'total-peers': 4,
      'dest-ports': 1,
      '1024-dest-ports': 1,
      'inout-fract-unanswered': 0,
      'outin-fract-unanswered': 1 / 3,
      'ISP-to-Internet-ratio': 0.5,
    });
  });

  it('a slot reached only by a continuing flow: rates defined, start-based metrics undefined', () => {
    const s = at(H, 1500);
    const m = all(s, 'tcp');
    expect(m['inout-live-conn']).toBe(1);
    expect(m['bps-sent']).toBeCloseTo((8 * 1000) / 300, 9);
    expect(m['bps-rcvd']).toBeCloseTo((8 * 5000) / 300, 9);
    expect([m['inout-avg-duration'], m['fract-incoming-conn'], m['avg-conn-per-IP'], m['inout-failure-ratio']]).toEqual([null, null, null, null]);
    expect([m['total-conn-attempts'], m['total-peers'], m['dest-ports']]).toEqual([0, 0, 0]);
    expect(Object.values(all(s, 'udp')).every((v) => v === null)).toBe(true);
    expect(s.started).toEqual({ tcp: [0, 0], udp: [0, 0] });
  });

  it('the local peer 10.0.0.2 gets the flow as outgoing', () => {
    const m = all(at('10.0.0.2', 1200), 'udp');
    expect([m['total-conn-attempts'], m['fract-incoming-conn'], m['ratio-bytes-sent-to-rcvd'], m['ISP-to-Internet-ratio']]).toEqual([1, 0, 0, 1]);
  });

  it('metric list: 18 TCP and 16 UDP metrics without --isp, plus one each with it', () => {
    expect(metricDefs(false).filter((m) => m.proto === 'tcp')).toHaveLength(18);
    expect(metricDefs(false).filter((m) => m.proto === 'udp')).toHaveLength(16);
    expect(metricDefs(true)).toHaveLength(36);
    for (const m of metricDefs(true)) expect(m.definition.length).toBeGreaterThan(20);
  });
});

describe('CIDR prefixes', () => {
  it('IPv4 and IPv6 membership', () => {
    const s = new CidrSet(parseCidrList('10.20.0.0/16, 192.168.1.7, 2001:db8::/32, ::ffff:0:0/96', '--local'));
    expect(['10.20.255.1', '10.21.0.1', '192.168.1.7', '192.168.1.8', '2001:db8:1::5', '2001:db9::1', '::ffff:1.2.3.4', 'fe80::1', 'junk'].map((a) => s.has(a))).toEqual([
      true, false, true, false, true, false, true, false, false,
    ]);
    expect(new CidrSet([parseCidr('0.0.0.0/0')]).has('203.0.113.1')).toBe(true);
    expect(parseAddress('fe80::c50d:519f:96a4:e108')?.family).toBe(6);
    expect(parseAddress('1::2::3')).toBeNull();
  });
  it('bad prefixes are usage errors naming the option', () => {
    expect(() => parseCidrList('10.0.0.0/33', '--local')).toThrow(expect.objectContaining({ code: 'P2PGW_ERR_USAGE', message: expect.stringContaining('--local') }));
    expect(() => parseCidrList('10.0.0/8', '--isp')).toThrow(expect.objectContaining({ code: 'P2PGW_ERR_USAGE' }));
    expect(() => parseCidrList(' , ', '--local')).toThrow(expect.objectContaining({ code: 'P2PGW_ERR_USAGE' }));
  });
});
