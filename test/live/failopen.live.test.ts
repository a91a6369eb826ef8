/**
 * Issue 14, item 9d, live: fail-open overflow is counted. In a namespace, a queue of 4 packets with
 * fail-open on is held full by a process that gives no verdicts; 50 UDP datagrams go through our
 * NFQUEUE rule: 4 are queued, the kernel lets 46 through unqueued and counts nothing in
 * /proc/net/netfilter/nfnetlink_queue. FailOpenMeter (the daemon's, with the real rule counters and
 * the namespace's /proc file) must count those 46 as `kernel_fail_open_queue_full`.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { detectBackend, type Backend } from '../../src/enforce/iptables.js';
import { readQueueRulePackets } from '../../src/enforce/queue-counters.js';
import { NFQ_PROC_PATH } from '../../src/capture/nfqstats.js';
import { FailOpenMeter } from '../../src/runtime/fail-open.js';
import { Counters } from '../../src/core/counters.js';
import { ROOT } from '../helpers/paths.js';
import { waitUntil } from '../helpers/wait.js';
import { liveEnv, nsAdd, nsDel, nsExec } from './fixtures/netns.js';

const env = liveEnv('failopen');
const binding = existsSync(path.join(ROOT, 'node_modules', 'nfqueue', 'build', 'Release', 'nfqueue.node'));
const skip = !env.ok ? env.reason : !binding ? 'the nfqueue binding is not built (needs libnetfilter-queue-dev)' : '';
if (skip) console.warn(`skipping the live fail-open test: ${skip}`);

const NS = `p2pgwtD-fo-${process.pid}`;
const CHAIN = 'P2PGWFO';
const QUEUE = 7;
const SENT = 50;
const MAXLEN = 4;

describe.skipIf(!!skip)('live: fail-open on a full queue is counted', () => {
  let holder: ChildProcessWithoutNullStreams | null = null;
  let backend: Backend;
  const held: number[] = [];

  beforeAll(async () => {
    nsAdd(NS);
    backend = await detectBackend('auto', { netns: NS });
    for (const f of backend.families) {
      const ipt = f === 4 ? backend.iptables : backend.ip6tables;
      nsExec(NS, ipt, ['-w', '-t', 'mangle', '-N', CHAIN]);
      nsExec(NS, ipt, ['-w', '-t', 'mangle', '-A', CHAIN, '-p', 'udp', '--dport', '9999', '-j', 'NFQUEUE', '--queue-num', String(QUEUE), '--queue-bypass']);
      nsExec(NS, ipt, ['-w', '-t', 'mangle', '-A', 'OUTPUT', '-j', CHAIN]);
    }
    holder = spawn('ip', ['netns', 'exec', NS, process.execPath, path.join(ROOT, 'test/live/fixtures/failopen-holder.mjs'), String(QUEUE), String(MAXLEN)]);
    const events: Record<string, unknown>[] = [];
    readline.createInterface({ input: holder.stdout }).on('line', (l) => {
      const e = JSON.parse(l) as Record<string, unknown>;
      events.push(e);
      if (e.ev === 'pkt') held.push(e.id as number);
    });
    const ready = await waitUntil(() => events.find((e) => e.ev === 'ready'), 10_000, 'the holder binds the queue');
    expect(ready).toMatchObject({ rcMax: 0, rcFail: 0 });
  }, 60_000);

  afterAll(() => {
    holder?.stdin.write('exit\n');
    holder?.kill();
    nsDel(NS);
  });

  it(`${SENT} datagrams, ${MAXLEN} queued: the other ${SENT - MAXLEN} are counted as kernel_fail_open_queue_full`, async () => {
    const counters = new Counters();
    const warns: string[] = [];
    const meter = new FailOpenMeter(
      {
        queues: [QUEUE], pollSec: 1, rulePackets: () => readQueueRulePackets(backend, CHAIN, { netns: NS }),
        readProc: () => nsExec(NS, 'cat', [NFQ_PROC_PATH]),
      },
      counters, { warn: (_o: unknown, m: string) => warns.push(m) } as never,
    );
    await meter.sample(0); // baseline
    const send = `const s=require('dgram').createSocket('udp4');let n=0;const go=()=>{if(n++<${SENT})s.send('x',9999,'127.0.0.1',go);else s.close()};go();`;
    nsExec(NS, process.execPath, ['-e', send]);
    await waitUntil(() => held.length >= MAXLEN, 10_000, 'the queue fills');
    const proc = nsExec(NS, 'cat', [NFQ_PROC_PATH]);
    // The kernel itself counts none of it: no queue_dropped, no user_dropped.
    expect(proc.trim().split(/\s+/).slice(5, 7)).toEqual(['0', '0']);
    await meter.sample(10_000);
    expect(held).toHaveLength(MAXLEN);
    expect(counters.get('kernel_fail_open_queue_full')).toBe(SENT - MAXLEN);
    expect(counters.get('kernel_fail_open_socket_full')).toBe(0);
    expect(warns).toEqual([expect.stringMatching(/^queue full: the kernel accepted packets without queueing them/)]);
  }, 60_000);
});
