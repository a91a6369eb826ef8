#!/usr/bin/env node
/**
 * The queue's ceiling (benchmark configuration 2): bind an NFQUEUE with the patched `nfqueue`
 * binding directly, with the daemon's queue options (src/core/defaults.ts: maxlen, fail-open, rcvbuf;
 * see src/capture/nfq.ts), and accept every packet inside the callback. No decoding, no flow table:
 * what is left is the kernel → netlink → libuv → JS → netlink → kernel round trip per packet.
 *
 *   node gateway-acceptall.mjs [--queue N] [--fail-open on|off]
 *
 * `--fail-open off` (not the daemon's default) makes a full queue or socket drop instead of accept,
 * so every forwarded packet has been through user space: the ceiling without fail-open leakage.
 *
 * Prints `{"ready":true,...}` once bound; on SIGUSR2 prints `{"count":N}` (packets so far); on
 * SIGTERM prints `{"packets":N}`, unbinds and exits.
 * The iptables rule that feeds the queue is installed and removed by the caller.
 */
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../../dist/core/defaults.js';

const { values: o } = parseArgs({ options: { queue: { type: 'string', default: String(DEFAULTS.queue.num) }, 'fail-open': { type: 'string', default: DEFAULTS.queue.failOpen ? 'on' : 'off' } } });
const failOpen = o['fail-open'] === 'on';
const require = createRequire(import.meta.url);
const nfq = require('nfqueue');
const q = new nfq.NFQueue();
q.open(Number(o.queue), DEFAULTS.queue.rcvbuf);
const rcMax = q.setQueueMaxLen(DEFAULTS.queue.maxlen);
const rcFail = q.setFailOpen(failOpen);
const b = q.bindings;
const ACCEPT = nfq.NF_ACCEPT;
let packets = 0;
b.read((info) => {
  packets++;
  b.setVerdict(info.id, ACCEPT, null);
  return 0;
});
process.stdout.write(`${JSON.stringify({ ready: true, queue: Number(o.queue), maxlen: DEFAULTS.queue.maxlen, fail_open: failOpen, rcvbuf: DEFAULTS.queue.rcvbuf, rc_maxlen: rcMax, rc_fail_open: rcFail })}\n`);
process.on('SIGUSR2', () => process.stdout.write(`${JSON.stringify({ count: packets })}\n`));
const stop = () => {
  // The caller removed the NFQUEUE rule first; give in-flight packets a moment, then unbind.
  setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ packets })}\n`);
    q.close();
    process.exit(0);
  }, 200);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
