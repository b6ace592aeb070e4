/**
 * The HTTP API on the real database of the vitest project (SQLite, and PostgreSQL in the postgres project):
 * authentication (401), every role's refusals on every route (403 FORBIDDEN), the login rate limit (429),
 * sessions and tokens, the production, QC and dispatch flows through the domain modules, audit of every write,
 * no personal data in the logs, and the OpenAPI document against the routes fastify actually serves.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, PERMISSIONS, type KadiServer, type Role, type User } from '../src/api/index.ts';
import { verifyAudit } from '../src/audit/index.ts';
import { batchFlowPresent, prepareStage, redisConnection, submitBatch } from '../src/pipeline/index.ts';
import { FixedClock } from '../src/shared/index.ts';
import { CENTRE, OTHER_CENTRE, PASSWORD, ROLES_ALL, seedCards, seedUsers, type SeededCard } from './api-fixtures.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { testServices } from './support/env.ts';

let t: TestDatabase;
let server: KadiServer;
let users: Record<Role, User>;
const logs: string[] = [];
const tokens = {} as Record<Role, string>;

type Res = { statusCode: number; headers: Record<string, unknown>; body: string; json: () => any };

async function call(method: string, url: string, o: { token?: string; cookie?: string; body?: unknown; headers?: Record<string, string>; remoteAddress?: string; srv?: KadiServer } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.cookie) headers.cookie = o.cookie;
  const r = await (o.srv ?? server).app.inject({
    method: method as 'GET',
    url,
    headers,
    ...(o.body === undefined ? {} : { payload: o.body as object }),
    ...(o.remoteAddress ? { remoteAddress: o.remoteAddress } : {}),
  });
  return { statusCode: r.statusCode, headers: r.headers, body: r.body, json: () => r.json() };
}

async function loginCookie(name: string, password = PASSWORD, srv?: KadiServer): Promise<string> {
  const r = await call('POST', '/api/auth/login', { body: { username: name, password }, ...(srv ? { srv } : {}) });
  expect(r.statusCode, r.body).toBe(200);
  return String(r.headers['set-cookie']).split(';')[0]!;
}

beforeAll(async () => {
  t = await createTestDatabase();
  users = await seedUsers(t.db);
  server = await buildServer({ db: t.db, log: { level: 'debug', stream: { write: (s: string) => void logs.push(s) } } });
  for (const role of ROLES_ALL) {
    const r = await call('POST', '/api/auth/login', { body: { username: users[role].name, password: PASSWORD, mode: 'token' } });
    expect(r.statusCode, r.body).toBe(200);
    tokens[role] = r.json().token;
  }
});
afterAll(async () => {
  await server?.app.close();
  await t?.close();
});

describe('authentication', () => {
  it('refuses a protected route without credentials (401 AUTH_REQUIRED)', async () => {
    const r = await call('GET', '/api/status');
    expect(r.statusCode).toBe(401);
    expect(r.json().error).toMatchObject({ code: 'AUTH_REQUIRED', retryable: false });
    expect(r.json().error.requestId).toBeTruthy();
  });

  it('refuses unknown tokens, other schemes and wrong passwords with stable codes', async () => {
    expect((await call('GET', '/api/status', { token: 'kadi_pat_' + 'x'.repeat(43) })).json().error.code).toBe('AUTH_SESSION_INVALID');
    const basic = await call('GET', '/api/status', { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
    expect(basic.statusCode).toBe(401);
    expect(basic.json().error.code).toBe('AUTH_SCHEME_UNSUPPORTED');
    const stale = await call('GET', '/api/status', { cookie: 'kadi_session=' + 'y'.repeat(43) });
    expect(stale.statusCode).toBe(401);
    expect(String(stale.headers['set-cookie'])).toContain('Max-Age=0');
    // Logging in again with the stale cookie still in the browser works.
    const relogin = await call('POST', '/api/auth/login', { cookie: 'kadi_session=' + 'y'.repeat(43), body: { username: users.qc.name, password: PASSWORD } });
    expect(relogin.statusCode).toBe(200);
    expect(String(relogin.headers['set-cookie'])).toMatch(/^kadi_session=[A-Za-z0-9_-]{43};/);
    for (const [username, password] of [[users.qc.name, 'wrong password here'], ['nobody.here', PASSWORD]]) {
      const r = await call('POST', '/api/auth/login', { body: { username, password }, remoteAddress: '10.9.9.9' });
      expect(r.statusCode).toBe(401);
      expect(r.json().error.code).toBe('AUTH_INVALID_CREDENTIALS');
      expect(r.headers['set-cookie']).toBeUndefined();
    }
  });

  it('gives the console an HttpOnly SameSite=Strict cookie and API clients a Bearer token; stores hashes only', async () => {
    const r = await call('POST', '/api/auth/login', { body: { username: users.operator.name, password: PASSWORD } });
    const cookie = String(r.headers['set-cookie']);
    expect(cookie).toMatch(/^kadi_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    expect(r.json().token).toBeUndefined();
    expect(r.json()).toMatchObject({ user: { name: users.operator.name, role: 'operator' }, session: { kind: 'session' } });
    const secret = cookie.split(';')[0]!.split('=')[1]!;
    const rows = await t.db('sessions').select('secret_hash');
    expect(rows.map((x: { secret_hash: string }) => x.secret_hash)).toContain(createHash('sha256').update(secret).digest('hex'));
    expect(JSON.stringify(await t.db('sessions').select('*'))).not.toContain(secret);
    expect(tokens.qc).toMatch(/^kadi_pat_[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(await t.db('sessions').select('*'))).not.toContain(tokens.qc.slice(9));
    const u = await t.db('users').where({ id: users.qc.id }).first('password_hash');
    expect(u.password_hash).toMatch(/^scrypt\$15\$8\$1\$/);
    expect(u.password_hash).not.toContain(PASSWORD);
    const me = await call('GET', '/api/auth/me', { cookie: cookie.split(';')[0]! });
    expect(me.json()).toMatchObject({ user: { role: 'operator' }, permissions: expect.arrayContaining(['batch.create']) });
  });

  it('ends a session at logout and a disabled user\'s sessions at once', async () => {
    const cookie = await loginCookie(users.logistics.name);
    expect((await call('GET', '/api/status', { cookie })).statusCode).toBe(200);
    expect((await call('POST', '/api/auth/logout', { cookie, headers: { origin: 'http://localhost:80' } })).statusCode).toBe(200);
    expect((await call('GET', '/api/status', { cookie })).statusCode).toBe(401);

    const extra = (await call('POST', '/api/users', { token: tokens.admin, body: { name: 'temp.user', role: 'qc' } })).json();
    expect(extra.password).toHaveLength(24);
    const tok = (await call('POST', '/api/auth/login', { body: { username: 'temp.user', password: extra.password, mode: 'token' } })).json().token;
    expect((await call('GET', '/api/status', { token: tok })).statusCode).toBe(200);
    const dis = await call('PATCH', `/api/users/${extra.user.id}`, { token: tokens.admin, body: { active: false } });
    expect(dis.json().user.active).toBe(false);
    expect((await call('GET', '/api/status', { token: tok })).json().error.code).toBe('AUTH_SESSION_INVALID');
    expect((await call('POST', '/api/auth/login', { body: { username: 'temp.user', password: extra.password } })).statusCode).toBe(401);
  });

  it('refuses a cookie-authenticated write from another origin (403 CSRF_REJECTED)', async () => {
    const cookie = await loginCookie(users.operator.name);
    const evil = await call('POST', '/api/batches', { cookie, body: { size: 1 }, headers: { origin: 'http://evil.example' } });
    expect(evil.statusCode).toBe(403);
    expect(evil.json().error.code).toBe('CSRF_REJECTED');
    const own = await call('POST', '/api/batches', { cookie, body: { size: 1 }, headers: { origin: 'http://localhost:80', host: 'localhost:80' } });
    expect(own.statusCode).toBe(201);
  });

  it('expires an idle console session and an old token (clock moved)', async () => {
    const clock = new FixedClock(new Date());
    const srv = await buildServer({ db: t.db, clock, log: { level: 'silent' } });
    try {
      const cookie = await loginCookie(users.qc.name, PASSWORD, srv);
      const tok = (await call('POST', '/api/auth/login', { body: { username: users.qc.name, password: PASSWORD, mode: 'token' }, srv })).json().token;
      clock.advance(29 * 60_000);
      expect((await call('GET', '/api/status', { cookie, srv })).statusCode).toBe(200); // used: idle timer restarts
      clock.advance(31 * 60_000);
      expect((await call('GET', '/api/status', { cookie, srv })).json().error.code).toBe('AUTH_SESSION_INVALID');
      expect((await call('GET', '/api/status', { token: tok, srv })).statusCode).toBe(200); // tokens have no idle limit
      clock.advance(12 * 60 * 60_000);
      expect((await call('GET', '/api/status', { token: tok, srv })).statusCode).toBe(401);
    } finally {
      await srv.app.close();
    }
  });

  it('lets a user change their own password and keeps that session only', async () => {
    const name = 'pw.changer';
    await call('POST', '/api/users', { token: tokens.admin, body: { name, role: 'operator', password: PASSWORD } });
    const a = await loginCookie(name);
    const b = await loginCookie(name);
    const bad = await call('POST', '/api/auth/password', { cookie: a, body: { currentPassword: 'not it at all', newPassword: 'a brand new passphrase' } });
    expect(bad.json().error.code).toBe('AUTH_INVALID_CREDENTIALS');
    const short = await call('POST', '/api/auth/password', { cookie: a, body: { currentPassword: PASSWORD, newPassword: 'short' } });
    expect(short.statusCode).toBe(400);
    expect(short.json().error.code).toBe('PASSWORD_POLICY');
    expect((await call('POST', '/api/auth/password', { cookie: a, body: { currentPassword: PASSWORD, newPassword: 'a brand new passphrase' } })).statusCode).toBe(200);
    expect((await call('GET', '/api/auth/me', { cookie: a })).statusCode).toBe(200);
    expect((await call('GET', '/api/auth/me', { cookie: b })).statusCode).toBe(401);
    expect((await call('POST', '/api/auth/login', { body: { username: name, password: 'a brand new passphrase' } })).statusCode).toBe(200);
  });

  it('creates named API tokens only from a console session, lists and revokes them', async () => {
    const cookie = await loginCookie(users.custodian.name);
    const created = await call('POST', '/api/auth/tokens', { cookie, body: { label: 'prometheus', ttlDays: 7 } });
    expect(created.statusCode).toBe(201);
    const { token, session } = created.json();
    expect((await call('GET', '/api/metrics', { token })).statusCode).toBe(200);
    expect((await call('POST', '/api/auth/tokens', { token, body: { label: 'again' } })).json().error.code).toBe('TOKEN_REQUIRES_SESSION');
    const list = (await call('GET', '/api/auth/tokens', { cookie })).json().sessions;
    expect(list.map((s: { label: string | null }) => s.label)).toContain('prometheus');
    expect(JSON.stringify(list)).not.toContain(token);
    expect((await call('DELETE', `/api/auth/tokens/${session.id}`, { cookie })).statusCode).toBe(200);
    expect((await call('GET', '/api/metrics', { token })).statusCode).toBe(401);
    expect((await call('DELETE', `/api/auth/tokens/${session.id}`, { cookie })).json().error.code).toBe('TOKEN_NOT_FOUND');
  });
});

describe('login rate limit', () => {
  it('answers 429 AUTH_RATE_LIMITED with Retry-After after 5 failures per user and address, until the window passes', async () => {
    const clock = new FixedClock(new Date());
    const srv = await buildServer({ db: t.db, clock, log: { level: 'silent' } });
    try {
      const name = users.operator.name;
      const ip = '192.0.2.10';
      for (let i = 0; i < 5; i++) {
        expect((await call('POST', '/api/auth/login', { srv, body: { username: name, password: 'wrong password 123' }, remoteAddress: ip })).statusCode).toBe(401);
      }
      const limited = await call('POST', '/api/auth/login', { srv, body: { username: name, password: PASSWORD }, remoteAddress: ip });
      expect(limited.statusCode).toBe(429);
      expect(limited.json().error).toMatchObject({ code: 'AUTH_RATE_LIMITED', details: { retryAfterSeconds: 900 } });
      expect(limited.headers['retry-after']).toBe('900');
      // Another address, and another user from the same address, are not affected.
      expect((await call('POST', '/api/auth/login', { srv, body: { username: name, password: PASSWORD }, remoteAddress: '192.0.2.11' })).statusCode).toBe(200);
      expect((await call('POST', '/api/auth/login', { srv, body: { username: users.qc.name, password: PASSWORD }, remoteAddress: ip })).statusCode).toBe(200);
      clock.advance(15 * 60_000 + 1000);
      expect((await call('POST', '/api/auth/login', { srv, body: { username: name, password: PASSWORD }, remoteAddress: ip })).statusCode).toBe(200);
      // The failures of a known user are in the audit log (unknown names are not recorded).
      const failed = await t.db('audit_log').where({ action: 'auth.login_failed', entity_id: String(users.operator.id) }).count({ n: '*' });
      expect(Number(failed[0]!.n)).toBeGreaterThanOrEqual(5);
    } finally {
      await srv.app.close();
    }
  });
});

/** A request path for a route pattern, with harmless parameter values. */
function fill(url: string): string {
  return url.replace(':documentNumber', 'KT9999999').replace(':code', 'BX0000001237').replace(':id', '999');
}

