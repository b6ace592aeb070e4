/**
 * Printing's database side (adapter): reading a batch's cards in pages, signing and storing their seals, print
 * job records, and printer feedback (printed / misprinted) through the card state machine.
 *
 * Production order = card id order within the batch (the order cards were created for the batch, which is the
 * order the encoders take blanks from the hopper). Only ENCODED cards are printed; others are counted as skipped.
 * Reads go in pages of `pageSize` cards by keyset (`id > last`), so memory does not depend on the batch size.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { appendAudit, type AuditInput } from '../audit/index.ts';
import { type CardState, CardStateConflictError, spoilAndReplace, transitionCard } from '../cards/index.ts';
import { beginWrite, insertedId } from '../db/index.ts';
import { decodeDg1 } from '../lds/index.ts';
import type { Signer } from '../pki/index.ts';
import { KadiError, NotFoundError, StateError, ValidationError } from '../shared/index.ts';
import { type DocumentDates, type OrderRecordData, documentDates, faceData, sealDataFor } from './face.ts';
import type { FaceData } from './layout.ts';
import type { SealSignerRecord } from './seal-keys.ts';
import type { CardTemplate } from './template.ts';
import { KADI_ID_PROFILE, idSealFeatures, sealDigest, signVds } from './vds.ts';

type Db = Knex | Knex.Transaction;

export interface BatchInfo {
  id: number;
  state: string;
  size: number;
  createdAt: string;
  /** The documents' issue and expiry dates for this batch (see face.ts). */
  dates: DocumentDates;
}

export async function getBatch(db: Db, batchId: number, validityYears?: number): Promise<BatchInfo> {
  const b = await db('batches').where({ id: batchId }).first();
  if (!b) throw new NotFoundError('PRINT_BATCH_NOT_FOUND', `batch ${batchId} does not exist`, { hint: '`kadi status` lists what there is.', details: { batchId } });
  return { id: Number(b.id), state: String(b.state), size: Number(b.size), createdAt: String(b.created_at), dates: documentDates(String(b.created_at), validityYears) };
}

/** What one card of a batch needs for printing, as read from the database. */
export interface BatchCardRow {
  cardId: number;
  orderId: number;
  state: CardState;
  documentNumber: string | null;
  centreCode: string;
  centreName: string | null;
  record: OrderRecordData;
  photo: Uint8Array;
  /** The prepared chip image's MRZ (from its EF.DG1) and document dates, when the card has one. */
  chip?: { mrz: string; dates: DocumentDates };
  seal?: { bytes: Uint8Array; sha256: string; dates: DocumentDates };
}

function toBytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw new TypeError('expected a binary column');
}

/** Counts of the batch's cards per state. */
export async function batchCardStates(db: Db, batchId: number): Promise<Record<string, number>> {
  const rows = (await db('cards').where({ batch_id: batchId }).select('state').count({ n: '*' }).groupBy('state')) as Array<Record<string, unknown>>;
  return Object.fromEntries(rows.map((r) => [String(r.state), Number(r.n)]));
}

function cardQuery(db: Db, withSeals: boolean): Knex.QueryBuilder {
  const q = db('cards as c')
    .join('order_records as r', 'r.order_id', 'c.order_id')
    .leftJoin('collection_centres as cc', 'cc.code', 'c.centre_code')
    .leftJoin('chip_images as ci', 'ci.card_id', 'c.id')
    .select('c.id', 'c.order_id', 'c.state', 'c.document_number', 'c.centre_code', 'cc.name as centre_name', 'r.data', 'r.photo')
    .select('ci.date_of_issue as chip_issue', 'ci.date_of_expiry as chip_expiry', 'ci.files as chip_files');
  if (withSeals) q.leftJoin('card_seals as s', 's.card_id', 'c.id').select('s.seal', 's.seal_sha256', 's.date_of_issue', 's.date_of_expiry');
  return q;
}

