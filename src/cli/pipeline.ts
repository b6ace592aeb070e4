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
  PIPELINE,
  checkRedis,
  startMetricsServer,
  WorkerMetrics,
} from '../pipeline/index.ts';
import type { SlotSpec } from '../../applets/index.ts';
import type { Pkcs11Hsm } from '../hsm/index.ts';
import { buildEncodeStage } from './encode.ts';
import type { Context } from './context.ts';
import type { WithContext } from './run.ts';
import { createLogger } from './log.ts';
import { openHsm } from './keys.ts';
import { DEFAULT_TEMPLATE } from './print.ts';
import { printJson, printLine, progress } from './output.ts';


/** Virtual hardware for the encode and qc stages (src/pipeline virtual-bureau). */
export interface VirtualCardsOptions {
  /** Encoder slots: how many (the first free ones) or which (indices into the pcscd slot list). Default 4. */
  encoders?: number | readonly number[];
  /** QC reader slots: how many (after the encoders) or which. Default 1. */
  qcReaders?: number | readonly number[];
  faults?: VirtualBureauOptions['faults'];
  log?: (msg: string) => void;
}

export interface BuildStagesOptions {
  /** The stages to build (default: all five). */
  roles?: readonly StageName[];
  /** Jobs at once per stage (encode: one per reader regardless). */
  concurrency?: number;
  /** Runs encode and qc on Kadi's virtual cards in the local pcscd slots (in this process). */
  virtualCards?: VirtualCardsOptions;
  /** Encoder reader names without virtual cards (default: every reader pcscd offers). */
  readers?: string[];
  /** Where per-card print files go (default $KADI_HOME/print). */
  printDir?: string;
}

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

/** Picks reader slots: `want` is a count (taken from `free` in order) or explicit indices. */
function pickSlots(all: readonly SlotSpec[], free: SlotSpec[], want: number | readonly number[], what: string): SlotSpec[] {
  if (typeof want === 'number') {
    if (free.length < want) {
      throw new KadiError('PIPELINE_NOT_ENOUGH_READERS', `${want} ${what} need ${want} free reader slots; ${free.length} left of ${all.length}`, {
        hint: 'Use fewer --encoders/--qc-readers, or start pcscd with more readers (KADI_READERS).',
      });
    }
    return free.splice(0, want);
  }
  return want.map((i) => {
    const k = free.findIndex((s) => s.index === i);
    if (k < 0) {
      throw new KadiError('PIPELINE_READER_SLOT', `reader slot ${i} for ${what} does not exist or is taken twice (slots 0-${all.length - 1})`, {
        hint: 'Reader slots are numbered from 0 in $KADI_HOME/pcsc/readers (KADI_READERS sets how many pcscd offers).',
      });
    }
    return free.splice(k, 1)[0]!;
  });
}

/**
 * Builds the stages of `roles` that this process runs, in pipeline order. prepare, print and pack need the
 * database (print: also the HSM for seals); encode needs encoder readers and the card master key in the HSM; qc
 * needs QC readers — on a real line a card handler, which Kadi drives only as virtual cards (`virtualCards`);
 * at a manual QC station `kadi qc chip` is used instead. Flows are planned with PIPELINE, not with this list.
 */
