/**
 * A ruined blank and its order: the one place that spoils a card and gets its order a new one. Used by the encode
 * stage (a chip that failed personalisation) and meant for QC (a card that failed checks) and dispatch losses.
 *
 * In the caller's transaction:
 * 1. the card moves to SPOILED with the reason code (compare-and-set from `from` + `card.transition` audit entry);
 * 2. the order, if still open, gets a replacement: a new card row in ORDERED, no batch, no blank (the next batch
 *    picks it up), `card_orders.attempts + 1` and an `order.requeue` audit entry;
 * 3. unless the order has used up its attempts (`attempts >= maxAttempts`, attempts counting the cards made for
 *    it): then it goes to REVIEW with an `order.review` audit entry and gets no new card until a supervisor
 *    releases it ({@link releaseOrderReview}). A card that keeps failing usually means bad data, not bad luck.
 *
 * The unique index `cards_one_live_per_order` guarantees at most one live card per order whatever happens.
 */
import type { Knex } from 'knex';
import { appendAudit } from '../audit/index.ts';
import { insertedId } from '../db/index.ts';
import { NotFoundError, StateError } from '../shared/index.ts';
import { DEAD_STATES, type CardState } from './states.ts';
import { transitionCard } from './transition.ts';

/** Cards made for one order before it is put to a supervisor. */
export const DEFAULT_MAX_ATTEMPTS = 3;

export interface SpoilOptions {
  /** Expected current state (compare-and-set). Default: the state read now. */
  from?: CardState;
  /** Attempts after which the order goes to REVIEW instead of getting a new card. Default 3. */
  maxAttempts?: number;
  /** Extra audit facts (ids and codes only, no personal data). */
  data?: Record<string, unknown>;
  at?: Date;
}

export interface SpoilResult {
  cardId: number;
  orderId: number;
  /** The new ORDERED card, or null (order in REVIEW, or no longer open). */
  replacementCardId: number | null;
  /** Cards made for the order so far (replacement included). */
  attempts: number;
  orderStatus: string;
}

/** Spoils `cardId` with `reason` and re-queues its order (see the module comment). Composes with `trx`. */
export async function spoilAndReplace(trx: Knex.Transaction, cardId: number, reason: string, actor: string, opts: SpoilOptions = {}): Promise<SpoilResult> {
  const at = opts.at ?? new Date();
  const iso = at.toISOString();
  const card = await trx('cards').where({ id: cardId }).first('id', 'state', 'order_id', 'centre_code');
  if (!card) throw new NotFoundError('CARD_NOT_FOUND', `card ${cardId} does not exist`, { details: { cardId } });
  await transitionCard(trx, { cardId, from: opts.from ?? (card.state as CardState), to: 'SPOILED', actor, reason, at, ...(opts.data ? { data: opts.data } : {}) });
  const orderId = Number(card.order_id);
  const order = await trx('card_orders').where({ id: orderId }).first('attempts', 'status');
  if (!order) throw new NotFoundError('ORDER_NOT_FOUND', `order ${orderId} does not exist`, { details: { orderId } });
  const attempts = Number(order.attempts);
  const status = String(order.status);
  const max = opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (status !== 'OPEN') {
    // REVIEW already, FULFILLED or CLOSED: nothing to re-queue.
    return { cardId, orderId, replacementCardId: null, attempts, orderStatus: status };
  }
  if (attempts >= max) {
    await trx('card_orders').where({ id: orderId, status: 'OPEN' }).update({ status: 'REVIEW', updated_at: iso });
    await appendAudit(trx, { actor, action: 'order.review', entityType: 'order', entityId: orderId, data: { spoiledCard: cardId, reason, attempts, maxAttempts: max } }, at);
    return { cardId, orderId, replacementCardId: null, attempts, orderStatus: 'REVIEW' };
  }
  const newCard = insertedId(
    await trx('cards').insert({ order_id: orderId, state: 'ORDERED', centre_code: card.centre_code, created_at: iso, updated_at: iso }).returning('id'),
  );
  await trx('card_orders').where({ id: orderId }).update({ attempts: trx.raw('attempts + 1'), updated_at: iso });
  await appendAudit(trx, { actor, action: 'order.requeue', entityType: 'order', entityId: orderId, data: { spoiledCard: cardId, newCard, reason } }, at);
  return { cardId, orderId, replacementCardId: newCard, attempts: attempts + 1, orderStatus: 'OPEN' };
}

/**
 * A supervisor releases an order from REVIEW: it goes back to OPEN and gets a new ORDERED card (attempts + 1),
 * with an `order.release` audit entry. Refuses an order that is not in REVIEW or still has a live card.
 */
export async function releaseOrderReview(trx: Knex.Transaction, orderId: number, actor: string, at = new Date()): Promise<{ orderId: number; cardId: number }> {
  const iso = at.toISOString();
  const order = await trx('card_orders').where({ id: orderId }).first('status', 'centre_code');
  if (!order) throw new NotFoundError('ORDER_NOT_FOUND', `order ${orderId} does not exist`, { details: { orderId } });
  if (order.status !== 'REVIEW') {
    throw new StateError('ORDER_NOT_IN_REVIEW', `order ${orderId} is ${String(order.status)}, not REVIEW`, { details: { orderId, status: String(order.status) } });
  }
  const live = await trx('cards').where({ order_id: orderId }).whereNotIn('state', DEAD_STATES).first('id');
  if (live) throw new StateError('ORDER_HAS_LIVE_CARD', `order ${orderId} still has card ${Number(live.id)} in production`, { details: { orderId } });
  const n = await trx('card_orders').where({ id: orderId, status: 'REVIEW' }).update({ status: 'OPEN', attempts: trx.raw('attempts + 1'), updated_at: iso });
  if (n !== 1) throw new StateError('ORDER_NOT_IN_REVIEW', `order ${orderId} changed meanwhile`, { details: { orderId } });
  const cardId = insertedId(
    await trx('cards').insert({ order_id: orderId, state: 'ORDERED', centre_code: order.centre_code, created_at: iso, updated_at: iso }).returning('id'),
  );
  await appendAudit(trx, { actor, action: 'order.release', entityType: 'order', entityId: orderId, data: { newCard: cardId } }, at);
  return { orderId, cardId };
}
