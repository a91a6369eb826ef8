/**
 * MSN Messenger chat inspector (MSNP: draft-movva-msn-messenger-protocol-00 §7 "Messages", and
 * later MSNP versions as documented at hypothetical.net/msn): both directions are CRLF-terminated
 * command lines `CMD <trid> <args…>`; some commands carry a payload whose octet length is a
 * parameter, the message command among them:
 *   client → server: `MSG <trid> <ack U|N|A|D> <length>\r\n` + length octets
 *   server → client: `MSG <sender passport> <url-encoded display name> <length>\r\n` + length octets
 * The payload is a MIME message (RFC 2045 header fields, CRLF, body):
 * - `Content-Type: text/plain; charset=UTF-8` → `chat(dir, {text, from, to, contentType})`, the
 *   body decoded as UTF-8 (the only charset MSNP clients send; another declared charset is used
 *   when the platform knows it). `from` = the sender passport of the server form (a `;{guid}`
 *   endpoint suffix removed), undefined for the client form; `to` = the connected user, learned
 *   from the switchboard login (`USR <trid> <passport> <cookie>`, `ANS <trid> <passport> …`, or
 *   the server's `USR <trid> OK <passport> …`), set on server → client messages only;
 * - `text/x-msmsgsinvite` with `Invitation-Command: INVITE` and `Application-File: <name>` (the
 *   MSN file-transfer invitation that precedes an MSNFTP connection) → `fileName(dir, name,
 *   'msn-invite')`; ACCEPT/CANCEL invitations and other applications are ignored;
 * - typing notifications (`text/x-msmsgscontrol`), profiles, P2P (`application/x-msnmsgrp2p`)
 *   and other types are not chat and are ignored.
 * Other commands are skipped; the payloads of the other payload commands (NOT, IPG, QRY, GCF,
 * UBX, UUX, ADL, RML, FQY, UUM, UBM, UBN, UUN, SDG, NFY, PUT, DEL and 3-digit errors with a
 * length) are skipped without buffering.
 *
 * Caps: a command line ≤ 8 KiB, a MSG payload ≤ 64 KiB. Weirds: `msn_line_too_long`,
 * `msn_msg_too_large`, `msn_bad_msg` (a MSG line whose length is missing or not a number) — the
 * direction stops after those three —, `msn_mime_truncated` (no empty line ends the payload's
 * header fields; message skipped), `msn_bad_utf8` (decoded with U+FFFD replacement),
 * `msn_bad_charset`, `msn_msg_truncated` (the stream ended inside a payload).
 */
import type { ChatMessage, Dir, InspectEvents } from '../types.js';
import { fieldParams } from '../parse/headers.js';
import { ascii, latin1 } from '../bytes.js';
import { baseName, Collector, decodeText, fieldValue, LineReader, parseFields, INSPECT_LIMITS } from '../parse/lines.js';
import { DirInspector } from '../parse/dir-inspector.js';

/** Every weird the inspector may raise (see the file header): the descriptor's `events`. */
export const MSN_WEIRDS = [
  'msn_line_too_long', 'msn_msg_too_large', 'msn_bad_msg', 'msn_mime_truncated', 'msn_bad_utf8', 'msn_bad_charset',
  'msn_msg_truncated',
] as const;
type Weird = (typeof MSN_WEIRDS)[number];

/** Commands whose last parameter is a payload length (MSNP8–MSNP18). */
const PAYLOAD_LAST = new Set(['GCF', 'UBX', 'UUX', 'ADL', 'RML', 'FQY', 'UUM', 'UBM', 'UBN', 'UUN', 'SDG', 'NFY', 'PUT', 'DEL']);
const DIGITS = /^[0-9]{1,9}$/;

/**
 * Payload length announced by an MSNP command line, null if it has none, or 'bad' for a MSG line
 * whose length is unusable.
 */
export function payloadLength(t: readonly string[]): number | null | 'bad' {
  const cmd = t[0];
  const last = t[t.length - 1];
  if (cmd === 'MSG') return t.length === 4 && DIGITS.test(last) ? Number(last) : 'bad';
  if ((cmd === 'NOT' || cmd === 'IPG') && t.length === 2 && DIGITS.test(last)) return Number(last);
  if (cmd === 'QRY' && t.length === 4 && DIGITS.test(last)) return Number(last);
  if (PAYLOAD_LAST.has(cmd) && t.length >= 3 && DIGITS.test(last)) return Number(last);
  if (/^[0-9]{3}$/.test(cmd) && t.length === 3 && DIGITS.test(last)) return Number(last);
  return null;
}

interface DirState {
  state: 'line' | 'msg' | 'skip' | 'stopped';
  line: LineReader;
  msg: Collector | null;
  /** Sender of the MSG being collected (server form), or undefined. */
  from: string | undefined;
  skip: number;
}

const fresh = (): DirState => ({ state: 'line', line: new LineReader(INSPECT_LIMITS.maxLine), msg: null, from: undefined, skip: 0 });

