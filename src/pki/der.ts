/**
 * A minimal BER/DER reader that keeps every element's bytes as read (X.690).
 *
 * Signatures and hashes in X.509 and CMS are computed over encodings as they were produced by the signer, which
 * may be BER (indefinite lengths, constructed strings) rather than DER. A parse-and-re-encode library would
 * hash its own re-encoding; this reader instead hands out offsets into the original buffer so callers hash and
 * verify `node.raw` / `node.content` exactly as read.
 *
 * ```
 * identifier octets: class (2 bits) | constructed (1 bit) | tag number (5 bits, 31 = high-tag-number form)
 * length octets:     short form 0..127 | long form 0x81..0x84 + n bytes | indefinite 0x80 (constructed only,
 *                    contents end with the end-of-contents octets 00 00)
 * ```
 */
import { PkiCode, PkiError } from './errors.ts';

export const TagClass = { UNIVERSAL: 0, APPLICATION: 1, CONTEXT: 2, PRIVATE: 3 } as const;

/** Universal tag numbers used in this module. */
export const Tag = {
  BOOLEAN: 1,
  INTEGER: 2,
  BIT_STRING: 3,
  OCTET_STRING: 4,
  NULL: 5,
  OID: 6,
  UTF8_STRING: 12,
  SEQUENCE: 16,
  SET: 17,
  NUMERIC_STRING: 18,
  PRINTABLE_STRING: 19,
  T61_STRING: 20,
  IA5_STRING: 22,
  UTC_TIME: 23,
  GENERALIZED_TIME: 24,
  VISIBLE_STRING: 26,
  UNIVERSAL_STRING: 28,
  BMP_STRING: 30,
} as const;

const MAX_DEPTH = 64;

/** One BER element: where it sits in the source buffer, and its parsed identifier. */
export class Asn1 {
  constructor(
    /** The whole source buffer this element was read from. */
    readonly source: Uint8Array,
    readonly tagClass: number,
    readonly constructed: boolean,
    readonly tagNumber: number,
    /** Offset of the first identifier octet. */
    readonly start: number,
    /** Offset of the first content octet. */
    readonly contentStart: number,
    /** Offset just past the last content octet (before the end-of-contents octets if indefinite). */
    readonly contentEnd: number,
    /** Offset just past the element (after the end-of-contents octets if indefinite). */
    readonly end: number,
    readonly indefinite: boolean,
    private readonly depth: number,
    /** Children already parsed (indefinite-length elements are parsed eagerly to find their end). */
    private kids?: Asn1[],
  ) {}

  /** The complete encoding as read (identifier, length, contents, end-of-contents). */
  get raw(): Uint8Array {
    return this.source.subarray(this.start, this.end);
  }

  /** The content octets as read. */
  get content(): Uint8Array {
    return this.source.subarray(this.contentStart, this.contentEnd);
  }

  /** Children of a constructed element (parsed once, on first access). */
  get children(): Asn1[] {
    if (!this.constructed) return [];
    if (this.kids === undefined) {
      const out: Asn1[] = [];
      let off = this.contentStart;
      while (off < this.contentEnd) {
        const n = readAt(this.source, off, this.contentEnd, this.depth + 1);
        out.push(n);
        off = n.end;
      }
      this.kids = out;
    }
    return this.kids;
  }

  is(tagClass: number, tagNumber: number): boolean {
    return this.tagClass === tagClass && this.tagNumber === tagNumber;
  }

  isUniversal(tagNumber: number): boolean {
    return this.tagClass === TagClass.UNIVERSAL && this.tagNumber === tagNumber;
  }

  isContext(tagNumber: number): boolean {
    return this.tagClass === TagClass.CONTEXT && this.tagNumber === tagNumber;
  }

  /** Human-readable tag for error messages ("SEQUENCE", "[0]", "[APPLICATION 23]"). */
  describe(): string {
    if (this.tagClass === TagClass.UNIVERSAL) {
      const name = Object.entries(Tag).find(([, v]) => v === this.tagNumber)?.[0];
      return name ?? `UNIVERSAL ${this.tagNumber}`;
    }
    const cls = ['', 'APPLICATION ', '', 'PRIVATE '][this.tagClass]!;
    return `[${cls}${this.tagNumber}]`;
  }
}

