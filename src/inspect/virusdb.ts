/**
 * Virus signature database for the content scanner. v1 holds literal body signatures (the shipped
 * EICAR test signature, plus literal hex signatures from ClamAV `.ndb` files: target type 0 and
 * offset `*`, bodies without wildcards); other signatures are counted as skipped with a notice.
 * The database is plain data so it can be posted to scan worker threads.
 */
import fs from 'node:fs';
import path from 'node:path';
import { P2pgwError } from '../errors.js';
import { HashSigs } from '../scan/hash.js';
import { loadClamav } from '../scan/clamav.js';
import { parseHashSig, type HashEntry } from '../scan/compile.js';

/** The EICAR anti-virus test file signature (eicar.org), shipped and enabled by default. */
export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

export interface VirusDb {
  names: string[];
  patterns: Uint8Array[];
  /** Whole-file hash signatures (`.hdb` MD5, `.hsb` SHA-1/SHA-256), checked at each transfer's end. */
  hashes: HashSigs | null;
  /** Longest pattern length, bytes (the scan buffer's overlap is this − 1). */
  maxLen: number;
  /** Signatures that could not be used, with why (counted, shown at start-up). */
  notices: string[];
}

/**
 * Builds the database.
 * @param opts.eicar include the EICAR test signature
 * @param opts.ndb paths of signature files: ClamAV `.ndb` (`Name:TargetType:Offset:HexSignature`)
 *   body signatures, `.hdb` (MD5) and `.hsb` (SHA-1/SHA-256) file hashes (`Hash:Size:Name`)
 * @throws P2pgwError(P2PGW_ERR_CONFIG / P2PGW_ERR_PATTERN) naming file:line for an unreadable file
 *   or a malformed line
 */
export function buildVirusDb(opts: { eicar: boolean; ndb?: readonly string[] }): VirusDb {
  const db: VirusDb = { names: [], patterns: [], hashes: null, maxLen: 0, notices: [] };
  const hashNames: string[] = [];
  const hashEntries: HashEntry[] = [];
  const add = (name: string, bytes: Uint8Array) => {
    db.names.push(name);
    db.patterns.push(bytes);
    db.maxLen = Math.max(db.maxLen, bytes.length);
  };
  if (opts.eicar) add('Eicar-Test-Signature', new TextEncoder().encode(EICAR));
  for (const file of opts.ndb ?? []) {
    const ext = path.extname(file).toLowerCase();
    if (ext === '.hdb' || ext === '.hsb') {
      for (const sig of loadClamav(file).sigs) {
        if (!('hash' in sig) || sig.hash === undefined) continue;
        const h = parseHashSig(sig);
        hashEntries.push({ sig: hashNames.length, ...h });
        hashNames.push(sig.name);
      }
      continue;
    }
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new P2pgwError('P2PGW_ERR_CONFIG', `${file}: cannot read: ${(err as Error).message}`);
    }
    let skipped = 0;
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      const f = line.split(':');
      if (f.length < 4) throw new P2pgwError('P2PGW_ERR_CONFIG', `${file}:${i + 1}: expected Name:TargetType:Offset:HexSignature`);
      const [name, target, offset, hex] = f;
      if (target !== '0' || offset !== '*' || !/^([0-9a-fA-F]{2})+$/.test(hex)) {
        skipped++;
        return;
      }
      add(name, Uint8Array.from(Buffer.from(hex, 'hex')));
    });
    if (skipped) db.notices.push(`${file}: ${skipped} signature(s) skipped (non-zero target type, anchored offset or wildcards)`);
  }
  if (hashEntries.length) db.hashes = new HashSigs(hashEntries, hashNames);
  return db;
}