describe('roles', () => {
  it('refuses every route to every role without its permission (403 FORBIDDEN naming the permission)', async () => {
    const guarded = server.routes.filter((r) => r.url.startsWith('/api/') && r.access && r.access !== 'public' && r.access !== 'authenticated');
    expect(guarded.length).toBeGreaterThan(30);
    let refusals = 0;
    for (const r of guarded) {
      const allowed = PERMISSIONS[r.access as keyof typeof PERMISSIONS] as readonly string[];
      for (const role of ROLES_ALL) {
        if (allowed.includes(role)) continue;
        const res = await call(r.method, fill(r.url), { token: tokens[role], ...(r.method === 'GET' ? {} : { body: { anything: 1 } }) });
        expect(res.statusCode, `${role} ${r.method} ${r.url}`).toBe(403);
        expect(res.json().error).toMatchObject({ code: 'FORBIDDEN', details: { permission: r.access, role } });
        refusals++;
      }
    }
    expect(refusals).toBeGreaterThan(60);
  });

  it('lets every role through to validation on the routes it holds (the permission table is complete)', async () => {
    const guarded = server.routes.filter((r) => r.url.startsWith('/api/') && r.access && r.access !== 'public' && r.access !== 'authenticated' && r.url !== '/api/events');
    for (const r of guarded) {
      for (const role of PERMISSIONS[r.access as keyof typeof PERMISSIONS] as readonly Role[]) {
        const op = (server.openapi().paths as any)[r.url.replace(/:(\w+)/g, '{$1}')][r.method.toLowerCase()];
        if (!op.requestBody) {
          // No body to get wrong: the call runs (200), finds nothing (404) or lacks a service here (503).
          const res = await call(r.method, fill(r.url), { token: tokens[role] });
          expect([200, 404, 503], `${role} ${r.method} ${r.url}: ${res.body.slice(0, 200)}`).toContain(res.statusCode);
        } else {
          // An unknown field fails the schema: proves the role passed the access check, changes nothing.
          const res = await call(r.method, fill(r.url), { token: tokens[role], body: { unexpectedField: 1 } });
          expect(res.statusCode, `${role} ${r.method} ${r.url}: ${res.body.slice(0, 200)}`).toBe(400);
          expect(res.json().error.code).toBe('REQUEST_INVALID');
        }
      }
    }
  });

  it('enforces the separations of DESIGN.md §5', async () => {
    const [card] = await seedCards(t.db, 1, { state: 'PRINTED' });
    const qcPass = { documentNumber: card!.documentNumber, passed: true };
    for (const role of ['operator', 'logistics', 'custodian', 'admin'] as const) {
      const r = await call('POST', '/api/qc/results', { token: tokens[role], body: qcPass });
      expect(r.statusCode, `${role} passing QC`).toBe(403);
      expect(r.json().error.details.permission).toBe('qc.submit');
    }
    for (const url of ['/api/dispatch/scans', '/api/dispatch/issue', '/api/dispatch/pack', '/api/dispatch/ship']) {
      expect((await call('POST', url, { token: tokens.qc, body: {} })).statusCode, `qc ${url}`).toBe(403);
    }
    for (const role of ['operator', 'qc', 'logistics', 'admin'] as const) {
      expect((await call('POST', '/api/keys/rotate-ds', { token: tokens[role], body: {} })).statusCode, `${role} rotating keys`).toBe(403);
      expect((await call('POST', '/api/keys/crl', { token: tokens[role], body: {} })).statusCode).toBe(403);
    }
    // The custodian passes the role check; this server has no HSM configured.
    expect((await call('POST', '/api/keys/rotate-ds', { token: tokens.custodian, body: {} })).json().error.code).toBe('KEYS_UNAVAILABLE');
    for (const role of ['operator', 'qc', 'logistics', 'custodian'] as const) {
      expect((await call('POST', '/api/users', { token: tokens[role], body: { name: 'sneaky', role: 'admin' } })).statusCode).toBe(403);
    }
    expect((await t.db('cards').where({ id: card!.cardId }).first('state')).state).toBe('PRINTED');
    expect(await t.db('users').where({ name: 'sneaky' }).first()).toBeUndefined();
  });
});

