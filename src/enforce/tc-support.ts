/**
 * What the kernel (and tc) offer for traffic shaping: qdiscs (HTB, TBF, fq_codel, SFQ, FIFOs),
 * classifiers (fw, u32), the iptables CLASSIFY target and IFB. Detected by trying each one in a
 * throwaway network namespace (on its loopback, so no real interface is touched; the kernel loads
 * modules on demand as it would for the real setup), else from the kernel config
 * (/proc/config.gz, /boot/config-<release>). Sources: tc(8), tc-htb(8), tc-tbf(8), tc-fq_codel(8),
 * tc-sfq(8), tc-bfifo(8), tc-fw(8), tc-u32(8), iptables-extensions(8) CLASSIFY, ip-link(8) ifb.
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { detectBackend, run, which, type Backend } from './backend.js';

/** Qdiscs p2pgw may use: HTB for the class tree (TBF only reported), the rest as leaf queues. */
export type QdiscKind = 'htb' | 'tbf' | 'fq_codel' | 'sfq' | 'pfifo' | 'bfifo';
/** tc classifiers relevant here: `fw` (classify by skb mark) and `u32` (reported only). */
export type FilterKind = 'fw' | 'u32';
/** Every feature `TcSupport` reports on. */
export type TcFeature = QdiscKind | FilterKind | 'CLASSIFY' | 'ifb';

/** Per feature: true = works, false = the kernel (or iptables) lacks it, null = unknown. */
export interface TcSupport {
  qdiscs: Record<QdiscKind, boolean | null>;
  filters: Record<FilterKind, boolean | null>;
  /** iptables CLASSIFY target (kernel xt_CLASSIFY and userspace libxt_CLASSIFY). */
  classify: boolean | null;
  /** IFB devices (needed only for ingress shaping, which p2pgw does not do). */
  ifb: boolean | null;
  /** Whether `tc -s -j class show` prints JSON (iproute2 6.1 prints text). */
  tcJson: boolean | null;
  /** `tc -V` first line, or null when tc is missing. */
  tcVersion: string | null;
  /** How the answers were found. */
  method: 'probe' | 'kconfig' | 'none';
  /** Per feature that is false or null: the error seen (probe stderr) or where the answer came from. */
  details: Partial<Record<TcFeature, string>>;
}

interface FeatureInfo {
  what: string;
  kconfig: string;
  module: string;
  openwrt: string;
}

/** Kernel option, module and OpenWrt package of each feature (OpenWrt package names: kmod-sched-core etc.). */
export const TC_FEATURES: Readonly<Record<TcFeature, FeatureInfo>> = Object.freeze({
  htb: { what: 'HTB qdisc', kconfig: 'CONFIG_NET_SCH_HTB', module: 'sch_htb', openwrt: 'kmod-sched-core' },
  tbf: { what: 'TBF qdisc', kconfig: 'CONFIG_NET_SCH_TBF', module: 'sch_tbf', openwrt: 'kmod-sched-core' },
  fq_codel: { what: 'fq_codel qdisc', kconfig: 'CONFIG_NET_SCH_FQ_CODEL', module: 'sch_fq_codel', openwrt: 'kmod-sched-core' },
  sfq: { what: 'SFQ qdisc', kconfig: 'CONFIG_NET_SCH_SFQ', module: 'sch_sfq', openwrt: 'kmod-sched' },
  pfifo: { what: 'pfifo qdisc', kconfig: 'CONFIG_NET_SCH_FIFO', module: 'sch_fifo (built in)', openwrt: 'kernel' },
  bfifo: { what: 'bfifo qdisc', kconfig: 'CONFIG_NET_SCH_FIFO', module: 'sch_fifo (built in)', openwrt: 'kernel' },
  fw: { what: 'fw tc filter', kconfig: 'CONFIG_NET_CLS_FW', module: 'cls_fw', openwrt: 'kmod-sched-core' },
  u32: { what: 'u32 tc filter', kconfig: 'CONFIG_NET_CLS_U32', module: 'cls_u32', openwrt: 'kmod-sched-core' },
  CLASSIFY: { what: 'iptables CLASSIFY target', kconfig: 'CONFIG_NETFILTER_XT_TARGET_CLASSIFY', module: 'xt_CLASSIFY', openwrt: 'kmod-ipt-ipopt and iptables-mod-ipopt' },
  ifb: { what: 'IFB device', kconfig: 'CONFIG_IFB', module: 'ifb', openwrt: 'kmod-ifb' },
});

