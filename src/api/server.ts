/**
 * The Kadi HTTP server: the JSON API under /api/, its OpenAPI document at /openapi.json and the web console
 * (plain HTML/CSS/JS from ./console, no build step) under /console/.
 *
 * Extension points: each domain has one route module `registerXRoutes(app, ctx)` in ./routes, listed in
 * ROUTE_MODULES below; a new stage (pipeline runs, print, QC read-back, encoders) adds its module and one line
 * there. Routes are declared with defineRoute (http.ts), which gives the schemas, the access rule and the
 * OpenAPI operation in one place.
 *
 * Cross-cutting rules applied here for every route: authentication and the role check (auth.ts), security
 * headers, JSON errors with stable codes (errors.ts), one log line per request with the route *pattern* (never
 * the raw URL, never bodies or headers), and redaction of anything personal in what is logged.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import pino from 'pino';
import { ZodError } from 'zod';
import { isKadiError, systemClock } from '../shared/index.ts';
import { authHook } from './auth.ts';
import { DEFAULT_API_OPTIONS, type ApiContext, type ApiDeps, type ApiOptions } from './deps.ts';
import { ApiError, errorBody, maskDigits, statusOf } from './errors.ts';
import { buildOpenApi, RouteCatalog } from './openapi.ts';
import { LoginLimiter } from './rate-limit.ts';
import { DashboardFeed, type ApiCounters } from './reports.ts';
import { registerAuthRoutes } from './routes/auth.ts';
import { registerDispatchRoutes } from './routes/dispatch.ts';
import { registerKeyRoutes } from './routes/keys.ts';
import { registerProductionRoutes } from './routes/production.ts';
import { registerQcRoutes } from './routes/qc.ts';
import { registerStatusRoutes } from './routes/status.ts';
import { registerUserRoutes } from './routes/users.ts';

export type RouteModule = (app: FastifyInstance, ctx: ApiContext) => void;

/** One module per domain. A stage that gains an API adds its register function here. */
export const ROUTE_MODULES: readonly RouteModule[] = [
  registerAuthRoutes,
  registerUserRoutes,
  registerStatusRoutes,
  registerProductionRoutes, // intake, batches, cards, audit
  registerQcRoutes,
  registerDispatchRoutes, // src/dispatch: pack, ship, scans, issue, returns, stock, reconciliation
  registerKeyRoutes, // src/keys: list, DS rotation, CRL
];

const CONSOLE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'console');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
};

const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
};

/** Paths in what is logged that could ever hold a secret or personal data. */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.token',
  '*.secret',
  '*.nationalNumber',
  '*.holderNationalNumber',
  '*.surname',
  '*.givenNames',
  '*.dateOfBirth',
  '*.holder',
];

export function apiLogger(deps: ApiDeps): pino.Logger {
  return pino(
    {
      level: deps.log?.level ?? 'info',
      base: { service: 'kadi-api' },
      redact: { paths: REDACT, censor: '[redacted]' },
    },
    deps.log?.stream ?? pino.destination(1),
  );
}

function sendError(req: FastifyRequest, reply: FastifyReply, status: number, body: ReturnType<typeof errorBody>): FastifyReply {
  body.error.requestId = req.id;
  return reply.code(status).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(body);
}

function fastifyErrorBody(err: FastifyError): { status: number; body: ReturnType<typeof errorBody> } {
  if (err.validation) {
    return {
      status: 400,
      body: errorBody('REQUEST_INVALID', `the request ${err.validationContext ?? ''} does not match the schema`.replace('  ', ' '), {
        details: { errors: err.validation.slice(0, 20).map((v) => ({ path: v.instancePath || '/', message: v.message ?? 'invalid', ...(v.params ? { params: v.params } : {}) })) },
        hint: 'See /openapi.json for the expected shape.',
      }),
    };
  }
  const s = err.statusCode ?? 500;
  if (s === 415) return { status: 415, body: errorBody('UNSUPPORTED_MEDIA_TYPE', 'send JSON (Content-Type: application/json)') };
  if (s === 413) return { status: 413, body: errorBody('BODY_TOO_LARGE', 'the request body is too large') };
  if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError) return { status: 400, body: errorBody('REQUEST_INVALID', 'the body is not valid JSON') };
  if (s >= 400 && s < 500) return { status: s, body: errorBody('REQUEST_INVALID', 'the request cannot be processed as sent', { details: { reason: err.code ?? 'UNKNOWN' } }) };
  return { status: 500, body: errorBody('INTERNAL', 'internal error; the server log has the details (look for the request id)') };
}

export interface KadiServer {
  app: FastifyInstance;
  ctx: ApiContext;
  /** Every route as fastify registered it (API, OpenAPI document and console). */
  routes: ReadonlyArray<{ method: string; url: string; access: string | undefined }>;
  /** The OpenAPI document (also at /openapi.json). */
  openapi(): Record<string, unknown>;
}

