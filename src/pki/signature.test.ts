import { constants, createHash, generateKeyPairSync, privateEncrypt, sign } from 'node:crypto';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { parseAlgorithmIdentifier, signatureScheme } from './algorithms.ts';
import { NAMED_CURVES, curveByName, curveOrderLength } from './curves.ts';
import { bigIntToBytes, der, parseAsn1, readBitString } from './der.ts';
import { PkiCode, PkiError } from './errors.ts';
import { importPublicKey, matchExplicitCurve } from './keys.ts';
import { Oid } from './oids.ts';
import { derToFixed, verifySignature, verifyPssManual } from './signature.ts';
import { fromHex, toHex } from '../shared/index.ts';

const data = new TextEncoder().encode('LDS security object, signed attributes as read');

function rsaKeys() {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKey, spki: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })), pkcs1Pem: privateKey.export({ format: 'pem', type: 'pkcs1' }) as string };
}
const rsa = rsaKeys();
const rsaPub = importPublicKey(rsa.spki);

/** RSASSA-PSS-params DER for the given hashes and salt length. */
function pssAlg(hash: string, mgfHash: string, salt: number): Uint8Array {
  const h = (oid: string) => der.sequence(der.oid(oid), der.null());
  return der.sequence(
    der.oid(Oid.rsassaPss),
    der.sequence(der.context(0, true, h(hash)), der.context(1, true, der.sequence(der.oid(Oid.mgf1), h(mgfHash))), der.context(2, true, der.uint(Uint8Array.of(salt)))),
  );
}

