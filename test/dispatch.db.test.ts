/**
 * Dispatch and logistics end to end on the real database (SQLite and PostgreSQL): stock, packing, sealing,
 * shipping, manifests (checked as a person would: pdftotext, page count, barcodes decoded by zbarimg from a
 * rendered label), tracking scans good and bad, issuance at the right and the wrong centre, returns,
 * destruction, the ageing report and reconciliation (balanced, then tampered with in several ways).
 *
 * Orders come from the registry through intake, as in production; cards are moved ORDERED → … → QC_PASSED
 * with transitionCard, as the encoding, printing and QC workers will.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { verifyAudit } from '../src/audit/index.ts';
import { transitionCard } from '../src/cards/index.ts';
import { dispatchCommands, registerDispatchCommands } from '../src/cli/dispatch.ts';
import { openDb } from '../src/db/index.ts';
import {
  ageingReport,
  boxHistory,
  cardHistory,
  destroyReturned,
  formatCode,
  issueCard,
  packCards,
  planPages,
  receiveBlankLot,
  reconcile,
  returnUncollected,
  scanBox,
  sealBox,
  shipBoxes,
  stockReport,
  unpackCard,
  writeLabels,
  writeManifests,
} from '../src/dispatch/index.ts';
import { runIntake } from '../src/intake/index.ts';
import { COLLECTION_CENTRES, ensureRegistrySchema, generateRecords, insertRecords, type EnrolmentRecord } from '../src/registry/index.ts';
import { FixedClock } from '../src/shared/index.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

const A = COLLECTION_CENTRES[0]!.code;
const B = COLLECTION_CENTRES[1]!.code;
const C = COLLECTION_CENTRES[2]!.code;
const PER_CENTRE: Record<string, number> = { [A]: 100, [B]: 15, [C]: 5 };
const LOT_QTY = 200;

let t: TestDatabase;
let registry: Knex;
let records: EnrolmentRecord[];
const out = mkdtempSync(path.join(os.tmpdir(), 'kadi-dispatch-'));
const t0 = new Date('2026-03-02T08:00:00.000Z');
const clockAt = (days: number) => new FixedClock(new Date(t0.getTime() + days * 86_400_000));

interface Made {
  id: number;
  orderId: number;
  documentNumber: string;
  centre: string;
}
const made: Made[] = [];

async function errorOf(p: Promise<unknown>): Promise<{ code: string; details?: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    return e as { code: string; details?: Record<string, unknown> };
  }
  throw new Error('expected an error');
}

async function count(table: string, where: Record<string, unknown> = {}): Promise<number> {
  return Number((await t.db(table).where(where).count({ n: '*' }))[0]!.n);
}

/** Moves every ORDERED card to QC_PASSED the way the workers will, claiming blanks from `lotId`. */
async function produce(lotId: number, after = 0): Promise<void> {
  const cards = await t.db('cards').where({ state: 'ORDERED' }).andWhere('id', '>', after).orderBy('id').select('id', 'order_id', 'centre_code');
  await t.db.transaction(async (trx) => {
    for (const c of cards) {
      const id = Number(c.id);
      const documentNumber = `AK${String(id).padStart(7, '0')}`;
      await transitionCard(trx, { cardId: id, from: 'ORDERED', to: 'PREPARED', actor: 'worker:prepare' });
      await transitionCard(trx, {
        cardId: id,
        from: 'PREPARED',
        to: 'ENCODING',
        actor: 'worker:encode',
        set: { blank_serial: `BLANK-${id}`, lot_id: lotId, document_number: documentNumber, chip_serial: `CHIP-${id}` },
      });
      await transitionCard(trx, { cardId: id, from: 'ENCODING', to: 'ENCODED', actor: 'worker:encode' });
      await transitionCard(trx, { cardId: id, from: 'ENCODED', to: 'PRINTED', actor: 'worker:print' });
      await transitionCard(trx, { cardId: id, from: 'PRINTED', to: 'QC_PASSED', actor: 'qc:alice' });
      made.push({ id, orderId: Number(c.order_id), documentNumber, centre: String(c.centre_code) });
    }
  });
}

beforeAll(async () => {
  t = await createTestDatabase();
  registry = openDb(await t.makeUrl('registry'));
  await ensureRegistrySchema(registry);
  const centres = Object.entries(PER_CENTRE).flatMap(([code, n]) => Array<string>(n).fill(code));
  records = [...generateRecords({ count: centres.length, seed: 'dispatch-test', invalidRate: 0, nonApprovedRate: 0 })].map((r, i) => ({
    ...r,
    collectionCentre: centres[i]!,
  }));
  await registry.transaction((trx) => insertRecords(trx, records));
  const r = await runIntake({ db: t.db, registry, actor: 'test', today: new Date('2026-01-15T00:00:00Z') });
  expect(r.ordered).toBe(120);
}, 120_000);

afterAll(async () => {
  await registry?.destroy();
  await t?.close();
  rmSync(out, { recursive: true, force: true });
});