/** Streams a batch's cards in production order, `pageSize` at a time. */
export async function* batchCards(db: Db, batchId: number, opts: { states?: readonly CardState[]; pageSize?: number; withSeals?: boolean } = {}): AsyncGenerator<BatchCardRow[]> {
  const states = opts.states ?? ['ENCODED'];
  const pageSize = opts.pageSize ?? 100;
  let after = 0;
  for (;;) {
    const rows = (await cardQuery(db, opts.withSeals !== false)
      .where('c.batch_id', batchId)
      .whereIn('c.state', states as CardState[])
      .andWhere('c.id', '>', after)
      .orderBy('c.id')
      .limit(pageSize)) as Array<Record<string, unknown>>;
    if (rows.length === 0) return;
    after = Number(rows[rows.length - 1]!.id);
    yield rows.map(rowToCard);
    if (rows.length < pageSize) return;
  }
}

/** One card, whatever its state. */
export async function cardRow(db: Db, cardId: number): Promise<BatchCardRow> {
  const r = (await cardQuery(db, true).where('c.id', cardId).first()) as Record<string, unknown> | undefined;
  if (!r) throw new NotFoundError('CARD_NOT_FOUND', `card ${cardId} does not exist (or has no order record)`, { details: { cardId } });
  return rowToCard(r);
}

function rowToCard(r: Record<string, unknown>): BatchCardRow {
  const out: BatchCardRow = {
    cardId: Number(r.id),
    orderId: Number(r.order_id),
    state: r.state as CardState,
    documentNumber: r.document_number === null || r.document_number === undefined ? null : String(r.document_number),
    centreCode: String(r.centre_code),
    centreName: r.centre_name === null || r.centre_name === undefined ? null : String(r.centre_name),
    record: JSON.parse(String(r.data)) as OrderRecordData,
    photo: toBytes(r.photo),
  };
  if (r.chip_files) {
    const files = JSON.parse(String(r.chip_files)) as { dg?: Record<string, string> };
    const dg1 = files.dg?.['1'];
    if (!dg1) throw new ValidationError('PRINT_CHIP_IMAGE_INVALID', `card ${out.cardId}: the chip image has no EF.DG1`, { details: { cardId: out.cardId } });
    out.chip = { mrz: decodeDg1(Buffer.from(dg1, 'base64')).mrz, dates: { dateOfIssue: String(r.chip_issue), dateOfExpiry: String(r.chip_expiry) } };
  }
  if (r.seal) out.seal = { bytes: toBytes(r.seal), sha256: String(r.seal_sha256), dates: { dateOfIssue: String(r.date_of_issue), dateOfExpiry: String(r.date_of_expiry) } };
  return out;
}

/**
 * The printed values of a card row: MRZ and document dates from its chip image (else generated, with the batch's
 * dates). A stored seal must have been made for the same dates.
 */
export function faceOf(t: CardTemplate, row: BatchCardRow, batchDates: DocumentDates): FaceData {
  if (!row.documentNumber) {
    throw new ValidationError('PRINT_NO_DOCUMENT_NUMBER', `card ${row.cardId} has no document number`, {
      hint: 'Only encoded cards (with a document number) are printed.',
      details: { cardId: row.cardId },
    });
  }
  return faceData({
    cardId: row.cardId,
    documentNumber: row.documentNumber,
    record: row.record,
    photo: row.photo,
    dates: row.chip?.dates ?? row.seal?.dates ?? batchDates,
    issuingState: t.issuingState,
    documentCode: t.documentCode,
    centreName: row.centreName ?? row.centreCode,
    ...(row.chip ? { dg1Mrz: row.chip.mrz } : {}),
    ...(row.seal ? { seal: row.seal.bytes } : {}),
  });
}

// ---------------------------------------------------------------------------------------------------------
// Seals

export interface SealSigningResult {
  signed: number;
  alreadySigned: number;
  /** Seconds spent in the HSM (signatures only). */
  signSeconds: number;
}

export interface SealSession {
  record: SealSignerRecord;
  signer: Signer;
}

/**
 * Signs and stores the seals of `rows` (those without one), with one `seal.sign` audit entry each. Returns the
 * seals this call stored, by card id (a card whose seal another signer stored first is not in it).
 */