describe('production, QC and cards', () => {
  let cards: SeededCard[];
  beforeAll(async () => {
    cards = await seedCards(t.db, 4, { state: 'PRINTED' });
  });

  it('creates a batch as the operator (audited with the operator as actor) and shows its progress', async () => {
    await seedCards(t.db, 3, { state: 'ORDERED' });
    const r = await call('POST', '/api/batches', { token: tokens.operator, body: { size: 2, centreCode: CENTRE } });
    expect(r.statusCode, r.body).toBe(201);
    const b = r.json();
    expect(b).toMatchObject({ state: 'CREATED', size: 2, centreCode: CENTRE, createdBy: users.operator.name, cards: { ORDERED: 2 } });
    const entry = await t.db('audit_log').where({ action: 'batch.create', entity_id: String(b.id) }).first();
    expect(entry.actor).toBe(users.operator.name);
    expect((await call('GET', `/api/batches/${b.id}`, { token: tokens.qc })).json().cards).toEqual({ ORDERED: 2 });
    const list = (await call('GET', '/api/batches?limit=5', { token: tokens.logistics })).json().batches;
    expect(list[0].id).toBe(b.id);
    const bad = await call('POST', '/api/batches', { token: tokens.operator, body: { size: 0 } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('REQUEST_INVALID');
    const unknownCentre = await call('POST', '/api/batches', { token: tokens.operator, body: { size: 1, centreCode: 'KE-999-99' } });
    expect(unknownCentre.statusCode).toBe(404);
    expect(unknownCentre.json().error.code).toBe('CENTRE_NOT_FOUND');
    expect((await call('GET', '/api/batches/424242', { token: tokens.operator })).json().error.code).toBe('BATCH_NOT_FOUND');
    for (const bad of ['/api/batches/0', '/api/batches/abc', '/api/batches?limit=0', '/api/batches?limit=x']) {
      expect((await call('GET', bad, { token: tokens.operator })).json().error.code, bad).toBe('REQUEST_INVALID');
    }
  });

  it('shows holder data only to the roles allowed to see it', async () => {
    const doc = cards[0]!.documentNumber;
    const asOperator = (await call('GET', `/api/cards/${doc}`, { token: tokens.operator })).json();
    expect(asOperator).toMatchObject({ documentNumber: doc, state: 'PRINTED', centre: CENTRE });
    expect(asOperator.holder).toBeUndefined();
    expect(JSON.stringify(asOperator)).not.toContain(cards[0]!.nationalNumber);
    const asQc = (await call('GET', `/api/cards/${doc.toLowerCase()}`, { token: tokens.qc })).json();
    expect(asQc.holder).toEqual({ surname: cards[0]!.surname, givenNames: cards[0]!.givenNames, sex: 'F', dateOfBirth: '1990-04-12', nationalNumber: cards[0]!.nationalNumber });
    expect(JSON.stringify(asQc)).not.toContain('P.O. Box'); // the address is never served
    const photo = await call('GET', `/api/cards/${doc}/photo`, { token: tokens.logistics });
    expect(photo.statusCode).toBe(200);
    expect(photo.headers['content-type']).toBe('image/jpeg');
    expect(photo.headers['cache-control']).toBe('no-store');
    expect((await call('GET', `/api/cards/${doc}/photo`, { token: tokens.operator })).statusCode).toBe(403);
    const missing = await call('GET', '/api/cards/KZ0000000', { token: tokens.qc });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('CARD_NOT_FOUND');
  });

  it('gives a card\'s history from the audit trail', async () => {
    const h = (await call('GET', `/api/cards/${cards[0]!.documentNumber}/history`, { token: tokens.operator })).json();
    expect(h.state).toBe('PRINTED');
    expect(h.entries.filter((e: { action: string }) => e.action === 'card.transition').map((e: { data: { to: string } }) => e.data.to)).toEqual(['PREPARED', 'ENCODING', 'ENCODED', 'PRINTED']);
    expect(h.entries[0].hash).toBeUndefined();
  });

  it('passes a card at QC once every required kind has passed (src/qc policy: CHIP and FACE)', async () => {
    const doc = cards[0]!.documentNumber;
    // No type coercion in bodies: 1 or "true" is not a pass.
    for (const passed of [1, 'true']) {
      expect((await call('POST', '/api/qc/results', { token: tokens.qc, body: { documentNumber: doc, passed } })).json().error.code).toBe('REQUEST_INVALID');
    }
    const visual = await call('POST', '/api/qc/results', { token: tokens.qc, body: { documentNumber: doc, passed: true, station: 'QC-07', details: { lighting: 'ok', defects: 0 } } });
    expect(visual.statusCode, visual.body).toBe(201);
    expect(visual.json()).toMatchObject({ documentNumber: doc, kind: 'VISUAL', passed: true, state: 'PRINTED', pendingKinds: ['CHIP', 'FACE'], replacementCardId: null });
    const chip = await call('POST', '/api/qc/results', { token: tokens.qc, body: { documentNumber: doc, passed: true, kind: 'CHIP', station: 'QC-07' } });
    expect(chip.json()).toMatchObject({ state: 'PRINTED', pendingKinds: ['FACE'] });
    const face = await call('POST', '/api/qc/results', { token: tokens.qc, body: { documentNumber: doc, passed: true, kind: 'FACE', station: 'QC-07' } });
    expect(face.json()).toMatchObject({ state: 'QC_PASSED', pendingKinds: [] });
    const card = (await call('GET', `/api/cards/${doc}`, { token: tokens.qc })).json();
    expect(card.state).toBe('QC_PASSED');
    expect(card.qc.map((q: { kind: string }) => q.kind)).toEqual(['VISUAL', 'CHIP', 'FACE']);
    expect(card.qc[0]).toMatchObject({ passed: true, reasonCode: null, station: 'QC-07', operator: users.qc.name, details: { lighting: 'ok', defects: 0 } });
    const again = await call('POST', '/api/qc/results', { token: tokens.qc, body: { documentNumber: doc, passed: true } });
    expect(again.statusCode).toBe(409);
    expect(again.json().error).toMatchObject({ code: 'QC_CARD_NOT_PRINTED', details: { state: 'QC_PASSED' } });
    const trans = await t.db('audit_log').where({ action: 'card.transition', entity_id: String(cards[0]!.cardId) }).orderBy('seq', 'desc').first();
    expect(trans.actor).toBe(users.qc.name);
    const reasons = (await call('GET', '/api/qc/reasons?kind=VISUAL', { token: tokens.operator })).json();
    expect(reasons.requiredKinds).toEqual(['CHIP', 'FACE']);
    expect(reasons.reasons.map((r: { code: string }) => r.code)).toContain('QC_PRINT_DEFECT');
    expect(reasons.reasons.every((r: { kind: string }) => r.kind === 'VISUAL')).toBe(true);
  });

  it('fails a card with a reason: spoiled, the order gets a new card; a reason is required', async () => {
    const c = cards[1]!;
    const noReason = await call('POST', '/api/qc/results', { token: tokens.qc, body: { documentNumber: c.documentNumber, passed: false } });
    expect(noReason.statusCode).toBe(400);
    expect(noReason.json().error.code).toBe('QC_REASON_REQUIRED');
    const badReason = await call('POST', '/api/qc/results', { token: tokens.qc, body: { documentNumber: c.documentNumber, passed: false, reasonCode: 'FELT_LIKE_IT' } });
    expect(badReason.json().error.code).toBe('REQUEST_INVALID');
    expect(await t.db('qc_results').where({ card_id: c.cardId }).first()).toBeUndefined();
    const r = await call('POST', '/api/qc/results', { token: tokens.qc, body: { documentNumber: c.documentNumber, passed: false, reasonCode: 'QC_PRINT_DEFECT' } });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json()).toMatchObject({ state: 'SPOILED', reasonCode: 'QC_PRINT_DEFECT', orderStatus: 'OPEN' });
    const spoiled = await t.db('cards').where({ id: c.cardId }).first();
    expect(spoiled).toMatchObject({ state: 'SPOILED', spoil_reason: 'QC_PRINT_DEFECT' });
    const replacement = await t.db('cards').where({ id: r.json().replacementCardId }).first();
    expect(replacement).toMatchObject({ order_id: c.orderId, state: 'ORDERED', batch_id: null });
    expect((await t.db('card_orders').where({ id: c.orderId }).first()).attempts).toBe(2);
    const dash = (await call('GET', '/api/dashboard', { token: tokens.operator })).json();
    expect(dash.failures.qc).toMatchObject({ QC_PRINT_DEFECT: 1 });
    expect(dash.failures.spoiled).toMatchObject({ QC_PRINT_DEFECT: 1 });
  });

  it('counts cards per state in /api/status and Prometheus /api/metrics', async () => {
    const s = (await call('GET', '/api/status', { token: tokens.custodian })).json();
    expect(s.cards.QC_PASSED).toBeGreaterThanOrEqual(1);
    const m = await call('GET', '/api/metrics', { token: tokens.custodian });
    expect(m.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(m.body).toContain('# TYPE kadi_cards gauge');
    expect(m.body).toMatch(new RegExp(`^kadi_cards\\{state="QC_PASSED"\\} ${s.cards.QC_PASSED}$`, 'm'));
    expect(m.body).toMatch(/^kadi_qc_failures\{reason="QC_PRINT_DEFECT"\} 1$/m);
    expect(m.body).toMatch(/^kadi_cards_spoiled_by_reason\{reason="QC_PRINT_DEFECT"\} 1$/m);
    expect(m.body).toMatch(/^kadi_card_transitions_per_hour\{state="QC_PASSED"\} \d+$/m);
    expect(m.body).toMatch(/^kadi_api_requests_total\{method="GET",route="\/api\/status",status="200"\} \d+$/m);
    expect(m.body).toMatch(/^kadi_api_login_failures_total \d+$/m);
    // Every sample line is `name{labels} number`.
    for (const line of m.body.trim().split('\n').filter((l) => !l.startsWith('#'))) expect(line).toMatch(/^[a-z_]+(\{[^}]*\})? -?\d+(\.\d+)?$/);
  });

  it('verifies the audit chain for the custodian and the admin', async () => {
    const r = await call('POST', '/api/audit/verify', { token: tokens.admin });
    expect(r.json()).toMatchObject({ ok: true });
    expect(r.json().entries).toBeGreaterThan(20);
  });
});

describe('dispatch', () => {
  let cards: SeededCard[];
  beforeAll(async () => {
    cards = await seedCards(t.db, 3, { state: 'QC_PASSED', centre: OTHER_CENTRE });
  });

  it('packs, ships, scans at the centre and issues to the holder, all as the logistics user', async () => {
    const pack = await call('POST', '/api/dispatch/pack', { token: tokens.logistics, body: { centre: OTHER_CENTRE, sealPartial: true } });
    expect(pack.statusCode, pack.body).toBe(200);
    expect(pack.json()).toMatchObject({ packed: 3, byCentre: { [OTHER_CENTRE]: 3 } });
    const box = pack.json().boxes[0].code as string;
    expect(pack.json().boxes[0]).toMatchObject({ state: 'SEALED', cards: 3 });
    const ship = await call('POST', '/api/dispatch/ship', { token: tokens.logistics, body: { centre: OTHER_CENTRE } });
    expect(ship.json()).toMatchObject({ boxesDispatched: 1, cardsDispatched: 3 });

    const wrong = await call('POST', '/api/dispatch/scans', { token: tokens.logistics, body: { code: box, event: 'received', at: CENTRE } });
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json().error.code).toBe('SCAN_WRONG_CENTRE');
    const misread = await call('POST', '/api/dispatch/scans', { token: tokens.logistics, body: { code: 'BX0000001230', event: 'received', at: OTHER_CENTRE } });
    expect(misread.json().error.code).toBe('SCAN_MALFORMED_CODE');
    const ok = await call('POST', '/api/dispatch/scans', { token: tokens.logistics, body: { code: box.toLowerCase(), event: 'received', at: OTHER_CENTRE } });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({ box, from: 'DISPATCHED', to: 'RECEIVED', cards: 3, shipment: { state: 'RECEIVED' } });

    const c = cards[0]!;
    const early = await call('POST', '/api/dispatch/issue', { token: tokens.logistics, body: { documentNumber: c.documentNumber, centre: CENTRE } });
    expect(early.json().error.code).toBe('ISSUE_WRONG_CENTRE');
    const mismatch = await call('POST', '/api/dispatch/issue', { token: tokens.logistics, body: { documentNumber: c.documentNumber, centre: OTHER_CENTRE, holderNationalNumber: '12345678' } });
    expect(mismatch.statusCode).toBe(422);
    expect(mismatch.json().error.code).toBe('ISSUE_HOLDER_MISMATCH');
    const issued = await call('POST', '/api/dispatch/issue', { token: tokens.logistics, body: { documentNumber: c.documentNumber, centre: OTHER_CENTRE, holderNationalNumber: c.nationalNumber } });
    expect(issued.statusCode, issued.body).toBe(200);
    expect(issued.json()).toMatchObject({ state: 'ISSUED', orderStatus: 'FULFILLED' });
    const twice = await call('POST', '/api/dispatch/issue', { token: tokens.logistics, body: { documentNumber: c.documentNumber, centre: OTHER_CENTRE } });
    expect(twice.json().error.code).toBe('ISSUE_ALREADY_ISSUED');

    const journey = (await call('GET', `/api/dispatch/cards/${c.documentNumber}/journey`, { token: tokens.operator })).json();
    expect(journey.card).toMatchObject({ state: 'ISSUED', box });
    expect(journey.events.map((e: { event: string }) => e.event)).toEqual(expect.arrayContaining(['received', 'issued']));
    const boxView = (await call('GET', `/api/dispatch/boxes/${box}`, { token: tokens.admin })).json();
    expect(boxView.box).toMatchObject({ code: box, state: 'RECEIVED' });
    for (const action of ['box.seal', 'box.dispatch', 'box.scan']) {
      expect((await t.db('audit_log').where({ action, entity_id: box }).first())?.actor, action).toBe(users.logistics.name);
    }
  });

  it('reports uncollected cards and reconciliation; returns need the logistics role', async () => {
    const ageing = (await call('GET', '/api/dispatch/ageing', { token: tokens.operator })).json();
    expect(ageing.totals.uncollected).toBe(2);
    const dry = await call('POST', '/api/dispatch/returns', { token: tokens.logistics, body: { olderThanDays: 0, dryRun: true } });
    expect(dry.json()).toMatchObject({ dryRun: true });
    expect((await call('POST', '/api/dispatch/returns', { token: tokens.operator, body: { dryRun: true } })).statusCode).toBe(403);
    const rec = await call('GET', '/api/reconciliation', { token: tokens.custodian });
    expect(rec.statusCode).toBe(200);
    expect(rec.json()).toMatchObject({ equation: expect.stringContaining('received') });
    expect(rec.json().blanks.issued).toBe(1);
    const stock = (await call('GET', '/api/stock', { token: tokens.logistics })).json();
    expect(stock.lots[0].consumed).toBeGreaterThan(0);
    const lot = await call('POST', '/api/stock/lots', { token: tokens.logistics, body: { lot: 'LOT-API-1', quantity: 500, supplier: 'Test Cards Ltd', chipType: 'JCOP4' } });
    expect(lot.statusCode).toBe(201);
    expect((await call('POST', '/api/stock/lots', { token: tokens.logistics, body: { lot: 'LOT-API-1', quantity: 500, supplier: 'x', chipType: 'y' } })).json().error.code).toBe('STOCK_LOT_EXISTS');
  });
});

