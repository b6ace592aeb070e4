/**
 * The chip's data groups against the order's record (order_records.data + photo) and the card's document
 * record (document number, dates, issuing authority). Pure. Findings name the fields that differ, never their
 * values (no personal data leaves this module).
 *
 *   DG1   document code, issuing state, document number, date of birth, sex, date of expiry, nationality and the
 *         MRZ name (the record's name as ICAO 9303-3 transliterates it, via src/lds generateTd1), check digits
 *   DG2   the first face image is the enrolment JPEG, byte for byte
 *   DG11  full name, personal number, full date of birth, place of birth, permanent address
 *   DG12  date of issue (and issuing authority when the expectation names one)
 *   DG13  national ID number, KRA PIN, NHIF and NSSF numbers (absent when the record has none)
 */
import { decodeDg1, decodeDg11, decodeDg12, decodeDg13, dg2Portrait, generateTd1 } from '../lds/index.ts';
import type { PersonData } from '../prepare/index.ts';
import { bytesEqual } from '../shared/index.ts';
import type { QcFinding, QcReason } from './reasons.ts';

/** What the card must say: the order's record and the document's own data. */
export interface QcExpectation {
  cardId?: number;
  documentNumber: string;
  /** ICAO code of the issuing state, also the holder's nationality ("KEN"). */
  issuingState: string;
  /** MRZ document code. Default "ID". */
  documentCode?: string;
  /** YYYY-MM-DD */
  dateOfIssue: string;
  /** YYYY-MM-DD */
  dateOfExpiry: string;
  /** DG12 issuing authority, when known. */
  issuingAuthority?: string;
  person: PersonData;
  /** The enrolment photo (JPEG) as received. */
  photo: Uint8Array;
}

const yymmdd = (iso: string): string => iso.replace(/-/g, '').slice(2, 8);
const yyyymmdd = (iso: string): string => iso.replace(/-/g, '').slice(0, 8);
const nfc = (s: string | undefined): string | undefined => s?.normalize('NFC');

function mismatch(code: QcReason, file: string, fields: string[]): QcFinding {
  return { code, message: `${file} differs from the record in: ${fields.join(', ')}`, details: { file, fields } };
}

function malformed(file: string, e: unknown): QcFinding {
  return { code: 'QC_FILE_MALFORMED', message: `${file} does not decode (${(e as { code?: string }).code ?? 'invalid'})`, details: { file } };
}

/** DG1 against the record. */
export function compareDg1(dg1: Uint8Array, x: QcExpectation): QcFinding[] {
  let d: ReturnType<typeof decodeDg1>;
  try {
    d = decodeDg1(dg1);
  } catch (e) {
    return [malformed('DG1', e)];
  }
  const p = d.parsed;
  const fields: string[] = [];
  const docCode = x.documentCode ?? 'ID';
  if (p.format !== 'TD1') fields.push('format');
  if (p.documentCode !== docCode) fields.push('documentCode');
  if (p.issuingState !== x.issuingState) fields.push('issuingState');
  if (p.documentNumber !== x.documentNumber) fields.push('documentNumber');
  if (p.dateOfBirth !== yymmdd(x.person.dateOfBirth)) fields.push('dateOfBirth');
  if (p.sex !== (x.person.sex === 'X' ? '<' : x.person.sex)) fields.push('sex');
  if (p.dateOfExpiry !== yymmdd(x.dateOfExpiry)) fields.push('dateOfExpiry');
  if (p.nationality !== x.issuingState) fields.push('nationality');
  if (!p.checkDigitsValid) fields.push('checkDigits');
  try {
    const expected = generateTd1({
      documentCode: docCode,
      documentNumber: x.documentNumber,
      issuingState: x.issuingState,
      nationality: x.issuingState,
      surname: x.person.surname,
      givenNames: x.person.givenNames,
      dateOfBirth: x.person.dateOfBirth,
      sex: x.person.sex,
      dateOfExpiry: x.dateOfExpiry,
    });
    if (p.lines[2] !== expected.lines[2]) fields.push('name');
    if (fields.length === 0 && p.lines.join('') !== expected.lines.join('')) fields.push('mrz');
  } catch {
    fields.push('name'); // the record cannot be written as an MRZ at all: the chip cannot hold it correctly
  }
  return fields.length ? [mismatch('QC_DG1_MISMATCH', 'DG1', fields)] : [];
}

