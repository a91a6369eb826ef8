/**
 * Issue 14, defect 1: infected transfers must not defeat the audit quota. An infected transfer's
 * audit copy used to be aborted twice (on the virus, then on session close) and each abort gave
 * its bytes back, so the quota accounting drifted below what is on disk and clean files were
 * never evicted. Checked through replay (crafted captures, the whole pipeline), through the
 * content session with the in-process scanner, and on AuditFile itself.
 */
import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { replayFiles } from '../../src/runtime/replay.js';
import { parseConfig } from '../../src/config/load.js';
import { APPS } from '../../src/apps/registry.js';
import { AuditStore } from '../../src/content/audit.js';
import { ContentSession, type ContentShared } from '../../src/content/session.js';
import { KeywordSet } from '../../src/content/keywords.js';
import { SyncScanner } from '../../src/content/scan-pool.js';
import { buildVirusDb, EICAR } from '../../src/content/virusdb.js';
import { Counters } from '../../src/core/counters.js';
import { pcapOf, tcpSession, type Pkt } from '../helpers/packets.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-quota-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const ctx = { app: 'http', src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 80 };

/** Bytes of audited files on disk: `files/` and `tmp/` of an audit directory (index and chat lines excluded). */
function diskBytes(dir: string): number {
  let n = 0;
  for (const sub of ['files', 'tmp']) {
    const d = path.join(dir, sub);
    if (fs.existsSync(d)) for (const f of fs.readdirSync(d)) n += fs.statSync(path.join(d, f)).size;
  }
  return n;
}

/** A deterministic body of `n` bytes with EICAR at `at` (or clean when `at` is null). */
function body(n: number, seed: number, at: number | null): Uint8Array {
  const b = Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 0x7f);
  if (at !== null) b.set(new TextEncoder().encode(EICAR), at);
  return b;
}

function httpSession(i: number, b: Uint8Array): Pkt[] {
  const req = `GET /f${i}.bin HTTP/1.1\r\nHost: server\r\n\r\n`;
  const head = `HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\nContent-Type: application/octet-stream\r\n\r\n`;
  const resp = new Uint8Array(Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(b)]));
  return tcpSession(`10.9.${1 + (i >> 8)}.${1 + (i & 0xff)}`, 20000 + i, '10.9.200.2', 8080, [{ dir: 0, data: req }, { dir: 1, data: resp }]);
}

describe('audit quota with infected transfers (replay)', () => {
  it('200 sessions, every other one infected mid-transfer: bytes on disk stay within a 32 KiB quota', () => {
    const dir = path.join(tmp, 'replay-audit');
    const quota = 32 * 1024;
    const pkts: Pkt[] = [];
    // Infected: EICAR in the 4th 1 KiB scan buffer of a 12 KB body, so it is found while the
    // transfer is still open (the path that aborted the audit copy twice). Clean: 6 KB, stored.
    for (let i = 0; i < 200; i++) pkts.push(...httpSession(i, i % 2 ? body(12_000, i, 3500) : body(6_000, i, null)));
    pkts.forEach((p, k) => (p.ts = 1000 + k * 0.0001));
    const file = path.join(tmp, 'hostile.pcap');
    fs.writeFileSync(file, pcapOf(pkts));
    const names = APPS.map((a) => a.name);
    const cfg = parseConfig(
      `apps:\n  http: {action: inspect}\naudit: {enabled: true, dir: ${JSON.stringify(dir)}, min_free: 0, quota: ${quota}}\nscan: {enabled: true, buffer: 1024}\n`,
      path.join(tmp, 'cfg.yaml'), names,
    );
    cfg.rulesDir = parseConfig('', 'x', names).rulesDir;
    const { counters } = replayFiles([file], { config: cfg });
    expect(counters.get('infected')).toBe(100);
    expect(counters.get('audit_files')).toBeGreaterThan(5); // clean files were stored (and evicted)
    expect(counters.get('audit_quota_evicted')).toBeGreaterThan(0);
    expect(diskBytes(dir)).toBeLessThanOrEqual(quota);
    expect(fs.readdirSync(path.join(dir, 'tmp'))).toEqual([]);
  });
});

