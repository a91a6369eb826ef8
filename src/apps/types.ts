/**
 * The dissector contract, modelled on nDPI's protocol files: each application is one folder
 * src/apps/<name>/ whose detect.ts exports one `AppDescriptor`; src/apps/registry.ts keeps the
 * ordered registry, and every list of applications elsewhere is derived from it. The descriptor
 * carries the metadata nDPI registers with `ndpi_set_proto_defaults` (name, category) plus the
 * signature names the dissector reads and the events its inspector may raise.
 *
 * Directions: 0 = "out" (initiator → responder), 1 = "in" (responder → initiator). The initiator is
 * the sender of the first packet seen for the flow (the SYN sender when the handshake was seen).
 */
import type { Dir, Flight, L4, StreamConsumer } from '../core/types.js';
import type { SessionTemplate } from './session-types.js';

export type { Dir };

/**
 * Outcome of one `search` call (nDPI: detected / excluded / keep looking). `confirmed` is a
 * detection by a check no other application's traffic can pass (a decrypted magic value): it
 * concludes at once, even while dissectors earlier in the registry still need more.
 */
export type SearchResult = 'detected' | 'confirmed' | 'excluded' | 'need-more';
export const DETECTED: SearchResult = 'detected';
export const CONFIRMED: SearchResult = 'confirmed';
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
  /**
   * TCP: the flights so far (maximal runs of in-order payload bytes of one side, at most 8), in
   * order; the last one may still grow. UDP: empty.
   */
  readonly flights: readonly Flight[];
  /** Payload-carrying packets (TCP: with new in-order bytes; UDP: datagrams) seen per direction. */
  readonly packets: readonly [number, number];
  /** Initiator's and responder's ports. */
  readonly initiatorPort: number;
  readonly responderPort: number;
  /** Every signature hit so far in this flow, all applications. */
  readonly hits: readonly SignatureHit[];
  /** The first hit of signature `sig` of the application being searched, if any. */
  hit(sig: string): SignatureHit | undefined;
  /**
   * Secrets learned for the responder's address (EndpointHint.key: e.g. eD2k user hashes from a
   * plaintext source answer), from which an application may derive the key of an obfuscated
   * handshake; empty when none is known or endpoint knowledge is off.
   */
  readonly peerKeys: readonly Uint8Array[];
}

/**
 * What kind of application a descriptor is (nDPI's `ndpi_protocol_category_t`, coarsened):
 * `p2p` = peer-to-peer file sharing (host-behaviour analysis treats these as P2P), `im` = instant
 * messaging and its file transfers, `web` = generic web traffic.
 */
export type AppCategory = 'p2p' | 'im' | 'web';

/** One application (dissector). Mark and action come from rules/ and the config, not from here. */
export interface AppDescriptor {
  /** Lowercase name used in config, rules and flow records (`bittorrent`, `edonkey`, ...). */
  readonly name: string;
  /** Display name. */
  readonly title: string;
  /** Category (see AppCategory); `p2p` puts the application in analyze's P2P set. */
  readonly category: AppCategory;
  /** Transport protocols this dissector looks at. */
  readonly l4: readonly L4[];
  /** Well-known ports, documentation and tie-breaking only: never sufficient to detect. */
  readonly defaultPorts: { readonly tcp?: readonly number[]; readonly udp?: readonly number[] };
  /** Protocol spec or reference the signatures come from (shown in docs). */
  readonly source: string;
  /**
   * Names of the literal signatures the dissector reads (`sigNames(...).names`, src/apps/util.ts).
   * Each must be defined by a `sig <app> <signame> …` line in the rules files: loading rules that
   * lack one fails with a RulesError naming the application, the signature and the file.
   */
  readonly signatures: readonly string[];
  /**
   * Names of the counted events (weirds, counter `inspect_weird_<name>`) the inspector may raise,
   * derived from the inspector module's own list; absent or empty when it raises none.
   */
  readonly events?: readonly string[];
  /** The lab's scripted sessions of this application (src/tools/lab builds scenarios from them). */
  readonly sessions?: readonly SessionTemplate[];
  /** Called for each payload-carrying packet until it returns detected or excluded. */
  search(ctx: SearchContext): SearchResult;
  /** Creates the stream inspector of one connection (inspected applications only; see below). */
  inspect?(events: InspectEvents): StreamInspector;
  /**
   * Endpoint learning (issue 12): creates the learner of one flow classified as this application.
   * It reads the flow's payload (from the stream start, then during the learning window) and
   * reports peer endpoints the traffic reveals; the runtime puts them in the endpoint table
   * (src/flow/endpoints.ts) so later connections to them are classified at their first packet.
   */
  learner?(flow: LearnerFlow): EndpointLearner;
}

