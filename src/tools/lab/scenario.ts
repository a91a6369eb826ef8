/**
 * Scenario files: the JSON the traffic generator's client and server both read, so they follow the
 * same script. Shape (version 1):
 *
 *     { "version": 1, "sessions": [ { "app", "name", "l4", "port", "source"?,
 *         "steps": [ { "dir": "out"|"in", "b64": "<base64>" } | { "dir", "prng": {seed,len,label?} } ] } ] }
 *
 * `prng` steps are regenerated with `prngBytes` (bulk data), everything else is stored verbatim.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { P2pgwError } from '../../core/errors.js';
import { prngBytes } from '../../apps/bytes.js';
import type { Session, Step } from '../../apps/session-types.js';

/** JSON form of a step. */
type StepJson = { dir: 'out' | 'in'; b64?: string; prng?: { seed: number; len: number; label?: string } };

/** Serialises sessions to the scenario JSON text. */
export function scenarioToJson(sessions: readonly Session[]): string {
  return JSON.stringify({
    version: 1,
    sessions: sessions.map((s) => ({
      app: s.app,
      name: s.name,
      l4: s.l4,
      port: s.port,
      ...(s.source ? { source: s.source } : {}),
      steps: s.steps.map((st): StepJson => (st.gen ? { dir: st.dir, prng: st.gen } : { dir: st.dir, b64: Buffer.from(st.bytes).toString('base64') })),
    })),
  });
}

/**
 * Parses scenario JSON and validates it: every session needs app, name, l4 tcp|udp, a port 1..65535
 * unique per l4, at least one step; UDP sessions must start with an `out` step (a UDP server cannot
 * speak first). Throws P2pgwError('P2PGW_ERR_USAGE') naming `origin` and the bad session.
 */
export function scenarioFromJson(text: string, origin = 'scenario'): Session[] {
  const bad = (why: string): never => {
    throw new P2pgwError('P2PGW_ERR_USAGE', `${origin}: ${why}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return bad(`not JSON (${(e as Error).message})`);
  }
  const d = doc as { version?: unknown; sessions?: unknown };
  if (d?.version !== 1 || !Array.isArray(d.sessions)) return bad('expected {"version":1,"sessions":[...]}');
  const seen = new Set<string>();
  return d.sessions.map((raw: any, i: number): Session => {
    const where = `session ${i} (${raw?.name ?? '?'})`;
    if (typeof raw?.app !== 'string' || typeof raw?.name !== 'string') bad(`${where}: app and name must be strings`);
    if (raw.l4 !== 'tcp' && raw.l4 !== 'udp') bad(`${where}: l4 must be tcp or udp`);
    if (!Number.isInteger(raw.port) || raw.port < 1 || raw.port > 65535) bad(`${where}: bad port ${raw.port}`);
    const key = `${raw.l4}/${raw.port}`;
    if (seen.has(key)) bad(`${where}: port ${key} used twice`);
    seen.add(key);
    if (!Array.isArray(raw.steps) || raw.steps.length === 0) bad(`${where}: no steps`);
    const steps = raw.steps.map((st: StepJson, j: number): Step => {
      if (st?.dir !== 'out' && st?.dir !== 'in') bad(`${where}: step ${j}: dir must be out or in`);
      if (st.prng) {
        const { seed, len, label } = st.prng;
        if (!Number.isInteger(seed) || !Number.isInteger(len) || len < 0) bad(`${where}: step ${j}: bad prng`);
        return { dir: st.dir, bytes: prngBytes(seed, len, label), gen: { seed, len, ...(label ? { label } : {}) } };
      }
      if (typeof st.b64 !== 'string') bad(`${where}: step ${j}: needs b64 or prng`);
      return { dir: st.dir, bytes: new Uint8Array(Buffer.from(st.b64 as string, 'base64')) };
    });
    if (raw.l4 === 'udp' && steps[0].dir !== 'out') bad(`${where}: a UDP session must start with an out step`);
    if (raw.l4 === 'udp' && steps.some((s: Step) => s.bytes.length > 65507)) bad(`${where}: UDP datagram over 65507 bytes`);
    return { app: raw.app, name: raw.name, l4: raw.l4, port: raw.port, steps, ...(raw.source ? { source: raw.source } : {}) };
  });
}

/** Writes `sessions` to `file` as scenario JSON. */
export async function writeScenario(file: string, sessions: readonly Session[]): Promise<void> {
  await writeFile(file, scenarioToJson(sessions));
}

/** Reads and validates a scenario file (see `scenarioFromJson`). */
export async function readScenario(file: string): Promise<Session[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new P2pgwError('P2PGW_ERR_USAGE', `cannot read scenario ${file}: ${(e as Error).message}`, { cause: e });
  }
  return scenarioFromJson(text, file);
}