describe('pipeline', () => {
  it('runs a batch for the operator only: its flow is queued in Redis and the batch is RUNNING', async () => {
    const prefix = `kadi-api-${randomBytes(4).toString('hex')}`;
    const conn = redisConnection(testServices().redisUrl);
    const stages = [prepareStage(t.db, { actor: 'worker:prepare', issuingState: 'KEN', issuingAuthority: 'REGISTRAR OF PERSONS KENYA', validityYears: 10, personalisationSystem: 'KADI' }, 1)];
    const srv = await buildServer({ db: t.db, log: { level: 'silent' }, pipeline: { runBatch: (id, actor) => submitBatch(t.db, conn, stages, id, actor, prefix) } });
    try {
      await seedCards(t.db, 2, { state: 'ORDERED', centre: OTHER_CENTRE });
      const b = (await call('POST', '/api/batches', { srv, token: tokens.operator, body: { size: 2, centreCode: OTHER_CENTRE } })).json();
      for (const role of ['qc', 'logistics', 'custodian', 'admin'] as const) {
        expect((await call('POST', `/api/batches/${b.id}/run`, { srv, token: tokens[role] })).statusCode, role).toBe(403);
      }
      expect((await call('POST', `/api/batches/${b.id}/run`, { token: tokens.operator })).json().error.code).toBe('PIPELINE_UNAVAILABLE');
      expect((await call('POST', '/api/batches/987654/run', { srv, token: tokens.operator })).json().error.code).toBe('BATCH_NOT_FOUND');
      const r = await call('POST', `/api/batches/${b.id}/run`, { srv, token: tokens.operator });
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json()).toMatchObject({ batchId: b.id, run: 1, cards: 2, jobs: 3, batch: { id: b.id, state: 'RUNNING' } });
      expect(await batchFlowPresent(t.db, conn, b.id, prefix)).toBe(true);
      const entry = await t.db('audit_log').where({ action: 'batch.transition', entity_id: String(b.id) }).first();
      expect(entry.actor).toBe(users.operator.name);
    } finally {
      await srv.app.close();
      const keys = await conn.keys(`${prefix}:*`);
      if (keys.length) await conn.del(...keys);
      conn.disconnect();
    }
  });
});

