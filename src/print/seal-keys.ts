/**
 * The bar code (seal) signer: a key pair in the HSM with its own certificate under the CSCA (ICAO Doc 9303-12
 * §7.1.3), recorded in the `keys` table as kind SEAL. Implemented here with the public APIs of pki (certificate
 * builder) and the KeyStore port (src/hsm), because the keys module manages CSCA and Document Signers only.
 *
 * Certificate profile (9303-12 §7.1.3, Table 8):
 * ```
 * subject   C = the signer's country (= CSCA country), CN = 2 upper-case characters; nothing else.
 *           The seal header's signer identifier is C || CN ("KESA"); its certificate reference is the serial (hex).
 * issuer    the CSCA subject, as encoded in the CSCA certificate
 * serial    6 random octets (positive): 12 hex characters in every seal header
 * validity  from now to the end of the private key usage period + the longest document validity (10 years),
 *           cut at the CSCA certificate's notAfter
 * extensions
 *   authorityKeyIdentifier (m, nc)  = CSCA subjectKeyIdentifier
 *   documentTypeList       (o, nc)  = ["ID"]  (2.23.136.1.1.6.2)
 *   extKeyUsage            (m, c)   = id-icao-vdsSigner 2.23.136.1.1.11.1
 * ```
 * The private key usage period is Kadi policy (default 12 months; ICAO Table 1 gives 1-2 years for a bar code
 * signer) and lives in the keys table (pkup_not_before/after); seals are refused outside it.
 */
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { appendAudit } from '../audit/index.ts';
import {
  type Certificate,
  type KeyAlgorithm,
  type Signer,
  addMonths,
  derEncode,
  encodeName,
  ext,
  parseCertificate,
  signCertificate,
  verifyCertificateSignature,
} from '../pki/index.ts';
import { type Clock, KadiError, NotFoundError, systemClock } from '../shared/index.ts';
import { OID_VDS_SIGNER } from './vds.ts';

/** The KeyStore port (src/keys), as far as seal signers need it. The PKCS#11 adapter implements it. */
export interface SealKeyStore {
  generateKeyPair(label: string, algorithm: KeyAlgorithm): Promise<{ publicKeySpki: Uint8Array }>;
  signer(label: string): Promise<Signer>;
  destroyKeyPair(label: string): Promise<void>;
}

export class SealKeyError extends KadiError {}

export interface SealSignerRecord {
  id: number;
  label: string;
  algorithm: KeyAlgorithm;
  status: string;
  certificate: Uint8Array;
  cert: Certificate;
  /** C || CN, as in the seal header. */
  signerIdentifier: string;
  /** Upper-case hex serial, as in the seal header. */
  certificateReference: string;
  pkupNotBefore: Date;
  pkupNotAfter: Date;
}

export interface CreateSealSignerOptions {
  /** Two upper-case letters (the certificate CN); default: the next free of SA, SB, ... */
  code?: string;
  /** Private key usage period, months (1..24, default 12). */
  usageMonths?: number;
  /** Longest validity of a document the seal is printed on, years (default 10). */
  documentValidityYears?: number;
  /** MRZ document types the signer may seal (default ["ID"]). */
  documentTypes?: string[];
  algorithm?: KeyAlgorithm;
}

export interface SealKeyDeps {
  db: Knex;
  keyStore: SealKeyStore;
  actor: string;
  clock?: Clock;
}

const OID_EKU = '2.5.29.37';

function toBytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw new TypeError('expected a binary column');
}

function nameAttr(cert: Certificate, short: string): string | undefined {
  for (const rdn of cert.subject.rdns) for (const a of rdn) if (a.shortName === short) return a.value;
  return undefined;
}

function rowToSigner(r: Record<string, unknown>): SealSignerRecord {
  const der = toBytes(r.certificate);
  const cert = parseCertificate(der);
  return {
    id: Number(r.id),
    label: String(r.label),
    algorithm: r.algorithm as KeyAlgorithm,
    status: String(r.status),
    certificate: der,
    cert,
    signerIdentifier: `${nameAttr(cert, 'C') ?? '??'}${nameAttr(cert, 'CN') ?? '??'}`,
    certificateReference: cert.serialHex.toUpperCase(),
    pkupNotBefore: new Date(String(r.pkup_not_before)),
    pkupNotAfter: new Date(String(r.pkup_not_after)),
  };
}

