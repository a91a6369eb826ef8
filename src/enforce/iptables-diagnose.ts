/**
 * Diagnosis of a failed `iptables-restore` of our rules (src/enforce/iptables.ts install): which
 * kernel match or target, or which userspace iptables extension, is missing, and how to get it.
 */
import { readFileSync } from 'node:fs';
import { P2pgwError } from '../core/errors.js';
import type { Backend, Family, RunResult } from './backend.js';

/** A match or target our rules use, and the kernel module that provides it. */
export interface Feature {
  kind: 'match' | 'target';
  name: string;
  module: (f: Family) => string;
}

const FEATURES: Record<string, Feature> = {
  mark: { kind: 'match', name: 'mark', module: () => 'xt_mark' },
  connmark: { kind: 'match', name: 'connmark', module: () => 'xt_connmark' },
  connbytes: { kind: 'match', name: 'connbytes', module: () => 'xt_connbytes' },
  tcp: { kind: 'match', name: 'tcp', module: () => 'xt_tcpudp' },
  udp: { kind: 'match', name: 'udp', module: () => 'xt_tcpudp' },
  CONNMARK: { kind: 'target', name: 'CONNMARK', module: () => 'xt_connmark' },
  NFQUEUE: { kind: 'target', name: 'NFQUEUE', module: () => 'xt_NFQUEUE (and nfnetlink_queue)' },
  REJECT: { kind: 'target', name: 'REJECT', module: (f) => (f === 4 ? 'ipt_REJECT' : 'ip6t_REJECT') },
};

/** Matches and targets a rule argv uses (`-m x`, `-p tcp`, `-j X`). */
export function featuresOf(rule: readonly string[]): Feature[] {
  const out: Feature[] = [];
  for (let i = 0; i < rule.length - 1; i++) {
    const f = ['-m', '-p', '-j'].includes(rule[i]) ? FEATURES[rule[i + 1]] : undefined;
    if (f && !out.includes(f)) out.push(f);
  }
  return out;
}

/** Names the kernel knows right now (`/proc/net/ip_tables_matches` etc.; modules load on first use). */
export type ProcLists = { matches: Set<string>; targets: Set<string> } | null;

function readProcLists(family: Family): ProcLists {
  const p = family === 4 ? 'ip' : 'ip6';
  try {
    const read = (k: string): Set<string> =>
      new Set(readFileSync(`/proc/net/${p}_tables_${k}`, 'utf8').split('\n').map((s) => s.trim()).filter(Boolean));
    return { matches: read('matches'), targets: read('targets') };
  } catch {
    return null;
  }
}

/**
 * Turns a failed `*-restore` into an error: MISSING_FEATURE when an iptables extension cannot be
 * loaded (`Couldn't load match 'connbytes'`) or the kernel lacks a match/target the failing rule
 * (or table) uses; IPTABLES otherwise. Both carry the command, its stderr and the failing rule.
 */
export function diagnose(r: RunResult, input: string, backend: Pick<Backend, 'backend'>, family: Family, proc: ProcLists = readProcLists(family)): P2pgwError {
  const lines = input.split('\n');
  const lineNo = Number(/line:? (\d+)/.exec(r.stderr)?.[1] ?? 0);
  let rule = lineNo > 0 ? lines[lineNo - 1] ?? '' : '';
  if (!rule.startsWith('-')) {
    // Legacy restore reports kernel errors at COMMIT: consider every rule of that table.
    let start = lineNo - 1;
    while (start > 0 && !lines[start].startsWith('*')) start--;
    rule = lineNo > 0 ? lines.slice(start, lineNo).filter((l) => l.startsWith('-A ')).join(' ') : '';
  }
  const base = `${r.cmd} < (generated IPv${family} ruleset) failed (exit ${r.code}):\n${r.stderr.trim()}${
    rule ? `\nfailing rule: ${lines[lineNo - 1]?.startsWith('-') ? rule : `(table committed at line ${lineNo})`}` : ''
  }\nruleset:\n${input}`;

  const ext = /Couldn't load (match|target) `([^']+)'/.exec(r.stderr);
  if (ext) {
    const [, kind, name] = ext;
    return new P2pgwError(
      'P2PGW_ERR_MISSING_FEATURE',
      `the iptables ${kind} extension '${name}' is missing (userspace library libxt_${name}.so${family === 6 ? ` or libip6t_${name}.so` : ''}); ` +
        `install the full iptables package (OpenWrt: iptables-mod-conntrack-extra for connmark/connbytes, iptables-mod-nfqueue for NFQUEUE).\n${base}`,
    );
  }
  const used = featuresOf(rule.split(/\s+/));
  const absent = proc ? used.filter((f) => !(f.kind === 'match' ? proc.matches : proc.targets).has(f.name)) : [];
  const kernelErr = /No chain\/target\/match|not supported|missing kernel module|No such file or directory|Protocol not supported|Operation not supported|failed/i.test(r.stderr);
  if (absent.length > 0 && kernelErr) {
    const what = absent.map((f) => `${f.kind} ${f.name} (module ${f.module(family)})`).join(', ');
    const mods = [...new Set(absent.map((f) => f.module(family).split(' ')[0]))];
    return new P2pgwError(
      'P2PGW_ERR_MISSING_FEATURE',
      `the kernel lacks ${what} for IPv${family}: load it with \`modprobe ${mods.join(' && modprobe ')}\` ` +
        `(OpenWrt: kmod-ipt-conntrack-extra, kmod-ipt-nfqueue${backend.backend === 'nft' ? ', kmod-nft-compat' : ''})` +
        `${backend.backend === 'nft' ? '; the nft backend also needs nft_compat' : ''}.\n${base}`,
    );
  }
  const hint = backend.backend === 'nft' && /Operation not supported|Protocol not supported/i.test(r.stderr)
    ? ' (the nft backend needs the nft_compat kernel module: `modprobe nft_compat`)'
    : '';
  return new P2pgwError('P2PGW_ERR_IPTABLES', `installing p2pgw rules failed${hint}: ${base}`);
}
