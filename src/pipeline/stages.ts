/**
 * A pipeline stage works on one card: it moves the card from one of its `accepts` states forward, or finds it
 * already done (another worker or an earlier run got there) and skips. Stages are composed here and only here.
 *
 * Errors: a stage throws a KadiError. `retryable` errors (database busy, HSM session lost) are retried with
 * backoff; every other error is unrecoverable for this job and is never retried — a chip rejection must not
 * burn a second blank. A stage that ruins a blank handles it itself (card SPOILED, replacement ordered) and
 * returns 'spoiled'.
 */
import type { CardState } from '../cards/index.ts';

export const STAGE_NAMES = ['prepare', 'encode', 'print', 'qc', 'pack'] as const;
export type StageName = (typeof STAGE_NAMES)[number];

export type StageOutcome = 'done' | 'skipped' | 'spoiled';

/** What a flow needs to know of a stage: its name and the card states in which it has work to do. */
export interface StageSpec {
  name: StageName;
  /** Card states in which this stage has work to do. */
  accepts: readonly CardState[];
}

/**
 * The production pipeline, in order. Batch flows are built from this list whatever this process can run itself:
 * each stage's jobs wait in its queue for a worker that runs that role (on this machine or another).
 */
export const PIPELINE: readonly StageSpec[] = [
  { name: 'prepare', accepts: ['ORDERED'] },
  // ENCODING: a card left claimed by an encoder that stopped (recovered as spoiled, see encode-stage.ts)
  { name: 'encode', accepts: ['PREPARED', 'ENCODING'] },
  { name: 'print', accepts: ['ENCODED'] },
  { name: 'qc', accepts: ['PRINTED'] },
  { name: 'pack', accepts: ['QC_PASSED'] },
];

/** The pipeline's spec of stage `name`. */
export function stageSpec(name: StageName): StageSpec {
  return PIPELINE.find((s) => s.name === name)!;
}

export interface Stage extends StageSpec {
  /** Jobs processed at once by one worker process (readers for encode). */
  concurrency: number;
  run(cardId: number): Promise<StageOutcome>;
  /** Releases what the stage holds (readers, HSM sessions); called on shutdown. */
  close?(): Promise<void>;
}

/** The card's next stage in a pipeline made of `stages` (in order), or undefined when none is left. */
export function nextStageFor(state: CardState, stages: readonly StageSpec[] = PIPELINE): StageName | undefined {
  return stages.find((s) => s.accepts.includes(state))?.name;
}