/** How to get a feature: `fq_codel qdisc (CONFIG_NET_SCH_FQ_CODEL; `modprobe sch_fq_codel`; OpenWrt: kmod-sched-core)`. */
export function featureHint(f: TcFeature): string {
  const i = TC_FEATURES[f];
  const mod = i.module.includes(' ') ? `module ${i.module}` : `\`modprobe ${i.module}\``;
  return `${i.what} (${i.kconfig}; ${mod}; OpenWrt: ${i.openwrt})`;
}

/** Is `f` available (true), missing (false) or unknown (null)? */
export function hasFeature(s: TcSupport, f: TcFeature): boolean | null {
  return f === 'CLASSIFY' ? s.classify : f === 'ifb' ? s.ifb : f === 'fw' || f === 'u32' ? s.filters[f] : s.qdiscs[f];
}

/**
 * One line per missing or unknown feature, for the startup log and `p2pgw check`, e.g.
 * `missing: fq_codel qdisc (CONFIG_NET_SCH_FQ_CODEL; `modprobe sch_fq_codel`; OpenWrt: kmod-sched-core)`.
 * Empty when everything is there.
 */
export function describeSupport(s: TcSupport): string[] {
  const out: string[] = [];
  if (!s.tcVersion) out.push('missing: the tc program (iproute2; OpenWrt: tc-full or tc-tiny)');
  for (const f of Object.keys(TC_FEATURES) as TcFeature[]) {
    const v = hasFeature(s, f);
    if (v === true) continue;
    const d = s.details[f];
    out.push(`${v === false ? 'missing' : 'unknown'}: ${featureHint(f)}${d ? ` — ${d}` : ''}`);
  }
  return out;
}

/** Support with every answer unknown (no tc, no probe, no kernel config). */
export function unknownSupport(): TcSupport {
  return {
    qdiscs: { htb: null, tbf: null, fq_codel: null, sfq: null, pfifo: null, bfifo: null },
    filters: { fw: null, u32: null },
    classify: null,
    ifb: null,
    tcJson: null,
    tcVersion: null,
    method: 'none',
    details: {},
  };
}

/**
 * Support as a kernel config says (`CONFIG_X=y` or `=m` → true, `# CONFIG_X is not set` or absent
 * → false). `tcJson`/`tcVersion` stay unknown. Pure; for `/proc/config.gz` text.
 */
export function supportFromKconfig(config: string, source = 'kernel config'): TcSupport {
  const s = unknownSupport();
  s.method = 'kconfig';
  const on = (opt: string): boolean => new RegExp(`^${opt}=[ym]\\s*$`, 'm').test(config);
  for (const f of Object.keys(TC_FEATURES) as TcFeature[]) {
    const v = on(TC_FEATURES[f].kconfig);
    if (!v) s.details[f] = `${TC_FEATURES[f].kconfig} is not set in ${source}`;
    if (f === 'CLASSIFY') s.classify = v;
    else if (f === 'ifb') s.ifb = v;
    else if (f === 'fw' || f === 'u32') s.filters[f] = v;
    else s.qdiscs[f] = v;
  }
  return s;
}

function readKconfig(): { text: string; source: string } | null {
  try {
    return { text: gunzipSync(readFileSync('/proc/config.gz')).toString('utf8'), source: '/proc/config.gz' };
  } catch {
    /* not built with IKCONFIG_PROC */
  }
  const boot = `/boot/config-${release()}`;
  try {
    return { text: readFileSync(boot, 'utf8'), source: boot };
  } catch {
    return null;
  }
}

const firstLine = (s: string): string => s.trim().split('\n')[0] ?? '';

