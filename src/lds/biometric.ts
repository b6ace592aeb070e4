/**
 * Biometric data groups EF.DG2 (face) and EF.DG3 (fingers), ICAO Doc 9303-10 §4.7.2-4.7.3, with the CBEFF
 * biometric information templates of ISO/IEC 7816-11 (Annex C):
 * ```
 *   75 | 63 L                    DG2 | DG3
 *     7F61 L                     biometric information group template
 *       02 01 n                  number of biometric information templates that follow
 *       7F60 L                   biometric information template (BIT), one per instance
 *         A1 L                   biometric header template (BHT)
 *           80 02 0101           ICAO header version                           optional
 *           81 01 t              biometric type: 02 facial features, 08 finger  optional
 *           82 01 s              biometric subtype (finger: 01 right, 02 left, + 04 thumb, 08 index,
 *                                0C middle, 10 ring, 14 little)                  optional
 *           83 07 CCYYMMDDhhmmss creation date and time, BCD                     optional
 *           85 08 CCYYMMDD×2     validity period from/to, BCD                    optional
 *           86 04 PID            creator of the biometric reference data         optional
 *           87 02 0101           format owner: ISO/IEC JTC 1/SC 37               mandatory
 *           88 02 0008 | 0007    format type: face image 19794-5 | finger image 19794-4   mandatory
 *         5F2E L                 biometric data block (BDB), see face.ts / finger.ts
 *         (7F2E L                enciphered BDB — read, never written by Kadi)
 * ```
 * Kadi writes one BIT per face image (DG2) and one BIT per finger record (DG3), BHT elements in ascending tag
 * order. DG3 is written only when fingerprints were captured; it is then subject to Extended Access Control on the
 * chip (outside this module).
 */
import {
  type TlvItem,
  type TlvNode,
  constructed,
  encodeItem,
  findPath,
  parseTlvExpect,
  primitive,
} from '../tlv/index.ts';
import { ldsInvalid, ldsMalformed } from './errors.ts';
import { type FaceImageInput, type FaceRecord, decodeFaceRecord, faceRecordItem } from './face.ts';
import { type FingerRecord, type FingerRecordInput, decodeFingerRecord, fingerRecordItem } from './finger.ts';
import { DG2_TAG, DG3_TAG } from './tags.ts';

export const BIOMETRIC_INFO_GROUP_TAG = 0x7f61;
export const BIOMETRIC_INFO_TEMPLATE_TAG = 0x7f60;
export const BIOMETRIC_INFO_COUNT_TAG = 0x02;
export const BIOMETRIC_HEADER_TEMPLATE_TAG = 0xa1;
export const ICAO_HEADER_VERSION_TAG = 0x80;
export const BIOMETRIC_TYPE_TAG = 0x81;
export const BIOMETRIC_SUBTYPE_TAG = 0x82;
export const CREATION_DATE_TIME_TAG = 0x83;
export const VALIDITY_PERIOD_TAG = 0x85;
export const CREATOR_TAG = 0x86;
export const FORMAT_OWNER_TAG = 0x87;
export const FORMAT_TYPE_TAG = 0x88;
export const BIOMETRIC_DATA_BLOCK_TAG = 0x5f2e;
export const BIOMETRIC_DATA_BLOCK_ENCIPHERED_TAG = 0x7f2e;

/** ICAO header version 1.1. */
export const ICAO_HEADER_VERSION = 0x0101;
/** Format owner ISO/IEC JTC 1/SC 37. */
export const FORMAT_OWNER_ISO_SC37 = 0x0101;
/** Format types registered by SC 37 (IBIA CBEFF registry). */
export const FORMAT_TYPE_FINGER_IMAGE = 0x0007;
export const FORMAT_TYPE_FACE_IMAGE = 0x0008;
export const FORMAT_TYPE_IRIS_IMAGE = 0x0009;
/** CBEFF biometric types. */
export const BIOMETRIC_TYPE_FACIAL_FEATURES = 0x02;
export const BIOMETRIC_TYPE_FINGER = 0x08;
export const BIOMETRIC_TYPE_IRIS = 0x10;
/** CBEFF biometric subtype bits (fingers). */
export const BIOMETRIC_SUBTYPE_RIGHT = 0x01;
export const BIOMETRIC_SUBTYPE_LEFT = 0x02;
export const BIOMETRIC_SUBTYPE_THUMB = 0x04;
export const BIOMETRIC_SUBTYPE_INDEX = 0x08;
export const BIOMETRIC_SUBTYPE_MIDDLE = 0x0c;
export const BIOMETRIC_SUBTYPE_RING = 0x10;
export const BIOMETRIC_SUBTYPE_LITTLE = 0x14;

