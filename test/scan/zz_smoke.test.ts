import { it, expect } from 'vitest';
import { SigDatabase } from '../../src/scan/sigdb.js';
it('smoke', () => {
  const db = SigDatabase.compile([
    { name: 'a', literal: 'hello world' },
    { name: 'b', hex: '414243' },
    { name: 'c', hex: '41??43' },
    { name: 'd', literal: 'x' },
    { name: 'e', hex: '6869*7468657265' },
    { name: 'f', literal: 'HELLO', nocase: true },
    { name: 'g', hex: '61{2-3}62' },
    { name: 'h', hex: '(6162|63)64' },
  ]);
  const hits: [string, number, number][] = [];
  const s = db.newStream();
  const input = Buffer.from('xx hello world ABC AxC hi you there aXXb aXXXb abd cd HeLLo');
  for (let i = 0; i < input.length; i += 3) s.write(input.subarray(i, i + 3), (id, st, en) => hits.push([db.sigName(id), st, en]));
  s.end((id, st, en) => hits.push([db.sigName(id), st, en]));
  hits.sort((a, b) => a[2] - b[2] || a[0].localeCompare(b[0]));
  console.log(JSON.stringify(hits), db.stats);
  const db2 = SigDatabase.load(db.serialize());
  const h2: [string, number, number][] = [];
  db2.scan(input, (id, st, en) => h2.push([db.sigName(id), st, en]));
  h2.sort((a, b) => a[2] - b[2] || a[0].localeCompare(b[0]));
  expect(h2).toEqual(hits);
});
