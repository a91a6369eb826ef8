import { describe, it, expect } from 'vitest';
import { EndpointTable } from '../../src/flow/endpoints.js';
import { Counters } from '../../src/core/counters.js';

const ALL = ['flow', 'listen-port', 'dht', 'tracker', 'udp-tracker', 'pex', 'lsd'];
const make = (size = 3, ttlSec = 100, sources = ALL) => {
  const c = new Counters();
  return { t: new EndpointTable({ size, ttlSec, sources }, c), c };
};
const keys = (t: EndpointTable) => [...t.entries()].map((e) => `${e.ip}:${e.port}/${e.l4}`);

describe('EndpointTable', () => {
  it('finds what it learned, keyed by ip, port and l4 (IPv4 and IPv6)', () => {
    const { t, c } = make();
    expect(t.learn('192.0.2.1', 6881, 'tcp', 'bittorrent', 'dht', 0)).toBe(true);
    expect(t.learn('2001:db8::1', 6881, 'udp', 'bittorrent', 'pex', 0)).toBe(true);
    expect(t.lookup('192.0.2.1', 6881, 'tcp', 1)).toMatchObject({ app: 'bittorrent', source: 'dht' });
    expect(t.lookup('192.0.2.1', 6881, 'udp', 1)).toBeNull();
    expect(t.lookup('192.0.2.1', 6882, 'tcp', 1)).toBeNull();
    expect(t.lookup('2001:db8::1', 6881, 'udp', 1)).toMatchObject({ source: 'pex' });
    expect(c.get('endpoint_hits')).toBe(2);
    expect(c.get('endpoint_learned_dht')).toBe(1);
    expect(t.stats()).toMatchObject({ size: 2, capacity: 3, hits: 2, learned: { dht: 1, pex: 1 }, hits_by_source: { dht: 1, pex: 1 } });
  });

  it('evicts the least recently used entry at the cap (a hit or a relearn makes an entry recent) and counts it', () => {
    const { t, c } = make(3);
    t.learn('10.0.0.1', 1, 'tcp', 'bittorrent', 'dht', 0);
    t.learn('10.0.0.2', 2, 'tcp', 'bittorrent', 'dht', 0);
    t.learn('10.0.0.3', 3, 'tcp', 'bittorrent', 'dht', 0);
    t.lookup('10.0.0.1', 1, 'tcp', 1);
    t.learn('10.0.0.2', 2, 'tcp', 'bittorrent', 'tracker', 1);
    expect(keys(t)).toEqual(['10.0.0.3:3/tcp', '10.0.0.1:1/tcp', '10.0.0.2:2/tcp']);
    t.learn('10.0.0.4', 4, 'tcp', 'bittorrent', 'dht', 2);
    expect(keys(t)).toEqual(['10.0.0.1:1/tcp', '10.0.0.2:2/tcp', '10.0.0.4:4/tcp']);
    expect(c.get('endpoint_evicted')).toBe(1);
    expect(t.lookup('10.0.0.2', 2, 'tcp', 2)?.source).toBe('tracker');
    expect(t.size).toBe(3);
  });

  it('entries expire after the ttl; learning again refreshes it', () => {
    const { t, c } = make(3, 100);
    t.learn('10.0.0.1', 1, 'udp', 'bittorrent', 'dht', 0);
    t.learn('10.0.0.2', 2, 'udp', 'bittorrent', 'dht', 0);
    t.learn('10.0.0.2', 2, 'udp', 'bittorrent', 'dht', 50);
    expect(t.lookup('10.0.0.1', 1, 'udp', 99.9)).not.toBeNull();
    expect(t.lookup('10.0.0.1', 1, 'udp', 100)).toBeNull();
    expect(c.get('endpoint_expired')).toBe(1);
    expect(t.size).toBe(1);
    expect(t.lookup('10.0.0.2', 2, 'udp', 149)).not.toBeNull();
  });

  it('learns only from enabled sources; size 0 turns it off; bad ports are ignored', () => {
    const { t, c } = make(3, 100, ['dht']);
    expect(t.learn('10.0.0.1', 1, 'tcp', 'bittorrent', 'pex', 0)).toBe(false);
    expect(t.learn('10.0.0.1', 0, 'tcp', 'bittorrent', 'dht', 0)).toBe(false);
    expect(t.learn('10.0.0.1', 65536, 'tcp', 'bittorrent', 'dht', 0)).toBe(false);
    expect(t.learn('10.0.0.1', 1, 'tcp', 'bittorrent', 'dht', 0)).toBe(true);
    expect(c.get('endpoint_learned_pex')).toBe(0);
    const off = make(0).t;
    expect(off.learn('10.0.0.1', 1, 'tcp', 'bittorrent', 'dht', 0)).toBe(false);
    expect(off.lookup('10.0.0.1', 1, 'tcp', 0)).toBeNull();
  });

  it('a smaller size on reload evicts the oldest at once; new sources apply', () => {
    const { t, c } = make(4);
    for (let i = 1; i <= 4; i++) t.learn(`10.0.0.${i}`, i, 'tcp', 'bittorrent', 'dht', 0);
    t.configure({ size: 2, ttlSec: 10, sources: ['pex'] });
    expect(keys(t)).toEqual(['10.0.0.3:3/tcp', '10.0.0.4:4/tcp']);
    expect(c.get('endpoint_evicted')).toBe(2);
    expect(t.accepts('dht')).toBe(false);
    t.learn('10.0.0.9', 9, 'tcp', 'bittorrent', 'pex', 0);
    expect(t.lookup('10.0.0.9', 9, 'tcp', 10)).toBeNull();
  });

  it('stays bounded under many distinct endpoints', () => {
    const { t } = make(100);
    for (let i = 0; i < 5000; i++) t.learn(`10.${(i >> 8) & 255}.${i & 255}.1`, 1 + (i % 60000), i % 2 ? 'udp' : 'tcp', 'bittorrent', 'dht', i);
    expect(t.size).toBe(100);
    expect([...t.entries()]).toHaveLength(100);
    expect(t.stats().evicted).toBe(4900);
  });
});
