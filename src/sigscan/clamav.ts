/**
 * Signature file loaders: ClamAV `.ndb` (extended body signatures), `.hdb` (MD5 file hashes),
 * `.hsb` (SHA-1/SHA-256 file hashes) — formats from the ClamAV documentation, "Creating signatures
 * for ClamAV" — and p2pgw's own `.pat` (see src/sigscan/README.md). Every problem is a PatternError
 * "file:line: ..." (P2PGW_ERR_PATTERN).
 *
 * `.ndb` lines are `Name:TargetType:Offset:HexSignature[:MinFL[:MaxFL]]`. Only target type 0 (any
 * file) applies to a byte stream; other target types are parsed, counted as skipped (per type)
 * and summarised in one notice per file. Functionality levels are accepted and ignored.
 */
import { DEFAULTS } from '../core/defaults.js';
import { readRegularFile } from '../core/files.js';
import { extname } from 'node:path';
import { parseBodySig, parseHashSig, type BodySigSource, type HashSigSource, type SigSource } from './compile.js';
import { PatternError, parseEscaped } from './syntax.js';

/** Result of loading one or more signature files. */
export interface LoadResult {
  /** Signatures to compile (body and hash), each with `origin` "file:line". */
  sigs: SigSource[];
  /** Signatures parsed but not used (ndb target types other than 0). */
  skipped: number;
  /** Skipped signatures per ndb target type. */
  skippedByTarget: Record<number, number>;
  /** Human-readable notices (one per file with skipped lines). */
  notices: string[];
}

/** ClamAV target type names (ClamAV docs, "Target Types"). */
export const TARGET_TYPES: Record<number, string> = {
  0: 'any file', 1: 'PE', 2: 'OLE2', 3: 'HTML', 4: 'mail', 5: 'graphics', 6: 'ELF', 7: 'ASCII text', 8: 'unused',
  9: 'Mach-O', 10: 'PDF', 11: 'Flash', 12: 'Java class', 13: 'internal', 14: 'internal',
};

const FLEVEL = /^[0-9]*$/;

/** Lines of a file with 1-based numbers, skipping blanks and `#` comments. */
function lines(text: string): [number, string][] {
  const out: [number, string][] = [];
  text.split('\n').forEach((raw, k) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() !== '' && !line.startsWith('#')) out.push([k + 1, line]);
  });
  return out;
}

/** Parses `.ndb` text. @throws PatternError "file:line: ..." */
export function parseNdb(text: string, file: string): LoadResult {
  const sigs: SigSource[] = [];
  const byTarget: Record<number, number> = {};
  let skipped = 0;
  for (const [ln, line] of lines(text)) {
    const origin = `${file}:${ln}`;
    const f = line.split(':');
    if (f.length < 4 || f.length > 6) throw new PatternError(origin, 'expected Name:TargetType:Offset:HexSignature[:MinFL[:MaxFL]]');
    const [name, target, offset, hex, minfl = '', maxfl = ''] = f;
    if (name === '') throw new PatternError(origin, 'empty signature name');
    if (!/^[0-9]+$/.test(target) || Number(target) > 14) throw new PatternError(origin, `bad target type '${target}'`);
    if (!FLEVEL.test(minfl) || !FLEVEL.test(maxfl)) throw new PatternError(origin, 'bad functionality level');
    if (Number(target) !== 0) {
      skipped++;
      byTarget[Number(target)] = (byTarget[Number(target)] ?? 0) + 1;
      continue;
    }
    const sig: BodySigSource = { name, hex, offset, origin };
    parseBodySig(sig); // validate now, so errors carry file:line
    sigs.push(sig);
  }
  const notices = skipped === 0 ? [] : [
    `${file}: skipped ${skipped} signature(s) with target types other than 0 (${Object.entries(byTarget)
      .map(([t, n]) => `${t} ${TARGET_TYPES[Number(t)] ?? 'unknown'}: ${n}`).join(', ')}); p2pgw scans byte streams, not parsed file formats`,
  ];
  return { sigs, skipped, skippedByTarget: byTarget, notices };
}

