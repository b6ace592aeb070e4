/**
 * How a route is declared: `defineRoute(app, spec)`. One declaration gives
 * - the fastify route with JSON schemas for params, query, body and the response (converted from zod schemas,
 *   so the handler's types and the validation are the same thing; fastify/ajv validates, zod types),
 * - the access rule (`access`: a permission from roles.ts, `authenticated` or `public`), enforced by the auth hook
 *   in server.ts before the body is even parsed,
 * - the OpenAPI operation (summary, tags, permission, roles) collected by openapi.ts from the same schema.
 *
 * A route module exports `registerXRoutes(app, deps)` and calls defineRoute for each of its routes.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Access } from './roles.ts';
import type { Session, User } from './users.ts';

export type JsonSchema = Record<string, unknown>;

/** The authenticated caller, set by the auth hook. */
export interface AuthContext {
  user: User;
  session: Omit<Session, 'user'>;
  via: 'cookie' | 'bearer';
}

declare module 'fastify' {
  interface FastifyRequest {
    auth?: AuthContext;
  }
  interface FastifyContextConfig {
    /** Who may call the route (roles.ts). Every /api route has one. */
    access?: Access;
  }
}

/** A zod schema as a draft-07 JSON schema (what fastify's ajv and the OpenAPI document take). */
export function jsonSchema(s: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const j = z.toJSONSchema(s, { target: 'draft-7', io, unrepresentable: 'any' }) as JsonSchema;
  delete j.$schema;
  return j;
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
type Obj = z.ZodType<Record<string, unknown>>;

export interface HandlerContext<A extends Access, P extends Obj, Q extends Obj, B extends z.ZodType> {
  req: FastifyRequest;
  reply: FastifyReply;
  params: z.output<P>;
  query: z.output<Q>;
  body: z.output<B>;
  /** The caller (undefined only on public routes without credentials). */
  user: A extends 'public' ? User | undefined : User;
  /** The audit actor: the user's login name. */
  actor: A extends 'public' ? string | undefined : string;
}

/** A response that is not JSON (Prometheus text, server-sent events): documented, sent by the handler. */
export interface RawResponse {
  contentType: string;
  description: string;
}

export interface RouteSpec<A extends Access, P extends Obj, Q extends Obj, B extends z.ZodType, R extends z.ZodType> {
  method: Method;
  url: string;
  access: A;
  summary: string;
  description?: string;
  /** OpenAPI tag: the domain (auth, users, batches, cards, qc, dispatch, ...). */
  tag: string;
  params?: P;
  query?: Q;
  body?: B;
  /** Success status (default 200). */
  status?: number;
  response: R | RawResponse;
  /** Error codes this route may answer with (documented in OpenAPI as x-kadi-errors). */
  errors?: readonly string[];
  handler(c: HandlerContext<A, P, Q, B>): Promise<R extends z.ZodType ? z.input<R> | void : unknown>;
}

const EMPTY = z.strictObject({});

function isRaw(r: unknown): r is RawResponse {
  return typeof r === 'object' && r !== null && 'contentType' in r && !(r instanceof z.ZodType);
}

/** Registers one route. See the module comment. */
export function defineRoute<A extends Access, P extends Obj = typeof EMPTY, Q extends Obj = typeof EMPTY, B extends z.ZodType = z.ZodUndefined, R extends z.ZodType = z.ZodType>(
  app: FastifyInstance,
  spec: RouteSpec<A, P, Q, B, R>,
): void {
  const status = spec.status ?? 200;
  const schema: Record<string, unknown> = {
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    tags: [spec.tag],
    params: jsonSchema(spec.params ?? EMPTY, 'input'),
    querystring: jsonSchema(spec.query ?? EMPTY, 'input'),
    ...(spec.body ? { body: jsonSchema(spec.body, 'input') } : {}),
    ...(isRaw(spec.response)
      ? { 'x-raw-response': { status, ...spec.response } }
      : { response: { [status]: jsonSchema(spec.response, 'output') } }),
    ...(spec.errors ? { 'x-kadi-errors': spec.errors } : {}),
  };
  const params = spec.params ?? EMPTY;
  const query = spec.query ?? EMPTY;
  app.route({
    method: spec.method,
    url: spec.url,
    schema,
    config: { access: spec.access },
    handler: async (req, reply) => {
      // ajv has validated (and coerced) already; zod gives the typed values (and applies transforms).
      const c = {
        req,
        reply,
        params: params.parse(req.params ?? {}),
        query: query.parse(req.query ?? {}),
        body: spec.body ? spec.body.parse(req.body) : undefined,
        user: req.auth?.user,
        actor: req.auth?.user.name,
      } as HandlerContext<A, P, Q, B>;
      const out = await spec.handler(c);
      if (reply.sent) return reply;
      reply.code(status);
      return out === undefined ? reply.send() : out;
    },
  });
}
