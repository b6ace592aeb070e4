/**
 * ICAO 9303-11 §6.1 Active Authentication, inspection-system side: does the chip's answer to a random challenge
 * verify with the public key in DG15? Pure (node:crypto does the arithmetic).
 *
 * ECDSA (§6.1.2.2): DG14 must carry an ActiveAuthenticationInfo naming the signature algorithm; the signature is
 * in the plain format of BSI TR-03111 (r || s, each the length of the curve order), over the challenge, hashed
 * with the algorithm's hash:
 * ```
 *   ActiveAuthenticationInfo ::= SEQUENCE { protocol id-icao-mrtd-security-aaProtocolObject (2.23.136.1.1.5),
 *                                            version INTEGER (1), signatureAlgorithm OBJECT IDENTIFIER }
 *   signatureAlgorithm: ecdsa-plain-SHA1..SHA512 (0.4.0.127.0.7.1.1.4.1.1..5) or ecdsa-with-SHA1..SHA512 (X9.62)
 * ```
 * RSA (§6.1.2.1): ISO/IEC 9796-2 digital signature scheme 1 with partial message recovery:
 * ```
 *   F = s^e mod n  (or n - F when F mod 16 != 12)
 *   F = '6A' || M1 || H || T     T = 'BC' (SHA-1) or hash-id || 'CC' ('33' SHA-1, '34' SHA-256, '35' SHA-512,
 *                                                                '36' SHA-384, '38' SHA-224)
 *   H = Hash(M1 || challenge)
 * ```
 */
import { createHash } from 'node:crypto';
import { decodeDg14, decodeDg15 } from '../lds/index.ts';
import { type DigestName, PkiError, importPublicKey, verifySignature } from '../pki/index.ts';

const ECDSA_PLAIN = '0.4.0.127.0.7.1.1.4.1';
const AA_HASH_BY_OID: Readonly<Record<string, DigestName>> = {
  [`${ECDSA_PLAIN}.1`]: 'sha1',
  [`${ECDSA_PLAIN}.2`]: 'sha224',
  [`${ECDSA_PLAIN}.3`]: 'sha256',
  [`${ECDSA_PLAIN}.4`]: 'sha384',
  [`${ECDSA_PLAIN}.5`]: 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

const ISO9796_HASH_IDS: Readonly<Record<number, DigestName>> = { 0x33: 'sha1', 0x34: 'sha256', 0x35: 'sha512', 0x36: 'sha384', 0x38: 'sha224' };
const HASH_LENGTH: Readonly<Record<DigestName, number>> = { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 } as Record<DigestName, number>;

export type AaOutcome =
  | { status: 'valid'; algorithm: string }
  | { status: 'invalid'; algorithm: string; reason: string }
  /** AA cannot be judged: key or algorithm missing, unsupported or malformed. */
  | { status: 'unavailable'; reason: string };

function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b %= m;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}

function toBigInt(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString('hex')}`);
}

function toBytes(v: bigint, len: number): Uint8Array {
  const hex = v.toString(16).padStart(len * 2, '0');
  return new Uint8Array(Buffer.from(hex.slice(-len * 2), 'hex'));
}

/** ISO/IEC 9796-2 scheme 1 verification with partial recovery (see the module comment). */
export function verifyIso9796Scheme1(n: bigint, e: bigint, challenge: Uint8Array, signature: Uint8Array): { valid: boolean; hash?: DigestName; reason?: string } {
  const k = Math.ceil(n.toString(2).length / 8);
  const s = toBigInt(signature);
  if (s >= n) return { valid: false, reason: 'signature value not below the modulus' };
  let f = modPow(s, e, n);
  if ((f & 0x0fn) !== 0x0cn) f = n - f;
  const F = toBytes(f, k);
  let hash: DigestName | undefined;
  let trailer = 1;
  if (F[k - 1] === 0xbc) hash = 'sha1';
  else if (F[k - 1] === 0xcc) {
    hash = ISO9796_HASH_IDS[F[k - 2]!];
    trailer = 2;
  }
  if (!hash) return { valid: false, reason: 'ISO/IEC 9796-2 trailer not recognised' };
  if ((F[0]! & 0xe0) !== 0x60 || (F[0]! & 0x0f) !== 0x0a) return { valid: false, hash, reason: "ISO/IEC 9796-2 header is not '6A' (partial recovery)" };
  const hLen = HASH_LENGTH[hash];
  const m1 = F.subarray(1, k - trailer - hLen);
  const h = F.subarray(k - trailer - hLen, k - trailer);
  const expect = createHash(hash).update(m1).update(challenge).digest();
  return { valid: Buffer.from(h).equals(expect), hash, ...(Buffer.from(h).equals(expect) ? {} : { reason: 'recovered hash differs' }) };
}

/**
 * Verifies an Active Authentication answer. `dg15` and `dg14` are the files as read (DG14 may be absent for an
 * RSA key). Never throws for bad input: a malformed key or missing algorithm is `unavailable`.
 */
export function verifyActiveAuthentication(dg15: Uint8Array, dg14: Uint8Array | undefined, challenge: Uint8Array, signature: Uint8Array): AaOutcome {
  let spki: Uint8Array;
  let keyType: string;
  try {
    const k = decodeDg15(dg15).key;
    spki = k.spki;
    keyType = k.keyType;
  } catch (e) {
    return { status: 'unavailable', reason: `DG15 does not decode (${(e as { code?: string }).code ?? 'invalid'})` };
  }
  let pub: ReturnType<typeof importPublicKey>;
  try {
    pub = importPublicKey(spki);
  } catch (e) {
    return { status: 'unavailable', reason: `DG15 key cannot be used (${e instanceof PkiError ? e.code : 'invalid'})` };
  }
  if (keyType === 'ec' || pub.kind === 'ec') {
    if (!dg14) return { status: 'unavailable', reason: 'DG14 is absent: ECDSA Active Authentication needs its ActiveAuthenticationInfo (9303-11 §6.1)' };
    let oid: string | undefined;
    try {
      const info = decodeDg14(dg14).infos.find((i) => i.type === 'ActiveAuthenticationInfo');
      oid = info && info.type === 'ActiveAuthenticationInfo' ? info.signatureAlgorithm : undefined;
    } catch (e) {
      return { status: 'unavailable', reason: `DG14 does not decode (${(e as { code?: string }).code ?? 'invalid'})` };
    }
    if (!oid) return { status: 'unavailable', reason: 'DG14 has no ActiveAuthenticationInfo' };
    const hash = AA_HASH_BY_OID[oid];
    if (!hash) return { status: 'unavailable', reason: `AA signature algorithm ${oid} is not an ECDSA algorithm Kadi knows` };
    const algorithm = `ecdsa-plain-${hash.toUpperCase()}`;
    let ok = false;
    try {
      ok = verifySignature({ kind: 'ecdsa', hash, encoding: 'plain' }, pub, challenge, signature);
    } catch {
      ok = false;
    }
    return ok ? { status: 'valid', algorithm } : { status: 'invalid', algorithm, reason: 'the signature does not verify with the DG15 key' };
  }
  if (pub.kind === 'rsa' && pub.rsa) {
    const r = verifyIso9796Scheme1(pub.rsa.n, pub.rsa.e, challenge, signature);
    const algorithm = `iso9796-2-scheme1${r.hash ? `-${r.hash.toUpperCase()}` : ''}`;
    return r.valid ? { status: 'valid', algorithm } : { status: 'invalid', algorithm, reason: r.reason ?? 'does not verify' };
  }
  return { status: 'unavailable', reason: `DG15 key type ${keyType} cannot do Active Authentication` };
}
