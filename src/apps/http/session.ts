/**
 * Plain HTTP/1.1 (RFC 9110 semantics, RFC 9112 message syntax): a GET with Host and a 200 response
 * whose Content-Length matches the body. A non-P2P control: the classifier must not label it P2P.
 */
import { ascii, concat, prngBytes } from '../bytes.js';
import { inn, out, type BuildOpts, type SessionTemplate, type Step } from '../session-types.js';

const get = (o: BuildOpts): Step[] => {
  // Printable body (base64 of seeded bytes) so it looks like a real text resource.
  const body = ascii(Buffer.from(prngBytes(o.seed, 3000, 'http-body')).toString('base64'));
  const req =
    'GET /index.html HTTP/1.1\r\n' +
    `Host: ${o.serverAddr}:${o.port}\r\n` +
    'User-Agent: curl/8.5.0\r\n' +
    'Accept: */*\r\n' +
    '\r\n';
  const res =
    'HTTP/1.1 200 OK\r\n' +
    'Content-Type: text/plain\r\n' +
    `Content-Length: ${body.length}\r\n` +
    'Server: lab\r\n' +
    '\r\n';
  return [out(ascii(req)), inn(concat(ascii(res), body))];
};

/** Registry entry for HTTP: one GET. */
export const HTTP: readonly SessionTemplate[] = [{ app: 'http', variant: 'get', l4: 'tcp', source: 'RFC 9110, RFC 9112', build: get }];
