/**
 * Printing a production batch: one streaming pass over the batch's ENCODED cards (pages of 100 from the
 * database), each card laid out and drawn into one PDF written to `<out>.part` and renamed when complete, with a
 * print job record (RUNNING -> COMPLETED | FAILED) and the list of cards it holds, in order. The seals must be
 * signed before (signBatchSeals) or a seal session passed in.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { Transform } from 'node:stream';
import type { Knex } from 'knex';
import type { Signer } from '../pki/index.ts';
import { KadiError, isKadiError } from '../shared/index.ts';
import { type ImposeOptions, CardPdfWriter } from './render.ts';
import type { SealSignerRecord } from './seal-keys.ts';
import {
  type PrintJob,
  type SealSigningResult,
  addJobCards,
  batchCardStates,
  batchCards,
  createPrintJob,
  faceOf,
  finishPrintJob,
  getBatch,
  getPrintJob,
  signBatchSeals,
  unsealedCount,
} from './store.ts';
import type { CardTemplate } from './template.ts';

export interface PrintBatchOptions {
  db: Knex;
  batchId: number;
  template: CardTemplate;
  /** Directory the template's relative font paths resolve against. */
  baseDir: string;
  /** The PDF to write. */
  out: string;
  impose?: ImposeOptions;
  actor: string;
  /** Sign missing seals first with this seal signer. */
  sealSession?: { record: SealSignerRecord; signer: Signer };
  /** Cards read per database page (default 100). */
  pageSize?: number;
  validityYears?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface PrintBatchResult {
  job: PrintJob;
  seals?: SealSigningResult;
  /** Wall time of the rendering pass, seconds. */
  renderSeconds: number;
}

function hasSeal(t: CardTemplate): boolean {
  return [...t.front.elements, ...t.back.elements].some((e) => e.type === 'seal');
}

export async function printBatch(o: PrintBatchOptions): Promise<PrintBatchResult> {
  const batch = await getBatch(o.db, o.batchId, o.validityYears);
  const states = await batchCardStates(o.db, o.batchId);
  const printable = states.ENCODED ?? 0;
  const skipped = Object.values(states).reduce((a, b) => a + b, 0) - printable;
  let seals: SealSigningResult | undefined;
  if (hasSeal(o.template)) {
    if (o.sealSession) seals = await signBatchSeals(o.db, o.template, o.batchId, o.sealSession, { actor: o.actor, ...(o.validityYears ? { validityYears: o.validityYears } : {}) });
    const missing = await unsealedCount(o.db, o.batchId);
    if (missing > 0) {
      throw new KadiError('PRINT_SEALS_MISSING', `${missing} card(s) of batch ${o.batchId} have no signed seal`, {
        hint: 'Sign them first (`kadi print batch` does so when the HSM is configured; `kadi seal sign --batch ID`).',
        details: { batchId: o.batchId, missing },
      });
    }
  }
  const options: Record<string, unknown> = { impose: o.impose ?? null };
  const jobId = await createPrintJob(o.db, { batchId: o.batchId, template: o.template, outputPath: o.out, options, actor: o.actor, skipped });
  const part = `${o.out}.part`;
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  const file = createWriteStream(part);
  tap.pipe(file);
  const fileDone = new Promise<void>((resolve, reject) => {
    file.once('close', resolve);
    file.once('error', reject);
  });
  const writer = new CardPdfWriter({ template: o.template, baseDir: o.baseDir, out: tap, ...(o.impose ? { impose: o.impose } : {}), title: `Kadi batch ${o.batchId} - print job ${jobId}` });
  let done = 0;
  const t0 = performance.now();
  try {
    for await (const page of batchCards(o.db, o.batchId, { pageSize: o.pageSize ?? 100 })) {
      const jobCards: Array<{ cardId: number; sealSha256?: string }> = [];
      for (const row of page) {
        writer.addCard(faceOf(o.template, row, batch.dates));
        jobCards.push({ cardId: row.cardId, ...(row.seal ? { sealSha256: row.seal.sha256 } : {}) });
        await writer.drain();
      }
      await addJobCards(o.db, jobId, done + 1, jobCards);
      done += page.length;
      o.onProgress?.(done, printable);
    }
    const stats = await writer.finish();
    await fileDone;
    renameSync(part, o.out);
    const renderSeconds = (performance.now() - t0) / 1000;
    await finishPrintJob(o.db, jobId, {
      actor: o.actor,
      ok: true,
      cards: stats.cards,
      pages: stats.pages,
      truncatedFields: stats.truncatedFields,
      shrunkFields: stats.shrunkFields,
      wrappedFields: stats.wrappedFields,
      outputSha256: hash.digest('hex'),
      outputBytes: bytes,
    });
    return { job: await getPrintJob(o.db, jobId), ...(seals ? { seals } : {}), renderSeconds };
  } catch (e) {
    tap.destroy();
    file.destroy();
    rmSync(part, { force: true });
    await finishPrintJob(o.db, jobId, {
      actor: o.actor,
      ok: false,
      cards: done,
      errorCode: isKadiError(e) ? e.code : 'INTERNAL',
      errorMessage: (e as Error).message ?? String(e),
    }).catch(() => undefined);
    throw e;
  }
}
