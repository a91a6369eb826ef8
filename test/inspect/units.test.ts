import { describe, it, expect, afterAll } from 'vitest';
import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ScanBuffer } from '../../src/content/scanbuffer.js';
import { SyncScanner, TransferScanners } from '../../src/content/scan-pool.js';
import { buildVirusDb, EICAR } from '../../src/content/virusdb.js';
import { KeywordSet } from '../../src/content/keywords.js';
import { AuditStore } from '../../src/content/audit.js';
import { rstFrom } from '../../src/content/rst.js';
import { decodeIp } from '../../src/decode/index.js';
import { TCP_ACK, TCP_RST } from '../../src/decode/types.js';
import { Counters } from '../../src/core/counters.js';
import { ipv4 } from '../helpers/packets.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-inspect-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('ScanBuffer + scanner: thesis buffers, overlap kept per transfer', () => {
  const v = buildVirusDb({ eicar: true });
  const eicar = new TextEncoder().encode(EICAR);

  /** Runs a body through ScanBuffer jobs of `size`, pushed in `pushes`-sized pieces; returns the first hit's job. */
  function scanBody(body: Uint8Array, size: number, pushes: number[]) {
    const t = new TransferScanners(v.db!);
    const buf = new ScanBuffer('t1', size);
    const jobs = [];
    for (let off = 0, k = 0; off < body.length; k++) {
      const n = pushes[k % pushes.length];
      jobs.push(...buf.push(body.subarray(off, off + n)));
      off += n;
    }
    jobs.push(buf.finish());
    for (const job of jobs) {
      const name = t.run(job);
      if (name) return { name, job };
    }
    return null;
  }

  it('finds EICAR placed across a 32 KiB buffer boundary, in the job where it ends', () => {
    const body = new Uint8Array(100_000);
    const at = 32 * 1024 - 30; // spans the first boundary
    body.set(eicar, at);
    const hit = scanBody(body, 32 * 1024, [1460]);
    expect(hit?.name).toBe('Eicar-Test-Signature');
    expect(hit!.job.base).toBe(32 * 1024); // the second buffer, which holds the signature's end
  });

  it('reports a signature in the buffer where it ends, whatever the buffer size and pushes (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1024, max: 4096 }),
        fc.integer({ min: 0, max: 20_000 }),
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 12 }),
        (size, at, pushes) => {
          const body = new Uint8Array(24_000);
          body.set(eicar, at);
          const end = at + eicar.length;
          const hit = scanBody(body, size, pushes);
          expect(hit?.name).toBe('Eicar-Test-Signature');
          expect(hit!.job.base < end && end <= hit!.job.base + hit!.job.data.length).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('clean data gives no hit; SyncScanner reports the signature name', () => {
    expect(scanBody(new Uint8Array(70_000).fill(0x41), 32 * 1024, [1000])).toBeNull();
    const s = new SyncScanner(v.db!);
    let r: string | null | undefined;
    s.scan({ key: 'k', data: eicar.slice(), base: 0, final: true }, (res) => (r = res.virus));
    expect(r).toBe('Eicar-Test-Signature');
  });

  it('loads ClamAV .ndb body signatures with wildcards; other target types are skipped with a notice', () => {
    const f = path.join(tmp, 'x.ndb');
    fs.writeFileSync(f, 'Lit.Sig:0:*:6162636465666768\nWild.Sig:0:*:7a7a??7a7a{2-4}7979\nPE.Only:1:*:4142434445\n');
    const d = buildVirusDb({ eicar: false, files: [f] });
    expect(d.bodySigs).toBe(2);
    expect(d.notices.join()).toMatch(/skipped/);
    const t = new TransferScanners(d.db!);
    expect(t.run({ key: 'a', data: new TextEncoder().encode('...zzQzz12yy...'), final: true })).toBe('Wild.Sig');
    expect(t.run({ key: 'b', data: new TextEncoder().encode('...zzQzz123456yy...'), final: true })).toBeNull(); // gap too long
    fs.writeFileSync(f, 'broken line\n');
    expect(() => buildVirusDb({ eicar: false, files: [f] })).toThrow(/x\.ndb:1/);
  });
});

