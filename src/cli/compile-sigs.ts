/**
 * `p2pgw compile-sigs <in.ndb|.hdb|.hsb|.pat>... -o db.p2pgwdb`: compiles signature files into one
 * `.p2pgwdb` database (src/sigscan/dbfile.ts) that the gateway loads at start instead of rebuilding.
 * Prints a summary (signatures, skipped target types, atoms, tiers, sizes, build time) to stderr.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { ErrorCodes, P2pgwError } from '../core/errors.js';
import { loadSigFiles } from '../sigscan/clamav.js';
import { SigDatabase } from '../sigscan/sigdb.js';

const HELP = `Usage: p2pgw compile-sigs <file.ndb|.hdb|.hsb|.pat>... -o <out.p2pgwdb> [--quiet]

Compiles ClamAV body signatures (.ndb, target type 0; other target types are skipped and counted),
ClamAV file hashes (.hdb MD5, .hsb SHA-1/SHA-256) and p2pgw pattern files (.pat) into one database.

Options:
  -o, --output FILE   where to write the compiled database (required)
  -q, --quiet         print nothing on success
  -h, --help          this help
`;

/** The options of `p2pgw compile-sigs`. */
export const COMPILE_SIGS_OPTIONS = {
  output: { type: 'string', short: 'o' },
  quiet: { type: 'boolean', short: 'q', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsOptionsConfig;

/**
 * Runs the subcommand with `argv` (after `compile-sigs`). Resolves with 0 on success.
 * @throws P2pgwError(P2PGW_ERR_USAGE) on bad arguments; (P2PGW_ERR_PATTERN) "file:line: ..." on bad
 * signatures; (P2PGW_ERR_WASM) if the engine cannot be built
 */
export async function compileSigsMain(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: COMPILE_SIGS_OPTIONS });
  } catch (e) {
    throw new P2pgwError(ErrorCodes.P2PGW_ERR_USAGE, `compile-sigs: ${(e as Error).message}\n\n${HELP}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length === 0) throw new P2pgwError(ErrorCodes.P2PGW_ERR_USAGE, `compile-sigs: name at least one signature file\n\n${HELP}`);
  if (!values.output) throw new P2pgwError(ErrorCodes.P2PGW_ERR_USAGE, `compile-sigs: -o <out.p2pgwdb> is required\n\n${HELP}`);
  const t0 = performance.now();
  const loaded = loadSigFiles(positionals);
  const t1 = performance.now();
  const db = SigDatabase.compile(loaded.sigs);
  const t2 = performance.now();
  const bytes = db.serialize();
  await db.saveFile(values.output);
  if (!values.quiet) {
    const s = db.stats;
    const log = (line: string): void => void process.stderr.write(`${line}\n`);
    for (const n of loaded.notices) log(`notice: ${n}`);
    log(`compile-sigs: ${s.sigs} signatures (${s.bodySigs} body, ${s.hashSigs} hash), ${loaded.skipped} skipped`);
    log(`  ${s.variants} variants, ${s.atoms} atoms, longest ${s.longestAtom} bytes, EOF tail ${s.eofTail} bytes`);
    for (const t of s.tiers) {
      log(`  tier q=${t.q} stride=${t.stride}: ${t.atoms} atoms, ${t.entries} entries, filter ${t.filterBytes} B, largest bucket ${t.largestBucket}`);
    }
    log(`  load ${(t1 - t0).toFixed(0)} ms, build ${(t2 - t1).toFixed(0)} ms; wrote ${values.output} (${bytes.length} bytes)`);
  }
  return 0;
}
