/**
 * SecurityInfos: EF.DG14 (security options, ICAO Doc 9303-10 §4.7.14) and EF.CardAccess (9303-11 §9.2.1),
 * ASN.1 from 9303-11 §9.2 and BSI TR-03110:
 * ```
 *   SecurityInfos ::= SET OF SecurityInfo
 *   SecurityInfo ::= SEQUENCE {
 *     protocol     OBJECT IDENTIFIER,
 *     requiredData ANY DEFINED BY protocol,
 *     optionalData ANY DEFINED BY protocol OPTIONAL }
 *
 *   PACEInfo ::= SEQUENCE {
 *     protocol    OBJECT IDENTIFIER (id-PACE-DH-GM-* | id-PACE-ECDH-GM-* | id-PACE-DH-IM-* |
 *                                    id-PACE-ECDH-IM-* | id-PACE-ECDH-CAM-*),
 *     version     INTEGER,                 -- SHOULD be 2
 *     parameterId INTEGER OPTIONAL }       -- standardized domain parameters (9303-11 §9.5.1), e.g. 12 = NIST P-256
 *   ChipAuthenticationInfo ::= SEQUENCE {
 *     protocol OBJECT IDENTIFIER (id-CA-DH-* | id-CA-ECDH-*),
 *     version  INTEGER,                    -- MUST be 1 (CA version 1)
 *     keyId    INTEGER OPTIONAL }
 *   ChipAuthenticationPublicKeyInfo ::= SEQUENCE {
 *     protocol                   OBJECT IDENTIFIER (id-PK-DH | id-PK-ECDH),
 *     chipAuthenticationPublicKey SubjectPublicKeyInfo,
 *     keyId                      INTEGER OPTIONAL }
 *   ActiveAuthenticationInfo ::= SEQUENCE {
 *     protocol           id-AA,            -- 2.23.136.1.1.5
 *     version            INTEGER,          -- MUST be 1
 *     signatureAlgorithm OBJECT IDENTIFIER }   -- ECDSA AA only, e.g. ecdsa-with-SHA256
 *   TerminalAuthenticationInfo ::= SEQUENCE {
 *     protocol id-TA, version INTEGER, efCVCA FileID OPTIONAL }
 *
 *   bsi-de        OBJECT IDENTIFIER ::= { itu-t(0) identified-organization(4) etsi(0) reserved(127)
 *                                         etsi-identified-organization(0) 7 }
 *   id-PK         ::= { bsi-de protocols(2) smartcard(2) 1 }    id-PK-DH { id-PK 1 }    id-PK-ECDH { id-PK 2 }
 *   id-TA         ::= { bsi-de protocols(2) smartcard(2) 2 }
 *   id-CA         ::= { bsi-de protocols(2) smartcard(2) 3 }    id-CA-DH { id-CA 1 }    id-CA-ECDH { id-CA 2 }
 *   id-PACE       ::= { bsi-de protocols(2) smartcard(2) 4 }    DH-GM 1, ECDH-GM 2, DH-IM 3, ECDH-IM 4, ECDH-CAM 6
 *   cipher suffix:  1 = 3DES-CBC-CBC, 2 = AES-CBC-CMAC-128, 3 = AES-CBC-CMAC-192, 4 = AES-CBC-CMAC-256
 * ```
 * DG14 wraps the DER SET in tag 6E; EF.CardAccess is the bare SET. Kadi writes DER (SET OF sorted). Decoders keep
 * each SecurityInfo's bytes as read and never re-encode what they read: hash DG14 as read, not a re-encoding.
 */
import {
  DER_SEQUENCE,
  DER_SET,
  type TlvItem,
  type TlvNode,
  constructed,
  derInteger,
  derOid,
  derSequence,
  derSetOf,
  encodeItem,
  parseTlv,
  parseTlvExpect,
  rawItem,
  readInteger,
  readOid,
} from '../tlv/index.ts';
import { ldsInvalid, ldsMalformed } from './errors.ts';
import { type PublicKeyInfo, decodePublicKeyInfo, readPublicKeyInfo } from './public-key.ts';
import { DG14_TAG } from './tags.ts';

