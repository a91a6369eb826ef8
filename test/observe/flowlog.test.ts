/**
 * FlowLog (src/observe/flowlog.ts): size rotation, the total cap removing the oldest file first,
 * whole records only (every line of every file parses), the free-space floor (injected statfs),
 * restart continuing in a new file, mode 0600, and never throwing on a write failure.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FLOWLOG_NAME, FlowLog, isoBasic, type FlowLogEvent } from '../../src/observe/flowlog.js';
import { Counters } from '../../src/core/counters.js';
import { flowRecord, type FlowRecord } from '../../src/observe/flowrecord.js';
import { Flow } from '../../src/flow/flow.js';
import { decodeIp } from '../../src/decode/index.js';
import { ipv4 } from '../helpers/packets.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-flowlog-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => path.join(tmp, `d${n++}`);

/** A real flow record (same shape the daemon writes), with `i` in the source port. */
function record(i: number, reasonPad = 0): FlowRecord {
  const res = decodeIp(ipv4({ src: '10.0.0.1', dst: '10.0.0.2', l4: 'udp', sport: 1000 + (i % 60000), dport: 6881, payload: new Uint8Array(4) }));
  if (!res.ok) throw new Error('test packet did not decode');
  const flow = new Flow('k', res.pkt, 1_700_000_000 + i);
  flow.account(res.pkt, 0, 1_700_000_000 + i);
  flow.reason = `r${'x'.repeat(reasonPad)}`;
  return flowRecord(flow, 'live');
}

/** Our files in `dir`, oldest first, with their parsed lines (throws if any line is not JSON). */
function readLog(dir: string): { name: string; size: number; lines: FlowRecord[] }[] {
  return fs
    .readdirSync(dir)
    .filter((f) => FLOWLOG_NAME.test(f))
    .sort((a, b) => Number(FLOWLOG_NAME.exec(a)![2]) - Number(FLOWLOG_NAME.exec(b)![2]))
    .map((name) => {
      const text = fs.readFileSync(path.join(dir, name), 'utf8');
      expect(text === '' || text.endsWith('\n'), `${name} ends mid-line`).toBe(true);
      return { name, size: text.length, lines: text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as FlowRecord) };
    });
}

