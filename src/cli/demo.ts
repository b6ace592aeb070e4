/**
 * `kadi demo`: the end-to-end run on the embedded defaults, growing as stages land. Today: seed a synthetic
 * registry, key ceremony (first run only), intake, one production batch through the BullMQ pipeline (workers
 * in this process), audit verification; writes the CSCA certificate and `summary.json` (counts per state,
 * batches, timings) to the output folder. Re-running appends a new slice of synthetic records (the seed is
 * derived from the registry size), so the data directory stays consistent.
 */
import { createWriteStream, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { verifyAudit } from '../audit/index.ts';
import { createBatch, getBatch } from '../batches/index.ts';
import { statusReport } from '../cards/index.ts';
import { runIntake } from '../intake/index.ts';
import { ceremony, exportCsca, listKeys } from '../keys/index.ts';
import { checkRedis, redisConnection, remainingStages, startWorkers, submitBatch } from '../pipeline/index.ts';
import { receiveBlankLot, reconcile, shipBoxes, writeManifests } from '../dispatch/index.ts';
import { CardPdfWriter, activeSealSigner, batchCards, createSealSigner, faceOf, getBatch as printBatchInfo, loadTemplateFile } from '../print/index.ts';
import { qcReport, writeQcReportPdf } from '../qc/index.ts';
import { DEFAULT_TEMPLATE } from './print.ts';
import { ensureRegistrySchema, seedRegistry } from '../registry/index.ts';
import { KadiError } from '../shared/index.ts';
import type { Context } from './context.ts';
import { DEFAULT_DEFINITION, loadDefinition, openHsm } from './keys.ts';
import { createLogger } from './log.ts';
import { printLine, progress, table } from './output.ts';
import { buildStages } from './pipeline.ts';

export interface DemoOptions {
  count: number;
  invalidRate: number;
  out?: string;
  actor: string;
  json: boolean;
  /** Virtual encoders (default 4). */
  encoders?: number;
}

const STEPS = 9;

export async function runDemo(ctx: Context, o: DemoOptions): Promise<Record<string, unknown>> {
  const out = path.resolve(o.out ?? path.join(ctx.config.home, 'demo'));
  mkdirSync(out, { recursive: true });
  const timings: Record<string, number> = {};
  const step = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    timings[name] = Math.round(performance.now() - t0);
    return r;
  };
  const say = (s: string) => (o.json ? process.stderr.write(`${s}\n`) : printLine(s));

  await checkRedis(ctx.config.redisUrl); // before any work: the pipeline step needs it
  const registry = ctx.registryDb();
  const db = await ctx.db();
  await ensureRegistrySchema(registry);
  const existing = Number((await registry('enrolments').count({ n: '*' }))[0]?.n ?? 0);

  say(`1/${STEPS} seeding ${o.count} synthetic enrolment records (invalid rate ${o.invalidRate})`);
  let bar = progress(o.json);
  bar.start(o.count, 'seed  ');
  const seeded = await step('seedMs', () =>
    seedRegistry(registry, { count: o.count, seed: `demo-${existing}`, invalidRate: o.invalidRate, onProgress: (d: number) => bar.update(d) }),
  );
  bar.stop();

  say(`2/${STEPS} key ceremony: CSCA and Document Signer in the HSM`);
  const hasCsca = (await listKeys(db)).some((k) => k.kind === 'CSCA' && k.status === 'ACTIVE');
  if (!hasCsca) {
    const hsm = openHsm(ctx.config);
    try {
      await step('keyCeremonyMs', () => ceremony({ db, keyStore: hsm, actor: o.actor }, loadDefinition(DEFAULT_DEFINITION)));
    } finally {
      hsm.close();
    }
  } else say('    keys exist already: skipped');
  if (!(await activeSealSigner(db))) {
    const hsm = openHsm(ctx.config);
    try {
      await step('sealSignerMs', () => createSealSigner({ db, keyStore: hsm, actor: o.actor }));
    } finally {
      await hsm.close();
    }
  }
  writeFileSync(path.join(out, 'csca.pem'), (await exportCsca({ db, actor: o.actor })).pem);

  say(`3/${STEPS} intake: approved records -> card orders`);
  bar = progress(o.json);
  bar.start(0, 'intake');
  const intake = await step('intakeMs', () =>
    runIntake({ db, registry, actor: o.actor, minAge: ctx.config.minAge, onProgress: (d, t) => bar.update(d, t) }),
  );
  bar.stop();
  say(`    ordered ${intake.ordered}, rejected ${intake.rejected}, duplicates ${intake.duplicates}`);

  say(`4/${STEPS} receiving blank card stock`);
  const lot = `DEMO-${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`;
  await receiveBlankLot(db, { lot, quantity: Math.max(10, Math.ceil(intake.ordered * 1.2) + 10), supplier: 'Kadi Virtual Cards', chipType: 'Kadi virtual eID', actor: o.actor });

  const encoders = o.encoders ?? 4;
  say(`5/${STEPS} production on ${encoders} virtual encoders: prepare, encode, print, QC, pack (2 injected faults)`);
  const bureauLog: string[] = [];
  const stages = await buildStages(ctx, db, o.actor, {
    virtualCards: { encoders, qcReaders: Math.min(2, Math.max(1, encoders >> 1)), faults: { pullMidWrite: 1, unlockedChips: 1 }, log: (m) => bureauLog.push(m) },
    printDir: path.join(out, 'print'),
  });
  const conn = redisConnection(ctx.config.redisUrl);
  const log = createLogger(ctx.config.logLevel === 'info' ? 'warn' : ctx.config.logLevel, 'kadi-demo');
  const pool = await startWorkers({ db, connection: () => redisConnection(ctx.config.redisUrl), stages, roles: [...stages.map((s) => s.name), 'batch'], log, recoveryIntervalMs: 0 });
  const batchIds: number[] = [];
  try {
    // the first batch, then the replacements of spoiled cards, until every order has its card (at most 4 rounds)
    for (let round = 1; round <= 4; round++) {
      const waiting = Number((await db('cards').where({ state: 'ORDERED' }).whereNull('batch_id').count({ n: '*' }))[0]?.n ?? 0);
      if (waiting === 0) break;
      const batch = await createBatch(db, { size: waiting, actor: o.actor });
      batchIds.push(batch.id);
      await step(`pipelineBatch${batch.id}Ms`, async () => {
        await submitBatch(db, conn, stages, batch.id, o.actor);
        bar = progress(o.json);
        bar.start(batch.size, round === 1 ? `batch ${batch.id}` : `batch ${batch.id} (replacements)`);
        for (;;) {
          const states: Array<{ state: never }> = await db('cards').where({ batch_id: batch.id }).select('state');
          bar.update(states.filter((c) => remainingStages(c.state, stages).length === 0).length);
          if ((await getBatch(db, batch.id)).state === 'COMPLETED') break;
          await new Promise((r) => setTimeout(r, 250));
        }
        bar.stop();
      });
    }
  } finally {
    await pool.close();
    conn.disconnect();
  }
  for (const m of bureauLog) say(`    ${m}`);

  say(`6/${STEPS} batch PDFs and QC reports`);
  const { template, baseDir } = await loadTemplateFile(DEFAULT_TEMPLATE);
  await step('reportsMs', async () => {
    for (const id of batchIds) {
      const info = await printBatchInfo(db, id);
      const file = path.join(out, `batch-${id}.pdf`);
      const stream = createWriteStream(`${file}.part`);
      const done = new Promise<void>((res, rej) => (stream.once('close', res), stream.once('error', rej)));
      const w = new CardPdfWriter({ template, baseDir, out: stream, title: `Kadi batch ${id} - card faces` });
      for await (const page of batchCards(db, id, { states: ['PRINTED', 'QC_PASSED', 'PACKED', 'DISPATCHED'] })) {
        for (const row of page) {
          w.addCard(faceOf(template, row, info.dates));
          await w.drain();
        }
      }
      await w.finish();
      await done;
      renameSync(`${file}.part`, file);
      await writeQcReportPdf(await qcReport(db, id), path.join(out, `qc-report-${id}.pdf`));
    }
  });

  say(`7/${STEPS} shipping packed boxes; manifests`);
  const shipped = await step('shipMs', () => shipBoxes(db, { actor: o.actor }));
  for (const sh of shipped.shipments) await writeManifests(db, { shipment: sh.id, outDir: out, formats: ['pdf', 'csv'] });
  say(`    ${shipped.shipments.length} shipment(s), ${shipped.boxesDispatched} box(es), ${shipped.cardsDispatched} cards`);
  const rec = await step('reconcileMs', () => reconcile(db));
  writeFileSync(path.join(out, 'reconciliation.json'), `${JSON.stringify(rec, null, 2)}\n`);
  say(`    reconciliation ${rec.ok ? 'balances' : `has ${rec.differences.length} difference(s)`}`);

  say(`8/${STEPS} verifying the audit chain`);
  const audit = await step('auditVerifyMs', () => verifyAudit(db));
  if (!audit.ok) {
    throw new KadiError('AUDIT_CHAIN_BROKEN', `audit chain broken at entry ${audit.firstBad?.seq}`, { hint: 'Run `kadi audit verify`.' });
  }

  say(`9/${STEPS} writing the summary`);
  const status = await statusReport(db);
  const summary = {
    orders: status.totals.orders,
    states: status.cards,
    spoiled: status.totals.spoiled,
    batches: await Promise.all(batchIds.map((id) => getBatch(db, id))),
    shipments: shipped.shipments.map((sh) => sh.code),
    reconciliation: { ok: rec.ok, differences: rec.differences.length },
    intake: { ...intake },
    registry: { seededNow: seeded, totalRecords: existing + o.count },
    stages: stages.map((s) => s.name),
    audit: { entries: audit.entries, ok: audit.ok },
    timings,
    generatedAt: new Date().toISOString(),
  };
  writeFileSync(path.join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  if (!o.json) {
    printLine('');
    printLine(table(Object.entries(status.cards).filter(([, v]) => v > 0).map(([k, v]) => [`  ${k}`, v])));
    printLine(`\nwrote ${path.join(out, 'summary.json')} and ${path.join(out, 'csca.pem')}`);
    printLine('next: `npx kadi status`, `npx kadi reconcile`, `npx kadi audit verify`');
    printLine('console: `npx kadi serve` -> http://127.0.0.1:8420/console/');
  }
  return summary;
}
