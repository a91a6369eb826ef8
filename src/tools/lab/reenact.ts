/**
 * Re-enactment of capture files: every TCP/UDP flow of a pcap/pcapng becomes a lab `Session` whose
 * steps are the flow's payload bytes, per direction, in capture order, kept byte for byte, on a fresh
 * high server port. The generator then replays them as real traffic through the gateway.
 *
 * TCP: each direction's segments are put in sequence order relative to the ISN (SYN seen) or to the
 * first payload seen (RFC 9293 sequence space, modulo 2^32); retransmitted bytes are dropped,
 * overlaps trimmed, out-of-order segments held until the gap fills. A gap still open when the other
 * side sends payload (or at the end) was never captured: it is skipped and its size counted in
 * `stats.tcpGapBytes`, so the turn order of the conversation is kept. Consecutive bytes of one
 * direction merge into one step.
 * UDP: each datagram is one step. The initiator is the SYN sender (or the SYN+ACK's receiver, else
 * the first sender).
 */
import path from 'node:path';
import { readCaptureFile } from '../../capture/pcap.js';
import { decodeIp } from '../../decode/index.js';
import { TCP_ACK, TCP_SYN, type DecodedPacket } from '../../decode/types.js';
import { Counters } from '../../core/counters.js';
import { concat } from '../../apps/bytes.js';
import type { Session, StepDir } from '../../apps/session-types.js';

/** Options of the re-enactment. */
export interface ReenactOpts {
  /** First server port for the flows (default 41000); flow i gets basePort + i. */
  basePort?: number;
  /** At most this many flows (with payload) become sessions, in order of first packet (default 200). */
  maxFlows?: number;
  /** Stop adding flows once their payload totals this many bytes (default 64 MiB). */
  maxBytes?: number;
  /** Label used in session names (default `capture`). */
  label?: string;
}

/** What the re-enactment saw and left out. */
export interface ReenactStats {
  packets: number;
  /** Decoded TCP/UDP packets used. */
  used: number;
  /** Counts of skipped packets by reason (decoder event names, `no_ip`). */
  skipped: Record<string, number>;
  /** Flows seen / flows with payload / flows made into sessions. */
  flows: number;
  flowsWithPayload: number;
  sessions: number;
  /** TCP bytes dropped as retransmissions, and sequence-space bytes missing from the capture (gaps skipped). */
  tcpRetransmittedBytes: number;
  tcpGapBytes: number;
  /** True when maxFlows or maxBytes cut the list. */
  truncated: boolean;
}

interface Endpoint {
  addr: string;
  port: number;
}
interface DirState {
  /** Sequence number of the first payload byte (ISN + 1), or null until known. */
  base: number | null;
  /** Next expected offset relative to base. */
  next: number;
  /** Out-of-order segments by relative start. */
  ooo: Map<number, Uint8Array>;
}
interface Flow {
  l4: 'tcp' | 'udp';
  a: Endpoint;
  b: Endpoint;
  initiator: Endpoint;
  dirs: [DirState, DirState];
  steps: { dir: StepDir; chunks: Uint8Array[] }[];
  bytes: number;
}

const newDir = (): DirState => ({ base: null, next: 0, ooo: new Map() });
const same = (e: Endpoint, addr: string, port: number): boolean => e.addr === addr && e.port === port;

/** Incremental flow extractor; feed decoded packets in capture order, then call `sessions()`. */
export class FlowExtractor {
  private readonly flows = new Map<string, Flow>();
  readonly stats: ReenactStats = {
    packets: 0,
    used: 0,
    skipped: {},
    flows: 0,
    flowsWithPayload: 0,
    sessions: 0,
    tcpRetransmittedBytes: 0,
    tcpGapBytes: 0,
    truncated: false,
  };

  constructor(private readonly opts: ReenactOpts = {}) {}

  /** Counts a packet that was not used. */
  skip(reason: string): void {
    this.stats.packets++;
    this.stats.skipped[reason] = (this.stats.skipped[reason] ?? 0) + 1;
  }

  /** Adds one decoded packet. */
  add(p: DecodedPacket): void {
    if (p.fragment) return this.skip('ip_fragment');
    this.stats.packets++;
    this.stats.used++;
    const [lo, hi] = [`${p.src}|${p.sport}`, `${p.dst}|${p.dport}`].sort();
    const key = `${p.l4}|${lo}|${hi}`;
    let f = this.flows.get(key);
    if (!f) {
      const src = { addr: p.src, port: p.sport };
      const dst = { addr: p.dst, port: p.dport };
      // A SYN+ACK first means the SYN was missed: its receiver is the initiator.
      const synAck = p.l4 === 'tcp' && (p.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK);
      f = { l4: p.l4, a: src, b: dst, initiator: synAck ? dst : src, dirs: [newDir(), newDir()], steps: [], bytes: 0 };
      this.flows.set(key, f);
      this.stats.flows++;
    }
    const d = same(f.initiator, p.src, p.sport) ? 0 : 1;
    const dir: StepDir = d === 0 ? 'out' : 'in';
    if (p.l4 === 'udp') {
      if (p.payload.length > 0) this.append(f, dir, p.payload, false);
      return;
    }
    const st = f.dirs[d];
    if (p.flags & TCP_SYN) {
      st.base = (p.seq + 1) >>> 0;
      st.next = 0;
      if (p.payload.length === 0) return;
    }
    if (p.payload.length === 0) return;
    const seq = p.flags & TCP_SYN ? (p.seq + 1) >>> 0 : p.seq;
    if (st.base === null) st.base = seq;
    const start = ((seq - st.base) >>> 0) | 0; // signed: segments before base come out negative
    // The conversation turned: whatever the other side still holds after a gap was never captured.
    this.closeGaps(f, d === 0 ? 1 : 0);
    this.tcpSegment(f, d, start, p.payload);
  }

