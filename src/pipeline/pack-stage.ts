/**
 * The pack stage: QC_PASSED -> PACKED with src/dispatch's packing (packCards: the centre's open box with room, or a
 * new one; dispatch's lock order centre, box, cards, audit head). Dispatch has no per-card entry point, so the job
 * of one card packs the QC_PASSED cards of its batch and centre (normally just this card; cards packed here by a
 * neighbour's job are then skipped by their own job). Full boxes are sealed as they fill; the last partly filled
 * box stays OPEN for the next cards (`kadi dispatch pack --seal-partial` / shipping closes it).
 */
import type { Knex } from 'knex';
import { packCards } from '../dispatch/index.ts';
import { type Stage, stageSpec } from './stages.ts';

export interface PackStageOptions {
  db: Knex;
  actor: string;
  /** Cards per new box (dispatch default 200). */
  capacity?: number;
  concurrency?: number;
}

export function packStage(o: PackStageOptions): Stage {
  return {
    ...stageSpec('pack'),
    concurrency: o.concurrency ?? 1,
    async run(cardId) {
      const c = await o.db('cards').where({ id: cardId }).first('state', 'batch_id', 'centre_code');
      if (!c || c.state !== 'QC_PASSED') return 'skipped';
      let packedHere = false;
      await packCards(o.db, {
        actor: o.actor,
        centre: String(c.centre_code),
        ...(c.batch_id === null || c.batch_id === undefined ? {} : { batchId: Number(c.batch_id) }),
        ...(o.capacity ? { capacity: o.capacity } : {}),
        summaries: false,
        onPacked: (ids) => {
          if (ids.includes(cardId)) packedHere = true;
        },
      });
      if (packedHere) return 'done';
      // not packed by this run: a neighbour's job may have packed it meanwhile
      const after = await o.db('cards').where({ id: cardId }).first('state');
      return after?.state === 'PACKED' ? 'done' : 'skipped';
    },
  };
}
