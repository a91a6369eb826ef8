/**
 * The live packet source, whichever binding is configured (`queue.binding`):
 * - `batch` (default): p2pgw's own addon (./nfq-batch.ts): batches across the native boundary, one
 *   sendmsg per batch of verdicts, optional GSO;
 * - `nfqueue`: the patched npm `nfqueue` binding (./nfq.ts), one callback and one sendmsg per packet,
 *   no GSO (kept as a fallback).
 * Both deliver a BatchPacket (one reused object; its payload is valid until the next batch, or for
 * `nfqueue` for as long as it is referenced) and take verdicts by id.
 */
import { NfQueue, type NfQueueOptions, type VerdictName } from './nfq.js';
import { NfqBatch, type BatchPacket } from './nfq-batch.js';
import { SKB_CSUM_NOTVERIFIED } from './nfq-native.js';

export type { BatchPacket } from './nfq-batch.js';

/** `queue:` of the config. */
export interface QueueConfig extends NfQueueOptions {
  binding: 'batch' | 'nfqueue';
  /** NFQA_CFG_F_GSO (batch binding only). */
  gso: boolean;
  /** Most packets per batch (batch binding only). */
  batch: number;
  /** Verdicts sent by the addon's sender thread (batch binding only). */
  sendThread: boolean;
}

/** What the daemon uses of a bound queue. */
export interface PacketQueue {
  readonly warnings: string[];
  readonly pending: number;
  readonly isClosed: boolean;
  /** Counters for the status document (binding-specific fields). */
  readonly stats: object;
  verdict(id: number, v: VerdictName, mark?: number, packet?: Uint8Array): void;
  drain(timeoutMs?: number): Promise<boolean>;
  close(): void;
}

/** Arena bytes for a batch of `batch` packets: room for the batch at MTU size, at least 4 MiB. */
export const arenaBytesFor = (batch: number): number => Math.max(4 << 20, batch * 2048 + 68 * 1024);

/**
 * Binds the queue with the configured binding.
 * @throws what NfqBatch.open / NfQueue.open throw (P2pgwError MISSING_FEATURE, NOT_ROOT, NFQUEUE)
 */
export function openPacketQueue(
  cfg: QueueConfig,
  onPacket: (p: BatchPacket) => void,
  hooks: { onError?: (err: unknown) => void; onFlush?: (n: number, waitMs: number, sendMs: number) => void } = {},
): PacketQueue {
  if (cfg.binding === 'nfqueue') {
    // Flags: the binding does not pass NFQA_SKB_INFO: every checksum counts as not verified.
    const p: BatchPacket = { id: 0, payload: new Uint8Array(0), mark: 0, indev: 0, outdev: 0, flags: SKB_CSUM_NOTVERIFIED };
    const q = NfQueue.open(cfg, (raw) => {
      p.id = raw.id;
      p.payload = raw.payload;
      p.mark = raw.mark;
      p.indev = raw.indev;
      p.outdev = raw.outdev;
      onPacket(p);
    }, { onError: hooks.onError });
    if (cfg.gso) q.warnings.push('queue.gso needs queue.binding batch; the nfqueue binding takes segmented packets');
    return q;
  }
  return NfqBatch.open({ ...cfg, arenaBytes: arenaBytesFor(cfg.batch) }, onPacket, hooks);
}
