/**
 * EF.DG11 (additional personal details) and EF.DG12 (additional document details), ICAO Doc 9303-10 §4.7.11 and
 * §4.7.12. Both start with a tag list and then carry the listed data elements in that order. Text is UTF-8
 * (national characters allowed); lists inside one element are separated by '<'; a repeated element is wrapped in
 * A0 with a count.
 * ```
 *   6B L                              DG11
 *     5C L    tags                    tag list (mandatory): tags of the elements present, in order
 *     5F0E L  full name               primary and secondary identifiers separated by '<<', national characters
 *     A0 L                            other names (repeated element)
 *       02 01 n                         number of other names
 *       5F0F L  other name              (n times)
 *     5F10 L  personal number
 *     5F2B 08 full date of birth      YYYYMMDD (ASCII digits; some States used 4 bytes BCD)
 *     5F11 L  place of birth          fields separated by '<'
 *     5F42 L  permanent address       fields separated by '<'
 *     5F12 L  telephone
 *     5F13 L  profession
 *     5F14 L  title
 *     5F15 L  personal summary
 *     5F16 L  proof of citizenship    image, ISO/IEC 10918 (JPEG)
 *     5F17 L  other valid TD numbers  separated by '<'
 *     5F18 L  custody information
 *
 *   6C L                              DG12
 *     5C L    tags                    tag list (mandatory)
 *     5F19 L  issuing authority
 *     5F26 08 date of issue           YYYYMMDD
 *     A0 L                            other persons
 *       02 01 n
 *       5F1A L  name of other person  (n times; primary<<secondary)
 *     5F1B L  endorsements and observations
 *     5F1C L  tax/exit requirements
 *     5F1D L  image of front of document   JPEG
 *     5F1E L  image of rear of document    JPEG
 *     5F55 0E date and time of personalization  YYYYMMDDhhmmss
 *     5F56 L  serial number of personalization system
 * ```
 * The tag list names a repeated element by its inner tag (5F0F, 5F1A), as JMRTD and most issuers do.
 */
import {
  type TlvItem,
  type TlvNode,
  ascii,
  constructed,
  decodeAscii,
  decodeUtf8,
  encodeItem,
  encodeTag,
  parseTlvExpect,
  primitive,
  readTag,
  utf8,
} from '../tlv/index.ts';
import { ldsInvalid, ldsMalformed } from './errors.ts';
import { TAG_LIST_TAG } from './com.ts';
import { DG11_TAG, DG12_TAG } from './tags.ts';

export const CONTENT_SPECIFIC_CONSTRUCTED_TAG = 0xa0;
export const COUNT_TAG = 0x02;

export const FULL_NAME_TAG = 0x5f0e;
export const OTHER_NAME_TAG = 0x5f0f;
export const PERSONAL_NUMBER_TAG = 0x5f10;
export const FULL_DATE_OF_BIRTH_TAG = 0x5f2b;
export const PLACE_OF_BIRTH_TAG = 0x5f11;
export const PERMANENT_ADDRESS_TAG = 0x5f42;
export const TELEPHONE_TAG = 0x5f12;
export const PROFESSION_TAG = 0x5f13;
export const TITLE_TAG = 0x5f14;
export const PERSONAL_SUMMARY_TAG = 0x5f15;
export const PROOF_OF_CITIZENSHIP_TAG = 0x5f16;
export const OTHER_VALID_TD_NUMBERS_TAG = 0x5f17;
export const CUSTODY_INFORMATION_TAG = 0x5f18;

export const ISSUING_AUTHORITY_TAG = 0x5f19;
export const DATE_OF_ISSUE_TAG = 0x5f26;
export const NAME_OF_OTHER_PERSON_TAG = 0x5f1a;
export const ENDORSEMENTS_AND_OBSERVATIONS_TAG = 0x5f1b;
export const TAX_OR_EXIT_REQUIREMENTS_TAG = 0x5f1c;
export const IMAGE_OF_FRONT_TAG = 0x5f1d;
export const IMAGE_OF_REAR_TAG = 0x5f1e;
export const DATE_AND_TIME_OF_PERSONALIZATION_TAG = 0x5f55;
export const PERSONALIZATION_SYSTEM_SERIAL_NUMBER_TAG = 0x5f56;

type Kind = 'text' | 'list' | 'date' | 'datetime' | 'bytes' | 'repeated';

interface ElementSpec<K extends string> {
  key: K;
  tag: number;
  kind: Kind;
}

