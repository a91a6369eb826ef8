/**
 * Host heuristics (src/flow/hosts.ts, Karagiannis et al. IMC 2004) on synthetic flows: a
 * BitTorrent-like host is flagged by either rule; a web-browsing host (many TCP and UDP 443 flows
 * to the same servers), a DNS-heavy host and a mail server are not; caps are counted; the window
 * expires flags; `heuristicLabel` spares well-known service ports.
 */
import { describe, expect, it } from 'vitest';
import { CidrSet, parseCidr } from '../../src/flow/cidr.js';
import { HostHeuristics, heuristicLabel, type FlowFacts } from '../../src/flow/hosts.js';
import { Counters } from '../../src/core/counters.js';

const HOST = '192.168.1.10';
const flow = (l4: 'tcp' | 'udp', src: string, sport: number, dst: string, dport: number): FlowFacts => ({ l4, src, sport, dst, dport });
const peer = (i: number): string => `203.0.${113 + (i >> 8)}.${i & 0xff}`;

/** Observes start and end of each flow at time `t` (+1 s for the end). */
function feed(h: HostHeuristics, flows: FlowFacts[], t = 1000): void {
  for (const f of flows) h.observe(f, t);
  for (const f of flows) h.observe(f, t + 1);
}

describe('cidr', () => {
  it('parses and matches both families; bad text throws, bad addresses are outside', () => {
    const s = new CidrSet(['10.0.0.0/8', '100.64.0.0/10', 'fc00::/7', '192.0.2.7'].map((c) => parseCidr(c)));
    expect(s.has('10.1.2.3')).toBe(true);
    expect(s.has('100.127.255.255')).toBe(true);
    expect(s.has('100.128.0.1')).toBe(false);
    expect(s.has('fd12:3456::1')).toBe(true);
    expect(s.has('2001:db8::1')).toBe(false);
    expect(s.has('192.0.2.7')).toBe(true);
    expect(s.has('192.0.2.8')).toBe(false);
    for (const bad of ['nonsense', '300.1.1.1', '1.2.3', '10.0.0.0/33', 'fc00::/129', '1::2::3']) expect(s.has(bad), bad).toBe(false);
    for (const bad of ['10.0.0.0/33', 'x/8', '1.2.3.4/', '::1/200']) expect(() => parseCidr(bad), bad).toThrow(/cidr: /);
    expect(parseCidr('::ffff:1.2.3.4/128').family).toBe(6);
  });
});

describe('host heuristics: P2P hosts are flagged', () => {
  it('a BitTorrent-like host: TCP peers and uTP/DHT over UDP to the same peers (rule 1)', () => {
    const h = new HostHeuristics();
    const flows: FlowFacts[] = [];
    for (let i = 1; i <= 4; i++) {
      flows.push(flow('tcp', HOST, 50000 + i, peer(i), 6881 + i));
      flows.push(flow('udp', HOST, 51413, peer(i), 6881 + i));
    }
    feed(h, flows);
    expect(h.isP2pHost(HOST, 1001)).toBe(true);
    expect(h.reasonFor(HOST, 1001)).toBe('tcp-udp');
    expect(h.stats(1001)).toMatchObject({ hosts: 1, flagged: 1 });
    expect(h.stats().events.hosts_flagged_tcp_udp).toBe(1);
  });

  it('a host whose listening port is reached by many peers, one port each (rule 2)', () => {
    const h = new HostHeuristics();
    const flows = Array.from({ length: 8 }, (_, i) => flow('tcp', peer(i + 1), 40000 + i * 7, HOST, 51413));
    feed(h, flows);
    expect(h.isP2pHost(HOST, 1001)).toBe(true);
    expect(h.reasonFor(HOST, 1001)).toBe('ip-port');
  });

  it('a DHT node: one UDP port talking to many peers at their own ports (rule 2)', () => {
    const h = new HostHeuristics();
    feed(h, Array.from({ length: 10 }, (_, i) => flow('udp', HOST, 51413, peer(i + 1), 1024 + i * 13)));
    expect(h.isP2pHost(HOST, 1001)).toBe(true);
  });

  it('stays flagged for one window after the last evidence, then expires', () => {
    const h = new HostHeuristics({ windowSec: 60 });
    feed(h, Array.from({ length: 10 }, (_, i) => flow('udp', HOST, 51413, peer(i + 1), 1024 + i)), 0);
    expect(h.isP2pHost(HOST, 60)).toBe(true);
    expect(h.isP2pHost(HOST, 62)).toBe(false);
    expect(h.isP2pHost('192.168.1.99', 0)).toBe(false);
  });

  it('IPv6 inside hosts (RFC 4193) and 100.64/10 count as inside', () => {
    for (const ip of ['fd00::10', '100.64.0.10']) {
      const h = new HostHeuristics();
      feed(h, Array.from({ length: 10 }, (_, i) => flow('udp', ip, 51413, peer(i + 1), 1024 + i)));
      expect(h.isP2pHost(ip, 1001), ip).toBe(true);
    }
  });
});

