/**
 * EF.DG1, ICAO Doc 9303-10 §4.7.1 (machine readable zone information):
 * ```
 *   61 L          DG1 template
 *     5F1F L      MRZ data elements, the MRZ lines concatenated without separators:
 *                 90 characters (TD1), 72 (TD2) or 88 (TD3)
 * ```
 */
import { type TlvNode, ascii, constructed, decodeAscii, encodeItem, parseTlvExpect, primitive } from '../tlv/index.ts';
import { ldsInvalid, ldsMalformed } from './errors.ts';
import { type GeneratedMrz, type ParsedMrz, parseMrz } from './mrz.ts';
import { DG1_TAG } from './tags.ts';

export const MRZ_DATA_TAG = 0x5f1f;

export interface Dg1 {
  /** The MRZ characters as stored (lines concatenated). */
  mrz: string;
  /** The MRZ parsed and its check digits verified. */
  parsed: ParsedMrz;
  raw: Uint8Array;
  node: TlvNode;
}

/** EF.DG1 from generated MRZ lines or their concatenation (must be a TD1, TD2 or TD3 MRZ). */
export function encodeDg1(mrz: GeneratedMrz | string | readonly string[]): Uint8Array {
  const text = typeof mrz === 'string' ? mrz : Array.isArray(mrz) ? mrz.join('') : (mrz as GeneratedMrz).mrz;
  if (typeof text !== 'string') throw ldsInvalid('mrz', 'expected MRZ text or lines');
  parseMrz(text); // structure: MRZ_MALFORMED unless 3x30, 2x36 or 2x44 characters of A-Z 0-9 <
  return encodeItem(constructed(DG1_TAG, [primitive(MRZ_DATA_TAG, ascii(text))]));
}

export function decodeDg1(bytes: Uint8Array): Dg1 {
  const node = parseTlvExpect(bytes, DG1_TAG);
  const data = node.child(MRZ_DATA_TAG);
  if (!data) throw ldsMalformed('DG1: MRZ data element 5F1F missing', { file: 'DG1' });
  const mrz = decodeAscii(data.value);
  return { mrz, parsed: parseMrz(mrz), raw: node.raw, node };
}
