/**
 * verifySeal with a VerifyCache (src/pki): the signer certificate's chain check, the CRL signatures and the key
 * import are memoised by their bytes; the seal signature, revocation, validity and the trust anchors given are still
 * judged on every call — a cache warmed by good seals does not make a bad one pass.
 */
import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Certificate,
  type Signer,
  CscaStore,
  VerifyCache,
  buildCrl,
  buildCscaCertificate,
  derEncode,
  encodeName,
  ext,
  parseCertificate,
  parseCrl,
  signCertificate,
  softwareSigner,
} from '../pki/index.ts';
import { KADI_ID_PROFILE, OID_VDS_SIGNER, type VdsHeader, decodeVds, idSealFeatures, signVds, verifySeal } from './vds.ts';

const NOW = new Date('2026-11-25T10:00:00Z');
const DAY = 86_400_000;

function keySigner(): Signer {
  const kp = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return softwareSigner(kp.privateKey, 'ecdsa-p256', new Uint8Array(kp.publicKey.export({ type: 'spki', format: 'der' })));
}

async function makeCsca(signer: Signer): Promise<Certificate> {
  const period = { notBefore: new Date(NOW.getTime() - 30 * DAY), notAfter: new Date(NOW.getTime() + 3650 * DAY) };
  return parseCertificate(await buildCscaCertificate({ subject: { country: 'KE', organization: 'Kadi Test', commonName: 'CSCA Test' }, validity: period, privateKeyUsagePeriod: period }, signer));
}

async function makeSealSigner(csca: Certificate, cscaSigner: Signer, sealKey: Signer, serialHex: string): Promise<Certificate> {
  const der = await signCertificate(
    {
      serialNumber: Uint8Array.from(Buffer.from(serialHex, 'hex')),
      issuer: csca.subject.raw,
      subject: encodeName({ country: 'KE', commonName: 'SA' }),
      notBefore: new Date(NOW.getTime() - DAY),
      notAfter: new Date(NOW.getTime() + 365 * DAY),
      subjectPublicKeySpki: sealKey.publicKeySpki,
      extensions: [
        ext.authorityKeyIdentifier(csca.subjectKeyIdentifier!),
        ext.documentTypeList(['ID']),
        { oid: '2.5.29.37', critical: true, value: derEncode.sequence(derEncode.oid(OID_VDS_SIGNER)) },
      ],
    },
    cscaSigner,
  );
  return parseCertificate(der);
}

const MRZ = ['IDKENKA00000017<<<<<<<<<<<<<<<', '9001014M3611251KEN<<<<<<<<<<<0', 'DOE<<JOHN<<<<<<<<<<<<<<<<<<<<<'];

function header(serialHex: string): VdsHeader {
  return {
    version: 4,
    issuingCountry: 'KEN',
    signerIdentifier: 'KESA',
    certificateReference: serialHex.toUpperCase(),
    documentIssueDate: '2026-11-25',
    signatureCreationDate: '2026-11-25',
    featureDefinitionReference: KADI_ID_PROFILE.featureDefinitionReference,
    documentTypeCategory: KADI_ID_PROFILE.documentTypeCategory,
  };
}

async function seal(sealKey: Signer, serialHex: string, documentNumber: string): Promise<Uint8Array> {
  const data = { mrz: MRZ, nationalNumber: '12345678', documentNumber, dateOfBirth: '1990-01-01', dateOfExpiry: '2036-11-25', surname: 'Doe', givenNames: 'John' };
  return signVds(header(serialHex), idSealFeatures(data), sealKey);
}

