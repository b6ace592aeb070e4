/**
 * Reconciliation: every blank card received is accounted for (DESIGN.md §1).
 *
 *   received = issued + in process + in stock + spoiled + returned + destroyed
 *
 * - received:   Σ blank_lots.quantity (deliveries recorded with `kadi stock receive`).
 * - issued, in process (ENCODING … RECEIVED, QC_FAILED), spoiled, returned, destroyed: cards counted by state —
 *   each such card holds exactly one blank.
 * - in stock:   per lot, quantity − blanks claimed from it (cards with that lot_id), never below zero.
 *
 * The two sides are counted from different facts (deliveries and per-lot claims on one side, card states on the
 * other), so they differ exactly when a blank cannot be traced: a card holding a blank with no lot, a lot that
 * gave out more blanks than it held, a blank recorded on a card that was never encoded. Each cause is itemised.
 * Further checks that do not move the totals but break the chain of custody are itemised too: an order with two
 * live cards, issued cards and fulfilled orders that disagree, cards whose box is in the wrong place or for
 * another centre, overfilled boxes, and per centre the dispatch ledger (card counts recorded when each box left
 * the bureau) against where those cards are now.
 *
 * Per batch the report breaks the consumed blanks down (there is no separate "received" per batch); per lot it
 * balances quantity against claims; per centre it balances the ledger. `ok` is true only when the equation holds
 * and no difference is listed. Differences carry ids, codes and counts only (no holder data).
 */
import type { Knex } from 'knex';
import { DEAD_STATES, IN_PROCESS_STATES, type CardState } from '../cards/index.ts';
import { toCount } from '../db/index.ts';
import { systemClock, type Clock } from '../shared/index.ts';
import { rowsOf } from './sql.ts';

/** States in which a card holds a consumed blank. */
export const BLANK_STATES: readonly CardState[] = [...IN_PROCESS_STATES, 'ISSUED', 'SPOILED', 'RETURNED', 'DESTROYED'];
const UNENCODED_STATES: readonly CardState[] = ['ORDERED', 'PREPARED'];

export const DIFFERENCE_CODES = [
  'BLANK_WITHOUT_LOT', // a card holds a blank (by state) but names no lot
  'CARD_WITHOUT_BLANK', // a card in a blank-holding state has no blank serial
  'BLANK_ON_UNENCODED_CARD', // an ORDERED/PREPARED card already names a lot or blank serial
  'LOT_OVER_CONSUMED', // more blanks claimed from a lot than it held
  'ORDER_TWO_LIVE_CARDS', // exactly-once broken
  'ISSUED_CARD_ORDER_NOT_FULFILLED',
  'FULFILLED_ORDER_WITHOUT_ISSUED_CARD',
  'CARD_WITHOUT_BOX', // PACKED / DISPATCHED / RECEIVED card with no box
  'CARD_BOX_STATE_MISMATCH', // e.g. a DISPATCHED card in a box still at the bureau
  'BOX_CENTRE_MISMATCH', // a card in a box addressed to another centre
  'BOX_OVER_CAPACITY',
  'CENTRE_LEDGER_MISMATCH', // cards recorded as dispatched to a centre ≠ where those cards are now
  'BALANCE_MISMATCH', // the equation itself does not hold
] as const;
export type DifferenceCode = (typeof DIFFERENCE_CODES)[number];

export interface Difference {
  code: DifferenceCode;
  message: string;
  count: number;
  /** Up to 20 identifiers (card ids, order ids, box codes, lot numbers). */
  sample: Array<string | number>;
  lot?: string;
  centre?: string;
}

export interface BlankBalance {
  received: number;
  issued: number;
  inProcess: number;
  inStock: number;
  spoiled: number;
  returned: number;
  destroyed: number;
  /** issued + inProcess + inStock + spoiled + returned + destroyed */
  accounted: number;
  /** received − accounted (0 when it balances). */
  difference: number;
}

