/**
 * Host heuristics: is an inside host doing P2P? Transport-layer rules of Karagiannis, Broido,
 * Faloutsos and claffy, "Transport layer identification of P2P traffic" (IMC 2004), §3, applied per
 * inside host over a sliding window of flow facts (no payload):
 *
 *  1. TCP/UDP pairs: the host and one remote IP exchange both TCP and UDP flows within the window
 *     (P2P clients run their transfers over TCP and their signalling/DHT over UDP). Flows on the
 *     well-known ports of services that legitimately use both transports are ignored
 *     (`EXCLUDED_PORTS`: DNS, NTP, NetBIOS, SMB, IPsec, SIP, STUN, mDNS, SSDP, HTTP(S)/QUIC, DoT/DoQ,
 *     and the paper's gaming and streaming ports). The host is flagged once `tcpUdpMinPeers`
 *     remote IPs do so.
 *  2. {IP, port} pairs: for one endpoint of the host (transport, inside address, port), the number
 *     of distinct peer IPs is close to the number of distinct peer ports, since each peer talks to
 *     a P2P endpoint from one port, while a web client opens several connections per server. The
 *     endpoint needs `endpointMinPeers` distinct peer IPs and `|IPs − ports| ≤ endpointMaxDiff`.
 *     The paper's exceptions: mail (SMTP, submission, POP, IMAP) and DNS endpoints behave the same
 *     way and are ignored (`MAIL_DNS_PORTS`), as are endpoints on privileged ports (< 1024: servers).
 *
 * A flagged host stays flagged for one window after its last qualifying flow. "Inside" means an
 * address in the configured local prefixes (default `DEFAULTS.hostHeuristics.localCidrs`). Memory is bounded:
 * hosts, remote IPs per host, endpoints per host and peers per endpoint are capped (least recently
 * seen evicted) and every cap hit is a named, counted event (`HOST_EVENTS`). Times are seconds.
 * Nothing here throws on flow input; the constructor throws on a bad prefix (configuration).
 */
import type { Counters } from '../core/counters.js';
import type { L4 } from '../core/types.js';
import { DEFAULTS } from '../core/defaults.js';
import { isSshIdentStart, isTlsRecordStart } from '../core/known-starts.js';
import { CidrSet, parseCidr } from './cidr.js';

/** What the heuristics need of a flow: its transport and 5-tuple (a `Flow` satisfies it). */
export interface FlowFacts {
  readonly l4: L4;
  readonly src: string;
  readonly sport: number;
  readonly dst: string;
  readonly dport: number;
}

/** Options; every field has a default (`HOST_HEURISTICS_DEFAULTS`). */
export interface HostHeuristicsOptions {
  /** Inside address prefixes (CIDR text). */
  localCidrs: readonly string[];
  /** Sliding window, seconds: evidence older than this is forgotten; a flag lasts this long. */
  windowSec: number;
  /** Rule 1: remote IPs using both TCP and UDP with the host needed to flag it (paper: 1). */
  tcpUdpMinPeers: number;
  /** Rule 2: distinct peer IPs an endpoint needs before its IP/port counts are compared. */
  endpointMinPeers: number;
  /** Rule 2: largest |distinct peer IPs − distinct peer ports| still called "close". */
  endpointMaxDiff: number;
  /** Caps: inside hosts tracked, remote IPs per host, endpoints per host, peers per endpoint. */
  maxHosts: number;
  maxRemotesPerHost: number;
  maxEndpointsPerHost: number;
  maxPeersPerEndpoint: number;
}

/** The defaults (src/core/defaults.ts `hostHeuristics`, without its `enabled` switch). */
export const HOST_HEURISTICS_DEFAULTS: Readonly<HostHeuristicsOptions> = Object.freeze((({ enabled: _on, ...o }) => o)(DEFAULTS.hostHeuristics));

/** Counted events (counter names): cap hits, unusable input, flag transitions. */
export const HOST_EVENTS = Object.freeze([
  'hosts_cap_hosts',
  'hosts_cap_remotes',
  'hosts_cap_endpoints',
  'hosts_cap_peers',
  'hosts_bad_flow',
  'hosts_flagged_tcp_udp',
  'hosts_flagged_ip_port',
] as const);
export type HostEvent = (typeof HOST_EVENTS)[number];

