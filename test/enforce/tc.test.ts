import { describe, expect, it } from 'vitest';
import { P2pgwError } from '../../src/core/errors.js';
import {
  describeSupport, formatRate, parseClassStats, parseRate, parseTcSize, planShaping, ShapeError, supportFromKconfig, tcError,
  unknownSupport, type ShapedApp, type ShapingConfig, type TcSupport,
} from '../../src/enforce/tc.js';

const text = (argvs: string[][]): string[] => argvs.map((a) => a.join(' '));

/** What detectQdiscSupport found on the development machine (kernel 6.18, iproute2 6.1). */
function thisMachine(): TcSupport {
  return {
    qdiscs: { htb: true, tbf: true, fq_codel: false, sfq: false, pfifo: true, bfifo: true },
    filters: { fw: false, u32: true },
    classify: true,
    ifb: true,
    tcJson: false,
    tcVersion: 'tc utility, iproute2-6.1.0, libbpf 1.1.2',
    method: 'probe',
    details: { fq_codel: 'Error: Specified qdisc kind is unknown.', sfq: 'Error: Specified qdisc kind is unknown.', fw: 'Error: TC classifier not found.' },
  };
}
function full(): TcSupport {
  const s = thisMachine();
  s.qdiscs.fq_codel = s.qdiscs.sfq = s.filters.fw = true;
  s.details = {};
  return s;
}

const shaping: ShapingConfig = { wan: { dev: 'wan0', rate: '100mbit' }, lan: { dev: 'lan0', rate: 50_000_000 } };
const apps: ShapedApp[] = [
  { name: 'edonkey', mark: 0x2, shape: { rate: '1mbit' } },
  { name: 'bittorrent', mark: 0x1, shape: { rate: '2mbit', ceil: '4mbit' } },
  { name: 'http', mark: 0x7 },
];

function configErr(f: () => unknown): ShapeError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ShapeError);
    expect((e as ShapeError).code).toBe('P2PGW_ERR_CONFIG');
    return e as ShapeError;
  }
  throw new Error('expected a ShapeError');
}

describe('parseRate', () => {
  it('tc units (tc(8) RATES): SI bits, bytes per second, IEC; numbers are bits/s', () => {
    expect(parseRate('2mbit', 'r')).toBe(2_000_000);
    expect(parseRate('500kbit', 'r')).toBe(500_000);
    expect(parseRate('1.5gbit', 'r')).toBe(1_500_000_000);
    expect(parseRate('1tbit', 'r')).toBe(1e12);
    expect(parseRate('64000bit', 'r')).toBe(64_000);
    expect(parseRate('64000', 'r')).toBe(64_000);
    expect(parseRate('10mbps', 'r')).toBe(80_000_000); // bytes per second
    expect(parseRate('100bps', 'r')).toBe(800);
    expect(parseRate('1mibit', 'r')).toBe(1_048_576);
    expect(parseRate('2kibps', 'r')).toBe(16_384);
    expect(parseRate('4Mbit', 'r')).toBe(4_000_000); // tc prints "Mbit"; units are case-insensitive
    expect(parseRate(' 3 mbit ', 'r')).toBe(3_000_000);
    expect(parseRate(2_000_000, 'r')).toBe(2_000_000);
    expect(parseRate(1e9, 'r')).toBe(1e9);
  });

  it('errors name the key path and say what is accepted', () => {
    let e = configErr(() => parseRate('2mb', 'apps.bittorrent.shape.rate'));
    expect(e.path).toBe('apps.bittorrent.shape.rate');
    expect(e.message).toMatch(/^apps\.bittorrent\.shape\.rate: unknown rate unit "mb" in "2mb": use bit, kbit, mbit/);
    e = configErr(() => parseRate('fast', 'shaping.wan.rate'));
    expect(e.message).toMatch(/shaping\.wan\.rate: "fast" is not a rate: .*2mbit/);
    expect(configErr(() => parseRate('-5mbit', 'x')).message).toMatch(/is not a rate/);
    expect(configErr(() => parseRate(0, 'x')).message).toMatch(/out of range \(8bit – 1tbit\)/);
    expect(configErr(() => parseRate(-1, 'x')).message).toMatch(/out of range/);
    expect(configErr(() => parseRate(Number.NaN, 'x')).message).toMatch(/out of range/);
    expect(configErr(() => parseRate('2tbit', 'x')).message).toMatch(/out of range/);
    expect(configErr(() => parseRate('4bit', 'x')).message).toMatch(/out of range/);
    expect(configErr(() => parseRate(null as unknown as string, 'x')).message).toMatch(/expected a rate .* got null/);
    expect(configErr(() => parseRate({} as unknown as string, 'x')).message).toMatch(/got object/);
  });

  it('formatRate and parseTcSize', () => {
    expect(formatRate(5_000_000)).toBe('5mbit');
    expect(formatRate(1_500_000)).toBe('1.5mbit');
    expect(formatRate(640_000)).toBe('640kbit');
    expect(formatRate(2e9)).toBe('2gbit');
    expect(formatRate(300)).toBe('300bit');
    expect(parseTcSize('1600b')).toBe(1600);
    expect(parseTcSize('192Kb')).toBe(196_608);
    expect(parseTcSize('2Mb')).toBe(2 * 1024 * 1024);
    expect(parseTcSize('77')).toBe(77);
    expect(parseTcSize('x')).toBeNaN();
  });
});

