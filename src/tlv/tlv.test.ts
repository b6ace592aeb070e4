import * as asn1js from 'asn1js';
import { describe, expect, it } from 'vitest';
import { Rng, bytesEqual, concatBytes, fromHex, toSpacedHex } from '../shared/index.ts';
import {
  TlvError,
  type TlvItem,
  type TlvNode,
  constructed,
  decodeIntegerContent,
  decodeOidContent,
  derInteger,
  derNull,
  derOctetString,
  derOid,
  derSequence,
  derSetOf,
  dgiItem,
  encodeDgi,
  encodeHeader,
  encodeItem,
  encodeItems,
  encodeLength,
  encodeTag,
  encodeTlv,
  findAllPath,
  findPath,
  integerContent,
  isConstructedTag,
  lengthSize,
  oidContent,
  parseDgis,
  parseTlv,
  parseTlvAt,
  parseTlvExpect,
  parseTlvList,
  primitive,
  rawItem,
  readLength,
  readOctetString,
  readTag,
  requirePath,
  tagClass,
  tagSize,
  unsignedIntegerContent,
} from './index.ts';

function hex(b: Uint8Array): string {
  return toSpacedHex(b);
}

function expectTlvError(fn: () => unknown, code: string, reason?: string, offset?: number): TlvError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TlvError);
    const err = e as TlvError;
    expect(err.code).toBe(code);
    if (reason !== undefined) expect(err.reason).toBe(reason);
    if (offset !== undefined) expect(err.offset).toBe(offset);
    return err;
  }
  throw new Error('expected a TlvError');
}

describe('tags', () => {
  it('encodes and sizes one-, two- and three-byte tags', () => {
    expect(hex(encodeTag(0x61))).toBe('61');
    expect(hex(encodeTag(0x5f1f))).toBe('5F 1F');
    expect(hex(encodeTag(0x7f61))).toBe('7F 61');
    expect(hex(encodeTag(0x5f01))).toBe('5F 01'); // ICAO long-form tag with a small tag number
    expect(hex(encodeTag(0xbf8101))).toBe('BF 81 01');
    expect(tagSize(0x30)).toBe(1);
    expect(tagSize(0x7f2e)).toBe(2);
  });

  it('rejects numbers that are not well-formed tags', () => {
    expectTlvError(() => tagSize(0x1f), 'TLV_INVALID_INPUT'); // announces more bytes
    expectTlvError(() => tagSize(0x5f81), 'TLV_INVALID_INPUT'); // last byte has continuation bit
    expectTlvError(() => tagSize(0x6101), 'TLV_INVALID_INPUT'); // no 1F marker
    expectTlvError(() => tagSize(0x5f8001), 'TLV_INVALID_INPUT'); // leading zero in tag number
    expectTlvError(() => tagSize(-1), 'TLV_INVALID_INPUT');
    expectTlvError(() => tagSize(1.5), 'TLV_INVALID_INPUT');
  });

  it('reads tags and reports class and form', () => {
    expect(readTag(fromHex('5F 1F 48'), 0)).toEqual({ tag: 0x5f1f, size: 2 });
    expect(readTag(fromHex('BF 81 01 00'), 0)).toEqual({ tag: 0xbf8101, size: 3 });
    expect(tagClass(0x61)).toBe('application');
    expect(tagClass(0x30)).toBe('universal');
    expect(tagClass(0xa0)).toBe('context');
    expect(tagClass(0xc1)).toBe('private');
    expect(isConstructedTag(0x7f61)).toBe(true);
    expect(isConstructedTag(0x5f1f)).toBe(false);
    expectTlvError(() => readTag(fromHex('5F'), 0), 'TLV_MALFORMED', 'TRUNCATED_TAG', 0);
    expectTlvError(() => readTag(fromHex('5F 80 01'), 0), 'TLV_MALFORMED', 'TAG_NOT_MINIMAL', 0);
    expectTlvError(() => readTag(fromHex('5F 81 82 83 84 01'), 0), 'TLV_MALFORMED', 'TAG_TOO_LONG', 0);
  });
});

