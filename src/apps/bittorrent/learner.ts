/**
 * The BitTorrent endpoint learner of one flow (issue 12; src/apps/types.ts EndpointLearner): finds
 * the messages ./peers.ts parses in a classified flow's traffic.
 *
 * TCP: each direction gets the reader its first bytes call for, fed in-order stream bytes that may
 * be split at any byte: the peer wire (BEP 3 handshake `\x13BitTorrent protocol`, then
 * `<len:4><id:1><payload>` messages; BEP 10 extension messages, id 20, are collected and read:
 * extended handshake `p`, `ut_pex`), a tracker announce request (`GET `: the request line's
 * `port=`), or a tracker response (`HTTP/`: status line and fields, then the body framed by
 * Content-Length, chunked coding or the end of the connection, RFC 9112 §6). Anything else (MSE/PE
 * streams) is not read. UDP: each datagram by its form: KRPC (BEP 5), LSD (BEP 14), BEP 15 connect,
 * announce request and the announce response answering one of the requests seen.
 *
 * Caps (src/apps/parse/lines.ts INSPECT_LIMITS): peer-wire messages `maxBtMessage`, collected
 * extension messages and tracker bodies `maxMessage`, lines `maxLine`, headers `maxHead`. A cap hit
 * or broken framing stops that direction and is reported through `flow.weird` (names:
 * `bt_message_too_long`, `http_line_too_long`, `http_header_too_long`, `http_bad_length`,
 * `http_bad_chunk_size`, `http_bad_chunk_end`, `tracker_body_too_long`). Never throws.
 */
import type { Dir, EndpointHint, EndpointLearner, InspectEvents, LearnerFlow } from '../types.js';
import { ascii, latin1, u32be } from '../bytes.js';
import { prefixState } from '../util.js';
import { Collector, HeadReader, INSPECT_LIMITS, LineReader, fieldValue } from '../parse/lines.js';
import { BodyReader, type Framing } from '../parse/http-body.js';
import { contentLength, transferCodings } from '../parse/headers.js';
import {
  announcePort, extendedPeers, isLsd, isUdpConnect, krpcPeers, lsdPeers, trackerPeers, udpAnnounceRequest, udpAnnounceResponse,
} from './peers.js';

/** BEP 3 handshake start: pstrlen 19 and pstr; the whole handshake is 68 bytes. */
const PSTR = ascii('\x13BitTorrent protocol');
const HANDSHAKE_LEN = 68;
const GET = ascii('GET ');
const HTTP = ascii('HTTP/');
/** BEP 10 extension message id in the peer wire. */
const EXTENDED = 20;
/** BEP 15 transaction ids remembered per flow (announce requests waiting for their response). */
const MAX_TIDS = 16;

type Mode = 'start' | 'wire' | 'request' | 'response' | 'off';
type Out = EndpointHint[];

/** Collects a tracker response body up to `cap` octets (BodyReader hands over views). */
class BodySink {
  private parts: Uint8Array[] = [];
  size = 0;
  over = false;
  /** The InspectEvents BodyReader reports to: only fileData carries anything. */
  readonly events: InspectEvents = {
    chat: () => {}, fileName: () => {}, fileEnd: () => {}, weird: () => {}, fileStart: () => 0,
    fileData: (_id, b) => {
      if (this.size + b.length > this.cap) this.over = true;
      else {
        this.parts.push(b.slice());
        this.size += b.length;
      }
    },
  };

  constructor(private readonly cap: number) {}

  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

/** The body framing of a tracker response's fields (RFC 9112 §6.3), or null when it cannot be trusted. */
function framingOf(h: HeadReader): Framing | null {
  const te = transferCodings(h.fields);
  if (te.length) return te.length === 1 && te[0] === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
  const cl = contentLength(h.fields);
  if (typeof cl === 'number') return { kind: 'length', length: cl };
  return cl === 'absent' || fieldValue(h.fields, 'connection') !== null ? { kind: 'close' } : null;
}

/** One TCP direction: the reader its first bytes call for. */
class TcpDirection {
  mode: Mode = 'start';
  /** The direction started as an HTTP tracker request or response. */
  http = false;
  private readonly head = new Uint8Array(5);
  private headLen = 0;
  private hs = new Collector(HANDSHAKE_LEN);
  private lenBuf = new Collector(4);
  /** Length of the message whose id octet comes next, or -1 while reading a length. */
  private len = -1;
  private msg: Collector | null = null;
  private skip = 0;
  private line: LineReader | null = null;
  private headers: HeadReader | null = null;
  private body: BodyReader | null = null;
  private sink: BodySink | null = null;

  constructor(private readonly weird: (name: string) => void) {}

  read(b: Uint8Array, out: Out): void {
    if (this.mode === 'off' || b.length === 0) return;
    if (this.mode !== 'start') return this.feed(b, out);
    const take = Math.min(this.head.length - this.headLen, b.length);
    this.head.set(b.subarray(0, take), this.headLen);
    this.headLen += take;
    const h = this.head.subarray(0, this.headLen);
    const g = prefixState(h, GET);
    const r = prefixState(h, HTTP);
    if (h[0] === 0x13) this.mode = 'wire';
    else if (g === 'match') this.mode = 'request';
    else if (r === 'match') this.mode = 'response';
    else if (g === 'partial' || r === 'partial') return;
    else return this.stop();
    this.http = this.mode !== 'wire';
    this.feed(h, out);
    this.feed(b.subarray(take), out);
  }

  private feed(b: Uint8Array, out: Out): void {
    if (this.mode === 'wire') this.wire(b, out);
    else if (this.mode === 'request') this.request(b, out);
    else if (this.mode === 'response') this.response(b, out);
  }

