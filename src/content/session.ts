/**
 * Content session of one inspected connection: implements the InspectEvents an application's
 * stream inspector reports (thesis §3.5–3.6). Chat messages and file names are checked against the
 * keyword lists; chat is audited; transferred files are audited and cut into scan buffers. The
 * session only records what must happen (a kill, scan jobs); the InspectEngine acts on it.
 */
import type { Logger } from 'pino';
import type { ChatMessage, Dir, FileInfo, InspectEvents } from '../apps/types.js';
import type { Counters } from '../core/counters.js';
import type { AuditContext, AuditFile, AuditStore } from './audit.js';
import type { KeywordSet } from './keywords.js';
import { ScanBuffer, type ScanJobData } from './scanbuffer.js';
import type { Scanner } from './scan-pool.js';
import type { FileHasher, HashSigs } from '../sigscan/hash.js';

/** Everything sessions share: built once from the config. */
export interface ContentShared {
  keywords: KeywordSet;
  /** Where keyword lists apply. */
  keywordsOn: { chat: boolean; filenames: boolean };
  audit: AuditStore | null;
  scanner: Scanner | null;
  /** Whole-file hash signatures, checked when a transfer ends. */
  hashes: HashSigs | null;
  /** Scan buffer size, bytes. */
  scanBuffer: number;
  counters: Counters;
  logger?: Logger;
}

/** Why a connection must be reset. */
export interface KillReason {
  /** `keyword.<list>#<i>` or `virus.<name>`. */
  rule: string;
  reason: string;
  /** Extra fields for the verdict line. */
  fields: Record<string, unknown>;
}

interface Transfer {
  id: number;
  dir: Dir;
  name: string | null;
  audit: AuditFile | null;
  buf: ScanBuffer | null;
  hasher: FileHasher | null;
  bytes: number;
}

/** One scan job of a transfer; `final` = the transfer's last buffer (its audit copy commits after). */
export interface PendingScan {
  transfer: Transfer;
  job: ScanJobData;
  final: boolean;
  complete: boolean;
  /**
   * The job's byte count, taken when the job is made: the scanner owns `job.data` once it has the
   * job (a worker-thread scanner transfers its buffer to the worker, which leaves `job.data` empty
   * in this thread; the in-process scanner recycles it for another transfer's bytes). Only `bytes`,
   * `job.base` and `job.key` are read after the scan.
   */
  bytes: number;
}

let sessionSeq = 0;

export class ContentSession implements InspectEvents {
  kill: KillReason | null = null;
  readonly jobs: PendingScan[] = [];
  private readonly transfers = new Map<number, Transfer>();
  /**
   * Transfers whose audit copy is not settled yet (open, or ended with a final scan job queued or
   * in flight), in start order: `close` finishes or aborts every one, so no descriptor, `.part`
   * file or quota reservation outlives the session.
   */
  private readonly unsettled = new Set<Transfer>();
  private closed = false;
  private nextId = 1;
  /** Unique per session (process-wide), so transfer keys of different connections never collide. */
  private readonly uid = ++sessionSeq;

  constructor(
    private readonly shared: ContentShared,
    readonly ctx: AuditContext,
  ) {}

  chat(dir: Dir, msg: ChatMessage): void {
    const s = this.shared;
    s.counters.inc('chat_messages');
    s.audit?.chat(this.ctx, dir, msg);
    if (s.keywordsOn.chat) this.checkKeyword(msg.text, 'chat', dir, s.audit ? { text: msg.text, from: msg.from ?? null } : {});
  }

  fileName(dir: Dir, name: string, source: string): void {
    this.shared.counters.inc('file_names');
    if (this.shared.keywordsOn.filenames) this.checkKeyword(name, 'file name', dir, { file: name, source });
  }

  fileStart(dir: Dir, info: FileInfo): number {
    const s = this.shared;
    const id = this.nextId++;
    s.counters.inc('transfers');
    // After close nothing is inspected any more: the id is unknown to fileData/fileEnd.
    if (this.closed) return id;
    const t: Transfer = {
      id, dir, name: info.name, bytes: 0,
      audit: s.audit ? s.audit.openFile(this.ctx, dir, info.name) : null,
      buf: s.scanner ? new ScanBuffer(`${this.uid}/${id}`, s.scanBuffer, s.scanner.buffers ?? null) : null,
      hasher: s.hashes ? s.hashes.newHasher() : null,
    };
    this.transfers.set(id, t);
    if (t.audit) this.unsettled.add(t);
    return id;
  }

