/**
 * EF.COM, ICAO Doc 9303-10 §4.6.1 (common data elements):
 * ```
 *   60 L                 EF.COM application template
 *     5F01 04  "aabb"    LDS version number: aa = version, bb = update level ("0107", "0108")
 *     5F36 06  "aabbcc"  Unicode version: aa major, bb minor, cc release level ("040000")
 *     5C   L   tags      tag list: the tag of every data group present, one byte each ("61 75 6E 6F")
 * ```
 * LDS 1.8 deprecates EF.COM in favour of the data group hashes in EF.SOD but keeps it for compatibility; inspection
 * systems still read it, so Kadi writes it.
 */
import { type TlvNode, ascii, constructed, decodeAscii, encodeItem, parseTlvExpect, primitive } from '../tlv/index.ts';
import { ldsInvalid, ldsMalformed } from './errors.ts';
import { EF_COM_TAG, dataGroupNumber, dataGroupTag } from './tags.ts';

export const LDS_VERSION_TAG = 0x5f01;
export const UNICODE_VERSION_TAG = 0x5f36;
export const TAG_LIST_TAG = 0x5c;

/** LDS 1.8 (9303 8th edition). */
export const DEFAULT_LDS_VERSION = '0108';
/** Unicode 4.0.0, the value the ICAO worked example uses. */
export const DEFAULT_UNICODE_VERSION = '040000';

export interface EfComInput {
  /** Four digits "aabb", default {@link DEFAULT_LDS_VERSION}. */
  ldsVersion?: string;
  /** Six digits "aabbcc", default {@link DEFAULT_UNICODE_VERSION}. */
  unicodeVersion?: string;
  /** Data group numbers present, in the order to list them (no duplicates). */
  dataGroups: readonly number[];
}

export interface EfCom {
  ldsVersion: string;
  unicodeVersion: string;
  /** Tags in the tag list, in order. */
  tags: number[];
  /** Data group numbers of those tags (tags that are not data group tags are left out). */
  dataGroups: number[];
  /** The file as read. */
  raw: Uint8Array;
  node: TlvNode;
}

export function encodeEfCom(input: EfComInput): Uint8Array {
  const lds = input.ldsVersion ?? DEFAULT_LDS_VERSION;
  const uni = input.unicodeVersion ?? DEFAULT_UNICODE_VERSION;
  if (!/^\d{4}$/.test(lds)) throw ldsInvalid('ldsVersion', 'expected 4 digits "aabb"');
  if (!/^\d{6}$/.test(uni)) throw ldsInvalid('unicodeVersion', 'expected 6 digits "aabbcc"');
  if (!Array.isArray(input.dataGroups) || new Set(input.dataGroups).size !== input.dataGroups.length) {
    throw ldsInvalid('dataGroups', 'expected a list of distinct data group numbers');
  }
  const tags = Uint8Array.from(input.dataGroups.map(dataGroupTag));
  return encodeItem(
    constructed(EF_COM_TAG, [
      primitive(LDS_VERSION_TAG, ascii(lds)),
      primitive(UNICODE_VERSION_TAG, ascii(uni)),
      primitive(TAG_LIST_TAG, tags),
    ]),
  );
}

export function decodeEfCom(bytes: Uint8Array): EfCom {
  const node = parseTlvExpect(bytes, EF_COM_TAG);
  const lds = node.child(LDS_VERSION_TAG);
  const uni = node.child(UNICODE_VERSION_TAG);
  const list = node.child(TAG_LIST_TAG);
  if (!lds || !uni || !list) throw ldsMalformed('EF.COM: 5F01, 5F36 and 5C are mandatory', { file: 'EF.COM' });
  const ldsVersion = decodeAscii(lds.value);
  const unicodeVersion = decodeAscii(uni.value);
  if (!/^\d{4}$/.test(ldsVersion)) throw ldsMalformed('EF.COM: LDS version is not 4 digits', { file: 'EF.COM' });
  if (!/^\d{6}$/.test(unicodeVersion)) throw ldsMalformed('EF.COM: Unicode version is not 6 digits', { file: 'EF.COM' });
  const tags = Array.from(list.value);
  const dataGroups = tags.map(dataGroupNumber).filter((n): n is number => n !== undefined);
  return { ldsVersion, unicodeVersion, tags, dataGroups, raw: node.raw, node };
}