/** Biometric header template contents. Numbers are big-endian values of the elements. */
export interface BiometricHeader {
  /** 80, 2 bytes; Kadi writes 0x0101 unless `null`. */
  icaoHeaderVersion?: number | null;
  /** 81, 1 byte. */
  biometricType?: number;
  /** 82, 1 byte. */
  biometricSubtype?: number;
  /** 83, "YYYYMMDDhhmmss" written as 7 bytes BCD. */
  creationDateTime?: string;
  /** 85, "YYYYMMDD" from and to, written as 8 bytes BCD. */
  validityPeriod?: { from: string; to: string };
  /** 86, product identifier of the creator, 4 bytes. */
  creator?: Uint8Array;
  /** 87, 2 bytes. */
  formatOwner: number;
  /** 88, 2 bytes. */
  formatType: number;
}

/** Header fields a caller may override; format owner and type are set by the data group. */
export type BiometricHeaderOptions = Omit<Partial<BiometricHeader>, 'formatOwner' | 'formatType'>;

export interface BiometricInstance {
  header: BiometricHeader;
  /** The BHT as read. */
  headerRaw: Uint8Array;
  /** The biometric data block (view of the input); for an enciphered block, its value. */
  bdb: Uint8Array;
  enciphered: boolean;
  /** The BIT node (raw bytes as read). */
  node: TlvNode;
}

export interface BiometricGroup {
  instances: BiometricInstance[];
  raw: Uint8Array;
  node: TlvNode;
}

export interface Dg2 extends BiometricGroup {
  /** Decoded face records, one per instance (enciphered instances are skipped). */
  faces: FaceRecord[];
}

export interface Dg3 extends BiometricGroup {
  /** Decoded finger records, one per instance (enciphered instances are skipped). */
  fingers: FingerRecord[];
}

function bcd(digits: string, field: string, n: number): Uint8Array {
  if (!new RegExp(`^\\d{${2 * n}}$`).test(digits)) throw ldsInvalid(field, `expected ${2 * n} digits`);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (Number(digits[2 * i]) << 4) | Number(digits[2 * i + 1]);
  return out;
}

function fromBcd(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += (x >>> 4).toString(16) + (x & 0x0f).toString(16);
  return s;
}

function u16(n: number, field: string): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw ldsInvalid(field, 'expected an integer 0..65535');
  return Uint8Array.of(n >>> 8, n & 0xff);
}

function u8(n: number, field: string): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xff) throw ldsInvalid(field, 'expected an integer 0..255');
  return Uint8Array.of(n);
}

function headerItem(h: BiometricHeader): TlvItem {
  const els: TlvItem[] = [];
  const version = h.icaoHeaderVersion === undefined ? ICAO_HEADER_VERSION : h.icaoHeaderVersion;
  if (version !== null) els.push(primitive(ICAO_HEADER_VERSION_TAG, u16(version, 'icaoHeaderVersion')));
  if (h.biometricType !== undefined) els.push(primitive(BIOMETRIC_TYPE_TAG, u8(h.biometricType, 'biometricType')));
  if (h.biometricSubtype !== undefined) {
    els.push(primitive(BIOMETRIC_SUBTYPE_TAG, u8(h.biometricSubtype, 'biometricSubtype')));
  }
  if (h.creationDateTime !== undefined) {
    els.push(primitive(CREATION_DATE_TIME_TAG, bcd(h.creationDateTime, 'creationDateTime', 7)));
  }
  if (h.validityPeriod !== undefined) {
    const v = new Uint8Array(8);
    v.set(bcd(h.validityPeriod.from, 'validityPeriod.from', 4), 0);
    v.set(bcd(h.validityPeriod.to, 'validityPeriod.to', 4), 4);
    els.push(primitive(VALIDITY_PERIOD_TAG, v));
  }
  if (h.creator !== undefined) els.push(primitive(CREATOR_TAG, h.creator));
  els.push(primitive(FORMAT_OWNER_TAG, u16(h.formatOwner, 'formatOwner')));
  els.push(primitive(FORMAT_TYPE_TAG, u16(h.formatType, 'formatType')));
  return constructed(BIOMETRIC_HEADER_TEMPLATE_TAG, els);
}