/** MSNP chat inspector of one connection (see the file header). */
export class MsnChatInspector extends DirInspector<DirState, Weird> {
  /** The connected user's passport, once the switchboard login named it. */
  private user: string | undefined;

  constructor(events: InspectEvents) {
    super(events, fresh);
  }

  protected consume(dir: Dir, st: DirState, bytes: Uint8Array, off: number): number {
    if (st.state === 'skip') {
      const n = this.skipOctets(st, bytes, off);
      if (st.skip === 0) st.state = 'line';
      return n;
    }
    if (st.state === 'msg') {
      const n = st.msg!.read(bytes, off);
      if (st.msg!.done) {
        const payload = st.msg!.bytes;
        st.state = 'line';
        st.msg = null;
        this.message(dir, st.from, payload);
      }
      return n;
    }
    const used = st.line.read(bytes, off);
    if (used < 0) return this.fail(dir, 'msn_line_too_long'), 0;
    if (st.line.line !== null) this.command(dir, latin1(st.line.line));
    return used;
  }

  override onEnd(dir: Dir): void {
    if (this.dirs[dir].state === 'msg') this.weird('msn_msg_truncated');
    this.stopDir(dir);
  }

  private command(dir: Dir, line: string): void {
    const t = line.split(' ');
    this.login(dir, t);
    const len = payloadLength(t);
    if (len === null || len === 0) return;
    if (len === 'bad') return this.fail(dir, 'msn_bad_msg');
    const st = this.dirs[dir];
    if (t[0] !== 'MSG') {
      st.state = 'skip';
      st.skip = len;
      return;
    }
    if (len > INSPECT_LIMITS.maxMessage) return this.fail(dir, 'msn_msg_too_large');
    st.state = 'msg';
    st.msg = new Collector(len);
    // Client form `MSG <trid> <ack> <len>` has no sender; server form names the sender.
    st.from = /^[0-9]+$/.test(t[1]) ? undefined : decodeText(ascii(t[1].split(';')[0]));
  }

  /** Switchboard login lines that name the connected user. */
  private login(dir: Dir, t: readonly string[]): void {
    const passport = (s: string | undefined): string | undefined => (s && s.includes('@') ? s : undefined);
    if (dir === 0 && t[0] === 'USR' && t.length === 4) this.user = passport(t[2]) ?? this.user;
    if (dir === 0 && t[0] === 'ANS' && t.length >= 5) this.user = passport(t[2]) ?? this.user;
    if (dir === 1 && t[0] === 'USR' && t[2] === 'OK') this.user = passport(t[3]) ?? this.user;
  }

  /** A complete MSG payload: MIME header fields, CRLF, body. */
  private message(dir: Dir, from: string | undefined, payload: Uint8Array): void {
    const sep = headerEnd(payload);
    if (sep < 0) {
      this.weird('msn_mime_truncated');
      return;
    }
    const { fields } = parseFields(payload.subarray(0, sep));
    const body = payload.subarray(bodyStart(payload, sep));
    const ctype = fieldValue(fields, 'content-type') ?? '';
    const { type, params } = fieldParams(ctype);
    if (type === 'text/plain') {
      const msg: ChatMessage = { text: this.text(body, params.get('charset')), contentType: ctype };
      if (from !== undefined) msg.from = from;
      if (from !== undefined && this.user !== undefined) msg.to = this.user;
      this.events.chat(dir, msg);
    } else if (type === 'text/x-msmsgsinvite') {
      const inv = parseFields(body).fields;
      const cmd = fieldValue(inv, 'invitation-command');
      const file = fieldValue(inv, 'application-file');
      if (cmd?.toUpperCase() === 'INVITE' && file) {
        const name = baseName(decodeText(ascii(file))).trim();
        if (name) this.events.fileName(dir, name, 'msn-invite');
      }
    }
  }

  /** Decodes a text/plain body: UTF-8 (default) or the declared charset. */
  private text(body: Uint8Array, charset: string | undefined): string {
    const cs = (charset ?? 'utf-8').toLowerCase();
    if (cs !== 'utf-8' && cs !== 'utf8') {
      try {
        return new TextDecoder(cs).decode(body);
      } catch {
        this.weird('msn_bad_charset');
      }
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(body);
    } catch {
      this.weird('msn_bad_utf8');
      return new TextDecoder('utf-8').decode(body);
    }
  }
}

/** Offset of the empty line ending the MIME header fields (CRLF CRLF, or LF LF), or -1. */
function headerEnd(p: Uint8Array): number {
  if (p[0] === 0x0a || (p[0] === 0x0d && p[1] === 0x0a)) return 0;
  for (let i = 0; i + 1 < p.length; i++) {
    if (p[i] === 0x0a && p[i + 1] === 0x0a) return i + 1;
    if (p[i] === 0x0a && p[i + 1] === 0x0d && p[i + 2] === 0x0a) return i + 1;
  }
  return -1;
}

/** Offset of the body: after the empty line that starts at `sep`. */
function bodyStart(p: Uint8Array, sep: number): number {
  return p[sep] === 0x0d ? sep + 2 : sep + 1;
}
