/**
 * EF.SOD signed through PKCS#11 (SoftHSM), for every key algorithm, checked by two verifiers:
 *  - OpenSSL, written by others:  openssl cms -verify -inform DER -in <ContentInfo> -CAfile csca.pem -binary -out econtent
 *    (the 0x77 wrapper removed; no -purpose needed: an ICAO DS has keyUsage digitalSignature and no
 *    extendedKeyUsage, which OpenSSL 3.0's default S/MIME signing purpose accepts), and with the CRL appended to
 *    the -CAfile bundle plus -crl_check (openssl cms has no -CRLfile);
 *  - Kadi's own passive authentication (verifySod), which also compares the data-group hashes.
 * Tampering with one data-group byte, one eContent byte or one signature byte is detected.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as asn1js from 'asn1js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pkcs11Hsm } from '../src/hsm/index.ts';
import { type CeremonyResult, type DsSigningSession, ceremony, crlPem, currentDsSigner, exportCsca, issueCrl, parseCeremonyDefinition } from '../src/keys/index.ts';
import { encodeDg1 } from '../src/lds/index.ts';
import { KEY_ALGORITHMS, PkiCode, parseCertificate, parseSod, unwrapSod, verifySod } from '../src/pki/index.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { makeConfig, startServices, SOFTHSM_MODULE } from './support/services.ts';

const REPO = path.resolve(import.meta.dirname, '..');
const definition = parseCeremonyDefinition(JSON.parse(readFileSync(path.join(REPO, 'hsm/ceremony.json'), 'utf8')));

let home: string;
let hsm: Pkcs11Hsm;

beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), 'kadi-sod-test-'));
  const info = await startServices(await makeConfig(home, { readers: 1 }), ['softhsm']);
  process.env.SOFTHSM2_CONF = info.softhsmConf;
  hsm = Pkcs11Hsm.open({ module: SOFTHSM_MODULE, token: 'kadi', pin: readFileSync(info.hsmPinFile, 'utf8').trim() });
});
afterAll(async () => {
  await hsm?.close();
  rmSync(home, { recursive: true, force: true });
});

/** A TD1 card's data groups: DG1 from the ICAO 9303-5 specimen MRZ, a ~15 KB DG2, DG11-DG15 (synthetic TLV bodies). */
function dataGroups(): Map<number, Uint8Array> {
  const tlv = (tag: number, len: number, fill: number): Uint8Array => {
    const body = new Uint8Array(len).map((_, i) => (fill + i * 7) & 0xff);
    const hdr = len < 0x80 ? [tag, len] : len < 0x100 ? [tag, 0x81, len] : [tag, 0x82, len >> 8, len & 0xff];
    return Uint8Array.from([...hdr, ...body]);
  };
  return new Map([
    [1, encodeDg1(['I<UTOD231458907<<<<<<<<<<<<<<<', '7408122F1204159UTO<<<<<<<<<<<6', 'ERIKSSON<<ANNA<MARIA<<<<<<<<<<'])],
    [2, tlv(0x75, 15_000, 1)],
    [11, tlv(0x6b, 180, 2)],
    [12, tlv(0x6c, 60, 3)],
    [13, tlv(0x6d, 90, 4)],
    [14, tlv(0x6e, 300, 5)],
    [15, tlv(0x6f, 95, 6)],
  ]);
}

