import { describe, it, expect } from 'vitest';
import { Pipeline } from '../../src/runtime/pipeline.js';
import { buildClassifier, pipelineOptions } from '../../src/runtime/setup.js';
import { parseConfig } from '../../src/config/load.js';
import { APPS } from '../../src/apps/registry.js';
import { Counters } from '../../src/core/counters.js';
import { ipv4, tcpSession } from '../helpers/packets.js';
import type { Flow } from '../../src/flow/flow.js';

const BT = '\x13BitTorrent protocol' + '\0'.repeat(8) + 'A'.repeat(20) + 'B'.repeat(20);

function make(yaml = '', verify = true) {
  const cfg = parseConfig(yaml, 't.yaml', APPS.map((a) => a.name));
  cfg.rulesDir = parseConfig('', 'x', APPS.map((a) => a.name)).rulesDir;
  const { classifier } = buildClassifier(cfg);
  const counters = new Counters();
  const ended: Flow[] = [];
  const p = new Pipeline(classifier, pipelineOptions(cfg, verify), counters, { onFlowEnd: (f) => ended.push(f) });
  return { p, counters, ended, cfg, classifier };
}

describe('Pipeline', () => {
  it('classifies a BitTorrent handshake split across segments and answers NF_REPEAT with the mark', () => {
    const { p, classifier } = make();
    const mark = classifier.app('bittorrent')!.mark;
    const pkts = tcpSession('10.1.0.2', 40000, '10.2.0.2', 45000, [{ dir: 0, data: BT }, { dir: 1, data: BT }], 7);
    const verdicts = pkts.map((k, i) => p.handle(ipv4(k), i));
    // SYN, SYN/ACK, ACK, then 9 segments of 7 bytes: the 3rd segment completes the 20-byte signature
    expect(verdicts.slice(0, 5).every((v) => v.verdict === 'accept')).toBe(true);
    expect(verdicts[5]).toEqual({ verdict: 'repeat', mark });
    expect(verdicts.slice(6).every((v) => v.verdict === 'repeat' && v.mark === mark)).toBe(true);
  });

  it('a blocked TCP application gets verdict reset in its flow record; UDP would be drop', () => {
    const { p, ended } = make('apps:\n  bittorrent: {action: block}\n');
    for (const [i, k] of tcpSession('10.1.0.2', 40001, '10.2.0.2', 45000, [{ dir: 0, data: BT }]).entries()) p.handle(ipv4(k), i);
    p.flush();
    expect(ended[0]).toMatchObject({ app: 'bittorrent', verdict: 'reset' });
  });

  it('a packet with a bad checksum is accepted without processing and counted (thesis §3.4)', () => {
    const { p, counters } = make();
    const bytes = ipv4({ src: '10.1.0.2', dst: '10.2.0.2', sport: 1, dport: 2, l4: 'tcp', payload: BT });
    bytes[bytes.length - 1] ^= 0xff;
    expect(p.handle(bytes, 0)).toEqual({ verdict: 'accept' });
    expect(counters.get('tcp_bad_checksum')).toBe(1);
    expect(counters.get('accepted_unjudged')).toBe(1);
    expect(p.flows.size).toBe(0);
  });

  it('malformed input never throws: every truncation of a packet is accepted', () => {
    const { p, counters } = make();
    const bytes = ipv4({ src: '10.1.0.2', dst: '10.2.0.2', sport: 1, dport: 2, l4: 'udp', payload: 'd1:ad2:id20:' });
    for (let n = 0; n < bytes.length; n++) expect(p.handle(bytes.subarray(0, n), 0).verdict).toBe('accept');
    expect(counters.get('accepted_unjudged')).toBe(bytes.length);
  });

  it('unclassified traffic is given the unknown mark once the window is spent, so it leaves user space', () => {
    const { p, cfg } = make('classify: {packets: 2}\n');
    const junk = (n: number) => Uint8Array.from({ length: 40 }, (_, i) => (i * 7 + n) & 0xff | 0x80);
    const pkts = tcpSession('10.1.0.2', 40002, '10.2.0.2', 45001, [0, 1, 2, 3].map((n) => ({ dir: (n % 2) as 0 | 1, data: junk(n) })));
    const v = pkts.map((k, i) => p.handle(ipv4(k), i));
    expect(v.at(-1)).toEqual({ verdict: 'repeat', mark: cfg.classify.unknownMark });
  });

  it('a throwing dissector is excluded for that flow and counted; the packet is still judged', () => {
    const { p, counters, classifier } = make();
    const http = classifier.app('http')!;
    const orig = http.desc.search;
    (http.desc as { search: typeof orig }).search = () => {
      throw new Error('boom');
    };
    try {
      const pkts = tcpSession('10.1.0.2', 40003, '10.2.0.2', 80, [{ dir: 0, data: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' }]);
      for (const [i, k] of pkts.entries()) expect(p.handle(ipv4(k), i).verdict).toMatch(/accept|repeat/);
      expect(counters.get('dissector_error_http')).toBe(1);
    } finally {
      (http.desc as { search: typeof orig }).search = orig;
    }
  });
});
