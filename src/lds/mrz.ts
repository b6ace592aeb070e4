/**
 * Machine Readable Zone: generation (TD1, TD3) and parsing/validation (TD1, TD2, TD3), ICAO Doc 9303 Parts 3-6.
 *
 * Character set (Part 3): A-Z, 0-9 and the filler '<'. Every MRZ line has a fixed length.
 *
 * TD1 (Part 5 §4.2.2), 3 lines of 30 characters (positions 1-based):
 * ```
 *   line 1   1-2   document code (A, C or I + 1 character; V not allowed in position 2)
 *            3-5   issuing State or organization (ISO 3166-1 alpha-3 or Part 3 code, '<'-padded)
 *            6-14  document number (first 9 characters)
 *            15    check digit over 6-14, or '<' when the document number is longer than 9 characters
 *            16-30 optional data; for a long document number it starts with the remaining characters of the
 *                  document number, its check digit (over the whole number) and a filler '<'
 *   line 2   1-6   date of birth YYMMDD        7  check digit
 *            8     sex: F, M or '<' (unspecified)
 *            9-14  date of expiry YYMMDD       15 check digit
 *            16-18 nationality
 *            19-29 optional data
 *            30    composite check digit over line 1 6-30, line 2 1-7, 9-15, 19-29
 *   line 3   1-30  name: PRIMARY<<SECONDARY, components separated by '<'
 * ```
 * TD2 (Part 6 §4.2.2), 2 lines of 36: line 1 = code (2) state (3) name (31); line 2 = number (9) cd, nationality,
 * birth + cd, sex, expiry + cd, optional data (29-35, takes the long-number overflow), composite over 1-10,
 * 14-20, 22-35.
 * TD3 (Part 4 §4.2.2), 2 lines of 44: line 1 = P + type, state, name (39); line 2 = number (9) cd, nationality,
 * birth + cd, sex, expiry + cd, personal number (29-42) + cd (43; '<' or 0 when the field is empty), composite
 * (44) over 1-10, 14-20, 22-43.
 *
 * Check digits (Part 3 §4.9): weights 7, 3, 1 repeating; digit values 0-9, A=10 ... Z=35, '<' = 0; the check
 * digit is the sum of products modulo 10.
 *
 * Dates (Part 3, representation of dates): YYMMDD. An unknown day or month of birth is written as fillers ('<<'); Kadi accepts
 * `YYYY` and `YYYY-MM` for a date of birth for that purpose.
 *
 * Sex: the MRZ has F, M or '<'; the VIZ "X" (unspecified) is written '<' in the MRZ.
 */
import { LdsError, mrzInvalid } from './errors.ts';
import { type TransliterationOptions, transliterateName } from './transliteration.ts';

export const MRZ_FILLER = '<';
export const TD1_LINE_LENGTH = 30;
export const TD2_LINE_LENGTH = 36;
export const TD3_LINE_LENGTH = 44;
/** Width of the name field: TD1 line 3. */
export const TD1_NAME_WIDTH = 30;
/** Width of the name field: TD2 line 1 positions 6-36. */
export const TD2_NAME_WIDTH = 31;
/** Width of the name field: TD3 line 1 positions 6-44. */
export const TD3_NAME_WIDTH = 39;
/** Document number field width (all formats). */
export const DOCUMENT_NUMBER_WIDTH = 9;
/** TD1 optional data field (line 1, 16-30). */
export const TD1_OPTIONAL_DATA_WIDTH = 15;
/** TD1 second optional data field (line 2, 19-29). */
export const TD1_OPTIONAL_DATA2_WIDTH = 11;
/** TD3 personal number field (line 2, 29-42). */
export const TD3_PERSONAL_NUMBER_WIDTH = 14;
/** Check digit weights, Part 3 §4.9. */
export const CHECK_DIGIT_WEIGHTS = [7, 3, 1] as const;

export type MrzFormat = 'TD1' | 'TD2' | 'TD3';
export type Sex = 'M' | 'F' | 'X';

// ---------------------------------------------------------------------------------------------------------------
// Check digits