describe('lengths', () => {
  it('writes the minimal definite form at every boundary', () => {
    const cases: Array<[number, string]> = [
      [0, '00'],
      [127, '7F'],
      [128, '81 80'],
      [255, '81 FF'],
      [256, '82 01 00'],
      [65535, '82 FF FF'],
      [65536, '83 01 00 00'],
      [0x1000000, '84 01 00 00 00'],
    ];
    for (const [n, h] of cases) {
      expect(hex(encodeLength(n))).toBe(h);
      expect(lengthSize(n)).toBe(h.split(' ').length);
      const r = readLength(fromHex(h), 0);
      expect(r.length).toBe(n);
      expect(r.nonMinimal).toBe(false);
    }
    expectTlvError(() => lengthSize(-1), 'TLV_INVALID_INPUT');
  });

  it('reads non-minimal long forms (BER) and flags them', () => {
    expect(readLength(fromHex('81 05'), 0)).toMatchObject({ length: 5, size: 2, nonMinimal: true });
    expect(readLength(fromHex('82 00 FF'), 0)).toMatchObject({ length: 255, size: 3, nonMinimal: true });
  });

  it('rejects reserved, oversized and truncated length fields', () => {
    expectTlvError(() => readLength(fromHex('FF'), 0), 'TLV_MALFORMED', 'LENGTH_RESERVED', 0);
    expectTlvError(() => readLength(fromHex('85 01 02 03 04 05'), 0), 'TLV_MALFORMED', 'LENGTH_TOO_LONG', 0);
    expectTlvError(() => readLength(fromHex('82 01'), 0), 'TLV_MALFORMED', 'TRUNCATED_LENGTH', 0);
    expectTlvError(() => readLength(new Uint8Array(0), 0), 'TLV_MALFORMED', 'TRUNCATED_LENGTH', 0);
  });
});

