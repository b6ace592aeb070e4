/**
 * Pipeline workers: one BullMQ Worker per stage queue (plus the batch queue), in this process.
 *
 * - All workers share one `stalledInterval` (DESIGN.md §4); a job whose worker died is picked up again after it,
 *   and the stage finds the card's true state in the database (compare-and-set) before doing anything.
 * - A stage that loses a compare-and-set race (CARD_STATE_CONFLICT: a duplicate job after a crash or Redis loss
 *   got there first) ends as 'skipped', so the card's chain goes on from its true state.
 * - Retryable errors (KadiError.retryable) are thrown as-is: BullMQ retries them with backoff (JOB_OPTIONS).
 *   Everything else becomes an UnrecoverableError: never retried, so a chip rejection never burns a second blank.
 * - Graceful shutdown (`close()`, wired to SIGINT/SIGTERM by the CLI) lets the card in flight finish.
 * - A recovery loop resubmits RUNNING batches whose flow is gone from Redis (e.g. Redis restarted without
 *   persistence): the database is the truth, Redis only carries work. One process at a time does it (a Redis
 *   lock with expiry).
 */
import os from 'node:os';
import type { Knex } from 'knex';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { getBatch, setBatchState } from '../batches/index.ts';
import { isKadiError } from '../shared/index.ts';
import { BATCH_QUEUE, batchFlowPresent, remainingStages, submitBatch } from './flow.ts';
import { QUEUE_PREFIX } from './redis.ts';
import type { Stage, StageName, StageOutcome, StageSpec } from './stages.ts';

export interface WorkerLogger {
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
  error(obj: Record<string, unknown>, msg?: string): void;
}

export interface StartWorkersOptions {
  db: Knex;
  /** A connection factory: BullMQ needs its own blocking connection per worker. */
  connection: () => Redis;
  /** The stages this process can run (built for its roles). */
  stages: readonly Stage[];
  /** The full ordered pipeline, to decide what a batch still needs (default: `stages`; the CLI uses PIPELINE). */
  pipeline?: readonly StageSpec[];
  /** Which stages this process works on; 'batch' is the batch-completion queue. */
  roles: ReadonlyArray<StageName | 'batch'>;
  /** Stalled-job check interval in ms (same for every worker; default 10000). */
  stalledIntervalMs?: number;
  /**
   * How long a job's lock lasts without renewal (the worker renews it every half period while alive); a killed
   * worker's job is taken up again after it expires and the next stalled check. Default max(30 s, 2 x stalled).
   */
  lockDurationMs?: number;
  /** Recovery loop period in ms (0 disables; default 15000). */
  recoveryIntervalMs?: number;
  actor?: string;
  /** Redis key prefix of the queues (default `kadi`; one per installation, or per test). */
  prefix?: string;
  log: WorkerLogger;
  /** Called when a job starts (jobs in flight). */
  onJobStart?: (e: { stage: StageName | 'batch'; cardId?: number }) => void;
  /**
   * Called after each job (metrics, progress). `code` is the stable error code of a failed job (e.g.
   * ENCODE_CARD_REMOVED; INTERNAL for an error that is not a KadiError): use it, never `error`, as a metric label.
   */
  onJob?: (e: { stage: StageName | 'batch'; cardId?: number; outcome: StageOutcome | 'failed' | 'completed'; ms: number; error?: string; code?: string }) => void;
}

export interface WorkerPool {
  close(): Promise<void>;
  /** Runs one recovery pass now (also used by tests). */
  recover(): Promise<number>;
}

function toJobError(e: unknown): Error {
  if (isKadiError(e) && e.retryable) return e;
  const code = isKadiError(e) ? e.code : 'INTERNAL';
  const msg = e instanceof Error ? e.message : String(e);
  return new UnrecoverableError(`${code}: ${msg}`);
}

