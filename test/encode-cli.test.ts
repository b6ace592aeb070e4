/**
 * `kadi encode` and `kadi gp-master-key` as an operator runs them: a child process with its own KADI_HOME (SQLite,
 * a SoftHSM token of its own), this run's pcscd, Kadi virtual cards in two reader slots. The program is
 * the real `kadi` entry point (bin/kadi.mjs).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CardLauncher } from '../applets/launcher.ts';
import { DirCardStore } from '../applets/runtime/store.ts';
import { PcscContext } from '../src/encoders/index.ts';
import { migrateLatest, openDb } from '../src/db/index.ts';
import { receiveBlankLot } from '../src/dispatch/index.ts';
import { Pkcs11Hsm } from '../src/hsm/index.ts';
import { runIntake } from '../src/intake/index.ts';
import { ceremony, parseCeremonyDefinition } from '../src/keys/index.ts';
import { prepareCard } from '../src/prepare/index.ts';
import { ensureRegistrySchema, seedRegistry } from '../src/registry/index.ts';
import { claimReaderSlots, testServices, type SlotClaim } from './support/env.ts';
import { SOFTHSM_MODULE, makeConfig, startServices, stopServices, type ServiceConfig } from './support/services.ts';

const REPO = path.resolve(import.meta.dirname, '..');
const MASTER = randomBytes(32);

let home: string;
let cfg: ServiceConfig;
let claim: SlotClaim;
let launcher: CardLauncher;
let env: NodeJS.ProcessEnv;
const readers: Array<{ name: string; index: number; port: number }> = [];

function kadi(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO, 'bin/kadi.mjs'), ...args], { cwd: REPO, env, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  const s = testServices();
  home = mkdtempSync(path.join(os.tmpdir(), 'kadi-encode-cli-'));
  cfg = await makeConfig(home, { readers: 1 });
  const info = await startServices(cfg, ['softhsm']);
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    KADI_HOME: home,
    KADI_LOG_LEVEL: 'silent',
    PCSCLITE_CSOCK_NAME: s.pcscSocket,
    SOFTHSM2_CONF: info.softhsmConf,
    KADI_ACTOR: 'operator.akinyi',
  };
  // the bureau's state: prepared cards, a blank lot, the CSCA/DS ceremony
  const db = openDb(`sqlite:${path.join(home, 'kadi.sqlite')}`);
  const reg = openDb(`sqlite:${path.join(home, 'registry.sqlite')}`);
  process.env.SOFTHSM2_CONF = info.softhsmConf;
  const hsm = Pkcs11Hsm.open({ module: SOFTHSM_MODULE, token: 'kadi', pin: readFileSync(info.hsmPinFile, 'utf8').trim() });
  try {
    await migrateLatest(db);
    await ensureRegistrySchema(reg);
    await seedRegistry(reg, { count: 3, seed: 'encode-cli', invalidRate: 0 });
    await runIntake({ db, registry: reg, actor: 'test' });
    for (const c of await db('cards').orderBy('id').select('id')) {
      await prepareCard(db, c.id, { actor: 'worker:prepare', issuingState: 'KEN', issuingAuthority: 'REGISTRAR OF PERSONS KENYA', validityYears: 10, personalisationSystem: 'KADI-TEST' });
    }
    await receiveBlankLot(db, { lot: 'CLI-LOT', quantity: 10, supplier: 'Test Cards Ltd', chipType: 'KADI-VIRTUAL', actor: 'stores' });
    const def = parseCeremonyDefinition(JSON.parse(readFileSync(path.join(REPO, 'hsm/ceremony.json'), 'utf8')));
    await ceremony({ db, keyStore: hsm, actor: 'custodian' }, def, { algorithm: 'ecdsa-p256' });
  } finally {
    await hsm.close();
    await db.destroy();
    await reg.destroy();
  }
  claim = claimReaderSlots(2);
  for (const sl of claim.slots) readers.push({ name: sl.name, index: sl.port - s.readerBasePort, port: sl.port });
  launcher = new CardLauncher({ store: new DirCardStore(path.join(home, 'cards')), masterKey: new Uint8Array(MASTER) });
});

afterAll(async () => {
  await launcher?.stop();
  const ctx = readers.length ? await PcscContext.open({ readers: readers.map((r) => r.name), only: readers.map((r) => r.name) }).catch(() => undefined) : undefined;
  for (const r of readers) await ctx?.waitEmpty(r.name, 5_000).catch(() => undefined);
  ctx?.close();
  claim?.release();
  if (cfg) await stopServices(cfg, ['softhsm']).catch(() => undefined);
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('kadi encode / kadi gp-master-key', { timeout: 120_000 }, () => {
  it('imports the card master key at the ceremony and shows only its check value', async () => {
    const file = path.join(home, 'master.hex');
    writeFileSync(file, MASTER.toString('hex'), { mode: 0o600 });
    const imp = await kadi(['gp-master-key', 'import', '--file', file, '--json']);
    expect(imp.stderr).toBe('');
    expect(imp.code).toBe(0);
    const info = JSON.parse(imp.stdout);
    expect(info).toMatchObject({ label: 'kadi-gp-master', bits: 256, sensitive: true, extractable: false, derive: true });
    rmSync(file);
    const show = await kadi(['gp-master-key', 'show']);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`check value ${info.checkValue}`);
    expect(show.stdout).not.toContain(MASTER.toString('hex').slice(0, 8));
    const again = await kadi(['gp-master-key', 'import', '--file', '/nonexistent']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('GP_MASTER_KEY_FILE_UNREADABLE');
  });

  it('encodes the prepared cards onto the blanks in the named readers, with a summary', async () => {
    for (const r of readers) await launcher.insertNew({ index: r.index, port: r.port, name: r.name });
    const ctx = await PcscContext.open({ readers: readers.map((r) => r.name), only: readers.map((r) => r.name) });
    try {
      for (const r of readers) await ctx.waitPresent(r.name);
    } finally {
      ctx.close();
    }
    const out = await kadi(['encode', ...readers.flatMap((r) => ['--reader', r.name]), '--lot', 'CLI-LOT', '--json']);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const res = JSON.parse(out.stdout);
    expect(res).toMatchObject({ encoded: 2, spoiled: 0, rejected: 0 });
    expect(res.results.map((r: { outcome: string }) => r.outcome)).toEqual(['ENCODED', 'ENCODED']);
    expect(res.results[0]).toMatchObject({ lot: 'CLI-LOT' });
    expect(res.results[0].apdus).toBeLessThanOrEqual(Math.ceil(res.results[0].minApdus * 1.1) + 2);

    const db = openDb(`sqlite:${path.join(home, 'kadi.sqlite')}`);
    try {
      const states = (await db('cards').orderBy('id').select('state')).map((r: { state: string }) => r.state);
      expect(states).toEqual(['ENCODED', 'ENCODED', 'PREPARED']);
      expect(await db('audit_log').where({ action: 'encode.run' }).first('actor')).toMatchObject({ actor: 'operator.akinyi' });
    } finally {
      await db.destroy();
    }
    // the blanks are used: a second run finds no fresh blank and leaves the last card PREPARED
    const again = await kadi(['encode', ...readers.flatMap((r) => ['--reader', r.name])]); // (--all would take other tests' readers)
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/encoded 0, spoiled 0/);
  });

  it('refuses a reader that does not exist, and a run without readers', async () => {
    const bad = await kadi(['encode', '--reader', 'No Such Reader 9', '--json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).error.code).toBe('ENCODE_READER_NOT_FOUND');
    const none = await kadi(['encode']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('ENCODE_USAGE');
  });
});
