/**
 * Packing and shipping (database side). Every card move goes through transitionCard (compare-and-set plus an
 * audit entry); every box and shipment change writes its own audit entry in the same transaction.
 *
 * - pack: QC_PASSED cards, centre by centre, into boxes of that centre only (capacity per box, default 200).
 *   A box is filled in one transaction that first locks the box row, so two packers never overfill a box and a
 *   card taken by another packer (CARD_STATE_CONFLICT) is simply skipped. Full boxes are sealed with a seal
 *   number; partial boxes stay OPEN for the next pack run unless sealPartial is set.
 * - ship: seals the centre's remaining partial boxes, puts every sealed box on the centre's open shipment (one
 *   per centre at a time), and — unless `hold` — dispatches each box (box DISPATCHED, cards PACKED→DISPATCHED,
 *   one `dispatched` tracking event per box recording the card count: the per-centre ledger reconcile checks).
 *   With `hold`, boxes wait on the shipment for a `dispatched` scan each (track scan). Re-running resumes.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { appendAudit } from '../audit/index.ts';
import { CardStateConflictError, transitionCard } from '../cards/index.ts';
import { insertedId, toCount } from '../db/index.ts';
import { systemClock, type Clock } from '../shared/index.ts';
import { formatCode, parseCode } from './codes.ts';
import { DispatchNotFoundError, DispatchStateError, DispatchValidationError } from './errors.ts';
import { lockCards, lockCentre } from './locks.ts';
import type { BoxState, ShipmentState } from './rules.ts';

export const DEFAULT_BOX_CAPACITY = 200;
export const MAX_BOX_CAPACITY = 5000;
/** The location recorded for events at the card bureau (dispatch). */
export const BUREAU_LOCATION = 'BUREAU';
const SEAL_RE = /^[A-Z0-9][A-Z0-9-]{3,31}$/;

export interface BoxRow {
  id: number;
  code: string;
  centre_code: string;
  shipment_id: number | null;
  state: BoxState;
  capacity: number;
  seal_number: string | null;
  created_at: string;
  sealed_at: string | null;
}

export interface BoxSummary {
  code: string;
  centre: string;
  state: BoxState;
  cards: number;
  capacity: number;
  sealNumber: string | null;
  shipment: string | null;
}

export interface ShipmentRow {
  id: number;
  code: string;
  centre_code: string;
  state: ShipmentState;
  created_at: string;
  dispatched_at: string | null;
  received_at: string | null;
}

export interface ShipmentSummary {
  id: number;
  code: string;
  centre: string;
  state: ShipmentState;
  boxes: number;
  cards: number;
  createdAt: string;
  dispatchedAt: string | null;
  receivedAt: string | null;
}

function normBox(r: Record<string, unknown>): BoxRow {
  return {
    id: Number(r.id),
    code: String(r.code),
    centre_code: String(r.centre_code),
    shipment_id: r.shipment_id === null || r.shipment_id === undefined ? null : Number(r.shipment_id),
    state: r.state as BoxState,
    capacity: Number(r.capacity),
    seal_number: (r.seal_number as string | null) ?? null,
    created_at: String(r.created_at),
    sealed_at: (r.sealed_at as string | null) ?? null,
  };
}

function normShipment(r: Record<string, unknown>): ShipmentRow {
  return {
    id: Number(r.id),
    code: String(r.code),
    centre_code: String(r.centre_code),
    state: r.state as ShipmentState,
    created_at: String(r.created_at),
    dispatched_at: (r.dispatched_at as string | null) ?? null,
    received_at: (r.received_at as string | null) ?? null,
  };
}

type Db = Knex | Knex.Transaction;

/** Cards physically in a box: packed, or moved on with it (a spoiled card is out of the box). */
export const CARDS_IN_BOX_STATES = ['PACKED', 'DISPATCHED', 'RECEIVED'] as const;

export async function cardsInBox(db: Db, boxId: number, states: readonly string[] = ['PACKED']): Promise<number> {
  return toCount((await db('cards').where({ box_id: boxId }).whereIn('state', states).count({ n: '*' }))[0]?.n);
}

