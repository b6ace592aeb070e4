/**
 * Tracking scans at every hand-over (bureau gate, transit hubs, collection centre) and box/card histories.
 *
 * A scan is decided by rules.ts decideScan on the box as locked inside the transaction, so two scanners racing
 * on one box cannot both move it. An accepted scan moves the box (and its cards, each through transitionCard),
 * writes a tracking event and an audit entry. A refused scan changes nothing, throws ScanRejectedError with a
 * stable reason code, and is itself kept as a `rejected` tracking event (reason, location, the box when known)
 * so that boxes turning up at the wrong centre are visible later. What a scanner read is stored only when it is
 * a well-formed Kadi code: a misread could be someone's ID card barcode.
 */
import type { Knex } from 'knex';
import { appendAudit, auditTrail } from '../audit/index.ts';
import { transitionCard } from '../cards/index.ts';
import { systemClock, type Clock } from '../shared/index.ts';
import {
  dispatchBoxTx,
  findBoxByCode,
  getShipment,
  normBox,
  settleShipment,
  summariseBox,
  summariseShipment,
  type BoxSummary,
  type ShipmentSummary,
} from './boxes.ts';
import { parseCode } from './codes.ts';
import { DispatchNotFoundError, ScanRejectedError } from './errors.ts';
import { lockCards } from './locks.ts';
import { decideScan, isScanEvent, MAX_LOCATION_LENGTH, type BoxState, type ScanEvent, type ScanRejectReason } from './rules.ts';

export interface ScanOptions {
  /** What the scanner read (box code from the label's Code128 or QR). */
  code: string;
  event: string;
  /** Where: a collection centre code, a hub name, or BUREAU. */
  at: string;
  actor: string;
  clock?: Clock;
}

export interface ScanResult {
  box: string;
  centre: string;
  event: ScanEvent;
  from: BoxState;
  to: BoxState;
  at: string;
  /** Cards that moved with the box (0 for in-transit and opened). */
  cards: number;
  shipment: { code: string; state: string } | null;
}

function reject(reason: ScanRejectReason, message: string, details: Record<string, unknown>): ScanRejectedError {
  return new ScanRejectedError(reason, message, { details });
}

async function recordRejection(db: Knex, r: { boxId: number | null; shipmentId: number | null; at: Date; location: string; actor: string; reason: string; event: string; code: string | null }): Promise<void> {
  await db('tracking_events').insert({
    box_id: r.boxId,
    shipment_id: r.shipmentId,
    event: 'rejected',
    centre_code: r.location.slice(0, MAX_LOCATION_LENGTH) || null,
    at: r.at.toISOString(),
    actor: r.actor,
    details: JSON.stringify({ reason: r.reason, attempted: isScanEvent(r.event) ? r.event : 'unknown', code: r.code }),
  });
}

