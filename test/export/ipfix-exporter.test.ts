/**
 * The IPFIX meter and exporter without a network: active and idle timeouts with delta counts and
 * flowEndReason (src/observe/ipfix/meter.ts), and the exporter's queue, drops, Template refresh,
 * TCP sessions, backpressure, Sequence Numbers and close (src/observe/ipfix/exporter.ts), on an
 * in-memory transport and a fake clock.
 */
import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/core/counters.js';
import { decodeIp } from '../../src/decode/index.js';
import { Flow, flowKey } from '../../src/flow/flow.js';
import { IpfixExporter, packMessages, type IpfixEvent } from '../../src/observe/ipfix/exporter.js';
import { FlowMeter } from '../../src/observe/ipfix/meter.js';
import { selectorOf, type ExportRecord } from '../../src/observe/ipfix/template.js';
import { ipv4 } from '../helpers/packets.js';
import { MemoryTransport, exportRecord } from './ipfix-helpers.js';

/** A flow of 10.0.0.1:4000 → 192.0.2.9:6881 (UDP) and a function that accounts one packet of it. */
function udpFlow(): { flow: Flow; packet: (dir: 0 | 1, ts: number) => void } {
  const pkt = (dir: 0 | 1) => {
    const r = decodeIp(ipv4(dir === 0
      ? { src: '10.0.0.1', dst: '192.0.2.9', sport: 4000, dport: 6881, l4: 'udp', payload: 'ping' }
      : { src: '192.0.2.9', dst: '10.0.0.1', sport: 6881, dport: 4000, l4: 'udp', payload: 'pong!' }), { verifyChecksums: false });
    if (!r.ok) throw new Error('test packet does not decode');
    return r.pkt;
  };
  const first = pkt(0);
  const flow = new Flow(flowKey(first), first, 0);
  return { flow, packet: (dir, ts) => flow.account(pkt(dir), dir, ts) };
}

describe('FlowMeter: NetFlow-style timeouts and delta counts', () => {
  it('idle timeout reports a decided flow with its counts so far; a later packet starts a new record', () => {
    const out: ExportRecord[] = [];
    const m = new FlowMeter({ activeTimeoutSec: 60, idleTimeoutSec: 5 }, (r) => out.push(r));
    const { flow, packet } = udpFlow();
    flow.classifyDone = true;
    for (const [dir, ts] of [[0, 0], [1, 1], [0, 2]] as const) {
      packet(dir, ts);
      m.packet(flow, ts);
    }
    m.sweep(6.9);
    expect(out).toEqual([]);
    m.sweep(7);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ packets: [2, 1], octets: [64, 33], startMs: 0, endMs: 2000, endReason: 1, src: '10.0.0.1', dport: 6881, initiator: true, selector: selectorOf(0), app: null });
    packet(1, 20);
    m.packet(flow, 20);
    m.ended(flow, 'flush');
    expect(out[1]).toMatchObject({ packets: [0, 1], octets: [0, 33], startMs: 20000, endMs: 20000, endReason: 4 });
    m.ended(flow, 'flush'); // nothing left to report
    expect(out).toHaveLength(2);
  });

  it('active timeout reports a running flow every activeTimeoutSec; the deltas add up to the flow', () => {
    const out: ExportRecord[] = [];
    const m = new FlowMeter({ activeTimeoutSec: 60, idleTimeoutSec: 5 }, (r) => out.push(r));
    const { flow, packet } = udpFlow();
    flow.classifyDone = true;
    flow.app = 'bittorrent';
    flow.mark = 1;
    flow.method = 'signature';
    for (let ts = 0; ts <= 130; ts++) {
      packet((ts % 2) as 0 | 1, ts);
      m.packet(flow, ts);
      m.sweep(ts);
    }
    m.ended(flow, 'idle');
    expect(out.map((r) => [r.startMs / 1000, r.endMs / 1000, r.endReason])).toEqual([[0, 60, 2], [61, 121, 2], [122, 130, 1]]);
    expect(out.reduce((n, r) => n + r.packets[0] + r.packets[1], 0)).toBe(flow.totalPkts);
    expect(out.reduce((n, r) => n + r.octets[0], 0)).toBe(flow.bytes[0]);
    expect(out.reduce((n, r) => n + r.octets[1], 0)).toBe(flow.bytes[1]);
    expect(out[0]).toMatchObject({ selector: 0x01010d, app: 'bittorrent', method: 'signature', verdict: 'accept' });
  });

  it('a flow still being classified is not reported idle; once decided it is, with its application', () => {
    const out: ExportRecord[] = [];
    const m = new FlowMeter({ activeTimeoutSec: 300, idleTimeoutSec: 5 }, (r) => out.push(r));
    const { flow, packet } = udpFlow();
    packet(0, 0);
    m.packet(flow, 0);
    m.sweep(100);
    expect(out).toEqual([]);
    Object.assign(flow, { classifyDone: true, app: 'p2p', mark: 8, method: 'host-heuristic' });
    m.sweep(101);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ selector: selectorOf(8), app: 'p2p', method: 'host-heuristic', endReason: 1 });
  });

  it('flowEndReason follows why the table ended the flow: idle 1, evicted 5, flush 4', () => {
    for (const [why, reason] of [['idle', 1], ['evicted', 5], ['flush', 4]] as const) {
      const out: ExportRecord[] = [];
      const m = new FlowMeter({ activeTimeoutSec: 300, idleTimeoutSec: 15 }, (r) => out.push(r));
      const { flow, packet } = udpFlow();
      packet(0, 0);
      m.packet(flow, 0);
      m.ended(flow, why);
      expect(out.map((r) => r.endReason), why).toEqual([reason]);
      expect(m.size).toBe(0);
    }
  });
});