describe('parser', () => {
  const efCom = fromHex('60 14 5F 01 04 30 31 30 36 5F 36 06 30 34 30 30 30 30 5C 02 61 75');

  it('parses a constructed object and keeps the raw bytes of every node as views of the input', () => {
    const n = parseTlv(efCom);
    expect(n.tag).toBe(0x60);
    expect(n.constructed).toBe(true);
    expect(n.headerLength).toBe(2);
    expect(n.length).toBe(0x14);
    expect(n.children.map((c) => c.tag)).toEqual([0x5f01, 0x5f36, 0x5c]);
    const v = n.child(0x5f01)!;
    expect(v.offset).toBe(2);
    expect(hex(v.raw)).toBe('5F 01 04 30 31 30 36');
    expect(hex(v.value)).toBe('30 31 30 36');
    expect(v.raw.buffer).toBe(efCom.buffer); // a view, not a copy
    expect(n.raw).toEqual(efCom);
    expect(n.child(0x5c)!.end).toBe(efCom.length);
  });

  it('finds nodes by tag path', () => {
    const bytes = encodeItem(
      constructed(0x75, [
        constructed(0x7f61, [
          primitive(0x02, Uint8Array.of(2)),
          constructed(0x7f60, [constructed(0xa1, [primitive(0x87, fromHex('0101'))]), primitive(0x5f2e, fromHex('AA'))]),
          constructed(0x7f60, [constructed(0xa1, [primitive(0x87, fromHex('0101'))]), primitive(0x5f2e, fromHex('BB'))]),
        ]),
      ]),
    );
    const dg2 = parseTlv(bytes);
    expect(hex(findPath(dg2, [0x7f61, 0x7f60, 0x5f2e])!.value)).toBe('AA');
    expect(findPath(dg2, [0x7f61, 0x7f60, 0x99])).toBeUndefined();
    expect(hex(findPath([dg2], [0x75, 0x7f61, 0x02])!.value)).toBe('02');
    expect(findAllPath(dg2, [0x7f61, 0x7f60]).length).toBe(2);
    expect(findAllPath(dg2, [0x7f61, 0x7f60]).map((b) => hex(b.requireChild(0x5f2e).value))).toEqual(['AA', 'BB']);
    const err = expectTlvError(() => requirePath(dg2, [0x7f61, 0x7f2e]), 'TLV_MISSING');
    expect(err.message).toContain('7F61/7F2E');
  });

  it('rejects a value running past its parent with the offset of the length field', () => {
    // 30 05 | 04 04 01 02 03 04  -> child claims 4 bytes but only 3 remain inside the parent
    expectTlvError(() => parseTlv(fromHex('30 05 04 04 01 02 03 04')), 'TLV_MALFORMED', 'LENGTH_EXCEEDS_DATA', 3);
    expectTlvError(() => parseTlv(fromHex('04 05 01 02')), 'TLV_MALFORMED', 'LENGTH_EXCEEDS_DATA', 1);
  });

  it('rejects trailing data, empty input and unexpected tags', () => {
    expectTlvError(() => parseTlv(fromHex('04 01 AA 00')), 'TLV_MALFORMED', 'TRAILING_DATA', 3);
    expectTlvError(() => parseTlv(new Uint8Array(0)), 'TLV_MALFORMED', 'EMPTY', 0);
    expectTlvError(() => parseTlvExpect(efCom, 0x61), 'TLV_MALFORMED', 'UNEXPECTED_TAG');
    expect(parseTlvAt(fromHex('04 01 AA 00'), 0).end).toBe(3);
  });

  it('rejects the indefinite length form by default (LDS forbids it), accepts it on request', () => {
    const ber = fromHex('30 80 04 01 AA 30 80 02 01 05 00 00 00 00');
    expectTlvError(() => parseTlv(ber), 'TLV_MALFORMED', 'INDEFINITE_LENGTH', 1);
    const n = parseTlv(ber, { allowIndefinite: true });
    expect(n.indefinite).toBe(true);
    expect(n.raw.length).toBe(ber.length);
    expect(hex(n.value)).toBe('04 01 AA 30 80 02 01 05 00 00');
    expect(n.children.length).toBe(2);
    expect(n.children[1]!.indefinite).toBe(true);
    expect(hex(n.children[1]!.raw)).toBe('30 80 02 01 05 00 00');
    // never on a primitive, and never without end-of-contents
    expectTlvError(() => parseTlv(fromHex('04 80 00 00'), { allowIndefinite: true }), 'TLV_MALFORMED', 'INDEFINITE_PRIMITIVE', 1);
    expectTlvError(() => parseTlv(fromHex('30 80 04 01 AA'), { allowIndefinite: true }), 'TLV_MALFORMED', 'MISSING_END_OF_CONTENTS', 0);
    // strict DER overrides allowIndefinite
    expectTlvError(() => parseTlv(ber, { allowIndefinite: true, strictDer: true }), 'TLV_MALFORMED', 'INDEFINITE_LENGTH');
  });

  it('accepts non-minimal lengths (BER) unless strict DER is asked for', () => {
    const b = fromHex('04 81 02 AA BB');
    const n = parseTlv(b);
    expect(n.nonMinimalLength).toBe(true);
    expect(n.headerLength).toBe(3);
    expect(hex(n.raw)).toBe('04 81 02 AA BB'); // raw is as read, not re-encoded
    expectTlvError(() => parseTlv(b, { strictDer: true }), 'TLV_MALFORMED', 'LENGTH_NOT_MINIMAL', 1);
  });

  it('parses lists, optionally skipping 00/FF padding', () => {
    const list = fromHex('01 01 FF 02 01 05');
    expect(parseTlvList(list).map((n) => n.tag)).toEqual([0x01, 0x02]);
    const padded = fromHex('00 00 01 01 FF FF FF 02 01 05 00 FF');
    expect(parseTlvList(padded, { skipPadding: true }).map((n) => n.offset)).toEqual([2, 7]);
    expect(parseTlvList(new Uint8Array(0))).toEqual([]);
  });

  it('limits nesting depth', () => {
    let item: TlvItem = primitive(0x04, Uint8Array.of(1));
    for (let i = 0; i < 10; i++) item = constructed(0x30, [item]);
    const bytes = encodeItem(item);
    expect(parseTlv(bytes).children.length).toBe(1);
    expectTlvError(() => parseTlv(bytes, { maxDepth: 5 }), 'TLV_MALFORMED', 'TOO_DEEP');
  });

  it('can skip parsing children', () => {
    const n = parseTlv(efCom, { recurse: false });
    expect(n.children.length).toBe(0);
    expect(n.value.length).toBe(0x14);
  });

  it('never crashes on random garbage: either a node tree or a TlvError', () => {
    const rng = new Rng('tlv-fuzz');
    for (let i = 0; i < 2000; i++) {
      const len = rng.int(0, 24);
      const b = new Uint8Array(len);
      for (let j = 0; j < len; j++) b[j] = rng.pick([0x00, 0x01, 0x04, 0x30, 0x5f, 0x7f, 0x80, 0x81, 0x82, 0xff, rng.int(0, 255)]);
      try {
        const n = parseTlv(b, { allowIndefinite: rng.chance(0.5) });
        expect(n.raw.length).toBe(b.length);
      } catch (e) {
        expect(e).toBeInstanceOf(TlvError);
      }
    }
  });
});