describe('host heuristics: ordinary hosts are not flagged', () => {
  it('a web-browsing host: many TCP and QUIC (UDP 443) flows to the same servers, several per server', () => {
    const h = new HostHeuristics();
    const flows: FlowFacts[] = [];
    let port = 50000;
    for (let s = 1; s <= 30; s++) {
      for (let k = 0; k < 6; k++) flows.push(flow('tcp', HOST, port++, peer(s), 443));
      flows.push(flow('udp', HOST, port++, peer(s), 443));
      flows.push(flow('tcp', HOST, port++, peer(s), 80));
    }
    feed(h, flows);
    expect(h.isP2pHost(HOST, 1001)).toBe(false);
    expect(h.stats().events.hosts_flagged_ip_port + h.stats().events.hosts_flagged_tcp_udp).toBe(0);
  });

  it('a DNS-heavy host: UDP and TCP 53 to the same resolvers, queries to many servers', () => {
    const h = new HostHeuristics();
    const flows: FlowFacts[] = [];
    for (let i = 0; i < 200; i++) {
      flows.push(flow('udp', HOST, 30000 + i, peer(i % 3), 53));
      if (i % 10 === 0) flows.push(flow('tcp', HOST, 40000 + i, peer(i % 3), 53));
      flows.push(flow('udp', HOST, 5353, peer(100 + i), 53)); // fixed source port resolver
      flows.push(flow('udp', HOST, 123, peer(i % 4), 123));
    }
    feed(h, flows);
    expect(h.isP2pHost(HOST, 1001)).toBe(false);
  });

  it('a mail server: many MTAs, one connection each, on 25/587; its own deliveries from ephemeral ports', () => {
    const h = new HostHeuristics();
    const flows: FlowFacts[] = [];
    for (let i = 0; i < 100; i++) {
      flows.push(flow('tcp', peer(i), 40000 + i, HOST, i % 2 ? 25 : 587));
      flows.push(flow('tcp', HOST, 50000 + i, peer(200 + i), 25));
      flows.push(flow('udp', HOST, 33000 + i, peer(200 + i), 53));
    }
    feed(h, flows);
    expect(h.isP2pHost(HOST, 1001)).toBe(false);
  });

  it('an inside web server on a high port: clients open several connections each', () => {
    const h = new HostHeuristics();
    const flows: FlowFacts[] = [];
    for (let c = 0; c < 20; c++) for (let k = 0; k < 4; k++) flows.push(flow('tcp', peer(c), 40000 + c * 10 + k, HOST, 8080));
    feed(h, flows);
    expect(h.isP2pHost(HOST, 1001)).toBe(false);
  });

  it('flows with no inside side are ignored; bad flow facts are counted, never thrown', () => {
    const c = new Counters();
    const h = new HostHeuristics({}, c);
    feed(h, Array.from({ length: 10 }, (_, i) => flow('udp', '198.51.100.1', 51413, peer(i), 1024 + i)));
    expect(h.stats().hosts).toBe(0);
    h.observe({ l4: 'icmp' as 'tcp', src: HOST, sport: 0, dst: peer(1), dport: 0 }, 1);
    h.observe(flow('tcp', HOST, 1, peer(1), 2), NaN);
    h.observe({ l4: 'tcp', src: undefined as unknown as string, sport: 1, dst: HOST, dport: 2 }, 1);
    expect(c.get('hosts_bad_flow')).toBe(3);
  });
});