describe('blank stock', () => {
  it('receives a lot once, with validation', async () => {
    const lot = await receiveBlankLot(t.db, { lot: 'LOT-2026-001', quantity: LOT_QTY, supplier: 'Idemia', chipType: 'NXP P71 D600', actor: 'stores:bob', clock: clockAt(0) });
    expect(lot).toMatchObject({ lot: 'LOT-2026-001', quantity: LOT_QTY, consumed: 0, inStock: LOT_QTY });
    expect((await errorOf(receiveBlankLot(t.db, { lot: 'LOT-2026-001', quantity: 5, supplier: 'x', chipType: 'y', actor: 'a' }))).code).toBe('STOCK_LOT_EXISTS');
    expect((await errorOf(receiveBlankLot(t.db, { lot: 'LOT-X', quantity: 0, supplier: 'x', chipType: 'y', actor: 'a' }))).code).toBe('STOCK_INVALID');
    expect((await errorOf(receiveBlankLot(t.db, { lot: 'bad lot!', quantity: 3, supplier: 'x', chipType: 'y', actor: 'a' }))).code).toBe('STOCK_INVALID');
    await produce(lot.id);
    expect(made).toHaveLength(120);
    expect((await stockReport(t.db))[0]).toMatchObject({ consumed: 120, inStock: LOT_QTY - 120 });
  });
});

describe('packing', () => {
  it('boxes QC-passed cards by centre, never mixing centres, sealing full boxes', async () => {
    const r = await packCards(t.db, { actor: 'pack:carol', capacity: 25, clock: clockAt(1) });
    expect(r.packed).toBe(120);
    expect(r.conflicts).toBe(0);
    expect(r.byCentre).toEqual(PER_CENTRE);
    // A: 4 full boxes (sealed); B and C: one partial box each (open).
    expect(r.boxes.map((b) => [b.centre, b.cards, b.state])).toEqual([
      [A, 25, 'SEALED'], [A, 25, 'SEALED'], [A, 25, 'SEALED'], [A, 25, 'SEALED'], [B, 15, 'OPEN'], [C, 5, 'OPEN'],
    ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))));
    expect(r.boxesSealed).toBe(4);
    const mixed = await t.db('cards as c').join('boxes as b', 'b.id', 'c.box_id').whereRaw('c.centre_code <> b.centre_code').count({ n: '*' });
    expect(Number(mixed[0]!.n)).toBe(0);
    expect(await count('cards', { state: 'PACKED' })).toBe(120);
    for (const b of r.boxes) expect(b.code).toMatch(/^BX\d{10}$/);
    for (const b of r.boxes.filter((x) => x.state === 'SEALED')) expect(b.sealNumber).toMatch(/^SL\d{10}$/);
    // Packing again finds nothing.
    expect((await packCards(t.db, { actor: 'pack:carol' })).packed).toBe(0);
  });

  it('takes a card out of an open box but never out of a sealed one', async () => {
    const inB = made.find((m) => m.centre === B)!;
    const r = await unpackCard(t.db, { documentNumber: inB.documentNumber, actor: 'pack:carol' });
    expect(r.state).toBe('QC_PASSED');
    expect(await t.db('cards').where({ id: inB.id }).first()).toMatchObject({ state: 'QC_PASSED', box_id: null });
    const inA = made.find((m) => m.centre === A)!;
    expect((await errorOf(unpackCard(t.db, { documentNumber: inA.documentNumber, actor: 'x' }))).code).toBe('BOX_NOT_OPEN');
    expect((await errorOf(unpackCard(t.db, { documentNumber: 'ZZ0000000', actor: 'x' }))).code).toBe('CARD_NOT_FOUND');
    // It goes back into its centre's open box.
    expect((await packCards(t.db, { actor: 'pack:carol', centre: B })).packed).toBe(1);
  });

  it('seals a box by hand with a physical seal number, once', async () => {
    const box = (await t.db('boxes').where({ centre_code: B, state: 'OPEN' }).first())!;
    expect((await errorOf(sealBox(t.db, { box: box.code, sealNumber: 'bad seal', actor: 'x' }))).code).toBe('SEAL_NUMBER_INVALID');
    const used = (await t.db('boxes').whereNotNull('seal_number').first())!.seal_number as string;
    expect((await errorOf(sealBox(t.db, { box: box.code, sealNumber: used, actor: 'x' }))).code).toBe('SEAL_NUMBER_IN_USE');
    const s = await sealBox(t.db, { box: box.code, sealNumber: 'ke-seal-000417', actor: 'pack:carol' });
    expect(s).toMatchObject({ state: 'SEALED', sealNumber: 'KE-SEAL-000417', cards: 15 });
    expect((await errorOf(sealBox(t.db, { box: box.code, actor: 'x' }))).code).toBe('BOX_NOT_OPEN');
    expect((await errorOf(sealBox(t.db, { box: 'BX0000009999', actor: 'x' }))).code).toBe('BOX_NOT_FOUND');
  });
});

let shipA: string;
let shipB: string;
let shipC: string;

