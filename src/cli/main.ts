/**
 * The `kadi` command line. Each command: parse options, build what it needs from the validated configuration
 * (Context), do the work through the domain modules, print human text or `--json`, close everything in finally.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { verifyAudit } from '../audit/index.ts';
import { CARD_STATES, statusReport, type StatusReport } from '../cards/index.ts';
import { OPTIONS } from '../config/index.ts';
import { migrateLatest, migrationStatus } from '../db/index.ts';
import { runIntake } from '../intake/index.ts';
import { seedRegistry } from '../registry/index.ts';
import { KadiError } from '../shared/index.ts';
import { Context } from './context.ts';
import { registerBatchCommands } from './batch.ts';
import { registerCardsCommands } from './cards.ts';
import { registerDispatchCommands } from './dispatch.ts';
import { registerEncodeCommand } from './encode.ts';
import { registerPrintCommands } from './print.ts';
import { registerQcCommands } from './qc.ts';
import { registerSealCommands } from './seal.ts';
import { registerServeCommand } from './serve.ts';
import { registerUserCommands } from './users.ts';
import { registerMrzCommand } from './mrz.ts';
import { registerPipelineCommands } from './pipeline.ts';
import { registerKeysCommands } from './keys.ts';
import { registerSodCommands } from './sod.ts';
import { printJson, printLine, progress, table } from './output.ts';
import { withContext } from './run.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function intArg(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

function rateArg(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('must be a number from 0 to 1');
  return n;
}

function intervalArg(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0.5 || n > 3600) throw new InvalidArgumentError('--interval must be a number of seconds from 0.5 to 3600');
  return n;
}

/** Right-aligned columns after a left-aligned first one (the table() helper left-aligns text headers). */
function columns(rows: Array<Array<string | number>>): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, String(c).length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** `kadi status` as text: counts per state, orders, intake, and the throughput table. */
function renderStatus(r: StatusReport): string {
  const out: string[] = [];
  out.push('Cards by state', table(CARD_STATES.map((s) => [`  ${s}`, r.cards[s]])));
  out.push('Orders by status', table(Object.entries(r.orders).map(([k, v]) => [`  ${k}`, v])));
  out.push('Intake outcomes', table(Object.entries(r.intake).map(([k, v]) => [`  ${k}`, v])));
  const t = r.throughput;
  out.push(`Throughput: cards reaching each state (at ${t.at}${t.truncated ? '; lower bounds, the window is larger than what was read' : ''})`);
  out.push(
    columns([
      ['  state', 'last 1 min', 'last 5 min', 'last 15 min', 'per hour'],
      ...Object.entries(t.states).map(([s, v]) => [`  ${s}`, v.last1m, v.last5m, v.last15m, v.perHour]),
    ]),
  );
  return out.join('\n');
}

