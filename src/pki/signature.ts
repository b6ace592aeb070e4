/**
 * Signature verification: RSA PKCS#1 v1.5, RSASSA-PSS and ECDSA (DER or plain r||s), over bytes as given.
 *
 * ```
 * ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }      -- X9.62 / RFC 3279 (ecdsa-with-SHA*)
 * plain signature  = I2OS(r, l) || I2OS(s, l), l = byte length of the group order   -- BSI TR-03111 ecdsa-plain-*
 * DigestInfo ::= SEQUENCE { digestAlgorithm AlgorithmIdentifier, digest OCTET STRING }  -- RFC 8017 9.2
 * ```
 *
 * node:crypto does the work. Two paths are done by hand with the raw RSA public operation (s^e mod n):
 * RSASSA-PSS whose MGF1 hash differs from the message hash (node:crypto ties them together), and a PKCS#1 v1.5
 * re-check accepting a DigestInfo without the NULL parameters (a historical encoding) when OpenSSL says no.
 * ECDSA DER signatures are converted to r||s before verification, so that a non-minimal INTEGER encoding from
 * a sloppy signer does not make OpenSSL's strict DER check reject a mathematically valid signature.
 */
import { constants, createHash, verify as cryptoVerify } from 'node:crypto';
import type { SignatureScheme } from './algorithms.ts';
import { Tag, bigIntToBytes, bytesToBigInt, parseAsn1, readIntegerBytes, readOctets, readOid } from './der.ts';
import { PkiCode, PkiError } from './errors.ts';
import type { PublicKeyInfo } from './keys.ts';
import { DIGEST_BY_OID, DIGEST_LENGTH, type DigestName } from './oids.ts';
import { bytesEqual } from '../shared/index.ts';

/** True if `signature` is a valid signature of `data` under `pub` with `scheme`. */
export function verifySignature(scheme: SignatureScheme, pub: PublicKeyInfo, data: Uint8Array, signature: Uint8Array): boolean {
  switch (scheme.kind) {
    case 'rsa-pkcs1':
      requireKind(pub, 'rsa', scheme.kind);
      if (safeVerify(() => cryptoVerify(scheme.hash, data, { key: pub.key, padding: constants.RSA_PKCS1_PADDING }, signature))) return true;
      return verifyPkcs1Manual(pub, scheme.hash, data, signature);
    case 'rsa-pss':
      requireKind(pub, 'rsa', scheme.kind);
      if (scheme.mgfHash === scheme.hash) {
        const ok = safeVerify(() =>
          cryptoVerify(scheme.hash, data, { key: pub.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.saltLength }, signature),
        );
        if (ok) return true;
      }
      return verifyPssManual(pub, scheme.hash, scheme.mgfHash, scheme.saltLength, data, signature);
    case 'ecdsa': {
      requireKind(pub, 'ec', scheme.kind);
      const len = pub.ecOrderLength;
      if (len === undefined) {
        // Curve unknown to the table: let OpenSSL read the encoding itself.
        const enc = scheme.encoding === 'plain' ? 'ieee-p1363' : 'der';
        return safeVerify(() => cryptoVerify(scheme.hash, data, { key: pub.key, dsaEncoding: enc }, signature));
      }
      const rs = scheme.encoding === 'plain' ? plainToFixed(signature, len) : derToFixed(signature, len);
      if (!rs) return false;
      return safeVerify(() => cryptoVerify(scheme.hash, data, { key: pub.key, dsaEncoding: 'ieee-p1363' }, rs));
    }
  }
}

function requireKind(pub: PublicKeyInfo, kind: 'rsa' | 'ec', scheme: string): void {
  if (pub.kind !== kind) throw new PkiError(PkiCode.ALGORITHM_UNSUPPORTED, `a ${scheme} signature cannot be verified with an ${pub.kind.toUpperCase()} key`);
}

function safeVerify(f: () => boolean): boolean {
  try {
    return f();
  } catch {
    return false;
  }
}

/** ECDSA-Sig-Value (read leniently: BER, non-minimal integers) to fixed-length r||s; undefined if unreadable. */
export function derToFixed(sig: Uint8Array, len: number): Uint8Array | undefined {
  try {
    const seq = parseAsn1(sig);
    const [r, s] = seq.children;
    if (!seq.isUniversal(Tag.SEQUENCE) || !r || !s || seq.children.length !== 2) return undefined;
    const rv = bytesToBigInt(readIntegerBytes(r));
    const sv = bytesToBigInt(readIntegerBytes(s));
    return Buffer.concat([bigIntToBytes(rv, len), bigIntToBytes(sv, len)]);
  } catch {
    return undefined;
  }
}

