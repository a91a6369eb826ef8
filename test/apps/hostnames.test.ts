/**
 * Host names as evidence (src/apps/hostnames.ts, src/apps/parse/hostname.ts): the DNS question
 * name (RFC 1035), HTTP Host (RFC 9110 §7.2) and TLS SNI (RFC 8446 §4.1.2, RFC 6066 §3) parsers
 * on real-shaped messages split at every byte, hostile and truncated input, wildcard matching,
 * and the `host` rules grammar.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dnsQueryName, dnsTcpQueryName, httpHost, tlsSni, NEED_MORE } from '../../src/apps/parse/hostname.js';
import { HostnameMatcher, hostnameEvidence, type HostnameEvent } from '../../src/apps/hostnames.js';
import { loadRules, parseRules } from '../../src/apps/rules.js';
import { RulesError } from '../../src/core/errors.js';
import { b } from './ctx.js';

/** A DNS query for `name` (RFC 1035 §4.1): id, RD, one question, type A, class IN. */
export function dnsQuery(name: string, flags = 0x0100): Uint8Array {
  const labels = name.split('.').flatMap((l) => [l.length, ...Array.from(l, (c) => c.charCodeAt(0))]);
  return Uint8Array.from([0x12, 0x34, flags >> 8, flags & 0xff, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, 1, 0, 1]);
}

const u16 = (n: number): number[] => [n >> 8, n & 0xff];
const u24 = (n: number): number[] => [n >> 16, (n >> 8) & 0xff, n & 0xff];
const ext = (type: number, body: number[]): number[] => [...u16(type), ...u16(body.length), ...body];

/** A TLS 1.3 ClientHello (RFC 8446 §4.1.2) with SNI `name`, as one record or split into `records`. */
export function clientHello(name: string | null, records = 1): Uint8Array {
  const sni = name === null ? [] : ext(0, [...u16(name.length + 3), 0, ...u16(name.length), ...Array.from(name, (c) => c.charCodeAt(0))]);
  const exts = [
    ...ext(0x000a, [0, 4, 0x00, 0x1d, 0x00, 0x17]), // supported_groups
    ...sni,
    ...ext(0x002b, [2, 0x03, 0x04]), // supported_versions
    ...ext(0x000d, [0, 4, 0x04, 0x03, 0x08, 0x04]), // signature_algorithms
    ...ext(0x0033, [0, 36, 0x00, 0x1d, 0, 32, ...new Array<number>(32).fill(7)]), // key_share x25519
    ...ext(0x002d, [1, 1]), // psk_key_exchange_modes
  ];
  const body = [3, 3, ...new Array<number>(32).fill(0xab), 32, ...new Array<number>(32).fill(0xcd), 0, 6, 0x13, 1, 0x13, 2, 0x13, 3, 1, 0, ...u16(exts.length), ...exts];
  const hs = [1, ...u24(body.length), ...body];
  const out: number[] = [];
  const per = Math.ceil(hs.length / records);
  for (let i = 0; i < hs.length; i += per) {
    const frag = hs.slice(i, i + per);
    out.push(22, 3, 1, ...u16(frag.length), ...frag);
  }
  return Uint8Array.from(out);
}

const HTTP = 'GET /announce?x=1 HTTP/1.1\r\nUser-Agent: t\r\nHost: Router.BitTorrent.com:6881\r\nAccept: */*\r\n\r\n';

/** Parser results on every prefix of `msg`: all need-more until the last `tail` prefixes. */
function prefixes(parse: (p: Uint8Array) => unknown, msg: Uint8Array): unknown[] {
  return Array.from({ length: msg.length + 1 }, (_, k) => parse(msg.subarray(0, k)));
}

