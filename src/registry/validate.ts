/**
 * Pure validation of one registry record, as intake applies it before a record may become a card order.
 * No I/O, no clock: "today" is a parameter. Returns the first problem found, in a fixed order (status,
 * presence, characters, formats, dates, photo), with a stable reason code; or the normalised record.
 *
 * Messages name the field and the rule, never the personal value (names, numbers, dates) — they go to logs
 * and operator screens (DESIGN §5).
 *
 * Duplicate national numbers are not detected here (that needs the database); intake reports them with
 * `DUPLICATE_ACTIVE_CARD`, listed in REASON_CODES so every rejection code is in one place.
 */
import jpeg from 'jpeg-js';
import { ValidationError } from '../shared/index.ts';
import { inspectJpeg } from './jpeg.ts';
import { MAX_PHOTO_BYTES } from './photo.ts';
import { CENTRE_BY_CODE, COUNTIES } from './places.ts';
import { SEXES, type EnrolmentRecord, type NormalisedRecord, type Sex } from './types.ts';

/** Every reason a record can be refused at intake, with a one-line description. Codes are stable. */
export const REASON_CODES = {
  MISSING_FIELD: 'A required field is null, empty or only whitespace.',
  INVALID_DATE:
    'Date of birth malformed (not YYYY-MM-DD), not a calendar date, before 1900, in the future, or the ' +
    'applicant is under the minimum age (18 unless configured); or an approval/update timestamp is not ISO 8601.',
  INVALID_FORMAT:
    'A field breaks its format: national number (8 digits), KRA PIN (A + 9 digits + letter), NHIF (6–9 ' +
    'digits), NSSF (9–10 digits), sex (M/F/X), county (one of the 47), collection centre (known code), ' +
    'registry id, or a name/place/address too long or without letters.',
  UNSUPPORTED_CHARACTERS:
    'A name, place or address contains a character outside the Latin letters (incl. accented Latin) ' +
    'covered by ICAO 9303 Part 3 transliteration, space, apostrophe, hyphen, period and comma.',
  PHOTO_MISSING: 'No portrait photo (null or empty).',
  PHOTO_TOO_LARGE: `Portrait file larger than ${MAX_PHOTO_BYTES} bytes (MAX_PHOTO_BYTES, what DG2 may take on the chip).`,
  PHOTO_NOT_JPEG:
    'Portrait is not a well-formed baseline/progressive JPEG (SOI/EOI, frame header, tables, scan), has ' +
    'dimensions outside the accepted range, or does not decode.',
  NOT_APPROVED: 'Record status is not APPROVED; only approved enrolments may be personalised.',
  DUPLICATE_ACTIVE_CARD:
    'An order or a valid card already exists for this national number (checked by intake against the database).',
} as const;

export type ReasonCode = keyof typeof REASON_CODES;

/** Minimum age, in completed years on `today`, to be issued an ID card (Kenya: 18). */
export const MINIMUM_AGE = 18;
/** Earliest accepted year of birth. */
export const MIN_BIRTH_YEAR = 1900;
/** Longest accepted surname / given names / place of birth, in characters after normalisation. */
export const MAX_NAME_LENGTH = 100;
/** Longest accepted address. */
export const MAX_ADDRESS_LENGTH = 200;
/** Accepted portrait dimensions in pixels (inclusive). */
export const PHOTO_MIN_WIDTH = 120;
export const PHOTO_MIN_HEIGHT = 150;
export const PHOTO_MAX_DIMENSION = 2000;

export interface ValidateOptions {
  /** The current date (UTC calendar day of a Date, or YYYY-MM-DD): ages and "future" are measured against it. */
  today: Date | string;
  /** Minimum age in completed years (default MINIMUM_AGE = 18). */
  minAge?: number;
  /**
   * Fully decode the JPEG with jpeg-js after the structural check (default true, ~4 ms for a 240×320
   * portrait). With false, only markers, tables and the frame header are checked.
   */
  decodePhoto?: boolean;
}

