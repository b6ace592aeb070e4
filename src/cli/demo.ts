/**
 * `kadi demo`: the end-to-end run on the embedded defaults, growing as stages land. Today: seed a synthetic
 * registry, intake, status, audit verification; writes `summary.json` (counts per state and timings) to the
 * output folder. Re-running appends a new slice of synthetic records (the seed is derived from the registry
 * size), so the data directory stays consistent.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { verifyAudit } from '../audit/index.ts';
import { statusReport } from '../cards/index.ts';
import { runIntake } from '../intake/index.ts';
import { seedRegistry } from '../registry/index.ts';
import { KadiError } from '../shared/index.ts';
import type { Context } from './context.ts';
import { printLine, progress, table } from './output.ts';

export interface DemoOptions {
  count: number;
  invalidRate: number;
  out?: string;
  actor: string;
  json: boolean;
}

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
  const { ensureRegistrySchema } = await import('../registry/index.ts');
  await ensureRegistrySchema(registry);
  const existing = Number((await registry('enrolments').count({ n: '*' }))[0]?.n ?? 0);

  say(`1/3 seeding ${o.count} synthetic enrolment records (invalid rate ${o.invalidRate})`);
  let bar = progress(o.json);
  bar.start(o.count, 'seed  ');
  const seeded = await step('seedMs', () =>
    seedRegistry(registry, { count: o.count, seed: `demo-${existing}`, invalidRate: o.invalidRate, onProgress: (d: number) => bar.update(d) }),
  );
  bar.stop();

  say('2/3 intake: approved records -> card orders');
  bar = progress(o.json);
  bar.start(0, 'intake');
  const intake = await step('intakeMs', () =>
    runIntake({ db, registry, actor: o.actor, minAge: ctx.config.minAge, onProgress: (d, t) => bar.update(d, t) }),
  );
  bar.stop();
  say(`    ordered ${intake.ordered}, rejected ${intake.rejected}, duplicates ${intake.duplicates}`);

  say('3/3 verifying the audit chain');
  const audit = await step('auditVerifyMs', () => verifyAudit(db));
  if (!audit.ok) {
    throw new KadiError('AUDIT_CHAIN_BROKEN', `audit chain broken at entry ${audit.firstBad?.seq}`, { hint: 'Run `kadi audit verify`.' });
  }
  const status = await statusReport(db);
  const summary = {
    orders: status.totals.orders,
    states: status.cards,
    spoiled: status.totals.spoiled,
    batches: [] as unknown[],
    intake: { ...intake },
    registry: { seededNow: seeded, totalRecords: existing + o.count },
    audit: { entries: audit.entries, ok: audit.ok },
    timings,
    generatedAt: new Date().toISOString(),
  };
  writeFileSync(path.join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  if (!o.json) {
    printLine('');
    printLine(table(Object.entries(status.cards).filter(([, v]) => v > 0).map(([k, v]) => [`  ${k}`, v])));
    printLine(`\nwrote ${path.join(out, 'summary.json')}`);
    printLine('next: `npx kadi status`, `npx kadi audit verify`');
  }
  return summary;
}
