/**
 * The encoder's database side: encoder registration, the blank claim (PREPARED -> ENCODING, blank consumed from a
 * lot), and the two ways a run ends (ENCODING -> ENCODED, or SPOILED with a replacement card), each in one
 * transaction with its audit entries, run record, APDU trace and encoder counters. Repositories take the database
 * (or a transaction) from the caller; no personal data is written here.
 */
import os from 'node:os';
import type { Knex } from 'knex';
import { CardStateConflictError, type SpoilResult, spoilAndReplace, transitionCard } from '../cards/index.ts';
import { beginWrite, insertedId, isUniqueViolation } from '../db/index.ts';
import { KadiError, NotFoundError } from '../shared/index.ts';
import { EncodeCode, EncodeError, SpoilReason } from './errors.ts';
import { TRACE_FORMAT, decodeTrace, encodeTrace } from './trace.ts';
import type { ApduTraceRecord } from '../chip/index.ts';

/** The `encoders` row for a reader (created on first use). */
export async function registerEncoder(db: Knex, name: string, machine = os.hostname()): Promise<number> {
  const have = await db('encoders').where({ name }).first('id');
  if (have) return Number(have.id);
  try {
    return insertedId(await db('encoders').insert({ name, machine: machine.slice(0, 128), state: 'IDLE', last_seen_at: new Date().toISOString() }).returning('id'));
  } catch (e) {
    const again = await db('encoders').where({ name }).first('id'); // registered concurrently
    if (again) return Number(again.id);
    throw e;
  }
}

export interface ClaimArgs {
  cardId: number;
  encoderId: number;
  encoderName: string;
  chipSerial: string;
  blankSerial: string;
  /** Lot number to take the blank from; default: the oldest lot with stock. */
  lot?: string;
  securityLevel: number;
  actor: string;
  at?: Date;
}

export type ClaimResult =
  | { claimed: true; runId: number; lotId: number; lotNumber: string }
  | { claimed: false; state: string };

const ENSURE_USAGE_ROWS = `
  INSERT INTO blank_lot_usage (lot_id, claimed)
  SELECT l.id, (SELECT COUNT(*) FROM cards c WHERE c.lot_id = l.id) FROM blank_lots l
  WHERE NOT EXISTS (SELECT 1 FROM blank_lot_usage u WHERE u.lot_id = l.id)
  ON CONFLICT (lot_id) DO NOTHING`;

/**
 * One statement that picks the oldest lot with stock (or the given lot) and takes a blank from it, with the stock
 * condition re-checked on the locked row (PostgreSQL re-evaluates the WHERE of an UPDATE after waiting for a
 * concurrent claim; SQLite runs one writer at a time). Returns the lot id, or nothing when no lot has stock.
 */
const TAKE_BLANK = (byLot: boolean): string => `
  UPDATE blank_lot_usage SET claimed = claimed + 1
  WHERE lot_id = (
      SELECT u.lot_id FROM blank_lot_usage u JOIN blank_lots l ON l.id = u.lot_id
      WHERE u.claimed < l.quantity${byLot ? ' AND l.lot_number = ?' : ''}
      ORDER BY u.lot_id LIMIT 1)
    AND claimed < (SELECT l2.quantity FROM blank_lots l2 WHERE l2.id = blank_lot_usage.lot_id)
  RETURNING lot_id`;

/** Lot numbers never change: cached by id. */
const lotNumbers = new Map<number, string>();

function rowsOf(r: unknown): Array<Record<string, unknown>> {
  // knex.raw returns the rows (better-sqlite3) or a pg Result ({ rows })
  return Array.isArray(r) ? (r as Array<Record<string, unknown>>) : (((r as { rows?: unknown[] }).rows ?? []) as Array<Record<string, unknown>>);
}

