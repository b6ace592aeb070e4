/**
 * Key custodian operations (ICAO 9303-12): the key ceremony (CSCA + first Document Signer), DS rotation, CRL
 * issuance, listing and CSCA export.
 *
 * Order of work, so that nothing is half-written:
 *  1. keys are generated in the HSM and certificates built and checked (nothing in the database yet);
 *  2. one database transaction stores certificates, CRLs, status changes and the audit entries;
 *  3. if step 1 or 2 fails, the key pairs generated in step 1 are destroyed again (best effort; a failure to
 *     destroy is reported in the error details with the orphan labels).
 *
 * Every key creation, certificate issued, CRL issued, revocation and export writes an audit entry with the
 * custodian (actor) who did it. Private keys never leave the HSM; only labels, serials and fingerprints are
 * recorded.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { appendAudit, type AuditInput } from '../audit/index.ts';
import {
  type Certificate,
  type KeyAlgorithm,
  addMonths,
  buildCrl,
  buildCscaCertificate,
  buildDsCertificate,
  parseCertificate,
  parseCrl,
  privateKeyUsagePeriodOf,
  verifyCertificateSignature,
  verifyCrlSignature,
} from '../pki/index.ts';
import { type Clock, KadiError, bytesEqual, systemClock } from '../shared/index.ts';
import type { CeremonyDefinition } from './definition.ts';
import { KeysCode, KeysError } from './errors.ts';
import { type CrlRecord, type KeyKind, type KeyRecord, type KeyStore, activeKey, allKeys, insertCrl, signerKeys, insertKey, latestCrl, setKeyStatus } from './store.ts';

export interface KeysDeps {
  db: Knex;
  keyStore: KeyStore;
  /** Who acts (a key custodian); recorded in the audit log. */
  actor: string;
  /** Time source (default: system clock). Tests move a FixedClock. */
  clock?: Clock;
}

const DAY = 86_400_000;

/** Certificates carry whole seconds. */
function nowSeconds(clock: Clock): Date {
  return new Date(Math.floor(clock.now().getTime() / 1000) * 1000);
}

function ymd(d: Date): string {
  return d.toISOString().slice(0, 10).replace(/-/g, '');
}

function newLabel(prefix: string, country: string, at: Date): string {
  return `${prefix}-${country.toLowerCase()}-${ymd(at)}-${randomBytes(3).toString('hex')}`;
}

function fingerprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

function recordFromCert(kind: 'CSCA' | 'DS', label: string, algorithm: KeyAlgorithm, der: Uint8Array, actor: string, at: Date): Omit<KeyRecord, 'id'> {
  const c = parseCertificate(der);
  const pkup = privateKeyUsagePeriodOf(c);
  return {
    kind,
    label,
    algorithm,
    status: 'ACTIVE',
    certificate: der,
    subject: c.subject.text,
    serialHex: c.serialHex,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    pkupNotBefore: pkup?.notBefore ?? c.notBefore,
    pkupNotAfter: pkup?.notAfter ?? c.notAfter,
    createdAt: at,
    createdBy: actor,
  };
}

/** Runs `work` with the labels it generates; destroys them again if `work` fails. */
async function withRollback<T>(store: KeyStore, work: (generated: string[]) => Promise<T>): Promise<T> {
  const generated: string[] = [];
  try {
    return await work(generated);
  } catch (e) {
    const orphans: string[] = [];
    for (const l of generated) {
      try {
        await store.destroyKeyPair(l);
      } catch {
        orphans.push(l);
      }
    }
    if (orphans.length > 0 && e instanceof KadiError) {
      // Keys that could not be destroyed: the custodian removes them with the token tools.
      (e as { details: Record<string, unknown> | undefined }).details = { ...e.details, orphanKeyLabels: orphans };
    }
    throw e;
  }
}

function audit(actor: string, action: string, entityType: string, entityId: string | number, data: Record<string, unknown>): AuditInput {
  return { actor, action, entityType, entityId, data };
}