export type ValidationFailure = { ok: false; reason: ReasonCode; field?: string; message: string };
export type ValidationResult = { ok: true; record: NormalisedRecord } | ValidationFailure;

/** Required text fields, in the order they are checked. */
const REQUIRED_TEXT = [
  'nationalNumber', 'surname', 'givenNames', 'sex', 'dateOfBirth', 'placeOfBirth', 'county', 'address',
  'kraPin', 'collectionCentre', 'approvedAt', 'updatedAt',
] as const;

/**
 * Letters ICAO 9303 Part 3 (section 6, transliteration of multinational Latin-based characters) maps to the
 * MRZ: A–Z, a–z, Latin-1 Supplement letters (À–ÿ except × and ÷) and Latin Extended-A (Ā–ſ).
 */
const LATIN_LETTER = 'A-Za-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u017F';
const NAME_RE = new RegExp(`^[${LATIN_LETTER} '\\-.,]+$`);
const ADDRESS_RE = new RegExp(`^[${LATIN_LETTER}0-9 '\\-.,/()#&:]+$`);
const HAS_LETTER = new RegExp(`[${LATIN_LETTER}]`);
const NAME_CHAR = new RegExp(`[${LATIN_LETTER} '\\-.,]`);
const ADDRESS_CHAR = new RegExp(`[${LATIN_LETTER}0-9 '\\-.,/()#&:]`);

const COUNTY_BY_LOWER = new Map(COUNTIES.map((c) => [c.name.toLowerCase(), c.name]));

const FORMATS = {
  nationalNumber: { re: /^\d{8}$/, rule: 'must be 8 digits' },
  kraPin: { re: /^A\d{9}[A-Z]$/, rule: "must be 'A', 9 digits and a letter" },
  nhifNumber: { re: /^\d{6,9}$/, rule: 'must be 6 to 9 digits' },
  nssfNumber: { re: /^\d{9,10}$/, rule: 'must be 9 or 10 digits' },
} as const;

/**
 * Text normalisation applied to every text field: Unicode NFC (so "e" + combining acute becomes "é"),
 * typographic apostrophes (’ ‘ ʼ ʻ ` ´) to ', dashes (‐ ‑ ‒ –) to -, no-break spaces to spaces, runs of
 * spaces collapsed, trimmed.
 */
export function normaliseText(s: string): string {
  return s
    .normalize('NFC')
    .replace(/[\u2018\u2019\u02BC\u02BB\u0060\u00B4]/g, "'")
    .replace(/[\u2010-\u2013]/g, '-')
    .replace(/[ \u00A0]+/g, ' ')
    .trim();
}

