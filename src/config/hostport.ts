/**
 * `HOST:PORT` as the config (`flow_export.collector`) and the command line (`--ipfix`) spell a
 * collector: an IPv4 address, a bracketed IPv6 address (RFC 3986 §3.2.2 style) or a host name,
 * then a port 1–65535.
 */
import net from 'node:net';

/** A parsed collector address. `host` has no brackets. */
export interface HostPort {
  host: string;
  port: number;
}

/** An example of each accepted form, for error messages. */
export const HOST_PORT_EXAMPLES = '192.0.2.10:4739, [2001:db8::1]:4739 or collector.example:4739';

/**
 * Parses `HOST:PORT`.
 * @returns the host (IPv6 without brackets) and port, or null when `s` is not of that form
 */
export function parseHostPort(s: string): HostPort | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]/]+)):(\d{1,5})$/.exec(s.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  if (m[1] !== undefined) return net.isIPv6(m[1]) ? { host: m[1], port } : null;
  const host = m[2];
  if (/^[\d.]+$/.test(host) && !net.isIPv4(host)) return null;
  if (!/^[A-Za-z0-9.-]+$/.test(host)) return null;
  return { host, port };
}
