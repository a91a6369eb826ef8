/**
 * Capture re-enactment (src/tools/lab/reenact.ts): TCP payloads put in sequence order per direction,
 * retransmissions dropped, gaps skipped without reordering the conversation, UDP datagrams kept
 * one per step, initiator chosen from SYN / SYN+ACK / first packet; plus a real capture.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TCP_ACK, TCP_PSH, TCP_SYN, type DecodedPacket } from '../../src/decode/types.js';
import { FlowExtractor, sessionsFromCapture } from '../../src/tools/lab/reenact.js';
import { capture } from '../helpers/paths.js';

const A = '192.0.2.1';
const B = '198.51.100.7';

function pkt(src: string, sport: number, dst: string, dport: number, l4: 'tcp' | 'udp', seq: number, flags: number, payload: string): DecodedPacket {
  const p = Buffer.from(payload, 'latin1');
  return { family: 4, src, dst, proto: l4 === 'tcp' ? 6 : 17, l4, sport, dport, ipLen: 40 + p.length, seq: seq >>> 0, ack: 0, flags, payload: p, fragment: false };
}
const ab = (seq: number, s: string, flags = TCP_ACK | TCP_PSH): DecodedPacket => pkt(A, 5000, B, 80, 'tcp', seq, flags, s);
const ba = (seq: number, s: string, flags = TCP_ACK | TCP_PSH): DecodedPacket => pkt(B, 80, A, 5000, 'tcp', seq, flags, s);
const view = (x: FlowExtractor): [string, string][][] =>
  x.sessions().map((s) => s.steps.map((st) => [st.dir, Buffer.from(st.bytes).toString('latin1')] as [string, string]));

describe('FlowExtractor', () => {
  it('orders TCP segments by sequence number and drops retransmissions', () => {
    const x = new FlowExtractor();
    const isnA = 0xfffffff0; // wraps around 2^32 inside the flow
    const isnB = 1000;
    x.add(ab(isnA, '', TCP_SYN));
    x.add(ba(isnB, '', TCP_SYN | TCP_ACK));
    x.add(ab(isnA + 1, 'hello '));
    x.add(ab(isnA + 1 + 12, 'again')); // out of order: arrives before 'world '
    x.add(ab(isnA + 1 + 6, 'world '));
    x.add(ab(isnA + 1, 'hello ')); // retransmission
    x.add(ba(isnB + 1, 'HI'));
    x.add(ba(isnB + 1, 'HI')); // retransmission
    x.add(ba(isnB + 3, 'THERE'));
    x.add(ab(isnA + 1 + 17, 'bye'));
    expect(view(x)).toEqual([[['out', 'hello world again'], ['in', 'HITHERE'], ['out', 'bye']]]);
    expect(x.stats.tcpRetransmittedBytes).toBe(8);
    expect(x.stats.tcpGapBytes).toBe(0);
    const [s] = x.sessions();
    expect(s.name).toMatch(/^capture#0 tcp 192\.0\.2\.1:5000 -> 198\.51\.100\.7:80$/);
    expect(s.port).toBe(41000);
  });

  it('skips a gap that is never filled without moving its bytes past the reply', () => {
    const x = new FlowExtractor();
    x.add(ab(100, 'abcd')); // no SYN: base is the first payload seen
    x.add(ab(110, 'klmn')); // bytes 104..110 never captured
    x.add(ba(500, 'reply'));
    x.add(ab(114, 'op'));
    expect(view(x)).toEqual([[['out', 'abcdklmn'], ['in', 'reply'], ['out', 'op']]]);
    expect(x.stats.tcpGapBytes).toBe(6);
  });

  it('keeps UDP datagrams one per step and takes the SYN+ACK receiver as initiator', () => {
    const x = new FlowExtractor({ basePort: 50000 });
    x.add(pkt(A, 6881, B, 6881, 'udp', 0, 0, 'q1'));
    x.add(pkt(A, 6881, B, 6881, 'udp', 0, 0, 'q2'));
    x.add(pkt(B, 6881, A, 6881, 'udp', 0, 0, 'r1'));
    x.add(ba(7, '', TCP_SYN | TCP_ACK)); // SYN missed: A is still the initiator
    x.add(ab(3, 'GET'));
    x.add(ba(8, 'OK'));
    x.add(pkt(A, 1, B, 2, 'udp', 0, 0, '')); // no payload: not a session
    const ss = x.sessions();
    expect(ss.map((s) => [s.l4, s.port, s.steps.map((st) => st.dir + ':' + Buffer.from(st.bytes).toString())])).toEqual([
      ['udp', 50000, ['out:q1', 'out:q2', 'in:r1']],
      ['tcp', 50001, ['out:GET', 'in:OK']],
    ]);
    expect(x.stats.flows).toBe(3);
    expect(x.stats.flowsWithPayload).toBe(2);
  });

  it('caps the number of flows', () => {
    const x = new FlowExtractor({ maxFlows: 2 });
    for (let i = 0; i < 5; i++) x.add(pkt(A, 1000 + i, B, 53, 'udp', 0, 0, `q${i}`));
    expect(x.sessions().length).toBe(2);
    expect(x.stats.truncated).toBe(true);
  });
});

describe.skipIf(!existsSync(capture('edonkey.pcap')))('sessionsFromCapture', () => {
  it('turns the eDonkey capture into one TCP session starting with a 0xE3 message', () => {
    const { sessions, stats } = sessionsFromCapture(capture('edonkey.pcap'));
    expect(sessions.length).toBe(1);
    expect(sessions[0].l4).toBe('tcp');
    expect(sessions[0].steps[0].bytes[0]).toBe(0xe3);
    expect(stats.packets).toBeGreaterThan(0);
  });
});