describe('parsers on real-shaped messages', () => {
  it('DNS query name (UDP and TCP with length prefix, split at every byte)', () => {
    const q = dnsQuery('router.bittorrent.com');
    expect(dnsQueryName(q, true)).toBe('router.bittorrent.com');
    const tcp = Uint8Array.from([...u16(q.length), ...q]);
    const r = prefixes((p) => dnsTcpQueryName(p), tcp);
    expect(r[tcp.length]).toBe('router.bittorrent.com');
    expect(r.slice(0, tcp.length - 4).every((x) => x === NEED_MORE)).toBe(true);
    expect(dnsQueryName(dnsQuery('example.com', 0x8180), true)).toBeNull(); // a response
    expect(dnsQueryName(dnsQuery('example.com', 0x2800), true)).toBeNull(); // UPDATE opcode
  });

  it('HTTP Host without port, any case, split at every byte', () => {
    const msg = b(HTTP);
    const r = prefixes((p) => httpHost(p), msg);
    const hostEnd = HTTP.indexOf('\r\nAccept') + 2;
    expect(r.slice(0, hostEnd).every((x) => x === NEED_MORE)).toBe(true);
    expect(r.slice(hostEnd).every((x) => x === 'Router.BitTorrent.com')).toBe(true);
    expect(httpHost(b('GET / HTTP/1.1\r\nAccept: x\r\n\r\n'))).toBeNull();
    expect(httpHost(b('GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n'))).toBeNull();
    expect(httpHost(b('SSH-2.0-OpenSSH_9.6\r\n'))).toBeNull();
    expect(httpHost(b('\x16\x03\x01'))).toBeNull();
  });

  it('TLS 1.3 ClientHello SNI: one record, split at every byte, and across several records', () => {
    const ch = clientHello('dht.libtorrent.org');
    const r = prefixes((p) => tlsSni(p), ch);
    const firstName = r.findIndex((x) => x === 'dht.libtorrent.org');
    expect(firstName).toBeGreaterThan(0);
    expect(r.slice(0, firstName).every((x) => x === NEED_MORE)).toBe(true);
    expect(r.slice(firstName).every((x) => x === 'dht.libtorrent.org')).toBe(true);
    for (const n of [2, 3, 7]) {
      const split = clientHello('dht.libtorrent.org', n);
      expect(tlsSni(split), `${n} records`).toBe('dht.libtorrent.org');
      const rs = prefixes((p) => tlsSni(p), split);
      expect(rs.every((x) => x === NEED_MORE || x === 'dht.libtorrent.org'), `${n} records`).toBe(true);
    }
    expect(tlsSni(clientHello(null))).toBeNull();
    expect(tlsSni(Uint8Array.from([22, 3, 3, 0, 5, 2, 0, 0, 1, 0]))).toBeNull(); // ServerHello
  });
});

describe('parsers on hostile and truncated input', () => {
  it('count malformed DNS, HTTP and TLS, never throw', () => {
    const events: string[] = [];
    const on = (e: string): void => void events.push(e);
    const q = dnsQuery('a.example.com');
    const ptr = Uint8Array.from([...q.subarray(0, 12), 0xc0, 0x0c, 0, 1, 0, 1]);
    expect(dnsQueryName(ptr, true, on)).toBeNull();
    expect(dnsQueryName(q.subarray(0, q.length - 3), true, on)).toBeNull();
    expect(dnsQueryName(Uint8Array.from([...q.subarray(0, 12), 64, ...new Array<number>(64).fill(0x61), 0, 0, 1, 0, 1]), true, on)).toBeNull();
    expect(dnsTcpQueryName(Uint8Array.from([0, 3, 1, 2, 3]), on)).toBeNull();
    expect(httpHost(b('GET / HTTP/1.1\r\nHost: \r\n\r\n'), on)).toBeNull();
    const ch = clientHello('x.example.com');
    const badSid = ch.slice();
    badSid[5 + 4 + 34] = 200;
    expect(tlsSni(badSid, on)).toBeNull();
    const badRec = Uint8Array.from([...clientHello('y.example.com', 2)]);
    badRec[5 + ((badRec[3] << 8) | badRec[4])] = 23; // second record: application data
    expect(tlsSni(badRec, on)).toBeNull();
    expect(events).toEqual(['hostname_dns_bad', 'hostname_dns_bad', 'hostname_dns_bad', 'hostname_dns_bad', 'hostname_http_bad', 'hostname_tls_bad', 'hostname_tls_bad']);
  });

  it('random and mutated bytes: no throw, bounded results', () => {
    let seed = 12345;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    const seeds = [clientHello('a.example.com', 2), dnsQuery('b.example.org'), b(HTTP)];
    for (let i = 0; i < 3000; i++) {
      const base = seeds[i % 3].slice();
      for (let k = 0; k < 1 + (i % 5); k++) base[rnd() % base.length] = rnd();
      const cut = base.subarray(0, rnd() % (base.length + 1));
      for (const f of [(p: Uint8Array) => tlsSni(p), (p: Uint8Array) => httpHost(p), (p: Uint8Array) => dnsQueryName(p, true), (p: Uint8Array) => dnsTcpQueryName(p)]) {
        const r = f(cut);
        expect(r === null || r === NEED_MORE || (typeof r === 'string' && r.length <= 65535)).toBe(true);
      }
    }
  });
});