export const OID_BSI_DE = '0.4.0.127.0.7';
export const OID_PK = `${OID_BSI_DE}.2.2.1`;
export const OID_PK_DH = `${OID_PK}.1`;
export const OID_PK_ECDH = `${OID_PK}.2`;
export const OID_TA = `${OID_BSI_DE}.2.2.2`;
export const OID_CA = `${OID_BSI_DE}.2.2.3`;
export const OID_CA_DH = `${OID_CA}.1`;
export const OID_CA_ECDH = `${OID_CA}.2`;
export const OID_PACE = `${OID_BSI_DE}.2.2.4`;
export const OID_PACE_DH_GM = `${OID_PACE}.1`;
export const OID_PACE_ECDH_GM = `${OID_PACE}.2`;
export const OID_PACE_DH_IM = `${OID_PACE}.3`;
export const OID_PACE_ECDH_IM = `${OID_PACE}.4`;
export const OID_PACE_ECDH_CAM = `${OID_PACE}.6`;
/** Cipher suffixes of CA and PACE protocol OIDs. */
export const CIPHER_3DES_CBC_CBC = 1;
export const CIPHER_AES_CBC_CMAC_128 = 2;
export const CIPHER_AES_CBC_CMAC_192 = 3;
export const CIPHER_AES_CBC_CMAC_256 = 4;
/** Active Authentication, 9303-11 §6.1. */
export const OID_AA = '2.23.136.1.1.5';
export const OID_ECDSA_WITH_SHA1 = '1.2.840.10045.4.1';
export const OID_ECDSA_WITH_SHA224 = '1.2.840.10045.4.3.1';
export const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
export const OID_ECDSA_WITH_SHA384 = '1.2.840.10045.4.3.3';
export const OID_ECDSA_WITH_SHA512 = '1.2.840.10045.4.3.4';

/** Standardized domain parameter identifiers for PACE, 9303-11 §9.5.1. */
export const PACE_PARAMETER_ID = {
  MODP_1024_160: 0,
  MODP_2048_224: 1,
  MODP_2048_256: 2,
  NIST_P192: 8,
  BRAINPOOL_P192R1: 9,
  NIST_P224: 10,
  BRAINPOOL_P224R1: 11,
  NIST_P256: 12,
  BRAINPOOL_P256R1: 13,
  BRAINPOOL_P320R1: 14,
  NIST_P384: 15,
  BRAINPOOL_P384R1: 16,
  BRAINPOOL_P512R1: 17,
  NIST_P521: 18,
} as const;

export interface PaceInfo {
  type: 'PACEInfo';
  protocol: string;
  version: number;
  parameterId?: number;
}
export interface ChipAuthenticationInfo {
  type: 'ChipAuthenticationInfo';
  protocol: string;
  version: number;
  keyId?: number;
}
export interface ChipAuthenticationPublicKeyInfo {
  type: 'ChipAuthenticationPublicKeyInfo';
  protocol: string;
  /** SubjectPublicKeyInfo DER. */
  publicKey: Uint8Array;
  keyId?: number;
}
export interface ActiveAuthenticationInfo {
  type: 'ActiveAuthenticationInfo';
  protocol: string;
  version: number;
  signatureAlgorithm: string;
}
export interface TerminalAuthenticationInfo {
  type: 'TerminalAuthenticationInfo';
  protocol: string;
  version: number;
}
/** Any other SecurityInfo (domain parameter infos, vendor infos, ...), written and read as raw DER. */
export interface OtherSecurityInfo {
  type: 'other';
  protocol: string;
  /** The whole SecurityInfo SEQUENCE, DER. */
  der: Uint8Array;
}

export type SecurityInfo =
  | PaceInfo
  | ChipAuthenticationInfo
  | ChipAuthenticationPublicKeyInfo
  | ActiveAuthenticationInfo
  | TerminalAuthenticationInfo
  | OtherSecurityInfo;

