import { ValidationError } from '../shared/index.ts';

/**
 * Stable error codes of the LDS layer. Messages name the field and the rule, never the personal data itself.
 * - `MRZ_INVALID_INPUT`: a field given to the MRZ generator is missing, badly formatted or too long
 *   (`details.field` names it).
 * - `MRZ_UNSUPPORTED_CHARACTER`: a name contains a character that has no transliteration in the ICAO 9303-3 table
 *   (`details.field`, `details.index` and `details.codePoint`, e.g. "U+0416", say which).
 * - `MRZ_MALFORMED`: a string given to the MRZ parser is not a TD1/TD2/TD3 MRZ (wrong line lengths, characters
 *   outside A-Z 0-9 <). Check-digit failures are not errors: the parser reports them.
 * - `LDS_INVALID_INPUT`: a value given to a data-group or security-object encoder is invalid.
 * - `LDS_MALFORMED`: a data group or security object does not have the structure 9303-10 prescribes.
 */
export type LdsErrorCode =
  | 'MRZ_INVALID_INPUT'
  | 'MRZ_UNSUPPORTED_CHARACTER'
  | 'MRZ_MALFORMED'
  | 'LDS_INVALID_INPUT'
  | 'LDS_MALFORMED';

/** Input or data that can never be processed as given; unrecoverable. */
export class LdsError extends ValidationError {
  /** The offending field (input name or data element), when there is one. */
  readonly field: string | undefined;

  constructor(code: LdsErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, { details });
    this.field = typeof details['field'] === 'string' ? details['field'] : undefined;
  }
}

export function mrzInvalid(field: string, rule: string): LdsError {
  return new LdsError('MRZ_INVALID_INPUT', `${field}: ${rule}`, { field });
}

export function ldsInvalid(field: string, rule: string): LdsError {
  return new LdsError('LDS_INVALID_INPUT', `${field}: ${rule}`, { field });
}

export function ldsMalformed(what: string, details: Record<string, unknown> = {}): LdsError {
  return new LdsError('LDS_MALFORMED', what, details);
}
