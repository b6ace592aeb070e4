/**
 * Intake: turns approved registry records into card orders.
 *
 * For every approved record not yet taken in (or rejected earlier and since corrected in the registry):
 * - the record is validated (src/registry validateRecord); a bad record is REJECTED with its reason code and
 *   kept in `intake_records` for review — nothing is silently dropped;
 * - a person (national number) who already has an active order or card is refused as DUPLICATE
 *   (reason DUPLICATE_ACTIVE_CARD); the database also enforces this with a partial unique index;
 * - otherwise a card order, its personal-data snapshot, its first card (ORDERED) and the intake record are
 *   written, with audit entries, in the page's transaction.
 * Every approved record therefore ends in exactly one of ORDERED / REJECTED / DUPLICATE, and re-running is
 * idempotent: records already processed are skipped by id (without reading their photos).
 */
import type { Knex } from 'knex';
import { appendAudit, type AuditInput } from '../audit/index.ts';
import { beginWrite, insertedId, isUniqueViolation } from '../db/index.ts';
import {
  COLLECTION_CENTRES,
  getRecords,
  validateRecord,
  type EnrolmentRecord,
} from '../registry/index.ts';
import { TransientError } from '../shared/index.ts';

export interface IntakeOptions {
  /** Kadi database. */
  db: Knex;
  /** Source registry database. */
  registry: Knex;
  /** Process at most this many new (or corrected) records. */
  limit?: number;
  /** Reference date for age and date checks (default: now). */
  today?: Date;
  /** Minimum applicant age in years (default 18). */
  minAge?: number;
  actor: string;
  /** Records per transaction (default 200). */
  pageSize?: number;
  onProgress?: (processed: number, total: number) => void;
}

export interface IntakeResult {
  /** New card orders created by this run. */
  ordered: number;
  /** Records rejected by this run (bad data), by reason code in `reasons`. */
  rejected: number;
  /** Records refused by this run because the person already has an active order or card. */
  duplicates: number;
  /** Approved records skipped because an earlier run already processed them. */
  alreadyProcessed: number;
  /** Approved records in the registry. */
  approvedInRegistry: number;
  /** Records in the registry that are not approved (pending, rejected by the registrar): not taken in. */
  notApproved: number;
  /** All records in the registry = ordered + rejected + duplicates + alreadyProcessed + notApproved (full run). */
  registryRecords: number;
  reasons: Record<string, number>;
}

interface Candidate {
  registryId: number;
  updatedAt: string | null;
  previous?: { outcome: string };
}

/** Makes sure every collection centre the registry can name exists in Kadi. */
export async function ensureCollectionCentres(db: Knex): Promise<void> {
  const now = new Date().toISOString();
  const rows = COLLECTION_CENTRES.map((c) => ({ code: c.code, name: c.name, county: c.county, created_at: now }));
  for (let i = 0; i < rows.length; i += 50) {
    await db('collection_centres').insert(rows.slice(i, i + 50)).onConflict('code').ignore();
  }
}

export async function runIntake(opts: IntakeOptions): Promise<IntakeResult> {
  const { db, registry, actor } = opts;
  const today = opts.today ?? new Date();
  const pageSize = opts.pageSize ?? 200;
  const limit = opts.limit ?? Number.POSITIVE_INFINITY;
  await ensureCollectionCentres(db);

  const approvedInRegistry = Number(
    (await registry('enrolments').where({ status: 'APPROVED' }).count({ n: '*' }))[0]?.n ?? 0,
  );
  const registryRecords = Number((await registry('enrolments').count({ n: '*' }))[0]?.n ?? 0);
  const result: IntakeResult = {
    ordered: 0,
    rejected: 0,
    duplicates: 0,
    alreadyProcessed: 0,
    approvedInRegistry,
    notApproved: registryRecords - approvedInRegistry,
    registryRecords,
    reasons: {},
  };
  let scanned = 0;
  let processed = 0;
  let after = 0;
  opts.onProgress?.(0, approvedInRegistry);

  while (processed < limit) {
    // 1. Next page of approved ids (cheap: no photos).
    const idRows: Array<{ registry_id: number; updated_at: string | null }> = await registry('enrolments')
      .where({ status: 'APPROVED' })
      .andWhere('registry_id', '>', after)
      .orderBy('registry_id')
      .limit(pageSize)
      .select('registry_id', 'updated_at');
    if (idRows.length === 0) break;
    after = Number(idRows[idRows.length - 1]!.registry_id);
    scanned += idRows.length;

    // 2. What Kadi already knows about them.
    const ids = idRows.map((r) => Number(r.registry_id));
    const known = new Map<number, { outcome: string; registry_updated_at: string | null }>();
    for (const r of await db('intake_records').whereIn('registry_id', ids).select('registry_id', 'outcome', 'registry_updated_at')) {
      known.set(Number(r.registry_id), r);
    }
    const candidates: Candidate[] = [];
    for (const r of idRows) {
      const id = Number(r.registry_id);
      const k = known.get(id);
      const updatedAt = r.updated_at === null ? null : String(r.updated_at);
      if (!k) candidates.push({ registryId: id, updatedAt });
      else if (k.outcome === 'REJECTED' && k.registry_updated_at !== updatedAt) {
        candidates.push({ registryId: id, updatedAt, previous: { outcome: k.outcome } }); // corrected since
      } else result.alreadyProcessed++;
    }
    const take = candidates.slice(0, Math.max(0, limit - processed));
    if (take.length > 0) {
      const records = await getRecords(registry, take.map((c) => c.registryId));
      const byId = new Map(records.map((r) => [r.registryId, r]));
      try {
        await db.transaction(async (trx) => {
          await beginWrite(trx);
          for (const c of take) {
            const rec = byId.get(c.registryId);
            if (!rec) continue; // withdrawn between the two reads; picked up next run if approved again
            await intakeOne(trx, rec, c, { today, minAge: opts.minAge ?? 18, actor }, result);
          }
        });
      } catch (e) {
        if (isUniqueViolation(e)) {
          throw new TransientError('INTAKE_CONFLICT', 'another intake run wrote the same records at the same time', {
            hint: 'Run `kadi intake` again; already processed records are skipped.',
            cause: e,
          });
        }
        throw e;
      }
      processed += take.length;
    }
    opts.onProgress?.(scanned, approvedInRegistry);
  }
  return result;
}