async function sealRows(
  db: Knex,
  t: CardTemplate,
  rows: BatchCardRow[],
  batchDates: DocumentDates,
  session: SealSession,
  actor: string,
  now: Date,
  result: SealSigningResult,
): Promise<Map<number, NonNullable<BatchCardRow['seal']>>> {
  const stored = new Map<number, NonNullable<BatchCardRow['seal']>>();
  const todo = rows.filter((r) => !r.seal);
  result.alreadySigned += rows.length - todo.length;
  if (todo.length === 0) return stored;
  const made = new Map<number, NonNullable<BatchCardRow['seal']>>();
  const today = now.toISOString().slice(0, 10);
  const inserts: Record<string, unknown>[] = [];
  const audits: AuditInput[] = [];
  for (const r of todo) {
    const face = faceOf(t, r, batchDates);
    const t0 = performance.now();
    const seal = await signVds(
      {
        version: 4,
        issuingCountry: t.issuingState,
        signerIdentifier: session.record.signerIdentifier,
        certificateReference: session.record.certificateReference,
        documentIssueDate: face.dateOfIssue,
        signatureCreationDate: today,
        featureDefinitionReference: KADI_ID_PROFILE.featureDefinitionReference,
        documentTypeCategory: KADI_ID_PROFILE.documentTypeCategory,
      },
      idSealFeatures(sealDataFor(face)),
      session.signer,
    );
    result.signSeconds += (performance.now() - t0) / 1000;
    const sha = sealDigest(seal);
    made.set(r.cardId, { bytes: seal, sha256: sha, dates: { dateOfIssue: face.dateOfIssue, dateOfExpiry: face.dateOfExpiry } });
    inserts.push({
      card_id: r.cardId,
      seal: Buffer.from(seal),
      seal_sha256: sha,
      signer_key_id: session.record.id,
      cert_serial: session.record.cert.serialHex,
      date_of_issue: face.dateOfIssue,
      date_of_expiry: face.dateOfExpiry,
      signed_at: now.toISOString(),
      signed_by: actor.slice(0, 64),
    });
    audits.push({ actor, action: 'seal.sign', entityType: 'card', entityId: r.cardId, data: { key: session.record.label, serial: session.record.cert.serialHex, sealSha256: sha } });
  }
  await db.transaction(async (trx) => {
    for (let i = 0; i < inserts.length; i += 50) {
      const ins = (await trx('card_seals').insert(inserts.slice(i, i + 50)).onConflict('card_id').ignore().returning('card_id')) as Array<{ card_id: unknown }>;
      for (const x of ins) {
        const id = Number(typeof x === 'object' && x !== null ? x.card_id : x);
        const m = made.get(id);
        if (m) stored.set(id, m);
      }
    }
    await appendAudit(trx, audits, now);
  });
  result.signed += todo.length;
  return stored;
}

function checkUsable(session: SealSession, now: Date): void {
  if (now < session.record.pkupNotBefore || now > session.record.pkupNotAfter || session.record.status !== 'ACTIVE') {
    throw new KadiError('SEAL_KEY_USAGE_PERIOD_EXPIRED', `the seal signer ${session.record.label} may not sign at ${now.toISOString()}`, { hint: 'Create a new seal signer: `kadi seal keygen`.' });
  }
}

/**
 * Signs a seal for every ENCODED card of the batch that has none yet, one transaction per page; each seal is
 * one key use with one audit entry (`seal.sign`, the key label and certificate serial; no personal data).
 */
export async function signBatchSeals(
  db: Knex,
  t: CardTemplate,
  batchId: number,
  session: SealSession,
  opts: { actor: string; now?: Date; pageSize?: number; validityYears?: number; onProgress?: (done: number) => void },
): Promise<SealSigningResult> {
  const batch = await getBatch(db, batchId, opts.validityYears);
  const result: SealSigningResult = { signed: 0, alreadySigned: 0, signSeconds: 0 };
  const now = opts.now ?? new Date();
  checkUsable(session, now);
  for await (const page of batchCards(db, batchId, { pageSize: opts.pageSize ?? 100 })) {
    await sealRows(db, t, page, batch.dates, session, opts.actor, now, result);
    opts.onProgress?.(result.signed + result.alreadySigned);
  }
  return result;
}

/** Signs the seal of one card (any state with a document number) if it has none. */
export async function signCardSeal(db: Knex, t: CardTemplate, cardId: number, session: SealSession, opts: { actor: string; now?: Date; validityYears?: number }): Promise<SealSigningResult> {
  return (await sealCard(db, t, cardId, session, opts)).result;
}

/**
 * signCardSeal, also giving the card's row as stored afterwards (with its seal): the row it read when the card
 * already had a seal or when this call stored the seal it signed; read again when another signer stored one first.
 */
