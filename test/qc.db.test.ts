/**
 * QC in the production line, end to end on SQLite and PostgreSQL with the run's real services:
 *
 *   registry -> intake -> key ceremony (CSCA/DS/CRL in SoftHSM) + seal signer + card master key in the HSM
 *   -> batch -> prepare -> encode (Kadi's encoder, src/encoders, on virtual cards through pcscd + vpcd)
 *   -> print (src/print: PDF with MRZ and seal) -> the qc stage: the card moved to a QC reader, its chip read as an
 *   inspection system reads it, its face read back from the PDF
 *
 * One card's chip is left unlocked (its stored state changed between encoding and QC, as a chip that was never
 * closed): QC fails it with QC_CARD_NOT_LOCKED, it is spoiled (who/when in the audit log) and its order gets a new
 * card, which the next batch encodes, prints and passes. Then every order is packed, shipped, received and issued
 * exactly once, and the blank reconciliation balances. The QC report (JSON, PDF) and the repeated-failure flag
 * (REVIEW) are checked on the same data.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_LIFE_CYCLE, CardLauncher, DirCardStore, type SlotSpec, saveCard } from '../applets/index.ts';
import { auditTrail, verifyAudit } from '../src/audit/index.ts';
import { createBatch } from '../src/batches/index.ts';
import { transitionCard } from '../src/cards/index.ts';
import { openDb } from '../src/db/index.ts';
import { issueCard, packCards, receiveBlankLot, reconcile, scanBox, shipBoxes } from '../src/dispatch/index.ts';
import { type EncodeDeps, PcscCardChannel, PcscContext, encodeCard, registerEncoder } from '../src/encoders/index.ts';
import { HsmCardKeys, Pkcs11Hsm, importCardMasterKey } from '../src/hsm/index.ts';
import { ceremony, currentDsSigner, parseCeremonyDefinition, type DsSigningSession } from '../src/keys/index.ts';
import { qcStage, type QcReaderLease } from '../src/pipeline/index.ts';
import { prepareCard } from '../src/prepare/index.ts';
import { type CardTemplate, createSealSigner, loadTemplateFile, markCard, printBatch, sealSigningSession } from '../src/print/index.ts';
import { qcReport, qcResults, recordVisualInspection, runChipQc, writeQcReportPdf } from '../src/qc/index.ts';
import { ensureRegistrySchema, seedRegistry } from '../src/registry/index.ts';
import { runIntake } from '../src/intake/index.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { claimReaderSlots, readHsmPin, testServices, type SlotClaim } from './support/env.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const definition = parseCeremonyDefinition(JSON.parse(readFileSync(path.join(ROOT, 'hsm/ceremony.json'), 'utf8')));
const MASTER = new Uint8Array(randomBytes(32));
const PREP = { actor: 'worker:prepare', issuingState: 'KEN', issuingAuthority: 'PRINCIPAL REGISTRAR OF PERSONS', validityYears: 10, personalisationSystem: 'KADI-TEST' };
const QC_ACTOR = 'worker:qc@desk-1';

let tmp: string;
let t: TestDatabase;
let registry: Knex;
let hsm: Pkcs11Hsm;
let signer: DsSigningSession;
let encDeps: EncodeDeps;
let template: CardTemplate;
let baseDir: string;
let claim: SlotClaim;
let slotE: SlotSpec;
let slotQ: SlotSpec;
let launcher: CardLauncher;
let store: DirCardStore;
let pcsc: PcscContext;
let encoderId: number;

beforeAll(async () => {
  const s = testServices();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kadi-qc-db-'));
  hsm = Pkcs11Hsm.open({ module: s.hsmModule, token: s.hsmToken, pin: readHsmPin(s) });
  t = await createTestDatabase();
  registry = openDb(await t.makeUrl('registry'));
  await ensureRegistrySchema(registry);
  await seedRegistry(registry, { count: 3, seed: `qc-db-${t.url.length}`, invalidRate: 0 });
  await runIntake({ db: t.db, registry, actor: 'intake' });
  await ceremony({ db: t.db, keyStore: hsm, actor: 'custodian.wanjiru' }, definition);
  await createSealSigner({ db: t.db, keyStore: hsm, actor: 'custodian.wanjiru' });
  const mkLabel = `qc-test-card-master-${randomBytes(4).toString('hex')}`;
  await importCardMasterKey(hsm, mkLabel, MASTER);
  const keys = new HsmCardKeys(hsm, mkLabel);
  await keys.open();
  signer = await currentDsSigner({ db: t.db, keyStore: hsm, actor: 'worker:encode' });
  encDeps = { db: t.db, keys, signer, actor: 'worker:encode@line-1' };
  await receiveBlankLot(t.db, { lot: 'LOT-QC-0001', quantity: 10, supplier: 'Test Cards Ltd', chipType: 'Kadi virtual eID', actor: 'stores.otieno' });
  ({ template, baseDir } = await loadTemplateFile(path.join(ROOT, 'templates/kenya-eid.json')));

  claim = claimReaderSlots(2);
  const specs = claim.slots.map((sl): SlotSpec => ({ index: sl.port - s.readerBasePort, port: sl.port, name: sl.name }));
  slotE = specs[0]!;
  slotQ = specs[1]!;
  store = new DirCardStore(path.join(tmp, 'cards'));
  launcher = new CardLauncher({ store, masterKey: MASTER });
  pcsc = await PcscContext.open({ readers: [slotE!.name!, slotQ!.name!], only: [slotE!.name!, slotQ!.name!] });
  encoderId = await registerEncoder(t.db, slotE!.name!);
}, 120_000);

afterAll(async () => {
  await launcher?.stop();
  for (const sl of [slotE, slotQ]) if (sl) await pcsc?.waitEmpty(sl.name!).catch(() => undefined);
  pcsc?.close();
  claim?.release();
  await signer?.close();
  await hsm?.close();
  await registry?.destroy();
  await t?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Encodes `cardId` on a new blank in the encoder slot with Kadi's encoder; returns the blank's serial. */
