/**
 * Connections whose inspection state was lost (issue 14, item 2). An inspected connection keeps
 * its application's connmark, so the kernel queues all of its packets; the inspect rule restores
 * that connmark into the packet mark before NFQUEUE (src/enforce/iptables.ts), so the daemon sees
 * it. When such a packet belongs to no flow in the table — the flow was evicted (a SYN flood), or
 * the daemon restarted — the daemon has lost the stream position, the parsers' and the scanners'
 * state: the rest of the connection can no longer be inspected. It must not silently leave
 * inspection (classified again mid-stream it would become unknown, mark 0xff, and pass unscanned),
 * so the owner's policy `inspect.lost_state` decides, once per connection, counted and logged:
 *  - `reset` (default): the packet becomes a RST toward its receiver and the connection gets the
 *    kill connmark (the kernel resets the sender's next packet), as for a keyword hit or a virus;
 *    packets of the connection still in flight are dropped;
 *  - `pass`: the connection keeps its mark and its packets are accepted, uninspected.
 * Connections of an inspected application that were never content-inspected (UDP, an application
 * without a stream inspector, inspection off) lose nothing: they keep their mark silently.
 */
import type { Logger } from 'pino';
import type { Classifier } from '../apps/classifier.js';
import type { Counters } from '../core/counters.js';
import { DROP, type Verdict } from '../core/types.js';
import type { DecodedPacket } from '../decode/types.js';
import { TCP_RST } from '../decode/types.js';
import type { Flow } from '../flow/flow.js';
import { rstFrom } from '../content/rst.js';

/** `inspect.lost_state`: what happens to an inspected connection whose state was lost. */
export type LostStatePolicy = 'reset' | 'pass';

/** What the daemon needs to judge a packet that carries an inspected application's mark (the Pipeline has it). */
export interface LostStateContext {
  /** `inspect`: content inspection options; absent: inspection is off (inspected applications act as allow). */
  opts: { inspect?: { killMark: number; lostState?: LostStatePolicy; shared: { logger?: Logger } } | null };
  /** The content inspection engine (null when off). */
  inspect: object | null;
  classifier: Classifier;
  counters: Counters;
}

type Decision = { what: 'reset' | 'pass' | 'keep'; mark: number };

/** Decisions per flow object: a flow evicted and seen again is a new object, judged again. */
const decided = new WeakMap<Flow, Decision>();


/** True when the flow's connection was judged by the lost-state policy (the flow table keeps it). */
export function lostStateDecided(flow: Flow): boolean {
  return decided.has(flow);
}

/**
 * Judges a queued packet whose packet mark `mark` (restored from the connmark by the inspect rule)
 * is an inspected application's mark.
 * @param created the packet's flow was created by this packet (not in the table before)
 * @returns the packet's verdict when the policy applies (or applied earlier to this flow): reset →
 *   NF_REPEAT with the kill mark and the packet turned into a RST (a RST stays itself), then drop for
 *   later packets; pass or keep → NF_REPEAT with the application's mark (the mangle chain returns
 *   re-injected packets before its inspect rules). Null: not a lost connection, the pipeline goes on
 *   as usual
 */
export function judgeLostState(ctx: LostStateContext, flow: Flow, created: boolean, pkt: DecodedPacket, ip: Uint8Array, mark: number): Verdict | null {
  const d = decided.get(flow);
  if (d) return d.what === 'reset' ? DROP : { verdict: 'repeat', mark: d.mark };
  if (!created || !mark) return null;
  const app = ctx.classifier.apps.find((a) => a.mark === mark && a.action === 'inspect');
  if (!app) return null;
  const ins = ctx.opts.inspect;
  flow.app = app.desc.name;
  flow.mark = mark;
  flow.classifyDone = true;
  if (!ins || !ctx.inspect || flow.l4 !== 'tcp' || !app.desc.inspect) {
    decided.set(flow, { what: 'keep', mark });
    flow.reason = 'state lost; never content-inspected: mark kept';
    return { verdict: 'repeat', mark };
  }
  const policy = ins.lostState ?? 'reset';
  decided.set(flow, { what: policy, mark });
  ctx.counters.inc(`inspect_lost_state_${policy}`);
  const reset = policy === 'reset';
  flow.reason = `inspection state lost (flow evicted or daemon restarted): ${reset ? 'reset' : 'passed uninspected'}`;
  if (reset) flow.verdict = 'reset';
  ins.shared.logger?.warn(
    {
      app: flow.app, mark, l4: flow.l4, src: flow.src, sport: flow.sport, dst: flow.dst, dport: flow.dport,
      verdict: reset ? 'reset' : 'accept', policy, reason: flow.reason,
    },
    'lost state',
  );
  if (!reset) return { verdict: 'repeat', mark };
  return pkt.flags & TCP_RST ? { verdict: 'repeat', mark: ins.killMark } : { verdict: 'repeat', mark: ins.killMark, packet: rstFrom(ip, pkt) };
}
