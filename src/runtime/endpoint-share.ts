/**
 * Endpoint knowledge shared between the queue workers of `p2pgw run --queues N`: the kernel
 * spreads connections over the queues by flow hash, so the DHT reply or eD2k source answer that
 * teaches peer X is usually judged by another worker than the later connection to X. Each worker
 * sends what its learners learned to the supervisor over the IPC channel, and the supervisor
 * relays it to every other worker (worker-pool.ts), whose table adopts it (EndpointTable.adopt:
 * not counted again as learned, counted `endpoint_share_in`).
 *
 * Message (one per event-loop turn with something learned):
 * `{ t: 'p2pgw.endpoints', e: [[ip, port, l4, app, source, now_s, key_hex | null], …] }`.
 * A worker that starts (or is respawned) sends `{ t, e: [], sync: true }` once it listens: the
 * supervisor then sends it the most recent `backlog` endpoints it relayed, so a respawned worker
 * does not start with an empty table.
 * Caps: at most `backlog` entries wait in a worker (DEFAULTS.endpoints.shareBacklog, config
 * `endpoints.share_backlog`; 0 = no sharing), and the supervisor keeps at most `backlog` entries
 * in flight to one worker: beyond either, entries are dropped and counted `endpoint_share_dropped`.
 * A message that is not one of ours, or an entry of the wrong shape, is counted
 * `endpoint_share_bad` and ignored.
 */
import type { Counters } from '../core/counters.js';
import type { L4 } from '../core/types.js';
import type { EndpointTable } from '../flow/endpoints.js';
import type { EndpointLearning } from './learning.js';

/** Tag of the IPC messages that carry shared endpoints. */
export const SHARE_TAG = 'p2pgw.endpoints';
/** Most entries in one message (a larger batch is sent as several). */
export const MAX_ENTRIES = 1024;

/** One learned endpoint as it travels: ip, port, l4, app, source, time learned (s), key (hex) or null. */
export type SharedEntry = [string, number, L4, string, string, number, string | null];

/** The IPC message between workers and supervisor. */
export interface ShareMessage {
  t: typeof SHARE_TAG;
  e: SharedEntry[];
  /** Sent by a worker once it listens: asks for the recent endpoints (see the module comment). */
  sync?: true;
}

/** Whether `m` is a share message (the tag and an entry array; entries are checked on adoption). */
export function isShareMessage(m: unknown): m is ShareMessage {
  return !!m && typeof m === 'object' && (m as ShareMessage).t === SHARE_TAG && Array.isArray((m as ShareMessage).e);
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Checks one received entry's shape; the decoded key, or false when the entry is malformed. */
function checkEntry(x: unknown): Uint8Array | undefined | false {
  if (!Array.isArray(x) || x.length !== 7) return false;
  const [ip, port, l4, app, source, now, key] = x as unknown[];
  if (typeof ip !== 'string' || ip.length === 0 || ip.length > 45) return false;
  if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) return false;
  if (l4 !== 'tcp' && l4 !== 'udp') return false;
  if (typeof app !== 'string' || app.length > 64 || typeof source !== 'string' || source.length > 64) return false;
  if (typeof now !== 'number' || !Number.isFinite(now)) return false;
  if (key === null) return undefined;
  if (typeof key !== 'string' || key.length > 128 || !/^(?:[0-9a-f]{2})*$/.test(key)) return false;
  return Uint8Array.from(Buffer.from(key, 'hex'));
}

/** A worker's end of the sharing: batches what it learned, adopts what its siblings learned. */
export class EndpointShare {
  private pending: SharedEntry[] = [];
  private scheduled = false;

  /**
   * @param table this worker's endpoint table (adopts received entries)
   * @param send hands a message to the IPC channel (`process.send`)
   * @param backlog most entries waiting to be sent; beyond it entries are dropped (counted)
   */
  constructor(
    private readonly table: EndpointTable,
    private readonly send: (m: ShareMessage) => void,
    private readonly counters: Counters,
    private backlog: number,
  ) {}

  /** Applies a reloaded `endpoints.share_backlog`. */
  configure(backlog: number): void {
    this.backlog = backlog;
  }

  /** Queues an endpoint this worker learned; sent at the end of this event-loop turn. */
  offer(ip: string, port: number, l4: L4, app: string, source: string, now: number, key?: Uint8Array): void {
    if (this.backlog === 0) return; // sharing off
    if (this.pending.length >= this.backlog) {
      this.counters.inc('endpoint_share_dropped');
      return;
    }
    this.pending.push([ip, port, l4, app, source, now, key ? hex(key) : null]);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Sends what is pending (in messages of at most 1,024 entries). */
  flush(): void {
    this.scheduled = false;
    const all = this.pending;
    this.pending = [];
    for (let i = 0; i < all.length; i += MAX_ENTRIES) {
      try {
        this.send({ t: SHARE_TAG, e: all.slice(i, i + MAX_ENTRIES) });
        this.counters.inc('endpoint_share_out', Math.min(MAX_ENTRIES, all.length - i));
      } catch {
        this.counters.inc('endpoint_share_dropped', all.length - i); // the channel is gone
        return;
      }
    }
  }

  /**
   * Adopts the entries of a message from the supervisor (another worker's learning); they are not
   * offered again. Anything else is counted `endpoint_share_bad`.
   */
  receive(m: unknown): void {
    if (!isShareMessage(m)) {
      this.counters.inc('endpoint_share_bad');
      return;
    }
    for (const x of m.e) {
      const key = checkEntry(x);
      if (key === false) {
        this.counters.inc('endpoint_share_bad');
        continue;
      }
      const [ip, port, l4, app, source, now] = x;
      if (this.table.adopt(ip, port, l4, app, source, now, key)) this.counters.inc('endpoint_share_in');
    }
  }
}

/** The IPC side of a process: `process`, or a stand-in in tests. */
export interface IpcProcess {
  send?: (m: ShareMessage) => unknown;
  on(ev: 'message', fn: (m: unknown) => void): unknown;
  channel?: { unref(): void } | null;
}

/**
 * Starts sharing for a queue worker: what `learning` learns goes to the supervisor over the IPC
 * channel, and what the supervisor relays is adopted. The channel does not keep the process
 * alive. Null (nothing shared) when there is no channel (a single daemon) or the table is off.
 */
export function shareOverIpc(learning: EndpointLearning | null, backlog: number, counters: Counters, proc: IpcProcess = process as IpcProcess): EndpointShare | null {
  const send = proc.send;
  if (!learning || typeof send !== 'function') return null;
  const share = new EndpointShare(learning.table, (m) => send.call(proc, m), counters, backlog);
  learning.onLearned = (ip, port, l4, app, source, now, key) => share.offer(ip, port, l4, app, source, now, key);
  proc.on('message', (m) => share.receive(m));
  proc.channel?.unref();
  try {
    send.call(proc, { t: SHARE_TAG, e: [], sync: true });
  } catch {
    // The channel is already closed (the supervisor is going away): there is nothing to catch up on.
  }
  return share;
}