export async function findBoxByCode(db: Db, code: string): Promise<BoxRow | undefined> {
  const r = await db('boxes').where({ code: code.trim().toUpperCase() }).first();
  return r ? normBox(r) : undefined;
}

export async function getBox(db: Db, code: string): Promise<BoxRow> {
  const b = await findBoxByCode(db, code);
  if (!b) throw new DispatchNotFoundError('BOX_NOT_FOUND', `no box ${code.trim().toUpperCase()}`, { details: { box: code } });
  return b;
}

/** A shipment by numeric id or by code (SH…). */
export async function getShipment(db: Db, idOrCode: string | number): Promise<ShipmentRow> {
  let id: number | undefined;
  if (typeof idOrCode === 'number' || /^\d+$/.test(idOrCode)) id = Number(idOrCode);
  else {
    const p = parseCode(idOrCode);
    if (p.ok && p.kind === 'shipment') id = p.id;
  }
  const r = id === undefined ? undefined : await db('shipments').where({ id }).first();
  if (!r) throw new DispatchNotFoundError('SHIPMENT_NOT_FOUND', `no shipment ${String(idOrCode)}`, { details: { shipment: String(idOrCode) } });
  return normShipment(r);
}

export async function ensureCentre(db: Db, code: string): Promise<{ code: string; name: string; county: string }> {
  const r = await db('collection_centres').where({ code }).first('code', 'name', 'county');
  if (!r) throw new DispatchNotFoundError('CENTRE_NOT_FOUND', `no collection centre ${code}`, { details: { centre: code }, hint: 'Centre codes look like KE-047-01; intake creates them from the registry.' });
  return { code: String(r.code), name: String(r.name), county: String(r.county) };
}

async function summariseBox(db: Db, b: BoxRow): Promise<BoxSummary> {
  let shipment: string | null = null;
  if (b.shipment_id !== null) shipment = String((await db('shipments').where({ id: b.shipment_id }).first('code'))?.code ?? '');
  const states = b.state === 'OPEN' || b.state === 'SEALED' ? ['PACKED'] : [...CARDS_IN_BOX_STATES, 'ISSUED', 'RETURNED', 'DESTROYED'];
  return {
    code: b.code,
    centre: b.centre_code,
    state: b.state,
    cards: await cardsInBox(db, b.id, states),
    capacity: b.capacity,
    sealNumber: b.seal_number,
    shipment,
  };
}

async function createBox(trx: Knex.Transaction, centre: string, capacity: number, actor: string, at: Date): Promise<BoxRow> {
  const id = insertedId(
    await trx('boxes')
      .insert({ code: `NEW-${randomUUID().slice(0, 24)}`, centre_code: centre, state: 'OPEN', capacity, created_at: at.toISOString() })
      .returning('id'),
  );
  const code = formatCode('box', id);
  await trx('boxes').where({ id }).update({ code });
  await appendAudit(trx, { actor, action: 'box.create', entityType: 'box', entityId: code, data: { centre, capacity } }, at);
  return { id, code, centre_code: centre, shipment_id: null, state: 'OPEN', capacity, seal_number: null, created_at: at.toISOString(), sealed_at: null };
}

/** Takes the box's row lock (PostgreSQL) or the database write lock (SQLite) before counting what is in it. */
async function lockBox(trx: Knex.Transaction, id: number): Promise<BoxRow | undefined> {
  const n = await trx('boxes').where({ id }).update({ state: trx.raw('state') });
  if (n !== 1) return undefined;
  return normBox(await trx('boxes').where({ id }).first());
}

/** Checks a seal number given by an operator (the number printed on a physical tamper-evident seal). */
export function validateSealNumber(s: string): string {
  const v = s.trim().toUpperCase();
  if (!SEAL_RE.test(v)) {
    throw new DispatchValidationError('SEAL_NUMBER_INVALID', 'a seal number is 4 to 32 letters, digits or hyphens', { details: { length: v.length } });
  }
  return v;
}

