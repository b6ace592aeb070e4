/**
 * /api/auth: log in and out, who am I, change my password, my API tokens.
 *
 * Login answers either a console session (HttpOnly, SameSite=Strict cookie `kadi_session`; the default) or,
 * with `"mode": "token"`, a Bearer token in the body for API clients. Both are stored as SHA-256 hashes only.
 * Failed logins are rate limited per user name + client address (429 AUTH_RATE_LIMITED with Retry-After).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { clearSessionCookie, sessionCookie } from '../auth.ts';
import type { ApiContext } from '../deps.ts';
import { ApiError } from '../errors.ts';
import { defineRoute } from '../http.ts';
import { MAX_PASSWORD_LENGTH } from '../passwords.ts';
import { permissionsOf } from '../roles.ts';
import { checkCredentials, createSession, findUserByName, listSessions, recordLoginFailure, revokeSession, setPassword } from '../users.ts';
import { IdParam, Ok, Role } from './schemas.ts';

const Me = z.object({
  user: z.object({ id: z.number().int(), name: z.string(), role: Role }),
  permissions: z.array(z.string()),
  session: z.object({ kind: z.enum(['session', 'token']), expiresAt: z.string() }),
});

const SessionOut = z.object({
  id: z.number().int(),
  kind: z.enum(['session', 'token']),
  label: z.string().nullable(),
  createdAt: z.string(),
  expiresAt: z.string(),
  lastUsedAt: z.string(),
});

export function registerAuthRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { db } = ctx;

  defineRoute(app, {
    method: 'POST',
    url: '/api/auth/login',
    access: 'public',
    tag: 'auth',
    summary: 'Log in: a session cookie (console) or a Bearer token (API clients)',
    body: z.strictObject({
      username: z.string().min(1).max(64),
      password: z.string().min(1).max(MAX_PASSWORD_LENGTH),
      mode: z.enum(['cookie', 'token']).default('cookie').describe('cookie: Set-Cookie kadi_session; token: a Bearer token in the body'),
      label: z.string().min(1).max(64).optional().describe('What the token is for (mode token).'),
    }),
    response: Me.extend({ token: z.string().optional().describe('Bearer token (mode token only); shown once') }),
    errors: ['AUTH_INVALID_CREDENTIALS', 'AUTH_RATE_LIMITED'],
    handler: async ({ body, req, reply }) => {
      const ip = req.ip;
      const wait = ctx.limiter.retryAfter(body.username, ip);
      if (wait > 0) {
        ctx.counters.loginRateLimited++;
        throw new ApiError(429, 'AUTH_RATE_LIMITED', `too many failed logins for this user from this address; try again in ${wait} s`, {
          hint: 'Wait, or ask an admin to reset the password.',
          details: { retryAfterSeconds: wait },
          headers: { 'retry-after': String(wait) },
        });
      }
      const user = await checkCredentials(db, body.username, body.password);
      if (!user) {
        ctx.limiter.fail(body.username, ip);
        ctx.counters.loginFailures++;
        const known = await findUserByName(db, body.username).catch(() => undefined);
        if (known) await recordLoginFailure(db, known.id, known.active ? 'BAD_PASSWORD' : 'ACCOUNT_DISABLED', ctx.clock);
        throw new ApiError(401, 'AUTH_INVALID_CREDENTIALS', 'the user name or password is wrong, or the account is disabled');
      }
      ctx.limiter.succeed(body.username, ip);
      const kind: 'token' | 'session' = body.mode === 'token' ? 'token' : 'session';
      const created = await createSession(db, user, {
        kind,
        ...(kind === 'token' ? { label: body.label ?? 'login', ttlMinutes: ctx.opts.sessions.sessionTtlMinutes } : {}),
        policy: ctx.opts.sessions,
        clock: ctx.clock,
      });
      if (kind === 'session') {
        reply.header('set-cookie', sessionCookie(created.secret, { maxAgeSeconds: ctx.opts.sessions.sessionTtlMinutes * 60, secure: ctx.opts.secureCookies }));
      }
      return {
        user: { id: user.id, name: user.name, role: user.role },
        permissions: permissionsOf(user.role),
        session: { kind, expiresAt: created.session.expiresAt },
        ...(kind === 'token' ? { token: created.secret } : {}),
      };
    },
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/auth/logout',
    access: 'authenticated',
    tag: 'auth',
    summary: 'Log out: revokes the session or token used for this request',
    response: Ok,
    handler: async ({ req, reply, user, actor }) => {
      await revokeSession(db, req.auth!.session.id, { actor, userId: user.id, reason: 'LOGOUT', clock: ctx.clock });
      if (req.auth!.via === 'cookie') reply.header('set-cookie', clearSessionCookie(ctx.opts.secureCookies));
      return { ok: true };
    },
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/auth/me',
    access: 'authenticated',
    tag: 'auth',
    summary: 'The logged-in user, role and permissions',
    response: Me,
    handler: async ({ req, user }) => ({
      user: { id: user.id, name: user.name, role: user.role },
      permissions: permissionsOf(user.role),
      session: { kind: req.auth!.session.kind, expiresAt: req.auth!.session.expiresAt },
    }),
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/auth/password',
    access: 'authenticated',
    tag: 'auth',
    summary: 'Change my password (other sessions and tokens are revoked)',
    body: z.strictObject({ currentPassword: z.string().min(1).max(MAX_PASSWORD_LENGTH), newPassword: z.string().min(1).max(MAX_PASSWORD_LENGTH) }),
    response: Ok,
    errors: ['AUTH_INVALID_CREDENTIALS', 'AUTH_RATE_LIMITED', 'PASSWORD_POLICY'],
    handler: async ({ body, req, user, actor }) => {
      const wait = ctx.limiter.retryAfter(user.name, req.ip);
      if (wait > 0) throw new ApiError(429, 'AUTH_RATE_LIMITED', `too many failed attempts; try again in ${wait} s`, { headers: { 'retry-after': String(wait) }, details: { retryAfterSeconds: wait } });
      if (!(await checkCredentials(db, user.name, body.currentPassword))) {
        ctx.limiter.fail(user.name, req.ip);
        throw new ApiError(401, 'AUTH_INVALID_CREDENTIALS', 'the current password is wrong');
      }
      await setPassword(db, user.id, { password: body.newPassword, actor, keepSessionId: req.auth!.session.id, clock: ctx.clock });
      return { ok: true };
    },
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/auth/tokens',
    access: 'authenticated',
    tag: 'auth',
    summary: 'Create a named API token for myself (from a console session), e.g. for a metrics scraper',
    body: z.strictObject({ label: z.string().min(1).max(64), ttlDays: z.number().int().min(1).max(366).default(30) }),
    status: 201,
    response: z.object({ token: z.string().describe('Shown once'), session: SessionOut }),
    errors: ['TOKEN_REQUIRES_SESSION'],
    handler: async ({ body, req, user }) => {
      if (req.auth!.via !== 'cookie') throw new ApiError(403, 'TOKEN_REQUIRES_SESSION', 'tokens are created from a console session, not from another token');
      const created = await createSession(db, user, { kind: 'token', label: body.label, ttlMinutes: body.ttlDays * 24 * 60, policy: ctx.opts.sessions, clock: ctx.clock });
      return { token: created.secret, session: created.session };
    },
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/auth/tokens',
    access: 'authenticated',
    tag: 'auth',
    summary: 'My live sessions and tokens (never the secrets)',
    response: z.object({ sessions: z.array(SessionOut) }),
    handler: async ({ user }) => ({ sessions: await listSessions(db, user.id, ctx.clock) }),
  });

  defineRoute(app, {
    method: 'DELETE',
    url: '/api/auth/tokens/:id',
    access: 'authenticated',
    tag: 'auth',
    summary: 'Revoke one of my sessions or tokens',
    params: IdParam,
    response: Ok,
    errors: ['TOKEN_NOT_FOUND'],
    handler: async ({ params, user, actor }) => {
      if (!(await revokeSession(db, params.id, { actor, userId: user.id, reason: 'REVOKED_BY_USER', clock: ctx.clock }))) {
        throw new ApiError(404, 'TOKEN_NOT_FOUND', `you have no live session or token ${params.id}`);
      }
      return { ok: true };
    },
  });
}
