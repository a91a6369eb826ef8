/**
 * Bandwidth control per application: an HTB tree on each shaped interface, and the kernel rules
 * that put each connection into its application's class by connmark.
 *
 *     dev <wan|lan>  root qdisc 1: htb default fffe
 *       class 1:ffff           the link: rate = ceil = shaping.<wan|lan>.rate
 *         class 1:<mark>       one per shaped application: rate/ceil from apps.<name>.shape; leaf qdisc
 *         class 1:fffe         everything else (unclassified, unshaped apps, the router's own traffic)
 *
 * Upload is shaped on WAN egress, download on LAN egress (a qdisc only controls what a device
 * sends). Classification: `CLASSIFY --set-class 1:<mark>` for `-m connmark --mark <mark>` in our
 * chain (default P2PGW_TC) in mangle POSTROUTING (iptables-extensions(8) CLASSIFY: HTB picks the
 * class from skb->priority when its major matches the qdisc); or, where CLASSIFY is missing and the
 * kernel has cls_fw, `MARK --set-mark <mark>` there plus a tc `fw` filter (tc-fw(8)). Leaf queues:
 * fq_codel, else SFQ, else bfifo (with a notice). Sources: tc-htb(8), the LARTC HOWTO's HTB chapter
 * and HTB user guide (quantum, burst), tc-tbf(8), iptables-extensions(8).
 *
 * Setup is idempotent (re-applying the same or a changed plan converges; stale classes are removed)
 * and removed on stop. The parsers live in tc-parse.ts, detection in tc-support.ts.
 */
import { P2pgwError, type ErrorCode } from '../errors.js';
import { detectBackend, run, which, type Backend, type Family, type NetnsOpt, type RunResult } from './backend.js';
import { diagnose, parseSave, renderRestore, validateRuleOptions } from './iptables.js';
import { formatRate, parseClassStats, parseRate, ShapeError, tcRate, type ClassStats, type RateInput } from './tc-parse.js';
import { featureHint, hasFeature, type QdiscKind, type TcFeature, type TcSupport } from './tc-support.js';

export * from './tc-parse.js';
export * from './tc-support.js';

/** Error code of failed tc commands (errors.ts has no tc-specific code yet). */
const TC_ERR: ErrorCode = 'P2PGW_ERR_IPTABLES';

/** Fixed parts of the tree and tuning; see the file comment. */
export const SHAPING_DEFAULTS = Object.freeze({
  /** Our mangle chain, hooked into POSTROUTING. */
  chain: 'P2PGW_TC',
  /** Major number of the root HTB qdisc (CLASSIFY targets `1:<mark>`). */
  major: 1,
  /** Minor of the link class (parent of all others). */
  linkMinor: 0xffff,
  /** Minor of the default class (HTB `default`). */
  defaultMinor: 0xfffe,
  /** HTB burst/cburst as time at rate/ceil, µs (as sqm-scripts do), at least `minBurstBytes`. */
  burstUs: 1000,
  minBurstBytes: 1600,
  /** HTB quantum = rate / r2q (r2q 10, tc-htb(8)), kept within [1600, 200000] bytes. */
  r2q: 10,
  /** bfifo leaf limit: this much queueing at the class's ceil, ms, at least `minFifoBytes` (3 GSO packets). */
  fifoMs: 100,
  minFifoBytes: 3 * 65536,
});

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
const cid = (minor: number): string => `${SHAPING_DEFAULTS.major}:${hex(minor)}`;
const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

function missing(f: TcFeature, extra = ''): P2pgwError {
  return new P2pgwError('P2PGW_ERR_MISSING_FEATURE', `the kernel lacks the ${featureHint(f)}${extra}`);
}

function chooseLeaf(pref: ShapingConfig['leaf'], s: TcSupport | undefined, notices: string[]): LeafKind {
  const has = (k: QdiscKind): boolean => (s ? hasFeature(s, k) !== false : true);
  if (pref && pref !== 'auto') {
    if (!has(pref)) throw missing(pref, `, which shaping.leaf asks for; set shaping.leaf: auto`);
    return pref;
  }
  for (const k of ['fq_codel', 'sfq', 'bfifo', 'pfifo'] as const) {
    if (!has(k)) continue;
    if (k !== 'fq_codel') {
      const gone = (['fq_codel', 'sfq'] as const).filter((g) => g !== k && !has(g)).slice(0, k === 'sfq' ? 1 : 2);
      notices.push(
        `leaf queues: ${gone.map((g) => featureHint(g)).join(' and ')} ${gone.length > 1 ? 'are' : 'is'} not available; using ${k}` +
          (k === 'bfifo' ? ` (tail drop, up to ${SHAPING_DEFAULTS.fifoMs} ms of queue at each class's ceil; no per-flow fairness)` : ''),
      );
    }
    return k;
  }
  throw missing('bfifo');
}

