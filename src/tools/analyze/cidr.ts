/**
 * `p2pgw analyze --local/--isp` prefix lists: comma-separated CIDR prefixes (src/flow/cidr.ts
 * parses and tests them).
 */
import { P2pgwError } from '../../core/errors.js';
import { parseCidr, type Cidr } from '../../flow/cidr.js';

export { CidrSet, parseAddress, parseCidr, type Cidr } from '../../flow/cidr.js';

/**
 * Parses a comma-separated list of prefixes (`10.0.0.0/8,2001:db8::/32`).
 * @throws P2pgwError(P2PGW_ERR_USAGE) for an empty list or a bad prefix
 */
export function parseCidrList(text: string, option: string): Cidr[] {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (!items.length) throw new P2pgwError('P2PGW_ERR_USAGE', `${option}: give at least one CIDR prefix`);
  return items.map((s) => parseCidr(s, option));
}

