/**
 * The README's "Error codes" table (section "Development") documents every code of
 * src/core/errors.ts, and nothing else: a code added there without a line here fails.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, P2pgwError, type ErrorCode } from '../../src/core/errors.js';
import { exitCodeOf } from '../../src/runtime/exit.js';

const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** The rows of the README's error-code table: code → [meaning, exit code]. */
function readmeErrorTable(): Map<string, { meaning: string; exit: string }> {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n### Error codes\n');
  expect(start, 'README.md has a "### Error codes" section').toBeGreaterThan(0);
  const rows = new Map<string, { meaning: string; exit: string }>();
  const lines = readme.slice(start).split('\n').slice(2);
  for (const line of lines) {
    if (/^#{1,3} /.test(line)) break;
    const m = /^\| `(P2PGW_ERR_[A-Z_]+)` \| (.+) \| (\d) \|$/.exec(line);
    if (m) rows.set(m[1], { meaning: m[2], exit: m[3] });
  }
  return rows;
}

describe('layout: error codes are documented', () => {
  it('every code of src/core/errors.ts has a row in the README table, and every row is a code', () => {
    const table = readmeErrorTable();
    const codes = Object.keys(ErrorCodes);
    expect(codes.filter((c) => !table.has(c)), 'codes missing from the README "Error codes" table').toEqual([]);
    expect([...table.keys()].filter((c) => !codes.includes(c)), 'README rows for codes src/core/errors.ts does not have').toEqual([]);
    for (const [code, row] of table) expect(row.meaning.trim().length, code).toBeGreaterThan(10);
  });

  it('the exit codes in the table are the ones a command ends with (src/runtime/exit.ts)', () => {
    const table = readmeErrorTable();
    for (const [code, row] of table) expect(Number(row.exit), code).toBe(exitCodeOf(new P2pgwError(code as ErrorCode, 'x')));
  });
});
