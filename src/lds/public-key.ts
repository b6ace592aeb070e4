/**
 * SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) for the chip's public keys: the Active Authentication key in DG15 and
 * the Chip Authentication key in DG14.
 * ```
 *   SubjectPublicKeyInfo ::= SEQUENCE {
 *     algorithm         AlgorithmIdentifier,      -- SEQUENCE { algorithm OID, parameters ANY OPTIONAL }
 *     subjectPublicKey  BIT STRING }
 *   EC   (RFC 5480): algorithm id-ecPublicKey 1.2.840.10045.2.1, parameters namedCurve OID (or explicit
 *        ECParameters); subjectPublicKey = uncompressed point 04 || X || Y
 *   RSA  (RFC 3279 §2.3.1): algorithm rsaEncryption 1.2.840.113549.1.1.1, parameters NULL;
 *        subjectPublicKey = RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
 * ```
 * Keys come from the HSM or the chip as SPKI DER; the builders here are for tests and for chips that return raw
 * points or moduli.
 */
import {
  DER_NULL,
  DER_OID,
  DER_SEQUENCE,
  type TlvNode,
  derAlgorithmIdentifier,
  derBitString,
  derNull,
  derOid,
  derSequence,
  derUnsignedInteger,
  decodeOidContent,
  encodeItem,
  parseTlv,
  readBitString,
  readInteger,
  readOid,
  unsignedIntegerBytes,
  expectTag,
  DER_INTEGER,
} from '../tlv/index.ts';
import { ldsInvalid, ldsMalformed } from './errors.ts';

export const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
export const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
export const OID_DH_PUBLIC_NUMBER = '1.2.840.10046.2.1';
/**
 * BSI TR-03110 `standardizedDomainParameters` ({bsi-de algorithms(1) 2}): an AlgorithmIdentifier whose parameters
 * are an INTEGER naming standardized domain parameters (9303-11 §9.5.1: 0-2 MODP groups, 8-18 elliptic curves).
 * Chip Authentication keys in EF.CardSecurity / DG14 of German and Finnish cards use it.
 */
export const OID_STANDARDIZED_DOMAIN_PARAMETERS = '0.4.0.127.0.7.1.2';
export const OID_CURVE_P256 = '1.2.840.10045.3.1.7';
export const OID_CURVE_P384 = '1.3.132.0.34';
export const OID_CURVE_P521 = '1.3.132.0.35';
export const OID_CURVE_BRAINPOOL_P256R1 = '1.3.36.3.3.2.8.1.1.7';
export const OID_CURVE_BRAINPOOL_P384R1 = '1.3.36.3.3.2.8.1.1.11';
export const OID_CURVE_BRAINPOOL_P512R1 = '1.3.36.3.3.2.8.1.1.13';

export type NamedCurve = 'P-256' | 'P-384' | 'P-521' | 'brainpoolP256r1' | 'brainpoolP384r1' | 'brainpoolP512r1';

export const CURVE_OIDS: Readonly<Record<NamedCurve, string>> = {
  'P-256': OID_CURVE_P256,
  'P-384': OID_CURVE_P384,
  'P-521': OID_CURVE_P521,
  brainpoolP256r1: OID_CURVE_BRAINPOOL_P256R1,
  brainpoolP384r1: OID_CURVE_BRAINPOOL_P384R1,
  brainpoolP512r1: OID_CURVE_BRAINPOOL_P512R1,
};

const CURVE_FIELD_BYTES: Readonly<Record<NamedCurve, number>> = {
  'P-256': 32,
  'P-384': 48,
  'P-521': 66,
  brainpoolP256r1: 32,
  brainpoolP384r1: 48,
  brainpoolP512r1: 64,
};

export interface PublicKeyInfo {
  /** The SubjectPublicKeyInfo as read. */
  spki: Uint8Array;
  algorithm: string;
  /** The algorithm parameters as read (named curve OID, NULL, explicit domain parameters), if any. */
  parameters?: TlvNode;
  keyType: 'ec' | 'rsa' | 'dh' | 'other';
  /** Named curve OID when the parameters are one. */
  curve?: string;
  /** Standardized domain parameter id when the algorithm is {@link OID_STANDARDIZED_DOMAIN_PARAMETERS}. */
  standardizedDomainParameterId?: number;
  /** EC: the encoded point (view). */
  ecPoint?: Uint8Array;
  /** RSA: modulus and public exponent, unsigned big-endian (views). */
  rsa?: { modulus: Uint8Array; exponent: Uint8Array };
  /** The subjectPublicKey BIT STRING content (view). */
  publicKey: Uint8Array;
}

