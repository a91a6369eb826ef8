/**
 * Issue 14, item 9a: the `audited file` log line. It used to spread the index record into the line,
 * so the line carried `time` and `name` twice and a file name from the network replaced
 * `"name":"p2pgw"`. Now everything about the file is under `file`; the line's own keys are unique
 * and `name` is the logger's.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditStore } from '../../src/content/audit.js';
import { KeywordSet } from '../../src/content/keywords.js';
import { ContentSession, type ContentShared } from '../../src/content/session.js';
import { Counters } from '../../src/core/counters.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-auditlog-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Every object's keys of a JSON text, in order, per object (a duplicate shows up twice). */
function objectKeys(json: string): string[][] {
  const out: string[][] = [];
  const stack: { keys: string[]; expectKey: boolean }[] = [];
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let j = i + 1;
      let s = '';
      while (json[j] !== '"') {
        if (json[j] === '\\') {
          s += JSON.parse(`"${json.slice(j, j + (json[j + 1] === 'u' ? 6 : 2))}"`);
          j += json[j + 1] === 'u' ? 6 : 2;
        } else s += json[j++];
      }
      const top = stack.at(-1);
      if (top?.expectKey) {
        top.keys.push(s);
        top.expectKey = false;
      }
      i = j;
    } else if (c === '{') stack.push({ keys: [], expectKey: true });
    else if (c === '}') out.push(stack.pop()!.keys);
    else if (c === ',' && stack.at(-1) && !inArray(json, i)) stack.at(-1)!.expectKey = true;
  }
  return out;
}
/** Whether the comma at `i` is directly inside an array (not an object). */
function inArray(json: string, i: number): boolean {
  let depth = 0;
  for (let k = i - 1; k >= 0; k--) {
    const c = json[k];
    if (c === '"') {
      k--;
      while (k >= 0 && !(json[k] === '"' && json[k - 1] !== '\\')) k--;
    } else if (c === '}' || c === ']') depth++;
    else if (c === '{' || c === '[') {
      if (depth === 0) return c === '[';
      depth--;
    }
  }
  return false;
}

describe('the audited-file log line', () => {
  it('keeps the logger\'s name and time; the network file name is under file.name; no key twice', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _e, cb) => (lines.push(...String(chunk).split('\n').filter(Boolean)), cb()) });
    const logger = pino({ base: { name: 'p2pgw' } }, sink);
    const counters = new Counters();
    const audit = new AuditStore({ dir: path.join(tmp, 'a'), chat: false, files: true, quotaBytes: 1 << 20, minFreeBytes: 0 }, counters);
    const shared: ContentShared = {
      keywords: new KeywordSet({}), keywordsOn: { chat: false, filenames: false },
      audit, scanner: null, hashes: null, scanBuffer: 1024, counters, logger,
    };
    const s = new ContentSession(shared, { app: 'http', src: '10.0.0.1', sport: 1234, dst: '10.0.0.2', dport: 80 });
    const evil = 'x","name":"evil","time":0,"msg":"pwned';
    const id = s.fileStart(1, { name: evil, size: null });
    s.fileData(id, new Uint8Array(10).fill(0x41));
    s.fileEnd(id, true);
    const line = lines.find((l) => l.includes('audited file'))!;
    expect(line).toBeDefined();
    const rec = JSON.parse(line);
    expect(rec.name).toBe('p2pgw');
    expect(rec.msg).toBe('audited file');
    expect(typeof rec.time).toBe('number');
    expect(rec.file).toMatchObject({ name: evil, size: 10, complete: true });
    expect(rec.file.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(rec).toMatchObject({ app: 'http', src: '10.0.0.1', sport: 1234, dst: '10.0.0.2', dport: 80, dir: 'in' });
    for (const keys of objectKeys(line)) expect(new Set(keys).size, `duplicate key in ${JSON.stringify(keys)}`).toBe(keys.length);
  });

  it('the key scanner itself sees a duplicate', () => {
    expect(objectKeys('{"a":1,"b":{"c":[1,{"d":2}]},"a":"x,\\"y"}').map((k) => k.join())).toEqual(['d', 'c', 'a,b,a']);
  });
});