/** A SecurityInfo as read: the decoded value plus its bytes. */
export type DecodedSecurityInfo = SecurityInfo & {
  /** The SecurityInfo as read (view). */
  raw: Uint8Array;
  /** For ChipAuthenticationPublicKeyInfo: the parsed key. */
  key?: PublicKeyInfo;
};

export interface SecurityInfos {
  infos: DecodedSecurityInfo[];
  /** The SET as read. */
  setRaw: Uint8Array;
  /** The file as read (the 6E template for DG14, the SET for EF.CardAccess). */
  raw: Uint8Array;
}

const childOf = (prefix: string, oid: string, extraArcs: number): boolean =>
  oid.startsWith(`${prefix}.`) && oid.slice(prefix.length + 1).split('.').length === extraArcs;

/** Kind of SecurityInfo a protocol OID announces. */
export function securityInfoType(protocol: string): SecurityInfo['type'] {
  if (childOf(OID_PACE, protocol, 2)) return 'PACEInfo';
  if (childOf(OID_CA, protocol, 2)) return 'ChipAuthenticationInfo';
  if (protocol === OID_PK_DH || protocol === OID_PK_ECDH) return 'ChipAuthenticationPublicKeyInfo';
  if (protocol === OID_AA) return 'ActiveAuthenticationInfo';
  if (protocol === OID_TA) return 'TerminalAuthenticationInfo';
  return 'other';
}

function optionalInt(n: number | undefined, field: string): TlvItem[] {
  if (n === undefined) return [];
  if (!Number.isSafeInteger(n) || n < 0) throw ldsInvalid(field, 'expected a non-negative integer');
  return [derInteger(n)];
}

function requireType(info: SecurityInfo): void {
  if (info.type !== 'other' && securityInfoType(info.protocol) !== info.type) {
    throw ldsInvalid('protocol', `protocol OID does not belong to ${info.type}`);
  }
}

function securityInfoItem(info: SecurityInfo): TlvItem {
  if (!info || typeof info !== 'object' || typeof info.protocol !== 'string') throw ldsInvalid('securityInfo', 'expected a SecurityInfo');
  requireType(info);
  switch (info.type) {
    case 'PACEInfo':
      return derSequence([derOid(info.protocol), derInteger(info.version), ...optionalInt(info.parameterId, 'parameterId')]);
    case 'ChipAuthenticationInfo':
      return derSequence([derOid(info.protocol), derInteger(info.version), ...optionalInt(info.keyId, 'keyId')]);
    case 'ChipAuthenticationPublicKeyInfo':
      decodePublicKeyInfo(info.publicKey, 'ChipAuthenticationPublicKeyInfo');
      return derSequence([derOid(info.protocol), rawItem(info.publicKey), ...optionalInt(info.keyId, 'keyId')]);
    case 'ActiveAuthenticationInfo':
      return derSequence([derOid(info.protocol), derInteger(info.version), derOid(info.signatureAlgorithm)]);
    case 'TerminalAuthenticationInfo':
      return derSequence([derOid(info.protocol), derInteger(info.version)]);
    case 'other': {
      const n = parseTlv(info.der);
      if (n.tag !== DER_SEQUENCE || readOid(n.children[0] ?? n, 'protocol') !== info.protocol) {
        throw ldsInvalid('der', 'expected a SecurityInfo SEQUENCE starting with the protocol OID');
      }
      return rawItem(info.der);
    }
  }
}

/** SecurityInfos as a DER SET OF (components sorted), the content of EF.CardAccess. */
export function encodeSecurityInfos(infos: readonly SecurityInfo[]): Uint8Array {
  return encodeItem(securityInfosItem(infos));
}

function securityInfosItem(infos: readonly SecurityInfo[]): TlvItem {
  if (!Array.isArray(infos) || infos.length === 0) throw ldsInvalid('securityInfos', 'expected at least one SecurityInfo');
  return derSetOf(infos.map(securityInfoItem), DER_SET);
}

/** EF.DG14: 6E { SecurityInfos }. */
export function encodeDg14(infos: readonly SecurityInfo[]): Uint8Array {
  return encodeItem(constructed(DG14_TAG, [securityInfosItem(infos)]));
}

