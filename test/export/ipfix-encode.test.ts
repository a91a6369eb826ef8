/**
 * The IPFIX encoder (src/observe/ipfix/encode.ts) byte for byte against the worked examples of
 * RFC 7011 Appendix A: the Template Set of A.2.1 and its Data Set (A.3), the enterprise-specific
 * Field Specifier of A.2.2, the Options Template Set with a scope and padding (A.4.1) and its Data
 * Set (A.4.2), the variable-length encodings of A.5 and the whole 152-octet Message of A.1. The
 * hex below is the RFC's figures written out; the values (192.0.2.12 → 192.0.2.254 via
 * 192.0.2.1, 5009 packets, 5344385 octets, …) are the RFC's.
 */
import { describe, expect, it } from 'vitest';
import {
  SET_OPTIONS_TEMPLATE, SET_TEMPLATE, VARLEN, concat, dataRecord, message, set, templateRecord, utf8Prefix, type FieldSpec,
} from '../../src/observe/ipfix/encode.js';
import { P2pgwError } from '../../src/core/errors.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const ip = (s: string): Uint8Array => Uint8Array.from(s.split('.').map(Number));

/** A.2.1: sourceIPv4Address, destinationIPv4Address, ipNextHopIPv4Address, packetDeltaCount, octetDeltaCount, 4 octets each. */
const A21_FIELDS: FieldSpec[] = [
  { id: 8, length: 4 }, { id: 12, length: 4 }, { id: 15, length: 4 }, { id: 2, length: 4 }, { id: 1, length: 4 },
];
const A21 = '0002 001c 0100 0005 0008 0004 000c 0004 000f 0004 0002 0004 0001 0004';
const A3 =
  '0100 0040' +
  ' c000020c c00002fe c0000201 00001391 00518c81' +
  ' c000021b c0000217 c0000202 000002ec 0005ef46' +
  ' c0000238 c0000241 c0000203 00000005 00001986';
const A3_RECORDS: [string, string, string, number, number][] = [
  ['192.0.2.12', '192.0.2.254', '192.0.2.1', 5009, 5344385],
  ['192.0.2.27', '192.0.2.23', '192.0.2.2', 748, 388934],
  ['192.0.2.56', '192.0.2.65', '192.0.2.3', 5, 6534],
];
/** A.4.1: Template 258, scope lineCardId (141, 4 octets), exportedMessageTotalCount (41) and exportedFlowRecordTotalCount (42), 2 octets; 2 octets of padding. */
const A41 = '0003 0018 0102 0003 0001 008d 0004 0029 0002 002a 0002 0000';
const A42 = '0102 0014 00000001 0159 27d9 00000002 02b2 4fb2';

const a3Set = (): Uint8Array => set(256, A3_RECORDS.map(([s, d, n, p, o]) => dataRecord(A21_FIELDS, [ip(s), ip(d), ip(n), p, o])));
const a41Set = (): Uint8Array =>
  set(SET_OPTIONS_TEMPLATE, [templateRecord({ id: 258, scopeCount: 1, fields: [{ id: 141, length: 4 }, { id: 41, length: 2 }, { id: 42, length: 2 }] })], true);
const a42Set = (): Uint8Array => {
  const f: FieldSpec[] = [{ id: 141, length: 4 }, { id: 41, length: 2 }, { id: 42, length: 2 }];
  return set(258, [dataRecord(f, [1, 345, 10201]), dataRecord(f, [2, 690, 20402])]);
};

