/**
 * Chip and face QC of cards on Kadi's virtual card through the run's pcscd + vpcd (the PC/SC CardChannel adapter
 * of src/encoders), with the real trust material: CSCA, Document Signer and CRL from a key ceremony in SoftHSM.
 * Each bad card is made with the test personaliser (test/support/qc-cards.ts) and caught with its reason code:
 * wrong DG hash, bad SOD signature, unknown DS (another CSCA), revoked DS (a CRL issued by `issueCrl`), AA
 * failure, unlocked card, DG1 not matching the order's record; on the face, an MRZ that differs from DG1 and a
 * tampered seal. Then the `kadi qc` commands: chip (--card, --mrz, --no-record), face, visual, show, reasons,
 * report (JSON + PDF).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CardLauncher, DirCardStore, type SlotSpec } from '../applets/index.ts';
import { createBatch } from '../src/batches/index.ts';
import { transitionCard } from '../src/cards/index.ts';
import { registerQcCommands } from '../src/cli/qc.ts';
import { withContext } from '../src/cli/run.ts';
import { openDb } from '../src/db/index.ts';
import { PcscCardChannel, PcscContext } from '../src/encoders/index.ts';
import { Pkcs11Hsm } from '../src/hsm/index.ts';
import { ceremony, currentDsSigner, issueCrl, parseCeremonyDefinition, type DsSigningSession } from '../src/keys/index.ts';
import { decodeDg1, encodeDg1, generateTd1 } from '../src/lds/index.ts';
import { loadChipImage, prepareCard } from '../src/prepare/index.ts';
import { createSealSigner, loadTemplateFile, sealSigningSession, signCardSeal } from '../src/print/index.ts';
import { type QcDeps, loadTrust, qcResults, runChipQc, runFaceQc } from '../src/qc/index.ts';
import { ensureRegistrySchema, seedRegistry } from '../src/registry/index.ts';
import { runIntake } from '../src/intake/index.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { claimReaderSlots, readHsmPin, testServices, type SlotClaim } from './support/env.ts';
import { type CardFaults, personaliseTestCard, softwarePki } from './support/qc-cards.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const definition = parseCeremonyDefinition(JSON.parse(readFileSync(path.join(ROOT, 'hsm/ceremony.json'), 'utf8')));
const MASTER = new Uint8Array(randomBytes(32));
const PREP = { actor: 'worker:prepare', issuingState: 'KEN', issuingAuthority: 'PRINCIPAL REGISTRAR OF PERSONS', validityYears: 10, personalisationSystem: 'KADI-TEST' };
const ACTOR = 'qc.njeri';

let tmp: string;
let t: TestDatabase;
let registry: Knex;
let hsm: Pkcs11Hsm;
let signer: DsSigningSession;
let claim: SlotClaim;
let slot: SlotSpec;
let launcher: CardLauncher;
let pcsc: PcscContext;
let batchId: number;
let waiting: number[];
let deps: QcDeps;

beforeAll(async () => {
  const s = testServices();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kadi-qc-chip-'));
  hsm = Pkcs11Hsm.open({ module: s.hsmModule, token: s.hsmToken, pin: readHsmPin(s) });
  t = await createTestDatabase();
  registry = openDb(await t.makeUrl('registry'));
  await ensureRegistrySchema(registry);
  await seedRegistry(registry, { count: 14, seed: 'qc-chip', invalidRate: 0 });
  await runIntake({ db: t.db, registry, actor: 'intake' });
  await ceremony({ db: t.db, keyStore: hsm, actor: 'custodian.wanjiru' }, definition);
  await createSealSigner({ db: t.db, keyStore: hsm, actor: 'custodian.wanjiru' });
  signer = await currentDsSigner({ db: t.db, keyStore: hsm, actor: 'worker:encode' });
  batchId = (await createBatch(t.db, { size: 14, actor: 'operator.achieng' })).id;
  waiting = (await t.db('cards').where({ batch_id: batchId }).orderBy('id').select('id')).map((r: { id: number }) => Number(r.id));
  for (const id of waiting) await prepareCard(t.db, id, PREP);
  claim = claimReaderSlots(1);
  slot = { index: claim.slots[0]!.port - s.readerBasePort, port: claim.slots[0]!.port, name: claim.slots[0]!.name };
  launcher = new CardLauncher({ store: new DirCardStore(path.join(tmp, 'cards')), masterKey: MASTER });
  pcsc = await PcscContext.open({ readers: [slot.name!], only: [slot.name!] });
  deps = { db: t.db, actor: ACTOR, station: 'QC-01' };
}, 120_000);

afterAll(async () => {
  await launcher?.stop();
  if (slot) await pcsc?.waitEmpty(slot.name!).catch(() => undefined);
  pcsc?.close();
  claim?.release();
  await signer?.close();
  await hsm?.close();
  await registry?.destroy();
  await t?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/**
 * Takes the next prepared card of the batch, personalises a new blank for it in the slot (with `faults`), and
 * records it as encoded and printed. The card stays in the slot.
 */