async function encode(cardId: number): Promise<string> {
  const c = await launcher.insertNew(slotE);
  await pcsc.waitPresent(slotE.name!);
  const channel = new PcscCardChannel(pcsc, slotE.name!, { share: 'exclusive' });
  try {
    const r = await encodeCard(encDeps, { name: slotE.name!, id: encoderId, channel }, cardId);
    expect(r.outcome, r.error?.message).toBe('ENCODED');
  } finally {
    await channel.disconnect('leave');
    await launcher.remove(slotE.index);
    await pcsc.waitEmpty(slotE.name!);
  }
  return c.serial;
}

/** The QC desk's reader: the card (by the serial the encoder recorded) goes into the QC slot. */
async function qcReader(card: { chipSerial: string | null }): Promise<QcReaderLease> {
  const serial = card.chipSerial!.slice(-12);
  await launcher.insert(serial, slotQ);
  await pcsc.waitPresent(slotQ.name!);
  const channel = new PcscCardChannel(pcsc, slotQ.name!, { share: 'shared' });
  await channel.connect();
  return {
    name: 'QC-DESK-1',
    channel,
    async release() {
      await channel.disconnect('leave');
      await launcher.remove(slotQ.index);
      await pcsc.waitEmpty(slotQ.name!);
    },
  };
}

/** prepare -> encode -> print (PDF) -> printer feedback, for every card of a new batch. */
async function produceBatch(size: number): Promise<{ batchId: number; cards: number[]; serials: Map<number, string>; pdf: string }> {
  const b = await createBatch(t.db, { size, actor: 'operator.achieng' });
  const cards = (await t.db('cards').where({ batch_id: b.id }).orderBy('id').select('id')).map((r: { id: number }) => Number(r.id));
  const serials = new Map<number, string>();
  for (const id of cards) {
    expect(await prepareCard(t.db, id, PREP)).toBe('PREPARED');
    serials.set(id, await encode(id));
  }
  const pdf = path.join(tmp, `batch-${b.id}.pdf`);
  await printBatch({ db: t.db, batchId: b.id, template, baseDir, out: pdf, actor: 'operator.achieng', sealSession: await sealSigningSession({ db: t.db, keyStore: hsm }) });
  for (const id of cards) await markCard(t.db, String(id), { printed: true }, { actor: 'printer:P1' });
  return { batchId: b.id, cards, serials, pdf };
}