describe('shipping and manifests', () => {
  it('holds a shipment for gate scans, then dispatches box by box', async () => {
    const held = await shipBoxes(t.db, { actor: 'ship:dan', centre: A, hold: true, clock: clockAt(2) });
    expect(held.shipments).toHaveLength(1);
    expect(held.shipments[0]).toMatchObject({ centre: A, state: 'CREATED', boxes: 4, cards: 100 });
    expect(held.cardsDispatched).toBe(0);
    shipA = held.shipments[0]!.code;
    expect(shipA).toMatch(/^SH\d{10}$/);
    expect(await count('cards', { state: 'PACKED', centre_code: A })).toBe(100);
    const boxes = await t.db('boxes').where({ centre_code: A }).orderBy('id');
    for (const [i, b] of boxes.entries()) {
      const r = await scanBox(t.db, { code: b.code, event: 'dispatched', at: 'BUREAU', actor: 'gate:eve', clock: clockAt(2) });
      expect(r).toMatchObject({ from: 'SEALED', to: 'DISPATCHED', cards: 25, shipment: { code: shipA, state: i === boxes.length - 1 ? 'DISPATCHED' : 'CREATED' } });
    }
    expect(await count('cards', { state: 'DISPATCHED', centre_code: A })).toBe(100);
  });

  it('ships every other centre, sealing what is still open', async () => {
    const r = await shipBoxes(t.db, { actor: 'ship:dan', clock: clockAt(2) });
    expect(r.boxesSealed).toBe(1); // C's partial box
    expect(r.shipments.map((s) => [s.centre, s.state, s.boxes, s.cards])).toEqual([
      [B, 'DISPATCHED', 1, 15],
      [C, 'DISPATCHED', 1, 5],
    ]);
    shipB = r.shipments[0]!.code;
    shipC = r.shipments[1]!.code;
    expect(await count('cards', { state: 'DISPATCHED' })).toBe(120);
    expect(await count('tracking_events', { event: 'dispatched' })).toBe(6);
    expect((await shipBoxes(t.db, { actor: 'ship:dan', centre: A })).shipments).toEqual([]);
    expect((await errorOf(shipBoxes(t.db, { actor: 'x', centre: 'KE-999-99' }))).code).toBe('CENTRE_NOT_FOUND');
  });

  it('writes PDF, CSV and JSON manifests a person can check', async () => {
    const r = await writeManifests(t.db, { shipment: shipA, outDir: out, clock: clockAt(2) });
    expect(r).toMatchObject({ shipment: shipA, centre: A, boxes: 4, cards: 100 });
    const plan = planPages([25, 25, 25, 25]);
    expect(r.pages).toBe(plan.pages);
    expect(plan.detailPages).toBeGreaterThan(1);

    const info = execFileSync('pdfinfo', [r.files.pdf!], { encoding: 'utf8' });
    expect(Number(/Pages:\s+(\d+)/.exec(info)![1])).toBe(plan.pages);
    expect(info).toMatch(/Page size:\s+595\.2\d? x 841\.8\d? pts \(A4\)/);
    const text = execFileSync('pdftotext', ['-layout', r.files.pdf!, '-'], { encoding: 'utf8' });
    expect(text).toContain(`Shipment ${shipA}`);
    expect(text).toContain('Total: 4 boxes, 100 cards');
    expect(text).toContain(`Page 1 of ${plan.pages}`);
    expect(text).toContain(`Page ${plan.pages} of ${plan.pages}`);
    expect(text).toContain('Received by (collection centre)');
    expect(text).toContain('Released by (card bureau)');
    expect(text).toContain('Listed so far: 100 of 100');
    const ours = made.filter((m) => m.centre === A);
    for (const m of ours) expect(text).toContain(m.documentNumber);
    const orderRecords = await t.db('order_records').whereIn('order_id', ours.map((m) => m.orderId)).select('order_id', 'data');
    const names = orderRecords.map((o: { data: string }) => JSON.parse(o.data) as { surname: string; givenNames: string });
    for (const n of names) expect(text.normalize('NFC')).toContain(n.surname.normalize('NFC'));
    for (const b of await t.db('boxes').where({ centre_code: A })) {
      expect(text).toContain(b.code);
      expect(text).toContain(b.seal_number);
    }

    const csv = readFileSync(r.files.csv!, 'utf8').split('\r\n').filter(Boolean);
    expect(csv[0]).toBe('shipment,centre,box,seal_number,line,document_number,surname,given_names');
    expect(csv).toHaveLength(101);
    const docsInCsv = csv.slice(1).map((l) => l.split(',')[5]);
    expect(new Set(docsInCsv)).toEqual(new Set(ours.map((m) => m.documentNumber)));

    const json = JSON.parse(readFileSync(r.files.json!, 'utf8'));
    expect(json).toMatchObject({ format: 'kadi.manifest/1', shipment: { code: shipA, centre: { code: A } }, totals: { boxes: 4, cards: 100 } });
    expect(json.cards).toHaveLength(100);
    expect(json.boxes.map((b: { cards: number }) => b.cards)).toEqual([25, 25, 25, 25]);
    const byDoc = new Map(json.cards.map((c: { documentNumber: string }) => [c.documentNumber, c]));
    for (const m of ours) {
      const rec = JSON.parse((orderRecords.find((o: { order_id: number }) => Number(o.order_id) === m.orderId) as { data: string }).data);
      expect(byDoc.get(m.documentNumber)).toMatchObject({ surname: rec.surname.normalize('NFC'), givenNames: rec.givenNames.normalize('NFC') });
    }
  });

  it('prints box labels whose Code128 and QR decode to the box code', async () => {
    const r = await writeLabels(t.db, { shipment: shipA, outDir: out });
    expect(r.labels).toBe(4);
    const info = execFileSync('pdfinfo', [r.file], { encoding: 'utf8' });
    expect(Number(/Pages:\s+(\d+)/.exec(info)![1])).toBe(4);
    const png = path.join(out, 'label');
    execFileSync('pdftoppm', ['-f', '2', '-l', '2', '-r', '300', '-gray', '-png', '-singlefile', r.file, png]);
    const decoded = execFileSync('zbarimg', ['--quiet', `${png}.png`], { encoding: 'utf8' }).trim().split('\n').sort();
    expect(decoded).toEqual([`CODE-128:${r.boxes[1]}`, `QR-Code:${r.boxes[1]}`]);
    const text = execFileSync('pdftotext', ['-f', '2', '-l', '2', r.file, '-'], { encoding: 'utf8' });
    expect(text).toContain(A);
    expect(text).toContain('2 of 4');
    const one = await writeLabels(t.db, { box: r.boxes[0]!, outDir: out });
    expect(one.labels).toBe(1);
  });
});

