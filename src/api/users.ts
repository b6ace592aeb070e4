/**
 * Staff users and their sessions/tokens (tables from migration 0003_users). Every write here appends an audit
 * entry in the same transaction: user.create, user.update, user.password, session.create, session.revoke,
 * auth.login_failed. Secrets are never stored: passwords as scrypt hashes (passwords.ts), session cookies and
 * API tokens as the SHA-256 of a 256-bit random value.
 *
 * Sessions: a console session (cookie) expires after `idleMinutes` without use or `ttlMinutes` after login,
 * whichever comes first; an API token expires `ttlMinutes` after creation and has no idle limit. The user's role
 * and `active` flag are read on every request, so a role change or a disabled account takes effect at once.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { appendAudit } from '../audit/index.ts';
import { insertedId, toBool } from '../db/index.ts';
import { NotFoundError, StateError, systemClock, ValidationError, type Clock } from '../shared/index.ts';
import { burnVerification, checkPasswordPolicy, DEFAULT_COST, generatePassword, hashPassword, verifyPassword, type ScryptCost } from './passwords.ts';
import { isRole, type Role } from './roles.ts';

export const USER_NAME_RE = /^[a-z][a-z0-9._-]{1,31}$/;

export interface User {
  id: number;
  name: string;
  role: Role;
  active: boolean;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  passwordChangedAt: string;
  lastLoginAt: string | null;
}

function rowToUser(r: Record<string, unknown>): User {
  return {
    id: Number(r.id),
    name: String(r.name),
    role: String(r.role) as Role,
    active: toBool(r.active),
    createdAt: String(r.created_at),
    createdBy: String(r.created_by),
    updatedAt: String(r.updated_at),
    passwordChangedAt: String(r.password_changed_at),
    lastLoginAt: (r.last_login_at as string | null) ?? null,
  };
}

export function normaliseUserName(name: string): string {
  const n = name.trim().toLowerCase();
  if (!USER_NAME_RE.test(n)) {
    throw new ValidationError('USER_NAME_INVALID', 'a user name is 2 to 32 characters: a letter, then letters, digits, dot, dash or underscore', {
      hint: 'For example amina.qc or jkamau',
    });
  }
  return n;
}

function checkRole(role: string): Role {
  if (!isRole(role)) throw new ValidationError('USER_ROLE_INVALID', `unknown role ${JSON.stringify(role.slice(0, 20))}`, { hint: 'Roles: operator, qc, logistics, custodian, admin.' });
  return role;
}

export interface CreateUserOptions {
  name: string;
  role: string;
  /** Omitted: a random password is generated and returned once. */
  password?: string;
  actor: string;
  cost?: ScryptCost;
  clock?: Clock;
}

export async function createUser(db: Knex, o: CreateUserOptions): Promise<{ user: User; generatedPassword?: string }> {
  const name = normaliseUserName(o.name);
  const role = checkRole(o.role);
  const generated = o.password === undefined ? generatePassword() : undefined;
  const password = o.password ?? generated!;
  checkPasswordPolicy(password);
  const hash = await hashPassword(password, o.cost ?? DEFAULT_COST);
  const at = (o.clock ?? systemClock).now();
  const iso = at.toISOString();
  const id = await db.transaction(async (trx) => {
    if (await trx('users').where({ name }).first('id')) {
      throw new StateError('USER_EXISTS', `user ${name} already exists`, { hint: 'Pick another name, or reset the password of the existing user.' });
    }
    const newId = insertedId(
      await trx('users')
        .insert({ name, role, password_hash: hash, active: 1, created_at: iso, created_by: o.actor.slice(0, 64), updated_at: iso, password_changed_at: iso })
        .returning('id'),
    );
    await appendAudit(trx, { actor: o.actor, action: 'user.create', entityType: 'user', entityId: newId, data: { name, role } }, at);
    return newId;
  });
  return { user: await getUser(db, id), ...(generated ? { generatedPassword: generated } : {}) };
}

export async function getUser(db: Knex | Knex.Transaction, id: number): Promise<User> {
  const r = await db('users').where({ id }).first();
  if (!r) throw new NotFoundError('USER_NOT_FOUND', `user ${id} does not exist`);
  return rowToUser(r);
}

export async function findUserByName(db: Knex, name: string): Promise<User | undefined> {
  const r = await db('users').where({ name: name.trim().toLowerCase() }).first();
  return r ? rowToUser(r) : undefined;
}

export async function listUsers(db: Knex): Promise<User[]> {
  return (await db('users').orderBy('id').select('*')).map(rowToUser);
}

async function activeAdmins(trx: Knex.Transaction): Promise<number> {
  return Number((await trx('users').where({ role: 'admin', active: 1 }).count({ n: '*' }))[0]?.n ?? 0);
}

export interface UpdateUserOptions {
  role?: string;
  active?: boolean;
  actor: string;
  clock?: Clock;
}

