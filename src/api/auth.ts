/**
 * Authentication and authorisation of every request (the onRequest hook), run before the body is parsed:
 *
 * 1. Credentials: `Authorization: Bearer kadi_pat_…` (API clients) or the `kadi_session` cookie (console).
 *    A presented but unknown/expired/revoked credential is 401 AUTH_SESSION_INVALID (a stale cookie is also
 *    cleared); on public routes (the login) it is ignored, so logging in again works with a stale cookie.
 * 2. The route's access rule (roles.ts): `public`, `authenticated`, or a permission the role must hold
 *    (else 403 FORBIDDEN with the permission and role in `details`).
 * 3. Cookie-authenticated writes must come from the console's own origin: a cross-site `Origin` is refused with
 *    403 CSRF_REJECTED (SameSite=Strict already keeps the cookie off cross-site requests; this is the second
 *    lock), and bodies are JSON only (a cross-site HTML form cannot send application/json).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, authRequired, forbidden } from './errors.ts';
import type { ApiContext } from './deps.ts';
import { SESSION_COOKIE } from './openapi.ts';
import { can, isPermission } from './roles.ts';
import { lookupSession, TOKEN_PREFIX } from './users.ts';

/** Parses a Cookie header (RFC 6265 §4.2) into name → value (first occurrence wins). */
export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 1) continue;
    const name = part.slice(0, i).trim();
    let value = part.slice(i + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (!(name in out)) out[name] = value;
  }
  return out;
}

export function sessionCookie(value: string, o: { maxAgeSeconds: number; secure: boolean }): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${Math.max(0, Math.floor(o.maxAgeSeconds))}`,
    ...(o.secure ? ['Secure'] : []),
  ].join('; ');
}

export function clearSessionCookie(secure: boolean): string {
  return sessionCookie('', { maxAgeSeconds: 0, secure });
}

function credentials(req: FastifyRequest): { secret: string; via: 'cookie' | 'bearer' } | undefined {
  const h = req.headers.authorization;
  if (h !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m || !m[1]!.startsWith(TOKEN_PREFIX)) {
      throw new ApiError(401, 'AUTH_SCHEME_UNSUPPORTED', 'the Authorization header must be `Bearer kadi_pat_…`', { hint: 'Get a token with POST /api/auth/login {"mode": "token"}.' });
    }
    return { secret: m[1]!, via: 'bearer' };
  }
  const c = parseCookies(req.headers.cookie)[SESSION_COOKIE];
  return c ? { secret: c, via: 'cookie' } : undefined;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

function sameOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true; // not a browser cross-origin request (or an old browser: SameSite holds)
  try {
    const o = new URL(origin);
    // Normalise the Host header the same way (a default port is dropped: localhost:80 = localhost).
    return o.host === new URL(`${o.protocol}//${req.headers.host ?? ''}`).host;
  } catch {
    return false;
  }
}

export function authHook(ctx: ApiContext) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const access = req.routeOptions.config?.access;
    if (access === undefined) return; // console assets, not the API
    let cred: ReturnType<typeof credentials>;
    try {
      cred = credentials(req);
    } catch (e) {
      if (access === 'public') return; // e.g. logging in while an old client still sends a stale header
      throw e;
    }
    if (cred) {
      const s = await lookupSession(ctx.db, cred.secret, { policy: ctx.opts.sessions, clock: ctx.clock });
      if (!s) {
        // A public route (the login itself) works with a stale cookie; everything else says why it refuses.
        if (access === 'public') return;
        if (cred.via === 'cookie') reply.header('set-cookie', clearSessionCookie(ctx.opts.secureCookies));
        throw new ApiError(401, 'AUTH_SESSION_INVALID', 'the session or token is unknown, expired or revoked', { hint: 'Log in again.' });
      }
      const { user, ...session } = s;
      req.auth = { user, session, via: cred.via };
    }
    if (access === 'public') return;
    if (!req.auth) throw authRequired();
    if (req.auth.via === 'cookie' && !SAFE.has(req.method) && !sameOrigin(req)) {
      throw new ApiError(403, 'CSRF_REJECTED', 'a cookie-authenticated write must come from the console\'s own origin');
    }
    if (access === 'authenticated') return;
    if (!isPermission(access) || !can(req.auth.user.role, access)) throw forbidden(access, req.auth.user.role);
  };
}
