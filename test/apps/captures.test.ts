/**
 * Real captures (nDPI's test suite, shared/fixtures/captures) replayed through the whole pipeline
 * and compared with nDPI's own labels: at least 95% of the flows nDPI labels BitTorrent, eDonkey
 * or Gnutella get the same application, no flow nDPI identified (by DPI) as another protocol is
 * called P2P, and nothing on the control captures is P2P.
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { replayFiles } from '../../src/runtime/replay.js';
import { capture } from '../helpers/paths.js';
import { agreement, OUR_P2P, readNdpi } from './ndpi.js';

const have = (name: string): boolean => fs.existsSync(capture(name)) && fs.existsSync(capture(`${name}.ndpi.out`));

const P2P_CAPTURES = ['bittorrent.pcap', 'edonkey.pcap', 'gnutella.pcap'];
const CONTROLS = ['http.pcapng', 'dns.pcap', 'quic.pcap', 'ssh.pcap', 'ftp.pcap', 'sip.pcap', 'stun.pcap'];

describe('captures: agreement with nDPI on P2P flows', () => {
  for (const name of P2P_CAPTURES) {
    it.skipIf(!have(name))(`${name}: ≥95% of nDPI's P2P flows, no contradiction`, () => {
      const { records } = replayFiles([capture(name)]);
      const a = agreement(records, readNdpi(capture(`${name}.ndpi.out`)));
      expect(a.p2p).toBeGreaterThan(0);
      expect(a.agree / a.p2p, a.misses.slice(0, 20).join('\n')).toBeGreaterThanOrEqual(0.95);
      expect(a.contradicted).toEqual([]);
    });
  }

  it.skipIf(!have('bittorrent.pcap'))('bittorrent.pcap: every peer-wire flow is found by its handshake', () => {
    const { records } = replayFiles([capture('bittorrent.pcap')]);
    const bt = records.filter((r) => r.app === 'bittorrent');
    expect(bt.length).toBe(24);
    expect(bt.every((r) => r.mark === 0x01 && r.reason.includes('bittorrent.handshake'))).toBe(true);
  });
});

describe('captures: controls hold no P2P', () => {
  for (const name of CONTROLS) {
    it.skipIf(!have(name))(`${name}`, () => {
      const { records } = replayFiles([capture(name)]);
      expect(records.length).toBeGreaterThan(0);
      const p2p = records.filter((r) => r.app !== null && OUR_P2P.includes(r.app));
      expect(p2p.map((r) => `${r.l4} ${r.src}:${r.sport} -> ${r.dst}:${r.dport} ${r.app} (${r.reason})`)).toEqual([]);
      // Controls are not instant messaging either; only HTTP may be recognised.
      expect(records.every((r) => r.app === null || r.app === 'http')).toBe(true);
    });
  }
});
