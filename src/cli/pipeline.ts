/**
 * `kadi batch run` and `kadi workers start`: the BullMQ pipeline from the command line. The stages are built here
 * (an entry point) from the configuration; src/pipeline composes them.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { Knex } from 'knex';
import type { CardState } from '../cards/index.ts';
import { getBatch } from '../batches/index.ts';
import path from 'node:path';
import { readPcscEnv, type PcscEnv } from '../../applets/index.ts';
import { loadTemplateFile, sealSigningSession } from '../print/index.ts';
import { KadiError } from '../shared/index.ts';
import {
  encodeStage,
  openVirtualBureau,
  packStage,
  printStage,
  qcStage,
  readCardMasterKeyFile,
  type VirtualBureau,
  type VirtualBureauOptions,
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
import { openHsm } from './keys.ts';
import { DEFAULT_TEMPLATE } from './print.ts';
import { printJson, printLine, progress } from './output.ts';


/** Virtual hardware for the encode and qc stages (src/pipeline virtual-bureau). */
export interface VirtualCardsOptions {
  /** Encoder slots (default 4). */
  encoders?: number;
  /** QC reader slots (default 1). */
  qcReaders?: number;
  faults?: VirtualBureauOptions['faults'];
  /** Where per-card print files go (default $KADI_HOME/print). */
  printDir?: string;
  log?: (msg: string) => void;
}

export interface BuildStagesOptions {
  /** Runs encode, print, qc and pack on Kadi's virtual cards (in this process). */
  virtualCards?: VirtualCardsOptions;
}

/** Stages that need hardware configuration when virtual cards are off. */
export const HARDWARE_STAGES: readonly StageName[] = ['encode', 'print', 'qc', 'pack'];

/** Points libpcsclite at this installation's pcscd (scripts/services.sh) and returns its slots. */
export function localPcsc(ctx: Context): PcscEnv {
  const dir = path.resolve(process.env.KADI_PCSC_DIR || path.join(ctx.config.home, 'pcsc'));
  const env = readPcscEnv(dir);
  process.env.PCSCLITE_CSOCK_NAME ??= env.socket;
  return env;
}

/** The built stages plus what they opened (the virtual bureau, when used). */
export interface BuiltStages extends Array<Stage> {
  bureau?: VirtualBureau;
}

/**
 * The stages this installation runs, in order: prepare; with `virtualCards` also encode, print, qc and pack on
 * the virtual bureau. Without it only prepare runs here: encode needs encoder readers (a reader pool and the
 * card master key in the HSM), print a printer, qc QC readers — see `kadi workers start --virtual-cards`.
 */
export async function buildStages(ctx: Context, db: Knex, actor: string, concurrency?: number, opts: BuildStagesOptions = {}): Promise<BuiltStages> {
  const stages: BuiltStages = [
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
  const v = opts.virtualCards;
  if (!v) return stages;
  const e = v.encoders ?? 4;
  const q = v.qcReaders ?? 1;
  const pcsc = localPcsc(ctx);
  const slots = pcsc.slots.filter((s) => s.name);
  if (slots.length < e + q) {
    throw new KadiError('PIPELINE_NOT_ENOUGH_READERS', `${e} encoders and ${q} QC readers need ${e + q} reader slots; pcscd has ${slots.length}`, {
      hint: 'Use fewer --encoders, or start pcscd with more readers (KADI_READERS).',
    });
  }
  const hsm = openHsm(ctx.config, { sessions: e + 3 });
  let bureau: VirtualBureau | undefined;
  try {
    const keyFile = path.resolve(process.env.KADI_CARD_MASTER_KEY_FILE ?? path.join(ctx.config.home, 'secrets', 'card-master-key'));
    bureau = await openVirtualBureau({
      db,
      hsm,
      masterKey: readCardMasterKeyFile(keyFile),
      storeDir: path.join(ctx.config.home, 'cards'),
      encoderSlots: slots.slice(0, e),
      qcSlots: slots.slice(e, e + q),
      encodeActor: `${actor}:encode`,
      ...(v.faults ? { faults: v.faults } : {}),
      ...(v.log ? { log: v.log } : {}),
    });
    const { template, baseDir } = await loadTemplateFile(DEFAULT_TEMPLATE);
    const sealSession = await sealSigningSession({ db, keyStore: hsm });
    const b = bureau;
    let closed = false;
    const closeAll = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      await b.close();
      await hsm.close();
    };
    stages.push(
      encodeStage({ pool: b.pool, deps: b.deps }),
      printStage({ db, template, baseDir, outDir: v.printDir ?? path.join(ctx.config.home, 'print'), sealSession, actor: `${actor}:print`, concurrency: concurrency ?? 2 }),
      qcStage({ db, actor: `${actor}:qc`, reader: b.qcReader, face: 'print-job', concurrency: q, issuingState: ctx.config.issuingState }),
      packStage({ db, actor: `${actor}:pack` }),
    );
    // the bureau (readers, HSM) closes once, after the last stage that uses it
    const last = stages[stages.length - 1]!;
    last.close = closeAll;
    stages.bureau = b;
    return stages;
  } catch (err) {
    await bureau?.close();
    await hsm.close();
    throw err;
  }
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
    .option('--virtual-cards', 'run encode, print, qc and pack on Kadi virtual cards in the local pcscd slots (demo, development)')
    .option('--encoders <k>', 'with --virtual-cards: encoder slots kept loaded with blanks', (v) => Number(v), 4)
    .option('--qc-readers <q>', 'with --virtual-cards: QC reader slots', (v) => Number(v), 1)
    .action(async (o: { role: Array<StageName | 'batch'>; concurrency?: number; stalledInterval: number; virtualCards?: boolean; encoders: number; qcReaders: number }) =>
      withContext(false, async (ctx) => {
        const log = createLogger(ctx.config.logLevel, 'kadi-workers');
        const db = await ctx.db();
        const stages = await buildStages(ctx, db, actor(), o.concurrency, o.virtualCards ? { virtualCards: { encoders: o.encoders, qcReaders: o.qcReaders, log: (m) => log.warn({}, m) } } : {});
        if (!o.virtualCards) {
          log.warn({ stages: HARDWARE_STAGES }, 'only the prepare stage runs: encode, print, qc and pack need hardware configuration (or --virtual-cards)');
        }
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