/** Value of one MRZ character for check digits: 0-9, A=10..Z=35, '<'=0. Throws on other characters. */
export function mrzCharValue(c: string): number {
  const code = c.charCodeAt(0);
  if (c.length === 1) {
    if (code >= 48 && code <= 57) return code - 48;
    if (code >= 65 && code <= 90) return code - 55;
    if (c === MRZ_FILLER) return 0;
  }
  throw new LdsError('MRZ_INVALID_INPUT', 'check digit input contains a character outside A-Z 0-9 <', {
    field: 'checkDigit',
  });
}

/** Check digit (as a character '0'-'9') of a string of MRZ characters, Part 3 §4.9. */
export function computeCheckDigit(s: string): string {
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += mrzCharValue(s[i]!) * CHECK_DIGIT_WEIGHTS[i % 3]!;
  return String(sum % 10);
}

// ---------------------------------------------------------------------------------------------------------------
// Field helpers

function pad(s: string, width: number): string {
  return s + MRZ_FILLER.repeat(width - s.length);
}

const MRZ_TEXT = /^[A-Z0-9<]*$/;

function codeField(value: string | undefined, field: string, width: number): string {
  if (typeof value !== 'string' || !/^[A-Z]{1,3}<*$/.test(value) || value.length > width) {
    throw mrzInvalid(field, `expected 1 to ${width} letters A-Z (ICAO 9303-3 code)`);
  }
  return pad(value, width);
}

function optionalField(value: string | undefined, field: string, width: number): string {
  if (value === undefined) return '';
  if (typeof value !== 'string' || !MRZ_TEXT.test(value)) throw mrzInvalid(field, 'expected characters A-Z 0-9 <');
  if (value.length > width) throw mrzInvalid(field, `longer than the ${width} positions available`);
  return value;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function isRealDate(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1) return false;
  const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return d <= days;
}

/**
 * Converts `YYYY-MM-DD` to the MRZ form `YYMMDD`. With `allowPartial` (date of birth), `YYYY` and `YYYY-MM` give
 * fillers for the unknown parts (`YY<<<<`, `YYMM<<`).
 */
export function toMrzDate(value: string, field: string, allowPartial = false): string {
  if (typeof value === 'string') {
    const m = ISO_DATE.exec(value);
    if (m) {
      const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
      if (isRealDate(y, mo, d)) return m[1]!.slice(2) + m[2]! + m[3]!;
      throw mrzInvalid(field, 'not a calendar date');
    }
    if (allowPartial) {
      const ym = /^(\d{4})(?:-(\d{2}))?$/.exec(value);
      if (ym) {
        if (ym[2] !== undefined) {
          const mo = Number(ym[2]);
          if (mo < 1 || mo > 12) throw mrzInvalid(field, 'not a calendar month');
          return ym[1]!.slice(2) + ym[2] + '<<';
        }
        return ym[1]!.slice(2) + '<<<<';
      }
    }
  }
  throw mrzInvalid(field, allowPartial ? 'expected YYYY-MM-DD (or YYYY-MM / YYYY when unknown)' : 'expected YYYY-MM-DD');
}

function sexField(sex: unknown): string {
  if (sex === 'M' || sex === 'F') return sex;
  if (sex === 'X') return MRZ_FILLER;
  throw mrzInvalid('sex', "expected 'M', 'F' or 'X'");
}

function documentCodeField(code: string, format: 'TD1' | 'TD3'): string {
  const ok =
    format === 'TD1' ? /^[ACI][A-UW-Z<]?$/.test(code) : /^P[A-Z<]?$/.test(code);
  if (!ok) {
    throw mrzInvalid(
      'documentCode',
      format === 'TD1' ? 'expected A, C or I followed by an optional letter other than V' : 'expected P followed by an optional letter',
    );
  }
  return pad(code, 2);
}

// ---------------------------------------------------------------------------------------------------------------
// Name field

export interface MrzNameField {
  /** The field, exactly `width` characters. */
  field: string;
  /** Characters (or whole components) had to be removed to fit. */
  truncated: boolean;
}

const isLetter = (c: string | undefined): boolean => c !== undefined && c >= 'A' && c <= 'Z';

/**
 * Fits name components (joined by single fillers) into `budget` characters by removing characters from the end.
 * When the cut falls on a separator (the result would end with a filler), the last kept component gives up its
 * last character so the initial of the next component fits and the result still ends with a letter; if that
 * component is a single letter, the result is one character shorter instead.
 */