/** Seals an OPEN box holding at least one card, inside the caller's transaction. Returns the seal number. */
export async function sealBoxTx(trx: Knex.Transaction, boxId: number, opts: { sealNumber?: string; actor: string; at: Date }): Promise<string> {
  const box = await lockBox(trx, boxId);
  if (!box) throw new DispatchNotFoundError('BOX_NOT_FOUND', `no box with id ${boxId}`);
  if (box.state !== 'OPEN') {
    throw new DispatchStateError('BOX_NOT_OPEN', `box ${box.code} is ${box.state}, not OPEN`, { details: { box: box.code, state: box.state } });
  }
  const cards = await cardsInBox(trx, box.id);
  if (cards === 0) throw new DispatchStateError('BOX_EMPTY', `box ${box.code} holds no card`, { details: { box: box.code } });
  const seal = opts.sealNumber === undefined ? formatCode('seal', box.id) : validateSealNumber(opts.sealNumber);
  const used = await trx('boxes').where({ seal_number: seal }).whereNot({ id: box.id }).first('code');
  if (used) {
    throw new DispatchStateError('SEAL_NUMBER_IN_USE', `seal ${seal} is already on box ${String(used.code)}`, { details: { seal, box: String(used.code) } });
  }
  await trx('boxes').where({ id: box.id, state: 'OPEN' }).update({ state: 'SEALED', seal_number: seal, sealed_at: opts.at.toISOString() });
  await appendAudit(trx, { actor: opts.actor, action: 'box.seal', entityType: 'box', entityId: box.code, data: { sealNumber: seal, cards, generated: opts.sealNumber === undefined } }, opts.at);
  return seal;
}

/** `kadi dispatch seal BOX [--seal-number S]`. */
export async function sealBox(db: Knex, opts: { box: string; sealNumber?: string; actor: string; clock?: Clock }): Promise<BoxSummary> {
  const at = (opts.clock ?? systemClock).now();
  const box = await getBox(db, opts.box);
  await db.transaction((trx) => sealBoxTx(trx, box.id, { ...(opts.sealNumber === undefined ? {} : { sealNumber: opts.sealNumber }), actor: opts.actor, at }));
  return summariseBox(db, await getBox(db, box.code));
}

export interface PackOptions {
  actor: string;
  /** Only cards of this production batch. */
  batchId?: number;
  /** Only cards for this collection centre. */
  centre?: string;
  /** Cards per new box (default 200). An existing open box keeps its own capacity. */
  capacity?: number;
  /** Seal boxes as they fill up, with a generated seal number (default true). */
  sealFull?: boolean;
  /** Also seal the last, partly filled box of each centre (default false: it stays OPEN for the next run). */
  sealPartial?: boolean;
  /** Cards read per query (default 1000). */
  pageSize?: number;
  clock?: Clock;
  onProgress?: (packed: number, total: number) => void;
  /** Called with each card this run packed (after its transaction committed). */
  onPacked?: (cardIds: readonly number[]) => void;
  /** Summarise the boxes put into (PackResult.boxes; default true). false: `boxes` is left empty. */
  summaries?: boolean;
}

export interface PackResult {
  packed: number;
  /** Cards another packer moved first (skipped, not an error). */
  conflicts: number;
  boxesCreated: number;
  boxesSealed: number;
  byCentre: Record<string, number>;
  /** Every box this run put cards into. */
  boxes: BoxSummary[];
}

function checkCapacity(c: number): number {
  if (!Number.isInteger(c) || c < 1 || c > MAX_BOX_CAPACITY) {
    throw new DispatchValidationError('DISPATCH_INVALID_OPTION', `box capacity must be an integer from 1 to ${MAX_BOX_CAPACITY}`, { details: { capacity: c } });
  }
  return c;
}

function qcPassed(db: Db, o: { batchId?: number; centre?: string }) {
  const q = db('cards').where({ state: 'QC_PASSED' });
  if (o.batchId !== undefined) q.andWhere({ batch_id: o.batchId });
  if (o.centre !== undefined) q.andWhere({ centre_code: o.centre });
  return q;
}

