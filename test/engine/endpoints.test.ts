/**
 * Endpoint knowledge end to end (issue 12): a crafted capture in which a DHT get_peers reply (or
 * an HTTP tracker reply) lists endpoint X, followed by a new TCP connection to X carrying random
 * bytes: replayed through the pipeline, that connection is classified at its SYN (method
 * `endpoint`, source `dht` / `tracker`); with the table off (`endpoints: {size: 0}`) it is not.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { Pipeline } from '../../src/runtime/pipeline.js';
import { pipelineOptions } from '../../src/runtime/setup.js';
import { parseConfig } from '../../src/config/load.js';
import { APPS } from '../../src/apps/registry.js';
import { loadRules } from '../../src/apps/rules.js';
import { Classifier } from '../../src/apps/classifier.js';
import { Counters } from '../../src/core/counters.js';
import { readCaptureFile } from '../../src/capture/pcap.js';
import { flowRecord } from '../../src/observe/flowrecord.js';
import { ascii, bencode, concat, prngBytes } from '../../src/apps/bytes.js';
import type { Verdict } from '../../src/core/types.js';
import type { Flow } from '../../src/flow/flow.js';
import { pcapOf, tcpSession, type Pkt } from '../helpers/packets.js';
import { CLIENT, X, XPORT, compact, dhtThenPeer } from '../helpers/endpoint-flows.js';
import { buildContent } from '../../src/content/setup.js';
import { learningWindow } from '../../src/runtime/enforcement.js';
import { mergeStatus } from '../../src/runtime/supervisor.js';
import { renderEndpoints } from '../../src/cli/status.js';

/** The registry, with BitTorrent's learner attached if src/apps/bittorrent/detect.ts does not attach it yet. */
const REGISTRY = APPS;