async function makeCard(faults: CardFaults = {}, signSod = (d: ReadonlyMap<number, Uint8Array>) => signer.signSod(d)): Promise<{ cardId: number; doc: string; mrz: string[] }> {
  const cardId = waiting.shift()!;
  const img = await loadChipImage(t.db, cardId);
  const mrz = decodeDg1(img.dataGroups.get(1)!).parsed;
  const c = await launcher.insertNew(slot);
  await pcsc.waitPresent(slot.name!);
  const ch = new PcscCardChannel(pcsc, slot.name!, { share: 'exclusive' });
  await ch.connect();
  try {
    await personaliseTestCard((a) => ch.transmit(a), {
      serial: c.serial,
      masterKey: MASTER,
      com: img.com,
      dataGroups: img.dataGroups,
      bac: { documentNumber: mrz.documentNumber, dateOfBirth: mrz.dateOfBirth, dateOfExpiry: mrz.dateOfExpiry },
      signSod,
      faults,
    });
  } finally {
    await ch.disconnect('reset');
  }
  await transitionCard(t.db, { cardId, from: 'PREPARED', to: 'ENCODING', actor: 'worker:encode', set: { blank_serial: c.serial, chip_serial: `4B440001${c.serial}` } });
  await transitionCard(t.db, { cardId, from: 'ENCODING', to: 'ENCODED', actor: 'worker:encode' });
  await transitionCard(t.db, { cardId, from: 'ENCODED', to: 'PRINTED', actor: 'printer:P1' });
  return { cardId, doc: img.documentNumber, mrz: img.mrz };
}

async function removeCard(): Promise<void> {
  await launcher.remove(slot.index);
  await pcsc.waitEmpty(slot.name!);
}

/** Chip QC of the card in the slot (shared connection, as the QC desk does). */
async function chipQc(cardId: number, record = true) {
  const ch = new PcscCardChannel(pcsc, slot.name!, { share: 'shared' });
  await ch.connect();
  try {
    return await runChipQc(deps, cardId, ch, { record });
  } finally {
    await ch.disconnect('leave');
  }
}

