import { describe, it, expect } from 'vitest';
import { Classifier } from '../../src/apps/classifier.js';
import type { AppDescriptor, SearchContext, SearchResult } from '../../src/apps/types.js';
import type { RuleSet } from '../../src/apps/rules.js';

/** A dissector driven by a script of results, one per call. */
function scripted(name: string, results: SearchResult[]): AppDescriptor & { calls: number } {
  const d = {
    name, title: name, l4: ['tcp'] as const, defaultPorts: {}, source: 'test', calls: 0,
    search(_ctx: SearchContext): SearchResult {
      return results[Math.min(d.calls++, results.length - 1)];
    },
  };
  return d;
}

const rules = (names: string[]): RuleSet => ({
  apps: new Map(names.map((n, i) => [n, { name: n, mark: i + 1, action: 'allow' as const, file: 'x', line: i + 1 }])),
  sigs: [{ app: names[0], sig: 'magic', id: `${names[0]}.magic`, l4: 'tcp', anchor: 0, bytes: new TextEncoder().encode('MAGIC'), nocase: false, dir: null, file: 'x', line: 9 }],
  hosts: [],
  files: ['x'],
});
const bytes = (s: string) => new TextEncoder().encode(s);

describe('Classifier priority (registry order)', () => {
  it('a later detection waits while an earlier dissector needs more, and loses if it detects', () => {
    const a = scripted('early', ['need-more', 'detected']);
    const b = scripted('late', ['detected']);
    const cls = new Classifier([a, b], rules(['early', 'late']), { packets: 8, bytes: 2048 });
    const fc = cls.newFlow('tcp', 1, 2);
    expect(fc.feed(0, bytes('GET / HTTP/1.1\r\n'))).toBeNull();
    expect(fc.feed(1, bytes('HTTP/1.1 200 OK\r\n'))?.app?.desc.name).toBe('early');
  });

  it('a confirmed detection (decrypted handshake) concludes while an earlier dissector still needs more', () => {
    const a = scripted('early', ['need-more', 'detected']);
    const b = scripted('late', ['confirmed']);
    const fc = new Classifier([a, b], rules(['early', 'late']), { packets: 8, bytes: 2048 }).newFlow('tcp', 1, 2);
    const c = fc.feed(0, bytes('x'));
    expect(c?.app?.desc.name).toBe('late');
    expect(c?.method).toBe('decryption');
    expect(c?.rule).toBe('late.decryption');
  });

  it('the pending detection wins once the earlier dissector excludes', () => {
    const a = scripted('early', ['need-more', 'excluded']);
    const b = scripted('late', ['detected']);
    const fc = new Classifier([a, b], rules(['early', 'late']), { packets: 8, bytes: 2048 }).newFlow('tcp', 1, 2);
    expect(fc.feed(0, bytes('x'))).toBeNull();
    const c = fc.feed(1, bytes('y'));
    expect(c?.app?.desc.name).toBe('late');
    expect(b.calls).toBe(1); // not searched again once pending
  });

  it('when the budget runs out a pending detection beats unclassified', () => {
    const fc = new Classifier([scripted('early', ['need-more']), scripted('late', ['detected'])], rules(['early', 'late']), {
      packets: 1, bytes: 2048,
    }).newFlow('tcp', 1, 2);
    fc.feed(0, bytes('x'));
    expect(fc.feed(1, bytes('y'))?.app?.desc.name).toBe('late');
  });

  it('signature hits respect the anchor and reach the dissector by name', () => {
    let seen: unknown;
    const a: AppDescriptor = {
      name: 'early', title: 'early', l4: ['tcp'], defaultPorts: {}, source: 'test',
      search: (ctx) => ((seen = ctx.hit('magic')) ? 'detected' : 'need-more'),
    };
    const cls = new Classifier([a], rules(['early']), { packets: 8, bytes: 2048 });
    const f1 = cls.newFlow('tcp', 1, 2);
    expect(f1.feed(0, bytes('xMAGIC'))).toBeNull(); // not at offset 0
    const f2 = cls.newFlow('tcp', 1, 2);
    f2.feed(1, bytes('MA'));
    expect(f2.feed(1, bytes('GIC'))?.rule).toBe('early.magic'); // split across segments
    expect(seen).toMatchObject({ id: 'early.magic', dir: 1, offset: 0, pkt: 2 });
  });

  it('gives up when every dissector excludes the flow', () => {
    const fc = new Classifier([scripted('early', ['excluded']), scripted('late', ['excluded'])], rules(['early', 'late']), {
      packets: 8, bytes: 2048,
    }).newFlow('tcp', 1, 2);
    expect(fc.feed(0, bytes('x'))).toMatchObject({ app: null, reason: /every dissector excluded/ });
  });
});
