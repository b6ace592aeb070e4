/**
 * DER building blocks (X.690 §8 and §10/§11) for the ASN.1 structures of the LDS (LDSSecurityObject, SecurityInfos,
 * SubjectPublicKeyInfo). Written by hand on the TLV builder so the hot path stays allocation-light.
 *
 * Universal tags (X.680 §8.4, X.690 §8.1.2):
 * ```
 *   01 BOOLEAN            02 INTEGER           03 BIT STRING        04 OCTET STRING
 *   05 NULL               06 OBJECT IDENTIFIER 0C UTF8String        13 PrintableString
 *   16 IA5String          18 GeneralizedTime   30 SEQUENCE (OF)     31 SET (OF)
 *   24 OCTET STRING, constructed (BER only)
 * ```
 */
import { type TlvItem, constructed, primitive, rawItem } from './builder.ts';
import { TlvError, malformed, tagHex } from './errors.ts';
import type { TlvNode } from './parse.ts';

export const DER_BOOLEAN = 0x01;
export const DER_INTEGER = 0x02;
export const DER_BIT_STRING = 0x03;
export const DER_OCTET_STRING = 0x04;
export const DER_NULL = 0x05;
export const DER_OID = 0x06;
export const DER_UTF8_STRING = 0x0c;
export const DER_PRINTABLE_STRING = 0x13;
export const DER_IA5_STRING = 0x16;
export const DER_GENERALIZED_TIME = 0x18;
export const DER_SEQUENCE = 0x30;
export const DER_SET = 0x31;
/** BER constructed OCTET STRING (segments of primitive OCTET STRINGs); not DER. */
export const BER_OCTET_STRING_CONSTRUCTED = 0x24;

const NULL_ITEM = primitive(DER_NULL, new Uint8Array(0));
const textEncoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Minimal two's-complement content octets of an integer (X.690 §8.3). */
export function integerContent(n: number | bigint): Uint8Array {
  if (typeof n === 'number') {
    if (!Number.isSafeInteger(n)) throw new TlvError('TLV_INVALID_INPUT', 'BAD_INTEGER', 'integer is not a safe integer');
    if (n >= 0 && n < 0x80) return Uint8Array.of(n);
    if (n >= 0x80 && n <= 0x7fff) return Uint8Array.of(n >>> 8, n & 0xff);
    n = BigInt(n);
  }
  // General case: big-endian two's complement, minimal.
  const neg = n < 0n;
  let v = neg ? -n - 1n : n; // for negatives encode the one's complement then invert
  const out: number[] = [];
  do {
    out.unshift(Number(v & 0xffn));
    v >>= 8n;
  } while (v > 0n);
  if ((out[0]! & 0x80) !== 0) out.unshift(0);
  const bytes = Uint8Array.from(out);
  if (neg) for (let i = 0; i < bytes.length; i++) bytes[i] = ~bytes[i]! & 0xff;
  return bytes;
}

/** INTEGER content octets for an unsigned big-endian magnitude (RSA modulus): strips zeros, adds a sign byte. */
export function unsignedIntegerContent(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  if (m.length === 0) return Uint8Array.of(0);
  if ((m[0]! & 0x80) === 0) return m.slice();
  const out = new Uint8Array(m.length + 1);
  out.set(m, 1);
  return out;
}

/** Value of INTEGER content octets (BER: non-minimal forms are accepted). */
export function decodeIntegerContent(content: Uint8Array): bigint {
  if (content.length === 0) throw malformed('BAD_VALUE', -1, 'INTEGER with no content octets');
  let v = 0n;
  for (const b of content) v = (v << 8n) | BigInt(b);
  if ((content[0]! & 0x80) !== 0) v -= 1n << BigInt(8 * content.length);
  return v;
}

/** Unsigned magnitude of INTEGER content octets (leading sign byte removed). */
export function unsignedIntegerBytes(content: Uint8Array): Uint8Array {
  let i = 0;
  while (i < content.length - 1 && content[i] === 0) i++;
  return content.subarray(i);
}

const oidCache = new Map<string, Uint8Array>();

/** Content octets of an OBJECT IDENTIFIER (X.690 §8.19), cached per dotted string. Do not mutate the result. */
export function oidContent(oid: string): Uint8Array {
  const hit = oidCache.get(oid);
  if (hit) return hit;
  if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(oid)) {
    throw new TlvError('TLV_INVALID_INPUT', 'BAD_OID', `not a dotted object identifier: ${oid}`);
  }
  const arcs = oid.split('.').map((a) => BigInt(a));
  const [a0, a1] = [arcs[0]!, arcs[1]!];
  if (a0 < 2n && a1 >= 40n) throw new TlvError('TLV_INVALID_INPUT', 'BAD_OID', `second arc too large: ${oid}`);
  const subs = [a0 * 40n + a1, ...arcs.slice(2)];
  const out: number[] = [];
  for (const s of subs) {
    const chunk: number[] = [Number(s & 0x7fn)];
    let v = s >> 7n;
    while (v > 0n) {
      chunk.unshift(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(...chunk);
  }
  const bytes = Uint8Array.from(out);
  oidCache.set(oid, bytes);
  return bytes;
}

/** Dotted form of OBJECT IDENTIFIER content octets. */
export function decodeOidContent(content: Uint8Array): string {
  if (content.length === 0) throw malformed('BAD_VALUE', -1, 'OBJECT IDENTIFIER with no content octets');
  const subs: bigint[] = [];
  let v = 0n;
  let started = false;
  for (let i = 0; i < content.length; i++) {
    const b = content[i]!;
    if (!started && b === 0x80) throw malformed('BAD_VALUE', -1, 'OBJECT IDENTIFIER sub-identifier with leading 80');
    started = true;
    v = (v << 7n) | BigInt(b & 0x7f);
    if ((b & 0x80) === 0) {
      subs.push(v);
      v = 0n;
      started = false;
    } else if (i === content.length - 1) {
      throw malformed('BAD_VALUE', -1, 'OBJECT IDENTIFIER ends inside a sub-identifier');
    }
  }
  const first = subs[0]!;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...subs.slice(1)].join('.');
}

