/**
 * `p2pgw profile <flows.jsonl|capture>... [--json FILE|-] [--svg FILE] [--verify-checksums]`:
 * per-application traffic profile (flows/s, packets/s, mean packet size, packet-size distribution
 * in the bins 40–79 … 2560–5119 bytes). Captures give exact sizes (from packets, flows cut at 64 s
 * idle); flow-record files give approximate ones (each direction's mean size). See
 * src/observe/profile.ts.
 *
 * Output: the table on stdout (on stderr when `--json -` takes stdout), JSON (TrafficProfile) and
 * a self-contained SVG chart. Errors: usage errors throw P2pgwError('P2PGW_ERR_USAGE') (exit 2 in
 * main); capture format errors P2pgwError('P2PGW_ERR_CAPTURE_FORMAT').
 */
import fs from 'node:fs';
import { parseArgs, type ParseArgsConfig, type ParseArgsOptionsConfig } from 'node:util';
import { P2pgwError } from '../core/errors.js';
import { commonKind, readRecordFile } from '../tools/analyze/input.js';
import { profileCaptures, profileRecords, profileTable } from '../tools/profile.js';
import { profileSvg } from '../tools/analyze/charts.js';

export const PROFILE_HELP = `Usage: p2pgw profile <flows.jsonl|capture>... [--json FILE|-] [--svg FILE] [--verify-checksums]

Per-application traffic profile: flows started per second, packets per second, average packet
size and the packet-size distribution (40-79, 80-159, ..., 2560-5119 bytes of IP packet).
Capture files (pcap/pcapng) are replayed with 64 s flow timeouts and sized exactly from packets;
flow-record files (JSON Lines from \`p2pgw replay --flows\`) give approximate sizes (mean per
direction). Do not mix the two kinds.

Options:
  --json FILE|-        write the profile as JSON (- = stdout; the table then goes to stderr)
  --svg FILE           write a self-contained SVG chart of the distributions, one group per app
  --verify-checksums   drop packets with bad checksums while replaying captures
  -h, --help           this help
`;

/** The options of `p2pgw profile`. */
export const PROFILE_OPTIONS = {
  json: { type: 'string' },
  svg: { type: 'string' },
  'verify-checksums': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsOptionsConfig;

/** Where CLI output goes (tests pass their own). */
export interface CliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** Writes `text` to FILE, or to `io.stdout` for `-`. */
export function writeOut(dest: string, text: string, io: CliIo): void {
  if (dest === '-') io.stdout.write(text);
  else fs.writeFileSync(dest, text);
}

/** parseArgs that turns its errors into usage errors. */
export function parseCli<T extends ParseArgsConfig>(cfg: T, help: string): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(cfg);
  } catch (err) {
    throw new P2pgwError('P2PGW_ERR_USAGE', `${(err as Error).message}\n\n${help}`);
  }
}

/**
 * Runs `p2pgw profile`.
 * @param argv arguments after `profile`
 * @returns exit code 0
 * @throws P2pgwError(P2PGW_ERR_USAGE | P2PGW_ERR_CAPTURE_FORMAT), file system errors
 */
export async function profileMain(argv: string[], io: CliIo = process): Promise<number> {
  const { values, positionals } = parseCli({ args: argv, allowPositionals: true, options: PROFILE_OPTIONS }, PROFILE_HELP);
  if (values.help) {
    io.stdout.write(PROFILE_HELP);
    return 0;
  }
  if (!positionals.length) throw new P2pgwError('P2PGW_ERR_USAGE', `profile: name at least one flow-record or capture file\n\n${PROFILE_HELP}`);
  const kind = commonKind(positionals);
  const profile =
    kind === 'capture'
      ? profileCaptures(positionals, { verifyChecksums: values['verify-checksums'] as boolean })
      : profileRecords(positionals.flatMap(readRecordFile), positionals);
  const table = profileTable(profile);
  (values.json === '-' ? io.stderr : io.stdout).write(table);
  if (typeof values.json === 'string') writeOut(values.json, JSON.stringify(profile, null, 2) + '\n', io);
  if (typeof values.svg === 'string') writeOut(values.svg, profileSvg(profile), io);
  return 0;
}
