/**
 * The dissector contract, modelled on nDPI's protocol files: each application is one file in
 * src/apps exporting one `AppDescriptor`; src/apps/index.ts keeps the ordered registry.
 *
 * Directions: 0 = "out" (initiator → responder), 1 = "in" (responder → initiator). The initiator is
 * the sender of the first packet seen for the flow (the SYN sender when the handshake was seen).
 */
import type { L4 } from '../decode/types.js';

export type Dir = 0 | 1;

/** Outcome of one `search` call (nDPI: detected / excluded / keep looking). */
export type SearchResult = 'detected' | 'excluded' | 'need-more';
export const DETECTED: SearchResult = 'detected';
export const EXCLUDED: SearchResult = 'excluded';
export const NEED_MORE: SearchResult = 'need-more';

/** A signature from rules/ that matched in this flow (the matcher reports it, anchors already checked). */
export interface SignatureHit {
  /** Application name the signature belongs to. */
  app: string;
  /** Signature name inside that application (e.g. `handshake`). */
  sig: string;
  /** Rule id `app.sig`, used in verdict lines. */
  id: string;
  dir: Dir;
  /** TCP: absolute offset of the match start in that direction's stream. UDP: offset in the datagram. */
  offset: number;
  /** 1-based index of the payload-carrying packet (in that direction) in which the match ended. */
  pkt: number;
}

/** What a dissector sees on each call. Everything is bounded by the classify limits. */
export interface SearchContext {
  readonly l4: L4;
  /** Direction of the packet that caused this call. */
  readonly dir: Dir;
  /** New bytes: TCP = the in-order bytes this packet added; UDP = the whole datagram. */
  readonly payload: Uint8Array;
  /**
   * TCP: the in-order stream prefix of each direction so far (at most classify.bytes each).
   * UDP: the first datagram of each direction (empty until one was seen).
   */
  readonly prefix: readonly [Uint8Array, Uint8Array];
  /** Payload-carrying packets (TCP: with new in-order bytes; UDP: datagrams) seen per direction. */
  readonly packets: readonly [number, number];
  /** Initiator's and responder's ports. */
  readonly initiatorPort: number;
  readonly responderPort: number;
  /** Every signature hit so far in this flow, all applications. */
  readonly hits: readonly SignatureHit[];
  /** The first hit of signature `sig` of the application being searched, if any. */
  hit(sig: string): SignatureHit | undefined;
}

/** One application (dissector). Mark and action come from rules/ and the config, not from here. */
export interface AppDescriptor {
  /** Lowercase name used in config, rules and flow records (`bittorrent`, `edonkey`, ...). */
  readonly name: string;
  /** Display name. */
  readonly title: string;
  /** Transport protocols this dissector looks at. */
  readonly l4: readonly L4[];
  /** Well-known ports, documentation and tie-breaking only: never sufficient to detect. */
  readonly defaultPorts: { readonly tcp?: readonly number[]; readonly udp?: readonly number[] };
  /** Protocol spec or reference the signatures come from (shown in docs). */
  readonly source: string;
  /** Called for each payload-carrying packet until it returns detected or excluded. */
  search(ctx: SearchContext): SearchResult;
}
