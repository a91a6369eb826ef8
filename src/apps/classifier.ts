/**
 * The classifier: runs the dissectors of src/apps over the first packets of both directions of a
 * flow, in order (thesis §3.2, L7-filter style classification; nDPI's detection loop).
 *
 * Literal signatures from rules/ are compiled once into the WebAssembly matcher. Each TCP
 * direction is streamed through it in sequence order (state carried across segments); each UDP
 * datagram is scanned on its own. Hits that satisfy the signature's l4, direction and anchor
 * constraints are recorded on the flow and offered to the dissectors (`ctx.hit`). Dissectors run
 * in registry order; the first to say `detected` wins. Classification gives up when every
 * dissector excluded the flow or the per-direction packet/byte budget is spent.
 */
import type { L4 } from '../decode/types.js';
import { Matcher, type MatchStream } from '../matcher/matcher.js';
import type { Action, RuleSet, SigRule } from './rules.js';
import type { AppDescriptor, Dir, SearchContext, SearchResult, SignatureHit } from './types.js';
import type { StepTimer } from '../core/steps.js';
import { HostnameMatcher, hostnameEvidence, type HostnameEvent } from './hostnames.js';
import type { DetectMethod, Flight } from '../core/types.js';

/** Classification limits (per direction). */
export interface ClassifyLimits {
  /** Payload-carrying packets per direction. */
  packets: number;
  /** Payload bytes per direction. */
  bytes: number;
}

/** An application as configured: dissector + mark + action. */
export interface ConfiguredApp {
  desc: AppDescriptor;
  mark: number;
  action: Action;
  /** Position in the registry (dissector order). */
  index: number;
}

/** Result of a finished classification. */
export interface Classification {
  app: ConfiguredApp | null;
  /** Rule id (`app.sig`) of the deciding signature, or `app.dissector` when code decided. */
  rule: string | null;
  reason: string;
  /** How it was reached (null when unclassified): `signature` when a signature of the app matched. */
  method: DetectMethod | null;
  /** Where the evidence came from, for `endpoint` (dht, tracker, pex, lsd, flow, ...) and `hostname` (the name). */
  source?: string;
}

/** Most flights kept per flow (the MSE/PE handshake needs four). */
const MAX_FLIGHTS = 8;

const EMPTY = new Uint8Array(0);

/** Per-flow classifier state. Create with `Classifier.newFlow`. */
/** Shared empty lists: a flow gets its own array only when it has something to put in it. */
const NO_HITS: SignatureHit[] = Object.freeze([]) as unknown as SignatureHit[];
const NO_FLIGHTS: Flight[] = Object.freeze([]) as unknown as Flight[];
const NO_KEYS: readonly Uint8Array[] = Object.freeze([]);

/**
 * Per-flow classification state. Memory (issue 14, item 6): a full flow table holds 65,536 of
 * these, most of them never carrying a byte (a SYN flood), so lists start shared and empty and
 * per-direction scalars are fields.
 */
export class FlowClassifier implements SearchContext {
  hits: SignatureHit[] = NO_HITS;
  readonly packets: [number, number] = [0, 0];
  readonly prefix: [Uint8Array, Uint8Array] = [EMPTY, EMPTY];
  flights: Flight[] = NO_FLIGHTS;
  dir: Dir = 0;
  payload: Uint8Array = EMPTY;
  /** Secrets known for the responder's address (SearchContext.peerKeys); the runtime sets them at flow start. */
  peerKeys: readonly Uint8Array[] = NO_KEYS;
  result: Classification | null = null;
  /** A detection waiting for earlier (higher-priority) dissectors that still need more. */
  private pending: (Classification & { app: ConfiguredApp }) | null = null;
  private fed0 = 0;
  private fed1 = 0;
  private stream0: MatchStream | null = null;
  private stream1: MatchStream | null = null;
  /** Per dissector: excluded. The classifier's shared array for the flow's l4 until the first write. */
  private excluded: readonly boolean[];
  private ownExcluded = false;
  private current = '';
  /** A host name (DNS question, HTTP Host, TLS SNI) may still arrive from the initiator. */
  private hostOpen = true;
  private prefixBuf0: Uint8Array | null = null;
  private prefixBuf1: Uint8Array | null = null;

