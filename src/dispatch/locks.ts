/**
 * Lock order for every dispatch transaction, so that concurrent packers, scanners, clerks and the other stages'
 * single-card transitions never deadlock on PostgreSQL and SQLite write transactions start with a write
 * (docs/decisions/0002-database.md):
 *
 *   collection centre row (packing, shipment assembly) → box row → shipment row → card rows (ascending id)
 *   → audit head
 *
 * transitionCard updates the card and then appends to the audit log (whose head row is a global lock held until
 * commit). A transaction that moves several cards must therefore lock all of them *before* its first audit
 * entry; otherwise it would hold the head while waiting for a card that another transaction holds while waiting
 * for the head.
 */
import type { Knex } from 'knex';
import { beginWrite, dialectOf } from '../db/index.ts';

export { beginWrite };

function isPg(trx: Knex.Transaction): boolean {
  return dialectOf(trx as unknown as Knex) === 'postgres';
}

/**
 * Locks the cards the query selects, in ascending id order (PostgreSQL SELECT … FOR UPDATE; SQLite: the database
 * write lock), and returns their rows with the given columns.
 */
export async function lockCards<T extends Record<string, unknown>>(
  trx: Knex.Transaction,
  where: (q: Knex.QueryBuilder) => Knex.QueryBuilder,
  columns: string[] = ['id'],
): Promise<T[]> {
  if (isPg(trx)) return (await where(trx('cards')).orderBy('id').forUpdate().select(columns)) as T[];
  await beginWrite(trx);
  return (await where(trx('cards')).orderBy('id').select(columns)) as T[];
}

/** Serialises work on one centre's boxes (packing, shipment assembly); also the transaction's first write. */
export async function lockCentre(trx: Knex.Transaction, centre: string): Promise<void> {
  await trx('collection_centres').where({ code: centre }).update({ code: centre });
}
