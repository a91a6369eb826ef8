/**
 * Issue 14, item 9d: fail-open overflow is counted. The kernel counts nothing in
 * /proc/net/netfilter/nfnetlink_queue when fail-open lets a packet through (queue_dropped and
 * user_dropped grow only with fail-open off), so p2pgw compares our NFQUEUE rules' packet counters
 * with the queue's ids (queue full) and the ids with the packets it received (socket full).
 * Parsers of both sources (real output formats) and the accounting, driven with synthetic samples.
 */
import { describe, expect, it } from 'vitest';
import { FailOpenAccount, parseQueueStats, type QueueStats } from '../../src/capture/nfqstats.js';
import { parseQueueRulePackets } from '../../src/enforce/queue-counters.js';
import { FailOpenMeter } from '../../src/runtime/fail-open.js';
import { Counters } from '../../src/core/counters.js';

// `iptables -t mangle -L P2PGW -n -v -x` (iptables v1.8.9, nf_tables), and the same from ip6tables.
const IPT4 = `Chain P2PGW (1 references)
    pkts      bytes target     prot opt in     out     source               destination
     120     7200 CONNMARK   0    --  *      *       0.0.0.0/0            0.0.0.0/0            mark match ! 0x0 CONNMARK save
    4096   262144 NFQUEUE    6    --  *      *       0.0.0.0/0            0.0.0.0/0            connmark match  0x0 connbytes 0:16 connbytes mode packets connbytes direction both NFQUEUE num 0 bypass
     904    57856 NFQUEUE    17   --  *      *       0.0.0.0/0            0.0.0.0/0            connmark match  0x0 connbytes 0:16 connbytes mode packets connbytes direction both NFQUEUE num 0 bypass
       3      180 RETURN     0    --  *      *       0.0.0.0/0            0.0.0.0/0            mark match ! 0x0
`;
const IPT6 = `Chain P2PGW (1 references)
    pkts      bytes target     prot opt in     out     source               destination
       0        0 CONNMARK   0        *      *       ::/0                 ::/0                 mark match ! 0x0 CONNMARK save
      17     1360 NFQUEUE    6        *      *       ::/0                 ::/0                 connmark match  0x0 NFQUEUE balance 0:3 bypass
`;

const q = (over: Partial<QueueStats> = {}): QueueStats => ({
  portId: 100, queueTotal: 0, copyMode: 2, copyRange: 65535, queueDropped: 0, userDropped: 0, idSequence: 0, ...over,
});
const one = (stats: QueueStats) => new Map([[0, stats]]);

describe('parsers', () => {
  it('sums the packet counters of NFQUEUE rules only (IPv4 and IPv6 listings)', () => {
    expect(parseQueueRulePackets(IPT4)).toBe(5000);
    expect(parseQueueRulePackets(IPT6)).toBe(17);
  });

  it('a listing without the counter table (not -v -x, an error) is unknown, not 0', () => {
    expect(parseQueueRulePackets('iptables: No chain/target/match by that name.\n')).toBeNull();
    expect(parseQueueRulePackets('')).toBeNull();
  });

  it('reads id_sequence, queue_total and both drop columns of /proc/net/netfilter/nfnetlink_queue', () => {
    const text = '    0 4294963083     7 2 65535     5     9   123456  1\n    1   3001     0 2 65535     0     0        0  1\n';
    expect(parseQueueStats(text).get(0)).toMatchObject({ portId: 4294963083, queueTotal: 7, queueDropped: 5, userDropped: 9, idSequence: 123456 });
  });
});

