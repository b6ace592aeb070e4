/**
 * The chip image of one card: the exact bytes of the ICAO 9303 LDS1 files that do not depend on the chip itself.
 * DG15 (the Active Authentication public key, generated on the card) and EF.SOD (which covers DG15) are added at
 * encoding time. Pure: no database, no files, no clock (dates are passed in).
 *
 *   file       FID    content
 *   EF.COM     011E   LDS 1.8, Unicode 4.0.0, tag list
 *   EF.DG1     0101   TD1 MRZ (3 x 30)
 *   EF.DG2     0102   face: ISO/IEC 19794-5 record with the enrolment JPEG, in CBEFF
 *   EF.DG11    010B   full name (national characters), personal number, date and place of birth, address
 *   EF.DG12    010C   issuing authority, date of issue, personalisation time and system
 *   EF.DG13    010D   national data: national ID number, KRA PIN, NHIF, NSSF (schema in src/lds/dg13.ts)
 *   EF.DG14    010E   SecurityInfos: ActiveAuthenticationInfo (ECDSA AA needs its signature algorithm here,
 *                     ICAO 9303-11 §6.1)
 */
import {
  encodeDg1,
  encodeDg11,
  encodeDg12,
  encodeDg13,
  encodeDg14,
  encodeDg2,
  encodeEfCom,
  generateTd1,
  OID_AA,
} from '../lds/index.ts';
import type { PersonData } from '../registry/index.ts';

export type { PersonData };

/** ecdsa-plain-SHA256 (BSI TR-03111): the AA signature format the eID applet produces (plain r||s). */
export const OID_ECDSA_PLAIN_SHA256 = '0.4.0.127.0.7.1.1.4.1.3';

export interface DocumentData {
  documentNumber: string;
  /** ICAO code of the issuing state and the holder's nationality (KEN). */
  issuingState: string;
  /** YYYY-MM-DD */
  dateOfIssue: string;
  /** YYYY-MM-DD */
  dateOfExpiry: string;
  issuingAuthority: string;
  /** Personalisation time (ISO) and system id for DG12. */
  personalisedAt: string;
  personalisationSystem: string;
}

/** File identifiers (ICAO 9303-10 §4.6.1). */
export const FID = {
  COM: 0x011e,
  SOD: 0x011d,
  DG1: 0x0101,
  DG2: 0x0102,
  DG11: 0x010b,
  DG12: 0x010c,
  DG13: 0x010d,
  DG14: 0x010e,
  DG15: 0x010f,
} as const;

export interface ChipImage {
  /** The three MRZ lines, also in DG1 and printed on the card back. */
  mrz: string[];
  /** Data group number -> file bytes (1, 2, 11, 12, 13, 14). */
  dataGroups: Map<number, Uint8Array>;
  /** EF.COM bytes (lists the data groups including 15, which the encoder adds). */
  com: Uint8Array;
}

function yyyymmddhhmmss(iso: string): string {
  return iso.replace(/[-:T]/g, '').slice(0, 14);
}

/** Builds every chip-independent LDS file for one card. Throws LdsError on data the MRZ cannot carry. */
export function buildChipImage(p: PersonData, photo: Uint8Array, d: DocumentData): ChipImage {
  const mrz = generateTd1({
    documentNumber: d.documentNumber,
    issuingState: d.issuingState,
    nationality: d.issuingState,
    surname: p.surname,
    givenNames: p.givenNames,
    dateOfBirth: p.dateOfBirth,
    sex: p.sex,
    dateOfExpiry: d.dateOfExpiry,
  });
  const dataGroups = new Map<number, Uint8Array>();
  dataGroups.set(1, encodeDg1(mrz));
  dataGroups.set(2, encodeDg2({ faces: [{ image: photo, gender: p.sex === 'M' ? 'male' : p.sex === 'F' ? 'female' : 'unspecified' }] }));
  dataGroups.set(
    11,
    encodeDg11({
      fullName: { surname: p.surname, givenNames: p.givenNames },
      personalNumber: p.nationalNumber,
      fullDateOfBirth: p.dateOfBirth,
      placeOfBirth: [p.placeOfBirth, p.county],
      permanentAddress: [p.address, p.county],
    }),
  );
  dataGroups.set(
    12,
    encodeDg12({
      issuingAuthority: d.issuingAuthority,
      dateOfIssue: d.dateOfIssue,
      dateAndTimeOfPersonalization: yyyymmddhhmmss(d.personalisedAt),
      personalizationSystemSerialNumber: d.personalisationSystem,
    }),
  );
  dataGroups.set(
    13,
    encodeDg13({
      nationalIdNumber: p.nationalNumber,
      kraPin: p.kraPin,
      ...(p.nhifNumber ? { nhifNumber: p.nhifNumber } : {}),
      ...(p.nssfNumber ? { nssfNumber: p.nssfNumber } : {}),
    }),
  );
  dataGroups.set(
    14,
    encodeDg14([{ type: 'ActiveAuthenticationInfo', protocol: OID_AA, version: 1, signatureAlgorithm: OID_ECDSA_PLAIN_SHA256 }]),
  );
  const com = encodeEfCom({ dataGroups: [1, 2, 11, 12, 13, 14, 15] });
  return { mrz: [...mrz.lines], dataGroups, com };
}