/** Changes a user's role and/or active flag. Disabling revokes every session and token of the user. */
export async function updateUser(db: Knex, id: number, o: UpdateUserOptions): Promise<User> {
  const at = (o.clock ?? systemClock).now();
  const role = o.role === undefined ? undefined : checkRole(o.role);
  await db.transaction(async (trx) => {
    const before = await getUser(trx, id);
    const set: Record<string, unknown> = {};
    if (role !== undefined && role !== before.role) set.role = role;
    if (o.active !== undefined && o.active !== before.active) set.active = o.active ? 1 : 0;
    if (Object.keys(set).length === 0) return;
    set.updated_at = at.toISOString();
    await trx('users').where({ id }).update(set);
    if (before.role === 'admin' && before.active && (await activeAdmins(trx)) === 0) {
      throw new StateError('USER_LAST_ADMIN', 'this would leave no active admin', { hint: 'Create or enable another admin first.' });
    }
    let revoked = 0;
    if (set.active === 0) revoked = await revokeAll(trx, id, at);
    await appendAudit(
      trx,
      {
        actor: o.actor,
        action: 'user.update',
        entityType: 'user',
        entityId: id,
        data: { ...(set.role ? { role: { from: before.role, to: set.role } } : {}), ...(set.active !== undefined ? { active: set.active === 1 } : {}), ...(revoked ? { sessionsRevoked: revoked } : {}) },
      },
      at,
    );
  });
  return getUser(db, id);
}

/** Sets a new password (generated when omitted; returned once) and revokes the user's sessions and tokens. */
export async function setPassword(
  db: Knex,
  id: number,
  o: { password?: string; actor: string; keepSessionId?: number; cost?: ScryptCost; clock?: Clock },
): Promise<{ user: User; generatedPassword?: string }> {
  const generated = o.password === undefined ? generatePassword() : undefined;
  const password = o.password ?? generated!;
  checkPasswordPolicy(password);
  const hash = await hashPassword(password, o.cost ?? DEFAULT_COST);
  const at = (o.clock ?? systemClock).now();
  await db.transaction(async (trx) => {
    await getUser(trx, id);
    await trx('users').where({ id }).update({ password_hash: hash, password_changed_at: at.toISOString(), updated_at: at.toISOString() });
    const revoked = await revokeAll(trx, id, at, o.keepSessionId);
    await appendAudit(trx, { actor: o.actor, action: 'user.password', entityType: 'user', entityId: id, data: { generated: generated !== undefined, sessionsRevoked: revoked } }, at);
  });
  return { user: await getUser(db, id), ...(generated ? { generatedPassword: generated } : {}) };
}

/** Checks a password. Returns the user when it matches and the account is active; undefined otherwise. */
export async function checkCredentials(db: Knex, name: string, password: string): Promise<User | undefined> {
  const r = USER_NAME_RE.test(name.trim().toLowerCase()) ? await db('users').where({ name: name.trim().toLowerCase() }).first() : undefined;
  if (!r) {
    await burnVerification(password);
    return undefined;
  }
  const ok = await verifyPassword(password, String(r.password_hash));
  return ok && toBool(r.active) ? rowToUser(r) : undefined;
}

/** Records a failed login of an existing user (unknown names are not recorded: they could be anything). */
export async function recordLoginFailure(db: Knex, userId: number, reason: string, clock: Clock = systemClock): Promise<void> {
  await db.transaction((trx) => appendAudit(trx, { actor: 'anonymous', action: 'auth.login_failed', entityType: 'user', entityId: userId, data: { reason } }, clock.now()));
}

// ---------------------------------------------------------------------------------------------- sessions

export type SessionKind = 'session' | 'token';

export interface SessionPolicy {
  /** Console session: absolute lifetime in minutes (default 720 = 12 h). */
  sessionTtlMinutes: number;
  /** Console session: ends after this many minutes without a request (default 30). */
  sessionIdleMinutes: number;
  /** API token: lifetime in minutes (default 43200 = 30 days; at most 366 days). */
  tokenTtlMinutes: number;
}

export const DEFAULT_SESSION_POLICY: SessionPolicy = { sessionTtlMinutes: 720, sessionIdleMinutes: 30, tokenTtlMinutes: 43_200 };

export interface Session {
  id: number;
  kind: SessionKind;
  label: string | null;
  createdAt: string;
  expiresAt: string;
  lastUsedAt: string;
  user: User;
}

/** Bearer tokens carry a recognisable prefix (secret scanners, logs); cookie values are the bare secret. */
export const TOKEN_PREFIX = 'kadi_pat_';

export function secretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export interface CreatedSession {
  session: Omit<Session, 'user'>;
  /** The cookie value or bearer token. Shown once; only its hash is stored. */
  secret: string;
}