function defaultActor(): string {
  return process.env.KADI_ACTOR ?? `${os.userInfo().username}@cli`;
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('kadi')
    .description('Kadi: smart-card personalization and issuance pipeline for national e-ID programmes')
    .version('0.1.0')
    .showHelpAfterError()
    // Usage errors exit 2, Kadi errors 1 (set by withContext), bugs 70. Inherited by every subcommand.
    .exitOverride((err) => {
      process.exit(err.exitCode === 0 ? 0 : 2);
    })
    .option('--actor <name>', 'who is acting (recorded in the audit log)', defaultActor());

  const actor = (): string => program.opts().actor as string;

  // ---- config
  const config = program.command('config').description('show or document the configuration');
  config
    .command('show')
    .description('print the effective configuration (PINs are never shown)')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) =>
      withContext(!!o.json, async (ctx) => {
        const c = { ...ctx.config, hsmPin: ctx.config.hsmPin ? '(set)' : '(unset)' };
        if (o.json) printJson(c);
        else for (const [k, v] of Object.entries(c)) printLine(`${k.padEnd(14)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
      }),
    );
  config
    .command('doc')
    .description('print the configuration options as a Markdown table')
    .action(() => {
      printLine('| Variable | Meaning | Default |');
      printLine('|---|---|---|');
      for (const o of OPTIONS) printLine(`| \`${o.env}\` | ${o.description} | \`${o.default}\` |`);
    });

  // ---- db
  const db = program.command('db').description('database schema');
  db.command('migrate')
    .description('bring the Kadi database schema up to date')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) =>
      withContext(!!o.json, async (ctx) => {
        const { openDb } = await import('../db/index.ts');
        const k = openDb(ctx.config.dbUrl);
        try {
          const applied = await migrateLatest(k);
          const st = await migrationStatus(k);
          if (o.json) printJson({ appliedNow: applied, ...st });
          else printLine(applied.length ? `applied: ${applied.join(', ')}` : `up to date (${st.applied.length} migrations)`);
        } finally {
          await k.destroy();
        }
      }),
    );

  // ---- registry
  const registry = program.command('registry').description('the source registry of approved enrolment records');
  registry
    .command('seed')
    .description('create synthetic approved enrolment records (a Kenyan-style roll-out) in KADI_REGISTRY_URL')
    .requiredOption('--count <n>', 'number of records', intArg('--count', 1, 50_000_000))
    .option('--seed <s>', 'random seed (same seed, same records)', 'kadi')
    .option('--invalid-rate <r>', 'share of deliberately bad records, 0..1', rateArg, 0)
    .option('--json', 'JSON output')
    .action(async (o: { count: number; seed: string; invalidRate: number; json?: boolean }) =>
      withContext(!!o.json, async (ctx) => {
        const bar = progress(!!o.json);
        bar.start(o.count, 'seeding');
        const res = await seedRegistry(ctx.registryDb(), {
          count: o.count,
          seed: o.seed,
          invalidRate: o.invalidRate,
          onProgress: (done: number) => bar.update(done),
        });
        bar.stop();
        if (o.json) printJson(res);
        else printLine(`seeded ${o.count} records into the registry (${JSON.stringify(res)})`);
      }),
    );

  // ---- intake
  program
    .command('intake')
    .description('create card orders from approved registry records not yet taken in')
    .option('--limit <n>', 'process at most N new records', intArg('--limit', 1))
    .option('--json', 'JSON output: {"ordered","rejected","duplicates",...}')
    .action(async (o: { limit?: number; json?: boolean }) =>
      withContext(!!o.json, async (ctx) => {
        const bar = progress(!!o.json);
        bar.start(0, 'intake');
        const res = await runIntake({
          db: await ctx.db(),
          registry: ctx.registryDb(),
          actor: actor(),
          minAge: ctx.config.minAge,
          ...(o.limit ? { limit: o.limit } : {}),
          onProgress: (done, total) => bar.update(done, total),
        });
        bar.stop();
        if (o.json) printJson(res);
        else {
          printLine(`ordered ${res.ordered}, rejected ${res.rejected}, duplicates ${res.duplicates}, already processed ${res.alreadyProcessed} (registry: ${res.approvedInRegistry} approved)`);
          if (Object.keys(res.reasons).length) printLine(table(Object.entries(res.reasons).map(([k, v]) => [`  ${k}`, v])));
        }
      }),
    );

  // ---- audit
  const audit = program.command('audit').description('the hash-chained audit log');
  audit
    .command('verify')
    .description('check the whole audit chain; exits non-zero and names the first bad entry')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) =>
      withContext(!!o.json, async (ctx) => {
        const bar = progress(!!o.json);
        bar.start(0, 'verifying');
        const r = await verifyAudit(await ctx.db(), (d, t) => bar.update(d, t));
        bar.stop();
        if (o.json) printJson(r);
        else if (r.ok) printLine(`audit log OK: ${r.entries} entries, chain intact`);
        else printLine(`audit log BROKEN at entry ${r.firstBad!.seq}: ${r.firstBad!.problem}`);
        if (!r.ok) {
          process.stderr.write(`error AUDIT_CHAIN_BROKEN: first bad entry seq ${r.firstBad!.seq} (${r.firstBad!.problem})\n  Treat the database as tampered with; restore from backup and investigate.\n`);
          return 3;
        }
      }),
    );

  // ---- status
  program
    .command('status')
    .description('cards per state, orders per status, intake outcomes and live throughput (cards reaching each state)')
    .option('--json', 'JSON output (with --watch: one JSON document per line, every interval)')
    .option('--watch', 'redraw every --interval seconds until Ctrl-C (on a terminal; otherwise one report per interval)')
    .option('--interval <s>', 'with --watch: seconds between reports, 0.5 to 3600', intervalArg, 2)
    .action(async (o: { json?: boolean; watch?: boolean; interval: number }) =>
      withContext(!!o.json, async (ctx) => {
        const db = await ctx.db();
        if (!o.watch) {
          const r = await statusReport(db);
          if (o.json) printJson(r);
          else printLine(renderStatus(r));
          return;
        }
        const tty = !o.json && !!process.stdout.isTTY;
        let stop: () => void = () => {};
        const stopped = new Promise<void>((resolve) => (stop = resolve));
        let running = true;
        const onSignal = (): void => {
          running = false;
          stop();
        };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          while (running) {
            const r = await statusReport(db);
            if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
            // On a terminal: clear the screen and redraw in place; elsewhere plain lines, one report after another.
            else if (tty) process.stdout.write(`\x1b[H\x1b[2J${renderStatus(r)}\n\nevery ${o.interval} s, Ctrl-C to stop\n`);
            else printLine(`${renderStatus(r)}\n`);
            let timer: NodeJS.Timeout | undefined;
            await Promise.race([stopped, new Promise<void>((res) => (timer = setTimeout(res, o.interval * 1000)))]);
            clearTimeout(timer);
          }
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }),
    );

  // ---- demo
  program
    .command('demo')
    .description('run the end-to-end demo on the embedded defaults (see README)')
    .option('--count <n>', 'synthetic records to seed', intArg('--count', 1, 1_000_000), 200)
    .option('--invalid-rate <r>', 'share of deliberately bad records', rateArg, 0.05)
    .option('--out <dir>', 'output folder (default $KADI_HOME/demo)')
    .option('--encoders <k>', 'virtual encoders', intArg('--encoders', 1, 14), 4)
    .option('--json', 'print summary.json on stdout')
    .action(async (o: { count: number; invalidRate: number; out?: string; json?: boolean; encoders: number }) =>
      withContext(!!o.json, async (ctx) => {
        const { runDemo } = await import('./demo.ts');
        const summary = await runDemo(ctx, { ...o, json: !!o.json, actor: actor() });
        if (o.json) printJson(summary);
      }),
    );

  registerMrzCommand(program);
  registerBatchCommands(program, withContext, actor);
  registerPipelineCommands(program, withContext, actor);
  registerCardsCommands(program);
  registerEncodeCommand(program, withContext, actor);
  registerDispatchCommands(program, actor);
  registerPrintCommands(program, actor);
  registerSealCommands(program, actor);
  registerQcCommands(program, withContext, actor);
  registerServeCommand(program, withContext);
  registerUserCommands(program, withContext, actor);

  // ---- services
  program
    .command('services')
    .description('start, stop or check the local services (redis, postgres, pcscd, softhsm, all)')
    .argument('<action>', 'start | stop | status')
    .argument('[service]', 'redis | postgres | pcscd | softhsm | all', 'all')
    .action(async (action: string, service: string) =>
      withContext(false, async (ctx) => {
        if (!['start', 'stop', 'status'].includes(action)) {
          throw new KadiError('CLI_USAGE', `unknown action ${action}`, { hint: 'Use start, stop or status.' });
        }
        const r = spawnSync('bash', [path.join(ROOT, 'scripts/services.sh'), action, service], {
          stdio: 'inherit',
          env: { ...process.env, KADI_HOME: ctx.config.home, KADI_READERS: String(ctx.config.readers) },
        });
        return r.status ?? 1;
      }),
    );

  registerKeysCommands(program, () => Context.fromEnv());
  registerSodCommands(program, () => Context.fromEnv());

  return program;
}

export async function main(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
  // Every command has finished its work (long-running ones return only after SIGINT/SIGTERM). Native bindings
  // (pcsclite's monitor thread, PKCS#11) can keep the event loop alive after they are closed, so exit explicitly
  // once stdout and stderr are flushed.
  await new Promise<void>((r) => process.stdout.write('', () => r()));
  await new Promise<void>((r) => process.stderr.write('', () => r()));
  process.exit(process.exitCode ?? 0);
}