export interface Dg11Input {
  /** 5F0E: "PRIMARY<<SECONDARY" in national characters, or the two parts (joined with '<<'). */
  fullName?: string | { surname: string; givenNames?: string };
  /** 5F0F in A0: other names. */
  otherNames?: readonly string[];
  /** 5F10 */
  personalNumber?: string;
  /** 5F2B: YYYY-MM-DD or YYYYMMDD, written as YYYYMMDD. */
  fullDateOfBirth?: string;
  /** 5F11: fields (or one string already '<'-separated). */
  placeOfBirth?: string | readonly string[];
  /** 5F42: fields (or one string already '<'-separated). */
  permanentAddress?: string | readonly string[];
  /** 5F12 */
  telephone?: string;
  /** 5F13 */
  profession?: string;
  /** 5F14 */
  title?: string;
  /** 5F15 */
  personalSummary?: string;
  /** 5F16: JPEG image. */
  proofOfCitizenship?: Uint8Array;
  /** 5F17 */
  otherValidTdNumbers?: readonly string[];
  /** 5F18 */
  custodyInformation?: string;
}

export interface Dg12Input {
  /** 5F19 */
  issuingAuthority?: string;
  /** 5F26: YYYY-MM-DD or YYYYMMDD. */
  dateOfIssue?: string;
  /** 5F1A in A0 */
  namesOfOtherPersons?: readonly string[];
  /** 5F1B */
  endorsementsAndObservations?: string;
  /** 5F1C */
  taxOrExitRequirements?: string;
  /** 5F1D: JPEG image. */
  imageOfFront?: Uint8Array;
  /** 5F1E: JPEG image. */
  imageOfRear?: Uint8Array;
  /** 5F55: YYYYMMDDhhmmss (or an ISO date-time, reduced to those digits). */
  dateAndTimeOfPersonalization?: string;
  /** 5F56 */
  personalizationSystemSerialNumber?: string;
}

const DG11_SPEC: ReadonlyArray<ElementSpec<keyof Dg11Input>> = [
  { key: 'fullName', tag: FULL_NAME_TAG, kind: 'text' },
  { key: 'otherNames', tag: OTHER_NAME_TAG, kind: 'repeated' },
  { key: 'personalNumber', tag: PERSONAL_NUMBER_TAG, kind: 'text' },
  { key: 'fullDateOfBirth', tag: FULL_DATE_OF_BIRTH_TAG, kind: 'date' },
  { key: 'placeOfBirth', tag: PLACE_OF_BIRTH_TAG, kind: 'list' },
  { key: 'permanentAddress', tag: PERMANENT_ADDRESS_TAG, kind: 'list' },
  { key: 'telephone', tag: TELEPHONE_TAG, kind: 'text' },
  { key: 'profession', tag: PROFESSION_TAG, kind: 'text' },
  { key: 'title', tag: TITLE_TAG, kind: 'text' },
  { key: 'personalSummary', tag: PERSONAL_SUMMARY_TAG, kind: 'text' },
  { key: 'proofOfCitizenship', tag: PROOF_OF_CITIZENSHIP_TAG, kind: 'bytes' },
  { key: 'otherValidTdNumbers', tag: OTHER_VALID_TD_NUMBERS_TAG, kind: 'list' },
  { key: 'custodyInformation', tag: CUSTODY_INFORMATION_TAG, kind: 'text' },
];

const DG12_SPEC: ReadonlyArray<ElementSpec<keyof Dg12Input>> = [
  { key: 'issuingAuthority', tag: ISSUING_AUTHORITY_TAG, kind: 'text' },
  { key: 'dateOfIssue', tag: DATE_OF_ISSUE_TAG, kind: 'date' },
  { key: 'namesOfOtherPersons', tag: NAME_OF_OTHER_PERSON_TAG, kind: 'repeated' },
  { key: 'endorsementsAndObservations', tag: ENDORSEMENTS_AND_OBSERVATIONS_TAG, kind: 'text' },
  { key: 'taxOrExitRequirements', tag: TAX_OR_EXIT_REQUIREMENTS_TAG, kind: 'text' },
  { key: 'imageOfFront', tag: IMAGE_OF_FRONT_TAG, kind: 'bytes' },
  { key: 'imageOfRear', tag: IMAGE_OF_REAR_TAG, kind: 'bytes' },
  { key: 'dateAndTimeOfPersonalization', tag: DATE_AND_TIME_OF_PERSONALIZATION_TAG, kind: 'datetime' },
  { key: 'personalizationSystemSerialNumber', tag: PERSONALIZATION_SYSTEM_SERIAL_NUMBER_TAG, kind: 'text' },
];

