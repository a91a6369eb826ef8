/**
 * Public surface of the signature scanner (matcher v2) and the v1 literal matcher.
 * See src/sigscan/README.md for the pattern language, semantics and design.
 */
export { Matcher, MatchStream, type PatternSpec, type MatcherOptions, type OnMatch } from '../matcher/matcher.js';
export { SigDatabase, type SigCompileOptions, type SigDbStats } from './sigdb.js';
export { SigStream, ChunkedScanner, type OnSigMatch, type StreamOptions, type ChunkedOptions } from './stream.js';
export { type SigSource, type BodySigSource, type HashSigSource, type CompileOptions, type HashAlgo } from './compile.js';
export { HashSigs, FileHasher, type HashHit } from './hash.js';
export { loadClamav, loadSigFiles, parseSigText, parseNdb, parseHashDb, parsePat, type LoadResult } from './clamav.js';
export { PatternError } from './syntax.js';
