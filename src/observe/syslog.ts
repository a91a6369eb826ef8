/**
 * A pino destination that sends each log line to the local syslog socket (`/dev/log`) as one
 * datagram in the local RFC 3164 form `<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG`, which journald, rsyslog
 * and OpenWrt's logd accept, so `logread -e p2pgw` and `journalctl -t p2pgw` show verdict lines.
 * PRI = facility × 8 + severity (RFC 5424 §6.2.1); severity comes from the pino level.
 * Node has no Unix datagram sockets, so the `unix-dgram` addon sends them.
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';

export const FACILITIES: Readonly<Record<string, number>> = Object.freeze({
  kern: 0, user: 1, daemon: 3, auth: 4, syslog: 5,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
});

/** pino numeric level → syslog severity (RFC 5424 table 2). */
export function severityOf(level: number): number {
  if (level >= 60) return 2; // fatal → crit
  if (level >= 50) return 3; // error → err
  if (level >= 40) return 4; // warn → warning
  if (level >= 30) return 6; // info → info
  return 7; // debug, trace → debug
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 3164 §4.1.2 TIMESTAMP: `Mmm dd hh:mm:ss`, day space-padded, local time. */
export function rfc3164Time(d: Date): string {
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
}

/**
 * Formats one syslog datagram.
 * @param line one pino JSON line (its `level` field sets the severity)
 * @param facility facility number (FACILITIES)
 * @param tag program name, e.g. `p2pgw`
 */
export function formatSyslog(line: string, facility: number, tag: string, pid: number, now = new Date()): string {
  const text = line.endsWith('\n') ? line.slice(0, -1) : line;
  const m = /"level":(\d+)/.exec(text);
  const pri = facility * 8 + severityOf(m ? Number(m[1]) : 30);
  return `<${pri}>${rfc3164Time(now)} ${tag}[${pid}]: ${text}`;
}

interface DgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, cb?: (err?: Error) => void): void;
  on(ev: 'error', cb: (err: Error) => void): void;
  close(): void;
}

/** A pino-compatible destination (has `write(line)`) that sends to a syslog Unix datagram socket. */
export class SyslogDestination {
  private readonly sock: DgramSocket;
  /** Datagrams the socket refused (counted, the line is then written to stderr). */
  failures = 0;

  /**
   * @throws Error if the `unix-dgram` addon is missing or `socketPath` does not exist
   */
  constructor(
    private readonly socketPath: string,
    private readonly facility: number,
    private readonly tag = 'p2pgw',
  ) {
    if (!fs.existsSync(socketPath)) throw new Error(`no syslog socket at ${socketPath}`);
    const req = createRequire(import.meta.url);
    const mod = req('unix-dgram') as { createSocket(type: 'unix_dgram'): DgramSocket };
    this.sock = mod.createSocket('unix_dgram');
    this.sock.on('error', () => {
      this.failures++;
    });
  }

  write(line: string): boolean {
    const buf = Buffer.from(formatSyslog(line, this.facility, this.tag, process.pid));
    this.sock.send(buf, 0, buf.length, this.socketPath, (err) => {
      if (err) {
        this.failures++;
        process.stderr.write(line);
      }
    });
    return true;
  }

  close(): void {
    this.sock.close();
  }
}
