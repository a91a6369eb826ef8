/**
 * `p2pgw replay <capture>... [--config FILE] [--flows PATH|-] [--verify-checksums]
 * [--log-level LEVEL] [--export-pcap DIR] [--ipfix HOST:PORT]`: runs the live pipeline over
 * pcap/pcapng files (src/runtime/replay.ts). Flow records (JSON Lines) go to `--flows` (`-`:
 * stdout), and as IPFIX to `--ipfix` (or the config's `flow_export.collector`); log lines, with a
 * final `replay done` (flows, per-application counts, counters), go to stderr.
 */
import fs from 'node:fs';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { APPS } from '../apps/registry.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../observe/log.js';
import { usage } from './help.js';
import { P2pgwError } from '../core/errors.js';
import { openOutputFile } from '../core/files.js';

/** The options of `p2pgw replay`. */
export const REPLAY_OPTIONS = {
  config: { type: 'string' },
  flows: { type: 'string' },
  'verify-checksums': { type: 'boolean', default: false },
  'log-level': { type: 'string' },
  'export-pcap': { type: 'string' },
  ipfix: { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

/**
 * Runs `p2pgw replay`.
 * @param argv arguments after `replay`
 * @returns exit code 0
 * @throws P2pgwError(P2PGW_ERR_USAGE) without captures; ConfigError / RulesError; P2pgwError
 *   (P2PGW_ERR_CAPTURE_FORMAT) for an unreadable capture; P2pgwError(P2PGW_ERR_USAGE) for a
 *   `--flows` file that cannot be written or an `--ipfix` that is not HOST:PORT; P2pgwError
 *   (P2PGW_ERR_IPFIX) when flow records could not all be exported (after `replay done`)
 */
export async function replayMain(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: REPLAY_OPTIONS });
  if (!positionals.length) usage('replay: name at least one capture file');
  const cfg = loadConfig(values.config, APPS.map((a) => a.name));
  if (values['log-level']) cfg.log.level = values['log-level'];
  const { logger } = createLogger({ ...cfg.log, dest: 'stderr' }, 'replay');
  const { replayFiles } = await import('../runtime/replay.js');
  let out: fs.WriteStream | NodeJS.WriteStream | null = null;
  if (values.flows === '-') out = process.stdout;
  else if (values.flows) {
    const file = values.flows;
    const fd = openOutputFile(file, false, 0o644, (why) => new P2pgwError('P2PGW_ERR_USAGE', `--flows ${file}: cannot write: ${why}`));
    out = fs.createWriteStream(file, { fd });
  }
  const { records, counters, closed } = replayFiles(positionals, {
    config: cfg,
    verifyChecksums: values['verify-checksums'],
    exportPcap: values['export-pcap'],
    ipfix: values.ipfix,
    logger,
    onRecord: (r) => out?.write(`${JSON.stringify(r)}\n`),
  });
  await closed;
  const byApp = new Map<string, number>();
  for (const r of records) byApp.set(r.app ?? '(unclassified)', (byApp.get(r.app ?? '(unclassified)') ?? 0) + 1);
  logger.info({ flows: records.length, apps: Object.fromEntries(byApp), counters: counters.snapshot() }, 'replay done');
  if (out && out !== process.stdout) await new Promise<void>((r) => (out as fs.WriteStream).end(r));
  const lost = counters.get('ipfix_dropped');
  if (lost) {
    const to = values.ipfix ?? cfg.flowExport.collector;
    throw new P2pgwError('P2PGW_ERR_IPFIX', `IPFIX export to ${to} (${cfg.flowExport.transport}): ${lost} flow record(s) not sent (is the collector listening?)`);
  }
  return 0;
}
