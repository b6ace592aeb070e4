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

export interface Stage {
  name: StageName;
  /** Card states in which this stage has work to do. */
  accepts: readonly CardState[];
  /** Jobs processed at once by one worker process (readers for encode). */
  concurrency: number;
  run(cardId: number): Promise<StageOutcome>;
  /** Releases what the stage holds (readers, HSM sessions); called on shutdown. */
  close?(): Promise<void>;
}

/** The card's next stage in a pipeline made of `stages` (in order), or undefined when none is left. */
export function nextStageFor(state: CardState, stages: readonly Pick<Stage, 'name' | 'accepts'>[]): StageName | undefined {
  return stages.find((s) => s.accepts.includes(state))?.name;
}
