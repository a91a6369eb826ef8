/**
 * The lab's scripted sessions are protocol-accurate: every length field matches the bytes that
 * follow, bencode is strict-valid, uTP headers are consistent (BEP 29), MSN MSG byte counts are
 * right, and the scenario builder and file format behave.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { scenarioFromJson, scenarioToJson } from '../../src/tools/lab/scenario.js';
import { btIds, BT_BLOCK, UTP } from '../../src/apps/bittorrent/session.js';
import { bdecode, bencode, prngBytes, type Bdecoded } from '../../src/apps/bytes.js';
import { buildScenario, SESSIONS, sessionNames } from '../../src/tools/lab/sessions.js';
import { APPS } from '../../src/apps/registry.js';
import type { Session } from '../../src/apps/session-types.js';

const all = buildScenario([], { bulkBytes: 65536 });
const get = (name: string): Session => {
  const s = all.find((x) => x.name === name);
  if (!s) throw new Error(`no session ${name}`);
  return s;
};
const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
const steps = (name: string, dir?: 'out' | 'in'): Uint8Array[] => get(name).steps.filter((s) => !dir || s.dir === dir).map((s) => s.bytes);
const be32 = (b: Uint8Array, o: number): number => Buffer.from(b).readUInt32BE(o);
const le32 = (b: Uint8Array, o: number): number => Buffer.from(b).readUInt32LE(o);
const le16 = (b: Uint8Array, o: number): number => Buffer.from(b).readUInt16LE(o);
const be16 = (b: Uint8Array, o: number): number => Buffer.from(b).readUInt16BE(o);

/** Splits a BEP 3 message stream into [id, payload] (keep-alives as id -1); throws on a bad length. */
function btMessages(b: Uint8Array): [number, Uint8Array][] {
  const out: [number, Uint8Array][] = [];
  for (let o = 0; o < b.length; ) {
    const n = be32(b, o);
    if (o + 4 + n > b.length) throw new Error(`message at ${o} overruns: length ${n}`);
    out.push(n === 0 ? [-1, new Uint8Array(0)] : [b[o + 4], b.subarray(o + 5, o + 4 + n)]);
    o += 4 + n;
  }
  return out;
}

/** HTTP message: head lines and body; checks Content-Length when present. */
function http(b: Uint8Array): { start: string; headers: Record<string, string>; body: Uint8Array } {
  const s = text(b);
  const end = s.indexOf('\r\n\r\n');
  expect(end).toBeGreaterThan(0);
  const [start, ...lines] = s.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    expect(i, `header line ${l}`).toBeGreaterThan(0);
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  const body = b.subarray(end + 4);
  if (headers['content-length'] !== undefined) expect(Number(headers['content-length'])).toBe(body.length);
  return { start, headers, body };
}

describe('registry and scenario', () => {
  it('covers every application with distinct high ports', () => {
    // Registry order, applications with sessions only, then the non-application bulk transfers.
    const withSessions = APPS.filter((a) => (a.sessions ?? []).length > 0);
    expect(Object.keys(SESSIONS)).toEqual([...withSessions.map((a) => a.name), 'bulk']);
    expect(withSessions.length).toBeGreaterThan(0);
    for (const a of withSessions) {
      expect(SESSIONS[a.name]).toBe(a.sessions);
      for (const t of a.sessions!) expect(t.app, `${a.name}.${t.variant}`).toBe(a.name);
    }
    expect(all.map((s) => s.name)).toEqual(sessionNames());
    const ports = all.map((s) => s.port);
    expect(new Set(ports).size).toBe(ports.length);
    expect(Math.min(...ports)).toBeGreaterThanOrEqual(40000);
    for (const s of all) {
      expect(s.source).toBeTruthy();
      if (s.l4 === 'udp') expect(s.steps[0].dir).toBe('out');
    }
  });

  it('selects apps and variants, rejects unknown names', () => {
    expect(buildScenario(['bittorrent.dht', 'msn'], { basePort: 50000 }).map((s) => [s.name, s.port])).toEqual([
      ['bittorrent.dht', 50000],
      ['msn.notification', 50001],
      ['msn.switchboard', 50002],
    ]);
    expect(() => buildScenario(['nope'])).toThrow(expect.objectContaining({ code: 'P2PGW_ERR_USAGE' }));
    expect(() => buildScenario(['bittorrent.nope'])).toThrow(expect.objectContaining({ code: 'P2PGW_ERR_USAGE' }));
    expect(() => buildScenario([], { basePort: 65530 })).toThrow(expect.objectContaining({ code: 'P2PGW_ERR_USAGE' }));
  });

  it('is deterministic and round-trips through scenario JSON (bulk stored as a seed)', () => {
    const big = buildScenario([], { bulkBytes: 1 << 20 });
    const json = scenarioToJson(big);
    expect(json.length).toBeLessThan(100_000);
    const back = scenarioFromJson(json);
    expect(back.map((s) => [s.name, s.port, s.steps.map((st) => [st.dir, Buffer.from(st.bytes).toString('base64')])])).toEqual(
      buildScenario([], { bulkBytes: 1 << 20 }).map((s) => [s.name, s.port, s.steps.map((st) => [st.dir, Buffer.from(st.bytes).toString('base64')])]),
    );
    expect(() => scenarioFromJson('{"version":1,"sessions":[{"app":"a","name":"a","l4":"udp","port":1,"steps":[{"dir":"in","b64":""}]}]}')).toThrow(
      expect.objectContaining({ code: 'P2PGW_ERR_USAGE' }),
    );
  });
});

