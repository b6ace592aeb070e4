/**
 * QC and the database: what a card must say (the order's record and the card's document data), the trust
 * material (CSCAs, CRLs, seal signers), and recording results with the reject loop.
 *
 * Recording a result (`recordQcResult`), in one transaction:
 * - the card must be PRINTED (QC_CARD_NOT_PRINTED otherwise; nothing is written);
 * - one `qc_results` row (kind, passed, reason code, details without personal data, operator, station) and a
 *   `qc.result` audit entry;
 * - a failure: PRINTED -> QC_FAILED (reason) -> SPOILED through `spoilAndReplace` (src/cards): the blank is to be
 *   destroyed, who and when are in the audit log, and the order gets a new ORDERED card that the next batch picks
 *   up — or, after `maxAttempts` cards, goes to REVIEW for a supervisor instead of looping;
 * - a pass: the card becomes QC_PASSED once every kind the policy requires (default CHIP and FACE) has passed;
 *   until then it stays PRINTED (`pendingKinds` says what is missing). VISUAL defects always fail the card; a
 *   visual pass is recorded and required only when the policy says so.
 */
import type { Knex } from 'knex';
import { appendAudit } from '../audit/index.ts';
import { DEFAULT_MAX_ATTEMPTS, spoilAndReplace, transitionCard } from '../cards/index.ts';
import { beginWrite, insertedId, toBool } from '../db/index.ts';
import { type Certificate, type Crl, CscaStore, VerifyCache, parseCertificate, parseCrl } from '../pki/index.ts';
import type { PersonData } from '../prepare/index.ts';
import { sealTrustMaterial } from '../print/index.ts';
import { NotFoundError, StateError, ValidationError, systemClock, type Clock } from '../shared/index.ts';
import type { QcTrust } from './checks.ts';
import type { QcExpectation } from './compare.ts';
import type { SealTrust } from './face.ts';
import { QC_KINDS, QC_REASONS, type QcKind, type QcReasonInfo, isQcKind, isQcReason } from './reasons.ts';

type Db = Knex | Knex.Transaction;

/** When a card passes QC and how often an order may fail. */
export interface QcPolicy {
  /** Kinds that must each have passed before the card is QC_PASSED. Default ['CHIP', 'FACE']. */
  requiredKinds?: readonly QcKind[];
  /** Cards made for one order before it goes to REVIEW instead of getting another. Default 3 (src/cards). */
  maxAttempts?: number;
}

export const DEFAULT_REQUIRED_KINDS: readonly QcKind[] = ['CHIP', 'FACE'];

function toBytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw new TypeError('expected a binary column');
}

// ---------------------------------------------------------------------------------------------------------
// Trust material

/**
 * A CRL parsed once with its trust material rather than by every verification that uses it; one that does not parse
 * is kept as bytes, so verification meets (and reports) it exactly as before.
 */
function parsedOrBytes(der: Uint8Array): Crl | Uint8Array {
  try {
    return parseCrl(der);
  } catch {
    return der;
  }
}

/**
 * The inspection system's trust material from Kadi's own key records: every CSCA certificate (retired ones too:
 * cards signed under them are still valid) and, per CSCA, its latest CRL.
 */
export async function loadTrust(db: Db): Promise<QcTrust> {
  const rows = (await db('keys').where({ kind: 'CSCA' }).orderBy('id').select('id', 'certificate')) as Array<{ id: number; certificate: unknown }>;
  const cscas = new CscaStore(rows.filter((r) => r.certificate).map((r) => parseCertificate(toBytes(r.certificate))));
  const crls: Array<Crl | Uint8Array> = [];
  for (const r of rows) {
    const crl = await db('crls').where({ issuer_key_id: r.id }).orderBy('crl_number', 'desc').first('der');
    if (crl) crls.push(parsedOrBytes(toBytes(crl.der)));
  }
  return { cscas, crls, cache: new VerifyCache() };
}

