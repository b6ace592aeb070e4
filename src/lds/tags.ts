/**
 * LDS1 elementary files, their tags and identifiers, ICAO Doc 9303-10 §4.6-4.7 (tables "LDS1 elementary files"
 * and "Data group tags").
 * ```
 *   file            tag   FID    SFI   content
 *   EF.COM          60    011E   1E    LDS version, Unicode version, tag list
 *   EF.DG1          61    0101   01    MRZ
 *   EF.DG2          75    0102   02    encoded face
 *   EF.DG3          63    0103   03    encoded fingers
 *   EF.DG4          76    0104   04    encoded irises
 *   EF.DG5          65    0105   05    displayed portrait
 *   EF.DG6          66    0106   06    reserved
 *   EF.DG7          67    0107   07    displayed signature or usual mark
 *   EF.DG8          68    0108   08    data features
 *   EF.DG9          69    0109   09    structure features
 *   EF.DG10         6A    010A   0A    substance features
 *   EF.DG11         6B    010B   0B    additional personal details
 *   EF.DG12         6C    010C   0C    additional document details
 *   EF.DG13         6D    010D   0D    optional details (national)
 *   EF.DG14         6E    010E   0E    security options (SecurityInfos)
 *   EF.DG15         6F    010F   0F    Active Authentication public key info
 *   EF.DG16         70    0110   10    persons to notify
 *   EF.SOD          77    011D   1D    Document Security Object
 *   EF.CardAccess   -     011C   1C    SecurityInfos for PACE (in the master file, no application tag)
 *   EF.CardSecurity -     011D   1D    signed SecurityInfos (in the master file)
 * ```
 */
import { ldsInvalid } from './errors.ts';

export const EF_COM_TAG = 0x60;
export const EF_SOD_TAG = 0x77;
export const DG1_TAG = 0x61;
export const DG2_TAG = 0x75;
export const DG3_TAG = 0x63;
export const DG4_TAG = 0x76;
export const DG5_TAG = 0x65;
export const DG6_TAG = 0x66;
export const DG7_TAG = 0x67;
export const DG8_TAG = 0x68;
export const DG9_TAG = 0x69;
export const DG10_TAG = 0x6a;
export const DG11_TAG = 0x6b;
export const DG12_TAG = 0x6c;
export const DG13_TAG = 0x6d;
export const DG14_TAG = 0x6e;
export const DG15_TAG = 0x6f;
export const DG16_TAG = 0x70;

/** Data group number (1-16) → tag. */
export const DATA_GROUP_TAGS: Readonly<Record<number, number>> = {
  1: DG1_TAG,
  2: DG2_TAG,
  3: DG3_TAG,
  4: DG4_TAG,
  5: DG5_TAG,
  6: DG6_TAG,
  7: DG7_TAG,
  8: DG8_TAG,
  9: DG9_TAG,
  10: DG10_TAG,
  11: DG11_TAG,
  12: DG12_TAG,
  13: DG13_TAG,
  14: DG14_TAG,
  15: DG15_TAG,
  16: DG16_TAG,
};

/** Tag of data group `n` (1-16). */
export function dataGroupTag(n: number): number {
  const t = DATA_GROUP_TAGS[n];
  if (t === undefined) throw ldsInvalid('dataGroupNumber', 'expected 1 to 16');
  return t;
}

/** Data group number of a tag, or undefined when the tag is not a data group's. */
export function dataGroupNumber(tag: number): number | undefined {
  for (let n = 1; n <= 16; n++) if (DATA_GROUP_TAGS[n] === tag) return n;
  return undefined;
}

/** File identifier of EF.COM in the eMRTD application. */
export const EF_COM_FID = 0x011e;
/** File identifier of EF.SOD in the eMRTD application. */
export const EF_SOD_FID = 0x011d;
/** File identifier of EF.CardAccess in the master file. */
export const EF_CARD_ACCESS_FID = 0x011c;
/** File identifier of EF.CardSecurity in the master file. */
export const EF_CARD_SECURITY_FID = 0x011d;
export const EF_COM_SFI = 0x1e;
export const EF_SOD_SFI = 0x1d;
export const EF_CARD_ACCESS_SFI = 0x1c;
export const EF_CARD_SECURITY_SFI = 0x1d;

/** File identifier of data group `n`: 0x0100 + n. */
export function dataGroupFid(n: number): number {
  dataGroupTag(n);
  return 0x0100 + n;
}

/** Short file identifier of data group `n`: n. */
export function dataGroupSfi(n: number): number {
  dataGroupTag(n);
  return n;
}

/** Application identifier of the eMRTD (LDS1) application, 9303-10 §3.1.1. */
export const EMRTD_AID = Uint8Array.of(0xa0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01);
