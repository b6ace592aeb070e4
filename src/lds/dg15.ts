/**
 * EF.DG15, Active Authentication public key info, ICAO Doc 9303-10 §4.7.15 and 9303-11 §6.1:
 * ```
 *   6F L                      DG15 template
 *     30 L                    SubjectPublicKeyInfo of the AA key pair generated on the chip (RSA or EC)
 * ```
 * For an EC key, DG14 must also carry an ActiveAuthenticationInfo naming the signature algorithm.
 */
import { constructed, encodeItem, parseTlvExpect, rawItem } from '../tlv/index.ts';
import { ldsInvalid, ldsMalformed } from './errors.ts';
import { type PublicKeyInfo, decodePublicKeyInfo, readPublicKeyInfo } from './public-key.ts';
import { DG15_TAG } from './tags.ts';

export interface Dg15 {
  key: PublicKeyInfo;
  raw: Uint8Array;
}

/** EF.DG15 from the AA key's SubjectPublicKeyInfo DER (validated; EC or RSA). */
export function encodeDg15(spki: Uint8Array): Uint8Array {
  if (!(spki instanceof Uint8Array)) throw ldsInvalid('spki', 'expected SubjectPublicKeyInfo DER');
  const key = decodePublicKeyInfo(spki, 'DG15');
  if (key.keyType !== 'ec' && key.keyType !== 'rsa') throw ldsInvalid('spki', 'Active Authentication needs an EC or RSA key');
  return encodeItem(constructed(DG15_TAG, [rawItem(spki)]));
}

export function decodeDg15(bytes: Uint8Array): Dg15 {
  const node = parseTlvExpect(bytes, DG15_TAG);
  const spki = node.children[0];
  if (!spki || node.children.length !== 1) throw ldsMalformed('DG15: expected one SubjectPublicKeyInfo', { file: 'DG15' });
  return { key: readPublicKeyInfo(spki, 'DG15'), raw: node.raw };
}
