/**
 * Dispatch errors: one class per kind of outcome, each with a stable code (the reason codes in rules.ts and
 * the codes listed here). None is retryable: a refused scan or issuance needs a person to look at the box or
 * the card. Messages and details carry codes, states and ids only, never holder data.
 */
import { KadiError, NotFoundError, StateError, ValidationError, type KadiErrorOptions } from '../shared/index.ts';
import type { IssueRefusal, ScanRejectReason } from './rules.ts';

/** A tracking scan was refused; nothing changed (the attempt is kept in tracking_events as `rejected`). */
export class ScanRejectedError extends KadiError {
  constructor(readonly reason: ScanRejectReason, message: string, opts: KadiErrorOptions = {}) {
    super(reason, message, {
      hint: 'Nothing was recorded as moved. Check the box and its label; see docs/operator/dispatch.md (reason codes).',
      ...opts,
    });
  }
}

/** A card could not be handed to a holder; nothing changed (the attempt is kept in tracking_events). */
export class IssueRefusedError extends KadiError {
  constructor(readonly reason: IssueRefusal, message: string, opts: KadiErrorOptions = {}) {
    super(reason, message, {
      hint: 'Do not hand the card over. See docs/operator/dispatch.md (issuance reason codes).',
      ...opts,
    });
  }
}

/** Codes of the remaining dispatch errors (box, shipment, stock, returns). */
export const DISPATCH_ERROR_CODES = [
  'BOX_NOT_FOUND',
  'BOX_NOT_OPEN',
  'BOX_NOT_SEALED',
  'BOX_EMPTY',
  'SEAL_NUMBER_INVALID',
  'SEAL_NUMBER_IN_USE',
  'SHIPMENT_NOT_FOUND',
  'CENTRE_NOT_FOUND',
  'CARD_NOT_FOUND',
  'CARD_NOT_PACKED',
  'DISPATCH_INVALID_OPTION',
  'STOCK_LOT_EXISTS',
  'STOCK_INVALID',
  'DESTROY_NOT_RETURNED',
] as const;
export type DispatchErrorCode = (typeof DISPATCH_ERROR_CODES)[number];

export class DispatchNotFoundError extends NotFoundError {
  constructor(code: Extract<DispatchErrorCode, 'BOX_NOT_FOUND' | 'SHIPMENT_NOT_FOUND' | 'CENTRE_NOT_FOUND' | 'CARD_NOT_FOUND'>, message: string, opts: KadiErrorOptions = {}) {
    super(code, message, opts);
  }
}

export class DispatchStateError extends StateError {
  constructor(code: Extract<DispatchErrorCode, 'BOX_NOT_OPEN' | 'BOX_NOT_SEALED' | 'BOX_EMPTY' | 'SEAL_NUMBER_IN_USE' | 'STOCK_LOT_EXISTS' | 'DESTROY_NOT_RETURNED' | 'CARD_NOT_PACKED'>, message: string, opts: KadiErrorOptions = {}) {
    super(code, message, opts);
  }
}

export class DispatchValidationError extends ValidationError {
  constructor(code: Extract<DispatchErrorCode, 'SEAL_NUMBER_INVALID' | 'DISPATCH_INVALID_OPTION' | 'STOCK_INVALID'>, message: string, opts: KadiErrorOptions = {}) {
    super(code, message, opts);
  }
}
