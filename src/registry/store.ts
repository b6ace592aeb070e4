/**
 * The source registry's database: one table of enrolment records, reached through knex so it runs on
 * SQLite (better-sqlite3) and PostgreSQL (pg) alike. This stands in for the national registry Kadi reads
 * from; Kadi's own tables live in src/db.
 *
 * The schema is deliberately permissive — every column except the id and status is nullable text — because
 * the registry holds bad data that intake must be able to read and reject. Dates are text (YYYY-MM-DD, ISO
 * 8601 timestamps), the photo is binary (BLOB / bytea).
 *
 * Takes a knex instance; reads no configuration.
 */
import type { Knex } from 'knex';
import { generateRecords, type GenerateOptions } from './generate.ts';
import { DEFECT_KINDS, type DefectKind, type EnrolmentRecord } from './types.ts';

export const REGISTRY_TABLE = 'enrolments';

/** Default rows per insert transaction when seeding. */
export const DEFAULT_SEED_BATCH = 500;
/** Rows per INSERT statement inside a batch (keeps bound parameters well under SQLite's 32 766). */
const ROWS_PER_STATEMENT = 100;

interface EnrolmentRow {
  registry_id: number;
  national_number: string | null;
  surname: string | null;
  given_names: string | null;
  sex: string | null;
  date_of_birth: string | null;
  place_of_birth: string | null;
  county: string | null;
  address: string | null;
  nhif_number: string | null;
  nssf_number: string | null;
  kra_pin: string | null;
  collection_centre: string | null;
  photo: Buffer | Uint8Array | null;
  status: string;
  approved_at: string | null;
  updated_at: string | null;
}

/** Creates the `enrolments` table and its (status, registry_id) index if they do not exist. Idempotent. */
export async function ensureRegistrySchema(knex: Knex): Promise<void> {
  if (await knex.schema.hasTable(REGISTRY_TABLE)) return;
  await knex.schema.createTable(REGISTRY_TABLE, (t) => {
    t.integer('registry_id').primary();
    t.text('national_number').nullable();
    t.text('surname').nullable();
    t.text('given_names').nullable();
    t.text('sex').nullable();
    t.text('date_of_birth').nullable();
    t.text('place_of_birth').nullable();
    t.text('county').nullable();
    t.text('address').nullable();
    t.text('nhif_number').nullable();
    t.text('nssf_number').nullable();
    t.text('kra_pin').nullable();
    t.text('collection_centre').nullable();
    t.binary('photo').nullable();
    t.text('status').notNullable();
    t.text('approved_at').nullable();
    t.text('updated_at').nullable();
    t.index(['status', 'registry_id'], 'enrolments_status_registry_id_idx');
  });
}

function toRow(r: EnrolmentRecord): EnrolmentRow {
  return {
    registry_id: r.registryId,
    national_number: r.nationalNumber,
    surname: r.surname,
    given_names: r.givenNames,
    sex: r.sex,
    date_of_birth: r.dateOfBirth,
    place_of_birth: r.placeOfBirth,
    county: r.county,
    address: r.address,
    nhif_number: r.nhifNumber,
    nssf_number: r.nssfNumber,
    kra_pin: r.kraPin,
    collection_centre: r.collectionCentre,
    photo: r.photo,
    status: r.status,
    approved_at: r.approvedAt,
    updated_at: r.updatedAt,
  };
}

