/**
 * `p2pgw <command> --help` for the subcommands whose options table has no `help` option of its
 * own: the command's lines of the top-level help, then every option of its table (the one place
 * where its options are declared), with its value, short form, repeatability and default.
 */
import type { ParseArgsOptionsConfig } from 'node:util';
import { EXIT_CODES, HELP } from './help.js';

/** The lines of `name` in the top-level help's command list (usage and summary), unindented. */
export function commandBlock(name: string): string[] {
  const lines = HELP.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`  ${name} `) || l === `  ${name}`);
  if (start < 0) return [`p2pgw ${name}`];
  const out = [lines[start].slice(2)];
  for (let i = start + 1; i < lines.length && /^ {4,}\S/.test(lines[i]); i++) out.push(lines[i].slice(2));
  return out;
}

/** One line per option: `--name VALUE` / `-s, --name`, `(repeatable)`, `(default …)`. */
export function optionLines(options: ParseArgsOptionsConfig): string[] {
  return Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ' VALUE' : ''}`;
    const notes = [o.multiple ? 'repeatable' : '', o.default !== undefined && o.default !== false ? `default ${JSON.stringify(o.default)}` : '']
      .filter(Boolean)
      .join('; ');
    return `  ${flag}${notes ? `  (${notes})` : ''}`;
  });
}

/**
 * The help text of subcommand `name` with options table `options`.
 * @returns text ending in a newline
 */
export function commandHelp(name: string, options: ParseArgsOptionsConfig): string {
  const opts = optionLines(options);
  return [
    `Usage: p2pgw ${commandBlock(name).join('\n  ')}`,
    '',
    'Options:',
    ...opts,
    '  -h, --help  this help',
    '',
    `Exit codes: ${EXIT_CODES}`,
    '',
  ].join('\n');
}
