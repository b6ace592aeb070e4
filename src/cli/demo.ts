/**
 * `kadi demo`: the end-to-end run on the embedded defaults, growing as stages land. Today: seed a synthetic
 * registry, key ceremony (first run only), intake, one production batch through the BullMQ pipeline (workers
 * in this process), audit verification; writes the CSCA certificate and `summary.json` (counts per state,
 * batches, timings) to the output folder. Re-running appends a new slice of synthetic records (the seed is
 * derived from the registry size), so the data directory stays consistent.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { verifyAudit } from '../audit/index.ts';
import { createBatch, getBatch } from '../batches/index.ts';
import { statusReport } from '../cards/index.ts';
import { runIntake } from '../intake/index.ts';
import { ceremony, exportCsca, listKeys } from '../keys/index.ts';
import { redisConnection, remainingStages, startWorkers, submitBatch } from '../pipeline/index.ts';
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
}

const STEPS = 6;

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
  writeFileSync(path.join(out, 'csca.pem'), (await exportCsca({ db, actor: o.actor })).pem);

  say(`3/${STEPS} intake: approved records -> card orders`);
  bar = progress(o.json);
  bar.start(0, 'intake');
  const intake = await step('intakeMs', () =>
    runIntake({ db, registry, actor: o.actor, minAge: ctx.config.minAge, onProgress: (d, t) => bar.update(d, t) }),
  );
  bar.stop();
  say(`    ordered ${intake.ordered}, rejected ${intake.rejected}, duplicates ${intake.duplicates}`);

  say(`4/${STEPS} production batch through the pipeline`);
  const batch = await createBatch(db, { size: Math.max(1, intake.ordered), actor: o.actor });
  const stages = await buildStages(ctx, db, o.actor);
  const conn = redisConnection(ctx.config.redisUrl);
  const log = createLogger(ctx.config.logLevel === 'info' ? 'warn' : ctx.config.logLevel, 'kadi-demo');
  const pool = await startWorkers({ db, connection: () => redisConnection(ctx.config.redisUrl), stages, roles: [...stages.map((s) => s.name), 'batch'], log, recoveryIntervalMs: 0 });
  try {
    await step('pipelineMs', async () => {
      await submitBatch(db, conn, stages, batch.id, o.actor);
      bar = progress(o.json);
      bar.start(batch.size, `batch ${batch.id}`);
      for (;;) {
        const states: Array<{ state: never }> = await db('cards').where({ batch_id: batch.id }).select('state');
        bar.update(states.filter((c) => remainingStages(c.state, stages).length === 0).length);
        if ((await getBatch(db, batch.id)).state === 'COMPLETED') break;
        await new Promise((r) => setTimeout(r, 250));
      }
      bar.stop();
    });
  } finally {
    await pool.close();
    conn.disconnect();
  }

  say(`5/${STEPS} verifying the audit chain`);
  const audit = await step('auditVerifyMs', () => verifyAudit(db));
  if (!audit.ok) {
    throw new KadiError('AUDIT_CHAIN_BROKEN', `audit chain broken at entry ${audit.firstBad?.seq}`, { hint: 'Run `kadi audit verify`.' });
  }

  say(`6/${STEPS} writing the summary`);
  const status = await statusReport(db);
  const summary = {
    orders: status.totals.orders,
    states: status.cards,
    spoiled: status.totals.spoiled,
    batches: [await getBatch(db, batch.id)],
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
    printLine('next: `npx kadi status`, `npx kadi audit verify`, `npx kadi keys list`');
  }
  return summary;
}
