/**
 * HTTP/1.x stream inspector (RFC 9112 message syntax, RFC 9110 semantics), used directly for the
 * `http` application and underneath Gnutella and FastTrack transfers, which are HTTP/1.1.
 *
 * One direction carries requests (normally dir 0; dir 1 after a Gnutella/FastTrack push) and the
 * other the responses, matched to requests in order (pipelining, RFC 9112 §9.3.2; persistent
 * connections, §9.3). Per message:
 * - request: `fileName(reqDir, name, 'url')` for a non-empty last path segment of the target,
 *   percent-decoded (RFC 3986 §2.1), or what the application's `targetName` hook returns; a
 *   request body (POST/PUT upload: Content-Length or chunked; requests are never
 *   close-delimited, §6.3 rule 7) is a file in `reqDir`;
 * - response: interim 1xx responses are skipped, except 101 which ends inspection (the protocol
 *   changes, §9.9 of RFC 9110); responses to HEAD, 204 and 304 have no body (§6.3 rules 1–2); a
 *   2xx to CONNECT starts a tunnel (inspection ends; a CONNECT request also stops the request
 *   direction). Any other response body is a file in the response direction;
 * - a file: `fileStart(dir, {name, size, nameSource})` with the name from the message's
 *   Content-Disposition (RFC 6266; also reported as `fileName(dir, name, 'content-disposition')`
 *   before it, so keyword lists see it), else the application's `headerName` hook, else the
 *   request target's name (`nameSource` says which; a hook may give a null name with a source,
 *   e.g. a URN); size = Content-Length (§6.2), or null when chunked (§7.1) or close-delimited (§6.3 rule
 *   8). A Content-Length body starts at its header; a chunked or close-delimited one at its
 *   first octet (an empty one is no file; Content-Length: 0 is no file either). Then `fileData`
 *   with the de-chunked octets and `fileEnd(id, complete)`: complete when the framing says the
 *   body ended (length reached, last chunk and trailer section read, or the end of the stream
 *   for a close-delimited body), incomplete at a gap, a framing error or an early end.
 * Transfer codings other than chunked (rare) and content codings (gzip…) are not undone.
 *
 * Weirds that stop the direction (fail-open): `http_line_too_long` (a line over 8 KiB),
 * `http_header_too_long` (a header or trailer section over 64 KiB), `http_bad_request_line`,
 * `http_bad_status_line`, `http_bad_version` (not HTTP/1.x), `http_bad_content_length` (sign,
 * non-digit, conflicting values), `http_content_length_too_large` (≥ 2^53),
 * `http_bad_transfer_encoding` (a request whose final coding is not chunked),
 * `http_bad_chunk_size`, `http_bad_chunk_end` (chunk data not followed by CRLF),
 * `http_too_many_pending` (over 256 unanswered pipelined requests). Counted only:
 * `http_bad_header_line`, `http_space_in_target`, `http_te_and_cl` (both framings, a smuggling
 * sign; Transfer-Encoding wins, §6.3 rule 3), `http_unmatched_response` (a response without a
 * request), `http_truncated_head` (the stream ended inside a header section).
 *
 * After a gap in the request direction, responses still pending are matched; later ones are
 * treated as answers to an unnamed GET.
 */
import type { Dir, FileInfo, InspectEvents, StreamInspector } from '../types.js';
import { BODY_WEIRDS, BodyReader, type Framing } from './http-body.js';
import { contentLength, dispositionName, transferCodings, urlName, type NameInfo } from './headers.js';
import { HeadReader, LINE_TOO_LONG, type HeaderField, INSPECT_LIMITS } from './lines.js';

/** Every weird the HTTP parser may raise (see the file header), its body reader's included. */
export const HTTP_WEIRDS = [
  ...BODY_WEIRDS,
  'http_bad_request_line', 'http_bad_status_line', 'http_bad_version', 'http_bad_content_length',
  'http_content_length_too_large', 'http_bad_transfer_encoding', 'http_too_many_pending', 'http_bad_header_line',
  'http_space_in_target', 'http_te_and_cl', 'http_unmatched_response', 'http_truncated_head',
] as const;
/** One of HTTP_WEIRDS. */
export type HttpWeird = (typeof HTTP_WEIRDS)[number];

/** Application hooks: how a request target and header fields name the file. */
export interface HttpHooks {
  /** Name carried by a request target; a non-null name is reported with `fileName`. */
  targetName(target: string): NameInfo;
  /** Name carried by a message's fields besides Content-Disposition (may report fileName itself). */
  headerName?(fields: readonly HeaderField[], dir: Dir, events: InspectEvents): NameInfo | null;
}