function checkCscaUsable(csca: KeyRecord, now: Date): void {
  if (now < csca.pkupNotBefore) {
    throw new KeysError(KeysCode.KEY_USAGE_PERIOD_NOT_STARTED, `CSCA ${csca.label} may sign certificates only from ${csca.pkupNotBefore.toISOString()}`, {
      details: { label: csca.label },
    });
  }
  if (now > csca.pkupNotAfter) {
    throw new KeysError(KeysCode.KEY_USAGE_PERIOD_EXPIRED, `CSCA ${csca.label} private key usage period ended ${csca.pkupNotAfter.toISOString()}`, {
      hint: 'A new CSCA (with a link certificate) is needed; CSCA rollover is not implemented yet.',
      details: { label: csca.label },
    });
  }
}

async function requireCsca(db: Knex | Knex.Transaction): Promise<KeyRecord> {
  const csca = await activeKey(db, 'CSCA');
  if (!csca) throw new KeysError(KeysCode.NO_CSCA, 'there is no active CSCA', { hint: 'Run `kadi keys ceremony` first.' });
  return csca;
}

interface DsIssue {
  record: Omit<KeyRecord, 'id'>;
  audit: AuditInput[];
}

/** Generates a DS key pair and has the CSCA certify it (no database writes). */
async function issueDs(deps: KeysDeps, def: CeremonyDefinition, csca: { record: Omit<KeyRecord, 'id'>; cert: Certificate }, algorithm: KeyAlgorithm, now: Date, seq: number, generated: string[]): Promise<DsIssue> {
  const label = newLabel(def.ds.labelPrefix, def.country, now);
  const { publicKeySpki } = await deps.keyStore.generateKeyPair(label, algorithm);
  generated.push(label);
  const pkupEnd = addMonths(now, def.ds.privateKeyUsageMonths);
  let notAfter = new Date(Date.UTC(pkupEnd.getUTCFullYear() + def.ds.documentValidityYears, pkupEnd.getUTCMonth(), pkupEnd.getUTCDate(), pkupEnd.getUTCHours(), pkupEnd.getUTCMinutes(), pkupEnd.getUTCSeconds()));
  if (notAfter > csca.cert.notAfter) notAfter = csca.cert.notAfter;
  const cscaSigner = await deps.keyStore.signer(csca.record.label);
  const der = await buildDsCertificate(
    {
      subject: { country: def.country, organization: def.organization, ...(def.organizationalUnit ? { organizationalUnit: def.organizationalUnit } : {}), commonName: `${def.ds.commonName} ${ymd(now)}-${String(seq).padStart(3, '0')}` },
      subjectPublicKeySpki: publicKeySpki,
      privateKeyUsagePeriod: { notBefore: now, notAfter: pkupEnd },
      validity: { notBefore: now, notAfter },
      documentTypes: def.ds.documentTypes,
      ...(def.crlDistributionPoints.length ? { crlDistributionPoints: def.crlDistributionPoints } : {}),
      ...(def.contact && (def.contact.email || def.contact.uri) ? { contact: def.contact } : {}),
    },
    csca.cert,
    cscaSigner,
  );
  const cert = parseCertificate(der);
  if (!verifyCertificateSignature(cert, csca.cert)) {
    throw new KeysError(KeysCode.KEY_MISMATCH, `the DS certificate signed by ${csca.record.label} does not verify with the CSCA certificate`);
  }
  const record = recordFromCert('DS', label, algorithm, der, deps.actor, now);
  return {
    record,
    audit: [
      audit(deps.actor, 'key.generate', 'key', label, { kind: 'DS', algorithm, token: 'hsm' }),
      audit(deps.actor, 'cert.issue', 'key', label, {
        kind: 'DS',
        issuer: csca.record.label,
        serial: record.serialHex,
        sha256: fingerprint(der),
        pkupNotBefore: record.pkupNotBefore.toISOString(),
        pkupNotAfter: record.pkupNotAfter.toISOString(),
        notAfter: record.notAfter.toISOString(),
      }),
    ],
  };
}

