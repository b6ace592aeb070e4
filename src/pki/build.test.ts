/**
 * The issuing side of pki (certificate, CRL and EF.SOD builders) with software keys, checked against the
 * verifier in this module AND against independent implementations: node:crypto's X509Certificate (OpenSSL) for
 * certificates, and asn1js (decode + re-encode must give the same bytes, i.e. the output is DER).
 * The real HSM path and `openssl cms -verify` are in test/sod-sign.test.ts.
 */
import { X509Certificate, createHash, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { describe, expect, it } from 'vitest';
import {
  CscaStore,
  type KeyAlgorithm,
  KEY_ALGORITHMS,
  PkiCode,
  SodBuilder,
  addMonths,
  buildCrl,
  buildCscaCertificate,
  buildDsCertificate,
  compareDer,
  crlNumberOf,
  derEncode,
  documentTypesOf,
  ecdsaRawToDer,
  keyIdentifier,
  parseCertificate,
  parseCrl,
  parseSignedData,
  parseSod,
  privateKeyUsagePeriodOf,
  softwareSigner,
  unwrapSod,
  verifyCertificateSignature,
  verifyCrlSignature,
  verifySod,
  type Signer,
} from './index.ts';
import { Oid } from './oids.ts';

function keyPair(alg: KeyAlgorithm): { signer: Signer; privateKey: KeyObject } {
  const kp =
    alg === 'rsa-pss-2048'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: alg === 'ecdsa-p256' ? 'prime256v1' : 'brainpoolP256r1' });
  const spki = new Uint8Array(kp.publicKey.export({ format: 'der', type: 'spki' }));
  return { signer: softwareSigner(kp.privateKey, alg, spki), privateKey: kp.privateKey };
}

/** asn1js decode + re-encode: equal bytes mean the input was already DER (minimal lengths, definite). */
function reencode(der: Uint8Array): Uint8Array {
  const r = asn1js.fromBER(der);
  expect(r.offset).toBe(der.length);
  return new Uint8Array(r.result.toBER(false));
}

const T0 = new Date('2026-01-15T10:00:00Z');
const subject = { country: 'KE', organization: 'Republic of Kenya', commonName: 'CSCA Kenya' };

async function pki(alg: KeyAlgorithm) {
  const csca = keyPair(alg);
  const ds = keyPair(alg);
  const cscaPkup = { notBefore: T0, notAfter: addMonths(T0, 36) };
  const cscaDer = await buildCscaCertificate(
    { subject, validity: { notBefore: T0, notAfter: addMonths(T0, 36 + 3 + 120) }, privateKeyUsagePeriod: cscaPkup, crlDistributionPoints: ['https://pkddownloadsg.icao.int/CRLs/KEN.crl'], contact: { email: 'pki@example.go.ke' } },
    csca.signer,
  );
  const dsPkup = { notBefore: T0, notAfter: addMonths(T0, 3) };
  const dsDer = await buildDsCertificate(
    {
      subject: { country: 'KE', organization: 'Republic of Kenya', commonName: 'Document Signer Kenya 001' },
      subjectPublicKeySpki: ds.signer.publicKeySpki,
      privateKeyUsagePeriod: dsPkup,
      validity: { notBefore: T0, notAfter: addMonths(T0, 3 + 120) },
      documentTypes: ['ID'],
    },
    cscaDer,
    csca.signer,
  );
  return { csca, ds, cscaDer, dsDer };
}

