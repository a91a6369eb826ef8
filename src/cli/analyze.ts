/**
 * `p2pgw analyze <flows.jsonl|collector file|capture>... --local CIDR[,CIDR] [--isp CIDR[,CIDR]] [--slot 300]
 * [--noise 0.06] [--min-samples 10] [--html FILE] [--json FILE|-]`: host-behaviour metrics per
 * local host and time slot, per-metric DBSCAN with the parameter search of the ISP P2P behaviour
 * study, and findings by domain rules (src/tools/analyze/).
 *
 * Output: a text summary on stdout (stderr when `--json -` takes stdout), the AnalysisResult as
 * JSON, and a self-contained HTML report. Errors: P2pgwError('P2PGW_ERR_USAGE') for bad options
 * or input lines (exit 2 in main), P2pgwError('P2PGW_ERR_CAPTURE_FORMAT'), file system errors.
 */
import { DEFAULTS } from '../core/defaults.js';
import type { ParseArgsOptionsConfig } from 'node:util';
import { P2pgwError } from '../core/errors.js';
import { parseCidrList } from '../tools/analyze/cidr.js';
import { loadFlows } from '../tools/analyze/input.js';
import { analyzeFlows } from '../tools/analyze/analyze.js';
import { renderReport } from '../tools/analyze/report.js';
import { analysisText } from '../tools/analyze/summary.js';
import { parseCli, writeOut, type CliIo } from './profile.js';

export const ANALYZE_HELP = `Usage: p2pgw analyze <flows.jsonl|collector file|capture>... --local CIDR[,CIDR] [options]

Inputs: p2pgw flow records (JSON Lines), captures (replayed, 64 s flow timeout), or collector
files: nfcapd files (read with nfdump; application names from p2pgw's IPFIX export), nfdump's
\`-o csv\` and \`-o json\` exports, pmacct's print plugin JSON (with timestamp_start/_end). Collector
records of one 5-tuple at most 64 s apart are stitched into one flow, and one-way records are
paired with the opposite direction.

Aggregates flows into one sample per local host and time slot, computes the host-behaviour
metrics (TCP and UDP separately), clusters each metric alone with 1-D DBSCAN (parameter search:
eps = 10 % of the range, MinPts = 50 % of the samples, MinPts lowered until the noise is near the
target, then eps lowered while the noise stays in the band) and applies domain rules: P2P flows
to reserved UDP ports (53: possible DDoS), unanswered incoming flows (departed peer / NAT),
selfish hosts, repeated connections to one server, aggressive peers.

Options:
  --local CIDR[,CIDR]  local (customer) address space; required
  --isp CIDR[,CIDR]    ISP address space: adds the ISP-to-Internet-ratio metric
  --slot SECONDS       time slot ΔT (default 300)
  --noise FRACTION     target noise fraction (default 0.06; band target/3 .. 5*target/3)
  --min-samples N      metrics with fewer samples are not clustered (default 10)
  --html FILE          write the self-contained HTML report
  --json FILE|-        write the analysis as JSON (- = stdout; the summary then goes to stderr)
  -h, --help           this help
`;

/** The options of `p2pgw analyze`. */
export const ANALYZE_OPTIONS = {
  local: { type: 'string' },
  isp: { type: 'string' },
  slot: { type: 'string' },
  noise: { type: 'string' },
  'min-samples': { type: 'string' },
  html: { type: 'string' },
  json: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsOptionsConfig;

function usage(msg: string): never {
  throw new P2pgwError('P2PGW_ERR_USAGE', `analyze: ${msg}\n\n${ANALYZE_HELP}`);
}

function number(text: string | undefined, name: string, def: number, ok: (x: number) => boolean, want: string): number {
  if (text === undefined) return def;
  const x = Number(text);
  if (text.trim() === '' || !Number.isFinite(x) || !ok(x)) usage(`${name} must be ${want}, got ${JSON.stringify(text)}`);
  return x;
}

/**
 * Runs `p2pgw analyze`.
 * @param argv arguments after `analyze`
 * @returns exit code 0
 */
export async function analyzeMain(argv: string[], io: CliIo = process): Promise<number> {
  const { values, positionals } = parseCli({ args: argv, allowPositionals: true, options: ANALYZE_OPTIONS }, ANALYZE_HELP);
  if (values.help) {
    io.stdout.write(ANALYZE_HELP);
    return 0;
  }
  if (!positionals.length) usage('name at least one flow-record, collector or capture file');
  if (typeof values.local !== 'string') usage('--local CIDR is required (the customer address space)');
  const local = parseCidrList(values.local, '--local');
  const isp = typeof values.isp === 'string' ? parseCidrList(values.isp, '--isp') : undefined;
  const slotSec = number(values.slot as string | undefined, '--slot', DEFAULTS.analyze.slotSec, (x) => x > 0, 'a positive number of seconds');
  const noise = number(values.noise as string | undefined, '--noise', DEFAULTS.analyze.noise, (x) => x > 0 && x < 0.5, 'a fraction in (0, 0.5)');
  const minSamples = number(values['min-samples'] as string | undefined, '--min-samples', DEFAULTS.analyze.minSamples, (x) => Number.isInteger(x) && x >= 2, 'an integer ≥ 2');
  const loaded = loadFlows(positionals);
  const result = analyzeFlows(loaded.records, { local, isp, slotSec, noise, minSamples, files: loaded.files, inputKind: loaded.kind });
  (values.json === '-' ? io.stderr : io.stdout).write(analysisText(result));
  if (typeof values.json === 'string') writeOut(values.json, JSON.stringify(result) + '\n', io);
  if (typeof values.html === 'string') writeOut(values.html, renderReport(result), io);
  return 0;
}
