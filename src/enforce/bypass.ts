/**
 * The queue bypass the watchdog (src/runtime/watchdog.ts) inserts while the daemon is stalled:
 * RETURN rules in our mangle chain, right after its first rule (the save-mark rule, so the marks of
 * packets the daemon judges late still reach the connmark), for connections that would otherwise
 * be queued to a daemon that is not reading: unmarked connections (classification) and connections
 * in the endpoint learning window. Connections of inspected applications stay queued: their
 * content must be judged, so they wait for the daemon rather than pass uninspected.
 */
import { formatCmd, type Backend, type Family } from './backend.js';

/**
 * Rule specs (after `-I chain pos` / `-D chain`) of the bypass, one per connmark: 0 and each learning mark.
 * @param mask `iptables.mark_mask`, the connmark bits that are ours (default all 32: plain `--mark X`)
 */
export function bypassSpecs(learningMarks: readonly number[], mask = 0xffffffff): string[][] {
  const hex = (n: number) => `0x${(n >>> 0).toString(16)}`;
  const mm = (m: number) => (mask >>> 0 === 0xffffffff ? hex(m) : `${hex(m)}/${hex(mask)}`);
  return [...new Set([0, ...learningMarks])].map((m) => ['-m', 'connmark', '--mark', mm(m), '-j', 'RETURN']);
}

/**
 * Shell scripts that insert (`lift`) and delete (`restore`) the bypass rules in our mangle chain, for
 * every family of the backend. Each runs every command and exits 1 if one failed (its stderr shows).
 */
export function bypassScripts(backend: Backend, chain: string, specs: readonly string[][], families: readonly Family[] = backend.families): { lift: string; restore: string } {
  const lift: string[] = [];
  const restore: string[] = [];
  for (const f of families) {
    const ipt = f === 4 ? backend.iptables : backend.ip6tables;
    if (!ipt) continue;
    for (const spec of specs) {
      lift.push(`${formatCmd([ipt, '-w', '-t', 'mangle', '-I', chain, '2', ...spec])} || rc=1`);
      restore.push(`${formatCmd([ipt, '-w', '-t', 'mangle', '-D', chain, ...spec])} || rc=1`);
    }
  }
  const script = (lines: string[]) => ['rc=0', ...lines, 'exit $rc', ''].join('\n');
  return { lift: script(lift), restore: script(restore) };
}
