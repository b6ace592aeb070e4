/**
 * GlobalPlatform Card Specification v2.3.1 (and Amendment D for SCP03 key sets) command builders and parsers.
 * Pure: builders return plain commands (CLA '80'); the SCP03 channel turns them into '84' commands with C-MAC.
 *
 * | command               | CLA   | INS | P1                                | P2                          | data                    | Le |
 * |-----------------------|-------|-----|-----------------------------------|-----------------------------|-------------------------|----|
 * | SELECT (ISD)          | 00    | A4  | 04                                | 00                          | AID / empty             | 00 |
 * | INITIALIZE UPDATE     | 80    | 50  | key version (00 = any)            | 00                          | host challenge (8)      | 00 |
 * | EXTERNAL AUTHENTICATE | 84    | 82  | security level                    | 00                          | host cryptogram + C-MAC | -  |
 * | STORE DATA            | 80/84 | E2  | reference control (below)         | block number 00..FF         | DGIs / BER-TLV          | -  |
 * | SET STATUS            | 80/84 | F0  | 80 ISD, 40 app/SSD, 60 SD + apps  | new life cycle state        | [AID]                   | -  |
 * | PUT KEY               | 80/84 | D8  | b8 more, b7-b1 old KVN (00 = new) | b8 multiple, b7-b1 key id   | KVN + key data fields   | 00 |
 * | GET DATA              | 80/84 | CA  | tag hi (9F)                       | tag lo (7F = CPLC)          | -                       | 00 |
 *
 * STORE DATA P1 (GP 2.3.1 Table 11-89):
 * ```
 *   b8      1 = last block
 *   b7-b6   00 no encryption information, 01 application dependent encryption, 11 encrypted (with the DEK)
 *   b5-b4   00 no structure information, 01 DGI format, 10 BER-TLV format
 *   b1      1 = response data expected (case 4)
 * ```
 * PUT KEY key data field for an SCP03 AES key (GP 2.3.1 §11.8.2.3, Amd D §7.2):
 * ```
 *   '88' (AES) | length of what follows up to the KCV | key length | AES-CBC(DEK, IV 0, key [00 padded])
 *   | '03' | KCV = AES(key, '01' x 16)[0..3)
 * ```
 * CPLC (GET DATA '9F7F', 42 bytes): see {@link Cplc}.
 */
import { concatBytes, fromHex, toHex } from '../shared/index.ts';
import { encodeDgi, encodeTlv, parseTlv } from '../tlv/index.ts';
import { SHORT_MAX_DATA, SHORT_MAX_LE, command, type CommandApdu } from './apdu.ts';
import { aesKcv } from './aes.ts';
import { ApduFormatError } from './errors.ts';
import { selectByAid } from './iso7816.ts';
import { decryptKeyWithDek, encryptKeyWithDek, macEquals, type Scp03Keys } from './scp03.ts';

export const CLA_GP = 0x80;
export const CLA_GP_SECURE = 0x84;

export const INS_INITIALIZE_UPDATE = 0x50;
export const INS_GP_EXTERNAL_AUTHENTICATE = 0x82;
export const INS_STORE_DATA = 0xe2;
export const INS_SET_STATUS = 0xf0;
export const INS_PUT_KEY = 0xd8;
export const INS_GP_GET_DATA = 0xca;
export const INS_GET_STATUS = 0xf2;
export const INS_DELETE = 0xe4;
export const INS_INSTALL = 0xe6;
export const INS_LOAD = 0xe8;

/** Default AID of the Issuer Security Domain (GP 2.3.1 §H.1). */
export const GP_ISD_AID = Uint8Array.of(0xa0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00);

/** STORE DATA P1 bits. */
export const STORE_DATA_LAST_BLOCK = 0x80;
export const STORE_DATA_ENCRYPTION_APPLICATION = 0x20;
export const STORE_DATA_ENCRYPTED = 0x60;
export const STORE_DATA_STRUCTURE_DGI = 0x08;
export const STORE_DATA_STRUCTURE_BER_TLV = 0x10;
export const STORE_DATA_RESPONSE_EXPECTED = 0x01;
/** Highest STORE DATA block number. */
export const STORE_DATA_MAX_BLOCK = 0xff;

