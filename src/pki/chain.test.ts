/**
 * Chain and revocation checks on a synthetic country PKI built with pkijs (an independent implementation):
 * CSCA -> DS -> EF.SOD, CRLs revoking the DS, an impostor CSCA with the same name, data group matching.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Certificate,
  CscaStore,
  PkiCode,
  PkiError,
  parseCertificate,
  parseCertificates,
  parseCrl,
  parseCrls,
  readPem,
  verifyDsChain,
  verifySod,
} from './index.ts';
import { makeCertificate, makeCountry, makeCrl } from './synthetic.fixture.ts';
import { fromHex } from '../shared/index.ts';

/** ICAO 9303-10 specimen DG1 (TD2, Utopia, ERIKSSON), from ../shared/vectors. */
const DG1 = fromHex(
  '614B5F1F48493C55544F4552494B53534F4E3C3C414E4E413C4D415249413C3C3C3C3C3C3C3C3C3C3C4432333134353839303755544F3734303831323246313230343135393C3C3C3C3C3C3C36',
);
const DG2 = fromHex('75 03 01 02 03');

let c: Awaited<ReturnType<typeof makeCountry>>;
let csca: Certificate;
let impostor: Certificate;
let ds: Certificate;

beforeAll(async () => {
  c = await makeCountry(new Map([[1, DG1], [2, DG2]]));
  csca = parseCertificate(c.csca);
  impostor = parseCertificate(c.impostor);
  ds = parseCertificate(c.ds);
});

const pem = (der: Uint8Array, label = 'CERTIFICATE') => `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END ${label}-----\n`;

describe('synthetic EF.SOD (made by pkijs)', () => {
  it('verifies: signature, chain, and the data groups it was made over', () => {
    const r = verifySod(c.sod, { cscas: [csca], dataGroups: new Map([[1, DG1], [2, DG2]]) });
    expect(r.signatureValid).toBe(true);
    expect(r.chainValid).toBe(true);
    expect(r.dgMatches).toEqual({ '1': true, '2': true });
    expect(r.dataGroups['1']).toBe('ceaecfd1454a0e6dcd187c25c3712d36a239edbcd2c8ead07b49cf441bda4b92'); // vectors.json sha256 of the specimen
    expect(r.valid).toBe(true);
    expect(r.errors).toEqual([]);
    expect(r.cscaSelfSigned).toBe(true);
    expect(r.validity).toMatchObject({ source: 'signingTime', at: '2024-06-01T12:00:00.000Z', dsValid: true });
  });

  it('a changed data group is a DG_HASH_MISMATCH for that data group only', () => {
    const bad = Uint8Array.from(DG1);
    bad[10]! ^= 1;
    const r = verifySod(c.sod, { cscas: [csca], dataGroups: new Map([[1, bad], [2, DG2]]) });
    expect(r.dgMatches).toEqual({ '1': false, '2': true });
    expect(r.errors.map((e) => e.code)).toEqual([PkiCode.DG_HASH_MISMATCH]);
    expect(r.valid).toBe(false);
    expect(r.signatureValid && r.chainValid).toBe(true);
  });

  it('an impostor CSCA with the same name (other key) does not validate the chain: DS_SIGNATURE_INVALID', () => {
    const r = verifySod(c.sod, { cscas: [impostor] });
    expect(r.chainValid).toBe(false);
    expect(r.chainReason).toBe(PkiCode.DS_SIGNATURE_INVALID);
  });

  it('with the impostor and the real CSCA both in the store, every candidate is tried and the real one wins', () => {
    const r = verifySod(c.sod, { cscas: [impostor, csca] });
    expect(r.chainValid).toBe(true);
    expect(r.csca!.sha256Fingerprint).toBe(csca.sha256Fingerprint);
  });

  it('a CSCA whose self-signature is broken fails with CSCA_SIGNATURE_INVALID', () => {
    const broken = Uint8Array.from(c.csca);
    broken[broken.length - 5]! ^= 1; // inside the signature value
    const r = verifySod(c.sod, { cscas: [parseCertificate(broken)] });
    expect(r.chainValid).toBe(false);
    expect(r.chainReason).toBe(PkiCode.CSCA_SIGNATURE_INVALID);
  });
});

