/**
 * Gnutella file transfers (Gnutella 0.6 RFC draft §3 "File transfer", HUGE 0.94, Gnutella2 push):
 * HTTP/1.1 underneath (RFC 9112), parsed by {@link HttpSession} with Gnutella naming:
 * - `GET /get/<index>/<name> HTTP/1.1`: the name is what follows the index (Gnutella 0.4's
 *   trailing `/` removed), percent-decoded (RFC 3986 §2.1): `fileName(reqDir, name, 'url')`, and
 *   the response body's `FileInfo.name`; old servents' raw spaces are accepted;
 * - `GET /uri-res/N2R?urn:sha1:<base32> HTTP/1.1` (HUGE §6, "uri-res" resolution): the target
 *   names no file: no `fileName`; the response's `FileInfo` has `name: null` (unless the response
 *   carries a Content-Disposition) and `nameSource` = the requested URN (`urn:sha1:…`), so the
 *   content identity is kept; `/gnutella/…` service paths (THEX, push proxy) name no file either;
 * - push (Gnutella 0.6 §3.2 "firewalled servents"): the servent behind the firewall connects and
 *   sends `GIV <index>:<servent id, 32 hex>/<name>\n\n` → `fileName(0, name, 'gnutella-giv')`;
 *   then the downloader (dir 1) sends the HTTP request and the servent (dir 0) answers. A
 *   Gnutella2 `PUSH guid:<hex>\r\n\r\n` push works the same way, without a name;
 * - the Gnutella overlay handshake (`GNUTELLA CONNECT/0.6`) and the binary descriptor stream
 *   after it are not inspected (no names in the clear besides queries; usually deflated).
 *
 * Weirds: `gnutella_bad_giv` (a GIV line not of the form above), `gnutella_push_line_too_long`,
 * `gnutella_early_data`, and the HTTP parser's `http_*`.
 */
import type { InspectEvents } from '../types.js';
import { targetPath, targetQuery, urlName, type NameInfo } from '../parse/headers.js';
import { HTTP_WEIRDS, type HttpHooks } from '../parse/http-parser.js';
import { PushHttpInspector, pushWeirds } from '../parse/http-push.js';
import { latin1 } from '../bytes.js';
import { baseName, decodeText, percentDecode } from '../parse/lines.js';

/** Every weird the inspector may raise (see the file header): the descriptor's `events`. */
export const GNUTELLA_WEIRDS = ['gnutella_bad_giv', ...pushWeirds('gnutella'), ...HTTP_WEIRDS] as const;
type Weird = (typeof GNUTELLA_WEIRDS)[number];

const GIV = /^GIV ([0-9]+):([0-9A-Fa-f]{32})\//;
/** `/get/<index>/<name>` (0.6) or `/get/<index>/<name>/` (0.4). */
const GET_FILE = /^\/get\/[0-9]+\/(.+?)\/?$/s;

/** The URN of a `/uri-res/…?urn:…` or `/gnutella/…?urn:…` target, percent-decoded, or undefined. */
function urnOf(target: string): string | undefined {
  const q = targetQuery(target);
  if (q === null) return undefined;
  const urn = decodeText(percentDecode(q));
  return /^urn:/i.test(urn) ? urn : undefined;
}

/** Gnutella request-target naming (see the file header). */
export function gnutellaTargetName(target: string): NameInfo {
  const path = targetPath(target) ?? '';
  if (path.startsWith('/uri-res/') || path.startsWith('/gnutella/')) {
    const urn = urnOf(target);
    return urn === undefined ? { name: null } : { name: null, source: urn };
  }
  const m = GET_FILE.exec(path);
  if (m) {
    const name = baseName(decodeText(percentDecode(m[1]))).trim();
    return name ? { name, source: 'url' } : { name: null };
  }
  return urlName(target);
}

/** HTTP hooks of Gnutella transfers. */
export const GNUTELLA_HOOKS: HttpHooks = { targetName: gnutellaTargetName };

/** `GIV <index>:<servent id>/<name>`: reports the offered name; a G2 `PUSH guid:` names nothing. */
export function gnutellaPushLine(line: Uint8Array, events: InspectEvents): void {
  const text = latin1(line);
  if (!text.startsWith('GIV ')) return;
  const m = GIV.exec(text);
  if (!m) {
    events.weird('gnutella_bad_giv' satisfies Weird);
    return;
  }
  const name = decodeText(line.subarray(m[0].length));
  if (name) events.fileName(0, name, 'gnutella-giv');
}

/** The `gnutella` application's inspector: push-aware HTTP with Gnutella naming. */
export class GnutellaInspector extends PushHttpInspector {
  constructor(events: InspectEvents) {
    super(events, {
      app: 'gnutella',
      push: ['GIV ', 'PUSH guid:'],
      ignore: ['GNUTELLA'],
      onPushLine: gnutellaPushLine,
      hooks: GNUTELLA_HOOKS,
    });
  }
}
