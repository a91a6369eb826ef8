/**
 * Issue 14, item 2: an inspected connection whose state was lost (its flow evicted, or the daemon
 * restarted) must not leave inspection silently. Packets of inspected connections reach the daemon
 * with the connmark restored into their nfmark; a packet carrying an inspected application's mark
 * for a flow the table does not know is judged by `inspect.lost_state` (reset by default, or pass),
 * counted and logged once. The flow table evicts connections that are not being inspected first.
 */
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Pipeline } from '../../src/runtime/pipeline.js';
import { pipelineOptions, buildClassifier } from '../../src/runtime/setup.js';
import { parseConfig } from '../../src/config/load.js';
import { APPS } from '../../src/apps/registry.js';
import { Counters } from '../../src/core/counters.js';
import { buildContent } from '../../src/content/setup.js';
import { decodeIp } from '../../src/decode/index.js';
import { TCP_ACK, TCP_RST } from '../../src/decode/types.js';
import type { Verdict } from '../../src/core/types.js';
import type { Flow } from '../../src/flow/flow.js';
import { ipv4, tcpSession, type Pkt } from '../helpers/packets.js';
import { flowRecord } from '../../src/observe/flowrecord.js';

const C = '10.1.0.2';
const S = '10.2.0.2';
const HTTP = 0x7;
const KILL = 0xfe;

function setup(yaml: string) {
  const cfg = parseConfig(yaml, 't.yaml', APPS.map((a) => a.name));
  const { classifier } = buildClassifier(cfg);
  const counters = new Counters();
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void logs.push(JSON.parse(s)) });
  const content = buildContent(cfg, counters, 'replay', logger);
  const ended: Flow[] = [];
  const late: [number, Verdict][] = [];
  const p = new Pipeline(classifier, pipelineOptions(cfg, true, content), counters, {
    onFlowEnd: (f) => ended.push(f),
    onVerdict: (id, v) => late.push([id, v]),
  });
  let id = 1;
  const send = (pkt: Pkt, mark = 0, ts = 1000) => p.handle(ipv4(pkt), ts, id++, mark);
  return { p, counters, logs, ended, late, send, close: () => content.close() };
}

/** A mid-stream data segment server → client of an HTTP download, and the client's ACK. */
const data: Pkt = { src: S, sport: 80, dst: C, dport: 40000, l4: 'tcp', seq: 90000, ack: 2000, flags: 0x18, payload: 'x'.repeat(500) };
const ack: Pkt = { src: C, sport: 40000, dst: S, dport: 80, l4: 'tcp', seq: 2000, ack: 90500, flags: 0x10 };
const lost = (logs: Record<string, unknown>[]) => logs.filter((l) => l.msg === 'lost state');