/** Consumes one blank from a lot with stock. The first statement of the claim is this write. */
async function consumeBlank(trx: Knex.Transaction, lot: string | undefined): Promise<{ lotId: number; lotNumber: string }> {
  const sql = TAKE_BLANK(lot !== undefined);
  const bindings = lot !== undefined ? [lot] : [];
  let ensured = false;
  for (let attempt = 0; attempt < 8; attempt++) {
    const got = rowsOf(await trx.raw(sql, bindings));
    if (got.length === 1) {
      const lotId = Number(got[0]!.lot_id);
      let lotNumber = lotNumbers.get(lotId);
      if (lotNumber === undefined) {
        lotNumber = String((await trx('blank_lots').where({ id: lotId }).first('lot_number')).lot_number);
        lotNumbers.set(lotId, lotNumber);
      }
      return { lotId, lotNumber };
    }
    if (ensured) {
      // no lot has stock, or a concurrent claim took the last blank of the lot just picked: look again once more
      const any = await trx('blank_lots as l')
        .join('blank_lot_usage as u', 'u.lot_id', 'l.id')
        .whereRaw('u.claimed < l.quantity')
        .modify((q) => {
          if (lot !== undefined) q.where('l.lot_number', lot);
        })
        .first('l.id');
      if (!any) break;
    } else {
      // lots received since the last claim get their counter row (initialised from the cards naming them)
      await trx.raw(ENSURE_USAGE_ROWS);
      ensured = true;
    }
  }
  if (lot !== undefined && !(await trx('blank_lots').where({ lot_number: lot }).first('id'))) {
    throw new EncodeError(EncodeCode.LOT_NOT_FOUND, `blank lot ${lot} was never received`, {
      hint: 'Record the delivery with `kadi stock receive`, or choose another lot.',
      details: { lot },
    });
  }
  throw new EncodeError(EncodeCode.NO_BLANK_STOCK, lot !== undefined ? `blank lot ${lot} has no blanks left` : 'no blank lot has stock left', {
    hint: 'Record the delivery of the blanks in the hopper with `kadi stock receive` (or load a lot with stock).',
    ...(lot !== undefined ? { details: { lot } } : {}),
  });
}


/**
 * Claims the blank in the reader for `cardId`, in one transaction: consumes one blank from a lot, opens an
 * `encode_runs` row and moves the card PREPARED -> ENCODING with the chip serial, blank serial, lot and encoder
 * (compare-and-set + audit). A blank already recorded on a card is refused by the unique indexes on
 * cards.chip_serial / cards.blank_serial (ENCODE_BLANK_ALREADY_RECORDED); a card that is no longer PREPARED is
 * left alone ({claimed: false}). Either way the transaction rolls back: no blank consumed.
 */
export async function claimBlank(db: Knex, a: ClaimArgs): Promise<ClaimResult> {
  const at = a.at ?? new Date();
  try {
    return await db.transaction(async (trx) => {
      const { lotId, lotNumber } = await consumeBlank(trx, a.lot);
      const runId = insertedId(
        await trx('encode_runs')
          .insert({
            card_id: a.cardId,
            encoder_id: a.encoderId,
            chip_serial: a.chipSerial,
            blank_serial: a.blankSerial,
            lot_id: lotId,
            outcome: 'RUNNING',
            security_level: a.securityLevel,
            host: HOST,
            pid: process.pid,
            started_at: at.toISOString(),
          })
          .returning('id'),
      );
      await transitionCard(trx, {
        cardId: a.cardId,
        from: 'PREPARED',
        to: 'ENCODING',
        actor: a.actor,
        at,
        set: { chip_serial: a.chipSerial, blank_serial: a.blankSerial, lot_id: lotId, encoder_id: a.encoderId },
        data: { run: runId, encoder: a.encoderName, lot: lotNumber, chipSerial: a.chipSerial, blankSerial: a.blankSerial },
      });
      return { claimed: true as const, runId, lotId, lotNumber };
    });
  } catch (e) {
    if (e instanceof CardStateConflictError) return { claimed: false, state: String(e.details?.actual ?? 'unknown') };
    if (!(e instanceof KadiError) && isUniqueViolation(e)) {
      const known = await db('cards').where({ chip_serial: a.chipSerial }).orWhere({ blank_serial: a.blankSerial }).first('id', 'state');
      throw alreadyRecorded(a, known ? Number(known.id) : undefined, known ? String(known.state) : undefined);
    }
    throw e;
  }
}