/** `kadi dispatch pack`: QC-passed cards into boxes, one centre per box. */
export async function packCards(db: Knex, opts: PackOptions): Promise<PackResult> {
  const clock = opts.clock ?? systemClock;
  const capacity = checkCapacity(opts.capacity ?? DEFAULT_BOX_CAPACITY);
  const pageSize = opts.pageSize ?? 1000;
  const sealFull = opts.sealFull ?? true;
  if (opts.centre !== undefined) await ensureCentre(db, opts.centre);
  const filter = { ...(opts.batchId === undefined ? {} : { batchId: opts.batchId }), ...(opts.centre === undefined ? {} : { centre: opts.centre }) };
  // the total is for onProgress only
  const total = opts.onProgress ? toCount((await qcPassed(db, filter).count({ n: '*' }))[0]?.n) : 0;
  // one centre asked for: its first page of cards says whether it has any (as the distinct read would)
  const centres =
    opts.centre !== undefined ? [opts.centre] : (await qcPassed(db, filter).distinct('centre_code').orderBy('centre_code')).map((r: { centre_code: string }) => String(r.centre_code));
  const res: PackResult = { packed: 0, conflicts: 0, boxesCreated: 0, boxesSealed: 0, byCentre: {}, boxes: [] };
  const touched = new Set<number>();
  opts.onProgress?.(0, total);

  for (const centre of centres) {
    let after = 0;
    let seen = false;
    for (let last = false; !last; ) {
      const ids = (await qcPassed(db, { ...filter, centre }).andWhere('id', '>', after).orderBy('id').limit(pageSize).select('id')).map((r: { id: number }) => Number(r.id));
      if (ids.length === 0) break;
      seen = true;
      // a short page is the last one (keyset pages: nothing after it)
      last = ids.length < pageSize;
      after = ids[ids.length - 1]!;
      let i = 0;
      while (i < ids.length) {
        const packedNow: number[] = [];
        await db.transaction(async (trx) => {
          const at = clock.now();
          // Lock order (locks.ts): centre, box, cards, then the audit head.
          await lockCentre(trx, centre);
          // The centre's open box with room (locked before counting), or a new one.
          let box: BoxRow | undefined;
          let inBox = 0;
          const open = await trx('boxes').where({ centre_code: centre, state: 'OPEN' }).orderBy('id').select('id');
          for (const o of open) {
            const b = await lockBox(trx, Number(o.id));
            if (!b || b.state !== 'OPEN') continue;
            const n = await cardsInBox(trx, b.id);
            if (n < b.capacity) {
              box = b;
              inBox = n;
              break;
            }
          }
          const room = box ? box.capacity - inBox : capacity;
          const candidates = ids.slice(i, i + room);
          i += candidates.length;
          // The candidates still QC_PASSED, locked; the others were taken by another packer meanwhile.
          const chunk = (await lockCards<{ id: number }>(trx, (q) => q.whereIn('id', candidates).where({ state: 'QC_PASSED' }))).map((r) => Number(r.id));
          res.conflicts += candidates.length - chunk.length;
          if (chunk.length === 0) return;
          if (!box) {
            box = await createBox(trx, centre, capacity, opts.actor, at);
            res.boxesCreated++;
          }
          for (const cardId of chunk) {
            try {
              await transitionCard(trx, { cardId, from: 'QC_PASSED', to: 'PACKED', actor: opts.actor, set: { box_id: box.id }, data: { box: box.code }, at });
              inBox++;
              packedNow.push(cardId);
              res.packed++;
              res.byCentre[centre] = (res.byCentre[centre] ?? 0) + 1;
            } catch (e) {
              if (e instanceof CardStateConflictError) res.conflicts++;
              else throw e;
            }
          }
          touched.add(box.id);
          if (sealFull && inBox >= box.capacity) {
            await sealBoxTx(trx, box.id, { actor: opts.actor, at });
            res.boxesSealed++;
          }
        });
        if (packedNow.length > 0) opts.onPacked?.(packedNow);
        opts.onProgress?.(res.packed, total);
      }
    }
    if (opts.centre !== undefined && !seen) continue;
    if (opts.sealPartial) {
      for (const o of await db('boxes').where({ centre_code: centre, state: 'OPEN' }).select('id')) {
        const id = Number(o.id);
        if ((await cardsInBox(db, id)) === 0) continue;
        await db.transaction((trx) => sealBoxTx(trx, id, { actor: opts.actor, at: clock.now() }));
        res.boxesSealed++;
        touched.add(id);
      }
    }
  }
  if (opts.summaries === false) return res;
  for (const id of [...touched].sort((a, b) => a - b)) {
    res.boxes.push(await summariseBox(db, normBox(await db('boxes').where({ id }).first())));
  }
  return res;
}

