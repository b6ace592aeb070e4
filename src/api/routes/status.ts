/**
 * Status for everyone logged in: counts per state, the dashboard snapshot (also as server-sent events),
 * Prometheus metrics, encoders and collection centres. Read only.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { statusReport } from '../../cards/index.ts';
import { parseCookies } from '../auth.ts';
import type { ApiContext } from '../deps.ts';
import { defineRoute } from '../http.ts';
import { SESSION_COOKIE } from '../openapi.ts';
import { centres, dashboard, encoders, PromText, renderMetrics, type DashboardSnapshot } from '../reports.ts';
import { lookupSession } from '../users.ts';
import { Counts } from './schemas.ts';

const StatusOut = z.object({
  cards: Counts.describe('Cards per state (every state, zeros included).'),
  orders: Counts,
  intake: Counts,
  totals: z.object({ cards: z.number(), orders: z.number(), spoiled: z.number() }),
  throughput: z
    .object({
      at: z.string().describe('When the figures were taken (ISO-8601 UTC).'),
      states: z
        .record(
          z.string(),
          z.object({
            last1m: z.number().int(),
            last5m: z.number().int(),
            last15m: z.number().int(),
            perHour: z.number().int().describe('Hourly rate over the last 15 minutes.'),
          }),
        )
        .describe('Cards that reached each state in the last 1, 5 and 15 minutes (from the audit log).'),
      truncated: z.boolean().describe('The window held more audit entries than were read: the figures are lower bounds.'),
    })
    .describe('Live throughput.'),
});

const BatchOut = z.object({
  id: z.number().int(),
  state: z.string(),
  size: z.number().int(),
  centreCode: z.string().nullable(),
  createdAt: z.string(),
  createdBy: z.string(),
  startedAt: z.string().nullable(),
  completedAt: z.string().nullable(),
  cards: Counts.describe('Cards of the batch per state.'),
});

const EncoderOut = z.object({
  name: z.string(),
  machine: z.string(),
  state: z.string(),
  lastSeenAt: z.string().nullable(),
  cardsEncoded: z.number(),
  cardsSpoiled: z.number(),
});

export const DashboardOut = z.object({
  at: z.string(),
  status: StatusOut,
  batches: z.array(BatchOut),
  throughput: z.object({ windowMinutes: z.number(), perHour: Counts, truncated: z.boolean() }),
  failures: z.object({ spoiled: Counts, qc: Counts, intake: Counts }),
  encoders: z.array(EncoderOut),
  auditEntries: z.number(),
});

export { BatchOut };

/**
 * The /api/metrics figures that come from statusReport's throughput and the encoders table (database truth, the
 * same from every API process): cards that reached each state per window, and cards per encoder.
 */
export function renderThroughputMetrics(s: DashboardSnapshot): string {
  const p = new PromText();
  const t = s.status.throughput;
  const reached: Array<[Record<string, string>, number]> = [];
  for (const [state, v] of Object.entries(t.states)) {
    reached.push([{ state, window: '1m' }, v.last1m], [{ state, window: '5m' }, v.last5m], [{ state, window: '15m' }, v.last15m]);
  }
  p.metric('kadi_cards_reached', 'gauge', 'Cards that reached a state in the last 1, 5 and 15 minutes (audit log), by state and window.', reached);
  p.metric('kadi_cards_reached_truncated', 'gauge', '1 when the throughput window held more audit entries than were read (figures are lower bounds).', [[{}, t.truncated ? 1 : 0]]);
  p.metric(
    'kadi_encoder_cards_total',
    'counter',
    'Cards personalised (encoded) and spoiled per encoder, from the encoders table.',
    s.encoders.flatMap((e) => [
      [{ encoder: e.name, outcome: 'encoded' }, e.cardsEncoded],
      [{ encoder: e.name, outcome: 'spoiled' }, e.cardsSpoiled],
    ] as Array<[Record<string, string>, number]>),
  );
  return p.toString();
}

/** How often an event stream re-checks that its session is still valid (in intervals). */
const RECHECK_EVERY = 15;

export function registerStatusRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { db } = ctx;

  defineRoute(app, {
    method: 'GET',
    url: '/api/status',
    access: 'status.read',
    tag: 'status',
    summary: 'Cards per state, orders per status, intake outcomes',
    response: StatusOut,
    handler: async () => statusReport(db),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/dashboard',
    access: 'status.read',
    tag: 'status',
    summary: 'Dashboard snapshot: counts, latest batches with progress, throughput, failures by reason, encoders',
    response: DashboardOut,
    handler: async () => dashboard(db, ctx.clock),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/events',
    access: 'status.read',
    tag: 'status',
    summary: 'Server-sent events: a `dashboard` event (the /api/dashboard snapshot) every few seconds',
    description: 'text/event-stream. Events: `dashboard` (JSON snapshot), `logout` (the session ended; the stream closes).',
    response: { contentType: 'text/event-stream', description: 'Event stream' },
    handler: async ({ req, reply }) => {
      const headers = { ...reply.getHeaders(), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' };
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, headers as Record<string, string>);
      res.write('retry: 5000\n\n');
      let ticks = 0;
      let busy = false;
      const cookie = parseCookies(req.headers.cookie)[SESSION_COOKIE];
      const bearer = /^Bearer\s+(\S+)/i.exec(req.headers.authorization ?? '')?.[1];
      const secret = bearer ?? cookie;
      const send = async (): Promise<void> => {
        if (busy || res.writableEnded) return;
        busy = true;
        try {
          if (++ticks % RECHECK_EVERY === 0 && secret && !(await lookupSession(db, secret, { policy: ctx.opts.sessions, clock: ctx.clock }))) {
            res.write('event: logout\ndata: {}\n\n');
            close();
            return;
          }
          const snap = await ctx.feed.get();
          res.write(`event: dashboard\ndata: ${JSON.stringify(snap)}\n\n`);
        } catch (e) {
          req.log.warn({ err: { name: (e as Error).name, code: (e as { code?: string }).code } }, 'event stream: snapshot failed');
          res.write(': snapshot failed, retrying\n\n');
        } finally {
          busy = false;
        }
      };
      const timer = setInterval(() => void send(), ctx.opts.eventsIntervalMs);
      const close = (): void => {
        clearInterval(timer);
        ctx.streams.delete(close);
        if (!res.writableEnded) res.end();
      };
      ctx.streams.add(close);
      req.raw.on('close', close);
      await send();
    },
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/metrics',
    access: 'status.read',
    tag: 'status',
    summary: 'Prometheus metrics: cards per state, failures by reason, throughput, encoders, API counters',
    description: 'Text exposition format 0.0.4. Scrape with a Bearer token (POST /api/auth/tokens).',
    response: { contentType: 'text/plain; version=0.0.4', description: 'Prometheus text format' },
    handler: async ({ reply }) => {
      reply.type('text/plain; version=0.0.4; charset=utf-8');
      const snap = await dashboard(db, ctx.clock);
      return renderMetrics(snap, ctx.counters) + renderThroughputMetrics(snap);
    },
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/encoders',
    access: 'status.read',
    tag: 'status',
    summary: 'Encoders (card readers) with their state and counters',
    response: z.object({ encoders: z.array(EncoderOut) }),
    handler: async () => ({ encoders: await encoders(db) }),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/centres',
    access: 'status.read',
    tag: 'status',
    summary: 'Collection centres',
    response: z.object({ centres: z.array(z.object({ code: z.string(), name: z.string(), county: z.string(), active: z.boolean() })) }),
    handler: async () => ({ centres: await centres(db) }),
  });

}
