/**
 * Dispatch under concurrency, on the real database: packers racing each other and a QC station spoiling cards
 * at the same time; gate scans racing a `ship` run; receiving scans in parallel; two clerks issuing the same
 * cards at once. Nothing may deadlock, no box may overfill, every card is moved exactly once, and the books
 * balance afterwards. (On SQLite the single connection serialises the transactions; on PostgreSQL they really
 * interleave.)
 */
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CardStateConflictError, transitionCard } from '../src/cards/index.ts';
import { openDb } from '../src/db/index.ts';
import { IssueRefusedError, issueCard, packCards, receiveBlankLot, reconcile, scanBox, shipBoxes } from '../src/dispatch/index.ts';
import { runIntake } from '../src/intake/index.ts';
import { COLLECTION_CENTRES, ensureRegistrySchema, generateRecords, insertRecords } from '../src/registry/index.ts';
import { KadiError } from '../src/shared/index.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

const CENTRE = COLLECTION_CENTRES[5]!.code;
const N = 150;
let t: TestDatabase;
let registry: Knex;

beforeAll(async () => {
  t = await createTestDatabase();
  registry = openDb(await t.makeUrl('registry'));
  await ensureRegistrySchema(registry);
  const records = [...generateRecords({ count: N, seed: 'dispatch-concurrency', invalidRate: 0, nonApprovedRate: 0 })].map((r) => ({ ...r, collectionCentre: CENTRE }));
  await insertRecords(registry, records);
  expect((await runIntake({ db: t.db, registry, actor: 'test', today: new Date('2026-01-15T00:00:00Z') })).ordered).toBe(N);
  const lot = await receiveBlankLot(t.db, { lot: 'LOT-C', quantity: N, supplier: 's', chipType: 'c', actor: 'stores' });
  const cards = await t.db('cards').orderBy('id').select('id');
  await t.db.transaction(async (trx) => {
    for (const { id } of cards) {
      await transitionCard(trx, { cardId: id, from: 'ORDERED', to: 'PREPARED', actor: 'w' });
      await transitionCard(trx, { cardId: id, from: 'PREPARED', to: 'ENCODING', actor: 'w', set: { blank_serial: `C-${id}`, lot_id: lot.id, document_number: `CC${String(id).padStart(7, '0')}` } });
      await transitionCard(trx, { cardId: id, from: 'ENCODING', to: 'ENCODED', actor: 'w' });
      await transitionCard(trx, { cardId: id, from: 'ENCODED', to: 'PRINTED', actor: 'w' });
      await transitionCard(trx, { cardId: id, from: 'PRINTED', to: 'QC_PASSED', actor: 'w' });
    }
  });
}, 120_000);

afterAll(async () => {
  await registry?.destroy();
  await t?.close();
});

/** Only the outcomes a race may legitimately produce; anything else (a deadlock, a bug) fails the test. */
function expected(e: unknown, codes: string[]): void {
  if (e instanceof CardStateConflictError) return;
  if (e instanceof KadiError && codes.includes(e.code)) return;
  throw e;
}

describe('dispatch under concurrency', () => {
  it('packers race each other and a QC station spoiling cards', async () => {
    const victims = (await t.db('cards').orderBy('id').select('id')).map((r: { id: number }) => Number(r.id)).filter((_, i) => i % 10 === 3);
    let spoiled = 0;
    const spoiler = (async () => {
      for (const id of victims) {
        try {
          await transitionCard(t.db, { cardId: id, from: 'QC_PASSED', to: 'SPOILED', reason: 'SCRATCHED', actor: 'qc:zoe' });
          spoiled++;
        } catch (e) {
          expected(e, []);
        }
      }
    })();
    const packers = [1, 2, 3].map((i) => packCards(t.db, { actor: `pack:${i}`, capacity: 9, pageSize: 7 }));
    const [results] = await Promise.all([Promise.all(packers), spoiler]);
    const packed = results.reduce((a, r) => a + r.packed, 0);
    expect(packed + spoiled).toBe(N);
    expect(await t.db('cards').where({ state: 'PACKED' }).count({ n: '*' }).then((r) => Number(r[0]!.n))).toBe(packed);
    const over = await t.db('boxes as b').join('cards as c', 'c.box_id', 'b.id').where('c.state', 'PACKED').groupBy('b.id', 'b.capacity').havingRaw('count(*) > b.capacity').select('b.id');
    expect(over).toEqual([]);
  });

  it('gate scans race a ship run; receiving and issuing run in parallel', async () => {
    const held = await shipBoxes(t.db, { actor: 'ship', centre: CENTRE, hold: true });
    expect(held.shipments).toHaveLength(1);
    const boxes = (await t.db('boxes').orderBy('id').select('code')).map((b: { code: string }) => String(b.code));
    const scans = boxes.map((code) => scanBox(t.db, { code, event: 'dispatched', at: 'GATE-1', actor: 'gate' }).catch((e) => expected(e, ['SCAN_DUPLICATE', 'SCAN_OUT_OF_ORDER', 'BOX_NOT_SEALED'])));
    await Promise.all([...scans, shipBoxes(t.db, { actor: 'ship', centre: CENTRE }).catch((e) => expected(e, ['BOX_NOT_SEALED']))]);
    // Whatever the interleaving, a last ship run finishes the job.
    await shipBoxes(t.db, { actor: 'ship', centre: CENTRE });
    const packed = Number((await t.db('cards').whereNotNull('box_id').whereNot({ state: 'SPOILED' }).count({ n: '*' }))[0]!.n);
    expect(Number((await t.db('cards').where({ state: 'DISPATCHED' }).count({ n: '*' }))[0]!.n)).toBe(packed);
    expect((await t.db('shipments').first()).state).toBe('DISPATCHED');

    await Promise.all(boxes.flatMap((code) => [1, 2].map(() => scanBox(t.db, { code, event: 'received', at: CENTRE, actor: 'centre' }).catch((e) => expected(e, ['SCAN_DUPLICATE'])))));
    expect(Number((await t.db('cards').where({ state: 'RECEIVED' }).count({ n: '*' }))[0]!.n)).toBe(packed);
    expect((await t.db('shipments').first()).state).toBe('RECEIVED');

    const docs = (await t.db('cards').where({ state: 'RECEIVED' }).select('document_number')).map((r: { document_number: string }) => r.document_number);
    let issued = 0;
    await Promise.all(
      docs.flatMap((d) =>
        ['clerk:a', 'clerk:b'].map((actor) =>
          issueCard(t.db, { documentNumber: d, centre: CENTRE, actor })
            .then(() => issued++)
            .catch((e) => {
              if (e instanceof IssueRefusedError && e.reason === 'ISSUE_ALREADY_ISSUED') return;
              expected(e, []);
            }),
        ),
      ),
    );
    expect(issued).toBe(docs.length);
    expect(Number((await t.db('card_orders').where({ status: 'FULFILLED' }).count({ n: '*' }))[0]!.n)).toBe(docs.length);
    const r = await reconcile(t.db);
    expect(r.differences).toEqual([]);
    expect(r.blanks).toMatchObject({ received: N, issued: docs.length, spoiled: N - docs.length, inStock: 0, difference: 0 });
  });
});