describe('tracking scans', () => {
  let boxA: { id: number; code: string };
  let boxB: { id: number; code: string };
  beforeAll(async () => {
    boxA = (await t.db('boxes').where({ centre_code: A }).orderBy('id').first())!;
    boxB = (await t.db('boxes').where({ centre_code: B }).orderBy('id').first())!;
  });

  const scan = (code: string, event: string, at: string, days = 3) => scanBox(t.db, { code, event, at, actor: 'courier:fay', clock: clockAt(days) });

  it('rejects bad scans with stable reasons, changes nothing, and keeps the attempt', async () => {
    const head = (await t.db('audit_head').first()).seq;
    const before = await count('tracking_events', { event: 'rejected' });
    const wrongCheck = `${boxA.code.slice(0, -1)}${(Number(boxA.code.slice(-1)) + 1) % 10}`;
    const cases: Array<[string, string, string, string]> = [
      ['P<KENMUTHONI<<GRACE', 'received', A, 'SCAN_MALFORMED_CODE'], // someone scanned an ID card's MRZ
      [wrongCheck, 'received', A, 'SCAN_MALFORMED_CODE'],
      [formatCode('box', 999_999), 'received', A, 'SCAN_UNKNOWN_CODE'],
      [shipA, 'received', A, 'SCAN_NOT_A_BOX'],
      [boxA.code, 'teleported', A, 'SCAN_UNKNOWN_EVENT'],
      [boxA.code, 'received', B, 'SCAN_WRONG_CENTRE'],
      [boxA.code, 'received', 'NAIROBI-HUB', 'SCAN_UNKNOWN_CENTRE'],
      [boxA.code, 'opened', A, 'SCAN_OUT_OF_ORDER'],
      [boxA.code, 'dispatched', 'BUREAU', 'SCAN_DUPLICATE'],
      [boxA.code, 'in-transit', '', 'SCAN_BAD_LOCATION'],
    ];
    for (const [code, event, at, reason] of cases) {
      const e = await errorOf(scan(code, event, at));
      expect(e.code, `${code} ${event} ${at}`).toBe(reason);
    }
    expect((await t.db('audit_head').first()).seq).toBe(head);
    expect((await t.db('boxes').where({ id: boxA.id }).first()).state).toBe('DISPATCHED');
    expect(await count('cards', { box_id: boxA.id, state: 'DISPATCHED' })).toBe(25);
    const rejected = await t.db('tracking_events').where({ event: 'rejected' }).orderBy('id').offset(before);
    expect(rejected).toHaveLength(cases.length);
    expect(rejected.map((r: { details: string }) => JSON.parse(r.details).reason)).toEqual(cases.map((c) => c[3]));
    // The misread is not stored (it could be personal data); a wrong-centre attempt names the box.
    expect(JSON.stringify(rejected)).not.toContain('MUTHONI');
    expect(rejected.find((r: { details: string }) => JSON.parse(r.details).reason === 'SCAN_WRONG_CENTRE')).toMatchObject({ box_id: boxA.id, centre_code: B });
  });

  it('follows a box through hubs to its centre and receives its cards', async () => {
    expect(await scan(boxA.code, 'in-transit', 'NAIROBI-HUB')).toMatchObject({ from: 'DISPATCHED', to: 'IN_TRANSIT', cards: 0 });
    expect(await scan(boxA.code, 'in-transit', 'THIKA-HUB')).toMatchObject({ from: 'IN_TRANSIT', to: 'IN_TRANSIT' });
    const r = await scan(boxA.code.toLowerCase(), 'received', A.toLowerCase());
    expect(r).toMatchObject({ box: boxA.code, from: 'IN_TRANSIT', to: 'RECEIVED', cards: 25, shipment: { code: shipA, state: 'DISPATCHED' } });
    expect(await count('cards', { box_id: boxA.id, state: 'RECEIVED' })).toBe(25);
    expect((await errorOf(scan(boxA.code, 'received', A))).code).toBe('SCAN_DUPLICATE');
    expect((await errorOf(scan(boxA.code, 'in-transit', 'THIKA-HUB'))).code).toBe('SCAN_OUT_OF_ORDER');
    expect(await scan(boxA.code, 'opened', A)).toMatchObject({ from: 'RECEIVED', to: 'OPENED' });
    // The rest of A's boxes and B's box arrive; C's stays on the road.
    for (const b of await t.db('boxes').where({ centre_code: A }).whereNot({ id: boxA.id })) await scan(b.code, 'received', A);
    expect((await t.db('shipments').where({ code: shipA }).first()).state).toBe('RECEIVED');
    await scan(boxB.code, 'received', B);
    expect(await count('cards', { state: 'RECEIVED' })).toBe(115);
  });

  it('tells a box history and a card history', async () => {
    const h = await boxHistory(t.db, boxA.code);
    expect(h.box).toMatchObject({ code: boxA.code, state: 'OPENED', cards: 25 });
    const kinds = h.events.map((e) => e.event);
    for (const k of ['box.create', 'box.seal', 'dispatched', 'in-transit', 'received', 'opened', 'rejected']) expect(kinds).toContain(k);
    const card = made.find((m) => m.centre === A)!;
    const ch = await cardHistory(t.db, card.documentNumber);
    expect(ch.card).toMatchObject({ state: 'RECEIVED', box: boxA.code, shipment: shipA });
    const ev = ch.events.map((e) => e.event);
    expect(ev).toEqual(expect.arrayContaining(['card ORDERED→PREPARED', 'card QC_PASSED→PACKED', 'card PACKED→DISPATCHED', 'card DISPATCHED→RECEIVED', 'received']));
    expect(ev.indexOf('card QC_PASSED→PACKED')).toBeLessThan(ev.indexOf('card DISPATCHED→RECEIVED'));
  });
});