function dateDigits(v: string, field: string): string {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(v);
  if (!m) throw ldsInvalid(field, 'expected YYYY-MM-DD or YYYYMMDD');
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (mo < 1 || mo > 12 || d < 1 || d > days) throw ldsInvalid(field, 'not a calendar date');
  return `${m[1]}${m[2]}${m[3]}`;
}

function dateTimeDigits(v: string, field: string): string {
  const digits = v.replace(/[-:T ]/g, '').replace(/(\.\d+)?Z?$/, '');
  if (!/^\d{14}$/.test(digits)) throw ldsInvalid(field, 'expected YYYYMMDDhhmmss');
  dateDigits(digits.slice(0, 8), field);
  return digits;
}

function text(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0) throw ldsInvalid(field, 'expected a non-empty string');
  if (/[\u0000-\u001f]/.test(v)) throw ldsInvalid(field, 'control characters are not allowed');
  return v;
}

function listText(v: unknown, field: string): string {
  if (typeof v === 'string') return text(v, field);
  if (!Array.isArray(v) || v.length === 0) throw ldsInvalid(field, 'expected a string or a non-empty list');
  return v.map((x, i) => {
    const s = text(x, `${field}[${i}]`);
    if (s.includes('<')) throw ldsInvalid(`${field}[${i}]`, "'<' separates fields and cannot appear inside one");
    return s;
  }).join('<');
}

function elementItems<K extends string>(spec: ReadonlyArray<ElementSpec<K>>, input: Record<string, unknown>): { tags: number[]; items: TlvItem[] } {
  const tags: number[] = [];
  const items: TlvItem[] = [];
  for (const s of spec) {
    let v = input[s.key];
    if (v === undefined || v === null) continue;
    const f = s.key;
    switch (s.kind) {
      case 'text':
        if (s.tag === FULL_NAME_TAG && typeof v === 'object') {
          const n = v as { surname: string; givenNames?: string };
          v = n.givenNames ? `${text(n.surname, 'fullName.surname')}<<${text(n.givenNames, 'fullName.givenNames')}` : text(n.surname, 'fullName.surname');
        }
        items.push(primitive(s.tag, utf8(text(v, f))));
        break;
      case 'list':
        items.push(primitive(s.tag, utf8(listText(v, f))));
        break;
      case 'date':
        items.push(primitive(s.tag, ascii(dateDigits(text(v, f), f))));
        break;
      case 'datetime':
        items.push(primitive(s.tag, ascii(dateTimeDigits(text(v, f), f))));
        break;
      case 'bytes':
        if (!(v instanceof Uint8Array) || v.length === 0) throw ldsInvalid(f, 'expected bytes');
        items.push(primitive(s.tag, v));
        break;
      case 'repeated': {
        if (!Array.isArray(v) || v.length === 0 || v.length > 0xff) throw ldsInvalid(f, 'expected a list of 1 to 255 strings');
        items.push(
          constructed(CONTENT_SPECIFIC_CONSTRUCTED_TAG, [
            primitive(COUNT_TAG, Uint8Array.of(v.length)),
            ...v.map((x, i) => primitive(s.tag, utf8(text(x, `${f}[${i}]`)))),
          ]),
        );
        break;
      }
    }
    tags.push(s.tag);
  }
  return { tags, items };
}

function encodeAdditional<K extends string>(dgTag: number, spec: ReadonlyArray<ElementSpec<K>>, input: object): Uint8Array {
  if (!input || typeof input !== 'object') throw ldsInvalid('input', 'expected an object');
  const { tags, items } = elementItems(spec, input as Record<string, unknown>);
  let n = 0;
  const encodedTags = tags.map(encodeTag);
  for (const t of encodedTags) n += t.length;
  const list = new Uint8Array(n);
  let o = 0;
  for (const t of encodedTags) {
    list.set(t, o);
    o += t.length;
  }
  return encodeItem(constructed(dgTag, [primitive(TAG_LIST_TAG, list), ...items]));
}

/** EF.DG11. Elements are written in the order of 9303-10 table; absent ones are left out of the tag list. */
export function encodeDg11(input: Dg11Input): Uint8Array {
  return encodeAdditional(DG11_TAG, DG11_SPEC, input);
}

