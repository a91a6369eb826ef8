/**
 * Builds the shared pieces from an effective config: rules, classifier and pipeline options.
 * Used by `run`, `replay` and the tests so they cannot drift apart.
 */
import { APPS } from '../apps/registry.js';
import { loadRules, type RuleSet } from '../apps/rules.js';
import { Classifier } from '../apps/classifier.js';
import type { EffectiveConfig } from '../config/load.js';
import { checkMarks } from '../config/marks.js';
import type { PipelineOptions } from './pipeline.js';
import type { ContentSetup } from '../content/setup.js';

/**
 * Loads the rules named by the config, checks that their marks and the config's do not collide
 * (src/config/marks.ts) and compiles the classifier.
 * @throws RulesError (file:line: problem), ConfigError (a mark collision) or P2pgwError(P2PGW_ERR_PATTERN)
 */
export function buildClassifier(cfg: EffectiveConfig): { rules: RuleSet; classifier: Classifier } {
  const rules = loadRules(cfg.rulesDir, APPS.map((a) => a.name));
  checkMarks(cfg, rules);
  const classifier = new Classifier(APPS, rules, { packets: cfg.classify.packets, bytes: cfg.classify.bytes }, cfg.apps);
  return { rules, classifier };
}

/**
 * Pipeline options from the config. `verifyChecksums` differs between live and replay; `content`
 * (from buildContent) enables content inspection of applications whose action is `inspect`.
 */
export function pipelineOptions(cfg: EffectiveConfig, verifyChecksums: boolean, content?: ContentSetup): PipelineOptions {
  return {
    classifyPackets: cfg.classify.packets,
    unknownMark: cfg.classify.unknownMark,
    verifyChecksums,
    flow: cfg.flow,
    reassembly: cfg.reassembly,
    endpoints: cfg.endpoints,
    hostHeuristics: cfg.hostHeuristics.enabled ? cfg.hostHeuristics : null,
    inspect: content?.inspect,
  };
}
