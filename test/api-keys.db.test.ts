/**
 * Key custodian operations through the API against a real SoftHSM token (private to this file): listing,
 * Document Signer rotation and CRL issuance call src/keys with the custodian as the audit actor; every other
 * role is refused. Runs on SQLite and PostgreSQL.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, type KadiServer, type Role, type User } from '../src/api/index.ts';
import { verifyAudit } from '../src/audit/index.ts';
import { Pkcs11Hsm } from '../src/hsm/index.ts';
import { ceremony, parseCeremonyDefinition, type CeremonyDefinition } from '../src/keys/index.ts';
import { PASSWORD, ROLES_ALL, seedUsers } from './api-fixtures.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { makeConfig, SOFTHSM_MODULE, startServices } from './support/services.ts';

const REPO = path.resolve(import.meta.dirname, '..');
const definition: CeremonyDefinition = parseCeremonyDefinition(JSON.parse(readFileSync(path.join(REPO, 'hsm/ceremony.json'), 'utf8')));

let home: string;
let hsm: Pkcs11Hsm;
let t: TestDatabase;
let server: KadiServer;
let users: Record<Role, User>;
let opened = 0;
let closed = 0;
const tokens = {} as Record<Role, string>;

beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), 'kadi-api-keys-'));
  const info = await startServices(await makeConfig(home, { readers: 1 }), ['softhsm']);
  process.env.SOFTHSM2_CONF = info.softhsmConf;
  hsm = Pkcs11Hsm.open({ module: SOFTHSM_MODULE, token: 'kadi', pin: readFileSync(info.hsmPinFile, 'utf8').trim() });
  t = await createTestDatabase();
  users = await seedUsers(t.db, 'njeri');
  await ceremony({ db: t.db, keyStore: hsm, actor: users.custodian.name }, definition);
  server = await buildServer({
    db: t.db,
    log: { level: 'silent' },
    keys: {
      definition,
      // One HSM session pool for the file; the API opens and closes a key store per operation.
      openKeyStore: () => {
        opened++;
        return {
          generateKeyPair: (label, alg) => hsm.generateKeyPair(label, alg),
          signer: (label) => hsm.signer(label),
          destroyKeyPair: (label) => hsm.destroyKeyPair(label),
          close: () => {
            closed++;
          },
        };
      },
    },
  });
  for (const role of ROLES_ALL) {
    const r = await server.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: users[role].name, password: PASSWORD, mode: 'token' } });
    tokens[role] = r.json().token;
  }
});
afterAll(async () => {
  await server?.app.close();
  await t?.close();
  await hsm?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

const call = (role: Role, method: 'GET' | 'POST', url: string, payload?: object) =>
  server.app.inject({ method, url, headers: { authorization: `Bearer ${tokens[role]}` }, ...(payload ? { payload } : {}) });

describe('keys through the API', () => {
  it('lists keys for the custodian and the admin (never key material), not for production roles', async () => {
    const r = await call('admin', 'GET', '/api/keys');
    expect(r.statusCode, r.body).toBe(200);
    const { keys, crl } = r.json();
    expect(keys.map((k: { kind: string }) => k.kind).sort()).toEqual(['CSCA', 'DS']);
    expect(crl).toMatchObject({ crlNumber: 1 });
    expect(r.body).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    for (const role of ['operator', 'qc', 'logistics'] as const) expect((await call(role, 'GET', '/api/keys')).statusCode).toBe(403);
  });

  it('rotates the Document Signer as the custodian only, recorded with the custodian as actor', async () => {
    for (const role of ['operator', 'qc', 'logistics', 'admin'] as const) {
      const r = await call(role, 'POST', '/api/keys/rotate-ds', {});
      expect(r.statusCode).toBe(403);
      expect(r.json().error.code).toBe('FORBIDDEN');
    }
    expect(opened).toBe(0); // refused before the HSM was touched
    const before = (await call('custodian', 'GET', '/api/keys')).json().keys.find((k: { kind: string; status: string }) => k.kind === 'DS' && k.status === 'ACTIVE');
    const r = await call('custodian', 'POST', '/api/keys/rotate-ds', {});
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json()).toMatchObject({ ds: { kind: 'DS', status: 'ACTIVE' }, retired: [before.label] });
    expect(opened).toBe(1);
    expect(closed).toBe(1);
    const entry = await t.db('audit_log').where({ entity_id: r.json().ds.label }).orderBy('seq').first();
    expect(entry.actor).toBe(users.custodian.name);
  });

  it('issues a CRL revoking the retired DS, and refuses an unknown serial with its code', async () => {
    const keys = (await call('custodian', 'GET', '/api/keys')).json().keys;
    const retired = keys.find((k: { kind: string; status: string }) => k.kind === 'DS' && k.status === 'RETIRED');
    const r = await call('custodian', 'POST', '/api/keys/crl', { revoke: [retired.serial], nextUpdateDays: 30 });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json()).toMatchObject({ crlNumber: 2, newlyRevoked: [expect.any(String)] });
    expect(r.json().pem).toMatch(/^-----BEGIN X509 CRL-----/);
    const bad = await call('custodian', 'POST', '/api/keys/crl', { revoke: ['0badc0de'] });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().error.code).toBe('KEYS_SERIAL_UNKNOWN');
    expect(opened).toBe(closed);
    expect((await verifyAudit(t.db)).ok).toBe(true);
  });
});