/** Plain HTTP: the last path segment of the target (RFC 3986), source `url`. */
export const DEFAULT_HOOKS: HttpHooks = { targetName: urlName };


const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const VERSION = /^HTTP\/([0-9])\.([0-9])$/;
const STATUS_LINE = /^HTTP\/([0-9])\.([0-9]) ?([0-9]{3})(?:[ \t].*)?$/;

/**
 * Request line `method SP request-target SP HTTP-version` (RFC 9112 §3). Leniently, the target is
 * everything between the first and the last SP: old Gnutella servents send file names with raw
 * spaces (`GET /get/2468/Foo Bar.mp3/ HTTP/1.0`), reported as `http_space_in_target`.
 */
export function requestLine(line: string): { method: string; target: string; major: string } | null {
  const sp1 = line.indexOf(' ');
  const sp2 = line.lastIndexOf(' ');
  if (sp1 <= 0 || sp2 <= sp1 + 1) return null;
  const method = line.slice(0, sp1);
  const v = VERSION.exec(line.slice(sp2 + 1));
  if (!METHOD.test(method) || !v) return null;
  return { method, target: line.slice(sp1 + 1, sp2), major: v[1] };
}

interface Pending {
  method: string;
  name: NameInfo;
}

interface DirState {
  state: 'head' | 'body' | 'stopped';
  head: HeadReader;
  body: BodyReader | null;
}

const fresh = (): DirState => ({ state: 'head', head: new HeadReader(true), body: null });

/** HTTP/1.x inspector of one connection (see the file header for events and weirds). */
export class HttpSession implements StreamInspector {
  private readonly dirs: [DirState, DirState] = [fresh(), fresh()];
  private readonly pending: Pending[] = [];

  constructor(
    private readonly events: InspectEvents,
    /** Direction that carries the requests. */
    readonly reqDir: Dir = 0,
    private readonly hooks: HttpHooks = DEFAULT_HOOKS,
  ) {}

  onData(dir: Dir, bytes: Uint8Array): void {
    const st = this.dirs[dir];
    let off = 0;
    while (off < bytes.length && st.state !== 'stopped') {
      if (st.state === 'head') {
        const used = st.head.read(bytes, off);
        if (used < 0) return this.fail(dir, used === LINE_TOO_LONG ? 'http_line_too_long' : 'http_header_too_long');
        off += used;
        if (st.head.done) {
          if (dir === this.reqDir) this.request(dir, st.head);
          else this.response(dir, st.head);
        }
      } else {
        const body = st.body!;
        off += body.read(bytes, off);
        if (body.error !== null) return this.fail(dir, body.error);
        if (body.done) this.finish(dir, true);
      }
    }
  }

  onGap(dir: Dir, _len: number): void {
    this.stop(dir);
  }

  onEnd(dir: Dir): void {
    const st = this.dirs[dir];
    if (st.state === 'head' && st.head.pending > 0) this.weird('http_truncated_head');
    if (st.state === 'body') this.finish(dir, st.body!.completeAtEnd());
    this.stop(dir);
  }

  /** Whether direction `dir` is no longer inspected. */
  stopped(dir: Dir): boolean {
    return this.dirs[dir].state === 'stopped';
  }

  /** Stops inspecting `dir`; an unfinished body ends incomplete. */
  stop(dir: Dir): void {
    const st = this.dirs[dir];
    const id = st.body?.id ?? null;
    if (st.state === 'body' && id !== null) this.events.fileEnd(id, false);
    st.state = 'stopped';
    st.body = null;
  }

  private weird(name: HttpWeird): void {
    this.events.weird(name);
  }

  private fail(dir: Dir, weird: HttpWeird): void {
    this.weird(weird);
    this.stop(dir);
  }

  /** Body over: report the end and read the next message's head. */
  private finish(dir: Dir, complete: boolean): void {
    const st = this.dirs[dir];
    const id = st.body!.id;
    if (id !== null) this.events.fileEnd(id, complete);
    Object.assign(st, fresh());
  }

  private nextHead(dir: Dir): void {
    Object.assign(this.dirs[dir], fresh());
  }