function opensslVerify(contentInfo: Uint8Array, cscaPem: string, extra: string[] = [], crl?: string): { ok: boolean; eContent: Uint8Array; stderr: string } {
  const dir = mkdtempSync(path.join(home, 'v-'));
  writeFileSync(path.join(dir, 'sod.cms'), contentInfo);
  // openssl cms has no -CRLfile: CRLs go into the -CAfile bundle, and -crl_check turns the check on.
  writeFileSync(path.join(dir, 'csca.pem'), crl ? cscaPem + crl : cscaPem);
  const args = ['cms', '-verify', '-inform', 'DER', '-in', path.join(dir, 'sod.cms'), '-CAfile', path.join(dir, 'csca.pem'), '-binary', '-out', path.join(dir, 'econtent.bin'), ...extra];
  if (crl) args.push('-crl_check');
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  let eContent = new Uint8Array();
  try {
    eContent = new Uint8Array(readFileSync(path.join(dir, 'econtent.bin')));
  } catch {
    // no output on failure
  }
  return { ok: r.status === 0 && /Verification successful/.test(r.stderr), eContent, stderr: r.stderr };
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe.each(KEY_ALGORITHMS)('EF.SOD signed through PKCS#11 with %s', (alg) => {
  let t: TestDatabase;
  let keys: CeremonyResult;
  let session: DsSigningSession;
  let cscaPem: string;
  const dgs = dataGroups();
  let sod: Uint8Array;

  beforeAll(async () => {
    t = await createTestDatabase();
    keys = await ceremony({ db: t.db, keyStore: hsm, actor: 'custodian' }, definition, { algorithm: alg });
    cscaPem = (await exportCsca({ db: t.db, actor: 'custodian' })).pem;
    session = await currentDsSigner({ db: t.db, keyStore: hsm, actor: 'custodian' });
    sod = await session.signSod(dgs);
  });
  afterAll(async () => {
    await session?.close();
    await t?.close();
  });

  it('is DER with the ICAO structure', () => {
    expect(sod[0]).toBe(0x77);
    const ci = unwrapSod(sod);
    const r = asn1js.fromBER(ci);
    expect(r.offset).toBe(ci.length);
    expect(new Uint8Array(r.result.toBER(false))).toEqual(ci); // asn1js re-encodes it to the same bytes
    const p = parseSod(sod);
    expect(p.signedData.version).toBe(3);
    expect(p.signedData.certificates).toHaveLength(1);
    expect(p.signedData.certificates[0]!.raw).toEqual(keys.ds.certificate);
    expect(p.signer.version).toBe(1);
    expect(p.signer.signedAttrs.map((a) => a.name)).toEqual(['contentType', 'signingTime', 'messageDigest']);
    expect(p.lds.version).toBe(1);
    expect(p.lds.ldsVersion).toBe('0108');
    expect([...p.lds.dataGroupHashes.keys()]).toEqual([1, 2, 11, 12, 13, 14, 15]);
    expect(p.signer.signatureAlgorithm.name).toBe(alg === 'rsa-pss-2048' ? 'rsassaPss' : 'ecdsa-with-SHA256');
  });

  it('verifies with openssl cms -verify and the eContent carries the data-group hashes', () => {
    const r = opensslVerify(unwrapSod(sod), cscaPem);
    expect(r.stderr).toContain('Verification successful');
    expect(r.ok).toBe(true);
    expect(r.eContent).toEqual(parseSod(sod).signedData.eContent);
    // The LDSSecurityObject openssl returns lists sha256 of each data group (asn1parse by openssl too).
    const f = path.join(home, `econtent-${alg}.der`);
    writeFileSync(f, r.eContent);
    const parsed = execFileSync('openssl', ['asn1parse', '-inform', 'DER', '-in', f], { encoding: 'utf8' });
    for (const bytes of dgs.values()) expect(parsed.toLowerCase()).toContain(sha256(bytes));
  });

  it('verifies with openssl against the CSCA CRL (-crl_check)', () => {
    expect(opensslVerify(unwrapSod(sod), cscaPem, [], crlPem(keys.crl.der)).ok).toBe(true);
  });

  it("passes Kadi's passive authentication with every data group", () => {
    const v = verifySod(sod, { cscas: [parseCertificate(keys.csca.certificate)], crls: [keys.crl.der], dataGroups: dgs });
    expect(v.errors).toEqual([]);
    expect(v).toMatchObject({ valid: true, signatureValid: true, chainValid: true, digestAlgorithm: 'sha256', crlChecked: true });
    expect(Object.values(v.dgMatches)).toEqual([true, true, true, true, true, true, true]);
  });

  it('detects one changed data-group byte', () => {
    const bad = new Map(dgs);
    const dg2 = Uint8Array.from(dgs.get(2)!);
    dg2[5000] = dg2[5000]! ^ 0x01;
    bad.set(2, dg2);
    const v = verifySod(sod, { cscas: [parseCertificate(keys.csca.certificate)], dataGroups: bad });
    expect(v.valid).toBe(false);
    expect(v.dgMatches['2']).toBe(false);
    expect(v.errors.map((e) => e.code)).toEqual([PkiCode.DG_HASH_MISMATCH]);
    // openssl's eContent (the signed hashes) does not contain the tampered DG's hash either.
    const r = opensslVerify(unwrapSod(sod), cscaPem);
    const f = path.join(home, `econtent2-${alg}.der`);
    writeFileSync(f, r.eContent);
    expect(execFileSync('openssl', ['asn1parse', '-inform', 'DER', '-in', f], { encoding: 'utf8' }).toLowerCase()).not.toContain(sha256(dg2));
  });

  it('detects one changed signature byte (openssl and Kadi)', () => {
    const tampered = Uint8Array.from(sod);
    tampered[tampered.length - 3] = tampered[tampered.length - 3]! ^ 0x01; // inside the signature value
    const v = verifySod(tampered, { cscas: [parseCertificate(keys.csca.certificate)], dataGroups: dgs });
    expect(v.signatureValid).toBe(false);
    expect(v.errors.map((e) => e.code)).toContain(PkiCode.SOD_SIGNATURE_INVALID);
    const r = opensslVerify(unwrapSod(tampered), cscaPem);
    expect(r.ok).toBe(false);
  });

  it('detects one changed eContent byte (openssl and Kadi)', () => {
    const lds = parseSod(sod).signedData.eContent;
    const at = Buffer.from(sod).indexOf(Buffer.from(lds)) + lds.length - 10;
    const tampered = Uint8Array.from(sod);
    tampered[at] = tampered[at]! ^ 0x01;
    const v = verifySod(tampered, { cscas: [parseCertificate(keys.csca.certificate)] });
    expect(v.messageDigestValid).toBe(false);
    expect(v.errors.map((e) => e.code)).toContain(PkiCode.SOD_DIGEST_MISMATCH);
    expect(opensslVerify(unwrapSod(tampered), cscaPem).ok).toBe(false);
  });

  it('a revoked DS fails openssl -crl_check and shows DS_REVOKED in Kadi', async () => {
    const issued = await issueCrl({ db: t.db, keyStore: hsm, actor: 'custodian' }, definition, { revoke: [keys.ds.serialHex] });
    const r = opensslVerify(unwrapSod(sod), cscaPem, [], crlPem(issued.crl.der));
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain('certificate revoked');
    const v = verifySod(sod, { cscas: [parseCertificate(keys.csca.certificate)], crls: [issued.crl.der], dataGroups: dgs });
    expect(v.chainReason).toBe(PkiCode.DS_REVOKED);
    expect(v.valid).toBe(false);
  });
});
