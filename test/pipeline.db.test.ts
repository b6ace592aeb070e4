/** The BullMQ pipeline against real Redis: batch flows, workers, recovery after Redis loses its data. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { verifyAudit } from '../src/audit/index.ts';
import { createBatch, getBatch } from '../src/batches/index.ts';
import { openDb } from '../src/db/index.ts';
import { runIntake } from '../src/intake/index.ts';
import { prepareStage, redisConnection, remainingStages, startWorkers, submitBatch, type Stage } from '../src/pipeline/index.ts';
import { ensureRegistrySchema, seedRegistry } from '../src/registry/index.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { testServices } from './support/env.ts';

let t: TestDatabase;
let registry: Knex;
const silent = { info() {}, warn() {}, error() {} };
const prepOpts = { actor: 'worker:prepare', issuingState: 'KEN', issuingAuthority: 'REGISTRAR OF PERSONS KENYA', validityYears: 10, personalisationSystem: 'KADI-TEST' };

beforeAll(async () => {
  t = await createTestDatabase();
  registry = openDb(await t.makeUrl('registry'));
  await ensureRegistrySchema(registry);
  await seedRegistry(registry, { count: 60, seed: 'pipeline-test', invalidRate: 0 });
  await runIntake({ db: t.db, registry, actor: 'test' });
});
afterAll(async () => {
  await registry?.destroy();
  await t?.close();
});

async function waitFor(cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition not met in time');
}

describe('pipeline', () => {
  it('computes the remaining stages from the card state', () => {
    const stages: Array<Pick<Stage, 'name' | 'accepts'>> = [{ name: 'prepare', accepts: ['ORDERED'] }, { name: 'encode', accepts: ['PREPARED'] }];
    expect(remainingStages('ORDERED', stages)).toEqual(['prepare', 'encode']);
    expect(remainingStages('PREPARED', stages)).toEqual(['encode']);
    expect(remainingStages('SPOILED', stages)).toEqual([]);
  });

  it('runs a batch flow through the workers to completion', async () => {
    const prefix = `kt${randomBytes(4).toString('hex')}`;
    const url = testServices().redisUrl;
    const stages = [prepareStage(t.db, prepOpts, 2)];
    const b = await createBatch(t.db, { size: 25, actor: 'op' });
    const conn = redisConnection(url);
    const pool = await startWorkers({ db: t.db, connection: () => redisConnection(url), stages, roles: ['prepare', 'batch'], prefix, log: silent, recoveryIntervalMs: 0, stalledIntervalMs: 5000 });
    try {
      const s = await submitBatch(t.db, conn, stages, b.id, 'op', prefix);
      expect(s).toMatchObject({ cards: 25, jobs: 26, run: 1 });
      await waitFor(async () => (await getBatch(t.db, b.id)).state === 'COMPLETED');
      expect((await getBatch(t.db, b.id)).cards).toEqual({ PREPARED: 25 });
    } finally {
      await pool.close();
      conn.disconnect();
    }
  });

  it('resubmits a running batch from the database after Redis lost its jobs', async () => {
    const prefix = `kt${randomBytes(4).toString('hex')}`;
    const url = testServices().redisUrl;
    const stages = [prepareStage(t.db, prepOpts, 2)];
    const b = await createBatch(t.db, { size: 20, actor: 'op' });
    const conn = redisConnection(url);
    try {
      await submitBatch(t.db, conn, stages, b.id, 'op', prefix);
      // Redis forgets everything of this installation (as a restart without persistence would).
      const keys = await conn.keys(`${prefix}:*`);
      if (keys.length) await conn.del(...keys);
      const pool = await startWorkers({ db: t.db, connection: () => redisConnection(url), stages, roles: ['prepare', 'batch'], prefix, log: silent, recoveryIntervalMs: 0, stalledIntervalMs: 5000 });
      try {
        expect(await pool.recover()).toBe(1);
        await waitFor(async () => (await getBatch(t.db, b.id)).state === 'COMPLETED');
        const done = await getBatch(t.db, b.id);
        expect(done.cards).toEqual({ PREPARED: 20 });
        expect(Number((await t.db('batches').where({ id: b.id }).first('runs')).runs)).toBe(2);
        expect(await pool.recover()).toBe(0);
      } finally {
        await pool.close();
      }
    } finally {
      conn.disconnect();
    }
    expect((await verifyAudit(t.db)).ok).toBe(true);
  });
});