/** Builds the CRL after `previous` (revocations carried over, `revoke` added with date `now`). */
async function makeCrl(deps: KeysDeps, def: CeremonyDefinition, csca: KeyRecord, previous: CrlRecord | undefined, revoke: readonly string[], now: Date, nextUpdateDays?: number) {
  const cert = parseCertificate(csca.certificate);
  const revoked = new Map<string, Date>();
  if (previous) for (const r of parseCrl(previous.der).revoked) revoked.set(r.serialHex, r.revocationDate);
  const added: string[] = [];
  for (const s of revoke) {
    if (!revoked.has(s)) {
      revoked.set(s, now);
      added.push(s);
    }
  }
  const days = nextUpdateDays ?? def.crl.nextUpdateDays;
  const nextUpdate = new Date(now.getTime() + days * DAY);
  const crlNumber = (previous?.crlNumber ?? 0) + 1;
  const signer = await deps.keyStore.signer(csca.label);
  const der = await buildCrl(
    { issuer: cert, crlNumber, thisUpdate: now, nextUpdate, revoked: [...revoked].map(([serial, revocationDate]) => ({ serial, revocationDate })) },
    signer,
  );
  if (!verifyCrlSignature(parseCrl(der), cert)) throw new KeysError(KeysCode.KEY_MISMATCH, `the CRL signed by ${csca.label} does not verify with the CSCA certificate`);
  return { der, crlNumber, thisUpdate: now, nextUpdate, revoked: [...revoked].map(([serialHex, d]) => ({ serialHex, revocationDate: d.toISOString() })), added };
}

export interface CeremonyOptions {
  /** Algorithm for the CSCA and the first DS (default: the definition's). */
  algorithm?: KeyAlgorithm;
}

export interface CeremonyResult {
  csca: KeyRecord;
  ds: KeyRecord;
  crl: CrlRecord;
}

/**
 * The key ceremony: a CSCA key pair and self-signed certificate, the first Document Signer key pair and
 * certificate, and the first (empty) CRL. Refuses when an active CSCA exists (KEYS_CSCA_EXISTS).
 */