export async function buildStages(ctx: Context, db: Knex, actor: string, opts: BuildStagesOptions = {}): Promise<BuiltStages> {
  const roles = new Set<StageName>(opts.roles ?? STAGE_NAMES);
  const stages: BuiltStages = [];
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  };
  try {
    let hsm: Pkcs11Hsm | undefined;
    const useHsm = (sessions: number): Pkcs11Hsm => {
      if (!hsm) {
        const h = openHsm(ctx.config, { sessions });
        hsm = h;
        closers.push(() => h.close());
      }
      return hsm;
    };
    const v = opts.virtualCards;
    let qcCount = 0;
    if (v && (roles.has('encode') || roles.has('qc'))) {
      const pcsc = localPcsc(ctx);
      const slots = pcsc.slots.filter((s) => s.name);
      const free = [...slots];
      const enc = roles.has('encode') ? pickSlots(slots, free, v.encoders ?? 4, 'encoders') : [];
      const qc = roles.has('qc') ? pickSlots(slots, free, v.qcReaders ?? 1, 'QC readers') : [];
      qcCount = qc.length;
      const h = useHsm(enc.length + 3);
      const keyFile = path.resolve(process.env.KADI_CARD_MASTER_KEY_FILE ?? path.join(ctx.config.home, 'secrets', 'card-master-key'));
      const bureau = await openVirtualBureau({
        db,
        hsm: h,
        ...(process.env.KADI_CARD_MASTER_LABEL ? { masterKeyLabel: process.env.KADI_CARD_MASTER_LABEL } : {}),
        masterKey: readCardMasterKeyFile(keyFile),
        storeDir: path.join(ctx.config.home, 'cards'),
        encoderSlots: enc,
        qcSlots: qc,
        encodeActor: `${actor}:encode`,
        ...(v.faults ? { faults: v.faults } : {}),
        ...(v.log ? { log: v.log } : {}),
      });
      closers.push(() => bureau.close());
      stages.bureau = bureau;
    }
    const b = stages.bureau;
    for (const name of STAGE_NAMES) {
      if (!roles.has(name)) continue;
      switch (name) {
        case 'prepare':
          stages.push(
            prepareStage(
              db,
              { actor, issuingState: ctx.config.issuingState, issuingAuthority: 'REGISTRAR OF PERSONS KENYA', validityYears: 10, personalisationSystem: 'KADI' },
              opts.concurrency ?? 4,
            ),
          );
          break;
        case 'encode':
          if (b?.pool) stages.push(encodeStage({ pool: b.pool, deps: b.deps }));
          else {
            const st = await buildEncodeStage(ctx, db, `${actor}:encode`, opts.readers ? { readers: opts.readers } : {});
            const { close, ...rest } = st;
            if (close) closers.push(close);
            stages.push(rest);
          }
          break;
        case 'print': {
          const { template, baseDir } = await loadTemplateFile(DEFAULT_TEMPLATE);
          const sealSession = await sealSigningSession({ db, keyStore: useHsm(3) });
          const printDir = opts.printDir ?? path.join(ctx.config.home, 'print');
          stages.push(printStage({ db, template, baseDir, outDir: printDir, sealSession, actor: `${actor}:print`, concurrency: opts.concurrency ?? 2 }));
          break;
        }
        case 'qc':
          if (!b) {
            throw new KadiError('PIPELINE_QC_NEEDS_HANDLER', 'the qc role reads chips from QC readers, which Kadi drives only as virtual cards', {
              hint: 'Use --virtual-cards, or check cards at a QC station with `kadi qc chip --reader NAME`.',
            });
          }
          stages.push(qcStage({ db, actor: `${actor}:qc`, reader: b.qcReader, face: 'print-job', concurrency: qcCount, issuingState: ctx.config.issuingState }));
          break;
        case 'pack':
          stages.push(packStage({ db, actor: `${actor}:pack`, capacity: ctx.config.boxCapacity }));
          break;
      }
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  // everything opened here closes once, after the last stage
  if (stages.length > 0) stages[stages.length - 1]!.close = closeAll;
  return stages;
}

/** Roles `kadi workers start` runs without --virtual-cards: those needing no card hardware. */
const DEFAULT_HW_ROLES: Array<StageName | 'batch'> = ['prepare', 'print', 'pack', 'batch'];

function slotsArg(v: string): number[] {
  if (!/^\d+(,\d+)*$/.test(v)) throw new InvalidArgumentError('give reader slot indices, e.g. 0,1');
  return v.split(',').map(Number);
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
        await checkRedis(ctx.config.redisUrl);
        const conn = redisConnection(ctx.config.redisUrl);
        try {
          const r = await submitBatch(db, conn, PIPELINE, Number(id), actor());
          if (!o.json) printLine(`batch ${r.batchId} run ${r.run}: ${r.cards} cards queued (${r.jobs} jobs)`);
          if (o.wait) {
            const bar = progress(!!o.json);
            const total = (await getBatch(db, r.batchId)).size;
            bar.start(total, `batch ${r.batchId}`);
            for (;;) {
              const b = await getBatch(db, r.batchId);
              const states: Array<{ state: CardState }> = await db('cards').where({ batch_id: r.batchId }).select('state');
              bar.update(states.filter((c) => remainingStages(c.state, PIPELINE).length === 0).length);
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
    .option('--role <roles>', `comma list of ${STAGE_NAMES.join(', ')}, batch, or all (default: all with --virtual-cards, else ${DEFAULT_HW_ROLES.join(',')})`, rolesArg)
    .option('--concurrency <n>', 'jobs at once per stage (encode: one per reader)', (v) => Number(v))
    .option('--stalled-interval <ms>', 'stalled-job check interval, the same for every worker', (v) => Number(v), 10_000)
    .option('--lock-duration <ms>', 'job lock lifetime: a killed worker\'s card is taken up again after it (default max(30000, 2 x stalled interval))', (v) => Number(v))
    .option('--recovery-interval <ms>', 'how often to look for running batches whose jobs Redis lost (0: never)', (v) => Number(v), 15_000)
    .option('--readers <names>', 'encode role on real PC/SC readers: comma list of reader names (default: every reader)', (v) => v.split(',').map((x) => x.trim()).filter(Boolean))
    .option('--virtual-cards', 'run encode and qc on Kadi virtual cards in the local pcscd slots (demo, development, tests)')
    .option('--encoders <k>', 'with --virtual-cards: encoder slots kept loaded with blanks (the first free slots)', (v) => Number(v), 4)
    .option('--qc-readers <q>', 'with --virtual-cards: QC reader slots (the next free slots)', (v) => Number(v), 1)
    .option('--encoder-slots <list>', 'with --virtual-cards: exactly these reader slots as encoders, e.g. 0,1 (several worker processes on one machine)', slotsArg)
    .option('--qc-slots <list>', 'with --virtual-cards: exactly these reader slots for QC, e.g. 4', slotsArg)
    .option('--metrics-port <port>', 'serve this process\'s Prometheus metrics on http://127.0.0.1:PORT/metrics (default: off; 0: any free port, logged)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError('--metrics-port must be an integer from 0 to 65535');
      return n;
    })
    .action(async (o: { role?: Array<StageName | 'batch'>; concurrency?: number; stalledInterval: number; recoveryInterval: number; lockDuration?: number; readers?: string[]; virtualCards?: boolean; encoders: number; qcReaders: number; encoderSlots?: number[]; qcSlots?: number[]; metricsPort?: number }) =>
      withContext(false, async (ctx, defer) => {
        const log = createLogger(ctx.config.logLevel, 'kadi-workers');
        // Metrics first: a taken port fails before any hardware is opened, and reader pools are followed as built.
        const metrics = o.metricsPort === undefined ? undefined : new WorkerMetrics();
        if (metrics) {
          metrics.followReaderPools();
          defer(() => metrics.close());
          const server = await startMetricsServer({ metrics, port: o.metricsPort! });
          defer(() => server.close());
          log.info({ url: `http://${server.host}:${server.port}/metrics` }, 'metrics served');
        }
        const db = await ctx.db();
        const roles = o.role ?? (o.virtualCards ? [...STAGE_NAMES, 'batch'] : DEFAULT_HW_ROLES);
        const stages = await buildStages(ctx, db, actor(), {
          roles: roles.filter((r): r is StageName => r !== 'batch'),
          ...(o.concurrency ? { concurrency: o.concurrency } : {}),
          ...(o.readers ? { readers: o.readers } : {}),
          ...(o.virtualCards ? { virtualCards: { encoders: o.encoderSlots ?? o.encoders, qcReaders: o.qcSlots ?? o.qcReaders, log: (m: string) => log.warn({}, m) } } : {}),
        });
        const pool = await startWorkers({
          db,
          connection: () => redisConnection(ctx.config.redisUrl),
          stages,
          pipeline: PIPELINE,
          roles,
          stalledIntervalMs: o.stalledInterval,
          ...(o.lockDuration ? { lockDurationMs: o.lockDuration } : {}),
          recoveryIntervalMs: o.recoveryInterval,
          log,
          ...(metrics ? { onJobStart: metrics.jobStarted, onJob: metrics.jobFinished } : {}),
        });
        for (const r of roles) metrics?.declareStage(r, r === 'batch' ? 1 : stages.find((s) => s.name === r)?.concurrency);
        log.info({ roles, pid: process.pid }, 'workers started');
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
