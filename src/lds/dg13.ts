/**
 * EF.DG13 "optional details", ICAO Doc 9303-10 §4.7.13: content defined by the issuing State. Kadi's national
 * profile (Kenya, Maisha card) uses private-class primitive tags inside the DG13 template, so they can never clash
 * with ICAO or ISO inter-industry tags:
 * ```
 *   6D L                  DG13 template
 *     C0 01 01            Kadi DG13 schema version (1)                                  mandatory
 *     C1 L  ASCII digits  national identification number (ID / Maisha Namba)           optional
 *     C2 0B ASCII         KRA PIN: 'A' (individual) or 'P' (non-individual), 9 digits,
 *                         one check letter, e.g. A012345678Z                             optional
 *     C3 L  ASCII A-Z0-9  NHIF / SHA (Social Health Authority) member number            optional
 *     C4 L  ASCII A-Z0-9  NSSF member number                                            optional
 *     C5-DE               reserved for later versions; readers keep and ignore them
 * ```
 * Elements are written in ascending tag order. Values are plain ASCII (no national characters), at most 32
 * characters. A reader that does not know the profile sees a well-formed BER-TLV file.
 */
import { type TlvNode, ascii, constructed, decodeAscii, encodeItem, parseTlvExpect, primitive } from '../tlv/index.ts';
import { ldsInvalid, ldsMalformed } from './errors.ts';
import { DG13_TAG } from './tags.ts';

export const DG13_SCHEMA_VERSION_TAG = 0xc0;
export const DG13_NATIONAL_ID_TAG = 0xc1;
export const DG13_KRA_PIN_TAG = 0xc2;
export const DG13_NHIF_TAG = 0xc3;
export const DG13_NSSF_TAG = 0xc4;
/** Version of the schema above. */
export const DG13_SCHEMA_VERSION = 1;
const MAX_VALUE_LENGTH = 32;

export interface Dg13Input {
  /** National identification number, digits only. */
  nationalIdNumber?: string;
  /** Kenya Revenue Authority personal identification number, e.g. A012345678Z. */
  kraPin?: string;
  /** NHIF (now SHA) member number. */
  nhifNumber?: string;
  /** NSSF member number. */
  nssfNumber?: string;
}

export interface Dg13 extends Dg13Input {
  schemaVersion: number;
  /** Elements not defined by this schema version, as read. */
  other: TlvNode[];
  raw: Uint8Array;
  node: TlvNode;
}

const FIELDS: ReadonlyArray<{ key: keyof Dg13Input; tag: number; pattern: RegExp; rule: string }> = [
  { key: 'nationalIdNumber', tag: DG13_NATIONAL_ID_TAG, pattern: /^\d{1,32}$/, rule: 'expected 1 to 32 digits' },
  { key: 'kraPin', tag: DG13_KRA_PIN_TAG, pattern: /^[AP]\d{9}[A-Z]$/, rule: "expected 'A' or 'P', 9 digits and a letter" },
  { key: 'nhifNumber', tag: DG13_NHIF_TAG, pattern: /^[A-Z0-9]{1,32}$/, rule: 'expected 1 to 32 characters A-Z 0-9' },
  { key: 'nssfNumber', tag: DG13_NSSF_TAG, pattern: /^[A-Z0-9]{1,32}$/, rule: 'expected 1 to 32 characters A-Z 0-9' },
];

export function encodeDg13(input: Dg13Input): Uint8Array {
  if (!input || typeof input !== 'object') throw ldsInvalid('input', 'expected an object');
  const items = [primitive(DG13_SCHEMA_VERSION_TAG, Uint8Array.of(DG13_SCHEMA_VERSION))];
  for (const f of FIELDS) {
    const v = input[f.key];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.length > MAX_VALUE_LENGTH || !f.pattern.test(v)) throw ldsInvalid(f.key, f.rule);
    items.push(primitive(f.tag, ascii(v)));
  }
  return encodeItem(constructed(DG13_TAG, items));
}

export function decodeDg13(bytes: Uint8Array): Dg13 {
  const node = parseTlvExpect(bytes, DG13_TAG);
  const version = node.child(DG13_SCHEMA_VERSION_TAG);
  if (!version || version.value.length !== 1) throw ldsMalformed('DG13: schema version (C0) missing', { file: 'DG13' });
  const schemaVersion = version.value[0]!;
  if (schemaVersion !== DG13_SCHEMA_VERSION) {
    throw ldsMalformed(`DG13: unsupported schema version ${schemaVersion}`, { file: 'DG13' });
  }
  const out: Dg13 = { schemaVersion, other: [], raw: node.raw, node };
  for (const c of node.children) {
    if (c === version) continue;
    const f = FIELDS.find((x) => x.tag === c.tag);
    if (!f) {
      out.other.push(c);
      continue;
    }
    out[f.key] = decodeAscii(c.value);
  }
  return out;
}