/** Trust material for seals: the bar code signer certificates, the CSCAs and their CRLs. */
export async function loadSealTrust(db: Knex, trust?: QcTrust): Promise<SealTrust> {
  const t = trust ?? (await loadTrust(db));
  const m = await sealTrustMaterial(db);
  return { cscas: t.cscas.certificates as Certificate[], signers: m.signers, crls: t.crls, ...(t.cache ? { cache: t.cache } : {}) };
}

// ---------------------------------------------------------------------------------------------------------
// The card and what it must say

export interface QcCard {
  cardId: number;
  orderId: number;
  state: string;
  documentNumber: string | null;
  chipSerial: string | null;
  batchId: number | null;
  encoderId: number | null;
}

const CARD_COLUMNS = ['id', 'order_id', 'state', 'document_number', 'chip_serial', 'batch_id', 'encoder_id'] as const;

async function cardRow(db: Db, where: Record<string, unknown>): Promise<QcCard | undefined> {
  const r = await db('cards').where(where).first(...CARD_COLUMNS);
  return r ? toQcCard(r) : undefined;
}

function toQcCard(r: Record<string, unknown>): QcCard {
  return {
    cardId: Number(r.id),
    orderId: Number(r.order_id),
    state: String(r.state),
    documentNumber: r.document_number ? String(r.document_number) : null,
    chipSerial: r.chip_serial ? String(r.chip_serial) : null,
    batchId: r.batch_id === null || r.batch_id === undefined ? null : Number(r.batch_id),
    encoderId: r.encoder_id === null || r.encoder_id === undefined ? null : Number(r.encoder_id),
  };
}

/** A card by document number (as printed), or by id when the reference is all digits and no document number. */
export async function findQcCard(db: Db, ref: string | number): Promise<QcCard> {
  const s = String(ref).trim().toUpperCase();
  let c = await cardRow(db, { document_number: s });
  if (!c && /^\d+$/.test(s)) c = await cardRow(db, { id: Number(s) });
  if (!c) throw new NotFoundError('CARD_NOT_FOUND', `no card with document number or id ${s}`, { details: { ref: s } });
  return c;
}

export interface CardExpectation {
  card: QcCard;
  expected: QcExpectation;
  /** The MRZ printed on the card (the chip image's, which the print stage prints): what BAC starts from. */
  printedMrz: string[];
  /** The prepared files (what was meant to be written): DG1, DG11, DG13 for face QC without a chip read. */
  preparedDataGroups: Map<number, Uint8Array>;
}

export interface ExpectationOptions {
  /** ICAO issuing state / nationality code. Default KEN (KADI_ISSUING_STATE). */
  issuingState?: string;
  /** DG12 issuing authority to insist on; default: any non-empty value. */
  issuingAuthority?: string;
}

/**
 * What the card must say: the order's record snapshot (order_records.data + photo) and the card's document data
 * (document number, dates of issue and expiry from its chip image). Personal data: keep it in memory only.
 */