describe('host heuristics: bounded memory', () => {
  it('caps hosts, remote IPs, endpoints and peers, counting each cap hit', () => {
    const c = new Counters();
    const h = new HostHeuristics({ maxHosts: 4, maxRemotesPerHost: 8, maxEndpointsPerHost: 2, maxPeersPerEndpoint: 4 }, c);
    for (let i = 0; i < 10; i++) h.observe(flow('udp', `10.0.0.${i + 1}`, 2000, peer(1), 3000), 1);
    expect(h.stats().hosts).toBe(4);
    expect(c.get('hosts_cap_hosts')).toBe(6);
    for (let i = 0; i < 40; i++) h.observe(flow('udp', HOST, 2000 + (i % 2), peer(i), 3000 + i), 2);
    h.observe(flow('udp', HOST, 2002, peer(1), 3000), 2);
    const ev = h.stats().events;
    expect(ev.hosts_cap_remotes).toBeGreaterThan(0);
    expect(ev.hosts_cap_endpoints).toBeGreaterThan(0);
    expect(ev.hosts_cap_peers).toBeGreaterThan(0);
    expect(c.get('hosts_cap_peers')).toBe(ev.hosts_cap_peers);
  });
});

describe('heuristicLabel', () => {
  it('labels unclassified flows of a flagged inside host, either direction, except well-known service ports', () => {
    const h = new HostHeuristics();
    feed(h, Array.from({ length: 10 }, (_, i) => flow('udp', HOST, 51413, peer(i + 1), 1024 + i)));
    expect(heuristicLabel(h, flow('tcp', HOST, 50123, peer(77), 34567), 1001)).toBe(true);
    expect(heuristicLabel(h, flow('tcp', peer(77), 34567, HOST, 51413), 1001)).toBe(true);
    expect(heuristicLabel(h, flow('tcp', HOST, 50124, peer(77), 443), 1001)).toBe(false);
    expect(heuristicLabel(h, flow('udp', HOST, 50125, peer(77), 53), 1001)).toBe(false);
    expect(heuristicLabel(h, flow('tcp', HOST, 50126, peer(77), 25), 1001)).toBe(false);
    expect(heuristicLabel(h, flow('tcp', '192.168.1.11', 50123, peer(77), 34567), 1001)).toBe(false);
    expect(heuristicLabel(h, flow('tcp', HOST, 50123, peer(77), 34567), 1001 + 400)).toBe(false);
  });
});

describe('rule 2 counts kept with the peers (no scan per flow)', () => {
  it('flags exactly when a full recount over the live peers would, on random flow sequences', async () => {
    const fc = (await import('fast-check')).default;
    const opts = { windowSec: 30, endpointMinPeers: 4, endpointMaxDiff: 1, maxPeersPerEndpoint: 12 };
    const step = fc.record({ ip: fc.integer({ min: 1, max: 8 }), port: fc.integer({ min: 1024, max: 1031 }), dt: fc.integer({ min: -3, max: 12 }) });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 80 }), (steps) => {
        const h = new HostHeuristics(opts);
        // Reference: peers in recency order with the endpoint's newest time, expired by a full scan.
        const ref = new Map<string, number>();
        let now = 1000;
        let newest = -Infinity;
        for (const s of steps) {
          now += s.dt; // facts come slightly out of time order, as flow ends do
          const before = h.isP2pHost(HOST, now);
          h.observe(flow('udp', HOST, 6881, peer(s.ip), s.port), now);
          newest = Math.max(newest, now);
          const k = `${s.ip}|${s.port}`;
          ref.delete(k);
          if (ref.size >= opts.maxPeersPerEndpoint) ref.delete(ref.keys().next().value!);
          ref.set(k, newest);
          for (const [rk, t] of ref) if (t < now - opts.windowSec) ref.delete(rk);
          const live = [...ref.keys()].map((rk) => rk.split('|'));
          const ips = new Set(live.map((x) => x[0])).size;
          const ports = new Set(live.map((x) => x[1])).size;
          const flagged = ips >= opts.endpointMinPeers && Math.abs(ips - ports) <= opts.endpointMaxDiff;
          if (flagged) expect(h.reasonFor(HOST, now)).toBe('ip-port');
          else if (!before) expect(h.isP2pHost(HOST, now)).toBe(false); // no flag the recount would not give
        }
      }),
      { numRuns: 300, seed: 13 },
    );
  });
});
