/**
 * The logistics rules, pure: box and shipment states, which scan event is allowed from which box state, and
 * whether a card may be issued at a centre. The database code (boxes.ts, tracking.ts, issuance.ts) asks these
 * functions and turns a refusal into a typed error with the reason code returned here.
 *
 *   box:       OPEN --seal--> SEALED --dispatched--> DISPATCHED --in-transit--> IN_TRANSIT (repeatable, one per hub)
 *              DISPATCHED | IN_TRANSIT --received (at the box's centre)--> RECEIVED --opened (at the centre)--> OPENED
 *   shipment:  CREATED --every box dispatched--> DISPATCHED --every box received--> RECEIVED
 *
 * Cards follow their box: PACKED while the box is OPEN/SEALED, DISPATCHED from the `dispatched` event, RECEIVED
 * from the `received` event (src/cards state machine; every move through transitionCard).
 */
import type { CardState } from '../cards/index.ts';

export const BOX_STATES = ['OPEN', 'SEALED', 'DISPATCHED', 'IN_TRANSIT', 'RECEIVED', 'OPENED'] as const;
export type BoxState = (typeof BOX_STATES)[number];

export const SHIPMENT_STATES = ['CREATED', 'DISPATCHED', 'RECEIVED'] as const;
export type ShipmentState = (typeof SHIPMENT_STATES)[number];

export const SCAN_EVENTS = ['dispatched', 'in-transit', 'received', 'opened'] as const;
export type ScanEvent = (typeof SCAN_EVENTS)[number];

export function isScanEvent(s: string): s is ScanEvent {
  return (SCAN_EVENTS as readonly string[]).includes(s);
}

export interface ScanRule {
  /** Box states the event may follow. */
  from: readonly BoxState[];
  to: BoxState;
  /** The scan location (--at) must be the box's own collection centre. */
  atOwnCentre: boolean;
  /** What happens to the cards inside (each through transitionCard). */
  cards?: { from: CardState; to: CardState };
}

export const SCAN_RULES: Readonly<Record<ScanEvent, ScanRule>> = {
  dispatched: { from: ['SEALED'], to: 'DISPATCHED', atOwnCentre: false, cards: { from: 'PACKED', to: 'DISPATCHED' } },
  'in-transit': { from: ['DISPATCHED', 'IN_TRANSIT'], to: 'IN_TRANSIT', atOwnCentre: false },
  received: { from: ['DISPATCHED', 'IN_TRANSIT'], to: 'RECEIVED', atOwnCentre: true, cards: { from: 'DISPATCHED', to: 'RECEIVED' } },
  opened: { from: ['RECEIVED'], to: 'OPENED', atOwnCentre: true },
};

/** Stable reason codes for a refused scan. */
export const SCAN_REJECT_REASONS = [
  'SCAN_MALFORMED_CODE', // not a Kadi code, or its check digit is wrong (misread)
  'SCAN_UNKNOWN_CODE', // well formed, but no such box here
  'SCAN_NOT_A_BOX', // a shipment or seal code was scanned where a box is expected
  'SCAN_UNKNOWN_EVENT', // --event is not one of SCAN_EVENTS
  'SCAN_BAD_LOCATION', // --at is empty or too long
  'SCAN_UNKNOWN_CENTRE', // received/opened --at a code that is no collection centre
  'SCAN_WRONG_CENTRE', // received/opened at a centre that is not the box's destination
  'SCAN_NOT_IN_SHIPMENT', // dispatched scan of a sealed box that is on no shipment yet
  'SCAN_DUPLICATE', // the box already had this event (scanned twice)
  'SCAN_OUT_OF_ORDER', // the event cannot follow the box's current state
] as const;
export type ScanRejectReason = (typeof SCAN_REJECT_REASONS)[number];

export interface BoxFacts {
  state: BoxState;
  centreCode: string;
  shipmentId: number | null;
}