const HOST = os.hostname().slice(0, 128);

function alreadyRecorded(a: ClaimArgs, cardId?: number, state?: string): EncodeError {
  return new EncodeError(EncodeCode.BLANK_ALREADY_RECORDED, `the blank in reader "${a.encoderName}" (chip ${a.chipSerial}) is already recorded${cardId ? ` on card ${cardId} (${state})` : ''}`, {
    retryable: true,
    hint: 'Take the card out of the reader (reject bin): a recorded blank is never personalised twice.',
    details: { chipSerial: a.chipSerial, blankSerial: a.blankSerial, ...(cardId ? { cardId, state } : {}) },
  });
}

/** Counts and timings of one run. */
export interface RunStats {
  apdus: number;
  exchanges: number;
  bytesSent: number;
  bytesReceived: number;
  minApdus: number;
  minBytes: number;
  cardMs: number;
  transportMs: number;
  softwareMs: number;
}

function statsColumns(s: Partial<RunStats>): Record<string, unknown> {
  return {
    apdus: s.apdus ?? null,
    exchanges: s.exchanges ?? null,
    bytes_sent: s.bytesSent ?? null,
    bytes_received: s.bytesReceived ?? null,
    min_apdus: s.minApdus ?? null,
    min_bytes: s.minBytes ?? null,
    card_ms: s.cardMs ?? null,
    transport_ms: s.transportMs ?? null,
    software_ms: s.softwareMs ?? null,
  };
}

async function storeTrace(trx: Knex.Transaction, runId: number, cardId: number, trace: readonly ApduTraceRecord[]): Promise<void> {
  if (trace.length === 0) return;
  await trx('apdu_traces').insert({ run_id: runId, card_id: cardId, format: TRACE_FORMAT, records: trace.length, trace: encodeTrace(trace) });
}

export interface FinishArgs {
  runId: number;
  cardId: number;
  encoderId: number;
  stats: Partial<RunStats>;
  trace: readonly ApduTraceRecord[];
  actor: string;
  at?: Date;
}

/** ENCODING -> ENCODED with the run's results, trace and the encoder's counter. Throws CARD_STATE_CONFLICT when
 *  the card was changed meanwhile (then nothing is written). */
export async function recordEncoded(db: Knex, a: FinishArgs): Promise<void> {
  const at = a.at ?? new Date();
  await db.transaction(async (trx) => {
    // the first statement writes (the card's compare-and-set): no early write lock needed on SQLite
    await transitionCard(trx, {
      cardId: a.cardId,
      from: 'ENCODING',
      to: 'ENCODED',
      actor: a.actor,
      at,
      data: { run: a.runId, apdus: a.stats.apdus ?? null },
    });
    await trx('encode_runs').where({ id: a.runId }).update({ outcome: 'ENCODED', finished_at: at.toISOString(), ...statsColumns(a.stats) });
    await storeTrace(trx, a.runId, a.cardId, a.trace);
    await trx('encoders').where({ id: a.encoderId }).update({ cards_encoded: trx.raw('cards_encoded + 1'), last_seen_at: at.toISOString() });
  });
}

/** The run was overtaken (the card is no longer ENCODING): record it as LOST, nothing else. */
export async function recordLost(db: Knex, a: FinishArgs & { error: Record<string, unknown> }): Promise<void> {
  const at = a.at ?? new Date();
  await db.transaction(async (trx) => {
    await beginWrite(trx);
    await trx('encode_runs').where({ id: a.runId }).update({ outcome: 'LOST', reason_code: EncodeCode.LOST_RACE, error: JSON.stringify(a.error), finished_at: at.toISOString(), ...statsColumns(a.stats) });
    await storeTrace(trx, a.runId, a.cardId, a.trace);
  });
}

