/**
 * The shaping plan: from the `shaping:` config and the applications' marks and shapes to the HTB
 * tree (tc commands) and our mangle chain (iptables rules), without touching the system. Layout,
 * classification and sources: see tc.ts. Pure; unit-tested in test/enforce/tc.test.ts.
 */
import { DEFAULTS } from '../core/defaults.js';
import { P2pgwError } from '../core/errors.js';
import { validateRuleOptions } from './iptables.js';
import { formatRate, parseRate, ShapeError, tcRate, type RateInput } from './tc-parse.js';
import { featureHint, hasFeature, type QdiscKind, type TcFeature, type TcSupport } from './tc-support.js';

/** A per-application shape: HTB rate (guaranteed) and ceil (maximum, default = rate), bits/s or tc strings. */
export interface ShapeSpec {
  rate: RateInput;
  ceil?: RateInput;
}

/** One shaped interface and its link rate. */
export interface ShapingIface {
  dev: string;
  rate: RateInput;
}

/** Leaf queue kinds; `auto` picks fq_codel, else sfq, else bfifo. */
export type LeafKind = 'fq_codel' | 'sfq' | 'bfifo' | 'pfifo';

/**
 * The `shaping:` config section, already parsed from YAML. `wan` shapes uploads (WAN egress), `lan`
 * downloads (LAN egress); at least one is needed. `default` is the class of everything not shaped
 * (rate default: link − Σ application rates; ceil default: the link rate).
 */
export interface ShapingConfig {
  wan?: ShapingIface;
  lan?: ShapingIface;
  default?: { rate?: RateInput; ceil?: RateInput };
  /** Leaf queue (default `auto`). */
  leaf?: 'auto' | LeafKind;
  /** How packets reach their class (default `auto`: CLASSIFY, else fw). */
  classifier?: 'auto' | 'classify' | 'fw';
  /** Our mangle chain (default P2PGW_TC). */
  chain?: string;
}

/** An application as the classifier knows it: name, connmark, and its `apps.<name>.shape`, if any. */
export interface ShapedApp {
  name: string;
  mark: number;
  shape?: ShapeSpec | null;
}

/** One HTB class of the plan. `role` link = the interface's total, default = the rest, app = one application. */
export interface ClassPlan {
  classid: string;
  minor: number;
  role: 'link' | 'default' | 'app';
  app: string | null;
  mark: number | null;
  rateBps: number;
  ceilBps: number;
  /** `tc class replace …` argv. */
  cmd: string[];
  /** `tc qdisc replace … parent <classid> <leaf>` argv, null for the link class. */
  leafCmd: string[] | null;
}

/** The tree of one interface. */
export interface DevicePlan {
  role: 'wan' | 'lan';
  dev: string;
  direction: 'upload' | 'download';
  linkBps: number;
  /** `tc qdisc replace dev X root handle 1: htb default fffe`. */
  rootCmd: string[];
  classes: ClassPlan[];
  /** `tc filter replace … fw classid …` argvs (classifier fw only). */
  filterCmds: string[][];
}

/** Our mangle chain: rules (argv after the tool name, `-A <chain> …`), hooked from POSTROUTING. Same for IPv4 and IPv6. */
export interface ShapingIptables {
  table: 'mangle';
  hook: 'POSTROUTING';
  chain: string;
  rules: string[][];
}

/** Everything `applyShaping` does, computed without touching the system. */
export interface ShapingPlan {
  devices: DevicePlan[];
  /** Every tc command for a fresh setup, in order (root, classes, leaves, filters per device). */
  commands: string[][];
  iptables: ShapingIptables;
  classifier: 'classify' | 'fw';
  leaf: LeafKind;
  /** Things to log (at notice/warn level): fallbacks, clamped or oversubscribed rates. */
  notices: string[];
}

const hex = (n: number): string => n.toString(16);
/** `1:<minor hex>`. */
export const classId = (minor: number): string => `${DEFAULTS.shaping.major}:${hex(minor)}`;
const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

/** A MISSING_FEATURE error naming the kernel option, module and OpenWrt package of `f`. */
export function missingFeature(f: TcFeature, extra = ''): P2pgwError {
  return new P2pgwError('P2PGW_ERR_MISSING_FEATURE', `the kernel lacks the ${featureHint(f)}${extra}`);
}

