/**
 * Chip encoding end to end with the real components: pcscd + vpcd + Kadi virtual cards (applets/), SoftHSM (card
 * keys derived in the token, EF.SOD signed there), the database of the vitest project (SQLite, and PostgreSQL in
 * the postgres project). Covers the encode sequence, the read-back checked by independent parties (the applets'
 * reference terminal reading with BAC, `openssl cms -verify`), every fault of issue 4 item 5, crash recovery, blank
 * stock, the order's replacement cards and its REVIEW after too many attempts.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EID_AID as APPLET_EID_AID, fidOfDataGroup } from '../applets/eid/eid.ts';
import { CardLauncher, type InsertedCard, type NewCardOptions } from '../applets/launcher.ts';
import { findApplicationDf, findEf } from '../applets/runtime/fs.ts';
import { DirCardStore } from '../applets/runtime/store.ts';
import { connect, disconnect, transmitter } from '../applets/pcsc.ts';
import { Terminal } from '../applets/testing/terminal.ts';
import { verifyAudit } from '../src/audit/index.ts';
import { createBatch } from '../src/batches/index.ts';
import { releaseOrderReview, spoilAndReplace, transitionCard } from '../src/cards/index.ts';
import { receiveBlankLot, stockReport } from '../src/dispatch/index.ts';
import {
  CardSpoiledError,
  type EncodeDeps,
  type EncodeResult,
  type Encoder,
  EncodeCode,
  EncodeError,
  ReaderPool,
  SpoilReason,
  claimBlank,
  decodeTrace,
  encodeCard,
  loadRuns,
  registerEncoder,
} from '../src/encoders/index.ts';
import { HsmCardKeys, Pkcs11Hsm, importCardMasterKey } from '../src/hsm/index.ts';
import { runIntake } from '../src/intake/index.ts';
import { type DsSigningSession, ceremony, currentDsSigner, exportCsca, parseCeremonyDefinition } from '../src/keys/index.ts';
import { decodeDg1 } from '../src/lds/index.ts';
import { encodeStage } from '../src/pipeline/index.ts';
import { parseCertificate, unwrapSod, verifySod } from '../src/pki/index.ts';
import { loadChipImage } from '../src/prepare/index.ts';
import { ensureRegistrySchema, seedRegistry } from '../src/registry/index.ts';
import { openDb } from '../src/db/index.ts';
import { createTestDatabase, seedOrderAndCard, type TestDatabase } from './support/db.ts';
import { claimReaderSlots, testServices, type SlotClaim } from './support/env.ts';
import { SOFTHSM_MODULE, makeConfig, startServices, stopServices, type ServiceConfig } from './support/services.ts';

const REPO = path.resolve(import.meta.dirname, '..');
const definition = parseCeremonyDefinition(JSON.parse(readFileSync(path.join(REPO, 'hsm/ceremony.json'), 'utf8')));
const MASTER = new Uint8Array(randomBytes(32)); // the issuer's card master key, handed to the "card manufacturer"
const LOT = 'T-LOT-1';

let home: string;
let hsmCfg: ServiceConfig;
let hsm: Pkcs11Hsm;
let t: TestDatabase;
let registry: Knex;
let signer: DsSigningSession;
let keys: HsmCardKeys;
let claim: SlotClaim;
let pool: ReaderPool;
let launcher: CardLauncher;
let store: DirCardStore;
let deps: EncodeDeps;
let encoderId: number;
let cscaPem: string;
const readers: Array<{ name: string; index: number; port: number }> = [];

beforeAll(async () => {
  const s = testServices(); // PCSCLITE_CSOCK_NAME for this worker
  home = mkdtempSync(path.join(os.tmpdir(), 'kadi-encode-test-'));
  // A token of this file's own (the run's shared token is used by other files' key ceremonies at the same time).
  hsmCfg = await makeConfig(home, { readers: 1 });
  const info = await startServices(hsmCfg, ['softhsm']);
  process.env.SOFTHSM2_CONF = info.softhsmConf;
  hsm = Pkcs11Hsm.open({ module: SOFTHSM_MODULE, token: 'kadi', pin: readFileSync(info.hsmPinFile, 'utf8').trim(), sessions: 2 });

  t = await createTestDatabase();
  registry = openDb(await t.makeUrl('registry'));
  await ensureRegistrySchema(registry);
  await seedRegistry(registry, { count: 24, seed: 'encode-test', invalidRate: 0 });
  await runIntake({ db: t.db, registry, actor: 'test' });
  const { prepareCard } = await import('../src/prepare/index.ts');
  for (const c of await t.db('cards').orderBy('id').select('id')) {
    await prepareCard(t.db, c.id, { actor: 'worker:prepare', issuingState: 'KEN', issuingAuthority: 'REGISTRAR OF PERSONS KENYA', validityYears: 10, personalisationSystem: 'KADI-TEST' });
  }
  await receiveBlankLot(t.db, { lot: LOT, quantity: 40, supplier: 'Test Cards Ltd', chipType: 'KADI-VIRTUAL', actor: 'stores' });

  await ceremony({ db: t.db, keyStore: hsm, actor: 'custodian' }, definition, { algorithm: 'ecdsa-p256' });
  cscaPem = (await exportCsca({ db: t.db, actor: 'custodian' })).pem;
  signer = await currentDsSigner({ db: t.db, keyStore: hsm, actor: 'worker:encode' });
  await importCardMasterKey(hsm, 'kadi-gp-master', MASTER);
  keys = new HsmCardKeys(hsm, 'kadi-gp-master');
  await keys.open();

  claim = claimReaderSlots(2);
  for (const sl of claim.slots) readers.push({ name: sl.name, index: sl.port - s.readerBasePort, port: sl.port });
  pool = await ReaderPool.open({ readers: readers.map((r) => r.name) });
  store = new DirCardStore(path.join(home, 'cards'));
  launcher = new CardLauncher({ store, masterKey: MASTER });
  encoderId = await registerEncoder(t.db, readers[0]!.name);
  deps = { db: t.db, keys, signer, actor: 'worker:encode', lot: LOT, limitsCache: new Map() };
});

afterAll(async () => {
  await launcher?.stop();
  for (const r of readers) await pool?.encoder(r.name).ctx.waitEmpty(r.name, 5_000).catch(() => undefined);
  await pool?.close();
  claim?.release();
  await signer?.close();
  await hsm?.close();
  await registry?.destroy();
  await t?.close();
  if (hsmCfg) await stopServices(hsmCfg, ['softhsm']).catch(() => undefined);
  if (home) rmSync(home, { recursive: true, force: true });
});

/** The next PREPARED card. */
async function preparedCard(): Promise<number> {
  const row = await t.db('cards').where({ state: 'PREPARED' }).orderBy('id').first('id');
  if (!row) throw new Error('no PREPARED card left');
  return Number(row.id);
}

