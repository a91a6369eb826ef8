/**
 * HTTP header-field semantics the inspectors need: message body framing (RFC 9112 §6.1
 * Transfer-Encoding, §6.3 message body length, RFC 9110 §8.6 Content-Length), file names from
 * Content-Disposition (RFC 6266, with RFC 8187 `filename*` ext-values) and from the request
 * target (RFC 9112 §3.2 forms, RFC 3986 §3.3 path segments and §2.1 percent-decoding).
 */
import { ascii, latin1 } from '../bytes.js';
import { baseName, decodeText, fieldValues, percentDecode, utf8OrNull, type HeaderField } from './lines.js';

/** A file name and where it came from (`url`, `content-disposition`, …). */
export interface NameInfo {
  name: string | null;
  source?: string;
}

/** Outcome of Content-Length parsing: a length, absent, invalid, or beyond exact-number range. */
export type ContentLength = number | 'absent' | 'bad' | 'huge';

/**
 * RFC 9110 §8.6 / RFC 9112 §6.3 rule 5: Content-Length = 1*DIGIT. Several fields, or a
 * comma-separated list, are accepted only if every member is the same valid number; a sign, a
 * non-digit or differing values are `bad` (the framing cannot be trusted); a value beyond
 * 2^53 − 1 (the exact range of a JS number, ~9 PB) is `huge`.
 */
export function contentLength(fields: readonly HeaderField[]): ContentLength {
  const values = fieldValues(fields, 'content-length');
  if (values.length === 0) return 'absent';
  let result: number | null = null;
  let huge = false;
  for (const v of values) {
    for (const member of v.split(',')) {
      const m = member.trim();
      if (!/^[0-9]+$/.test(m)) return 'bad';
      const digits = m.replace(/^0+(?=.)/, '');
      const n = Number(digits);
      if (digits.length > 16 || !Number.isSafeInteger(n)) {
        huge = true;
        continue;
      }
      if (result !== null && result !== n) return 'bad';
      result = n;
    }
  }
  if (huge) return result === null ? 'huge' : 'bad';
  return result ?? 'bad';
}

/** Transfer codings listed in Transfer-Encoding fields (RFC 9112 §6.1), lowercase, in order. */
export function transferCodings(fields: readonly HeaderField[]): string[] {
  const out: string[] = [];
  for (const v of fieldValues(fields, 'transfer-encoding')) {
    for (const c of v.split(',')) {
      const t = c.trim().split(';')[0].trim().toLowerCase();
      if (t) out.push(t);
    }
  }
  return out;
}

/** Reads an RFC 9110 §5.6.4 quoted-string starting at `s[i] === '"'`: [value, index after]. */
function quoted(s: string, i: number): [string, number] {
  let out = '';
  let j = i + 1;
  while (j < s.length && s[j] !== '"') {
    if (s[j] === '\\' && j + 1 < s.length) j++;
    out += s[j++];
  }
  return [out, j + 1];
}

/**
 * Parameters of a field value `type *( OWS ";" OWS name "=" ( token / quoted-string ) )` (RFC
 * 9110 §5.6.6), names lowercase. Tolerant: skips malformed parts instead of failing.
 */
export function fieldParams(value: string): { type: string; params: Map<string, string> } {
  const semi = value.indexOf(';');
  const type = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  const params = new Map<string, string>();
  let i = semi < 0 ? value.length : semi;
  while (i < value.length) {
    i++; // the ';'
    const eq = value.indexOf('=', i);
    const nextSemi = value.indexOf(';', i);
    if (eq < 0 || (nextSemi >= 0 && nextSemi < eq)) {
      i = nextSemi < 0 ? value.length : nextSemi;
      continue;
    }
    const name = value.slice(i, eq).trim().toLowerCase();
    let j = eq + 1;
    while (value[j] === ' ' || value[j] === '\t') j++;
    let v: string;
    if (value[j] === '"') {
      [v, j] = quoted(value, j);
      const next = value.indexOf(';', j);
      j = next < 0 ? value.length : next;
    } else {
      const next = value.indexOf(';', j);
      v = value.slice(j, next < 0 ? value.length : next).trim();
      j = next < 0 ? value.length : next;
    }
    if (name && !params.has(name)) params.set(name, v);
    i = j;
  }
  return { type, params };
}

/**
 * RFC 8187 §3.2 ext-value `charset "'" [ language ] "'" value-chars`: percent-decoded with the
 * named charset (UTF-8 or ISO-8859-1, the two RFC 8187 requires); null if malformed.
 */
export function extValue(v: string): string | null {
  const m = /^([!#$%&+^_`{}~0-9A-Za-z-]+)'[^']*'(.*)$/.exec(v);
  if (!m) return null;
  const bytes = percentDecode(m[2]);
  const cs = m[1].toLowerCase();
  if (cs === 'utf-8') return utf8OrNull(bytes);
  if (cs === 'iso-8859-1') return latin1(bytes);
  return null;
}

/**
 * File name from Content-Disposition (RFC 6266 §4.1): `filename*` (RFC 8187 ext-value) takes
 * precedence over `filename` (§4.3); a plain `filename` is decoded as UTF-8 when valid (what
 * servers send in practice) else ISO-8859-1, without percent-decoding (§4.3); only the last path
 * component is kept (§4.3, "path information"). Null when absent or empty.
 */
export function dispositionName(fields: readonly HeaderField[]): NameInfo | null {
  const v = fieldValues(fields, 'content-disposition')[0];
  if (v === undefined) return null;
  const { params } = fieldParams(v);
  let name: string | null = null;
  const star = params.get('filename*');
  if (star !== undefined) name = extValue(star);
  if (name === null) {
    const plain = params.get('filename');
    if (plain !== undefined) name = decodeText(ascii(plain));
  }
  if (name === null) return null;
  name = baseName(name).trim();
  return name ? { name, source: 'content-disposition' } : null;
}

/**
 * Path of a request target (RFC 9112 §3.2): origin-form `/p?q`, absolute-form
 * `scheme://authority/p?q` (path only), null for authority-form (CONNECT) and asterisk-form.
 * Query and fragment are removed.
 */
export function targetPath(target: string): string | null {
  let path = target;
  const abs = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(path);
  if (abs) path = path.slice(abs[0].length) || '/';
  if (!path.startsWith('/')) return null;
  const q = path.search(/[?#]/);
  return q < 0 ? path : path.slice(0, q);
}

/** Query of a request target (after `?`, without fragment), or null. */
export function targetQuery(target: string): string | null {
  const q = target.indexOf('?');
  if (q < 0) return null;
  const h = target.indexOf('#', q);
  return target.slice(q + 1, h < 0 ? target.length : h);
}

/**
 * File name of a request target: its last path segment (RFC 3986 §3.3), percent-decoded (§2.1)
 * as UTF-8 when valid else ISO-8859-1, and cut to its last component if a decoded `/` or `\`
 * remains. Null for an empty last segment (`/`, `/dir/`).
 */
export function urlName(target: string): NameInfo {
  const path = targetPath(target);
  if (path === null) return { name: null };
  const seg = path.slice(path.lastIndexOf('/') + 1);
  if (!seg) return { name: null };
  const name = baseName(decodeText(percentDecode(seg)));
  return name ? { name, source: 'url' } : { name: null };
}
