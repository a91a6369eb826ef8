/**
 * Shapes of the lab's scripted sessions. A session is pure data: the exact bytes each side sends, in
 * order. The traffic generator (src/tools/lab/gen.ts) plays the `out` steps from the client and the `in`
 * steps from the server; each side waits for the other's bytes before sending its next step.
 */

/** `out` = client → server (initiator → responder), `in` = server → client. */
export type StepDir = 'out' | 'in';

/** One step of a script. TCP: bytes written to the stream. UDP: exactly one datagram. */
export interface Step {
  dir: StepDir;
  bytes: Uint8Array;
  /**
   * Set when `bytes` is `prngBytes(gen.seed, gen.len, gen.label)`: lets scenario files store the
   * seed instead of megabytes of base64. Purely an encoding hint; `bytes` is always filled in.
   */
  gen?: { seed: number; len: number; label?: string };
}

/** One scripted conversation on one transport connection (TCP) or 5-tuple (UDP). */
export interface Session {
  /** Application name as the classifier reports it (`bittorrent`, `edonkey`, ...; `bulk`, `http`). */
  app: string;
  /** Unique variant name `app.variant` (e.g. `bittorrent.dht`), or `capture:<file>#<n>` for re-enacted flows. */
  name: string;
  l4: 'tcp' | 'udp';
  /** Server port (1..65535). Lab scenarios use high non-standard ports so classification cannot lean on them. */
  port: number;
  steps: Step[];
  /** Specification the bytes follow, for humans. */
  source?: string;
}

/** Options the session builders receive. */
export interface BuildOpts {
  /** Server IPv4 address written into headers that carry one (Host:, X-Kazaa-IP, ...). */
  serverAddr: string;
  /** Client IPv4 address, same use. */
  clientAddr: string;
  /** The port the session will use (so Host: headers can name it). */
  port: number;
  /** Seed for pseudo-random content (ids, hashes, blocks). */
  seed: number;
  /** Bulk sessions: payload size in bytes. */
  bulkBytes: number;
}

/** A session template in the registry: builds the session's steps for concrete options. */
export interface SessionTemplate {
  app: string;
  /** Variant name without the app prefix (`peerwire`, `dht`, ...). */
  variant: string;
  l4: 'tcp' | 'udp';
  /** Specification or reference the script follows. */
  source: string;
  build(o: BuildOpts): Step[];
}

/** Shorthand for an `out` step. */
export const out = (bytes: Uint8Array): Step => ({ dir: 'out', bytes });
/** Shorthand for an `in` step. */
export const inn = (bytes: Uint8Array): Step => ({ dir: 'in', bytes });