export async function ceremony(deps: KeysDeps, def: CeremonyDefinition, opts: CeremonyOptions = {}): Promise<CeremonyResult> {
  const clock = deps.clock ?? systemClock;
  const existing = await activeKey(deps.db, 'CSCA');
  if (existing) {
    throw new KeysError(KeysCode.CSCA_EXISTS, `an active CSCA already exists (${existing.label})`, {
      hint: 'The ceremony runs once; use `kadi keys rotate-ds` for a new Document Signer.',
      details: { label: existing.label },
    });
  }
  const cscaAlg = opts.algorithm ?? def.csca.algorithm;
  const dsAlg = opts.algorithm ?? def.ds.algorithm ?? cscaAlg;
  const now = nowSeconds(clock);

  return withRollback(deps.keyStore, async (generated) => {
    // 1. CSCA
    const cscaLabel = newLabel(def.csca.labelPrefix, def.country, now);
    await deps.keyStore.generateKeyPair(cscaLabel, cscaAlg);
    generated.push(cscaLabel);
    const cscaSigner = await deps.keyStore.signer(cscaLabel);
    const pkupEnd = new Date(Date.UTC(now.getUTCFullYear() + def.csca.privateKeyUsageYears, now.getUTCMonth(), now.getUTCDate(), now.getUTCHours(), now.getUTCMinutes(), now.getUTCSeconds()));
    const dsLifetimeEnd = addMonths(pkupEnd, def.ds.privateKeyUsageMonths);
    const cscaNotAfter = new Date(Date.UTC(dsLifetimeEnd.getUTCFullYear() + def.ds.documentValidityYears, dsLifetimeEnd.getUTCMonth(), dsLifetimeEnd.getUTCDate(), dsLifetimeEnd.getUTCHours(), dsLifetimeEnd.getUTCMinutes(), dsLifetimeEnd.getUTCSeconds()));
    const cscaDer = await buildCscaCertificate(
      {
        subject: { country: def.country, organization: def.organization, ...(def.organizationalUnit ? { organizationalUnit: def.organizationalUnit } : {}), commonName: def.csca.commonName },
        validity: { notBefore: now, notAfter: cscaNotAfter },
        privateKeyUsagePeriod: { notBefore: now, notAfter: pkupEnd },
        ...(def.crlDistributionPoints.length ? { crlDistributionPoints: def.crlDistributionPoints } : {}),
        ...(def.contact && (def.contact.email || def.contact.uri) ? { contact: def.contact } : {}),
      },
      cscaSigner,
    );
    const cscaCert = parseCertificate(cscaDer);
    if (!verifyCertificateSignature(cscaCert, cscaCert)) throw new KeysError(KeysCode.KEY_MISMATCH, `the CSCA certificate does not verify with its own key (${cscaLabel})`);
    const cscaRecord = recordFromCert('CSCA', cscaLabel, cscaAlg, cscaDer, deps.actor, now);

    // 2. First DS, 3. first CRL
    const ds = await issueDs(deps, def, { record: cscaRecord, cert: cscaCert }, dsAlg, now, 1, generated);

    // 4. Store everything at once.
    return deps.db.transaction(async (trx) => {
      const cscaId = await insertKey(trx, cscaRecord);
      const dsId = await insertKey(trx, ds.record);
      const cscaStored: KeyRecord = { ...cscaRecord, id: cscaId };
      const crl = await makeCrl(deps, def, cscaStored, undefined, [], now);
      const crlRow = { issuerKeyId: cscaId, crlNumber: crl.crlNumber, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, der: crl.der };
      const crlId = await insertCrl(trx, crlRow);
      await appendAudit(
        trx,
        [
          audit(deps.actor, 'key.generate', 'key', cscaLabel, { kind: 'CSCA', algorithm: cscaAlg, token: 'hsm' }),
          audit(deps.actor, 'cert.issue', 'key', cscaLabel, {
            kind: 'CSCA',
            selfSigned: true,
            serial: cscaRecord.serialHex,
            sha256: fingerprint(cscaDer),
            pkupNotBefore: cscaRecord.pkupNotBefore.toISOString(),
            pkupNotAfter: cscaRecord.pkupNotAfter.toISOString(),
            notAfter: cscaRecord.notAfter.toISOString(),
          }),
          ...ds.audit,
          audit(deps.actor, 'crl.issue', 'crl', `${cscaLabel}#${crl.crlNumber}`, { issuer: cscaLabel, crlNumber: crl.crlNumber, nextUpdate: crl.nextUpdate.toISOString(), revoked: 0 }),
        ],
        now,
      );
      return { csca: cscaStored, ds: { ...ds.record, id: dsId }, crl: { id: crlId, ...crlRow } };
    });
  });
}

export interface RotateOptions {
  /** Algorithm of the new DS (default: the definition's DS algorithm, else the CSCA's). */
  algorithm?: KeyAlgorithm;
}

/**
 * A new Document Signer: key pair in the HSM, certificate from the active CSCA. The previous active DS is
 * retired (documents it signed stay valid; it signs no more).
 */
export async function rotateDs(deps: KeysDeps, def: CeremonyDefinition, opts: RotateOptions = {}): Promise<{ ds: KeyRecord; retired: string[] }> {
  const clock = deps.clock ?? systemClock;
  const now = nowSeconds(clock);
  const csca = await requireCsca(deps.db);
  checkCscaUsable(csca, now);
  const cscaCert = parseCertificate(csca.certificate);
  const algorithm = opts.algorithm ?? def.ds.algorithm ?? csca.algorithm;
  const seq = (await allKeys(deps.db)).filter((k) => k.kind === 'DS').length + 1;
  return withRollback(deps.keyStore, async (generated) => {
    const ds = await issueDs(deps, def, { record: csca, cert: cscaCert }, algorithm, now, seq, generated);
    return deps.db.transaction(async (trx) => {
      const previous = await trx('keys').where({ kind: 'DS', status: 'ACTIVE' }).select('id', 'label');
      for (const p of previous) await setKeyStatus(trx, Number(p.id), 'RETIRED');
      const id = await insertKey(trx, ds.record);
      await appendAudit(
        trx,
        [...ds.audit, ...previous.map((p) => audit(deps.actor, 'key.retire', 'key', String(p.label), { kind: 'DS', replacedBy: ds.record.label }))],
        now,
      );
      return { ds: { ...ds.record, id }, retired: previous.map((p) => String(p.label)) };
    });
  });
}

