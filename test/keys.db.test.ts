/**
 * Key ceremony, DS rotation, CRLs and the DS signing policy against a real SoftHSM token (private to this file)
 * and the database of the vitest project (SQLite, and PostgreSQL in the postgres project). Certificates are
 * checked with `openssl x509 -text`, an implementation Kadi did not write.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { auditTrail, verifyAudit } from '../src/audit/index.ts';
import { Pkcs11Hsm } from '../src/hsm/index.ts';
import {
  type CeremonyDefinition,
  KeysCode,
  ceremony,
  currentDsSigner,
  exportCsca,
  issueCrl,
  listKeys,
  parseCeremonyDefinition,
  rotateDs,
} from '../src/keys/index.ts';
import { CscaStore, PkiCode, addMonths, documentTypesOf, parseCertificate, parseCertificates, parseCrl, privateKeyUsagePeriodOf, verifySod } from '../src/pki/index.ts';
import { activeSealSigner, createSealSigner } from '../src/print/index.ts';
import { FixedClock } from '../src/shared/index.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { makeConfig, startServices, SOFTHSM_MODULE } from './support/services.ts';

const REPO = path.resolve(import.meta.dirname, '..');
const definition: CeremonyDefinition = parseCeremonyDefinition(JSON.parse(readFileSync(path.join(REPO, 'hsm/ceremony.json'), 'utf8')));
const DAY = 86_400_000;

let home: string;
let hsm: Pkcs11Hsm;
let t: TestDatabase;
let clock: FixedClock;

beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), 'kadi-keys-test-'));
  const info = await startServices(await makeConfig(home, { readers: 1 }), ['softhsm']);
  process.env.SOFTHSM2_CONF = info.softhsmConf;
  hsm = Pkcs11Hsm.open({ module: SOFTHSM_MODULE, token: 'kadi', pin: readFileSync(info.hsmPinFile, 'utf8').trim() });
});
afterAll(async () => {
  await hsm?.close();
  rmSync(home, { recursive: true, force: true });
});
beforeEach(async () => {
  t = await createTestDatabase();
  clock = new FixedClock(new Date(Math.floor(Date.now() / 1000) * 1000));
});
afterEach(async () => {
  await t?.close();
});

const deps = () => ({ db: t.db, keyStore: hsm, actor: 'custodian.wanjiru', clock });

function opensslText(der: Uint8Array, kind: 'x509' | 'crl'): string {
  const f = path.join(home, `obj-${Math.random().toString(36).slice(2)}.der`);
  writeFileSync(f, der);
  return execFileSync('openssl', [kind, '-inform', 'DER', '-in', f, '-noout', '-text'], { encoding: 'utf8' });
}

describe('key ceremony', () => {
  it('creates CSCA and DS keys in the token (sensitive, non-extractable) with ICAO certificates, a CRL and audit entries', async () => {
    const r = await ceremony(deps(), definition);
    for (const k of [r.csca, r.ds]) {
      const info = await hsm.keyInfo(k.label);
      expect(info).toMatchObject({ token: true, private: true, sensitive: true, extractable: false, neverExtractable: true, algorithm: 'ecdsa-p256' });
    }
    const csca = parseCertificate(r.csca.certificate);
    const ds = parseCertificate(r.ds.certificate);
    expect(Buffer.from(csca.subjectKeyIdentifier!).toString('hex')).toBe((await hsm.keyInfo(r.csca.label)).id);
    expect(ds.authorityKeyIdentifier).toEqual(csca.subjectKeyIdentifier);
    expect(documentTypesOf(ds)).toEqual(['ID']);
    const dsPkup = privateKeyUsagePeriodOf(ds)!;
    expect(dsPkup.notBefore).toEqual(clock.now());
    expect(dsPkup.notAfter).toEqual(addMonths(clock.now(), 3));
    expect(ds.notAfter.getUTCFullYear()).toBe(dsPkup.notAfter!.getUTCFullYear() + 10);
    expect(csca.notAfter >= ds.notAfter).toBe(true);

    // OpenSSL reads them and shows the ICAO profile.
    const ct = opensslText(r.csca.certificate, 'x509');
    expect(ct).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(ct).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(ct).toMatch(/X509v3 Private Key Usage Period:\s+Not Before: .+, Not After: .+/);
    expect(ct).toContain('X509v3 Subject Key Identifier');
    expect(ct).toContain('URI:https://pkddownloadsg.icao.int/CRLs/KEN.crl');
    expect(ct).toContain('Subject: C = KE, O = Republic of Kenya, OU = National Registration Bureau, CN = CSCA Kenya');
    const dt = opensslText(r.ds.certificate, 'x509');
    expect(dt).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
    expect(dt).toMatch(/X509v3 Private Key Usage Period:/);
    expect(dt).toContain('X509v3 Authority Key Identifier');
    expect(dt).toContain('2.23.136.1.1.6.2:'); // documentTypeList (OpenSSL has no name for it)
    expect(dt).not.toContain('Basic Constraints');
    expect(dt).not.toContain('Extended Key Usage');
    const crlText = opensslText(r.crl.der, 'crl');
    expect(crlText).toContain('Version 2');
    expect(crlText).toMatch(/X509v3 CRL Number:\s+1/);
    expect(crlText).toContain('No Revoked Certificates');

    const store = await listKeys(t.db, clock);
    expect(store.map((k) => [k.kind, k.status, k.inUsagePeriod])).toEqual([
      ['DS', 'ACTIVE', true],
      ['CSCA', 'ACTIVE', true],
    ]);
    const trail = await auditTrail(t.db, 'key', r.csca.label);
    expect(trail.map((e) => e.action)).toEqual(['key.generate', 'cert.issue']);
    expect(trail.every((e) => e.actor === 'custodian.wanjiru')).toBe(true);
    expect((await auditTrail(t.db, 'key', r.ds.label)).map((e) => e.action)).toEqual(['key.generate', 'cert.issue']);
    expect(await verifyAudit(t.db)).toMatchObject({ ok: true });
  });

  it('runs once: a second ceremony is refused', async () => {
    await ceremony(deps(), definition);
    await expect(ceremony(deps(), definition)).rejects.toMatchObject({ code: KeysCode.CSCA_EXISTS });
  });

  it('leaves nothing behind when the ceremony fails half-way (keys destroyed, no rows, no audit)', async () => {
    const generated: string[] = [];
    const failing = {
      generateKeyPair: async (label: string, alg: Parameters<Pkcs11Hsm['generateKeyPair']>[1]) => {
        if (generated.length === 1) throw new Error('simulated HSM failure on the second key');
        generated.push(label);
        return hsm.generateKeyPair(label, alg);
      },
      signer: (label: string) => hsm.signer(label),
      destroyKeyPair: (label: string) => hsm.destroyKeyPair(label),
    };
    await expect(ceremony({ ...deps(), keyStore: failing }, definition)).rejects.toThrow('simulated HSM failure');
    expect(generated).toHaveLength(1);
    expect(await hsm.hasKey(generated[0]!)).toBe(false);
    expect(Number((await t.db('keys').count({ n: '*' }))[0]!.n)).toBe(0);
    expect(Number((await t.db('audit_log').count({ n: '*' }))[0]!.n)).toBe(0);
  });

  it('exports the CSCA as PEM that openssl and the pki module read', async () => {
    const r = await ceremony(deps(), definition, { algorithm: 'ecdsa-brainpoolp256r1' });
    const { pem } = await exportCsca(deps());
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n$/);
    expect(parseCertificates(pem)[0]!.raw).toEqual(r.csca.certificate);
    const f = path.join(home, 'csca.pem');
    writeFileSync(f, pem);
    expect(execFileSync('openssl', ['x509', '-in', f, '-noout', '-text'], { encoding: 'utf8' })).toContain('ASN1 OID: brainpoolP256r1');
    expect((await auditTrail(t.db, 'key', r.csca.label)).map((e) => e.action)).toContain('key.export');
  });
});

describe('Document Signer policy', () => {
  const dgs = new Map([
    [1, Uint8Array.from([0x61, 0x04, 0x5f, 0x1f, 0x01, 0x41])],
    [2, new Uint8Array(15_000).fill(0x42)],
  ]);

  it('signs inside the private key usage period and summarises key use in the audit log', async () => {
    const r = await ceremony(deps(), definition);
    const session = await currentDsSigner(deps());
    try {
      for (let i = 0; i < 3; i++) {
        const sod = await session.signSod(dgs);
        const v = verifySod(sod, { cscas: [parseCertificate(r.csca.certificate)], dataGroups: dgs, crls: [r.crl.der] });
        expect(v.errors).toEqual([]);
        expect(v.valid).toBe(true);
      }
      expect(session.count).toBe(3);
    } finally {
      expect(await session.close()).toMatchObject({ label: r.ds.label, signatures: 3 });
    }
    const uses = (await auditTrail(t.db, 'key', r.ds.label)).filter((e) => e.action === 'key.use');
    expect(uses).toHaveLength(1);
    expect(uses[0]!.data).toMatchObject({ signatures: 3, purpose: 'EF.SOD' });
    await expect(session.signSod(dgs)).rejects.toMatchObject({ code: KeysCode.NO_DS });
  });

  it('refuses a DS outside its private key usage period, and the rotated DS signs again', async () => {
    const r = await ceremony(deps(), definition);
    clock.advance(addMonths(clock.now(), 3).getTime() - clock.now().getTime() + 1000);
    // The CRL is also stale by now; the key usage period is checked first.
    await expect(currentDsSigner(deps())).rejects.toMatchObject({ code: KeysCode.KEY_USAGE_PERIOD_EXPIRED });
    const rot = await rotateDs(deps(), definition);
    expect(rot.retired).toEqual([r.ds.label]);
    await expect(currentDsSigner(deps())).rejects.toMatchObject({ code: KeysCode.CRL_OUTDATED });
    await issueCrl(deps(), definition);
    const session = await currentDsSigner(deps());
    try {
      expect(session.ds.label).toBe(rot.ds.label);
      const sod = await session.signSod(dgs);
      expect(verifySod(sod, { cscas: [parseCertificate(r.csca.certificate)], dataGroups: dgs }).valid).toBe(true);
    } finally {
      await session.close();
    }
    const listed = await listKeys(t.db, clock);
    expect(listed.find((k) => k.label === r.ds.label)).toMatchObject({ status: 'RETIRED', inUsagePeriod: false });
    expect((await auditTrail(t.db, 'key', r.ds.label)).map((e) => e.action)).toContain('key.retire');
  });

  it('refuses to sign when the latest CRL is past its nextUpdate, also in an open session', async () => {
    const def = { ...definition, crl: { nextUpdateDays: 30 } };
    await ceremony(deps(), def);
    const session = await currentDsSigner(deps());
    try {
      await session.signSod(dgs);
      clock.advance(30 * DAY + 1000);
      await expect(session.signSod(dgs)).rejects.toMatchObject({ code: KeysCode.CRL_OUTDATED });
      await expect(currentDsSigner(deps())).rejects.toMatchObject({ code: KeysCode.CRL_OUTDATED });
      await issueCrl(deps(), def);
      await session.refresh();
      await session.signSod(dgs);
    } finally {
      expect((await session.close()).signatures).toBe(2);
    }
  });

  it('revokes a DS: the CRL lists it, signing is refused, and passive authentication reports DS_REVOKED', async () => {
    const r = await ceremony(deps(), definition);
    const session = await currentDsSigner(deps());
    const sod = await session.signSod(dgs);
    await session.close();
    const issued = await issueCrl(deps(), definition, { revoke: [`0x${r.ds.serialHex.toUpperCase()}`] });
    expect(issued.newlyRevoked).toEqual([r.ds.serialHex]);
    expect(issued.crl.crlNumber).toBe(2);
    const crl = parseCrl(issued.crl.der);
    expect(crl.revoked.map((x) => x.serialHex)).toEqual([r.ds.serialHex]);
    expect(opensslText(issued.crl.der, 'crl')).toContain(`Serial Number: ${r.ds.serialHex.toUpperCase()}`);
    const v = verifySod(sod, { cscas: new CscaStore([parseCertificate(r.csca.certificate)]), crls: [issued.crl.der], dataGroups: dgs });
    expect(v.chainValid).toBe(false);
    expect(v.chainReason).toBe(PkiCode.DS_REVOKED);
    expect(v.valid).toBe(false);
    await expect(currentDsSigner(deps())).rejects.toMatchObject({ code: KeysCode.KEY_REVOKED });
    // The next CRL keeps the revocation (same date).
    clock.advance(DAY);
    const next = await issueCrl(deps(), definition);
    expect(parseCrl(next.crl.der).revoked).toEqual(crl.revoked);
    await expect(issueCrl(deps(), definition, { revoke: ['0badc0ffee'] })).rejects.toMatchObject({ code: KeysCode.SERIAL_UNKNOWN });
    expect(await verifyAudit(t.db)).toMatchObject({ ok: true });
  });

  it('revokes a seal (barcode) signer with the same CRL: it is listed, marked REVOKED and no longer used for seals', async () => {
    await ceremony(deps(), definition);
    const seal = await createSealSigner(deps());
    expect((await activeSealSigner(t.db))?.label).toBe(seal.label);
    const issued = await issueCrl(deps(), definition, { revoke: [seal.certificateReference] });
    expect(issued.newlyRevoked).toEqual([seal.certificateReference.toLowerCase()]);
    expect(parseCrl(issued.crl.der).revoked.map((x) => x.serialHex)).toEqual([seal.certificateReference.toLowerCase()]);
    expect((await t.db('keys').where({ label: seal.label }).first('status')).status).toBe('REVOKED');
    expect(await activeSealSigner(t.db)).toBeUndefined();
    const trail = await auditTrail(t.db, 'key', seal.label);
    expect(trail.map((e) => [e.action, (e.data as { kind?: string }).kind])).toContainEqual(['key.revoke', 'SEAL']);
    expect(await verifyAudit(t.db)).toMatchObject({ ok: true });
  });

  it('refuses before the ceremony', async () => {
    await expect(currentDsSigner(deps())).rejects.toMatchObject({ code: KeysCode.NO_DS });
    await expect(rotateDs(deps(), definition)).rejects.toMatchObject({ code: KeysCode.NO_CSCA });
    await expect(issueCrl(deps(), definition)).rejects.toMatchObject({ code: KeysCode.NO_CSCA });
  });

  it('rejects a definition with a DS key usage period over three months', () => {
    expect(() => parseCeremonyDefinition({ ...definition, ds: { ...definition.ds, privateKeyUsageMonths: 4 } })).toThrow(
      expect.objectContaining({ code: KeysCode.DEFINITION_INVALID }),
    );
  });
});