/** An exporter on a MemoryTransport with a settable clock (ms). */
function harness(over: Partial<ConstructorParameters<typeof IpfixExporter>[0]> = {}) {
  const clock = { now: 1_000_000 };
  const counters = new Counters();
  const events: IpfixEvent[] = [];
  let t: MemoryTransport | null = null;
  const ex = new IpfixExporter(
    {
      host: '127.0.0.1', port: 4739, transport: 'udp', domain: 1, templateRefreshSec: 300, maxQueue: 4,
      now: () => clock.now, onEvent: (e) => events.push(e), transportFactory: (o) => (t = new MemoryTransport(o)), ...over,
    },
    counters,
  );
  return { ex, clock, counters, events, t: t! };
}

/** Set IDs of a Message, in order. */
function setIds(m: Uint8Array): number[] {
  const ids: number[] = [];
  for (let off = 16; off + 4 <= m.length; ) {
    ids.push((m[off] << 8) | m[off + 1]);
    off += (m[off + 2] << 8) | m[off + 3];
  }
  return ids;
}
const seqOf = (m: Uint8Array): number => Buffer.from(m).readUInt32BE(8);

describe('IpfixExporter', () => {
  it('a full queue drops (ipfix_dropped, ipfix_dropped_queue_full) with one dropping event, then recovered', () => {
    const { ex, counters, events } = harness();
    for (let i = 0; i < 6; i++) ex.push(exportRecord());
    expect(ex.queued).toBe(4);
    expect(counters.get('ipfix_dropped')).toBe(2);
    expect(counters.get('ipfix_dropped_queue_full')).toBe(2);
    expect(events).toEqual([{ type: 'dropping', collector: '127.0.0.1:4739', reason: 'queue_full' }]);
    ex.flush();
    expect(ex.queued).toBe(0);
    expect(ex.push(exportRecord())).toBe(true);
    expect(events[1]).toEqual({ type: 'recovered', collector: '127.0.0.1:4739', dropped: 2 });
    expect(counters.get('ipfix_records')).toBe(4);
  });

  it('UDP: Templates and the application table open the session and come again every template_refresh seconds', () => {
    const { ex, clock, counters, t } = harness();
    ex.announce([{ selector: 13, name: 'unknown', description: 'not classified' }]);
    ex.push(exportRecord());
    ex.flush();
    expect(t.sent.map((m) => setIds(m.bytes))).toEqual([[2, 3, 3, 258, 259], [256]]);
    clock.now += 299_000;
    ex.push(exportRecord());
    ex.flush();
    expect(setIds(t.sent[2].bytes)).toEqual([256]);
    clock.now += 1_000;
    ex.flush();
    expect(setIds(t.sent[3].bytes)).toEqual([2, 3, 3, 258, 259]);
    expect(counters.get('ipfix_template_sends')).toBe(2);
    // Sequence Numbers count the Data Records sent before each Message (options records included).
    expect(t.sent.map((m) => seqOf(m.bytes))).toEqual([0, 2, 3, 4]);
  });

  it('an application added later is announced at the next flush, without the Templates', () => {
    const { ex, t } = harness();
    ex.flush();
    ex.announce([{ selector: selectorOf(3), name: 'gnutella', description: 'Gnutella' }]);
    ex.announce([{ selector: selectorOf(3), name: 'gnutella', description: 'Gnutella' }]); // unchanged: nothing new
    ex.flush();
    ex.flush();
    expect(t.sent.map((m) => setIds(m.bytes))).toEqual([[2, 3, 3], [258, 259]]);
    expect(ex.nameOf(selectorOf(3))).toBe('gnutella');
  });

  it('TCP: no periodic refresh; a new session (reconnection) resends the Templates and restarts Sequence Numbers', () => {
    const { ex, clock, t } = harness({ transport: 'tcp' });
    ex.push(exportRecord());
    ex.flush();
    clock.now += 3_600_000;
    ex.push(exportRecord());
    ex.flush();
    expect(t.sent.map((m) => setIds(m.bytes))).toEqual([[2, 3, 3], [256], [256]]);
    t.o.onSession();
    ex.push(exportRecord());
    ex.flush();
    expect(t.sent.slice(3).map((m) => [setIds(m.bytes), seqOf(m.bytes)])).toEqual([[[2, 3, 3], 0], [[256], 0]]);
  });

  it('never waits on the transport: a full backlog keeps records queued until it drains', () => {
    const { ex, t } = harness({ maxQueue: 10_000, maxMessageOctets: 200 });
    t.hold = true;
    for (let i = 0; i < 200; i++) ex.push(exportRecord());
    ex.flush();
    expect(t.backlog).toBe(64);
    expect(ex.queued).toBeGreaterThan(0);
    const left = ex.queued;
    t.release();
    t.hold = false;
    ex.flush();
    expect(ex.queued).toBe(0);
    expect(left).toBeGreaterThan(0);
    const records = t.sent.reduce((n, m) => n + (setIds(m.bytes)[0] === 256 ? m.records : 0), 0);
    expect(records).toBe(200);
  });

  it('offline (replay) never drops; close sends everything', async () => {
    const { ex, counters, t } = harness({ offline: true, maxQueue: 1 });
    for (let i = 0; i < 500; i++) ex.push(exportRecord({ sport: 1000 + i }));
    await ex.close(1000);
    expect(counters.get('ipfix_dropped')).toBe(0);
    expect(counters.get('ipfix_records')).toBe(500);
    expect(t.sent.every((m) => m.bytes.length <= 1400)).toBe(true);
  });

  it('close gives up at its deadline: what is still queued is dropped (ipfix_dropped_closed)', async () => {
    const { ex, counters, t } = harness({ transport: 'tcp' });
    t.ready = false; // never connects
    ex.push(exportRecord());
    ex.push(exportRecord());
    await ex.close(50);
    expect(counters.get('ipfix_dropped_closed')).toBe(2);
    expect(ex.push(exportRecord())).toBe(false);
    expect(counters.get('ipfix_dropped_closed')).toBe(3);
  });

  it('a record that cannot be encoded is dropped and counted, the others go out', () => {
    const { ex, counters, t } = harness();
    ex.push(exportRecord({ src: 'not-an-address' }));
    ex.push(exportRecord());
    ex.flush();
    expect(counters.get('ipfix_dropped_encode')).toBe(1);
    expect(t.sent.at(-1)!.records).toBe(1);
  });
});

describe('packMessages', () => {
  it('splits at the Message size, groups a Set per Set ID, and counts Sequence Numbers by Data Records', () => {
    const item = (setId: number, n: number, data = true) => ({ setId, bytes: new Uint8Array(n), data });
    const { messages, seq } = packMessages([item(2, 40, false), item(256, 40), item(256, 40), item(257, 40), item(256, 40)], 120, { exportTime: 0, domain: 1, seq: 10 });
    expect(messages.map((m) => [setIds(m.bytes), m.records, seqOf(m.bytes), m.bytes.length])).toEqual([
      [[2, 256], 1, 10, 104],
      [[256, 257], 2, 11, 104],
      [[256], 1, 13, 60],
    ]);
    expect(seq).toBe(14);
    expect(() => packMessages([item(256, 200)], 120, { exportTime: 0, domain: 1, seq: 0 })).toThrow(/does not fit a 120-octet Message/);
  });
});