describe('issuance at the centre', () => {
  it('issues a received card at its own centre only', async () => {
    const card = made.find((m) => m.centre === A)!;
    const order = await t.db('card_orders').where({ id: card.orderId }).first();
    const refusals: Array<[Parameters<typeof issueCard>[1], string]> = [
      [{ documentNumber: card.documentNumber, centre: B, actor: 'clerk:gil' }, 'ISSUE_WRONG_CENTRE'],
      [{ documentNumber: 'AK9999999', centre: A, actor: 'clerk:gil' }, 'ISSUE_UNKNOWN_DOCUMENT'],
      [{ documentNumber: card.documentNumber, centre: 'KE-999-99', actor: 'clerk:gil' }, 'ISSUE_UNKNOWN_CENTRE'],
      [{ documentNumber: made.find((m) => m.centre === C)!.documentNumber, centre: C, actor: 'clerk:gil' }, 'ISSUE_NOT_RECEIVED'],
      [{ documentNumber: card.documentNumber, centre: A, actor: 'clerk:gil', holderNationalNumber: '00000000' }, 'ISSUE_HOLDER_MISMATCH'],
    ];
    for (const [o, code] of refusals) expect((await errorOf(issueCard(t.db, o))).code, code).toBe(code);
    expect((await t.db('cards').where({ id: card.id }).first()).state).toBe('RECEIVED');
    expect(await count('tracking_events', { event: 'issue-refused' })).toBe(refusals.length);
    const wrong = await t.db('tracking_events').where({ event: 'issue-refused', card_id: card.id, centre_code: B }).first();
    expect(JSON.parse(wrong.details)).toEqual({ reason: 'ISSUE_WRONG_CENTRE' });

    const r = await issueCard(t.db, { documentNumber: card.documentNumber.toLowerCase(), centre: A, actor: 'clerk:gil', holderNationalNumber: order.national_number, clock: clockAt(5) });
    expect(r).toMatchObject({ documentNumber: card.documentNumber, state: 'ISSUED', orderStatus: 'FULFILLED' });
    expect((await t.db('card_orders').where({ id: card.orderId }).first()).status).toBe('FULFILLED');
    expect((await errorOf(issueCard(t.db, { documentNumber: card.documentNumber, centre: A, actor: 'x' }))).code).toBe('ISSUE_ALREADY_ISSUED');
    // Issue 59 more at A, spread over days, and spoil one card in transit (lost).
    for (const m of made.filter((x) => x.centre === A).slice(1, 60)) await issueCard(t.db, { documentNumber: m.documentNumber, centre: A, actor: 'clerk:gil', clock: clockAt(6) });
    const lost = made.find((m) => m.centre === C)!;
    await transitionCard(t.db, { cardId: lost.id, from: 'DISPATCHED', to: 'SPOILED', reason: 'LOST_IN_TRANSIT', actor: 'ops:hal' });
  });
});

