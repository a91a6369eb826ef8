/**
 * MSN Messenger (MSNP8) sessions, following draft-movva-msn-messenger-protocol-00 (IETF, 1999:
 * command syntax, transaction ids, MSG length semantics) and Mike Mintz's MSNP8 documentation
 * (hypothetical.net/msn: VER/CVR/USR TWN, switchboard USR/CAL/JOI/MSG):
 * - notification server: `VER 1 MSNP8 CVR0`, `CVR 2 ...`, `USR 3 TWN I user@example.com` and the
 *   server's replies (VER echo, CVR versions, `USR 3 TWN S <ticket challenge>`);
 * - switchboard: `USR 1 <email> <cookie>`, `CAL`, `JOI`, then `MSG 4 N <len>` whose length is the
 *   exact byte count of the MIME payload that follows (no trailing CRLF after the payload).
 */
import { ascii, concat, utf8 } from '../bytes.js';
import { inn, out, type BuildOpts, type SessionTemplate, type Step } from '../session-types.js';

/** The switchboard message payload the client sends: 130 bytes of MIME headers and `hello`. */
export const MSN_MSG_PAYLOAD =
  'MIME-Version: 1.0\r\n' +
  'Content-Type: text/plain; charset=UTF-8\r\n' +
  'X-MMS-IM-Format: FN=MS%20Sans%20Serif; EF=; CO=0; CS=0; PF=22\r\n' +
  '\r\n' +
  'hello';

/** `MSG <trid> <ack> <len>\r\n<payload>` with `len` = UTF-8 byte length of `payload`. */
export function msnMsg(head: string, payload: string): Uint8Array {
  const body = utf8(payload);
  return concat(ascii(`MSG ${head} ${body.length}\r\n`), body);
}

const notification = (_o: BuildOpts): Step[] => [
  out(ascii('VER 1 MSNP8 CVR0\r\n')),
  inn(ascii('VER 1 MSNP8 CVR0\r\n')),
  out(ascii('CVR 2 0x0409 winnt 5.1 i386 MSNMSGR 6.0.0602 MSMSGS user@example.com\r\n')),
  inn(ascii('CVR 2 6.0.0602 6.0.0602 6.0.0268 http://download.microsoft.com/download/msnmsgr/setup.exe http://messenger.msn.com\r\n')),
  out(ascii('USR 3 TWN I user@example.com\r\n')),
  inn(
    ascii(
      'USR 3 TWN S lc=1033,id=507,tw=40,fs=1,ru=http%3A%2F%2Fmessenger%2Emsn%2Ecom,ct=1062764229,kpp=1,kv=5,ver=2.1.0173.1,tpf=43f8a4c8ed940c04e3740be46c4d1619\r\n',
    ),
  ),
  out(ascii('OUT\r\n')),
];

const switchboard = (_o: BuildOpts): Step[] => {
  const reply = 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nhi there';
  return [
    out(ascii('USR 1 user@example.com 17262740.1050826919.32308\r\n')),
    inn(ascii('USR 1 OK user@example.com Lab%20User\r\n')),
    out(ascii('CAL 2 friend@example.com\r\n')),
    inn(ascii('CAL 2 RINGING 17342299\r\nJOI friend@example.com Friend\r\n')),
    out(ascii('CAL 3 other@example.com\r\n')),
    inn(ascii('CAL 3 RINGING 17342299\r\nJOI other@example.com Other\r\n')),
    out(msnMsg('4 N', MSN_MSG_PAYLOAD)),
    inn(msnMsg('friend@example.com Friend', reply)),
    out(ascii('OUT\r\n')),
  ];
};

/** Registry entries for MSN: notification-server login and a switchboard chat. */
export const MSN: readonly SessionTemplate[] = [
  { app: 'msn', variant: 'notification', l4: 'tcp', source: 'MSNP8 (draft-movva-msn-messenger-protocol-00; hypothetical.net/msn)', build: notification },
  { app: 'msn', variant: 'switchboard', l4: 'tcp', source: 'MSNP8 switchboard (hypothetical.net/msn)', build: switchboard },
];