/** Every seal signer on record (newest first). */
export async function sealSigners(db: Knex | Knex.Transaction): Promise<SealSignerRecord[]> {
  return (await db('keys').where({ kind: 'SEAL' }).orderBy('id', 'desc')).map(rowToSigner);
}

/** The newest ACTIVE seal signer whose private key usage period contains `at`. */
export async function activeSealSigner(db: Knex | Knex.Transaction, at: Date = new Date()): Promise<SealSignerRecord | undefined> {
  return (await sealSigners(db)).find((s) => s.status === 'ACTIVE' && at >= s.pkupNotBefore && at <= s.pkupNotAfter);
}

/** Certificates of every seal signer (for verification), and the active CSCA certificates. */
export async function sealTrustMaterial(db: Knex): Promise<{ signers: Certificate[]; cscas: Certificate[] }> {
  const signers = (await sealSigners(db)).map((s) => s.cert);
  const cscas = (await db('keys').where({ kind: 'CSCA' }).select('certificate')).map((r) => parseCertificate(toBytes(r.certificate)));
  return { signers, cscas };
}

/** A seal signer ready to sign: its record and the HSM Signer (checked against its usage period). */
export async function sealSigningSession(deps: Pick<SealKeyDeps, 'db' | 'keyStore' | 'clock'>): Promise<{ record: SealSignerRecord; signer: Signer }> {
  const now = (deps.clock ?? systemClock).now();
  const record = await activeSealSigner(deps.db, now);
  if (!record) {
    const any = (await sealSigners(deps.db)).find((s) => s.status === 'ACTIVE');
    throw new SealKeyError(any ? 'SEAL_KEY_USAGE_PERIOD_EXPIRED' : 'SEAL_NO_SIGNER', any ? `the seal signer ${any.label} may sign only until ${any.pkupNotAfter.toISOString()}` : 'there is no seal signer', {
      hint: 'A key custodian runs `kadi seal keygen` (after `kadi keys ceremony`).',
    });
  }
  return { record, signer: await deps.keyStore.signer(record.label) };
}

