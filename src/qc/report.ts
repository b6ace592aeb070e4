/**
 * The QC report of a production batch: pass rate, failures by reason, per encoder and per QC operator (and
 * station). Aggregated in SQL on either engine; no personal data (document numbers are not listed either: the
 * report goes to production managers and suppliers).
 *
 * Per card (a card of the batch with at least one QC result):
 *   failed   a result failed (the card was spoiled in QC)
 *   passed   no result failed and the card reached QC_PASSED (or a later state)
 *   pending  results so far all passed, but a required kind is still missing (card still PRINTED)
 * pass rate = passed / (passed + failed): the first-pass yield of the batch's blanks.
 */
import type { Knex } from 'knex';
import { toBool, toCount } from '../db/index.ts';
import { NotFoundError } from '../shared/index.ts';
import { QC_KINDS, QC_REASONS, type QcKind, isQcReason } from './reasons.ts';

export interface RateRow {
  checked: number;
  passed: number;
  failed: number;
  pending: number;
  /** passed / (passed + failed), or null when none was decided. */
  passRate: number | null;
}

export interface QcReport {
  batchId: number;
  batchState: string;
  generatedAt: string;
  cards: {
    /** Cards in the batch (all states). */
    inBatch: number;
    /** Cards of the batch waiting for QC (PRINTED without any result). */
    awaiting: number;
  } & RateRow;
  /** Results recorded (a card has one per kind checked). */
  results: { total: number; passed: number; failed: number; byKind: Record<QcKind, { passed: number; failed: number }> };
  failuresByReason: Array<{ code: string; kind: string; description: string; count: number; share: number }>;
  byEncoder: Array<{ encoder: string } & RateRow>;
  byOperator: Array<{ operator: string; results: number; passed: number; failed: number; passRate: number | null }>;
  byStation: Array<{ station: string; results: number; passed: number; failed: number; passRate: number | null }>;
  /** Cards spoiled in QC whose order got a new card / whose order went to REVIEW. */
  replacements: number;
  flaggedForReview: number;
}

const AFTER_QC_PASS = new Set(['QC_PASSED', 'PACKED', 'DISPATCHED', 'RECEIVED', 'ISSUED', 'RETURNED', 'DESTROYED']);

const rate = (passed: number, failed: number): number | null => (passed + failed > 0 ? Math.round((passed / (passed + failed)) * 10_000) / 10_000 : null);

function rateRow(): RateRow {
  return { checked: 0, passed: 0, failed: 0, pending: 0, passRate: null };
}

