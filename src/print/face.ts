/**
 * What is printed on a card, assembled from the order's personal-data snapshot, the card and its prepared chip
 * image: the visual zone values, the document dates, the MRZ and the seal's content. Pure.
 *
 * The MRZ printed is the chip's: when the card has a prepared chip image (src/prepare, table chip_images), its
 * EF.DG1 MRZ and its document dates are used as they are (`dg1Mrz`, `dates`), so the face always equals DG1.
 * Only for a card without a chip image (previews, template checks) is the MRZ generated here, through src/lds with
 * the same inputs src/prepare uses (document code ID, issuing state = nationality = the template's, no optional
 * data; expiry = issue + validityYears - 1 day).
 */
import { type Sex, generateTd1, type Td1Input } from '../lds/index.ts';
import { ValidationError } from '../shared/index.ts';
import type { FaceData } from './layout.ts';
import type { IdSealData } from './vds.ts';

/** The personal-data snapshot of an order (order_records.data): the registry's NormalisedRecord minus the photo. */
export interface OrderRecordData {
  registryId: number;
  nationalNumber: string;
  surname: string;
  givenNames: string;
  sex: Sex;
  dateOfBirth: string;
  placeOfBirth: string;
  county: string;
  address?: string;
  kraPin?: string;
  collectionCentre: string;
}

export interface DocumentDates {
  dateOfIssue: string;
  dateOfExpiry: string;
}

/** Default document validity, years. */
export const DEFAULT_VALIDITY_YEARS = 10;

/** Issue date (UTC day of `issuedAt`) and expiry `validityYears` later minus one day (as src/prepare does). */
export function documentDates(issuedAt: Date | string, validityYears = DEFAULT_VALIDITY_YEARS): DocumentDates {
  const d = typeof issuedAt === 'string' ? new Date(issuedAt) : issuedAt;
  if (Number.isNaN(d.getTime())) throw new ValidationError('PRINT_DATE_INVALID', `issue date ${String(issuedAt)} is not a date`);
  const issue = d.toISOString().slice(0, 10);
  const exp = new Date(`${issue}T00:00:00Z`);
  exp.setUTCFullYear(exp.getUTCFullYear() + validityYears);
  exp.setUTCDate(exp.getUTCDate() - 1);
  return { dateOfIssue: issue, dateOfExpiry: exp.toISOString().slice(0, 10) };
}

export function td1InputFor(rec: OrderRecordData, documentNumber: string, dates: DocumentDates, issuingState: string, documentCode = 'ID'): Td1Input {
  return {
    documentCode,
    documentNumber,
    issuingState,
    nationality: issuingState,
    surname: rec.surname,
    givenNames: rec.givenNames,
    dateOfBirth: rec.dateOfBirth,
    sex: rec.sex,
    dateOfExpiry: dates.dateOfExpiry,
  };
}

export interface FaceInput {
  cardId: number;
  documentNumber: string;
  record: OrderRecordData;
  photo: Uint8Array;
  dates: DocumentDates;
  issuingState: string;
  documentCode?: string;
  /** Display name of the collection centre (place of issue); default: the centre code. */
  centreName?: string;
  /** The chip's DG1 MRZ (90 characters or 3 lines), when the card has a chip image: printed as it is. */
  dg1Mrz?: string | readonly string[];
  seal?: Uint8Array;
}

/** Builds the printed values for one card. Throws ValidationError (PRINT_MRZ_INVALID) or the LDS MRZ errors. */
export function faceData(i: FaceInput): FaceData {
  let mrz: string[];
  if (i.dg1Mrz !== undefined) {
    const chip = typeof i.dg1Mrz === 'string' ? i.dg1Mrz : i.dg1Mrz.join('');
    if (!/^[A-Z0-9<]{90}$/.test(chip)) {
      throw new ValidationError('PRINT_MRZ_INVALID', `card ${i.cardId}: the chip's DG1 MRZ is not a TD1 MRZ (3 x 30)`, { details: { cardId: i.cardId } });
    }
    mrz = [chip.slice(0, 30), chip.slice(30, 60), chip.slice(60)];
  } else {
    mrz = generateTd1(td1InputFor(i.record, i.documentNumber, i.dates, i.issuingState, i.documentCode)).lines;
  }
  return {
    cardId: i.cardId,
    documentNumber: i.documentNumber,
    nationalNumber: i.record.nationalNumber,
    surname: i.record.surname,
    givenNames: i.record.givenNames,
    sex: i.record.sex,
    dateOfBirth: i.record.dateOfBirth,
    placeOfBirth: i.record.placeOfBirth,
    county: i.record.county,
    dateOfIssue: i.dates.dateOfIssue,
    dateOfExpiry: i.dates.dateOfExpiry,
    issuingState: i.issuingState,
    collectionCentre: i.centreName ?? i.record.collectionCentre,
    mrz,
    photo: i.photo,
    ...(i.seal ? { seal: i.seal } : {}),
  };
}

/** The seal content of a card face. */
export function sealDataFor(face: FaceData): IdSealData {
  return {
    mrz: face.mrz,
    nationalNumber: face.nationalNumber,
    documentNumber: face.documentNumber,
    dateOfBirth: face.dateOfBirth,
    dateOfExpiry: face.dateOfExpiry,
    surname: face.surname,
    givenNames: face.givenNames,
  };
}
