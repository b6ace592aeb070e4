/**
 * The OpenAPI 3.1 document served at /openapi.json, generated from the routes as registered: every route's JSON
 * schemas (params, query, body, response), summary and tag, plus its access rule (`x-kadi-permission` and the
 * roles holding it, `x-kadi-roles`) and the error codes it documents (`x-kadi-errors`). Nothing is written by
 * hand, so the document cannot drift from the server.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import { PERMISSIONS, isPermission, type Access } from './roles.ts';
import type { JsonSchema, RawResponse } from './http.ts';

interface CollectedRoute {
  method: string;
  url: string;
  schema: Record<string, unknown>;
  access: Access | undefined;
}

export const SESSION_COOKIE = 'kadi_session';

export const ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'retryable'],
      properties: {
        code: { type: 'string', description: 'Stable error code (see docs/operator/console.md).' },
        message: { type: 'string' },
        hint: { type: 'string' },
        retryable: { type: 'boolean' },
        details: { type: 'object', additionalProperties: true },
        requestId: { type: 'string' },
      },
    },
  },
};

/** Collects routes as fastify registers them (call before any route is added). */
export class RouteCatalog {
  readonly routes: CollectedRoute[] = [];

  attach(app: FastifyInstance): void {
    app.addHook('onRoute', (r: RouteOptions) => {
      const methods = Array.isArray(r.method) ? r.method : [r.method];
      for (const m of methods) {
        if (m === 'HEAD' || m === 'OPTIONS') continue;
        this.routes.push({ method: m, url: r.url, schema: (r.schema as Record<string, unknown>) ?? {}, access: r.config?.access });
      }
    });
  }

  /** Routes that are part of the API (those with an access rule), in registration order. */
  apiRoutes(): CollectedRoute[] {
    return this.routes.filter((r) => r.access !== undefined);
  }
}

function openapiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function operationId(method: string, url: string): string {
  const parts = url
    .replace(/^\/(api\/)?/, '')
    .split(/[/.-]/)
    .filter(Boolean)
    .map((p) => (p.startsWith(':') ? `by-${p.slice(1)}` : p));
  const words = [method.toLowerCase(), ...parts].join('-').split('-');
  return words.map((w, i) => (i === 0 ? w : w.charAt(0).toUpperCase() + w.slice(1))).join('');
}

function parameters(schema: JsonSchema | undefined, where: 'path' | 'query'): JsonSchema[] {
  const props = (schema?.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema?.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' ? true : required.has(name),
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
    schema: s,
  }));
}

export function buildOpenApi(catalog: RouteCatalog, info: { version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const tags = new Set<string>();
  for (const r of catalog.apiRoutes()) {
    const s = r.schema;
    const access = r.access!;
    const op: Record<string, unknown> = {
      operationId: operationId(r.method, r.url),
      summary: (s.summary as string | undefined) ?? `${r.method} ${r.url}`,
      ...(s.description ? { description: s.description } : {}),
      tags: (s.tags as string[] | undefined) ?? ['misc'],
      'x-kadi-permission': access,
      ...(isPermission(access) ? { 'x-kadi-roles': [...PERMISSIONS[access]] } : {}),
      ...(s['x-kadi-errors'] ? { 'x-kadi-errors': s['x-kadi-errors'] } : {}),
    };
    for (const t of op.tags as string[]) tags.add(t);
    const params = [...parameters(s.params as JsonSchema | undefined, 'path'), ...parameters(s.querystring as JsonSchema | undefined, 'query')];
    if (params.length) op.parameters = params;
    if (s.body) op.requestBody = { required: true, content: { 'application/json': { schema: s.body } } };
    const responses: Record<string, unknown> = {};
    const raw = s['x-raw-response'] as (RawResponse & { status: number }) | undefined;
    if (raw) {
      responses[String(raw.status)] = { description: raw.description, content: { [raw.contentType]: { schema: { type: 'string' } } } };
    } else {
      for (const [code, schema] of Object.entries((s.response ?? {}) as Record<string, JsonSchema>)) {
        responses[code] = { description: 'Success', content: { 'application/json': { schema } } };
      }
    }
    if (access !== 'public') {
      responses['401'] = { $ref: '#/components/responses/Unauthenticated' };
      if (access !== 'authenticated') responses['403'] = { $ref: '#/components/responses/Forbidden' };
    }
    responses.default = { $ref: '#/components/responses/Error' };
    op.responses = responses;
    op.security = access === 'public' ? [] : [{ cookieAuth: [] }, { bearerAuth: [] }];
    (paths[openapiPath(r.url)] ??= {})[r.method.toLowerCase()] = op;
  }
  const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
  return {
    openapi: '3.1.0',
    info: {
      title: 'Kadi API',
      version: info.version,
      summary: 'Smart-card personalization and issuance pipeline: batches, cards, QC, dispatch, keys, audit.',
      description:
        'Log in with POST /api/auth/login. The console uses the HttpOnly session cookie; API clients ask for a ' +
        'Bearer token (`"mode": "token"`). Every operation lists the roles allowed (x-kadi-roles). Errors are ' +
        '`{"error": {"code", "message", ...}}` with stable codes.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: '/' }],
    tags: [...tags].sort().map((name) => ({ name })),
    paths,
    components: {
      schemas: { Error: ERROR_SCHEMA },
      responses: {
        Error: errorResponse('Error (see the code)'),
        Unauthenticated: errorResponse('AUTH_REQUIRED: no valid session or token'),
        Forbidden: errorResponse('FORBIDDEN: the role lacks the permission'),
      },
      securitySchemes: {
        cookieAuth: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: 'Console session (HttpOnly, SameSite=Strict).' },
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'API token from POST /api/auth/login {"mode":"token"} or POST /api/auth/tokens.' },
      },
    },
  };
}