/** Tries every feature in namespace `ns` (already created). */
async function probeIn(ns: string, tcBin: string, backend: Backend | undefined, s: TcSupport): Promise<void> {
  const tc = (...a: string[]) => run([tcBin, ...a], { netns: ns, timeoutMs: 10_000 });
  const note = (f: TcFeature, ok: boolean, err: string): void => {
    if (!ok) s.details[f] = firstLine(err) || 'failed';
  };
  const leaves: [QdiscKind, string[]][] = [
    ['fq_codel', ['fq_codel']],
    ['sfq', ['sfq']],
    ['pfifo', ['pfifo', 'limit', '10']],
    ['bfifo', ['bfifo', 'limit', '10000']],
    ['tbf', ['tbf', 'rate', '1mbit', 'burst', '10000', 'latency', '50ms']],
  ];
  for (const [kind, args] of leaves) {
    const r = await tc('qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', ...args);
    s.qdiscs[kind] = r.code === 0;
    note(kind, r.code === 0, r.stderr);
    if (r.code === 0) await tc('qdisc', 'del', 'dev', 'lo', 'root');
  }
  const h = await tc('qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', 'htb', 'default', '1');
  s.qdiscs.htb = h.code === 0;
  note('htb', h.code === 0, h.stderr);
  if (h.code === 0) {
    await tc('class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '1mbit');
    const fw = await tc('filter', 'add', 'dev', 'lo', 'parent', '1:', 'protocol', 'all', 'prio', '1', 'handle', '1', 'fw', 'classid', '1:1');
    s.filters.fw = fw.code === 0;
    note('fw', fw.code === 0, fw.stderr);
    const u32 = await tc('filter', 'add', 'dev', 'lo', 'parent', '1:', 'protocol', 'ip', 'prio', '2', 'u32', 'match', 'u32', '0', '0', 'classid', '1:1');
    s.filters.u32 = u32.code === 0;
    note('u32', u32.code === 0, u32.stderr);
    const j = await tc('-s', '-j', 'class', 'show', 'dev', 'lo');
    s.tcJson = j.code === 0 ? j.stdout.trim().startsWith('[') : null;
    await tc('qdisc', 'del', 'dev', 'lo', 'root');
  } else {
    s.details.fw = s.details.u32 = 'not probed: HTB is missing';
  }
  const ifb = await run(['ip', 'link', 'add', 'p2pgwifb0', 'type', 'ifb'], { netns: ns, timeoutMs: 10_000 });
  s.ifb = ifb.code === 0;
  note('ifb', ifb.code === 0, ifb.stderr);

  let b = backend;
  if (!b) b = await detectBackend('auto', { netns: ns, families: [4] }).catch(() => undefined);
  if (!b) {
    s.details.CLASSIFY = 'not probed: no usable iptables';
  } else {
    const r = await run([b.iptables, '-w', '-t', 'mangle', '-A', 'POSTROUTING', '-o', 'lo', '-j', 'CLASSIFY', '--set-class', '1:1'], { netns: ns, timeoutMs: 10_000 });
    s.classify = r.code === 0;
    if (r.code !== 0) {
      s.details.CLASSIFY = /Couldn't load target|extension not found|Can't find library/i.test(r.stderr)
        ? `iptables has no CLASSIFY extension (libxt_CLASSIFY.so): ${firstLine(r.stderr)}`
        : `the kernel refused the CLASSIFY target: ${firstLine(r.stderr)}`;
    }
  }
}

/**
 * Finds out which shaping features work. Probes in a throwaway namespace `p2pgw-probe-<pid>-<n>`
 * (deleted afterwards; needs root and `ip netns`); when that is impossible, reads the kernel
 * config; else every answer is null. Kernel features are kernel-wide, so the answer holds for every
 * namespace. `backend` (default: detected in the probe namespace) is the iptables used to try
 * CLASSIFY. Never throws.
 */
export async function detectQdiscSupport(opts: { backend?: Backend } = {}): Promise<TcSupport> {
  const s = unknownSupport();
  const tcBin = which('tc');
  if (tcBin) {
    const v = await run([tcBin, '-V']);
    s.tcVersion = v.code === 0 ? firstLine(v.stdout + v.stderr) || null : null;
  }
  const ns = `p2pgw-probe-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const add = tcBin ? await run(['ip', 'netns', 'add', ns]) : null;
  if (tcBin && add?.code === 0) {
    try {
      s.method = 'probe';
      await probeIn(ns, tcBin, opts.backend, s);
      return s;
    } finally {
      await run(['ip', 'netns', 'del', ns]);
    }
  }
  const k = readKconfig();
  if (!k) {
    const why = !tcBin ? 'tc not found' : `could not create a probe namespace (${firstLine(add?.stderr ?? '')}) and no kernel config to read`;
    for (const f of Object.keys(TC_FEATURES) as TcFeature[]) s.details[f] = why;
    return s;
  }
  const fromK = supportFromKconfig(k.text, k.source);
  return { ...fromK, tcVersion: s.tcVersion };
}
