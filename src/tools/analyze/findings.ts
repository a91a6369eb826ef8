/**
 * Findings of `p2pgw analyze`: domain rules after the ISP P2P behaviour study, applied to the
 * flows, the host samples and the interesting regions found by per-metric DBSCAN. Each finding
 * names the hosts, the time slots and example flows (its evidence).
 *
 * Rules (thresholds in RuleOptions, defaults in DEFAULTS.analyze.rules, src/core/defaults.ts):
 * - `reserved-port`: P2P flows to reserved UDP ports (0–1023). A flow is P2P when classified as a
 *   P2P application or sent from a UDP endpoint (address, port) that carried a classified P2P flow
 *   in either role (obfuscated Kad sent from the Kad port). At least `reservedMinFlows` per port. Port 53 above
 *   all: peers sending DHT traffic to DNS servers hint at poisoned peer lists used for DDoS.
 * - `departed-peer` / `behind-nat`: samples where the incoming flows are mostly unanswered
 *   (udp-outin-fract-unanswered or tcp-outin-failure-ratio ≥ `unansweredMinFraction`, at least
 *   `unansweredMinIncoming` incoming flows of that L4, sample interesting in the metric), in at
 *   least `minSlots` slots of a host. The host *departed* (left, but its address is still in peer
 *   lists) when it started no flow in most of those slots; otherwise it sits *behind NAT* or a
 *   firewall (it works, but cannot be reached).
 * - `selfish`: ratio-bytes-sent-to-rcvd ≤ `selfishMaxRatio` (near −1) and interesting, in slots
 *   where the host received at least `selfishMinBytes`; in ≥ `minSlots` slots and ≥
 *   `minShare` of the host's such slots.
 * - `repeated-server`: ≥ `repeatedMinConn` TCP connections from one host to the same server
 *   (address and port) in a slot whose tcp-avg-conn-per-IP is interesting, in ≥ `minSlots` slots:
 *   a possibly fake server (answers, never serves) or a full one (refuses, the client retries).
 * - `aggressive`: hosts whose samples lie in the interesting region above the main cluster in at
 *   least `aggressiveMinMetrics` activity metrics (live connections, rates, attempts, peers,
 *   ports), each in ≥ `minSlots` slots and ≥ `minShare` of the host's samples of that metric.
 */
import type { FlowRecord } from '../../observe/flowrecord.js';
import type { CidrSet } from './cidr.js';
import type { SampleSet } from './metrics.js';
import type { Ctx, Finding, Interesting, RuleOptions } from './rules-common.js';
import { reservedPorts, repeatedServer } from './rules-flows.js';
import { aggressive, selfish, unansweredIncoming } from './rules-hosts.js';

export { type Finding, type FindingRule, type FlowExample, type RuleOptions } from './rules-common.js';

/**
 * Applies every rule.
 * @returns findings, most severe first
 */
export function findFindings(
  records: readonly FlowRecord[],
  set: SampleSet,
  it: Interesting,
  o: { local: CidrSet; rules: RuleOptions },
): Finding[] {
  const mIdx = new Map(set.metrics.map((m, i) => [m.id, i]));
  const sIdx = new Map(set.samples.map((s, i) => [`${s.host}\u0000${s.slot}`, i]));
  const ctx: Ctx = {
    records,
    set,
    it,
    local: o.local,
    rules: o.rules,
    metricIndex: (id) => mIdx.get(id) ?? -1,
    sampleAt: (h, s) => sIdx.get(`${h}\u0000${s}`) ?? -1,
    slotOf: (ts) => Math.floor(ts / set.slotSec) * set.slotSec,
  };
  const out = [...reservedPorts(ctx), ...unansweredIncoming(ctx), ...selfish(ctx), ...repeatedServer(ctx), ...aggressive(ctx)];
  const rank = { high: 0, medium: 1, low: 2 };
  return out.sort((a, b) => rank[a.severity] - rank[b.severity]);
}

