/**
 * FastTrack (Kazaa, Grokster, iMesh) file transfers: HTTP/1.1 (RFC 9112) with FastTrack's request
 * target `GET /.hash=<40 hex digits of the 20-byte UUHash> HTTP/1.1` and `X-Kazaa-*` fields
 * (giFT-FastTrack src/fst_download.c, fst_upload.c; KaZaA 2.x traces), parsed by
 * {@link HttpSession} with FastTrack naming:
 * - the `/.hash=` target names no file: no `fileName`; the response's `FileInfo.nameSource` is
 *   `uuhash:<hex>` (the content identity) when no name is found in the response;
 * - the serving peer describes the file with `X-KazaaTag: <tag>=<value>` fields, one per meta
 *   tag, numbered as in FastTrack share records (giFT-FastTrack fst_meta.h: 1 year, 2 filename,
 *   3 hash — sent as `3==<base64 UUHash>` —, 4 title, 5 duration, 6 artist, 8 album, …). The
 *   file name is Content-Disposition (RFC 6266) if present, else tag 2 (`nameSource`
 *   `kazaa-tag`). Tag 2 is reported as `fileName(respDir, name, 'kazaa-tag')` and a title (tag 4)
 *   as `fileName(respDir, title, 'kazaa-title')` (KaZaA itself sends titles rather than names),
 *   so keyword lists see them;
 * - other targets (e.g. `/` browse pages) use the plain URL name;
 * - push: a firewalled peer connects and sends `GIVE <push id>\r\n`; the other side (dir 1) then
 *   sends the HTTP request and the pushing peer (dir 0) answers.
 *
 * Weirds: `fasttrack_push_line_too_long`, `fasttrack_early_data`, and the HTTP parser's `http_*`.
 */
import type { Dir, InspectEvents } from '../types.js';
import { targetPath, urlName, type NameInfo } from '../parse/headers.js';
import { HTTP_WEIRDS, type HttpHooks } from '../parse/http-parser.js';
import { PushHttpInspector, pushWeirds } from '../parse/http-push.js';
import { ascii } from '../bytes.js';
import { decodeText, fieldValues, type HeaderField } from '../parse/lines.js';

/** Every weird the inspector may raise (see the file header): the descriptor's `events`. */
export const FASTTRACK_WEIRDS = [...pushWeirds('fasttrack'), ...HTTP_WEIRDS] as const;

const HASH = /^\/\.hash=([0-9A-Fa-f]+)$/;
const TAG = /^([0-9]+)=(.*)$/s;
/** FastTrack meta tag numbers (giFT-FastTrack fst_meta.h FSTFileTag). */
export const KAZAA_TAG = Object.freeze({ FILENAME: 2, HASH: 3, TITLE: 4 });

/** FastTrack request-target naming (see the file header). */
export function fasttrackTargetName(target: string): NameInfo {
  const m = HASH.exec(targetPath(target) ?? '');
  if (m) return { name: null, source: `uuhash:${m[1].toLowerCase()}` };
  return urlName(target);
}

/** `X-KazaaTag` fields: the filename tag as the name; filename and title reported as `fileName`. */
export function kazaaTagName(fields: readonly HeaderField[], dir: Dir, events: InspectEvents): NameInfo | null {
  let name: NameInfo | null = null;
  for (const v of fieldValues(fields, 'x-kazaatag')) {
    const m = TAG.exec(v);
    if (!m) continue;
    const tag = Number(m[1]);
    const value = decodeText(ascii(m[2])).trim();
    if (!value) continue;
    if (tag === KAZAA_TAG.FILENAME && name === null) {
      name = { name: value, source: 'kazaa-tag' };
      events.fileName(dir, value, 'kazaa-tag');
    }
    if (tag === KAZAA_TAG.TITLE) events.fileName(dir, value, 'kazaa-title');
  }
  return name;
}

/** HTTP hooks of FastTrack transfers. */
export const FASTTRACK_HOOKS: HttpHooks = { targetName: fasttrackTargetName, headerName: kazaaTagName };

/** The `fasttrack` application's inspector: push-aware HTTP with FastTrack naming. */
export class FastTrackInspector extends PushHttpInspector {
  constructor(events: InspectEvents) {
    super(events, { app: 'fasttrack', push: ['GIVE '], ignore: [], onPushLine: () => {}, hooks: FASTTRACK_HOOKS });
  }
}