/** Creates a seal signer key pair in the HSM and its certificate signed by the active CSCA. */
export async function createSealSigner(deps: SealKeyDeps, opts: CreateSealSignerOptions = {}): Promise<SealSignerRecord> {
  const clock = deps.clock ?? systemClock;
  const now = new Date(Math.floor(clock.now().getTime() / 1000) * 1000);
  const cscaRow = await deps.db('keys').where({ kind: 'CSCA', status: 'ACTIVE' }).orderBy('id', 'desc').first();
  if (!cscaRow) throw new NotFoundError('SEAL_NO_CSCA', 'there is no active CSCA to certify a seal signer', { hint: 'Run `kadi keys ceremony` first.' });
  const csca = parseCertificate(toBytes(cscaRow.certificate));
  const cscaPkupEnd = new Date(String(cscaRow.pkup_not_after));
  if (now > cscaPkupEnd || now < new Date(String(cscaRow.pkup_not_before))) {
    throw new SealKeyError('SEAL_CSCA_NOT_USABLE', `the CSCA ${String(cscaRow.label)} is outside its private key usage period`, { hint: 'Roll over the CSCA before issuing new signers.' });
  }
  if (!csca.subjectKeyIdentifier) throw new SealKeyError('SEAL_CSCA_INVALID', 'the CSCA certificate has no subjectKeyIdentifier');
  const country = nameAttr(csca, 'C');
  if (!country || !/^[A-Z]{2}$/.test(country)) throw new SealKeyError('SEAL_CSCA_INVALID', 'the CSCA certificate has no 2-letter country');
  const existing = await sealSigners(deps.db);
  let code = opts.code;
  if (code === undefined) {
    const used = new Set(existing.map((s) => s.signerIdentifier.slice(2)));
    code = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'].map((c) => `S${c}`).find((c) => !used.has(c));
    if (!code) throw new SealKeyError('SEAL_CODE_EXHAUSTED', 'no free seal signer code SA..SZ; give --code');
  }
  if (!/^[A-Z]{2}$/.test(code)) throw new SealKeyError('SEAL_CODE_INVALID', 'a seal signer code is two upper-case letters (the certificate CN)');
  const usageMonths = opts.usageMonths ?? 12;
  if (!Number.isInteger(usageMonths) || usageMonths < 1 || usageMonths > 24) throw new SealKeyError('SEAL_POLICY_INVALID', 'the usage period is 1 to 24 months');
  const docYears = opts.documentValidityYears ?? 10;
  const algorithm = opts.algorithm ?? 'ecdsa-p256';
  if (algorithm === 'rsa-pss-2048') throw new SealKeyError('SEAL_POLICY_INVALID', 'seal signers use ECDSA (Doc 9303-13 §2.4)');
  const pkupEnd = addMonths(now, usageMonths);
  let notAfter = new Date(Date.UTC(pkupEnd.getUTCFullYear() + docYears, pkupEnd.getUTCMonth(), pkupEnd.getUTCDate(), pkupEnd.getUTCHours(), pkupEnd.getUTCMinutes(), pkupEnd.getUTCSeconds()));
  if (notAfter > csca.notAfter) notAfter = csca.notAfter;
  const label = `kadi-seal-${country.toLowerCase()}-${code.toLowerCase()}-${now.toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(3).toString('hex')}`;

  await deps.keyStore.generateKeyPair(label, algorithm);
  try {
    const pub = await deps.keyStore.signer(label);
    const cscaSigner = await deps.keyStore.signer(String(cscaRow.label));
    const serial = new Uint8Array(randomBytes(6));
    serial[0] = (serial[0]! & 0x7f) | 0x10; // positive, 12 significant hex digits
    const der = await signCertificate(
      {
        serialNumber: serial,
        issuer: csca.subject.raw,
        subject: encodeName({ country, commonName: code }),
        notBefore: now,
        notAfter,
        subjectPublicKeySpki: pub.publicKeySpki,
        extensions: [
          ext.authorityKeyIdentifier(csca.subjectKeyIdentifier),
          ext.documentTypeList(opts.documentTypes ?? ['ID']),
          { oid: OID_EKU, critical: true, value: derEncode.sequence(derEncode.oid(OID_VDS_SIGNER)) },
        ],
      },
      cscaSigner,
    );
    const cert = parseCertificate(der);
    if (!verifyCertificateSignature(cert, csca)) throw new SealKeyError('SEAL_CERT_INVALID', 'the new seal signer certificate does not verify with the CSCA');
    return await deps.db.transaction(async (trx) => {
      const [row] = await trx('keys')
        .insert({
          kind: 'SEAL',
          label,
          algorithm,
          status: 'ACTIVE',
          certificate: Buffer.from(der),
          subject: cert.subject.text.slice(0, 255),
          serial_hex: cert.serialHex,
          not_before: cert.notBefore.toISOString(),
          not_after: cert.notAfter.toISOString(),
          pkup_not_before: now.toISOString(),
          pkup_not_after: pkupEnd.toISOString(),
          created_at: now.toISOString(),
          created_by: deps.actor.slice(0, 64),
        })
        .returning('id');
      const id = typeof row === 'object' && row !== null ? Number((row as { id: number }).id) : Number(row);
      await appendAudit(
        trx,
        [
          { actor: deps.actor, action: 'key.generate', entityType: 'key', entityId: label, data: { kind: 'SEAL', algorithm, token: 'hsm' } },
          {
            actor: deps.actor,
            action: 'cert.issue',
            entityType: 'key',
            entityId: label,
            data: { kind: 'SEAL', issuer: String(cscaRow.label), serial: cert.serialHex, sha256: cert.sha256Fingerprint, signerIdentifier: `${country}${code}`, pkupNotAfter: pkupEnd.toISOString(), notAfter: notAfter.toISOString() },
          },
        ],
        now,
      );
      const stored = await trx('keys').where({ id }).first();
      return rowToSigner(stored as Record<string, unknown>);
    });
  } catch (e) {
    await deps.keyStore.destroyKeyPair(label).catch(() => undefined);
    throw e;
  }
}

/** Retires a seal signer (no more signing; its certificate still verifies the seals it made). */
export async function retireSealSigner(deps: Pick<SealKeyDeps, 'db' | 'actor'>, label: string): Promise<void> {
  await deps.db.transaction(async (trx) => {
    const n = await trx('keys').where({ kind: 'SEAL', label, status: 'ACTIVE' }).update({ status: 'RETIRED' });
    if (n !== 1) throw new NotFoundError('SEAL_SIGNER_NOT_FOUND', `no active seal signer labelled ${label}`);
    await appendAudit(trx, { actor: deps.actor, action: 'key.retire', entityType: 'key', entityId: label, data: { kind: 'SEAL' } });
  });
}