describe('planShaping', () => {
  it('two interfaces, two shaped applications: HTB tree per device and CLASSIFY rules (this machine: bfifo leaves)', () => {
    const p = planShaping({ shaping, apps }, thisMachine());
    expect(p.classifier).toBe('classify');
    expect(p.leaf).toBe('bfifo');
    expect(p.devices.map((d) => [d.role, d.dev, d.direction, d.linkBps])).toEqual([
      ['wan', 'wan0', 'upload', 100_000_000],
      ['lan', 'lan0', 'download', 50_000_000],
    ]);
    expect(text(p.commands)).toEqual([
      'tc qdisc replace dev wan0 root handle 1: htb default fffe',
      'tc class replace dev wan0 parent 1: classid 1:ffff htb rate 100000000bit ceil 100000000bit burst 12500 cburst 12500 quantum 200000',
      'tc class replace dev wan0 parent 1:ffff classid 1:1 htb rate 2000000bit ceil 4000000bit burst 1600 cburst 1600 quantum 25000',
      'tc class replace dev wan0 parent 1:ffff classid 1:2 htb rate 1000000bit ceil 1000000bit burst 1600 cburst 1600 quantum 12500',
      'tc class replace dev wan0 parent 1:ffff classid 1:fffe htb rate 97000000bit ceil 100000000bit burst 12125 cburst 12500 quantum 200000',
      'tc qdisc replace dev wan0 parent 1:1 bfifo limit 196608',
      'tc qdisc replace dev wan0 parent 1:2 bfifo limit 196608',
      'tc qdisc replace dev wan0 parent 1:fffe bfifo limit 1250000',
      'tc qdisc replace dev lan0 root handle 1: htb default fffe',
      'tc class replace dev lan0 parent 1: classid 1:ffff htb rate 50000000bit ceil 50000000bit burst 6250 cburst 6250 quantum 200000',
      'tc class replace dev lan0 parent 1:ffff classid 1:1 htb rate 2000000bit ceil 4000000bit burst 1600 cburst 1600 quantum 25000',
      'tc class replace dev lan0 parent 1:ffff classid 1:2 htb rate 1000000bit ceil 1000000bit burst 1600 cburst 1600 quantum 12500',
      'tc class replace dev lan0 parent 1:ffff classid 1:fffe htb rate 47000000bit ceil 50000000bit burst 5875 cburst 6250 quantum 200000',
      'tc qdisc replace dev lan0 parent 1:1 bfifo limit 196608',
      'tc qdisc replace dev lan0 parent 1:2 bfifo limit 196608',
      'tc qdisc replace dev lan0 parent 1:fffe bfifo limit 625000',
    ]);
    expect(p.iptables).toMatchObject({ table: 'mangle', hook: 'POSTROUTING', chain: 'P2PGW_TC' });
    expect(text(p.iptables.rules)).toEqual([
      '-A P2PGW_TC -o wan0 -m connmark --mark 0x1 -j CLASSIFY --set-class 1:1',
      '-A P2PGW_TC -o wan0 -m connmark --mark 0x2 -j CLASSIFY --set-class 1:2',
      '-A P2PGW_TC -o lan0 -m connmark --mark 0x1 -j CLASSIFY --set-class 1:1',
      '-A P2PGW_TC -o lan0 -m connmark --mark 0x2 -j CLASSIFY --set-class 1:2',
    ]);
    expect(p.devices[1].classes.map((c) => [c.classid, c.role, c.app, c.rateBps, c.ceilBps])).toEqual([
      ['1:ffff', 'link', null, 50e6, 50e6],
      ['1:1', 'app', 'bittorrent', 2e6, 4e6],
      ['1:2', 'app', 'edonkey', 1e6, 1e6],
      ['1:fffe', 'default', null, 47e6, 50e6],
    ]);
    expect(p.notices).toHaveLength(1);
    expect(p.notices[0]).toMatch(/^leaf queues: fq_codel qdisc \(CONFIG_NET_SCH_FQ_CODEL; `modprobe sch_fq_codel`; OpenWrt: kmod-sched-core\) and SFQ qdisc .* are not available; using bfifo/);
  });

  it('fq_codel leaves when the kernel has them (and when support is unknown), no notice', () => {
    for (const s of [full(), undefined]) {
      const p = planShaping({ shaping: { lan: { dev: 'br-lan', rate: '20mbit' } }, apps }, s);
      expect(p.leaf).toBe('fq_codel');
      expect(p.notices).toEqual([]);
      expect(text(p.commands).filter((c) => c.includes(' parent 1:1 '))).toEqual(['tc qdisc replace dev br-lan parent 1:1 fq_codel']);
    }
    const sfq = full();
    sfq.qdiscs.fq_codel = false;
    const p = planShaping({ shaping, apps, }, sfq);
    expect(p.leaf).toBe('sfq');
    expect(p.notices[0]).toMatch(/fq_codel qdisc .* is not available; using sfq$/);
  });

  it('without CLASSIFY but with cls_fw: MARK in the chain and fw filters, with a notice; with neither: MISSING_FEATURE', () => {
    const s = full();
    s.classify = false;
    const p = planShaping({ shaping: { lan: { dev: 'lan0', rate: '20mbit' } }, apps }, s);
    expect(p.classifier).toBe('fw');
    expect(text(p.iptables.rules)).toEqual([
      '-A P2PGW_TC -o lan0 -m connmark --mark 0x1 -j MARK --set-mark 0x1',
      '-A P2PGW_TC -o lan0 -m connmark --mark 0x2 -j MARK --set-mark 0x2',
    ]);
    expect(text(p.devices[0].filterCmds)).toEqual([
      'tc filter replace dev lan0 parent 1: protocol all prio 1 handle 0x1 fw classid 1:1',
      'tc filter replace dev lan0 parent 1: protocol all prio 1 handle 0x2 fw classid 1:2',
    ]);
    expect(text(p.commands).slice(-2)).toEqual(text(p.devices[0].filterCmds));
    expect(p.notices.join('\n')).toMatch(/iptables CLASSIFY target .* is not available; using MARK --set-mark .* tc fw filter/);

    s.filters.fw = false;
    expect(() => planShaping({ shaping, apps }, s)).toThrow(
      expect.objectContaining({ code: 'P2PGW_ERR_MISSING_FEATURE', message: expect.stringMatching(/kmod-ipt-ipopt .* cls_fw/) }),
    );
    const t = thisMachine();
    expect(() => planShaping({ shaping: { ...shaping, classifier: 'fw' }, apps }, t)).toThrow(
      expect.objectContaining({ code: 'P2PGW_ERR_MISSING_FEATURE', message: expect.stringMatching(/fw tc filter \(CONFIG_NET_CLS_FW; `modprobe cls_fw`/) }),
    );
    expect(() => planShaping({ shaping: { ...shaping, leaf: 'fq_codel' }, apps }, t)).toThrow(
      expect.objectContaining({ code: 'P2PGW_ERR_MISSING_FEATURE', message: expect.stringMatching(/sch_fq_codel.*shaping\.leaf/) }),
    );
    t.qdiscs.htb = false;
    expect(() => planShaping({ shaping, apps }, t)).toThrow(expect.objectContaining({ code: 'P2PGW_ERR_MISSING_FEATURE', message: expect.stringMatching(/HTB qdisc \(CONFIG_NET_SCH_HTB/) }));
  });

  it('default class: explicit rate/ceil; no shaped apps; apps above the link are lowered; oversubscription is a notice', () => {
    let p = planShaping({ shaping: { lan: { dev: 'lan0', rate: '20mbit' }, default: { rate: '3mbit', ceil: '10mbit' } }, apps }, full());
    expect(p.devices[0].classes.at(-1)).toMatchObject({ role: 'default', rateBps: 3e6, ceilBps: 10e6 });
    p = planShaping({ shaping: { lan: { dev: 'lan0', rate: '20mbit' } }, apps: [{ name: 'http', mark: 7 }] }, full());
    expect(p.devices[0].classes.map((c) => c.classid)).toEqual(['1:ffff', '1:fffe']);
    expect(p.iptables.rules).toEqual([]);
    p = planShaping({ shaping: { lan: { dev: 'lan0', rate: '20mbit' } }, apps: [{ name: 'bittorrent', mark: 1, shape: { rate: '25mbit', ceil: '30mbit' } }] }, full());
    expect(p.devices[0].classes[1]).toMatchObject({ rateBps: 20e6, ceilBps: 20e6 });
    expect(p.notices.join('\n')).toMatch(/lan0: bittorrent ceil 30mbit is above the link rate 20mbit; using 20mbit/);
    expect(p.notices.join('\n')).toMatch(/the default class gets 200kbit/);
    expect(p.notices.join('\n')).toMatch(/guaranteed rates \(20\.2mbit\) exceed the link rate 20mbit/);
  });

  it('configuration errors name the key path', () => {
    const plan = (s: ShapingConfig, a: ShapedApp[] = apps) => () => planShaping({ shaping: s, apps: a }, full());
    expect(configErr(plan({})).message).toMatch(/^shaping: set shaping\.wan and\/or shaping\.lan/);
    expect(configErr(plan({ wan: { dev: 'eth0', rate: '1mbit' }, lan: { dev: 'eth0', rate: '1mbit' } })).path).toBe('shaping.lan.dev');
    expect(configErr(plan({ wan: { dev: 'eth 0', rate: '1mbit' } })).message).toMatch(/shaping\.wan\.dev: "eth 0" is not an interface name/);
    expect(configErr(plan({ wan: { dev: 'averyveryverylongname', rate: '1mbit' } })).path).toBe('shaping.wan.dev');
    expect(configErr(plan({ wan: { dev: 'eth0' } as never })).message).toMatch(/shaping\.wan\.rate: the link rate of eth0 is required/);
    expect(configErr(plan({ wan: { dev: 'eth0', rate: '1 megabit' } })).path).toBe('shaping.wan.rate');
    expect(configErr(plan({ wan: { dev: 'eth0', rate: '1mbit' }, default: { rate: '2mbit', ceil: '1mbit' } })).message).toMatch(/shaping\.default: rate 2mbit is above ceil 1mbit/);
    expect(configErr(plan({ wan: { dev: 'eth0', rate: '1mbit' }, default: { ceil: 'lots' } })).path).toBe('shaping.default.ceil');
    expect(configErr(plan({ wan: { dev: 'eth0', rate: '1mbit' }, chain: 'has space' })).path).toBe('shaping.chain');
    const wan = { wan: { dev: 'eth0', rate: '10mbit' } };
    expect(configErr(plan(wan, [{ name: 'bittorrent', mark: 1, shape: { rate: '4mbit', ceil: '2mbit' } }])).message).toMatch(
      /^apps\.bittorrent\.shape: rate 4mbit is above ceil 2mbit/,
    );
    expect(configErr(plan(wan, [{ name: 'bittorrent', mark: 1, shape: { rate: '4mbits' } }])).path).toBe('apps.bittorrent.shape.rate');
    expect(configErr(plan(wan, [{ name: 'bittorrent', mark: 1, shape: { ceil: '4mbit' } as never }])).message).toMatch(/needs a rate/);
    expect(configErr(plan(wan, [{ name: 'x', mark: 0xfffe, shape: { rate: '1mbit' } }])).message).toMatch(/mark 0xfffe cannot name an HTB class.*0x1-0xfffd/);
    expect(configErr(plan(wan, [{ name: 'x', mark: 0x10000, shape: { rate: '1mbit' } }])).path).toBe('apps.x.shape');
    expect(configErr(plan(wan, [{ name: 'a', mark: 3, shape: { rate: '1mbit' } }, { name: 'b', mark: 3, shape: { rate: '1mbit' } }])).message).toMatch(
      /apps\.b\.shape: mark 0x3 is also a's/,
    );
  });
});

// `tc -s class show dev va` on the development machine (kernel 6.18, iproute2 6.1), taken while a
// 5 Mbit/s-capped stream (class 1:1) and a bulk stream (default class 1:fffe) shared a 20 Mbit/s link.
// `tc -s -j class show` printed exactly the same text: iproute2 6.1 has no JSON for `class show`.
const SAMPLE = `class htb 1:ffff root rate 20Mbit ceil 20Mbit burst 2500b cburst 2500b 
 Sent 6776549 bytes 4488 pkt (dropped 0, overlimits 25 requeues 0) 
 backlog 0b 0p requeues 0
 lended: 24 borrowed: 0 giants: 0
 tokens: -237285 ctokens: -237285

class htb 1:1 parent 1:ffff leaf 8010: prio 0 rate 5Mbit ceil 5Mbit burst 1600b cburst 1600b 
 Sent 1711839 bytes 1137 pkt (dropped 3, overlimits 50 requeues 0) 
 backlog 68130b 2p requeues 0
 lended: 54 borrowed: 0 giants: 0
 tokens: -907941 ctokens: -907941

class htb 1:fffe parent 1:ffff leaf 8012: prio 0 rate 14Mbit ceil 20Mbit burst 1750b cburst 2500b 
 Sent 5064710 bytes 3351 pkt (dropped 0, overlimits 195 requeues 0) 
 backlog 39364b 2p requeues 0
 lended: 174 borrowed: 24 giants: 0
 tokens: -166404 ctokens: -107388

class htb 1:2 parent 1:ffff leaf 8011: prio 0 rate 1Mbit ceil 4Mbit burst 1600b cburst 1600b 
 Sent 0 bytes 0 pkt (dropped 0, overlimits 0 requeues 0) 
 backlog 0b 0p requeues 0
 lended: 0 borrowed: 0 giants: 0
 tokens: 200000 ctokens: 50000

`;

describe('parseClassStats', () => {
  it('parses the text format captured on this machine', () => {
    const s = parseClassStats(SAMPLE);
    expect(s.map((c) => c.classid)).toEqual(['1:ffff', '1:1', '1:fffe', '1:2']);
    expect(s[0]).toEqual({
      kind: 'htb', classid: '1:ffff', minor: 0xffff, parent: null, leaf: null, rateBps: 20e6, ceilBps: 20e6,
      bytes: 6776549, packets: 4488, drops: 0, overlimits: 25, requeues: 0, backlogBytes: 0, backlogPackets: 0,
      lended: 24, borrowed: 0, giants: 0, tokens: -237285, ctokens: -237285,
    });
    expect(s[1]).toMatchObject({
      classid: '1:1', minor: 1, parent: '1:ffff', leaf: '8010:', rateBps: 5e6, ceilBps: 5e6,
      bytes: 1711839, packets: 1137, drops: 3, overlimits: 50, backlogBytes: 68130, backlogPackets: 2,
    });
    expect(s[2]).toMatchObject({ minor: 0xfffe, rateBps: 14e6, ceilBps: 20e6, borrowed: 24, ctokens: -107388 });
    expect(s[3]).toMatchObject({ minor: 2, bytes: 0, drops: 0, ceilBps: 4e6 });
  });

  it('parses rate-estimator lines, K/M sizes and classes without stats', () => {
    const s = parseClassStats(
      'class htb 1:7 parent 1:ffff leaf 10: prio 3 rate 640Kbit ceil 1Gbit burst 1600b cburst 1375b \n' +
        ' Sent 1024 bytes 2 pkts (dropped 1, overlimits 4) \n rate 412Kbit 35pps backlog 12Kb 9p requeues 0\n' +
        'class htb 1:8 parent 1:ffff prio 0 rate 1Mbit ceil 1Mbit burst 1600b cburst 1600b \n',
    );
    expect(s[0]).toMatchObject({ rateBps: 640_000, ceilBps: 1e9, bytes: 1024, packets: 2, drops: 1, overlimits: 4, estRateBps: 412_000, estPps: 35, backlogBytes: 12_288, backlogPackets: 9 });
    expect(s[1]).toMatchObject({ classid: '1:8', leaf: null, bytes: 0, packets: 0 });
    expect(parseClassStats('')).toEqual([]);
    expect(parseClassStats('garbage\n')).toEqual([]);
  });

  it('parses JSON (newer iproute2: print_class with a nested stats object; rates in bytes/s)', () => {
    const json = JSON.stringify([
      { class: 'htb', handle: '1:ffff', root: true, prio: 0, rate: 2_500_000, ceil: 2_500_000, burst: 2500, cburst: 2500,
        stats: { bytes: 6776549, packets: 4488, drops: 0, overlimits: 25, requeues: 0, backlog: 0, qlen: 0, lended: 24, borrowed: 0, giants: 0, tokens: -237285, ctokens: -237285 } },
      { class: 'htb', handle: '1:1', parent: '1:ffff', leaf: '0x8010', prio: 0, rate: 625_000, ceil: 625_000,
        stats: { bytes: 1711839, packets: 1137, drops: 3, overlimits: 50, requeues: 0, backlog: 68130, qlen: 2, rate: 600_000, pps: 400 } },
    ]);
    const s = parseClassStats(json);
    expect(s[0]).toMatchObject({ classid: '1:ffff', parent: null, rateBps: 20e6, ceilBps: 20e6, overlimits: 25, tokens: -237285 });
    expect(s[1]).toMatchObject({ classid: '1:1', minor: 1, parent: '1:ffff', leaf: '8010:', rateBps: 5e6, drops: 3, backlogBytes: 68130, backlogPackets: 2, estRateBps: 4.8e6, estPps: 400 });
  });
});

describe('support detection helpers', () => {
  // From /proc/config.gz of the development machine.
  const KCONFIG = [
    'CONFIG_NETFILTER_XT_TARGET_CLASSIFY=y', 'CONFIG_NET_SCH_HTB=y', '# CONFIG_NET_SCH_SFQ is not set', 'CONFIG_NET_SCH_TBF=y',
    '# CONFIG_NET_SCH_FQ_CODEL is not set', '# CONFIG_NET_CLS_FW is not set', 'CONFIG_NET_CLS_U32=y', 'CONFIG_NET_SCH_FIFO=y', 'CONFIG_IFB=y',
  ].join('\n');

  it('supportFromKconfig reads =y/=m as present, "is not set" and absent as missing', () => {
    const s = supportFromKconfig(KCONFIG, '/proc/config.gz');
    expect(s.method).toBe('kconfig');
    expect(s.qdiscs).toEqual({ htb: true, tbf: true, fq_codel: false, sfq: false, pfifo: true, bfifo: true });
    expect(s.filters).toEqual({ fw: false, u32: true });
    expect([s.classify, s.ifb]).toEqual([true, true]);
    expect(supportFromKconfig('CONFIG_NET_SCH_FQ_CODEL=m\n').qdiscs.fq_codel).toBe(true);
    expect(s.details.fq_codel).toBe('CONFIG_NET_SCH_FQ_CODEL is not set in /proc/config.gz');
  });

  it('describeSupport names each missing feature with its kernel option, module and OpenWrt package', () => {
    const lines = describeSupport(thisMachine());
    expect(lines).toEqual([
      'missing: fq_codel qdisc (CONFIG_NET_SCH_FQ_CODEL; `modprobe sch_fq_codel`; OpenWrt: kmod-sched-core) — Error: Specified qdisc kind is unknown.',
      'missing: SFQ qdisc (CONFIG_NET_SCH_SFQ; `modprobe sch_sfq`; OpenWrt: kmod-sched) — Error: Specified qdisc kind is unknown.',
      'missing: fw tc filter (CONFIG_NET_CLS_FW; `modprobe cls_fw`; OpenWrt: kmod-sched-core) — Error: TC classifier not found.',
    ]);
    expect(describeSupport(unknownSupport())[0]).toMatch(/^missing: the tc program \(iproute2/);
    expect(describeSupport(unknownSupport()).filter((l) => l.startsWith('unknown: '))).toHaveLength(10);
  });

  it('tcError turns tc failures into MISSING_FEATURE when a qdisc or classifier is missing', () => {
    const r = (cmd: string, stderr: string, code = 2) => ({ code, stdout: '', stderr, cmd });
    let e = tcError(r('tc qdisc replace dev lan0 parent 1:1 fq_codel', 'Error: Specified qdisc kind is unknown.'), 'x');
    expect(e).toBeInstanceOf(P2pgwError);
    expect(e.code).toBe('P2PGW_ERR_MISSING_FEATURE');
    expect(e.message).toMatch(/fq_codel qdisc \(CONFIG_NET_SCH_FQ_CODEL; `modprobe sch_fq_codel`/);
    e = tcError(r('tc filter replace dev lan0 parent 1: protocol all prio 1 handle 0x1 fw classid 1:1', 'Error: TC classifier not found.\nWe have an error talking to the kernel'), 'x');
    expect(e.message).toMatch(/cls_fw/);
    expect(tcError(r('tc qdisc show', 'spawn tc ENOENT', 127), 'x').message).toMatch(/install iproute2/);
    e = tcError(r('tc class replace dev nope parent 1: classid 1:ffff htb rate 1bit', 'Cannot find device "nope"'), 'setting class');
    expect(e.code).not.toBe('P2PGW_ERR_MISSING_FEATURE');
    expect(e.message).toMatch(/^setting class failed \(exit 2\): tc class replace dev nope.*\n.*\n\(no such interface/);
  });
});
