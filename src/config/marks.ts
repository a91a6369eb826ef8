/**
 * Connmark collisions between the config and the rules: every application's effective mark (its
 * `apps.<name>.mark` override, else its `app` line), `classify.unknown_mark` (unless 0 = leave
 * unmarked) and `inspect.kill_mark` must all differ. A shared mark gives one connection another's
 * verdict: with `unknown_mark` equal to a blocked application's mark, every unclassified
 * connection is blocked. Checked wherever the config and the rules are combined
 * (src/runtime/setup.ts buildClassifier: `check-config`, `run` start and reload, `replay`).
 *
 * Every mark must also fit in `iptables.mark_mask` (the bits of the mark that are ours; the rest
 * belong to other tools such as mwan3): a mark with a bit outside it could not be matched, saved
 * or restored by our rules.
 */
import { DEFAULTS } from '../core/defaults.js';
import { ConfigError, RulesError } from '../core/errors.js';
import type { RuleSet } from '../apps/rules.js';
import type { EffectiveConfig } from './load.js';

/** One user of a mark and where its value comes from. */
interface Holder {
  mark: number;
  /** What gets the mark, e.g. `application 'bittorrent'`, `unclassified connections`. */
  what: string;
  /** A config key (line null: not set in the file) or a rules file's `app` line. */
  from: { key: string; line: number | null; isDefault: boolean } | { rulesFile: string; line: number };
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** 2: a key the file sets, 1: a rules line, 0: a default. The error points at the higher one. */
const rank = (h: Holder): number => ('rulesFile' in h.from ? 1 : h.from.isDefault ? 0 : 2);
const lineOfHolder = (h: Holder): number => h.from.line ?? 0;

/** Where a holder's mark comes from, as the other side of a collision names it. */
function where(h: Holder, cfgName: string): string {
  const f = h.from;
  if ('rulesFile' in f) return `${f.rulesFile}:${f.line}`;
  if (f.line !== null) return `${f.key}, line ${f.line}`;
  return f.isDefault ? `${f.key}, the default; not set in ${cfgName}` : f.key;
}

/** The marks in use: applications (in rules order), then unknown_mark, then kill_mark. */
function holders(cfg: EffectiveConfig, rules: RuleSet): Holder[] {
  const lines = cfg.origin?.lines ?? {};
  const key = (k: string, isDefault: boolean) => ({ key: k, line: lines[k] ?? null, isDefault: lines[k] === undefined && isDefault });
  const out: Holder[] = [];
  for (const [name, r] of rules.apps) {
    const o = cfg.apps[name]?.mark;
    const what = `application '${name}'`;
    if (o !== undefined) out.push({ mark: o, what, from: key(`apps.${name}.mark`, false) });
    else out.push({ mark: r.mark, what, from: { rulesFile: r.file, line: r.line } });
  }
  const { unknownMark } = cfg.classify;
  out.push({ mark: unknownMark, what: 'unclassified connections', from: key('classify.unknown_mark', unknownMark === DEFAULTS.classify.unknownMark) });
  const { killMark } = cfg.inspect;
  out.push({ mark: killMark, what: 'connections reset by content inspection', from: key('inspect.kill_mark', killMark === DEFAULTS.inspect.killMark) });
  // Mark 0 is "no mark" (an application without one, unknown_mark 0 = leave unmarked): never a collision.
  return out.filter((h) => h.mark !== 0);
}

/**
 * Refuses a config whose marks collide with each other or with the rules' (see the file comment).
 * The error points at the side the owner most likely changed: a key the config file sets (the
 * later line when both are), else the rules file's `app` line, and names the other side.
 * @throws ConfigError `<file>: <key path> (line N): mark 0x1 for … is also the mark of …`, or
 *   RulesError `<rules file>:<line>: mark 0xff for application '…' is also the mark of …` when the
 *   other side is a default the config file does not set
 */
export function checkMarks(cfg: EffectiveConfig, rules: RuleSet): void {
  const cfgName = cfg.origin?.name ?? cfg.file;
  const all = holders(cfg, rules);
  checkMask(cfg, all, cfgName);
  const seen = new Map<number, Holder>();
  for (const h of all) {
    const other = seen.get(h.mark);
    if (!other) {
      seen.set(h.mark, h);
      continue;
    }
    const later = rank(h) > rank(other) || (rank(h) === rank(other) && lineOfHolder(h) >= lineOfHolder(other));
    const [at, them] = later ? [h, other] : [other, h];
    const reason =
      `mark ${hex(h.mark)} for ${at.what} is also the mark of ${them.what} (${where(them, cfgName)}); ` +
      'application marks, classify.unknown_mark and inspect.kill_mark must all differ';
    const f = at.from;
    if ('rulesFile' in f) throw new RulesError(f.rulesFile, f.line, reason);
    throw new ConfigError(cfgName, `${f.key}${f.line !== null ? ` (line ${f.line})` : ''}`, reason);
  }
}

/**
 * Every mark in use must fit in `iptables.mark_mask`.
 * @throws ConfigError at the mark's key (or at `iptables.mark_mask` when the mark is a default or
 *   comes from the rules and the file sets the mask), else RulesError at the rules line, naming the
 *   mark, its user and the mask
 */
function checkMask(cfg: EffectiveConfig, all: readonly Holder[], cfgName: string): void {
  const mask = cfg.iptables.markMask >>> 0;
  const h = all.find((x) => ((x.mark >>> 0) & ~mask) !== 0);
  if (!h) return;
  const maskLine = cfg.origin?.lines['iptables.mark_mask'] ?? null;
  const reason =
    `mark ${hex(h.mark)} for ${h.what} does not fit iptables.mark_mask ${hex(mask)}` +
    `${maskLine !== null ? ` (line ${maskLine})` : ' (the default; not set in the file)'}; every mark must use only the mask's bits (widen the mask or choose a smaller mark)`;
  const f = h.from;
  if ('rulesFile' in f || f.line === null) {
    if (maskLine !== null) throw new ConfigError(cfgName, `iptables.mark_mask (line ${maskLine})`, reason);
    if ('rulesFile' in f) throw new RulesError(f.rulesFile, f.line, reason);
    throw new ConfigError(cfgName, f.key, reason);
  }
  throw new ConfigError(cfgName, `${f.key} (line ${f.line})`, reason);
}