  constructor(
    private readonly cls: Classifier,
    readonly l4: L4,
    readonly initiatorPort: number,
    readonly responderPort: number,
  ) {
    this.excluded = cls.excludedFor(l4);
  }

  /** Stream bytes fed to the matcher so far in direction `dir`. */
  private fed(dir: Dir): number {
    return dir === 0 ? this.fed0 : this.fed1;
  }

  /** Marks dissector `i` excluded for this flow. */
  private exclude(i: number): void {
    if (!this.ownExcluded) {
      this.excluded = this.excluded.slice();
      this.ownExcluded = true;
    }
    (this.excluded as boolean[])[i] = true;
  }

  /** The first hit of `sig` of the application currently being searched. */
  hit(sig: string): SignatureHit | undefined {
    const id = `${this.current}.${sig}`;
    return this.hits.find((h) => h.id === id);
  }

  /**
   * Feeds payload bytes of direction `dir`: for TCP the next in-order stream bytes, for UDP one
   * datagram. Returns the classification once it is final (detected or given up), else null.
   */
  feed(dir: Dir, bytes: Uint8Array): Classification | null {
    if (this.result) return this.result;
    const room = this.cls.limits.bytes - this.fed(dir);
    if (room <= 0 || this.packets[dir] >= this.cls.limits.packets || bytes.length === 0) return this.checkBudget();
    const chunk = bytes.length > room ? bytes.subarray(0, room) : bytes;
    this.packets[dir]++;
    this.dir = dir;
    this.payload = chunk;
    const tr = this.cls.tracer;
    const t0 = tr ? performance.now() : 0;
    if (this.l4 === 'tcp') {
      const base = this.fed(dir);
      this.appendPrefix(dir, chunk, base);
      const last = this.flights[this.flights.length - 1];
      if (last && last.dir === dir) last.bytes += chunk.length;
      else if (this.flights.length < MAX_FLIGHTS) {
        if (this.flights === NO_FLIGHTS) this.flights = [];
        this.flights.push({ dir, bytes: chunk.length });
      }
      let stream = dir === 0 ? this.stream0 : this.stream1;
      if (!stream) {
        stream = this.cls.matcher.newStream();
        if (dir === 0) this.stream0 = stream;
        else this.stream1 = stream;
      }
      stream.write(chunk, (id, start) => this.onMatch(id, dir, start));
    } else {
      if (this.prefix[dir].length === 0) this.prefix[dir] = chunk.slice();
      this.cls.matcher.scan(chunk, (id, start) => this.onMatch(id, dir, start));
    }
    if (dir === 0) this.fed0 += chunk.length;
    else this.fed1 += chunk.length;
    if (tr) {
      const t1 = performance.now();
      this.search();
      const t2 = performance.now();
      tr.add('matcher', t1 - t0);
      tr.add('dissector', t2 - t1);
      tr.nested += t2 - t0;
    } else {
      this.search();
    }
    return this.result ?? this.checkBudget();
  }

  /** Gives up now (flow ended or left the classification window); a pending detection wins. */
  finish(reason: string): Classification {
    if (!this.result) this.result = this.pending ?? { app: null, rule: null, reason, method: null };
    return this.result;
  }

  private checkBudget(): Classification | null {
    const lim = this.cls.limits;
    const spent = (d: Dir) => this.packets[d] >= lim.packets || this.fed(d) >= lim.bytes;
    if (spent(0) && spent(1)) return this.finish(`unclassified: budget of ${lim.packets} packets/${lim.bytes} bytes per direction spent`);
    return null;
  }

  private appendPrefix(dir: Dir, chunk: Uint8Array, base: number): void {
    let buf = dir === 0 ? this.prefixBuf0 : this.prefixBuf1;
    if (!buf) {
      buf = new Uint8Array(this.cls.limits.bytes);
      if (dir === 0) this.prefixBuf0 = buf;
      else this.prefixBuf1 = buf;
    }
    buf.set(chunk, base);
    this.prefix[dir] = buf.subarray(0, base + chunk.length);
  }