export async function createSession(
  db: Knex,
  user: User,
  o: { kind: SessionKind; label?: string; ttlMinutes?: number; policy?: SessionPolicy; clock?: Clock; actor?: string },
): Promise<CreatedSession> {
  const policy = o.policy ?? DEFAULT_SESSION_POLICY;
  const at = (o.clock ?? systemClock).now();
  const ttl = o.ttlMinutes ?? (o.kind === 'session' ? policy.sessionTtlMinutes : policy.tokenTtlMinutes);
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 366 * 24 * 60) throw new ValidationError('TOKEN_TTL_INVALID', 'a token lives 1 minute to 366 days');
  const raw = randomBytes(32).toString('base64url');
  const secret = o.kind === 'token' ? `${TOKEN_PREFIX}${raw}` : raw;
  const iso = at.toISOString();
  const expiresAt = new Date(at.getTime() + ttl * 60_000).toISOString();
  const label = o.label?.slice(0, 64) ?? null;
  const id = await db.transaction(async (trx) => {
    const sid = insertedId(
      await trx('sessions')
        .insert({ secret_hash: secretHash(secret), user_id: user.id, kind: o.kind, label, created_at: iso, expires_at: expiresAt, last_used_at: iso })
        .returning('id'),
    );
    if (o.kind === 'session') await trx('users').where({ id: user.id }).update({ last_login_at: iso });
    await appendAudit(trx, { actor: o.actor ?? user.name, action: 'session.create', entityType: 'user', entityId: user.id, data: { session: sid, kind: o.kind, expiresAt, ...(label ? { label } : {}) } }, at);
    return sid;
  });
  return { session: { id, kind: o.kind, label, createdAt: iso, expiresAt, lastUsedAt: iso }, secret };
}

/** Minimum time between two writes of last_used_at for one session (a GET should not write every time). */
const TOUCH_EVERY_MS = 60_000;

/** The live session for a presented secret, or undefined (unknown, expired, idle too long, revoked, user disabled). */
export async function lookupSession(db: Knex, secret: string, o: { policy?: SessionPolicy; clock?: Clock } = {}): Promise<Session | undefined> {
  if (secret.length < 20 || secret.length > 128) return undefined;
  const policy = o.policy ?? DEFAULT_SESSION_POLICY;
  const now = (o.clock ?? systemClock).now();
  const r = await db('sessions as s')
    .join('users as u', 'u.id', 's.user_id')
    .where('s.secret_hash', secretHash(secret))
    .whereNull('s.revoked_at')
    .first('s.id as sid', 's.kind', 's.label', 's.created_at as s_created_at', 's.expires_at', 's.last_used_at', 'u.*');
  if (!r) return undefined;
  const user = rowToUser(r);
  if (!user.active) return undefined;
  if (Date.parse(String(r.expires_at)) <= now.getTime()) return undefined;
  const last = Date.parse(String(r.last_used_at));
  if (r.kind === 'session' && now.getTime() - last > policy.sessionIdleMinutes * 60_000) return undefined;
  let lastUsedAt = String(r.last_used_at);
  if (now.getTime() - last >= TOUCH_EVERY_MS) {
    lastUsedAt = now.toISOString();
    await db('sessions').where({ id: r.sid }).update({ last_used_at: lastUsedAt });
  }
  return {
    id: Number(r.sid),
    kind: r.kind as SessionKind,
    label: (r.label as string | null) ?? null,
    createdAt: String(r.s_created_at),
    expiresAt: String(r.expires_at),
    lastUsedAt,
    user,
  };
}

export async function revokeSession(db: Knex, sessionId: number, o: { actor: string; userId: number; reason: string; clock?: Clock }): Promise<boolean> {
  const at = (o.clock ?? systemClock).now();
  return db.transaction(async (trx) => {
    const n = await trx('sessions').where({ id: sessionId, user_id: o.userId }).whereNull('revoked_at').update({ revoked_at: at.toISOString() });
    if (n === 1) await appendAudit(trx, { actor: o.actor, action: 'session.revoke', entityType: 'user', entityId: o.userId, data: { session: sessionId, reason: o.reason } }, at);
    return n === 1;
  });
}

async function revokeAll(trx: Knex.Transaction, userId: number, at: Date, keep?: number): Promise<number> {
  const q = trx('sessions').where({ user_id: userId }).whereNull('revoked_at');
  if (keep !== undefined) q.whereNot({ id: keep });
  return q.update({ revoked_at: at.toISOString() });
}

/** The user's live tokens and sessions (never the secrets). */
export async function listSessions(db: Knex, userId: number, clock: Clock = systemClock): Promise<Array<Omit<Session, 'user'>>> {
  const rows = await db('sessions').where({ user_id: userId }).whereNull('revoked_at').andWhere('expires_at', '>', clock.now().toISOString()).orderBy('id');
  return rows.map((r: Record<string, unknown>) => ({
    id: Number(r.id),
    kind: r.kind as SessionKind,
    label: (r.label as string | null) ?? null,
    createdAt: String(r.created_at),
    expiresAt: String(r.expires_at),
    lastUsedAt: String(r.last_used_at),
  }));
}