async function intakeOne(
  trx: Knex.Transaction,
  rec: EnrolmentRecord,
  c: Candidate,
  ctx: { today: Date; minAge: number; actor: string },
  result: IntakeResult,
): Promise<void> {
  const now = new Date().toISOString();
  const base = {
    registry_id: rec.registryId,
    registry_updated_at: c.updatedAt,
    processed_at: now,
  };
  const save = async (row: Record<string, unknown>, audit: AuditInput) => {
    if (c.previous) await trx('intake_records').where({ registry_id: rec.registryId }).update({ ...base, ...row });
    else await trx('intake_records').insert({ ...base, ...row });
    await appendAudit(trx, audit);
  };

  const v = validateRecord(rec, { today: ctx.today, minAge: ctx.minAge });
  if (!v.ok) {
    result.rejected++;
    result.reasons[v.reason] = (result.reasons[v.reason] ?? 0) + 1;
    await save(
      { outcome: 'REJECTED', order_id: null, reason_code: v.reason, field: v.field ?? null, message: v.message.slice(0, 255) },
      { actor: ctx.actor, action: 'intake.reject', entityType: 'registry_record', entityId: rec.registryId, data: { reason: v.reason, field: v.field ?? null } },
    );
    return;
  }
  const r = v.record;
  const active = await trx('card_orders').where({ national_number: r.nationalNumber }).whereNot({ status: 'CLOSED' }).first('id');
  if (active) {
    result.duplicates++;
    result.reasons.DUPLICATE_ACTIVE_CARD = (result.reasons.DUPLICATE_ACTIVE_CARD ?? 0) + 1;
    await save(
      { outcome: 'DUPLICATE', order_id: null, reason_code: 'DUPLICATE_ACTIVE_CARD', field: 'nationalNumber', message: `person already has active order ${active.id}` },
      { actor: ctx.actor, action: 'intake.duplicate', entityType: 'registry_record', entityId: rec.registryId, data: { reason: 'DUPLICATE_ACTIVE_CARD', orderId: Number(active.id) } },
    );
    return;
  }
  const orderId = insertedId(
    await trx('card_orders')
      .insert({
        registry_id: r.registryId,
        national_number: r.nationalNumber,
        status: 'OPEN',
        attempts: 1,
        centre_code: r.collectionCentre,
        created_at: now,
        updated_at: now,
      })
      .returning('id'),
  );
  const { photo, ...data } = r;
  await trx('order_records').insert({ order_id: orderId, data: JSON.stringify(data), photo });
  const cardId = insertedId(
    await trx('cards')
      .insert({ order_id: orderId, state: 'ORDERED', centre_code: r.collectionCentre, created_at: now, updated_at: now })
      .returning('id'),
  );
  result.ordered++;
  await save(
    { outcome: 'ORDERED', order_id: orderId, reason_code: null, field: null, message: null },
    { actor: ctx.actor, action: 'order.create', entityType: 'order', entityId: orderId, data: { registryId: r.registryId, cardId, state: 'ORDERED' } },
  );
}