describe('verifySeal with a VerifyCache', () => {
  const SERIAL = '1a2b3c4d5e6f';
  let cscaKey: Signer;
  let csca: Certificate;
  let sealKey: Signer;
  let signer: Certificate;
  let seals: Uint8Array[];

  beforeAll(async () => {
    cscaKey = keySigner();
    csca = await makeCsca(cscaKey);
    sealKey = keySigner();
    signer = await makeSealSigner(csca, cscaKey, sealKey, SERIAL);
    seals = [await seal(sealKey, SERIAL, 'KA0000001'), await seal(sealKey, SERIAL, 'KA0000002'), await seal(sealKey, SERIAL, 'KA0000003')];
  });

  it('gives the same results as no cache, and answers the chain and the key from the memo after the first seal', async () => {
    const crl = parseCrl(await buildCrl({ issuer: csca, crlNumber: 1, thisUpdate: new Date(NOW.getTime() - DAY), nextUpdate: new Date(NOW.getTime() + 30 * DAY) }, cscaKey));
    const cache = new VerifyCache();
    const store = new CscaStore([csca]);
    const first = verifySeal(seals[0]!, { cscas: store, signers: [signer], crls: [crl], at: NOW, cache });
    expect(first).toEqual(verifySeal(seals[0]!, { cscas: [csca], signers: [signer], crls: [crl], at: NOW }));
    expect(first.status).toBe('VALID');
    const misses = cache.misses;
    for (const s of seals) {
      const v = verifySeal(s, { cscas: store, signers: [signer], crls: [crl], at: NOW, cache });
      expect(v).toEqual(verifySeal(s, { cscas: [csca], signers: [signer], crls: [crl], at: NOW }));
      expect(v.status).toBe('VALID');
    }
    expect(cache.misses).toBe(misses); // signer certificate signature, CRL signature, signer key: all from the memo
    expect(cache.hits).toBeGreaterThanOrEqual(3 * seals.length);
  });

  it('still fails a tampered seal and a bad signature with a warm cache', () => {
    const cache = new VerifyCache();
    const opts = { cscas: [csca], signers: [signer], at: NOW, cache };
    expect(verifySeal(seals[0]!, opts).status).toBe('VALID');
    const tampered = Uint8Array.from(seals[0]!);
    const mrzAt = Buffer.from(tampered).indexOf(Buffer.from(decodeVds(tampered).features[0]!.value));
    expect(mrzAt).toBeGreaterThan(20);
    tampered[mrzAt + 5]! ^= 0x01; // one MRZ byte
    expect(verifySeal(tampered, opts)).toMatchObject({ status: 'INVALID', subIndication: 'INVALID_SIGNATURE', signatureValid: false, chainValid: true });
    const badSig = Uint8Array.from(seals[1]!);
    badSig[badSig.length - 7]! ^= 0x80;
    expect(verifySeal(badSig, opts)).toMatchObject({ status: 'INVALID', subIndication: 'INVALID_SIGNATURE', signatureValid: false, chainValid: true });
    // a seal signed by another key under the same signer identifier and serial
    return seal(keySigner(), SERIAL, 'KA0000001').then((forged) => {
      expect(verifySeal(forged, opts)).toMatchObject({ status: 'INVALID', subIndication: 'INVALID_SIGNATURE' });
      expect(verifySeal(seals[2]!, opts).status).toBe('VALID');
    });
  });

  it('sees a revoked signer although the chain check was memoised before the CRL listed it', async () => {
    const cache = new VerifyCache();
    const clean = parseCrl(await buildCrl({ issuer: csca, crlNumber: 1, thisUpdate: new Date(NOW.getTime() - DAY), nextUpdate: new Date(NOW.getTime() + 30 * DAY) }, cscaKey));
    expect(verifySeal(seals[0]!, { cscas: [csca], signers: [signer], crls: [clean], at: NOW, cache }).status).toBe('VALID');
    const revoking = parseCrl(
      await buildCrl({ issuer: csca, crlNumber: 2, thisUpdate: new Date(NOW.getTime() - DAY), nextUpdate: new Date(NOW.getTime() + 30 * DAY), revoked: [{ serial: SERIAL, revocationDate: new Date(NOW.getTime() - DAY) }] }, cscaKey),
    );
    expect(verifySeal(seals[0]!, { cscas: [csca], signers: [signer], crls: [revoking], at: NOW, cache })).toMatchObject({ status: 'INVALID', subIndication: 'REVOKED_CERTIFICATE' });
    // the same revoking CRL, again and memoised: still revoked
    expect(verifySeal(seals[1]!, { cscas: [csca], signers: [signer], crls: [revoking], at: NOW, cache }).subIndication).toBe('REVOKED_CERTIFICATE');
    // a "clean" CRL signed by another key is ignored (its bytes differ from the memoised one), not trusted
    const forgedClean = parseCrl(await buildCrl({ issuer: csca, crlNumber: 3, thisUpdate: new Date(NOW.getTime() - DAY), nextUpdate: new Date(NOW.getTime() + 30 * DAY) }, keySigner()));
    expect(verifySeal(seals[0]!, { cscas: [csca], signers: [signer], crls: [revoking, forgedClean], at: NOW, cache }).subIndication).toBe('REVOKED_CERTIFICATE');
  });

  it('does not trust the signer under a wrong CSCA, nor a signer certificate re-signed by another key, with a warm cache', async () => {
    const cache = new VerifyCache();
    expect(verifySeal(seals[0]!, { cscas: [csca], signers: [signer], at: NOW, cache }).status).toBe('VALID');
    // a look-alike CSCA: same name, another key
    const fakeKey = keySigner();
    const fake = await makeCsca(fakeKey);
    expect(fake.subject.text).toBe(csca.subject.text);
    expect(verifySeal(seals[0]!, { cscas: [fake], signers: [signer], at: NOW, cache }).subIndication).toBe('UNTRUSTED_CERTIFICATE');
    expect(verifySeal(seals[0]!, { cscas: new CscaStore([fake]), signers: [signer], at: NOW, cache }).subIndication).toBe('UNTRUSTED_CERTIFICATE');
    // the same signer certificate content signed by the look-alike's key: not the memoised certificate
    const reissued = await makeSealSigner(csca, fakeKey, sealKey, SERIAL);
    expect(verifySeal(seals[0]!, { cscas: [csca], signers: [reissued], at: NOW, cache }).subIndication).toBe('UNTRUSTED_CERTIFICATE');
    // and the genuine one is still fine
    expect(verifySeal(seals[0]!, { cscas: [csca], signers: [signer], at: NOW, cache }).status).toBe('VALID');
  });

  it('checks the validity period on every call', () => {
    const cache = new VerifyCache();
    expect(verifySeal(seals[0]!, { cscas: [csca], signers: [signer], at: NOW, cache }).status).toBe('VALID');
    expect(verifySeal(seals[0]!, { cscas: [csca], signers: [signer], at: new Date(NOW.getTime() + 400 * DAY), cache }).subIndication).toBe('EXPIRED_CERTIFICATE');
  });
});