describe('inspect.lost_state', () => {
  it('reset (default): the first packet becomes a RST toward its receiver with the kill mark; later ones are dropped; counted and logged once', () => {
    const t = setup('apps:\n  http: {action: inspect}\n');
    const v = t.send(data, HTTP);
    expect(v).toMatchObject({ verdict: 'repeat', mark: KILL });
    const rst = decodeIp((v as { packet: Uint8Array }).packet, { verifyChecksums: true });
    expect(rst.ok).toBe(true);
    if (rst.ok) expect(rst.pkt).toMatchObject({ src: S, sport: 80, dst: C, dport: 40000, seq: 90000, flags: TCP_RST | TCP_ACK, payload: new Uint8Array(0) });
    expect(t.send(ack, HTTP)).toEqual({ verdict: 'drop' });
    expect(t.send(data, HTTP)).toEqual({ verdict: 'drop' });
    expect(t.counters.get('inspect_lost_state_reset')).toBe(1);
    expect(t.counters.get('classified_http') ?? 0).toBe(0);
    expect(lost(t.logs)).toHaveLength(1);
    expect(lost(t.logs)[0]).toMatchObject({ app: 'http', mark: HTTP, verdict: 'reset', policy: 'reset', src: S, sport: 80, dst: C, dport: 40000 });
    t.p.flush();
    expect(flowRecord(t.ended[0], 'live')).toMatchObject({ app: 'http', mark: HTTP, verdict: 'reset', reason: expect.stringMatching(/inspection state lost/) });
    void t.close();
  });

  it('a RST of a lost connection travels on unchanged with the kill mark', () => {
    const t = setup('apps:\n  http: {action: inspect}\n');
    expect(t.send({ ...ack, flags: TCP_RST | TCP_ACK }, HTTP)).toEqual({ verdict: 'repeat', mark: KILL });
    void t.close();
  });

  it('pass: the connection keeps its mark and is accepted uninspected; counted and logged once', () => {
    const t = setup('apps:\n  http: {action: inspect}\ninspect: {lost_state: pass}\n');
    expect(t.send(data, HTTP)).toEqual({ verdict: 'repeat', mark: HTTP });
    expect(t.send(ack, HTTP)).toEqual({ verdict: 'repeat', mark: HTTP });
    expect(t.send(data, HTTP)).toEqual({ verdict: 'repeat', mark: HTTP });
    expect(t.counters.get('inspect_lost_state_pass')).toBe(1);
    expect(t.counters.get('inspect_lost_state_reset') ?? 0).toBe(0);
    expect(lost(t.logs)).toEqual([expect.objectContaining({ app: 'http', verdict: 'accept', policy: 'pass' })]);
    expect(t.counters.get('inspected_flows') ?? 0).toBe(0);
    void t.close();
  });

  it('does not apply without an inspected mark, to UDP, or to an inspected application without a stream inspector', () => {
    const t = setup('apps:\n  http: {action: inspect}\n  edonkey: {action: inspect}\n');
    // nfmark 0 (the classification rule queued it): the usual pipeline, no lost state
    expect(t.send({ ...data, sport: 81 }, 0)).toEqual({ verdict: 'accept' });
    // a mark that is not an inspected application's: the usual pipeline
    expect(t.send({ ...data, sport: 82 }, 0x5)).toEqual({ verdict: 'accept' });
    // UDP of an inspected application and an application without an inspector: nothing was inspected, the mark is kept silently
    expect(t.send({ src: C, sport: 5000, dst: S, dport: 80, l4: 'udp', payload: 'hello' }, HTTP)).toEqual({ verdict: 'repeat', mark: HTTP });
    expect(t.send({ ...data, sport: 4662 }, 0x2)).toEqual({ verdict: 'repeat', mark: 0x2 });
    expect(t.counters.get('inspect_lost_state_reset') ?? 0).toBe(0);
    expect(lost(t.logs)).toEqual([]);
    void t.close();
  });

  it('an inspected connection seen from its SYN is inspected as before, and its packets carrying the mark are not "lost"', () => {
    const t = setup('apps:\n  http: {action: inspect}\n');
    const pkts = tcpSession(C, 40001, S, 80, [{ dir: 0, data: 'GET /a HTTP/1.1\r\nHost: s\r\n\r\n' }, { dir: 1, data: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc' }]);
    // the first packets arrive through the classification rule (nfmark 0), later ones with the restored mark
    const verdicts = pkts.map((pk, i) => t.send(pk, i < 4 ? 0 : HTTP));
    expect(verdicts.at(-1)).toEqual({ verdict: 'repeat', mark: HTTP });
    expect(t.counters.get('inspected_flows')).toBe(1);
    expect(t.counters.get('inspect_lost_state_reset') ?? 0).toBe(0);
    void t.close();
  });
});

describe('flow eviction prefers connections that are not being inspected', () => {
  const download = (port: number) =>
    tcpSession(C, port, S, 80, [{ dir: 0, data: 'GET /big HTTP/1.1\r\nHost: s\r\n\r\n' }, { dir: 1, data: 'HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nabc' }]);
  const flood = (n: number): Pkt[] => Array.from({ length: n }, (_, i) => ({ src: `10.9.${i >> 8}.${i & 255}`, sport: 1024 + i, dst: S, dport: 443, l4: 'tcp', seq: i, flags: 0x02 }));

  it('a SYN flood at the flow cap evicts its own flows, not the idle inspected transfer, which goes on being inspected', () => {
    const t = setup('apps:\n  http: {action: inspect}\nflow: {max_flows: 8}\n');
    for (const pk of download(40002)) t.send(pk, 0, 1000);
    expect(t.counters.get('inspected_flows')).toBe(1);
    for (const pk of flood(200)) t.send(pk, 0, 1001);
    expect(t.counters.get('flow_evicted')).toBe(1 + 200 - 8);
    expect(t.ended.some((f) => f.dport === 80)).toBe(false);
    // the transfer's next segment, queued with the restored mark, is still inspected: no lost state
    const last = download(40002).at(-1)!;
    const next: Pkt = { ...last, seq: last.seq! + (last.payload as Uint8Array).length, payload: 'more' };
    expect(t.send(next, HTTP, 1002)).toBeNull(); // judged by the inspection engine (its verdict comes through onVerdict)
    expect(t.late.at(-1)?.[1]).toEqual({ verdict: 'repeat', mark: HTTP });
    expect(t.counters.get('inspect_lost_state_reset') ?? 0).toBe(0);
    void t.close();
  });

  it('control: an allowed (not inspected) connection is evicted by the same flood', () => {
    const t = setup('flow: {max_flows: 8}\n');
    for (const pk of download(40003)) t.send(pk, 0, 1000);
    for (const pk of flood(200)) t.send(pk, 0, 1001);
    expect(t.ended.some((f) => f.dport === 80 && f.app === 'http')).toBe(true);
    void t.close();
  });

  it('an inspected flow evicted with packets held drops them under reset, accepts them under pass', () => {
    for (const [policy, want] of [['reset', { verdict: 'drop' }], ['pass', { verdict: 'repeat', mark: HTTP }]] as const) {
      const t = setup(`apps:\n  http: {action: inspect}\nflow: {max_flows: 1}\ninspect: {lost_state: ${policy}}\n`);
      const pkts = download(40004);
      for (const pk of pkts) t.send(pk, 0, 1000); // handshake, GET, response head: classified, inspected
      expect(t.counters.get('inspected_flows')).toBe(1);
      // a response segment after a gap is held, waiting for the missing bytes
      const last = pkts.at(-1)!;
      const held = t.send({ ...last, seq: last.seq! + (last.payload as Uint8Array).length + 100, payload: 'later' }, HTTP, 1000);
      expect(held).toBeNull();
      t.send(flood(1)[0], 0, 1001); // the table is full of kept flows: the inspected one goes
      expect(t.ended.map((f) => f.dport)).toEqual([80]);
      expect(t.late.map(([, v]) => v)).toEqual([want]);
      void t.close();
    }
  });
});