function fitComponents(components: readonly string[], budget: number): { text: string; truncated: boolean } {
  const s = components.join(MRZ_FILLER);
  if (s.length <= budget) return { text: s, truncated: false };
  if (budget <= 0) return { text: '', truncated: true };
  if (isLetter(s[budget - 1])) return { text: s.slice(0, budget), truncated: true };
  // s[budget-1] is a separator: s[budget-2] ends component j, s[budget] starts component j+1.
  if (budget >= 3 && isLetter(s[budget - 3])) {
    return { text: s.slice(0, budget - 2) + MRZ_FILLER + s[budget]!, truncated: true };
  }
  return { text: s.slice(0, budget - 1), truncated: true };
}

/**
 * Formats the name field of the MRZ, ICAO 9303-3 §4.6 (name of the holder):
 *
 * - the primary identifier (surname) comes first, its components separated by one filler; then two fillers
 *   '<<'; then the secondary identifier (given names), components separated by one filler; unused positions
 *   are fillers. A holder with a single name has it as the primary identifier, followed by fillers only.
 * - names are transliterated per Part 3 §6 ({@link transliterateName}); apostrophes dropped; hyphens, spaces and
 *   commas become one filler.
 *
 * Truncation, when the name does not fit in `width` positions. These are the rules as Kadi applies them,
 * reconstructed from §4.6 without the text at hand: rule 1 and the letter-in-last-position convention follow the
 * standard; keeping the first initial (rule 2) and the separator handling of rule 3 are Kadi's choices where the
 * reconstruction is unsure, pending a check against the published text.
 * 1. the secondary identifier is truncated first, from its end: characters are removed from the last given name,
 *    then the given name is dropped and the previous one truncated, and so on, keeping at least the initial of
 *    the first given name;
 * 2. only if the primary identifier plus '<<' plus that initial still do not fit is the primary identifier
 *    truncated, from its end, to `width - 3` characters, followed by '<<' and the initial;
 * 3. a truncated name fills the field completely and ends with a letter, never a filler: a reader seeing a letter
 *    in the last position knows the name may have been truncated. When the cut would land on the filler between
 *    two components, the earlier component gives up its last letter so the next one's initial takes the last
 *    position (e.g. ...ANNA<MARIA| → ...ANNA<MARI<L); if the earlier component is a single initial this is not
 *    possible and the field ends with one filler.
 *
 * Throws `MRZ_INVALID_INPUT` (field `surname`) when the primary identifier is empty after transliteration, and
 * `MRZ_UNSUPPORTED_CHARACTER` for characters outside the table.
 */
export function formatMrzName(
  surname: string,
  givenNames: string | undefined,
  width: number,
  opts: TransliterationOptions = {},
): MrzNameField {
  if (typeof surname !== 'string') throw mrzInvalid('surname', 'expected a string');
  if (givenNames !== undefined && typeof givenNames !== 'string') throw mrzInvalid('givenNames', 'expected a string');
  const primary = transliterateName(surname, 'surname', opts);
  const secondary = givenNames ? transliterateName(givenNames, 'givenNames', opts) : [];
  if (primary.length === 0) throw mrzInvalid('surname', 'empty after transliteration (a single name goes here)');

  const p = primary.join(MRZ_FILLER);
  const full = secondary.length ? `${p}<<${secondary.join(MRZ_FILLER)}` : p;
  if (full.length <= width) return { field: pad(full, width), truncated: false };

  if (secondary.length === 0) {
    const fit = fitComponents(primary, width);
    return { field: pad(fit.text, width), truncated: true };
  }
  const budget = width - p.length - 2;
  if (budget >= 1) {
    const fit = fitComponents(secondary, budget);
    return { field: pad(`${p}<<${fit.text}`, width), truncated: true };
  }
  // Primary identifier truncated too; keep '<<' and the initial of the first given name.
  const fitP = fitComponents(primary, width - 3);
  return { field: pad(`${fitP.text}<<${secondary[0]![0]!}`, width), truncated: true };
}

// ---------------------------------------------------------------------------------------------------------------
// Generation

