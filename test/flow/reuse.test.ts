/**
 * FlowTable: a new TCP connection on a reused 5-tuple (a client reusing its port at once) is a new
 * flow, not a segment of the old stream far out of order; a retransmitted SYN is not.
 */
import { describe, expect, it } from 'vitest';
import { FlowTable } from '../../src/flow/table.js';
import type { Flow } from '../../src/flow/flow.js';
import { decodeIp, TCP_ACK, TCP_SYN, type DecodedPacket } from '../../src/decode/index.js';
import { ipv4 } from '../helpers/packets.js';

const C = '10.0.0.1';
const S = '10.0.0.2';
const tcp = (out: boolean, seq: number, flags: number): DecodedPacket => {
  const r = decodeIp(ipv4({ src: out ? C : S, dst: out ? S : C, sport: out ? 40000 : 80, dport: out ? 80 : 40000, l4: 'tcp', seq, ack: 0, flags }));
  if (!r.ok) throw new Error(r.event);
  return r.pkt;
};

describe('FlowTable: reused TCP 5-tuple', () => {
  it('a SYN after the handshake was answered starts a new flow; a retransmitted SYN does not', () => {
    const ended: [Flow, string][] = [];
    const t = new FlowTable({ maxFlows: 10, tcpIdleSec: 300, udpIdleSec: 60 }, (f, why) => ended.push([f, why]));
    // As the pipeline does: look up, then account the packet to its flow.
    const see = (p: DecodedPacket, ts: number) => {
      const flow = t.lookup(p, ts);
      const r = { flow, dir: flow.dirOf(p), created: t.created };
      flow.account(p, r.dir, ts);
      return r;
    };
    const a = see(tcp(true, 1000, TCP_SYN), 1);
    expect(see(tcp(true, 1000, TCP_SYN), 2)).toMatchObject({ flow: a.flow, created: false, dir: 0 }); // retransmitted
    see(tcp(false, 5000, TCP_SYN | TCP_ACK), 2);
    see(tcp(true, 1001, TCP_ACK), 2);
    expect(a.flow.answered).toBe(true);
    const b = see(tcp(true, 900_000, TCP_SYN), 3);
    expect(b.created).toBe(true);
    expect(b.flow).not.toBe(a.flow);
    expect(b.dir).toBe(0);
    expect(ended).toEqual([[a.flow, 'idle']]);
    expect(t.size).toBe(1);
  });
});