  private onMatch(id: number, dir: Dir, start: number): void {
    const sig: SigRule = this.cls.sigs[id];
    if (sig.l4 !== 'any' && sig.l4 !== this.l4) return;
    if (sig.dir !== null && sig.dir !== dir) return;
    if (sig.anchor !== null && sig.anchor !== start) return;
    if (this.hits.some((h) => h.id === sig.id && h.dir === dir)) return;
    if (this.hits === NO_HITS) this.hits = [];
    this.hits.push({ app: sig.app, sig: sig.sig, id: sig.id, dir, offset: start, pkt: this.packets[dir] });
  }

  /**
   * One detection pass. Registry order is priority: a detection is final only when every earlier
   * dissector has excluded the flow; otherwise it is kept pending while those still need more
   * (e.g. generic HTTP waits for FastTrack or Gnutella to see the response headers). When the
   * budget runs out, a pending detection wins over "unclassified".
   */
  private search(): void {
    // Names come first from the initiator (DNS question, HTTP request, ClientHello).
    if (this.hostOpen && this.dir === 1 && this.packets[0] === 0) this.hostOpen = false;
    if (this.hostOpen && this.dir === 0 && this.byHostname()) return;
    const apps = this.cls.apps;
    // A name still arriving ranks before every dissector (generic HTTP waits for its Host header).
    let earlierOpen = this.hostOpen;
    for (let i = 0; i < apps.length; i++) {
      if (this.excluded[i]) continue;
      if (this.pending && this.pending.app.index === i) {
        if (!earlierOpen) return this.conclude(this.pending);
        break;
      }
      const app = apps[i];
      this.current = app.desc.name;
      const r = this.run(i);
      if (r === 'confirmed') {
        // A decrypted handshake: no other application's traffic passes that check.
        return this.conclude({ app, rule: `${app.desc.name}.decryption`, reason: `${app.desc.title} handshake decrypted`, method: 'decryption' });
      }
      if (r === 'detected') {
        const hit = this.hits.find((h) => h.app === app.desc.name);
        const rule = hit ? hit.id : `${app.desc.name}.dissector`;
        const how = hit ? `signature ${hit.id} (${hit.dir === 0 ? 'out' : 'in'} @${hit.offset})` : `${app.desc.title} dissector`;
        let c: Classification = { app, rule, reason: how, method: hit ? 'signature' : 'structure' };
        if (!hit) c = this.portTieBreak(i) ?? c;
        if (!earlierOpen) return this.conclude(c);
        if (!this.pending || i < this.pending.app.index) this.pending = c as Classification & { app: ConfiguredApp };
        break;
      }
      if (r === 'excluded') this.exclude(i);
      else earlierOpen = true;
    }
    if (!earlierOpen && !this.pending && this.excluded.every(Boolean)) {
      this.result = { app: null, rule: null, reason: 'unclassified: every dissector excluded the flow', method: null };
    }
  }

  /** Runs dissector `i` on the current packet; a dissector that throws is excluded for this flow (counted). */
  private run(i: number): SearchResult {
    const app = this.cls.apps[i];
    this.current = app.desc.name;
    try {
      return app.desc.search(this);
    } catch (err) {
      // A dissector bug must not take the packet path down: exclude it for this flow, count it.
      this.cls.onDissectorError(app.desc.name, err);
      return 'excluded';
    }
  }

  /**
   * Tie-break of a structure-only detection by dissector `i` (no signature: e.g. MSE/PE and eMule
   * obfuscation both fit random-looking flights): when the responder's port is none of its
   * application's default ports but is one of a later dissector's, and that dissector detects the
   * same flow by structure too, the later one wins (ports are used for ties only, never to detect).
   * @returns the later application's classification, or null to keep dissector `i`'s
   */
  private portTieBreak(i: number): Classification | null {
    const apps = this.cls.apps;
    const onPort = (a: ConfiguredApp) => (this.l4 === 'tcp' ? a.desc.defaultPorts.tcp : a.desc.defaultPorts.udp)?.includes(this.responderPort) ?? false;
    if (onPort(apps[i])) return null;
    for (let j = i + 1; j < apps.length; j++) {
      if (this.excluded[j] || !onPort(apps[j])) continue;
      const r = this.run(j);
      if (r === 'excluded') this.exclude(j);
      if ((r === 'detected' || r === 'confirmed') && !this.hits.some((h) => h.app === apps[j].desc.name)) {
        const d = apps[j].desc;
        return { app: apps[j], rule: `${d.name}.dissector`, reason: `${d.title} dissector (port ${this.responderPort} breaks a tie with ${apps[i].desc.title})`, method: 'structure' };
      }
    }
    return null;
  }