  private stop(why?: string): void {
    this.mode = 'off';
    this.msg = this.line = this.headers = this.body = this.sink = null;
    if (why) this.weird(why);
  }

  /** BEP 3 peer wire: the handshake, then messages; BEP 10 messages are collected and read. */
  private wire(b: Uint8Array, out: Out): void {
    let i = 0;
    while (i < b.length && this.mode === 'wire') {
      if (!this.hs.done) {
        i += this.hs.read(b, i);
        if (this.hs.done && prefixState(this.hs.bytes, PSTR) !== 'match') this.stop();
      } else if (this.skip > 0) {
        const n = Math.min(this.skip, b.length - i);
        this.skip -= n;
        i += n;
      } else if (this.msg) {
        i += this.msg.read(b, i);
        if (this.msg.done) {
          for (const h of extendedPeers(this.msg.bytes)) out.push(h);
          this.msg = null;
        }
      } else {
        // `<len:4>`, then the id octet; a keep-alive (len 0) has none.
        if (this.len < 0) {
          i += this.lenBuf.read(b, i);
          if (!this.lenBuf.done) continue;
          this.len = u32be(this.lenBuf.bytes, 0);
          this.lenBuf = new Collector(4);
          if (this.len > INSPECT_LIMITS.maxBtMessage) return this.stop('bt_message_too_long');
          if (this.len === 0) this.len = -1;
          continue;
        }
        const len = this.len;
        this.len = -1;
        if (b[i] === EXTENDED && len - 1 <= INSPECT_LIMITS.maxMessage) this.msg = new Collector(len - 1);
        else this.skip = len - 1;
        i++;
      }
    }
  }

  /** BEP 3 tracker announce `GET <target> HTTP/1.x`: the target's `port=` is the client's listen port. */
  private request(b: Uint8Array, out: Out): void {
    this.line ??= new LineReader(INSPECT_LIMITS.maxLine);
    let i = 0;
    while (i < b.length && this.line) {
      const used = this.line.read(b, i);
      if (used < 0) return this.stop('http_line_too_long');
      i += used;
      const line = this.line.line;
      if (line === null) continue;
      const p = announcePort(latin1(line));
      if (p !== null) out.push({ ip: null, port: p, l4: 'both', source: 'listen-port' });
      return this.stop();
    }
  }

  /** A tracker response: status line and fields, then the body; its peers once it is complete. */
  private response(b: Uint8Array, out: Out): void {
    let i = 0;
    if (!this.body) {
      this.headers ??= new HeadReader(true);
      const used = this.headers.read(b, 0);
      if (used < 0) return this.stop('http_header_too_long');
      if (!this.headers.done) return;
      i = used;
      const framing = framingOf(this.headers);
      if (!framing) return this.stop('http_bad_length');
      if (framing.kind === 'length' && framing.length > INSPECT_LIMITS.maxMessage) return this.stop('tracker_body_too_long');
      this.sink = new BodySink(INSPECT_LIMITS.maxMessage);
      this.body = new BodyReader(this.sink.events, framing, () => 0);
    }
    const body = this.body;
    const sink = this.sink!;
    while (i < b.length && !body.done && body.error === null) i += body.read(b, i);
    if (body.error) return this.stop(body.error);
    if (sink.over) return this.stop('tracker_body_too_long');
    // A close-delimited body is tried once per segment that ends like a dictionary (`e`).
    if (!body.done && body.framing.kind !== 'close') return;
    const bytes = sink.bytes();
    if (!body.done && (bytes.length === 0 || bytes[bytes.length - 1] !== 0x65)) return;
    const peers = trackerPeers(bytes);
    if (body.done || peers.length > 0) {
      for (const h of peers) out.push(h);
      this.stop();
    }
  }
}

/** The BitTorrent endpoint learner of one flow (see the file header). */
export class BitTorrentLearner implements EndpointLearner {
  peerFlow = true;
  private readonly dirs: [TcpDirection, TcpDirection] | null;
  private readonly tids: number[] = [];

  constructor(private readonly flow: LearnerFlow) {
    const weird = (name: string): void => flow.weird?.(name);
    this.dirs = flow.l4 === 'tcp' ? [new TcpDirection(weird), new TcpDirection(weird)] : null;
  }

  data(dir: Dir, bytes: Uint8Array, out: Out): void {
    if (!this.dirs) return this.datagram(bytes, out);
    const d = this.dirs[dir];
    d.read(bytes, out);
    if (d.http) this.peerFlow = false;
  }

  gap(dir: Dir): void {
    if (this.dirs) this.dirs[dir].mode = 'off';
  }

  private datagram(b: Uint8Array, out: Out): void {
    if (b.length === 0) return;
    if (b[0] === 0x64) {
      for (const h of krpcPeers(b)) out.push(h);
      return;
    }
    if (isLsd(b)) {
      this.peerFlow = false; // multicast announce: the destination is no peer
      for (const h of lsdPeers(b)) out.push(h);
      return;
    }
    if (isUdpConnect(b)) {
      this.peerFlow = false; // BEP 15: the responder is a tracker
      return;
    }
    const req = udpAnnounceRequest(b);
    if (req) {
      this.peerFlow = false;
      if (this.tids.length < MAX_TIDS) this.tids.push(req.tid);
      if (req.port !== 0) out.push({ ip: null, port: req.port, l4: 'both', source: 'listen-port' });
      return;
    }
    const res = this.tids.length ? udpAnnounceResponse(b, this.flow.ipv6) : null;
    if (res && this.tids.includes(res.tid)) for (const h of res.peers) out.push(h);
  }
}

/** The descriptor's `learner` hook (src/apps/types.ts AppDescriptor.learner). */
export const btLearner = (flow: LearnerFlow): EndpointLearner => new BitTorrentLearner(flow);
