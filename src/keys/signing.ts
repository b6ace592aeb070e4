/**
 * Signing EF.SODs with the current Document Signer, under the ICAO 9303-12 policy:
 *
 * - only the newest ACTIVE DS signs, and only inside its private key usage period (PKUP): outside it the
 *   session refuses with KEY_USAGE_PERIOD_EXPIRED (or KEY_USAGE_PERIOD_NOT_STARTED);
 * - the CSCA's latest CRL must not be past its nextUpdate (CRL_OUTDATED; none at all: CRL_MISSING), and must not
 *   list the DS (KEY_REVOKED);
 * - the checks run when the session opens and again before every signature (the clock is read per signature;
 *   the CRL's nextUpdate is the one read at open: call {@link DsSigningSession.refresh} after issuing a CRL);
 * - key use is audited as a summary (`key.use`: count, first and last signing time) when the session is
 *   flushed or closed, not one audit entry per card.
 */
import { hash } from 'node:crypto';
import type { Knex } from 'knex';
import { appendAudit } from '../audit/index.ts';
import { type DataGroupFiles, type LdsVersionInfo, computeDataGroupHashes, encodeLdsSecurityObject } from '../lds/index.ts';
import { type Signer, SodBuilder, type SodBuilderOptions, parseCertificate, parseCrl } from '../pki/index.ts';
import { type Clock, bytesEqual, systemClock } from '../shared/index.ts';
import { KeysCode, KeysError } from './errors.ts';
import { type CrlRecord, type KeyRecord, type KeyStore, activeKey, allKeys, latestCrl } from './store.ts';

export interface SigningDeps {
  db: Knex;
  keyStore: KeyStore;
  /** Recorded as the actor of the key-use summary (a custodian, or a worker id such as `worker:prepare@host`). */
  actor: string;
  clock?: Clock;
}

export interface SignSodOptions {
  /** LDSSecurityObject v1 version info; default LDS 1.8 / Unicode 4.0.0 (as EF.COM). `null` writes v0. */
  ldsVersionInfo?: LdsVersionInfo | null;
}

const DEFAULT_LDS_VERSION: LdsVersionInfo = { ldsVersion: '0108', unicodeVersion: '040000' };

export interface KeyUseSummary {
  label: string;
  signatures: number;
  first?: string;
  last?: string;
}

/** The current DS, ready to sign; close it (in `finally`) to write the key-use summary. */
export interface DsSigningSession {
  readonly ds: KeyRecord;
  /** CSCA that issued the DS. */
  readonly csca: KeyRecord;
  /** The latest CRL of the CSCA at open (or refresh). */
  readonly crl: CrlRecord;
  /** The DS key as a Signer, with the policy checked before every signature. */
  readonly signer: Signer;
  /** EF.SOD builder over the policy-checked signer. */
  readonly sodBuilder: SodBuilder;
  /** Hashes the data groups (SHA-256), builds the LDSSecurityObject and signs the EF.SOD (0x77 ...). */
  signSod(dataGroups: DataGroupFiles, opts?: SignSodOptions): Promise<Uint8Array>;
  /** Signatures made since open. */
  readonly count: number;
  /** Re-reads the CRL (after `kadi keys crl`) and re-checks the policy. */
  refresh(): Promise<void>;
  /** Writes the `key.use` summary for signatures not yet recorded. */
  flush(): Promise<KeyUseSummary>;
  /** flush(); the session refuses to sign afterwards. */
  close(): Promise<KeyUseSummary>;
}

/** The digest port of lds (one-shot node:crypto hash: no Hash object per data group). */
function digestFn(alg: string, data: Uint8Array): Uint8Array {
  return hash(alg, data, 'buffer');
}

/** Policy check of a DS at `now` against the CRL on record; throws the KeysError that applies. */
export function checkDsPolicy(ds: KeyRecord, crl: CrlRecord | undefined, now: Date): void {
  if (ds.status === 'REVOKED') throw new KeysError(KeysCode.KEY_REVOKED, `Document Signer ${ds.label} (serial ${ds.serialHex}) is revoked`, { hint: 'Run `kadi keys rotate-ds`.', details: { label: ds.label } });
  if (now < ds.pkupNotBefore) {
    throw new KeysError(KeysCode.KEY_USAGE_PERIOD_NOT_STARTED, `Document Signer ${ds.label} may sign only from ${ds.pkupNotBefore.toISOString()}`, { details: { label: ds.label } });
  }
  if (now > ds.pkupNotAfter) {
    throw new KeysError(KeysCode.KEY_USAGE_PERIOD_EXPIRED, `Document Signer ${ds.label} private key usage period ended ${ds.pkupNotAfter.toISOString()}`, {
      hint: 'Run `kadi keys rotate-ds` to create the next Document Signer.',
      details: { label: ds.label, pkupNotAfter: ds.pkupNotAfter.toISOString() },
    });
  }
  if (!crl) throw new KeysError(KeysCode.CRL_MISSING, 'the CSCA has not issued a CRL', { hint: 'Run `kadi keys crl --out FILE`.' });
  if (now > crl.nextUpdate) {
    throw new KeysError(KeysCode.CRL_OUTDATED, `the latest CRL (#${crl.crlNumber}) was due for renewal at ${crl.nextUpdate.toISOString()}`, {
      hint: 'Issue a new CRL: `kadi keys crl --out FILE`.',
      details: { crlNumber: crl.crlNumber, nextUpdate: crl.nextUpdate.toISOString() },
    });
  }
}