/** DG2's portrait against the enrolment photo. */
export function compareDg2(dg2: Uint8Array, x: QcExpectation): QcFinding[] {
  let portrait: Uint8Array | undefined;
  try {
    portrait = dg2Portrait(dg2);
  } catch (e) {
    return [malformed('DG2', e)];
  }
  if (!portrait) return [mismatch('QC_DG2_MISMATCH', 'DG2', ['faceImage'])];
  return bytesEqual(portrait, x.photo) ? [] : [mismatch('QC_DG2_MISMATCH', 'DG2', ['faceImage'])];
}

/** DG11 against the record. */
export function compareDg11(dg11: Uint8Array, x: QcExpectation): QcFinding[] {
  let d: ReturnType<typeof decodeDg11>;
  try {
    d = decodeDg11(dg11);
  } catch (e) {
    return [malformed('DG11', e)];
  }
  const p = x.person;
  const fields: string[] = [];
  const list = (v: string[] | undefined): string | undefined => (v ? nfc(v.join('<')) : undefined);
  if (nfc(d.fullName) !== nfc(`${p.surname}<<${p.givenNames}`)) fields.push('fullName');
  if (d.personalNumber !== p.nationalNumber) fields.push('personalNumber');
  if (d.fullDateOfBirth !== yyyymmdd(p.dateOfBirth)) fields.push('fullDateOfBirth');
  if (list(d.placeOfBirth) !== nfc([p.placeOfBirth, p.county].join('<'))) fields.push('placeOfBirth');
  if (list(d.permanentAddress) !== nfc([p.address, p.county].join('<'))) fields.push('permanentAddress');
  return fields.length ? [mismatch('QC_DG11_MISMATCH', 'DG11', fields)] : [];
}

/** DG12 against the document record. */
export function compareDg12(dg12: Uint8Array, x: QcExpectation): QcFinding[] {
  let d: ReturnType<typeof decodeDg12>;
  try {
    d = decodeDg12(dg12);
  } catch (e) {
    return [malformed('DG12', e)];
  }
  const fields: string[] = [];
  if (d.dateOfIssue !== yyyymmdd(x.dateOfIssue)) fields.push('dateOfIssue');
  if (x.issuingAuthority !== undefined ? nfc(d.issuingAuthority) !== nfc(x.issuingAuthority) : !d.issuingAuthority) fields.push('issuingAuthority');
  return fields.length ? [mismatch('QC_DG12_MISMATCH', 'DG12', fields)] : [];
}

/** DG13 (Kenyan national data) against the record. */
export function compareDg13(dg13: Uint8Array, x: QcExpectation): QcFinding[] {
  let d: ReturnType<typeof decodeDg13>;
  try {
    d = decodeDg13(dg13);
  } catch (e) {
    return [malformed('DG13', e)];
  }
  const p = x.person;
  const fields: string[] = [];
  if (d.nationalIdNumber !== p.nationalNumber) fields.push('nationalIdNumber');
  if (d.kraPin !== (p.kraPin || undefined)) fields.push('kraPin');
  if (d.nhifNumber !== (p.nhifNumber ?? undefined)) fields.push('nhifNumber');
  if (d.nssfNumber !== (p.nssfNumber ?? undefined)) fields.push('nssfNumber');
  return fields.length ? [mismatch('QC_DG13_MISMATCH', 'DG13', fields)] : [];
}

export const RECORD_COMPARISONS: ReadonlyArray<readonly [number, (b: Uint8Array, x: QcExpectation) => QcFinding[]]> = [
  [1, compareDg1],
  [2, compareDg2],
  [11, compareDg11],
  [12, compareDg12],
  [13, compareDg13],
];