/** Validates and normalises one record. Pure; never throws for bad record content. */
export function validateRecord(rec: EnrolmentRecord, opts: ValidateOptions): ValidationResult {
  const today = todayString(opts.today);
  const minAge = opts.minAge ?? MINIMUM_AGE;
  if (!Number.isInteger(minAge) || minAge < 0) throw new TypeError('validateRecord: minAge must be an integer >= 0');
  const fail = (reason: ReasonCode, field: string | undefined, message: string): ValidationFailure =>
    field === undefined ? { ok: false, reason, message } : { ok: false, reason, field, message };

  if (!Number.isSafeInteger(rec.registryId) || rec.registryId < 1) {
    return fail('INVALID_FORMAT', 'registryId', 'registryId must be a positive integer');
  }
  if (rec.status !== 'APPROVED') return fail('NOT_APPROVED', 'status', 'status is not APPROVED');

  // presence
  const text: Record<(typeof REQUIRED_TEXT)[number], string> = {} as never;
  for (const f of REQUIRED_TEXT) {
    const v = rec[f];
    const n = typeof v === 'string' ? normaliseText(v) : '';
    if (n === '') return fail('MISSING_FIELD', f, `${f} is missing`);
    text[f] = n;
  }
  if (!rec.photo || rec.photo.length === 0) return fail('PHOTO_MISSING', 'photo', 'photo is missing');
  const nhif = typeof rec.nhifNumber === 'string' ? normaliseText(rec.nhifNumber) : '';
  const nssf = typeof rec.nssfNumber === 'string' ? normaliseText(rec.nssfNumber) : '';

  // characters
  for (const f of ['surname', 'givenNames', 'placeOfBirth'] as const) {
    const v = text[f];
    if (!NAME_RE.test(v)) {
      return fail('UNSUPPORTED_CHARACTERS', f, `${f} has a character not covered by ICAO 9303 transliteration at position ${firstBad(v, NAME_CHAR)}`);
    }
  }
  if (!ADDRESS_RE.test(text.address)) {
    return fail('UNSUPPORTED_CHARACTERS', 'address', `address has an unsupported character at position ${firstBad(text.address, ADDRESS_CHAR)}`);
  }

  // formats
  for (const f of ['surname', 'givenNames', 'placeOfBirth'] as const) {
    if (text[f].length > MAX_NAME_LENGTH) return fail('INVALID_FORMAT', f, `${f} is longer than ${MAX_NAME_LENGTH} characters`);
    if (!HAS_LETTER.test(text[f])) return fail('INVALID_FORMAT', f, `${f} has no letters`);
  }
  if (text.address.length > MAX_ADDRESS_LENGTH) {
    return fail('INVALID_FORMAT', 'address', `address is longer than ${MAX_ADDRESS_LENGTH} characters`);
  }
  const kraPin = text.kraPin.toUpperCase();
  const checks: [keyof typeof FORMATS, string][] = [['nationalNumber', text.nationalNumber], ['kraPin', kraPin]];
  if (nhif !== '') checks.push(['nhifNumber', nhif]);
  if (nssf !== '') checks.push(['nssfNumber', nssf]);
  for (const [f, v] of checks) {
    if (!FORMATS[f].re.test(v)) return fail('INVALID_FORMAT', f, `${f} ${FORMATS[f].rule}`);
  }
  const sex = text.sex.toUpperCase();
  if (!(SEXES as readonly string[]).includes(sex)) return fail('INVALID_FORMAT', 'sex', 'sex must be M, F or X');
  const county = COUNTY_BY_LOWER.get(text.county.toLowerCase());
  if (!county) return fail('INVALID_FORMAT', 'county', 'county is not one of the 47 counties');
  const centre = text.collectionCentre.toUpperCase();
  if (!CENTRE_BY_CODE.has(centre)) return fail('INVALID_FORMAT', 'collectionCentre', 'collectionCentre is not a known centre code');

  // dates
  const dob = checkDateOfBirth(text.dateOfBirth, today, minAge);
  if (dob) return fail('INVALID_DATE', 'dateOfBirth', `dateOfBirth ${dob}`);
  const approvedAt = isoTimestamp(text.approvedAt);
  if (approvedAt === null) return fail('INVALID_DATE', 'approvedAt', 'approvedAt is not an ISO 8601 timestamp');
  const updatedAt = isoTimestamp(text.updatedAt);
  if (updatedAt === null) return fail('INVALID_DATE', 'updatedAt', 'updatedAt is not an ISO 8601 timestamp');

  // photo
  const photo = rec.photo;
  if (photo.length > MAX_PHOTO_BYTES) {
    return fail('PHOTO_TOO_LARGE', 'photo', `photo is ${photo.length} bytes, more than the ${MAX_PHOTO_BYTES}-byte limit`);
  }
  const insp = inspectJpeg(photo);
  if (!insp.ok) return fail('PHOTO_NOT_JPEG', 'photo', `photo is not a valid JPEG: ${insp.problem}`);
  const { width, height } = insp.info;
  if (width < PHOTO_MIN_WIDTH || height < PHOTO_MIN_HEIGHT || width > PHOTO_MAX_DIMENSION || height > PHOTO_MAX_DIMENSION) {
    return fail('PHOTO_NOT_JPEG', 'photo', `photo is ${width}x${height} px, outside ${PHOTO_MIN_WIDTH}x${PHOTO_MIN_HEIGHT} to ${PHOTO_MAX_DIMENSION}x${PHOTO_MAX_DIMENSION}`);
  }
  if (opts.decodePhoto ?? true) {
    try {
      const img = jpeg.decode(photo, { useTArray: true, tolerantDecoding: false, maxResolutionInMP: 4, maxMemoryUsageInMB: 64 });
      if (img.width !== width || img.height !== height) throw new Error('size mismatch');
    } catch {
      return fail('PHOTO_NOT_JPEG', 'photo', 'photo does not decode as a JPEG');
    }
  }

  const record: NormalisedRecord = {
    registryId: rec.registryId,
    nationalNumber: text.nationalNumber,
    surname: text.surname,
    givenNames: text.givenNames,
    sex: sex as Sex,
    dateOfBirth: text.dateOfBirth,
    placeOfBirth: text.placeOfBirth,
    county,
    address: text.address,
    nhifNumber: nhif === '' ? null : nhif,
    nssfNumber: nssf === '' ? null : nssf,
    kraPin,
    collectionCentre: centre,
    photo,
    photoWidth: width,
    photoHeight: height,
    approvedAt,
    updatedAt,
  };
  if (rec.fingerprints) record.fingerprints = rec.fingerprints;
  return { ok: true, record };
}

