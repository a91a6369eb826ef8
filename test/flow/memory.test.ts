/**
 * Per-flow memory (issue 14, item 6), without timing or RSS (`node bench/memory.mjs` measures
 * those): a flow that never carried a byte (a SYN flood) gets no pipeline state, and when bytes come
 * the stream is reassembled exactly as before (the SYNs seen without state are replayed into the
 * reassembler); flow counters read the same; after a flood falls away the daemon asks V8 for one
 * collection (HeapRelease).
 */
import { describe, expect, it } from 'vitest';
import { Pipeline } from '../../src/runtime/pipeline.js';
import { buildClassifier, pipelineOptions } from '../../src/runtime/setup.js';
import { parseConfig } from '../../src/config/load.js';
import { APPS } from '../../src/apps/registry.js';
import { Counters } from '../../src/core/counters.js';
import { HeapRelease } from '../../src/runtime/heap-release.js';
import type { Flow } from '../../src/flow/flow.js';
import { ipv4, tcpSession } from '../helpers/packets.js';

const BT = '\x13BitTorrent protocol' + '\0'.repeat(8) + 'A'.repeat(20) + 'B'.repeat(20);

function make() {
  const cfg = parseConfig('', 't.yaml', APPS.map((a) => a.name));
  const { classifier } = buildClassifier(cfg);
  const ended: Flow[] = [];
  const p = new Pipeline(classifier, pipelineOptions(cfg, true), new Counters(), { onFlowEnd: (f) => ended.push(f) });
  return { p, ended, mark: classifier.app('bittorrent')!.mark };
}

describe('per-flow state', () => {
  it('a SYN flood leaves flows without pipeline state; their records are as before', () => {
    const { p, ended } = make();
    for (let i = 0; i < 500; i++) {
      const [syn] = tcpSession(`10.9.${i >> 8}.${i & 255}`, 40000 + i, '10.2.0.2', 6881, []);
      expect(p.handle(ipv4(syn), 1)).toEqual({ verdict: 'accept' });
    }
    expect(p.flows.size).toBe(500);
    expect([...p.flows.values()].every((f) => f.state === null)).toBe(true);
    p.flush();
    expect(ended).toHaveLength(500);
    expect(ended[0]).toMatchObject({ app: null, reason: 'unclassified: flow ended (flush) before a decision', verdict: 'accept' });
    expect(ended[0].pkts).toEqual([1, 0]);
    expect(ended[0].bytes).toEqual([40, 0]);
  });

  it('state comes with the first byte, and the handshake seen before it still orders the stream', () => {
    const { p, mark } = make();
    // SYN, SYN/ACK, ACK without state; then the handshake's data in two segments, the second first:
    // only the SYN's sequence number tells that the second one is out of order.
    const pkts = tcpSession('10.1.0.2', 40000, '10.2.0.2', 45000, [{ dir: 0, data: BT }], 34);
    expect(pkts).toHaveLength(5);
    for (const k of pkts.slice(0, 3)) expect(p.handle(ipv4(k), 1)).toEqual({ verdict: 'accept' });
    const flow = [...p.flows.values()][0];
    expect(flow.state).toBeNull();
    expect(p.handle(ipv4(pkts[4]), 2)).toEqual({ verdict: 'accept' }); // buffered: out of order
    expect(flow.state).not.toBeNull();
    expect(p.handle(ipv4(pkts[3]), 3)).toEqual({ verdict: 'repeat', mark });
    expect(flow).toMatchObject({ app: 'bittorrent', method: 'signature' });
    expect(p.counters.get('tcp_out_of_order')).toBe(1);
  });
});

describe('HeapRelease', () => {
  it('asks for one collection when the flow count falls to a quarter of a big enough peak', () => {
    let asked = 0;
    const r = new HeapRelease(1000, () => (asked++, true));
    for (const n of [10, 500, 999, 100]) expect(r.tick(n)).toBe(false); // peak below 1,000
    for (const n of [4000, 65536, 30000, 16385]) expect(r.tick(n)).toBe(false);
    expect(r.tick(16384)).toBe(true); // 65,536 / 4
    expect(asked).toBe(1);
    for (const n of [10000, 5000, 4097]) expect(r.tick(n)).toBe(false); // the new peak is 16,384
    expect(r.tick(4096)).toBe(true);
    expect(asked).toBe(2);
  });
});