/** ENCODING -> SPOILED with `reason`, the order re-queued (spoilAndReplace), run results, trace, counter. */
export async function recordSpoiled(
  db: Knex,
  a: FinishArgs & { reason: SpoilReason; error: Record<string, unknown>; maxAttempts?: number },
): Promise<SpoilResult> {
  const at = a.at ?? new Date();
  return db.transaction(async (trx) => {
    await beginWrite(trx);
    const res = await spoilAndReplace(trx, a.cardId, a.reason, a.actor, {
      from: 'ENCODING',
      at,
      data: { run: a.runId, ...(typeof a.error.code === 'string' ? { error: a.error.code } : {}) },
      ...(a.maxAttempts !== undefined ? { maxAttempts: a.maxAttempts } : {}),
    });
    await trx('encode_runs')
      .where({ id: a.runId })
      .update({ outcome: 'SPOILED', reason_code: a.reason, error: JSON.stringify(a.error), finished_at: at.toISOString(), ...statsColumns(a.stats) });
    await storeTrace(trx, a.runId, a.cardId, a.trace);
    await trx('encoders').where({ id: a.encoderId }).update({ cards_spoiled: trx.raw('cards_spoiled + 1'), last_seen_at: at.toISOString() });
    return res;
  });
}

/**
 * A card found in ENCODING with no run of this process behind it: the worker that claimed it stopped (crash,
 * kill, power loss) somewhere between the claim and the result. What is on the blank is unknown — perhaps
 * nothing, perhaps a complete and locked chip — so it is never trusted: the blank is SPOILED with
 * ENCODE_INTERRUPTED, the open run marked INTERRUPTED, the order re-queued. Returns undefined when the card is not
 * ENCODING (nothing to do).
 */
export async function recoverInterrupted(db: Knex, cardId: number, actor: string, opts: { maxAttempts?: number; at?: Date } = {}): Promise<SpoilResult | undefined> {
  const at = opts.at ?? new Date();
  return db.transaction(async (trx) => {
    await beginWrite(trx);
    const card = await trx('cards').where({ id: cardId }).first('state', 'encoder_id');
    if (!card || card.state !== 'ENCODING') return undefined;
    const runs = (await trx('encode_runs').where({ card_id: cardId, outcome: 'RUNNING' }).select('id')) as Array<{ id: number }>;
    await trx('encode_runs')
      .where({ card_id: cardId, outcome: 'RUNNING' })
      .update({ outcome: 'INTERRUPTED', reason_code: SpoilReason.INTERRUPTED, finished_at: at.toISOString() });
    const res = await spoilAndReplace(trx, cardId, SpoilReason.INTERRUPTED, actor, {
      from: 'ENCODING',
      at,
      data: { runs: runs.map((r) => Number(r.id)) },
      ...(opts.maxAttempts !== undefined ? { maxAttempts: opts.maxAttempts } : {}),
    });
    if (card.encoder_id !== null && card.encoder_id !== undefined) {
      await trx('encoders').where({ id: card.encoder_id }).update({ cards_spoiled: trx.raw('cards_spoiled + 1') });
    }
    return res;
  });
}

/** A stored run with its trace. */
export interface StoredRun {
  runId: number;
  outcome: string;
  reasonCode: string | null;
  startedAt: string;
  trace: ApduTraceRecord[];
}

/** The encode runs of a card, oldest first, with their APDU traces. */
export async function loadRuns(db: Knex | Knex.Transaction, cardId: number): Promise<StoredRun[]> {
  const rows = (await db('encode_runs as r')
    .leftJoin('apdu_traces as t', 't.run_id', 'r.id')
    .where('r.card_id', cardId)
    .orderBy('r.id')
    .select('r.id', 'r.outcome', 'r.reason_code', 'r.started_at', 't.trace')) as Array<Record<string, unknown>>;
  return rows.map((r) => ({
    runId: Number(r.id),
    outcome: String(r.outcome),
    reasonCode: (r.reason_code as string | null) ?? null,
    startedAt: String(r.started_at),
    trace: typeof r.trace === 'string' ? decodeTrace(r.trace) : [],
  }));
}
