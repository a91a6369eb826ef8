/**
 * Builds content management from the config: keyword lists, audit store, virus database and
 * scanner. Used by `run` (worker-thread scanner) and `replay` (in-process scanner, deterministic).
 */
import type { Logger } from 'pino';
import type { EffectiveConfig } from '../config/load.js';
import type { Counters } from '../core/counters.js';
import { AuditStore } from './audit.js';
import type { InspectOptions } from './hold.js';
import { KeywordSet } from './keywords.js';
import { PoolScanner, SyncScanner, type Scanner } from './scan-pool.js';
import type { ContentShared } from './session.js';
import { buildVirusDb } from './virusdb.js';
import { setInspectLimits } from '../apps/parse/lines.js';

export interface ContentSetup {
  inspect: InspectOptions & { shared: ContentShared; preBufferBytes: number };
  /** Start-up notices (skipped signatures, …). */
  notices: string[];
  close(): Promise<void>;
}

/**
 * @param mode `live` scans in worker threads, `replay` in-process
 * @throws P2pgwError(P2PGW_ERR_CONFIG) for a bad keyword, unreadable database or audit directory
 */
export function buildContent(cfg: EffectiveConfig, counters: Counters, mode: 'live' | 'replay', logger?: Logger): ContentSetup {
  const notices: string[] = [];
  setInspectLimits(cfg.parserLimits);
  const keywords = new KeywordSet(cfg.keywords.lists);
  const audit = cfg.audit.enabled
    ? new AuditStore(
        { dir: cfg.audit.dir, chat: cfg.audit.chat, files: cfg.audit.files, quotaBytes: cfg.audit.quotaBytes, minFreeBytes: cfg.audit.minFreeBytes },
        counters,
      )
    : null;
  let scanner: Scanner | null = null;
  let hashes: ContentShared['hashes'] = null;
  if (cfg.scan.enabled) {
    const v = buildVirusDb({ eicar: cfg.scan.eicar, files: cfg.scan.databases });
    notices.push(...v.notices);
    hashes = v.hashes;
    if (v.db && v.bytes) {
      scanner = mode === 'live' ? new PoolScanner(v.bytes, cfg.scan.workers, cfg.scan.debugDelayMs) : new SyncScanner(v.db);
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
    inspect: { ...cfg.inspect, shared },
    notices,
    close: async () => scanner?.close(),
  };
}
