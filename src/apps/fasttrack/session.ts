/**
 * FastTrack (KaZaA) file download over HTTP/1.1, as sent by KaZaA 2.x and reproduced by
 * giFT-FastTrack (src/fst_download.c, src/fst_http_server.c): `GET /.hash=<40 hex digits of the
 * 20-byte UUHash> HTTP/1.1` with `X-Kazaa-*` headers (KaZaA's own `UserAgent:` spelling, no
 * hyphen), answered by `HTTP/1.1 200 OK` with `X-Kazaa-*` headers and a Content-Length body.
 * nDPI's fasttrack dissector keys on the same `GET /.hash=` request line.
 */
import { ascii, concat, hex, prngBytes } from '../bytes.js';
import { inn, out, type BuildOpts, type SessionTemplate, type Step } from '../session-types.js';

const download = (o: BuildOpts): Step[] => {
  const hash = hex(prngBytes(o.seed, 20, 'kazaa-uuhash'));
  const body = prngBytes(o.seed, 4096, 'kazaa-body');
  const req =
    `GET /.hash=${hash} HTTP/1.1\r\n` +
    `Host: ${o.serverAddr}:${o.port}\r\n` +
    'UserAgent: KazaaClient Jan 26 2004 11:15:54\r\n' +
    'X-Kazaa-Username: labuser\r\n' +
    'X-Kazaa-Network: KaZaA\r\n' +
    `X-Kazaa-IP: ${o.clientAddr}:1214\r\n` +
    'X-Kazaa-SupernodeIP: 10.232.3.1:1214\r\n' +
    'Connection: close\r\n' +
    'Range: bytes=0-\r\n' +
    '\r\n';
  const res =
    'HTTP/1.1 200 OK\r\n' +
    `Content-Length: ${body.length}\r\n` +
    'Accept-Ranges: bytes\r\n' +
    'Date: Mon, 02 Feb 2004 10:00:00 GMT\r\n' +
    'Server: KazaaClient Jan 26 2004 11:15:54\r\n' +
    'Connection: close\r\n' +
    'X-Kazaa-Username: labpeer\r\n' +
    'X-Kazaa-Network: KaZaA\r\n' +
    `X-Kazaa-IP: ${o.serverAddr}:1214\r\n` +
    'X-Kazaa-SupernodeIP: 10.232.3.1:1214\r\n' +
    'Content-Type: audio/mpeg\r\n' +
    '\r\n';
  return [out(ascii(req)), inn(concat(ascii(res), body))];
};

/** Registry entry for FastTrack: one HTTP download by UUHash. */
export const FASTTRACK: readonly SessionTemplate[] = [
  { app: 'fasttrack', variant: 'download', l4: 'tcp', source: 'giFT-FastTrack HTTP transfer', build: download },
];