/** What a learner is told about its flow. */
export interface LearnerFlow {
  readonly l4: L4;
  /** The flow's addresses are IPv6 (BEP 15 announce replies then carry 18-byte peers). */
  readonly ipv6: boolean;
  /** Reports a counted event (malformed input, a cap hit); the runtime counts `endpoint_learn_<name>`. */
  readonly weird?: (name: string) => void;
}

/**
 * A peer endpoint revealed by an application's traffic. `ip` null = the sender of the bytes that
 * carried it (a client announcing its own listen port); `port` null = the sender's source port
 * (BEP 5 `implied_port`). `l4` `both` = the peer listens on TCP and UDP (BitTorrent's listen port
 * serves the peer wire over TCP and uTP).
 */
export interface EndpointHint {
  ip: string | null;
  port: number | null;
  l4: L4 | 'both';
  /** Where it was learned: `dht`, `tracker`, `udp-tracker`, `pex`, `lsd`, `listen-port`, ... */
  source: string;
  /**
   * A secret of the peer that keys its obfuscated handshakes (eDonkey: its 16-byte user hash),
   * kept with the endpoint and offered to dissectors as `SearchContext.peerKeys`.
   */
  key?: Uint8Array;
}

/**
 * The per-flow endpoint learner. Input may be split at any byte (TCP); it never throws on hostile
 * input and bounds what it buffers. Hints go to `out` (the caller's list).
 */
export interface EndpointLearner {
  /** TCP: the next in-order stream bytes of direction `dir`. UDP: one datagram of `dir`. */
  data(dir: Dir, bytes: Uint8Array, out: EndpointHint[]): void;
  /** TCP: bytes of `dir` were lost (gap, or not kept before classification): stop reading `dir`. */
  gap(dir: Dir): void;
  /**
   * Whether the flow is a connection between peers, so its own endpoints may be learned (source
   * `flow`); false for a flow to a server that is no peer (an HTTP or UDP tracker).
   */
  readonly peerFlow: boolean;
}

/* ---------------------------------------------------------------------------------------------
 * Content inspection (thesis §3.3–3.6): applications whose action is `inspect` get a stream
 * inspector fed with the reassembled stream of both directions from byte 0.
 * ------------------------------------------------------------------------------------------- */

/** A chat message seen in a stream (MSN MSG text/plain, …). */
export interface ChatMessage {
  /** Decoded text (UTF-8). */
  text: string;
  /** Sender / recipient identifiers when the protocol carries them (e.g. MSN passport). */
  from?: string;
  to?: string;
  /** MIME content type of the message body, if any. */
  contentType?: string;
}

/** Facts about a file transfer that starts in a stream. */
export interface FileInfo {
  /** File name (from the URL, Content-Disposition, FIL/invitation, …) or null if unknown. */
  name: string | null;
  /** Announced size in bytes (Content-Length, FIL n, …) or null. */
  size: number | null;
  /** Where the name came from, e.g. `url`, `content-disposition`, `msnftp-fil`. */
  nameSource?: string;
}

/** What an inspector reports; the content manager implements it (keywords, audit, virus scan). */
export interface InspectEvents {
  /** A complete chat message. */
  chat(dir: Dir, msg: ChatMessage): void;
  /** A requested or offered file name (checked against keyword lists). */
  fileName(dir: Dir, name: string, source: string): void;
  /** A file body starts in direction `dir`; returns a transfer id for fileData/fileEnd. */
  fileStart(dir: Dir, info: FileInfo): number;
  /** Body bytes of transfer `id`, in order. */
  fileData(id: number, bytes: Uint8Array): void;
  /** Transfer `id` ended: `complete` = all announced bytes arrived (or the framing says done). */
  fileEnd(id: number, complete: boolean): void;
  /** A protocol anomaly worth counting (named, like Zeek's weirds). */
  weird(name: string): void;
}

/** A stream inspector: the StreamConsumer contract (src/core/types.ts), fed from byte 0 of each direction. */
export type StreamInspector = StreamConsumer;
