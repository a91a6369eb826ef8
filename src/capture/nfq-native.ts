/**
 * Loader and shared layout of p2pgw's own NFQUEUE addon (src/capture/native/nfq.c, built to
 * src/capture/native/build/Release/p2pgw_nfq.node by `npm install`, see native/build.cjs).
 *
 * Layouts shared with the C side (keep in step with nfq.c; `abi` guards it):
 * - packet rows, ROW u32 words each: id, payload offset in the arena (bytes), payload length
 *   (bytes), nfmark, in ifindex, out ifindex, flags (NFQA_SKB_* bits, ROW_TRUNC), captured length
 *   (the packet's full length, bytes; larger than the payload when cut at the copy range);
 * - verdict commands, CMD u32 words each: id, verdict (NF_DROP 0, NF_ACCEPT 1, NF_REPEAT 4), mark,
 *   flags (CMD_MARK, CMD_BATCH, CMD_PKT | packet index << 8);
 * - stats, a Float64Array indexed by S_*.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { P2pgwError } from '../core/errors.js';

export const ROW = 8;
export const CMD = 4;
export const CMD_MARK = 1;
export const CMD_BATCH = 2;
export const CMD_PKT = 4;
/** NFQA_SKB_INFO bits (linux/netfilter/nfnetlink_queue.h), as they arrive in a row's flags. */
export const SKB_CSUMNOTREADY = 1;
export const SKB_GSO = 2;
export const SKB_CSUM_NOTVERIFIED = 4;
/** Row flag set by the addon: the payload was cut at the copy range (0xffff bytes). */
export const ROW_TRUNC = 1 << 16;

export const NF_DROP = 0;
export const NF_ACCEPT = 1;
export const NF_REPEAT = 4;

/** Indexes of the native stats array (enum in nfq.c). */
export const S = Object.freeze({
  recv: 0, packets: 1, batches: 2, enobufs: 3, recvErrors: 4, sends: 5, sendErrors: 6, verdictErrors: 7,
  lastErrno: 8, messages: 9, truncated: 10, errType: 11, errId: 12,
  /** Sender thread (tx.c): peak of queued verdict bytes, longest wait (µs), times verdicts() waited for room. */
  sendqPeak: 13, sendqWaitMax: 14, sendqFull: 15,
  /** First of SENDQ_HIST counters: bucket k counts chunks that waited [2^k, 2^(k+1)) µs for the thread (k = 0: < 2 µs). */
  sendqHist0: 16, count: 16 + 24,
});
/** Buckets of the sender thread's wait histogram. */
export const SENDQ_HIST = 24;

/** The addon ABI this file speaks. */
export const NATIVE_ABI = 2;

/** What the addon returns from open(). */
export interface NativeOpen {
  handle: object;
  /** 0, or the errno with which the kernel refused the setting. */
  rcMaxlen: number;
  rcFailOpen: number;
  rcGso: number;
  /** 0, or the errno of starting the sender thread (verdicts are then sent on the JavaScript thread). */
  rcSendThread?: number;
  /** Packets that arrived while binding, waiting in the arena for pump(). */
  pending: number;
  portId: number;
}

/** The addon's exports (src/capture/native/nfq.c). */
export interface NfqNative {
  abi: number;
  open(
    opts: { queue: number; copyRange: number; maxlen: number; rcvbuf: number; failOpen: boolean; gso: boolean; sendThread?: boolean },
    arena: ArrayBuffer,
    rows: Uint32Array,
    stats: Float64Array,
    onBatch: (count: number) => void,
  ): NativeOpen;
  pump(handle: object): void;
  /** Sends n commands in one sendmsg (or hands them to the sender thread); returns the bytes, or -errno. */
  verdicts(handle: object, cmds: Uint32Array, n: number, packets: (Uint8Array | undefined)[] | null): number;
  close(handle: object): void;
}

/** Where the addon is built, relative to this file (dist/capture/ or src/capture/). */
export function nativeAddonPath(): string {
  if (process.env.P2PGW_NFQ_ADDON) return process.env.P2PGW_NFQ_ADDON;
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = path.resolve(here, '..', '..');
  return path.join(root, 'src', 'capture', 'native', 'build', 'Release', 'p2pgw_nfq.node');
}

let cached: NfqNative | undefined;

/**
 * Loads the addon once.
 * @throws P2pgwError MISSING_FEATURE naming the file and how to build it, when it is missing, does
 *   not load, or speaks another ABI
 */
export function loadNfqNative(): NfqNative {
  if (cached) return cached;
  const file = nativeAddonPath();
  const hint = 'build it with `npm install` (or `node src/capture/native/build.cjs`) in the p2pgw directory; it needs g++/make and the Node.js headers';
  if (!existsSync(file)) {
    throw new P2pgwError('P2PGW_ERR_MISSING_FEATURE', `live capture unavailable: the NFQUEUE addon ${file} is not built; ${hint}`);
  }
  let mod: NfqNative;
  try {
    mod = createRequire(import.meta.url)(file) as NfqNative;
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new P2pgwError('P2PGW_ERR_MISSING_FEATURE', `live capture unavailable: the NFQUEUE addon ${file} does not load (${msg}); ${hint}`, { cause: err });
  }
  if (mod.abi !== NATIVE_ABI) {
    throw new P2pgwError('P2PGW_ERR_MISSING_FEATURE', `live capture unavailable: the NFQUEUE addon ${file} has ABI ${mod.abi}, this p2pgw needs ${NATIVE_ABI}; ${hint}`);
  }
  cached = mod;
  return mod;
}
