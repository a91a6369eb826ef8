/**
 * Issue 14, defect 2: a scan that times out (or a connection that ends) while a transfer's final
 * scan job is in flight must still close the audit file's descriptor, finalise its `.part` and
 * settle its quota reservation. Driven through the InspectEngine with a fake scanner that never
 * answers (or answers after the timeout), so the path is tick → stop → session close.
 */
import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InspectEngine, InspectFlow, type QPkt } from '../../src/content/hold.js';
import { ContentSession, type ContentShared } from '../../src/content/session.js';
import { AuditStore } from '../../src/content/audit.js';
import { KeywordSet } from '../../src/content/keywords.js';
import { TcpReassembler } from '../../src/stream/reassembly.js';
import { Counters } from '../../src/core/counters.js';
import type { Verdict } from '../../src/core/types.js';
import { decodeIp } from '../../src/decode/index.js';
import { ipv4 } from '../helpers/packets.js';
import { fileInspector, StuckScanner } from '../helpers/scan-pools.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-scanleak-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const openFds = () => fs.readdirSync('/proc/self/fd').length;
const ls = (d: string) => (fs.existsSync(d) ? fs.readdirSync(d) : []);
const storedBytes = (dir: string) => ls(path.join(dir, 'files')).reduce((n, f) => n + fs.statSync(path.join(dir, 'files', f)).size, 0);

function setup(name: string) {
  const dir = path.join(tmp, name);
  const counters = new Counters();
  const audit = new AuditStore({ dir, chat: false, files: true, quotaBytes: 1 << 20, minFreeBytes: 0 }, counters);
  const scanner = new StuckScanner();
  const shared: ContentShared = {
    keywords: new KeywordSet({}), keywordsOn: { chat: false, filenames: false },
    audit, scanner, hashes: null, scanBuffer: 1024, counters,
  };
  const verdicts = new Map<number, Verdict>();
  const engine = new InspectEngine(
    { maxHeldPerFlow: 64, maxHeldTotal: 1024, holdTimeoutMs: 2000, scanTimeoutMs: 5, killMark: 0xfe },
    scanner, counters, (id, v) => verdicts.set(id, v),
  );
  let pid = 0;
  /** Starts one short transfer (`n` bytes, then FIN) at time `t` ms; its final scan job stays in flight. */
  const transfer = (i: number, n: number, t: number) => {
    const session = new ContentSession(shared, { app: 'http', src: '10.0.0.1', sport: 30000 + i, dst: '10.0.0.2', dport: 80 });
    const ra = new TcpReassembler({ onData() {}, onGap() {}, onEnd() {} }, { maxOooBytesPerDir: 1 << 20, maxOooSegmentsPerDir: 64 });
    const f = new InspectFlow(`k${i}`, { i }, ra, fileInspector(session, 'short.bin', true), session, null);
    const q = (flags: number, seq: number, payload: Uint8Array): QPkt => {
      const d = decodeIp(ipv4({ src: '10.0.0.2', dst: '10.0.0.1', sport: 80, dport: 30000 + i, l4: 'tcp', seq, ack: 1, flags, payload }));
      if (!d.ok) throw new Error(d.event);
      return { id: pid++, pkt: d.pkt, ip: new Uint8Array(0), dir: 1, t };
    };
    const first = engine.attach(f, [], [0, 0], q(0x12, 5000, new Uint8Array(0)));
    if (first) verdicts.set(pid - 1, first);
    engine.packet(f, q(0x19, 5001, new Uint8Array(n).fill(0x41 + (i % 20)))); // data + FIN
    return f;
  };
  return { dir, counters, audit, scanner, engine, verdicts, transfer, ids: () => pid };
}

describe('scan timeout with a final scan job in flight', () => {
  it('40 short transfers whose scans never answer: no .part, no descriptor, no reservation left', () => {
    const s = setup('never');
    const baseline = openFds();
    for (let i = 0; i < 40; i++) s.transfer(i, 200 + i * 37, 1000);
    // Every job is in flight, the final ones included: a packet's jobs are handed over together
    // (a transfer over the 1,024-byte scan buffer has a full job and a final one).
    const jobs = Array.from({ length: 40 }, (_, i) => (200 + i * 37 >= 1024 ? 2 : 1)).reduce((a, b) => a + b, 0);
    expect(s.scanner.pending.length).toBe(jobs);
    expect(ls(path.join(s.dir, 'tmp'))).toHaveLength(40);
    s.engine.tick(1000 + 50); // past scan_timeout_ms: every connection fails open
    expect(s.counters.get('scan_timeout')).toBe(40);
    expect(ls(path.join(s.dir, 'tmp'))).toEqual([]);
    expect(openFds()).toBe(baseline);
    expect(s.audit.usedBytes).toBe(storedBytes(s.dir)); // nothing reserved for in-progress files
    expect(ls(path.join(s.dir, 'files'))).toHaveLength(40); // kept, as incomplete
    const index = fs.readFileSync(path.join(s.dir, 'index.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(index.every((r) => r.complete === false)).toBe(true);
    expect(s.verdicts.size).toBe(s.ids()); // every packet got its verdict (fail open)
    expect(s.engine.held).toBe(0);
  });

  it('the late answers (clean or infected) after the timeout change nothing', () => {
    const s = setup('late');
    const baseline = openFds();
    for (let i = 0; i < 10; i++) s.transfer(i, 500, 1000);
    s.engine.tick(1000 + 50);
    const used = s.audit.usedBytes;
    s.scanner.answer('Eicar-Test-Signature');
    expect(s.audit.usedBytes).toBe(used);
    expect(s.audit.usedBytes).toBe(storedBytes(s.dir));
    expect(ls(path.join(s.dir, 'tmp'))).toEqual([]);
    expect(openFds()).toBe(baseline);
  });

  it('a connection that ends while its final job is in flight also settles the audit file', () => {
    const s = setup('end');
    const baseline = openFds();
    const flows = Array.from({ length: 8 }, (_, i) => s.transfer(i, 300, 1000));
    for (const f of flows) s.engine.end(f);
    expect(ls(path.join(s.dir, 'tmp'))).toEqual([]);
    expect(openFds()).toBe(baseline);
    expect(s.audit.usedBytes).toBe(storedBytes(s.dir));
    s.scanner.answer();
    expect(s.audit.usedBytes).toBe(storedBytes(s.dir));
  });
});
