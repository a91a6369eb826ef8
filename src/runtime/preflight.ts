/**
 * `p2pgw check-config` runs every check `p2pgw run` makes at start-up, with the same functions, and
 * touches nothing (issue 14, item 8): so a config `check-config` accepts does not fail `run` for a
 * reason that was knowable beforehand. What only the live system can tell (root, the NFQUEUE
 * binding, the kernel's iptables matches and qdiscs) stays with `run`.
 */
import type { RuleSet } from '../apps/rules.js';
import type { Classifier } from '../apps/classifier.js';
import type { EffectiveConfig } from '../config/load.js';
import { checkContent } from '../content/setup.js';
import { checkFlowLogOptions } from '../observe/flowlog.js';
import { checkEnforcement } from './enforcement.js';
import { buildClassifier } from './setup.js';

/** What the checks built, for the `ok` line. */
export interface PreflightResult {
  rules: RuleSet;
  classifier: Classifier;
  /** Start-up notices `run` would log (skipped signatures, …). */
  notices: string[];
}

/**
 * The start-up checks of `run`, in its order: rules, classifier and marks (boot: buildClassifier),
 * content inspection (keyword lists, scan databases, audit directory: checkContent, which
 * buildContent runs), the flow log (checkFlowLogOptions, which the FlowLog constructor runs), and the
 * rule options and shaping plan with the real marks (checkEnforcement; Enforcement.start runs the
 * same functions).
 * @param queueCount queues of `run --queues N` (1 for the single-process daemon)
 * @throws ConfigError / RulesError / P2pgwError (PATTERN, CONFIG, UNSAFE_PATH, IPTABLES) for the
 *   first problem found, as `run` would
 */
export function preflight(cfg: EffectiveConfig, queueCount = 1): PreflightResult {
  const { rules, classifier } = buildClassifier(cfg);
  const { virus } = checkContent(cfg);
  if (cfg.flowLog.dir) checkFlowLogOptions({ ...cfg.flowLog, dir: cfg.flowLog.dir });
  checkEnforcement(cfg, classifier, queueCount);
  return { rules, classifier, notices: virus?.notices ?? [] };
}
