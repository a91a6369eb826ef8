/**
 * Bulk transfer: `bulkBytes` of pseudo-random, unclassifiable bytes (AES-CTR keystream from the seed,
 * see `prngBytes`) in one direction, for throughput and integrity checks through the gateway.
 * No protocol: any label other than "unknown" on these flows is a false positive.
 * - `bulk.upload`: client → server, then the server returns the 32-byte sha256 of what it received
 *   (so the client's `ok` proves the server got every byte);
 * - `bulk.download`: server → client on accept; the client reports sha256 of what it received.
 */
import { createHash } from 'node:crypto';
import { prngBytes } from '../../apps/bytes.js';
import type { BuildOpts, SessionTemplate, Step } from '../../apps/session-types.js';

/** Step for seeded bulk bytes, carrying the `gen` hint so scenario files stay small. */
export function bulkStep(dir: 'out' | 'in', seed: number, len: number, label: string): Step {
  return { dir, bytes: prngBytes(seed, len, label), gen: { seed, len, label } };
}

const upload = (o: BuildOpts): Step[] => {
  const s = bulkStep('out', o.seed, o.bulkBytes, 'bulk-up');
  const digest = new Uint8Array(createHash('sha256').update(s.bytes).digest());
  return [s, { dir: 'in', bytes: digest }];
};

const download = (o: BuildOpts): Step[] => [bulkStep('in', o.seed, o.bulkBytes, 'bulk-down')];

/** Registry entries for bulk: upload and download. */
export const BULK: readonly SessionTemplate[] = [
  { app: 'bulk', variant: 'upload', l4: 'tcp', source: 'none (seeded random bytes)', build: upload },
  { app: 'bulk', variant: 'download', l4: 'tcp', source: 'none (seeded random bytes)', build: download },
];
