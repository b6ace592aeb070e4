import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit, verifyAudit } from '../src/audit/index.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

let t: TestDatabase;
beforeEach(async () => {
  t = await createTestDatabase();
  await t.db.transaction(async (trx) => {
    for (let i = 1; i <= 10; i++) {
      await appendAudit(trx, { actor: 'op1', action: 'card.transition', entityType: 'card', entityId: i, data: { from: 'ORDERED', to: 'PREPARED' } });
    }
  });
});
afterEach(async () => {
  await t?.close();
});

describe('audit log', () => {
  it('verifies an untouched chain', async () => {
    expect(await verifyAudit(t.db)).toEqual({ ok: true, entries: 10, headSeq: 10 });
  });

  it('chains entries appended in several transactions and in batches', async () => {
    await t.db.transaction((trx) =>
      appendAudit(trx, [
        { actor: 'a', action: 'x', entityType: 'card', entityId: 1 },
        { actor: 'b', action: 'y', entityType: 'card', entityId: 2 },
      ]),
    );
    const r = await verifyAudit(t.db);
    expect(r).toMatchObject({ ok: true, entries: 12, headSeq: 12 });
  });

  it('keeps the chain gap-free under concurrent appenders', async () => {
    await Promise.all(
      Array.from({ length: 8 }, (_, w) =>
        t.db.transaction((trx) => appendAudit(trx, { actor: `w${w}`, action: 'x', entityType: 'card', entityId: w })),
      ),
    );
    expect(await verifyAudit(t.db)).toMatchObject({ ok: true, entries: 18 });
  });

  it('detects an edited entry and names it', async () => {
    await t.db('audit_log').where({ seq: 4 }).update({ actor: 'mallory' });
    expect(await verifyAudit(t.db)).toMatchObject({ ok: false, firstBad: { seq: 4, problem: 'HASH_MISMATCH' } });
  });

  it('detects edited data even when the edit keeps valid JSON', async () => {
    await t.db('audit_log').where({ seq: 7 }).update({ data: '{"from":"ORDERED","to":"ISSUED"}' });
    expect(await verifyAudit(t.db)).toMatchObject({ ok: false, firstBad: { seq: 7 } });
  });

  it('detects an edited entry whose hash was recomputed (breaks the next link)', async () => {
    const { entryHash } = await import('../src/audit/index.ts');
    const row = await t.db('audit_log').where({ seq: 5 }).first();
    const forged = { seq: 5, at: row.at, actor: 'mallory', action: row.action, entityType: row.entity_type, entityId: row.entity_id, data: JSON.parse(row.data) };
    await t.db('audit_log').where({ seq: 5 }).update({ actor: 'mallory', hash: entryHash(row.prev_hash, forged) });
    expect(await verifyAudit(t.db)).toMatchObject({ ok: false, firstBad: { seq: 6, problem: 'BROKEN_LINK' } });
  });

  it('detects a deleted entry in the middle', async () => {
    await t.db('audit_log').where({ seq: 6 }).del();
    expect(await verifyAudit(t.db)).toMatchObject({ ok: false, firstBad: { seq: 7, problem: 'SEQ_GAP' } });
  });

  it('detects deletion of the newest entries', async () => {
    await t.db('audit_log').where('seq', '>', 8).del();
    expect(await verifyAudit(t.db)).toMatchObject({ ok: false, firstBad: { problem: 'HEAD_MISMATCH' } });
  });

  it('detects reordered entries', async () => {
    // Swap the contents of entries 3 and 8 (seq numbers stay in place).
    const a = await t.db('audit_log').where({ seq: 3 }).first();
    const b = await t.db('audit_log').where({ seq: 8 }).first();
    const { seq: _sa, ...restA } = a;
    const { seq: _sb, ...restB } = b;
    await t.db('audit_log').where({ seq: 3 }).update(restB);
    await t.db('audit_log').where({ seq: 8 }).update(restA);
    expect(await verifyAudit(t.db)).toMatchObject({ ok: false, firstBad: { seq: 3 } });
  });

  it('detects renumbered entries (seq swapped)', async () => {
    await t.db('audit_log').where({ seq: 2 }).update({ seq: 1000 });
    await t.db('audit_log').where({ seq: 3 }).update({ seq: 2 });
    await t.db('audit_log').where({ seq: 1000 }).update({ seq: 3 });
    expect(await verifyAudit(t.db)).toMatchObject({ ok: false, firstBad: { seq: 2 } });
  });
});
