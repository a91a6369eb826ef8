import { describe, it, expect } from 'vitest';
import { FlowTable } from '../../src/flow/table.js';
import { flowKey, type Flow } from '../../src/flow/flow.js';
import { Counters } from '../../src/core/counters.js';
import { TCP_ACK, TCP_SYN, type DecodedPacket } from '../../src/decode/types.js';

function pkt(src: string, sport: number, dst: string, dport: number, l4: 'tcp' | 'udp' = 'tcp', flags = 0, payload = 0): DecodedPacket {
  return {
    family: 4, src, dst, sport, dport, l4, proto: l4 === 'tcp' ? 6 : 17, ipLen: 40 + payload,
    seq: 0, ack: 0, flags, payload: new Uint8Array(payload), fragment: false,
  };
}

describe('flowKey', () => {
  it('is the same for both directions and differs by l4', () => {
    const a = pkt('10.0.0.1', 1000, '10.0.0.2', 80);
    const b = pkt('10.0.0.2', 80, '10.0.0.1', 1000);
    expect(flowKey(a)).toBe(flowKey(b));
    expect(flowKey(a)).not.toBe(flowKey(pkt('10.0.0.1', 1000, '10.0.0.2', 80, 'udp')));
  });
});

describe('FlowTable', () => {
  const opts = { maxFlows: 3, tcpIdleSec: 300, udpIdleSec: 64 };

  it('tracks directions: the first packet sender is the initiator', () => {
    const t = new FlowTable(opts, () => {});
    const p1 = pkt('10.0.0.1', 1000, '10.0.0.2', 80);
    const p2 = pkt('10.0.0.2', 80, '10.0.0.1', 1000);
    const f1 = t.lookup(p1, 1);
    expect(t.created).toBe(true);
    const f2 = t.lookup(p2, 2);
    expect(t.created).toBe(false);
    expect(f2).toBe(f1);
    expect([f1.dirOf(p1), f2.dirOf(p2)]).toEqual([0, 1]);
    expect(f1.src).toBe('10.0.0.1');
  });

  it('evicts the least recently used flow at the cap and counts it', () => {
    const ended: [string, string][] = [];
    const c = new Counters();
    const t = new FlowTable(opts, (f, why) => ended.push([`${f.sport}`, why]), c);
    t.lookup(pkt('10.0.0.1', 1, '10.0.0.2', 80), 1);
    t.lookup(pkt('10.0.0.1', 2, '10.0.0.2', 80), 2);
    t.lookup(pkt('10.0.0.1', 3, '10.0.0.2', 80), 3);
    t.lookup(pkt('10.0.0.1', 1, '10.0.0.2', 80), 4); // touch 1: now 2 is LRU
    t.lookup(pkt('10.0.0.1', 4, '10.0.0.2', 80), 5);
    expect(ended).toEqual([['2', 'evicted']]);
    expect(t.size).toBe(3);
    expect(c.get('flow_evicted')).toBe(1);
  });

  it('expires UDP and TCP flows by their own idle timeouts', () => {
    const ended: string[] = [];
    const t = new FlowTable({ ...opts, maxFlows: 100 }, (f: Flow) => ended.push(f.l4));
    t.lookup(pkt('10.0.0.1', 5, '10.0.0.2', 53, 'udp'), 0);
    t.lookup(pkt('10.0.0.1', 6, '10.0.0.2', 80, 'tcp'), 0);
    expect(t.expire(60)).toBe(0);
    expect(t.expire(70)).toBe(1);
    expect(ended).toEqual(['udp']);
    expect(t.expire(301)).toBe(1);
    expect(t.size).toBe(0);
  });

  it('a 5-tuple reused after the idle timeout is a new flow', () => {
    const ended: string[] = [];
    const t = new FlowTable(opts, (_f, why) => ended.push(why));
    const a = t.lookup(pkt('10.0.0.1', 5, '10.0.0.2', 53, 'udp'), 0);
    const b = t.lookup(pkt('10.0.0.1', 5, '10.0.0.2', 53, 'udp'), 100);
    expect(t.created).toBe(true);
    expect(b).not.toBe(a);
    expect(ended).toEqual(['idle']);
  });

  it('answered: TCP needs the whole handshake, UDP a reply', () => {
    const t = new FlowTable(opts, () => {});
    const c = pkt('10.0.0.1', 9, '10.0.0.2', 80, 'tcp', TCP_SYN);
    const flow = t.lookup(c, 0);
    flow.account(c, 0, 0);
    const sa = pkt('10.0.0.2', 80, '10.0.0.1', 9, 'tcp', TCP_SYN | TCP_ACK);
    flow.account(sa, 1, 0);
    expect(flow.answered).toBe(false);
    flow.account(pkt('10.0.0.1', 9, '10.0.0.2', 80, 'tcp', TCP_ACK), 0, 0);
    expect(flow.answered).toBe(true);
    expect(flow.respPayload).toBe(false);
    const u = pkt('10.0.0.1', 7, '10.0.0.2', 53, 'udp', 0, 10);
    const uf = t.lookup(u, 0);
    uf.account(u, 0, 0);
    expect(uf.answered).toBe(false);
    uf.account(pkt('10.0.0.2', 53, '10.0.0.1', 7, 'udp', 0, 30), 1, 0);
    expect(uf.answered).toBe(true);
    expect(uf.respPayload).toBe(true);
  });

  it('evicts flows it is not asked to keep first (LRU among them), kept flows only when nothing else is left', () => {
    const ended: number[] = [];
    const keep = new Set<number>();
    const t = new FlowTable(opts, (f) => ended.push(f.sport), new Counters(), (f) => keep.has(f.sport));
    t.lookup(pkt('10.0.0.1', 1, '10.0.0.2', 80), 1); // the oldest: an inspected connection
    keep.add(1);
    t.lookup(pkt('10.0.0.1', 2, '10.0.0.2', 80), 2);
    t.lookup(pkt('10.0.0.1', 3, '10.0.0.2', 80), 3);
    // flow 1 became one to keep after its last packet: eviction moves it aside and takes the LRU of the others
    for (let p = 4; p <= 9; p++) t.lookup(pkt('10.0.0.1', p, '10.0.0.2', 80, 'tcp', TCP_SYN), p);
    expect(ended).toEqual([2, 3, 4, 5, 6, 7]);
    expect([...t.values()].map((f) => f.sport)).toEqual([8, 9, 1]);
    expect(t.size).toBe(3);
    // a hit on a kept flow keeps it kept; once nothing but kept flows is left, the LRU kept flow goes
    keep.add(8).add(9);
    t.lookup(pkt('10.0.0.1', 8, '10.0.0.2', 80), 10);
    t.lookup(pkt('10.0.0.1', 9, '10.0.0.2', 80), 11);
    t.lookup(pkt('10.0.0.1', 10, '10.0.0.2', 80), 12);
    expect(ended.at(-1)).toBe(1);
    // a kept flow that is no longer kept moves back at its next packet; expiry and flush see both maps
    keep.delete(8);
    t.lookup(pkt('10.0.0.1', 8, '10.0.0.2', 80), 13);
    expect(t.expire(9 + 300.5)).toBe(2); // 8 and 9 (created at 8 and 9; lookups do not touch tsEnd), one in each map
    expect(ended.slice(-2).sort()).toEqual([8, 9]);
    t.flush();
    expect(ended.at(-1)).toBe(10);
    expect(t.size).toBe(0);
  });
});
