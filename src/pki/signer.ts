/**
 * The Signer port: how the pure builders (certificates, CRLs, EF.SOD) get a signature without ever seeing a
 * private key. The HSM adapter (src/hsm) implements it over PKCS#11; {@link softwareSigner} implements it with a
 * node:crypto key for unit tests and tools.
 *
 * Kadi's key algorithms (ICAO 9303-12 §6 "Algorithms", all with SHA-256):
 *
 * | name                    | key                      | signatureAlgorithm (X.509 / CMS)                         |
 * |-------------------------|--------------------------|----------------------------------------------------------|
 * | `ecdsa-p256`            | EC prime256v1 (named)    | ecdsa-with-SHA256 (1.2.840.10045.4.3.2), no parameters    |
 * | `ecdsa-brainpoolp256r1` | EC brainpoolP256r1       | ecdsa-with-SHA256                                         |
 * | `rsa-pss-2048`          | RSA 2048, e = 65537      | id-RSASSA-PSS (1.2.840.113549.1.1.10) with parameters     |
 *
 * ```
 * ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }           -- what sign() returns for ECDSA (RFC 3279)
 * RSASSA-PSS-params ::= SEQUENCE {                                 -- RFC 4055 / RFC 8017 A.2.3
 *   hashAlgorithm    [0] { sha256, NULL },
 *   maskGenAlgorithm [1] { id-mgf1, { sha256, NULL } },
 *   saltLength       [2] 32 }                                       -- trailerField default (1) omitted
 * SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
 *   EC:  algorithm = { id-ecPublicKey, namedCurve OID }, subjectPublicKey = 04 || X || Y   (RFC 5480)
 *   RSA: algorithm = { rsaEncryption, NULL }, subjectPublicKey = RSAPublicKey { n, e }      (RFC 3279)
 * ```
 *
 * EC keys are written with *named* curves: OpenSSL 3 refuses certificates whose key has explicit parameters
 * during chain verification ("Certificate public key has explicit ECC parameters", checked with 3.0.x), and
 * `openssl cms -verify` is Kadi's independent oracle (see docs/decisions/0004).
 */