describe('ageing, returns and destruction', () => {
  it('reports uncollected cards per centre by days waiting', async () => {
    // Received cards are dated by their receipt (the scan clock was day 3); look from day 50.
    const r = await ageingReport(t.db, { clock: clockAt(50) });
    expect(r.buckets).toEqual(['0-30', '31-60', '61-90', '91-180', '>180']);
    const a = r.centres.find((c) => c.centre === A)!;
    expect(a).toMatchObject({ uncollected: 40, issued: 60, returned: 0, oldestDays: 47 });
    expect(a.buckets).toEqual({ '0-30': 0, '31-60': 40, '61-90': 0, '91-180': 0, '>180': 0 });
    expect(a.collectionRate).toBe(0.6);
    expect(r.centres.find((c) => c.centre === B)).toMatchObject({ uncollected: 15, issued: 0 });
    expect(r.totals.uncollected).toBe(55);
    const out2 = await dispatchCommands.ageing(t.db, { centre: B });
    expect((out2.json as { centres: unknown[] }).centres).toHaveLength(1);
  });

  it('returns cards uncollected for more than N days, then destroys them with a witness', async () => {
    const dry = await returnUncollected(t.db, { actor: 'ops:hal', olderThanDays: 90, dryRun: true, clock: clockAt(60) });
    expect(dry).toMatchObject({ returned: 0, dryRun: true });
    const dry2 = await returnUncollected(t.db, { actor: 'ops:hal', olderThanDays: 90, dryRun: true, clock: clockAt(100) });
    expect(dry2).toMatchObject({ returned: 55, byCentre: { [A]: 40, [B]: 15 } });
    const onlyB = await returnUncollected(t.db, { actor: 'ops:hal', centre: B, clock: clockAt(100) });
    expect(onlyB).toMatchObject({ returned: 15, dryRun: false, byCentre: { [B]: 15 } });
    const rest = await returnUncollected(t.db, { actor: 'ops:hal', clock: clockAt(100) });
    expect(rest.returned).toBe(40);
    expect(await count('cards', { state: 'RETURNED' })).toBe(55);
    const ret = await t.db('cards').where({ state: 'RETURNED' }).first();
    expect(ret.spoil_reason).toBeNull();
    const audit = await t.db('audit_log').where({ entity_type: 'card', entity_id: String(ret.id) }).orderBy('seq', 'desc').first();
    expect(JSON.parse(audit.data)).toMatchObject({ from: 'RECEIVED', to: 'RETURNED', reason: 'UNCOLLECTED' });

    const issued = made.find((m) => m.centre === A)!;
    expect((await errorOf(destroyReturned(t.db, { actor: 'ops:hal', witness: 'sec:ivy', documentNumbers: [ret.document_number, issued.documentNumber] }))).code).toBe('DESTROY_NOT_RETURNED');
    expect((await errorOf(destroyReturned(t.db, { actor: 'ops:hal', witness: 'sec:ivy', documentNumbers: ['NOPE'] }))).code).toBe('CARD_NOT_FOUND');
    expect((await errorOf(destroyReturned(t.db, { actor: 'ops:hal', witness: ' ', all: true }))).code).toBe('DISPATCH_INVALID_OPTION');
    expect(await count('cards', { state: 'DESTROYED' })).toBe(0);
    const one = await destroyReturned(t.db, { actor: 'ops:hal', witness: 'sec:ivy', documentNumbers: [ret.document_number] });
    expect(one).toEqual({ destroyed: 1, ordersClosed: 1 });
    const all = await destroyReturned(t.db, { actor: 'ops:hal', witness: 'sec:ivy', all: true });
    expect(all).toEqual({ destroyed: 54, ordersClosed: 54 });
    expect(await count('card_orders', { status: 'CLOSED' })).toBe(55);
  });
});