function trackerThenPeer(): Pkt[] {
  const get = 'GET /announce?info_hash=%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13%14&peer_id=-TR3000-abcdefghijkl&port=6881&left=0 HTTP/1.1\r\nHost: tracker\r\n\r\n';
  const body = bencode({ interval: 1800, peers: compact(X, XPORT) });
  const resp = concat(ascii(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body);
  // The response arrives in two segments (split inside the bencoded body).
  const tracker = tcpSession(CLIENT, 39000, '10.9.0.2', 80, [{ dir: 0, data: get }, { dir: 1, data: resp }], resp.length - 5);
  return [...tracker, ...tcpSession(CLIENT, 40000, X, XPORT, [{ dir: 0, data: prngBytes(3, 200) }])];
}

/** Replays `pkts` (written as a pcap and read back) through a pipeline built from `yaml` (`content`: with content inspection). */
function replay(pkts: Pkt[], yaml = '', content = false) {
  const cfg = parseConfig(yaml, 't.yaml', APPS.map((a) => a.name));
  const rules = loadRules(cfg.rulesDir, APPS.map((a) => a.name));
  const classifier = new Classifier(REGISTRY, rules, { packets: cfg.classify.packets, bytes: cfg.classify.bytes }, cfg.apps);
  const counters = new Counters();
  const ended: Flow[] = [];
  const setup = content ? buildContent(cfg, counters, 'replay') : undefined;
  const p = new Pipeline(classifier, pipelineOptions(cfg, true, setup), counters, { onFlowEnd: (f) => ended.push(f) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-endpoints-'));
  const file = path.join(dir, 'x.pcap');
  fs.writeFileSync(file, pcapOf(pkts));
  const verdicts: (Verdict | null)[] = [];
  for (const rec of readCaptureFile(file, counters)) verdicts.push(p.handle(rec.ip!, rec.ts));
  p.flush();
  void setup?.close();
  fs.rmSync(dir, { recursive: true });
  const peerFlow = ended.find((f) => f.dst === X && f.l4 === 'tcp')!;
  return { p, counters, ended, verdicts, peerFlow, mark: classifier.app('bittorrent')!.mark };
}

describe('endpoint knowledge in the pipeline', () => {
  it('a TCP connection to a peer listed in a DHT reply is classified at its SYN (method endpoint, source dht)', () => {
    const { peerFlow, verdicts, mark, counters, p } = replay(dhtThenPeer());
    expect(verdicts[2]).toEqual({ verdict: 'repeat', mark }); // the SYN
    expect(peerFlow).toMatchObject({ app: 'bittorrent', method: 'endpoint', learnedFrom: 'dht', classifiedAfterPkts: 1 });
    expect(flowRecord(peerFlow, 'x.pcap')).toMatchObject({ app: 'bittorrent', method: 'endpoint', learned_from: 'dht' });
    expect(peerFlow.reason).toBe(`endpoint ${X}:${XPORT}/tcp learned from dht`);
    expect(counters.get('endpoint_learned_dht')).toBe(2); // X over TCP and UDP
    expect(counters.get('endpoint_learned_flow')).toBe(2); // the DHT node and the client's DHT port
    expect(counters.get('endpoint_hits')).toBe(1);
    expect(p.endpoints!.table.stats()).toMatchObject({ hits: 1, hits_by_source: { dht: 1 } });
  });

  it('when BitTorrent is blocked, the SYN itself gets the mark (the kernel rejects it) and the flow is reset', () => {
    // Blocked, the query's reply never comes back (no learning window): here the reply is the
    // flow's first datagram (the query was not seen), so it classifies the flow and is learned from.
    const { peerFlow, verdicts, mark } = replay(dhtThenPeer().slice(1), 'apps:\n  bittorrent: {action: block}\n');
    expect(verdicts[1]).toEqual({ verdict: 'repeat', mark });
    expect(peerFlow).toMatchObject({ app: 'bittorrent', verdict: 'reset', method: 'endpoint' });
  });

  it('a peer listed in an HTTP tracker reply (split over segments) is learned in the learning window', () => {
    const { peerFlow, counters, ended } = replay(trackerThenPeer());
    expect(ended.find((f) => f.dport === 80)).toMatchObject({ app: 'bittorrent' });
    expect(peerFlow).toMatchObject({ app: 'bittorrent', method: 'endpoint', learnedFrom: 'tracker' });
    expect(counters.get('endpoint_learned_listen-port')).toBe(2); // the client's port= (TCP and UDP)
    expect(counters.get('endpoint_learned_flow')).toBe(0); // a tracker is no peer
  });

  it('an inspected tracker connection feeds the learner from the inspector’s stream', () => {
    const { peerFlow, p } = replay(trackerThenPeer(), 'apps:\n  bittorrent: {action: inspect}\nscan: {enabled: false}\n', true);
    expect(p.inspect).not.toBeNull();
    expect(peerFlow).toMatchObject({ app: 'bittorrent', method: 'endpoint', learnedFrom: 'tracker' });
  });

  it('with the table off (size 0) or its sources disabled, the connection is not classified', () => {
    for (const yaml of ['endpoints: {size: 0}\n', 'endpoints: {sources: [flow]}\n', 'endpoints: {learn_packets: 0}\n']) {
      const { peerFlow, verdicts } = replay(yaml.includes('learn') ? trackerThenPeer() : dhtThenPeer(), yaml);
      expect(peerFlow.app, yaml).toBeNull();
      expect(peerFlow.method, yaml).toBeNull();
      if (!yaml.includes('learn')) expect(verdicts[2]).toEqual({ verdict: 'accept' });
    }
  });
});

describe('endpoint knowledge: rules, status and reload', () => {
  const classifierFor = (yaml: string) => {
    const cfg = parseConfig(yaml, 't.yaml', APPS.map((a) => a.name));
    const rules = loadRules(cfg.rulesDir, APPS.map((a) => a.name));
    return { cfg, cl: new Classifier(REGISTRY, rules, { packets: 8, bytes: 2048 }, cfg.apps) };
  };

  it('the learning window covers allowed applications with a learner, and is off with the table', () => {
    const { cfg, cl } = classifierFor('');
    expect(learningWindow(cfg, cl)).toEqual({ marks: [{ mark: cl.app('bittorrent')!.mark }, { mark: cl.app('edonkey')!.mark }], packets: 16 });
    const blocked = classifierFor('apps:\n  bittorrent: {action: block}\n  edonkey: {action: block}\n');
    expect(learningWindow(blocked.cfg, blocked.cl)).toBeUndefined();
    const oneBlocked = classifierFor('apps:\n  bittorrent: {action: block}\n');
    expect(learningWindow(oneBlocked.cfg, oneBlocked.cl)).toEqual({ marks: [{ mark: cl.app('edonkey')!.mark }], packets: 16 });
    const off = classifierFor('endpoints: {size: 0}\n');
    expect(learningWindow(off.cfg, off.cl)).toBeUndefined();
  });

  it('status: the supervisor sums the workers’ tables; the text shows size, capacity, hits and learned per source', () => {
    const e = (n: number) => ({ size: n, capacity: 10, hits: n, evicted: 0, expired: 1, learned: { dht: n }, hits_by_source: { dht: n } });
    const merged = mergeStatus([{ counters: {}, endpoints: e(1) }, { counters: {}, endpoints: e(2) }]);
    expect(merged.endpoints).toEqual({ size: 3, capacity: 20, hits: 3, evicted: 0, expired: 2, learned: { dht: 3 }, hits_by_source: { dht: 3 } });
    expect(mergeStatus([{ counters: {}, endpoints: null }]).endpoints).toBeNull();
    expect(renderEndpoints(e(2))).toEqual(['endpoints: 2 known of 10, 2 hits (dht 2), 0 evicted, 1 expired', 'endpoints learned: dht 2']);
  });

  it('a reload shrinks the table and changes the window', () => {
    const { p } = replay(dhtThenPeer());
    expect(p.endpoints!.table.size).toBe(4);
    p.setEndpoints({ size: 1, ttlSec: 10, sources: ['dht'], learnPackets: 0 });
    expect(p.endpoints!.table.size).toBe(1);
    expect(p.endpoints!.table.stats().capacity).toBe(1);
  });
});