function toBuffer(b: Buffer | Uint8Array | null): Buffer | null {
  if (b === null || b === undefined) return null;
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function fromRow(row: EnrolmentRow): EnrolmentRecord {
  return {
    registryId: Number(row.registry_id),
    nationalNumber: row.national_number,
    surname: row.surname,
    givenNames: row.given_names,
    sex: row.sex,
    dateOfBirth: row.date_of_birth,
    placeOfBirth: row.place_of_birth,
    county: row.county,
    address: row.address,
    nhifNumber: row.nhif_number,
    nssfNumber: row.nssf_number,
    kraPin: row.kra_pin,
    collectionCentre: row.collection_centre,
    photo: toBuffer(row.photo),
    status: row.status,
    approvedAt: row.approved_at,
    updatedAt: row.updated_at,
  };
}

/** Inserts records as they are (defect markers are not stored). Use inside a transaction for atomicity. */
export async function insertRecords(knex: Knex | Knex.Transaction, records: readonly EnrolmentRecord[]): Promise<void> {
  for (let i = 0; i < records.length; i += ROWS_PER_STATEMENT) {
    await knex(REGISTRY_TABLE).insert(records.slice(i, i + ROWS_PER_STATEMENT).map(toRow));
  }
}

/** Highest registry_id in the table, 0 when empty. */
export async function maxRegistryId(knex: Knex | Knex.Transaction): Promise<number> {
  const row = (await knex(REGISTRY_TABLE).max({ m: 'registry_id' }).first()) as { m: number | string | null } | undefined;
  return row?.m === null || row?.m === undefined ? 0 : Number(row.m);
}

export interface SeedOptions extends Omit<GenerateOptions, 'startId' | 'earlierNationalNumbers'> {
  /** Rows per transaction (default 500). */
  batchSize?: number;
  /** Called after each committed batch with the records inserted so far and the run's total. */
  onProgress?: (inserted: number, total: number) => void;
}

export interface SeedResult {
  inserted: number;
  /** First and last registry id written (0 and 0 when count is 0). */
  firstId: number;
  lastId: number;
  /** Records with status APPROVED / PENDING or REJECTED. */
  approved: number;
  nonApproved: number;
  /** Records without a planted defect. */
  valid: number;
  /** Planted defects by kind (every kind present, zero when none). */
  defects: Record<DefectKind, number>;
}

/**
 * Seeds the registry with `count` synthetic records, continuing after the current highest registry_id (so
 * seeding twice appends; a different seed is advisable for the second run). Each batch is one transaction,
 * so a crash leaves whole batches only. Duplicate-number defects may reuse numbers of the latest 1000 rows
 * already in the table. Not safe to run concurrently against the same table (ids would collide; the
 * primary key makes the second run fail rather than corrupt data).
 */
export async function seedRegistry(knex: Knex, opts: SeedOptions): Promise<SeedResult> {
  await ensureRegistrySchema(knex);
  const batchSize = opts.batchSize ?? DEFAULT_SEED_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
  const startId = (await maxRegistryId(knex)) + 1;
  const earlier = (await knex(REGISTRY_TABLE)
    .select('national_number')
    .where('status', 'APPROVED')
    .whereNotNull('national_number')
    .orderBy('registry_id', 'desc')
    .limit(1000)) as { national_number: string }[];

  const result: SeedResult = {
    inserted: 0,
    firstId: opts.count > 0 ? startId : 0,
    lastId: 0,
    approved: 0,
    nonApproved: 0,
    valid: 0,
    defects: Object.fromEntries(DEFECT_KINDS.map((k) => [k, 0])) as Record<DefectKind, number>,
  };
  const gen = generateRecords({
    count: opts.count,
    seed: opts.seed,
    invalidRate: opts.invalidRate,
    referenceDate: opts.referenceDate,
    nonApprovedRate: opts.nonApprovedRate,
    startId,
    earlierNationalNumbers: earlier.map((r) => r.national_number).reverse(),
  });
  let batch: EnrolmentRecord[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const rows = batch;
    batch = [];
    await knex.transaction(async (trx) => insertRecords(trx, rows));
    for (const r of rows) {
      if (r.status === 'APPROVED') result.approved++;
      else result.nonApproved++;
      if (r.defect) result.defects[r.defect]++;
      else result.valid++;
    }
    result.inserted += rows.length;
    result.lastId = rows[rows.length - 1]!.registryId;
    opts.onProgress?.(result.inserted, opts.count);
  };
  for (const rec of gen) {
    batch.push(rec);
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  return result;
}

export interface ReadApprovedOptions {
  /** Return records with registry_id strictly greater than this (default 0). */
  afterId?: number;
  /** Page size (default 500, at most 10 000). */
  limit?: number;
}

/** One page of APPROVED records in registry_id order. Page on with `afterId` = last registryId returned. */
export async function readApproved(knex: Knex | Knex.Transaction, opts: ReadApprovedOptions = {}): Promise<EnrolmentRecord[]> {
  const afterId = opts.afterId ?? 0;
  const limit = opts.limit ?? 500;
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new RangeError('limit must be an integer in 1..10000');
  const rows = (await knex(REGISTRY_TABLE)
    .select('*')
    .where('status', 'APPROVED')
    .andWhere('registry_id', '>', afterId)
    .orderBy('registry_id', 'asc')
    .limit(limit)) as EnrolmentRow[];
  return rows.map(fromRow);
}

/**
 * The records with these registry ids, whatever their status, in registry_id order (absent ids are simply
 * missing from the result). Queried in chunks of 500 ids.
 */
export async function getRecords(knex: Knex | Knex.Transaction, registryIds: readonly number[]): Promise<EnrolmentRecord[]> {
  const out: EnrolmentRecord[] = [];
  for (let i = 0; i < registryIds.length; i += 500) {
    const rows = (await knex(REGISTRY_TABLE)
      .select('*')
      .whereIn('registry_id', registryIds.slice(i, i + 500))
      .orderBy('registry_id', 'asc')) as EnrolmentRow[];
    for (const r of rows) out.push(fromRow(r));
  }
  return registryIds.length > 500 ? out.sort((a, b) => a.registryId - b.registryId) : out;
}

/** One record by registry id, whatever its status; undefined when absent. */
export async function readRecord(knex: Knex | Knex.Transaction, registryId: number): Promise<EnrolmentRecord | undefined> {
  const row = (await knex(REGISTRY_TABLE).where('registry_id', registryId).first()) as EnrolmentRow | undefined;
  return row ? fromRow(row) : undefined;
}

/** Number of records by status (e.g. { APPROVED: 9900, PENDING: 60, REJECTED: 40 }). */
export async function countByStatus(knex: Knex | Knex.Transaction): Promise<Record<string, number>> {
  const rows = (await knex(REGISTRY_TABLE).select('status').count({ n: '*' }).groupBy('status')) as {
    status: string;
    n: number | string;
  }[];
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}