describe('users', () => {
  it('lets the admin create users (password shown once), change roles, and never leaves no admin', async () => {
    const r = await call('POST', '/api/users', { token: tokens.admin, body: { name: 'New.Operator', role: 'operator' } });
    expect(r.statusCode).toBe(201);
    const { user, password } = r.json();
    expect(user).toMatchObject({ name: 'new.operator', role: 'operator', active: true, createdBy: users.admin.name });
    expect(JSON.stringify((await call('GET', '/api/users', { token: tokens.admin })).json())).not.toMatch(/scrypt|password_hash|"password"/);
    expect((await call('POST', '/api/auth/login', { body: { username: 'new.operator', password } })).statusCode).toBe(200);
    expect((await call('POST', '/api/users', { token: tokens.admin, body: { name: 'new.operator', role: 'qc' } })).json().error.code).toBe('USER_EXISTS');
    expect((await call('POST', '/api/users', { token: tokens.admin, body: { name: '9bad name', role: 'qc' } })).json().error.code).toBe('USER_NAME_INVALID');
    const promoted = await call('PATCH', `/api/users/${user.id}`, { token: tokens.admin, body: { role: 'qc' } });
    expect(promoted.json().user.role).toBe('qc');
    const last = await call('PATCH', `/api/users/${users.admin.id}`, { token: tokens.admin, body: { role: 'operator' } });
    expect(last.statusCode).toBe(409);
    expect(last.json().error.code).toBe('USER_LAST_ADMIN');
    const reset = await call('POST', `/api/users/${user.id}/password`, { token: tokens.admin, body: {} });
    expect(reset.json().password).toHaveLength(24);
    expect((await call('POST', '/api/auth/login', { body: { username: 'new.operator', password } })).statusCode).toBe(401);
    const audit = await t.db('audit_log').where({ entity_type: 'user', entity_id: String(user.id) }).orderBy('seq').select('action', 'actor');
    expect(audit.map((a: { action: string }) => a.action)).toEqual(expect.arrayContaining(['user.create', 'session.create', 'user.update', 'user.password']));
    expect(audit.find((a: { action: string }) => a.action === 'user.update').actor).toBe(users.admin.name);
  });
});