  private tcpSegment(f: Flow, d: 0 | 1, start: number, payload: Uint8Array): void {
    const st = f.dirs[d];
    const end = start + payload.length;
    if (end <= st.next) {
      this.stats.tcpRetransmittedBytes += payload.length;
      return;
    }
    if (start > st.next) {
      const held = st.ooo.get(start);
      if (!held || held.length < payload.length) st.ooo.set(start, payload.slice());
      return;
    }
    const fresh = payload.subarray(st.next - start);
    this.stats.tcpRetransmittedBytes += payload.length - fresh.length;
    this.append(f, d === 0 ? 'out' : 'in', fresh, true);
    st.next = end;
    this.drain(f, d);
  }

  private drain(f: Flow, d: 0 | 1): void {
    const st = f.dirs[d];
    for (let progress = true; progress && st.ooo.size > 0; ) {
      progress = false;
      for (const [s, b] of [...st.ooo].sort((x, y) => x[0] - y[0])) {
        if (s > st.next) break;
        st.ooo.delete(s);
        progress = true;
        if (s + b.length <= st.next) {
          this.stats.tcpRetransmittedBytes += b.length;
          continue;
        }
        const fresh = b.subarray(st.next - s);
        this.stats.tcpRetransmittedBytes += b.length - fresh.length;
        this.append(f, d === 0 ? 'out' : 'in', fresh, true);
        st.next = s + b.length;
      }
    }
  }

  /** Gives up on missing bytes of direction `d`: held segments are appended in sequence order. */
  private closeGaps(f: Flow, d: 0 | 1): void {
    const st = f.dirs[d];
    while (st.ooo.size > 0) {
      const first = Math.min(...st.ooo.keys());
      this.stats.tcpGapBytes += first - st.next;
      st.next = first;
      this.drain(f, d);
    }
  }

  private append(f: Flow, dir: StepDir, bytes: Uint8Array, merge: boolean): void {
    const last = f.steps[f.steps.length - 1];
    if (merge && last && last.dir === dir) last.chunks.push(bytes.slice());
    else f.steps.push({ dir, chunks: [bytes.slice()] });
    f.bytes += bytes.length;
  }

  /** Closes unfilled TCP gaps and returns the flows with payload as sessions (see ReenactOpts). */
  sessions(): Session[] {
    const o = { basePort: 41000, maxFlows: 200, maxBytes: 64 * 1024 * 1024, label: 'capture', ...this.opts };
    const out: Session[] = [];
    let total = 0;
    let i = 0;
    for (const f of this.flows.values()) {
      for (const d of [0, 1] as const) this.closeGaps(f, d);
      if (f.steps.length === 0) continue;
      this.stats.flowsWithPayload++;
      if (out.length >= o.maxFlows || total + f.bytes > o.maxBytes || o.basePort + out.length > 65535) {
        this.stats.truncated = true;
        continue;
      }
      total += f.bytes;
      const resp = same(f.initiator, f.a.addr, f.a.port) ? f.b : f.a;
      const fmt = (e: Endpoint): string => (e.addr.includes(':') ? `[${e.addr}]:${e.port}` : `${e.addr}:${e.port}`);
      out.push({
        app: 'capture',
        name: `${o.label}#${i++} ${f.l4} ${fmt(f.initiator)} -> ${fmt(resp)}`,
        l4: f.l4,
        port: o.basePort + out.length,
        steps: f.steps.map((s) => ({ dir: s.dir, bytes: concat(...s.chunks) })),
        source: `${o.label} (re-enacted)`,
      });
    }
    this.stats.sessions = out.length;
    return out;
  }
}

/**
 * Reads `file` (pcap or pcapng; see src/capture/pcap.ts) and turns its TCP/UDP flows into sessions.
 * Checksums are not verified (captures taken on a sending host carry offloaded checksums). Throws
 * P2pgwError('P2PGW_ERR_CAPTURE_FORMAT') on an unreadable file header.
 */
export function sessionsFromCapture(file: string, opts: ReenactOpts = {}): { sessions: Session[]; stats: ReenactStats; counters: Record<string, number> } {
  const counters = new Counters();
  const x = new FlowExtractor({ label: path.basename(file), ...opts });
  for (const rec of readCaptureFile(file, counters)) {
    if (!rec.ip) {
      x.skip('no_ip');
      continue;
    }
    const r = decodeIp(rec.ip, { verifyChecksums: false });
    if (r.ok) x.add(r.pkt);
    else x.skip(r.event);
  }
  const sessions = x.sessions();
  return { sessions, stats: x.stats, counters: counters.snapshot() };
}