/** Puts a new blank (with `opts`) in reader 0, runs `fn` on its encoder, takes the card out again. */
async function withBlank<T>(opts: NewCardOptions, fn: (enc: Encoder, card: InsertedCard) => Promise<T>, serial?: string): Promise<T> {
  const r = readers[0]!;
  const slot = { index: r.index, port: r.port, name: r.name };
  const card = serial ? await launcher.insert(serial, slot, opts.faults) : await launcher.insertNew(slot, opts);
  const enc = await pool.acquire({ reader: r.name, timeoutMs: 15_000 });
  try {
    return await fn(enc, card);
  } finally {
    pool.release(enc);
    await launcher.remove(r.index);
    await enc.ctx.waitEmpty(r.name);
  }
}

async function encodeOn(enc: Encoder, cardId: number, d: EncodeDeps = deps): Promise<EncodeResult> {
  return encodeCard(d, { name: enc.name, id: encoderId, channel: enc.channel }, cardId);
}

async function lotClaimed(): Promise<number> {
  const row = await t.db('blank_lot_usage as u').join('blank_lots as l', 'l.id', 'u.lot_id').where('l.lot_number', LOT).first('u.claimed');
  return row ? Number(row.claimed) : 0;
}

/** What every spoiled blank must look like. */
async function expectSpoiled(r: EncodeResult, cardId: number, reason: string): Promise<void> {
  expect(r.outcome).toBe('SPOILED');
  expect(r.reason).toBe(reason);
  expect(r.error).toBeInstanceOf(CardSpoiledError);
  expect(r.error!.code).toBe(reason);
  expect(r.error!.retryable).toBe(false);
  const card = await t.db('cards').where({ id: cardId }).first();
  expect(card).toMatchObject({ state: 'SPOILED', spoil_reason: reason, encoder_id: encoderId });
  expect(card.blank_serial).toMatch(/^[0-9A-F]{12}$/);
  expect(card.chip_serial).toMatch(/^[0-9A-F]{20}$/);
  expect(card.lot_id).not.toBeNull();
  // the order is ready for a new blank: one new ORDERED card, no batch, no blank
  const cards = await t.db('cards').where({ order_id: card.order_id }).orderBy('id').select('id', 'state', 'batch_id', 'blank_serial', 'lot_id');
  const live = cards.filter((c: { state: string }) => c.state !== 'SPOILED');
  expect(live).toHaveLength(1);
  expect(live[0]).toMatchObject({ id: r.replacementCardId, state: 'ORDERED', batch_id: null, blank_serial: null, lot_id: null });
  const order = await t.db('card_orders').where({ id: card.order_id }).first('attempts', 'status');
  expect(order).toMatchObject({ status: 'OPEN' });
  expect(Number(order.attempts)).toBe(cards.length);
  const runs = await loadRuns(t.db, cardId);
  expect(runs.at(-1)).toMatchObject({ outcome: 'SPOILED', reasonCode: reason });
}

