/**
 * Blank card stock: lots of blank chip cards received from suppliers. A blank leaves the stock when an encoder
 * claims it for a card (cards.lot_id and cards.blank_serial set at ENCODING), so what is in stock is always
 * `quantity − cards claimed from the lot`; reconcile.ts checks that no lot is over-consumed.
 */
import type { Knex } from 'knex';
import { appendAudit } from '../audit/index.ts';
import { insertedId, isUniqueViolation, toCount } from '../db/index.ts';
import { systemClock, type Clock } from '../shared/index.ts';
import { DispatchStateError, DispatchValidationError } from './errors.ts';
import { beginWrite } from './locks.ts';
import { rowsOf } from './sql.ts';

export interface ReceiveLotOptions {
  lot: string;
  quantity: number;
  supplier: string;
  chipType: string;
  actor: string;
  clock?: Clock;
}

export interface LotStock {
  id: number;
  lot: string;
  supplier: string;
  chipType: string;
  quantity: number;
  consumed: number;
  inStock: number;
  receivedAt: string;
  receivedBy: string;
}

const LOT_RE = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$/;
export const MAX_LOT_QUANTITY = 10_000_000;

function text(name: string, v: string, max: number): string {
  const t = v.trim();
  if (!t || t.length > max) throw new DispatchValidationError('STOCK_INVALID', `${name} must be 1 to ${max} characters`, { details: { field: name } });
  return t;
}

/** `kadi stock receive`: records a delivered lot of blanks. A lot number is received once. */
export async function receiveBlankLot(db: Knex, o: ReceiveLotOptions): Promise<LotStock> {
  const at = (o.clock ?? systemClock).now();
  const lot = o.lot.trim();
  if (!LOT_RE.test(lot)) throw new DispatchValidationError('STOCK_INVALID', 'a lot number is 1 to 64 letters, digits or . _ / -', { details: { field: 'lot' } });
  if (!Number.isInteger(o.quantity) || o.quantity < 1 || o.quantity > MAX_LOT_QUANTITY) {
    throw new DispatchValidationError('STOCK_INVALID', `quantity must be a whole number from 1 to ${MAX_LOT_QUANTITY}`, { details: { field: 'quantity' } });
  }
  const supplier = text('supplier', o.supplier, 120);
  const chipType = text('chipType', o.chipType, 64);
  const exists = () =>
    new DispatchStateError('STOCK_LOT_EXISTS', `lot ${lot} was already received`, { details: { lot }, hint: 'A delivery is recorded once; use a new lot number for a new delivery.' });
  const id = await db.transaction(async (trx) => {
    await beginWrite(trx);
    if (await trx('blank_lots').where({ lot_number: lot }).first('id')) throw exists();
    const newId = insertedId(
      await trx('blank_lots')
        .insert({ lot_number: lot, supplier, chip_type: chipType, quantity: o.quantity, received_at: at.toISOString(), received_by: o.actor.slice(0, 64) })
        .returning('id'),
    );
    await appendAudit(trx, { actor: o.actor, action: 'stock.receive', entityType: 'blank_lot', entityId: lot, data: { quantity: o.quantity, supplier, chipType } }, at);
    return newId;
  }).catch((e: unknown) => {
    // Two clerks receiving the same lot at once: the unique index decides.
    if (isUniqueViolation(e)) throw exists();
    throw e;
  });
  return (await stockReport(db)).find((l) => l.id === id)!;
}

/** `kadi stock list`: every lot with what has been consumed from it and what is left. */
export async function stockReport(db: Knex | Knex.Transaction): Promise<LotStock[]> {
  const consumed = new Map<number, number>();
  for (const r of await rowsOf(db('cards').whereNotNull('lot_id').select('lot_id').count({ n: '*' }).groupBy('lot_id'))) {
    consumed.set(Number(r.lot_id), toCount(r.n));
  }
  const lots = await db('blank_lots').orderBy('id').select('*');
  return lots.map((l: Record<string, unknown>) => {
    const c = consumed.get(Number(l.id)) ?? 0;
    return {
      id: Number(l.id),
      lot: String(l.lot_number),
      supplier: String(l.supplier),
      chipType: String(l.chip_type),
      quantity: Number(l.quantity),
      consumed: c,
      inStock: Number(l.quantity) - c,
      receivedAt: String(l.received_at),
      receivedBy: String(l.received_by),
    };
  });
}