/** Naive reference encoder (concatenation) used as an oracle for the one-allocation builder. */
type Tree = { tag: number; value?: Uint8Array; kids?: Tree[] };
function naiveEncode(t: Tree): Uint8Array {
  const content = t.kids ? concatBytes(...t.kids.map(naiveEncode)) : t.value!;
  return concatBytes(encodeTag(t.tag), encodeLength(content.length), content);
}
function toItem(t: Tree): TlvItem {
  return t.kids ? constructed(t.tag, t.kids.map(toItem)) : primitive(t.tag, t.value!);
}
function randomTree(rng: Rng, depth: number): Tree {
  if (depth <= 0 || rng.chance(0.4)) {
    const size = rng.pick([0, 1, 5, 127, 128, 200, 255, 256, 300, 70000]);
    const value = new Uint8Array(size);
    for (let i = 0; i < Math.min(size, 16); i++) value[i] = rng.int(0, 255);
    return { tag: rng.pick([0x04, 0x02, 0x80, 0x5f1f, 0x5f2e, 0xc1, 0x9f1f]), value };
  }
  const kids: Tree[] = [];
  const n = rng.int(0, 4);
  for (let i = 0; i < n; i++) kids.push(randomTree(rng, depth - 1));
  return { tag: rng.pick([0x30, 0x31, 0x61, 0x7f61, 0x7f60, 0xa1, 0xbf8101]), kids };
}
function fromNode(n: TlvNode): Tree {
  return n.constructed ? { tag: n.tag, kids: n.children.map(fromNode) } : { tag: n.tag, value: n.value };
}

describe('builder', () => {
  it('writes the same bytes as naive concatenation, precomputes sizes, and round-trips through the parser', () => {
    const rng = new Rng('tlv-builder');
    for (let i = 0; i < 200; i++) {
      const t = randomTree(rng, 4);
      const item = toItem(t);
      const bytes = encodeItem(item);
      expect(item.size).toBe(bytes.length);
      expect(bytesEqual(bytes, naiveEncode(t))).toBe(true);
      const parsed = parseTlv(bytes, { strictDer: true });
      expect(bytesEqual(encodeItem(toItem(fromNode(parsed))), bytes)).toBe(true);
    }
  });

  it('shares items between trees and writes pre-encoded bytes as they are', () => {
    const alg = derSequence([derOid('2.16.840.1.101.3.4.2.1')]);
    const a = encodeItem(derSequence([alg, derOctetString(Uint8Array.of(1))]));
    const b = encodeItem(derSequence([alg, rawItem(fromHex('04 01 01'))]));
    expect(a).toEqual(b);
    expect(hex(a)).toBe('30 10 30 0B 06 09 60 86 48 01 65 03 04 02 01 04 01 01');
  });

  it('encodes single objects, headers and item lists', () => {
    expect(hex(encodeTlv(0x5f1f, fromHex('41 42')))).toBe('5F 1F 02 41 42');
    expect(hex(encodeHeader(0x5f2e, 300))).toBe('5F 2E 82 01 2C');
    expect(hex(encodeItems([primitive(0x80, Uint8Array.of(1)), primitive(0x81, new Uint8Array(0))]))).toBe('80 01 01 81 00');
  });

  it('sorts DER SET OF components by their encodings', () => {
    const set = encodeItem(derSetOf([derInteger(300), derOctetString(Uint8Array.of(0)), derInteger(5), derNull()]));
    // 02 01 05 < 02 02 01 2C < 04 01 00 < 05 00
    expect(hex(set)).toBe('31 0C 02 01 05 02 02 01 2C 04 01 00 05 00');
  });
});