function groupItem(dgTag: number, bits: ReadonlyArray<{ header: BiometricHeader; bdb: TlvItem }>): TlvItem {
  if (bits.length === 0 || bits.length > 0xff) throw ldsInvalid('instances', 'expected 1 to 255 biometric instances');
  return constructed(dgTag, [
    constructed(BIOMETRIC_INFO_GROUP_TAG, [
      primitive(BIOMETRIC_INFO_COUNT_TAG, Uint8Array.of(bits.length)),
      ...bits.map((b) =>
        constructed(BIOMETRIC_INFO_TEMPLATE_TAG, [headerItem(b.header), constructed(BIOMETRIC_DATA_BLOCK_TAG, [b.bdb])]),
      ),
    ]),
  ]);
}

export interface Dg2Input {
  /** Face images; each is written as its own biometric information template. */
  faces: readonly FaceImageInput[];
  /** BHT overrides; default ICAO header version 0101, biometric type 02, no subtype. */
  header?: BiometricHeaderOptions;
}

/** EF.DG2 (encoded face), one allocation for the whole file. */
export function encodeDg2(input: Dg2Input): Uint8Array {
  if (!input || !Array.isArray(input.faces) || input.faces.length === 0) throw ldsInvalid('faces', 'expected at least one face image');
  const header: BiometricHeader = {
    biometricType: BIOMETRIC_TYPE_FACIAL_FEATURES,
    ...input.header,
    formatOwner: FORMAT_OWNER_ISO_SC37,
    formatType: FORMAT_TYPE_FACE_IMAGE,
  };
  return encodeItem(groupItem(DG2_TAG, input.faces.map((f) => ({ header, bdb: faceRecordItem([f]) }))));
}

/** CBEFF subtype of a finger position code (ISO/IEC 19794-4 table 2), 0 when unknown or a palm. */
export function fingerSubtype(position: number): number {
  if (position < 1 || position > 10) return 0;
  const side = position <= 5 ? BIOMETRIC_SUBTYPE_RIGHT : BIOMETRIC_SUBTYPE_LEFT;
  const finger = [BIOMETRIC_SUBTYPE_THUMB, BIOMETRIC_SUBTYPE_INDEX, BIOMETRIC_SUBTYPE_MIDDLE, BIOMETRIC_SUBTYPE_RING, BIOMETRIC_SUBTYPE_LITTLE][
    (position - 1) % 5
  ]!;
  return side | finger;
}

export interface Dg3Input {
  /** Finger image records; each is written as its own biometric information template. */
  records: readonly FingerRecordInput[];
  /** BHT overrides; default ICAO header version 0101, biometric type 08, subtype from the finger position. */
  header?: BiometricHeaderOptions;
}

/** EF.DG3 (encoded fingers). Only write it when fingerprints were captured. */
export function encodeDg3(input: Dg3Input): Uint8Array {
  if (!input || !Array.isArray(input.records) || input.records.length === 0) {
    throw ldsInvalid('records', 'expected at least one finger record');
  }
  return encodeItem(
    groupItem(
      DG3_TAG,
      input.records.map((r) => {
        const positions = new Set<number>((r.fingers ?? []).map((f: { position: number }) => f.position));
        const subtype = positions.size === 1 ? fingerSubtype([...positions][0]!) : 0;
        const header: BiometricHeader = {
          biometricType: BIOMETRIC_TYPE_FINGER,
          ...(subtype ? { biometricSubtype: subtype } : {}),
          ...input.header,
          formatOwner: FORMAT_OWNER_ISO_SC37,
          formatType: FORMAT_TYPE_FINGER_IMAGE,
        };
        return { header, bdb: fingerRecordItem(r) };
      }),
    ),
  );
}

