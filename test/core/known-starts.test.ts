/** The well-known protocol starts (src/core/known-starts.ts): TLS record headers and SSH identification strings. */
import { describe, expect, it } from 'vitest';
import { isSshIdentStart, isTlsRecordStart } from '../../src/core/known-starts.js';
import { knownProtocolStart } from '../../src/flow/hosts.js';

const b = (...x: number[]): Uint8Array => Uint8Array.from(x);

describe('known protocol starts', () => {
  it('TLS: content types 20–23 with record versions 3.0–3.4; anything else or fewer than 3 octets is not', () => {
    for (let type = 0; type < 256; type++) {
      for (const minor of [0, 1, 3, 4, 5, 0xff]) {
        expect(isTlsRecordStart(b(type, 3, minor, 0, 5)), `${type}.3.${minor}`).toBe(type >= 20 && type <= 23 && minor <= 4);
      }
    }
    expect(isTlsRecordStart(b(0x16, 2, 0))).toBe(false);
    expect(isTlsRecordStart(b(0x16, 3))).toBe(false);
  });

  it('SSH: "SSH-" at the start only, at least 4 octets', () => {
    expect(isSshIdentStart(new TextEncoder().encode('SSH-2.0-OpenSSH_9.2p1\r\n'))).toBe(true);
    expect(isSshIdentStart(new TextEncoder().encode('SSH-'))).toBe(true);
    expect(isSshIdentStart(new TextEncoder().encode('SSH'))).toBe(false);
    expect(isSshIdentStart(new TextEncoder().encode('xSSH-2.0'))).toBe(false);
  });

  it("the host heuristics' exclusion is exactly the two", () => {
    expect(knownProtocolStart(b(0x16, 3, 1, 2, 0))).toBe(true);
    expect(knownProtocolStart(new TextEncoder().encode('SSH-2.0-x'))).toBe(true);
    expect(knownProtocolStart(b(0x13, 0x42, 0x69))).toBe(false); // BitTorrent's handshake
  });
});