export type ScanDecision =
  | { ok: true; from: BoxState; to: BoxState; rule: ScanRule }
  | { ok: false; reason: ScanRejectReason; message: string; details: Record<string, unknown> };

/** Longest location accepted for --at (the tracking_events.centre_code column). */
export const MAX_LOCATION_LENGTH = 16;

/**
 * Decides a scan. `atIsCentre` tells whether the location is a known collection centre code. Checks run in
 * this order: event, location, centre (a box at the wrong centre is the most urgent news), duplicate, order.
 */
export function decideScan(box: BoxFacts, event: string, at: string, atIsCentre: boolean): ScanDecision {
  if (!isScanEvent(event)) {
    return { ok: false, reason: 'SCAN_UNKNOWN_EVENT', message: `unknown scan event "${event}"`, details: { event, allowed: SCAN_EVENTS } };
  }
  const rule = SCAN_RULES[event];
  if (at.length === 0 || at.length > MAX_LOCATION_LENGTH) {
    return { ok: false, reason: 'SCAN_BAD_LOCATION', message: `scan location must be 1 to ${MAX_LOCATION_LENGTH} characters`, details: { event } };
  }
  if (rule.atOwnCentre) {
    if (!atIsCentre) {
      return { ok: false, reason: 'SCAN_UNKNOWN_CENTRE', message: `${at} is not a collection centre`, details: { event, at } };
    }
    if (at !== box.centreCode) {
      return {
        ok: false,
        reason: 'SCAN_WRONG_CENTRE',
        message: `box is addressed to ${box.centreCode}, not ${at}`,
        details: { event, at, destination: box.centreCode },
      };
    }
  }
  if (box.state === rule.to && !rule.from.includes(box.state)) {
    return { ok: false, reason: 'SCAN_DUPLICATE', message: `box is already ${box.state}`, details: { event, boxState: box.state } };
  }
  if (!rule.from.includes(box.state)) {
    return {
      ok: false,
      reason: 'SCAN_OUT_OF_ORDER',
      message: `a ${event} scan cannot follow box state ${box.state}`,
      details: { event, boxState: box.state, expected: rule.from },
    };
  }
  if (event === 'dispatched' && box.shipmentId === null) {
    return { ok: false, reason: 'SCAN_NOT_IN_SHIPMENT', message: 'box is on no shipment yet', details: { event } };
  }
  return { ok: true, from: box.state, to: rule.to, rule };
}

/** Stable reason codes for a refused issuance at a collection centre. */
export const ISSUE_REFUSALS = [
  'ISSUE_UNKNOWN_CENTRE',
  'ISSUE_UNKNOWN_DOCUMENT',
  'ISSUE_WRONG_CENTRE',
  'ISSUE_NOT_RECEIVED', // still in production or on its way
  'ISSUE_ALREADY_ISSUED',
  'ISSUE_CARD_WITHDRAWN', // returned, destroyed or spoiled
  'ISSUE_HOLDER_MISMATCH', // the national number presented is not the order's
  'ISSUE_ORDER_NOT_OPEN', // the order was closed or fulfilled by another card
] as const;
export type IssueRefusal = (typeof ISSUE_REFUSALS)[number];

/** Why a card in `state` at `cardCentre` cannot be issued at `centre` (undefined: it can). */
export function issueRefusal(card: { state: CardState; centreCode: string }, centre: string): IssueRefusal | undefined {
  if (card.centreCode !== centre) return 'ISSUE_WRONG_CENTRE';
  if (card.state === 'RECEIVED') return undefined;
  if (card.state === 'ISSUED') return 'ISSUE_ALREADY_ISSUED';
  if (card.state === 'RETURNED' || card.state === 'DESTROYED' || card.state === 'SPOILED' || card.state === 'QC_FAILED') {
    return 'ISSUE_CARD_WITHDRAWN';
  }
  return 'ISSUE_NOT_RECEIVED';
}