/**
 * Well-known ports of services that legitimately use both TCP and UDP (ignored by both rules, and
 * never relabelled): DNS 53, DHCP 67/68, NTP 123, RPC 135, NetBIOS 137–139, SNMP 161/162, SMB 445,
 * IKE 500/4500, SIP 5060/5061, STUN/TURN 3478/5349, mDNS 5353, SSDP 1900, HTTP 80, HTTPS/QUIC 443,
 * DoT/DoQ 853, LLMNR 5355; the paper's streaming (RTSP 554, MMS 1755, RealAudio 7070) and gaming
 * ports (Xbox Live 3074, WoW 3724, Battle.net 6112, Half-Life/Steam 27015, Quake 3 27960).
 */
export const EXCLUDED_PORTS: ReadonlySet<number> = new Set([
  53, 67, 68, 80, 123, 135, 137, 138, 139, 161, 162, 443, 445, 500, 554, 853, 1755, 1900, 3074, 3478, 3702, 3724, 4500,
  5060, 5061, 5349, 5350, 5351, 5353, 5355, 6112, 7070, 27015, 27960,
]);
/** The paper's exceptions to rule 2: mail (25, 465, 587, 110, 995, 143, 993) and DNS (53). */
export const MAIL_DNS_PORTS: ReadonlySet<number> = new Set([25, 53, 110, 143, 465, 587, 993, 995]);

/** Last time (s) the host and one remote IP had a TCP and a UDP flow. */
interface RemoteUse {
  tcp: number;
  udp: number;
}

/**
 * Rule 2's state of one endpoint of the host: its peers and, kept up to date with them, how many
 * of them each peer IP and each peer port has, so the distinct counts are map sizes (no scan of the
 * peers per flow). A peer's time is the newest time the endpoint had seen when it was recorded
 * (flow facts come slightly out of time order: a flow's end is reported when it expires), which
 * keeps `peers` in time order, so expiry only looks at its oldest entries.
 */
interface EndpointUse {
  /** Peer `ip|port` → last seen (s), oldest first. */
  peers: Map<string, number>;
  ips: Map<string, number>;
  ports: Map<number, number>;
  newest: number;
}

interface HostState {
  /** Remote IP → last TCP/UDP use (insertion order = least recently seen first). */
  remotes: Map<string, RemoteUse>;
  /** `t<port>`/`u<port>` → the endpoint's peers. */
  endpoints: Map<string, EndpointUse>;
  flaggedUntil: number;
  reason: 'tcp-udp' | 'ip-port' | null;
}

/** `stats()` shape. */
export interface HostHeuristicsStats {
  hosts: number;
  /** Hosts whose flag is still on at `now`. */
  flagged: number;
  /** Counted events so far (every HOST_EVENTS name, 0 included). */
  events: Record<HostEvent, number>;
}

/** Re-inserts `key` at the end of `m` (most recently seen), evicting the oldest past `cap`. */
function touch<V>(m: Map<string, V>, key: string, v: V, cap: number): boolean {
  m.delete(key);
  let evicted = false;
  if (m.size >= cap) {
    const oldest = m.keys().next();
    if (!oldest.done) m.delete(oldest.value);
    evicted = true;
  }
  m.set(key, v);
  return evicted;
}

/** Host-behaviour P2P detection (see the file header). */
export class HostHeuristics {
  readonly opts: Readonly<HostHeuristicsOptions>;
  private readonly local: CidrSet;
  private readonly hosts = new Map<string, HostState>();
  private readonly counts = Object.fromEntries(HOST_EVENTS.map((e) => [e, 0])) as Record<HostEvent, number>;

  /** @throws P2pgwError(P2PGW_ERR_USAGE) `host_heuristics.local: …` when a local prefix is invalid */
  constructor(opts: Partial<HostHeuristicsOptions> = {}, private readonly counters?: Counters) {
    this.opts = Object.freeze({ ...HOST_HEURISTICS_DEFAULTS, ...opts });
    this.local = new CidrSet(this.opts.localCidrs.map((c) => parseCidr(c, 'host_heuristics.local')));
  }

