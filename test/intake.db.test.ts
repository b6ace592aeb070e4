import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { verifyAudit } from '../src/audit/index.ts';
import { openDb } from '../src/db/index.ts';
import { runIntake } from '../src/intake/index.ts';
import {
  ensureRegistrySchema,
  generateRecords,
  insertRecords,
  type DefectKind,
  type EnrolmentRecord,
} from '../src/registry/index.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

const EXPECTED_REASON: Record<Exclude<DefectKind, 'duplicate_national_number'>, string> = {
  missing_field: 'MISSING_FIELD',
  impossible_date: 'INVALID_DATE',
  photo_oversized: 'PHOTO_TOO_LARGE',
  photo_not_image: 'PHOTO_NOT_JPEG',
  bad_characters: 'UNSUPPORTED_CHARACTERS',
};

let t: TestDatabase;
let registry: Knex;
let records: EnrolmentRecord[];
const today = new Date('2026-01-15T00:00:00Z');

beforeAll(async () => {
  t = await createTestDatabase();
  registry = openDb(await t.makeUrl('registry'));
  await ensureRegistrySchema(registry);
  records = [...generateRecords({ count: 400, seed: 'intake-test', invalidRate: 0.2, nonApprovedRate: 0.02 })];
  await registry.transaction((trx) => insertRecords(trx, records));
});
afterAll(async () => {
  await registry?.destroy();
  await t?.close();
});

describe('intake', () => {
  let first: Awaited<ReturnType<typeof runIntake>>;

  it('accounts for every registry record: ordered + rejected + duplicates + not approved', async () => {
    first = await runIntake({ db: t.db, registry, actor: 'test', today, pageSize: 64 });
    const approved = records.filter((r) => r.status === 'APPROVED');
    expect(first.registryRecords).toBe(400);
    expect(first.approvedInRegistry).toBe(approved.length);
    expect(first.ordered + first.rejected + first.duplicates).toBe(approved.length);
    expect(first.notApproved).toBe(400 - approved.length);
    expect(first.alreadyProcessed).toBe(0);
    const orders = Number((await t.db('card_orders').count({ n: '*' }))[0]!.n);
    const cards = await t.db('cards').select('state');
    expect(orders).toBe(first.ordered);
    expect(cards).toHaveLength(first.ordered);
    expect(cards.every((c: { state: string }) => c.state === 'ORDERED')).toBe(true);
  });

  it('rejects every planted defect with its stable reason code and keeps it for review', async () => {
    const rows = await t.db('intake_records').select('registry_id', 'outcome', 'reason_code', 'field', 'message');
    const byId = new Map(rows.map((r: { registry_id: number }) => [Number(r.registry_id), r]));
    const seen = new Set<string>();
    for (const rec of records.filter((r) => r.status === 'APPROVED')) {
      const row = byId.get(rec.registryId) as { outcome: string; reason_code: string | null; message: string | null } | undefined;
      expect(row, `registry record ${rec.registryId} has no intake outcome`).toBeDefined();
      if (!rec.defect) {
        expect(row!.outcome).toBe('ORDERED');
      } else if (rec.defect === 'duplicate_national_number') {
        expect(row!.outcome).toBe('DUPLICATE');
        expect(row!.reason_code).toBe('DUPLICATE_ACTIVE_CARD');
        seen.add('DUPLICATE_ACTIVE_CARD');
      } else {
        expect(row!.outcome).toBe('REJECTED');
        expect(row!.reason_code).toBe(EXPECTED_REASON[rec.defect]);
        seen.add(row!.reason_code!);
      }
      // No personal data in the stored message.
      if (row!.message) {
        for (const v of [rec.surname, rec.givenNames, rec.nationalNumber, rec.kraPin]) {
          if (v && v.length > 3) expect(row!.message).not.toContain(v);
        }
      }
    }
    expect([...seen].sort()).toEqual([...Object.values(EXPECTED_REASON), 'DUPLICATE_ACTIVE_CARD'].sort());
  });

  it('does not store non-approved records', async () => {
    const ids = records.filter((r) => r.status !== 'APPROVED').map((r) => r.registryId);
    expect(ids.length).toBeGreaterThan(0);
    expect(await t.db('intake_records').whereIn('registry_id', ids)).toHaveLength(0);
  });

  it('keeps the personal-data snapshot out of the audit log', async () => {
    const audit = await t.db('audit_log').select('data');
    const blob = audit.map((a: { data: string }) => a.data).join('\n');
    for (const rec of records.slice(0, 50)) {
      if (rec.nationalNumber) expect(blob).not.toContain(rec.nationalNumber);
      if (rec.surname && rec.surname.length > 3) expect(blob).not.toContain(rec.surname);
    }
    expect((await verifyAudit(t.db)).ok).toBe(true);
  });

  it('is idempotent: a second run creates nothing', async () => {
    const again = await runIntake({ db: t.db, registry, actor: 'test', today });
    expect(again).toMatchObject({ ordered: 0, rejected: 0, duplicates: 0, alreadyProcessed: first.approvedInRegistry });
    expect(Number((await t.db('card_orders').count({ n: '*' }))[0]!.n)).toBe(first.ordered);
  });

  it('re-evaluates a rejected record once the registry corrects it', async () => {
    const bad = records.find((r) => r.status === 'APPROVED' && r.defect === 'impossible_date')!;
    await registry('enrolments')
      .where({ registry_id: bad.registryId })
      .update({ date_of_birth: '1980-05-17', updated_at: '2026-01-10T09:00:00.000Z' });
    const r = await runIntake({ db: t.db, registry, actor: 'test', today });
    expect(r).toMatchObject({ ordered: 1, rejected: 0, duplicates: 0 });
    const row = await t.db('intake_records').where({ registry_id: bad.registryId }).first();
    expect(row.outcome).toBe('ORDERED');
  });

  it('refuses a new record for a person who already has an active order', async () => {
    const ordered = records.find((r) => r.status === 'APPROVED' && !r.defect)!;
    const next = Number((await registry('enrolments').max({ m: 'registry_id' }))[0]!.m) + 1;
    const copy = { ...ordered, registryId: next, updatedAt: '2026-01-11T09:00:00.000Z' };
    delete (copy as { defect?: unknown }).defect;
    await insertRecords(registry, [copy]);
    const r = await runIntake({ db: t.db, registry, actor: 'test', today });
    expect(r).toMatchObject({ ordered: 0, duplicates: 1, reasons: { DUPLICATE_ACTIVE_CARD: 1 } });
  });

  it('honours --limit', async () => {
    const start = Number((await registry('enrolments').max({ m: 'registry_id' }))[0]!.m) + 1;
    const more = [...generateRecords({ count: 30, seed: 'intake-limit', startId: start, nonApprovedRate: 0 })];
    await insertRecords(registry, more);
    const r1 = await runIntake({ db: t.db, registry, actor: 'test', today, limit: 10 });
    expect(r1.ordered + r1.rejected + r1.duplicates).toBe(10);
    const r2 = await runIntake({ db: t.db, registry, actor: 'test', today });
    expect(r2.ordered + r2.rejected + r2.duplicates).toBe(20);
  });
});