  private request(dir: Dir, head: HeadReader): void {
    const line = requestLine(head.start ?? '');
    if (!line) return this.fail(dir, 'http_bad_request_line');
    if (line.major !== '1') return this.fail(dir, 'http_bad_version');
    if (line.target.includes(' ')) this.weird('http_space_in_target');
    if (head.bad > 0) this.weird('http_bad_header_line');
    const { method, target } = line;
    const name = this.hooks.targetName(target);
    if (name.name !== null) this.events.fileName(dir, name.name, name.source ?? 'url');
    if (this.pending.length >= INSPECT_LIMITS.maxPendingRequests) return this.fail(dir, 'http_too_many_pending');
    this.pending.push({ method: method.toUpperCase(), name });
    if (method.toUpperCase() === 'CONNECT') return this.stop(dir);
    const framing = this.framing(head.fields, true);
    if (framing === 'stop') return;
    if (framing === null) return this.nextHead(dir);
    this.startBody(dir, framing, this.fileName(head.fields, dir, name));
  }

  private response(dir: Dir, head: HeadReader): void {
    const m = STATUS_LINE.exec(head.start ?? '');
    if (!m) return this.fail(dir, 'http_bad_status_line');
    if (m[1] !== '1') return this.fail(dir, 'http_bad_version');
    if (head.bad > 0) this.weird('http_bad_header_line');
    const status = Number(m[3]);
    if (status === 101) return this.stopBoth();
    if (status >= 100 && status < 200) return this.nextHead(dir);
    let req = this.pending.shift();
    if (!req) {
      if (!this.stopped(this.reqDir)) this.weird('http_unmatched_response');
      req = { method: 'GET', name: { name: null } };
    }
    if (req.method === 'CONNECT' && status >= 200 && status < 300) return this.stopBoth();
    if (req.method === 'HEAD' || status === 204 || status === 304) return this.nextHead(dir);
    const framing = this.framing(head.fields, false);
    if (framing === 'stop') return;
    if (framing === null) return this.nextHead(dir);
    this.startBody(dir, framing, this.fileName(head.fields, dir, req.name));
  }

  private stopBoth(): void {
    this.stop(0);
    this.stop(1);
  }

  /**
   * Body framing by RFC 9112 §6.3: Transfer-Encoding with a final `chunked` → chunked; another
   * final coding → close-delimited for a response, an error for a request; else Content-Length;
   * else none (request) or close-delimited (response). null = no body, 'stop' = framing broken.
   */
  private framing(fields: readonly HeaderField[], isRequest: boolean): Framing | null | 'stop' {
    const dir: Dir = isRequest ? this.reqDir : this.reqDir === 0 ? 1 : 0;
    const codings = transferCodings(fields);
    const cl = contentLength(fields);
    if (codings.length > 0) {
      if (cl !== 'absent') this.weird('http_te_and_cl');
      if (codings[codings.length - 1] === 'chunked') return { kind: 'chunked' };
      if (isRequest) return this.failStop(dir, 'http_bad_transfer_encoding');
      return { kind: 'close' };
    }
    if (cl === 'bad') return this.failStop(dir, 'http_bad_content_length');
    if (cl === 'huge') return this.failStop(dir, 'http_content_length_too_large');
    if (cl === 'absent') return isRequest ? null : { kind: 'close' };
    return cl === 0 ? null : { kind: 'length', length: cl };
  }

  private failStop(dir: Dir, weird: HttpWeird): 'stop' {
    this.fail(dir, weird);
    return 'stop';
  }

  /**
   * Content-Disposition, then the application's field hook, then the request target's name. A
   * Content-Disposition name is also reported with `fileName` (keyword lists see offered names,
   * not only requested ones); hooks report their own names.
   */
  private fileName(fields: readonly HeaderField[], dir: Dir, fallback: NameInfo): NameInfo {
    const hooked = this.hooks.headerName?.(fields, dir, this.events) ?? null;
    const cd = dispositionName(fields);
    if (cd?.name) this.events.fileName(dir, cd.name, 'content-disposition');
    return cd ?? hooked ?? fallback;
  }

  private startBody(dir: Dir, framing: Framing, name: NameInfo): void {
    const info: FileInfo = { name: name.name, size: framing.kind === 'length' ? framing.length : null };
    if (name.source !== undefined) info.nameSource = name.source;
    const st = this.dirs[dir];
    st.state = 'body';
    st.body = new BodyReader(this.events, framing, () => this.events.fileStart(dir, info));
  }
}

/** The `http` application's inspector: requests in dir 0, plain URL / Content-Disposition naming. */
export class HttpInspector extends HttpSession {
  constructor(events: InspectEvents) {
    super(events, 0, DEFAULT_HOOKS);
  }
}
