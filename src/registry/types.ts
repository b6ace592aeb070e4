/**
 * The source registry's record of an approved enrolment, as Kadi receives it, and the normalised form intake
 * validation produces.
 *
 * `EnrolmentRecord` is deliberately permissive: it is what an external registry may really hand over, so
 * every text field may be null, empty or malformed (a card bureau must reject such records with a reason,
 * not crash on them). The comments give the well-formed shape; `validateRecord` enforces it and returns a
 * `NormalisedRecord` whose types state the guarantees.
 */

/** ICAO 9303 sex marker: M, F, or X (unspecified; Kenya recognises intersex persons). */
export type Sex = 'M' | 'F' | 'X';
export const SEXES: readonly Sex[] = ['M', 'F', 'X'];

/** Registry workflow status. Only APPROVED records may become card orders; intake ignores the others. */
export type RegistryStatus = 'APPROVED' | 'PENDING' | 'REJECTED';
export const REGISTRY_STATUSES: readonly RegistryStatus[] = ['APPROVED', 'PENDING', 'REJECTED'];

/** The kinds of bad record the synthetic generator plants (see generate.ts). */
export const DEFECT_KINDS = [
  'missing_field',
  'impossible_date',
  'photo_oversized',
  'photo_not_image',
  'duplicate_national_number',
  'bad_characters',
] as const;
export type DefectKind = (typeof DEFECT_KINDS)[number];

/** One captured fingerprint (not generated yet; reserved for DG3). */
export interface Fingerprint {
  /** ISO/IEC 19794-4 finger position code, 1 (right thumb) to 10 (left little finger). */
  position: number;
  /** Image bytes (WSQ or JPEG 2000 in production). */
  image: Buffer;
}

export interface EnrolmentRecord {
  /** The registry's own primary key (positive integer, increasing with insertion). */
  registryId: number;
  /** Kenyan national ID number: 8 digits, e.g. "31234567". */
  nationalNumber: string | null;
  surname: string | null;
  /** Given names separated by single spaces, e.g. "John Kamau". */
  givenNames: string | null;
  /** 'M' | 'F' | 'X' when well formed. */
  sex: string | null;
  /** Calendar date YYYY-MM-DD. */
  dateOfBirth: string | null;
  /** Town of birth (a Kenyan town, or a town abroad). */
  placeOfBirth: string | null;
  /** One of the 47 county names in COUNTIES (place of residence). */
  county: string | null;
  /** Postal ("P.O. Box 1234-00100, Nairobi") or street ("House 12, Ngong Road, Kilimani, Nairobi") address. */
  address: string | null;
  /** NHIF member number, 6–9 digits; null when the person is not a member. */
  nhifNumber: string | null;
  /** NSSF member number, 9–10 digits; null when the person has never been formally employed. */
  nssfNumber: string | null;
  /** KRA PIN of an individual: 'A' + 9 digits + a letter, e.g. A012345678Z. */
  kraPin: string | null;
  /** Collection centre code from COLLECTION_CENTRES, e.g. KE-047-01. */
  collectionCentre: string | null;
  /** Portrait as a JPEG file, at most MAX_PHOTO_BYTES. */
  photo: Buffer | null;
  /** Captured fingerprints; not generated or stored yet. */
  fingerprints?: Fingerprint[];
  /** 'APPROVED' | 'PENDING' | 'REJECTED' when well formed. */
  status: string;
  /** ISO 8601 UTC timestamp of approval; null unless APPROVED. */
  approvedAt: string | null;
  /** ISO 8601 UTC timestamp of the last change in the registry. */
  updatedAt: string | null;
  /**
   * Synthetic data only: the defect the generator planted. Never stored, and intake must not read it — it is
   * for tests that check the right reason code comes out.
   */
  defect?: DefectKind;
}

/** A record that passed `validateRecord`: trimmed, NFC-normalised, every required field present and valid. */
export interface NormalisedRecord {
  registryId: number;
  nationalNumber: string;
  surname: string;
  givenNames: string;
  sex: Sex;
  dateOfBirth: string;
  placeOfBirth: string;
  county: string;
  address: string;
  nhifNumber: string | null;
  nssfNumber: string | null;
  kraPin: string;
  collectionCentre: string;
  photo: Buffer;
  /** Pixel dimensions from the JPEG frame header (for the DG2 image header). */
  photoWidth: number;
  photoHeight: number;
  fingerprints?: Fingerprint[];
  approvedAt: string;
  updatedAt: string;
}

/**
 * The personal data a card carries (chip, face, manifests), as kept with a card order in order_records.data
 * (which stores the whole NormalisedRecord except the photo bytes).
 */
export type PersonData = Pick<
  NormalisedRecord,
  | 'registryId' | 'nationalNumber' | 'surname' | 'givenNames' | 'sex' | 'dateOfBirth' | 'placeOfBirth' | 'county'
  | 'address' | 'nhifNumber' | 'nssfNumber' | 'kraPin' | 'collectionCentre'
>;
