/**
 * /api/qc: the QC station, through src/qc. Only the qc role submits results (an operator cannot pass QC).
 *
 * A result is one check of one kind: CHIP (read-back), FACE (printed face against the chip), VISUAL (what QC staff
 * see; the station's default). src/qc records it and applies the reject loop: a failure spoils the card and
 * re-queues its order; a pass moves the card to QC_PASSED once every kind the QC policy requires has passed
 * (`pendingKinds` says what is still missing). The policy is the server's (deps.qc.policy; `kadi serve
 * --qc-require`), and must match the pipeline's.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DEFAULT_REQUIRED_KINDS, QC_KINDS, QC_REASONS, submitQcResult, type QcReasonInfo } from '../../qc/index.ts';
import type { ApiContext } from '../deps.ts';
import { defineRoute } from '../http.ts';
import { DocumentNumber } from './schemas.ts';

const REASON_CODES = Object.keys(QC_REASONS) as [keyof typeof QC_REASONS, ...Array<keyof typeof QC_REASONS>];

export function registerQcRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { db } = ctx;
  const required = ctx.qc?.policy?.requiredKinds ?? DEFAULT_REQUIRED_KINDS;

  defineRoute(app, {
    method: 'GET',
    url: '/api/qc/reasons',
    access: 'qc.read',
    tag: 'qc',
    summary: 'QC reason codes (optionally of one kind) and the kinds this server requires before QC_PASSED',
    query: z.strictObject({ kind: z.enum(QC_KINDS).optional(), legacy: z.enum(['true', 'false']).default('false').describe('Also the codes kept for compatibility') }),
    response: z.object({
      kinds: z.array(z.string()),
      requiredKinds: z.array(z.string()),
      reasons: z.array(z.object({ code: z.string(), kind: z.string(), description: z.string(), action: z.string(), legacy: z.boolean() })),
    }),
    handler: async ({ query }) => ({
      kinds: [...QC_KINDS],
      requiredKinds: [...required],
      reasons: Object.entries(QC_REASONS as Record<string, QcReasonInfo>)
        .filter(([, r]) => (!query.kind || r.kind === query.kind) && (query.legacy === 'true' || !r.legacy))
        .map(([code, r]) => ({ code, kind: r.kind, description: r.description, action: r.action, legacy: !!r.legacy })),
    }),
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/qc/results',
    access: 'qc.submit',
    tag: 'qc',
    summary: 'Submit a QC result: a pass, or a failure with its reason code (card spoiled, order re-queued)',
    description:
      'A pass moves the card PRINTED → QC_PASSED once every required kind has passed (else it stays PRINTED; see ' +
      'pendingKinds). A failure moves it PRINTED → QC_FAILED → SPOILED and gives the order a new card (or puts it ' +
      'in REVIEW after repeated failures).',
    body: z.strictObject({
      documentNumber: DocumentNumber,
      passed: z.boolean(),
      kind: z.enum(QC_KINDS).default('VISUAL').describe('CHIP (read-back), FACE (printed face vs chip), VISUAL (QC staff; default)'),
      reasonCode: z.enum(REASON_CODES).optional().describe('Required when failed (GET /api/qc/reasons)'),
      station: z.string().min(1).max(64).regex(/^[A-Za-z0-9._-]+$/).optional(),
      details: z.record(z.string(), z.union([z.string().max(200), z.number(), z.boolean(), z.null()])).optional().describe('Check results (codes, no personal data)'),
    }),
    status: 201,
    response: z.object({
      cardId: z.number().int(),
      documentNumber: z.string().nullable(),
      resultId: z.number().int(),
      kind: z.string(),
      passed: z.boolean(),
      state: z.enum(['PRINTED', 'QC_PASSED', 'SPOILED']),
      reasonCode: z.string().nullable(),
      replacementCardId: z.number().int().nullable(),
      orderStatus: z.string().optional(),
      pendingKinds: z.array(z.string()),
    }),
    errors: ['CARD_NOT_FOUND', 'QC_CARD_NOT_PRINTED', 'QC_REASON_REQUIRED', 'QC_REASON_ON_PASS', 'CARD_STATE_CONFLICT'],
    handler: async ({ body, actor }) =>
      submitQcResult(db, {
        documentNumber: body.documentNumber,
        kind: body.kind,
        passed: body.passed,
        ...(body.reasonCode ? { reasonCode: body.reasonCode } : {}),
        ...(body.station ? { station: body.station } : {}),
        ...(body.details ? { details: body.details } : {}),
        ...(ctx.qc?.policy ? { policy: ctx.qc.policy } : {}),
        actor,
        clock: ctx.clock,
      }),
  });
}
