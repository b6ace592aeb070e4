/**
 * BER-TLV tag and length fields, as used by ISO/IEC 7816-4 §5.2 (inter-industry data objects) and ICAO Doc 9303-10
 * (LDS), which follow the basic encoding rules of ISO/IEC 8825-1 (X.690).
 *
 * Tag field (X.690 §8.1.2, ISO/IEC 7816-4 §5.2.2.1)
 * ```
 *   first byte   b8 b7  class        00 universal | 01 application | 10 context-specific | 11 private
 *                b6     P/C          0 primitive  | 1 constructed
 *                b5-b1  tag number   00000-11110: the tag number (single-byte tag)
 *                                    11111      : the tag number follows in subsequent bytes
 *   subsequent   b8     1 = another byte follows, 0 = last byte
 *                b7-b1  next 7 bits of the tag number (big-endian); the first subsequent byte is not '80'
 * ```
 * Kadi represents a tag as the unsigned big-endian number formed by all of its bytes, the way ISO 7816 and ICAO
 * write them: `0x61` (DG1), `0x5F1F` (MRZ), `0x7F61` (biometric information group template). Tags of up to
 * {@link MAX_TAG_BYTES} bytes are supported. ICAO uses two-byte tags with tag numbers below 31 (5F01, 5F0E, ...),
 * which X.690 DER would write in one byte; ISO/IEC 7816-4 allows them, so they are accepted here.
 *
 * Length field (X.690 §8.1.3, ISO/IEC 7816-4 §5.2.2.2)
 * ```
 *   '00'-'7F'            short form: the length itself (0..127)
 *   '81' XX              long form: 1 subsequent byte  (128..255 in DER)
 *   '82' XX XX           long form: 2 subsequent bytes (256..65 535)
 *   '83' XX XX XX        long form: 3 subsequent bytes
 *   '84' XX XX XX XX     long form: 4 subsequent bytes
 *   '80'                 indefinite form (constructed only, closed by end-of-contents '00 00'); forbidden in
 *                        ICAO LDS data groups and in DER
 *   'FF'                 reserved (X.690 §8.1.3.5 c)
 * ```
 * Encoders here always write the minimal definite form (DER, X.690 §10.1).
 */
import { invalidInput, malformed } from './errors.ts';

/** Class bits (b8-b7 of the first tag byte). */
export const TAG_CLASS_MASK = 0xc0;
export const TAG_CLASS_UNIVERSAL = 0x00;
export const TAG_CLASS_APPLICATION = 0x40;
export const TAG_CLASS_CONTEXT = 0x80;
export const TAG_CLASS_PRIVATE = 0xc0;
/** b6 of the first tag byte: constructed encoding. */
export const TAG_CONSTRUCTED = 0x20;
/** b5-b1 all set in the first tag byte: the tag number continues in subsequent bytes. */
export const TAG_NUMBER_MULTI_BYTE = 0x1f;
/** b8 of a subsequent tag byte: another tag byte follows. */
export const TAG_MORE_BYTES = 0x80;
/** Longest tag Kadi accepts, in bytes (the tag then fits an unsigned 32-bit number). */
export const MAX_TAG_BYTES = 4;

/** b8 of the first length byte: long form (b7-b1 = number of subsequent length bytes). */
export const LENGTH_LONG_FORM = 0x80;
/** The indefinite-length marker. */
export const LENGTH_INDEFINITE = 0x80;
/** Reserved first length byte. */
export const LENGTH_RESERVED = 0xff;
/** Most subsequent length bytes Kadi accepts (lengths up to 2^32 - 1). */
export const MAX_LENGTH_BYTES = 4;

export type TagClass = 'universal' | 'application' | 'context' | 'private';

/** First (leading) byte of a tag number. */
export function tagFirstByte(tag: number): number {
  if (tag <= 0xff) return tag;
  if (tag <= 0xffff) return tag >>> 8;
  if (tag <= 0xffffff) return tag >>> 16;
  return tag >>> 24;
}