describe('chip QC through PC/SC with the HSM-signed trust material', () => {
  it('a good card passes the chip check (CHIP recorded, the card waits for FACE) in about 20 APDUs', async () => {
    const { cardId } = await makeCard();
    try {
      const r = await chipQc(cardId);
      expect(r.check.findings).toEqual([]);
      expect(r.check.passiveAuth).toMatchObject({ crlChecked: true, signatureAlgorithm: 'ecdsa-with-SHA256' });
      expect(r.outcome).toMatchObject({ passed: true, state: 'PRINTED', pendingKinds: ['FACE'] });
      expect(r.read.stats.apdus).toBeLessThanOrEqual(25);
      expect(r.read.stats.apdusByStep.identify).toBe(2);
      expect(r.read.stats.transmitMs).toBeGreaterThan(0);
      expect(r.read.stats.transmitMs).toBeLessThan(r.read.stats.totalMs);
    } finally {
      await removeCard();
    }
  });

  it.each<[string, CardFaults, string]>([
    ['a data group changed after signing', { tamperDg: 13 }, 'QC_DG_HASH_MISMATCH'],
    ['a bad SOD signature', { corruptSodSignature: true }, 'QC_SOD_SIGNATURE_INVALID'],
    ['a DG15 that is not the chip key', { foreignAaKey: true }, 'QC_AA_FAILED'],
    ['an unlocked card', { skipLock: true }, 'QC_CARD_NOT_LOCKED'],
  ])('%s: %s, the card spoiled and its order re-queued', async (_what, faults, code) => {
    const { cardId } = await makeCard(faults);
    try {
      const r = await chipQc(cardId);
      expect(r.check.primary!.code).toBe(code);
      expect(r.outcome).toMatchObject({ passed: false, state: 'SPOILED', reasonCode: code, orderStatus: 'OPEN' });
      expect(r.outcome!.replacementCardId).toBeGreaterThan(cardId);
      expect(await t.db('cards').where({ id: cardId }).first('state', 'spoil_reason')).toEqual({ state: 'SPOILED', spoil_reason: code });
    } finally {
      await removeCard();
    }
  });

  it("DG1 that is not the order's: QC_DG1_MISMATCH (signed consistently, so PA passes)", async () => {
    const cardId = waiting[0]!;
    const img = await loadChipImage(t.db, cardId);
    const p = decodeDg1(img.dataGroups.get(1)!).parsed;
    const other = generateTd1({ documentNumber: p.documentNumber, issuingState: 'KEN', nationality: 'KEN', surname: 'IMPOSTOR', givenNames: 'JOHN', dateOfBirth: '1990-01-01', sex: 'M', dateOfExpiry: '2036-01-01' });
    const { cardId: id } = await makeCard({ dg1: encodeDg1(other) });
    try {
      const r = await chipQc(id, false);
      expect(r.check.steps).toMatchObject({ sod: 'pass', chain: 'pass', hashes: 'pass', aa: 'pass', lock: 'pass', dg1: 'fail' });
      expect(r.check.primary).toMatchObject({ code: 'QC_DG1_MISMATCH', details: { fields: expect.arrayContaining(['name']) } });
    } finally {
      await removeCard();
    }
  });

  it('a SOD signed by a Document Signer of another CSCA: QC_DS_UNKNOWN', async () => {
    const rogue = await softwarePki('Kadi Rogue CSCA');
    const { cardId } = await makeCard({}, (d) => rogue.signSod(d));
    try {
      const r = await chipQc(cardId, false);
      expect(r.check.primary!.code).toBe('QC_DS_UNKNOWN');
      expect(r.check.steps.sod).toBe('pass');
    } finally {
      await removeCard();
    }
  });

  it('face: the printed MRZ must equal DG1 (QC_FACE_MRZ_MISMATCH) and the seal must verify (QC_SEAL_INVALID)', async () => {
    const { template } = await loadTemplateFile(path.join(ROOT, 'templates/kenya-eid.json'));
    const session = await sealSigningSession({ db: t.db, keyStore: hsm });
    const { cardId, mrz } = await makeCard();
    await removeCard();
    await signCardSeal(t.db, template, cardId, session, { actor: 'operator.achieng' });
    const seal = new Uint8Array((await t.db('card_seals').where({ card_id: cardId }).first('seal')).seal);
    const wrong = [mrz[0]!, mrz[1]!, mrz[2]!.replace(/<</, 'X<')];
    const bad = await runFaceQc(deps, cardId, { faceMrz: wrong, seal }, { record: false });
    expect(bad.check.primary).toMatchObject({ code: 'QC_FACE_MRZ_MISMATCH', details: { lines: [3] } });
    expect(bad.check.steps).toMatchObject({ mrz: 'fail', seal: 'pass', sealData: 'pass' });
    const tampered = Uint8Array.from(seal);
    tampered[tampered.length - 9]! ^= 0x20;
    expect((await runFaceQc(deps, cardId, { faceMrz: mrz, seal: tampered }, { record: false })).check.primary).toMatchObject({ code: 'QC_SEAL_INVALID', details: { subIndication: 'INVALID_SIGNATURE' } });
    expect((await runFaceQc(deps, cardId, { faceMrz: mrz, seal: undefined }, { record: false })).check.primary!.code).toBe('QC_SEAL_MISSING');
    const good = await runFaceQc(deps, cardId, { faceMrz: mrz, seal });
    expect(good.check.passed).toBe(true);
    expect(good.outcome).toMatchObject({ kind: 'FACE', state: 'PRINTED', pendingKinds: ['CHIP'] });
  });

  it('a revoked Document Signer (CRL issued by the key custodian): QC_DS_REVOKED', async () => {
    const { cardId } = await makeCard();
    try {
      const ds = await t.db('keys').where({ kind: 'DS', status: 'ACTIVE' }).first('serial_hex');
      await issueCrl({ db: t.db, keyStore: hsm, actor: 'custodian.wanjiru' }, definition, { revoke: [String(ds.serial_hex)] });
      expect((await loadTrust(t.db)).crls).toHaveLength(1);
      const r = await chipQc(cardId);
      expect(r.check.primary).toMatchObject({ code: 'QC_DS_REVOKED' });
      expect(r.check.steps).toMatchObject({ sod: 'pass', chain: 'pass', revocation: 'fail', hashes: 'pass' });
      expect(r.outcome!.state).toBe('SPOILED');
    } finally {
      await removeCard();
    }
  });
});