/** SPKI of an EC key on a named curve from its uncompressed point (04 || X || Y). */
export function ecPublicKeySpki(curve: NamedCurve, point: Uint8Array): Uint8Array {
  const oid = CURVE_OIDS[curve];
  if (!oid) throw ldsInvalid('curve', `expected one of ${Object.keys(CURVE_OIDS).join(', ')}`);
  const n = CURVE_FIELD_BYTES[curve];
  if (!(point instanceof Uint8Array) || point.length !== 1 + 2 * n || point[0] !== 0x04) {
    throw ldsInvalid('point', `expected an uncompressed point of ${1 + 2 * n} bytes`);
  }
  return encodeItem(derSequence([derAlgorithmIdentifier(OID_EC_PUBLIC_KEY, derOid(oid)), derBitString(point)]));
}

/** SPKI of an RSA key from modulus and exponent (unsigned big-endian). */
export function rsaPublicKeySpki(modulus: Uint8Array, exponent: Uint8Array): Uint8Array {
  if (!(modulus instanceof Uint8Array) || modulus.length < 64) throw ldsInvalid('modulus', 'expected at least 512 bits');
  if (!(exponent instanceof Uint8Array) || exponent.length === 0) throw ldsInvalid('exponent', 'expected bytes');
  const rsaKey = encodeItem(derSequence([derUnsignedInteger(modulus), derUnsignedInteger(exponent)]));
  return encodeItem(derSequence([derAlgorithmIdentifier(OID_RSA_ENCRYPTION, derNull()), derBitString(rsaKey)]));
}

/** Parses a SubjectPublicKeyInfo node (LDS_MALFORMED when it is not one). */
export function readPublicKeyInfo(node: TlvNode, file: string): PublicKeyInfo {
  const bad = (what: string): Error => ldsMalformed(`${file}: SubjectPublicKeyInfo ${what}`, { file });
  if (node.tag !== DER_SEQUENCE || node.children.length !== 2) throw bad('is not a SEQUENCE of 2');
  const [alg, key] = node.children as [TlvNode, TlvNode];
  if (alg.tag !== DER_SEQUENCE || alg.children.length < 1 || alg.children.length > 2) throw bad('has a bad AlgorithmIdentifier');
  const algorithm = readOid(alg.children[0]!, 'algorithm');
  const parameters = alg.children[1];
  const { unusedBits, bytes } = readBitString(key, 'subjectPublicKey');
  if (unusedBits !== 0) throw bad('key has unused bits');
  const info: PublicKeyInfo = { spki: node.raw, algorithm, keyType: 'other', publicKey: bytes };
  if (parameters) info.parameters = parameters;
  if (algorithm === OID_EC_PUBLIC_KEY) {
    info.keyType = 'ec';
    if (parameters?.tag === DER_OID) info.curve = decodeOidContent(parameters.value);
    info.ecPoint = bytes;
  } else if (algorithm === OID_RSA_ENCRYPTION) {
    info.keyType = 'rsa';
    if (parameters && parameters.tag !== DER_NULL) throw bad('RSA parameters are not NULL');
    const rsaKey = parseTlv(bytes);
    if (rsaKey.tag !== DER_SEQUENCE || rsaKey.children.length !== 2) throw bad('RSA key is not a SEQUENCE of 2 INTEGERs');
    const [n, e] = rsaKey.children.map((c) => expectTag(c, DER_INTEGER, 'RSA key').value) as [Uint8Array, Uint8Array];
    info.rsa = { modulus: unsignedIntegerBytes(n), exponent: unsignedIntegerBytes(e) };
  } else if (algorithm === OID_DH_PUBLIC_NUMBER) {
    info.keyType = 'dh';
  } else if (algorithm === OID_STANDARDIZED_DOMAIN_PARAMETERS) {
    if (!parameters || parameters.tag !== DER_INTEGER) throw bad('standardized domain parameters without an id');
    const id = readInteger(parameters, 'standardizedDomainParameterId');
    info.standardizedDomainParameterId = id;
    if (id >= 8) {
      info.keyType = 'ec';
      info.ecPoint = bytes;
    } else {
      info.keyType = 'dh';
    }
  }
  return info;
}

/** Parses SubjectPublicKeyInfo DER. */
export function decodePublicKeyInfo(spki: Uint8Array, file = 'SubjectPublicKeyInfo'): PublicKeyInfo {
  return readPublicKeyInfo(parseTlv(spki), file);
}
