/**
 * Content inspection over crafted captures (replay): reordered segments, duplicates, overlaps and
 * a lost segment. The reassembled stream must be exact (the audit copy's sha256 equals the body's),
 * every packet gets exactly one verdict, and a lost segment ends in a gap with everything accepted.
 */
import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { replayFiles } from '../../src/runtime/replay.js';
import { parseConfig } from '../../src/config/load.js';
import { APPS } from '../../src/apps/registry.js';
import type { Verdict } from '../../src/core/types.js';
import { pcapOf, tcpSession, type Pkt } from '../helpers/packets.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-order-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const BODY = Uint8Array.from({ length: 40_000 }, (_, i) => (i * 7919 + (i >> 8)) & 0xff);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const REQ = 'GET /files/report.bin HTTP/1.1\r\nHost: server\r\n\r\n';
const RESP = `HTTP/1.1 200 OK\r\nContent-Length: ${BODY.length}\r\nContent-Type: application/octet-stream\r\n\r\n`;

function session(): Pkt[] {
  const resp = new Uint8Array(Buffer.concat([Buffer.from(RESP, 'latin1'), Buffer.from(BODY)]));
  return tcpSession('10.9.1.2', 40100, '10.9.2.2', 8080, [{ dir: 0, data: REQ }, { dir: 1, data: resp }], 1000);
}

