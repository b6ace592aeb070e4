/**
 * At the collection centre: handing cards to their holders, sending uncollected cards back, destroying them,
 * and the ageing report of cards waiting to be collected.
 *
 * - issue: the card (by document number) must be RECEIVED at that very centre; it becomes ISSUED and its order
 *   FULFILLED in one transaction. A refusal changes nothing, throws IssueRefusedError with a reason code and is
 *   kept as an `issue-refused` tracking event on the card (the attempt, the centre, the reason; no holder data).
 * - returns: RECEIVED cards uncollected for more than N days (default 90) become RETURNED (reason UNCOLLECTED).
 * - destroy: RETURNED cards become DESTROYED (with the witness recorded) and their orders CLOSED.
 * - ageing: per centre, uncollected cards by days since receipt (cards.updated_at of a RECEIVED card is the
 *   moment it was received: only a transition changes it).
 */
import type { Knex } from 'knex';
import { appendAudit } from '../audit/index.ts';
import { transitionCard, type CardState } from '../cards/index.ts';
import { toCount } from '../db/index.ts';
import { systemClock, type Clock } from '../shared/index.ts';
import { ensureCentre } from './boxes.ts';
import { DispatchNotFoundError, DispatchStateError, DispatchValidationError, IssueRefusedError } from './errors.ts';
import { lockCards } from './locks.ts';
import { issueRefusal, type IssueRefusal } from './rules.ts';
import { rowsOf } from './sql.ts';

const DAY_MS = 86_400_000;
export const DEFAULT_RETURN_AFTER_DAYS = 90;
export const RETURN_REASON = 'UNCOLLECTED';
/** Ageing buckets: upper bounds in days (inclusive); the last bucket is open ended. */
export const DEFAULT_AGEING_BUCKETS = [30, 60, 90, 180] as const;

export interface IssueOptions {
  documentNumber: string;
  /** The centre where the holder stands. */
  centre: string;
  actor: string;
  /** The national number on the identity the holder presented; checked against the order when given. */
  holderNationalNumber?: string;
  clock?: Clock;
}

export interface IssueResult {
  documentNumber: string;
  centre: string;
  state: 'ISSUED';
  orderStatus: 'FULFILLED';
  issuedAt: string;
}

/** `kadi issue DOCUMENT_NUMBER --centre ID`. */
export async function issueCard(db: Knex, opts: IssueOptions): Promise<IssueResult> {
  const at = (opts.clock ?? systemClock).now();
  const documentNumber = opts.documentNumber.trim().toUpperCase();
  const centre = opts.centre.trim().toUpperCase();
  let cardId: number | null = null;
  try {
    if (!(await db('collection_centres').where({ code: centre }).first('code'))) {
      throw new IssueRefusedError('ISSUE_UNKNOWN_CENTRE', `${centre} is not a collection centre`, { details: { centre } });
    }
    return await db.transaction(async (trx) => {
      await lockCards(trx, (q) => q.where({ document_number: documentNumber }));
      const card = await trx('cards as c')
        .join('card_orders as o', 'o.id', 'c.order_id')
        .where('c.document_number', documentNumber)
        .first('c.id', 'c.state', 'c.centre_code', 'c.order_id', 'o.status as order_status', 'o.national_number');
      if (!card) throw new IssueRefusedError('ISSUE_UNKNOWN_DOCUMENT', `no card with document number ${documentNumber}`, { details: { centre } });
      cardId = Number(card.id);
      const refusal = issueRefusal({ state: card.state as CardState, centreCode: String(card.centre_code) }, centre);
      if (refusal) {
        const msg: Record<IssueRefusal, string> = {
          ISSUE_WRONG_CENTRE: `the card is for collection at ${String(card.centre_code)}, not ${centre}`,
          ISSUE_ALREADY_ISSUED: 'the card was already issued',
          ISSUE_CARD_WITHDRAWN: `the card is ${String(card.state)} and may not be issued`,
          ISSUE_NOT_RECEIVED: `the card has not been received at the centre (it is ${String(card.state)})`,
          ISSUE_UNKNOWN_CENTRE: '',
          ISSUE_UNKNOWN_DOCUMENT: '',
          ISSUE_HOLDER_MISMATCH: '',
          ISSUE_ORDER_NOT_OPEN: '',
        };
        throw new IssueRefusedError(refusal, msg[refusal], { details: { centre, cardCentre: String(card.centre_code), state: String(card.state) } });
      }
      if (opts.holderNationalNumber !== undefined && opts.holderNationalNumber.trim() !== String(card.national_number)) {
        throw new IssueRefusedError('ISSUE_HOLDER_MISMATCH', 'the identity presented is not the card holder\'s', { details: { centre } });
      }
      await transitionCard(trx, { cardId: Number(card.id), from: 'RECEIVED', to: 'ISSUED', actor: opts.actor, data: { centre }, at });
      const n = await trx('card_orders').where({ id: card.order_id }).whereIn('status', ['OPEN', 'REVIEW']).update({ status: 'FULFILLED', updated_at: at.toISOString() });
      if (n !== 1) {
        throw new IssueRefusedError('ISSUE_ORDER_NOT_OPEN', `the card's order is ${String(card.order_status)}`, { details: { centre, orderStatus: String(card.order_status) } });
      }
      await appendAudit(trx, { actor: opts.actor, action: 'order.fulfil', entityType: 'order', entityId: Number(card.order_id), data: { cardId: Number(card.id), centre } }, at);
      await trx('tracking_events').insert({ card_id: Number(card.id), event: 'issued', centre_code: centre, at: at.toISOString(), actor: opts.actor, details: JSON.stringify({}) });
      return { documentNumber, centre, state: 'ISSUED' as const, orderStatus: 'FULFILLED' as const, issuedAt: at.toISOString() };
    });
  } catch (e) {
    if (e instanceof IssueRefusedError) {
      await db('tracking_events').insert({
        card_id: cardId,
        event: 'issue-refused',
        centre_code: centre.slice(0, 16),
        at: at.toISOString(),
        actor: opts.actor,
        details: JSON.stringify({ reason: e.reason }),
      });
    }
    throw e;
  }
}