describe('bittorrent', () => {
  it('peer wire: 68-byte handshakes with one info_hash, then length-prefixed messages', () => {
    const [o0, o1, o2, o3] = steps('bittorrent.peerwire', 'out');
    const [i0, i1, i2] = steps('bittorrent.peerwire', 'in');
    const ids = btIds(1);
    for (const [hs, peer] of [[o0, ids.clientId], [i0.subarray(0, 68), ids.serverId]] as const) {
      expect(hs[0]).toBe(19);
      expect(text(hs.subarray(1, 20))).toBe('BitTorrent protocol');
      expect(hs[25] & 0x10).toBe(0x10); // BEP 10
      expect(hs[27] & 0x05).toBe(0x05); // BEP 5 DHT + BEP 6 fast
      expect(Buffer.from(hs.subarray(28, 48)).equals(Buffer.from(ids.infoHash))).toBe(true);
      expect(Buffer.from(hs.subarray(48, 68)).equals(Buffer.from(peer))).toBe(true);
    }
    expect(o0.length).toBe(68);
    expect(btMessages(i0.subarray(68)).map(([id, p]) => [id, p.length])).toEqual([[5, 2]]); // bitfield for 12 pieces
    expect(btMessages(o1).map(([id]) => id)).toEqual([5, 2]); // bitfield, interested
    expect(btMessages(i1)).toEqual([[1, new Uint8Array(0)]]); // unchoke
    const [[rid, req]] = btMessages(o2);
    expect([rid, req.length, be32(req, 8)]).toEqual([6, 12, BT_BLOCK]);
    const [[pid, piece]] = btMessages(i2);
    expect(pid).toBe(7);
    expect([be32(piece, 0), be32(piece, 4), piece.length - 8]).toEqual([be32(req, 0), be32(req, 4), BT_BLOCK]);
    expect(btMessages(o3).map(([id, p]) => [id, be32(p, 0)])).toEqual([[4, be32(req, 0)]]); // have
  });

  it('DHT: KRPC ping query and response are strict bencode (BEP 5)', () => {
    const [q] = steps('bittorrent.dht', 'out');
    const [r] = steps('bittorrent.dht', 'in');
    const dq = bdecode(q) as Record<string, Bdecoded>;
    const dr = bdecode(r) as Record<string, Bdecoded>;
    expect(text(dq.y as Uint8Array)).toBe('q');
    expect(text(dq.q as Uint8Array)).toBe('ping');
    expect(((dq.a as Record<string, Bdecoded>).id as Uint8Array).length).toBe(20);
    expect(text(dr.y as Uint8Array)).toBe('r');
    expect(dr.t).toEqual(dq.t);
    expect(((dr.r as Record<string, Bdecoded>).id as Uint8Array).length).toBe(20);
    expect(text(q)).toMatch(/^d1:ad2:id20:.{20}e1:q4:ping1:t2:aa1:y1:qe$/s);
  });

  it('bencode rejects unsorted keys, leading zeros and trailing bytes', () => {
    expect(text(bencode({ b: 1, a: 'x', l: [0, -3] }))).toBe('d1:a1:x1:bi1e1:lli0ei-3eee');
    expect(() => bdecode(Buffer.from('d1:bi1e1:ai2ee'))).toThrow();
    expect(() => bdecode(Buffer.from('i03e'))).toThrow();
    expect(() => bdecode(Buffer.from('i1ex'))).toThrow();
  });

  it('uTP: 20-byte BEP 29 headers with consistent connection ids, seq and ack numbers', () => {
    const pk = get('bittorrent.utp').steps.map((s) => {
      const b = s.bytes;
      expect(b.length).toBeGreaterThanOrEqual(20);
      return { dir: s.dir, type: b[0] >> 4, ver: b[0] & 15, ext: b[1], conn: be16(b, 2), wnd: be32(b, 12), seq: be16(b, 16), ack: be16(b, 18), data: b.subarray(20) };
    });
    expect(pk.map((p) => p.type)).toEqual([UTP.ST_SYN, UTP.ST_STATE, UTP.ST_DATA, UTP.ST_DATA, UTP.ST_FIN, UTP.ST_STATE]);
    for (const p of pk) expect([p.ver, p.ext]).toEqual([1, 0]);
    const [syn, state, d1, d2, fin, last] = pk;
    expect(state.conn).toBe(syn.conn); // responder sends with the SYN's id
    expect(state.ack).toBe(syn.seq);
    for (const p of [d1, fin]) expect(p.conn).toBe(syn.conn + 1); // initiator's send id
    expect(d2.conn).toBe(syn.conn);
    expect([d1.seq, fin.seq]).toEqual([syn.seq + 1, syn.seq + 2]);
    expect(last.ack).toBe(fin.seq);
    expect(text(d1.data.subarray(0, 20))).toBe('\x13BitTorrent protocol');
    expect([d1.data.length, d2.data.length, syn.data.length]).toEqual([68, 68, 0]);
  });

  it('tracker: announce GET with 20-byte info_hash/peer_id, bencoded compact reply', () => {
    const [req] = steps('bittorrent.tracker', 'out');
    const [res] = steps('bittorrent.tracker', 'in');
    const r = http(req);
    const m = /^GET \/announce\?(\S+) HTTP\/1\.1$/.exec(r.start);
    expect(m).not.toBeNull();
    expect(r.headers.host).toBe(`10.232.2.2:${get('bittorrent.tracker').port}`);
    const q = new Map(m![1].split('&').map((kv) => kv.split('=') as [string, string]));
    const pct = (s: string): Buffer => Buffer.from(s.replace(/%([0-9A-F]{2})|(.)/g, (_, h, c) => (h ? String.fromCharCode(parseInt(h, 16)) : c)), 'latin1');
    const ids = btIds(1 + all.findIndex((x) => x.name === 'bittorrent.tracker')); // session i uses seed 1 + i
    expect(pct(q.get('info_hash')!).equals(Buffer.from(ids.infoHash))).toBe(true);
    expect(pct(q.get('peer_id')!).length).toBe(20);
    expect(q.get('port')).toBe('51413');
    const h = http(res);
    expect(h.start).toBe('HTTP/1.1 200 OK');
    const body = bdecode(h.body) as Record<string, Bdecoded>;
    expect(body.interval).toBe(1800);
    expect((body.peers as Uint8Array).length % 6).toBe(0);
  });
});

