/**
 * Virus signature database for the content scanner (thesis §3.5.2). Body signatures (the shipped
 * EICAR test signature, ClamAV `.ndb` with the full body-signature syntax, p2pgw `.pat`, or a
 * database compiled beforehand with `p2pgw compile-sigs` into a `.p2pgwdb` file) are compiled into
 * the WebAssembly signature engine (src/sigscan); its serialised bytes are posted to each scan worker,
 * which loads its own instance. Whole-file hashes (`.hdb` MD5, `.hsb` SHA-1/SHA-256) are checked in
 * the main thread at the end of each transfer.
 */
import path from 'node:path';
import { P2pgwError } from '../core/errors.js';
import { HashSigs } from '../sigscan/hash.js';
import { loadSigFiles } from '../sigscan/clamav.js';
import { parseHashSig, type BodySigSource, type HashEntry, type SigSource } from '../sigscan/compile.js';
import { SigDatabase } from '../sigscan/sigdb.js';

/** The EICAR anti-virus test file signature (eicar.org), shipped and enabled by default. */
export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

export interface VirusDb {
  /** Compiled body signatures (null when there are none). */
  db: SigDatabase | null;
  /** `db` serialised, for the scan workers. */
  bytes: Uint8Array | null;
  /** Whole-file hash signatures (`.hdb` MD5, `.hsb` SHA-1/SHA-256), checked at each transfer's end. */
  hashes: HashSigs | null;
  /** Number of body signatures. */
  bodySigs: number;
  /** Signatures that could not be used, with why (counted, shown at start-up). */
  notices: string[];
}

/**
 * Builds the database.
 * @param opts.eicar include the EICAR test signature
 * @param opts.files signature files: `.ndb`, `.pat` (body), `.hdb`/`.hsb` (hashes), or one
 *   `.p2pgwdb` compiled database (then EICAR and the other body files must be compiled into it)
 * @throws P2pgwError (P2PGW_ERR_PATTERN / P2PGW_ERR_CONFIG) naming file:line for an unreadable file
 *   or a malformed line
 */
export function buildVirusDb(opts: { eicar: boolean; files?: readonly string[] }): VirusDb {
  const files = opts.files ?? [];
  const compiled = files.filter((f) => path.extname(f).toLowerCase() === '.p2pgwdb');
  const loaded = loadSigFiles(files.filter((f) => !compiled.includes(f)));
  const body: BodySigSource[] = loaded.sigs.filter((s): s is BodySigSource => !('hash' in s && s.hash !== undefined));
  const hashSrc = loaded.sigs.filter((s): s is SigSource & { hash: string } => 'hash' in s && s.hash !== undefined);
  const notices = [...loaded.notices];
  let db: SigDatabase | null = null;
  if (compiled.length > 1 || (compiled.length === 1 && body.length)) {
    throw new P2pgwError('P2PGW_ERR_CONFIG', `scan.databases: a compiled database (${compiled.join(', ')}) must be the only body-signature database; compile the others into it with \`p2pgw compile-sigs\``);
  }
  if (compiled.length === 1) {
    db = SigDatabase.loadFile(compiled[0]);
    if (opts.eicar) notices.push(`${compiled[0]}: EICAR is used only if it was compiled into this database`);
  } else {
    if (opts.eicar) body.unshift({ name: 'Eicar-Test-Signature', literal: EICAR, origin: '<built-in EICAR>' });
    if (body.length) db = SigDatabase.compile(body);
  }
  const hashEntries: HashEntry[] = hashSrc.map((s, sig) => ({ sig, ...parseHashSig(s) }));
  return {
    db,
    bytes: db ? db.serialize() : null,
    hashes: hashEntries.length ? new HashSigs(hashEntries, hashSrc.map((s) => s.name)) : null,
    bodySigs: db ? db.sigCount : 0,
    notices,
  };
}
