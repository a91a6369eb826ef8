/**
 * The generic P2P application: a flow of an inside host that the host heuristics
 * (src/flow/hosts.ts; Karagiannis et al., "Transport layer identification of P2P traffic",
 * IMC 2004) found doing P2P, when no dissector recognised the flow itself. It carries its own mark
 * and action (rules/p2pgw.rules `app p2p`) so that such flows can be treated apart from the
 * applications recognised by their bytes; it never names an application the host was not seen
 * using.
 *
 * No signatures and no dissection: `search` always excludes, so the classifier never picks it from
 * payload. Only the pipeline assigns it, with method `host-heuristic`, after classification gave
 * up (see `heuristicLabel` in src/flow/hosts.ts). Last in the registry.
 */
import type { AppDescriptor, SearchContext, SearchResult } from '../types.js';
import { EXCLUDED } from '../types.js';
import { sigNames } from '../util.js';

const APP = 'p2p';
/** No literal signatures: this application is only assigned by the host heuristics. */
const SIG = sigNames(APP, []);

/** Never detects from payload (assigned by the host heuristics only). */
export function search(_ctx: SearchContext): SearchResult {
  return EXCLUDED;
}

export const p2p: AppDescriptor = {
  name: APP,
  title: 'P2P (host behaviour)',
  category: 'p2p',
  l4: ['tcp', 'udp'],
  defaultPorts: {},
  source: 'Karagiannis, Broido, Faloutsos, claffy: Transport layer identification of P2P traffic (IMC 2004)',
  signatures: SIG.names,
  search,
};