describe('edonkey', () => {
  /** 0xE3 header: LE32 size counts opcode + payload. */
  const msg = (b: Uint8Array): { op: number; payload: Uint8Array } => {
    expect(b[0]).toBe(0xe3);
    expect(le32(b, 1)).toBe(b.length - 5);
    return { op: b[5], payload: b.subarray(6) };
  };
  /** Parses hash, id, port, tags, server ip/port; returns the tag names. */
  const hello = (p: Uint8Array): number[] => {
    let o = 16 + 4 + 2;
    const n = le32(p, o);
    o += 4;
    const names: number[] = [];
    for (let i = 0; i < n; i++) {
      const type = p[o];
      expect(le16(p, o + 1)).toBe(1);
      names.push(p[o + 3]);
      o += 4;
      o += type === 0x02 ? 2 + le16(p, o) : type === 0x03 ? 4 : NaN;
    }
    expect(p.length - o).toBe(6); // server ip + port
    return names;
  };

  it('TCP Hello 0x01 (hash size 16) and HelloAnswer 0x4C with matching sizes and tag lists', () => {
    const [h] = steps('edonkey.hello', 'out');
    const [a] = steps('edonkey.hello', 'in');
    const mh = msg(h);
    expect(mh.op).toBe(0x01);
    expect(mh.payload[0]).toBe(16);
    expect(hello(mh.payload.subarray(1))).toEqual([0x01, 0x11, 0x0f]);
    const ma = msg(a);
    expect(ma.op).toBe(0x4c);
    expect(hello(ma.payload)).toEqual([0x01, 0x11, 0x0f]);
    expect([mh.payload[1 + 5], mh.payload[1 + 14]]).toEqual([14, 111]);
    expect(Array.from(mh.payload.subarray(17, 21))).toEqual([10, 232, 1, 2]); // high id = client IP
  });

  it('Kad2 BOOTSTRAP_REQ 0x01 and BOOTSTRAP_RES 0x09 with a consistent contact count', () => {
    const [q] = steps('edonkey.kad', 'out');
    const [r] = steps('edonkey.kad', 'in');
    expect(Array.from(q)).toEqual([0xe4, 0x01]);
    expect([r[0], r[1]]).toEqual([0xe4, 0x09]);
    const count = le16(r, 2 + 16 + 2 + 1);
    expect(count).toBeGreaterThan(0);
    expect(r.length).toBe(2 + 16 + 2 + 1 + 2 + count * 25);
  });
});