/** EF.CardAccess: the bare SecurityInfos SET (normally PACEInfo only). */
export function encodeCardAccess(infos: readonly SecurityInfo[]): Uint8Array {
  return encodeSecurityInfos(infos);
}

function decodeInfo(n: TlvNode, file: string): DecodedSecurityInfo {
  const bad = (what: string): Error => ldsMalformed(`${file}: ${what}`, { file, offset: n.offset });
  if (n.tag !== DER_SEQUENCE || n.children.length < 1) throw bad('SecurityInfo is not a SEQUENCE');
  const [oidNode, a, b] = n.children;
  const protocol = readOid(oidNode!, 'protocol');
  const type = securityInfoType(protocol);
  const other = (): DecodedSecurityInfo => ({ type: 'other', protocol, der: n.raw, raw: n.raw });
  switch (type) {
    case 'PACEInfo':
      if (!a || n.children.length > 3) throw bad('PACEInfo has a bad shape');
      return {
        type,
        protocol,
        version: readInteger(a, 'PACEInfo.version'),
        ...(b ? { parameterId: readInteger(b, 'PACEInfo.parameterId') } : {}),
        raw: n.raw,
      };
    case 'ChipAuthenticationInfo':
      if (!a || n.children.length > 3) throw bad('ChipAuthenticationInfo has a bad shape');
      return {
        type,
        protocol,
        version: readInteger(a, 'ChipAuthenticationInfo.version'),
        ...(b ? { keyId: readInteger(b, 'ChipAuthenticationInfo.keyId') } : {}),
        raw: n.raw,
      };
    case 'ChipAuthenticationPublicKeyInfo': {
      if (!a || n.children.length > 3) throw bad('ChipAuthenticationPublicKeyInfo has a bad shape');
      const key = readPublicKeyInfo(a, file);
      return {
        type,
        protocol,
        publicKey: a.raw,
        ...(b ? { keyId: readInteger(b, 'ChipAuthenticationPublicKeyInfo.keyId') } : {}),
        key,
        raw: n.raw,
      };
    }
    case 'ActiveAuthenticationInfo':
      if (!a || !b || n.children.length > 3) throw bad('ActiveAuthenticationInfo has a bad shape');
      return {
        type,
        protocol,
        version: readInteger(a, 'ActiveAuthenticationInfo.version'),
        signatureAlgorithm: readOid(b, 'ActiveAuthenticationInfo.signatureAlgorithm'),
        raw: n.raw,
      };
    case 'TerminalAuthenticationInfo':
      if (!a) throw bad('TerminalAuthenticationInfo has a bad shape');
      return { type, protocol, version: readInteger(a, 'TerminalAuthenticationInfo.version'), raw: n.raw };
    default:
      return other();
  }
}

function decodeSet(set: TlvNode, file: string): DecodedSecurityInfo[] {
  if (set.tag !== DER_SET) throw ldsMalformed(`${file}: SecurityInfos is not a SET`, { file });
  return set.children.map((c) => decodeInfo(c, file));
}

/** Decodes a bare SecurityInfos SET (EF.CardAccess, or the eContent of EF.CardSecurity). */
export function decodeSecurityInfos(bytes: Uint8Array, file = 'SecurityInfos'): SecurityInfos {
  const set = parseTlv(bytes);
  return { infos: decodeSet(set, file), setRaw: set.raw, raw: set.raw };
}

export function decodeCardAccess(bytes: Uint8Array): SecurityInfos {
  return decodeSecurityInfos(bytes, 'EF.CardAccess');
}

export function decodeDg14(bytes: Uint8Array): SecurityInfos {
  const node = parseTlvExpect(bytes, DG14_TAG);
  const set = node.children[0];
  if (!set || node.children.length !== 1) throw ldsMalformed('DG14: expected one SecurityInfos SET', { file: 'DG14' });
  return { infos: decodeSet(set, 'DG14'), setRaw: set.raw, raw: node.raw };
}