export interface ReturnOptions {
  actor: string;
  /** Cards received more than this many days ago (default 90). */
  olderThanDays?: number;
  centre?: string;
  /** Count only, change nothing. */
  dryRun?: boolean;
  clock?: Clock;
  onProgress?: (done: number, total: number) => void;
}

export interface ReturnResult {
  returned: number;
  dryRun: boolean;
  olderThanDays: number;
  /** Cards received before this instant were returned. */
  receivedBefore: string;
  byCentre: Record<string, number>;
}

function checkDays(d: number, name: string): number {
  if (!Number.isInteger(d) || d < 0 || d > 3650) throw new DispatchValidationError('DISPATCH_INVALID_OPTION', `${name} must be a whole number of days from 0 to 3650`, { details: { [name]: d } });
  return d;
}

/** `kadi dispatch returns`: uncollected cards back to the bureau (RECEIVED → RETURNED, reason UNCOLLECTED). */
export async function returnUncollected(db: Knex, opts: ReturnOptions): Promise<ReturnResult> {
  const clock = opts.clock ?? systemClock;
  const days = checkDays(opts.olderThanDays ?? DEFAULT_RETURN_AFTER_DAYS, 'olderThanDays');
  if (opts.centre) await ensureCentre(db, opts.centre);
  const cutoff = new Date(clock.now().getTime() - days * DAY_MS).toISOString();
  const base = () => {
    const q = db('cards').where({ state: 'RECEIVED' }).andWhere('updated_at', '<', cutoff);
    if (opts.centre) q.andWhere({ centre_code: opts.centre });
    return q;
  };
  const res: ReturnResult = { returned: 0, dryRun: !!opts.dryRun, olderThanDays: days, receivedBefore: cutoff, byCentre: {} };
  if (opts.dryRun) {
    for (const r of await rowsOf(base().select('centre_code').count({ n: '*' }).groupBy('centre_code'))) {
      res.byCentre[String(r.centre_code)] = toCount(r.n);
      res.returned += toCount(r.n);
    }
    return res;
  }
  const total = toCount((await base().count({ n: '*' }))[0]?.n);
  let after = 0;
  for (;;) {
    const rows = (await base().andWhere('id', '>', after).orderBy('id').limit(200).select('id', 'centre_code')) as Array<{ id: number; centre_code: string }>;
    if (rows.length === 0) break;
    after = Number(rows[rows.length - 1]!.id);
    let done: Array<{ id: number; centre_code: string }> = [];
    await db.transaction(async (trx) => {
      const at = clock.now();
      // Still RECEIVED (someone may have collected a card meanwhile), locked.
      done = await lockCards<{ id: number; centre_code: string }>(trx, (q) => q.whereIn('id', rows.map((r) => Number(r.id))).where({ state: 'RECEIVED' }), ['id', 'centre_code']);
      for (const r of done) {
        await transitionCard(trx, { cardId: Number(r.id), from: 'RECEIVED', to: 'RETURNED', reason: RETURN_REASON, actor: opts.actor, data: { olderThanDays: days }, at });
        await trx('tracking_events').insert({ card_id: Number(r.id), event: 'returned', centre_code: r.centre_code, at: at.toISOString(), actor: opts.actor, details: JSON.stringify({ reason: RETURN_REASON }) });
      }
    });
    for (const r of done) res.byCentre[r.centre_code] = (res.byCentre[r.centre_code] ?? 0) + 1;
    res.returned += done.length;
    opts.onProgress?.(res.returned, total);
  }
  return res;
}

