/**
 * Encoding outcomes with stable codes.
 *
 * Two families, kept apart on purpose (DESIGN.md §8, "retrying a chip rejection burns cards"):
 *
 * - {@link SpoilReason}: the blank was claimed (card ENCODING, blank recorded) and something ruined it. The card
 *   is SPOILED with this reason code, the order gets a replacement card, the stage returns 'spoiled'. Never
 *   retried: a retry would burn a second blank.
 * - {@link EncodeError} codes without a claim (the card row is untouched, still PREPARED): the blank in the
 *   reader is rejected before anything was written to it (unreadable, already recorded) or there is no blank at
 *   all. `retryable` says whether running the stage again for the same card may succeed (another blank).
 */
import { KadiError, type KadiErrorOptions } from '../shared/index.ts';

/** Reason codes a spoiled card gets from the encoder (cards.spoil_reason, audit `card.transition`). */
export const SpoilReason = {
  /** The card left the reader (or the reader lost it) during the session. */
  CARD_REMOVED: 'ENCODE_CARD_REMOVED',
  /** The reader or pcscd failed to exchange an APDU (no answer, transaction failed, reset by another party). */
  TRANSPORT_FAILED: 'ENCODE_TRANSPORT_FAILED',
  /** The card answered bytes that are not a response APDU. */
  RESPONSE_MALFORMED: 'ENCODE_CARD_RESPONSE_MALFORMED',
  /** The card refused a command with a status word the sequence does not expect. */
  CARD_REJECTED: 'ENCODE_CARD_REJECTED',
  /** The card is already personalised and locked (CPLC personalisation data set, writes refused with 6985). */
  CARD_LOCKED: 'ENCODE_CARD_LOCKED',
  /** The card already holds LDS files (a blank from an interrupted personalisation): CREATE FILE gives 6A89. */
  CARD_NOT_BLANK: 'ENCODE_CARD_NOT_BLANK',
  /** SCP03 card cryptogram wrong / EXTERNAL AUTHENTICATE refused: the card does not hold this issuer's keys. */
  CARD_KEYS_WRONG: 'ENCODE_CARD_KEYS_WRONG',
  /** An SCP03 R-MAC or another secure channel check failed after the channel was open. */
  SECURE_CHANNEL_FAILED: 'ENCODE_SECURE_CHANNEL_FAILED',
  /** The card's identity changed under the encoder (KDD serial differs from the CPLC serial). */
  CARD_IDENTITY_MISMATCH: 'ENCODE_CARD_IDENTITY_MISMATCH',
  /** GENERATE KEY PAIR returned something that is not an ECDSA P-256 SubjectPublicKeyInfo. */
  CARD_KEY_INVALID: 'ENCODE_CARD_KEY_INVALID',
  /** Read-back: BAC with the document's MRZ keys failed. */
  READBACK_BAC_FAILED: 'ENCODE_READBACK_BAC_FAILED',
  /** Read-back: a file read with BAC differs from what was written, or a data group does not match the SOD. */
  READBACK_MISMATCH: 'ENCODE_READBACK_MISMATCH',
  /** Read-back: EF.SOD does not verify (signature, chain or CRL) — passive authentication failed. */
  SOD_INVALID: 'ENCODE_SOD_INVALID',
  /** Read-back: Active Authentication signature does not verify with the DG15 key. */
  AA_FAILED: 'ENCODE_AA_FAILED',
  /** The HSM could not derive the card keys (after the claim). */
  KEY_DERIVATION_FAILED: 'ENCODE_KEY_DERIVATION_FAILED',
  /** EF.SOD signing failed (DS policy, HSM) after the blank was claimed. */
  SIGNING_FAILED: 'ENCODE_SIGNING_FAILED',
  /** A card found in ENCODING when the stage runs for it: the worker that claimed it stopped mid-way. */
  INTERRUPTED: 'ENCODE_INTERRUPTED',
  /** Anything else after the claim (a bug): the blank is not trusted. */
  FAILED: 'ENCODE_FAILED',
} as const;
export type SpoilReason = (typeof SpoilReason)[keyof typeof SpoilReason];

/** Codes of {@link EncodeError}. */
export const EncodeCode = {
  /** No encoder had a fresh blank within the wait (retryable: nothing was consumed). */
  NO_BLANK: 'ENCODE_NO_BLANK',
  /** The blank could not be identified (CPLC not read): rejected without a claim (retryable with another blank). */
  BLANK_UNREADABLE: 'ENCODE_BLANK_UNREADABLE',
  /** The blank's chip serial or blank serial is already recorded on another card (a spoiled or finished card put
   *  back): rejected without a claim (retryable with another blank). */
  BLANK_ALREADY_RECORDED: 'ENCODE_BLANK_ALREADY_RECORDED',
  /** No blank lot has stock left (or the configured lot is exhausted): record the delivery first. */
  NO_BLANK_STOCK: 'ENCODE_NO_BLANK_STOCK',
  /** The configured lot does not exist. */
  LOT_NOT_FOUND: 'ENCODE_LOT_NOT_FOUND',
  /** The card has no prepared chip image, or it is unusable. */
  IMAGE_INVALID: 'ENCODE_IMAGE_INVALID',
  /** The Document Signer cannot sign now (policy): checked before any blank is claimed. */
  SIGNER_UNAVAILABLE: 'ENCODE_SIGNER_UNAVAILABLE',
  /** The encoding result could not be recorded because the card was changed by someone else meanwhile. */
  LOST_RACE: 'ENCODE_LOST_RACE',
  /** The blank was spoiled (see `details.reason`, one of {@link SpoilReason}). */
  SPOILED: 'ENCODE_SPOILED',
} as const;
export type EncodeCode = (typeof EncodeCode)[keyof typeof EncodeCode];

/** An encoding outcome other than success. Never carries personal data or key bytes. */
export class EncodeError extends KadiError {
  constructor(code: EncodeCode | SpoilReason, message: string, opts: KadiErrorOptions = {}) {
    super(code, message, opts);
  }
}

/** A failure after the claim that ruins the blank: carries the spoil reason and the cause. */
export class CardSpoiledError extends EncodeError {
  readonly reason: SpoilReason;
  constructor(reason: SpoilReason, message: string, opts: KadiErrorOptions = {}) {
    super(reason, message, { ...opts, retryable: false });
    this.reason = reason;
  }
}