/** `kadi dispatch unpack DOCUMENT_NUMBER`: takes a card back out of an OPEN box (PACKED → QC_PASSED). */
export async function unpackCard(db: Knex, opts: { documentNumber: string; actor: string; clock?: Clock }): Promise<{ documentNumber: string; box: string; state: 'QC_PASSED' }> {
  const at = (opts.clock ?? systemClock).now();
  return db.transaction(async (trx) => {
    const [card] = await lockCards<{ id: number; state: string; box_id: number | null }>(trx, (q) => q.where({ document_number: opts.documentNumber }), ['id', 'state', 'box_id']);
    if (!card) throw new DispatchNotFoundError('CARD_NOT_FOUND', `no card with document number ${opts.documentNumber}`);
    if (card.state !== 'PACKED' || card.box_id === null) {
      throw new DispatchStateError('CARD_NOT_PACKED', `card is ${String(card.state)}, not PACKED`, { details: { state: card.state } });
    }
    const box = await lockBox(trx, Number(card.box_id));
    if (!box || box.state !== 'OPEN') {
      throw new DispatchStateError('BOX_NOT_OPEN', `box ${box?.code ?? ''} is ${box?.state ?? 'missing'}; a sealed box is not opened at the bureau`, { details: { box: box?.code, state: box?.state } });
    }
    await transitionCard(trx, { cardId: Number(card.id), from: 'PACKED', to: 'QC_PASSED', actor: opts.actor, set: { box_id: null }, data: { unpackedFrom: box.code }, at });
    return { documentNumber: opts.documentNumber, box: box.code, state: 'QC_PASSED' as const };
  });
}

/**
 * Dispatches one SEALED box on a shipment, in the caller's transaction: box DISPATCHED, its PACKED cards
 * DISPATCHED (transitionCard each), a `dispatched` tracking event holding the card count, an audit entry.
 */
export async function dispatchBoxTx(
  trx: Knex.Transaction,
  box: BoxRow,
  opts: { actor: string; at: Date; location?: string; via: 'ship' | 'scan' },
): Promise<number> {
  const n = await trx('boxes').where({ id: box.id, state: 'SEALED' }).update({ state: 'DISPATCHED' });
  if (n !== 1) throw new DispatchStateError('BOX_NOT_SEALED', `box ${box.code} is no longer SEALED`, { details: { box: box.code } });
  const shipment = box.shipment_id === null ? null : await trx('shipments').where({ id: box.shipment_id }).first('code');
  const ids = (await lockCards<{ id: number }>(trx, (q) => q.where({ box_id: box.id, state: 'PACKED' }))).map((r) => Number(r.id));
  for (const cardId of ids) {
    await transitionCard(trx, { cardId, from: 'PACKED', to: 'DISPATCHED', actor: opts.actor, data: { box: box.code }, at: opts.at });
  }
  const location = opts.location ?? BUREAU_LOCATION;
  await trx('tracking_events').insert({
    box_id: box.id,
    shipment_id: box.shipment_id,
    event: 'dispatched',
    centre_code: location,
    at: opts.at.toISOString(),
    actor: opts.actor,
    details: JSON.stringify({ cards: ids.length, shipment: shipment?.code ?? null, via: opts.via }),
  });
  await appendAudit(trx, { actor: opts.actor, action: 'box.dispatch', entityType: 'box', entityId: box.code, data: { cards: ids.length, shipment: shipment?.code ?? null, location, via: opts.via } }, opts.at);
  return ids.length;
}

/**
 * Moves a shipment on when all its boxes have: CREATED → DISPATCHED once no box is OPEN/SEALED, → RECEIVED once
 * every box is RECEIVED or OPENED. In the caller's transaction; returns the (possibly new) state.
 */