describe('FailOpenAccount', () => {
  it('queue full: packets the rules offered beyond the ids handed out are counted', () => {
    const a = new FailOpenAccount();
    expect(a.update({ queues: one(q({ idSequence: 1000 })), rulePackets: 5000 })).toEqual({ queueFull: 0, socketFull: 0 });
    // 3000 more offered, only 2000 queued: 1000 went through unjudged (fail-open on a full queue).
    expect(a.update({ queues: one(q({ idSequence: 3000 })), rulePackets: 8000 }).queueFull).toBe(1000);
    expect(a.update({ queues: one(q({ idSequence: 4000 })), rulePackets: 9000 }).queueFull).toBe(0);
    expect(a.queueFull).toBe(1000);
  });

  it('queue full with fail-open off is a drop the kernel counts (queue_dropped): not fail-open', () => {
    const a = new FailOpenAccount();
    a.update({ queues: one(q({ idSequence: 10 })), rulePackets: 10 });
    expect(a.update({ queues: one(q({ idSequence: 20, queueDropped: 5 })), rulePackets: 25 }).queueFull).toBe(0);
  });

  it('a sample without the rule counters (not due, unreadable) counts nothing and loses nothing', () => {
    const a = new FailOpenAccount();
    a.update({ queues: one(q({ idSequence: 0 })), rulePackets: 0 });
    a.update({ queues: one(q({ idSequence: 50 })), rulePackets: null });
    expect(a.update({ queues: one(q({ idSequence: 60 })), rulePackets: 100 }).queueFull).toBe(40);
  });

  it('rule packets read before /proc (packets in between) never make it count too much', () => {
    const a = new FailOpenAccount();
    a.update({ queues: one(q({ idSequence: 0 })), rulePackets: 0 });
    // 100 packets, all queued; 30 of them arrived after the rule counters were read.
    expect(a.update({ queues: one(q({ idSequence: 100 })), rulePackets: 70 }).queueFull).toBe(0);
    expect(a.update({ queues: one(q({ idSequence: 200 })), rulePackets: 200 }).queueFull).toBe(0);
  });

  it('rules reinstalled (counters reset) or a queue rebound (new port, ids from 0) rebase instead of counting', () => {
    const a = new FailOpenAccount();
    a.update({ queues: one(q({ idSequence: 500 })), rulePackets: 500 });
    a.update({ queues: one(q({ idSequence: 600 })), rulePackets: 650 });
    expect(a.queueFull).toBe(50);
    expect(a.update({ queues: one(q({ idSequence: 700 })), rulePackets: 100 }).queueFull).toBe(0); // reload: rules flushed
    expect(a.update({ queues: one(q({ idSequence: 800 })), rulePackets: 210 }).queueFull).toBe(10);
    expect(a.update({ queues: one(q({ portId: 200, idSequence: 5 })), rulePackets: 220 }).queueFull).toBe(0); // rebound
    expect(a.update({ queues: one(q({ portId: 200, idSequence: 15 })), rulePackets: 240 }).queueFull).toBe(10);
    expect(a.queueFull).toBe(70);
  });

  it('ids that go backwards on the same port are a new instance (rebase), not a wrap', () => {
    const a = new FailOpenAccount();
    a.update({ queues: one(q({ idSequence: 5000 })), rulePackets: 5000 });
    expect(a.update({ queues: one(q({ idSequence: 10 })), rulePackets: 5010 }).queueFull).toBe(0);
    expect(a.update({ queues: one(q({ idSequence: 20 })), rulePackets: 5030 }).queueFull).toBe(10);
  });

  it('id_sequence wrapping at 2^32 is a small step, not a huge negative one', () => {
    const a = new FailOpenAccount();
    a.update({ queues: one(q({ idSequence: 0xffffff00 })), rulePackets: 1000 });
    expect(a.update({ queues: one(q({ idSequence: 0x10 })), rulePackets: 1000 + 0x110 }).queueFull).toBe(0);
    expect(a.update({ queues: one(q({ idSequence: 0x20 })), rulePackets: 1000 + 0x110 + 0x20 }).queueFull).toBe(0x10);
  });

  it('several queues (the supervisor): ids of all of them against the one balanced rule set', () => {
    const a = new FailOpenAccount();
    const qs = (x: number, y: number) => new Map([[4, q({ idSequence: x })], [5, q({ portId: 101, idSequence: y })]]);
    a.update({ queues: qs(0, 0), rulePackets: 0 });
    expect(a.update({ queues: qs(300, 200), rulePackets: 520 }).queueFull).toBe(20);
  });

  it('a queue whose process died (gone from /proc) keeps its history: only the bypassed packets count', () => {
    const a = new FailOpenAccount();
    const both = (x: number, y: number, port = 101) => new Map([[4, q({ idSequence: x, queueDropped: 3 })], [5, q({ portId: port, idSequence: y })]]);
    a.update({ queues: both(100, 100), rulePackets: 203 });
    a.update({ queues: both(200, 150), rulePackets: 353 });
    expect(a.queueFull).toBe(0);
    // queue 5's worker died: gone from /proc; 40 packets hashed to it pass by --queue-bypass
    expect(a.update({ queues: new Map([[4, q({ idSequence: 260, queueDropped: 3 })]]), rulePackets: 453 }).queueFull).toBe(40);
    // respawned: a new instance (new port) counting from 0 again: a rebase, not a count
    expect(a.update({ queues: both(300, 7, 102), rulePackets: 500 }).queueFull).toBe(0);
    expect(a.update({ queues: both(310, 17, 102), rulePackets: 520 }).queueFull).toBe(0);
    expect(a.update({ queues: both(320, 27, 102), rulePackets: 545 }).queueFull).toBe(5); // and real fail-open still counts
    expect(a.queueFull).toBe(45);
  });

  it('socket full: ids handed out but never received, beyond what still waits in the socket', () => {
    const a = new FailOpenAccount();
    a.update({ queues: one(q({ idSequence: 100, queueTotal: 0 })), own: { num: 0, received: 100, pending: 0 } });
    // 400 more ids; 300 received (10 of them still without a verdict), 20 still in the socket: 80 were lost.
    const g = a.update({ queues: one(q({ idSequence: 500, queueTotal: 30 })), own: { num: 0, received: 400, pending: 10 } });
    expect(g.socketFull).toBe(80);
    // with fail-open off the kernel counts them as user_dropped: not fail-open
    const b = new FailOpenAccount();
    b.update({ queues: one(q({ idSequence: 0 })), own: { num: 0, received: 0, pending: 0 } });
    expect(b.update({ queues: one(q({ idSequence: 50, userDropped: 50 })), own: { num: 0, received: 0, pending: 0 } }).socketFull).toBe(0);
  });
});

describe('FailOpenMeter', () => {
  it('counts growth into kernel_fail_open_* and logs one warning per growing sample; rule counters only when due', async () => {
    const counters = new Counters();
    const warns: string[] = [];
    let proc = '    0    100     0 2 65535     0     0     1000  1\n';
    let rules = 1000;
    let ruleReads = 0;
    const m = new FailOpenMeter(
      { queues: [0], pollSec: 5, rulePackets: async () => (ruleReads++, rules), readProc: () => proc, own: () => ({ num: 0, received: 1000, pending: 0 }) },
      counters, { warn: (_o: unknown, msg: string) => warns.push(msg) } as never,
    );
    await m.sample(0);
    rules = 1500;
    proc = '    0    100     0 2 65535     0     0     1200  1\n';
    await m.sample(1000); // not due: /proc only
    expect(ruleReads).toBe(1);
    expect(counters.get('kernel_fail_open_socket_full')).toBe(200); // 200 ids, none received
    await m.sample(5000);
    expect(ruleReads).toBe(2);
    expect(counters.get('kernel_fail_open_queue_full')).toBe(300);
    expect(warns).toEqual([expect.stringMatching(/^queue socket full/), expect.stringMatching(/^queue full/)]);
  });
});
