/**
 * `p2pgw check-config [FILE]`: validates a config file (default: the bundled one) and the rules it
 * names, touching nothing. Prints one line on stdout: `<file>: ok (N applications, S signatures
 * from R rules file(s); blocked: …)`.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { APPS } from '../apps/registry.js';
import { loadConfig } from '../config/load.js';
import { buildClassifier } from '../runtime/setup.js';

/** The options of `p2pgw check-config` (none; one optional positional FILE). */
export const CHECK_CONFIG_OPTIONS = {} as const satisfies ParseArgsOptionsConfig;

/**
 * Runs `p2pgw check-config`.
 * @param argv arguments after `check-config`
 * @returns exit code 0
 * @throws ConfigError / RulesError / P2pgwError(P2PGW_ERR_PATTERN) for an invalid config or rules
 */
export function checkConfigMain(argv: string[]): number {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: CHECK_CONFIG_OPTIONS });
  const cfg = loadConfig(positionals[0], APPS.map((a) => a.name));
  const { rules, classifier } = buildClassifier(cfg);
  const blocked = classifier.apps.filter((a) => a.action === 'block').map((a) => a.desc.name);
  process.stdout.write(
    `${cfg.file}: ok (${classifier.apps.length} applications, ${rules.sigs.length} signatures from ${rules.files.length} rules file(s); blocked: ${blocked.join(', ') || 'none'})\n`,
  );
  return 0;
}
