/**
 * The whole pipeline on BullMQ workers, on SQLite and PostgreSQL with the run's real services: prepare -> encode
 * (2 virtual encoders kept loaded with blanks by the virtual bureau) -> print (per-card print jobs, sealed) -> qc
 * (chip read in a QC slot, face read back from the print job) -> pack. One blank is pulled out mid-write: it is
 * spoiled by the encoder and its order re-queued; the replacement goes through a second batch. Afterwards every
 * order has exactly one live card, PACKED; the spoiled blank is accounted for, reconciliation balances and the
 * audit chain verifies.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SlotSpec } from '../applets/index.ts';
import { verifyAudit } from '../src/audit/index.ts';
import { createBatch, getBatch } from '../src/batches/index.ts';
import { openDb } from '../src/db/index.ts';
import { receiveBlankLot, reconcile } from '../src/dispatch/index.ts';
import { Pkcs11Hsm } from '../src/hsm/index.ts';
import { ceremony, parseCeremonyDefinition } from '../src/keys/index.ts';
import {
  encodeStage,
  openVirtualBureau,
  packStage,
  prepareStage,
  printStage,
  qcStage,
  redisConnection,
  startWorkers,
  submitBatch,
  type Stage,
  type VirtualBureau,
} from '../src/pipeline/index.ts';
import { createSealSigner, loadTemplateFile, sealSigningSession } from '../src/print/index.ts';
import { ensureRegistrySchema, seedRegistry } from '../src/registry/index.ts';
import { runIntake } from '../src/intake/index.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { claimReaderSlots, readHsmPin, testServices, type SlotClaim } from './support/env.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const definition = parseCeremonyDefinition(JSON.parse(readFileSync(path.join(ROOT, 'hsm/ceremony.json'), 'utf8')));
const PREP = { actor: 'worker:prepare', issuingState: 'KEN', issuingAuthority: 'PRINCIPAL REGISTRAR OF PERSONS', validityYears: 10, personalisationSystem: 'KADI-TEST' };
const silent = { info() {}, warn() {}, error() {} };

let tmp: string;
let t: TestDatabase;
let registry: Knex;
let hsm: Pkcs11Hsm;
let claim: SlotClaim;
let bureau: VirtualBureau;
let stages: Stage[];

beforeAll(async () => {
  const s = testServices();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kadi-pipe-full-'));
  hsm = Pkcs11Hsm.open({ module: s.hsmModule, token: s.hsmToken, pin: readHsmPin(s), sessions: 4 });
  t = await createTestDatabase();
  registry = openDb(await t.makeUrl('registry'));
  await ensureRegistrySchema(registry);
  await seedRegistry(registry, { count: 12, seed: `pipe-full-${t.url.length}`, invalidRate: 0 });
  await runIntake({ db: t.db, registry, actor: 'intake' });
  await ceremony({ db: t.db, keyStore: hsm, actor: 'custodian.wanjiru' }, definition);
  await createSealSigner({ db: t.db, keyStore: hsm, actor: 'custodian.wanjiru' });
  await receiveBlankLot(t.db, { lot: 'LOT-PIPE-0001', quantity: 20, supplier: 'Test Cards Ltd', chipType: 'Kadi virtual eID', actor: 'stores.otieno' });

  claim = claimReaderSlots(3);
  const specs = claim.slots.map((sl): SlotSpec => ({ index: sl.port - s.readerBasePort, port: sl.port, name: sl.name }));
  bureau = await openVirtualBureau({
    db: t.db,
    hsm,
    masterKey: new Uint8Array(randomBytes(32)),
    masterKeyLabel: `pipe-full-master-${randomBytes(4).toString('hex')}`,
    storeDir: path.join(tmp, 'cards'),
    encoderSlots: specs.slice(0, 2),
    qcSlots: specs.slice(2, 3),
    encodeActor: 'worker:encode@line-1',
    faults: { pullMidWrite: 1 },
  });
  const { template, baseDir } = await loadTemplateFile(path.join(ROOT, 'templates/kenya-eid.json'));
  stages = [
    prepareStage(t.db, PREP, 2),
    encodeStage({ pool: bureau.pool!, deps: bureau.deps }),
    printStage({ db: t.db, template, baseDir, outDir: path.join(tmp, 'print'), sealSession: await sealSigningSession({ db: t.db, keyStore: hsm }), actor: 'worker:print' }),
    qcStage({ db: t.db, actor: 'worker:qc', reader: bureau.qcReader, face: 'print-job' }),
    packStage({ db: t.db, actor: 'worker:pack' }),
  ];
}, 180_000);

afterAll(async () => {
  await bureau?.close();
  claim?.release();
  await hsm?.close();
  await registry?.destroy();
  await t?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const count = async (q: Knex.QueryBuilder): Promise<number> => Number((await q.count({ n: '*' }))[0]!.n);

describe('the full pipeline on virtual hardware', () => {
  it('takes every order through prepare, encode, print, qc and pack; a blank pulled mid-write is replaced', async () => {
    const url = testServices().redisUrl;
    const prefix = `kf${randomBytes(4).toString('hex')}`;
    const conn = redisConnection(url);
    const pool = await startWorkers({ db: t.db, connection: () => redisConnection(url), stages, roles: ['prepare', 'encode', 'print', 'qc', 'pack', 'batch'], prefix, log: silent, recoveryIntervalMs: 0, stalledIntervalMs: 5000 });
    const batches: number[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        const waiting = await count(t.db('cards').where({ state: 'ORDERED' }).whereNull('batch_id'));
        if (waiting === 0) break;
        const b = await createBatch(t.db, { size: waiting, actor: 'operator.achieng' });
        batches.push(b.id);
        await submitBatch(t.db, conn, stages, b.id, 'operator.achieng', prefix);
        const end = Date.now() + 150_000;
        while ((await getBatch(t.db, b.id)).state !== 'COMPLETED') {
          if (Date.now() > end) throw new Error(`batch ${b.id} did not complete: ${JSON.stringify((await getBatch(t.db, b.id)).cards)}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    } finally {
      await pool.close();
      conn.disconnect();
    }
    expect(batches.length).toBe(2);
    expect(bureau.injected.pulledMidWrite).toBe(1);

    const orders = await count(t.db('card_orders'));
    expect(orders).toBe(12);
    const live = (await t.db('cards').whereNot({ state: 'SPOILED' }).groupBy('order_id').select('order_id').count({ n: '*' })) as Array<{ n: unknown }>;
    expect(live).toHaveLength(12);
    expect(live.every((r) => Number(r.n) === 1)).toBe(true);
    expect(await count(t.db('cards').whereNot({ state: 'SPOILED' }).whereNot({ state: 'PACKED' }))).toBe(0);
    const spoiled = await t.db('cards').where({ state: 'SPOILED' }).select('id', 'blank_serial', 'spoil_reason');
    expect(spoiled).toHaveLength(1);
    expect(spoiled[0]!.blank_serial).toBeTruthy();
    expect(await count(t.db('cards').whereNotNull('blank_serial'))).toBe(13);
    const r = await reconcile(t.db);
    expect(r.differences).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.blanks).toMatchObject({ received: 20, spoiled: 1 });
    expect((await verifyAudit(t.db)).ok).toBe(true);
  }, 300_000);
});