/** `kadi track scan CODE --event E --at LOCATION`. */
export async function scanBox(db: Knex, opts: ScanOptions): Promise<ScanResult> {
  const at = (opts.clock ?? systemClock).now();
  const location = opts.at.trim().toUpperCase();
  const parsed = parseCode(opts.code);
  let boxId: number | null = null;
  let shipmentId: number | null = null;
  try {
    if (!parsed.ok) {
      throw reject('SCAN_MALFORMED_CODE', parsed.problem === 'BAD_CHECK_DIGIT' ? 'the check digit does not match: misread or mistyped code' : 'not a Kadi box code', { problem: parsed.problem, length: parsed.code.length });
    }
    if (parsed.kind !== 'box') throw reject('SCAN_NOT_A_BOX', `${parsed.code} is a ${parsed.kind} code, not a box code`, { code: parsed.code, kind: parsed.kind });
    const found = await findBoxByCode(db, parsed.code);
    if (!found) throw reject('SCAN_UNKNOWN_CODE', `no box ${parsed.code} here`, { code: parsed.code });
    boxId = found.id;
    shipmentId = found.shipment_id;
    const atIsCentre = location.length > 0 && (await db('collection_centres').where({ code: location }).first('code')) !== undefined;
    return await db.transaction(async (trx) => {
      // Lock the box, then decide on what is there now.
      await trx('boxes').where({ id: found.id }).update({ state: trx.raw('state') });
      const box = normBox(await trx('boxes').where({ id: found.id }).first());
      // Lock order (locks.ts): box, shipment, cards, audit head — settleShipment below needs the shipment.
      if (box.shipment_id !== null) await trx('shipments').where({ id: box.shipment_id }).update({ state: trx.raw('state') });
      const d = decideScan({ state: box.state, centreCode: box.centre_code, shipmentId: box.shipment_id }, opts.event, location, atIsCentre);
      if (!d.ok) throw reject(d.reason, `box ${box.code}: ${d.message}`, { box: box.code, ...d.details });
      const event = opts.event as ScanEvent;
      let cards = 0;
      if (event === 'dispatched') {
        cards = await dispatchBoxTx(trx, box, { actor: opts.actor, at, location, via: 'scan' });
      } else {
        await trx('boxes').where({ id: box.id, state: d.from }).update({ state: d.to });
        if (d.rule.cards) {
          const from = d.rule.cards.from;
          const ids = (await lockCards<{ id: number }>(trx, (q) => q.where({ box_id: box.id, state: from }))).map((r) => Number(r.id));
          for (const cardId of ids) {
            await transitionCard(trx, { cardId, from: d.rule.cards.from, to: d.rule.cards.to, actor: opts.actor, data: { box: box.code, at: location }, at });
          }
          cards = ids.length;
        }
        await trx('tracking_events').insert({
          box_id: box.id,
          shipment_id: box.shipment_id,
          event,
          centre_code: location,
          at: at.toISOString(),
          actor: opts.actor,
          details: JSON.stringify({ cards, from: d.from, to: d.to }),
        });
        await appendAudit(trx, { actor: opts.actor, action: 'box.scan', entityType: 'box', entityId: box.code, data: { event, from: d.from, to: d.to, location, cards } }, at);
      }
      let shipment: ScanResult['shipment'] = null;
      if (box.shipment_id !== null) {
        const state = await settleShipment(trx, box.shipment_id, opts.actor, at);
        const s = await trx('shipments').where({ id: box.shipment_id }).first('code');
        shipment = { code: String(s.code), state };
      }
      return { box: box.code, centre: box.centre_code, event, from: d.from, to: d.to, at: location, cards, shipment };
    });
  } catch (e) {
    if (e instanceof ScanRejectedError) {
      await recordRejection(db, {
        boxId,
        shipmentId,
        at,
        location,
        actor: opts.actor,
        reason: e.reason,
        event: opts.event,
        code: parsed.ok ? parsed.code : null,
      });
    }
    throw e;
  }
}

export interface HistoryEvent {
  at: string;
  /** tracking: a scan or logistics event; audit: a recorded state change. */
  source: 'tracking' | 'audit';
  /** e.g. `received`, `rejected`, `card QC_PASSED→PACKED`, `box.seal`. */
  event: string;
  location?: string | null;
  actor: string;
  /** The box the event was about, when the history is a card's or a shipment's. */
  box?: string;
  details: Record<string, unknown>;
}

function parseJson(s: unknown): Record<string, unknown> {
  if (typeof s !== 'string' || s === '') return {};
  try {
    return JSON.parse(s) as Record<string, unknown>;
  } catch {
    return {};
  }
}

function byTime(a: HistoryEvent, b: HistoryEvent): number {
  return a.at < b.at ? -1 : a.at > b.at ? 1 : 0;
}

async function trackingEvents(db: Knex, where: Record<string, unknown>, boxCodes?: Map<number, string>): Promise<HistoryEvent[]> {
  const rows = await db('tracking_events').where(where).orderBy('id').select('*');
  return rows.map((r: Record<string, unknown>) => ({
    at: String(r.at),
    source: 'tracking' as const,
    event: String(r.event),
    location: (r.centre_code as string | null) ?? null,
    actor: String(r.actor),
    ...(boxCodes && r.box_id !== null && boxCodes.has(Number(r.box_id)) ? { box: boxCodes.get(Number(r.box_id))! } : {}),
    details: parseJson(r.details),
  }));
}