describe('gnutella', () => {
  const desc = (b: Uint8Array): { guid: Uint8Array; type: number; ttl: number; hops: number; payload: Uint8Array } => {
    expect(b.length).toBeGreaterThanOrEqual(23);
    expect(le32(b, 19)).toBe(b.length - 23);
    return { guid: b.subarray(0, 16), type: b[16], ttl: b[17], hops: b[18], payload: b.subarray(23) };
  };

  it('0.6 handshake, final 200 OK, ping and pong descriptors', () => {
    const [connect, final, ping] = steps('gnutella.handshake', 'out');
    const [ok, pong] = steps('gnutella.handshake', 'in');
    expect(text(connect)).toMatch(/^GNUTELLA CONNECT\/0\.6\r\n(.+\r\n)*\r\n$/);
    expect(text(connect)).toContain('User-Agent: ');
    expect(text(connect)).toContain('X-Ultrapeer: False\r\n');
    expect(text(ok)).toMatch(/^GNUTELLA\/0\.6 200 OK\r\n(.+\r\n)*\r\n$/);
    expect(text(final)).toBe('GNUTELLA/0.6 200 OK\r\n\r\n');
    const p = desc(ping);
    const q = desc(pong);
    expect([p.type, p.ttl, p.hops, p.payload.length]).toEqual([0x00, 1, 0, 0]);
    expect([q.type, q.payload.length]).toEqual([0x01, 14]);
    expect(Buffer.from(q.guid).equals(Buffer.from(p.guid))).toBe(true);
    expect([p.guid[8], p.guid[15]]).toEqual([0xff, 0x00]);
    expect(Array.from(q.payload.subarray(2, 6))).toEqual([10, 232, 2, 2]);
  });

  it('UDP ping/pong datagrams', () => {
    const [ping] = steps('gnutella.udp-ping', 'out');
    const [pong] = steps('gnutella.udp-ping', 'in');
    expect([desc(ping).type, ping.length]).toEqual([0x00, 23]);
    expect([desc(pong).type, pong.length]).toEqual([0x01, 37]);
  });
});