describe('DER primitives against asn1js', () => {
  it('encodes INTEGERs like asn1js', () => {
    const values = [0n, 1n, 127n, 128n, 255n, 256n, 32767n, 32768n, -1n, -128n, -129n, 2n ** 64n, -(2n ** 63n)];
    for (const v of values) {
      const ours = encodeItem(derInteger(v));
      const theirs = new Uint8Array(asn1js.Integer.fromBigInt(v).toBER());
      expect(hex(ours), String(v)).toBe(hex(theirs));
      expect(decodeIntegerContent(integerContent(v))).toBe(v);
    }
    for (const n of [0, 5, 127, 128, 200, 0x7fff, 0x8000, 1e9, -7]) {
      expect(hex(encodeItem(derInteger(n)))).toBe(hex(new Uint8Array(new asn1js.Integer({ value: n }).toBER())));
    }
    expect(hex(unsignedIntegerContent(fromHex('00 00 80 01')))).toBe('00 80 01');
    expect(hex(unsignedIntegerContent(fromHex('00 7F')))).toBe('7F');
  });

  it('encodes OBJECT IDENTIFIERs like asn1js and decodes them back', () => {
    const oids = ['2.23.136.1.1.1', '0.4.0.127.0.7.2.2.4.2.2', '1.2.840.10045.2.1', '1.3.14.3.2.26', '2.999.1', '2.25.329800735698586629295641978511506172918'];
    for (const oid of oids) {
      const ours = encodeItem(derOid(oid));
      const theirs = new Uint8Array(new asn1js.ObjectIdentifier({ value: oid }).toBER());
      expect(hex(ours), oid).toBe(hex(theirs));
      expect(decodeOidContent(oidContent(oid))).toBe(oid);
    }
    expectTlvError(() => oidContent('1.40'), 'TLV_INVALID_INPUT');
    expectTlvError(() => oidContent('3.1'), 'TLV_INVALID_INPUT');
    expectTlvError(() => decodeOidContent(fromHex('2B 86')), 'TLV_MALFORMED');
  });

  it('builds structures asn1js parses identically', () => {
    const bytes = encodeItem(derSequence([derInteger(0), derSequence([derOid('2.16.840.1.101.3.4.2.1'), derNull()]), derOctetString(new Uint8Array(200))]));
    const parsed = asn1js.fromBER(bytes);
    expect(parsed.offset).toBe(bytes.length);
    expect(hex(new Uint8Array(parsed.result.toBER()))).toBe(hex(bytes));
  });

  it('reads BER constructed OCTET STRINGs by concatenating segments', () => {
    const n = parseTlv(fromHex('24 80 04 02 AA BB 04 01 CC 00 00'), { allowIndefinite: true });
    expect(hex(readOctetString(n))).toBe('AA BB CC');
  });
});

describe('GlobalPlatform DGI', () => {
  it('uses a 1-byte length up to 254 and FF + 2 bytes from 255', () => {
    expect(hex(encodeDgi(0x0101, fromHex('AA BB')))).toBe('01 01 02 AA BB');
    expect(hex(encodeDgi(0x8000, new Uint8Array(254)).subarray(0, 3))).toBe('80 00 FE');
    expect(hex(encodeDgi(0x8000, new Uint8Array(255)).subarray(0, 5))).toBe('80 00 FF 00 FF');
    expect(hex(encodeDgi(0x9f65, new Uint8Array(0x1234)).subarray(0, 5))).toBe('9F 65 FF 12 34');
    expect(encodeDgi(0x0201, new Uint8Array(255)).length).toBe(260);
  });

  it('parses a DGI sequence built in one allocation', () => {
    const bytes = encodeItems([dgiItem(0x0101, fromHex('01 02')), dgiItem(0x0202, new Uint8Array(300)), dgiItem(0x0303, new Uint8Array(0))]);
    const list = parseDgis(bytes);
    expect(list.map((d) => [d.dgi, d.value.length, d.offset])).toEqual([
      [0x0101, 2, 0],
      [0x0202, 300, 5],
      [0x0303, 0, 310],
    ]);
    expect(hex(list[0]!.raw)).toBe('01 01 02 01 02');
  });

  it('rejects malformed DGI data with the offset', () => {
    expectTlvError(() => parseDgis(fromHex('01 01 05 AA')), 'DGI_MALFORMED', undefined, 0);
    expectTlvError(() => parseDgis(fromHex('01 01 00 02 02 FF 01')), 'DGI_MALFORMED', undefined, 3);
    expectTlvError(() => encodeDgi(0x10000, new Uint8Array(0)), 'TLV_INVALID_INPUT');
    expectTlvError(() => encodeDgi(0x0101, new Uint8Array(0x10000)), 'TLV_INVALID_INPUT');
  });
});
