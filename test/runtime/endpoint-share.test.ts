/**
 * Endpoint knowledge shared between queue workers (src/runtime/endpoint-share.ts): two pipelines
 * stand for two workers; the DHT reply that lists peer X reaches one, the connection to X the
 * other. With sharing (a JSON round trip stands for the IPC channel) the second classifies the
 * connection at its SYN; without, it does not. Also: batching, adoption without counting as
 * learned, caps, malformed messages, and the supervisor's relay between real child processes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as turn } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { APPS } from '../../src/apps/registry.js';
import { Classifier } from '../../src/apps/classifier.js';
import { loadRules } from '../../src/apps/rules.js';
import { parseConfig } from '../../src/config/load.js';
import { Counters } from '../../src/core/counters.js';
import type { Verdict } from '../../src/core/types.js';
import type { Flow } from '../../src/flow/flow.js';
import { EndpointTable } from '../../src/flow/endpoints.js';
import { Pipeline } from '../../src/runtime/pipeline.js';
import { pipelineOptions } from '../../src/runtime/setup.js';
import { EndpointShare, SHARE_TAG, shareOverIpc, type IpcProcess, type ShareMessage } from '../../src/runtime/endpoint-share.js';
import { WorkerPool } from '../../src/runtime/worker-pool.js';
import { ipv4 } from '../helpers/packets.js';
import { X, XPORT, dhtThenPeer } from '../helpers/endpoint-flows.js';
import { waitUntil } from '../helpers/wait.js';

const names = APPS.map((a) => a.name);

/** A worker's packet path: a pipeline built from the default config, and what it ended. */
function worker() {
  const cfg = parseConfig('', 't.yaml', names);
  const classifier = new Classifier(APPS, loadRules(cfg.rulesDir, names), { packets: cfg.classify.packets, bytes: cfg.classify.bytes }, cfg.apps);
  const counters = new Counters();
  const ended: Flow[] = [];
  const p = new Pipeline(classifier, pipelineOptions(cfg, true), counters, { onFlowEnd: (f) => ended.push(f) });
  return { p, counters, ended, mark: classifier.app('bittorrent')!.mark };
}

/** Two IPC ends wired to each other; messages cross as JSON (child_process' default serialization). */
function ipcPair(): [IpcProcess, IpcProcess] {
  const listeners: ((m: unknown) => void)[][] = [[], []];
  const end = (me: 0 | 1): IpcProcess => ({
    send: (m: ShareMessage) => {
      const copy: unknown = JSON.parse(JSON.stringify(m));
      for (const fn of listeners[1 - me]) fn(copy);
      return true;
    },
    on: (_ev: 'message', fn: (m: unknown) => void) => listeners[me].push(fn),
    channel: null,
  });
  return [end(0), end(1)];
}

describe('endpoint sharing between queue workers', () => {
  it('a peer learned by one worker classifies the connection another worker sees, at its SYN', async () => {
    for (const shared of [true, false]) {
      const a = worker();
      const b = worker();
      if (shared) {
        const [ia, ib] = ipcPair();
        expect(shareOverIpc(a.p.endpoints, 4096, a.counters, ia)).not.toBeNull();
        expect(shareOverIpc(b.p.endpoints, 4096, b.counters, ib)).not.toBeNull();
      }
      const pkts = dhtThenPeer();
      const ts = 1_700_000_000;
      pkts.slice(0, 2).forEach((k, i) => a.p.handle(ipv4(k), ts + i * 0.01));
      await turn(); // the share is sent at the end of the turn that learned it
      const verdicts: (Verdict | null)[] = pkts.slice(2).map((k, i) => b.p.handle(ipv4(k), ts + 1 + i * 0.01));
      b.p.flush();
      const peer = b.ended.find((f) => f.dst === X && f.dport === XPORT)!;
      if (shared) {
        expect(verdicts[0]).toEqual({ verdict: 'repeat', mark: b.mark });
        expect(peer).toMatchObject({ app: 'bittorrent', method: 'endpoint', learnedFrom: 'dht' });
        expect(a.counters.get('endpoint_share_out')).toBe(a.counters.get('endpoint_learned_dht') + a.counters.get('endpoint_learned_flow'));
        expect(b.counters.get('endpoint_share_in')).toBe(a.counters.get('endpoint_share_out'));
        expect(b.counters.get('endpoint_learned_dht')).toBe(0); // adopted, not learned here
      } else {
        expect(verdicts[0]).toEqual({ verdict: 'accept' });
        expect(peer.method).toBeNull();
      }
    }
  });

  it('one message per turn; keys travel as hex; a received entry is not sent on; the backlog caps and 0 turns it off', async () => {
    const counters = new Counters();
    const table = new EndpointTable({ size: 100, ttlSec: 60, sources: ['dht', 'ed2k-server'] }, counters);
    const sent: ShareMessage[] = [];
    const share = new EndpointShare(table, (m) => sent.push(JSON.parse(JSON.stringify(m))), counters, 3);
    share.offer('10.0.0.1', 4662, 'tcp', 'edonkey', 'ed2k-server', 100, Uint8Array.from([0xab, 0x01]));
    share.offer('10.0.0.2', 6881, 'udp', 'bittorrent', 'dht', 100);
    share.offer('10.0.0.3', 6881, 'udp', 'bittorrent', 'dht', 100);
    share.offer('10.0.0.4', 6881, 'udp', 'bittorrent', 'dht', 100);
    expect(sent).toHaveLength(0);
    await turn();
    expect(sent).toEqual([{ t: SHARE_TAG, e: [
      ['10.0.0.1', 4662, 'tcp', 'edonkey', 'ed2k-server', 100, 'ab01'],
      ['10.0.0.2', 6881, 'udp', 'bittorrent', 'dht', 100, null],
      ['10.0.0.3', 6881, 'udp', 'bittorrent', 'dht', 100, null],
    ] }]);
    expect(counters.get('endpoint_share_dropped')).toBe(1);

    const other = new Counters();
    const table2 = new EndpointTable({ size: 100, ttlSec: 60, sources: ['dht', 'ed2k-server'] }, other);
    const echo: ShareMessage[] = [];
    new EndpointShare(table2, (m) => echo.push(m), other, 100).receive(sent[0]);
    await turn();
    expect(echo).toHaveLength(0);
    expect(table2.lookup('10.0.0.1', 4662, 'tcp', 101)).toMatchObject({ app: 'edonkey', source: 'ed2k-server' });
    expect([...table2.keysFor('10.0.0.1', 101)[0]]).toEqual([0xab, 0x01]);
    expect(other.get('endpoint_share_in')).toBe(3);

    share.configure(0);
    share.offer('10.0.0.5', 6881, 'udp', 'bittorrent', 'dht', 100);
    await turn();
    expect(sent).toHaveLength(1);
    expect(counters.get('endpoint_share_dropped')).toBe(1);
  });

  it('malformed messages and entries are counted and ignored', () => {
    const counters = new Counters();
    const table = new EndpointTable({ size: 100, ttlSec: 60, sources: ['dht'] }, counters);
    const share = new EndpointShare(table, () => {}, counters, 100);
    share.receive('hello');
    share.receive({ t: 'other', e: [] });
    share.receive({ t: SHARE_TAG, e: [
      ['10.0.0.1', 0, 'tcp', 'bittorrent', 'dht', 1, null], // port 0
      ['10.0.0.1', 6881, 'sctp', 'bittorrent', 'dht', 1, null],
      ['', 6881, 'tcp', 'bittorrent', 'dht', 1, null],
      ['10.0.0.1', 6881, 'tcp', 'bittorrent', 'dht', 'now', null],
      ['10.0.0.1', 6881, 'tcp', 'bittorrent', 'dht', 1, 'xyz'], // not hex
      ['10.0.0.1', 6881, 'tcp', 'bittorrent', 'dht', 1],
      ['10.0.0.9', 6881, 'tcp', 'bittorrent', 'dht', 1, null], // the one good entry
    ] });
    expect(counters.get('endpoint_share_bad')).toBe(8);
    expect(counters.get('endpoint_share_in')).toBe(1);
    expect(table.size).toBe(1);
  });
});

