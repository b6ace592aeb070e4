/**
 * Typed errors of the chip layer. One class per outcome, each with a stable `code`:
 *
 * | class                      | code                                   | retryable | meaning                                   |
 * |----------------------------|----------------------------------------|-----------|-------------------------------------------|
 * | {@link ApduError}          | `CARD_<NAME>` or `CARD_SW_<hex>`       | no        | the card answered with an unexpected SW   |
 * | {@link CardCommunicationError} | `CARD_REMOVED`, `CARD_RESPONSE_MALFORMED`, `CARD_TRANSPORT_FAILED`, `CARD_TIMEOUT` | no (default) | nothing usable came back |
 * | {@link SecureChannelError} | `CARD_SECURE_CHANNEL_<REASON>`         | no        | cryptogram / MAC / padding check failed   |
 * | {@link ApduFormatError}    | `APDU_INVALID`                         | no        | a command cannot be built as asked        |
 *
 * Chip rejections are never retryable: retrying a write that the chip refused, or a secure channel whose MAC
 * failed, burns the blank. Messages carry instruction names and status words only, never data bytes or keys.
 */
import { KadiError, ValidationError, type KadiErrorOptions } from '../shared/index.ts';

/** Four upper-case hex digits ("6982"). */
export function swHex(sw: number): string {
  return (sw & 0xffff).toString(16).toUpperCase().padStart(4, '0');
}

/** Two upper-case hex digits ("A4"). */
export function byteHex(b: number): string {
  return (b & 0xff).toString(16).toUpperCase().padStart(2, '0');
}

/** What an {@link ApduError} knows about the command that failed (header only: never data bytes). */
export interface ApduErrorCommand {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  /** Human name of the instruction when known ("UPDATE BINARY"). */
  name?: string;
}

/**
 * The card answered with a status word the caller did not expect. `sw` is the full SW1SW2. The code is the named
 * code of the SW when it has one (`CARD_SECURITY_STATUS_NOT_SATISFIED`), else `CARD_SW_<hex>` (`CARD_SW_6F00`).
 */
export class ApduError extends KadiError {
  readonly sw: number;
  readonly command: ApduErrorCommand | undefined;

  constructor(code: string, sw: number, message: string, command?: ApduErrorCommand, opts: KadiErrorOptions = {}) {
    super(code, message, {
      ...opts,
      retryable: opts.retryable ?? false,
      details: {
        sw: swHex(sw),
        ...(command
          ? {
              ins: byteHex(command.ins),
              p1p2: byteHex(command.p1) + byteHex(command.p2),
              ...(command.name ? { command: command.name } : {}),
            }
          : {}),
        ...opts.details,
      },
    });
    this.sw = sw & 0xffff;
    this.command = command;
  }

  get sw1(): number {
    return this.sw >>> 8;
  }
  get sw2(): number {
    return this.sw & 0xff;
  }
}

/** Why nothing usable came back from the card. */
export type CardCommunicationReason = 'CARD_REMOVED' | 'CARD_RESPONSE_MALFORMED' | 'CARD_TRANSPORT_FAILED' | 'CARD_TIMEOUT';

/**
 * Transport failure: the card was removed, the reader went away, the response is garbage (shorter than a status
 * word, a GET RESPONSE loop that does not end, ...). Unrecoverable by default — a card pulled mid-write is a
 * spoiled blank; an adapter may mark a failure that happened before anything was sent as retryable.
 */
export class CardCommunicationError extends KadiError {
  readonly reason: CardCommunicationReason;
  constructor(reason: CardCommunicationReason, message: string, opts: KadiErrorOptions = {}) {
    super(reason, message, { ...opts, retryable: opts.retryable ?? false });
    this.reason = reason;
  }
}

/** Why a secure channel check failed. */
export type SecureChannelReason =
  /** SCP03 card cryptogram did not verify: wrong keys for this card (or not the card we think). */
  | 'CARD_CRYPTOGRAM_INVALID'
  /** SCP03 host cryptogram did not verify (card side). */
  | 'HOST_CRYPTOGRAM_INVALID'
  /** C-MAC of a command did not verify (card side). */
  | 'COMMAND_MAC_INVALID'
  /** R-MAC / SM response MAC did not verify (host side). */
  | 'RESPONSE_MAC_INVALID'
  /** BAC / SM: the chip's authentication response did not verify (wrong MRZ keys). */
  | 'AUTHENTICATION_FAILED'
  /** Required secure messaging data objects are missing (ISO SW 6987). */
  | 'SM_DATA_MISSING'
  /** Secure messaging data objects are malformed (ISO SW 6988). */
  | 'SM_DATA_INVALID'
  /** Decrypted data has bad padding. */
  | 'PADDING_INVALID'
  /** The INITIALIZE UPDATE response is not an SCP03 response Kadi understands. */
  | 'PROTOCOL_UNSUPPORTED'
  /** The channel is used outside its life (before authentication, after a failure). */
  | 'CHANNEL_STATE';

/**
 * A secure channel (SCP03 or ICAO secure messaging) check failed. On the card side `sw` is the status word the
 * card should answer with (6982 for MAC failures, 6987/6988 for malformed SM data objects); the card must then
 * close the session. Never retryable: a MAC failure means wrong keys or a tampered exchange.
 */
export class SecureChannelError extends KadiError {
  readonly reason: SecureChannelReason;
  /** The SW a card implementation answers with for this failure. */
  readonly sw: number;
  constructor(reason: SecureChannelReason, message: string, sw = 0x6982, opts: KadiErrorOptions = {}) {
    super(`CARD_SECURE_CHANNEL_${reason}`, message, {
      ...opts,
      retryable: false,
      details: { reason, sw: swHex(sw), ...opts.details },
    });
    this.reason = reason;
    this.sw = sw;
  }
}

/** A command cannot be built as asked (length out of range, bad parameter); or bytes are not a command APDU. */
export class ApduFormatError extends ValidationError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('APDU_INVALID', message, details ? { details } : {});
  }
}