function chooseLeaf(pref: ShapingConfig['leaf'], s: TcSupport | undefined, notices: string[]): LeafKind {
  const has = (k: QdiscKind): boolean => (s ? hasFeature(s, k) !== false : true);
  if (pref && pref !== 'auto') {
    if (!has(pref)) throw missingFeature(pref, `, which shaping.leaf asks for; set shaping.leaf: auto`);
    return pref;
  }
  for (const k of ['fq_codel', 'sfq', 'bfifo', 'pfifo'] as const) {
    if (!has(k)) continue;
    if (k !== 'fq_codel') {
      const gone = (['fq_codel', 'sfq'] as const).filter((g) => !has(g));
      notices.push(
        `leaf queues: ${gone.map((g) => featureHint(g)).join(' and ')} ${gone.length > 1 ? 'are' : 'is'} not available; using ${k}` +
          (k === 'bfifo' ? ` (tail drop, up to ${DEFAULTS.shaping.fifoMs} ms of queue at each class's ceil; no per-flow fairness)` : ''),
      );
    }
    return k;
  }
  throw missingFeature('bfifo');
}

function chooseClassifier(pref: ShapingConfig['classifier'], s: TcSupport | undefined, notices: string[]): 'classify' | 'fw' {
  const cls = s ? hasFeature(s, 'CLASSIFY') !== false : true;
  const fw = s ? hasFeature(s, 'fw') !== false : true;
  if (pref === 'classify' && !cls) throw missingFeature('CLASSIFY', `; set shaping.classifier: fw if the kernel has cls_fw`);
  if (pref === 'fw' && !fw) throw missingFeature('fw', '; set shaping.classifier: classify');
  if (pref === 'classify' || pref === 'fw') return pref;
  if (cls) return 'classify';
  if (fw) {
    notices.push(`classifier: ${featureHint('CLASSIFY')} is not available; using MARK --set-mark in mangle POSTROUTING and the tc fw filter`);
    return 'fw';
  }
  throw new P2pgwError('P2PGW_ERR_MISSING_FEATURE', `shaping needs either the ${featureHint('CLASSIFY')} or the ${featureHint('fw')}; the kernel has neither`);
}

function leafArgs(kind: LeafKind, ceilBps: number): string[] {
  const D = DEFAULTS.shaping;
  const bytes = Math.max(D.minFifoBytes, Math.round(((ceilBps / 8) * D.fifoMs) / 1000));
  switch (kind) {
    case 'fq_codel':
      return ['fq_codel'];
    case 'sfq':
      return ['sfq', 'perturb', '10'];
    case 'bfifo':
      return ['bfifo', 'limit', String(bytes)];
    case 'pfifo':
      return ['pfifo', 'limit', String(Math.max(10, Math.round(bytes / 1514)))];
  }
}

function htbArgs(rateBps: number, ceilBps: number): string[] {
  const D = DEFAULTS.shaping;
  const burst = (bps: number): string => String(Math.max(D.minBurstBytes, Math.ceil(((bps / 8) * D.burstUs) / 1e6)));
  const quantum = clamp(Math.round(rateBps / 8 / D.r2q), 1600, 200000);
  return ['htb', 'rate', tcRate(rateBps), 'ceil', tcRate(ceilBps), 'burst', burst(rateBps), 'cburst', burst(ceilBps), 'quantum', String(quantum)];
}

/** Checks an interface name as the kernel would accept it (1–15 bytes, no whitespace, `/` or `:`). */
function checkDev(dev: unknown, path: string): string {
  if (typeof dev !== 'string' || !/^[^\s/:]{1,15}$/.test(dev) || dev === '.' || dev === '..') {
    throw new ShapeError(path, `${JSON.stringify(dev)} is not an interface name (1-15 characters, no spaces, '/' or ':')`);
  }
  return dev;
}

/** An application's checked, parsed shape. */
interface AppRate {
  name: string;
  mark: number;
  rate: number;
  ceil: number;
}

/** What every device of a plan shares. */
interface PlanContext {
  apps: AppRate[];
  /** `shaping.default` rate and ceil, null where derived from the link. */
  defRate: number | null;
  defCeil: number | null;
  leaf: LeafKind;
  classifier: 'classify' | 'fw';
  notices: string[];
  /** `iptables.mark_mask`: the bits of marks that are ours (0xffffffff: all). */
  markMask: number;
}

/** A mark as our rules and the fw filter name it: `0x1`, or `0x1/0xff` with a mask (only those bits are compared or set). */
const markSpec = (mark: number, mask: number): string => (mask >>> 0 === 0xffffffff ? `0x${hex(mark)}` : `0x${hex(mark)}/0x${hex(mask >>> 0)}`);

