#!/usr/bin/env node
/**
 * The binding's accept-all (benchmark configurations 2, 2@gso, 2-nfqueue): bind an NFQUEUE with the
 * daemon's queue options (src/core/defaults.ts: maxlen, fail-open, rcvbuf, batch, GSO) and accept
 * every packet in JavaScript. No decoding, no flow table: what is left is the kernel → netlink →
 * native → JS → netlink → kernel round trip.
 *
 *   node gateway-acceptall.mjs [--queue N] [--fail-open on|off] [--binding batch|nfqueue] [--gso on|off]
 *
 * `--binding batch` (the daemon's default): p2pgw's addon through dist/capture/nfq-batch.js, one JS
 * call per batch, verdicts staged per packet and sent as one batch; `nfqueue`: the patched npm binding,
 * one callback and one verdict syscall per packet (the state before issue 13).
 * `--fail-open off` makes a full queue or socket drop instead of accept, so every forwarded packet
 * has been through user space.
 *
 * Prints `{"ready":true,...}` once bound; on SIGUSR2 prints `{"count":N}` (packets so far); on
 * SIGTERM prints `{"packets":N}`, unbinds and exits.
 * The iptables rule that feeds the queue is installed and removed by the caller.
 */
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../../dist/core/defaults.js';

const Q = DEFAULTS.queue;
const { values: o } = parseArgs({
  options: {
    queue: { type: 'string', default: String(Q.num) },
    'fail-open': { type: 'string', default: Q.failOpen ? 'on' : 'off' },
    binding: { type: 'string', default: Q.binding },
    gso: { type: 'string', default: Q.gso ? 'on' : 'off' },
  },
});
const failOpen = o['fail-open'] === 'on';
const num = Number(o.queue);
let packets = 0;
let info;
let close;
let stats = () => ({});
if (o.binding === 'nfqueue') {
  const nfq = createRequire(import.meta.url)('nfqueue');
  const q = new nfq.NFQueue();
  q.open(num, Q.rcvbuf);
  const rcMax = q.setQueueMaxLen(Q.maxlen);
  const rcFail = q.setFailOpen(failOpen);
  const b = q.bindings;
  const ACCEPT = nfq.NF_ACCEPT;
  b.read((i) => {
    packets++;
    b.setVerdict(i.id, ACCEPT, null);
    return 0;
  });
  info = { rc_maxlen: rcMax, rc_fail_open: rcFail, gso: false };
  close = () => q.close();
} else {
  const { NfqBatch } = await import('../../dist/capture/nfq-batch.js');
  const { arenaBytesFor } = await import('../../dist/capture/queue.js');
  const gso = o.gso === 'on';
  const q = NfqBatch.open({ num, maxlen: Q.maxlen, failOpen, rcvbuf: Q.rcvbuf, gso, batch: Q.batch, arenaBytes: arenaBytesFor(Q.batch), sendThread: Q.sendThread }, (p) => {
    packets++;
    q.verdict(p.id, 'accept');
  });
  info = { gso, batch: Q.batch, send_thread: Q.sendThread, warnings: q.warnings };
  close = () => q.close();
  stats = () => {
    const s = q.stats;
    return { batches: s.batches, max_batch: s.maxBatch, batch_verdicts: s.batchVerdicts, single_verdicts: s.singleVerdicts, gso_packets: s.gso, enobufs: s.enobufs };
  };
}
process.stdout.write(`${JSON.stringify({ ready: true, queue: num, binding: o.binding, maxlen: Q.maxlen, fail_open: failOpen, rcvbuf: Q.rcvbuf, ...info })}\n`);
process.on('SIGUSR2', () => process.stdout.write(`${JSON.stringify({ count: packets })}\n`));
const stop = () => {
  // The caller removed the NFQUEUE rule first; give in-flight packets a moment, then unbind.
  setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ packets, ...stats() })}\n`);
    close();
    process.exit(0);
  }, 200);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
