/**
 * The C accept-all anchor (bench/nfq-anchor.c): built by the bench with the system's C compiler
 * against libnetfilter_queue, then run in the gateway namespace with the daemon's queue options
 * (src/core/defaults.ts: maxlen, fail-open, rcvbuf; copy range 0xffff) and the row's mode.
 *
 * Rows (gateway-configs.mjs, kind `anchor`): per-packet verdicts, batched verdicts, and batched
 * with NFQA_CFG_F_GSO. Every queued configuration is reported as a ratio to the batched anchor of
 * the same traffic (MTU-sized: A-b; GSO: A-bg@gso).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './gateway-netns.mjs';

const SRC = path.resolve(fileURLToPath(new URL('../nfq-anchor.c', import.meta.url)));

/**
 * Compiles the anchor into `dir`.
 * @returns {Promise<{bin: string} | {error: string}>}
 */
export async function buildAnchor(dir) {
  const bin = path.join(dir, 'nfq-anchor');
  const cc = process.env.CC ?? 'cc';
  const r = await run([cc, '-O2', '-Wall', '-o', bin, SRC, '-lnetfilter_queue', '-lnfnetlink'], { timeoutMs: 60_000 });
  if (r.code !== 0 || !fs.existsSync(bin)) {
    return { error: `${cc} nfq-anchor.c failed (needs a C compiler and libnetfilter-queue-dev): ${r.stderr.trim().split('\n').slice(-3).join(' ')}` };
  }
  return { bin };
}

/**
 * argv of one anchor row.
 * @param {{mode: 'perpacket'|'batch', gso?: boolean, touch?: boolean}} a the row's anchor options
 * @param {{num: number, maxlen: number, rcvbuf: number, failOpen: boolean}} q the daemon's queue defaults
 * @param {boolean} failOpen the row's fail-open (the daemon's default unless the row says otherwise)
 */
export function anchorArgv(bin, a, q, failOpen = q.failOpen) {
  return [bin, '--queue', String(q.num), '--maxlen', String(q.maxlen), '--rcvbuf', String(q.rcvbuf), '--fail-open', failOpen ? '1' : '0',
    '--mode', a.mode, '--gso', a.gso ? '1' : '0', '--touch', a.touch ? '1' : '0', '--batch', '64'];
}