/** SET STATUS P1: status type. */
export const SET_STATUS_ISD = 0x80;
export const SET_STATUS_APPLICATION = 0x40;
export const SET_STATUS_SD_AND_APPLICATIONS = 0x60;
/** Card life cycle states (GP 2.3.1 §5.1.1, Table 11-6). */
export const CARD_OP_READY = 0x01;
export const CARD_INITIALIZED = 0x07;
export const CARD_SECURED = 0x0f;
export const CARD_LOCKED = 0x7f;
export const CARD_TERMINATED = 0xff;
/** Application life cycle states (GP 2.3.1 §5.3.1); LOCKED is b8 set on top of the previous state. */
export const APP_INSTALLED = 0x03;
export const APP_SELECTABLE = 0x07;
/** Application-specific "personalized" state (b7-b4 application specific; Kadi's eID applet uses '0F'). */
export const APP_PERSONALIZED = 0x0f;
export const APP_LOCKED = 0x83;
/** SET STATUS P2 to lock (b8 = 1) / unlock an application. */
export const APP_LOCK_BIT = 0x80;

/** PUT KEY bits. */
export const PUT_KEY_MORE_COMMANDS = 0x80;
export const PUT_KEY_MULTIPLE_KEYS = 0x80;
/** Key types (GP 2.3.1 Table 11-16). */
export const KEY_TYPE_DES = 0x80;
export const KEY_TYPE_AES = 0x88;
/** Length of key check values. */
export const KCV_LENGTH = 3;

/** GET DATA tags. */
export const TAG_CPLC = 0x9f7f;
export const TAG_CARD_RECOGNITION_DATA = 0x0066;
export const TAG_KEY_INFORMATION_TEMPLATE = 0x00e0;
export const TAG_IIN = 0x0042;
export const TAG_CIN = 0x0045;
export const TAG_SEQUENCE_COUNTER = 0x00c1;
/** Length of CPLC data. */
export const CPLC_LENGTH = 42;

// -------------------------------------------------------------------------------------------------------------

/** SELECT the Issuer Security Domain (default GP AID), asking for its FCI. */
export function selectIsd(aid: Uint8Array = GP_ISD_AID): CommandApdu {
  return selectByAid(aid, { response: 'fci' });
}

/** INITIALIZE UPDATE (80 50 KVN 00 08 host-challenge 00). */
export function initializeUpdate(keyVersion: number, hostChallenge: Uint8Array): CommandApdu {
  return command(CLA_GP, INS_INITIALIZE_UPDATE, keyVersion, 0x00, hostChallenge, SHORT_MAX_LE);
}

/**
 * EXTERNAL AUTHENTICATE, plain (80 82 level 00 cryptogram): the SCP03 channel adds the C-MAC. Normally built by
 * `Scp03Channel.externalAuthenticate` / `openScp03Host`, which do both.
 */
export function externalAuthenticate(securityLevel: number, hostCryptogram: Uint8Array): CommandApdu {
  return command(CLA_GP, INS_GP_EXTERNAL_AUTHENTICATE, securityLevel, 0x00, hostCryptogram);
}

export interface StoreDataOptions {
  /** Last block of the sequence (P1 b8). */
  last: boolean;
  structure?: 'none' | 'dgi' | 'ber-tlv';
  encryption?: 'none' | 'application' | 'encrypted';
  responseExpected?: boolean;
}

/** The STORE DATA P1 byte. */
export function storeDataP1(o: StoreDataOptions): number {
  let p1 = o.last ? STORE_DATA_LAST_BLOCK : 0;
  if (o.encryption === 'application') p1 |= STORE_DATA_ENCRYPTION_APPLICATION;
  if (o.encryption === 'encrypted') p1 |= STORE_DATA_ENCRYPTED;
  if (o.structure === 'dgi') p1 |= STORE_DATA_STRUCTURE_DGI;
  if (o.structure === 'ber-tlv') p1 |= STORE_DATA_STRUCTURE_BER_TLV;
  if (o.responseExpected) p1 |= STORE_DATA_RESPONSE_EXPECTED;
  return p1;
}

/** One STORE DATA command (block number 0..255). */
export function storeData(blockNumber: number, data: Uint8Array, opts: StoreDataOptions): CommandApdu {
  if (!Number.isInteger(blockNumber) || blockNumber < 0 || blockNumber > STORE_DATA_MAX_BLOCK) {
    throw new ApduFormatError(`STORE DATA block number ${blockNumber} outside 0..255`);
  }
  return command(CLA_GP, INS_STORE_DATA, storeDataP1(opts), blockNumber, data, opts.responseExpected ? SHORT_MAX_LE : undefined);
}

