/**
 * registry — the synthetic source registry of approved enrolment records (Kenyan e-ID roll-out), and the
 * pure validation intake applies to a record. Other folders import from here only.
 */
export type {
  DefectKind, EnrolmentRecord, Fingerprint, NormalisedRecord, PersonData, RegistryStatus, Sex,
} from './types.ts';
export { DEFECT_KINDS, REGISTRY_STATUSES, SEXES } from './types.ts';

export type { CollectionCentre, County, Town } from './places.ts';
export { CENTRE_BY_CODE, CENTRES_BY_COUNTY, COLLECTION_CENTRES, COUNTIES, COUNTY_BY_CODE, COUNTY_BY_NAME } from './places.ts';
export type { Community, CommunityName } from './names.ts';
export { COMMUNITIES } from './names.ts';

export type { GenerateOptions } from './generate.ts';
export {
  BAD_CHARACTERS, DEFAULT_NON_APPROVED_RATE, DEFAULT_REFERENCE_DATE, MISSING_FIELD_CANDIDATES, generateRecords,
  nationalNumberFor,
} from './generate.ts';

export type { PortraitOptions, PortraitParams } from './photo.ts';
export {
  MAX_PHOTO_BYTES, PHOTO_HEIGHT, PHOTO_QUALITY, PHOTO_WIDTH, generateOversizedPhoto, generatePhoto,
  portraitParams, renderPortrait,
} from './photo.ts';
export type { JpegInfo, JpegInspection } from './jpeg.ts';
export { encodeJpeg, inspectJpeg } from './jpeg.ts';

export type { ReasonCode, ValidateOptions, ValidationFailure, ValidationResult } from './validate.ts';
export {
  MAX_ADDRESS_LENGTH, MAX_NAME_LENGTH, MINIMUM_AGE, MIN_BIRTH_YEAR, PHOTO_MAX_DIMENSION, PHOTO_MIN_HEIGHT,
  PHOTO_MIN_WIDTH, REASON_CODES, anniversary, isCalendarDate, normaliseText, toValidationError, validateRecord,
} from './validate.ts';

export type { ReadApprovedOptions, SeedOptions, SeedResult } from './store.ts';
export {
  DEFAULT_SEED_BATCH, REGISTRY_TABLE, countByStatus, ensureRegistrySchema, getRecords, insertRecords, maxRegistryId,
  readApproved, readRecord, seedRegistry,
} from './store.ts';
