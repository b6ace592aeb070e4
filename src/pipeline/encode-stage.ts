/**
 * The encode stage: PREPARED -> ENCODED on a reader of the pool (src/encoders), or SPOILED with a replacement card
 * when the blank is ruined. Also takes ENCODING cards: a card left in ENCODING by a worker that stopped after its
 * claim (no run of this process behind it) is spoiled with ENCODE_INTERRUPTED and its order re-queued, without a
 * reader.
 *
 * A duplicate job can meet a card another process is still encoding (Redis lost its jobs, a lock expired under
 * load): while the card's open encode run is younger than `claimStaleMs` the job fails with the retryable
 * ENCODE_CLAIM_ACTIVE and comes back later; the claim then either finished (skipped) or is stale (interrupted).
 *
 * Outcomes: 'done' (ENCODED), 'spoiled' (blank spoiled: typed CardSpoiledError in the log, never retried),
 * 'skipped' (the card was elsewhere already). Errors thrown are those that left the card untouched: retryable
 * (no fresh blank within `blankWaitMs`, unreadable or already-recorded blank rejected) or not (no blank stock,
 * Document Signer unavailable, no chip image).
 */
import type { Knex } from 'knex';
import { type EncodeDeps, type EncodeResult, type ReaderPool, encodeCard, isEncoding, recoverInterrupted, registerEncoder } from '../encoders/index.ts';
import { type Stage, stageSpec } from './stages.ts';
import { KadiError } from '../shared/index.ts';

export interface EncodeStageOptions {
  pool: ReaderPool;
  deps: EncodeDeps;
  /** How long a job waits for a reader with a fresh blank, ms. Default 30 000 (then a retryable ENCODE_NO_BLANK). */
  blankWaitMs?: number;
  /** Jobs at once. Default: one per reader. */
  concurrency?: number;
  /**
   * A card left ENCODING by another process counts as interrupted once its open encode run is this old, ms
   * (default 20 000: well beyond one card's encode, within the retry window of the job).
   */
  claimStaleMs?: number;
  /** Called with every result (logging, progress). */
  onResult?: (r: EncodeResult, reader: string) => void;
  /** Closes the pool (and whatever the caller opened) when the stage closes. */
  onClose?: () => Promise<void>;
}

export function encodeStage(o: EncodeStageOptions): Stage {
  const db: Knex = o.deps.db;
  const ids = new Map<string, number>();
  const encoderId = async (name: string): Promise<number> => {
    let id = ids.get(name);
    if (id === undefined) {
      id = await registerEncoder(db, name);
      ids.set(name, id);
    }
    return id;
  };
  const staleMs = o.claimStaleMs ?? 20_000;
  return {
    ...stageSpec('encode'),
    concurrency: o.concurrency ?? o.pool.encoders.length,
    async run(cardId) {
      const row = await db('cards').where({ id: cardId }).first('state');
      const state = row ? String(row.state) : undefined;
      if (state === 'ENCODING') {
        if (isEncoding(cardId)) return 'skipped';
        // Another process may be encoding it right now (this job is a duplicate: Redis lost its jobs, or a lock
        // expired under load). Its open run is recent: try again later; once it is stale the claimer is gone.
        const open = await db('encode_runs').where({ card_id: cardId, outcome: 'RUNNING' }).max({ at: 'started_at' }).first();
        const age = open?.at ? Date.now() - Date.parse(String(open.at)) : Infinity;
        if (age < staleMs) {
          throw new KadiError('ENCODE_CLAIM_ACTIVE', `card ${cardId} was claimed by an encoder ${Math.round(age / 1000)} s ago and may still be in it`, {
            retryable: true,
            hint: `Retried until the claim is ${staleMs / 1000} s old; then the blank is spoiled as interrupted and the order re-queued.`,
          });
        }
        const res = await recoverInterrupted(db, cardId, o.deps.actor, o.deps.maxAttempts !== undefined ? { maxAttempts: o.deps.maxAttempts } : {});
        return res ? 'spoiled' : 'skipped';
      }
      if (state !== 'PREPARED') return 'skipped';
      const enc = await o.pool.acquire({ timeoutMs: o.blankWaitMs ?? 30_000 });
      let fresh = false;
      try {
        const r = await encodeCard(o.deps, { name: enc.name, id: await encoderId(enc.name), channel: enc.channel }, cardId);
        o.onResult?.(r, enc.name);
        if (r.outcome === 'ENCODED') return 'done';
        if (r.outcome === 'SPOILED' || r.outcome === 'LOST') return 'spoiled';
        fresh = r.runId === undefined; // skipped before any claim: the blank is still a blank
        return 'skipped';
      } finally {
        o.pool.release(enc, { fresh });
      }
    },
    async close() {
      await o.pool.close();
      await o.onClose?.();
    },
  };
}
