/**
 * Registry of the lab's scripted sessions and the scenario builder. The sessions of each
 * application come from its descriptor (`AppDescriptor.sessions`, built by the application
 * folder's session.ts), in registry order, followed by the non-application `bulk` transfers; each
 * template cites the specification its bytes follow. `buildScenario` turns names into concrete
 * sessions on distinct, non-standard high ports (40000+), so the classifier cannot lean on port
 * numbers.
 */
import { P2pgwError } from '../../core/errors.js';
import { APPS } from '../../apps/registry.js';
import { BULK } from './bulk.js';
import type { Session, SessionTemplate } from '../../apps/session-types.js';

export type { Session, Step, StepDir, SessionTemplate, BuildOpts } from '../../apps/session-types.js';

/**
 * Every scripted session, by application name: the registered applications that have sessions,
 * in registry order, then `bulk`. Order is the scenario order.
 */
export const SESSIONS: Readonly<Record<string, readonly SessionTemplate[]>> = Object.freeze(
  Object.fromEntries([
    ...APPS.filter((a) => (a.sessions?.length ?? 0) > 0).map((a) => [a.name, a.sessions!] as const),
    ['bulk', BULK] as const,
  ]),
);

/** Options of `buildScenario`. */
export interface ScenarioOpts {
  /** First server port; sessions get basePort, basePort+1, ... (default 40000). */
  basePort?: number;
  /** Base seed for ids and content; session i uses seed + i (default 1). */
  seed?: number;
  /** Size of each bulk transfer, bytes (default 1 MiB). */
  bulkBytes?: number;
  /** Addresses written into protocol headers (default: the lab's 10.232.2.2 server, 10.232.1.2 client). */
  serverAddr?: string;
  clientAddr?: string;
}

/** Default scenario options. */
export const SCENARIO_DEFAULTS = Object.freeze({
  basePort: 40000,
  seed: 1,
  bulkBytes: 1024 * 1024,
  serverAddr: '10.232.2.2',
  clientAddr: '10.232.1.2',
});

/** Every `app.variant` name in registry order. */
export function sessionNames(): string[] {
  return Object.values(SESSIONS).flatMap((ts) => ts.map((t) => `${t.app}.${t.variant}`));
}

/**
 * Concrete sessions for `apps`: each entry is an application name (`bittorrent`: all its variants),
 * an `app.variant` name (`bittorrent.dht`), or `all`; an empty list means all. Ports are assigned in
 * order from `basePort` and are all distinct. Throws P2pgwError('P2PGW_ERR_USAGE') on an unknown name
 * or a port range past 65535.
 */
export function buildScenario(apps: string[], opts: ScenarioOpts = {}): Session[] {
  const o = { ...SCENARIO_DEFAULTS, ...opts };
  const wanted = apps.length === 0 || apps.includes('all') ? Object.keys(SESSIONS) : apps;
  const templates: SessionTemplate[] = [];
  for (const name of wanted) {
    const [app, variant] = name.split('.', 2);
    const list = SESSIONS[app];
    if (!list) throw new P2pgwError('P2PGW_ERR_USAGE', `unknown lab application "${app}" (known: ${Object.keys(SESSIONS).join(', ')})`);
    const picked = variant ? list.filter((t) => t.variant === variant) : list;
    if (picked.length === 0) throw new P2pgwError('P2PGW_ERR_USAGE', `unknown session "${name}" (known: ${sessionNames().join(', ')})`);
    for (const t of picked) if (!templates.includes(t)) templates.push(t);
  }
  if (o.basePort < 1024 || o.basePort + templates.length - 1 > 65535) {
    throw new P2pgwError('P2PGW_ERR_USAGE', `basePort ${o.basePort} leaves no room for ${templates.length} sessions`);
  }
  return templates.map((t, i) => {
    const port = o.basePort + i;
    const steps = t.build({ serverAddr: o.serverAddr, clientAddr: o.clientAddr, port, seed: o.seed + i, bulkBytes: o.bulkBytes });
    return { app: t.app, name: `${t.app}.${t.variant}`, l4: t.l4, port, steps, source: t.source };
  });
}