describe('revocation (CRL)', () => {
  it('a CRL from the CSCA listing the DS serial: chainValid false, reason DS_REVOKED', async () => {
    const crl = await makeCrl('CSCA Utopia', c.cscaKeys.privateKey, [7, c.dsSerial], new Date('2024-07-01T00:00:00Z'), new Date('2030-01-01T00:00:00Z'));
    const r = verifySod(c.sod, { cscas: [csca], crls: [crl] });
    expect(r.signatureValid).toBe(true);
    expect(r.chainValid).toBe(false);
    expect(r.chainReason).toBe(PkiCode.DS_REVOKED);
    expect(r.crlChecked).toBe(true);
    expect(r.valid).toBe(false);
    expect(r.errors.map((e) => e.code)).toEqual([PkiCode.DS_REVOKED]);
  });

  it('a CRL from the CSCA not listing the DS: checked, chain valid', async () => {
    const crl = parseCrl(await makeCrl('CSCA Utopia', c.cscaKeys.privateKey, [7, 8], new Date('2024-07-01T00:00:00Z'), new Date('2030-01-01T00:00:00Z')));
    expect(crl.revoked.map((e) => e.serialHex)).toEqual(['07', '08']);
    const r = verifySod(c.sod, { cscas: [csca], crls: [crl] });
    expect(r.chainValid).toBe(true);
    expect(r.crlChecked).toBe(true);
    expect(r.warnings).toEqual([]);
  });

  it('a CRL with the CSCA name but another key is ignored (CRL_SIGNATURE_INVALID warning) and cannot revoke', async () => {
    const forged = await makeCrl('CSCA Utopia', c.impostorKeys.privateKey, [c.dsSerial], new Date('2024-07-01T00:00:00Z'), new Date('2030-01-01T00:00:00Z'));
    const r = verifySod(c.sod, { cscas: [csca], crls: [forged] });
    expect(r.chainValid).toBe(true);
    expect(r.crlChecked).toBe(false);
    expect(r.warnings.map((w) => w.code)).toEqual([PkiCode.CRL_SIGNATURE_INVALID, PkiCode.CRL_NOT_FOUND]);
  });

  it('a CRL from another CA is not applicable (CRL_NOT_FOUND warning)', async () => {
    const other = await makeCrl('CSCA Elsewhere', c.impostorKeys.privateKey, [c.dsSerial], new Date('2024-07-01T00:00:00Z'), new Date('2030-01-01T00:00:00Z'));
    const r = verifySod(c.sod, { cscas: [csca], crls: [other] });
    expect(r.chainValid).toBe(true);
    expect(r.warnings.map((w) => w.code)).toEqual([PkiCode.CRL_NOT_FOUND]);
  });

  it('an outdated CRL still revokes, with a CRL_OUTDATED warning', async () => {
    const old = await makeCrl('CSCA Utopia', c.cscaKeys.privateKey, [c.dsSerial], new Date('2024-01-02T00:00:00Z'), new Date('2024-02-01T00:00:00Z'));
    const r = verifyDsChain(ds, [csca], { at: new Date('2024-06-01T00:00:00Z'), crls: [old] });
    expect(r.valid).toBe(false);
    expect(r.reason).toBe(PkiCode.DS_REVOKED);
    expect(r.warnings.map((w) => w.code)).toContain(PkiCode.CRL_OUTDATED);
  });

  it('reads CRLs from PEM', async () => {
    const crl = await makeCrl('CSCA Utopia', c.cscaKeys.privateKey, [c.dsSerial], new Date('2024-07-01T00:00:00Z'), new Date('2030-01-01T00:00:00Z'));
    const list = parseCrls(pem(crl, 'X509 CRL') + pem(crl, 'X509 CRL'));
    expect(list).toHaveLength(2);
    expect(list[0]!.issuer.matchKey).toBe(csca.subject.matchKey);
  });
});