describe('reconciliation', () => {
  it('balances: received = issued + in process + in stock + spoiled + returned + destroyed', async () => {
    const r = await reconcile(t.db);
    expect(r.differences).toEqual([]);
    expect(r.ok).toBe(true);
    // 200 received: 60 issued, 4 in process (C's box), 80 in stock, 1 spoiled (lost), 55 destroyed.
    expect(r.blanks).toEqual({ received: 200, issued: 60, inProcess: 4, inStock: 80, spoiled: 1, returned: 0, destroyed: 55, accounted: 200, difference: 0 });
    expect(r.lots[0]).toMatchObject({ lot: 'LOT-2026-001', consumed: 120, inStock: 80, overConsumed: 0 });
    expect(r.centres.find((c) => c.centre === A)).toMatchObject({ dispatched: 100, issued: 60, destroyed: 40, difference: 0 });
    expect(r.centres.find((c) => c.centre === C)).toMatchObject({ dispatched: 5, inTransit: 4, spoiledAfterDispatch: 1, difference: 0 });
    expect(r.batches).toEqual([{ batch: null, consumed: 120, issued: 60, inProcess: 4, spoiled: 1, returned: 0, destroyed: 55, spoilageRate: 0.0083 }]);
    expect(r.orders).toMatchObject({ FULFILLED: 60, CLOSED: 55, OPEN: 5 });
    const cli = await dispatchCommands.reconcile(t.db);
    expect(cli.exitCode).toBeUndefined();
    expect(cli.text[0]).toContain('reconciliation OK');
  });

  it('fails loudly, itemising each kind of difference', async () => {
    // 1. A blank of unknown origin: a card names no lot.
    const victim = made.find((m) => m.centre === C && m.id !== made.find((x) => x.centre === C)!.id)!;
    await t.db('cards').where({ id: victim.id }).update({ lot_id: null });
    let r = await reconcile(t.db);
    expect(r.ok).toBe(false);
    expect(r.blanks.difference).toBe(-1);
    expect(r.differences.map((d) => d.code)).toEqual(['BALANCE_MISMATCH', 'BLANK_WITHOUT_LOT']);
    expect(r.differences[1]).toMatchObject({ count: 1, sample: [victim.id] });
    const cli = await dispatchCommands.reconcile(t.db);
    expect(cli.exitCode).toBe(3);
    expect(cli.text.join('\n')).toContain('BLANK_WITHOUT_LOT');
    await t.db('cards').where({ id: victim.id }).update({ lot_id: (await t.db('blank_lots').first()).id });

    // 2. A lot that gave out more than it held.
    const small = await receiveBlankLot(t.db, { lot: 'LOT-SMALL', quantity: 1, supplier: 'x', chipType: 'y', actor: 'stores:bob' });
    const two = made.filter((m) => m.centre === A).slice(0, 2);
    await t.db('cards').whereIn('id', two.map((m) => m.id)).update({ lot_id: small.id });
    r = await reconcile(t.db);
    expect(r.differences.map((d) => d.code)).toEqual(['BALANCE_MISMATCH', 'LOT_OVER_CONSUMED']);
    expect(r.differences[1]).toMatchObject({ lot: 'LOT-SMALL', count: 1 });
    expect(r.blanks).toMatchObject({ received: 201, difference: -1 });
    await t.db('cards').whereIn('id', two.map((m) => m.id)).update({ lot_id: (await t.db('blank_lots').where({ lot_number: 'LOT-2026-001' }).first()).id });
    await t.db('blank_lots').where({ id: small.id }).delete();

    // 3. Two live cards for one order (the database index normally forbids it) and a box at the wrong place.
    await t.db.raw('DROP INDEX cards_one_live_per_order');
    const o = made.find((m) => m.centre === C && m.id !== victim.id && m.id !== made.find((x) => x.centre === C)!.id)!;
    await t.db('cards').insert({ order_id: o.orderId, state: 'ORDERED', centre_code: C, created_at: t0.toISOString(), updated_at: t0.toISOString() });
    const cBox = await t.db('boxes').where({ centre_code: C }).first();
    await t.db('boxes').where({ id: cBox.id }).update({ state: 'SEALED' });
    r = await reconcile(t.db);
    expect(r.differences.map((d) => d.code).sort()).toEqual(['CARD_BOX_STATE_MISMATCH', 'ORDER_TWO_LIVE_CARDS']);
    expect(r.differences.find((d) => d.code === 'ORDER_TWO_LIVE_CARDS')).toMatchObject({ count: 1, sample: [o.orderId] });
    expect(r.blanks.difference).toBe(0); // an ORDERED card holds no blank yet
  });

  it('kept the audit chain intact and free of holder data', async () => {
    expect((await verifyAudit(t.db)).ok).toBe(true);
    const blob = (await t.db('audit_log').select('data')).map((a: { data: string }) => a.data).join('\n');
    const events = (await t.db('tracking_events').select('details')).map((a: { details: string }) => a.details).join('\n');
    for (const rec of records.slice(0, 60)) {
      for (const v of [rec.surname, rec.nationalNumber]) {
        if (v && v.length > 3) {
          expect(blob).not.toContain(v);
          expect(events).not.toContain(v);
        }
      }
    }
  });
});