describe('matcher and evidence', () => {
  const m = new HostnameMatcher([
    { app: 'bittorrent', name: 'router.bittorrent.com' },
    { app: 'gnutella', name: '*.gwc.example.net' },
  ]);

  it('exact names and *.suffix wildcards (strictly below the suffix)', () => {
    expect(m.match('router.bittorrent.com')).toBe('bittorrent');
    expect(m.match('xrouter.bittorrent.com')).toBeNull();
    expect(m.match('a.router.bittorrent.com')).toBeNull();
    expect(m.match('a.gwc.example.net')).toBe('gnutella');
    expect(m.match('b.a.gwc.example.net')).toBe('gnutella');
    expect(m.match('gwc.example.net')).toBeNull();
    expect(m.match('xgwc.example.net')).toBeNull();
  });

  it('hostnameEvidence: DNS on port 53, HTTP and TLS on any TCP port, direction 0 only', () => {
    const ports = { initiator: 40000, responder: 53 };
    expect(hostnameEvidence('udp', 0, dnsQuery('ROUTER.bittorrent.com.'), ports, m)).toEqual({ app: 'bittorrent', name: 'router.bittorrent.com' });
    expect(hostnameEvidence('udp', 0, dnsQuery('www.example.com'), ports, m)).toBeNull();
    expect(hostnameEvidence('udp', 1, dnsQuery('router.bittorrent.com'), ports, m)).toBeNull();
    expect(hostnameEvidence('udp', 0, dnsQuery('router.bittorrent.com'), { initiator: 1, responder: 5353 }, m)).toBeNull();
    const web = { initiator: 40000, responder: 8080 };
    expect(hostnameEvidence('tcp', 0, b(HTTP), web, m)).toEqual({ app: 'bittorrent', name: 'router.bittorrent.com' });
    expect(hostnameEvidence('tcp', 0, b(HTTP.slice(0, 20)), web, m)).toBe(NEED_MORE);
    expect(hostnameEvidence('tcp', 0, clientHello('x.gwc.example.net'), { initiator: 1, responder: 443 }, m)).toEqual({ app: 'gnutella', name: 'x.gwc.example.net' });
    expect(hostnameEvidence('tcp', 0, new Uint8Array(0), web, m)).toBe(NEED_MORE);
    expect(hostnameEvidence('tcp', 0, b(HTTP), web, new HostnameMatcher([]))).toBeNull();
    const ev: HostnameEvent[] = [];
    expect(hostnameEvidence('tcp', 0, b('GET / HTTP/1.1\r\nHost: bad name!\r\n\r\n'), web, m, (e) => ev.push(e))).toBeNull();
    expect(ev).toEqual(['hostname_bad_name']);
  });
});

describe('host rules grammar', () => {
  const err = (text: string): string => {
    try {
      parseRules(text, 't.rules');
    } catch (e) {
      expect(e).toBeInstanceOf(RulesError);
      return (e as Error).message;
    }
    return '';
  };

  it('parses exact and wildcard names, lowercased', () => {
    const r = parseRules('host alpha Router.Example.com\nhost alpha *.example.net # comment\n', 't.rules');
    expect(r.hosts).toEqual([
      { app: 'alpha', name: 'router.example.com', file: 't.rules', line: 1 },
      { app: 'alpha', name: '*.example.net', file: 't.rules', line: 2 },
    ]);
  });

  it('rejects bad names and extra fields', () => {
    expect(err('host alpha')).toBe('t.rules:1: missing field: host name');
    expect(err('host alpha localhost')).toMatch(/^t\.rules:1: bad host name 'localhost' \(expected at least two labels/);
    expect(err('host alpha a..b')).toMatch(/empty label/);
    expect(err('host alpha *.*.b.c')).toMatch(/bad character '\*'/);
    expect(err('host alpha a.b*.c')).toMatch(/bad character/);
    expect(err('host alpha "a.b.c"')).toBe('t.rules:1: host name must not be a quoted string');
    expect(err('host alpha a.b.c extra')).toBe("t.rules:1: unknown option 'extra'");
    expect(err(`host alpha ${'a'.repeat(64)}.com`)).toMatch(/label longer than 63/);
  });

  it('loadRules: host lines need an app line, names are unique across files', () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-host-'));
    try {
      const base = 'app alpha mark 1 action allow\n';
      fs.writeFileSync(path.join(d, 'a.rules'), base + 'host alpha a.example.com\n');
      fs.writeFileSync(path.join(d, 'b.rules'), 'host alpha A.example.com\n');
      expect(() => loadRules(d, ['alpha'])).toThrow(`${path.join(d, 'b.rules')}:1: duplicate host 'a.example.com' (first defined at ${path.join(d, 'a.rules')}:2 for 'alpha')`);
      fs.writeFileSync(path.join(d, 'b.rules'), 'host beta b.example.com\n');
      expect(() => loadRules(d, ['alpha'])).toThrow(`${path.join(d, 'b.rules')}:1: host for app 'beta' which has no app line`);
      fs.writeFileSync(path.join(d, 'b.rules'), 'host alpha *.example.com\n');
      expect(loadRules(d, ['alpha']).hosts.map((h) => h.name)).toEqual(['a.example.com', '*.example.com']);
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it('the bundled host names load and are unique', () => {
    const r = loadRules();
    expect(r.hosts.map((h) => h.name)).toEqual(expect.arrayContaining(['router.bittorrent.com', 'dht.transmissionbt.com', 'messenger.hotmail.com']));
  });
});