describe('IPFIX encoder: RFC 7011 Appendix A', () => {
  it('A.2.1 Template Set', () => {
    expect(set(SET_TEMPLATE, [templateRecord({ id: 256, fields: A21_FIELDS })])).toEqual(hex(A21));
  });

  it('A.3 Data Set of three flow records (unsigned integers and addresses in network byte order)', () => {
    expect(a3Set()).toEqual(hex(A3));
  });

  it('A.2.2 Template Set with an enterprise-specific Information Element (Enterprise bit, PEN 11111)', () => {
    const fields: FieldSpec[] = [{ id: 8, length: 4 }, { id: 12, length: 4 }, { id: 15, length: 4, pen: 11111 }, { id: 2, length: 4 }, { id: 1, length: 4 }];
    expect(set(SET_TEMPLATE, [templateRecord({ id: 257, fields })])).toEqual(hex('0002 0020 0101 0005 0008 0004 000c 0004 800f 0004 00002b67 0002 0004 0001 0004'));
  });

  it('A.4.1 Options Template Set: Scope Field Count, scope first, padded to 24 octets', () => {
    expect(a41Set()).toEqual(hex(A41));
  });

  it('A.4.2 Options Data Set', () => {
    expect(a42Set()).toEqual(hex(A42));
  });

  it('A.1 the whole Message: header and the four Sets, 152 octets', () => {
    const sets = [set(SET_TEMPLATE, [templateRecord({ id: 256, fields: A21_FIELDS })]), a3Set(), a41Set(), a42Set()];
    const m = message({ exportTime: 1_700_000_000, sequence: 7, domain: 12345678 }, sets);
    expect(m.length).toBe(152);
    expect(m.subarray(0, 16)).toEqual(hex('000a 0098 6553f100 00000007 00bc614e'));
    expect(m.subarray(16)).toEqual(hex(A21 + A3 + A41 + A42));
  });

  it('A.5 variable-length fields: one length octet below 255, else 255 and two length octets', () => {
    const f: FieldSpec[] = [{ id: 96, length: VARLEN }];
    expect(dataRecord(f, ['HELLO'])).toEqual(hex('05 48454c4c4f'));
    const long = 'x'.repeat(1000);
    expect(dataRecord(f, [long])).toEqual(concat([hex('ff 03e8'), new TextEncoder().encode(long)]));
    expect(dataRecord(f, ['y'.repeat(254)])[0]).toBe(254);
    expect(dataRecord(f, ['y'.repeat(255)]).subarray(0, 3)).toEqual(hex('ff 00ff'));
    expect(dataRecord(f, [''])).toEqual(hex('00'));
  });
});

describe('IPFIX encoder: values and errors', () => {
  it('reduced-size integers, 64-bit bigints, fixed strings padded with zeros and cut at a character boundary', () => {
    expect(dataRecord([{ id: 1, length: 3 }], [0x010203])).toEqual(hex('010203'));
    expect(dataRecord([{ id: 152, length: 8 }], [2n ** 63n + 5n])).toEqual(hex('8000000000000005'));
    expect(dataRecord([{ id: 96, length: 6 }], ['abc'])).toEqual(hex('616263000000'));
    expect(utf8Prefix('aé', 2)).toEqual(hex('61')); // é is two octets: not split
    expect(dataRecord([{ id: 96, length: 4 }], ['aéé'])).toEqual(hex('61c3a900'));
  });

  it('refuses what does not fit, with P2PGW_ERR_IPFIX', () => {
    const bad: [() => unknown, RegExp][] = [
      [() => dataRecord([{ id: 2, length: 1 }], [256]), /does not fit 1 octet/],
      [() => dataRecord([{ id: 2, length: 4 }], [-1]), /not an unsigned integer/],
      [() => dataRecord([{ id: 2, length: 4 }], [1.5]), /not an unsigned integer/],
      [() => dataRecord([{ id: 8, length: 4 }], [Uint8Array.of(1, 2)]), /2 octets for a 4-octet field/],
      [() => dataRecord([{ id: 8, length: 4 }], []), /0 value\(s\) for 1 field/],
      [() => templateRecord({ id: 255, fields: [{ id: 1, length: 4 }] }), /Template ID 255/],
      [() => templateRecord({ id: 300, fields: [] }), /needs 1\.\.65535 fields/],
      [() => templateRecord({ id: 300, fields: [{ id: 0x8000, length: 4 }] }), /id 32768/],
      [() => set(4, []), /Set ID 4 is reserved/],
      [() => message({ exportTime: 0, sequence: 0, domain: 1 }, [new Uint8Array(65520)]), /exceeds 65535/],
    ];
    for (const [f, re] of bad) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err, String(re)).toBeInstanceOf(P2pgwError);
      expect((err as P2pgwError).code).toBe('P2PGW_ERR_IPFIX');
      expect((err as Error).message).toMatch(re);
    }
  });

  it('Sequence Number and Export Time wrap modulo 2^32', () => {
    const m = message({ exportTime: 2 ** 32 + 5, sequence: 2 ** 32 + 3, domain: 2 ** 32 - 1 }, []);
    expect(m).toEqual(hex('000a 0010 00000005 00000003 ffffffff'));
  });
});