export async function settleShipment(trx: Knex.Transaction, shipmentId: number, actor: string, at: Date): Promise<ShipmentState> {
  await trx('shipments').where({ id: shipmentId }).update({ state: trx.raw('state') }); // lock (and a first write)
  const s = normShipment(await trx('shipments').where({ id: shipmentId }).first());
  const rows = await trx('boxes').where({ shipment_id: shipmentId }).select('state').count({ n: '*' }).groupBy('state');
  const by: Record<string, number> = {};
  for (const r of rows as Array<{ state: string; n: unknown }>) by[r.state] = toCount(r.n);
  const total = Object.values(by).reduce((a, b) => a + b, 0);
  let state = s.state;
  if (total === 0) return state;
  const notLeft = (by.OPEN ?? 0) + (by.SEALED ?? 0);
  const arrived = (by.RECEIVED ?? 0) + (by.OPENED ?? 0);
  if (state === 'CREATED' && notLeft === 0) {
    const cards = await trx('tracking_events').where({ shipment_id: shipmentId, event: 'dispatched' }).select('details');
    const n = cards.reduce((a: number, r: { details: string }) => a + Number((JSON.parse(r.details) as { cards?: number }).cards ?? 0), 0);
    await trx('shipments').where({ id: shipmentId, state: 'CREATED' }).update({ state: 'DISPATCHED', dispatched_at: at.toISOString() });
    await appendAudit(trx, { actor, action: 'shipment.dispatch', entityType: 'shipment', entityId: s.code, data: { boxes: total, cards: n } }, at);
    state = 'DISPATCHED';
  }
  if (state === 'DISPATCHED' && arrived === total) {
    await trx('shipments').where({ id: shipmentId, state: 'DISPATCHED' }).update({ state: 'RECEIVED', received_at: at.toISOString() });
    await appendAudit(trx, { actor, action: 'shipment.receive', entityType: 'shipment', entityId: s.code, data: { boxes: total } }, at);
    state = 'RECEIVED';
  }
  return state;
}

export interface ShipOptions {
  actor: string;
  /** One centre; or all centres with packed boxes when omitted. */
  centre?: string;
  /** Build the shipments (and print manifests) but leave the boxes for a `dispatched` scan each. */
  hold?: boolean;
  clock?: Clock;
  onProgress?: (boxesDone: number, boxesTotal: number) => void;
}

export interface ShipResult {
  shipments: ShipmentSummary[];
  boxesSealed: number;
  boxesDispatched: number;
  cardsDispatched: number;
}

export async function summariseShipment(db: Db, s: ShipmentRow): Promise<ShipmentSummary> {
  const boxes = toCount((await db('boxes').where({ shipment_id: s.id }).count({ n: '*' }))[0]?.n);
  const cards = toCount(
    (await db('cards').whereIn('box_id', db('boxes').where({ shipment_id: s.id }).select('id')).whereNot({ state: 'SPOILED' }).count({ n: '*' }))[0]?.n,
  );
  return {
    id: s.id,
    code: s.code,
    centre: s.centre_code,
    state: s.state,
    boxes,
    cards,
    createdAt: s.created_at,
    dispatchedAt: s.dispatched_at,
    receivedAt: s.received_at,
  };
}

