/**
 * The `keys` and `crls` tables (src/db/migrations/0001_initial.ts) as records, and the KeyStore port the HSM
 * adapter implements. Repository functions take a Knex or a transaction.
 */
import type { Knex } from 'knex';
import type { KeyAlgorithm, Signer } from '../pki/index.ts';

/** Where private keys live (the PKCS#11 adapter in production; anything with the same shape in tests). */
export interface KeyStore {
  /** Generates a key pair in the store (private key sensitive and non-extractable). */
  generateKeyPair(label: string, algorithm: KeyAlgorithm): Promise<{ publicKeySpki: Uint8Array }>;
  /** A Signer for the key labelled `label`. */
  signer(label: string): Promise<Signer>;
  /** Removes both halves of a key pair (rolls back a ceremony that failed half-way). */
  destroyKeyPair(label: string): Promise<void>;
}

/** CSCA and Document Signer keys are made here; SEAL (barcode signer) keys by src/print's seal-keys, same table. */
export type KeyKind = 'CSCA' | 'DS' | 'SEAL';
export type KeyStatus = 'ACTIVE' | 'RETIRED' | 'REVOKED';

export interface KeyRecord {
  id: number;
  kind: KeyKind;
  /** PKCS#11 CKA_LABEL. */
  label: string;
  algorithm: KeyAlgorithm;
  status: KeyStatus;
  /** Certificate DER. */
  certificate: Uint8Array;
  subject: string;
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
  pkupNotBefore: Date;
  pkupNotAfter: Date;
  createdAt: Date;
  createdBy: string;
}

export interface CrlRecord {
  id: number;
  issuerKeyId: number;
  crlNumber: number;
  thisUpdate: Date;
  nextUpdate: Date;
  der: Uint8Array;
}

type Db = Knex | Knex.Transaction;

function toBytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw new TypeError('expected binary column');
}

export function rowToKey(r: Record<string, unknown>): KeyRecord {
  return {
    id: Number(r.id),
    kind: r.kind as KeyKind,
    label: String(r.label),
    algorithm: r.algorithm as KeyAlgorithm,
    status: r.status as KeyStatus,
    certificate: toBytes(r.certificate),
    subject: String(r.subject),
    serialHex: String(r.serial_hex),
    notBefore: new Date(String(r.not_before)),
    notAfter: new Date(String(r.not_after)),
    pkupNotBefore: new Date(String(r.pkup_not_before)),
    pkupNotAfter: new Date(String(r.pkup_not_after)),
    createdAt: new Date(String(r.created_at)),
    createdBy: String(r.created_by),
  };
}

function rowToCrl(r: Record<string, unknown>): CrlRecord {
  return {
    id: Number(r.id),
    issuerKeyId: Number(r.issuer_key_id),
    crlNumber: Number(r.crl_number),
    thisUpdate: new Date(String(r.this_update)),
    nextUpdate: new Date(String(r.next_update)),
    der: toBytes(r.der),
  };
}

function insertedId(row: unknown): number {
  return typeof row === 'object' && row !== null ? Number((row as { id: number }).id) : Number(row);
}

export async function insertKey(db: Db, k: Omit<KeyRecord, 'id'>): Promise<number> {
  const [row] = await db('keys')
    .insert({
      kind: k.kind,
      label: k.label,
      algorithm: k.algorithm,
      status: k.status,
      certificate: Buffer.from(k.certificate),
      subject: k.subject.slice(0, 255),
      serial_hex: k.serialHex,
      not_before: k.notBefore.toISOString(),
      not_after: k.notAfter.toISOString(),
      pkup_not_before: k.pkupNotBefore.toISOString(),
      pkup_not_after: k.pkupNotAfter.toISOString(),
      created_at: k.createdAt.toISOString(),
      created_by: k.createdBy.slice(0, 64),
    })
    .returning('id');
  return insertedId(row);
}

export async function insertCrl(db: Db, c: Omit<CrlRecord, 'id'>): Promise<number> {
  const [row] = await db('crls')
    .insert({
      issuer_key_id: c.issuerKeyId,
      crl_number: c.crlNumber,
      this_update: c.thisUpdate.toISOString(),
      next_update: c.nextUpdate.toISOString(),
      der: Buffer.from(c.der),
    })
    .returning('id');
  return insertedId(row);
}

const KINDS: readonly KeyKind[] = ['CSCA', 'DS'];

/** Kadi's CSCA and DS keys, newest first. */
export async function allKeys(db: Db): Promise<KeyRecord[]> {
  const rows = await db('keys').whereIn('kind', KINDS as KeyKind[]).orderBy('id', 'desc');
  return rows.map(rowToKey);
}

/** The end-entity signer keys a CSCA certifies (Document Signers and seal signers), newest first: what a CRL revokes. */
export async function signerKeys(db: Db): Promise<KeyRecord[]> {
  const rows = await db('keys').whereIn('kind', ['DS', 'SEAL']).orderBy('id', 'desc');
  return rows.map(rowToKey);
}

/** The newest ACTIVE key of a kind. */
export async function activeKey(db: Db, kind: KeyKind): Promise<KeyRecord | undefined> {
  const r = await db('keys').where({ kind, status: 'ACTIVE' }).orderBy('id', 'desc').first();
  return r ? rowToKey(r) : undefined;
}

/** The CRL with the highest number issued by the CSCA key `issuerKeyId`. */
export async function latestCrl(db: Db, issuerKeyId: number): Promise<CrlRecord | undefined> {
  const r = await db('crls').where({ issuer_key_id: issuerKeyId }).orderBy('crl_number', 'desc').first();
  return r ? rowToCrl(r) : undefined;
}

export async function setKeyStatus(db: Db, id: number, status: KeyStatus): Promise<void> {
  await db('keys').where({ id }).update({ status });
}