/** Opens a signing session on the current Document Signer (see module comment for the checks). */
export async function currentDsSigner(deps: SigningDeps, opts: { builder?: SodBuilderOptions } = {}): Promise<DsSigningSession> {
  const clock = deps.clock ?? systemClock;
  const ds = await activeKey(deps.db, 'DS');
  if (!ds) {
    const latest = (await allKeys(deps.db)).find((k) => k.kind === 'DS');
    if (latest?.status === 'REVOKED') checkDsPolicy(latest, undefined, clock.now()); // throws KEY_REVOKED
    throw new KeysError(KeysCode.NO_DS, 'there is no active Document Signer', { hint: 'Run `kadi keys ceremony` or `kadi keys rotate-ds`.' });
  }
  const dsCert = parseCertificate(ds.certificate);
  const csca = (await allKeys(deps.db)).find((k) => k.kind === 'CSCA' && dsCert.authorityKeyIdentifier && bytesEqual(parseCertificate(k.certificate).subjectKeyIdentifier ?? new Uint8Array(), dsCert.authorityKeyIdentifier));
  if (!csca) throw new KeysError(KeysCode.NO_CSCA, `the CSCA that issued Document Signer ${ds.label} is not on record`);

  let crl = await latestCrl(deps.db, csca.id);
  const revokedIn = (c: CrlRecord | undefined): boolean => !!c && parseCrl(c.der).revoked.some((r) => r.serialHex === ds.serialHex);
  const check = (now: Date): void => {
    checkDsPolicy(ds, crl, now);
    if (revokedIn(crl)) throw new KeysError(KeysCode.KEY_REVOKED, `Document Signer ${ds.label} (serial ${ds.serialHex}) is listed in CRL #${crl!.crlNumber}`, { details: { label: ds.label } });
  };
  check(clock.now());

  const hsmSigner = await deps.keyStore.signer(ds.label);
  if (!bytesEqual(hsmSigner.publicKeySpki, dsCert.spkiRaw)) {
    throw new KeysError(KeysCode.KEY_MISMATCH, `the key "${ds.label}" in the HSM is not the key of the DS certificate on record`);
  }

  let count = 0;
  let recorded = 0;
  let first: Date | undefined;
  let last: Date | undefined;
  let closed = false;
  // Only the PKUP and CRL dates are compared per signature (no database access).
  const crlNextUpdate = (): number => crl!.nextUpdate.getTime();
  const pkupStart = ds.pkupNotBefore.getTime();
  const pkupEnd = ds.pkupNotAfter.getTime();

  const signer: Signer = {
    algorithm: hsmSigner.algorithm,
    publicKeySpki: hsmSigner.publicKeySpki,
    async sign(data: Uint8Array): Promise<Uint8Array> {
      if (closed) throw new KeysError(KeysCode.NO_DS, 'the signing session is closed');
      const now = clock.now();
      const t = now.getTime();
      if (t < pkupStart || t > pkupEnd || t > crlNextUpdate()) check(now);
      const sig = await hsmSigner.sign(data);
      count++;
      first ??= now;
      last = now;
      return sig;
    },
  };
  const sodBuilder = new SodBuilder(ds.certificate, signer, opts.builder);

  const flush = async (): Promise<KeyUseSummary> => {
    const n = count - recorded;
    const summary: KeyUseSummary = { label: ds.label, signatures: n, ...(first ? { first: first.toISOString() } : {}), ...(last ? { last: last.toISOString() } : {}) };
    if (n === 0) return summary;
    await deps.db.transaction((trx) =>
      appendAudit(trx, { actor: deps.actor, action: 'key.use', entityType: 'key', entityId: ds.label, data: { kind: 'DS', purpose: 'EF.SOD', serial: ds.serialHex, ...summary } }, clock.now()),
    );
    recorded += n;
    first = undefined;
    return summary;
  };

  return {
    ds,
    csca,
    get crl() {
      return crl!;
    },
    signer,
    sodBuilder,
    get count() {
      return count;
    },
    async signSod(dataGroups: DataGroupFiles, o: SignSodOptions = {}): Promise<Uint8Array> {
      let hashes;
      try {
        hashes = computeDataGroupHashes(dataGroups, sodBuilder.digest, digestFn);
      } catch (e) {
        throw new KeysError(KeysCode.DATA_GROUPS_INVALID, `data groups: ${(e as Error).message}`);
      }
      const lvi = o.ldsVersionInfo === null ? undefined : (o.ldsVersionInfo ?? DEFAULT_LDS_VERSION);
      let lds: Uint8Array;
      try {
        lds = encodeLdsSecurityObject({ hashAlgorithm: sodBuilder.digest, dataGroupHashes: hashes, ...(lvi ? { ldsVersionInfo: lvi } : {}) });
      } catch (e) {
        throw new KeysError(KeysCode.DATA_GROUPS_INVALID, `LDSSecurityObject: ${(e as Error).message}`);
      }
      return sodBuilder.sign(lds, clock.now());
    },
    async refresh(): Promise<void> {
      crl = await latestCrl(deps.db, csca.id);
      const row = await deps.db('keys').where({ id: ds.id }).first('status');
      ds.status = (row?.status ?? 'RETIRED') as KeyRecord['status'];
      if (ds.status === 'RETIRED') {
        closed = true;
        throw new KeysError(KeysCode.NO_DS, `Document Signer ${ds.label} was retired; open a new signing session`);
      }
      check(clock.now());
    },
    flush,
    async close(): Promise<KeyUseSummary> {
      if (closed) return { label: ds.label, signatures: 0 };
      const s = await flush();
      closed = true;
      return s;
    },
  };
}