/** UTF-8 bytes of a string. */
export function utf8(s: string): Uint8Array {
  return textEncoder.encode(s);
}

/** Strict UTF-8 decoding (`BAD_VALUE` on invalid sequences). */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw malformed('BAD_VALUE', -1, 'invalid UTF-8');
  }
}

/** Bytes of a string of 7-bit ASCII characters (throws on anything else). */
export function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) throw new TlvError('TLV_INVALID_INPUT', 'BAD_STRING', `non-ASCII character at index ${i}`);
    out[i] = c;
  }
  return out;
}

/** ASCII decoding (`BAD_VALUE` on bytes above 7F). */
export function decodeAscii(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b > 0x7f) throw malformed('BAD_VALUE', -1, `non-ASCII byte at index ${i}`);
    s += String.fromCharCode(b);
  }
  return s;
}

// ---- items ----

export function derInteger(n: number | bigint): TlvItem {
  return primitive(DER_INTEGER, integerContent(n));
}
export function derUnsignedInteger(magnitude: Uint8Array): TlvItem {
  return primitive(DER_INTEGER, unsignedIntegerContent(magnitude));
}
export function derOid(oid: string): TlvItem {
  return primitive(DER_OID, oidContent(oid));
}
export function derNull(): TlvItem {
  return NULL_ITEM;
}
export function derOctetString(bytes: Uint8Array): TlvItem {
  return primitive(DER_OCTET_STRING, bytes);
}
export function derBitString(bytes: Uint8Array, unusedBits = 0): TlvItem {
  const content = new Uint8Array(bytes.length + 1);
  content[0] = unusedBits;
  content.set(bytes, 1);
  return primitive(DER_BIT_STRING, content);
}
export function derPrintableString(s: string): TlvItem {
  if (!/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(s)) {
    throw new TlvError('TLV_INVALID_INPUT', 'BAD_STRING', 'character not allowed in PrintableString');
  }
  return primitive(DER_PRINTABLE_STRING, ascii(s));
}
export function derUtf8String(s: string): TlvItem {
  return primitive(DER_UTF8_STRING, utf8(s));
}
export function derSequence(children: readonly TlvItem[]): TlvItem {
  return constructed(DER_SEQUENCE, children);
}
/** AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY OPTIONAL } */
export function derAlgorithmIdentifier(oid: string, parameters?: TlvItem | Uint8Array): TlvItem {
  const p = parameters instanceof Uint8Array ? rawItem(parameters) : parameters;
  return derSequence(p ? [derOid(oid), p] : [derOid(oid)]);
}

// ---- node readers ----

/** Checks a node's tag (`UNEXPECTED_TAG` with the node's offset). */
export function expectTag(node: TlvNode, tag: number, what: string): TlvNode {
  if (node.tag !== tag) {
    throw malformed('UNEXPECTED_TAG', node.offset, `${what}: expected tag ${tagHex(tag)}, found ${tagHex(node.tag)}`);
  }
  return node;
}

/** INTEGER node as a number (must be a safe integer). */
export function readInteger(node: TlvNode, what = 'INTEGER'): number {
  expectTag(node, DER_INTEGER, what);
  const v = decodeIntegerContent(node.value);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw malformed('BAD_VALUE', node.offset, `${what} too large`);
  }
  return Number(v);
}

/** OBJECT IDENTIFIER node as a dotted string. */
export function readOid(node: TlvNode, what = 'OBJECT IDENTIFIER'): string {
  expectTag(node, DER_OID, what);
  return decodeOidContent(node.value);
}

/** BIT STRING node: unused-bit count and the bit bytes (view). */
export function readBitString(node: TlvNode, what = 'BIT STRING'): { unusedBits: number; bytes: Uint8Array } {
  expectTag(node, DER_BIT_STRING, what);
  if (node.value.length === 0 || node.value[0]! > 7) throw malformed('BAD_VALUE', node.offset, `${what}: bad unused-bits octet`);
  return { unusedBits: node.value[0]!, bytes: node.value.subarray(1) };
}

/**
 * OCTET STRING content: the value of a primitive 04, or the concatenated segments of a BER constructed 24
 * (as found in some foreign CMS encodings).
 */
export function readOctetString(node: TlvNode, what = 'OCTET STRING'): Uint8Array {
  if (node.tag === DER_OCTET_STRING) return node.value;
  if (node.tag === BER_OCTET_STRING_CONSTRUCTED) {
    const parts = node.children.map((c) => readOctetString(c, what));
    let n = 0;
    for (const p of parts) n += p.length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
  return expectTag(node, DER_OCTET_STRING, what).value;
}
