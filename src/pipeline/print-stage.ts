/**
 * The print stage: ENCODED -> PRINTED, one card at a time, with src/print's public functions: the card's seal is
 * signed when it has none (signCardSeal), its face rendered (faceOf + renderCardPdf) into a one-card print job
 * (createPrintJob, then finishCardPrint: the job's card, the job completed and the printer's feedback, the card
 * ENCODED -> PRINTED, in one transaction; the qc stage's face check 'print-job' reads the job back). The batch PDF of a whole batch is `printBatch` (kadi print
 * batch); this stage is the card-by-card line printer of the pipeline.
 *
 * Re-runs are safe and print a card once: a card no longer ENCODED is skipped; a seal already signed is kept; the
 * print job is opened first as the card's claim (one RUNNING job per card; see claimPrintJob); a job that
 * completed before its worker stopped is recorded as the card's print instead of printing again.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import {
  type CardTemplate,
  type DocumentDates,
  type SealSession,
  cardRow,
  createPrintJob,
  faceOf,
  finishPrintJob,
  getBatch,
  markCard,
  renderCardPdf,
} from '../print/index.ts';
import { finishCardPrint, sealCard } from '../print/store.ts';
import { isUniqueViolation } from '../db/index.ts';
import { KadiError, StateError, isKadiError } from '../shared/index.ts';
import { type Stage, stageSpec } from './stages.ts';

export interface PrintStageOptions {
  db: Knex;
  template: CardTemplate;
  /** Directory the template's relative font paths resolve against. */
  baseDir: string;
  /** Where the per-card print files go (`card-<id>.pdf`). */
  outDir: string;
  /** The seal signer session (src/print sealSigningSession); required when the template has a seal. */
  sealSession?: SealSession;
  actor: string;
  validityYears?: number;
  concurrency?: number;
  /** Another job's RUNNING print job for the card counts as interrupted once this old, ms (default 20 000). */
  claimStaleMs?: number;
  onClose?: () => Promise<void>;
}

function hasSeal(t: CardTemplate): boolean {
  return [...t.front.elements, ...t.back.elements].some((e) => e.type === 'seal');
}

export function printStage(o: PrintStageOptions): Stage {
  const needsSeal = hasSeal(o.template);
  const staleMs = o.claimStaleMs ?? 20_000;
  mkdirSync(o.outDir, { recursive: true });

  const failJob = (jobId: number, e: unknown): Promise<void> =>
    finishPrintJob(o.db, jobId, { actor: o.actor, ok: false, cards: 0, errorCode: isKadiError(e) ? e.code : 'INTERNAL', errorMessage: (e as Error).message ?? String(e) }).catch(() => undefined);

  /**
   * The card's print job, opened as its claim: one RUNNING job per card (unique index). Another job's fresh claim
   * means another worker may be printing it now (retryable PRINT_CLAIM_ACTIVE); a stale one was left by a worker
   * that stopped and is closed as PRINT_INTERRUPTED before this job takes over.
   */
  const claimPrintJob = async (cardId: number, batchId: number, out: string): Promise<number> => {
    const open = () => createPrintJob(o.db, { batchId, template: o.template, outputPath: out, options: { impose: null, card: cardId }, actor: o.actor, skipped: 0, cardId });
    try {
      return await open();
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
    }
    const other = await o.db('print_jobs').where({ card_id: cardId, state: 'RUNNING' }).first('id', 'started_at');
    const age = other ? Date.now() - Date.parse(String(other.started_at)) : Infinity;
    if (other && age < staleMs) {
      throw new KadiError('PRINT_CLAIM_ACTIVE', `card ${cardId} is in print job ${other.id}, started ${Math.round(age / 1000)} s ago`, {
        retryable: true,
        hint: `Retried until that job is ${staleMs / 1000} s old; then it is closed as interrupted and the card printed again.`,
      });
    }
    if (other) await failJob(Number(other.id), new KadiError('PRINT_INTERRUPTED', 'the worker printing this card stopped before the job finished'));
    return open();
  };
  // a batch's document dates never change (its creation date): read once per batch, and only for a card that has
  // neither a chip image nor a seal to take its dates from
  const batchDates = new Map<number, DocumentDates>();
  const datesOf = async (batchId: number): Promise<DocumentDates> => {
    let d = batchDates.get(batchId);
    if (!d) batchDates.set(batchId, (d = (await getBatch(o.db, batchId, o.validityYears)).dates));
    return d;
  };
  return {
    ...stageSpec('print'),
    concurrency: o.concurrency ?? 2,
    async run(cardId) {
      // the card, and the newest COMPLETED print job holding it (one read)
      const c = await o.db('cards as c')
        .where('c.id', cardId)
        .first('c.state', 'c.batch_id', o.db('print_jobs as j').max('j.id').where('j.card_id', o.db.ref('c.id')).andWhere('j.state', 'COMPLETED').as('printed_job'));
      if (!c || c.state !== 'ENCODED') return 'skipped';
      if (c.batch_id === null || c.batch_id === undefined) throw new KadiError('PRINT_NO_BATCH', `card ${cardId} is in no batch`);
      const batchId = Number(c.batch_id);
      // printed by a job that completed before its worker stopped (crash before the mark): record it, print once
      if (c.printed_job !== null && c.printed_job !== undefined) {
        await markCard(o.db, String(cardId), { printed: true }, { actor: o.actor, jobId: Number(c.printed_job) });
        return 'done';
      }
      const out = path.join(o.outDir, `card-${cardId}.pdf`);
      const jobId = await claimPrintJob(cardId, batchId, out);
      let marked: Awaited<ReturnType<typeof finishCardPrint>>;
      try {
        let row;
        if (needsSeal) {
          if (!o.sealSession) throw new KadiError('PRINT_SEALS_MISSING', `card ${cardId} needs a seal and no seal signer is configured`, { hint: 'Create one: `kadi seal keygen`.' });
          // the card's row as stored after sealing (with its seal), not read a second time
          row = (await sealCard(o.db, o.template, cardId, o.sealSession, { actor: o.actor, ...(o.validityYears ? { validityYears: o.validityYears } : {}) })).row;
        } else {
          row = await cardRow(o.db, cardId);
        }
        const sealSha256 = row.seal?.sha256;
        const dates = row.chip?.dates ?? row.seal?.dates ?? (await datesOf(batchId));
        const pdf = await renderCardPdf(o.template, o.baseDir, faceOf(o.template, row, dates));
        writeFileSync(`${out}.part`, pdf);
        renameSync(`${out}.part`, out);
        // the job's card, the job COMPLETED and the card PRINTED: one transaction
        marked = await finishCardPrint(o.db, jobId, { cardId, ...(sealSha256 ? { sealSha256 } : {}) }, {
          actor: o.actor,
          cards: 1,
          pages: 2,
          truncatedFields: 0,
          shrunkFields: 0,
          wrappedFields: 0,
          outputSha256: createHash('sha256').update(pdf).digest('hex'),
          outputBytes: pdf.length,
        });
      } catch (e) {
        await failJob(jobId, e);
        throw e;
      }
      if (!marked.marked) {
        // the job completed; the card moved meanwhile (as markCard reports it)
        throw new StateError('PRINT_MARK_STATE', `card ${cardId} is ${marked.state}; only an ENCODED card can be marked printed`, { details: { cardId, state: marked.state } });
      }
      return 'done';
    },
    async close() {
      await o.onClose?.();
    },
  };
}