describe('audit quota with infected transfers (content session)', () => {
  it('bytes on disk never exceed the quota and the accounting never drops below them', () => {
    const dir = path.join(tmp, 'session-audit');
    const quota = 16 * 1024;
    const counters = new Counters();
    const store = new AuditStore({ dir, chat: false, files: true, quotaBytes: quota, minFreeBytes: 0 }, counters);
    const scanner = new SyncScanner(buildVirusDb({ eicar: true }).db!);
    const shared: ContentShared = {
      keywords: new KeywordSet({}), keywordsOn: { chat: false, filenames: false },
      audit: store, scanner, hashes: null, scanBuffer: 1024, counters,
    };
    /** Runs what the engine would: scan every queued job in order, close on a kill. */
    const drain = (s: ContentSession) => {
      for (let p = s.jobs.shift(); p; p = s.jobs.shift()) {
        scanner.scan(p.job, (r) => s.scanned(p!, r.virus));
        if (s.kill) return s.close();
      }
    };
    for (let i = 0; i < 300; i++) {
      const s = new ContentSession(shared, ctx);
      const infected = i % 3 !== 0;
      const b = infected ? body(8_000, i, 2_500) : body(3_000, i, null);
      const id = s.fileStart(1, { name: `f${i}.bin`, size: b.length });
      for (let off = 0; off < b.length && !s.kill; off += 1460) {
        s.fileData(id, b.subarray(off, off + 1460));
        drain(s);
      }
      if (!s.kill) {
        s.fileEnd(id, true);
        drain(s);
        s.close();
      }
      expect(s.kill !== null).toBe(infected);
      const onDisk = diskBytes(dir);
      expect(onDisk, `after transfer ${i}`).toBeLessThanOrEqual(quota);
      expect(store.usedBytes, `after transfer ${i}`).toBeGreaterThanOrEqual(onDisk);
    }
    expect(counters.get('infected')).toBe(200);
    expect(counters.get('audit_quota_evicted')).toBeGreaterThan(0);
  });
});

describe('AuditFile: abort and finish are idempotent', () => {
  it('a second abort, or a finish after abort, changes nothing; an abort after finish keeps the file', () => {
    const dir = path.join(tmp, 'idem');
    const store = new AuditStore({ dir, chat: false, files: true, quotaBytes: 1e6, minFreeBytes: 0 }, new Counters());
    const a = store.openFile(ctx, 1, 'a.bin')!;
    a.write(new Uint8Array(1000));
    expect(store.usedBytes).toBe(1000);
    a.abort();
    a.abort();
    expect(a.finish(false)).toBeNull();
    a.write(new Uint8Array(10));
    expect(store.usedBytes).toBe(0);

    const b = store.openFile(ctx, 1, 'b.bin')!;
    b.write(new Uint8Array(700));
    expect(b.finish(true)).not.toBeNull();
    expect(b.finish(true)).toBeNull();
    b.abort();
    expect(store.usedBytes).toBe(700);
    expect(diskBytes(dir)).toBe(700);
  });

  it('a file cut off by the quota gives its bytes back once, however often it is aborted', () => {
    const dir = path.join(tmp, 'refused');
    const store = new AuditStore({ dir, chat: false, files: true, quotaBytes: 1500, minFreeBytes: 0 }, new Counters());
    const f = store.openFile(ctx, 1, 'big.bin')!;
    f.write(new Uint8Array(1000));
    f.write(new Uint8Array(1000)); // refused: aborts the file
    f.abort();
    expect(f.finish(false)).toBeNull();
    expect(store.usedBytes).toBe(0);
    expect(diskBytes(dir)).toBe(0);
  });
});
