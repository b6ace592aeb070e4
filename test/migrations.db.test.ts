import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateLatest, migrateRollbackAll, migrationStatus } from '../src/db/index.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase({ migrate: false });
});
afterAll(async () => {
  await t?.close();
});

const TABLES = [
  'collection_centres', 'blank_lots', 'batches', 'card_orders', 'order_records', 'intake_records', 'encoders',
  'boxes', 'shipments', 'cards', 'qc_results', 'tracking_events', 'keys', 'crls', 'audit_log', 'audit_head',
];

describe('migrations', () => {
  it('create every table from empty', async () => {
    expect((await migrationStatus(t.db)).pending.length).toBeGreaterThan(0);
    const applied = await migrateLatest(t.db);
    expect(applied).toContain('0001_initial');
    for (const name of TABLES) expect(await t.db.schema.hasTable(name), name).toBe(true);
    expect(await migrationStatus(t.db)).toMatchObject({ pending: [] });
  });

  it('are idempotent', async () => {
    expect(await migrateLatest(t.db)).toEqual([]);
  });

  it('start the audit chain at the genesis head', async () => {
    expect(await t.db('audit_head').first()).toMatchObject({ id: 1, seq: 0, hash: '0'.repeat(64) });
  });

  it('return numbers for counts and bigint columns on every engine', async () => {
    const [c] = await t.db('cards').count({ n: '*' });
    expect(typeof c!.n).toBe('number');
    const head = await t.db('audit_head').first();
    expect(typeof head.seq).toBe('number');
  });

  it('roll back completely and apply again', async () => {
    await migrateRollbackAll(t.db);
    for (const name of TABLES) expect(await t.db.schema.hasTable(name), name).toBe(false);
    await migrateLatest(t.db);
    for (const name of TABLES) expect(await t.db.schema.hasTable(name), name).toBe(true);
  });
});