/** Plain r||s (each half possibly shorter or longer with leading zeros) to exactly 2*len bytes. */
function plainToFixed(sig: Uint8Array, len: number): Uint8Array | undefined {
  if (sig.length % 2 !== 0) return undefined;
  const h = sig.length / 2;
  try {
    return Buffer.concat([bigIntToBytes(bytesToBigInt(sig.subarray(0, h)), len), bigIntToBytes(bytesToBigInt(sig.subarray(h)), len)]);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------
// RSA by hand (RFC 8017 §5.2.2 RSAVP1, §9.1.2 EMSA-PSS-VERIFY, §9.2 EMSA-PKCS1-v1_5)

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let r = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % mod;
    b = (b * b) % mod;
    e >>= 1n;
  }
  return r;
}

/** RSAVP1: s^e mod n as a k-byte string, or undefined if s is out of range. */
function rsaPublic(pub: PublicKeyInfo, signature: Uint8Array): Uint8Array | undefined {
  const rsa = pub.rsa;
  if (!rsa) return undefined;
  if (signature.length !== rsa.byteLength) return undefined;
  const s = bytesToBigInt(signature);
  if (s >= rsa.n) return undefined;
  return bigIntToBytes(modPow(s, rsa.e, rsa.n), rsa.byteLength);
}

function hash(alg: DigestName, ...parts: Uint8Array[]): Uint8Array {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return h.digest();
}

function mgf1(alg: DigestName, seed: Uint8Array, len: number): Uint8Array {
  const out: Uint8Array[] = [];
  let got = 0;
  for (let c = 0; got < len; c++) {
    const ctr = Uint8Array.of(c >>> 24, (c >>> 16) & 0xff, (c >>> 8) & 0xff, c & 0xff);
    const h = hash(alg, seed, ctr);
    out.push(h);
    got += h.length;
  }
  return Buffer.concat(out).subarray(0, len);
}

/** EMSA-PSS-VERIFY with independent message and MGF1 hashes. */
export function verifyPssManual(pub: PublicKeyInfo, hashAlg: DigestName, mgfHash: DigestName, saltLength: number, data: Uint8Array, signature: Uint8Array): boolean {
  const k = rsaPublic(pub, signature);
  if (!k || !pub.rsa) return false;
  const modBits = pub.rsa.n.toString(2).length;
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  // RSAVP1 output is k bytes; the encoded message is its last emLen bytes (leading bytes must be zero).
  for (let i = 0; i < k.length - emLen; i++) if (k[i] !== 0) return false;
  const em = k.subarray(k.length - emLen);
  const hLen = DIGEST_LENGTH[hashAlg];
  if (emLen < hLen + saltLength + 2 || em[emLen - 1] !== 0xbc) return false;
  const maskedDb = em.subarray(0, emLen - hLen - 1);
  const h = em.subarray(emLen - hLen - 1, emLen - 1);
  const topMask = 0xff >> (8 * emLen - emBits);
  if ((maskedDb[0]! & ~topMask) !== 0) return false;
  const dbMask = mgf1(mgfHash, h, maskedDb.length);
  const db = new Uint8Array(maskedDb.length);
  for (let i = 0; i < db.length; i++) db[i] = maskedDb[i]! ^ dbMask[i]!;
  db[0] = db[0]! & topMask;
  const psLen = emLen - hLen - saltLength - 2;
  for (let i = 0; i < psLen; i++) if (db[i] !== 0) return false;
  if (db[psLen] !== 0x01) return false;
  const salt = db.subarray(db.length - saltLength);
  const mPrime = Buffer.concat([new Uint8Array(8), hash(hashAlg, data), salt]);
  return bytesEqual(hash(hashAlg, mPrime), h);
}

/** EMSA-PKCS1-v1_5 check that also accepts a DigestInfo whose AlgorithmIdentifier omits NULL parameters. */
function verifyPkcs1Manual(pub: PublicKeyInfo, hashAlg: DigestName, data: Uint8Array, signature: Uint8Array): boolean {
  const em = rsaPublic(pub, signature);
  if (!em || em[0] !== 0x00 || em[1] !== 0x01) return false;
  let i = 2;
  while (i < em.length && em[i] === 0xff) i++;
  if (i - 2 < 8 || em[i] !== 0x00) return false;
  try {
    const di = parseAsn1(em.subarray(i + 1));
    const [algNode, digestNode] = di.children;
    const oidNode = algNode?.children[0];
    if (!digestNode || !oidNode) return false;
    if (DIGEST_BY_OID[readOid(oidNode)] !== hashAlg) return false;
    return bytesEqual(readOctets(digestNode), hash(hashAlg, data));
  } catch {
    return false;
  }
}