/** `kadi dispatch ship --centre ID | --all`. */
export async function shipBoxes(db: Knex, opts: ShipOptions): Promise<ShipResult> {
  const clock = opts.clock ?? systemClock;
  let centres: string[];
  if (opts.centre !== undefined) {
    await ensureCentre(db, opts.centre);
    centres = [opts.centre];
  } else {
    const rows = await db('boxes')
      .where((q) => q.whereIn('state', ['OPEN', 'SEALED']))
      .distinct('centre_code')
      .orderBy('centre_code');
    centres = rows.map((r: { centre_code: string }) => String(r.centre_code));
  }
  const res: ShipResult = { shipments: [], boxesSealed: 0, boxesDispatched: 0, cardsDispatched: 0 };
  const touched = new Set<number>();
  for (const centre of centres) {
    // 1. Seal what is still open (and holds cards).
    for (const o of await db('boxes').where({ centre_code: centre, state: 'OPEN' }).orderBy('id').select('id')) {
      const id = Number(o.id);
      if ((await cardsInBox(db, id)) === 0) continue;
      await db.transaction((trx) => sealBoxTx(trx, id, { actor: opts.actor, at: clock.now() }));
      res.boxesSealed++;
    }
    // 2. Sealed boxes on no shipment go onto the centre's open shipment (created if needed).
    await db.transaction(async (trx) => {
      const at = clock.now();
      await lockCentre(trx, centre); // one shipment assembler per centre
      const loose = (await trx('boxes').where({ centre_code: centre, state: 'SEALED' }).whereNull('shipment_id').orderBy('id').select('id', 'code')) as Array<{ id: number; code: string }>;
      if (loose.length === 0) return;
      let shipment = await trx('shipments').where({ centre_code: centre, state: 'CREATED' }).orderBy('id').first();
      if (!shipment) {
        const id = insertedId(
          await trx('shipments').insert({ code: `NEW-${randomUUID().slice(0, 24)}`, centre_code: centre, state: 'CREATED', created_at: at.toISOString() }).returning('id'),
        );
        const code = formatCode('shipment', id);
        await trx('shipments').where({ id }).update({ code });
        await appendAudit(trx, { actor: opts.actor, action: 'shipment.create', entityType: 'shipment', entityId: code, data: { centre } }, at);
        shipment = { id, code };
      }
      const ids = loose.map((b) => Number(b.id));
      for (let i = 0; i < ids.length; i += 500) {
        await trx('boxes').whereIn('id', ids.slice(i, i + 500)).whereNull('shipment_id').update({ shipment_id: shipment.id });
      }
      await appendAudit(trx, { actor: opts.actor, action: 'shipment.add_boxes', entityType: 'shipment', entityId: String(shipment.code), data: { boxes: loose.map((b) => String(b.code)) } }, at);
    });
    // 3. Dispatch (unless held): every sealed box of the centre's open shipments, one transaction per box.
    const open = (await db('shipments').where({ centre_code: centre, state: 'CREATED' }).orderBy('id').select('*')).map(normShipment);
    for (const s of open) {
      touched.add(s.id);
      if (opts.hold) continue;
      const boxes = (await db('boxes').where({ shipment_id: s.id, state: 'SEALED' }).orderBy('id').select('*')).map(normBox);
      let done = 0;
      for (const b of boxes) {
        res.cardsDispatched += await db.transaction((trx) => dispatchBoxTx(trx, b, { actor: opts.actor, at: clock.now(), via: 'ship' }));
        res.boxesDispatched++;
        opts.onProgress?.(++done, boxes.length);
      }
      await db.transaction((trx) => settleShipment(trx, s.id, opts.actor, clock.now()));
    }
  }
  for (const id of [...touched].sort((a, b) => a - b)) {
    res.shipments.push(await summariseShipment(db, normShipment(await db('shipments').where({ id }).first())));
  }
  return res;
}

export async function listShipments(db: Knex, opts: { centre?: string; state?: string } = {}): Promise<ShipmentSummary[]> {
  const q = db('shipments').orderBy('id');
  if (opts.centre) q.where({ centre_code: opts.centre });
  if (opts.state) q.where({ state: opts.state });
  const out: ShipmentSummary[] = [];
  for (const r of await q.select('*')) out.push(await summariseShipment(db, normShipment(r)));
  return out;
}

export async function listBoxes(db: Knex, opts: { centre?: string; state?: string; shipment?: string } = {}): Promise<BoxSummary[]> {
  const q = db('boxes').orderBy('id');
  if (opts.centre) q.where({ centre_code: opts.centre });
  if (opts.state) q.where({ state: opts.state });
  if (opts.shipment) q.where({ shipment_id: (await getShipment(db, opts.shipment)).id });
  const out: BoxSummary[] = [];
  for (const r of await q.select('*')) out.push(await summariseBox(db, normBox(r)));
  return out;
}

export { normBox, normShipment, summariseBox };