export async function startWorkers(o: StartWorkersOptions): Promise<WorkerPool> {
  const stalledInterval = o.stalledIntervalMs ?? 10_000;
  const prefix = o.prefix ?? QUEUE_PREFIX;
  const actor = o.actor ?? `worker@${os.hostname()}:${process.pid}`;
  const pipeline = o.pipeline ?? o.stages;
  for (const r of o.roles) {
    if (r !== 'batch' && !o.stages.some((s) => s.name === r)) throw new RangeError(`role ${r} has no stage built in this process`);
  }
  const workers: Worker[] = [];
  const connections: Redis[] = [];
  const conn = () => {
    const c = o.connection();
    connections.push(c);
    return c;
  };
  const common = { prefix, stalledInterval, maxStalledCount: 5, lockDuration: o.lockDurationMs ?? Math.max(30_000, stalledInterval * 2) };

  for (const stage of o.stages) {
    if (!o.roles.includes(stage.name)) continue;
    const w = new Worker(
      stage.name,
      async (job: Job<{ cardId: number }>) => {
        const t0 = performance.now();
        const cardId = Number(job.data.cardId);
        o.onJobStart?.({ stage: stage.name, cardId });
        try {
          const outcome = await stage.run(cardId);
          o.onJob?.({ stage: stage.name, cardId, outcome, ms: performance.now() - t0 });
          return { outcome };
        } catch (e) {
          if (isKadiError(e) && e.code === 'CARD_STATE_CONFLICT') {
            // another worker moved the card first (a duplicate job after a crash or Redis loss): the database has
            // the card's true state, and the chain's next stage starts from it
            o.onJob?.({ stage: stage.name, cardId, outcome: 'skipped', ms: performance.now() - t0 });
            o.log.info({ stage: stage.name, cardId, jobId: job.id }, 'card moved by another worker: skipped');
            return { outcome: 'skipped' };
          }
          const err = toJobError(e);
          const code = isKadiError(e) ? e.code : 'INTERNAL';
          o.onJob?.({ stage: stage.name, cardId, outcome: 'failed', ms: performance.now() - t0, error: err.message, code });
          o.log.warn({ stage: stage.name, cardId, jobId: job.id, code, error: err.message, retryable: !(err instanceof UnrecoverableError) }, 'stage failed');
          throw err;
        }
      },
      { ...common, connection: conn(), concurrency: stage.concurrency },
    );
    w.on('error', (e) => o.log.error({ stage: stage.name, error: e.message }, 'worker error'));
    workers.push(w);
  }

  if (o.roles.includes('batch')) {
    const w = new Worker(
      BATCH_QUEUE,
      async (job: Job<{ batchId: number; run: number }>) => {
        const t0 = performance.now();
        const { batchId } = job.data;
        o.onJobStart?.({ stage: 'batch' });
        const cards: Array<{ state: string }> = await o.db('cards').where({ batch_id: batchId }).select('state');
        const pending = cards.filter((c) => remainingStages(c.state as never, pipeline).length > 0).length;
        const b = await getBatch(o.db, batchId);
        if (pending === 0 && b.state === 'RUNNING') await setBatchState(o.db, batchId, 'RUNNING', 'COMPLETED', actor);
        o.onJob?.({ stage: 'batch', outcome: 'completed', ms: performance.now() - t0 });
        o.log.info({ batchId, pending, cards: b.cards }, pending === 0 ? 'batch completed' : 'batch run finished with cards needing attention');
        return { pending, cards: b.cards };
      },
      { ...common, connection: conn(), concurrency: 1 },
    );
    w.on('error', (e) => o.log.error({ stage: 'batch', error: e.message }, 'worker error'));
    workers.push(w);
  }

  const lockConn = conn();
  // BullMQ reports its own connections' errors through the workers; this one is logged here (once per outage)
  let lockConnDown = false;
  lockConn.on('error', (e: Error) => {
    if (!lockConnDown) o.log.warn({ error: e.message }, 'redis connection lost (recovery loop)');
    lockConnDown = true;
  });
  lockConn.on('ready', () => (lockConnDown = false));
  const recover = async (): Promise<number> => {
    const token = `${actor}:${Date.now()}`;
    const got = await lockConn.set(`${prefix}:recovery-lock`, token, 'PX', 60_000, 'NX');
    if (got !== 'OK') return 0;
    let resubmitted = 0;
    try {
      const running = await o.db('batches').where({ state: 'RUNNING' }).select('id');
      for (const r of running) {
        const id = Number(r.id);
        if (await batchFlowPresent(o.db, lockConn, id, prefix)) continue;
        const s = await submitBatch(o.db, lockConn, pipeline, id, actor, prefix);
        resubmitted++;
        o.log.warn({ batchId: id, run: s.run, cards: s.cards }, 'batch flow missing from Redis: resubmitted from the database');
      }
    } finally {
      if ((await lockConn.get(`${prefix}:recovery-lock`)) === token) await lockConn.del(`${prefix}:recovery-lock`);
    }
    return resubmitted;
  };

  const period = o.recoveryIntervalMs ?? 15_000;
  let timer: NodeJS.Timeout | undefined;
  if (period > 0) {
    const tick = () => {
      recover()
        .catch((e) => o.log.warn({ error: (e as Error).message }, 'recovery pass failed'))
        .finally(() => {
          if (timer !== undefined) timer = setTimeout(tick, period);
        });
    };
    timer = setTimeout(tick, 1000);
  }

  return {
    recover,
    async close() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      await Promise.all(workers.map((w) => w.close()));
      for (const s of o.stages) await s.close?.();
      for (const c of connections) c.disconnect();
    },
  };
}