export interface Td1Input {
  /** Document code, default `ID`: A, C or I plus an optional letter (not V). */
  documentCode?: string;
  /** Document number, A-Z 0-9, 1 to 22 characters (more than 9 uses the overflow rule). */
  documentNumber: string;
  /** Issuing State, ISO 3166-1 alpha-3 or a 9303-3 code (e.g. KEN, UTO, D). */
  issuingState: string;
  nationality: string;
  /** Primary identifier, in national characters (transliterated here). */
  surname: string;
  /** Secondary identifier(s), space separated; may be empty. */
  givenNames: string;
  /** `YYYY-MM-DD` (or `YYYY-MM` / `YYYY` when day or month is unknown). */
  dateOfBirth: string;
  sex: Sex;
  /** `YYYY-MM-DD`. */
  dateOfExpiry: string;
  /** Line 1 optional data (A-Z 0-9 <), up to 15 characters minus the space a long document number takes. */
  optionalData?: string;
  /** Line 2 optional data (A-Z 0-9 <), up to 11 characters. */
  optionalData2?: string;
}

export interface Td3Input {
  /** Document code, default `P`: P plus an optional letter. */
  documentCode?: string;
  /** Document number, A-Z 0-9, 1 to 9 characters (TD3 has no overflow rule). */
  documentNumber: string;
  issuingState: string;
  nationality: string;
  surname: string;
  givenNames: string;
  dateOfBirth: string;
  sex: Sex;
  dateOfExpiry: string;
  /** Personal number or other optional data (A-Z 0-9 <), up to 14 characters. */
  personalNumber?: string;
}

export interface MrzGenerateOptions {
  transliteration?: TransliterationOptions;
}

export interface GeneratedMrz {
  format: MrzFormat;
  lines: string[];
  /** The lines concatenated without separators, as stored in EF.DG1 (tag 5F1F). */
  mrz: string;
  /** The name had to be truncated to fit. */
  nameTruncated: boolean;
}

function validateDocumentNumber(value: unknown, max: number): string {
  if (typeof value !== 'string' || !/^[A-Z0-9]+$/.test(value)) {
    throw mrzInvalid('documentNumber', 'expected characters A-Z 0-9');
  }
  if (value.length > max) throw mrzInvalid('documentNumber', `longer than ${max} characters`);
  return value;
}

/** The date of expiry must be after a complete date of birth. */
function isoOrder(dob: string, doe: string): void {
  if (ISO_DATE.test(dob) && doe <= dob) throw mrzInvalid('dateOfExpiry', 'not after the date of birth');
}

/**
 * Generates a TD1 MRZ (3 × 30), ICAO 9303-5 §4.2.2. Long document numbers (10 to 22 characters) follow the
 * overflow rule of 9303-5 (note to the document number field): the first 9 characters in positions 6-14, '<' in position 15, then at
 * the start of the optional data the remaining characters, the check digit over the whole number, and a filler;
 * `optionalData` follows that filler.
 */
export function generateTd1(input: Td1Input, opts: MrzGenerateOptions = {}): GeneratedMrz {
  if (input === null || typeof input !== 'object') throw mrzInvalid('input', 'expected an object');
  const code = documentCodeField(input.documentCode ?? 'ID', 'TD1');
  const state = codeField(input.issuingState, 'issuingState', 3);
  const nationality = codeField(input.nationality, 'nationality', 3);
  const docNo = validateDocumentNumber(input.documentNumber, DOCUMENT_NUMBER_WIDTH + TD1_OPTIONAL_DATA_WIDTH - 2);
  const dob = toMrzDate(input.dateOfBirth, 'dateOfBirth', true);
  const doe = toMrzDate(input.dateOfExpiry, 'dateOfExpiry');
  isoOrder(input.dateOfBirth, input.dateOfExpiry);
  const sex = sexField(input.sex);

  let numberField: string;
  let numberCd: string;
  let optionalPrefix = '';
  if (docNo.length <= DOCUMENT_NUMBER_WIDTH) {
    numberField = pad(docNo, DOCUMENT_NUMBER_WIDTH);
    numberCd = computeCheckDigit(numberField);
  } else {
    numberField = docNo.slice(0, DOCUMENT_NUMBER_WIDTH);
    numberCd = MRZ_FILLER;
    optionalPrefix = docNo.slice(DOCUMENT_NUMBER_WIDTH) + computeCheckDigit(docNo) + MRZ_FILLER;
  }
  const opt1 = optionalField(input.optionalData, 'optionalData', TD1_OPTIONAL_DATA_WIDTH - optionalPrefix.length);
  const opt2 = optionalField(input.optionalData2, 'optionalData2', TD1_OPTIONAL_DATA2_WIDTH);

  const line1 = code + state + numberField + numberCd + pad(optionalPrefix + opt1, TD1_OPTIONAL_DATA_WIDTH);
  const line2a = dob + computeCheckDigit(dob) + sex + doe + computeCheckDigit(doe) + nationality + pad(opt2, TD1_OPTIONAL_DATA2_WIDTH);
  const composite = computeCheckDigit(line1.slice(5, 30) + line2a.slice(0, 7) + line2a.slice(8, 15) + line2a.slice(18, 29));
  const line2 = line2a + composite;
  const name = formatMrzName(input.surname, input.givenNames, TD1_NAME_WIDTH, opts.transliteration);
  const lines = [line1, line2, name.field];
  return { format: 'TD1', lines, mrz: lines.join(''), nameTruncated: name.truncated };
}

