import { ValidationError } from '../shared/index.ts';

/**
 * Stable error codes of the TLV layer.
 * - `TLV_MALFORMED`: the bytes are not a valid BER-TLV / DER encoding (truncated tag or length, length running past
 *   the data, forbidden indefinite length, trailing bytes, ...). `offset` is the byte offset in the parsed buffer.
 * - `TLV_MISSING`: a data object required by a structure (found by tag path) is absent.
 * - `TLV_INVALID_INPUT`: a value given to an encoder cannot be encoded (bad tag number, negative length, ...).
 * - `DGI_MALFORMED`: a GlobalPlatform DGI sequence is malformed.
 */
export type TlvErrorCode = 'TLV_MALFORMED' | 'TLV_MISSING' | 'TLV_INVALID_INPUT' | 'DGI_MALFORMED';

/** Why a TLV was rejected; part of `details.reason` so callers and tests can tell cases apart. */
export type TlvMalformedReason =
  | 'TRUNCATED_TAG'
  | 'TAG_TOO_LONG'
  | 'TAG_NOT_MINIMAL'
  | 'TRUNCATED_LENGTH'
  | 'LENGTH_TOO_LONG'
  | 'LENGTH_RESERVED'
  | 'LENGTH_NOT_MINIMAL'
  | 'INDEFINITE_LENGTH'
  | 'INDEFINITE_PRIMITIVE'
  | 'MISSING_END_OF_CONTENTS'
  | 'LENGTH_EXCEEDS_DATA'
  | 'TRAILING_DATA'
  | 'EMPTY'
  | 'TOO_DEEP'
  | 'UNEXPECTED_TAG'
  | 'BAD_VALUE';

/**
 * A TLV (or DGI) encoding could not be parsed, a required element is missing, or a value cannot be encoded.
 * Unrecoverable (never retryable): the same bytes fail the same way. Messages carry offsets and tags only, never
 * the data.
 */
export class TlvError extends ValidationError {
  /** Byte offset in the parsed buffer where the problem was found (-1 when not applicable). */
  readonly offset: number;
  readonly reason: string;

  constructor(code: TlvErrorCode, reason: string, message: string, offset = -1) {
    super(code, message, { details: { reason, ...(offset >= 0 ? { offset } : {}) } });
    this.offset = offset;
    this.reason = reason;
  }
}

export function malformed(reason: TlvMalformedReason, offset: number, what: string): TlvError {
  return new TlvError('TLV_MALFORMED', reason, `malformed TLV at offset ${offset}: ${what}`, offset);
}

export function invalidInput(reason: string, what: string): TlvError {
  return new TlvError('TLV_INVALID_INPUT', reason, `cannot encode TLV: ${what}`);
}

/** Formats a tag for messages ("5F1F"). */
export function tagHex(tag: number): string {
  const h = tag.toString(16).toUpperCase();
  return h.length % 2 === 0 ? h : `0${h}`;
}