/** The shaped applications' rates, by mark. @throws ShapeError (see planShaping) */
function appRates(apps: readonly ShapedApp[]): AppRate[] {
  const out: AppRate[] = [];
  const seen = new Map<number, string>();
  for (const a of apps) {
    if (!a.shape) continue;
    const p = `apps.${a.name}.shape`;
    if (typeof a.shape !== 'object' || a.shape.rate === undefined) throw new ShapeError(p, 'needs a rate, e.g. {rate: 2mbit, ceil: 4mbit}');
    const rate = parseRate(a.shape.rate, `${p}.rate`);
    const ceil = a.shape.ceil === undefined ? rate : parseRate(a.shape.ceil, `${p}.ceil`);
    if (rate > ceil) throw new ShapeError(p, `rate ${formatRate(rate)} is above ceil ${formatRate(ceil)}`);
    if (!Number.isInteger(a.mark) || a.mark < 1 || a.mark > 0xfffd) {
      throw new ShapeError(p, `mark 0x${hex(a.mark)} cannot name an HTB class: shaped applications need marks 0x1-0xfffd (0xfffe is the default class, 0xffff the link)`);
    }
    const dup = seen.get(a.mark);
    if (dup) throw new ShapeError(p, `mark 0x${hex(a.mark)} is also ${dup}'s: each shaped application needs its own mark`);
    seen.set(a.mark, a.name);
    out.push({ name: a.name, mark: a.mark, rate, ceil });
  }
  return out.sort((x, y) => x.mark - y.mark);
}

/** The HTB tree of one interface whose link rate is `link` (bits/s). */
function planDevice(role: 'wan' | 'lan', dev: string, link: number, ctx: PlanContext): DevicePlan {
  const D = DEFAULTS.shaping;
  const { apps, notices } = ctx;
  const base = ['tc', 'class', 'replace', 'dev', dev];
  const classes: ClassPlan[] = [
    { classid: classId(D.linkMinor), minor: D.linkMinor, role: 'link', app: null, mark: null, rateBps: link, ceilBps: link,
      cmd: [...base, 'parent', `${D.major}:`, 'classid', classId(D.linkMinor), ...htbArgs(link, link)], leafCmd: null },
  ];
  const leafCmd = (minor: number, ceil: number): string[] => ['tc', 'qdisc', 'replace', 'dev', dev, 'parent', classId(minor), ...leafArgs(ctx.leaf, ceil)];
  let sum = 0;
  for (const a of apps) {
    let { rate, ceil } = a;
    if (ceil > link) {
      notices.push(`${dev}: ${a.name} ceil ${formatRate(ceil)} is above the link rate ${formatRate(link)}; using ${formatRate(link)}`);
      ceil = link;
      rate = Math.min(rate, link);
    }
    sum += rate;
    classes.push({ classid: classId(a.mark), minor: a.mark, role: 'app', app: a.name, mark: a.mark, rateBps: rate, ceilBps: ceil,
      cmd: [...base, 'parent', classId(D.linkMinor), 'classid', classId(a.mark), ...htbArgs(rate, ceil)], leafCmd: leafCmd(a.mark, ceil) });
  }
  let dCeil = ctx.defCeil ?? link;
  if (dCeil > link) {
    notices.push(`${dev}: default ceil ${formatRate(dCeil)} is above the link rate ${formatRate(link)}; using ${formatRate(link)}`);
    dCeil = link;
  }
  let dRate = ctx.defRate ?? link - sum;
  if (ctx.defRate === null && dRate < Math.max(8000, link / 100)) {
    dRate = Math.max(8000, Math.round(link / 100));
    notices.push(`${dev}: the applications' rates (${formatRate(sum)}) leave nothing of the link (${formatRate(link)}); the default class gets ${formatRate(dRate)}`);
  }
  dRate = Math.min(dRate, dCeil);
  if (sum + dRate > link) {
    notices.push(`${dev}: guaranteed rates (${formatRate(sum + dRate)}) exceed the link rate ${formatRate(link)}; HTB cannot honour them all under load`);
  }
  classes.push({ classid: classId(D.defaultMinor), minor: D.defaultMinor, role: 'default', app: null, mark: null, rateBps: dRate, ceilBps: dCeil,
    cmd: [...base, 'parent', classId(D.linkMinor), 'classid', classId(D.defaultMinor), ...htbArgs(dRate, dCeil)], leafCmd: leafCmd(D.defaultMinor, dCeil) });
  const filterCmds = ctx.classifier === 'fw'
    ? apps.map((a) => ['tc', 'filter', 'replace', 'dev', dev, 'parent', `${D.major}:`, 'protocol', 'all', 'prio', '1', 'handle', markSpec(a.mark, ctx.markMask), 'fw', 'classid', classId(a.mark)])
    : [];
  return {
    role, dev, direction: role === 'wan' ? 'upload' : 'download', linkBps: link,
    rootCmd: ['tc', 'qdisc', 'replace', 'dev', dev, 'root', 'handle', `${D.major}:`, 'htb', 'default', hex(D.defaultMinor)],
    classes, filterCmds,
  };
}