describe('encode: the sequence end to end', { timeout: 120_000 }, () => {
  let encodedCardId: number;
  let encodedSerial: string;

  it('encodes a prepared card: SCP03 with HSM-derived keys, files, AA key, SOD, BAC secrets, lock, BAC read-back', async () => {
    const cardId = await preparedCard();
    const before = await lotClaimed();
    const r = await withBlank({}, async (enc, card) => {
      encodedSerial = card.serial;
      return encodeOn(enc, cardId);
    });
    expect(r.error?.message).toBeUndefined();
    expect(r.outcome).toBe('ENCODED');
    encodedCardId = cardId;

    // the card row: ENCODED, with its blank, lot and encoder; one blank consumed
    const card = await t.db('cards').where({ id: cardId }).first();
    expect(card).toMatchObject({ state: 'ENCODED', blank_serial: encodedSerial, encoder_id: encoderId, spoil_reason: null });
    expect(card.chip_serial).toBe(`4B440001${encodedSerial.slice(0, 4)}${encodedSerial.slice(4)}`);
    expect(await lotClaimed()).toBe(before + 1);
    const lot = (await stockReport(t.db)).find((l) => l.lot === LOT)!;
    expect(lot.consumed).toBe(await lotClaimed()); // the stock report (counting cards) agrees with the lot counter
    expect(Number((await t.db('encoders').where({ id: encoderId }).first('cards_encoded')).cards_encoded)).toBe(1);

    // APDUs: at the minimum for the card's limits (steady state: the first card also reads EF.ATR/INFO)
    expect(r.stats!.apdus).toBeLessThanOrEqual(Math.ceil(r.stats!.minApdus * 1.1) + 2);
    expect(r.trace.some((x) => x.lc > 255)).toBe(true); // extended-length APDUs are used

    // the stored run and APDU trace: headers, lengths, SWs; no personal data, no key bytes
    const runs = await loadRuns(t.db, cardId);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ outcome: 'ENCODED', reasonCode: null });
    expect(runs[0]!.trace.length).toBe(r.stats!.apdus);
    expect(runs[0]!.trace.map((x) => x.label)).toEqual(expect.arrayContaining(['CPLC', 'SCP03', 'AA key', 'DG2', 'EF.SOD', 'BAC secrets', 'lock', 'BAC', 'AA']));
    const raw = String((await t.db('apdu_traces').where({ card_id: cardId }).first('trace')).trace);
    const image = await loadChipImage(t.db, cardId);
    const mrz = decodeDg1(image.dataGroups.get(1)!).parsed;
    for (const secret of [image.documentNumber, mrz.surname.split(' ')[0]!, mrz.dateOfBirth, Buffer.from(MASTER).toString('hex').slice(0, 16).toUpperCase()]) {
      expect(raw.toUpperCase()).not.toContain(secret.toUpperCase());
    }
    expect(decodeTrace(raw)).toEqual(runs[0]!.trace);

    // the audit chain holds PREPARED -> ENCODING -> ENCODED and verifies
    const moves = await t.db('audit_log').where({ entity_type: 'card', entity_id: String(cardId), action: 'card.transition' }).orderBy('seq').select('data');
    expect(moves.map((m: { data: string }) => JSON.parse(m.data)).map((d: { from: string; to: string }) => `${d.from}>${d.to}`)).toEqual(['ORDERED>PREPARED', 'PREPARED>ENCODING', 'ENCODING>ENCODED']);
    expect((await verifyAudit(t.db)).ok).toBe(true);
  });

  it('the chip holds what an inspection system expects (independent readers: applets terminal over BAC, openssl cms)', async () => {
    const image = await loadChipImage(t.db, encodedCardId);
    const mrz = decodeDg1(image.dataGroups.get(1)!).parsed;
    const stored = store.load(encodedSerial)!;
    expect(stored.eid.lifeCycle).toBe(0x0f); // PERSONALIZED: locked
    expect(stored.eid.documentNumber).toBe(image.documentNumber);
    const df = findApplicationDf(stored.mf, APPLET_EID_AID)!;
    const sod = findEf(df, 0x011d)!.data;

    // openssl, written by others, verifies the SOD against the CSCA
    const dir = mkdtempSync(path.join(home, 'sod-'));
    writeFileSync(path.join(dir, 'sod.cms'), unwrapSod(sod));
    writeFileSync(path.join(dir, 'csca.pem'), cscaPem);
    const out = execFileSync('openssl', ['cms', '-verify', '-inform', 'DER', '-in', path.join(dir, 'sod.cms'), '-CAfile', path.join(dir, 'csca.pem'), '-binary', '-out', path.join(dir, 'e.bin')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(out).toBeDefined();

    // the applets' reference terminal reads the locked card with BAC, as a border inspection system does
    const r = readers[1]!;
    await launcher.insert(encodedSerial, { index: r.index, port: r.port, name: r.name });
    const ctx = pool.encoder(r.name).ctx;
    await ctx.waitPresent(r.name);
    const reader = ctx.reader(r.name);
    const protocol = await connect(reader as never, 'shared');
    try {
      const term = new Terminal(transmitter(reader as never, protocol));
      await term.selectAid(APPLET_EID_AID);
      await term.bac({ documentNumber: mrz.documentNumber, dateOfBirth: mrz.dateOfBirth, dateOfExpiry: mrz.dateOfExpiry });
      const dgs = new Map<number, Uint8Array>();
      for (const n of [1, 2, 11, 12, 13, 14, 15]) dgs.set(n, await term.readFile(fidOfDataGroup(n), 0x800));
      for (const n of [1, 2, 11, 12, 13, 14]) expect(Buffer.from(dgs.get(n)!)).toEqual(Buffer.from(image.dataGroups.get(n)!));
      const sodRead = await term.readFile(0x011d, 0x800);
      expect(Buffer.from(sodRead)).toEqual(Buffer.from(sod));
      const pa = verifySod(sodRead, { cscas: [parseCertificate(signer.csca.certificate)], dataGroups: dgs });
      expect(pa.valid).toBe(true);
      expect(Object.values(pa.dgMatches).every(Boolean)).toBe(true);
      expect(pa.dgMatches['15']).toBe(true); // the SOD covers DG15, the key made on this chip
    } finally {
      await disconnect(reader as never, 'leave');
      await launcher.remove(r.index);
      await ctx.waitEmpty(r.name);
    }
  });

  it('runs as the pipeline stage on the reader pool (done), and a second run for the same card is skipped', async () => {
    const stage = encodeStage({ pool, deps: { ...deps }, blankWaitMs: 15_000 });
    const cardId = await preparedCard();
    const r = readers[0]!;
    await launcher.insertNew({ index: r.index, port: r.port, name: r.name });
    try {
      expect(await stage.run(cardId)).toBe('done');
      expect((await t.db('cards').where({ id: cardId }).first('state')).state).toBe('ENCODED');
      const claimed = await lotClaimed();
      expect(await stage.run(cardId)).toBe('skipped'); // never a second blank
      expect(await lotClaimed()).toBe(claimed);
    } finally {
      await launcher.remove(r.index);
      await pool.encoder(r.name).ctx.waitEmpty(r.name);
    }
    // with no fresh blank in any reader, a job gives up with a retryable error and the card is untouched
    const next = await preparedCard();
    const err = await encodeStage({ pool, deps, blankWaitMs: 300 }).run(next).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: EncodeCode.NO_BLANK, retryable: true });
    expect((await t.db('cards').where({ id: next }).first('state')).state).toBe('PREPARED');
  });

  it('refuses a blank that is already recorded (a finished card put back): card untouched, nothing consumed', async () => {
    const cardId = await preparedCard();
    const claimed = await lotClaimed();
    const err = await withBlank({}, (enc) => encodeOn(enc, cardId), encodedSerial).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EncodeError);
    expect(err).toMatchObject({ code: EncodeCode.BLANK_ALREADY_RECORDED, retryable: true, details: { cardId: encodedCardId } });
    expect((await t.db('cards').where({ id: cardId }).first('state')).state).toBe('PREPARED');
    expect(await lotClaimed()).toBe(claimed);
  });
});