/** Generates a TD3 MRZ (2 × 44), ICAO 9303-4 §4.2.2. */
export function generateTd3(input: Td3Input, opts: MrzGenerateOptions = {}): GeneratedMrz {
  if (input === null || typeof input !== 'object') throw mrzInvalid('input', 'expected an object');
  const code = documentCodeField(input.documentCode ?? 'P', 'TD3');
  const state = codeField(input.issuingState, 'issuingState', 3);
  const nationality = codeField(input.nationality, 'nationality', 3);
  const docNo = validateDocumentNumber(input.documentNumber, DOCUMENT_NUMBER_WIDTH);
  const dob = toMrzDate(input.dateOfBirth, 'dateOfBirth', true);
  const doe = toMrzDate(input.dateOfExpiry, 'dateOfExpiry');
  isoOrder(input.dateOfBirth, input.dateOfExpiry);
  const sex = sexField(input.sex);
  const personal = optionalField(input.personalNumber, 'personalNumber', TD3_PERSONAL_NUMBER_WIDTH);
  const personalField = pad(personal, TD3_PERSONAL_NUMBER_WIDTH);
  // Part 4: when the personal number field is all fillers its check digit may be '<' (Kadi writes '<').
  const personalCd = /^<*$/.test(personalField) ? MRZ_FILLER : computeCheckDigit(personalField);

  const name = formatMrzName(input.surname, input.givenNames, TD3_NAME_WIDTH, opts.transliteration);
  const line1 = code + state + name.field;
  const numberField = pad(docNo, DOCUMENT_NUMBER_WIDTH);
  const l2 =
    numberField + computeCheckDigit(numberField) + nationality + dob + computeCheckDigit(dob) + sex + doe +
    computeCheckDigit(doe) + personalField + personalCd;
  const composite = computeCheckDigit(l2.slice(0, 10) + l2.slice(13, 20) + l2.slice(21, 43));
  const lines = [line1, l2 + composite];
  return { format: 'TD3', lines, mrz: lines.join(''), nameTruncated: name.truncated };
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing and validation

export type MrzCheckName = 'documentNumber' | 'dateOfBirth' | 'dateOfExpiry' | 'personalNumber' | 'composite';

export interface MrzCheck {
  /** The check digit as printed in the MRZ. */
  actual: string;
  /** The check digit computed from the MRZ ('<' is accepted for an empty TD3 personal number). */
  expected: string;
  valid: boolean;
}

/**
 * How a long document number's check digit was computed: `standard` over the whole number (9303-5/6), or
 * `filler-included` over the 9 characters, the '<' of position 15 and the remaining characters — a variant found
 * on some issued cards (Belgian specimen BEL-BO-03003).
 */
export type LongDocumentNumberVariant = 'standard' | 'filler-included';

export interface ParsedMrz {
  format: MrzFormat;
  lines: string[];
  /** Document code with trailing fillers removed ("I", "ID", "P"). */
  documentCode: string;
  issuingState: string;
  /** Full document number (overflow included), fillers removed. */
  documentNumber: string;
  /** The 9-character document number field as printed. */
  documentNumberField: string;
  /** The document number overflowed into the optional data (TD1/TD2). */
  longDocumentNumber: boolean;
  longDocumentNumberVariant?: LongDocumentNumberVariant;
  /** YYMMDD as printed (may contain '<' for unknown parts). */
  dateOfBirth: string;
  /** 'M', 'F' or '<'. */
  sex: string;
  dateOfExpiry: string;
  nationality: string;
  /** Optional data (TD1 line 1 / TD2), after any document number overflow, trailing fillers removed. */
  optionalData: string;
  /** TD1 line 2 optional data, trailing fillers removed. */
  optionalData2?: string;
  /** TD3 personal number, trailing fillers removed. */
  personalNumber?: string;
  /** The name field as printed. */
  nameField: string;
  /** Primary identifier, fillers between components as spaces. */
  surname: string;
  /** Secondary identifier, fillers between components as spaces. */
  givenNames: string;
  /** The name field ends with a letter, so the name may have been truncated. */
  nameMayBeTruncated: boolean;
  checks: {
    documentNumber: MrzCheck;
    dateOfBirth: MrzCheck;
    dateOfExpiry: MrzCheck;
    personalNumber?: MrzCheck;
    composite: MrzCheck;
  };
  /** Every check digit is valid. */
  checkDigitsValid: boolean;
  /** Fields whose format is wrong (bad date, sex not F/M/<, digits in the name, ...). */
  formatProblems: string[];
  /** Check digits valid and no format problems. */
  valid: boolean;
  /**
   * ICAO 9303-11 §4.3 "MRZ information" for BAC/PACE-MRZ key derivation: document number (9-character field, or the
   * whole number when longer) + its check digit + date of birth + check digit + date of expiry + check digit.
   */
  mrzInformation: string;
}

export interface ParseMrzOptions {
  /**
   * Accept the `filler-included` check digit of a long document number as valid. Default `true` (cards in the
   * field use it); set `false` for strict conformance checks of Kadi's own output.
   */
  acceptFillerIncludedLongNumber?: boolean;
}

function check(actual: string, expected: string): MrzCheck {
  return { actual, expected, valid: actual === expected };
}

function stripTrailing(s: string): string {
  return s.replace(/<+$/, '');
}

function splitLines(input: string | readonly string[]): string[] {
  let lines: string[];
  if (typeof input === 'string') {
    const t = input.trim();
    if (/[\r\n]/.test(t)) lines = t.split(/\r?\n/).map((l) => l.trim());
    else if (t.length === 3 * TD1_LINE_LENGTH) lines = [t.slice(0, 30), t.slice(30, 60), t.slice(60)];
    else if (t.length === 2 * TD2_LINE_LENGTH) lines = [t.slice(0, 36), t.slice(36)];
    else if (t.length === 2 * TD3_LINE_LENGTH) lines = [t.slice(0, 44), t.slice(44)];
    else lines = [t];
  } else {
    lines = [...input];
  }
  for (const l of lines) {
    if (typeof l !== 'string' || !MRZ_TEXT.test(l)) {
      throw new LdsError('MRZ_MALFORMED', 'MRZ contains characters outside A-Z 0-9 <', { field: 'mrz' });
    }
  }
  return lines;
}

function parseName(field: string): { surname: string; givenNames: string } {
  const at = field.indexOf('<<');
  const primary = at < 0 ? field : field.slice(0, at);
  const secondary = at < 0 ? '' : field.slice(at + 2);
  const clean = (s: string): string => s.split('<').filter(Boolean).join(' ');
  return { surname: clean(primary), givenNames: clean(secondary) };
}

function dateProblem(d: string): boolean {
  if (!/^\d{2}(\d{2}|<<)(\d{2}|<<)$/.test(d)) return true;
  const mo = d.slice(2, 4);
  const dd = d.slice(4, 6);
  if (mo !== '<<' && (Number(mo) < 1 || Number(mo) > 12)) return true;
  if (dd !== '<<' && (Number(dd) < 1 || Number(dd) > 31)) return true;
  return false;
}

interface NumberParse {
  documentNumber: string;
  long: boolean;
  variant?: LongDocumentNumberVariant;
  check: MrzCheck;
  /** The optional data field with the overflow removed. */
  rest: string;
  mrzInfoNumber: string;
}

/** Document number with the TD1/TD2 overflow rule applied. */
function parseDocumentNumber(field: string, cd: string, optional: string, opts: ParseMrzOptions): NumberParse {
  if (cd !== MRZ_FILLER) {
    return {
      documentNumber: stripTrailing(field),
      long: false,
      check: check(cd, computeCheckDigit(field)),
      rest: optional,
      mrzInfoNumber: field + cd,
    };
  }
  // Long document number: overflow characters, check digit, then '<'.
  let end = optional.indexOf(MRZ_FILLER);
  if (end < 0) end = optional.length;
  const overflow = optional.slice(0, Math.max(0, end - 1));
  const actual = end >= 1 ? optional[end - 1]! : MRZ_FILLER;
  const full = field + overflow;
  const standard = computeCheckDigit(full);
  let variant: LongDocumentNumberVariant = 'standard';
  let expected = standard;
  if (actual !== standard && (opts.acceptFillerIncludedLongNumber ?? true)) {
    const withFiller = computeCheckDigit(field + MRZ_FILLER + overflow);
    if (actual === withFiller) {
      variant = 'filler-included';
      expected = withFiller;
    }
  }
  return {
    documentNumber: stripTrailing(full),
    long: true,
    variant,
    check: check(actual, expected),
    rest: optional.slice(Math.min(optional.length, end + 1)),
    mrzInfoNumber: full + actual,
  };
}

/**
 * Parses a TD1, TD2 or TD3 MRZ and checks every check digit. Accepts the lines as an array, as one string with
 * line breaks, or concatenated (90, 72 or 88 characters, as stored in EF.DG1). Throws `MRZ_MALFORMED` only for
 * input that is not an MRZ at all; wrong check digits and field formats are reported in the result.
 */
export function parseMrz(input: string | readonly string[], opts: ParseMrzOptions = {}): ParsedMrz {
  const lines = splitLines(input);
  const lens = lines.map((l) => l.length).join(',');
  if (lens === '30,30,30') return parseTd1(lines, opts);
  if (lens === '36,36') return parseTd2(lines, opts);
  if (lens === '44,44') return parseTd3(lines);
  throw new LdsError('MRZ_MALFORMED', `not a TD1 (3x30), TD2 (2x36) or TD3 (2x44) MRZ (line lengths ${lens})`, {
    field: 'mrz',
  });
}

function finish(
  base: Omit<ParsedMrz, 'checkDigitsValid' | 'formatProblems' | 'valid' | 'surname' | 'givenNames' | 'nameMayBeTruncated'>,
  nameWidth: number,
): ParsedMrz {
  const problems: string[] = [];
  if (!/^[A-Z]{1,2}$/.test(base.documentCode)) problems.push('documentCode');
  if (!/^[A-Z]{1,3}$/.test(base.issuingState)) problems.push('issuingState');
  if (!/^[A-Z]{1,3}$/.test(base.nationality)) problems.push('nationality');
  if (dateProblem(base.dateOfBirth)) problems.push('dateOfBirth');
  if (dateProblem(base.dateOfExpiry) || base.dateOfExpiry.includes('<')) problems.push('dateOfExpiry');
  if (!['M', 'F', '<'].includes(base.sex)) problems.push('sex');
  if (!/^[A-Z<]+$/.test(base.nameField) || base.nameField.startsWith('<')) problems.push('name');
  const c = base.checks;
  const all = [c.documentNumber, c.dateOfBirth, c.dateOfExpiry, c.composite, ...(c.personalNumber ? [c.personalNumber] : [])];
  const checkDigitsValid = all.every((x) => x.valid);
  const name = parseName(base.nameField);
  return {
    ...base,
    ...name,
    nameMayBeTruncated: base.nameField.length === nameWidth && base.nameField[nameWidth - 1] !== MRZ_FILLER,
    checkDigitsValid,
    formatProblems: problems,
    valid: checkDigitsValid && problems.length === 0,
  };
}

function parseTd1(lines: string[], opts: ParseMrzOptions): ParsedMrz {
  const [l1, l2, l3] = lines as [string, string, string];
  const num = parseDocumentNumber(l1.slice(5, 14), l1[14]!, l1.slice(15, 30), opts);
  const dob = l2.slice(0, 6);
  const doe = l2.slice(8, 14);
  const composite = computeCheckDigit(l1.slice(5, 30) + l2.slice(0, 7) + l2.slice(8, 15) + l2.slice(18, 29));
  return finish(
    {
      format: 'TD1',
      lines,
      documentCode: stripTrailing(l1.slice(0, 2)),
      issuingState: stripTrailing(l1.slice(2, 5)),
      documentNumber: num.documentNumber,
      documentNumberField: l1.slice(5, 14),
      longDocumentNumber: num.long,
      ...(num.variant ? { longDocumentNumberVariant: num.variant } : {}),
      dateOfBirth: dob,
      sex: l2[7]!,
      dateOfExpiry: doe,
      nationality: stripTrailing(l2.slice(15, 18)),
      optionalData: stripTrailing(num.rest),
      optionalData2: stripTrailing(l2.slice(18, 29)),
      nameField: l3,
      checks: {
        documentNumber: num.check,
        dateOfBirth: check(l2[6]!, computeCheckDigit(dob)),
        dateOfExpiry: check(l2[14]!, computeCheckDigit(doe)),
        composite: check(l2[29]!, composite),
      },
      mrzInformation: num.mrzInfoNumber + dob + l2[6]! + doe + l2[14]!,
    },
    TD1_NAME_WIDTH,
  );
}

function parseTd2(lines: string[], opts: ParseMrzOptions): ParsedMrz {
  const [l1, l2] = lines as [string, string];
  const num = parseDocumentNumber(l2.slice(0, 9), l2[9]!, l2.slice(28, 35), opts);
  const dob = l2.slice(13, 19);
  const doe = l2.slice(21, 27);
  const composite = computeCheckDigit(l2.slice(0, 10) + l2.slice(13, 20) + l2.slice(21, 35));
  return finish(
    {
      format: 'TD2',
      lines,
      documentCode: stripTrailing(l1.slice(0, 2)),
      issuingState: stripTrailing(l1.slice(2, 5)),
      documentNumber: num.documentNumber,
      documentNumberField: l2.slice(0, 9),
      longDocumentNumber: num.long,
      ...(num.variant ? { longDocumentNumberVariant: num.variant } : {}),
      dateOfBirth: dob,
      sex: l2[20]!,
      dateOfExpiry: doe,
      nationality: stripTrailing(l2.slice(10, 13)),
      optionalData: stripTrailing(num.rest),
      nameField: l1.slice(5, 36),
      checks: {
        documentNumber: num.check,
        dateOfBirth: check(l2[19]!, computeCheckDigit(dob)),
        dateOfExpiry: check(l2[27]!, computeCheckDigit(doe)),
        composite: check(l2[35]!, composite),
      },
      mrzInformation: num.mrzInfoNumber + dob + l2[19]! + doe + l2[27]!,
    },
    TD2_NAME_WIDTH,
  );
}

function parseTd3(lines: string[]): ParsedMrz {
  const [l1, l2] = lines as [string, string];
  const numberField = l2.slice(0, 9);
  const dob = l2.slice(13, 19);
  const doe = l2.slice(21, 27);
  const personalField = l2.slice(28, 42);
  const personalActual = l2[42]!;
  const personalEmpty = /^<*$/.test(personalField);
  const personalExpected =
    personalEmpty && (personalActual === MRZ_FILLER || personalActual === '0') ? personalActual : computeCheckDigit(personalField);
  const composite = computeCheckDigit(l2.slice(0, 10) + l2.slice(13, 20) + l2.slice(21, 43));
  return finish(
    {
      format: 'TD3',
      lines,
      documentCode: stripTrailing(l1.slice(0, 2)),
      issuingState: stripTrailing(l1.slice(2, 5)),
      documentNumber: stripTrailing(numberField),
      documentNumberField: numberField,
      longDocumentNumber: false,
      dateOfBirth: dob,
      sex: l2[20]!,
      dateOfExpiry: doe,
      nationality: stripTrailing(l2.slice(10, 13)),
      optionalData: '',
      personalNumber: stripTrailing(personalField),
      nameField: l1.slice(5, 44),
      checks: {
        documentNumber: check(l2[9]!, computeCheckDigit(numberField)),
        dateOfBirth: check(l2[19]!, computeCheckDigit(dob)),
        dateOfExpiry: check(l2[27]!, computeCheckDigit(doe)),
        personalNumber: check(personalActual, personalExpected),
        composite: check(l2[43]!, composite),
      },
      mrzInformation: numberField + l2[9]! + dob + l2[19]! + doe + l2[27]!,
    },
    TD3_NAME_WIDTH,
  );
}
