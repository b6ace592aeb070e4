/**
 * `kadi print ...`: card faces for production batches (src/print).
 *
 *   kadi print batch BATCH_ID --out FILE.pdf [--template FILE] [--impose [A4|A3|SRA3|LETTER]] [--no-crop-marks]
 *                             [--png DIR] [--dpi N] [--no-sign] [--json]
 *   kadi print card CARD_OR_DOCUMENT (--out FILE.pdf | --png DIR) [--dpi N] [--template FILE] [--no-sign] [--json]
 *   kadi print mark CARD_OR_DOCUMENT... (--printed | --misprinted REASON) [--json]
 *   kadi print mark --job JOB_ID --printed [--json]
 *   kadi print jobs [--batch ID] [--json]
 *   kadi print template [FILE] [--json]
 *
 * Seals: cards without a signed seal get one first, signed in the HSM with the active seal signer (configuration:
 * KADI_HSM_*); `--no-sign` refuses instead. Errors print `error CODE: message`; with --json a JSON error object.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { Knex } from 'knex';
import {
  type CardTemplate,
  type ImposeOptions,
  type SealSession,
  SHEETS,
  cardRow,
  exportPngs,
  faceOf,
  getBatch,
  jobCards,
  listPrintJobs,
  loadTemplateFile,
  markCard,
  printBatch,
  renderCardPdf,
  sealSigningSession,
  signCardSeal,
  templateMeasurer,
  unsealedCount,
  cardSide,
  documentDates,
  faceData,
  findCard,
} from '../print/index.ts';
import { generateRecords, validateRecord } from '../registry/index.ts';
import { KadiError } from '../shared/index.ts';
import { Context } from './context.ts';
import { printJson, printLine, progress, table } from './output.ts';
import { withContext } from './run.ts';
import { openHsm } from './keys.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The template used when --template is not given. */
export const DEFAULT_TEMPLATE = path.join(ROOT, 'templates', 'kenya-eid.json');