describe('encode: faults spoil the blank, re-queue the order, never retry', { timeout: 120_000 }, () => {
  it('card pulled mid-write (DG2): ENCODE_CARD_REMOVED', async () => {
    const cardId = await preparedCard();
    const claimed = await lotClaimed();
    // APDUs (limits cached): SELECT ISD, CPLC, SELECT eID, IU, EA, GENERATE KEY, CREATE+UPDATE EF.COM, CREATE+UPDATE
    // DG1, CREATE DG2, UPDATE DG2 #1 = 12; the card is pulled when the second UPDATE BINARY of DG2 arrives.
    const r = await withBlank({ faults: { removeAfterApdus: 12 } }, (enc) => encodeOn(enc, cardId));
    await expectSpoiled(r, cardId, SpoilReason.CARD_REMOVED);
    expect(r.trace.at(-1)).toMatchObject({ ins: 0xd6, label: 'DG2', sw: 0 });
    expect(await lotClaimed()).toBe(claimed + 1);
  });

  it('garbage instead of a response: ENCODE_CARD_RESPONSE_MALFORMED', async () => {
    const cardId = await preparedCard();
    const r = await withBlank({ faults: { garbageAfterApdus: 8 } }, (enc) => encodeOn(enc, cardId));
    await expectSpoiled(r, cardId, SpoilReason.RESPONSE_MALFORMED);
  });

  it('a locked (finished) card: ENCODE_CARD_LOCKED, nothing sent after the CPLC', async () => {
    const cardId = await preparedCard();
    const r = await withBlank({ locked: true }, (enc) => encodeOn(enc, cardId));
    await expectSpoiled(r, cardId, SpoilReason.CARD_LOCKED);
    expect(r.trace.map((x) => x.label)).toEqual(['ISD', 'CPLC']);
  });

  it('an already personalised blank (files present): unexpected SW 6A89 -> ENCODE_CARD_NOT_BLANK', async () => {
    const cardId = await preparedCard();
    const r = await withBlank({ prePersonalised: true }, (enc) => encodeOn(enc, cardId));
    await expectSpoiled(r, cardId, SpoilReason.CARD_NOT_BLANK);
    expect(r.trace.at(-1)).toMatchObject({ ins: 0xe0, sw: 0x6a89 });
  });

  it('a card with another issuer\'s keys: ENCODE_CARD_KEYS_WRONG, nothing written', async () => {
    const cardId = await preparedCard();
    const r = await withBlank({ wrongKeys: true }, (enc) => encodeOn(enc, cardId));
    await expectSpoiled(r, cardId, SpoilReason.CARD_KEYS_WRONG);
    expect(r.trace.some((x) => x.ins === 0x82 && x.cla === 0x84)).toBe(false); // no EXTERNAL AUTHENTICATE was sent
  });

  it('the stage returns spoiled and does not retry; a card pulled while being identified is only rejected', async () => {
    const stage = encodeStage({ pool, deps, blankWaitMs: 15_000 });
    const cardId = await preparedCard();
    const r = readers[0]!;
    await launcher.insertNew({ index: r.index, port: r.port, name: r.name }, { wrongKeys: true });
    try {
      expect(await stage.run(cardId)).toBe('spoiled');
      expect(await stage.run(cardId)).toBe('skipped');
    } finally {
      await launcher.remove(r.index);
      await pool.encoder(r.name).ctx.waitEmpty(r.name);
    }
    // pulled at the CPLC (before any claim): the blank is rejected, the card stays PREPARED, no blank consumed
    const next = await preparedCard();
    const claimed = await lotClaimed();
    const err = await withBlank({ faults: { removeAfterApdus: 1 } }, (enc) => encodeOn(enc, next)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: EncodeCode.BLANK_UNREADABLE, retryable: true });
    expect((await t.db('cards').where({ id: next }).first('state')).state).toBe('PREPARED');
    expect(await lotClaimed()).toBe(claimed);
  });

  it('a slow card still encodes', async () => {
    const cardId = await preparedCard();
    const r = await withBlank({ faults: { slowMs: 3 } }, (enc) => encodeOn(enc, cardId));
    expect(r.outcome).toBe('ENCODED');
  });

  it('counts every spoiled blank on the encoder and keeps the audit chain intact', async () => {
    const enc = await t.db('encoders').where({ id: encoderId }).first('cards_spoiled', 'cards_encoded');
    expect(Number(enc.cards_spoiled)).toBe(6);
    expect((await verifyAudit(t.db)).ok).toBe(true);
  });
});