export function tagClass(tag: number): TagClass {
  switch (tagFirstByte(tag) & TAG_CLASS_MASK) {
    case TAG_CLASS_UNIVERSAL:
      return 'universal';
    case TAG_CLASS_APPLICATION:
      return 'application';
    case TAG_CLASS_CONTEXT:
      return 'context';
    default:
      return 'private';
  }
}

/** Whether the tag denotes a constructed encoding (b6 of the first byte). */
export function isConstructedTag(tag: number): boolean {
  return (tagFirstByte(tag) & TAG_CONSTRUCTED) !== 0;
}

/**
 * Number of bytes of a tag, validating that the number is a well-formed BER tag: a one-byte tag must not have
 * b5-b1 = 11111, a multi-byte tag must, every subsequent byte but the last has b8 set and the last has it clear.
 */
export function tagSize(tag: number): number {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xffffffff) {
    throw invalidInput('BAD_TAG', `tag ${String(tag)} is not an unsigned 32-bit integer`);
  }
  const n = tag <= 0xff ? 1 : tag <= 0xffff ? 2 : tag <= 0xffffff ? 3 : 4;
  const first = tag >>> (8 * (n - 1));
  if (n === 1) {
    if ((first & TAG_NUMBER_MULTI_BYTE) === TAG_NUMBER_MULTI_BYTE) {
      throw invalidInput('BAD_TAG', `one-byte tag ${tag.toString(16)} announces subsequent bytes`);
    }
    return 1;
  }
  if ((first & TAG_NUMBER_MULTI_BYTE) !== TAG_NUMBER_MULTI_BYTE) {
    throw invalidInput('BAD_TAG', `multi-byte tag ${tag.toString(16)} has no 1F marker in its first byte`);
  }
  for (let i = n - 2; i >= 0; i--) {
    const b = (tag >>> (8 * i)) & 0xff;
    const more = (b & TAG_MORE_BYTES) !== 0;
    if (more !== i > 0) throw invalidInput('BAD_TAG', `tag ${tag.toString(16)} has bad continuation bits`);
  }
  if (((tag >>> (8 * (n - 2))) & 0xff) === TAG_MORE_BYTES) {
    throw invalidInput('BAD_TAG', `tag ${tag.toString(16)} has a leading zero in its tag number`);
  }
  return n;
}

/** Writes `size` tag bytes at `offset`; returns the offset after them. */
export function writeTag(out: Uint8Array, offset: number, tag: number, size: number): number {
  for (let i = size - 1; i >= 0; i--) out[offset++] = (tag >>> (8 * i)) & 0xff;
  return offset;
}

/** Encoded tag bytes. */
export function encodeTag(tag: number): Uint8Array {
  const n = tagSize(tag);
  const out = new Uint8Array(n);
  writeTag(out, 0, tag, n);
  return out;
}

/** Number of bytes of the minimal definite length field for `length`. */
export function lengthSize(length: number): number {
  if (length < 0x80) {
    if (length < 0 || !Number.isInteger(length)) throw invalidInput('BAD_LENGTH', `length ${length} is not encodable`);
    return 1;
  }
  if (length <= 0xff) return 2;
  if (length <= 0xffff) return 3;
  if (length <= 0xffffff) return 4;
  if (length <= 0xffffffff && Number.isInteger(length)) return 5;
  throw invalidInput('BAD_LENGTH', `length ${length} is not encodable`);
}

/** Writes the minimal definite length field at `offset`; returns the offset after it. */
export function writeLength(out: Uint8Array, offset: number, length: number): number {
  if (length < 0x80) {
    out[offset++] = length;
  } else if (length <= 0xff) {
    out[offset++] = 0x81;
    out[offset++] = length;
  } else if (length <= 0xffff) {
    out[offset++] = 0x82;
    out[offset++] = length >>> 8;
    out[offset++] = length & 0xff;
  } else if (length <= 0xffffff) {
    out[offset++] = 0x83;
    out[offset++] = length >>> 16;
    out[offset++] = (length >>> 8) & 0xff;
    out[offset++] = length & 0xff;
  } else {
    out[offset++] = 0x84;
    out[offset++] = length >>> 24;
    out[offset++] = (length >>> 16) & 0xff;
    out[offset++] = (length >>> 8) & 0xff;
    out[offset++] = length & 0xff;
  }
  return offset;
}