/** A failure as a ValidationError (code = reason), carrying only the registry id and field as details. */
export function toValidationError(f: ValidationFailure, registryId: number): ValidationError {
  return new ValidationError(f.reason, `registry record ${registryId}: ${f.message}`, {
    details: { registryId, reason: f.reason, ...(f.field ? { field: f.field } : {}) },
    hint: 'Correct the record in the source registry; intake will pick it up again when it is updated.',
  });
}

function firstBad(s: string, allowed: RegExp): number {
  let i = 0;
  for (const ch of s) {
    if (!allowed.test(ch)) return i;
    i++;
  }
  return -1;
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysIn(y: number, m: number): number {
  return m === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[m - 1]!;
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Whether `s` is a real Gregorian calendar date in YYYY-MM-DD form. */
export function isCalendarDate(s: string): boolean {
  const m = DATE_RE.exec(s);
  if (!m) return false;
  const y = Number(m[1]), mo = Number(m[2]), d = Number(m[3]);
  return mo >= 1 && mo <= 12 && d >= 1 && d <= daysIn(y, mo);
}

function todayString(t: Date | string): string {
  if (t instanceof Date) {
    if (Number.isNaN(t.getTime())) throw new TypeError('validateRecord: today is an invalid Date');
    return t.toISOString().slice(0, 10);
  }
  if (!isCalendarDate(t)) throw new TypeError('validateRecord: today must be a YYYY-MM-DD date');
  return t;
}

/**
 * The day someone born on `dob` reaches `years` years of age. A 29 February birthday falls on 1 March in
 * common years (the person has not completed the year before the day after 28 February).
 */
export function anniversary(dob: string, years: number): string {
  const y = Number(dob.slice(0, 4)) + years;
  const md = dob.slice(5);
  if (md === '02-29' && !isLeap(y)) return `${String(y).padStart(4, '0')}-03-01`;
  return `${String(y).padStart(4, '0')}-${md}`;
}

/** Returns what is wrong with a date of birth (without the value), or null when it is acceptable. */
function checkDateOfBirth(dob: string, today: string, minAge: number): string | null {
  if (!DATE_RE.test(dob)) return 'is not in YYYY-MM-DD format';
  if (!isCalendarDate(dob)) return 'is not a calendar date';
  if (Number(dob.slice(0, 4)) < MIN_BIRTH_YEAR) return `is before ${MIN_BIRTH_YEAR}`;
  if (dob > today) return 'is in the future';
  if (anniversary(dob, minAge) > today) return `makes the applicant younger than the minimum age ${minAge}`;
  return null;
}

const ISO_TS_RE = /^(\d{4}-\d{2}-\d{2})T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** Canonical UTC ISO string for an ISO 8601 timestamp with a zone, or null. */
function isoTimestamp(s: string): string | null {
  const m = ISO_TS_RE.exec(s);
  if (!m || !isCalendarDate(m[1]!)) return null;
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}
