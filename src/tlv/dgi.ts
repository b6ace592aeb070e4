/**
 * GlobalPlatform Data Grouping Identifier (DGI) encoding, used in the data field of STORE DATA during
 * personalization (GlobalPlatform Card Specification 2.3, §11.11 STORE DATA, and the GP "DGI" format also used
 * by EMV CPS).
 * ```
 *   DGI      2 bytes   identifier, '0000'-'FFFF' (not BER: no class or continuation bits)
 *   length   1 byte    '00'-'FE': the length of the data (0..254)
 *            3 bytes   'FF' followed by 2 bytes big-endian: 255..65 535
 *   data     length bytes
 * ```
 */
import type { TlvItem } from './builder.ts';
import { TlvError } from './errors.ts';

/** First length byte announcing a 2-byte length. */
export const DGI_LENGTH_EXTENDED = 0xff;
/** Largest length the 1-byte form can carry. */
export const DGI_MAX_SHORT_LENGTH = 0xfe;
/** Largest DGI data length (2-byte form). */
export const DGI_MAX_LENGTH = 0xffff;

function checkDgi(dgi: number, length: number): void {
  if (!Number.isInteger(dgi) || dgi < 0 || dgi > 0xffff) {
    throw new TlvError('TLV_INVALID_INPUT', 'BAD_DGI', `DGI ${String(dgi)} is not a 2-byte identifier`);
  }
  if (length > DGI_MAX_LENGTH) {
    throw new TlvError('TLV_INVALID_INPUT', 'BAD_LENGTH', `DGI data of ${length} bytes exceeds ${DGI_MAX_LENGTH}`);
  }
}

/** Size of DGI + length fields for `length` bytes of data. */
export function dgiHeaderSize(length: number): number {
  return length <= DGI_MAX_SHORT_LENGTH ? 3 : 5;
}

/** Writes DGI + length at `offset`; returns the offset after them. */
export function writeDgiHeader(out: Uint8Array, offset: number, dgi: number, length: number): number {
  out[offset++] = dgi >>> 8;
  out[offset++] = dgi & 0xff;
  if (length <= DGI_MAX_SHORT_LENGTH) {
    out[offset++] = length;
  } else {
    out[offset++] = DGI_LENGTH_EXTENDED;
    out[offset++] = length >>> 8;
    out[offset++] = length & 0xff;
  }
  return offset;
}

/** A DGI as a builder item (so several DGIs can be written in one allocation with `encodeItems`). */
export function dgiItem(dgi: number, data: Uint8Array): TlvItem {
  checkDgi(dgi, data.length);
  const size = dgiHeaderSize(data.length) + data.length;
  return {
    size,
    writeTo(out, offset) {
      offset = writeDgiHeader(out, offset, dgi, data.length);
      out.set(data, offset);
      return offset + data.length;
    },
  };
}

/** One DGI, encoded. */
export function encodeDgi(dgi: number, data: Uint8Array): Uint8Array {
  checkDgi(dgi, data.length);
  const out = new Uint8Array(dgiHeaderSize(data.length) + data.length);
  out.set(data, writeDgiHeader(out, 0, dgi, data.length));
  return out;
}

export interface DgiEntry {
  dgi: number;
  /** Offset of the DGI in the parsed buffer. */
  offset: number;
  /** The data (view of the input). */
  value: Uint8Array;
  /** DGI + length + data as read (view of the input). */
  raw: Uint8Array;
}

function dgiMalformed(offset: number, what: string): TlvError {
  return new TlvError('DGI_MALFORMED', 'MALFORMED', `malformed DGI at offset ${offset}: ${what}`, offset);
}

/** Parses a concatenation of DGIs filling all of `bytes`. Throws `DGI_MALFORMED` with the offset. */
export function parseDgis(bytes: Uint8Array): DgiEntry[] {
  const out: DgiEntry[] = [];
  let at = 0;
  while (at < bytes.length) {
    const start = at;
    if (at + 3 > bytes.length) throw dgiMalformed(start, 'truncated header');
    const dgi = (bytes[at]! << 8) | bytes[at + 1]!;
    let len = bytes[at + 2]!;
    at += 3;
    if (len === DGI_LENGTH_EXTENDED) {
      if (at + 2 > bytes.length) throw dgiMalformed(start, 'truncated extended length');
      len = (bytes[at]! << 8) | bytes[at + 1]!;
      at += 2;
    }
    if (at + len > bytes.length) throw dgiMalformed(start, `length ${len} exceeds the ${bytes.length - at} bytes left`);
    out.push({ dgi, offset: start, value: bytes.subarray(at, at + len), raw: bytes.subarray(start, at + len) });
    at += len;
  }
  return out;
}
