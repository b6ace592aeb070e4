import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CARD_STATES,
  CardStateConflictError,
  IllegalTransitionError,
  TRANSITIONS,
  transitionCard,
  type CardState,
} from '../src/cards/index.ts';
import { verifyAudit } from '../src/audit/index.ts';
import { createTestDatabase, seedOrderAndCard, type TestDatabase } from './support/db.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.close();
});

async function cardIn(state: CardState): Promise<number> {
  const { cardIds } = await seedOrderAndCard(t.db);
  const id = cardIds[0]!;
  await t.db('cards').where({ id }).update({ state });
  return id;
}

const legal: Array<[CardState, CardState]> = [];
const illegal: Array<[CardState, CardState]> = [];
for (const from of CARD_STATES) {
  for (const to of CARD_STATES) (TRANSITIONS[from].includes(to) ? legal : illegal).push([from, to]);
}

describe('card state machine', () => {
  it('has the journey of DESIGN.md §1', () => {
    expect(legal.length).toBeGreaterThan(15);
    expect(TRANSITIONS.ISSUED).toEqual([]);
    expect(TRANSITIONS.SPOILED).toEqual([]);
    expect(TRANSITIONS.QC_FAILED).toEqual(['SPOILED']);
  });

  it.each(legal)('allows %s -> %s as one compare-and-set with an audit entry', async (from, to) => {
    const id = await cardIn(from);
    const before = await t.db('audit_log').count({ n: '*' });
    await transitionCard(t.db, { cardId: id, from, to, actor: 'tester', reason: 'TEST_REASON' });
    const row = await t.db('cards').where({ id }).first();
    expect(row.state).toBe(to);
    expect(Number(row.version)).toBe(1);
    if (to === 'SPOILED') expect(row.spoil_reason).toBe('TEST_REASON');
    const after = await t.db('audit_log').count({ n: '*' });
    expect(Number(after[0]!.n) - Number(before[0]!.n)).toBe(1);
    const last = await t.db('audit_log').orderBy('seq', 'desc').first();
    expect(last.entity_id).toBe(String(id));
    expect(JSON.parse(last.data)).toMatchObject({ from, to });
  });

  it.each(illegal)('refuses %s -> %s with a typed error and changes nothing', async (from, to) => {
    const id = await cardIn(from);
    const seq = (await t.db('audit_head').first()).seq;
    await expect(transitionCard(t.db, { cardId: id, from, to, actor: 'tester', reason: 'X' })).rejects.toBeInstanceOf(
      IllegalTransitionError,
    );
    expect((await t.db('cards').where({ id }).first()).state).toBe(from);
    expect((await t.db('audit_head').first()).seq).toBe(seq);
  });

  it('fails with CARD_STATE_CONFLICT when the card is no longer in the expected state', async () => {
    const id = await cardIn('ENCODED');
    const err = await transitionCard(t.db, { cardId: id, from: 'ENCODING', to: 'ENCODED', actor: 'w1' }).catch((e) => e);
    expect(err).toBeInstanceOf(CardStateConflictError);
    expect(err.code).toBe('CARD_STATE_CONFLICT');
    expect(err.details).toMatchObject({ expected: 'ENCODING', actual: 'ENCODED' });
  });

  it('lets exactly one of two concurrent claims win', async () => {
    const id = await cardIn('PREPARED');
    const results = await Promise.allSettled([
      transitionCard(t.db, { cardId: id, from: 'PREPARED', to: 'ENCODING', actor: 'w1', set: { blank_serial: `B-${id}-1` } }),
      transitionCard(t.db, { cardId: id, from: 'PREPARED', to: 'ENCODING', actor: 'w2', set: { blank_serial: `B-${id}-2` } }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
  });

  it('requires a reason code to spoil a card', async () => {
    const id = await cardIn('ENCODED');
    await expect(transitionCard(t.db, { cardId: id, from: 'ENCODED', to: 'SPOILED', actor: 'op' })).rejects.toMatchObject({
      code: 'CARD_REASON_REQUIRED',
    });
  });

  it('reports a missing card', async () => {
    await expect(
      transitionCard(t.db, { cardId: 987654, from: 'ORDERED', to: 'PREPARED', actor: 'op' }),
    ).rejects.toMatchObject({ code: 'CARD_NOT_FOUND' });
  });

  it('rolls the transition back when the surrounding transaction fails', async () => {
    const id = await cardIn('ORDERED');
    await expect(
      t.db.transaction(async (trx) => {
        await transitionCard(trx, { cardId: id, from: 'ORDERED', to: 'PREPARED', actor: 'op' });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect((await t.db('cards').where({ id }).first()).state).toBe('ORDERED');
  });

  it('allows only one live card per order (database constraint)', async () => {
    const { orderIds } = await seedOrderAndCard(t.db);
    const now = new Date().toISOString();
    await expect(
      t.db('cards').insert({ order_id: orderIds[0], state: 'ORDERED', centre_code: 'KE-047-01', created_at: now, updated_at: now }),
    ).rejects.toThrow();
    await t.db('cards').where({ order_id: orderIds[0] }).update({ state: 'SPOILED', spoil_reason: 'TEST' });
    await t.db('cards').insert({ order_id: orderIds[0], state: 'ORDERED', centre_code: 'KE-047-01', created_at: now, updated_at: now });
  });

  it('keeps the audit chain valid through all of the above', async () => {
    const r = await verifyAudit(t.db);
    expect(r.ok).toBe(true);
    expect(r.entries).toBeGreaterThan(legal.length - 1);
  });
});