describe('the supervisor relays shared endpoints between worker processes', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-share-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('to every other worker, never back to the sender; a respawned worker gets the recent ones', async () => {
    // A stand-in worker: writes each message it receives to <dir>/<index>.jsonl, asks for the recent
    // endpoints once it listens (as shareOverIpc does); worker 0 then sends one.
    const script = path.join(dir, 'worker.mjs');
    fs.writeFileSync(script, [
      "import fs from 'node:fs';",
      'const o = JSON.parse(process.argv[2]);',
      "const out = `${o.dir}/${o.worker.index}.jsonl`;",
      "fs.writeFileSync(out, '');",
      "process.on('message', (m) => fs.appendFileSync(out, JSON.stringify(m) + '\\n'));",
      `process.send({ t: '${SHARE_TAG}', e: [], sync: true });`,
      `if (o.worker.index === 0) process.send({ t: '${SHARE_TAG}', e: [['10.0.0.7', 6881, 'tcp', 'bittorrent', 'dht', 5, null]] });`,
      "process.on('SIGTERM', () => process.exit(0));",
    ].join('\n'));
    const counters = new Counters();
    const pool = new WorkerPool(3, (i) => ({ worker: { index: i }, dir }) as never, counters, pino({ level: 'silent' }), { script });
    const entry = { t: SHARE_TAG, e: [['10.0.0.7', 6881, 'tcp', 'bittorrent', 'dht', 5, null]] };
    pool.startAll();
    try {
      const got = (i: number): unknown[] => (fs.existsSync(path.join(dir, `${i}.jsonl`)) ? fs.readFileSync(path.join(dir, `${i}.jsonl`), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
      // Workers 1 and 2 get the entry relayed, and again in the answer to their own sync when that
      // came after it (adopting twice is harmless); worker 0 never gets its own entry back.
      await waitUntil(() => got(1).length >= 1 && got(2).length >= 1, 10_000, 'workers 1 and 2 received the share');
      await waitUntil(() => counters.get('endpoint_share_relayed') === 2, 5_000, 'both sends completed');
      for (const i of [1, 2]) for (const m of got(i)) expect(m).toEqual(entry);
      expect(got(0)).toEqual([]);
      const replayed = counters.get('endpoint_share_replayed');

      const old = pool.workers[2]!;
      old.kill('SIGKILL');
      await waitUntil(() => old.exitCode !== null || old.signalCode !== null, 5_000, 'worker 2 died');
      fs.rmSync(path.join(dir, '2.jsonl'));
      await waitUntil(() => counters.get('endpoint_share_replayed') === replayed + 1 && got(2).length === 1, 10_000, 'worker 2 respawned and caught up');
      expect(got(2)).toEqual([entry]);
      expect(counters.get('worker_died')).toBe(1);
      expect(counters.get('endpoint_share_relayed')).toBe(2); // a sync is answered, never relayed
    } finally {
      await pool.stop();
    }
  });
});