export async function sealCard(
  db: Knex,
  t: CardTemplate,
  cardId: number,
  session: SealSession,
  opts: { actor: string; now?: Date; validityYears?: number },
): Promise<{ result: SealSigningResult; row: BatchCardRow }> {
  const now = opts.now ?? new Date();
  checkUsable(session, now);
  const row = await cardRow(db, cardId);
  const batchDates = documentDates(now, opts.validityYears);
  const result: SealSigningResult = { signed: 0, alreadySigned: 0, signSeconds: 0 };
  const stored = await sealRows(db, t, [row], batchDates, session, opts.actor, now, result);
  if (row.seal) return { result, row };
  const seal = stored.get(row.cardId);
  return { result, row: seal ? { ...row, seal } : await cardRow(db, cardId) };
}

/** Cards of the batch (ENCODED) still without a seal. */
export async function unsealedCount(db: Db, batchId: number): Promise<number> {
  const r = await db('cards as c')
    .leftJoin('card_seals as s', 's.card_id', 'c.id')
    .where('c.batch_id', batchId)
    .andWhere('c.state', 'ENCODED')
    .whereNull('s.card_id')
    .count({ n: '*' });
  return Number(r[0]?.n ?? 0);
}

// ---------------------------------------------------------------------------------------------------------
// Print jobs

export interface PrintJob {
  id: number;
  batchId: number;
  state: 'RUNNING' | 'COMPLETED' | 'FAILED';
  templateId: string;
  templateSha256: string;
  outputPath: string;
  outputSha256: string | null;
  outputBytes: number | null;
  options: Record<string, unknown>;
  cards: number;
  pages: number;
  skipped: number;
  truncatedFields: number;
  shrunkFields: number;
  wrappedFields: number;
  startedAt: string;
  completedAt: string | null;
  createdBy: string;
  errorCode: string | null;
  errorMessage: string | null;
}

function rowToJob(r: Record<string, unknown>): PrintJob {
  return {
    id: Number(r.id),
    batchId: Number(r.batch_id),
    state: r.state as PrintJob['state'],
    templateId: String(r.template_id),
    templateSha256: String(r.template_sha256),
    outputPath: String(r.output_path),
    outputSha256: r.output_sha256 ? String(r.output_sha256) : null,
    outputBytes: r.output_bytes === null || r.output_bytes === undefined ? null : Number(r.output_bytes),
    options: JSON.parse(String(r.options)) as Record<string, unknown>,
    cards: Number(r.cards),
    pages: Number(r.pages),
    skipped: Number(r.skipped),
    truncatedFields: Number(r.truncated_fields),
    shrunkFields: Number(r.shrunk_fields),
    wrappedFields: Number(r.wrapped_fields),
    startedAt: String(r.started_at),
    completedAt: r.completed_at ? String(r.completed_at) : null,
    createdBy: String(r.created_by),
    errorCode: r.error_code ? String(r.error_code) : null,
    errorMessage: r.error_message ? String(r.error_message) : null,
  };
}

export function templateDigest(t: CardTemplate): string {
  return createHash('sha256').update(JSON.stringify(t)).digest('hex');
}

/**
 * Opens a print job (RUNNING). `cardId` marks a single-card job (the pipeline's print stage): only one such job
 * may be RUNNING per card (unique index; a second one throws the database's unique violation).
 */
export async function createPrintJob(db: Knex, j: { batchId: number; template: CardTemplate; outputPath: string; options: Record<string, unknown>; actor: string; skipped: number; cardId?: number; now?: Date }): Promise<number> {
  const now = (j.now ?? new Date()).toISOString();
  return db.transaction(async (trx) => {
    const id = insertedId(
      await trx('print_jobs')
        .insert({
          batch_id: j.batchId,
          state: 'RUNNING',
          template_id: j.template.id,
          template_sha256: templateDigest(j.template),
          output_path: j.outputPath.slice(0, 1000),
          options: JSON.stringify(j.options),
          skipped: j.skipped,
          card_id: j.cardId ?? null,
          started_at: now,
          created_by: j.actor.slice(0, 64),
        })
        .returning('id'),
    );
    await appendAudit(trx, { actor: j.actor, action: 'print.start', entityType: 'print_job', entityId: id, data: { batchId: j.batchId, template: j.template.id, options: j.options } });
    return id;
  });
}