describe('concurrent packers', () => {
  it('never overfill a box nor pack a card twice', async () => {
    const start = Number((await registry('enrolments').max({ m: 'registry_id' }))[0]!.m) + 1;
    const more = [...generateRecords({ count: 40, seed: 'dispatch-more', startId: start, invalidRate: 0, nonApprovedRate: 0 })].map((r) => ({ ...r, collectionCentre: B }));
    await insertRecords(registry, more);
    const lastCard = Number((await t.db('cards').max({ m: 'id' }))[0]!.m);
    expect((await runIntake({ db: t.db, registry, actor: 'test', today: new Date('2026-01-15T00:00:00Z') })).ordered).toBe(40);
    await produce((await t.db('blank_lots').where({ lot_number: 'LOT-2026-001' }).first()).id, lastCard);
    const runs = await Promise.all([1, 2, 3].map((i) => packCards(t.db, { actor: `pack:${i}`, centre: B, capacity: 7, pageSize: 5 })));
    expect(runs.reduce((a, r) => a + r.packed, 0)).toBe(40);
    const boxes = (await t.db('boxes as b')
      .join('cards as c', 'c.box_id', 'b.id')
      .where('c.state', 'PACKED')
      .select('b.id', 'b.capacity', 'b.centre_code')
      .count({ n: '*' })
      .groupBy('b.id', 'b.capacity', 'b.centre_code')) as unknown as Array<{ capacity: number; centre_code: string; n: unknown }>;
    expect(boxes.reduce((a, b) => a + Number(b.n), 0)).toBe(40);
    for (const b of boxes) {
      expect(Number(b.n)).toBeLessThanOrEqual(Number(b.capacity));
      expect(b.centre_code).toBe(B);
    }
    // Every card went through one compare-and-set: exactly one PACKED audit entry each.
    const packedEntries = await t.db('audit_log').where('data', 'like', '%"to":"PACKED"%').count({ n: '*' });
    expect(Number(packedEntries[0]!.n)).toBe(121 + 40);
  });
});

describe('kadi commands (in process)', () => {
  it('prints JSON, reports errors with codes, and exits as documented', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'kadi-dispatch-cli-'));
    const saved = { KADI_HOME: process.env.KADI_HOME, KADI_DB_URL: process.env.KADI_DB_URL };
    process.env.KADI_HOME = home;
    process.env.KADI_DB_URL = t.url;
    const stdout: string[] = [];
    const stderr: string[] = [];
    const w1 = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (stdout.push(String(s)), true));
    const w2 = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (stderr.push(String(s)), true));
    const kadi = async (...args: string[]) => {
      stdout.length = 0;
      stderr.length = 0;
      process.exitCode = undefined;
      const program = new Command().exitOverride().option('--actor <name>', 'actor', 'cli-test');
      program.configureOutput({ writeErr: (s) => stderr.push(s), writeOut: (s) => stdout.push(s) });
      registerDispatchCommands(program, () => 'cli-test');
      let code: number | undefined;
      try {
        await program.parseAsync(['node', 'kadi', ...args]);
        code = Number(process.exitCode ?? 0);
      } catch (e) {
        code = (e as { exitCode?: number }).exitCode ?? -1;
      }
      process.exitCode = undefined;
      return { code, out: stdout.join(''), err: stderr.join('') };
    };
    try {
      const list = await kadi('stock', 'list', '--json');
      expect(list.code).toBe(0);
      expect(JSON.parse(list.out)).toMatchObject({ lots: [{ lot: 'LOT-2026-001', quantity: 200 }], totals: { quantity: 200 } });

      const bad = await kadi('track', 'scan', 'BX0000000000', '--event', 'received', '--at', A, '--json');
      expect(bad.code).toBe(1);
      expect(JSON.parse(bad.out)).toMatchObject({ error: { code: 'SCAN_MALFORMED_CODE', retryable: false } });
      expect(bad.err).toContain('error SCAN_MALFORMED_CODE');

      const rec = await kadi('reconcile', '--json');
      expect(rec.code).toBe(3);
      expect(JSON.parse(rec.out)).toMatchObject({ ok: false, equation: 'received = issued + inProcess + inStock + spoiled + returned + destroyed' });

      const usage = await kadi('dispatch', 'ship');
      expect(usage.code).toBe(2);
      const badEvent = await kadi('track', 'scan', 'BX0000000017', '--event', 'lost', '--at', A);
      expect(badEvent.code).not.toBe(0);

      const m = await kadi('dispatch', 'manifest', shipB, '--out', out, '--format', 'csv,json', '--json');
      expect(m.code, m.err).toBe(0);
      expect(JSON.parse(m.out)).toMatchObject({ shipment: shipB, boxes: 1, cards: 15, pages: null });
      const hist = await kadi('track', 'history', shipC, '--json');
      expect(JSON.parse(hist.out)).toMatchObject({ shipment: { code: shipC, boxes: 1 } });
      const ship = await kadi('dispatch', 'shipments', '--json');
      expect(JSON.parse(ship.out).shipments).toHaveLength(3);
      const human = await kadi('dispatch', 'ageing');
      expect(human.out).toContain('uncollected');
    } finally {
      w1.mockRestore();
      w2.mockRestore();
      process.env.KADI_HOME = saved.KADI_HOME;
      process.env.KADI_DB_URL = saved.KADI_DB_URL;
      if (saved.KADI_HOME === undefined) delete process.env.KADI_HOME;
      if (saved.KADI_DB_URL === undefined) delete process.env.KADI_DB_URL;
      rmSync(home, { recursive: true, force: true });
    }
  });
});