/** Encoded minimal definite length field. */
export function encodeLength(length: number): Uint8Array {
  const out = new Uint8Array(lengthSize(length));
  writeLength(out, 0, length);
  return out;
}

/** Size of tag + minimal length fields for a value of `length` bytes. */
export function headerSize(tag: number, length: number): number {
  return tagSize(tag) + lengthSize(length);
}

/** Result of {@link readTag}: the tag number and how many bytes it took. */
export interface TagField {
  tag: number;
  size: number;
}

/**
 * Reads a tag field at `offset` (not beyond `end`). Throws `TLV_MALFORMED` (TRUNCATED_TAG, TAG_TOO_LONG,
 * TAG_NOT_MINIMAL) with the offset of the tag.
 */
export function readTag(bytes: Uint8Array, offset: number, end: number = bytes.length): TagField {
  if (offset >= end) throw malformed('TRUNCATED_TAG', offset, 'tag expected, data ended');
  const first = bytes[offset]!;
  if ((first & TAG_NUMBER_MULTI_BYTE) !== TAG_NUMBER_MULTI_BYTE) return { tag: first, size: 1 };
  let tag = first;
  let i = offset + 1;
  for (;;) {
    if (i >= end) throw malformed('TRUNCATED_TAG', offset, 'multi-byte tag runs past the data');
    if (i - offset >= MAX_TAG_BYTES) throw malformed('TAG_TOO_LONG', offset, `tag longer than ${MAX_TAG_BYTES} bytes`);
    const b = bytes[i]!;
    if (i === offset + 1 && b === TAG_MORE_BYTES) {
      throw malformed('TAG_NOT_MINIMAL', offset, 'tag number has a leading zero byte (80)');
    }
    tag = tag * 256 + b;
    i++;
    if ((b & TAG_MORE_BYTES) === 0) break;
  }
  return { tag: tag >>> 0, size: i - offset };
}

/** Result of {@link readLength}. `length` is -1 for the indefinite form. */
export interface LengthField {
  length: number;
  size: number;
  indefinite: boolean;
  /** Long form used where a shorter form would do (accepted by BER, rejected by DER). */
  nonMinimal: boolean;
}

/**
 * Reads a length field at `offset`. Throws `TLV_MALFORMED` (TRUNCATED_LENGTH, LENGTH_TOO_LONG, LENGTH_RESERVED).
 * The indefinite form is returned, not rejected: the caller decides (see `allowIndefinite` in the parser).
 */
export function readLength(bytes: Uint8Array, offset: number, end: number = bytes.length): LengthField {
  if (offset >= end) throw malformed('TRUNCATED_LENGTH', offset, 'length expected, data ended');
  const first = bytes[offset]!;
  if (first < 0x80) return { length: first, size: 1, indefinite: false, nonMinimal: false };
  if (first === LENGTH_INDEFINITE) return { length: -1, size: 1, indefinite: true, nonMinimal: false };
  if (first === LENGTH_RESERVED) throw malformed('LENGTH_RESERVED', offset, 'reserved length byte FF');
  const n = first & 0x7f;
  if (n > MAX_LENGTH_BYTES) throw malformed('LENGTH_TOO_LONG', offset, `length field of ${n} bytes`);
  if (offset + 1 + n > end) throw malformed('TRUNCATED_LENGTH', offset, 'long-form length runs past the data');
  let length = 0;
  for (let i = 1; i <= n; i++) length = length * 256 + bytes[offset + i]!;
  const nonMinimal = length < 0x80 || bytes[offset + 1] === 0;
  return { length, size: 1 + n, indefinite: false, nonMinimal };
}