const stateOf = async (id: number): Promise<string> => String((await t.db('cards').where({ id }).first('state')).state);

describe('QC in the production line', () => {
  let first: Awaited<ReturnType<typeof produceBatch>>;
  let badCard: number;
  let badOrder: number;
  let replacement: number;

  it('batch 1: good cards pass chip and face QC; an unlocked chip is spoiled and its order re-queued', async () => {
    first = await produceBatch(3);
    badCard = first.cards[1]!;
    // the chip was never closed: its eID application is back in SELECTABLE (writable with the card keys)
    const serial = first.serials.get(badCard)!;
    const st = store.load(serial)!;
    expect(st.eid.lifeCycle).toBe(APP_LIFE_CYCLE.PERSONALIZED);
    st.eid.lifeCycle = APP_LIFE_CYCLE.SELECTABLE;
    saveCard(store, st);

    const results: Array<{ cardId: number; kind: string; passed: boolean; reasonCode: string | null; state: string }> = [];
    const stage = qcStage({ db: t.db, actor: QC_ACTOR, reader: qcReader, face: 'print-job', onResult: (r) => results.push(r) });
    const outcomes = [];
    for (const id of first.cards) outcomes.push(await stage.run(id));
    expect(outcomes).toEqual(['done', 'spoiled', 'done']);
    expect(results.filter((r) => r.cardId !== badCard).map((r) => [r.kind, r.passed])).toEqual([['CHIP', true], ['FACE', true], ['CHIP', true], ['FACE', true]]);
    expect(results.find((r) => r.cardId === badCard)).toMatchObject({ kind: 'CHIP', passed: false, reasonCode: 'QC_CARD_NOT_LOCKED', state: 'SPOILED' });
    expect(await stateOf(first.cards[0]!)).toBe('QC_PASSED');
    expect(await stateOf(first.cards[2]!)).toBe('QC_PASSED');
    const bad = await t.db('cards').where({ id: badCard }).first('state', 'spoil_reason', 'order_id');
    expect(bad).toMatchObject({ state: 'SPOILED', spoil_reason: 'QC_CARD_NOT_LOCKED' });
    badOrder = Number(bad.order_id);
    const live = await t.db('cards').where({ order_id: badOrder }).whereNot({ state: 'SPOILED' }).select('id', 'state', 'batch_id');
    expect(live).toHaveLength(1);
    expect(live[0]).toMatchObject({ state: 'ORDERED', batch_id: null });
    replacement = Number(live[0].id);

    // the passed card's results: CHIP with the PA/AA facts and the APDU count, FACE from the print job; no personal data
    const res = await qcResults(t.db, first.cards[0]!);
    expect(res.map((r) => [r.kind, r.passed, r.operator, r.station])).toEqual([['CHIP', true, QC_ACTOR, 'QC-DESK-1'], ['FACE', true, QC_ACTOR, 'QC-DESK-1']]);
    expect(res[0]!.details).toMatchObject({ passiveAuth: { hashAlgorithm: 'sha256', crlChecked: true }, activeAuth: { status: 'valid' }, read: { attempts: 1 } });
    expect((res[0]!.details!.read as { apdus: number }).apdus).toBeLessThanOrEqual(30);
    const rec = JSON.parse((await t.db('order_records').where({ order_id: badOrder }).first('data')).data);
    expect(JSON.stringify(await t.db('qc_results').select('details'))).not.toContain(rec.surname);
  }, 120_000);

  it('the spoil is in the audit log with who and when; the chain is intact', async () => {
    const trail = await auditTrail(t.db, 'card', badCard);
    const tail = trail.slice(-3).map((e) => [e.action, e.actor, (e.data as { to?: string }).to ?? (e.data as { reason?: string }).reason]);
    expect(tail).toEqual([
      ['qc.result', QC_ACTOR, 'QC_CARD_NOT_LOCKED'],
      ['card.transition', QC_ACTOR, 'QC_FAILED'],
      ['card.transition', QC_ACTOR, 'SPOILED'],
    ]);
    expect(trail.at(-1)!.at).toMatch(/^\d{4}-\d\d-\d\dT/);
    const order = await auditTrail(t.db, 'order', badOrder);
    expect(order.at(-1)).toMatchObject({ action: 'order.requeue', actor: QC_ACTOR, data: { spoiledCard: badCard, newCard: replacement, reason: 'QC_CARD_NOT_LOCKED' } });
    expect((await verifyAudit(t.db)).ok).toBe(true);
  });

  it('batch 2: the replacement is produced on a new blank and passes; every order is issued exactly once; reconciliation balances', async () => {
    const second = await produceBatch(5);
    expect(second.cards).toEqual([replacement]); // nothing else was waiting
    // the QC worker dies after recording the chip result: the re-run does not read the chip again, only the face
    const lease = await qcReader(await t.db('cards').where({ id: replacement }).first('chip_serial').then((r) => ({ chipSerial: String(r.chip_serial) })));
    try {
      const chip = await runChipQc({ db: t.db, actor: QC_ACTOR, station: 'QC-DESK-1' }, replacement, lease.channel);
      expect(chip.outcome).toMatchObject({ passed: true, state: 'PRINTED', pendingKinds: ['FACE'] });
    } finally {
      await lease.release();
    }
    let readerCalls = 0;
    const stage = qcStage({ db: t.db, actor: QC_ACTOR, reader: async (c) => (readerCalls++, qcReader(c)), face: 'print-job' });
    expect(await stage.run(replacement)).toBe('done');
    expect(readerCalls).toBe(0);
    expect(await stateOf(replacement)).toBe('QC_PASSED');
    expect((await qcResults(t.db, replacement)).map((r) => r.kind)).toEqual(['CHIP', 'FACE']);
    expect(await stage.run(replacement)).toBe('skipped');

    // pack, ship, receive, issue
    const packed = await packCards(t.db, { actor: 'pack:carol', sealPartial: true });
    expect(packed.packed).toBe(3);
    const shipped = await shipBoxes(t.db, { actor: 'ship:dan' });
    for (const sh of shipped.shipments) {
      for (const box of await t.db('boxes').where({ shipment_id: sh.id }).select('code', 'centre_code')) {
        await scanBox(t.db, { code: box.code, event: 'received', at: box.centre_code, actor: 'clerk:gil' });
      }
    }
    for (const c of await t.db('cards').where({ state: 'RECEIVED' }).select('document_number', 'centre_code')) {
      await issueCard(t.db, { documentNumber: c.document_number, centre: c.centre_code, actor: 'clerk:gil' });
    }
    const perOrder = await t.db('cards').where({ state: 'ISSUED' }).groupBy('order_id').select('order_id').count({ n: '*' });
    expect(perOrder).toHaveLength(3);
    expect((perOrder as Array<{ n: unknown }>).every((r) => Number(r.n) === 1)).toBe(true);
    expect(await t.db('cards').where({ order_id: badOrder }).orderBy('id').pluck('state')).toEqual(['SPOILED', 'ISSUED']);

    // blanks consumed = live cards + spoiled, and the dispatch reconciliation agrees
    const consumed = Number((await t.db('cards').whereNotNull('blank_serial').count({ n: '*' }))[0]!.n);
    const spoiled = Number((await t.db('cards').where({ state: 'SPOILED' }).count({ n: '*' }))[0]!.n);
    const live = Number((await t.db('cards').whereNotNull('blank_serial').whereNot({ state: 'SPOILED' }).count({ n: '*' }))[0]!.n);
    expect([consumed, live, spoiled]).toEqual([4, 3, 1]);
    const r = await reconcile(t.db);
    expect(r.differences).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.blanks).toMatchObject({ received: 10, issued: 3, spoiled: 1, inStock: 6 });
  }, 120_000);

  it('the QC report of batch 1: pass rate, failures by reason, per encoder and operator (JSON and PDF)', async () => {
    const r = await qcReport(t.db, first.batchId);
    expect(r.cards).toMatchObject({ inBatch: 3, checked: 3, passed: 2, failed: 1, pending: 0, awaiting: 0, passRate: 0.6667 });
    expect(r.results).toMatchObject({ total: 5, passed: 4, failed: 1, byKind: { CHIP: { passed: 2, failed: 1 }, FACE: { passed: 2, failed: 0 } } });
    expect(r.failuresByReason).toEqual([{ code: 'QC_CARD_NOT_LOCKED', kind: 'CHIP', description: expect.any(String), count: 1, share: 1 }]);
    expect(r.byEncoder).toEqual([{ encoder: slotE.name, checked: 3, passed: 2, failed: 1, pending: 0, passRate: 0.6667 }]);
    expect(r.byOperator).toEqual([{ operator: QC_ACTOR, results: 5, passed: 4, failed: 1, passRate: 0.8 }]);
    expect(r).toMatchObject({ replacements: 1, flaggedForReview: 0 });
    const out = path.join(tmp, 'qc-report.pdf');
    const pdf = await writeQcReportPdf(r, out);
    expect(existsSync(out) && !existsSync(`${out}.part`)).toBe(true);
    expect(pdf.pages).toBe(1);
    const text = execFileSync('pdftotext', ['-layout', out, '-'], { encoding: 'utf8' });
    expect(text).toMatch(/Quality control report . batch \d+/);
    expect(text).toMatch(/QC_CARD_NOT_LOCKED\s+CHIP\s+1\s+100\.0 %/);
    expect(text).toMatch(/Pass rate \(passed \/ decided\)\s+66\.7 %/);
    expect(text).toContain(QC_ACTOR);
  });
});