/** Normalises a serial number as typed by an operator ("0x01:AB", "01ab") to Certificate.serialHex form. */
export function normaliseSerial(s: string): string {
  const hex = s.trim().toLowerCase().replace(/^0x/, '').replace(/[:\s]/g, '');
  if (!/^[0-9a-f]+$/.test(hex)) throw new KeysError(KeysCode.SERIAL_UNKNOWN, `"${s}" is not a hexadecimal serial number`);
  const v = BigInt('0x' + hex).toString(16);
  return v.length % 2 ? '0' + v : v;
}

export interface IssueCrlOptions {
  /** Serial numbers (hex) of Document Signers or seal signers to revoke with this CRL. */
  revoke?: readonly string[];
  /** Days to nextUpdate (default: the definition's crl.nextUpdateDays). */
  nextUpdateDays?: number;
}

export interface IssuedCrl {
  crl: CrlRecord;
  issuer: string;
  revoked: Array<{ serialHex: string; revocationDate: string }>;
  newlyRevoked: string[];
}

/**
 * A new CRL from the active CSCA: the previous CRL's revocations plus `revoke` (each must be a Document Signer or
 * a seal signer of this CSCA; its key is marked REVOKED). CRLs may be issued for as long as the CSCA certificate is valid.
 */
export async function issueCrl(deps: KeysDeps, def: CeremonyDefinition, opts: IssueCrlOptions = {}): Promise<IssuedCrl> {
  const clock = deps.clock ?? systemClock;
  const now = nowSeconds(clock);
  const csca = await requireCsca(deps.db);
  if (now > csca.notAfter) throw new KeysError(KeysCode.KEY_USAGE_PERIOD_EXPIRED, `CSCA certificate ${csca.label} expired ${csca.notAfter.toISOString()}`);
  if (opts.nextUpdateDays !== undefined && (!Number.isInteger(opts.nextUpdateDays) || opts.nextUpdateDays < 1 || opts.nextUpdateDays > 90)) {
    throw new KeysError(KeysCode.DEFINITION_INVALID, 'nextUpdateDays must be an integer from 1 to 90 (ICAO: a CRL at least every 90 days)');
  }
  const cscaSki = parseCertificate(csca.certificate).subjectKeyIdentifier;
  // the end-entity signers under this CSCA: Document Signers and seal (barcode) signers
  const dsKeys = (await signerKeys(deps.db)).filter((k) => issuedBy(k, cscaSki));
  const revoke = (opts.revoke ?? []).map(normaliseSerial);
  const toMark: KeyRecord[] = [];
  for (const s of revoke) {
    const k = dsKeys.find((x) => x.serialHex === s);
    if (!k) {
      throw new KeysError(KeysCode.SERIAL_UNKNOWN, `serial ${s} is not a Document Signer or seal signer of CSCA ${csca.label}`, {
        hint: 'List the serials with `kadi keys list`.',
        details: { serial: s },
      });
    }
    if (k.status !== 'REVOKED') toMark.push(k);
  }
  const previous = await latestCrl(deps.db, csca.id);
  const crl = await makeCrl(deps, def, csca, previous, revoke, now, opts.nextUpdateDays);
  return deps.db.transaction(async (trx) => {
    for (const k of toMark) await setKeyStatus(trx, k.id, 'REVOKED');
    const row = { issuerKeyId: csca.id, crlNumber: crl.crlNumber, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, der: crl.der };
    const id = await insertCrl(trx, row);
    await appendAudit(
      trx,
      [
        ...toMark.map((k) => audit(deps.actor, 'key.revoke', 'key', k.label, { kind: k.kind, serial: k.serialHex, crlNumber: crl.crlNumber })),
        audit(deps.actor, 'crl.issue', 'crl', `${csca.label}#${crl.crlNumber}`, {
          issuer: csca.label,
          crlNumber: crl.crlNumber,
          nextUpdate: crl.nextUpdate.toISOString(),
          revoked: crl.revoked.length,
          sha256: fingerprint(crl.der),
        }),
      ],
      now,
    );
    return { crl: { id, ...row }, issuer: csca.label, revoked: crl.revoked, newlyRevoked: crl.added };
  });
}