/** One DGI to personalize. */
export interface DgiData {
  dgi: number;
  data: Uint8Array;
}

/**
 * STORE DATA commands (DGI format) for a list of DGIs: whole DGIs are packed into blocks of at most
 * `maxCommandData` bytes; a DGI larger than a block starts a new block and continues over the following ones.
 * Blocks are numbered from `firstBlock` (default 0); the last has P1 b8 set.
 */
export function storeDataDgis(
  dgis: readonly DgiData[],
  opts: { maxCommandData?: number; firstBlock?: number; encryption?: 'none' | 'application' | 'encrypted' } = {},
): CommandApdu[] {
  const max = opts.maxCommandData ?? SHORT_MAX_DATA;
  const blocks: Uint8Array[] = [];
  let current: Uint8Array[] = [];
  let currentLen = 0;
  const flush = () => {
    if (currentLen > 0) blocks.push(concatBytes(...current));
    current = [];
    currentLen = 0;
  };
  for (const d of dgis) {
    const enc = encodeDgi(d.dgi, d.data);
    if (enc.length > max) {
      flush();
      for (let o = 0; o < enc.length; o += max) {
        const part = enc.subarray(o, Math.min(o + max, enc.length));
        if (part.length === max) blocks.push(part);
        else {
          current = [part];
          currentLen = part.length;
        }
      }
      continue;
    }
    if (currentLen + enc.length > max) flush();
    current.push(enc);
    currentLen += enc.length;
  }
  flush();
  const first = opts.firstBlock ?? 0;
  if (first + blocks.length - 1 > STORE_DATA_MAX_BLOCK) throw new ApduFormatError(`${blocks.length} STORE DATA blocks exceed 256`);
  return blocks.map((b, i) =>
    storeData(first + i, b, {
      last: i === blocks.length - 1,
      structure: 'dgi',
      ...(opts.encryption ? { encryption: opts.encryption } : {}),
    }),
  );
}

/** SET STATUS: `type` is SET_STATUS_ISD / _APPLICATION / _SD_AND_APPLICATIONS; `aid` for application types. */
export function setStatus(type: number, state: number, aid?: Uint8Array): CommandApdu {
  return command(CLA_GP, INS_SET_STATUS, type, state, aid);
}

/** SET STATUS of the card life cycle (ISD), e.g. CARD_SECURED, CARD_LOCKED. */
export function setCardStatus(state: number): CommandApdu {
  return setStatus(SET_STATUS_ISD, state);
}

/** SET STATUS of an application's life cycle, e.g. APP_LOCKED (lock) or APP_PERSONALIZED. */
export function setApplicationStatus(aid: Uint8Array, state: number): CommandApdu {
  return setStatus(SET_STATUS_APPLICATION, state, aid);
}

/** GET DATA (GP, CLA 80) of a tag. */
export function gpGetData(tag: number): CommandApdu {
  return command(CLA_GP, INS_GP_GET_DATA, (tag >>> 8) & 0xff, tag & 0xff, undefined, SHORT_MAX_LE);
}

/** GET DATA CPLC (80 CA 9F 7F 00). */
export function getCplc(): CommandApdu {
  return gpGetData(TAG_CPLC);
}

// -------------------------------------------------------------------------------------------------------------
// PUT KEY

/** One AES key data field of PUT KEY. */
export function aesKeyDataField(dek: Uint8Array, key: Uint8Array): Uint8Array {
  const block = encryptKeyWithDek(dek, key);
  return concatBytes(Uint8Array.of(KEY_TYPE_AES, block.length), block, Uint8Array.of(KCV_LENGTH), aesKcv(key, KCV_LENGTH));
}

/**
 * PUT KEY of a full SCP03 key set (ENC, MAC, DEK as key ids 1, 2, 3), each encrypted with the current DEK.
 * `replaceKeyVersion` 0 (default) adds a new key set; otherwise the set with that version is replaced.
 * Returns the command and the response the card must give (new KVN || the three KCVs) for {@link checkPutKeyResponse}.
 */