describe('encode: stock, crash recovery, review', { timeout: 120_000 }, () => {
  it('claims from the configured lot only while it has stock (ENCODE_NO_BLANK_STOCK, ENCODE_LOT_NOT_FOUND)', async () => {
    await receiveBlankLot(t.db, { lot: 'T-LOT-SMALL', quantity: 1, supplier: 'Test Cards Ltd', chipType: 'KADI-VIRTUAL', actor: 'stores' });
    // a worker claims the lot's only blank for card A, then stops (crash): A stays ENCODING
    const a = await preparedCard();
    const c = await claimBlank(t.db, { cardId: a, encoderId, encoderName: readers[0]!.name, chipSerial: '4B440001DEADBEEF0001', blankSerial: 'DEADBEEF0001', lot: 'T-LOT-SMALL', securityLevel: 0x33, actor: 'worker:gone' });
    expect(c.claimed).toBe(true);
    const b = (await t.db('cards').where({ state: 'PREPARED' }).whereNot({ id: a }).orderBy('id').first('id')).id as number;
    const empty = await withBlank({}, (enc) => encodeOn(enc, b, { ...deps, lot: 'T-LOT-SMALL' })).catch((e: unknown) => e);
    expect(empty).toMatchObject({ code: EncodeCode.NO_BLANK_STOCK });
    const unknown = await withBlank({}, (enc) => encodeOn(enc, b, { ...deps, lot: 'T-LOT-NONE' })).catch((e: unknown) => e);
    expect(unknown).toMatchObject({ code: EncodeCode.LOT_NOT_FOUND });
    expect((await t.db('cards').where({ id: b }).first('state')).state).toBe('PREPARED');

    // the stage, run again for A, finds it ENCODING with a fresh claim: another process may still be writing it,
    // so the job is retried later (retryable ENCODE_CLAIM_ACTIVE) and the card is left alone
    await expect(encodeStage({ pool, deps, blankWaitMs: 100 }).run(a)).rejects.toMatchObject({ code: 'ENCODE_CLAIM_ACTIVE', retryable: true });
    expect((await t.db('cards').where({ id: a }).first('state')).state).toBe('ENCODING');
    // once the claim is stale nobody is working on it: ENCODE_INTERRUPTED + replacement
    const stage = encodeStage({ pool, deps, blankWaitMs: 100, claimStaleMs: 0 });
    expect(await stage.run(a)).toBe('spoiled');
    const card = await t.db('cards').where({ id: a }).first();
    expect(card).toMatchObject({ state: 'SPOILED', spoil_reason: SpoilReason.INTERRUPTED, blank_serial: 'DEADBEEF0001' });
    expect((await loadRuns(t.db, a))[0]).toMatchObject({ outcome: 'INTERRUPTED' });
    expect(await t.db('cards').where({ order_id: card.order_id, state: 'ORDERED' }).first('id')).toBeDefined();
    expect(await stage.run(a)).toBe('skipped');
  });

  it('spoilAndReplace: a new card per spoiled blank, then REVIEW after the attempts; a supervisor releases it', async () => {
    const { orderIds, cardIds } = await seedOrderAndCard(t.db, 1);
    const orderId = orderIds[0]!;
    let cardId = cardIds[0]!;
    const ruin = async (): Promise<Awaited<ReturnType<typeof spoilAndReplace>>> => {
      await transitionCard(t.db, { cardId, from: 'ORDERED', to: 'PREPARED', actor: 'test' });
      await transitionCard(t.db, { cardId, from: 'PREPARED', to: 'ENCODING', actor: 'test' });
      return t.db.transaction((trx) => spoilAndReplace(trx, cardId, SpoilReason.CARD_REMOVED, 'test', { from: 'ENCODING', maxAttempts: 3 }));
    };
    let r = await ruin();
    expect(r).toMatchObject({ orderStatus: 'OPEN', attempts: 2 });
    cardId = r.replacementCardId!;
    r = await ruin();
    expect(r).toMatchObject({ orderStatus: 'OPEN', attempts: 3 });
    cardId = r.replacementCardId!;
    r = await ruin();
    expect(r).toMatchObject({ orderStatus: 'REVIEW', attempts: 3, replacementCardId: null });
    expect(await t.db('cards').where({ order_id: orderId }).whereNot({ state: 'SPOILED' }).first('id')).toBeUndefined();
    const review = await t.db('audit_log').where({ entity_type: 'order', entity_id: String(orderId), action: 'order.review' }).first('data');
    expect(JSON.parse(review.data)).toMatchObject({ reason: SpoilReason.CARD_REMOVED, attempts: 3 });
    // a batch does not pick the order up while it is under review
    const b = await createBatch(t.db, { size: 1000, actor: 'op' });
    expect(await t.db('cards').where({ order_id: orderId, batch_id: b.id }).first('id')).toBeUndefined();
    const rel = await t.db.transaction((trx) => releaseOrderReview(trx, orderId, 'supervisor'));
    expect(await t.db('cards').where({ id: rel.cardId }).first('state')).toMatchObject({ state: 'ORDERED' });
    expect(await t.db('card_orders').where({ id: orderId }).first('status', 'attempts')).toMatchObject({ status: 'OPEN', attempts: 4 });
    expect((await verifyAudit(t.db)).ok).toBe(true);
  });
});