function issuedBy(k: KeyRecord, cscaSki: Uint8Array | undefined): boolean {
  const aki = parseCertificate(k.certificate).authorityKeyIdentifier;
  return !cscaSki || !aki || bytesEqual(aki, cscaSki);
}

/** A key as `kadi keys list` shows it. */
export interface KeyListing {
  kind: KeyKind;
  label: string;
  algorithm: KeyAlgorithm;
  status: string;
  subject: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  privateKeyUsage: { notBefore: string; notAfter: string };
  /** ACTIVE and now within the private key usage period. */
  inUsagePeriod: boolean;
  /** SHA-256 of the certificate. */
  sha256: string;
  createdAt: string;
  createdBy: string;
}

/** Every CSCA and DS key on record, newest first. */
export async function listKeys(db: Knex, clock: Clock = systemClock): Promise<KeyListing[]> {
  const now = clock.now();
  return (await allKeys(db)).map((k) => ({
    kind: k.kind,
    label: k.label,
    algorithm: k.algorithm,
    status: k.status,
    subject: k.subject,
    serial: k.serialHex,
    notBefore: k.notBefore.toISOString(),
    notAfter: k.notAfter.toISOString(),
    privateKeyUsage: { notBefore: k.pkupNotBefore.toISOString(), notAfter: k.pkupNotAfter.toISOString() },
    inUsagePeriod: k.status === 'ACTIVE' && now >= k.pkupNotBefore && now <= k.pkupNotAfter,
    sha256: fingerprint(k.certificate),
    createdAt: k.createdAt.toISOString(),
    createdBy: k.createdBy,
  }));
}

function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export function certificatePem(der: Uint8Array): string {
  return pem('CERTIFICATE', der);
}

export function crlPem(der: Uint8Array): string {
  return pem('X509 CRL', der);
}

/**
 * The CSCA certificate(s) as PEM (the trust anchor inspection systems and QC import). `all` includes retired
 * CSCAs (a bundle). Recorded in the audit log.
 */
export async function exportCsca(deps: Pick<KeysDeps, 'db' | 'actor' | 'clock'>, opts: { all?: boolean } = {}): Promise<{ pem: string; certificates: Array<{ label: string; serial: string; sha256: string }> }> {
  const keys = (await allKeys(deps.db)).filter((k) => k.kind === 'CSCA' && (opts.all || k.status === 'ACTIVE'));
  if (keys.length === 0) throw new KeysError(KeysCode.NO_CSCA, 'there is no CSCA to export', { hint: 'Run `kadi keys ceremony` first.' });
  const certificates = keys.map((k) => ({ label: k.label, serial: k.serialHex, sha256: fingerprint(k.certificate) }));
  await deps.db.transaction((trx) =>
    appendAudit(trx, keys.map((k) => audit(deps.actor, 'key.export', 'key', k.label, { kind: 'CSCA', what: 'certificate', serial: k.serialHex })), (deps.clock ?? systemClock).now()),
  );
  return { pem: keys.map((k) => certificatePem(k.certificate)).join(''), certificates };
}

/** The latest CRL of the active CSCA (DER), if any. */
export async function currentCrl(db: Knex): Promise<CrlRecord | undefined> {
  const csca = await activeKey(db, 'CSCA');
  return csca ? latestCrl(db, csca.id) : undefined;
}