/** Our mangle chain's rules: per shaped device and application, connmark → class (CLASSIFY) or mark (fw). */
function chainRules(chain: string, devices: readonly DevicePlan[], ctx: PlanContext): string[][] {
  const rules: string[][] = [];
  for (const d of devices) {
    for (const a of ctx.apps) {
      // With a mark mask, MARK sets only our bits (--set-xmark X/MASK), leaving other tools' marks.
      const mark = ctx.markMask >>> 0 === 0xffffffff ? ['MARK', '--set-mark', markSpec(a.mark, ctx.markMask)] : ['MARK', '--set-xmark', markSpec(a.mark, ctx.markMask)];
      const target = ctx.classifier === 'classify' ? ['CLASSIFY', '--set-class', classId(a.mark)] : mark;
      rules.push(['-A', chain, '-o', d.dev, '-m', 'connmark', '--mark', markSpec(a.mark, ctx.markMask), '-j', ...target]);
    }
  }
  return rules;
}

/**
 * Computes the shaping setup (pure: no system access). `support` (from detectQdiscSupport) decides
 * the leaf queue and classifier; without it fq_codel and CLASSIFY are assumed. `markMask`
 * (`iptables.mark_mask`, default all 32 bits): the connmark matches, the fw classifier's MARK
 * (`--set-xmark`) and the fw filter handles (`X/MASK`) use only these bits.
 * Rates: application ceil defaults to its rate (HTB semantics); rates and ceils above the link rate
 * are lowered to it (notice); an oversubscribed link (Σ rates > link) is a notice.
 * @throws ShapeError (P2PGW_ERR_CONFIG) with the key path: bad rate or unit, rate > ceil, bad or
 *   duplicate interface, no interface, a shaped mark outside 0x1–0xfffd or used twice
 * @throws P2pgwError P2PGW_ERR_MISSING_FEATURE when `support` says HTB, or every usable leaf queue or
 *   classifier, is missing (naming the kernel option, module and OpenWrt package)
 */
export function planShaping(input: { shaping: ShapingConfig; apps: readonly ShapedApp[]; markMask?: number }, support?: TcSupport): ShapingPlan {
  const cfg = input.shaping ?? {};
  const notices: string[] = [];
  const chain = cfg.chain ?? DEFAULTS.shaping.chain;
  try {
    validateRuleOptions({ chain, queueNum: 0, classifyPackets: 1, blocked: [] });
  } catch (e) {
    throw new ShapeError('shaping.chain', (e as Error).message);
  }
  const ifaces = (['wan', 'lan'] as const).filter((r) => cfg[r] !== undefined && cfg[r] !== null);
  if (ifaces.length === 0) throw new ShapeError('shaping', 'set shaping.wan and/or shaping.lan ({dev, rate}) to shape traffic');
  if (support && hasFeature(support, 'htb') === false) throw missingFeature('htb', '; HTB is required for shaping');
  const leaf = chooseLeaf(cfg.leaf, support, notices);
  const classifier = chooseClassifier(cfg.classifier, support, notices);
  const apps = appRates(input.apps);
  const defRate = cfg.default?.rate === undefined ? null : parseRate(cfg.default.rate, 'shaping.default.rate');
  const defCeil = cfg.default?.ceil === undefined ? null : parseRate(cfg.default.ceil, 'shaping.default.ceil');
  if (defRate !== null && defCeil !== null && defRate > defCeil) {
    throw new ShapeError('shaping.default', `rate ${formatRate(defRate)} is above ceil ${formatRate(defCeil)}`);
  }
  const ctx: PlanContext = { apps, defRate, defCeil, leaf, classifier, notices, markMask: input.markMask ?? 0xffffffff };

  const devices: DevicePlan[] = [];
  const usedDevs = new Map<string, string>();
  for (const role of ifaces) {
    const i = cfg[role]!;
    const dev = checkDev(i.dev, `shaping.${role}.dev`);
    if (usedDevs.has(dev)) throw new ShapeError(`shaping.${role}.dev`, `${dev} is already shaping.${usedDevs.get(dev)}.dev: WAN and LAN need different interfaces`);
    usedDevs.set(dev, role);
    if (i.rate === undefined) throw new ShapeError(`shaping.${role}.rate`, `the link rate of ${dev} is required (e.g. 100mbit)`);
    devices.push(planDevice(role, dev, parseRate(i.rate, `shaping.${role}.rate`), ctx));
  }
  const rules = chainRules(chain, devices, ctx);
  const commands = devices.flatMap((d) => [d.rootCmd, ...d.classes.map((c) => c.cmd), ...d.classes.flatMap((c) => (c.leafCmd ? [c.leafCmd] : [])), ...d.filterCmds]);
  return { devices, commands, iptables: { table: 'mangle', hook: 'POSTROUTING', chain, rules }, classifier, leaf, notices };
}