async function auditEvents(db: Knex, type: string, id: string | number): Promise<HistoryEvent[]> {
  return (await auditTrail(db, type, id)).map((e) => ({
    at: e.at,
    source: 'audit' as const,
    event: e.action === 'card.transition' ? `card ${String(e.data.from)}→${String(e.data.to)}` : e.action,
    actor: e.actor,
    details: e.data,
  }));
}

export interface BoxHistory {
  box: BoxSummary & { createdAt: string; sealedAt: string | null };
  events: HistoryEvent[];
}

export async function boxHistory(db: Knex, code: string): Promise<BoxHistory> {
  const b = await findBoxByCode(db, code);
  if (!b) throw new DispatchNotFoundError('BOX_NOT_FOUND', `no box ${code.trim().toUpperCase()}`);
  const events = [...(await trackingEvents(db, { box_id: b.id })), ...(await auditEvents(db, 'box', b.code))].sort(byTime);
  return { box: { ...(await summariseBox(db, b)), createdAt: b.created_at, sealedAt: b.sealed_at }, events };
}

export interface ShipmentHistory {
  shipment: ShipmentSummary;
  boxes: BoxSummary[];
  events: HistoryEvent[];
}

export async function shipmentHistory(db: Knex, idOrCode: string): Promise<ShipmentHistory> {
  const s = await getShipment(db, idOrCode);
  const boxRows = (await db('boxes').where({ shipment_id: s.id }).orderBy('id').select('*')).map(normBox);
  const codes = new Map(boxRows.map((b) => [b.id, b.code]));
  const boxes: BoxSummary[] = [];
  for (const b of boxRows) boxes.push(await summariseBox(db, b));
  const events = [...(await trackingEvents(db, { shipment_id: s.id }, codes)), ...(await auditEvents(db, 'shipment', s.code))].sort(byTime);
  return { shipment: await summariseShipment(db, s), boxes, events };
}

export interface CardHistory {
  card: { documentNumber: string; state: string; centre: string; box: string | null; shipment: string | null; orderStatus: string };
  events: HistoryEvent[];
}

/** A card's life: its state changes, its box's journey while it was inside, issuance or return. */
export async function cardHistory(db: Knex, documentNumber: string): Promise<CardHistory> {
  const c = await db('cards as c')
    .join('card_orders as o', 'o.id', 'c.order_id')
    .leftJoin('boxes as b', 'b.id', 'c.box_id')
    .leftJoin('shipments as s', 's.id', 'b.shipment_id')
    .where('c.document_number', documentNumber)
    .first('c.id', 'c.state', 'c.centre_code', 'c.order_id', 'o.status as order_status', 'b.id as box_id', 'b.code as box_code', 's.code as shipment_code');
  if (!c) throw new DispatchNotFoundError('CARD_NOT_FOUND', `no card with document number ${documentNumber}`);
  const events: HistoryEvent[] = [
    ...(await auditEvents(db, 'card', Number(c.id))),
    ...(await trackingEvents(db, { card_id: Number(c.id) })),
    ...(await auditEvents(db, 'order', Number(c.order_id))).filter((e) => e.event.startsWith('order.')),
  ];
  if (c.box_id !== null) {
    const codes = new Map([[Number(c.box_id), String(c.box_code)]]);
    events.push(...(await trackingEvents(db, { box_id: Number(c.box_id) }, codes)).filter((e) => e.event !== 'rejected'));
  }
  events.sort(byTime);
  return {
    card: {
      documentNumber,
      state: String(c.state),
      centre: String(c.centre_code),
      box: (c.box_code as string | null) ?? null,
      shipment: (c.shipment_code as string | null) ?? null,
      orderStatus: String(c.order_status),
    },
    events,
  };
}