export interface LotLine {
  lot: string;
  supplier: string;
  chipType: string;
  received: number;
  consumed: number;
  inStock: number;
  issued: number;
  inProcess: number;
  spoiled: number;
  returned: number;
  destroyed: number;
  /** Blanks claimed beyond the quantity received (0 normally). */
  overConsumed: number;
}

export interface BatchLine {
  /** null: cards made outside any batch. */
  batch: number | null;
  consumed: number;
  issued: number;
  inProcess: number;
  spoiled: number;
  returned: number;
  destroyed: number;
  /** spoiled / consumed. */
  spoilageRate: number;
}

export interface CentreLine {
  centre: string;
  /** At the bureau: QC passed, not packed yet; packed in boxes not yet dispatched. */
  awaitingPacking: number;
  packed: number;
  /** Card count recorded by the `dispatched` event of every box that left for this centre. */
  dispatched: number;
  inTransit: number;
  atCentre: number;
  issued: number;
  returned: number;
  destroyed: number;
  /** Spoiled (lost, damaged) after their box left the bureau. */
  spoiledAfterDispatch: number;
  /** dispatched − (inTransit + atCentre + issued + returned + destroyed + spoiledAfterDispatch). */
  difference: number;
}

export interface Reconciliation {
  ok: boolean;
  at: string;
  equation: string;
  blanks: BlankBalance;
  inProcessByState: Partial<Record<CardState, number>>;
  lots: LotLine[];
  batches: BatchLine[];
  centres: CentreLine[];
  orders: Record<string, number>;
  differences: Difference[];
}

export const EQUATION = 'received = issued + inProcess + inStock + spoiled + returned + destroyed';

// ---------------------------------------------------------------- pure part

export interface LotInput {
  lot: string;
  supplier: string;
  chipType: string;
  quantity: number;
  /** Cards naming this lot, by state (all states, including ones that should not hold a blank). */
  byState: Partial<Record<CardState, number>>;
}

/**
 * The blank balance from deliveries, per-lot claims and card counts by state. Pure, so it can be checked
 * against hand-made figures.
 */
export function computeBalance(lots: readonly LotInput[], cardsByState: Partial<Record<CardState, number>>): { blanks: BlankBalance; lots: LotLine[] } {
  const n = (s: CardState, m: Partial<Record<CardState, number>>) => m[s] ?? 0;
  const lines: LotLine[] = lots.map((l) => {
    const consumed = Object.values(l.byState).reduce((a, b) => a + (b ?? 0), 0);
    return {
      lot: l.lot,
      supplier: l.supplier,
      chipType: l.chipType,
      received: l.quantity,
      consumed,
      inStock: Math.max(0, l.quantity - consumed),
      issued: n('ISSUED', l.byState),
      inProcess: IN_PROCESS_STATES.reduce((a, s) => a + n(s, l.byState), 0),
      spoiled: n('SPOILED', l.byState),
      returned: n('RETURNED', l.byState),
      destroyed: n('DESTROYED', l.byState),
      overConsumed: Math.max(0, consumed - l.quantity),
    };
  });
  const b: BlankBalance = {
    received: lots.reduce((a, l) => a + l.quantity, 0),
    issued: n('ISSUED', cardsByState),
    inProcess: IN_PROCESS_STATES.reduce((a, s) => a + n(s, cardsByState), 0),
    inStock: lines.reduce((a, l) => a + l.inStock, 0),
    spoiled: n('SPOILED', cardsByState),
    returned: n('RETURNED', cardsByState),
    destroyed: n('DESTROYED', cardsByState),
    accounted: 0,
    difference: 0,
  };
  b.accounted = b.issued + b.inProcess + b.inStock + b.spoiled + b.returned + b.destroyed;
  b.difference = b.received - b.accounted;
  return { blanks: b, lots: lines };
}

// ---------------------------------------------------------------- database part

const SAMPLE = 20;

async function sampleIds(q: Knex.QueryBuilder, col = 'id'): Promise<{ count: number; sample: number[] }> {
  const countRow = await q.clone().clearSelect().clearOrder().count({ n: '*' });
  const count = toCount(countRow[0]?.n);
  if (count === 0) return { count, sample: [] };
  const rows = await q.clone().clearSelect().select(col).orderBy(col).limit(SAMPLE);
  return { count, sample: rows.map((r: Record<string, unknown>) => Number(r[col.split('.').pop()!])) };
}