function run(name: string, pkts: Pkt[]) {
  const dir = path.join(tmp, name);
  const file = path.join(tmp, `${name}.pcap`);
  pkts.forEach((p, i) => (p.ts = 1000 + i * 0.001));
  fs.writeFileSync(file, pcapOf(pkts));
  const cfg = parseConfig(
    `apps:\n  http: {action: inspect}\naudit: {enabled: true, dir: ${JSON.stringify(dir)}, min_free: 0}\n`,
    path.join(tmp, 'cfg.yaml'), APPS.map((a) => a.name),
  );
  cfg.rulesDir = parseConfig('', 'x', APPS.map((a) => a.name)).rulesDir;
  const verdicts = new Map<number, Verdict[]>();
  const { counters, records } = replayFiles([file], {
    config: cfg,
    onPacketVerdict: (i, v) => verdicts.set(i, [...(verdicts.get(i) ?? []), v]),
  });
  const indexFile = path.join(dir, 'index.jsonl');
  const index = fs.existsSync(indexFile) ? fs.readFileSync(indexFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : [];
  return { counters, records, verdicts, index, n: pkts.length, dir };
}

/** Every packet has exactly one verdict and none is a drop. */
function allAcceptedOnce(r: ReturnType<typeof run>) {
  expect(r.verdicts.size).toBe(r.n);
  for (const [i, vs] of r.verdicts) {
    expect(vs.length, `packet ${i}`).toBe(1);
    expect(vs[0].verdict, `packet ${i}`).not.toBe('drop');
  }
}

describe('inspected HTTP over crafted captures', () => {
  it('in order: the audit copy is byte-exact', () => {
    const r = run('inorder', session());
    allAcceptedOnce(r);
    expect(r.index).toHaveLength(1);
    expect(r.index[0]).toMatchObject({ name: 'report.bin', size: BODY.length, sha256: sha(BODY), complete: true, app: 'http' });
    expect(fs.statSync(path.join(r.dir, 'files', r.index[0].stored)).mode & 0o777).toBe(0o600);
    expect(r.records[0].app).toBe('http');
  });

  it('reordered, duplicated and overlapping segments reassemble exactly', () => {
    const pkts = session();
    const data = pkts.filter((p) => p.src === '10.9.2.2' && p.payload && (p.payload as Uint8Array).length);
    // swap neighbouring server segments pairwise (from the 3rd on), duplicate every 7th, add overlaps
    const out: Pkt[] = pkts.filter((p) => !data.includes(p));
    const ordered = [...data];
    for (let i = 2; i + 1 < ordered.length; i += 2) [ordered[i], ordered[i + 1]] = [ordered[i + 1], ordered[i]];
    for (let i = 0; i < ordered.length; i++) {
      out.push(ordered[i]);
      if (i % 7 === 3) out.push({ ...ordered[i] });
      if (i % 9 === 5 && i + 1 < data.length) {
        // a segment covering the second half of data[i] and the first half of data[i+1]
        const a = data[i].payload as Uint8Array, b = data[i + 1].payload as Uint8Array;
        const half = Buffer.concat([Buffer.from(a.subarray(a.length >> 1)), Buffer.from(b.subarray(0, b.length >> 1))]);
        out.push({ ...data[i], seq: (data[i].seq! + (a.length >> 1)) >>> 0, payload: half });
      }
    }
    const r = run('reordered', out);
    allAcceptedOnce(r);
    expect(r.counters.get('held_packets')).toBeGreaterThan(0);
    expect(r.counters.get('inspect_retransmit')).toBeGreaterThan(0);
    expect(r.counters.get('inspect_gaps')).toBe(0);
    expect(r.index).toHaveLength(1);
    expect(r.index[0]).toMatchObject({ size: BODY.length, sha256: sha(BODY), complete: true });
  });

  it('a lost segment ends in a gap event with everything accepted', () => {
    const pkts = session();
    const data = pkts.filter((p) => p.src === '10.9.2.2' && p.payload && (p.payload as Uint8Array).length);
    const lost = data[Math.floor(data.length / 2)];
    const r = run('lost', pkts.filter((p) => p !== lost));
    allAcceptedOnce(r);
    expect(r.counters.get('inspect_gaps')).toBeGreaterThanOrEqual(1);
    expect(r.counters.get('fail_open_accepts')).toBeGreaterThan(0); // the held packets after the hole
    expect(r.counters.get('held_packets')).toBeGreaterThan(0);
    // the part before the hole is kept, marked incomplete
    expect(r.index).toHaveLength(1);
    expect(r.index[0].complete).toBe(false);
    expect(r.index[0].size).toBeLessThan(BODY.length);
  });
});

describe('parser caps from the config', () => {
  it('inspect.max_header below the response header size stops inspection with a counted weird (fail open)', async () => {
    const { setInspectLimits, INSPECT_LIMITS } = await import('../../src/apps/parse/lines.js');
    const saved = { ...INSPECT_LIMITS };
    try {
      const file = path.join(tmp, 'cap.pcap');
      fs.writeFileSync(file, pcapOf(session()));
      const cfg = parseConfig(`apps:\n  http: {action: inspect}\ninspect: {max_header: 40}\n`, path.join(tmp, 'c.yaml'), APPS.map((a) => a.name));
      cfg.rulesDir = parseConfig('', 'x', APPS.map((a) => a.name)).rulesDir;
      expect(cfg.parserLimits.maxHead).toBe(40);
      const verdicts: Verdict[] = [];
      const { counters } = replayFiles([file], { config: cfg, onPacketVerdict: (_i, v) => verdicts.push(v) });
      expect(counters.get('inspect_weird_http_header_too_long')).toBeGreaterThan(0);
      expect(verdicts.every((v) => v.verdict !== 'drop')).toBe(true);
    } finally {
      setInspectLimits(saved);
    }
  });
});

describe('whole-file hash signatures (.hdb MD5, .hsb SHA-256)', () => {
  for (const [ext, algo] of [['hdb', 'md5'], ['hsb', 'sha256']] as const) {
    it(`a transfer whose ${algo} is in a .${ext} file is reset before its last packet; the audit keeps nothing`, () => {
      const db = path.join(tmp, `sigs.${ext}`);
      fs.writeFileSync(db, `# test\n${createHash(algo).update(BODY).digest('hex')}:${BODY.length}:Test.File.${ext}\n`);
      const dir = path.join(tmp, `hash-${ext}`);
      const file = path.join(tmp, `hash-${ext}.pcap`);
      fs.writeFileSync(file, pcapOf(session()));
      const cfg = parseConfig(
        `apps:\n  http: {action: inspect}\nscan: {databases: [${JSON.stringify(db)}]}\naudit: {enabled: true, dir: ${JSON.stringify(dir)}, min_free: 0}\n`,
        path.join(tmp, 'h.yaml'), APPS.map((a) => a.name),
      );
      cfg.rulesDir = parseConfig('', 'x', APPS.map((a) => a.name)).rulesDir;
      const verdicts: Verdict[] = [];
      const { counters, records } = replayFiles([file], { config: cfg, onPacketVerdict: (_i, v) => verdicts.push(v) });
      expect(counters.get('infected')).toBe(1);
      expect(records[0].verdict).toBe('reset');
      const rst = verdicts.filter((v) => v.verdict === 'repeat' && v.packet);
      expect(rst).toHaveLength(1); // the packet completing the file became a RST
      expect(fs.existsSync(path.join(dir, 'index.jsonl'))).toBe(false);
    });
  }

  it('a malformed hash line names file:line', () => {
    const db = path.join(tmp, 'bad.hdb');
    fs.writeFileSync(db, 'zz:10:Bad\n');
    expect(() =>
      replayFiles([path.join(tmp, 'inorder.pcap')], {
        config: Object.assign(parseConfig(`scan: {databases: [${JSON.stringify(db)}]}\n`, path.join(tmp, 'b.yaml'), APPS.map((a) => a.name)), {
          rulesDir: parseConfig('', 'x', APPS.map((a) => a.name)).rulesDir,
        }),
      }),
    ).toThrow(/bad\.hdb:1/);
  });
});
