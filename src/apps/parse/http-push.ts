/**
 * HTTP transfers that may open with a push line (Gnutella 0.6 `GIV`, Gnutella2 `PUSH guid:`,
 * FastTrack `GIVE`): a firewalled servent answers a push request by connecting out and sending
 * the push line; the other side (the downloader, dir 1) then sends an ordinary HTTP GET and the
 * servent (dir 0) responds. Without a push line the initiator is the downloader (dir 0).
 *
 * The first octets of dir 0 decide the mode: a push prefix → read the push line (≤ 8 KiB, hand
 * it to the application), then HTTP with requests in dir 1 (the blank line after `GIV …\n` is
 * skipped by the HTTP parser, RFC 9112 §2.2); an ignored prefix (the Gnutella overlay handshake
 * `GNUTELLA CONNECT/…`) → nothing is inspected; anything else → HTTP with requests in dir 0.
 * Dir 1 octets arriving before the decision are held (≤ 64 KiB) and replayed.
 */
import type { Dir, InspectEvents, StreamInspector } from '../types.js';
import { HttpSession, type HttpHooks } from './http-parser.js';
import { ascii, concatList } from '../bytes.js';
import { LINE_TOO_LONG, LineReader, INSPECT_LIMITS } from './lines.js';

/**
 * The weirds of application `app`'s push-aware inspector (see PushHttpInspector), besides the
 * HTTP parser's HTTP_WEIRDS: `<app>_push_line_too_long`, `<app>_early_data`.
 */
export function pushWeirds<const A extends string>(app: A): readonly [`${A}_push_line_too_long`, `${A}_early_data`] {
  return [`${app}_push_line_too_long`, `${app}_early_data`];
}

/** What an application's push-aware HTTP inspector looks for. */
export interface PushSpec {
  /** Weird prefix (`gnutella`, `fasttrack`). */
  app: string;
  /** Dir-0 prefixes that open a push line. */
  push: readonly string[];
  /** Dir-0 prefixes of connections that are not transfers (left alone, no weird). */
  ignore: readonly string[];
  /** Called with the complete push line (without its line end). */
  onPushLine(line: Uint8Array, events: InspectEvents): void;
  hooks: HttpHooks;
}

type Mode = 'undecided' | 'push-line' | 'http' | 'ignore';

/**
 * Push-aware HTTP inspector. Weirds: `<app>_push_line_too_long` (dir 0 stops),
 * `<app>_early_data` (over 64 KiB from dir 1 before dir 0's mode is known; dir 1 stops), plus
 * the HTTP parser's.
 */
export class PushHttpInspector implements StreamInspector {
  private mode: Mode = 'undecided';
  /** Dir-0 octets matched so far against the prefixes still alive. */
  private head: number[] = [];
  private alive: Uint8Array[];
  /** Dir-1 input held until the mode is known, and how it ended (if it did). */
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  private heldEnd: 'end' | 'gap' | null = null;
  private readonly line = new LineReader(INSPECT_LIMITS.maxLine);
  private http: HttpSession | null = null;

  constructor(
    private readonly events: InspectEvents,
    private readonly spec: PushSpec,
  ) {
    this.alive = [...spec.push, ...spec.ignore].map(ascii);
  }

  onData(dir: Dir, bytes: Uint8Array): void {
    if (dir === 1) return this.dir1(bytes);
    let off = 0;
    if (this.mode === 'undecided') off = this.sniff(bytes);
    while (this.mode === 'push-line' && off < bytes.length) {
      const used = this.line.read(bytes, off);
      if (used === LINE_TOO_LONG) {
        this.events.weird(pushWeirds(this.spec.app)[0]);
        this.startHttp(1).stop(0);
        return;
      }
      off += used;
      if (this.line.line !== null) {
        this.spec.onPushLine(this.line.line, this.events);
        this.startHttp(1);
      }
    }
    if (this.mode === 'http' && off < bytes.length) this.http!.onData(0, bytes.subarray(off));
  }

  onGap(dir: Dir, len: number): void {
    if (dir === 1 && this.heldEnd === null && (this.mode === 'undecided' || this.mode === 'push-line')) {
      this.heldEnd = 'gap';
      return;
    }
    if (dir === 0 && this.mode === 'undecided') this.startHttp(0);
    if (dir === 0 && this.mode === 'push-line') this.startHttp(1);
    this.http?.onGap(dir, len);
  }

  onEnd(dir: Dir): void {
    if (dir === 1 && this.heldEnd === null && (this.mode === 'undecided' || this.mode === 'push-line')) {
      this.heldEnd = 'end';
      return;
    }
    if (dir === 0 && this.mode === 'undecided') this.startHttp(0).onData(0, Uint8Array.from(this.head));
    if (dir === 0 && this.mode === 'push-line') this.startHttp(1);
    this.http?.onEnd(dir);
  }

  private dir1(bytes: Uint8Array): void {
    if (this.mode === 'http') return this.http!.onData(1, bytes);
    if (this.mode === 'ignore' || this.heldEnd !== null) return;
    this.heldBytes += bytes.length;
    if (this.heldBytes > INSPECT_LIMITS.maxHead) {
      this.events.weird(pushWeirds(this.spec.app)[1]);
      this.held = [];
      this.heldEnd = 'gap';
      return;
    }
    this.held.push(bytes.slice());
  }

  /** Matches dir-0 octets against the prefixes; returns how many of `bytes` it consumed. */
  private sniff(bytes: Uint8Array): number {
    let i = 0;
    while (i < bytes.length) {
      const c = bytes[i++];
      const n = this.head.push(c);
      this.alive = this.alive.filter((p) => p[n - 1] === c);
      const full = this.alive.find((p) => p.length === n);
      if (full) {
        if (this.spec.ignore.includes(String.fromCharCode(...full))) {
          this.mode = 'ignore';
          this.held = [];
        } else {
          this.mode = 'push-line';
          this.line.read(full, 0);
        }
        return i;
      }
      if (this.alive.length === 0) {
        this.startHttp(0).onData(0, Uint8Array.from(this.head));
        return i;
      }
    }
    return i;
  }

  /** Starts the HTTP parser with requests in `reqDir` and replays the held dir-1 input. */
  private startHttp(reqDir: Dir): HttpSession {
    this.mode = 'http';
    const http = new HttpSession(this.events, reqDir, this.spec.hooks);
    this.http = http;
    if (this.held.length > 0) http.onData(1, concatList(this.held));
    this.held = [];
    if (this.heldEnd === 'end') http.onEnd(1);
    if (this.heldEnd === 'gap') http.onGap(1, 0);
    return http;
  }
}
