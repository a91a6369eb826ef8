/**
 * Traffic that teaches an endpoint and then uses it (issue 12's endpoint knowledge): a DHT
 * get_peers reply (BEP 5) listing peer X, then a TCP connection to X carrying random bytes.
 */
import { be16, bencode, concat, prngBytes } from '../../src/apps/bytes.js';
import { tcpSession, type Pkt } from './packets.js';

export const CLIENT = '10.1.0.2';
/** The peer the DHT reply lists. */
export const X = '10.7.0.7';
export const XPORT = 51413;

/** BEP 5 compact peer info: 4 address octets and the port, big-endian. */
export const compact = (ip: string, port: number): Uint8Array => concat(Uint8Array.from(ip.split('.').map(Number)), be16(port));

/** The DHT query and its reply listing X (UDP, 2 packets), then a TCP connection from CLIENT to X. */
export function dhtThenPeer(): Pkt[] {
  const query = bencode({ t: 'aa', y: 'q', q: 'get_peers', a: { id: 'n'.repeat(20), info_hash: 'h'.repeat(20) } });
  const reply = bencode({ t: 'aa', y: 'r', r: { id: 'm'.repeat(20), token: 'tok', values: [compact(X, XPORT)] } });
  const dht: Pkt[] = [
    { src: CLIENT, sport: 6881, dst: '10.9.0.1', dport: 6881, l4: 'udp', payload: query },
    { src: '10.9.0.1', sport: 6881, dst: CLIENT, dport: 6881, l4: 'udp', payload: reply },
  ];
  const peer = tcpSession(CLIENT, 40000, X, XPORT, [{ dir: 0, data: prngBytes(1, 300) }, { dir: 1, data: prngBytes(2, 300) }]);
  return [...dht, ...peer];
}