describe('FlowLog', () => {
  it('names files flows-<ISO basic time>-<seq>.jsonl with mode 0600 and opens nothing before the first record', () => {
    const dir = freshDir();
    const log = new FlowLog({ dir, maxFileBytes: 4096, maxTotalBytes: 16384, minFreeBytes: 0, now: () => new Date('2024-05-01T12:34:56.789Z') });
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(log.write(record(1))).toBe(true);
    log.close();
    expect(isoBasic(new Date('2024-05-01T12:34:56.789Z'))).toBe('20240501T123456Z');
    expect(fs.readdirSync(dir)).toEqual(['flows-20240501T123456Z-000001.jsonl']);
    expect(fs.statSync(path.join(dir, 'flows-20240501T123456Z-000001.jsonl')).mode & 0o777).toBe(0o600);
    expect(log.write(record(2))).toBe(false); // after close: dropped, counted
  });

  it('rotates by size between records: no file passes max_file_bytes, every line parses, order kept', () => {
    const dir = freshDir();
    const counters = new Counters();
    const log = new FlowLog({ dir, maxFileBytes: 2048, maxTotalBytes: 1 << 20, minFreeBytes: 0 }, counters);
    const lineLen = JSON.stringify(record(0)).length + 1;
    for (let i = 0; i < 100; i++) expect(log.write(record(i))).toBe(true);
    log.close();
    const files = readLog(dir);
    const perFile = Math.floor(2048 / lineLen);
    expect(files.length).toBe(Math.ceil(100 / perFile));
    for (const f of files) expect(f.size).toBeLessThanOrEqual(2048);
    for (const f of files.slice(0, -1)) expect(f.lines.length).toBe(perFile); // a file is full when the next record does not fit
    expect(files.flatMap((f) => f.lines).map((r) => r.sport)).toEqual(Array.from({ length: 100 }, (_, i) => 1000 + i));
    expect(counters.get('flowlog_rotated')).toBe(files.length - 1);
    expect(counters.get('flowlog_records')).toBe(100);
  });

  it('caps the total size: the oldest files go first, the newest records stay, the cap always holds', () => {
    const dir = freshDir();
    const counters = new Counters();
    const removed: string[] = [];
    const log = new FlowLog(
      { dir, maxFileBytes: 2048, maxTotalBytes: 6144, minFreeBytes: 0, onEvent: (e: FlowLogEvent) => e.type === 'removed' && removed.push(e.file) },
      counters,
    );
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'x'.repeat(10_000)); // not ours: never counted or removed
    for (let i = 0; i < 300; i++) {
      log.write(record(i));
      const total = readLog(dir).reduce((s, f) => s + f.size, 0);
      expect(total).toBeLessThanOrEqual(6144);
      expect(log.totalBytes).toBe(total);
    }
    log.close();
    const files = readLog(dir);
    expect(files.length).toBeLessThanOrEqual(3);
    const seqs = files.map((f) => Number(FLOWLOG_NAME.exec(f.name)![2]));
    expect(removed.length).toBe(counters.get('flowlog_removed_oldest'));
    expect(removed.map((f) => Number(FLOWLOG_NAME.exec(f)![2]))).toEqual(Array.from({ length: removed.length }, (_, i) => i + 1));
    expect(Math.min(...seqs)).toBe(removed.length + 1); // what is left is the newest files
    expect(files.flatMap((f) => f.lines).at(-1)!.sport).toBe(1000 + 299);
    expect(fs.existsSync(path.join(dir, 'notes.txt'))).toBe(true);
  });

  it('continues in a new file after a restart and applies a smaller cap at start', () => {
    const dir = freshDir();
    const a = new FlowLog({ dir, maxFileBytes: 4096, maxTotalBytes: 1 << 20, minFreeBytes: 0 });
    for (let i = 0; i < 40; i++) a.write(record(i));
    a.close();
    const before = readLog(dir);
    const b = new FlowLog({ dir, maxFileBytes: 4096, maxTotalBytes: 1 << 20, minFreeBytes: 0 });
    b.write(record(1000));
    b.close();
    const after = readLog(dir);
    expect(after.length).toBe(before.length + 1);
    expect(after.slice(0, -1)).toEqual(before); // earlier files untouched
    expect(Number(FLOWLOG_NAME.exec(after.at(-1)!.name)![2])).toBe(Number(FLOWLOG_NAME.exec(before.at(-1)!.name)![2]) + 1);
    // A restart with a smaller cap trims to it before writing anything.
    const c = new FlowLog({ dir, maxFileBytes: 4096, maxTotalBytes: 4096, minFreeBytes: 0 });
    expect(c.totalBytes).toBeLessThanOrEqual(4096);
    expect(readLog(dir).reduce((s, f) => s + f.size, 0)).toBeLessThanOrEqual(4096);
    c.close();
  });

  it('stops writing below the free-space floor (counted once per episode) and resumes when space is back', () => {
    const dir = freshDir();
    const counters = new Counters();
    const events: FlowLogEvent[] = [];
    let free = 10 * 1024 * 1024;
    const statfs = () => ({ bavail: BigInt(Math.floor(free / 4096)), bsize: 4096n });
    const log = new FlowLog(
      { dir, maxFileBytes: 1 << 20, maxTotalBytes: 1 << 22, minFreeBytes: 8 * 1024 * 1024, statfs, statfsIntervalMs: 0, onEvent: (e) => events.push(e) },
      counters,
    );
    expect(log.write(record(1))).toBe(true);
    free = 8 * 1024 * 1024 + 100; // a record (~400 bytes) would take it below the floor
    expect(log.write(record(2))).toBe(false);
    expect(log.write(record(3))).toBe(false);
    expect(counters.get('flowlog_dropped_low_disk')).toBe(2);
    expect(counters.get('flowlog_low_disk')).toBe(1);
    expect(events.filter((e) => e.type === 'low_disk')).toHaveLength(1);
    free = 64 * 1024 * 1024;
    expect(log.write(record(4))).toBe(true);
    expect(events.filter((e) => e.type === 'disk_ok')).toHaveLength(1);
    log.close();
    expect(readLog(dir).flatMap((f) => f.lines).map((r) => r.sport)).toEqual([1001, 1004]);
  });

  it('near the floor free space is re-read before every record, so a burst cannot run past it', () => {
    const dir = freshDir();
    let calls = 0;
    // A file system with floor + 2 MiB free that shrinks by what we write (like a real one).
    const base = 8 * 1024 * 1024 + 2 * 1024 * 1024;
    const used = () => fs.readdirSync(dir).reduce((s, f) => s + fs.statSync(path.join(dir, f)).size, 0);
    const statfs = () => (calls++, { bavail: Math.floor((base - used()) / 1024), bsize: 1024 });
    const counters = new Counters();
    const log = new FlowLog({ dir, maxFileBytes: 1 << 20, maxTotalBytes: 1 << 24, minFreeBytes: 8 * 1024 * 1024, statfs, statfsIntervalMs: 60_000 }, counters);
    for (let i = 0; i < 400; i++) log.write(record(i, 8000));
    log.close();
    expect(used()).toBeLessThanOrEqual(2 * 1024 * 1024);
    expect(used()).toBeGreaterThan(2 * 1024 * 1024 - 3 * 8200); // it did write up to the floor
    expect(counters.get('flowlog_dropped_low_disk')).toBeGreaterThan(0);
    expect(counters.get('flowlog_low_disk')).toBe(1);
    // Far from the floor the estimate (free at the last call minus bytes written) saves statfs calls.
    expect(calls).toBeLessThan(400);
    expect(calls).toBeGreaterThan(1);
  });

  it('drops a record larger than a file and never throws on a write failure (partial lines cut back)', () => {
    const dir = freshDir();
    const counters = new Counters();
    const log = new FlowLog({ dir, maxFileBytes: 1024, maxTotalBytes: 4096, minFreeBytes: 0 }, counters);
    expect(log.write(record(1, 2000))).toBe(false);
    expect(counters.get('flowlog_dropped_too_large')).toBe(1);
    expect(log.write(record(2))).toBe(true);
    // Break the descriptor under the writer: the next write fails, is counted, and a later one recovers.
    const file = log.currentFile!;
    const fdDir = `/proc/self/fd`;
    const fd = fs.readdirSync(fdDir).map(Number).find((d) => {
      try {
        return fs.readlinkSync(`${fdDir}/${d}`) === path.resolve(file);
      } catch {
        return false;
      }
    });
    expect(fd).toBeDefined();
    fs.closeSync(fd!);
    expect(() => log.write(record(3))).not.toThrow();
    expect(counters.get('flowlog_write_error')).toBe(1);
    expect(log.write(record(4))).toBe(true);
    log.close();
    expect(readLog(dir).flatMap((f) => f.lines).map((r) => r.sport)).toEqual([1002, 1004]);
  });

  it('rejects impossible sizes with P2PGW_ERR_CONFIG', () => {
    expect(() => new FlowLog({ dir: freshDir(), maxFileBytes: 10, maxTotalBytes: 100, minFreeBytes: 0 })).toThrow(/max_file_bytes/);
    expect(() => new FlowLog({ dir: freshDir(), maxFileBytes: 4096, maxTotalBytes: 1024, minFreeBytes: 0 })).toThrow(/max_total_bytes/);
  });
});
