/**
 * Production batches: a set of cards produced together (encoded, printed, QC'd as a unit, one batch PDF).
 * A batch takes cards that are waiting for production (ORDERED or PREPARED, not in a batch yet), oldest order
 * first, optionally for one collection centre. A card spoiled later is replaced by a new card (ORDERED, no
 * batch), which a later batch picks up automatically.
 */
import type { Knex } from 'knex';
import { appendAudit } from '../audit/index.ts';
import { beginWrite, insertedId, toCount } from '../db/index.ts';
import { NotFoundError, ValidationError } from '../shared/index.ts';

export const BATCH_STATES = ['CREATED', 'RUNNING', 'COMPLETED', 'CANCELLED'] as const;
export type BatchState = (typeof BATCH_STATES)[number];

export interface BatchSummary {
  id: number;
  state: BatchState;
  size: number;
  centreCode: string | null;
  createdAt: string;
  createdBy: string;
  startedAt: string | null;
  completedAt: string | null;
  /** Cards of the batch per state. */
  cards: Record<string, number>;
}

export interface CreateBatchOptions {
  /** Maximum number of cards (the batch may be smaller when fewer are waiting). */
  size: number;
  centreCode?: string;
  actor: string;
  at?: Date;
}

/** Creates a batch and assigns up to `size` waiting cards to it, in one transaction. */
export async function createBatch(db: Knex, o: CreateBatchOptions): Promise<BatchSummary> {
  if (!Number.isInteger(o.size) || o.size < 1) {
    throw new ValidationError('BATCH_SIZE_INVALID', 'batch size must be a positive integer', { details: { size: o.size } });
  }
  const at = (o.at ?? new Date()).toISOString();
  const id = await db.transaction(async (trx) => {
    await beginWrite(trx);
    if (o.centreCode) {
      const c = await trx('collection_centres').where({ code: o.centreCode }).first('code');
      if (!c) throw new NotFoundError('CENTRE_NOT_FOUND', `collection centre ${o.centreCode} does not exist`);
    }
    const batchId = insertedId(
      await trx('batches')
        .insert({ state: 'CREATED', size: 0, centre_code: o.centreCode ?? null, created_at: at, created_by: o.actor })
        .returning('id'),
    );
    const pick = trx('cards')
      .whereIn('state', ['ORDERED', 'PREPARED'])
      .whereNull('batch_id')
      .modify((q) => {
        if (o.centreCode) q.where({ centre_code: o.centreCode });
      })
      .orderBy('order_id')
      .limit(o.size)
      .select('id');
    const ids = (await pick).map((r: { id: number }) => Number(r.id));
    for (let i = 0; i < ids.length; i += 500) {
      await trx('cards').whereIn('id', ids.slice(i, i + 500)).whereNull('batch_id').update({ batch_id: batchId, updated_at: at });
    }
    await trx('batches').where({ id: batchId }).update({ size: ids.length });
    await appendAudit(
      trx,
      { actor: o.actor, action: 'batch.create', entityType: 'batch', entityId: batchId, data: { size: ids.length, requested: o.size, centre: o.centreCode ?? null } },
      new Date(at),
    );
    return batchId;
  });
  return getBatch(db, id);
}

export async function getBatch(db: Knex, id: number): Promise<BatchSummary> {
  const b = await db('batches').where({ id }).first();
  if (!b) throw new NotFoundError('BATCH_NOT_FOUND', `batch ${id} does not exist`, { hint: 'List batches with `kadi batch status`.' });
  const rows = await db('cards').where({ batch_id: id }).select('state').count({ n: '*' }).groupBy('state');
  const cards: Record<string, number> = {};
  for (const r of rows as Array<{ state: string; n: unknown }>) cards[r.state] = toCount(r.n);
  return {
    id: Number(b.id),
    state: b.state,
    size: Number(b.size),
    centreCode: b.centre_code,
    createdAt: b.created_at,
    createdBy: b.created_by,
    startedAt: b.started_at,
    completedAt: b.completed_at,
    cards,
  };
}

export async function listBatches(db: Knex, limit = 50): Promise<BatchSummary[]> {
  const ids = await db('batches').orderBy('id', 'desc').limit(limit).select('id');
  return Promise.all(ids.map((r: { id: number }) => getBatch(db, Number(r.id))));
}

/** Moves a batch between its states (CREATED -> RUNNING -> COMPLETED, or -> CANCELLED) with an audit entry. */
export async function setBatchState(db: Knex, id: number, from: BatchState, to: BatchState, actor: string): Promise<void> {
  const at = new Date().toISOString();
  await db.transaction(async (trx) => {
    const set: Record<string, unknown> = { state: to };
    if (to === 'RUNNING') set.started_at = at;
    if (to === 'COMPLETED' || to === 'CANCELLED') set.completed_at = at;
    const n = await trx('batches').where({ id, state: from }).update(set);
    if (n !== 1) {
      const b = await trx('batches').where({ id }).first('state');
      if (!b) throw new NotFoundError('BATCH_NOT_FOUND', `batch ${id} does not exist`);
      throw new ValidationError('BATCH_STATE_CONFLICT', `batch ${id} is ${b.state}, not ${from}`);
    }
    await appendAudit(trx, { actor, action: 'batch.transition', entityType: 'batch', entityId: id, data: { from, to } });
  });
}