describe('repeated failures', () => {
  it('an order whose cards keep failing goes to REVIEW for a supervisor instead of looping', async () => {
    const t2 = await createTestDatabase();
    try {
      const reg = openDb(await t2.makeUrl('registry'));
      await ensureRegistrySchema(reg);
      await seedRegistry(reg, { count: 1, seed: 'qc-review', invalidRate: 0 });
      await runIntake({ db: t2.db, registry: reg, actor: 'intake' });
      await reg.destroy();
      const order = await t2.db('card_orders').first('id');
      const policy = { maxAttempts: 2 };
      const outcomes = [];
      for (let i = 0; i < 2; i++) {
        const card = await t2.db('cards').where({ order_id: order.id, state: 'ORDERED' }).first('id');
        expect(card, `attempt ${i + 1} has a card`).toBeDefined();
        await prepareCard(t2.db, card.id, PREP);
        await transitionCard(t2.db, { cardId: card.id, from: 'PREPARED', to: 'ENCODING', actor: 'w', set: { blank_serial: `B${i}${card.id}` } });
        await transitionCard(t2.db, { cardId: card.id, from: 'ENCODING', to: 'ENCODED', actor: 'w' });
        await transitionCard(t2.db, { cardId: card.id, from: 'ENCODED', to: 'PRINTED', actor: 'w' });
        outcomes.push(await recordVisualInspection(t2.db, { ref: card.id, passed: false, reasonCode: 'QC_PRINT_DEFECT', note: 'streak across the portrait', actor: 'qc.njeri', station: 'QC-02', policy }));
      }
      expect(outcomes.map((o) => [o.state, o.orderStatus, o.replacementCardId === null])).toEqual([
        ['SPOILED', 'OPEN', false],
        ['SPOILED', 'REVIEW', true],
      ]);
      expect((await t2.db('card_orders').where({ id: order.id }).first('status')).status).toBe('REVIEW');
      expect(await t2.db('cards').where({ order_id: order.id }).whereNot({ state: 'SPOILED' }).count({ n: '*' }).then((r) => Number(r[0]!.n))).toBe(0);
      const flagged = (await auditTrail(t2.db, 'order', order.id)).at(-1)!;
      expect(flagged).toMatchObject({ action: 'order.review', actor: 'qc.njeri', data: { reason: 'QC_PRINT_DEFECT', attempts: 2, maxAttempts: 2 } });
      await expect(recordVisualInspection(t2.db, { ref: outcomes[0]!.cardId, passed: true, actor: 'qc.njeri' })).rejects.toMatchObject({ code: 'QC_CARD_NOT_PRINTED' });
    } finally {
      await t2.close();
    }
  });
});
