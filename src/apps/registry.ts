/**
 * The dissector registry, in search order (as nDPI's protocol table): more specific applications
 * first, so that FastTrack and the BitTorrent HTTP tracker are tried before generic HTTP and
 * MSNFTP before MSNP; the generic `p2p` (assigned by the host heuristics only, it never detects)
 * comes last. This is the one list of applications: the rules loader, the config, analyze's P2P
 * set (category `p2p`), the lab's sessions and the tests derive theirs from it.
 *
 * Adding an application (src/apps/README.md): one folder src/apps/<name>/ whose detect.ts exports
 * the descriptor, its entry here (the import and one line in APPS), and its `app`/`sig` lines in
 * rules/p2pgw.rules.
 */
import type { AppDescriptor } from './types.js';
import { bittorrent } from './bittorrent/detect.js';
import { edonkey } from './edonkey/detect.js';
import { gnutella } from './gnutella/detect.js';
import { fasttrack } from './fasttrack/detect.js';
import { msnftp } from './msnftp/detect.js';
import { msn } from './msn/detect.js';
import { http } from './http/detect.js';
import { p2p } from './p2p/detect.js';

export const APPS: readonly AppDescriptor[] = Object.freeze([
  bittorrent,
  edonkey,
  gnutella,
  fasttrack,
  msnftp,
  msn,
  http,
  // Assigned only by the host heuristics (never detects from payload): last.
  p2p,
]);

/** The descriptor named `name`, or undefined. */
export function appByName(name: string): AppDescriptor | undefined {
  return APPS.find((a) => a.name === name);
}
