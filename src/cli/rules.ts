/**
 * `p2pgw rules [--config FILE]`: lists the applications of the config as a table on stdout: name,
 * mark (hex), action, L4 protocols and number of signatures.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { APPS } from '../apps/registry.js';
import { loadConfig } from '../config/load.js';
import { buildClassifier } from '../runtime/setup.js';

/** The options of `p2pgw rules`. */
export const RULES_OPTIONS = {
  config: { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

/**
 * Runs `p2pgw rules`.
 * @param argv arguments after `rules`
 * @returns exit code 0
 * @throws ConfigError / RulesError / P2pgwError(P2PGW_ERR_PATTERN) for an invalid config or rules
 */
export function rulesMain(argv: string[]): number {
  const { values } = parseArgs({ args: argv, options: RULES_OPTIONS });
  const cfg = loadConfig(values.config, APPS.map((a) => a.name));
  const { classifier } = buildClassifier(cfg);
  const rows = classifier.apps.map((a) => [
    a.desc.name,
    `0x${a.mark.toString(16)}`,
    a.action,
    a.desc.l4.join(','),
    String(classifier.sigs.filter((s) => s.app === a.desc.name).length),
  ]);
  const head = ['app', 'mark', 'action', 'l4', 'signatures'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd();
  process.stdout.write([line(head), ...rows.map(line)].join('\n') + '\n');
  return 0;
}