/** Records the cards a job rendered (in order). */
export async function addJobCards(db: Db, jobId: number, firstPosition: number, cards: Array<{ cardId: number; sealSha256?: string }>): Promise<void> {
  const rows = cards.map((c, i) => ({ job_id: jobId, position: firstPosition + i, card_id: c.cardId, seal_sha256: c.sealSha256 ?? null }));
  for (let i = 0; i < rows.length; i += 100) await db('print_job_cards').insert(rows.slice(i, i + 100));
}

export async function finishPrintJob(
  db: Knex,
  jobId: number,
  r: { actor: string; ok: true; cards: number; pages: number; truncatedFields: number; shrunkFields: number; wrappedFields: number; outputSha256: string; outputBytes: number } | { actor: string; ok: false; errorCode: string; errorMessage: string; cards: number },
): Promise<void> {
  await db.transaction((trx) => completeJob(trx, jobId, r));
}

async function completeJob(trx: Knex.Transaction, jobId: number, r: Parameters<typeof finishPrintJob>[2]): Promise<void> {
  const now = new Date().toISOString();
  {
    if (r.ok) {
      await trx('print_jobs').where({ id: jobId }).update({
        state: 'COMPLETED', completed_at: now, cards: r.cards, pages: r.pages, truncated_fields: r.truncatedFields, shrunk_fields: r.shrunkFields,
        wrapped_fields: r.wrappedFields, output_sha256: r.outputSha256, output_bytes: r.outputBytes,
      });
      await appendAudit(trx, { actor: r.actor, action: 'print.complete', entityType: 'print_job', entityId: jobId, data: { cards: r.cards, pages: r.pages, sha256: r.outputSha256, truncatedFields: r.truncatedFields } });
    } else {
      await trx('print_jobs').where({ id: jobId }).update({ state: 'FAILED', completed_at: now, cards: r.cards, error_code: r.errorCode.slice(0, 48), error_message: r.errorMessage.slice(0, 255) });
      await appendAudit(trx, { actor: r.actor, action: 'print.fail', entityType: 'print_job', entityId: jobId, data: { error: r.errorCode, cards: r.cards } });
    }
  }
}

/**
 * A one-card print job's end (the pipeline's print stage), in one transaction: the job's card, the job COMPLETED
 * (`print.complete`) and the card ENCODED -> PRINTED (`card.transition` with the job) — what addJobCards,
 * finishPrintJob and markCard(printed) do one after the other. A card no longer ENCODED is not marked: the job is
 * then completed on its own (as before the mark) and `{ marked: false }` gives the card's state.
 */
export async function finishCardPrint(
  db: Knex,
  jobId: number,
  card: { cardId: number; sealSha256?: string },
  r: { actor: string; cards: number; pages: number; truncatedFields: number; shrunkFields: number; wrappedFields: number; outputSha256: string; outputBytes: number },
): Promise<{ marked: true } | { marked: false; state: string }> {
  try {
    await db.transaction(async (trx) => {
      await addJobCards(trx, jobId, 1, [card]);
      await completeJob(trx, jobId, { ...r, ok: true });
      await transitionCard(trx, { cardId: card.cardId, from: 'ENCODED', to: 'PRINTED', actor: r.actor, data: { printJob: jobId } });
    });
    return { marked: true };
  } catch (e) {
    if (!(e instanceof CardStateConflictError)) throw e;
    await addJobCards(db, jobId, 1, [card]);
    await finishPrintJob(db, jobId, { ...r, ok: true });
    return { marked: false, state: String(e.details?.actual) };
  }
}

export async function getPrintJob(db: Db, id: number): Promise<PrintJob> {
  const r = await db('print_jobs').where({ id }).first();
  if (!r) throw new NotFoundError('PRINT_JOB_NOT_FOUND', `print job ${id} does not exist`);
  return rowToJob(r);
}

export async function listPrintJobs(db: Db, opts: { batchId?: number; limit?: number } = {}): Promise<PrintJob[]> {
  const q = db('print_jobs').orderBy('id', 'desc').limit(opts.limit ?? 50);
  if (opts.batchId !== undefined) q.where({ batch_id: opts.batchId });
  return (await q).map(rowToJob);
}