  /** True when `addr` is an inside address (in the local prefixes). */
  isInside(addr: string): boolean {
    return this.local.has(addr);
  }

  /**
   * Records one flow fact: call when a flow starts and again when it ends (`now` = the flow's
   * last packet time, seconds), which keeps long flows within the window. Flows with no inside
   * side are ignored; a flow with two inside sides counts for both hosts. Never throws.
   */
  observe(f: FlowFacts, now: number): void {
    if ((f.l4 !== 'tcp' && f.l4 !== 'udp') || !Number.isFinite(now) || typeof f.src !== 'string' || typeof f.dst !== 'string') {
      this.event('hosts_bad_flow');
      return;
    }
    if (this.isInside(f.src)) this.observeSide(f.l4, f.src, f.sport, f.dst, f.dport, now);
    if (this.isInside(f.dst)) this.observeSide(f.l4, f.dst, f.dport, f.src, f.sport, now);
  }

  /** True while inside host `ip` is flagged as doing P2P (`now` in seconds). */
  isP2pHost(ip: string, now: number): boolean {
    const h = this.hosts.get(ip);
    return !!h && h.flaggedUntil >= now;
  }

  /** Which rule flagged `ip` last (`tcp-udp` or `ip-port`), or null while it is not flagged. */
  reasonFor(ip: string, now: number): 'tcp-udp' | 'ip-port' | null {
    const h = this.hosts.get(ip);
    return h && h.flaggedUntil >= now ? h.reason : null;
  }

  /** Tracked hosts, hosts flagged at `now` (default: any flag ever set still counts) and events. */
  stats(now = -Infinity): HostHeuristicsStats {
    let flagged = 0;
    for (const h of this.hosts.values()) if (h.reason !== null && h.flaggedUntil >= now) flagged++;
    return { hosts: this.hosts.size, flagged, events: { ...this.counts } };
  }

  private event(e: HostEvent): void {
    this.counts[e]++;
    this.counters?.inc(e);
  }

  private host(ip: string): HostState {
    let h = this.hosts.get(ip);
    if (h) {
      this.hosts.delete(ip);
      this.hosts.set(ip, h);
      return h;
    }
    h = { remotes: new Map(), endpoints: new Map(), flaggedUntil: -Infinity, reason: null };
    if (touch(this.hosts, ip, h, this.opts.maxHosts)) this.event('hosts_cap_hosts');
    return h;
  }

  private observeSide(l4: L4, ip: string, port: number, remote: string, rport: number, now: number): void {
    if (EXCLUDED_PORTS.has(port) || EXCLUDED_PORTS.has(rport)) return;
    const h = this.host(ip);
    if (this.tcpUdp(h, l4, remote, now)) this.flag(h, 'tcp-udp', now);
    if (port >= 1024 && !MAIL_DNS_PORTS.has(port) && !MAIL_DNS_PORTS.has(rport) && this.ipPort(h, l4, port, remote, rport, now)) {
      this.flag(h, 'ip-port', now);
    }
  }

  private flag(h: HostState, reason: 'tcp-udp' | 'ip-port', now: number): void {
    if (h.flaggedUntil < now) this.event(reason === 'tcp-udp' ? 'hosts_flagged_tcp_udp' : 'hosts_flagged_ip_port');
    h.flaggedUntil = now + this.opts.windowSec;
    h.reason = reason;
  }

  /** Rule 1: records the use; true when enough remote IPs used both transports in the window. */
  private tcpUdp(h: HostState, l4: L4, remote: string, now: number): boolean {
    const u = h.remotes.get(remote) ?? { tcp: -Infinity, udp: -Infinity };
    if (l4 === 'tcp') u.tcp = Math.max(u.tcp, now);
    else u.udp = Math.max(u.udp, now);
    if (touch(h.remotes, remote, u, this.opts.maxRemotesPerHost)) this.event('hosts_cap_remotes');
    const since = now - this.opts.windowSec;
    if (u.tcp < since || u.udp < since) return false;
    let both = 0;
    for (const [k, v] of h.remotes) {
      if (v.tcp < since && v.udp < since) {
        h.remotes.delete(k);
        continue;
      }
      if (v.tcp >= since && v.udp >= since && ++both >= this.opts.tcpUdpMinPeers) return true;
    }
    return false;
  }