describe('kadi qc', () => {
  async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const env: Record<string, string> = { KADI_HOME: tmp, KADI_DB_URL: t.url };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    let out = '';
    let err = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => {
      out += typeof c === 'string' ? c : Buffer.from(c).toString();
      return true;
    });
    const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => {
      err += typeof c === 'string' ? c : Buffer.from(c).toString();
      return true;
    });
    const prevCode = process.exitCode;
    process.exitCode = 0;
    try {
      const program = new Command().exitOverride();
      registerQcCommands(program, withContext, () => ACTOR);
      await program.parseAsync(args, { from: 'user' });
      return { code: Number(process.exitCode ?? 0), stdout: out, stderr: err };
    } finally {
      spy.mockRestore();
      errSpy.mockRestore();
      process.exitCode = prevCode;
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }

  it('qc chip --reader: --mrz --no-record checks a card without recording; --card records the result', async () => {
    // the DS is revoked now (previous test): a fresh DS is needed for good cards
    await signer.close();
    const { rotateDs } = await import('../src/keys/index.ts');
    await rotateDs({ db: t.db, keyStore: hsm, actor: 'custodian.wanjiru' }, definition);
    signer = await currentDsSigner({ db: t.db, keyStore: hsm, actor: 'worker:encode' });
    const { cardId, doc, mrz } = await makeCard();
    try {
      const dry = await cli(['qc', 'chip', '--reader', slot.name!, '--mrz', mrz.join('\n'), '--no-record', '--json']);
      expect(dry.code, dry.stderr).toBe(0);
      const j = JSON.parse(dry.stdout);
      expect(j).toMatchObject({ card: { id: cardId, documentNumber: doc }, passed: true, reasonCode: null, outcome: null, activeAuth: { status: 'valid' } });
      expect(j.apdusByStep).toMatchObject({ bac: 2, aa: 1, lock: 1 });
      expect(await qcResults(t.db, cardId)).toEqual([]);
      const real = await cli(['qc', 'chip', '--reader', slot.name!, '--card', doc, '--station', 'QC-07', '--json']);
      expect(real.code, real.stderr).toBe(0);
      expect(JSON.parse(real.stdout).outcome).toMatchObject({ kind: 'CHIP', passed: true, state: 'PRINTED', pendingKinds: ['FACE'] });
      expect((await qcResults(t.db, cardId))[0]).toMatchObject({ kind: 'CHIP', passed: true, operator: ACTOR, station: 'QC-07' });
      // human output
      const human = await cli(['qc', 'chip', '--reader', slot.name!, '--card', doc, '--no-record']);
      expect(human.stdout).toMatch(/^chip QC PASSED\s+\(\d+ APDUs/);
      expect(human.stdout).toContain('not recorded (--no-record)');
    } finally {
      await removeCard();
    }
    // no card in the reader: a clear error, exit 1, nothing recorded
    const none = await cli(['qc', 'chip', '--reader', slot.name!, '--card', doc, '--json']);
    expect(none.code).toBe(1);
    expect(JSON.parse(none.stdout).error.code).toBe('QC_NO_CARD');
  });

  it('qc chip on a bad card exits 3 with the reason; qc face, visual, show, reasons', async () => {
    const { doc, mrz } = await makeCard({ skipLock: true });
    try {
      const r = await cli(['qc', 'chip', '--reader', slot.name!, '--card', doc, '--json']);
      expect(r.code).toBe(3);
      expect(JSON.parse(r.stdout)).toMatchObject({ passed: false, reasonCode: 'QC_CARD_NOT_LOCKED', outcome: { state: 'SPOILED' } });
    } finally {
      await removeCard();
    }
    const twice = await cli(['qc', 'chip', '--reader', slot.name!, '--card', doc, '--json']);
    expect(twice.code).toBe(1);
    expect(JSON.parse(twice.stdout).error).toMatchObject({ code: 'QC_CARD_NOT_PRINTED', details: { state: 'SPOILED' } });
    const again = await cli(['qc', 'visual', doc, '--pass', '--json']);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout).error.code).toBe('QC_CARD_NOT_PRINTED');

    const g = await makeCard();
    await removeCard();
    const face = await cli(['qc', 'face', g.doc, '--mrz', [g.mrz[0], g.mrz[1], g.mrz[2]!.replace(/<</, 'Q<')].join(''), '--json']);
    expect(face.code).toBe(3);
    expect(JSON.parse(face.stdout)).toMatchObject({ passed: false, reasonCode: 'QC_FACE_MRZ_MISMATCH', outcome: { state: 'SPOILED' } });

    const v = await makeCard();
    await removeCard();
    const usage = await cli(['qc', 'visual', v.doc, '--defect', 'QC_BAC_FAILED', '--json']);
    expect(JSON.parse(usage.stdout).error.code).toBe('QC_REASON_REQUIRED');
    const defect = await cli(['qc', 'visual', v.doc, '--defect', 'qc_card_damaged', '--note', 'chip module cracked', '--station', 'QC-02']);
    expect(defect.code).toBe(3);
    expect(defect.stdout).toMatch(/VISUAL FAIL QC_CARD_DAMAGED -> card SPOILED \(destroy the blank\); order re-queued as card \d+/);
    const shown = JSON.parse((await cli(['qc', 'show', v.doc, '--json'])).stdout);
    expect(shown.results).toEqual([expect.objectContaining({ kind: 'VISUAL', passed: false, reasonCode: 'QC_CARD_DAMAGED', details: { note: 'chip module cracked' }, station: 'QC-02' })]);

    const reasons = JSON.parse((await cli(['qc', 'reasons', '--kind', 'VISUAL', '--json'])).stdout);
    expect(reasons.map((x: { code: string }) => x.code)).toEqual(['QC_PRINT_DEFECT', 'QC_PHOTO_DEFECT', 'QC_CARD_DAMAGED', 'QC_SECURITY_FEATURE_DEFECT']);
  });

  it('qc report BATCH --out FILE.pdf --json', async () => {
    const out = path.join(tmp, 'report.pdf');
    const r = await cli(['qc', 'report', String(batchId), '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    const codes = Object.fromEntries(j.failuresByReason.map((f: { code: string; count: number }) => [f.code, f.count]));
    expect(codes).toMatchObject({ QC_DG_HASH_MISMATCH: 1, QC_SOD_SIGNATURE_INVALID: 1, QC_AA_FAILED: 1, QC_CARD_NOT_LOCKED: 2, QC_DS_REVOKED: 1, QC_FACE_MRZ_MISMATCH: 1, QC_CARD_DAMAGED: 1 });
    expect(j.cards.failed).toBe(8);
    expect(j.replacements).toBe(8);
    expect(j.byOperator).toEqual([expect.objectContaining({ operator: ACTOR, failed: 8 })]);
    expect(j.pdf).toMatchObject({ path: out, pages: expect.any(Number) });
    expect(existsSync(out)).toBe(true);
    const human = await cli(['qc', 'report', String(batchId)]);
    expect(human.stdout).toMatch(/checked, \d+ passed, 8 failed/);
    const missing = await cli(['qc', 'report', '999999', '--json']);
    expect(JSON.parse(missing.stdout).error.code).toBe('BATCH_NOT_FOUND');
  });
});