function malformed(message: string): PkiError {
  return new PkiError(PkiCode.ASN1_MALFORMED, message);
}

/** Reads one element at `offset`; `limit` is the end of the enclosing contents. */
function readAt(buf: Uint8Array, offset: number, limit: number, depth: number): Asn1 {
  if (depth > MAX_DEPTH) throw malformed(`nesting deeper than ${MAX_DEPTH} at offset ${offset}`);
  let p = offset;
  if (p >= limit) throw malformed(`missing identifier at offset ${offset}`);
  const id = buf[p++]!;
  const tagClass = id >> 6;
  const constructed = (id & 0x20) !== 0;
  let tagNumber = id & 0x1f;
  if (tagNumber === 0x1f) {
    tagNumber = 0;
    for (let i = 0; ; i++) {
      if (p >= limit) throw malformed(`truncated tag at offset ${offset}`);
      if (i >= 4) throw malformed(`tag number too large at offset ${offset}`);
      const b = buf[p++]!;
      tagNumber = tagNumber * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) break;
    }
  }
  if (p >= limit) throw malformed(`missing length at offset ${offset}`);
  const l0 = buf[p++]!;
  if (l0 === 0x80) {
    if (!constructed) throw malformed(`indefinite length on a primitive element at offset ${offset}`);
    // Indefinite: parse children until the end-of-contents octets 00 00.
    const contentStart = p;
    const kids: Asn1[] = [];
    for (;;) {
      if (p + 2 > limit) throw malformed(`missing end-of-contents for element at offset ${offset}`);
      if (buf[p] === 0 && buf[p + 1] === 0) break;
      const k = readAt(buf, p, limit, depth + 1);
      kids.push(k);
      p = k.end;
    }
    return new Asn1(buf, tagClass, constructed, tagNumber, offset, contentStart, p, p + 2, true, depth, kids);
  }
  let len: number;
  if (l0 < 0x80) {
    len = l0;
  } else {
    const n = l0 & 0x7f;
    if (n > 4) throw malformed(`length of ${n} octets at offset ${offset}`);
    if (p + n > limit) throw malformed(`truncated length at offset ${offset}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
  }
  const contentStart = p;
  const contentEnd = p + len;
  if (contentEnd > limit) {
    throw malformed(`element at offset ${offset} claims ${len} content octets, only ${limit - p} available`);
  }
  return new Asn1(buf, tagClass, constructed, tagNumber, offset, contentStart, contentEnd, contentEnd, false, depth);
}

/** Reads the single element at the start of `bytes`; `allowTrailing` accepts bytes after it. */
export function parseAsn1(bytes: Uint8Array, opts: { allowTrailing?: boolean } = {}): Asn1 {
  const n = readAt(bytes, 0, bytes.length, 0);
  if (!opts.allowTrailing && n.end !== bytes.length) {
    throw malformed(`${bytes.length - n.end} trailing bytes after the element`);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------------------
// Value decoders

function expectUniversal(n: Asn1, tag: number, what: string): void {
  if (!n.isUniversal(tag)) throw malformed(`${what}: expected ${Object.entries(Tag).find(([, v]) => v === tag)?.[0]}, found ${n.describe()}`);
}

/** OBJECT IDENTIFIER in dotted form. */
export function readOid(n: Asn1): string {
  expectUniversal(n, Tag.OID, 'OID');
  return decodeOid(n.content);
}

export function decodeOid(c: Uint8Array): string {
  if (c.length === 0) throw malformed('empty OID');
  const arcs: string[] = [];
  let v = 0n;
  let first = true;
  for (let i = 0; i < c.length; i++) {
    const b = c[i]!;
    v = (v << 7n) | BigInt(b & 0x7f);
    if ((b & 0x80) === 0) {
      if (first) {
        const x = v < 40n ? 0n : v < 80n ? 1n : 2n;
        arcs.push(String(x), String(v - 40n * x));
        first = false;
      } else {
        arcs.push(String(v));
      }
      v = 0n;
    } else if (i === c.length - 1) {
      throw malformed('truncated OID');
    }
  }
  return arcs.join('.');
}

export function encodeOidContent(oid: string): Uint8Array {
  const parts = oid.split('.').map((s) => BigInt(s));
  if (parts.length < 2) throw new RangeError(`bad OID ${oid}`);
  const arcs = [parts[0]! * 40n + parts[1]!, ...parts.slice(2)];
  const out: number[] = [];
  for (const a of arcs) {
    const tmp: number[] = [Number(a & 0x7fn)];
    let x = a >> 7n;
    while (x > 0n) {
      tmp.unshift(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    out.push(...tmp);
  }
  return Uint8Array.from(out);
}

/** INTEGER content octets as read (two's complement, possibly with a leading 00). */
export function readIntegerBytes(n: Asn1): Uint8Array {
  expectUniversal(n, Tag.INTEGER, 'INTEGER');
  if (n.content.length === 0) throw malformed('empty INTEGER');
  return n.content;
}

/** INTEGER as a bigint (signed). */
export function readBigInt(n: Asn1): bigint {
  return bytesToBigInt(readIntegerBytes(n), true);
}

/** Small non-negative INTEGER as a number. */
export function readSmallInt(n: Asn1): number {
  const v = readBigInt(n);
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(`INTEGER ${v} out of range`);
  return Number(v);
}

export function bytesToBigInt(b: Uint8Array, signed = false): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  if (signed && b.length > 0 && (b[0]! & 0x80) !== 0) v -= 1n << BigInt(b.length * 8);
  return v;
}

/** Unsigned big-endian bytes of `v`, left-padded to `len` if given. */
export function bigIntToBytes(v: bigint, len?: number): Uint8Array {
  let hex = v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  const raw = Uint8Array.from(Buffer.from(hex, 'hex'));
  if (len === undefined || raw.length === len) return raw;
  if (raw.length > len) throw new RangeError(`integer needs ${raw.length} bytes, ${len} allowed`);
  const out = new Uint8Array(len);
  out.set(raw, len - raw.length);
  return out;
}

/**
 * OCTET STRING value: the content of a primitive encoding, or the concatenated contents of the primitive
 * segments of a constructed (BER) encoding. `tagged` lets IMPLICIT-tagged strings through.
 */
export function readOctets(n: Asn1, tagged = false): Uint8Array {
  if (!tagged) expectUniversal(n, Tag.OCTET_STRING, 'OCTET STRING');
  if (!n.constructed) return n.content;
  const parts: Uint8Array[] = [];
  const walk = (x: Asn1): void => {
    for (const k of x.children) {
      if (!k.isUniversal(Tag.OCTET_STRING)) throw malformed('constructed OCTET STRING with a non-OCTET STRING segment');
      if (k.constructed) walk(k);
      else parts.push(k.content);
    }
  };
  walk(n);
  return Buffer.concat(parts);
}

/** BIT STRING: unused bits and the bit bytes (primitive encoding only, as DER and every real sample use). */
export function readBitString(n: Asn1): { unusedBits: number; bytes: Uint8Array } {
  expectUniversal(n, Tag.BIT_STRING, 'BIT STRING');
  if (n.constructed) throw malformed('constructed BIT STRING is not supported');
  const c = n.content;
  if (c.length === 0 || c[0]! > 7) throw malformed('bad BIT STRING');
  return { unusedBits: c[0]!, bytes: c.subarray(1) };
}

export function readBoolean(n: Asn1): boolean {
  expectUniversal(n, Tag.BOOLEAN, 'BOOLEAN');
  if (n.content.length !== 1) throw malformed('bad BOOLEAN');
  return n.content[0] !== 0;
}

/** UTCTime (YYMMDDHHMM[SS]Z, 50..99 = 19xx) or GeneralizedTime (YYYYMMDDHHMMSS[.f]Z). */
export function readTime(n: Asn1): Date {
  const s = Buffer.from(n.content).toString('latin1');
  let m: RegExpMatchArray | null;
  if (n.isUniversal(Tag.UTC_TIME)) {
    m = s.match(/^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(Z|[+-]\d{4})$/);
    if (!m) throw malformed(`bad UTCTime "${s}"`);
    const yy = Number(m[1]);
    return makeDate(yy >= 50 ? 1900 + yy : 2000 + yy, m[2]!, m[3]!, m[4]!, m[5]!, m[6] ?? '00', '', m[7]!);
  }
  if (n.isUniversal(Tag.GENERALIZED_TIME)) {
    m = s.match(/^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:[.,](\d+))?(Z|[+-]\d{4})?$/);
    if (!m) throw malformed(`bad GeneralizedTime "${s}"`);
    return makeDate(Number(m[1]), m[2]!, m[3]!, m[4]!, m[5]!, m[6] ?? '00', m[7] ?? '', m[8] ?? 'Z');
  }
  throw malformed(`expected a time, found ${n.describe()}`);
}

function makeDate(y: number, mo: string, d: string, h: string, mi: string, s: string, frac: string, zone: string): Date {
  let t = Date.UTC(y, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), frac ? Math.floor(Number('0.' + frac) * 1000) : 0);
  if (zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    t -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5))) * 60_000;
  }
  const date = new Date(t);
  if (Number.isNaN(date.getTime())) throw malformed('invalid date');
  return date;
}

/** Any of the X.520 directory string types (and IA5/Visible/Numeric) decoded to a JS string. */
export function readString(n: Asn1): string {
  const c = n.content;
  if (n.tagClass !== TagClass.UNIVERSAL) throw malformed(`expected a string, found ${n.describe()}`);
  switch (n.tagNumber) {
    case Tag.UTF8_STRING:
      return Buffer.from(c).toString('utf8');
    case Tag.PRINTABLE_STRING:
    case Tag.IA5_STRING:
    case Tag.NUMERIC_STRING:
    case Tag.VISIBLE_STRING:
    case Tag.T61_STRING: // teletex: treated as Latin-1, the common practice
      return Buffer.from(c).toString('latin1');
    case Tag.BMP_STRING: {
      if (c.length % 2) throw malformed('odd BMPString');
      const sw = Buffer.from(c);
      sw.swap16();
      return sw.toString('utf16le');
    }
    case Tag.UNIVERSAL_STRING: {
      if (c.length % 4) throw malformed('bad UniversalString');
      let s = '';
      for (let i = 0; i < c.length; i += 4) {
        s += String.fromCodePoint(((c[i]! << 24) | (c[i + 1]! << 16) | (c[i + 2]! << 8) | c[i + 3]!) >>> 0);
      }
      return s;
    }
    default:
      throw malformed(`expected a string, found ${n.describe()}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// A tiny DER writer (used only to build a named-curve SubjectPublicKeyInfo and in tests).

export function derLength(len: number): Uint8Array {
  if (len < 0x80) return Uint8Array.of(len);
  const bytes: number[] = [];
  let x = len;
  while (x > 0) {
    bytes.unshift(x & 0xff);
    x = Math.floor(x / 256);
  }
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One DER TLV with a single-octet identifier. */
export function derTlv(identifier: number, ...content: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(content);
  return Buffer.concat([Uint8Array.of(identifier), derLength(body.length), body]);
}

export const der = {
  sequence: (...c: Uint8Array[]) => derTlv(0x30, ...c),
  set: (...c: Uint8Array[]) => derTlv(0x31, ...c),
  oid: (oid: string) => derTlv(0x06, encodeOidContent(oid)),
  null: () => Uint8Array.of(0x05, 0x00),
  octetString: (c: Uint8Array) => derTlv(0x04, c),
  bitString: (c: Uint8Array, unusedBits = 0) => derTlv(0x03, Uint8Array.of(unusedBits), c),
  /** Unsigned integer from big-endian magnitude bytes (adds a leading 00 when the top bit is set). */
  uint: (mag: Uint8Array) => {
    let i = 0;
    while (i < mag.length - 1 && mag[i] === 0) i++;
    const m = mag.subarray(i);
    return derTlv(0x02, (m[0] ?? 0) & 0x80 ? Buffer.concat([Uint8Array.of(0), m]) : m.length ? m : Uint8Array.of(0));
  },
  context: (n: number, constructed: boolean, ...c: Uint8Array[]) => derTlv(0x80 | (constructed ? 0x20 : 0) | n, ...c),
};
