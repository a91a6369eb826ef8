/**
 * Stream consumer contract (Zeek/Suricata style): reassembled, in-order bytes per direction.
 * Direction 0 = initiator → responder ("out"), 1 = responder → initiator ("in").
 */
export type Dir = 0 | 1;

export interface StreamConsumer {
  /** In-order bytes of direction `dir`; each byte is delivered exactly once. */
  onData(dir: Dir, bytes: Uint8Array): void;
  /** `len` bytes of direction `dir` will never arrive (a lost segment or a cap was hit). */
  onGap(dir: Dir, len: number): void;
  /** Direction `dir` ended (FIN reached in order, or RST). Called at most once per direction. */
  onEnd(dir: Dir): void;
}