  fileData(id: number, bytes: Uint8Array): void {
    const t = this.transfers.get(id);
    if (!t || this.kill) return;
    t.bytes += bytes.length;
    t.audit?.write(bytes);
    t.hasher?.update(bytes);
    if (t.buf) for (const job of t.buf.push(bytes)) this.jobs.push({ transfer: t, job, final: false, complete: false, bytes: job.data.length });
  }

  fileEnd(id: number, complete: boolean): void {
    const t = this.transfers.get(id);
    if (!t) return;
    this.transfers.delete(id);
    if (this.kill) {
      this.abort(t);
      return;
    }
    // Whole-file hash signatures (.hdb/.hsb) are checked once the transfer is complete, before the
    // packet that completed it gets its verdict.
    const hit = complete ? t.hasher?.finish()[0] : undefined;
    if (hit) {
      this.shared.counters.inc('infected');
      this.abort(t);
      this.kill = {
        rule: `virus.${hit.name}`,
        reason: `virus ${hit.name} (${hit.algo} of the whole file) in ${t.name ?? 'a transfer'}`,
        fields: { virus: hit.name, file: t.name, hash: hit.algo },
      };
      return;
    }
    if (t.buf) {
      // The audit copy commits once the last buffer is scanned clean (final job), even when empty.
      const job = t.buf.finish();
      this.jobs.push({ transfer: t, job, final: true, complete, bytes: job.data.length });
    } else {
      this.commit(t, complete);
    }
  }

  weird(name: string): void {
    this.shared.counters.inc(`inspect_weird_${name}`);
  }

  /** Called by the engine with a finished scan job; ignored after `close` (a late result). */
  scanned(p: PendingScan, virus: string | null): void {
    if (this.closed) return;
    this.shared.counters.inc('scans');
    this.shared.counters.inc('scanned_bytes', p.bytes);
    if (virus) {
      this.shared.counters.inc('infected');
      this.abort(p.transfer);
      this.kill = {
        rule: `virus.${virus}`,
        reason: `virus ${virus} in ${p.transfer.name ?? 'a transfer'}`,
        fields: { virus, file: p.transfer.name, offset: p.job.base },
      };
      return;
    }
    if (p.final) this.commit(p.transfer, p.complete);
  }

  /**
   * Connection over, killed or inspection stopped: keep what was received (incomplete) or, after a
   * kill, delete it; drop queued jobs. Also settles transfers whose final job is in flight (its
   * late result then changes nothing). Idempotent.
   */
  close(): void {
    this.closed = true;
    for (const p of this.jobs.splice(0)) {
      this.shared.scanner?.drop(p.job.key);
      if (p.final) this.commit(p.transfer, false);
    }
    for (const t of this.transfers.values()) if (t.buf) this.shared.scanner?.drop(t.buf.key);
    this.transfers.clear();
    for (const t of [...this.unsettled]) {
      if (this.kill) this.abort(t);
      else this.commit(t, false);
    }
  }

  /**
   * Keeps the transfer's audit copy and logs `audited file`. The line's own keys are ours (`app`,
   * addresses, `dir`); everything about the file, its network-supplied name included, is under
   * `file` (`{name, stored, size, sha256, complete}`), so it can never replace the logger's `name`,
   * `time` or `msg`.
   */
  private commit(t: Transfer, complete: boolean): void {
    this.unsettled.delete(t);
    const rec = t.audit?.finish(complete);
    if (!rec) return;
    const { app, src, sport, dst, dport } = this.ctx;
    const file = { name: rec.name, stored: rec.stored, size: rec.size, sha256: rec.sha256, complete: rec.complete };
    this.shared.logger?.info({ app, src, sport, dst, dport, dir: rec.dir, file }, 'audited file');
  }

  private abort(t: Transfer): void {
    this.unsettled.delete(t);
    t.audit?.abort();
  }

  private checkKeyword(text: string, what: string, dir: Dir, extra: Record<string, unknown>): void {
    if (this.kill) return;
    const hit = this.shared.keywords.find(text);
    if (!hit) return;
    this.shared.counters.inc('keyword_hits');
    this.kill = {
      rule: `keyword.${hit.id}`,
      reason: `keyword list ${hit.list} matched in a ${what} (${dir === 0 ? 'out' : 'in'})`,
      fields: { list: hit.list, keyword_id: hit.id, ...extra },
    };
  }
}
