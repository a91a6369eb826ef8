/**
 * Reads nDPI's expected output (`X.ndpi.out` next to each capture, see shared/fixtures/README.md)
 * and compares flow records with it. Flows are keyed as unordered endpoint pairs because nDPI
 * does not always print the initiator first.
 */
import fs from 'node:fs';
import { APPS } from '../../src/apps/registry.js';

export interface NdpiFlow {
  l4: string;
  /** Application: the last name of `[proto: N.M/Master.App]`, e.g. `Gnutella`, `Unknown`. */
  app: string;
  /** Full label, e.g. `HTTP.Gnutella`. */
  label: string;
  confidence: string;
}

const fmt = (addr: string, port: number): string => (addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`);

/** Unordered key of a flow: `TCP a:1 b:2` with the endpoints sorted. */
export function pairKey(l4: string, a: string, b: string): string {
  return `${l4.toUpperCase()} ${[a, b].sort().join(' ')}`;
}

/** Key of a flow record (src/observe/flowrecord.ts shape). */
export function recordKey(r: { l4: string; src: string; sport: number; dst: string; dport: number }): string {
  return pairKey(r.l4, fmt(r.src, r.sport), fmt(r.dst, r.dport));
}

/** nDPI's per-flow labels of `file` (the `.ndpi.out` path). */
export function readNdpi(file: string): Map<string, NdpiFlow> {
  const out = new Map<string, NdpiFlow>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^\t\d+\t(\S+) (\S+) <?->? (\S+) \[proto: [\d.]+\/([^\]]*)\]/.exec(line);
    if (!m) continue;
    const conf = /\[Confidence: ([^\]]*)\]/.exec(line)?.[1] ?? '';
    const label = m[4];
    out.set(pairKey(m[1], m[2], m[3]), { l4: m[1], app: label.split('.').pop() ?? label, label, confidence: conf });
  }
  return out;
}

/** nDPI application names → ours, for the P2P applications the captures hold. */
export const NDPI_P2P: Readonly<Record<string, string>> = { BitTorrent: 'bittorrent', eDonkey: 'edonkey', Gnutella: 'gnutella' };
/** Our applications that count as P2P, category `p2p` in the registry (none may appear on the control captures). */
export const OUR_P2P: readonly string[] = APPS.filter((a) => a.category === 'p2p').map((a) => a.name);

export interface Agreement {
  /** Flow records nDPI labels with a P2P application, and how many we label the same. */
  p2p: number;
  agree: number;
  misses: string[];
  /** Records we label P2P that nDPI, by DPI, labels with another (non-P2P) protocol. */
  contradicted: string[];
  /** Records we label P2P that nDPI left unknown or only guessed. */
  extra: number;
}

/** Compares flow records with nDPI's labels. */
export function agreement(records: readonly { l4: string; src: string; sport: number; dst: string; dport: number; app: string | null }[], ndpi: Map<string, NdpiFlow>): Agreement {
  const res: Agreement = { p2p: 0, agree: 0, misses: [], contradicted: [], extra: 0 };
  for (const r of records) {
    const key = recordKey(r);
    const n = ndpi.get(key);
    const want = n ? NDPI_P2P[n.app] : undefined;
    if (want) {
      res.p2p++;
      if (r.app === want) res.agree++;
      else res.misses.push(`${key}: nDPI ${n!.label}, p2pgw ${r.app ?? 'unknown'}`);
    } else if (r.app && OUR_P2P.includes(r.app)) {
      if (n && n.app !== 'Unknown' && n.confidence === 'DPI') res.contradicted.push(`${key}: nDPI ${n.label}, p2pgw ${r.app}`);
      else res.extra++;
    }
  }
  return res;
}