describe('RSA', () => {
  it('PKCS#1 v1.5 signatures verify, and fail after a one-bit change', () => {
    const sig = sign('sha256', data, rsa.privateKey);
    const scheme = signatureScheme(parseAlgorithmIdentifier(parseAsn1(der.sequence(der.oid(Oid.sha256WithRSAEncryption), der.null()))));
    expect(verifySignature(scheme, rsaPub, data, sig)).toBe(true);
    sig[10]! ^= 1;
    expect(verifySignature(scheme, rsaPub, data, sig)).toBe(false);
  });

  it('rsaEncryption as signature algorithm takes the hash from the separate digest algorithm (CMS)', () => {
    const sig = sign('sha384', data, rsa.privateKey);
    const scheme = signatureScheme(parseAlgorithmIdentifier(parseAsn1(der.sequence(der.oid(Oid.rsaEncryption), der.null()))), 'sha384');
    expect(scheme).toEqual({ kind: 'rsa-pkcs1', hash: 'sha384' });
    expect(verifySignature(scheme, rsaPub, data, sig)).toBe(true);
  });

  it('PKCS#1 v1.5 with a DigestInfo lacking the NULL parameters is accepted (historical encoding)', () => {
    const digestInfo = der.sequence(der.sequence(der.oid(Oid.sha256)), der.octetString(createHash('sha256').update(data).digest()));
    const k = 256;
    const em = new Uint8Array(k).fill(0xff);
    em[0] = 0;
    em[1] = 1;
    em[k - digestInfo.length - 1] = 0;
    em.set(digestInfo, k - digestInfo.length);
    const sig = privateEncrypt({ key: rsa.privateKey, padding: constants.RSA_NO_PADDING }, em);
    expect(verifySignature({ kind: 'rsa-pkcs1', hash: 'sha256' }, rsaPub, data, sig)).toBe(true);
    expect(verifySignature({ kind: 'rsa-pkcs1', hash: 'sha1' }, rsaPub, data, sig)).toBe(false);
  });

  it('RSASSA-PSS parameters are read with their defaults', () => {
    const parse = (b: Uint8Array) => signatureScheme(parseAlgorithmIdentifier(parseAsn1(b)));
    expect(parse(der.sequence(der.oid(Oid.rsassaPss), der.sequence()))).toEqual({ kind: 'rsa-pss', hash: 'sha1', mgfHash: 'sha1', saltLength: 20, trailerField: 1 });
    expect(parse(pssAlg(Oid.sha512, Oid.sha256, 64))).toEqual({ kind: 'rsa-pss', hash: 'sha512', mgfHash: 'sha256', saltLength: 64, trailerField: 1 });
  });

  it('RSASSA-PSS made by node:crypto verifies (salt 32), and the hand-written EMSA-PSS check agrees', () => {
    const sig = sign('sha256', data, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    const scheme = signatureScheme(parseAlgorithmIdentifier(parseAsn1(pssAlg(Oid.sha256, Oid.sha256, 32))));
    expect(verifySignature(scheme, rsaPub, data, sig)).toBe(true);
    expect(verifyPssManual(rsaPub, 'sha256', 'sha256', 32, data, sig)).toBe(true);
    expect(verifyPssManual(rsaPub, 'sha256', 'sha256', 20, data, sig)).toBe(false);
    sig[5]! ^= 0x40;
    expect(verifySignature(scheme, rsaPub, data, sig)).toBe(false);
    expect(verifyPssManual(rsaPub, 'sha256', 'sha256', 32, data, sig)).toBe(false);
  });

  it('RSASSA-PSS with an MGF1 hash different from the message hash (made by node-forge) verifies', () => {
    const key = forge.pki.privateKeyFromPem(rsa.pkcs1Pem);
    const md = forge.md.sha256.create();
    md.update(Buffer.from(data).toString('binary'));
    const pss = forge.pss.create({ md: forge.md.sha256.create(), mgf: forge.mgf.mgf1.create(forge.md.sha1.create()), saltLength: 20 });
    const sig = Uint8Array.from(Buffer.from(key.sign(md, pss), 'binary'));
    const scheme = signatureScheme(parseAlgorithmIdentifier(parseAsn1(pssAlg(Oid.sha256, Oid.sha1, 20))));
    expect(verifySignature(scheme, rsaPub, data, sig)).toBe(true);
    expect(verifySignature({ ...scheme, mgfHash: 'sha256' } as typeof scheme, rsaPub, data, sig)).toBe(false);
  });

  it('an RSA scheme with an EC key is an ALGORITHM_UNSUPPORTED error, not a silent false', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ec = importPublicKey(new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })));
    expect(() => verifySignature({ kind: 'rsa-pkcs1', hash: 'sha256' }, ec, data, new Uint8Array(64))).toThrow(PkiError);
  });
});

describe('ECDSA', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'brainpoolP384r1' });
  const pub = importPublicKey(new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })));

  it('DER (X9.62) signatures verify', () => {
    const sig = sign('sha384', data, privateKey);
    expect(pub.curve?.name).toBe('brainpoolP384r1');
    expect(verifySignature({ kind: 'ecdsa', hash: 'sha384', encoding: 'der' }, pub, data, sig)).toBe(true);
    expect(verifySignature({ kind: 'ecdsa', hash: 'sha256', encoding: 'der' }, pub, data, sig)).toBe(false);
  });

  it('plain r||s signatures (BSI TR-03111 ecdsa-plain-*) verify', () => {
    const sig = sign('sha512', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    const scheme = signatureScheme(parseAlgorithmIdentifier(parseAsn1(der.sequence(der.oid(Oid.ecdsaPlainSHA512)))));
    expect(scheme).toEqual({ kind: 'ecdsa', hash: 'sha512', encoding: 'plain' });
    expect(verifySignature(scheme, pub, data, sig)).toBe(true);
    sig[sig.length - 1]! ^= 1;
    expect(verifySignature(scheme, pub, data, sig)).toBe(false);
  });

  it('a DER signature with non-minimal INTEGERs still verifies (r and s are what count)', () => {
    const p1363 = sign('sha384', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    const int = (b: Uint8Array) => Uint8Array.from([0x02, b.length + 2, 0, 0, ...b]);
    const sloppy = der.sequence(int(p1363.subarray(0, 48)), int(p1363.subarray(48)));
    expect(toHex(derToFixed(sloppy, 48)!)).toBe(toHex(p1363));
    expect(verifySignature({ kind: 'ecdsa', hash: 'sha384', encoding: 'der' }, pub, data, sloppy)).toBe(true);
  });

  it('garbage instead of a DER signature is false, not an exception', () => {
    expect(verifySignature({ kind: 'ecdsa', hash: 'sha384', encoding: 'der' }, pub, data, fromHex('30 03 02 01'))).toBe(false);
  });
});

