import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { verifyAudit } from '../src/audit/index.ts';
import { openDb } from '../src/db/index.ts';
import { runIntake } from '../src/intake/index.ts';
import { decodeDg1 } from '../src/lds/index.ts';
import { loadChipImage, prepareCard } from '../src/prepare/index.ts';
import { ensureRegistrySchema, seedRegistry } from '../src/registry/index.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

let t: TestDatabase;
let registry: Knex;
const opts = {
  actor: 'worker:prepare',
  issuingState: 'KEN',
  issuingAuthority: 'REGISTRAR OF PERSONS KENYA',
  validityYears: 10,
  personalisationSystem: 'KADI-TEST',
  at: new Date('2026-11-25T08:00:00Z'),
};

beforeAll(async () => {
  t = await createTestDatabase();
  registry = openDb(await t.makeUrl('registry'));
  await ensureRegistrySchema(registry);
  await seedRegistry(registry, { count: 40, seed: 'prepare-test', invalidRate: 0 });
  await runIntake({ db: t.db, registry, actor: 'test' });
});
afterAll(async () => {
  await registry?.destroy();
  await t?.close();
});

describe('prepare stage', () => {
  it('moves ORDERED cards to PREPARED with a unique document number and a stored chip image', async () => {
    const cards = await t.db('cards').where({ state: 'ORDERED' }).orderBy('id').select('id');
    expect(cards.length).toBeGreaterThan(30);
    for (const c of cards) expect(await prepareCard(t.db, c.id, opts)).toBe('PREPARED');
    const rows = await t.db('cards').orderBy('id').select('id', 'state', 'document_number');
    expect(rows.every((r: { state: string }) => r.state === 'PREPARED')).toBe(true);
    const numbers = rows.map((r: { document_number: string }) => r.document_number);
    expect(new Set(numbers).size).toBe(numbers.length);
    expect(numbers[0]).toBe('KA0000001');
    const img = await loadChipImage(t.db, rows[0].id);
    expect(img.dateOfIssue).toBe('2026-11-25');
    expect(img.dateOfExpiry).toBe('2036-11-24');
    const dg1 = decodeDg1(img.dataGroups.get(1)!);
    expect(dg1.parsed.documentNumber).toBe(rows[0].document_number);
    expect(dg1.parsed.dateOfExpiry).toBe('361124');
  });

  it('is idempotent: a second call changes nothing and allocates no document number', async () => {
    const { id } = await t.db('cards').first('id');
    expect(await prepareCard(t.db, id, opts)).toBe('ALREADY_PREPARED');
    expect(Number((await t.db('counters').where({ name: 'document_number' }).first()).value)).toBe(
      Number((await t.db('cards').count({ n: '*' }))[0]!.n),
    );
  });

  it('reports a missing card', async () => {
    await expect(prepareCard(t.db, 999_999, opts)).rejects.toMatchObject({ code: 'CARD_NOT_FOUND' });
  });

  it('keeps the audit chain valid and free of personal data', async () => {
    expect((await verifyAudit(t.db)).ok).toBe(true);
    const rec = JSON.parse((await t.db('order_records').first('data')).data);
    const audit = (await t.db('audit_log').select('data')).map((r: { data: string }) => r.data).join('\n');
    expect(audit).not.toContain(rec.nationalNumber);
    expect(audit).not.toContain(rec.surname);
  });
});