/** Parses `.hdb` (MD5) or `.hsb` (SHA-1/SHA-256) text: `Hash:Size:Name[:MinFL[:MaxFL]]`. */
export function parseHashDb(text: string, file: string, kind: 'hdb' | 'hsb'): LoadResult {
  const sigs: SigSource[] = [];
  for (const [ln, line] of lines(text)) {
    const origin = `${file}:${ln}`;
    const f = line.split(':');
    if (f.length < 3 || f.length > 5) throw new PatternError(origin, 'expected HashString:FileSize:MalwareName[:MinFL[:MaxFL]]');
    const [hash, sizeText, name] = f;
    if (name === '') throw new PatternError(origin, 'empty signature name');
    const okLen = kind === 'hdb' ? hash.length === 32 : hash.length === 40 || hash.length === 64;
    if (!okLen) throw new PatternError(origin, kind === 'hdb' ? 'an .hdb hash must be MD5 (32 hex digits)' : 'an .hsb hash must be SHA-1 or SHA-256 (40 or 64 hex digits)');
    if (sizeText !== '*' && !/^[0-9]+$/.test(sizeText)) throw new PatternError(origin, `bad file size '${sizeText}'`);
    const sig: HashSigSource = { name, hash, size: sizeText === '*' ? null : Number(sizeText), origin };
    parseHashSig(sig);
    sigs.push(sig);
  }
  return { sigs, skipped: 0, skippedByTarget: {}, notices: [] };
}

/** Splits a `.pat` line into whitespace-separated tokens; a `"..."` token keeps its spaces. */
function patTokens(line: string, origin: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === ' ' || line[i] === '\t') {
      i++;
      continue;
    }
    const start = i;
    if (line[i] === '"') {
      i++;
      while (i < line.length && line[i] !== '"') i += line[i] === '\\' ? 2 : 1;
      if (i >= line.length) throw new PatternError(origin, 'unterminated string');
      i++;
      if (i < line.length && line[i] !== ' ' && line[i] !== '\t') throw new PatternError(origin, 'text after closing quote');
    } else {
      while (i < line.length && line[i] !== ' ' && line[i] !== '\t') i++;
    }
    out.push(line.slice(start, i));
  }
  return out;
}

/**
 * Parses p2pgw `.pat` text: `NAME [nocase] [offset=OFFSET] BODY`, BODY = `hex:CLAMAV-BODY` or a
 * `"escaped string"`; blank lines and `#` comments are ignored.
 */
export function parsePat(text: string, file: string): LoadResult {
  const sigs: SigSource[] = [];
  for (const [ln, line] of lines(text)) {
    const origin = `${file}:${ln}`;
    const t = patTokens(line, origin);
    if (t.length < 2) throw new PatternError(origin, 'expected NAME [nocase] [offset=OFFSET] (hex:BODY | "string")');
    const sig: BodySigSource = { name: t[0], origin };
    for (const opt of t.slice(1, -1)) {
      if (opt === 'nocase') sig.nocase = true;
      else if (opt.startsWith('offset=')) sig.offset = opt.slice(7);
      else throw new PatternError(origin, `unknown option '${opt}'`);
    }
    const body = t[t.length - 1];
    if (body.startsWith('hex:')) sig.hex = body.slice(4);
    else if (body.startsWith('"')) sig.literal = parseEscaped(body.slice(1, -1), origin);
    else throw new PatternError(origin, `body must be hex:... or "string", got '${body}'`);
    parseBodySig(sig);
    sigs.push(sig);
  }
  return { sigs, skipped: 0, skippedByTarget: {}, notices: [] };
}

/** Parses signature-file text by extension (.ndb, .hdb, .hsb, .pat). */
export function parseSigText(text: string, file: string): LoadResult {
  const ext = extname(file).toLowerCase();
  if (ext === '.ndb') return parseNdb(text, file);
  if (ext === '.hdb' || ext === '.hsb') return parseHashDb(text, file, ext === '.hdb' ? 'hdb' : 'hsb');
  if (ext === '.pat') return parsePat(text, file);
  throw new PatternError(file, `unknown signature file type '${ext || '(none)'}' (want .ndb, .hdb, .hsb or .pat)`);
}

/** Loads one ClamAV (.ndb/.hdb/.hsb) or p2pgw (.pat) signature file. @throws PatternError */
export function loadClamav(path: string): LoadResult {
  const text = readRegularFile(path, DEFAULTS.files.maxSignatureBytes, (why) => new PatternError(path, `cannot read: ${why}`)).toString('latin1');
  return parseSigText(text, path);
}

/** Loads several files and merges the results (signature ids follow file order). */
export function loadSigFiles(paths: readonly string[]): LoadResult {
  const out: LoadResult = { sigs: [], skipped: 0, skippedByTarget: {}, notices: [] };
  for (const p of paths) {
    const r = loadClamav(p);
    for (const s of r.sigs) out.sigs.push(s);
    out.skipped += r.skipped;
    for (const [t, n] of Object.entries(r.skippedByTarget)) out.skippedByTarget[Number(t)] = (out.skippedByTarget[Number(t)] ?? 0) + n;
    out.notices.push(...r.notices);
  }
  return out;
}
