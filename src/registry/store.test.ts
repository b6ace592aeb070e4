import knexFactory, { type Knex } from 'knex';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFECT_KINDS, REGISTRY_TABLE, countByStatus, ensureRegistrySchema, generateRecords, getRecords, insertRecords,
  maxRegistryId, readApproved, readRecord, seedRegistry, validateRecord, type EnrolmentRecord,
} from './index.ts';

let db: Knex;
beforeEach(() => {
  db = knexFactory({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
});
afterEach(async () => {
  await db.destroy();
});

function strip(r: EnrolmentRecord): EnrolmentRecord {
  const { defect: _defect, ...rest } = r;
  return rest;
}

describe('registry store (SQLite in memory)', () => {
  it('creates the schema idempotently', async () => {
    await ensureRegistrySchema(db);
    await ensureRegistrySchema(db);
    expect(await db.schema.hasTable(REGISTRY_TABLE)).toBe(true);
    expect(await maxRegistryId(db)).toBe(0);
    const idx = (await db.raw(`PRAGMA index_list('${REGISTRY_TABLE}')`)) as { name: string }[];
    expect(idx.map((i) => i.name)).toContain('enrolments_status_registry_id_idx');
  });

  it('round-trips records exactly, including nulls, bad data and photos as Buffers', async () => {
    await ensureRegistrySchema(db);
    const recs = [...generateRecords({ count: 60, seed: 'store', invalidRate: 0.5, nonApprovedRate: 0.1 })];
    recs[0] = { ...recs[0]!, surname: "Ng'ang'a-王😀\u0001", photo: null, nhifNumber: null, sex: 'Q' };
    await insertRecords(db, recs);
    const back = await getRecords(db, recs.map((r) => r.registryId));
    expect(back).toHaveLength(60);
    for (let i = 0; i < recs.length; i++) {
      expect(back[i]).toEqual(strip(recs[i]!));
      if (back[i]!.photo) expect(Buffer.isBuffer(back[i]!.photo)).toBe(true);
    }
    expect(await readRecord(db, 1)).toEqual(strip(recs[0]!));
    expect(await readRecord(db, 9999)).toBeUndefined();
  });

  it('pages approved records in registry_id order and skips the others', async () => {
    await ensureRegistrySchema(db);
    const recs = [...generateRecords({ count: 50, seed: 'paging', nonApprovedRate: 0.2 })];
    await insertRecords(db, recs);
    const approvedIds = recs.filter((r) => r.status === 'APPROVED').map((r) => r.registryId);
    expect(approvedIds.length).toBeLessThan(50);
    const seen: number[] = [];
    let after = 0;
    for (;;) {
      const page = await readApproved(db, { afterId: after, limit: 7 });
      if (page.length === 0) break;
      expect(page.length).toBeLessThanOrEqual(7);
      for (const r of page) expect(r.status).toBe('APPROVED');
      seen.push(...page.map((r) => r.registryId));
      after = page[page.length - 1]!.registryId;
    }
    expect(seen).toEqual(approvedIds);
    await expect(readApproved(db, { limit: 0 })).rejects.toThrow(RangeError);
  });

  it('seeds in batches, appends after the current max id, and counts defects', async () => {
    const progress: [number, number][] = [];
    const first = await seedRegistry(db, {
      count: 120, seed: 'seed-a', invalidRate: 0.3, batchSize: 50, onProgress: (d, t) => progress.push([d, t]),
    });
    expect(progress).toEqual([[50, 120], [100, 120], [120, 120]]);
    expect(first.inserted).toBe(120);
    expect([first.firstId, first.lastId]).toEqual([1, 120]);
    expect(first.approved + first.nonApproved).toBe(120);
    const planted = DEFECT_KINDS.reduce((s, k) => s + first.defects[k], 0);
    expect(planted + first.valid).toBe(120);
    expect(planted).toBeGreaterThan(15);

    const second = await seedRegistry(db, { count: 30, seed: 'seed-b', invalidRate: 0 });
    expect([second.firstId, second.lastId]).toEqual([121, 150]);
    expect(await maxRegistryId(db)).toBe(150);
    const counts = await countByStatus(db);
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(150);
    expect(counts.APPROVED).toBe(first.approved + second.approved);

    // what was seeded is what the generator produces (same ids, same content)
    const expected = [...generateRecords({ count: 30, seed: 'seed-b', startId: 121 })].map(strip);
    expect(await getRecords(db, expected.map((r) => r.registryId))).toEqual(expected);

    // stored approved records of the clean run validate
    for (const r of await readApproved(db, { afterId: 120, limit: 100 })) {
      expect(validateRecord(r, { today: '2025-07-01', decodePhoto: false }).ok).toBe(true);
    }
  });

  it('lets a later run duplicate national numbers already in the table', async () => {
    await seedRegistry(db, { count: 20, seed: 'dup-a' });
    const before = new Set((await readApproved(db, { limit: 100 })).map((r) => r.nationalNumber));
    const res = await seedRegistry(db, { count: 120, seed: 'dup-b', invalidRate: 1 });
    expect(res.defects.duplicate_national_number).toBeGreaterThan(0);
    const later = await readApproved(db, { afterId: 20, limit: 1000 });
    const regenerated = [...generateRecords({ count: 120, seed: 'dup-b', invalidRate: 1, startId: 21, earlierNationalNumbers: [...before] as string[] })];
    const dupIds = new Set(regenerated.filter((r) => r.defect === 'duplicate_national_number').map((r) => r.registryId));
    for (const r of later) if (dupIds.has(r.registryId)) expect(before.has(r.nationalNumber)).toBe(true);
  });
});