describe.each(KEY_ALGORITHMS)('builders with %s', (alg) => {
  it('builds a CSCA and a DS certificate with the ICAO 9303-12 profile', async () => {
    const { csca, cscaDer, dsDer } = await pki(alg);
    const c = parseCertificate(cscaDer);
    const d = parseCertificate(dsDer);
    expect(reencode(cscaDer)).toEqual(cscaDer);
    expect(reencode(dsDer)).toEqual(dsDer);
    expect(c.version).toBe(3);
    expect(c.keyUsage).toEqual(['keyCertSign', 'cRLSign']);
    expect(c.basicConstraints).toEqual({ cA: true, pathLen: 0 });
    expect(c.extensions.find((e) => e.oid === '2.5.29.15')?.critical).toBe(true);
    expect(c.extensions.find((e) => e.oid === '2.5.29.19')?.critical).toBe(true);
    expect(c.subjectKeyIdentifier).toEqual(keyIdentifier(csca.signer.publicKeySpki));
    expect(privateKeyUsagePeriodOf(c)).toEqual({ notBefore: T0, notAfter: addMonths(T0, 36) });
    expect(d.keyUsage).toEqual(['digitalSignature']);
    expect(d.basicConstraints).toBeUndefined();
    expect(d.authorityKeyIdentifier).toEqual(c.subjectKeyIdentifier);
    expect(d.issuer.raw).toEqual(c.subject.raw);
    expect(documentTypesOf(d)).toEqual(['ID']);
    expect(privateKeyUsagePeriodOf(d)).toEqual({ notBefore: T0, notAfter: addMonths(T0, 3) });
    expect(d.notAfter).toEqual(addMonths(T0, 123));
    expect(verifyCertificateSignature(c, c)).toBe(true);
    expect(verifyCertificateSignature(d, c)).toBe(true);
    // OpenSSL (through node:crypto) agrees.
    const xc = new X509Certificate(cscaDer);
    const xd = new X509Certificate(dsDer);
    expect(xc.verify(xc.publicKey)).toBe(true);
    expect(xd.verify(xc.publicKey)).toBe(true);
    expect(xd.checkIssued(xc)).toBe(true);
    expect(xc.ca).toBe(true);
  });

  it('builds a CRL the verifier accepts and that lists the revoked serials', async () => {
    const { csca, cscaDer, dsDer } = await pki(alg);
    const d = parseCertificate(dsDer);
    const crlDer = await buildCrl(
      { issuer: cscaDer, crlNumber: 7, thisUpdate: T0, nextUpdate: addMonths(T0, 3), revoked: [{ serial: d.serialHex, revocationDate: T0 }] },
      csca.signer,
    );
    expect(reencode(crlDer)).toEqual(crlDer);
    const crl = parseCrl(crlDer);
    expect(verifyCrlSignature(crl, parseCertificate(cscaDer))).toBe(true);
    expect(crl.revoked).toEqual([{ serialHex: d.serialHex, revocationDate: T0 }]);
    expect(crl.nextUpdate).toEqual(addMonths(T0, 3));
    expect(crlNumberOf(crlDer)).toBe(7n);
  });

  it('signs an EF.SOD that is DER, parses, and passes passive authentication', async () => {
    const { ds, cscaDer, dsDer } = await pki(alg);
    const dg1 = Uint8Array.from([0x61, 0x03, 0x5f, 0x1f, 0x00]);
    const dg2 = new Uint8Array(15_000).fill(7);
    const lds = derEncode.sequence(
      derEncode.integer(0),
      derEncode.sequence(derEncode.oid(Oid.sha256)),
      derEncode.sequence(
        derEncode.sequence(derEncode.integer(1), derEncode.octetString(createHash('sha256').update(dg1).digest())),
        derEncode.sequence(derEncode.integer(2), derEncode.octetString(createHash('sha256').update(dg2).digest())),
      ),
    );
    const builder = new SodBuilder(dsDer, ds.signer);
    const sod = await builder.sign(lds, T0);
    expect(sod[0]).toBe(0x77);
    expect(reencode(unwrapSod(sod))).toEqual(unwrapSod(sod));
    const parsed = parseSod(sod);
    expect(parsed.signedData.version).toBe(3);
    expect(parsed.signer.version).toBe(1);
    expect(parsed.signer.sid.kind).toBe('issuerAndSerialNumber');
    expect(parsed.signer.signingTime).toEqual(T0);
    expect(parsed.signedData.eContent).toEqual(lds);
    expect(parsed.signer.signedAttrs.map((a) => a.name)).toEqual(['contentType', 'signingTime', 'messageDigest']);
    const r = verifySod(sod, { cscas: new CscaStore([parseCertificate(cscaDer)]), dataGroups: new Map([[1, dg1], [2, dg2]]) });
    expect(r.errors).toEqual([]);
    expect(r).toMatchObject({ valid: true, signatureValid: true, chainValid: true, dgMatches: { '1': true, '2': true } });
    // A tampered data group and a tampered signature are detected.
    const bad = Uint8Array.from(dg2);
    bad[100] = bad[100]! ^ 1;
    expect(verifySod(sod, { cscas: [parseCertificate(cscaDer)], dataGroups: new Map([[2, bad]]) }).dgMatches['2']).toBe(false);
    const tampered = Uint8Array.from(sod);
    tampered[tampered.length - 5] = tampered[tampered.length - 5]! ^ 0x01;
    expect(verifySod(tampered, { cscas: [parseCertificate(cscaDer)] }).signatureValid).toBe(false);
  });
});