export function putScp03KeySet(args: {
  currentDek: Uint8Array;
  newKeys: Scp03Keys;
  newKeyVersion: number;
  replaceKeyVersion?: number;
}): { command: CommandApdu; expectedResponse: Uint8Array } {
  const { currentDek: dek, newKeys: k } = args;
  const old = args.replaceKeyVersion ?? 0;
  if (old < 0 || old > 0x7f || args.newKeyVersion < 1 || args.newKeyVersion > 0x7f) {
    throw new ApduFormatError('key versions must be 1..127 (old: 0 = new set)');
  }
  const data = concatBytes(
    Uint8Array.of(args.newKeyVersion),
    aesKeyDataField(dek, k.enc),
    aesKeyDataField(dek, k.mac),
    aesKeyDataField(dek, k.dek),
  );
  return {
    command: command(CLA_GP, INS_PUT_KEY, old, PUT_KEY_MULTIPLE_KEYS | 0x01, data, SHORT_MAX_LE),
    expectedResponse: concatBytes(Uint8Array.of(args.newKeyVersion), aesKcv(k.enc), aesKcv(k.mac), aesKcv(k.dek)),
  };
}

/** Checks a PUT KEY response against what {@link putScp03KeySet} said to expect. */
export function checkPutKeyResponse(data: Uint8Array, expected: Uint8Array): void {
  if (!macEquals(data, expected)) throw new ApduFormatError('PUT KEY response does not confirm the new key check values');
}

/** A key decoded from PUT KEY data (card side). */
export interface PutKeyEntry {
  type: number;
  key: Uint8Array;
  kcv: Uint8Array;
}

/**
 * Card side: decodes PUT KEY data (new KVN + AES key data fields), decrypting each key with the DEK and verifying
 * its KCV. Throws {@link ApduFormatError} on malformed data or a KCV mismatch (answer '6A80').
 */
export function parsePutKeyData(data: Uint8Array, dek: Uint8Array): { keyVersion: number; keys: PutKeyEntry[] } {
  if (data.length < 1) throw new ApduFormatError('empty PUT KEY data');
  const keys: PutKeyEntry[] = [];
  let at = 1;
  while (at < data.length) {
    const type = data[at]!;
    const len = data[at + 1];
    if (len === undefined || at + 2 + len + 1 > data.length) throw new ApduFormatError('truncated PUT KEY key data field');
    const block = data.subarray(at + 2, at + 2 + len);
    const kcvLen = data[at + 2 + len]!;
    const kcv = data.subarray(at + 3 + len, at + 3 + len + kcvLen);
    if (kcv.length !== kcvLen) throw new ApduFormatError('truncated PUT KEY check value');
    if (type !== KEY_TYPE_AES) throw new ApduFormatError(`PUT KEY key type ${type.toString(16)} not supported (88 = AES)`);
    const key = decryptKeyWithDek(dek, block);
    if (kcvLen > 0 && !macEquals(aesKcv(key, kcvLen), kcv)) throw new ApduFormatError('PUT KEY check value does not match the key');
    keys.push({ type, key, kcv: kcv.slice() });
    at += 3 + len + kcvLen;
  }
  return { keyVersion: data[0]!, keys };
}

// -------------------------------------------------------------------------------------------------------------
// CPLC

/**
 * Card Production Life Cycle data (GET DATA '9F7F', 42 bytes; layout of the Visa GlobalPlatform Card
 * Implementation Requirements, read the same way by GlobalPlatformPro and pySim). Dates are 2-byte "YDDD" BCD (last
 * digit of the year, day of the year); all fields are kept as upper-case hex.
 * ```
 *   IC fabricator 2 | IC type 2 | OS identifier 2 | OS release date 2 | OS release level 2 |
 *   IC fabrication date 2 | IC serial number 4 | IC batch identifier 2 | IC module fabricator 2 |
 *   IC module packaging date 2 | ICC manufacturer 2 | IC embedding date 2 | IC pre-personalizer 2 |
 *   IC pre-perso equipment date 2 | IC pre-perso equipment id 4 | IC personalizer 2 |
 *   IC personalization date 2 | IC perso equipment id 4
 * ```
 */
