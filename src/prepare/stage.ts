/**
 * The prepare stage: ORDERED -> PREPARED. Allocates the card's document number, builds its chip image from the
 * order's data snapshot and stores it, in one transaction with the state change. Idempotent: a card already
 * PREPARED (or further) is left alone and reported as such.
 */
import type { Knex } from 'knex';
import { transitionCard } from '../cards/index.ts';
import { beginWrite } from '../db/index.ts';
import { NotFoundError, ValidationError } from '../shared/index.ts';
import { buildChipImage, type ChipImage, type PersonData } from './image.ts';

export interface PrepareOptions {
  actor: string;
  issuingState: string;
  issuingAuthority: string;
  /** Document validity in years (expiry = issue date + N years - 1 day). */
  validityYears: number;
  personalisationSystem: string;
  at?: Date;
}

/**
 * Document numbers: `K` + a series letter + 7 digits (KA0000001 ... KA9999999, then KB0000001 ...): 9 characters,
 * so the TD1 document number field holds it without the overflow rule; 24 series (I and O skipped as
 * confusable) give 239,999,976 numbers.
 */
const SERIES = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
const PER_SERIES = 9_999_999;
export function formatDocumentNumber(n: number): string {
  if (!Number.isInteger(n) || n < 1) throw new RangeError('document sequence numbers start at 1');
  const series = Math.floor((n - 1) / PER_SERIES);
  if (series >= SERIES.length) throw new RangeError('document number space exhausted');
  return `K${SERIES[series]}${String(((n - 1) % PER_SERIES) + 1).padStart(7, '0')}`;
}

/** Takes the next document number: one `UPDATE ... RETURNING value` (the counter row's lock until commit). */
async function nextDocumentNumber(trx: Knex.Transaction): Promise<string> {
  const [row] = (await trx('counters')
    .where({ name: 'document_number' })
    .update({ value: trx.raw('?? + 1', ['value']) })
    .returning('value')) as Array<{ value: unknown }>;
  if (!row) throw new NotFoundError('COUNTER_NOT_FOUND', 'the document_number counter is missing', { hint: 'Run `kadi db migrate`.' });
  return formatDocumentNumber(Number(row.value));
}

function addYearsMinusDay(iso: string, years: number): string {
  const d = new Date(`${iso}T00:00:00Z`);
  d.setUTCFullYear(d.getUTCFullYear() + years);
  d.setUTCDate(d.getUTCDate() - 1);
  return d.toISOString().slice(0, 10);
}

export interface StoredChipImage extends ChipImage {
  documentNumber: string;
  dateOfIssue: string;
  dateOfExpiry: string;
}

export function serialiseImage(img: ChipImage): string {
  const dg: Record<string, string> = {};
  for (const [n, b] of img.dataGroups) dg[String(n)] = Buffer.from(b).toString('base64');
  return JSON.stringify({ mrz: img.mrz, com: Buffer.from(img.com).toString('base64'), dg });
}

/** Loads a card's prepared chip image. */
export async function loadChipImage(db: Knex | Knex.Transaction, cardId: number): Promise<StoredChipImage> {
  const row = await db('chip_images').where({ card_id: cardId }).first();
  if (!row) throw new NotFoundError('CHIP_IMAGE_NOT_FOUND', `card ${cardId} has no prepared chip image`, { hint: 'Run the prepare stage first.' });
  const j = JSON.parse(row.files) as { mrz: string[]; com: string; dg: Record<string, string> };
  return {
    mrz: j.mrz,
    com: new Uint8Array(Buffer.from(j.com, 'base64')),
    dataGroups: new Map(Object.entries(j.dg).map(([k, v]) => [Number(k), new Uint8Array(Buffer.from(v, 'base64'))])),
    documentNumber: row.document_number,
    dateOfIssue: row.date_of_issue,
    dateOfExpiry: row.date_of_expiry,
  };
}

export type PrepareOutcome = 'PREPARED' | 'ALREADY_PREPARED';

export async function prepareCard(db: Knex, cardId: number, o: PrepareOptions): Promise<PrepareOutcome> {
  const at = o.at ?? new Date();
  return db.transaction(async (trx) => {
    await beginWrite(trx);
    // the card and its order's data snapshot in one read (order_records is keyed by order_id: at most one row)
    const card = await trx('cards as c')
      .leftJoin('order_records as r', 'r.order_id', 'c.order_id')
      .where('c.id', cardId)
      .first('c.id', 'c.state', 'c.order_id', 'r.order_id as rec_order_id', 'r.data', 'r.photo');
    if (!card) throw new NotFoundError('CARD_NOT_FOUND', `card ${cardId} does not exist`);
    if (card.state !== 'ORDERED') return 'ALREADY_PREPARED';
    const rec = card.rec_order_id === null || card.rec_order_id === undefined ? undefined : (card as { data: string; photo: Uint8Array });
    if (!rec) throw new NotFoundError('ORDER_RECORD_NOT_FOUND', `order ${card.order_id} has no data snapshot`);
    const person = JSON.parse(rec.data) as PersonData;
    const documentNumber = await nextDocumentNumber(trx);
    const dateOfIssue = at.toISOString().slice(0, 10);
    const dateOfExpiry = addYearsMinusDay(dateOfIssue, o.validityYears);
    let image: ChipImage;
    try {
      image = buildChipImage(person, new Uint8Array(rec.photo), {
        documentNumber,
        issuingState: o.issuingState,
        dateOfIssue,
        dateOfExpiry,
        issuingAuthority: o.issuingAuthority,
        personalisedAt: at.toISOString(),
        personalisationSystem: o.personalisationSystem,
      });
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'UNKNOWN';
      throw new ValidationError('PREPARE_DATA_INVALID', `card ${cardId}: the order's data cannot be encoded (${code})`, {
        hint: 'The order needs review; its record passed intake but not LDS encoding.',
        details: { cardId, cause: code },
        cause: e,
      });
    }
    await trx('chip_images').insert({
      card_id: cardId,
      document_number: documentNumber,
      date_of_issue: dateOfIssue,
      date_of_expiry: dateOfExpiry,
      files: serialiseImage(image),
      created_at: at.toISOString(),
    });
    await transitionCard(trx, {
      cardId,
      from: 'ORDERED',
      to: 'PREPARED',
      actor: o.actor,
      set: { document_number: documentNumber },
      data: { documentNumber },
      at,
    });
    return 'PREPARED';
  });
}
