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
import type { AppDescriptor, Dir, SearchContext, SignatureHit } from './types.js';
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
export class FlowClassifier implements SearchContext {
  readonly hits: SignatureHit[] = [];
  readonly packets: [number, number] = [0, 0];
  readonly prefix: [Uint8Array, Uint8Array] = [EMPTY, EMPTY];
  readonly flights: Flight[] = [];
  dir: Dir = 0;
  payload: Uint8Array = EMPTY;
  result: Classification | null = null;
  /** A detection waiting for earlier (higher-priority) dissectors that still need more. */
  private pending: (Classification & { app: ConfiguredApp }) | null = null;
  private readonly fed: [number, number] = [0, 0];
  private readonly streams: [MatchStream | null, MatchStream | null] = [null, null];
  private excluded: boolean[];
  private current = '';
  /** A host name (DNS question, HTTP Host, TLS SNI) may still arrive from the initiator. */
  private hostOpen = true;
  private prefixBuf: [Uint8Array | null, Uint8Array | null] = [null, null];

  constructor(
    private readonly cls: Classifier,
    readonly l4: L4,
    readonly initiatorPort: number,
    readonly responderPort: number,
  ) {
    this.excluded = cls.apps.map((a) => !a.desc.l4.includes(l4));
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
    const room = this.cls.limits.bytes - this.fed[dir];
    if (room <= 0 || this.packets[dir] >= this.cls.limits.packets || bytes.length === 0) return this.checkBudget();
    const chunk = bytes.length > room ? bytes.subarray(0, room) : bytes;
    this.packets[dir]++;
    this.dir = dir;
    this.payload = chunk;
    const tr = this.cls.tracer;
    const t0 = tr ? performance.now() : 0;
    if (this.l4 === 'tcp') {
      const base = this.fed[dir];
      this.appendPrefix(dir, chunk, base);
      const last = this.flights[this.flights.length - 1];
      if (last && last.dir === dir) last.bytes += chunk.length;
      else if (this.flights.length < MAX_FLIGHTS) this.flights.push({ dir, bytes: chunk.length });
      let stream = this.streams[dir];
      if (!stream) stream = this.streams[dir] = this.cls.matcher.newStream();
      stream.write(chunk, (id, start) => this.onMatch(id, dir, start));
    } else {
      if (this.prefix[dir].length === 0) this.prefix[dir] = chunk.slice();
      this.cls.matcher.scan(chunk, (id, start) => this.onMatch(id, dir, start));
    }
    this.fed[dir] += chunk.length;
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
    const spent = (d: Dir) => this.packets[d] >= lim.packets || this.fed[d] >= lim.bytes;
    if (spent(0) && spent(1)) return this.finish(`unclassified: budget of ${lim.packets} packets/${lim.bytes} bytes per direction spent`);
    return null;
  }

  private appendPrefix(dir: Dir, chunk: Uint8Array, base: number): void {
    let buf = this.prefixBuf[dir];
    if (!buf) buf = this.prefixBuf[dir] = new Uint8Array(this.cls.limits.bytes);
    buf.set(chunk, base);
    this.prefix[dir] = buf.subarray(0, base + chunk.length);
  }

  private onMatch(id: number, dir: Dir, start: number): void {
    const sig: SigRule = this.cls.sigs[id];
    if (sig.l4 !== 'any' && sig.l4 !== this.l4) return;
    if (sig.dir !== null && sig.dir !== dir) return;
    if (sig.anchor !== null && sig.anchor !== start) return;
    if (this.hits.some((h) => h.id === sig.id && h.dir === dir)) return;
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
      let r;
      try {
        r = app.desc.search(this);
      } catch (err) {
        // A dissector bug must not take the packet path down: exclude it for this flow, count it.
        this.cls.onDissectorError(app.desc.name, err);
        r = 'excluded' as const;
      }
      if (r === 'detected') {
        const hit = this.hits.find((h) => h.app === app.desc.name);
        const rule = hit ? hit.id : `${app.desc.name}.dissector`;
        const how = hit ? `signature ${hit.id} (${hit.dir === 0 ? 'out' : 'in'} @${hit.offset})` : `${app.desc.title} dissector`;
        const c: Classification = { app, rule, reason: how, method: hit ? 'signature' : 'structure' };
        if (!earlierOpen) return this.conclude(c);
        if (!this.pending || i < this.pending.app.index) this.pending = c as Classification & { app: ConfiguredApp };
        break;
      }
      if (r === 'excluded') this.excluded[i] = true;
      else earlierOpen = true;
    }
    if (!earlierOpen && !this.pending && this.excluded.every(Boolean)) {
      this.result = { app: null, rule: null, reason: 'unclassified: every dissector excluded the flow', method: null };
    }
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

  /** Per-flow state for a new flow. */
  newFlow(l4: L4, initiatorPort: number, responderPort: number): FlowClassifier {
    return new FlowClassifier(this, l4, initiatorPort, responderPort);
  }

  /** The configured app by name. */
  app(name: string): ConfiguredApp | undefined {
    return this.apps.find((a) => a.desc.name === name);
  }
}
