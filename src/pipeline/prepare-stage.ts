/** The prepare stage as a pipeline stage (ORDERED -> PREPARED; see src/prepare). */
import type { Knex } from 'knex';
import { prepareCard, type PrepareOptions } from '../prepare/index.ts';
import { type Stage, stageSpec } from './stages.ts';

export function prepareStage(db: Knex, opts: PrepareOptions, concurrency = 4): Stage {
  return {
    ...stageSpec('prepare'),
    concurrency,
    async run(cardId) {
      return (await prepareCard(db, cardId, opts)) === 'PREPARED' ? 'done' : 'skipped';
    },
  };
}