function intArg(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

const run = withContext;

/** Opens the HSM from the configuration and the active seal signer (a key custodian made it). */
export async function openSealSession(ctx: Context, db: Knex, defer: (f: () => Promise<void> | void) => void): Promise<SealSession> {
  process.env.SOFTHSM2_CONF = ctx.config.hsm.softhsmConf;
  const hsm = openHsm(ctx.config);
  defer(() => hsm.close());
  return sealSigningSession({ db, keyStore: hsm });
}

function hasSeal(t: CardTemplate): boolean {
  return [...t.front.elements, ...t.back.elements].some((e) => e.type === 'seal');
}

function imposeArg(v: string | boolean | undefined, cropMarks: boolean): ImposeOptions | undefined {
  if (v === undefined || v === false) return undefined;
  const name = typeof v === 'string' ? v.toUpperCase() : 'A4';
  const sheet = SHEETS[name];
  if (!sheet) throw new KadiError('CLI_USAGE', `unknown sheet ${String(v)}`, { hint: `Use one of ${Object.keys(SHEETS).join(', ')}.` });
  return { sheet, cropMarks };
}

export function registerPrintCommands(program: Command, actor: () => string): void {
  const print = program.command('print').description('card faces: render batches to PDF/PNG, printer feedback, print jobs');

  print
    .command('batch')
    .description('render every ENCODED card of a batch to one PDF (one page per side, production order) and record a print job')
    .argument('<batchId>', 'batch id', intArg('batchId', 1))
    .requiredOption('--out <file>', 'PDF file to write (written as FILE.part, renamed when complete)')
    .option('--template <file>', 'card template JSON', DEFAULT_TEMPLATE)
    .addOption(new Option('--impose [sheet]', 'impose cards on sheets (A4, A3, SRA3, LETTER; default A4) with backs mirrored for long-edge duplex'))
    .option('--no-crop-marks', 'no crop marks on imposed sheets')
    .option('--png <dir>', 'also export every page as PNG into DIR (<position>-<cardId>-front.png / -back.png)')
    .option('--dpi <n>', 'PNG resolution, dots per inch', intArg('--dpi', 72, 1200), 300)
    .option('--no-sign', 'do not sign missing seals (fail instead)')
    .option('--json', 'JSON output: the print job')
    .action(async (batchId: number, o: { out: string; template: string; impose?: string | boolean; cropMarks: boolean; png?: string; dpi: number; sign: boolean; json?: boolean }) =>
      run(!!o.json, async (ctx, defer) => {
        const db = await ctx.db();
        const { template, baseDir } = await loadTemplateFile(o.template);
        await getBatch(db, batchId);
        let sealSession: SealSession | undefined;
        if (hasSeal(template) && o.sign && (await unsealedCount(db, batchId)) > 0) sealSession = await openSealSession(ctx, db, defer);
        const impose = imposeArg(o.impose, o.cropMarks);
        const bar = progress(!!o.json);
        bar.start(0, 'printing');
        const out = path.resolve(o.out);
        const r = await printBatch({
          db,
          batchId,
          template,
          baseDir,
          out,
          actor: actor(),
          ...(impose ? { impose } : {}),
          ...(sealSession ? { sealSession } : {}),
          onProgress: (d, t) => bar.update(d, t),
        });
        bar.stop();
        let pngs: string[] = [];
        if (o.png) {
          if (impose) throw new KadiError('CLI_USAGE', '--png exports card pages; it cannot be combined with --impose');
          const cards = await jobCards(db, r.job.id);
          const names = cards.flatMap((c) => [`${c.position}-${c.cardId}-front`, `${c.position}-${c.cardId}-back`]);
          pngs = exportPngs({ pdf: out, outDir: path.resolve(o.png), dpi: o.dpi, names });
        }
        const report = { job: r.job, ...(r.seals ? { seals: r.seals } : {}), renderSeconds: Math.round(r.renderSeconds * 1000) / 1000, ...(o.png ? { pngs: pngs.length, pngDir: path.resolve(o.png) } : {}) };
        if (o.json) printJson(report);
        else {
          printLine(`print job ${r.job.id}: batch ${batchId}, ${r.job.cards} cards, ${r.job.pages} pages -> ${out}`);
          if (r.seals?.signed) printLine(`signed ${r.seals.signed} seals in the HSM`);
          if (r.job.skipped) printLine(`skipped ${r.job.skipped} cards of the batch that are not ENCODED`);
          if (r.job.truncatedFields) printLine(`warning: ${r.job.truncatedFields} text fields had to be truncated (see docs/operator/printing.md)`);
          if (o.png) printLine(`${pngs.length} PNG pages at ${o.dpi} dpi in ${path.resolve(o.png)}`);
        }
      }),
    );

  print
    .command('card')
    .description('render one card (front and back) to a PDF and/or PNG files, e.g. for a reprint preview or an image printer')
    .argument('<card>', 'document number or card id')
    .option('--out <file>', 'PDF file to write')
    .option('--png <dir>', 'write <cardId>-front.png and <cardId>-back.png into DIR')
    .option('--dpi <n>', 'PNG resolution, dots per inch', intArg('--dpi', 72, 1200), 300)
    .option('--template <file>', 'card template JSON', DEFAULT_TEMPLATE)
    .option('--no-sign', 'do not sign a missing seal (fail instead)')
    .option('--json', 'JSON output')
    .action(async (ref: string, o: { out?: string; png?: string; dpi: number; template: string; sign: boolean; json?: boolean }) =>
      run(!!o.json, async (ctx, defer) => {
        if (!o.out && !o.png) throw new KadiError('CLI_USAGE', 'give --out FILE.pdf and/or --png DIR');
        const db = await ctx.db();
        const { template, baseDir } = await loadTemplateFile(o.template);
        const card = await findCard(db, ref);
        let row = await cardRow(db, card.id);
        if (hasSeal(template) && !row.seal) {
          if (!o.sign) throw new KadiError('PRINT_SEALS_MISSING', `card ${card.id} has no signed seal`, { hint: 'Drop --no-sign to sign it with the active seal signer.' });
          await signCardSeal(db, template, card.id, await openSealSession(ctx, db, defer), { actor: actor() });
          row = await cardRow(db, card.id);
        }
        const face = faceOf(template, row, documentDates(new Date()));
        const pdf = await renderCardPdf(template, baseDir, face);
        const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
        const os = await import('node:os');
        let pdfPath = o.out ? path.resolve(o.out) : undefined;
        let tmp: string | undefined;
        if (!pdfPath) {
          tmp = mkdtempSync(path.join(os.tmpdir(), 'kadi-card-'));
          pdfPath = path.join(tmp, 'card.pdf');
        }
        writeFileSync(pdfPath, pdf);
        let pngs: string[] = [];
        try {
          if (o.png) pngs = exportPngs({ pdf: pdfPath, outDir: path.resolve(o.png), dpi: o.dpi, names: [`${card.id}-front`, `${card.id}-back`] });
        } finally {
          if (tmp) rmSync(tmp, { recursive: true, force: true });
        }
        const rep = { cardId: card.id, state: card.state, ...(o.out ? { pdf: pdfPath } : {}), pngs };
        if (o.json) printJson(rep);
        else printLine(`card ${card.id} (${card.state}): ${[o.out ? pdfPath : '', ...pngs].filter(Boolean).join(', ')}`);
      }),
    );

  print
    .command('mark')
    .description('printer feedback: mark cards printed (ENCODED -> PRINTED) or misprinted (-> SPOILED, the order gets a new card)')
    .argument('[cards...]', 'document numbers or card ids')
    .option('--printed', 'the cards came out of the printer good')
    .option('--misprinted <reason>', 'the print failed; reason code such as COLOUR_SHIFT, RIBBON_BREAK, SMUDGE, MISFEED')
    .option('--job <id>', 'every ENCODED card of this print job (with --printed)', intArg('--job', 1))
    .option('--json', 'JSON output')
    .action(async (refs: string[], o: { printed?: boolean; misprinted?: string; job?: number; json?: boolean }) =>
      run(!!o.json, async (ctx) => {
        if (!!o.printed === !!o.misprinted) throw new KadiError('CLI_USAGE', 'give exactly one of --printed and --misprinted REASON');
        if (o.job !== undefined && o.misprinted) throw new KadiError('CLI_USAGE', 'a misprint is reported card by card, not for a whole job');
        if (o.job === undefined && refs.length === 0) throw new KadiError('CLI_USAGE', 'give card references or --job JOB_ID');
        const db = await ctx.db();
        let targets = refs;
        if (o.job !== undefined) {
          const cards = await jobCards(db, o.job);
          if (cards.length === 0) throw new KadiError('PRINT_JOB_NOT_FOUND', `print job ${o.job} has no cards`);
          const live = new Set((await db('cards').whereIn('id', cards.map((c) => c.cardId)).andWhere({ state: 'ENCODED' }).select('id')).map((r) => Number(r.id)));
          targets = [...refs, ...cards.filter((c) => live.has(c.cardId)).map((c) => String(c.cardId))];
        }
        const results = [];
        for (const ref of targets) {
          results.push(await markCard(db, ref, o.printed ? { printed: true } : { misprinted: o.misprinted! }, { actor: actor(), ...(o.job ? { jobId: o.job } : {}) }));
        }
        if (o.json) printJson({ marked: results.length, results });
        else for (const r of results) printLine(`card ${r.cardId}: ${r.from} -> ${r.to}${r.reason ? ` (${r.reason}); order re-queued as card ${r.replacementCardId}` : ''}`);
      }),
    );

  print
    .command('jobs')
    .description('list print jobs (newest first)')
    .option('--batch <id>', 'only this batch', intArg('--batch', 1))
    .option('--json', 'JSON output')
    .action(async (o: { batch?: number; json?: boolean }) =>
      run(!!o.json, async (ctx) => {
        const jobs = await listPrintJobs(await ctx.db(), o.batch !== undefined ? { batchId: o.batch } : {});
        if (o.json) return printJson(jobs);
        printLine(table([['JOB', 'BATCH', 'STATE', 'CARDS', 'PAGES', 'TRUNC', 'STARTED', 'OUTPUT'], ...jobs.map((j) => [j.id, j.batchId, j.state, j.cards, j.pages, j.truncatedFields, j.startedAt, j.outputPath])]));
      }),
    );

  print
    .command('template')
    .description('validate a card template and lay it out with the longest synthetic names; reports fitting (shrink/wrap/truncate)')
    .argument('[file]', 'template JSON', DEFAULT_TEMPLATE)
    .option('--samples <n>', 'synthetic records to try', intArg('--samples', 1, 100_000), 2000)
    .option('--json', 'JSON output')
    .action(async (file: string, o: { samples: number; json?: boolean }) =>
      run(!!o.json, async () => {
        const { template, baseDir } = await loadTemplateFile(file);
        const m = templateMeasurer(template, baseDir);
        const rules: Record<string, number> = { fit: 0, shrink: 0, wrap: 0, truncate: 0 };
        const truncatedStatic: string[] = [];
        const { staticLayers, fitText } = await import('../print/index.ts');
        for (const side of ['front', 'back'] as const) {
          staticLayers(template, side, m);
          template[side].elements.forEach((e, i) => {
            if (e.type !== 'text') return;
            const text = e.case === 'upper' ? e.text.toLocaleUpperCase('en') : e.text;
            if (fitText(text, e.w, e.h, e, m).truncated) truncatedStatic.push(`${side}.elements.${i}`);
          });
        }
        let cards = 0;
        const dates = documentDates('2026-01-15');
        for (const r of generateRecords({ count: o.samples, seed: 'template-check', nonApprovedRate: 0 })) {
          const v = validateRecord(r, { today: new Date('2025-07-01') });
          if (!v.ok) continue;
          const { photo, ...rec } = v.record;
          const face = faceData({ cardId: ++cards, documentNumber: 'KA0000001', record: rec, photo, dates, issuingState: template.issuingState, documentCode: template.documentCode, seal: Uint8Array.of(0xdc) });
          for (const side of ['front', 'back'] as const) for (const f of cardSide(template, side, face, m).fits) rules[f.truncated ? 'truncate' : f.rule]!++;
        }
        const rep = { template: template.id, valid: true, cards, fields: rules, truncatedStaticTexts: truncatedStatic };
        if (o.json) printJson(rep);
        else {
          printLine(`template ${template.id}: valid; ${cards} synthetic cards laid out`);
          printLine(table(Object.entries(rules).map(([k, v]) => [`  ${k}`, v])));
          if (truncatedStatic.length) printLine(`static texts truncated: ${truncatedStatic.join(', ')}`);
        }
        return truncatedStatic.length ? 1 : undefined;
      }),
    );
}