export interface DestroyOptions {
  actor: string;
  /** Staff id of the second person witnessing the destruction (recorded in the audit log). */
  witness: string;
  /** The cards to destroy; or every RETURNED card when `all` is set. */
  documentNumbers?: string[];
  all?: boolean;
  clock?: Clock;
}

export interface DestroyResult {
  destroyed: number;
  ordersClosed: number;
}

/** `kadi dispatch destroy`: RETURNED → DESTROYED, order → CLOSED. All named cards or none. */
export async function destroyReturned(db: Knex, opts: DestroyOptions): Promise<DestroyResult> {
  const clock = opts.clock ?? systemClock;
  const witness = opts.witness.trim();
  if (!witness || witness.length > 64) throw new DispatchValidationError('DISPATCH_INVALID_OPTION', 'a witness (staff id, up to 64 characters) is required');
  if (!opts.all && !(opts.documentNumbers && opts.documentNumbers.length > 0)) {
    throw new DispatchValidationError('DISPATCH_INVALID_OPTION', 'name the document numbers to destroy, or --all-returned');
  }
  const res: DestroyResult = { destroyed: 0, ordersClosed: 0 };
  const destroyBatch = async (trx: Knex.Transaction, ids: number[]) => {
    const at = clock.now();
    const cards = await lockCards<{ id: number; order_id: number }>(trx, (q) => q.whereIn('id', ids).where({ state: 'RETURNED' }), ['id', 'order_id']);
    for (const c of cards) {
      await transitionCard(trx, { cardId: Number(c.id), from: 'RETURNED', to: 'DESTROYED', actor: opts.actor, data: { witness }, at });
      res.destroyed++;
      // The order is closed unless it has another card still alive (a replacement).
      const live = await trx('cards').where({ order_id: c.order_id }).whereNotIn('state', ['SPOILED', 'RETURNED', 'DESTROYED']).first('id');
      if (live) continue;
      const n = await trx('card_orders').where({ id: c.order_id }).whereIn('status', ['OPEN', 'REVIEW']).update({ status: 'CLOSED', updated_at: at.toISOString() });
      if (n === 1) {
        res.ordersClosed++;
        await appendAudit(trx, { actor: opts.actor, action: 'order.close', entityType: 'order', entityId: Number(c.order_id), data: { reason: 'UNCOLLECTED_DESTROYED', cardId: Number(c.id) } }, at);
      }
    }
  };
  if (opts.all) {
    let after = 0;
    for (;;) {
      const rows = (await db('cards').where({ state: 'RETURNED' }).andWhere('id', '>', after).orderBy('id').limit(200).select('id', 'order_id')) as Array<{ id: number; order_id: number }>;
      if (rows.length === 0) break;
      after = Number(rows[rows.length - 1]!.id);
      await db.transaction((trx) => destroyBatch(trx, rows.map((r) => Number(r.id))));
    }
    return res;
  }
  const docs = [...new Set(opts.documentNumbers!.map((d) => d.trim().toUpperCase()))];
  await db.transaction(async (trx) => {
    const rows = await lockCards<{ id: number; order_id: number; state: string; document_number: string }>(trx, (q) => q.whereIn('document_number', docs), ['id', 'order_id', 'state', 'document_number']);
    const found = new Set(rows.map((r) => r.document_number));
    const missing = docs.filter((d) => !found.has(d));
    if (missing.length) throw new DispatchNotFoundError('CARD_NOT_FOUND', `no card with document number ${missing.join(', ')}`, { details: { documentNumbers: missing } });
    const wrong = rows.filter((r) => r.state !== 'RETURNED');
    if (wrong.length) {
      throw new DispatchStateError('DESTROY_NOT_RETURNED', `only RETURNED cards are destroyed; ${wrong.map((w) => `${w.document_number} is ${w.state}`).join(', ')}`, {
        details: { cards: wrong.map((w) => ({ documentNumber: w.document_number, state: w.state })) },
      });
    }
    await destroyBatch(trx, rows.map((r) => Number(r.id)));
  });
  return res;
}

export interface AgeingRow {
  centre: string;
  name: string;
  county: string;
  /** RECEIVED cards waiting for their holders. */
  uncollected: number;
  /** Bucket label (e.g. `0-30`, `31-60`, `>180`) → cards. */
  buckets: Record<string, number>;
  oldestDays: number | null;
  /** Over the cards that reached the centre: issued / returned / destroyed so far. */
  issued: number;
  returned: number;
  destroyed: number;
  /** issued / (issued + uncollected + returned + destroyed), 0..1; null when nothing arrived yet. */
  collectionRate: number | null;
}