import { constants, createHash, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { parseAsn1, readBitString } from './der.ts';
import { enc, tlv, unsignedIntegerContent } from './der-writer.ts';
import type { DigestName } from './oids.ts';

export type KeyAlgorithm = 'ecdsa-p256' | 'ecdsa-brainpoolp256r1' | 'rsa-pss-2048';
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['ecdsa-p256', 'ecdsa-brainpoolp256r1', 'rsa-pss-2048'];

export function isKeyAlgorithm(s: string): s is KeyAlgorithm {
  return (KEY_ALGORITHMS as readonly string[]).includes(s);
}

/** The private key operation behind every signature Kadi makes. */
export interface Signer {
  readonly algorithm: KeyAlgorithm;
  /** The signer's SubjectPublicKeyInfo, DER. */
  readonly publicKeySpki: Uint8Array;
  /**
   * Signs `data` (the signer hashes it with the algorithm's digest) and returns the signature value as X.509 and
   * CMS carry it: DER ECDSA-Sig-Value for ECDSA, the raw octets for RSA-PSS. The caller may reuse `data` once the
   * returned promise settles.
   */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

export const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
export const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
export const OID_RSASSA_PSS = '1.2.840.113549.1.1.10';
export const OID_MGF1 = '1.2.840.113549.1.1.8';
export const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
export const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
export const OID_PRIME256V1 = '1.2.840.10045.3.1.7';
export const OID_BRAINPOOL_P256R1 = '1.3.36.3.3.2.8.1.1.7';

export interface KeyAlgorithmInfo {
  name: KeyAlgorithm;
  kind: 'ec' | 'rsa';
  /** EC: the named curve (OpenSSL name and OID). */
  curve?: { name: string; oid: string; fieldBytes: number };
  /** RSA modulus size. */
  modulusBits?: number;
  /** Digest used for the signature (and by Kadi for the CMS digestAlgorithm). */
  hash: DigestName;
  /** RSA-PSS salt length in octets (= hash length). */
  pssSaltLength?: number;
  /** DER AlgorithmIdentifier for signatureAlgorithm in certificates, CRLs and SignerInfo. */
  signatureAlgorithmDer: Uint8Array;
  /** DER DigestAlgorithmIdentifier (parameters absent, RFC 5754 §2). */
  digestAlgorithmDer: Uint8Array;
  /** Largest signature value sign() can return. */
  maxSignatureLength: number;
}

const SHA256_ALG_ABSENT = enc.sequence(enc.oid(OID_SHA256));
const SHA256_ALG_NULL = enc.sequence(enc.oid(OID_SHA256), enc.null());

/** id-RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32 (hash AlgorithmIdentifiers with NULL, as OpenSSL writes). */
const PSS_SHA256_ALG = enc.sequence(
  enc.oid(OID_RSASSA_PSS),
  enc.sequence(enc.explicit(0, SHA256_ALG_NULL), enc.explicit(1, enc.sequence(enc.oid(OID_MGF1), SHA256_ALG_NULL)), enc.explicit(2, enc.integer(32))),
);

const INFO: Readonly<Record<KeyAlgorithm, KeyAlgorithmInfo>> = {
  'ecdsa-p256': {
    name: 'ecdsa-p256',
    kind: 'ec',
    curve: { name: 'prime256v1', oid: OID_PRIME256V1, fieldBytes: 32 },
    hash: 'sha256',
    signatureAlgorithmDer: enc.sequence(enc.oid(OID_ECDSA_WITH_SHA256)),
    digestAlgorithmDer: SHA256_ALG_ABSENT,
    maxSignatureLength: 72,
  },
  'ecdsa-brainpoolp256r1': {
    name: 'ecdsa-brainpoolp256r1',
    kind: 'ec',
    curve: { name: 'brainpoolP256r1', oid: OID_BRAINPOOL_P256R1, fieldBytes: 32 },
    hash: 'sha256',
    signatureAlgorithmDer: enc.sequence(enc.oid(OID_ECDSA_WITH_SHA256)),
    digestAlgorithmDer: SHA256_ALG_ABSENT,
    maxSignatureLength: 72,
  },
  'rsa-pss-2048': {
    name: 'rsa-pss-2048',
    kind: 'rsa',
    modulusBits: 2048,
    hash: 'sha256',
    pssSaltLength: 32,
    signatureAlgorithmDer: PSS_SHA256_ALG,
    digestAlgorithmDer: SHA256_ALG_ABSENT,
    maxSignatureLength: 256,
  },
};

export function keyAlgorithmInfo(a: KeyAlgorithm): KeyAlgorithmInfo {
  const i = INFO[a];
  if (!i) throw new RangeError(`unknown key algorithm ${String(a)} (expected ${KEY_ALGORITHMS.join(', ')})`);
  return i;
}

// ---------------------------------------------------------------------------------------------------------
// SubjectPublicKeyInfo

/** SPKI of an EC public key on a named curve; `point` is the uncompressed point 04 || X || Y. */
export function ecSpki(curveOid: string, point: Uint8Array): Uint8Array {
  return enc.sequence(enc.sequence(enc.oid(OID_EC_PUBLIC_KEY), enc.oid(curveOid)), enc.bitString(point));
}

/** SPKI of an RSA public key (rsaEncryption, NULL parameters) from modulus and exponent magnitudes. */
export function rsaSpki(modulus: Uint8Array, exponent: Uint8Array): Uint8Array {
  const rsaPublicKey = enc.sequence(enc.unsignedInteger(modulus), enc.unsignedInteger(exponent));
  return enc.sequence(enc.sequence(enc.oid(OID_RSA_ENCRYPTION), enc.null()), enc.bitString(rsaPublicKey));
}

// ---------------------------------------------------------------------------------------------------------
// ECDSA signature encodings

/** Raw r || s (as PKCS#11 CKM_ECDSA returns it) to DER ECDSA-Sig-Value, one allocation. */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  if (raw.length === 0 || raw.length % 2 !== 0) throw new RangeError(`raw ECDSA signature of odd length ${raw.length}`);
  const h = raw.length / 2;
  const r = unsignedIntegerContent(raw.subarray(0, h));
  const s = unsignedIntegerContent(raw.subarray(h));
  const body = 2 + r.length + 2 + s.length;
  if (r.length > 127 || s.length > 127) return tlv(0x30, tlv(0x02, r), tlv(0x02, s));
  const out = new Uint8Array((body < 0x80 ? 2 : 3) + body);
  let o = 0;
  out[o++] = 0x30;
  if (body >= 0x80) out[o++] = 0x81;
  out[o++] = body;
  out[o++] = 0x02;
  out[o++] = r.length;
  out.set(r, o);
  o += r.length;
  out[o++] = 0x02;
  out[o++] = s.length;
  out.set(s, o);
  return out;
}

/** SHA-1 of the subjectPublicKey BIT STRING content (RFC 5280 §4.2.1.2 method 1): the key identifier. */
export function keyIdentifier(spki: Uint8Array): Uint8Array {
  const root = parseAsn1(spki);
  const key = root.children[1];
  if (!key) throw new RangeError('SubjectPublicKeyInfo without subjectPublicKey');
  return new Uint8Array(createHash('sha1').update(readBitString(key).bytes).digest());
}

// ---------------------------------------------------------------------------------------------------------
// A software signer (node:crypto), for unit tests, tools and as a reference for the HSM adapter.

/** A Signer over a node:crypto private key. Never use it for production keys (they live in the HSM). */
export function softwareSigner(privateKey: KeyObject, algorithm: KeyAlgorithm, publicKeySpki: Uint8Array): Signer {
  const info = keyAlgorithmInfo(algorithm);
  return {
    algorithm,
    publicKeySpki,
    async sign(data: Uint8Array): Promise<Uint8Array> {
      if (info.kind === 'ec') return new Uint8Array(cryptoSign(info.hash, data, { key: privateKey, dsaEncoding: 'der' }));
      return new Uint8Array(cryptoSign(info.hash, data, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: info.pssSaltLength! }));
    },
  };
}

/** Big-endian magnitude of a bigint, for RSA exponents given as numbers. */
export function bigintToBytes(v: bigint): Uint8Array {
  let hex = v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