function beNumber(b: Uint8Array): number {
  let n = 0;
  for (const x of b) n = n * 256 + x;
  return n;
}

function decodeHeader(bht: TlvNode, file: string): BiometricHeader {
  const owner = bht.child(FORMAT_OWNER_TAG);
  const type = bht.child(FORMAT_TYPE_TAG);
  if (!owner || !type) throw ldsMalformed(`${file}: BHT without format owner (87) and format type (88)`, { file });
  const h: BiometricHeader = { formatOwner: beNumber(owner.value), formatType: beNumber(type.value) };
  const v = bht.child(ICAO_HEADER_VERSION_TAG);
  h.icaoHeaderVersion = v ? beNumber(v.value) : null;
  const t = bht.child(BIOMETRIC_TYPE_TAG);
  if (t) h.biometricType = beNumber(t.value);
  const st = bht.child(BIOMETRIC_SUBTYPE_TAG);
  if (st) h.biometricSubtype = beNumber(st.value);
  const c = bht.child(CREATION_DATE_TIME_TAG);
  if (c) h.creationDateTime = fromBcd(c.value);
  const vp = bht.child(VALIDITY_PERIOD_TAG);
  if (vp && vp.value.length === 8) h.validityPeriod = { from: fromBcd(vp.value.subarray(0, 4)), to: fromBcd(vp.value.subarray(4)) };
  const cr = bht.child(CREATOR_TAG);
  if (cr) h.creator = cr.value;
  return h;
}

/** Decodes the biometric information group of DG2/DG3/DG4 (`dgTag`), keeping every node's bytes. */
export function decodeBiometricGroup(bytes: Uint8Array, dgTag: number, file = 'DG'): BiometricGroup {
  const node = parseTlvExpect(bytes, dgTag);
  const group = node.child(BIOMETRIC_INFO_GROUP_TAG);
  if (!group) throw ldsMalformed(`${file}: biometric information group template 7F61 missing`, { file });
  const count = group.child(BIOMETRIC_INFO_COUNT_TAG);
  if (!count || count.value.length !== 1) throw ldsMalformed(`${file}: instance count (02) missing`, { file });
  const bits = group.childrenWithTag(BIOMETRIC_INFO_TEMPLATE_TAG);
  if (bits.length !== count.value[0]) {
    throw ldsMalformed(`${file}: count ${count.value[0]} but ${bits.length} biometric information templates`, { file });
  }
  const instances = bits.map((bit): BiometricInstance => {
    const bht = bit.child(BIOMETRIC_HEADER_TEMPLATE_TAG);
    if (!bht) throw ldsMalformed(`${file}: BIT without header template A1`, { file });
    const plain = bit.child(BIOMETRIC_DATA_BLOCK_TAG);
    const enc = bit.child(BIOMETRIC_DATA_BLOCK_ENCIPHERED_TAG);
    const block = plain ?? enc;
    if (!block) throw ldsMalformed(`${file}: BIT without biometric data block`, { file });
    return { header: decodeHeader(bht, file), headerRaw: bht.raw, bdb: block.value, enciphered: !plain, node: bit };
  });
  return { instances, raw: node.raw, node };
}

export function decodeDg2(bytes: Uint8Array): Dg2 {
  const g = decodeBiometricGroup(bytes, DG2_TAG, 'DG2');
  return { ...g, faces: g.instances.filter((i) => !i.enciphered).map((i) => decodeFaceRecord(i.bdb)) };
}

export function decodeDg3(bytes: Uint8Array): Dg3 {
  const g = decodeBiometricGroup(bytes, DG3_TAG, 'DG3');
  return { ...g, fingers: g.instances.filter((i) => !i.enciphered).map((i) => decodeFingerRecord(i.bdb)) };
}

/** The first face image of a DG2 (the portrait), without decoding the rest. */
export function dg2Portrait(dg2: Uint8Array): Uint8Array | undefined {
  const node = parseTlvExpect(dg2, DG2_TAG);
  const bdb = findPath(node, [BIOMETRIC_INFO_GROUP_TAG, BIOMETRIC_INFO_TEMPLATE_TAG, BIOMETRIC_DATA_BLOCK_TAG]);
  return bdb ? decodeFaceRecord(bdb.value).images[0]?.image : undefined;
}