export interface AgeingReport {
  at: string;
  buckets: string[];
  centres: AgeingRow[];
  totals: { uncollected: number; buckets: Record<string, number>; issued: number; returned: number; destroyed: number };
}

export function bucketLabels(bounds: readonly number[]): string[] {
  const labels: string[] = [];
  let lo = 0;
  for (const b of bounds) {
    labels.push(`${lo}-${b}`);
    lo = b + 1;
  }
  labels.push(`>${bounds[bounds.length - 1] ?? 0}`);
  return labels;
}

/** `kadi dispatch ageing`: uncollected cards per centre by days since they were received. */
export async function ageingReport(db: Knex, opts: { centre?: string; clock?: Clock; buckets?: readonly number[] } = {}): Promise<AgeingReport> {
  const now = (opts.clock ?? systemClock).now();
  const bounds = opts.buckets ?? DEFAULT_AGEING_BUCKETS;
  const labels = bucketLabels(bounds);
  if (opts.centre) await ensureCentre(db, opts.centre);
  // Card received at or after cut(b) ⇔ waiting at most b days.
  const cuts = bounds.map((b) => new Date(now.getTime() - (b + 1) * DAY_MS).toISOString());
  const sel: Array<string | Knex.Raw> = ['centre_code'];
  cuts.forEach((c, i) => sel.push(db.raw(`sum(case when updated_at >= ? then 1 else 0 end) as b${i}`, [c])));
  const q = db('cards').where({ state: 'RECEIVED' }).select(...sel).count({ n: '*' }).min({ oldest: 'updated_at' }).groupBy('centre_code');
  if (opts.centre) q.andWhere({ centre_code: opts.centre });
  const waiting = new Map<string, { n: number; cum: number[]; oldest: string }>();
  for (const r of (await q) as Array<Record<string, unknown>>) {
    waiting.set(String(r.centre_code), { n: toCount(r.n), cum: cuts.map((_, i) => toCount(r[`b${i}`])), oldest: String(r.oldest) });
  }
  const fq = db('cards').whereIn('state', ['ISSUED', 'RETURNED', 'DESTROYED']).select('centre_code', 'state').count({ n: '*' }).groupBy('centre_code', 'state');
  if (opts.centre) fq.andWhere({ centre_code: opts.centre });
  const fates = new Map<string, Record<string, number>>();
  for (const r of (await fq) as Array<Record<string, unknown>>) {
    const m = fates.get(String(r.centre_code)) ?? {};
    m[String(r.state)] = toCount(r.n);
    fates.set(String(r.centre_code), m);
  }
  const centreRows = await db('collection_centres').orderBy('code').select('code', 'name', 'county');
  const totals: AgeingReport['totals'] = { uncollected: 0, buckets: Object.fromEntries(labels.map((l) => [l, 0])), issued: 0, returned: 0, destroyed: 0 };
  const centres: AgeingRow[] = [];
  for (const c of centreRows as Array<{ code: string; name: string; county: string }>) {
    const w = waiting.get(c.code);
    const f = fates.get(c.code) ?? {};
    if (!w && Object.keys(f).length === 0) continue;
    if (opts.centre && c.code !== opts.centre) continue;
    const buckets: Record<string, number> = {};
    let prev = 0;
    labels.forEach((l, i) => {
      const cum = i < cuts.length ? (w?.cum[i] ?? 0) : (w?.n ?? 0);
      buckets[l] = cum - prev;
      prev = cum;
    });
    const row: AgeingRow = {
      centre: c.code,
      name: c.name,
      county: c.county,
      uncollected: w?.n ?? 0,
      buckets,
      oldestDays: w ? Math.floor((now.getTime() - Date.parse(w.oldest)) / DAY_MS) : null,
      issued: f.ISSUED ?? 0,
      returned: f.RETURNED ?? 0,
      destroyed: f.DESTROYED ?? 0,
      collectionRate: null,
    };
    const arrived = row.issued + row.uncollected + row.returned + row.destroyed;
    row.collectionRate = arrived === 0 ? null : Math.round((row.issued / arrived) * 10_000) / 10_000;
    centres.push(row);
    totals.uncollected += row.uncollected;
    totals.issued += row.issued;
    totals.returned += row.returned;
    totals.destroyed += row.destroyed;
    for (const l of labels) totals.buckets[l]! += buckets[l]!;
  }
  return { at: now.toISOString(), buckets: labels, centres, totals };
}
