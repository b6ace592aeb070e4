/**
 * Card state changes: each one a compare-and-set (`UPDATE cards SET state = :to WHERE id = :id AND state = :from`)
 * plus one audit entry, in one transaction. An illegal move fails before touching the database; a move whose
 * `from` no longer holds (another worker got there first) fails with CARD_STATE_CONFLICT and changes nothing.
 */
import type { Knex } from 'knex';
import { appendAudit } from '../audit/index.ts';
import { KadiError, NotFoundError, StateError } from '../shared/index.ts';
import { canTransition, isCardState, type CardState } from './states.ts';

export class IllegalTransitionError extends StateError {
  constructor(from: string, to: string, cardId?: number) {
    super('CARD_ILLEGAL_TRANSITION', `a card cannot go from ${from} to ${to}`, {
      hint: 'See the card state machine in docs/architecture.md; the card was not changed.',
      details: { from, to, ...(cardId === undefined ? {} : { cardId }) },
    });
  }
}

export class CardStateConflictError extends StateError {
  constructor(cardId: number, expected: CardState, actual: string) {
    super('CARD_STATE_CONFLICT', `card ${cardId} is ${actual}, not ${expected}`, {
      hint: 'Another worker or operator changed it first; reload and decide again.',
      details: { cardId, expected, actual },
    });
  }
}

/** Columns a transition may set together with the state. */
export interface CardUpdate {
  batch_id?: number | null;
  document_number?: string | null;
  blank_serial?: string | null;
  chip_serial?: string | null;
  lot_id?: number | null;
  encoder_id?: number | null;
  box_id?: number | null;
  spoil_reason?: string | null;
}

export interface TransitionRequest {
  cardId: number;
  from: CardState;
  to: CardState;
  actor: string;
  /** Reason code (required for SPOILED, QC_FAILED, RETURNED). */
  reason?: string;
  set?: CardUpdate;
  /** Extra audit facts (no personal data). */
  data?: Record<string, unknown>;
  at?: Date;
}

const NEEDS_REASON: ReadonlySet<CardState> = new Set(['SPOILED', 'QC_FAILED', 'RETURNED']);

function check(req: TransitionRequest): void {
  if (!isCardState(req.from) || !isCardState(req.to) || !canTransition(req.from, req.to)) {
    throw new IllegalTransitionError(req.from, req.to, req.cardId);
  }
  if (NEEDS_REASON.has(req.to) && !req.reason) {
    throw new KadiError('CARD_REASON_REQUIRED', `moving a card to ${req.to} needs a reason code`, {
      details: { cardId: req.cardId, to: req.to },
    });
  }
}

async function apply(trx: Knex.Transaction, req: TransitionRequest): Promise<void> {
  const at = req.at ?? new Date();
  const set: Record<string, unknown> = { ...req.set, state: req.to, updated_at: at.toISOString() };
  if (req.to === 'SPOILED') set.spoil_reason = req.reason;
  const n = await trx('cards')
    .where({ id: req.cardId, state: req.from })
    .update({ ...set, version: trx.raw('version + 1') });
  if (n !== 1) {
    const row = await trx('cards').where({ id: req.cardId }).first('state');
    if (!row) throw new NotFoundError('CARD_NOT_FOUND', `card ${req.cardId} does not exist`, { details: { cardId: req.cardId } });
    throw new CardStateConflictError(req.cardId, req.from, String(row.state));
  }
  await appendAudit(
    trx,
    {
      actor: req.actor,
      action: 'card.transition',
      entityType: 'card',
      entityId: req.cardId,
      data: { from: req.from, to: req.to, ...(req.reason ? { reason: req.reason } : {}), ...req.data },
    },
    at,
  );
}

/**
 * Moves one card. Pass `trx` to compose with other writes (the caller commits); otherwise a transaction is
 * opened here.
 */
export async function transitionCard(db: Knex | Knex.Transaction, req: TransitionRequest): Promise<void> {
  check(req);
  if (db.isTransaction) return apply(db as Knex.Transaction, req);
  await (db as Knex).transaction((trx) => apply(trx, req));
}
