/**
 * Builds content management from the config: keyword lists, audit store, virus database and
 * scanner. Used by `run` (worker-thread scanner) and `replay` (in-process scanner, deterministic).
 */
import type { Logger } from 'pino';
import type { EffectiveConfig } from '../config/load.js';
import type { Counters } from '../core/counters.js';
import { AuditStore } from './audit.js';
import { checkAuditDir } from './audit-dir.js';
import type { InspectOptions } from './hold.js';
import { KeywordSet } from './keywords.js';
import { PoolScanner, SyncScanner, type Scanner } from './scan-pool.js';
import type { ContentShared } from './session.js';
import { buildVirusDb, type VirusDb } from './virusdb.js';
import { setInspectLimits } from '../apps/parse/lines.js';

export interface ContentSetup {
  inspect: InspectOptions & { shared: ContentShared; preBufferBytes: number };
  /** Start-up notices (skipped signatures, …). */
  notices: string[];
  close(): Promise<void>;
}

/**
 * The live scanner: `scan.workers` threads, started at the first scan; a worker that dies is
 * logged (one `scan worker exited` line, error level), counted (`scan_worker_exit`, and
 * `scan_worker_respawn` when a new thread takes its place) and respawned up to
 * `scan.worker_respawns` times; its jobs in flight fail open (`scan_error`, `fail_open_accepts`).
 */
function poolScanner(bytes: Uint8Array, cfg: EffectiveConfig, counters: Counters, logger?: Logger): PoolScanner {
  return new PoolScanner(bytes, cfg.scan.workers, {
    debugDelayMs: cfg.scan.debugDelayMs,
    maxRespawns: cfg.scan.workerRespawns,
    onWorkerExit: (e) => {
      counters.inc('scan_worker_exit');
      if (e.respawned) counters.inc('scan_worker_respawn');
      logger?.error(
        { worker: e.worker, code: e.code, error: e.error, in_flight: e.inFlight, respawned: e.respawned, respawns: e.respawns },
        e.respawned ? 'scan worker exited; respawned, its scans in flight accepted unscanned' : 'scan worker exited; no respawns left, its scans are accepted unscanned',
      );
    },
  });
}

/** What checkContent built: the keyword lists and, when scanning is on, the virus database. */
export interface CheckedContent {
  keywords: KeywordSet;
  virus: VirusDb | null;
}

/**
 * Every content check `run` and `replay` make at start-up, without touching anything: compiles the
 * keyword lists, loads and compiles the scan databases (regular files only, see
 * src/core/files.ts), and checks the audit directory (./audit-dir.ts checkAuditDir, which creates
 * nothing). `buildContent` starts with it; `p2pgw check-config` runs it alone.
 * @throws P2pgwError(P2PGW_ERR_CONFIG) for a bad keyword; P2pgwError(P2PGW_ERR_PATTERN /
 *   P2PGW_ERR_CONFIG) for a missing, non-regular, oversized or malformed database;
 *   P2pgwError(P2PGW_ERR_UNSAFE_PATH) for an unsafe audit directory
 */
export function checkContent(cfg: EffectiveConfig): CheckedContent {
  const keywords = new KeywordSet(cfg.keywords.lists);
  const virus = cfg.scan.enabled ? buildVirusDb({ eicar: cfg.scan.eicar, files: cfg.scan.databases }) : null;
  if (cfg.audit.enabled) checkAuditDir(cfg.audit.dir);
  return { keywords, virus };
}

/**
 * @param mode `live` scans in worker threads (started at the first scan), `replay` in-process
 * @throws what checkContent throws; P2pgwError(P2PGW_ERR_UNSAFE_PATH) for an audit directory that
 *   cannot be created
 */
export function buildContent(cfg: EffectiveConfig, counters: Counters, mode: 'live' | 'replay', logger?: Logger): ContentSetup {
  const notices: string[] = [];
  setInspectLimits(cfg.parserLimits);
  const { keywords, virus } = checkContent(cfg);
  const audit = cfg.audit.enabled
    ? new AuditStore(
        { dir: cfg.audit.dir, chat: cfg.audit.chat, files: cfg.audit.files, quotaBytes: cfg.audit.quotaBytes, minFreeBytes: cfg.audit.minFreeBytes },
        counters,
      )
    : null;
  let scanner: Scanner | null = null;
  let hashes: ContentShared['hashes'] = null;
  if (virus) {
    notices.push(...virus.notices);
    hashes = virus.hashes;
    if (virus.db && virus.bytes) {
      scanner = mode === 'live' ? poolScanner(virus.bytes, cfg, counters, logger) : new SyncScanner(virus.db);
    }
  }
  const shared: ContentShared = {
    keywords,
    keywordsOn: { chat: cfg.keywords.chat, filenames: cfg.keywords.filenames },
    audit,
    scanner,
    hashes,
    scanBuffer: cfg.scan.bufferBytes,
    counters,
    logger,
  };
  return {
    // Live packet times are Date.now(): hold and scan timeouts fire from a timer (src/content/deadline.ts).
    inspect: { ...cfg.inspect, shared, timers: mode === 'live' },
    notices,
    close: async () => scanner?.close(),
  };
}
