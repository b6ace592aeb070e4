/**
 * Stable codes of the keys module (key ceremony, DS rotation, CRL issuance, signing policy).
 * None is retryable: each needs a key custodian's action (rotate the DS, issue a CRL, fix the definition).
 */
import { KadiError, type KadiErrorOptions } from '../shared/index.ts';

export const KeysCode = {
  /** The DS (or CSCA) private key usage period has ended: rotate the DS (`kadi keys rotate-ds`). */
  KEY_USAGE_PERIOD_EXPIRED: 'KEY_USAGE_PERIOD_EXPIRED',
  /** The private key usage period has not started yet. */
  KEY_USAGE_PERIOD_NOT_STARTED: 'KEY_USAGE_PERIOD_NOT_STARTED',
  /** The latest CRL of the CSCA is past its nextUpdate: issue a new one (`kadi keys crl`). */
  CRL_OUTDATED: 'CRL_OUTDATED',
  /** The CSCA has never issued a CRL. */
  CRL_MISSING: 'CRL_MISSING',
  /** The key (DS) is revoked. */
  KEY_REVOKED: 'KEY_REVOKED',
  /** No active CSCA: run the key ceremony first. */
  NO_CSCA: 'KEYS_NO_CSCA',
  /** No active Document Signer: run `kadi keys rotate-ds`. */
  NO_DS: 'KEYS_NO_DS',
  /** A CSCA already exists: the ceremony runs once (CSCA rollover with link certificates is not implemented). */
  CSCA_EXISTS: 'KEYS_CSCA_EXISTS',
  /** A serial number to revoke is not one of this CSCA's Document Signers. */
  SERIAL_UNKNOWN: 'KEYS_SERIAL_UNKNOWN',
  /** The ceremony definition (hsm/ceremony.json) is invalid. */
  DEFINITION_INVALID: 'KEYS_DEFINITION_INVALID',
  /** The key in the token does not match the certificate on record. */
  KEY_MISMATCH: 'KEYS_KEY_MISMATCH',
  /** Data groups given to the SOD signer are unusable (numbers, count). */
  DATA_GROUPS_INVALID: 'KEYS_DATA_GROUPS_INVALID',
} as const;
export type KeysCode = (typeof KeysCode)[keyof typeof KeysCode];

export class KeysError extends KadiError {
  constructor(code: KeysCode, message: string, opts: KadiErrorOptions = {}) {
    super(code, message, { ...opts, retryable: false });
  }
}
