/**
 * A production batch as a BullMQ flow. Each card gets a chain of the stages it still needs, nested so that BullMQ
 * runs them in order (a parent runs when its child completed): for a card in ORDERED with stages
 * prepare -> encode -> print -> qc -> pack the tree is
 *
 *   batch:<id>:<run>  (queue batch)
 *     pack:<card>:<run>  <- qc:<card>:<run>  <- print:<card>:<run>  <- encode:<card>:<run>  <- prepare:<card>:<run>
 *
 * Job ids are derived from card and batch ids plus the batch's run number (incremented each time the flow is
 * submitted: first run, a re-run after failures, or recovery after Redis lost its data), so a resubmission never
 * collides with jobs kept from an earlier run. Payloads hold ids only.
 *
 * Inner chain jobs fail their parent when they fail for good (`failParentOnFailure`), and the top of each card's
 * chain is ignored by the batch job on failure (`ignoreDependencyOnFailure`), so one bad card never blocks the
 * batch: the batch job still runs, counts states in the database and reports the card as needing attention.
 */
import type { Knex } from 'knex';
import { FlowProducer, Queue, type FlowJob, type FlowJobNode, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { getBatch, setBatchState } from '../batches/index.ts';
import type { CardState } from '../cards/index.ts';
import { NotFoundError, StateError } from '../shared/index.ts';
import { QUEUE_PREFIX } from './redis.ts';
import type { StageName, StageSpec } from './stages.ts';

export const BATCH_QUEUE = 'batch';

/** Retries for retryable errors: 5 attempts, exponential backoff from 2 s. */
export const JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { age: 24 * 3600, count: 50_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export function stageJobId(stage: StageName, cardId: number, run: number): string {
  return `${stage}:${cardId}:${run}`;
}
export function batchJobId(batchId: number, run: number): string {
  return `batch:${batchId}:${run}`;
}

/** The stages a card in `state` still needs, in order (empty when the card is done or dead). */
export function remainingStages(state: CardState, stages: readonly StageSpec[]): StageName[] {
  const i = stages.findIndex((s) => s.accepts.includes(state));
  return i < 0 ? [] : stages.slice(i).map((s) => s.name);
}

function cardChain(cardId: number, names: StageName[], run: number): FlowJobNode {
  // Build from the first stage (innermost child) outwards.
  let node: FlowJobNode | undefined;
  for (const name of names) {
    const job: FlowJobNode = {
      name,
      queueName: name,
      data: { cardId },
      opts: { ...JOB_OPTIONS, jobId: stageJobId(name, cardId, run), failParentOnFailure: true },
      ...(node ? { children: [node] } : {}),
    } as FlowJobNode;
    node = job;
  }
  node!.opts = { ...node!.opts, failParentOnFailure: false, ignoreDependencyOnFailure: true };
  return node!;
}

export interface SubmitResult {
  batchId: number;
  run: number;
  cards: number;
  jobs: number;
}

/**
 * Submits (or resubmits) a batch's flow: every card of the batch that still has stages to go gets its chain.
 * Marks the batch RUNNING. Safe to call again after a crash or Redis data loss: the database decides what is
 * left, and the new run number keeps job ids unique.
 */
export async function submitBatch(
  db: Knex,
  connection: Redis,
  stages: readonly StageSpec[],
  batchId: number,
  actor: string,
  prefix: string = QUEUE_PREFIX,
): Promise<SubmitResult> {
  const b = await getBatch(db, batchId);
  if (b.state === 'COMPLETED' || b.state === 'CANCELLED') {
    throw new StateError('BATCH_NOT_RUNNABLE', `batch ${batchId} is ${b.state}`, { hint: 'Create a new batch for remaining cards.' });
  }
  if (b.state === 'CREATED') await setBatchState(db, batchId, 'CREATED', 'RUNNING', actor);
  await db('batches').where({ id: batchId }).increment('runs', 1);
  const run = Number((await db('batches').where({ id: batchId }).first('runs')).runs);

  const cards: Array<{ id: number; state: CardState }> = await db('cards').where({ batch_id: batchId }).orderBy('id').select('id', 'state');
  const children: FlowJobNode[] = [];
  let jobs = 1;
  for (const c of cards) {
    const names = remainingStages(c.state, stages);
    if (names.length === 0) continue;
    children.push(cardChain(Number(c.id), names, run));
    jobs += names.length;
  }
  const flow: FlowJob = {
    name: 'batch',
    queueName: BATCH_QUEUE,
    data: { batchId, run },
    opts: { ...JOB_OPTIONS, jobId: batchJobId(batchId, run) },
    children,
  };
  const producer = new FlowProducer({ connection, prefix });
  try {
    await producer.add(flow);
  } finally {
    await producer.close();
  }
  return { batchId, run, cards: children.length, jobs };
}

/** Whether the batch's current run still has its jobs in Redis (false after Redis lost its data). */
export async function batchFlowPresent(db: Knex, connection: Redis, batchId: number, prefix: string = QUEUE_PREFIX): Promise<boolean> {
  const row = await db('batches').where({ id: batchId }).first('runs');
  if (!row) throw new NotFoundError('BATCH_NOT_FOUND', `batch ${batchId} does not exist`);
  const q = new Queue(BATCH_QUEUE, { connection, prefix });
  try {
    const job = await q.getJob(batchJobId(batchId, Number(row.runs)));
    return job !== undefined && job !== null;
  } finally {
    await q.close();
  }
}