export async function loadExpectation(db: Db, cardId: number, opts: ExpectationOptions = {}): Promise<CardExpectation> {
  // the card, its order's record and its chip image in one read (both keyed by the card's order / id: one row each)
  const row = (await db('cards as c')
    .leftJoin('order_records as r', 'r.order_id', 'c.order_id')
    .leftJoin('chip_images as ci', 'ci.card_id', 'c.id')
    .where('c.id', cardId)
    .first(
      ...CARD_COLUMNS.map((k) => `c.${k}`),
      'r.order_id as rec_order_id',
      'r.data',
      'r.photo',
      'ci.card_id as img_card_id',
      'ci.date_of_issue',
      'ci.date_of_expiry',
      'ci.files',
    )) as Record<string, unknown> | undefined;
  const card = row ? toQcCard(row) : undefined;
  if (!card) throw new NotFoundError('CARD_NOT_FOUND', `card ${cardId} does not exist`, { details: { cardId } });
  if (!card.documentNumber) throw new StateError('QC_CARD_NOT_ENCODED', `card ${cardId} has no document number: it was never prepared`, { details: { cardId, state: card.state } });
  const rec = row!.rec_order_id === null || row!.rec_order_id === undefined ? undefined : { data: row!.data, photo: row!.photo };
  if (!rec) throw new NotFoundError('ORDER_RECORD_NOT_FOUND', `order ${card.orderId} has no data snapshot`, { details: { orderId: card.orderId } });
  const img = row!.img_card_id === null || row!.img_card_id === undefined ? undefined : { date_of_issue: row!.date_of_issue, date_of_expiry: row!.date_of_expiry, files: row!.files };
  if (!img) throw new NotFoundError('CHIP_IMAGE_NOT_FOUND', `card ${cardId} has no prepared chip image`, { details: { cardId } });
  const files = JSON.parse(String(img.files)) as { mrz: string[]; dg: Record<string, string> };
  const person = JSON.parse(String(rec.data)) as PersonData;
  return {
    card,
    expected: {
      cardId,
      documentNumber: card.documentNumber,
      issuingState: opts.issuingState ?? 'KEN',
      dateOfIssue: String(img.date_of_issue),
      dateOfExpiry: String(img.date_of_expiry),
      ...(opts.issuingAuthority ? { issuingAuthority: opts.issuingAuthority } : {}),
      person,
      photo: toBytes(rec.photo),
    },
    printedMrz: files.mrz,
    preparedDataGroups: new Map(Object.entries(files.dg).map(([k, v]) => [Number(k), new Uint8Array(Buffer.from(v, 'base64'))])),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Recording results and the reject loop

export interface RecordQcInput {
  cardId: number;
  kind: QcKind;
  passed: boolean;
  /** Required when failed: one of QC_REASONS. */
  reasonCode?: string;
  /** Machine-readable check results (codes, steps, counts: no personal data). */
  details?: Record<string, unknown>;
  /** Who checked (a QC user, or a worker id). */
  actor: string;
  /** Workstation or reader, e.g. QC-02. */
  station?: string;
  policy?: QcPolicy;
  at?: Date;
}

export interface QcOutcome {
  cardId: number;
  documentNumber: string | null;
  resultId: number;
  kind: QcKind;
  passed: boolean;
  /** The card after this result: still PRINTED (a required kind has not passed yet), QC_PASSED or SPOILED. */
  state: 'PRINTED' | 'QC_PASSED' | 'SPOILED';
  reasonCode: string | null;
  /** Fail: the new card made for the order (null when the order went to REVIEW). */
  replacementCardId: number | null;
  /** Fail: the order's status afterwards (REVIEW = flagged for a supervisor). */
  orderStatus?: string;
  /** Required kinds without a pass yet. */
  pendingKinds: QcKind[];
}

function checkInput(r: RecordQcInput): void {
  if (!isQcKind(r.kind)) throw new ValidationError('QC_KIND_INVALID', `QC kind ${String(r.kind)} is not one of ${QC_KINDS.join(', ')}`);
  if (r.passed && r.reasonCode) throw new ValidationError('QC_REASON_ON_PASS', 'a passed QC result has no reason code');
  if (!r.passed && !(r.reasonCode && isQcReason(r.reasonCode))) {
    throw new ValidationError('QC_REASON_REQUIRED', 'a failed QC result needs one of the QC reason codes', {
      hint: 'See `kadi qc reasons`.',
      details: { reasons: Object.keys(QC_REASONS) },
    });
  }
  for (const k of r.policy?.requiredKinds ?? []) if (!isQcKind(k)) throw new ValidationError('QC_KIND_INVALID', `required kind ${String(k)} is not a QC kind`);
}

/** Records one QC result and applies the reject loop (see the module comment). */
export async function recordQcResult(db: Knex, r: RecordQcInput): Promise<QcOutcome> {
  checkInput(r);
  const at = r.at ?? new Date();
  const required = r.policy?.requiredKinds ?? DEFAULT_REQUIRED_KINDS;
  return db.transaction(async (trx) => {
    // The card must be PRINTED: checked by the transaction's first statement, a write that changes nothing (the
    // card's row lock on PostgreSQL, the write lock on SQLite, as beginWrite took), which gives the card's fields.
    const [held] = (await trx('cards')
      .where({ id: r.cardId, state: 'PRINTED' })
      .update({ state: trx.raw('??', ['state']) })
      .returning(['id', 'document_number'])) as Array<{ id: unknown; document_number: unknown }>;
    const card = held
      ? { cardId: Number(held.id), documentNumber: held.document_number ? String(held.document_number) : null, state: 'PRINTED' }
      : await cardRow(trx, { id: r.cardId });
    if (!card) throw new NotFoundError('CARD_NOT_FOUND', `card ${r.cardId} does not exist`, { details: { cardId: r.cardId } });
    if (card.state !== 'PRINTED') {
      throw new StateError('QC_CARD_NOT_PRINTED', `card ${card.documentNumber ?? card.cardId} is ${card.state}; QC takes PRINTED cards`, {
        hint: 'A card is checked once, after printing. Look at the card history.',
        details: { cardId: card.cardId, state: card.state },
      });
    }
    const resultId = insertedId(
      await trx('qc_results')
        .insert({
          card_id: card.cardId,
          kind: r.kind,
          passed: r.passed ? 1 : 0,
          reason_code: r.reasonCode ?? null,
          details: r.details ? JSON.stringify(r.details) : null,
          operator: r.actor.slice(0, 64),
          station: r.station?.slice(0, 64) ?? null,
          created_at: at.toISOString(),
        })
        .returning('id'),
    );
    await appendAudit(
      trx,
      {
        actor: r.actor,
        action: 'qc.result',
        entityType: 'card',
        entityId: card.cardId,
        data: { result: resultId, kind: r.kind, passed: r.passed, ...(r.reasonCode ? { reason: r.reasonCode } : {}), ...(r.station ? { station: r.station } : {}) },
      },
      at,
    );
    const base = { cardId: card.cardId, documentNumber: card.documentNumber, resultId, kind: r.kind, passed: r.passed };
    if (!r.passed) {
      const reason = r.reasonCode!;
      await transitionCard(trx, { cardId: card.cardId, from: 'PRINTED', to: 'QC_FAILED', actor: r.actor, reason, data: { qcResult: resultId }, at });
      const s = await spoilAndReplace(trx, card.cardId, reason, r.actor, {
        from: 'QC_FAILED',
        maxAttempts: r.policy?.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
        data: { qcResult: resultId },
        at,
      });
      return { ...base, state: 'SPOILED' as const, reasonCode: reason, replacementCardId: s.replacementCardId, orderStatus: s.orderStatus, pendingKinds: [] };
    }
    const passedKinds = new Set(
      ((await trx('qc_results').where({ card_id: card.cardId, passed: 1 }).distinct('kind')) as Array<{ kind: string }>).map((x) => x.kind),
    );
    const pendingKinds = required.filter((k) => !passedKinds.has(k));
    if (pendingKinds.length > 0) return { ...base, state: 'PRINTED' as const, reasonCode: null, replacementCardId: null, pendingKinds };
    await transitionCard(trx, { cardId: card.cardId, from: 'PRINTED', to: 'QC_PASSED', actor: r.actor, data: { qcResult: resultId, kinds: [...passedKinds].sort() }, at });
    return { ...base, state: 'QC_PASSED' as const, reasonCode: null, replacementCardId: null, pendingKinds: [] };
  });
}

/** A QC station's submission (the API contract of POST /api/qc/results). */
export interface QcSubmission {
  documentNumber: string;
  kind: QcKind;
  passed: boolean;
  reasonCode?: string;
  station?: string;
  details?: Record<string, unknown>;
  actor: string;
  clock?: Clock;
  policy?: QcPolicy;
}

/** Records a station's result for the card with this document number (see {@link recordQcResult}). */
export async function submitQcResult(db: Knex, s: QcSubmission): Promise<QcOutcome> {
  const documentNumber = s.documentNumber.trim().toUpperCase();
  const card = await cardRow(db, { document_number: documentNumber });
  if (!card) throw new NotFoundError('CARD_NOT_FOUND', `no card with document number ${documentNumber}`, { details: { documentNumber } });
  return recordQcResult(db, {
    cardId: card.cardId,
    kind: s.kind,
    passed: s.passed,
    ...(s.reasonCode ? { reasonCode: s.reasonCode } : {}),
    ...(s.details ? { details: s.details } : {}),
    ...(s.station ? { station: s.station } : {}),
    ...(s.policy ? { policy: s.policy } : {}),
    actor: s.actor,
    at: (s.clock ?? systemClock).now(),
  });
}

/**
 * A visual inspection by QC staff: pass, or a defect with a VISUAL reason code (QC_PRINT_DEFECT, QC_PHOTO_DEFECT,
 * QC_CARD_DAMAGED, QC_SECURITY_FEATURE_DEFECT). `note` is a short free text kept in the details — no personal data.
 */
export async function recordVisualInspection(
  db: Knex,
  v: { ref: string | number; passed: boolean; reasonCode?: string; note?: string; actor: string; station?: string; policy?: QcPolicy; at?: Date },
): Promise<QcOutcome> {
  if (!v.passed) {
    const info: QcReasonInfo | undefined = v.reasonCode && isQcReason(v.reasonCode) ? QC_REASONS[v.reasonCode] : undefined;
    if (!info || info.kind !== 'VISUAL') {
      throw new ValidationError('QC_REASON_REQUIRED', 'a visual defect needs a VISUAL reason code', {
        hint: 'One of QC_PRINT_DEFECT, QC_PHOTO_DEFECT, QC_CARD_DAMAGED, QC_SECURITY_FEATURE_DEFECT.',
      });
    }
  }
  if (v.note !== undefined && (v.note.length > 200 || /[\u0000-\u001f]/.test(v.note))) {
    throw new ValidationError('QC_NOTE_INVALID', 'a note is at most 200 characters, without control characters');
  }
  const card = await findQcCard(db, v.ref);
  return recordQcResult(db, {
    cardId: card.cardId,
    kind: 'VISUAL',
    passed: v.passed,
    ...(v.reasonCode ? { reasonCode: v.reasonCode } : {}),
    ...(v.note ? { details: { note: v.note } } : {}),
    actor: v.actor,
    ...(v.station ? { station: v.station } : {}),
    ...(v.policy ? { policy: v.policy } : {}),
    ...(v.at ? { at: v.at } : {}),
  });
}

export interface StoredQcResult {
  id: number;
  cardId: number;
  kind: QcKind;
  passed: boolean;
  reasonCode: string | null;
  details: Record<string, unknown> | null;
  operator: string;
  station: string | null;
  createdAt: string;
}

/** A card's QC results, oldest first. */
export async function qcResults(db: Db, cardId: number): Promise<StoredQcResult[]> {
  const rows = (await db('qc_results').where({ card_id: cardId }).orderBy('id')) as Array<Record<string, unknown>>;
  return rows.map((r) => ({
    id: Number(r.id),
    cardId: Number(r.card_id),
    kind: String(r.kind) as QcKind,
    passed: toBool(r.passed),
    reasonCode: r.reason_code ? String(r.reason_code) : null,
    details: r.details ? (JSON.parse(String(r.details)) as Record<string, unknown>) : null,
    operator: String(r.operator),
    station: r.station ? String(r.station) : null,
    createdAt: String(r.created_at),
  }));
}
