import { describe, expect, it } from 'vitest';
import { Tag, TagClass, decodeOid, der, encodeOidContent, parseAsn1, readOctets, readOid, readString, readTime } from './der.ts';
import { PkiCode, PkiError } from './errors.ts';
import { fromHex, toHex } from '../shared/index.ts';

const code = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return e instanceof PkiError ? e.code : 'other';
  }
  return undefined;
};

describe('BER reader', () => {
  it('reads definite lengths (short and long form) and keeps the bytes as read', () => {
    const body = new Uint8Array(300).fill(0xab);
    const enc = der.sequence(der.octetString(body), der.null());
    const n = parseAsn1(enc);
    expect(n.isUniversal(Tag.SEQUENCE)).toBe(true);
    const [o, z] = n.children;
    expect(toHex(o!.raw.subarray(0, 4))).toBe('0482012c');
    expect(o!.content).toHaveLength(300);
    expect(z!.isUniversal(Tag.NULL)).toBe(true);
    expect(n.raw).toEqual(enc);
  });

  it('reads indefinite lengths; raw includes the end-of-contents octets, content excludes them', () => {
    // [0] indefinite { SEQUENCE indefinite { INTEGER 5 } }
    const enc = fromHex('A0 80 30 80 02 01 05 00 00 00 00');
    const n = parseAsn1(enc);
    expect(n.indefinite).toBe(true);
    expect(n.isContext(0)).toBe(true);
    expect(n.raw).toEqual(enc);
    expect(toHex(n.content)).toBe('3080020105' + '0000');
    const seq = n.children[0]!;
    expect(seq.indefinite).toBe(true);
    expect(toHex(seq.content)).toBe('020105');
    expect(seq.children[0]!.content[0]).toBe(5);
  });

  it('concatenates the segments of a constructed OCTET STRING', () => {
    const enc = fromHex('24 80 04 02 01 02 04 01 03 00 00');
    expect(toHex(readOctets(parseAsn1(enc)))).toBe('010203');
  });

  it('reads high tag numbers and application tags', () => {
    const n = parseAsn1(fromHex('5F 1F 02 41 42'));
    expect(n.tagClass).toBe(TagClass.APPLICATION);
    expect(n.tagNumber).toBe(0x1f);
    expect(toHex(n.content)).toBe('4142');
  });

  it.each([
    ['truncated content', '04 05 01 02'],
    ['truncated long length', '04 82 01'],
    ['length of 5 octets', '04 85 00 00 00 00 01 00'],
    ['indefinite primitive', '04 80 01 00 00'],
    ['missing end-of-contents', '30 80 02 01 05'],
    ['trailing bytes', '05 00 00'],
    ['empty', ''],
  ])('rejects %s with ASN1_MALFORMED', (_, hex) => {
    expect(code(() => parseAsn1(fromHex(hex)).children)).toBe(PkiCode.ASN1_MALFORMED);
  });

  it('refuses nesting deeper than 64 levels', () => {
    let enc: Uint8Array = der.null();
    for (let i = 0; i < 70; i++) enc = der.sequence(enc);
    const walk = (n: ReturnType<typeof parseAsn1>): void => n.children.forEach(walk);
    expect(code(() => walk(parseAsn1(enc)))).toBe(PkiCode.ASN1_MALFORMED);
  });
});

describe('values', () => {
  it.each(['2.23.136.1.1.1', '1.2.840.113549.1.1.10', '0.4.0.127.0.7.3.2.1', '2.999.4294967296', '1.3.36.3.3.2.8.1.1.7'])('OID %s round-trips', (oid) => {
    expect(decodeOid(encodeOidContent(oid))).toBe(oid);
    expect(readOid(parseAsn1(der.oid(oid)))).toBe(oid);
  });

  it('decodes the ICAO LDS security object OID from its published encoding', () => {
    expect(readOid(parseAsn1(fromHex('06 06 67 81 08 01 01 01')))).toBe('2.23.136.1.1.1');
  });

  it('reads UTCTime with the 1950/2049 pivot and GeneralizedTime with fractions', () => {
    const t = (tag: number, s: string) => readTime(parseAsn1(Uint8Array.from([tag, s.length, ...Buffer.from(s, 'latin1')])));
    expect(t(Tag.UTC_TIME, '491231235959Z').toISOString()).toBe('2049-12-31T23:59:59.000Z');
    expect(t(Tag.UTC_TIME, '500101000000Z').toISOString()).toBe('1950-01-01T00:00:00.000Z');
    expect(t(Tag.UTC_TIME, '2301311204Z').toISOString()).toBe('2023-01-31T12:04:00.000Z');
    expect(t(Tag.GENERALIZED_TIME, '20330704235959.5Z').toISOString()).toBe('2033-07-04T23:59:59.500Z');
    expect(t(Tag.UTC_TIME, '230131120400+0100').toISOString()).toBe('2023-01-31T11:04:00.000Z');
    expect(code(() => t(Tag.UTC_TIME, '2301'))).toBe(PkiCode.ASN1_MALFORMED);
  });

  it('decodes directory strings (UTF8, Printable, BMP, Teletex as Latin-1)', () => {
    const s = (tag: number, b: number[]) => readString(parseAsn1(Uint8Array.from([tag, b.length, ...b])));
    expect(s(Tag.UTF8_STRING, [...Buffer.from('Jürgen', 'utf8')])).toBe('Jürgen');
    expect(s(Tag.PRINTABLE_STRING, [...Buffer.from('AT')])).toBe('AT');
    expect(s(Tag.BMP_STRING, [0x00, 0x4b, 0x00, 0xe9])).toBe('Ké');
    expect(s(Tag.T61_STRING, [0x4b, 0xe9])).toBe('Ké');
  });

  it('writes minimal unsigned INTEGERs', () => {
    expect(toHex(der.uint(fromHex('00 00 80')))).toBe('02020080');
    expect(toHex(der.uint(fromHex('7f')))).toBe('02017f');
    expect(toHex(der.uint(fromHex('00')))).toBe('020100');
  });
});