/** EF.DG12. */
export function encodeDg12(input: Dg12Input): Uint8Array {
  return encodeAdditional(DG12_TAG, DG12_SPEC, input);
}

/** Decoded DG11: strings as stored ("<"-separated lists split), dates as YYYYMMDD. */
export interface Dg11 {
  tagList: number[];
  fullName?: string;
  otherNames?: string[];
  personalNumber?: string;
  fullDateOfBirth?: string;
  placeOfBirth?: string[];
  permanentAddress?: string[];
  telephone?: string;
  profession?: string;
  title?: string;
  personalSummary?: string;
  proofOfCitizenship?: Uint8Array;
  otherValidTdNumbers?: string[];
  custodyInformation?: string;
  /** Elements Kadi does not know, as read. */
  other: TlvNode[];
  raw: Uint8Array;
  node: TlvNode;
}

export interface Dg12 {
  tagList: number[];
  issuingAuthority?: string;
  dateOfIssue?: string;
  namesOfOtherPersons?: string[];
  endorsementsAndObservations?: string;
  taxOrExitRequirements?: string;
  imageOfFront?: Uint8Array;
  imageOfRear?: Uint8Array;
  dateAndTimeOfPersonalization?: string;
  personalizationSystemSerialNumber?: string;
  other: TlvNode[];
  raw: Uint8Array;
  node: TlvNode;
}

function readDate(v: Uint8Array): string {
  if (v.length === 4) {
    // Packed BCD YYYYMMDD written by some early issuers.
    let s = '';
    for (const b of v) s += (b >>> 4).toString(16) + (b & 0x0f).toString(16);
    return s;
  }
  return decodeAscii(v);
}

function decodeAdditional<K extends string>(
  bytes: Uint8Array,
  dgTag: number,
  spec: ReadonlyArray<ElementSpec<K>>,
  file: string,
): { tagList: number[]; values: Record<string, unknown>; other: TlvNode[]; node: TlvNode } {
  const node = parseTlvExpect(bytes, dgTag);
  const list = node.child(TAG_LIST_TAG);
  if (!list) throw ldsMalformed(`${file}: tag list (5C) missing`, { file });
  const tagList: number[] = [];
  for (let o = 0; o < list.value.length; ) {
    const t = readTag(list.value, o);
    tagList.push(t.tag);
    o += t.size;
  }
  const values: Record<string, unknown> = {};
  const other: TlvNode[] = [];
  for (const c of node.children) {
    if (c === list) continue;
    let s = spec.find((x) => x.tag === c.tag);
    let repeated: TlvNode[] | undefined;
    if (c.tag === CONTENT_SPECIFIC_CONSTRUCTED_TAG) {
      const count = c.child(COUNT_TAG);
      repeated = c.children.filter((k) => k.tag !== COUNT_TAG);
      if (!count || count.value.length !== 1 || count.value[0] !== repeated.length) {
        throw ldsMalformed(`${file}: A0 count does not match its elements`, { file });
      }
      s = spec.find((x) => x.kind === 'repeated' && x.tag === repeated![0]?.tag) ?? spec.find((x) => x.kind === 'repeated');
    }
    if (!s) {
      other.push(c);
      continue;
    }
    switch (s.kind) {
      case 'text':
        values[s.key] = decodeUtf8(c.value);
        break;
      case 'list':
        values[s.key] = decodeUtf8(c.value).split('<');
        break;
      case 'date':
        values[s.key] = readDate(c.value);
        break;
      case 'datetime':
        values[s.key] = decodeAscii(c.value);
        break;
      case 'bytes':
        values[s.key] = c.value;
        break;
      case 'repeated':
        // A0 wrapper, or (non-compliant early samples) the bare element
        values[s.key] = [...((values[s.key] as string[] | undefined) ?? []), ...(repeated ?? [c]).map((k) => decodeUtf8(k.value))];
        break;
    }
  }
  return { tagList, values, other, node };
}

export function decodeDg11(bytes: Uint8Array): Dg11 {
  const d = decodeAdditional(bytes, DG11_TAG, DG11_SPEC, 'DG11');
  return { tagList: d.tagList, ...(d.values as Partial<Dg11>), other: d.other, raw: d.node.raw, node: d.node };
}

export function decodeDg12(bytes: Uint8Array): Dg12 {
  const d = decodeAdditional(bytes, DG12_TAG, DG12_SPEC, 'DG12');
  return { tagList: d.tagList, ...(d.values as Partial<Dg12>), other: d.other, raw: d.node.raw, node: d.node };
}