export interface Cplc {
  icFabricator: string;
  icType: string;
  operatingSystemId: string;
  operatingSystemReleaseDate: string;
  operatingSystemReleaseLevel: string;
  icFabricationDate: string;
  icSerialNumber: string;
  icBatchIdentifier: string;
  icModuleFabricator: string;
  icModulePackagingDate: string;
  iccManufacturer: string;
  icEmbeddingDate: string;
  icPrePersonalizer: string;
  icPrePersonalizationEquipmentDate: string;
  icPrePersonalizationEquipmentId: string;
  icPersonalizer: string;
  icPersonalizationDate: string;
  icPersonalizationEquipmentId: string;
}

const CPLC_FIELDS: ReadonlyArray<readonly [keyof Cplc, number]> = [
  ['icFabricator', 2],
  ['icType', 2],
  ['operatingSystemId', 2],
  ['operatingSystemReleaseDate', 2],
  ['operatingSystemReleaseLevel', 2],
  ['icFabricationDate', 2],
  ['icSerialNumber', 4],
  ['icBatchIdentifier', 2],
  ['icModuleFabricator', 2],
  ['icModulePackagingDate', 2],
  ['iccManufacturer', 2],
  ['icEmbeddingDate', 2],
  ['icPrePersonalizer', 2],
  ['icPrePersonalizationEquipmentDate', 2],
  ['icPrePersonalizationEquipmentId', 4],
  ['icPersonalizer', 2],
  ['icPersonalizationDate', 2],
  ['icPersonalizationEquipmentId', 4],
];

/** Parses CPLC data: the GET DATA response with its '9F7F' header, or the 42 bytes alone. */
export function parseCplc(bytes: Uint8Array): Cplc {
  let v = bytes;
  if (bytes.length !== CPLC_LENGTH) {
    const n = parseTlv(bytes, { recurse: false });
    if (n.tag !== TAG_CPLC) throw new ApduFormatError(`CPLC tag ${n.tag.toString(16)} (9F7F expected)`);
    v = n.value;
  }
  if (v.length !== CPLC_LENGTH) throw new ApduFormatError(`CPLC of ${v.length} bytes (42 expected)`);
  const out: Partial<Cplc> = {};
  let at = 0;
  for (const [name, len] of CPLC_FIELDS) {
    out[name] = toHex(v.subarray(at, at + len)).toUpperCase();
    at += len;
  }
  return out as Cplc;
}

/** Encodes CPLC (card side) as the GET DATA response '9F7F 2A ...'. Missing fields are zero. */
export function encodeCplc(c: Partial<Cplc>): Uint8Array {
  const v = new Uint8Array(CPLC_LENGTH);
  let at = 0;
  for (const [name, len] of CPLC_FIELDS) {
    const hex = c[name];
    if (hex !== undefined) {
      if (!new RegExp(`^[0-9A-Fa-f]{${len * 2}}$`).test(hex)) throw new ApduFormatError(`CPLC ${name} must be ${len} bytes of hex`);
      v.set(fromHex(hex), at);
    }
    at += len;
  }
  return encodeTlv(TAG_CPLC, v);
}

/**
 * Kadi's chip serial: IC fabricator || IC type || IC batch identifier || IC serial number (10 bytes, upper-case
 * hex). Unique per chip; also what Kadi cards put in the key diversification data of INITIALIZE UPDATE.
 */
export function cplcChipSerial(c: Cplc): string {
  return c.icFabricator + c.icType + c.icBatchIdentifier + c.icSerialNumber;
}

/** The 10-byte key diversification data for a chip serial ({@link cplcChipSerial}). */
export function keyDiversificationDataOf(chipSerial: string): Uint8Array {
  if (!/^[0-9A-Fa-f]{20}$/.test(chipSerial)) throw new ApduFormatError('chip serial must be 10 bytes of hex');
  return fromHex(chipSerial);
}

/** Human names of GP instructions, for errors and traces. */
export const GP_INS_NAMES: Readonly<Record<number, string>> = {
  [INS_INITIALIZE_UPDATE]: 'INITIALIZE UPDATE',
  [INS_STORE_DATA]: 'STORE DATA',
  [INS_SET_STATUS]: 'SET STATUS',
  [INS_PUT_KEY]: 'PUT KEY',
  [INS_GET_STATUS]: 'GET STATUS',
  [INS_DELETE]: 'DELETE',
  [INS_INSTALL]: 'INSTALL',
  [INS_LOAD]: 'LOAD',
};