function parseCards(details: unknown): number {
  try {
    return Number((JSON.parse(String(details)) as { cards?: unknown }).cards ?? 0) || 0;
  } catch {
    return 0;
  }
}

/** `kadi reconcile`. Read-only; run it any time (it reads in one transaction for a consistent picture). */
export async function reconcile(db: Knex, opts: { clock?: Clock } = {}): Promise<Reconciliation> {
  const at = (opts.clock ?? systemClock).now();
  const pg = db.client.config.client === 'pg';
  return db.transaction(async (trx) => reconcileIn(trx, at), pg ? { isolationLevel: 'repeatable read' } : {});
}

async function reconcileIn(db: Knex.Transaction, at: Date): Promise<Reconciliation> {
  const differences: Difference[] = [];
  const add = (code: DifferenceCode, message: string, r: { count: number; sample: Array<string | number> }, extra: Partial<Difference> = {}) => {
    if (r.count > 0) differences.push({ code, message, count: r.count, sample: r.sample, ...extra });
  };

  // Card counts by state.
  const cardsByState: Partial<Record<CardState, number>> = {};
  for (const r of await rowsOf(db('cards').select('state').count({ n: '*' }).groupBy('state'))) cardsByState[r.state as CardState] = toCount(r.n);

  // Lots and their claims by state.
  const lotRows = (await db('blank_lots').orderBy('id').select('id', 'lot_number', 'supplier', 'chip_type', 'quantity')) as Array<Record<string, unknown>>;
  const claims = new Map<number, Partial<Record<CardState, number>>>();
  for (const r of await rowsOf(db('cards').whereNotNull('lot_id').select('lot_id', 'state').count({ n: '*' }).groupBy('lot_id', 'state'))) {
    const m = claims.get(Number(r.lot_id)) ?? {};
    m[r.state as CardState] = toCount(r.n);
    claims.set(Number(r.lot_id), m);
  }
  const lotInputs: LotInput[] = lotRows.map((l) => ({
    lot: String(l.lot_number),
    supplier: String(l.supplier),
    chipType: String(l.chip_type),
    quantity: Number(l.quantity),
    byState: claims.get(Number(l.id)) ?? {},
  }));
  const { blanks, lots } = computeBalance(lotInputs, cardsByState);

  // Blank traceability.
  add('BLANK_WITHOUT_LOT', 'cards holding a blank that names no lot (blank of unknown origin)', await sampleIds(db('cards').whereIn('state', BLANK_STATES).whereNull('lot_id')));
  add('CARD_WITHOUT_BLANK', 'cards in a blank-holding state without a blank serial', await sampleIds(db('cards').whereIn('state', BLANK_STATES).whereNull('blank_serial')));
  add(
    'BLANK_ON_UNENCODED_CARD',
    'ORDERED/PREPARED cards that already name a lot or blank serial (a claimed blank not counted in any state)',
    await sampleIds(db('cards').whereIn('state', UNENCODED_STATES).where((q) => q.whereNotNull('lot_id').orWhereNotNull('blank_serial'))),
  );
  for (const l of lots) {
    if (l.overConsumed > 0) {
      differences.push({ code: 'LOT_OVER_CONSUMED', message: `lot ${l.lot}: ${l.consumed} blanks claimed from ${l.received} received`, count: l.overConsumed, sample: [l.lot], lot: l.lot });
    }
  }

  // Orders.
  const twoLive = (await db('cards').whereNotIn('state', DEAD_STATES).select('order_id').count({ n: '*' }).groupBy('order_id').havingRaw('count(*) > 1')) as Array<{ order_id: number }>;
  add('ORDER_TWO_LIVE_CARDS', 'orders with more than one live card', { count: twoLive.length, sample: twoLive.slice(0, SAMPLE).map((r) => Number(r.order_id)) });
  add(
    'ISSUED_CARD_ORDER_NOT_FULFILLED',
    'issued cards whose order is not FULFILLED',
    await sampleIds(db('cards as c').join('card_orders as o', 'o.id', 'c.order_id').where('c.state', 'ISSUED').whereNot('o.status', 'FULFILLED'), 'c.id'),
  );
  add(
    'FULFILLED_ORDER_WITHOUT_ISSUED_CARD',
    'FULFILLED orders with no issued card',
    await sampleIds(db('card_orders as o').where('o.status', 'FULFILLED').whereNotExists(db('cards as c').whereRaw('c.order_id = o.id').where('c.state', 'ISSUED').select(db.raw('1'))), 'o.id'),
  );
  const orders: Record<string, number> = { OPEN: 0, REVIEW: 0, FULFILLED: 0, CLOSED: 0 };
  for (const r of await rowsOf(db('card_orders').select('status').count({ n: '*' }).groupBy('status'))) orders[String(r.status)] = toCount(r.n);

  // Boxes.
  add('CARD_WITHOUT_BOX', 'PACKED, DISPATCHED or RECEIVED cards with no box', await sampleIds(db('cards').whereIn('state', ['PACKED', 'DISPATCHED', 'RECEIVED']).whereNull('box_id')));
  add(
    'CARD_BOX_STATE_MISMATCH',
    'cards whose box is not where the card state says (e.g. DISPATCHED card in a box still at the bureau)',
    await sampleIds(
      db('cards as c')
        .join('boxes as b', 'b.id', 'c.box_id')
        .where((q) =>
          q
            .where((w) => w.where('c.state', 'PACKED').whereNotIn('b.state', ['OPEN', 'SEALED']))
            .orWhere((w) => w.where('c.state', 'DISPATCHED').whereNotIn('b.state', ['DISPATCHED', 'IN_TRANSIT']))
            .orWhere((w) => w.where('c.state', 'RECEIVED').whereNotIn('b.state', ['RECEIVED', 'OPENED']))
            .orWhere((w) => w.whereIn('c.state', ['ORDERED', 'PREPARED', 'ENCODING', 'ENCODED', 'PRINTED', 'QC_PASSED', 'QC_FAILED'])),
        ),
      'c.id',
    ),
  );
  add('BOX_CENTRE_MISMATCH', 'cards packed into a box addressed to another centre', await sampleIds(db('cards as c').join('boxes as b', 'b.id', 'c.box_id').whereRaw('c.centre_code <> b.centre_code'), 'c.id'));
  const over = (await db('boxes as b')
    .join('cards as c', 'c.box_id', 'b.id')
    .whereIn('c.state', ['PACKED', 'DISPATCHED', 'RECEIVED'])
    .select('b.code', 'b.capacity')
    .count({ n: '*' })
    .groupBy('b.code', 'b.capacity')
    .havingRaw('count(*) > b.capacity')) as Array<{ code: string }>;
  add('BOX_OVER_CAPACITY', 'boxes holding more cards than their capacity', { count: over.length, sample: over.slice(0, SAMPLE).map((r) => String(r.code)) });

  // Per batch.
  const batchMap = new Map<string, BatchLine>();
  for (const r of await rowsOf(db('cards').whereIn('state', BLANK_STATES).select('batch_id', 'state').count({ n: '*' }).groupBy('batch_id', 'state'))) {
    const key = r.batch_id === null ? 'null' : String(r.batch_id);
    const line = batchMap.get(key) ?? { batch: r.batch_id === null ? null : Number(r.batch_id), consumed: 0, issued: 0, inProcess: 0, spoiled: 0, returned: 0, destroyed: 0, spoilageRate: 0 };
    const k = toCount(r.n);
    const s = r.state as CardState;
    line.consumed += k;
    if (s === 'ISSUED') line.issued += k;
    else if (s === 'SPOILED') line.spoiled += k;
    else if (s === 'RETURNED') line.returned += k;
    else if (s === 'DESTROYED') line.destroyed += k;
    else line.inProcess += k;
    batchMap.set(key, line);
  }
  const batches = [...batchMap.values()]
    .map((l) => ({ ...l, spoilageRate: l.consumed ? Math.round((l.spoiled / l.consumed) * 10_000) / 10_000 : 0 }))
    .sort((a, b) => (a.batch ?? -1) - (b.batch ?? -1));

  // Per centre: the dispatch ledger against where the dispatched cards are now.
  const centres = new Map<string, CentreLine>();
  const centre = (code: string): CentreLine => {
    let c = centres.get(code);
    if (!c) {
      c = { centre: code, awaitingPacking: 0, packed: 0, dispatched: 0, inTransit: 0, atCentre: 0, issued: 0, returned: 0, destroyed: 0, spoiledAfterDispatch: 0, difference: 0 };
      centres.set(code, c);
    }
    return c;
  };
  for (const r of await rowsOf(db('cards').whereIn('state', ['QC_PASSED', 'PACKED']).select('centre_code', 'state').count({ n: '*' }).groupBy('centre_code', 'state'))) {
    const c = centre(String(r.centre_code));
    if (r.state === 'QC_PASSED') c.awaitingPacking = toCount(r.n);
    else c.packed = toCount(r.n);
  }
  for (const r of (await db('tracking_events as t').join('boxes as b', 'b.id', 't.box_id').where('t.event', 'dispatched').select('b.centre_code', 't.details')) as Array<{ centre_code: string; details: string }>) {
    centre(String(r.centre_code)).dispatched += parseCards(r.details);
  }
  // Cards in boxes that left the bureau, by state. A card spoiled before its box left is not part of the load.
  const left = await db('cards as c')
    .join('boxes as b', 'b.id', 'c.box_id')
    .join('tracking_events as t', function () {
      this.on('t.box_id', '=', 'b.id').andOnVal('t.event', '=', 'dispatched');
    })
    .where((q) => q.whereNot('c.state', 'SPOILED').orWhereRaw('c.updated_at >= t.at'))
    .select('b.centre_code', 'c.state')
    .count({ n: '*' })
    .groupBy('b.centre_code', 'c.state');
  for (const r of left as Array<{ centre_code: string; state: CardState; n: unknown }>) {
    const c = centre(String(r.centre_code));
    const k = toCount(r.n);
    if (r.state === 'DISPATCHED') c.inTransit += k;
    else if (r.state === 'RECEIVED') c.atCentre += k;
    else if (r.state === 'ISSUED') c.issued += k;
    else if (r.state === 'RETURNED') c.returned += k;
    else if (r.state === 'DESTROYED') c.destroyed += k;
    else if (r.state === 'SPOILED') c.spoiledAfterDispatch += k;
    // Any other state is a CARD_BOX_STATE_MISMATCH (itemised above) and is missing here, so the ledger differs too.
  }
  const centreLines = [...centres.values()].sort((a, b) => (a.centre < b.centre ? -1 : 1));
  for (const c of centreLines) {
    c.difference = c.dispatched - (c.inTransit + c.atCentre + c.issued + c.returned + c.destroyed + c.spoiledAfterDispatch);
    if (c.difference !== 0) {
      differences.push({
        code: 'CENTRE_LEDGER_MISMATCH',
        message: `centre ${c.centre}: ${c.dispatched} cards recorded as dispatched, ${c.dispatched - c.difference} accounted for`,
        count: Math.abs(c.difference),
        sample: [c.centre],
        centre: c.centre,
      });
    }
  }

  if (blanks.difference !== 0) {
    differences.unshift({
      code: 'BALANCE_MISMATCH',
      message: `${blanks.received} blanks received, ${blanks.accounted} accounted for (difference ${blanks.difference})`,
      count: Math.abs(blanks.difference),
      sample: [],
    });
  }
  const inProcessByState: Partial<Record<CardState, number>> = {};
  for (const s of IN_PROCESS_STATES) inProcessByState[s] = cardsByState[s] ?? 0;
  return {
    ok: differences.length === 0,
    at: at.toISOString(),
    equation: EQUATION,
    blanks,
    inProcessByState,
    lots,
    batches,
    centres: centreLines,
    orders,
    differences,
  };
}
