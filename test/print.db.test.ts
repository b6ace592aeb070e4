/**
 * Printing a production batch end to end, on SQLite and PostgreSQL, with seals signed in the run's SoftHSM
 * token: registry -> intake -> batch -> prepare (chip images) -> encoded cards -> seal signer under the CSCA ->
 * `printBatch` -> the PDF read back as a person (pdftotext for the MRZ against the chip's DG1, pdftoppm +
 * the seal reader for the seal) -> `kadi seal verify` -> printer feedback through the card state machine.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { auditTrail, verifyAudit } from '../src/audit/index.ts';
import { createBatch } from '../src/batches/index.ts';
import { transitionCard } from '../src/cards/index.ts';
import { registerPrintCommands } from '../src/cli/print.ts';
import { registerSealCommands } from '../src/cli/seal.ts';
import { openDb } from '../src/db/index.ts';
import { Pkcs11Hsm } from '../src/hsm/index.ts';
import { ceremony, certificatePem, parseCeremonyDefinition } from '../src/keys/index.ts';
import { decodeDg1 } from '../src/lds/index.ts';
import { buildCscaCertificate, parseCertificate, softwareSigner, type Certificate } from '../src/pki/index.ts';
import { prepareCard } from '../src/prepare/index.ts';
import {
  type CardTemplate,
  type SealSignerRecord,
  createPrintJob,
  createSealSigner,
  decodeVds,
  jobCards,
  loadTemplateFile,
  markCard,
  printBatch,
  readIdSealFeatures,
  readSealFromPng,
  sealSigningSession,
  sealTrustMaterial,
  verifySeal,
} from '../src/print/index.ts';
import { printStage } from '../src/pipeline/index.ts';
import { ensureRegistrySchema, seedRegistry } from '../src/registry/index.ts';
import { runIntake } from '../src/intake/index.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { readHsmPin, testServices } from './support/env.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const definition = parseCeremonyDefinition(JSON.parse(readFileSync(path.join(ROOT, 'hsm/ceremony.json'), 'utf8')));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'kadi-print-db-'));
const ACTOR = 'operator.achieng';

let t: TestDatabase;
let registry: Knex;
let hsm: Pkcs11Hsm;
let template: CardTemplate;
let baseDir: string;
let batchId: number;
let signerRecord: SealSignerRecord;
let cscaCert: Certificate;
let encoded: number[];

beforeAll(async () => {
  const s = testServices();
  hsm = Pkcs11Hsm.open({ module: s.hsmModule, token: s.hsmToken, pin: readHsmPin(s) });
  t = await createTestDatabase();
  registry = openDb(await t.makeUrl('registry'));
  await ensureRegistrySchema(registry);
  await seedRegistry(registry, { count: 30, seed: 'print-db', invalidRate: 0 });
  await runIntake({ db: t.db, registry, actor: 'intake' });
  ({ template, baseDir } = await loadTemplateFile(path.join(ROOT, 'templates/kenya-eid.json')));

  // Keys: the ceremony (CSCA + DS), then the seal signer under the CSCA — all in the SoftHSM token.
  const keys = await ceremony({ db: t.db, keyStore: hsm, actor: 'custodian.wanjiru' }, definition);
  cscaCert = parseCertificate(keys.csca.certificate);
  signerRecord = await createSealSigner({ db: t.db, keyStore: hsm, actor: 'custodian.wanjiru' });

  // A batch of 12 cards, made the way the workers make them: prepare (chip image + document number), encode.
  const batch = await createBatch(t.db, { size: 12, actor: ACTOR });
  batchId = batch.id;
  const cards = (await t.db('cards').where({ batch_id: batchId }).orderBy('id').select('id')).map((r: { id: number }) => r.id);
  const prep = { actor: 'worker:prepare', issuingState: 'KEN', issuingAuthority: 'PRINCIPAL REGISTRAR OF PERSONS', validityYears: 10, personalisationSystem: 'KADI-TEST' };
  for (const id of cards.slice(0, 11)) expect(await prepareCard(t.db, id, prep)).toBe('PREPARED');
  encoded = cards.slice(0, 10);
  for (const id of encoded) {
    await transitionCard(t.db, { cardId: id, from: 'PREPARED', to: 'ENCODING', actor: 'worker:encode', set: { blank_serial: `BL${id}`, chip_serial: `CH${id}` } });
    await transitionCard(t.db, { cardId: id, from: 'ENCODING', to: 'ENCODED', actor: 'worker:encode' });
  }
  // card 11 stays PREPARED, card 12 ORDERED: both are skipped by the print run.
}, 120_000);

afterAll(async () => {
  await hsm?.close();
  await registry?.destroy();
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function dg1Mrz(cardId: number): Promise<string[]> {
  const row = await t.db('chip_images').where({ card_id: cardId }).first('files');
  const files = JSON.parse(row.files) as { dg: Record<string, string> };
  const mrz = decodeDg1(Buffer.from(files.dg['1']!, 'base64')).mrz;
  return [mrz.slice(0, 30), mrz.slice(30, 60), mrz.slice(60)];
}

describe('printing a batch', () => {
  const pdf = path.join(tmp, 'batch.pdf');
  let jobId: number;

  it('signs the missing seals in the HSM, renders every ENCODED card in production order and records the print job', async () => {
    const session = await sealSigningSession({ db: t.db, keyStore: hsm });
    const r = await printBatch({ db: t.db, batchId, template, baseDir, out: pdf, actor: ACTOR, sealSession: session, pageSize: 4 });
    jobId = r.job.id;
    expect(r.seals).toMatchObject({ signed: 10, alreadySigned: 0 });
    expect(r.job).toMatchObject({ state: 'COMPLETED', batchId, cards: 10, pages: 20, skipped: 2, truncatedFields: 0, templateId: 'kenya-eid' });
    expect(existsSync(pdf)).toBe(true);
    expect(existsSync(`${pdf}.part`)).toBe(false);
    const bytes = readFileSync(pdf);
    expect(r.job.outputBytes).toBe(bytes.length);
    expect(r.job.outputSha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect((await jobCards(t.db, jobId)).map((c) => c.cardId)).toEqual(encoded);
    expect(execFileSync('pdfinfo', [pdf], { encoding: 'utf8' })).toMatch(/Pages:\s+20\b/);
    // One audit entry per key use (seal), none with personal data; the chain is intact.
    const trail = await auditTrail(t.db, 'card', encoded[0]!);
    expect(trail.map((e) => e.action)).toContain('seal.sign');
    expect(JSON.stringify(trail.find((e) => e.action === 'seal.sign')!.data)).not.toMatch(/surname|givenNames|[a-z]{3,} [a-z]{3,}/);
    expect((await verifyAudit(t.db)).ok).toBe(true);
  });

  it('prints exactly the chip’s DG1 MRZ on every card (pdftotext reads it back)', async () => {
    for (const [i, cardId] of encoded.entries()) {
      const text = execFileSync('pdftotext', ['-f', String(2 * i + 2), '-l', String(2 * i + 2), '-layout', pdf, '-'], { encoding: 'utf8' });
      const lines = text.split('\n').map((l) => l.trim()).filter((l) => /^[A-Z0-9<]{30}$/.test(l));
      expect(lines).toEqual(await dg1Mrz(cardId));
    }
  });

  it('prints a seal that decodes from a 300 dpi PNG and verifies against the CSCA; the data matches the chip and the order', async () => {
    const base = path.join(tmp, 'back');
    execFileSync('pdftoppm', ['-r', '300', '-png', '-f', '4', '-l', '4', pdf, base]);
    const seal = readSealFromPng(readFileSync(`${base}-04.png`));
    const trust = await sealTrustMaterial(t.db);
    const v = verifySeal(seal, { cscas: [cscaCert], signers: trust.signers });
    expect(v).toMatchObject({ status: 'VALID', signatureValid: true, chainValid: true });
    expect(v.subIndication).toBeUndefined();
    const cardId = encoded[1]!;
    expect(v.data!.mrz).toEqual(await dg1Mrz(cardId));
    const card = await t.db('cards').where({ id: cardId }).first('document_number', 'order_id');
    const rec = JSON.parse((await t.db('order_records').where({ order_id: card.order_id }).first('data')).data);
    expect(v.data).toMatchObject({ documentNumber: card.document_number, nationalNumber: rec.nationalNumber, surname: rec.surname, givenNames: rec.givenNames, dateOfBirth: rec.dateOfBirth });
    expect(v.header).toMatchObject({ issuingCountry: 'KEN', signerIdentifier: signerRecord.signerIdentifier, certificateReference: signerRecord.certificateReference });
    const chip = await t.db('chip_images').where({ card_id: cardId }).first('date_of_issue', 'date_of_expiry');
    expect(v.header!.documentIssueDate).toBe(chip.date_of_issue);
    expect(v.data!.dateOfExpiry).toBe(chip.date_of_expiry);
  });

  it('fails a tampered seal, a seal checked against another CSCA and a seal whose signer is unknown', async () => {
    const seal = new Uint8Array((await t.db('card_seals').where({ card_id: encoded[0] }).first('seal')).seal);
    const trust = await sealTrustMaterial(t.db);
    const ok = verifySeal(seal, { cscas: [cscaCert], signers: trust.signers });
    expect(ok.status).toBe('VALID');
    const v = decodeVds(seal);
    const mrzAt = Buffer.from(seal).indexOf(Buffer.from(v.features[0]!.value));
    expect(mrzAt).toBeGreaterThan(20);
    const tampered = Uint8Array.from(seal);
    tampered[mrzAt + 5]! ^= 0x01; // one MRZ byte
    expect(verifySeal(tampered, { cscas: [cscaCert], signers: trust.signers })).toMatchObject({ status: 'INVALID', subIndication: 'INVALID_SIGNATURE', signatureValid: false, chainValid: true });
    const badSig = Uint8Array.from(seal);
    badSig[badSig.length - 7]! ^= 0x80;
    expect(verifySeal(badSig, { cscas: [cscaCert], signers: trust.signers }).subIndication).toBe('INVALID_SIGNATURE');
    // A look-alike CSCA (same name, another key) does not make the signer trusted.
    const { generateKeyPairSync } = await import('node:crypto');
    const kp = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const fake = parseCertificate(
      await buildCscaCertificate(
        { subject: { country: 'KE', organization: definition.organization, commonName: definition.csca.commonName }, validity: { notBefore: new Date(Date.now() - 1000), notAfter: new Date(Date.now() + 86_400_000) }, privateKeyUsagePeriod: { notBefore: new Date(Date.now() - 1000), notAfter: new Date(Date.now() + 86_400_000) } },
        softwareSigner(kp.privateKey, 'ecdsa-p256', new Uint8Array(kp.publicKey.export({ type: 'spki', format: 'der' }))),
      ),
    );
    expect(verifySeal(seal, { cscas: [fake], signers: trust.signers }).subIndication).toBe('UNTRUSTED_CERTIFICATE');
    expect(verifySeal(seal, { cscas: [cscaCert], signers: [] }).subIndication).toBe('UNKNOWN_CERTIFICATE');
    // The DS certificate is under the same CSCA but is no bar code signer (no id-icao-vdsSigner extKeyUsage).
    const ds = parseCertificate(new Uint8Array((await t.db('keys').where({ kind: 'DS' }).first('certificate')).certificate));
    expect(verifySeal(seal, { cscas: [cscaCert], signers: [ds] }).subIndication).toBe('UNKNOWN_CERTIFICATE');
    expect(verifySeal(seal.subarray(0, 40), { cscas: [cscaCert], signers: trust.signers }).subIndication).toBe('WRONG_FORMAT');
  });

  it('prints the same seals again on a reprint (no new signatures) as a second job', async () => {
    const session = await sealSigningSession({ db: t.db, keyStore: hsm });
    const again = path.join(tmp, 'again.pdf');
    const before = (await t.db('audit_log').where({ action: 'seal.sign' }).count({ n: '*' }))[0]!.n;
    const r = await printBatch({ db: t.db, batchId, template, baseDir, out: again, actor: ACTOR, sealSession: session });
    expect(r.seals).toMatchObject({ signed: 0, alreadySigned: 10 });
    expect(r.job.id).not.toBe(jobId);
    expect(Number((await t.db('audit_log').where({ action: 'seal.sign' }).count({ n: '*' }))[0]!.n)).toBe(Number(before));
  });

  it('refuses to print without seals when no seal signer is given (PRINT_SEALS_MISSING) and records nothing', async () => {
    const other = await createBatch(t.db, { size: 1, actor: ACTOR });
    const [card] = await t.db('cards').where({ batch_id: other.id }).select('id');
    await prepareCard(t.db, card.id, { actor: 'w', issuingState: 'KEN', issuingAuthority: 'X', validityYears: 10, personalisationSystem: 'T' });
    await transitionCard(t.db, { cardId: card.id, from: 'PREPARED', to: 'ENCODING', actor: 'w', set: { blank_serial: `BLX${card.id}` } });
    await transitionCard(t.db, { cardId: card.id, from: 'ENCODING', to: 'ENCODED', actor: 'w' });
    await expect(printBatch({ db: t.db, batchId: other.id, template, baseDir, out: path.join(tmp, 'x.pdf'), actor: ACTOR })).rejects.toMatchObject({ code: 'PRINT_SEALS_MISSING' });
    expect(Number((await t.db('print_jobs').where({ batch_id: other.id }).count({ n: '*' }))[0]!.n)).toBe(0);
  });
});

describe('printer feedback', () => {
  it('marks a card printed (ENCODED -> PRINTED) and refuses to mark it twice', async () => {
    const doc = (await t.db('cards').where({ id: encoded[2] }).first('document_number')).document_number as string;
    expect(await markCard(t.db, doc, { printed: true }, { actor: ACTOR })).toMatchObject({ cardId: encoded[2], from: 'ENCODED', to: 'PRINTED' });
    await expect(markCard(t.db, doc, { printed: true }, { actor: ACTOR })).rejects.toMatchObject({ code: 'PRINT_MARK_STATE' });
  });

  it('spoils a misprinted blank with its reason and queues a new card for the order', async () => {
    const cardId = encoded[3]!;
    const before = await t.db('cards').where({ id: cardId }).first('order_id');
    const attempts = Number((await t.db('card_orders').where({ id: before.order_id }).first('attempts')).attempts);
    const r = await markCard(t.db, String(cardId), { misprinted: 'colour shift' }, { actor: ACTOR });
    expect(r).toMatchObject({ cardId, from: 'ENCODED', to: 'SPOILED', reason: 'MISPRINT_COLOUR_SHIFT' });
    expect(await t.db('cards').where({ id: cardId }).first('state', 'spoil_reason')).toMatchObject({ state: 'SPOILED', spoil_reason: 'MISPRINT_COLOUR_SHIFT' });
    expect(await t.db('cards').where({ id: r.replacementCardId }).first('state', 'order_id')).toMatchObject({ state: 'ORDERED', order_id: before.order_id });
    expect(Number((await t.db('card_orders').where({ id: before.order_id }).first('attempts')).attempts)).toBe(attempts + 1);
    await expect(markCard(t.db, String(cardId), { misprinted: 'SMUDGE' }, { actor: ACTOR })).rejects.toMatchObject({ code: 'PRINT_MARK_STATE' });
    await expect(markCard(t.db, String(encoded[4]), { misprinted: 'bad!' }, { actor: ACTOR })).rejects.toMatchObject({ code: 'PRINT_REASON_INVALID' });
    expect((await verifyAudit(t.db)).ok).toBe(true);
  });
});

describe('kadi print / kadi seal commands', () => {
  async function cli(args: string[]): Promise<{ code: number; stdout: string }> {
    const s = testServices();
    const env: Record<string, string> = {
      KADI_HOME: tmp,
      KADI_DB_URL: t.url,
      KADI_HSM_MODULE: s.hsmModule,
      KADI_HSM_TOKEN: s.hsmToken,
      KADI_HSM_PIN_FILE: s.hsmPinFile,
      SOFTHSM2_CONF: s.softhsmConf,
    };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    delete process.env.KADI_HSM_PIN;
    let out = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => {
      out += typeof c === 'string' ? c : Buffer.from(c).toString();
      return true;
    });
    const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const prevCode = process.exitCode;
    process.exitCode = 0;
    try {
      const program = new Command().exitOverride();
      registerPrintCommands(program, () => ACTOR);
      registerSealCommands(program, () => ACTOR);
      await program.parseAsync(args, { from: 'user' });
      return { code: Number(process.exitCode ?? 0), stdout: out };
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

  it('kadi seal verify --data HEX --csca FILE --json: VALID (exit 0) for a card seal, INVALID (exit 3) when tampered', async () => {
    const cscaFile = path.join(tmp, 'csca.pem');
    writeFileSync(cscaFile, certificatePem(cscaCert.raw));
    const seal = Buffer.from((await t.db('card_seals').where({ card_id: encoded[5] }).first('seal')).seal);
    const ok = await cli(['seal', 'verify', '--data', seal.toString('hex'), '--csca', cscaFile, '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ status: 'VALID', signatureValid: true, chainValid: true });
    const bad = Buffer.from(seal);
    bad[30]! ^= 0x04;
    const r = await cli(['seal', 'verify', '--data', bad.toString('hex'), '--csca', cscaFile, '--json']);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'INVALID' });
  });

  it('kadi print card --png at 300 dpi, then kadi seal verify --image reads the seal from the PNG', async () => {
    const cscaFile = path.join(tmp, 'csca.pem');
    const dir = path.join(tmp, 'png');
    const p = await cli(['print', 'card', String(encoded[6]), '--png', dir, '--dpi', '300', '--json']);
    expect(p.code).toBe(0);
    const back = path.join(dir, `${encoded[6]}-back.png`);
    expect(JSON.parse(p.stdout).pngs).toContain(back);
    const v = await cli(['seal', 'verify', '--image', back, '--csca', cscaFile, '--json']);
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ status: 'VALID', data: { mrz: await dg1Mrz(encoded[6]!) } });
  });

  it('kadi print batch --json writes the PDF and a print job; kadi print mark --job --printed marks its ENCODED cards', async () => {
    const out = path.join(tmp, 'cli.pdf');
    const r = await cli(['print', 'batch', String(batchId), '--out', out, '--json']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.job).toMatchObject({ state: 'COMPLETED', cards: 8 }); // two cards left ENCODED by the feedback tests
    const m = await cli(['print', 'mark', '--job', String(rep.job.id), '--printed', '--json']);
    expect(m.code).toBe(0);
    expect(JSON.parse(m.stdout).marked).toBe(8);
    expect(Number((await t.db('cards').where({ batch_id: batchId, state: 'PRINTED' }).count({ n: '*' }))[0]!.n)).toBe(9);
    const jobs = await cli(['print', 'jobs', '--batch', String(batchId), '--json']);
    expect(JSON.parse(jobs.stdout).map((j: { state: string }) => j.state)).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED']);
  });
});

describe("the pipeline's print stage", () => {
  it('prints a card once: a fresh claim by another job is retried, a stale one closed as interrupted, a completed job recorded', async () => {
    const sealSession = await sealSigningSession({ db: t.db, keyStore: hsm });
    const outDir = path.join(tmp, 'stage');
    const cardId = Number((await t.db('cards').where({ batch_id: batchId, state: 'PREPARED' }).first('id')).id);
    await transitionCard(t.db, { cardId, from: 'PREPARED', to: 'ENCODING', actor: 'worker:encode', set: { blank_serial: `BL${cardId}`, chip_serial: `CH${cardId}` } });
    await transitionCard(t.db, { cardId, from: 'ENCODING', to: 'ENCODED', actor: 'worker:encode' });
    const jobsOf = async () => (await t.db('print_jobs').where({ card_id: cardId }).orderBy('id').select('id', 'state', 'error_code')) as Array<{ id: number; state: string; error_code: string | null }>;

    // another worker holds the card's print job (RUNNING, just opened): this job must not print it too
    const other = await createPrintJob(t.db, { batchId, template, outputPath: path.join(outDir, 'x.pdf'), options: {}, actor: 'worker:print@other', skipped: 0, cardId });
    await expect(createPrintJob(t.db, { batchId, template, outputPath: path.join(outDir, 'y.pdf'), options: {}, actor: 'worker:print', skipped: 0, cardId })).rejects.toThrow();
    const stage = printStage({ db: t.db, template, baseDir, outDir, sealSession, actor: 'worker:print' });
    await expect(stage.run(cardId)).rejects.toMatchObject({ code: 'PRINT_CLAIM_ACTIVE', retryable: true });
    expect((await t.db('cards').where({ id: cardId }).first('state')).state).toBe('ENCODED');

    // that worker stopped: once its claim is stale the job is closed as interrupted and the card printed here
    expect(await printStage({ db: t.db, template, baseDir, outDir, sealSession, actor: 'worker:print', claimStaleMs: 0 }).run(cardId)).toBe('done');
    const jobs = await jobsOf();
    expect(jobs).toEqual([
      { id: other, state: 'FAILED', error_code: 'PRINT_INTERRUPTED' },
      { id: jobs[1]!.id, state: 'COMPLETED', error_code: null },
    ]);
    expect((await t.db('cards').where({ id: cardId }).first('state')).state).toBe('PRINTED');
    expect(await stage.run(cardId)).toBe('skipped');

    // a worker that stopped after the job completed but before the mark: the re-run records that job, no reprint
    await t.db('cards').where({ id: cardId }).update({ state: 'ENCODED' }); // as if the mark never happened
    expect(await stage.run(cardId)).toBe('done');
    expect(await jobsOf()).toHaveLength(2);
    expect((await t.db('cards').where({ id: cardId }).first('state')).state).toBe('PRINTED');
  });
});