  /**
   * Host-name evidence of the initiator's bytes (src/apps/hostnames.ts): concludes with method
   * `hostname` when a `host` rule names the application; closes when no name can come.
   * @returns true when it concluded
   */
  private byHostname(): boolean {
    const data = this.l4 === 'tcp' ? this.prefix[0] : this.payload;
    const ports = { initiator: this.initiatorPort, responder: this.responderPort };
    const ev = hostnameEvidence(this.l4, 0, data, ports, this.cls.hostnames, (e) => this.cls.onHostnameEvent(e));
    if (ev === 'need-more') return false;
    this.hostOpen = false;
    const app = ev ? this.cls.app(ev.app) : undefined;
    if (!ev || !app) return false;
    this.conclude({ app, rule: `${ev.app}.host`, reason: `hostname ${ev.name}`, method: 'hostname', source: ev.name });
    return true;
  }

  private conclude(c: Classification): void {
    this.result = c;
  }
}

/** Compiled classification database: registry + rules + matcher, shared by every flow. */
export class Classifier {
  readonly apps: ConfiguredApp[];
  readonly sigs: SigRule[];
  readonly matcher: Matcher;
  onDissectorError: (app: string, err: unknown) => void = () => {};
  /** Counted events of the host-name parsers (hostname_dns_bad, …). */
  onHostnameEvent: (e: HostnameEvent) => void = () => {};
  /** The `host` rules: P2P service names → application. */
  readonly hostnames: HostnameMatcher;
  /** Step timer (`--trace-steps`), null when off. */
  tracer: StepTimer | null = null;

  /**
   * @param registry ordered dissectors (src/apps/registry.ts)
   * @param rules loaded rules (marks, actions, signatures)
   * @param overrides per-app action/mark from the config
   * @throws P2pgwError(P2PGW_ERR_PATTERN) if a signature cannot be compiled
   */
  constructor(
    registry: readonly AppDescriptor[],
    rules: RuleSet,
    readonly limits: ClassifyLimits,
    overrides: Record<string, { action?: Action; mark?: number }> = {},
  ) {
    this.apps = registry.map((desc, index) => {
      const r = rules.apps.get(desc.name);
      const o = overrides[desc.name] ?? {};
      return { desc, index, mark: o.mark ?? r?.mark ?? 0, action: o.action ?? r?.action ?? 'allow' };
    });
    const known = new Set(registry.map((d) => d.name));
    this.sigs = rules.sigs.filter((s) => known.has(s.app));
    this.hostnames = new HostnameMatcher(rules.hosts.filter((h) => known.has(h.app)));
    this.matcher = Matcher.compile(this.sigs.map((s, id) => ({ id, bytes: s.bytes, nocase: s.nocase })));
  }

  /** Per dissector: excluded for every flow of `l4` (not a transport it handles); shared, read-only. */
  excludedFor(l4: L4): readonly boolean[] {
    let e = this.excludedByL4.get(l4);
    if (!e) this.excludedByL4.set(l4, (e = Object.freeze(this.apps.map((a) => !a.desc.l4.includes(l4)))));
    return e;
  }

  private readonly excludedByL4 = new Map<L4, readonly boolean[]>();

  /** Per-flow state for a new flow. */
  newFlow(l4: L4, initiatorPort: number, responderPort: number): FlowClassifier {
    return new FlowClassifier(this, l4, initiatorPort, responderPort);
  }

  /** The configured app by name. */
  app(name: string): ConfiguredApp | undefined {
    return this.apps.find((a) => a.desc.name === name);
  }
}