describe('server-sent events', () => {
  it('streams dashboard snapshots to a logged-in client', async () => {
    const srv = await buildServer({ db: t.db, log: { level: 'silent' }, options: { eventsIntervalMs: 200 } });
    try {
      await srv.app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = srv.app.server.address() as AddressInfo;
      const text = await new Promise<string>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/api/events', headers: { authorization: `Bearer ${tokens.operator}` } }, (res) => {
          let buf = `content-type: ${String(res.headers['content-type'])}\n`;
          res.on('data', (d: Buffer) => {
            buf += d.toString();
            if ((buf.match(/event: dashboard/g) ?? []).length >= 2) {
              req.destroy();
              resolve(buf);
            }
          });
        });
        req.on('error', reject);
      });
      expect(text).toMatch(/^content-type: text\/event-stream/);
      const first = /event: dashboard\ndata: (.*)\n\n/.exec(text)![1]!;
      expect(JSON.parse(first)).toMatchObject({ status: { cards: expect.any(Object) }, batches: expect.any(Array) });
      const denied = await new Promise<number>((resolve) =>
        http.get({ host: '127.0.0.1', port, path: '/api/events', agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }),
      );
      expect(denied).toBe(401);
    } finally {
      await srv.app.close();
    }
  });
});

describe('no personal data in URLs or logs', () => {
  it('logs the route pattern, never the raw URL, bodies, credentials or holder data', async () => {
    const [c] = await seedCards(t.db, 1, { state: 'PRINTED', surname: 'Kipchumba' });
    await call('GET', `/api/cards/${c!.documentNumber}`, { token: tokens.qc });
    await call('GET', `/api/cards/${c!.nationalNumber}`, { token: tokens.qc }); // someone typed a national number
    await call('POST', '/api/dispatch/issue', { token: tokens.logistics, body: { documentNumber: c!.documentNumber, centre: CENTRE, holderNationalNumber: c!.nationalNumber } });
    await call('POST', '/api/auth/login', { body: { username: users.qc.name, password: 'a wrong password 9' } });
    await call('GET', '/api/nothing/12345678/Kipchumba', { token: tokens.qc });
    const all = logs.join('');
    expect(all).toContain('"route":"/api/cards/:documentNumber"');
    expect(all).toContain('"route":"unmatched"');
    for (const secret of [c!.nationalNumber, c!.surname, c!.givenNames, '12345678', PASSWORD, 'a wrong password 9', tokens.qc, tokens.qc.slice(9)]) {
      expect(all, secret).not.toContain(secret);
    }
    // Only ids, codes and states go into the audit log too.
    const audit = JSON.stringify(await t.db('audit_log').select('data', 'entity_id', 'actor'));
    for (const secret of [c!.nationalNumber, c!.surname, PASSWORD]) expect(audit).not.toContain(secret);
  });
});