describe('validity periods', () => {
  it('checked at `at`: a DS used after its notAfter is a warning by default, a failure with strictValidity', () => {
    const at = new Date('2026-01-01T00:00:00Z');
    const lax = verifySod(c.sod, { cscas: [csca], at });
    expect(lax.chainValid).toBe(true);
    expect(lax.warnings.map((w) => w.code)).toEqual([PkiCode.DS_EXPIRED]);
    const strict = verifySod(c.sod, { cscas: [csca], at, strictValidity: true });
    expect(strict.chainValid).toBe(false);
    expect(strict.chainReason).toBe(PkiCode.DS_EXPIRED);
  });

  it('before notBefore: DS_NOT_YET_VALID and CSCA_NOT_YET_VALID', () => {
    const r = verifyDsChain(ds, [csca], { at: new Date('2023-01-01T00:00:00Z') });
    expect(r.warnings.map((w) => w.code)).toEqual([PkiCode.DS_NOT_YET_VALID, PkiCode.CSCA_NOT_YET_VALID]);
  });
});

describe('certificates and the trust store', () => {
  it('reads a PEM bundle with text between blocks; DER and PEM give the same certificate', () => {
    const text = `Subject: CSCA\n${pem(c.csca)}\nsomething else\n${pem(c.ds)}`;
    const certs = parseCertificates(text);
    expect(certs.map((x) => x.sha256Fingerprint)).toEqual([csca.sha256Fingerprint, ds.sha256Fingerprint]);
    expect(parseCertificates(c.csca)[0]!.sha256Fingerprint).toBe(csca.sha256Fingerprint);
    expect(readPem(text).map((b) => b.label)).toEqual(['CERTIFICATE', 'CERTIFICATE']);
  });

  it('keeps tbsCertificate as read and reads the extensions', () => {
    expect(Buffer.from(c.csca).indexOf(Buffer.from(csca.tbsRaw))).toBe(4);
    expect(csca.basicConstraints).toEqual({ cA: true, pathLen: 0 });
    expect(csca.keyUsage).toEqual(['keyCertSign', 'cRLSign']);
    expect(ds.keyUsage).toEqual(['digitalSignature']);
    expect(ds.authorityKeyIdentifier).toEqual(csca.subjectKeyIdentifier);
    expect(ds.serialHex).toBe('1234');
    expect(ds.version).toBe(3);
  });

  it('a store skips unparseable PEM entries (listed in rejected) and ignores duplicates', () => {
    const junk = `-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n`;
    const store = CscaStore.fromPem(pem(c.csca) + junk + pem(c.csca) + pem(c.impostor));
    expect(store.size).toBe(2);
    expect(store.rejected).toHaveLength(1);
    expect(store.rejected[0]!.index).toBe(2);
    expect(store.rejected[0]!.reason).toMatch(/^CERT_MALFORMED/);
  });

  it('finds issuer candidates by AKI even when the issuer name differs', async () => {
    const renamed = parseCertificate(
      await makeCertificate({
        subjectCn: 'CSCA Utopia (renamed)',
        issuerCn: 'CSCA Utopia (renamed)',
        serial: 2,
        subjectKey: c.cscaKeys.publicKey,
        issuerPublicKey: c.cscaKeys.publicKey,
        issuerPrivateKey: c.cscaKeys.privateKey,
        ca: true,
        notBefore: new Date('2024-01-01T00:00:00Z'),
        notAfter: new Date('2034-01-01T00:00:00Z'),
      }),
    );
    const store = new CscaStore([impostor, renamed]);
    expect(store.findIssuers(ds)).toEqual([impostor, renamed]);
    const r = verifyDsChain(ds, store, { at: new Date('2024-06-01T00:00:00Z') });
    expect(r.valid).toBe(true);
    expect(r.csca).toBe(renamed);
  });

  it('not a certificate: CERT_MALFORMED; not PEM: PEM_MALFORMED', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as PkiError).code;
      }
      return undefined;
    };
    expect(code(() => parseCertificate(fromHex('30 03 02 01 01')))).toBe(PkiCode.CERT_MALFORMED);
    expect(code(() => parseCertificates('hello'))).toBe(PkiCode.PEM_MALFORMED);
    expect(code(() => parseCrl(c.csca))).toBe(PkiCode.CRL_MALFORMED);
  });
});
