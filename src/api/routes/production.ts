/**
 * Production: intake, batches, cards (by document number, with history from the audit trail), audit verification.
 * Every write calls the domain module (src/intake, src/batches) with the logged-in user as the audit actor.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { auditTrail, verifyAudit } from '../../audit/index.ts';
import { createBatch, getBatch, listBatches } from '../../batches/index.ts';
import { runIntake } from '../../intake/index.ts';
import type { ApiContext } from '../deps.ts';
import { unavailable } from '../errors.ts';
import { defineRoute } from '../http.ts';
import { cardPhoto, cardView } from '../reports.ts';
import { can } from '../roles.ts';
import { CentreCode, Counts, DocumentNumber, IdParam, intParam } from './schemas.ts';
import { BatchOut } from './status.ts';

const QcResultOut = z.object({
  kind: z.string(),
  passed: z.boolean(),
  reasonCode: z.string().nullable(),
  station: z.string().nullable(),
  operator: z.string(),
  at: z.string(),
  details: z.record(z.string(), z.unknown()).nullable(),
});

export const CardOut = z.object({
  documentNumber: z.string(),
  state: z.string(),
  centre: z.string(),
  batchId: z.number().int().nullable(),
  box: z.string().nullable(),
  orderStatus: z.string(),
  spoilReason: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  qc: z.array(QcResultOut),
  holder: z
    .object({
      surname: z.string().nullable(),
      givenNames: z.string().nullable(),
      sex: z.string().nullable(),
      dateOfBirth: z.string().nullable(),
      nationalNumber: z.string().nullable(),
    })
    .optional()
    .describe('The card holder; only for roles with card.read_personal (qc, logistics).'),
});

const AuditEntryOut = z.object({
  seq: z.number().int(),
  at: z.string(),
  actor: z.string(),
  action: z.string(),
  entityType: z.string(),
  entityId: z.string(),
  data: z.record(z.string(), z.unknown()),
});

const DocParams = z.strictObject({ documentNumber: DocumentNumber });

export function registerProductionRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { db } = ctx;

  // ---- intake
  defineRoute(app, {
    method: 'POST',
    url: '/api/intake',
    access: 'intake.run',
    tag: 'intake',
    summary: 'Take approved registry records in as card orders (idempotent)',
    body: z.strictObject({ limit: z.number().int().min(1).max(1_000_000).optional().describe('Process at most this many new records.') }),
    response: z.object({
      ordered: z.number(),
      rejected: z.number(),
      duplicates: z.number(),
      alreadyProcessed: z.number(),
      approvedInRegistry: z.number(),
      notApproved: z.number(),
      registryRecords: z.number(),
      reasons: Counts,
    }),
    errors: ['INTAKE_UNAVAILABLE', 'INTAKE_CONFLICT'],
    handler: async ({ body, actor }) => {
      if (!ctx.registry) throw unavailable('INTAKE_UNAVAILABLE', 'the source registry');
      return runIntake({ db, registry: ctx.registry, actor, minAge: ctx.intake?.minAge ?? 18, ...(body.limit ? { limit: body.limit } : {}) });
    },
  });

  // ---- batches
  defineRoute(app, {
    method: 'GET',
    url: '/api/batches',
    access: 'batch.read',
    tag: 'batches',
    summary: 'The latest batches with their cards per state',
    query: z.strictObject({ limit: intParam(1, 500).default(50).describe('How many (1-500, default 50)') }),
    response: z.object({ batches: z.array(BatchOut) }),
    handler: async ({ query }) => ({ batches: await listBatches(db, query.limit) }),
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/batches',
    access: 'batch.create',
    tag: 'batches',
    summary: 'Create a batch from the cards waiting for production (oldest orders first)',
    body: z.strictObject({ size: z.number().int().min(1).max(1_000_000), centreCode: CentreCode.optional() }),
    status: 201,
    response: BatchOut,
    errors: ['BATCH_SIZE_INVALID', 'CENTRE_NOT_FOUND'],
    handler: async ({ body, actor }) => createBatch(db, { size: body.size, actor, ...(body.centreCode ? { centreCode: body.centreCode } : {}) }),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/batches/:id',
    access: 'batch.read',
    tag: 'batches',
    summary: 'One batch with its cards per state (its progress)',
    params: IdParam,
    response: BatchOut,
    errors: ['BATCH_NOT_FOUND'],
    handler: async ({ params }) => getBatch(db, params.id),
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/batches/:id/run',
    access: 'batch.run',
    tag: 'batches',
    summary: 'Run a batch: submit its flow to the pipeline (workers do the work); resumes from the database when re-run',
    params: IdParam,
    response: z.object({ batchId: z.number().int(), run: z.number().int(), cards: z.number().int(), jobs: z.number().int(), batch: BatchOut }),
    errors: ['BATCH_NOT_FOUND', 'BATCH_NOT_RUNNABLE', 'PIPELINE_UNAVAILABLE'],
    handler: async ({ params, actor }) => {
      if (!ctx.pipeline) throw unavailable('PIPELINE_UNAVAILABLE', 'the production pipeline (Redis, workers)');
      await getBatch(db, params.id); // 404 before touching Redis
      const r = await ctx.pipeline.runBatch(params.id, actor);
      return { ...r, batch: await getBatch(db, params.id) };
    },
  });

  // ---- cards
  defineRoute(app, {
    method: 'GET',
    url: '/api/cards/:documentNumber',
    access: 'card.read',
    tag: 'cards',
    summary: 'A card by document number: state, batch, box, QC results (holder data for qc and logistics)',
    params: DocParams,
    response: CardOut,
    errors: ['CARD_NOT_FOUND'],
    handler: async ({ params, user }) => {
      const { id: _id, ...view } = await cardView(db, params.documentNumber, { personal: can(user.role, 'card.read_personal') });
      return view;
    },
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/cards/:documentNumber/history',
    access: 'card.read',
    tag: 'cards',
    summary: 'A card\'s history from the audit trail (its own entries and its order\'s), oldest first',
    params: DocParams,
    response: z.object({ documentNumber: z.string(), state: z.string(), entries: z.array(AuditEntryOut) }),
    errors: ['CARD_NOT_FOUND'],
    handler: async ({ params }) => {
      const card = await cardView(db, params.documentNumber, { personal: false });
      const order = await db('cards').where({ id: card.id }).first('order_id');
      const entries = [...(await auditTrail(db, 'card', card.id)), ...(await auditTrail(db, 'order', Number(order.order_id)))]
        .sort((a, b) => a.seq - b.seq)
        .map(({ prevHash: _p, hash: _h, ...e }) => e);
      return { documentNumber: card.documentNumber, state: card.state, entries };
    },
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/cards/:documentNumber/photo',
    access: 'card.read_personal',
    tag: 'cards',
    summary: 'The holder\'s portrait (JPEG) for the QC face check and the issuing desk',
    params: DocParams,
    response: { contentType: 'image/jpeg', description: 'JPEG portrait as enrolled' },
    errors: ['CARD_NOT_FOUND'],
    handler: async ({ params, reply }) => {
      reply.type('image/jpeg').header('cache-control', 'no-store');
      return cardPhoto(db, params.documentNumber);
    },
  });

  // ---- audit
  defineRoute(app, {
    method: 'POST',
    url: '/api/audit/verify',
    access: 'audit.verify',
    tag: 'audit',
    summary: 'Walk the whole hash-chained audit log; names the first bad entry',
    response: z.object({
      ok: z.boolean(),
      entries: z.number(),
      headSeq: z.number(),
      firstBad: z
        .object({ seq: z.number(), problem: z.enum(['HASH_MISMATCH', 'BROKEN_LINK', 'SEQ_GAP', 'HEAD_MISMATCH']), expected: z.union([z.string(), z.number()]).optional(), found: z.union([z.string(), z.number()]).optional() })
        .optional(),
    }),
    handler: async () => verifyAudit(db),
  });
}
