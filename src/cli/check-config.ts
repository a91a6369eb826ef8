/**
 * `p2pgw check-config [FILE]`: validates a config file (default: the bundled one) with every check
 * `p2pgw run` makes at start-up (src/runtime/preflight.ts: rules and marks, keyword lists, scan
 * databases, the audit directory, the flow log, rule options and shaping with the real marks),
 * touching nothing. Prints one line on stdout: `<file>: ok (N applications, S signatures from R
 * rules file(s); blocked: …)`, after the notices `run` would log (stderr); a problem is one
 * `p2pgw: …` line on stderr and a non-zero exit.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { APPS } from '../apps/registry.js';
import { loadConfig } from '../config/load.js';
import { preflight } from '../runtime/preflight.js';

/** The options of `p2pgw check-config` (none; one optional positional FILE). */
export const CHECK_CONFIG_OPTIONS = {} as const satisfies ParseArgsOptionsConfig;

/**
 * Runs `p2pgw check-config`.
 * @param argv arguments after `check-config`
 * @returns exit code 0
 * @throws ConfigError / RulesError / P2pgwError (PATTERN, CONFIG, UNSAFE_PATH, IPTABLES) for the
 *   first check that fails, as `run` would
 */
export function checkConfigMain(argv: string[]): number {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: CHECK_CONFIG_OPTIONS });
  const cfg = loadConfig(positionals[0], APPS.map((a) => a.name));
  const { rules, classifier, notices } = preflight(cfg);
  for (const n of notices) process.stderr.write(`p2pgw: notice: ${n}\n`);
  const blocked = classifier.apps.filter((a) => a.action === 'block').map((a) => a.desc.name);
  process.stdout.write(
    `${cfg.file}: ok (${classifier.apps.length} applications, ${rules.sigs.length} signatures from ${rules.files.length} rules file(s); blocked: ${blocked.join(', ') || 'none'})\n`,
  );
  return 0;
}
