/**
 * Logistics (src/dispatch): packing and shipping at the bureau, box scans at every hand-over, issuing cards to
 * their holders at the collection centre, uncollected cards, blank stock and reconciliation. Each route calls
 * one public function of src/dispatch with the logged-in user as the actor; the rules (which scan may follow
 * which, who may receive a card) live there, and a refusal comes back with its reason code (422).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  SCAN_EVENTS,
  ageingReport,
  boxHistory,
  cardHistory,
  issueCard,
  listBoxes,
  listShipments,
  packCards,
  receiveBlankLot,
  reconcile,
  returnUncollected,
  scanBox,
  sealBox,
  shipBoxes,
  shipmentHistory,
  stockReport,
  unpackCard,
} from '../../dispatch/index.ts';
import type { ApiContext } from '../deps.ts';
import { defineRoute } from '../http.ts';
import { CentreCode, Counts, DocumentNumber, DomainObject } from './schemas.ts';

const BoxCode = z.string().min(1).max(32).regex(/^[A-Za-z0-9-]+$/).describe('Box code from the label, e.g. BX0000001237.');

const BoxOut = z.object({
  code: z.string(),
  centre: z.string(),
  state: z.string(),
  cards: z.number(),
  capacity: z.number(),
  sealNumber: z.string().nullable(),
  shipment: z.string().nullable(),
});

const ShipmentOut = z.object({
  id: z.number().int(),
  code: z.string(),
  centre: z.string(),
  state: z.string(),
  boxes: z.number(),
  cards: z.number(),
  createdAt: z.string(),
  dispatchedAt: z.string().nullable(),
  receivedAt: z.string().nullable(),
});

const HistoryEventOut = z.object({
  at: z.string(),
  source: z.enum(['tracking', 'audit']),
  event: z.string(),
  location: z.string().nullable().optional(),
  actor: z.string(),
  box: z.string().optional(),
  details: z.record(z.string(), z.unknown()),
});

const BoxStates = z.enum(['OPEN', 'SEALED', 'DISPATCHED', 'IN_TRANSIT', 'RECEIVED', 'OPENED']);

const DISPATCH_ERRORS = ['BOX_NOT_FOUND', 'BOX_NOT_OPEN', 'BOX_NOT_SEALED', 'BOX_EMPTY', 'SEAL_NUMBER_INVALID', 'SEAL_NUMBER_IN_USE', 'CENTRE_NOT_FOUND', 'DISPATCH_INVALID_OPTION'] as const;

export function registerDispatchRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { db, clock } = ctx;

  // ---- reading
  defineRoute(app, {
    method: 'GET',
    url: '/api/dispatch/boxes',
    access: 'dispatch.read',
    tag: 'dispatch',
    summary: 'Boxes, optionally by centre, state or shipment',
    query: z.strictObject({ centre: CentreCode.optional(), state: BoxStates.optional(), shipment: z.string().max(32).optional() }),
    response: z.object({ boxes: z.array(BoxOut) }),
    handler: async ({ query }) => ({
      boxes: await listBoxes(db, { ...(query.centre ? { centre: query.centre } : {}), ...(query.state ? { state: query.state } : {}), ...(query.shipment ? { shipment: query.shipment } : {}) }),
    }),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/dispatch/boxes/:code',
    access: 'dispatch.read',
    tag: 'dispatch',
    summary: 'One box and its journey (tracking events and audit entries)',
    params: z.strictObject({ code: BoxCode }),
    response: z.object({ box: BoxOut.extend({ createdAt: z.string(), sealedAt: z.string().nullable() }), events: z.array(HistoryEventOut) }),
    errors: ['BOX_NOT_FOUND'],
    handler: async ({ params }) => boxHistory(db, params.code),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/dispatch/shipments',
    access: 'dispatch.read',
    tag: 'dispatch',
    summary: 'Shipments, optionally by centre or state',
    query: z.strictObject({ centre: CentreCode.optional(), state: z.enum(['CREATED', 'DISPATCHED', 'RECEIVED']).optional() }),
    response: z.object({ shipments: z.array(ShipmentOut) }),
    handler: async ({ query }) => ({ shipments: await listShipments(db, { ...(query.centre ? { centre: query.centre } : {}), ...(query.state ? { state: query.state } : {}) }) }),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/dispatch/shipments/:code',
    access: 'dispatch.read',
    tag: 'dispatch',
    summary: 'One shipment with its boxes and events',
    params: z.strictObject({ code: z.string().min(1).max(32).regex(/^[A-Za-z0-9-]+$/) }),
    response: z.object({ shipment: ShipmentOut, boxes: z.array(BoxOut), events: z.array(HistoryEventOut) }),
    errors: ['SHIPMENT_NOT_FOUND'],
    handler: async ({ params }) => shipmentHistory(db, params.code),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/dispatch/cards/:documentNumber/journey',
    access: 'dispatch.read',
    tag: 'dispatch',
    summary: 'A card\'s journey: state changes, its box\'s scans, issuance or return',
    params: z.strictObject({ documentNumber: DocumentNumber }),
    response: z.object({
      card: z.object({ documentNumber: z.string(), state: z.string(), centre: z.string(), box: z.string().nullable(), shipment: z.string().nullable(), orderStatus: z.string() }),
      events: z.array(HistoryEventOut),
    }),
    errors: ['CARD_NOT_FOUND'],
    handler: async ({ params }) => cardHistory(db, params.documentNumber.toUpperCase()),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/dispatch/ageing',
    access: 'dispatch.read',
    tag: 'dispatch',
    summary: 'Uncollected cards per centre by days since they were received, and collection rates',
    query: z.strictObject({ centre: CentreCode.optional() }),
    response: DomainObject('AgeingReport of src/dispatch (at, buckets, centres[], totals).'),
    errors: ['CENTRE_NOT_FOUND'],
    handler: async ({ query }) => ageingReport(db, { clock, ...(query.centre ? { centre: query.centre } : {}) }) as unknown as Record<string, unknown>,
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/reconciliation',
    access: 'reconciliation.read',
    tag: 'dispatch',
    summary: 'Every blank accounted for: received = issued + in process + in stock + spoiled + returned + destroyed',
    description: 'Reconciliation of src/dispatch: the equation, per lot, per batch and per centre, and every difference found.',
    response: DomainObject('Reconciliation of src/dispatch (ok, equation, blanks, lots, batches, centres, differences).'),
    handler: async () => reconcile(db, { clock }) as unknown as Record<string, unknown>,
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/stock',
    access: 'reconciliation.read',
    tag: 'dispatch',
    summary: 'Blank card lots: received, consumed, in stock',
    response: z.object({
      lots: z.array(z.object({ id: z.number(), lot: z.string(), supplier: z.string(), chipType: z.string(), quantity: z.number(), consumed: z.number(), inStock: z.number(), receivedAt: z.string(), receivedBy: z.string() })),
    }),
    handler: async () => ({ lots: await stockReport(db) }),
  });

  // ---- writing
  defineRoute(app, {
    method: 'POST',
    url: '/api/stock/lots',
    access: 'stock.receive',
    tag: 'dispatch',
    summary: 'Record a delivered lot of blank cards',
    body: z.strictObject({ lot: z.string().min(1).max(64), quantity: z.number().int().min(1).max(10_000_000), supplier: z.string().min(1).max(120), chipType: z.string().min(1).max(64) }),
    status: 201,
    response: z.object({ id: z.number(), lot: z.string(), supplier: z.string(), chipType: z.string(), quantity: z.number(), consumed: z.number(), inStock: z.number(), receivedAt: z.string(), receivedBy: z.string() }),
    errors: ['STOCK_INVALID', 'STOCK_LOT_EXISTS'],
    handler: async ({ body, actor }) => receiveBlankLot(db, { ...body, actor, clock }),
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/dispatch/pack',
    access: 'dispatch.pack',
    tag: 'dispatch',
    summary: 'Pack QC-passed cards into boxes, one centre per box; full boxes are sealed',
    body: z.strictObject({
      batchId: z.number().int().min(1).optional(),
      centre: CentreCode.optional(),
      capacity: z.number().int().min(1).max(5000).optional(),
      sealPartial: z.boolean().default(false).describe('Also seal the last, partly filled box of each centre'),
    }),
    response: z.object({ packed: z.number(), conflicts: z.number(), boxesCreated: z.number(), boxesSealed: z.number(), byCentre: Counts, boxes: z.array(BoxOut) }),
    errors: DISPATCH_ERRORS,
    handler: async ({ body, actor }) =>
      packCards(db, {
        actor,
        clock,
        sealPartial: body.sealPartial,
        ...(body.batchId ? { batchId: body.batchId } : {}),
        ...(body.centre ? { centre: body.centre } : {}),
        ...(body.capacity ? { capacity: body.capacity } : {}),
      }),
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/dispatch/boxes/:code/seal',
    access: 'dispatch.pack',
    tag: 'dispatch',
    summary: 'Seal an open box (with the number of the physical seal, or a generated one)',
    params: z.strictObject({ code: BoxCode }),
    body: z.strictObject({ sealNumber: z.string().min(4).max(32).optional() }),
    response: BoxOut,
    errors: DISPATCH_ERRORS,
    handler: async ({ params, body, actor }) => sealBox(db, { box: params.code, actor, clock, ...(body.sealNumber ? { sealNumber: body.sealNumber } : {}) }),
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/dispatch/unpack',
    access: 'dispatch.pack',
    tag: 'dispatch',
    summary: 'Take a card back out of an open box (PACKED → QC_PASSED)',
    body: z.strictObject({ documentNumber: DocumentNumber }),
    response: z.object({ documentNumber: z.string(), box: z.string(), state: z.string() }),
    errors: ['CARD_NOT_FOUND', 'CARD_NOT_PACKED', 'BOX_NOT_OPEN'],
    handler: async ({ body, actor }) => unpackCard(db, { documentNumber: body.documentNumber.toUpperCase(), actor, clock }),
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/dispatch/ship',
    access: 'dispatch.pack',
    tag: 'dispatch',
    summary: 'Ship: seal what is open, put sealed boxes on the centre\'s shipment and dispatch them (unless hold)',
    body: z.strictObject({ centre: CentreCode.optional(), hold: z.boolean().default(false).describe('Leave the boxes for a `dispatched` scan each') }),
    response: z.object({ shipments: z.array(ShipmentOut), boxesSealed: z.number(), boxesDispatched: z.number(), cardsDispatched: z.number() }),
    errors: DISPATCH_ERRORS,
    handler: async ({ body, actor }) => shipBoxes(db, { actor, clock, hold: body.hold, ...(body.centre ? { centre: body.centre } : {}) }),
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/dispatch/scans',
    access: 'dispatch.scan',
    tag: 'dispatch',
    summary: 'A box scan at a hand-over: dispatched (bureau), in-transit (hub), received / opened (its centre)',
    body: z.strictObject({
      code: z.string().min(1).max(64).describe('What the scanner read'),
      event: z.enum(SCAN_EVENTS),
      at: z.string().min(1).max(16).describe('Where: the centre code, a hub name or BUREAU'),
    }),
    response: z.object({
      box: z.string(),
      centre: z.string(),
      event: z.string(),
      from: z.string(),
      to: z.string(),
      at: z.string(),
      cards: z.number(),
      shipment: z.object({ code: z.string(), state: z.string() }).nullable(),
    }),
    errors: ['SCAN_MALFORMED_CODE', 'SCAN_UNKNOWN_CODE', 'SCAN_NOT_A_BOX', 'SCAN_BAD_LOCATION', 'SCAN_UNKNOWN_CENTRE', 'SCAN_WRONG_CENTRE', 'SCAN_NOT_IN_SHIPMENT', 'SCAN_DUPLICATE', 'SCAN_OUT_OF_ORDER'],
    handler: async ({ body, actor }) => scanBox(db, { code: body.code, event: body.event, at: body.at, actor, clock }),
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/dispatch/issue',
    access: 'dispatch.issue',
    tag: 'dispatch',
    summary: 'Hand a card to its holder at the collection centre (RECEIVED → ISSUED, order FULFILLED)',
    body: z.strictObject({
      documentNumber: DocumentNumber,
      centre: CentreCode,
      holderNationalNumber: z.string().min(1).max(32).optional().describe('National number on the identity the holder presented; checked against the order'),
    }),
    response: z.object({ documentNumber: z.string(), centre: z.string(), state: z.string(), orderStatus: z.string(), issuedAt: z.string() }),
    errors: ['ISSUE_UNKNOWN_CENTRE', 'ISSUE_UNKNOWN_DOCUMENT', 'ISSUE_WRONG_CENTRE', 'ISSUE_NOT_RECEIVED', 'ISSUE_ALREADY_ISSUED', 'ISSUE_CARD_WITHDRAWN', 'ISSUE_HOLDER_MISMATCH', 'ISSUE_ORDER_NOT_OPEN'],
    handler: async ({ body, actor }) =>
      issueCard(db, { documentNumber: body.documentNumber, centre: body.centre, actor, clock, ...(body.holderNationalNumber ? { holderNationalNumber: body.holderNationalNumber } : {}) }),
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/dispatch/returns',
    access: 'dispatch.return',
    tag: 'dispatch',
    summary: 'Send uncollected cards back (RECEIVED for more than N days → RETURNED); dryRun counts only',
    body: z.strictObject({ olderThanDays: z.number().int().min(0).max(3650).default(90), centre: CentreCode.optional(), dryRun: z.boolean().default(false) }),
    response: z.object({ returned: z.number(), dryRun: z.boolean(), olderThanDays: z.number(), receivedBefore: z.string(), byCentre: Counts }),
    errors: ['CENTRE_NOT_FOUND', 'DISPATCH_INVALID_OPTION'],
    handler: async ({ body, actor }) =>
      returnUncollected(db, { actor, clock, olderThanDays: body.olderThanDays, dryRun: body.dryRun, ...(body.centre ? { centre: body.centre } : {}) }),
  });
}
