/**
 * Error classes with stable codes, in the style of undici's errors: every error p2pgw throws on
 * purpose is a `P2pgwError` whose `code` is one of `ErrorCodes` and never changes between releases,
 * so scripts and tests can match on it.
 */

/** Stable error codes. Keys and values are identical so `ErrorCodes.X === 'X'`. */
export const ErrorCodes = Object.freeze({
  P2PGW_ERR_CONFIG: 'P2PGW_ERR_CONFIG',
  P2PGW_ERR_RULES: 'P2PGW_ERR_RULES',
  P2PGW_ERR_PATTERN: 'P2PGW_ERR_PATTERN',
  P2PGW_ERR_WASM: 'P2PGW_ERR_WASM',
  P2PGW_ERR_CAPTURE_FORMAT: 'P2PGW_ERR_CAPTURE_FORMAT',
  P2PGW_ERR_NFQUEUE: 'P2PGW_ERR_NFQUEUE',
  P2PGW_ERR_IPTABLES: 'P2PGW_ERR_IPTABLES',
  P2PGW_ERR_TC: 'P2PGW_ERR_TC',
  P2PGW_ERR_NOT_ROOT: 'P2PGW_ERR_NOT_ROOT',
  P2PGW_ERR_MISSING_FEATURE: 'P2PGW_ERR_MISSING_FEATURE',
  P2PGW_ERR_USAGE: 'P2PGW_ERR_USAGE',
  P2PGW_ERR_LAB: 'P2PGW_ERR_LAB',
  P2PGW_ERR_UNSAFE_PATH: 'P2PGW_ERR_UNSAFE_PATH',
  P2PGW_ERR_IPFIX: 'P2PGW_ERR_IPFIX',
  P2PGW_ERR_NOT_RUNNING: 'P2PGW_ERR_NOT_RUNNING',
} as const);

export type ErrorCode = keyof typeof ErrorCodes;

/** Base class of every deliberate p2pgw error. `code` is stable; `message` is for people. */
export class P2pgwError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'P2pgwError';
    this.code = code;
  }
}

/** A config error: `path` is the YAML key path (e.g. `apps.bittorrent.action`), `file` the file read. */
export class ConfigError extends P2pgwError {
  constructor(readonly file: string, readonly path: string, reason: string) {
    super(ErrorCodes.P2PGW_ERR_CONFIG, `${file}: ${path || '(root)'}: ${reason}`);
    this.name = 'ConfigError';
  }
}

/** A rules-file error that names the file, the 1-based line and the problem. */
export class RulesError extends P2pgwError {
  constructor(readonly file: string, readonly line: number, readonly problem: string) {
    super(ErrorCodes.P2PGW_ERR_RULES, `${file}:${line}: ${problem}`);
    this.name = 'RulesError';
  }
}