describe('OpenAPI document', () => {
  let doc: any;
  beforeAll(async () => {
    const r = await call('GET', '/openapi.json');
    expect(r.statusCode).toBe(200);
    doc = r.json();
  });

  it('lists every API route fastify serves, and only those', async () => {
    const served = server.routes.filter((r) => r.url.startsWith('/api/')).map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    expect(documented.sort()).toEqual([...new Set(served)].sort());
    for (const required of [
      'POST /api/batches', 'GET /api/batches/{id}', 'GET /api/cards/{documentNumber}', 'GET /api/cards/{documentNumber}/history',
      'GET /api/status', 'POST /api/audit/verify', 'GET /api/metrics', 'POST /api/qc/results', 'GET /api/reconciliation',
      'POST /api/dispatch/scans', 'POST /api/dispatch/issue', 'POST /api/auth/login', 'GET /api/events', 'GET /api/keys',
    ]) expect(documented, required).toContain(required);
    for (const d of documented) {
      const [method, p] = d.split(' ');
      expect(server.app.hasRoute({ method: method as 'GET', url: p!.replace(/\{(\w+)\}/g, ':$1') }), d).toBe(true);
    }
  });

  it('is a well-formed OpenAPI 3.1 document', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: 'Kadi API', version: expect.any(String), license: { name: 'Apache-2.0' } });
    const ids = new Set<string>();
    const tags = new Set((doc.tags as Array<{ name: string }>).map((x) => x.name));
    for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      expect(p).toMatch(/^\/api\//);
      const templ = [...p.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(ops)) {
        expect(['get', 'post', 'patch', 'delete']).toContain(method);
        expect(ids.has(op.operationId), `duplicate operationId ${op.operationId}`).toBe(false);
        ids.add(op.operationId);
        expect(op.summary).toBeTruthy();
        for (const tg of op.tags) expect(tags.has(tg)).toBe(true);
        const pathParams = (op.parameters ?? []).filter((x: any) => x.in === 'path').map((x: any) => x.name);
        expect(pathParams.sort(), `${method} ${p}`).toEqual([...templ].sort());
        for (const prm of op.parameters ?? []) {
          expect(['path', 'query']).toContain(prm.in);
          expect(prm.schema).toBeTypeOf('object');
          if (prm.in === 'path') expect(prm.required).toBe(true);
        }
        expect(Object.keys(op.responses).some((c) => /^2\d\d$/.test(c)), `${method} ${p} has a success response`).toBe(true);
        for (const [code, resp] of Object.entries(op.responses as Record<string, any>)) {
          expect(code).toMatch(/^([1-5]\d\d|default)$/);
          if (!resp.$ref) expect(resp.description).toBeTruthy();
        }
        if (op['x-kadi-permission'] === 'public') expect(op.security).toEqual([]);
        else {
          expect(op.security).toEqual([{ cookieAuth: [] }, { bearerAuth: [] }]);
          if (op['x-kadi-permission'] !== 'authenticated') expect(op['x-kadi-roles']).toEqual([...(PERMISSIONS as any)[op['x-kadi-permission']]]);
        }
        if (op.requestBody) expect(op.requestBody.content['application/json'].schema.type).toBe('object');
      }
    }
    // Every $ref resolves inside the document; no stray JSON-schema $schema keys.
    const text = JSON.stringify(doc);
    expect(text).not.toContain('"$schema"');
    for (const m of text.matchAll(/"\$ref":"([^"]+)"/g)) {
      const target = m[1]!.replace(/^#\//, '').split('/').reduce((o: any, k) => o?.[k], doc);
      expect(target, m[1]).toBeTypeOf('object');
    }
    expect(Object.keys(doc.components.securitySchemes)).toEqual(['cookieAuth', 'bearerAuth']);
  });
});