describe('fasttrack, msn, msnftp, http, bulk', () => {
  it('fasttrack: GET /.hash=<40 hex> with X-Kazaa headers, 200 with X-Kazaa headers', () => {
    const req = http(steps('fasttrack.download', 'out')[0]);
    expect(req.start).toMatch(/^GET \/\.hash=[0-9a-f]{40} HTTP\/1\.1$/);
    expect(req.headers['x-kazaa-username']).toBe('labuser');
    expect(req.headers['x-kazaa-network']).toBe('KaZaA');
    const res = http(steps('fasttrack.download', 'in')[0]);
    expect(res.start).toBe('HTTP/1.1 200 OK');
    expect(Object.keys(res.headers).filter((h) => h.startsWith('x-kazaa-')).length).toBeGreaterThanOrEqual(3);
    expect(res.body.length).toBe(4096);
  });

  it('msn: MSNP8 login commands and a MSG whose byte count is exact', () => {
    expect(steps('msn.notification', 'out').slice(0, 3).map(text)).toEqual([
      'VER 1 MSNP8 CVR0\r\n',
      'CVR 2 0x0409 winnt 5.1 i386 MSNMSGR 6.0.0602 MSMSGS user@example.com\r\n',
      'USR 3 TWN I user@example.com\r\n',
    ]);
    expect(text(steps('msn.notification', 'in')[0])).toBe('VER 1 MSNP8 CVR0\r\n');
    const all = [...steps('msn.switchboard', 'out'), ...steps('msn.switchboard', 'in')].map(text).filter((s) => s.startsWith('MSG '));
    expect(all.length).toBe(2);
    for (const m of all) {
      const nl = m.indexOf('\r\n');
      const len = Number(m.slice(0, nl).split(' ').pop());
      expect(Buffer.byteLength(m.slice(nl + 2), 'latin1')).toBe(len);
    }
    expect(all[0]).toMatch(/^MSG 4 N 130\r\nMIME-Version: 1\.0\r\nContent-Type: text\/plain; charset=UTF-8\r\n/);
    expect(all[0].endsWith('\r\n\r\nhello')).toBe(true);
  });

  it('msnftp: VER/USR/FIL/TFR, 3-byte block headers adding up to the FIL size, BYE 16777989', () => {
    const o = steps('msnftp.transfer', 'out').map(text);
    const i = steps('msnftp.transfer', 'in');
    expect(o).toEqual(['VER MSNFTP\r\n', 'USR user@example.com 1234567\r\n', 'TFR\r\n', 'BYE 16777989\r\n']);
    expect(text(i[0])).toBe('VER MSNFTP\r\n');
    const size = Number(/^FIL (\d+)\r\n$/.exec(text(i[1]))![1]);
    expect(size).toBe(1024);
    let total = 0;
    for (let off = 0; off < i[2].length; ) {
      expect(i[2][off]).toBe(0);
      const n = i[2][off + 1] | (i[2][off + 2] << 8);
      expect(n).toBeLessThanOrEqual(2045);
      total += n;
      off += 3 + n;
      expect(off).toBeLessThanOrEqual(i[2].length);
    }
    expect(total).toBe(size);
  });

  it('http: GET with Host, 200 with a matching Content-Length', () => {
    const req = http(steps('http.get', 'out')[0]);
    expect(req.start).toBe('GET /index.html HTTP/1.1');
    expect(req.headers.host).toBe(`10.232.2.2:${get('http.get').port}`);
    expect(http(steps('http.get', 'in')[0]).start).toBe('HTTP/1.1 200 OK');
  });

  it('bulk: seeded bytes of the asked size; upload is answered with their sha256', () => {
    const up = get('bulk.upload').steps;
    expect(up.map((s) => [s.dir, s.bytes.length])).toEqual([['out', 65536], ['in', 32]]);
    expect(Buffer.from(up[1].bytes).toString('hex')).toBe(createHash('sha256').update(up[0].bytes).digest('hex'));
    const down = get('bulk.download').steps;
    expect(down.map((s) => [s.dir, s.bytes.length])).toEqual([['in', 65536]]);
    expect(Buffer.from(down[0].bytes).equals(Buffer.from(prngBytes(down[0].gen!.seed, 65536, 'bulk-down')))).toBe(true);
    expect(Buffer.from(up[0].bytes).equals(Buffer.from(down[0].bytes))).toBe(false);
  });
});