function chooseClassifier(pref: ShapingConfig['classifier'], s: TcSupport | undefined, notices: string[]): 'classify' | 'fw' {
  const cls = s ? hasFeature(s, 'CLASSIFY') !== false : true;
  const fw = s ? hasFeature(s, 'fw') !== false : true;
  if (pref === 'classify' && !cls) throw missing('CLASSIFY', `; set shaping.classifier: fw if the kernel has cls_fw`);
  if (pref === 'fw' && !fw) throw missing('fw', '; set shaping.classifier: classify');
  if (pref === 'classify' || pref === 'fw') return pref;
  if (cls) return 'classify';
  if (fw) {
    notices.push(`classifier: ${featureHint('CLASSIFY')} is not available; using MARK --set-mark in ${'mangle POSTROUTING'} and the tc fw filter`);
    return 'fw';
  }
  throw new P2pgwError('P2PGW_ERR_MISSING_FEATURE', `shaping needs either the ${featureHint('CLASSIFY')} or the ${featureHint('fw')}; the kernel has neither`);
}

function leafArgs(kind: LeafKind, ceilBps: number): string[] {
  const D = SHAPING_DEFAULTS;
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
  const D = SHAPING_DEFAULTS;
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

/**
 * Computes the shaping setup (pure: no system access). `support` (from detectQdiscSupport) decides
 * the leaf queue and classifier; without it fq_codel and CLASSIFY are assumed.
 * Rates: application ceil defaults to its rate (HTB semantics); rates and ceils above the link rate
 * are lowered to it (notice); an oversubscribed link (Σ rates > link) is a notice.
 * @throws ShapeError (P2PGW_ERR_CONFIG) with the key path: bad rate or unit, rate > ceil, bad or
 *   duplicate interface, no interface, a shaped mark outside 0x1–0xfffd or used twice
 * @throws P2pgwError P2PGW_ERR_MISSING_FEATURE when `support` says HTB, or every usable leaf queue or
 *   classifier, is missing (naming the kernel option, module and OpenWrt package)
 */
export function planShaping(input: { shaping: ShapingConfig; apps: readonly ShapedApp[] }, support?: TcSupport): ShapingPlan {
  const cfg = input.shaping ?? {};
  const D = SHAPING_DEFAULTS;
  const notices: string[] = [];
  const chain = cfg.chain ?? D.chain;
  try {
    validateRuleOptions({ chain, queueNum: 0, classifyPackets: 1, blocked: [] });
  } catch (e) {
    throw new ShapeError('shaping.chain', (e as Error).message);
  }
  const ifaces = (['wan', 'lan'] as const).filter((r) => cfg[r] !== undefined && cfg[r] !== null);
  if (ifaces.length === 0) throw new ShapeError('shaping', 'set shaping.wan and/or shaping.lan ({dev, rate}) to shape traffic');
  if (support && hasFeature(support, 'htb') === false) throw missing('htb', '; HTB is required for shaping');
  const leaf = chooseLeaf(cfg.leaf, support, notices);
  const classifier = chooseClassifier(cfg.classifier, support, notices);

  const apps: { name: string; mark: number; rate: number; ceil: number }[] = [];
  const seen = new Map<number, string>();
  for (const a of input.apps) {
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
    apps.push({ name: a.name, mark: a.mark, rate, ceil });
  }
  apps.sort((x, y) => x.mark - y.mark);
  const defRate = cfg.default?.rate === undefined ? null : parseRate(cfg.default.rate, 'shaping.default.rate');
  const defCeil = cfg.default?.ceil === undefined ? null : parseRate(cfg.default.ceil, 'shaping.default.ceil');
  if (defRate !== null && defCeil !== null && defRate > defCeil) {
    throw new ShapeError('shaping.default', `rate ${formatRate(defRate)} is above ceil ${formatRate(defCeil)}`);
  }

  const devices: DevicePlan[] = [];
  const usedDevs = new Map<string, string>();
  for (const role of ifaces) {
    const i = cfg[role]!;
    const dev = checkDev(i.dev, `shaping.${role}.dev`);
    if (usedDevs.has(dev)) throw new ShapeError(`shaping.${role}.dev`, `${dev} is already shaping.${usedDevs.get(dev)}.dev: WAN and LAN need different interfaces`);
    usedDevs.set(dev, role);
    if (i.rate === undefined) throw new ShapeError(`shaping.${role}.rate`, `the link rate of ${dev} is required (e.g. 100mbit)`);
    const link = parseRate(i.rate, `shaping.${role}.rate`);
    const base = ['tc', 'class', 'replace', 'dev', dev];
    const classes: ClassPlan[] = [
      { classid: cid(D.linkMinor), minor: D.linkMinor, role: 'link', app: null, mark: null, rateBps: link, ceilBps: link,
        cmd: [...base, 'parent', `${D.major}:`, 'classid', cid(D.linkMinor), ...htbArgs(link, link)], leafCmd: null },
    ];
    const leafCmd = (minor: number, ceil: number): string[] => ['tc', 'qdisc', 'replace', 'dev', dev, 'parent', cid(minor), ...leafArgs(leaf, ceil)];
    let sum = 0;
    for (const a of apps) {
      let { rate, ceil } = a;
      if (ceil > link) {
        notices.push(`${dev}: ${a.name} ceil ${formatRate(ceil)} is above the link rate ${formatRate(link)}; using ${formatRate(link)}`);
        ceil = link;
        rate = Math.min(rate, link);
      }
      sum += rate;
      classes.push({ classid: cid(a.mark), minor: a.mark, role: 'app', app: a.name, mark: a.mark, rateBps: rate, ceilBps: ceil,
        cmd: [...base, 'parent', cid(D.linkMinor), 'classid', cid(a.mark), ...htbArgs(rate, ceil)], leafCmd: leafCmd(a.mark, ceil) });
    }
    let dCeil = defCeil ?? link;
    if (dCeil > link) {
      notices.push(`${dev}: default ceil ${formatRate(dCeil)} is above the link rate ${formatRate(link)}; using ${formatRate(link)}`);
      dCeil = link;
    }
    let dRate = defRate ?? link - sum;
    if (defRate === null && dRate < Math.max(8000, link / 100)) {
      dRate = Math.max(8000, Math.round(link / 100));
      notices.push(`${dev}: the applications' rates (${formatRate(sum)}) leave nothing of the link (${formatRate(link)}); the default class gets ${formatRate(dRate)}`);
    }
    dRate = Math.min(dRate, dCeil);
    if (sum + dRate > link) {
      notices.push(`${dev}: guaranteed rates (${formatRate(sum + dRate)}) exceed the link rate ${formatRate(link)}; HTB cannot honour them all under load`);
    }
    classes.push({ classid: cid(D.defaultMinor), minor: D.defaultMinor, role: 'default', app: null, mark: null, rateBps: dRate, ceilBps: dCeil,
      cmd: [...base, 'parent', cid(D.linkMinor), 'classid', cid(D.defaultMinor), ...htbArgs(dRate, dCeil)], leafCmd: leafCmd(D.defaultMinor, dCeil) });
    const filterCmds = classifier === 'fw'
      ? apps.map((a) => ['tc', 'filter', 'replace', 'dev', dev, 'parent', `${D.major}:`, 'protocol', 'all', 'prio', '1', 'handle', `0x${hex(a.mark)}`, 'fw', 'classid', cid(a.mark)])
      : [];
    devices.push({
      role, dev, direction: role === 'wan' ? 'upload' : 'download', linkBps: link,
      rootCmd: ['tc', 'qdisc', 'replace', 'dev', dev, 'root', 'handle', `${D.major}:`, 'htb', 'default', hex(D.defaultMinor)],
      classes, filterCmds,
    });
  }
  const rules: string[][] = [];
  for (const d of devices) {
    for (const a of apps) {
      const target = classifier === 'classify' ? ['CLASSIFY', '--set-class', cid(a.mark)] : ['MARK', '--set-mark', `0x${hex(a.mark)}`];
      rules.push(['-A', chain, '-o', d.dev, '-m', 'connmark', '--mark', `0x${hex(a.mark)}`, '-j', ...target]);
    }
  }
  const commands = devices.flatMap((d) => [d.rootCmd, ...d.classes.map((c) => c.cmd), ...d.classes.flatMap((c) => (c.leafCmd ? [c.leafCmd] : [])), ...d.filterCmds]);
  return { devices, commands, iptables: { table: 'mangle', hook: 'POSTROUTING', chain, rules }, classifier, leaf, notices };
}

// ---------------------------------------------------------------------------------------------
// Applying and removing.

/** Options of applyShaping/removeShaping: where to act, and the iptables backend (default: detected). */
export interface ShapingRunOpts extends NetnsOpt {
  backend?: Backend;
  /** Families for our chain (default backend.families). */
  families?: Family[];
}

const tcBin = (): string => which('tc') ?? 'tc';
const runTc = (argv: readonly string[], netns?: string): Promise<RunResult> => run([tcBin(), ...argv.slice(argv[0] === 'tc' ? 1 : 0)], { netns, timeoutMs: 15_000 });

/** Turns a failed tc command into an error naming the missing feature when that is the cause. */
export function tcError(r: RunResult, what: string): P2pgwError {
  const msg = `${what} failed (exit ${r.code}): ${r.cmd}\n${r.stderr.trim()}`;
  if (r.code === 127) return new P2pgwError('P2PGW_ERR_MISSING_FEATURE', `${msg}\n(tc could not be started: install iproute2; OpenWrt: tc-full or tc-tiny)`);
  const kind = /qdisc kind is unknown|Unknown qdisc/i.test(r.stderr)
    ? (['fq_codel', 'sfq', 'bfifo', 'pfifo', 'htb', 'tbf'] as const).find((k) => r.cmd.split(' ').includes(k))
    : undefined;
  if (kind) return missing(kind, `: ${msg}`);
  if (/classifier not found|Unknown filter/i.test(r.stderr)) return missing('fw', `: ${msg}`);
  if (/Cannot find device/i.test(r.stderr)) return new P2pgwError(TC_ERR, `${msg}\n(no such interface: check shaping.wan.dev / shaping.lan.dev)`);
  return new P2pgwError(TC_ERR, msg);
}

/** Root qdisc of `dev`: kind and handle (`htb`, `1:`), or null when the device does not exist. */
async function rootQdisc(dev: string, netns?: string): Promise<{ kind: string; handle: string } | null> {
  const r = await runTc(['qdisc', 'show', 'dev', dev, 'root'], netns);
  if (r.code !== 0) return null;
  const m = /^qdisc (\S+) (\S+) root/m.exec(r.stdout);
  return m ? { kind: m[1], handle: m[2] } : { kind: 'noqueue', handle: '0:' };
}

/** Is the tree on `dev` ours (root htb 1: holding our link class 1:ffff)? */
async function isOurs(dev: string, netns?: string): Promise<{ ours: boolean; root: { kind: string; handle: string } | null; classes: ClassStats[] }> {
  const root = await rootQdisc(dev, netns);
  if (!root || root.kind !== 'htb' || root.handle !== `${SHAPING_DEFAULTS.major}:`) return { ours: false, root, classes: [] };
  const r = await runTc(['class', 'show', 'dev', dev], netns);
  const classes = r.code === 0 ? parseClassStats(r.stdout) : [];
  return { ours: classes.some((c) => c.classid === cid(SHAPING_DEFAULTS.linkMinor) && c.parent === null), root, classes };
}

async function must(argv: readonly string[], what: string, netns?: string): Promise<void> {
  const r = await runTc(argv, netns);
  if (r.code !== 0) throw tcError(r, what);
}

const ipt = (b: Backend, f: Family): { ipt: string; save: string; restore: string } =>
  f === 4 ? { ipt: b.iptables, save: b.save, restore: b.restore } : { ipt: b.ip6tables, save: b.save6, restore: b.restore6 };

async function chainState(b: Backend, f: Family, chain: string, netns?: string): Promise<{ exists: boolean; jumps: number }> {
  const r = await run([ipt(b, f).save, '-t', 'mangle'], { netns });
  if (r.code !== 0) throw new P2pgwError('P2PGW_ERR_IPTABLES', `reading the IPv${f} mangle table failed (exit ${r.code}): ${r.cmd}\n${r.stderr.trim()}`);
  const t = parseSave(r.stdout).get('mangle');
  const jump = `-A POSTROUTING -j ${chain}`;
  return { exists: t?.chains.has(chain) ?? false, jumps: t?.lines.filter((l) => l === jump).length ?? 0 };
}

async function installChain(plan: ShapingPlan, b: Backend, families: Family[], netns?: string): Promise<void> {
  const { chain, hook, rules } = plan.iptables;
  for (const f of families) {
    const st = await chainState(b, f, chain, netns);
    for (let i = 1; i < st.jumps; i++) await run([ipt(b, f).ipt, '-w', '-t', 'mangle', '-D', hook, '-j', chain], { netns });
    const input = renderRestore([{ table: 'mangle', hook, rules }], chain, new Set(st.exists && st.jumps > 0 ? [] : ['mangle' as const]));
    const r = await run([ipt(b, f).restore, '-w', '--noflush'], { netns, input });
    if (r.code === 0) continue;
    if (/CLASSIFY/.test(r.stderr) || (/Couldn't load target|No chain\/target\/match/i.test(r.stderr) && plan.classifier === 'classify')) {
      throw missing('CLASSIFY', ` (IPv${f}): ${r.cmd}\n${r.stderr.trim()}\n(set shaping.classifier: fw if the kernel has cls_fw)`);
    }
    throw diagnose(r, input, b, f);
  }
}

async function removeChain(chain: string, b: Backend, families: Family[], netns?: string): Promise<void> {
  for (const f of families) {
    const st = await chainState(b, f, chain, netns);
    for (let i = 0; i < st.jumps + 1; i++) {
      const c = await run([ipt(b, f).ipt, '-w', '-t', 'mangle', '-C', 'POSTROUTING', '-j', chain], { netns });
      if (c.code !== 0) break;
      const d = await run([ipt(b, f).ipt, '-w', '-t', 'mangle', '-D', 'POSTROUTING', '-j', chain], { netns });
      if (d.code !== 0) throw new P2pgwError('P2PGW_ERR_IPTABLES', `removing the jump to ${chain} failed: ${d.cmd}\n${d.stderr.trim()}`);
    }
    if (!st.exists) continue;
    for (const op of ['-F', '-X']) {
      const r = await run([ipt(b, f).ipt, '-w', '-t', 'mangle', op, chain], { netns });
      if (r.code !== 0) throw new P2pgwError('P2PGW_ERR_IPTABLES', `${op === '-F' ? 'flushing' : 'deleting'} chain ${chain} failed: ${r.cmd}\n${r.stderr.trim()}`);
    }
  }
}

/**
 * Installs a plan: per device the HTB tree (created, or updated in place when ours is already there:
 * classes and leaves replaced, stale classes and filters removed; a foreign root qdisc is replaced,
 * with a notice), then our mangle chain and its POSTROUTING jump (via iptables-restore --noflush, as
 * iptables.ts does). Idempotent. A failure during a first install removes what it added.
 * Resolves with notices (replaced foreign qdiscs) to log.
 * @throws P2pgwError P2PGW_ERR_MISSING_FEATURE naming the kernel feature (qdisc, classifier,
 *   CLASSIFY) and how to get it; P2PGW_ERR_IPTABLES for other tc/iptables failures (command and stderr)
 */
export async function applyShaping(plan: ShapingPlan, opts: ShapingRunOpts = {}): Promise<string[]> {
  const { netns } = opts;
  const backend = opts.backend ?? (await detectBackend('auto', { netns }));
  const families = opts.families ?? backend.families;
  const notices: string[] = [];
  const fresh: string[] = [];
  let chainExisted = true;
  try {
    for (const d of plan.devices) {
      const st = await isOurs(d.dev, netns);
      if (!st.root) throw new P2pgwError(TC_ERR, `shaping: no interface ${d.dev}${netns ? ` in namespace ${netns}` : ''} (shaping.${d.role}.dev)`);
      if (!st.ours) {
        if (!['noqueue', 'pfifo_fast', 'mq', 'fq_codel', 'pfifo', 'noop'].includes(st.root.kind) || st.root.handle !== '0:') {
          notices.push(`${d.dev}: replacing the existing root qdisc ${st.root.kind} ${st.root.handle} with p2pgw's HTB tree`);
        }
        if (st.root.handle !== '0:') await runTc(['qdisc', 'del', 'dev', d.dev, 'root'], netns);
        fresh.push(d.dev);
        await must(d.rootCmd, `creating the HTB root on ${d.dev}`, netns);
      } else {
        // Ours already: drop filters (re-added below) and classes the plan no longer has.
        await runTc(['filter', 'del', 'dev', d.dev, 'parent', `${SHAPING_DEFAULTS.major}:`], netns);
        const want = new Set(d.classes.map((c) => c.classid));
        for (const c of st.classes.filter((x) => !want.has(x.classid)).sort((x, y) => (x.parent === null ? 1 : 0) - (y.parent === null ? 1 : 0))) {
          await must(['tc', 'class', 'del', 'dev', d.dev, 'classid', c.classid], `removing stale class ${c.classid} on ${d.dev}`, netns);
        }
      }
      for (const c of d.classes) await must(c.cmd, `setting class ${c.classid} (${c.app ?? c.role}) on ${d.dev}`, netns);
      for (const c of d.classes) if (c.leafCmd) await must(c.leafCmd, `setting the ${plan.leaf} leaf of ${c.classid} on ${d.dev}`, netns);
      for (const f of d.filterCmds) await must(f, `adding the fw filter on ${d.dev}`, netns);
    }
    chainExisted = (await chainState(backend, families[0] ?? 4, plan.iptables.chain, netns)).exists;
    await installChain(plan, backend, families, netns);
  } catch (err) {
    for (const dev of fresh) await runTc(['qdisc', 'del', 'dev', dev, 'root'], netns);
    if (!chainExisted) await removeChain(plan.iptables.chain, backend, families, netns).catch(() => undefined);
    throw err;
  }
  return notices;
}

/**
 * Removes our chain (jumps first) and our HTB tree from each of `devs` (only a root that is ours:
 * htb 1: with class 1:ffff; the kernel then restores the default qdisc). Idempotent; missing devices
 * are skipped. Best effort: goes on after an error and throws the first one.
 */
export async function removeShaping(opts: ShapingRunOpts & { devs: readonly string[]; chain?: string }): Promise<void> {
  const { netns } = opts;
  const errors: Error[] = [];
  try {
    const backend = opts.backend ?? (await detectBackend('auto', { netns }));
    await removeChain(opts.chain ?? SHAPING_DEFAULTS.chain, backend, opts.families ?? backend.families, netns);
  } catch (e) {
    errors.push(e as Error);
  }
  for (const dev of opts.devs) {
    try {
      if ((await isOurs(dev, netns)).ours) await must(['tc', 'qdisc', 'del', 'dev', dev, 'root'], `removing the HTB tree of ${dev}`, netns);
    } catch (e) {
      errors.push(e as Error);
    }
  }
  if (errors.length) throw errors[0];
}

/** A class's counters with what it stands for. */
export interface ShapingClassStats extends ClassStats {
  dev: string;
  role: 'link' | 'default' | 'app' | 'other';
  /** Application name for app classes (from `apps`), else null. */
  app: string | null;
}

/**
 * Per-class counters of `dev` for `p2pgw status`: runs `tc -s -j class show dev <dev>` (JSON or
 * text, see parseClassStats) and labels our classes (1:ffff link, 1:fffe default, 1:<mark> the
 * application with that mark in `apps`). Bytes and packets are cumulative since the class was made.
 * @throws P2pgwError when tc fails (e.g. no such device), MISSING_FEATURE when tc is not installed
 */
export async function readClassStats(dev: string, opts: NetnsOpt & { apps?: readonly { name: string; mark: number }[] } = {}): Promise<ShapingClassStats[]> {
  const r = await runTc(['-s', '-j', 'class', 'show', 'dev', dev], opts.netns);
  if (r.code !== 0) throw tcError(r, `reading the classes of ${dev}`);
  const names = new Map((opts.apps ?? []).map((a) => [a.mark, a.name]));
  const D = SHAPING_DEFAULTS;
  return parseClassStats(r.stdout).map((c) => {
    const ourMajor = c.classid.startsWith(`${D.major}:`);
    const role = !ourMajor ? 'other' : c.minor === D.linkMinor ? 'link' : c.minor === D.defaultMinor ? 'default' : names.has(c.minor) ? 'app' : 'other';
    return { ...c, dev, role, app: role === 'app' ? names.get(c.minor)! : null };
  });
}
