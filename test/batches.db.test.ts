import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBatch, getBatch, setBatchState } from '../src/batches/index.ts';
import { transitionCard } from '../src/cards/index.ts';
import { verifyAudit } from '../src/audit/index.ts';
import { createTestDatabase, seedOrderAndCard, type TestDatabase } from './support/db.ts';

let t: TestDatabase;
let cardIds: number[];
beforeAll(async () => {
  t = await createTestDatabase();
  ({ cardIds } = await seedOrderAndCard(t.db, 25));
});
afterAll(async () => {
  await t?.close();
});

describe('batches', () => {
  it('takes waiting cards, oldest orders first, up to the size', async () => {
    const b = await createBatch(t.db, { size: 10, actor: 'op1' });
    expect(b).toMatchObject({ state: 'CREATED', size: 10, cards: { ORDERED: 10 } });
    const ids = (await t.db('cards').where({ batch_id: b.id }).orderBy('id').select('id')).map((r: { id: number }) => r.id);
    expect(ids).toEqual(cardIds.slice(0, 10));
  });

  it('never puts a card in two batches and stops at what is waiting', async () => {
    const b2 = await createBatch(t.db, { size: 100, actor: 'op1' });
    expect(b2.size).toBe(15);
    const b3 = await createBatch(t.db, { size: 5, actor: 'op1' });
    expect(b3.size).toBe(0);
  });

  it('picks up a replacement card for a spoiled one in a later batch', async () => {
    const id = cardIds[0]!;
    const card = await t.db('cards').where({ id }).first();
    for (const [from, to] of [['ORDERED', 'PREPARED'], ['PREPARED', 'ENCODING'], ['ENCODING', 'SPOILED']] as const) {
      await transitionCard(t.db, { cardId: id, from, to, actor: 'w', reason: 'CHIP_WRITE_FAILED' });
    }
    const now = new Date().toISOString();
    await t.db('cards').insert({ order_id: card.order_id, state: 'ORDERED', centre_code: card.centre_code, created_at: now, updated_at: now });
    const b = await createBatch(t.db, { size: 5, actor: 'op1' });
    expect(b.size).toBe(1);
  });

  it('filters by collection centre and refuses an unknown one', async () => {
    await expect(createBatch(t.db, { size: 5, centreCode: 'KE-999-99', actor: 'op1' })).rejects.toMatchObject({ code: 'CENTRE_NOT_FOUND' });
    await expect(createBatch(t.db, { size: 0, actor: 'op1' })).rejects.toMatchObject({ code: 'BATCH_SIZE_INVALID' });
  });

  it('moves through its states with compare-and-set', async () => {
    const b = await createBatch(t.db, { size: 1, actor: 'op1' });
    await setBatchState(t.db, b.id, 'CREATED', 'RUNNING', 'op1');
    await expect(setBatchState(t.db, b.id, 'CREATED', 'RUNNING', 'op1')).rejects.toMatchObject({ code: 'BATCH_STATE_CONFLICT' });
    expect((await getBatch(t.db, b.id)).startedAt).not.toBeNull();
    expect((await verifyAudit(t.db)).ok).toBe(true);
  });
});