describe('SodBuilder details', () => {
  it('writes signed attributes in DER SET OF order (compared with a generic sort)', async () => {
    const { ds, dsDer } = await pki('ecdsa-p256');
    const b = new SodBuilder(dsDer, ds.signer);
    for (const at of [T0, new Date('2049-12-31T23:59:59Z'), new Date('2050-01-01T00:00:00Z')]) {
      const digest = new Uint8Array(32).fill(0xab);
      const attrs = b.signedAttributes(digest, at);
      const generic = derEncode.setOf(
        derEncode.sequence(derEncode.oid(Oid.messageDigest), derEncode.set(derEncode.octetString(digest))),
        derEncode.sequence(derEncode.oid(Oid.contentType), derEncode.set(derEncode.oid(Oid.ldsSecurityObject))),
        derEncode.sequence(derEncode.oid(Oid.signingTime), derEncode.set(derEncode.time(at))),
      );
      expect(attrs).toEqual(generic);
      expect(compareDer(attrs, generic)).toBe(0);
    }
  });

  it('can name the signer by subjectKeyIdentifier (SignerInfo v3)', async () => {
    const { ds, dsDer, cscaDer } = await pki('ecdsa-p256');
    const sod = await new SodBuilder(dsDer, ds.signer, { signerIdentifier: 'subjectKeyIdentifier' }).sign(derEncode.sequence(derEncode.integer(0)), T0);
    const sd = parseSignedData(sod);
    expect(sd.signerInfos[0]!.version).toBe(3);
    expect(sd.signerInfos[0]!.sid.kind).toBe('subjectKeyIdentifier');
    expect(parseCertificate(cscaDer).subjectKeyIdentifier).toBeDefined();
  });

  it('refuses a signer whose key is not the DS certificate key', async () => {
    const { dsDer } = await pki('ecdsa-p256');
    const other = keyPair('ecdsa-p256');
    expect(() => new SodBuilder(dsDer, other.signer)).toThrow(expect.objectContaining({ code: PkiCode.KEY_UNSUPPORTED }));
  });

  it('refuses a DS private key usage period longer than three months', async () => {
    const { csca, ds, cscaDer } = await pki('ecdsa-p256');
    await expect(
      buildDsCertificate(
        {
          subject: { country: 'KE', commonName: 'DS' },
          subjectPublicKeySpki: ds.signer.publicKeySpki,
          privateKeyUsagePeriod: { notBefore: T0, notAfter: addMonths(T0, 4) },
          validity: { notBefore: T0, notAfter: addMonths(T0, 100) },
          documentTypes: ['ID'],
        },
        cscaDer,
        csca.signer,
      ),
    ).rejects.toMatchObject({ code: PkiCode.CERT_MALFORMED });
  });
});

describe('ecdsaRawToDer', () => {
  it('encodes r||s minimally (leading zeros dropped, 00 added for a set top bit)', () => {
    const r = new Uint8Array(32);
    r[31] = 1;
    const s = new Uint8Array(32).fill(0xff);
    const der = ecdsaRawToDer(Uint8Array.from([...r, ...s]));
    expect(Buffer.from(der).toString('hex')).toBe('3026' + '020101' + '022100' + 'ff'.repeat(32));
  });

  it('matches node:crypto DER signatures converted from P1363', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    for (let i = 0; i < 50; i++) {
      const data = Buffer.from(`message ${i}`);
      const raw = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      expect(verify('sha256', data, { key: publicKey, dsaEncoding: 'der' }, ecdsaRawToDer(raw))).toBe(true);
    }
  });
});