export async function jobCards(db: Db, jobId: number): Promise<Array<{ position: number; cardId: number }>> {
  return (await db('print_job_cards').where({ job_id: jobId }).orderBy('position').select('position', 'card_id')).map((r) => ({ position: Number(r.position), cardId: Number(r.card_id) }));
}

// ---------------------------------------------------------------------------------------------------------
// Printer feedback

/** Suggested misprint reason codes (any A-Z 0-9 _ code is accepted). */
export const MISPRINT_REASONS = ['COLOUR_SHIFT', 'RIBBON_BREAK', 'SMUDGE', 'MISFEED', 'DOUBLE_FEED', 'WRONG_SIDE', 'DAMAGED', 'OTHER'] as const;

/** Finds a card by document number, or by card id when the argument is a number that is no document number. */
export async function findCard(db: Db, ref: string): Promise<{ id: number; state: CardState; orderId: number; documentNumber: string | null; batchId: number | null }> {
  let r = await db('cards').where({ document_number: ref }).first('id', 'state', 'order_id', 'document_number', 'batch_id');
  if (!r && /^\d+$/.test(ref)) r = await db('cards').where({ id: Number(ref) }).first('id', 'state', 'order_id', 'document_number', 'batch_id');
  if (!r) throw new NotFoundError('CARD_NOT_FOUND', `no card with document number or id ${ref}`, { details: { ref } });
  return { id: Number(r.id), state: r.state as CardState, orderId: Number(r.order_id), documentNumber: r.document_number ? String(r.document_number) : null, batchId: r.batch_id === null ? null : Number(r.batch_id) };
}

export interface MarkResult {
  cardId: number;
  from: CardState;
  to: CardState;
  reason?: string;
  /** The replacement card created for the order after a misprint (absent when the order went to REVIEW). */
  replacementCardId?: number;
}

/**
 * Printer feedback for one card. `printed`: ENCODED -> PRINTED. `misprinted`: ENCODED or PRINTED -> SPOILED with
 * reason MISPRINT_<CODE> (the blank is to be destroyed), and the order gets a new ORDERED card in the same
 * transaction through spoilAndReplace (DESIGN.md §1: a spoiled blank re-queues its order; after repeated failures
 * the order goes to REVIEW instead).
 */
export async function markCard(db: Knex, ref: string, mark: { printed: true } | { misprinted: string }, opts: { actor: string; jobId?: number }): Promise<MarkResult> {
  return db.transaction(async (trx) => {
    await beginWrite(trx);
    const card = await findCard(trx, ref);
    const data = opts.jobId ? { printJob: opts.jobId } : {};
    if ('printed' in mark) {
      if (card.state !== 'ENCODED') {
        throw new StateError('PRINT_MARK_STATE', `card ${card.id} is ${card.state}; only an ENCODED card can be marked printed`, { details: { cardId: card.id, state: card.state } });
      }
      await transitionCard(trx, { cardId: card.id, from: 'ENCODED', to: 'PRINTED', actor: opts.actor, data });
      return { cardId: card.id, from: 'ENCODED', to: 'PRINTED' };
    }
    const code = mark.misprinted.trim().toUpperCase().replace(/[\s-]+/g, '_');
    if (!/^[A-Z][A-Z0-9_]{0,38}$/.test(code)) {
      throw new ValidationError('PRINT_REASON_INVALID', `misprint reason "${mark.misprinted}" is not a code (A-Z 0-9 _, at most 39 characters)`, { hint: `For example ${MISPRINT_REASONS.join(', ')}.` });
    }
    if (card.state !== 'ENCODED' && card.state !== 'PRINTED') {
      throw new StateError('PRINT_MARK_STATE', `card ${card.id} is ${card.state}; only an ENCODED or PRINTED card can be marked misprinted`, { details: { cardId: card.id, state: card.state } });
    }
    const reason = `MISPRINT_${code}`;
    const spoiled = await spoilAndReplace(trx, card.id, reason, opts.actor, { from: card.state, data });
    return {
      cardId: card.id,
      from: card.state,
      to: 'SPOILED',
      reason,
      ...(spoiled.replacementCardId !== null ? { replacementCardId: spoiled.replacementCardId } : {}),
    };
  });
}