describe('explicit EC parameters', () => {
  /** SubjectPublicKeyInfo with SpecifiedECDomain for `curveName`, generator compressed or not. */
  function explicitSpki(curveName: string, point: Uint8Array, tweak: { b?: bigint; compressed?: boolean } = {}): Uint8Array {
    const c = curveByName(curveName)!;
    const fl = Math.ceil(BigInt('0x' + c.p).toString(2).length / 8);
    const big = (h: string) => bigIntToBytes(BigInt('0x' + h), fl);
    const gy = BigInt('0x' + c.gy);
    const g = tweak.compressed ? Uint8Array.from([gy & 1n ? 3 : 2, ...big(c.gx)]) : Uint8Array.from([4, ...big(c.gx), ...big(c.gy)]);
    const b = tweak.b !== undefined ? bigIntToBytes(tweak.b, fl) : big(c.b);
    const params = der.sequence(
      der.uint(Uint8Array.of(1)),
      der.sequence(der.oid(Oid.primeField), der.uint(bigIntToBytes(BigInt('0x' + c.p)))),
      der.sequence(der.octetString(big(c.a)), der.octetString(b)),
      der.octetString(g),
      der.uint(bigIntToBytes(BigInt('0x' + c.n))),
      der.uint(Uint8Array.of(1)),
    );
    return der.sequence(der.sequence(der.oid(Oid.ecPublicKey), params), der.bitString(point));
  }

  function pointOf(curve: string) {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: curve });
    const spki = parseAsn1(new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })));
    const point = readBitString(spki.children[1]!).bytes;
    expect(point[0]).toBe(0x04);
    return { point, privateKey };
  }

  it.each(['prime256v1', 'secp384r1', 'secp521r1', 'brainpoolP256r1', 'brainpoolP384r1', 'brainpoolP512r1'])('%s: explicit parameters map to the named curve and the key verifies', (curve) => {
    const { point, privateKey } = pointOf(curve);
    for (const compressed of [false, true]) {
      const pub = importPublicKey(explicitSpki(curve, point, { compressed }));
      expect(pub.explicitParams).toBe(true);
      expect(pub.curve?.name).toBe(curve);
      expect(pub.ecOrderLength).toBe(curveOrderLength(curveByName(curve)!));
      const sig = sign('sha256', data, privateKey);
      expect(verifySignature({ kind: 'ecdsa', hash: 'sha256', encoding: 'der' }, pub, data, sig)).toBe(true);
    }
  });

  it('parameters of no known curve are not mapped (and node:crypto refuses the key: KEY_UNSUPPORTED)', () => {
    const { point } = pointOf('brainpoolP256r1');
    const spki = explicitSpki('brainpoolP256r1', point, { b: 7n });
    const params = parseAsn1(spki).children[0]!.children[1]!;
    expect(matchExplicitCurve(params)).toBeUndefined();
    let code: string | undefined;
    try {
      importPublicKey(spki);
    } catch (e) {
      code = (e as PkiError).code;
    }
    expect(code).toBe(PkiCode.KEY_UNSUPPORTED);
  });

  it('the curve table holds the order lengths of the curves', () => {
    expect(NAMED_CURVES.length).toBeGreaterThanOrEqual(20);
    expect(curveOrderLength(curveByName('secp521r1')!)).toBe(66);
    expect(curveOrderLength(curveByName('brainpoolP512r1')!)).toBe(64);
  });
});