describe('KeywordSet', () => {
  it('matches case-insensitively in UTF-8 and names the list and keyword', () => {
    const k = new KeywordSet({ banned: ['Secret Plan', 'секрет'], other: ['warez'] });
    expect(k.find('the SECRET plan is ready')).toMatchObject({ list: 'banned', keyword: 'Secret Plan', id: 'banned#0' });
    expect(k.find('это СЕКРЕТ')).toMatchObject({ id: 'banned#1' });
    expect(k.find('free WaReZ here')).toMatchObject({ list: 'other' });
    expect(k.find('nothing to see')).toBeNull();
    expect(new KeywordSet({}).find('anything')).toBeNull();
    expect(() => new KeywordSet({ l: [' '] })).toThrow(/keywords\.lists\.l\[0\]: empty keyword/);
  });
});

describe('AuditStore', () => {
  const ctx = { app: 'http', src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 80 };

  it('stores files as 0600 via temp+rename with an index, and enforces the quota oldest-first', () => {
    const dir = path.join(tmp, 'audit');
    const c = new Counters();
    const a = new AuditStore({ dir, chat: true, files: true, quotaBytes: 2500, minFreeBytes: 0 }, c);
    for (let i = 0; i < 3; i++) {
      const f = a.openFile(ctx, 1, `f${i}.bin`)!;
      f.write(new Uint8Array(1000).fill(i));
      expect(fs.readdirSync(path.join(dir, 'tmp'))).toHaveLength(1); // still a temp file
      f.finish(true);
    }
    const files = fs.readdirSync(path.join(dir, 'files'));
    expect(files).toHaveLength(2); // the oldest was removed to stay under 2500 bytes
    expect(files.some((n) => n.endsWith('f0.bin'))).toBe(false);
    for (const n of files) expect(fs.statSync(path.join(dir, 'files', n)).mode & 0o777).toBe(0o600);
    const index = fs.readFileSync(path.join(dir, 'index.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(index[2]).toMatchObject({ name: 'f2.bin', size: 1000, sha256: createHash('sha256').update(new Uint8Array(1000).fill(2)).digest('hex') });
    expect(c.get('audit_quota_evicted')).toBe(1);
    a.chat(ctx, 0, { text: 'hello', from: 'a@example.com' });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'chat.jsonl'), 'utf8'))).toMatchObject({ text: 'hello', dir: 'out', app: 'http' });
    expect(fs.statSync(path.join(dir, 'chat.jsonl')).mode & 0o777).toBe(0o600);
  });

  it('respects the free-space floor', () => {
    const c = new Counters();
    const a = new AuditStore({ dir: path.join(tmp, 'full'), chat: true, files: true, quotaBytes: 1e9, minFreeBytes: 1e6 }, c,
      () => ({ bavail: 10, bsize: 4096 }) as unknown as fs.StatsFs);
    expect(a.openFile(ctx, 1, 'x')).toBeNull();
    expect(c.get('audit_disk_floor')).toBe(1);
  });
});

describe('rstFrom', () => {
  it('builds a valid RST|ACK toward the receiver with the segment sequence number', () => {
    const ip = ipv4({ src: '10.0.0.1', dst: '10.0.0.2', sport: 4000, dport: 80, l4: 'tcp', seq: 123456, ack: 99, flags: 0x18, payload: 'data' });
    const d = decodeIp(ip);
    if (!d.ok) throw new Error(d.event);
    const r = decodeIp(rstFrom(ip, d.pkt));
    if (!r.ok) throw new Error(`RST does not decode: ${r.event}`);
    expect(r.pkt).toMatchObject({ src: '10.0.0.1', dst: '10.0.0.2', sport: 4000, dport: 80, seq: 123456, ack: 99, flags: TCP_RST | TCP_ACK });
    expect(r.pkt.payload.length).toBe(0);
  });
});

describe('rstFrom with the receiver\'s RCV.NXT', () => {
  it('carries the given sequence number (a partly overlapping segment must not draw a challenge ACK)', () => {
    const ip = ipv4({ src: '10.0.0.1', dst: '10.0.0.2', sport: 4000, dport: 80, l4: 'tcp', seq: 1000, ack: 7, flags: 0x18, payload: 'abcdef' });
    const d = decodeIp(ip);
    if (!d.ok) throw new Error(d.event);
    const r = decodeIp(rstFrom(ip, d.pkt, 1004));
    if (!r.ok) throw new Error(r.event);
    expect(r.pkt.seq).toBe(1004);
  });
});