  /** Rule 2: records the peer of endpoint (l4, port); true when its peer IPs and ports are close. */
  private ipPort(h: HostState, l4: L4, port: number, remote: string, rport: number, now: number): boolean {
    const key = `${l4 === 'tcp' ? 't' : 'u'}${port}`;
    let ep = h.endpoints.get(key);
    if (!ep) ep = { peers: new Map(), ips: new Map(), ports: new Map(), newest: -Infinity };
    if (touch(h.endpoints, key, ep, this.opts.maxEndpointsPerHost)) this.event('hosts_cap_endpoints');
    if (now > ep.newest) ep.newest = now;
    const peer = `${remote}|${rport}`;
    if (!ep.peers.delete(peer)) {
      if (ep.peers.size >= this.opts.maxPeersPerEndpoint) {
        dropPeer(ep, ep.peers.keys().next().value!);
        this.event('hosts_cap_peers');
      }
      count(ep.ips, remote, 1);
      count(ep.ports, rport, 1);
    }
    ep.peers.set(peer, ep.newest);
    const since = now - this.opts.windowSec;
    for (const [k, t] of ep.peers) {
      if (t >= since) break;
      dropPeer(ep, k);
    }
    return ep.ips.size >= this.opts.endpointMinPeers && Math.abs(ep.ips.size - ep.ports.size) <= this.opts.endpointMaxDiff;
  }
}

/** Adds `d` to the count of `k`, forgetting it at 0. */
function count<K>(m: Map<K, number>, k: K, d: number): void {
  const n = (m.get(k) ?? 0) + d;
  if (n > 0) m.set(k, n);
  else m.delete(k);
}

/** Forgets peer `ip|port` of an endpoint, with its IP and port counts. */
function dropPeer(ep: EndpointUse, peer: string): void {
  ep.peers.delete(peer);
  const bar = peer.lastIndexOf('|');
  count(ep.ips, peer.slice(0, bar), -1);
  count(ep.ports, Number(peer.slice(bar + 1)), -1);
}

/**
 * The pipeline's hook when classification of `flow` gave up (unclassified): true when one of its
 * inside endpoints is a flagged P2P host, neither port is a well-known service port
 * (`EXCLUDED_PORTS`: the host's DNS, web and mail stay unlabelled), the other end is outside and
 * not a multicast/broadcast group, and `first` (the initiator's first bytes, if known) does not
 * start like TLS or SSH. The caller then labels the flow with the generic application `p2p`
 * (method `host-heuristic`). `now` in seconds.
 */
export function heuristicLabel(heur: HostHeuristics, flow: FlowFacts, now: number, first?: Uint8Array): boolean {
  if (EXCLUDED_PORTS.has(flow.sport) || EXCLUDED_PORTS.has(flow.dport) || MAIL_DNS_PORTS.has(flow.sport) || MAIL_DNS_PORTS.has(flow.dport)) return false;
  // Local-network services (both ends inside), multicast/broadcast and recognisable non-P2P
  // protocols are not the P2P traffic the heuristic is about.
  if ((heur.isInside(flow.src) && heur.isInside(flow.dst)) || groupAddress(flow.dst) || (first && knownProtocolStart(first))) return false;
  return (heur.isInside(flow.src) && heur.isP2pHost(flow.src, now)) || (heur.isInside(flow.dst) && heur.isP2pHost(flow.dst, now));
}

/** IPv4 multicast (224/4) or limited broadcast, IPv6 multicast (ff00::/8). */
function groupAddress(a: string): boolean {
  if (a.includes(':')) return a.toLowerCase().startsWith('ff');
  const first = Number(a.split('.', 1)[0]);
  return (first >= 224 && first <= 239) || a === '255.255.255.255';
}

/** A TLS record header (RFC 8446 §5.1) or an SSH identification string (RFC 4253 §4.2). */
export function knownProtocolStart(b: Uint8Array): boolean {
  return isTlsRecordStart(b) || isSshIdentStart(b);
}
