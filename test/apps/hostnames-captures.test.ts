/**
 * The shared control captures (shared/fixtures/captures: DNS, HTTP, QUIC, SSH, FTP, SIP, STUN)
 * replayed through the host-name evidence and the host heuristics: no P2P label may come from
 * either. Each capture's TCP flows are followed per direction 0 stream (in order of arrival, like
 * the classifier's prefix, capped at classify.bytes) and every UDP datagram of direction 0 is
 * checked; every flow start/end is fed to the host heuristics.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readCaptureFile } from '../../src/capture/pcap.js';
import { decodeIp } from '../../src/decode/index.js';
import { HostnameMatcher, hostnameEvidence, parseHostName } from '../../src/apps/hostnames.js';
import { appByName } from '../../src/apps/registry.js';
import { loadRules } from '../../src/apps/rules.js';
import { DEFAULTS } from '../../src/core/defaults.js';
import { HostHeuristics, heuristicLabel } from '../../src/flow/hosts.js';
import { capture } from '../helpers/paths.js';

const CONTROLS = ['http.pcapng', 'dns.pcap', 'quic.pcap', 'ssh.pcap', 'ftp.pcap', 'sip.pcap', 'stun.pcap'];

interface F {
  l4: 'tcp' | 'udp';
  src: string;
  sport: number;
  dst: string;
  dport: number;
  prefix: Uint8Array;
  done: boolean;
  last: number;
}

/** Host-name labels and heuristic labels found in one capture. */
function replay(file: string): { labels: string[]; flows: number; parsed: number } {
  const names = new HostnameMatcher(loadRules().hosts);
  const heur = new HostHeuristics();
  const flows = new Map<string, F>();
  const labels: string[] = [];
  let parsed = 0;
  for (const rec of readCaptureFile(file)) {
    if (!rec.ip) continue;
    const d = decodeIp(rec.ip);
    if (!d.ok) continue;
    const p = d.pkt;
    const fwd = `${p.l4}|${p.src}|${p.sport}|${p.dst}|${p.dport}`;
    const rev = `${p.l4}|${p.dst}|${p.dport}|${p.src}|${p.sport}`;
    let f = flows.get(fwd);
    const dir = f ? 0 : flows.has(rev) ? 1 : 0;
    if (!f && dir === 1) f = flows.get(rev);
    if (!f) {
      f = { l4: p.l4, src: p.src, sport: p.sport, dst: p.dst, dport: p.dport, prefix: new Uint8Array(0), done: false, last: rec.ts };
      flows.set(fwd, f);
      heur.observe(f, rec.ts);
    }
    f.last = rec.ts;
    if (dir !== 0 || f.done || p.payload.length === 0) continue;
    const data = p.l4 === 'tcp' ? (f.prefix = Uint8Array.from([...f.prefix, ...p.payload]).subarray(0, DEFAULTS.classify.bytes)) : p.payload;
    const raw = parseHostName(p.l4, data, { initiator: f.sport, responder: f.dport });
    if (typeof raw === 'string' && raw !== 'need-more') parsed++;
    const r = hostnameEvidence(p.l4, 0, data, { initiator: f.sport, responder: f.dport }, names);
    if (r !== null && r !== 'need-more') labels.push(`${p.l4} ${f.src}:${f.sport} -> ${f.dst}:${f.dport} ${r.app} (${r.name}, ${appByName(r.app)?.category})`);
    if (p.l4 === 'tcp' && r !== 'need-more') f.done = true;
  }
  for (const f of flows.values()) heur.observe(f, f.last);
  for (const f of flows.values()) if (heuristicLabel(heur, f, f.last)) labels.push(`${f.l4} ${f.src}:${f.sport} -> ${f.dst}:${f.dport} p2p (host heuristic)`);
  return { labels, flows: flows.size, parsed };
}

describe('control captures: no P2P label from host names or host heuristics', () => {
  for (const name of CONTROLS) {
    it.skipIf(!fs.existsSync(capture(name)))(name, () => {
      const { labels, flows, parsed } = replay(capture(name));
      expect(flows).toBeGreaterThan(0);
      // The parsers do see names where the capture has them (DNS queries, HTTP Host).
      if (name === 'dns.pcap' || name === 'http.pcapng') expect(parsed).toBeGreaterThan(0);
      expect(labels).toEqual([]);
    });
  }
});