describe('errors and the console', () => {
  it('answers unknown routes, bad JSON and wrong content types with stable codes', async () => {
    expect((await call('GET', '/api/nope', { token: tokens.qc })).json().error.code).toBe('ROUTE_NOT_FOUND');
    const badJson = await call('POST', '/api/batches', { token: tokens.operator, headers: { 'content-type': 'application/json' }, body: '{"size": 1,,}' });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json().error).toMatchObject({ code: 'REQUEST_INVALID', message: 'the body is not valid JSON' });
    const form = await call('POST', '/api/batches', { token: tokens.operator, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'size=1' });
    expect(form.statusCode).toBe(415);
    expect(form.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('serves the console pages with a strict content security policy and nothing outside its folder', async () => {
    const root = await call('GET', '/');
    expect(root.statusCode).toBe(302);
    expect(root.headers.location).toBe('/console/');
    for (const page of ['/console/', '/console/login.html', '/console/qc.html', '/console/dispatch.html', '/console/kadi.js']) {
      const r = await call('GET', page);
      expect(r.statusCode, page).toBe(200);
      expect(String(r.headers['content-security-policy'])).toContain("script-src 'self'");
      expect(r.headers['x-frame-options']).toBe('DENY');
    }
    expect((await call('GET', '/console/kadi.css')).headers['content-type']).toMatch(/^text\/css/);
    for (const bad of ['/console/../server.ts', '/console/%2e%2e/server.ts', '/console/..%2fserver.ts', '/console/nope.html', '/console/server.ts']) {
      expect((await call('GET', bad)).statusCode, bad).toBe(404);
    }
    // No inline scripts: CSP would block them.
    expect((await call('GET', '/console/qc.html')).body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it('audits every write with its user: the chain verifies and each role appears as actor', async () => {
    const r = await verifyAudit(t.db);
    expect(r.ok).toBe(true);
    const actors = new Set((await t.db('audit_log').distinct('actor')).map((a: { actor: string }) => a.actor));
    for (const role of ROLES_ALL) expect(actors.has(users[role].name), role).toBe(true);
  });
});
