/**
 * A small DER writer (X.690 §10) for the certificate, CRL and CMS builders.
 *
 * ```
 * identifier | length | contents
 * length:  0..127 -> one octet;  otherwise 0x80|n followed by n big-endian octets (minimal, DER §10.1)
 * INTEGER: two's complement, minimal (no leading 00 unless the next octet has its top bit set)
 * SET OF:  elements sorted by their encodings (DER §11.6; the shorter one padded with trailing zero octets)
 * UTCTime: YYMMDDHHMMSSZ for 1950..2049; GeneralizedTime YYYYMMDDHHMMSSZ from 2050 (RFC 5280 §4.1.2.5)
 * ```
 *
 * Everything here builds Uint8Arrays of exact size: a TLV is written with one allocation from the sizes of its
 * parts. The SOD hot path (sod-build.ts) goes further and writes a whole EF.SOD into one buffer.
 */
import { encodeOidContent } from './der.ts';

/** Number of octets of a DER length field for a content of `len` octets. */
export function lengthSize(len: number): number {
  if (len < 0x80) return 1;
  if (len < 0x100) return 2;
  if (len < 0x10000) return 3;
  if (len < 0x1000000) return 4;
  return 5;
}

/** Writes a DER length at `off`; returns the offset after it. */
export function writeLength(out: Uint8Array, off: number, len: number): number {
  if (len < 0x80) {
    out[off] = len;
    return off + 1;
  }
  const n = lengthSize(len) - 1;
  out[off++] = 0x80 | n;
  for (let i = n - 1; i >= 0; i--) out[off++] = (len / 2 ** (8 * i)) & 0xff;
  return off;
}

/** Total size of a TLV with a one-octet identifier and `len` content octets. */
export function tlvSize(len: number): number {
  return 1 + lengthSize(len) + len;
}

/** One TLV with a single-octet identifier around the concatenated parts. */
export function tlv(identifier: number, ...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(tlvSize(len));
  out[0] = identifier;
  let o = writeLength(out, 1, len);
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Compares two encodings the way DER orders SET OF elements. */
export function compareDer(a: Uint8Array, b: Uint8Array): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x - y;
  }
  return 0;
}

/** Minimal two's complement content octets of a non-negative integer given as big-endian magnitude. */
export function unsignedIntegerContent(mag: Uint8Array): Uint8Array {
  let i = 0;
  while (i < mag.length - 1 && mag[i] === 0) i++;
  const m = mag.subarray(i);
  if (m.length === 0) return Uint8Array.of(0);
  if ((m[0]! & 0x80) === 0) return Uint8Array.from(m);
  const out = new Uint8Array(m.length + 1);
  out.set(m, 1);
  return out;
}

function bigintMagnitude(v: bigint): Uint8Array {
  if (v < 0n) throw new RangeError('negative INTEGER not supported');
  let hex = v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

function two(n: number): string {
  return n < 10 ? '0' + n : String(n);
}

/** YYMMDDHHMMSSZ (UTCTime) or YYYYMMDDHHMMSSZ (GeneralizedTime), seconds precision. */
export function timeString(d: Date, kind: 'utc' | 'generalized'): string {
  const y = d.getUTCFullYear();
  const rest = two(d.getUTCMonth() + 1) + two(d.getUTCDate()) + two(d.getUTCHours()) + two(d.getUTCMinutes()) + two(d.getUTCSeconds()) + 'Z';
  if (kind === 'utc') {
    if (y < 1950 || y > 2049) throw new RangeError(`UTCTime cannot hold the year ${y}`);
    return two(y % 100) + rest;
  }
  return String(y).padStart(4, '0') + rest;
}

const ascii = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));

/** PrintableString alphabet (X.680 §41.4). */
export function isPrintableString(s: string): boolean {
  return /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(s);
}

/** DER builders for the universal types used by X.509 and CMS. */
export const enc = {
  sequence: (...c: Uint8Array[]): Uint8Array => tlv(0x30, ...c),
  set: (...c: Uint8Array[]): Uint8Array => tlv(0x31, ...c),
  /** SET OF with its elements in DER order. */
  setOf: (...c: Uint8Array[]): Uint8Array => tlv(0x31, ...[...c].sort(compareDer)),
  oid: (oid: string): Uint8Array => tlv(0x06, encodeOidContent(oid)),
  null: (): Uint8Array => Uint8Array.of(0x05, 0x00),
  boolean: (v: boolean): Uint8Array => Uint8Array.of(0x01, 0x01, v ? 0xff : 0x00),
  /** Non-negative INTEGER from a number or bigint. */
  integer: (v: number | bigint): Uint8Array => tlv(0x02, unsignedIntegerContent(bigintMagnitude(BigInt(v)))),
  /** Non-negative INTEGER from big-endian magnitude octets. */
  unsignedInteger: (mag: Uint8Array): Uint8Array => tlv(0x02, unsignedIntegerContent(mag)),
  octetString: (c: Uint8Array): Uint8Array => tlv(0x04, c),
  /** BIT STRING with `unusedBits` unused bits in the last octet. */
  bitString: (c: Uint8Array, unusedBits = 0): Uint8Array => tlv(0x03, Uint8Array.of(unusedBits), c),
  utf8String: (s: string): Uint8Array => tlv(0x0c, Uint8Array.from(Buffer.from(s, 'utf8'))),
  printableString: (s: string): Uint8Array => {
    if (!isPrintableString(s)) throw new RangeError(`"${s}" is not a PrintableString`);
    return tlv(0x13, ascii(s));
  },
  ia5String: (s: string): Uint8Array => {
    if (!/^[\x00-\x7f]*$/.test(s)) throw new RangeError('not an IA5String');
    return tlv(0x16, ascii(s));
  },
  utcTime: (d: Date): Uint8Array => tlv(0x17, ascii(timeString(d, 'utc'))),
  generalizedTime: (d: Date): Uint8Array => tlv(0x18, ascii(timeString(d, 'generalized'))),
  /** RFC 5280 Time: UTCTime through 2049, GeneralizedTime from 2050. */
  time: (d: Date): Uint8Array => (d.getUTCFullYear() < 2050 ? enc.utcTime(d) : enc.generalizedTime(d)),
  /** [n] EXPLICIT (constructed context tag around a complete encoding). */
  explicit: (n: number, ...c: Uint8Array[]): Uint8Array => tlv(0xa0 | n, ...c),
  /** [n] IMPLICIT primitive: the context tag replaces the identifier of a primitive type; `content` is its content. */
  implicitPrimitive: (n: number, content: Uint8Array): Uint8Array => tlv(0x80 | n, content),
  /** [n] IMPLICIT constructed (replaces the identifier of a SEQUENCE/SET); `content` is its content. */
  implicitConstructed: (n: number, ...content: Uint8Array[]): Uint8Array => tlv(0xa0 | n, ...content),
};

/** Content octets of a TLV with a single-octet identifier and definite length (for re-tagging). */
export function contentOf(der: Uint8Array): Uint8Array {
  const l0 = der[1]!;
  if (l0 < 0x80) return der.subarray(2, 2 + l0);
  const n = l0 & 0x7f;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + der[2 + i]!;
  return der.subarray(2 + n, 2 + n + len);
}
