/**
 * Packet counters of our NFQUEUE rules (`iptables -L <chain> -n -v -x`, both families): how many
 * packets the kernel offered to the queue. Compared with the packets the queue actually took
 * (/proc/net/netfilter/nfnetlink_queue `id_sequence`, src/capture/nfqstats.ts FailOpenAccount), the
 * difference is what the kernel let through unqueued: fail-open on a full queue (NFQA_CFG_F_FAIL_OPEN
 * counts nothing in /proc) or `--queue-bypass` while no process was bound.
 */
import type { Backend, Family, NetnsOpt } from './backend.js';
import { run } from './backend.js';

/**
 * Sums the packet counters of the rules whose target is NFQUEUE in `iptables -L <chain> -n -v -x`
 * output (the `pkts bytes target …` table; other lines are ignored).
 * @returns packets, or null when the text has no counter table (not `-v -x` output)
 */
export function parseQueueRulePackets(text: string): number | null {
  let header = false;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (/^\s*pkts\s+bytes\s+target\b/.test(line)) {
      header = true;
      continue;
    }
    const m = /^\s*(\d+)\s+(\d+)\s+(\S+)/.exec(line);
    if (m && m[3] === 'NFQUEUE') sum += Number(m[1]);
  }
  return header ? sum : null;
}

/**
 * Packets offered to NFQUEUE by our mangle chain `chain`, over `families` (default: the backend's).
 * @returns the sum, or null when a listing fails (no chain yet, iptables missing): the caller skips
 *   that sample
 */
export async function readQueueRulePackets(backend: Backend, chain: string, opts: NetnsOpt & { families?: Family[] } = {}): Promise<number | null> {
  let total = 0;
  for (const f of opts.families ?? backend.families) {
    const r = await run([f === 4 ? backend.iptables : backend.ip6tables, '-w', '-t', 'mangle', '-L', chain, '-n', '-v', '-x'], { netns: opts.netns, timeoutMs: 5000 });
    const n = r.code === 0 ? parseQueueRulePackets(r.stdout) : null;
    if (n === null) return null;
    total += n;
  }
  return total;
}
