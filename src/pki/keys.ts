/**
 * Public key import into node:crypto.
 *
 * ```
 * SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
 * RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }           -- RFC 8017 A.1.1
 * ECParameters ::= CHOICE { namedCurve OID, specifiedCurve SpecifiedECDomain, implicitCA NULL }  -- see curves.ts
 * ```
 *
 * Many eMRTD certificates (AT, DE, FI, RU, UK samples) carry *explicit* EC domain parameters instead of a curve
 * OID. Depending on its version and build, OpenSSL may refuse such keys, so explicit parameters are compared
 * with the known named curves (p, a, b, generator, order) and, on a match, the key is imported as a
 * SubjectPublicKeyInfo naming that curve (same public point bytes). An unknown explicit curve is handed to
 * node:crypto as is, and KEY_UNSUPPORTED is thrown if it refuses it.
 */
import { type KeyObject, createPublicKey } from 'node:crypto';
import { parseAlgorithmIdentifier } from './algorithms.ts';
import { type Asn1, Tag, bytesToBigInt, der, parseAsn1, readBitString, readIntegerBytes, readOctets, readOid } from './der.ts';
import { type NamedCurve, curveByName, curveByOid, curveOrderLength, findNamedCurve } from './curves.ts';
import { PkiCode, PkiError } from './errors.ts';
import { Oid } from './oids.ts';

export interface PublicKeyInfo {
  key: KeyObject;
  kind: 'rsa' | 'ec';
  /** Key size in bits (RSA modulus or EC order). */
  bits: number;
  /** RSA modulus and public exponent (for the PSS/PKCS#1 paths node:crypto does not cover). */
  rsa?: { n: bigint; e: bigint; byteLength: number };
  /** The named curve (also when the certificate gave explicit parameters). */
  curve?: NamedCurve;
  /** Curve name as node:crypto reports it, when the curve is not in {@link NAMED_CURVES}. */
  curveName?: string;
  /** The certificate stated explicit EC domain parameters. */
  explicitParams: boolean;
  /** Byte length of r and s in a plain ECDSA signature. */
  ecOrderLength?: number;
}

function keyError(message: string, cause?: unknown): PkiError {
  return new PkiError(PkiCode.KEY_UNSUPPORTED, message, cause === undefined ? {} : { cause });
}

/** Imports a SubjectPublicKeyInfo (as read) into a node:crypto KeyObject. */
export function importPublicKey(spki: Uint8Array): PublicKeyInfo {
  const root = parseAsn1(spki);
  const [algNode, keyNode] = root.children;
  if (!root.isUniversal(Tag.SEQUENCE) || !algNode || !keyNode) throw keyError('SubjectPublicKeyInfo malformed');
  const alg = parseAlgorithmIdentifier(algNode, PkiCode.KEY_UNSUPPORTED);
  const bits = readBitString(keyNode);

  if (alg.oid === Oid.rsaEncryption || alg.oid === Oid.rsassaPss) {
    const rsa = parseAsn1(bits.bytes);
    const [nNode, eNode] = rsa.children;
    if (!nNode || !eNode) throw keyError('RSAPublicKey malformed');
    const n = bytesToBigInt(readIntegerBytes(nNode));
    const e = bytesToBigInt(readIntegerBytes(eNode));
    const key = tryImport(spki);
    const nbits = n.toString(2).length;
    return { key, kind: 'rsa', bits: nbits, rsa: { n, e, byteLength: Math.ceil(nbits / 8) }, explicitParams: false };
  }

  if (alg.oid === Oid.ecPublicKey) {
    const params = alg.parameters;
    if (!params || params.isUniversal(Tag.NULL)) throw keyError('EC key with implicitlyCA parameters');
    if (params.isUniversal(Tag.OID)) {
      const key = tryImport(spki);
      const curve = curveByOid(readOid(params));
      return ecInfo(key, curve, false);
    }
    const curve = matchExplicitCurve(params);
    if (curve) {
      const named = der.sequence(der.sequence(der.oid(Oid.ecPublicKey), der.oid(curve.oid)), keyNode.raw);
      return ecInfo(tryImport(named), curve, true);
    }
    return ecInfo(tryImport(spki), undefined, true);
  }

  throw keyError(`unsupported public key algorithm ${alg.name}`);
}

function ecInfo(key: KeyObject, curve: NamedCurve | undefined, explicitParams: boolean): PublicKeyInfo {
  const curveName = (key.asymmetricKeyDetails?.namedCurve as string | undefined) ?? curve?.name;
  const known = curve ?? (curveName ? curveForNodeName(curveName) : undefined);
  const orderLen = known ? curveOrderLength(known) : undefined;
  return {
    key,
    kind: 'ec',
    bits: known ? BigInt('0x' + known.n).toString(2).length : 0,
    ...(known ? { curve: known } : {}),
    ...(curveName ? { curveName } : {}),
    explicitParams,
    ...(orderLen ? { ecOrderLength: orderLen } : {}),
  };
}

const NODE_ALIASES: Readonly<Record<string, string>> = {
  'P-256': 'prime256v1',
  'P-384': 'secp384r1',
  'P-521': 'secp521r1',
  secp256r1: 'prime256v1',
  secp192r1: 'prime192v1',
};
function curveForNodeName(name: string): NamedCurve | undefined {
  return curveByName(NODE_ALIASES[name] ?? name);
}

function tryImport(spki: Uint8Array): KeyObject {
  try {
    return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (e) {
    throw keyError(`node:crypto cannot import the public key: ${(e as Error).message}`, e);
  }
}

/** Matches SpecifiedECDomain (explicit parameters) against the named prime curves. */
export function matchExplicitCurve(params: Asn1): NamedCurve | undefined {
  const [, fieldId, curveNode, base, order] = params.children;
  if (!params.isUniversal(Tag.SEQUENCE) || !fieldId || !curveNode || !base || !order) throw keyError('explicit EC parameters malformed');
  const [fieldType, prime] = fieldId.children;
  if (!fieldType || !prime || readOid(fieldType) !== Oid.primeField) return undefined; // characteristic-two: not supported
  const [aNode, bNode] = curveNode.children;
  if (!aNode || !bNode) throw keyError('explicit EC curve malformed');
  const g = readOctets(base);
  const p = bytesToBigInt(readIntegerBytes(prime));
  const fieldLen = Math.ceil(p.toString(2).length / 8);
  let gx: bigint;
  let gy: bigint | undefined;
  let gyOdd: boolean | undefined;
  if (g[0] === 0x04 && g.length === 1 + 2 * fieldLen) {
    gx = bytesToBigInt(g.subarray(1, 1 + fieldLen));
    gy = bytesToBigInt(g.subarray(1 + fieldLen));
  } else if ((g[0] === 0x02 || g[0] === 0x03) && g.length === 1 + fieldLen) {
    gx = bytesToBigInt(g.subarray(1));
    gyOdd = g[0] === 0x03;
  } else {
    throw keyError('explicit EC generator malformed');
  }
  return findNamedCurve({
    p,
    a: bytesToBigInt(readOctets(aNode)),
    b: bytesToBigInt(readOctets(bNode)),
    gx,
    ...(gy !== undefined ? { gy } : {}),
    ...(gyOdd !== undefined ? { gyOdd } : {}),
    n: bytesToBigInt(readIntegerBytes(order)),
  });
}