/** Builds the server (routes registered, not listening). Close with `app.close()`. */
export async function buildServer(deps: ApiDeps, extra: readonly RouteModule[] = []): Promise<KadiServer> {
  const opts: ApiOptions = {
    ...DEFAULT_API_OPTIONS,
    ...deps.options,
    sessions: { ...DEFAULT_API_OPTIONS.sessions, ...deps.options?.sessions },
    rateLimit: { ...DEFAULT_API_OPTIONS.rateLimit, ...deps.options?.rateLimit },
  };
  const clock = deps.clock ?? systemClock;
  const counters: ApiCounters = { requests: new Map(), loginFailures: 0, loginRateLimited: 0 };
  const ctx: ApiContext = {
    ...deps,
    clock,
    opts,
    limiter: new LoginLimiter(opts.rateLimit, () => clock.now().getTime()),
    feed: new DashboardFeed(deps.db, Math.max(250, Math.floor(opts.eventsIntervalMs / 2)), clock),
    counters,
    streams: new Set(),
  };

  const app = Fastify({
    loggerInstance: apiLogger(deps) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: opts.trustProxy,
    bodyLimit: opts.bodyLimit,
    return503OnClosing: true,
    // No type coercion: a JSON body must carry real booleans and numbers (`"passed": 1` is not a pass);
    // path and query integers are digit strings converted by their zod schema (routes/schemas.ts intParam).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
  });
  const catalog = new RouteCatalog();
  catalog.attach(app);

  // Every /api route must say who may call it.
  app.addHook('onRoute', (r) => {
    if (r.url.startsWith('/api/') && r.config?.access === undefined) throw new Error(`route ${r.method} ${r.url} has no access rule`);
  });

  app.addHook('onRequest', async (req, reply) => {
    reply.headers(SECURITY_HEADERS);
    if (req.url.startsWith('/api/')) reply.header('cache-control', 'no-store');
  });
  app.addHook('onRequest', authHook(ctx));

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    if (route.startsWith('/api/') || route === 'unmatched') {
      const key = `${req.method}|${route}|${reply.statusCode}`;
      counters.requests.set(key, (counters.requests.get(key) ?? 0) + 1);
    }
    const line = { method: req.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime), ...(req.auth ? { user: req.auth.user.id, role: req.auth.user.role } : {}) };
    if (route.startsWith('/console') || route === '/') req.log.debug(line, 'request');
    else req.log.info(line, 'request');
  });

  app.addHook('preClose', async () => {
    for (const close of [...ctx.streams]) close();
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof ApiError) {
      reply.headers(err.headers);
      return sendError(req, reply, err.status, { error: { ...(err.toJSON() as ReturnType<typeof errorBody>['error']) } });
    }
    if (err instanceof ZodError) {
      return sendError(req, reply, 400, errorBody('REQUEST_INVALID', 'the request does not match the schema', { details: { errors: err.issues.slice(0, 20).map((i) => ({ path: `/${i.path.join('/')}`, message: i.message })) } }));
    }
    if (isKadiError(err)) {
      const status = statusOf(err);
      if (status >= 500) req.log.error({ err: { name: err.name, code: err.code, message: maskDigits(err.message) } }, 'request failed');
      return sendError(req, reply, status, { error: { ...(err.toJSON() as ReturnType<typeof errorBody>['error']) } });
    }
    const { status, body } = fastifyErrorBody(err);
    if (status >= 500) {
      req.log.error({ err: { name: err.name, code: err.code, message: maskDigits(String(err.message)), stack: maskDigits(String(err.stack ?? '')) } }, 'request failed');
    }
    return sendError(req, reply, status, body);
  });

  app.setNotFoundHandler((req, reply) => {
    if (req.url.startsWith('/api/') || req.url === '/api') {
      return sendError(req, reply, 404, errorBody('ROUTE_NOT_FOUND', `no API route ${req.method} with this path`, { hint: 'See /openapi.json.' }));
    }
    return reply.code(404).type('text/plain; charset=utf-8').send('Not found');
  });

  for (const register of [...ROUTE_MODULES, ...extra]) register(app, ctx);

  // ---- the OpenAPI document (public: it describes, it holds no data)
  let doc: Record<string, unknown> | undefined;
  const openapi = () => (doc ??= buildOpenApi(catalog, { version: deps.version ?? '0.1.0' }));
  app.get('/openapi.json', async (_req, reply) => {
    reply.header('cache-control', 'no-cache');
    return openapi();
  });

  // ---- the console (static files; every page checks the session through the API)
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).header('cache-control', 'max-age=86400').send());
  app.get('/', async (_req, reply) => reply.redirect('/console/'));
  app.get('/console', async (_req, reply) => reply.redirect('/console/'));
  app.get(
    '/console/*',
    { schema: { params: { type: 'object', properties: { '*': { type: 'string', maxLength: 200 } } } } },
    async (req, reply) => {
      const rel = (req.params as { '*': string })['*'] || 'index.html';
      const parts = rel.split('/');
      if (!parts.every((p) => /^[A-Za-z0-9_-]+(\.[A-Za-z0-9]+)?$/.test(p))) return reply.code(404).type('text/plain; charset=utf-8').send('Not found');
      const file = path.join(CONSOLE_DIR, ...parts);
      const type = CONTENT_TYPES[path.extname(file)];
      if (!type || !file.startsWith(CONSOLE_DIR + path.sep)) return reply.code(404).type('text/plain; charset=utf-8').send('Not found');
      try {
        const body = await readFile(file);
        return reply.type(type).header('cache-control', 'no-cache').send(body);
      } catch {
        return reply.code(404).type('text/plain; charset=utf-8').send('Not found');
      }
    },
  );

  await app.ready();
  return { app, ctx, openapi, routes: catalog.routes.map((r) => ({ method: r.method, url: r.url, access: r.access })) };
}
