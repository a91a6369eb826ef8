/**
 * Golden capture tests (nDPI's tests/ and suricata-verify style): each shared capture is replayed
 * and its flow records compared with the expected file beside the test, test/golden/<capture>.jsonl.
 * Regenerate after an intended change with:  P2PGW_UPDATE_GOLDEN=1 npx vitest run test/engine/golden.test.ts
 * and review the diff before committing.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { replayFiles } from '../../src/runtime/replay.js';
import { CAPTURES, ROOT } from '../helpers/paths.js';

const GOLDEN = path.join(ROOT, 'test', 'golden');
const UPDATE = process.env.P2PGW_UPDATE_GOLDEN === '1';
const files = fs.existsSync(CAPTURES) ? fs.readdirSync(CAPTURES).filter((f) => /\.pcap(ng)?$/.test(f)).sort() : [];
if (!files.length) console.warn(`golden tests skipped: no captures at ${CAPTURES}`);

/** The stable part of a record: the capture path depends on where the fixtures live. */
const normalise = (r: Record<string, unknown>) => JSON.stringify({ ...r, capture: path.basename(String(r.capture)) });

describe.skipIf(!files.length)('golden flow records', () => {
  for (const f of files) {
    it(f, () => {
      const got = replayFiles([path.join(CAPTURES, f)]).records.map((r) => normalise(r as unknown as Record<string, unknown>));
      const file = path.join(GOLDEN, `${f}.jsonl`);
      if (UPDATE) {
        fs.mkdirSync(GOLDEN, { recursive: true });
        fs.writeFileSync(file, got.join('\n') + '\n');
        return;
      }
      expect(fs.existsSync(file), `${file} missing: run with P2PGW_UPDATE_GOLDEN=1`).toBe(true);
      const want = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
      expect(got).toEqual(want);
    });
  }
});