/** Builds the QC report of `batchId` (see the module comment). One read transaction: consistent figures. */
export async function qcReport(db: Knex, batchId: number, now = new Date()): Promise<QcReport> {
  const pg = db.client.config.client === 'pg';
  return db.transaction(
    async (trx) => {
      const batch = await trx('batches').where({ id: batchId }).first('id', 'state');
      if (!batch) throw new NotFoundError('BATCH_NOT_FOUND', `batch ${batchId} does not exist`, { details: { batchId } });
      const inBatch = toCount((await trx('cards').where({ batch_id: batchId }).count({ n: '*' }))[0]?.n);

      // one row per checked card: its state, encoder, and whether any result failed
      const perCard = (await trx('qc_results as q')
        .join('cards as c', 'c.id', 'q.card_id')
        .leftJoin('encoders as e', 'e.id', 'c.encoder_id')
        .where('c.batch_id', batchId)
        .groupBy('q.card_id', 'c.state', 'e.name')
        .select('q.card_id', 'c.state', 'e.name as encoder')
        .min({ allPassed: 'q.passed' })) as Array<{ card_id: number; state: string; encoder: string | null; allPassed: unknown }>;
      const cards = rateRow();
      const enc = new Map<string, RateRow>();
      for (const r of perCard) {
        const failed = !toBool(r.allPassed);
        const passed = !failed && AFTER_QC_PASS.has(String(r.state));
        const name = r.encoder ? String(r.encoder) : '(unknown)';
        const e = enc.get(name) ?? rateRow();
        for (const row of [cards, e]) {
          row.checked++;
          if (failed) row.failed++;
          else if (passed) row.passed++;
          else row.pending++;
        }
        enc.set(name, e);
      }
      cards.passRate = rate(cards.passed, cards.failed);
      for (const e of enc.values()) e.passRate = rate(e.passed, e.failed);
      const awaiting = toCount(
        (
          await trx('cards as c')
            .where({ 'c.batch_id': batchId, 'c.state': 'PRINTED' })
            .whereNotExists(trx('qc_results as q').whereRaw('q.card_id = c.id').select(trx.raw('1')))
            .count({ n: '*' })
        )[0]?.n,
      );

      // results by kind and reason
      const kinds = (await trx('qc_results as q')
        .join('cards as c', 'c.id', 'q.card_id')
        .where('c.batch_id', batchId)
        .groupBy('q.kind', 'q.passed')
        .select('q.kind', 'q.passed')
        .count({ n: '*' })) as Array<{ kind: string; passed: unknown; n: unknown }>;
      const byKind = Object.fromEntries(QC_KINDS.map((k) => [k, { passed: 0, failed: 0 }])) as Record<QcKind, { passed: number; failed: number }>;
      let total = 0;
      let passedResults = 0;
      for (const k of kinds) {
        const n = toCount(k.n);
        total += n;
        const slot = byKind[k.kind as QcKind] ?? (byKind[k.kind as QcKind] = { passed: 0, failed: 0 });
        if (toBool(k.passed)) {
          slot.passed += n;
          passedResults += n;
        } else slot.failed += n;
      }
      const reasons = (await trx('qc_results as q')
        .join('cards as c', 'c.id', 'q.card_id')
        .where({ 'c.batch_id': batchId, 'q.passed': 0 })
        .groupBy('q.reason_code', 'q.kind')
        .select('q.reason_code', 'q.kind')
        .count({ n: '*' })) as Array<{ reason_code: string | null; kind: string; n: unknown }>;
      const failedResults = total - passedResults;
      const failuresByReason = reasons
        .map((r) => {
          const code = r.reason_code ?? '(none)';
          const count = toCount(r.n);
          return {
            code,
            kind: String(r.kind),
            description: isQcReason(code) ? QC_REASONS[code].description : 'unknown reason code',
            count,
            share: failedResults ? Math.round((count / failedResults) * 10_000) / 10_000 : 0,
          };
        })
        .sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));

      const people = async (col: 'operator' | 'station') =>
        ((await trx('qc_results as q')
          .join('cards as c', 'c.id', 'q.card_id')
          .where('c.batch_id', batchId)
          .groupBy(`q.${col}`, 'q.passed')
          .select(`q.${col} as who`, 'q.passed')
          .count({ n: '*' })) as Array<{ who: string | null; passed: unknown; n: unknown }>).reduce((m, r) => {
          const who = r.who ? String(r.who) : '(none)';
          const x = m.get(who) ?? { results: 0, passed: 0, failed: 0 };
          const n = toCount(r.n);
          x.results += n;
          if (toBool(r.passed)) x.passed += n;
          else x.failed += n;
          m.set(who, x);
          return m;
        }, new Map<string, { results: number; passed: number; failed: number }>());
      const ops = await people('operator');
      const stations = await people('station');

      // the reject loop: cards spoiled in QC whose order got a newer card, or whose order is in REVIEW
      const spoiledInQc = () =>
        trx('cards as c')
          .where({ 'c.batch_id': batchId, 'c.state': 'SPOILED' })
          .whereExists(trx('qc_results as q').whereRaw('q.card_id = c.id').where('q.passed', 0).select(trx.raw('1')));
      const replacements = toCount(
        (await spoiledInQc().whereExists(trx('cards as n').whereRaw('n.order_id = c.order_id').whereRaw('n.id > c.id').select(trx.raw('1'))).count({ n: '*' }))[0]?.n,
      );
      const flagged = toCount(
        (await trx('card_orders as o').where('o.status', 'REVIEW').whereIn('o.id', spoiledInQc().select('c.order_id')).count({ n: '*' }))[0]?.n,
      );

      const sortRows = <T extends { passRate: number | null }>(rows: T[], key: (r: T) => string) =>
        rows.sort((a, b) => (a.passRate ?? 2) - (b.passRate ?? 2) || key(a).localeCompare(key(b)));
      return {
        batchId,
        batchState: String(batch.state),
        generatedAt: now.toISOString(),
        cards: { inBatch, awaiting, ...cards },
        results: { total, passed: passedResults, failed: failedResults, byKind },
        failuresByReason,
        byEncoder: sortRows([...enc.entries()].map(([encoder, r]) => ({ encoder, ...r })), (r) => r.encoder),
        byOperator: sortRows([...ops.entries()].map(([operator, r]) => ({ operator, ...r, passRate: rate(r.passed, r.failed) })), (r) => r.operator),
        byStation: sortRows([...stations.entries()].map(([station, r]) => ({ station, ...r, passRate: rate(r.passed, r.failed) })), (r) => r.station),
        replacements,
        flaggedForReview: flagged,
      };
    },
    pg ? { isolationLevel: 'repeatable read' } : {},
  );
}
