/**
 * `kadi batch run` and `kadi workers start`: the BullMQ pipeline from the command line. The stages are built here
 * (an entry point) from the configuration; src/pipeline composes them.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { Knex } from 'knex';
import type { CardState } from '../cards/index.ts';
import { getBatch } from '../batches/index.ts';
import {
  prepareStage,
  remainingStages,
  redisConnection,
  startWorkers,
  STAGE_NAMES,
  submitBatch,
  type Stage,
  type StageName,
} from '../pipeline/index.ts';
import type { Context } from './context.ts';
import type { WithContext } from './run.ts';
import { createLogger } from './log.ts';
import { printJson, printLine, progress } from './output.ts';


/** The stages this installation runs, in order. Grows as stages land (encode, print, qc, pack). */
export async function buildStages(ctx: Context, db: Knex, actor: string, concurrency?: number): Promise<Stage[]> {
  return [
    prepareStage(
      db,
      {
        actor,
        issuingState: ctx.config.issuingState,
        issuingAuthority: 'REGISTRAR OF PERSONS KENYA',
        validityYears: 10,
        personalisationSystem: 'KADI',
      },
      concurrency ?? 4,
    ),
  ];
}

function rolesArg(v: string): Array<StageName | 'batch'> {
  const parts = v.split(',').map((s) => s.trim());
  if (parts.includes('all')) return [...STAGE_NAMES, 'batch'];
  for (const p of parts) {
    if (!(STAGE_NAMES as readonly string[]).includes(p) && p !== 'batch') {
      throw new InvalidArgumentError(`role must be one of ${STAGE_NAMES.join(', ')}, batch or all`);
    }
  }
  return parts as Array<StageName | 'batch'>;
}

export function registerPipelineCommands(program: Command, withContext: WithContext, actor: () => string): void {
  const batch = program.commands.find((c) => c.name() === 'batch') ?? program.command('batch');
  batch
    .command('run')
    .description('submit a batch to the pipeline (workers do the work); resumes from the database when re-run')
    .argument('<id>', 'batch id')
    .option('--wait', 'wait until the batch completes, showing progress')
    .option('--json', 'JSON output')
    .action(async (id: string, o: { wait?: boolean; json?: boolean }) =>
      withContext(!!o.json, async (ctx) => {
        const db = await ctx.db();
        const conn = redisConnection(ctx.config.redisUrl);
        try {
          const stages = await buildStages(ctx, db, actor());
          const r = await submitBatch(db, conn, stages, Number(id), actor());
          if (!o.json) printLine(`batch ${r.batchId} run ${r.run}: ${r.cards} cards queued (${r.jobs} jobs)`);
          if (o.wait) {
            const bar = progress(!!o.json);
            const total = (await getBatch(db, r.batchId)).size;
            bar.start(total, `batch ${r.batchId}`);
            for (;;) {
              const b = await getBatch(db, r.batchId);
              const states: Array<{ state: CardState }> = await db('cards').where({ batch_id: r.batchId }).select('state');
              bar.update(states.filter((c) => remainingStages(c.state, stages).length === 0).length);
              if (b.state === 'COMPLETED') break;
              await new Promise((res) => setTimeout(res, 500));
            }
            bar.stop();
          }
          if (o.json) printJson({ ...r, batch: await getBatch(db, r.batchId) });
        } finally {
          conn.disconnect();
        }
      }),
    );

  const workers = program.command('workers').description('pipeline worker processes');
  workers
    .command('start')
    .description('run pipeline workers in this process until SIGINT/SIGTERM (finishes the card in flight)')
    .option('--role <roles>', `comma list of ${STAGE_NAMES.join(', ')}, batch, or all`, rolesArg, [...STAGE_NAMES, 'batch'])
    .option('--concurrency <n>', 'jobs at once per stage (encode: one per reader)', (v) => Number(v))
    .option('--stalled-interval <ms>', 'stalled-job check interval, the same for every worker', (v) => Number(v), 10_000)
    .action(async (o: { role: Array<StageName | 'batch'>; concurrency?: number; stalledInterval: number }) =>
      withContext(false, async (ctx) => {
        const log = createLogger(ctx.config.logLevel, 'kadi-workers');
        const db = await ctx.db();
        const stages = await buildStages(ctx, db, actor(), o.concurrency);
        const pool = await startWorkers({
          db,
          connection: () => redisConnection(ctx.config.redisUrl),
          stages,
          roles: o.role,
          stalledIntervalMs: o.stalledInterval,
          log,
        });
        log.info({ roles: o.role, stages: stages.map((s) => s.name) }, 'workers started');
        await new Promise<void>((resolve) => {
          const stop = (sig: string) => {
            log.info({ signal: sig }, 'stopping: finishing jobs in flight');
            pool.close().then(resolve, resolve);
          };
          process.once('SIGINT', () => stop('SIGINT'));
          process.once('SIGTERM', () => stop('SIGTERM'));
        });
        log.info({}, 'workers stopped');
      }),
    );
}
