/**
 * Issue 14, item 9g: `iptables.mark_mask`. Marks set by other tools (mwan3, QoS scripts) live in the
 * other bits of nfmark/connmark: our rules match, save and restore only the mask's bits, the
 * shaping rules and fw filters use them too, the daemon's verdict marks keep the packet's other
 * bits, and every mark of the config and the rules must fit in the mask (checked with file, key
 * and line, by check-config, run, reload and replay).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildRules, validateRuleOptions } from '../../src/enforce/iptables.js';
import { planShaping } from '../../src/enforce/tc-plan.js';
import { APPS } from '../../src/apps/registry.js';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { DEFAULTS } from '../../src/core/defaults.js';
import { ConfigError, P2pgwError } from '../../src/core/errors.js';
import { buildClassifier } from '../../src/runtime/setup.js';
import { ruleOptionsOf } from '../../src/runtime/enforcement.js';
import { parseConntrackMarks } from '../../src/observe/sysstats.js';
import { VerdictMarks } from '../../src/runtime/verdict-marks.js';
import { main } from '../../src/cli/main.js';

const NAMES = APPS.map((a) => a.name);
const base = { chain: 'P2PGW', queueNum: 0, classifyPackets: 8, blocked: [] as { mark: number }[] };
const text = (rules: string[][]): string[] => rules.map((r) => r.join(' '));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-markmask-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const write = (t: string): string => {
  const f = path.join(dir, `c${++n}.yaml`);
  fs.writeFileSync(f, t);
  return f;
};

describe('iptables rules with a mark mask', () => {
  const t = buildRules({
    ...base, family: 4, markMask: 0xff, blocked: [{ mark: 1 }], inspected: [{ mark: 7 }], killMark: 0xfe,
    learning: { marks: [{ mark: 2 }], packets: 16 },
  });
  const mangle = text(t[0].rules);
  const filter = text(t[1].rules);

  it('saves only our bits to the connmark, and only when our bits of the nfmark are set', () => {
    expect(mangle[0]).toBe('-A P2PGW -m mark ! --mark 0x0/0xff -j CONNMARK --save-mark --nfmask 0xff --ctmask 0xff');
  });

  it('classification queues connections whose connmark has none of our bits (other tools\' bits do not matter)', () => {
    expect(mangle[1]).toBe(
      '-A P2PGW -p tcp -m connmark --mark 0x0/0xff -m connbytes --connbytes 0:16 --connbytes-mode packets --connbytes-dir both -j NFQUEUE --queue-num 0 --queue-bypass',
    );
  });

  it('every mark match of every rule is masked; restores copy only our bits', () => {
    const marks = [...mangle, ...filter].flatMap((r) => [...r.matchAll(/--mark (\S+)/g)].map((m) => m[1]));
    expect(marks.length).toBeGreaterThan(8);
    for (const m of marks) expect(m).toMatch(/^0x[0-9a-f]+\/0xff$/);
    for (const r of mangle.filter((x) => /--(save|restore)-mark/.test(x))) expect(r).toMatch(/--nfmask 0xff --ctmask 0xff$/);
    expect(filter).toContain('-A P2PGW -p tcp -m connmark --mark 0x1/0xff -j REJECT --reject-with tcp-reset');
    expect(filter).toContain('-A P2PGW -p tcp -m connmark --mark 0xfe/0xff -j REJECT --reject-with tcp-reset');
    expect(mangle.some((r) => r.includes('-m connmark --mark 0x2/0xff -m mark --mark 0x0/0xff -m connbytes --connbytes 0:16'))).toBe(true);
  });

  it('without a mask (all 32 bits ours) the rules keep their plain form', () => {
    expect(text(buildRules({ ...base, family: 4 })[0].rules)[0]).toBe('-A P2PGW -m mark ! --mark 0x0 -j CONNMARK --save-mark');
  });

  it('a mark outside the mask, or a zero mask, is refused', () => {
    expect(() => validateRuleOptions({ ...base, blocked: [{ mark: 0x100 }], markMask: 0xff })).toThrow(/mark 0x100 does not fit the mark mask 0xff/);
    expect(() => validateRuleOptions({ ...base, markMask: 0 })).toThrow(P2pgwError);
  });

  it('the daemon\'s rule options carry iptables.mark_mask (default 0xff)', () => {
    const cfg = parseConfig('', '/etc/p2pgw/p2pgw.yaml', NAMES);
    expect(cfg.iptables.markMask).toBe(DEFAULTS.iptables.markMask);
    expect(DEFAULTS.iptables.markMask).toBe(0xff);
    expect(ruleOptionsOf(cfg, buildClassifier(cfg).classifier, 1).markMask).toBe(0xff);
  });
});

describe('shaping rules and fw filters with a mark mask', () => {
  const shaping = { wan: { dev: 'eth0', rate: '10mbit' } };
  const apps = [{ name: 'bittorrent', mark: 1, shape: { rate: '1mbit' } }];
  it('CLASSIFY by our bits of the connmark', () => {
    const p = planShaping({ shaping: { ...shaping, classifier: 'classify' }, apps, markMask: 0xff });
    expect(text(p.iptables.rules)).toEqual(['-A P2PGW_TC -o eth0 -m connmark --mark 0x1/0xff -j CLASSIFY --set-class 1:1']);
  });
  it('fw: MARK sets only our bits (--set-xmark), the filter compares only them', () => {
    const p = planShaping({ shaping: { ...shaping, classifier: 'fw' }, apps, markMask: 0xff });
    expect(text(p.iptables.rules)).toEqual(['-A P2PGW_TC -o eth0 -m connmark --mark 0x1/0xff -j MARK --set-xmark 0x1/0xff']);
    expect(p.devices[0].filterCmds[0].join(' ')).toContain('handle 0x1/0xff fw classid 1:1');
  });
});

describe('config: every mark must fit in the mask', () => {
  const refused = (f: string): Error => {
    try {
      buildClassifier(loadConfig(f, NAMES));
    } catch (e) {
      return e as Error;
    }
    throw new Error('expected a refusal');
  };

  it('an application mark above the default mask points at its key and names the mask', () => {
    const f = write('apps:\n  edonkey: {mark: 0x102}\n');
    const e = refused(f);
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe(
      `${f}: apps.edonkey.mark (line 2): mark 0x102 for application 'edonkey' does not fit iptables.mark_mask 0xff (the default; not set in the file); ` +
        'every mark must use only the mask\'s bits (widen the mask or choose a smaller mark)',
    );
  });

  it('a narrowed mask that a default mark (unknown_mark 0xff) does not fit points at the mask', () => {
    const f = write('iptables:\n  mark_mask: 0x0f\n');
    expect(refused(f).message).toMatch(new RegExp(`^${f}: iptables\\.mark_mask \\(line 2\\): mark 0xff for unclassified connections does not fit iptables\\.mark_mask 0xf \\(line 2\\)`));
  });

  it('a wider mask accepts the mark; check-config exits 2 on the refused one', async () => {
    buildClassifier(loadConfig(write('iptables: {mark_mask: 0xffff}\napps:\n  edonkey: {mark: 0x102}\n'), NAMES));
    const err: string[] = [];
    const code = await main(['check-config', write('apps:\n  edonkey: {mark: 0x102}\n')]).catch(async (e) => {
      const { reportCliError } = await import('../../src/cli/main.js');
      return reportCliError(e, { write: (s: string) => err.push(s) });
    });
    expect(code).toBe(2);
    expect(err.join('')).toMatch(/does not fit iptables\.mark_mask/);
  });
});

describe('status and verdicts keep other tools\' bits', () => {
  it('conntrack marks are counted by our bits only', () => {
    const ct = [
      'tcp 6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 packets=3 bytes=100 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 packets=2 bytes=50 mark=257 use=1',
      'tcp 6 431999 ESTABLISHED src=10.0.0.3 dst=10.0.0.2 sport=1 dport=2 packets=3 bytes=10 src=10.0.0.2 dst=10.0.0.3 sport=2 dport=1 packets=2 bytes=5 mark=1 use=1',
    ].join('\n');
    expect(parseConntrackMarks(ct, 0xff).get(1)).toEqual({ connections: 2, bytes: 165 });
    expect(parseConntrackMarks(ct).get(257)).toEqual({ connections: 1, bytes: 150 });
  });

  it('a verdict mark is ours inside the mask and the queued mark outside it, also for a packet judged later', () => {
    const v = new VerdictMarks(0xff);
    v.begin(1, 0x3f00); // mwan3's 0x3f00 in the other bits
    expect(v.settle(1, 0x01)).toBe(0x3f01);
    v.end();
    v.begin(2, 0x0200); // held: no verdict during its callback
    v.end();
    expect(v.pending).toBe(1);
    v.begin(3, 0);
    expect(v.settle(2, 0xfe)).toBe(0x02fe); // released while another packet is judged
    expect(v.settle(3, undefined)).toBeUndefined();
    v.end();
    expect(v.pending).toBe(0);
    const all = new VerdictMarks(0xffffffff);
    all.begin(9, 0x3f00);
    expect(all.settle(9, 5)).toBe(5);
  });
});
