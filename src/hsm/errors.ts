/**
 * HSM errors: one stable code per outcome. Messages name the token label, the key label, the PKCS#11 function
 * and its CKR_ return value; never a PIN, key bytes or the native stack.
 */
import { KadiError, type KadiErrorOptions } from '../shared/index.ts';

export const HsmCode = {
  /** The PKCS#11 module (shared library) cannot be loaded or initialised. */
  MODULE_LOAD_FAILED: 'HSM_MODULE_LOAD_FAILED',
  /** No slot holds a token with the configured label. */
  TOKEN_NOT_FOUND: 'HSM_TOKEN_NOT_FOUND',
  /** C_Login refused the user PIN (wrong PIN, or PIN not initialised). */
  LOGIN_FAILED: 'HSM_LOGIN_FAILED',
  /** The user PIN is locked (too many wrong attempts): the security officer must unlock it. */
  PIN_LOCKED: 'HSM_PIN_LOCKED',
  /** No private key with this label (and id) on the token. */
  KEY_NOT_FOUND: 'HSM_KEY_NOT_FOUND',
  /** A key with this label already exists on the token (labels are unique in Kadi). */
  KEY_EXISTS: 'HSM_KEY_EXISTS',
  /** The token lacks a mechanism Kadi needs, or the key's type does not fit the requested algorithm. */
  MECHANISM_UNSUPPORTED: 'HSM_MECHANISM_UNSUPPORTED',
  /** Key pair generation failed. */
  KEYGEN_FAILED: 'HSM_KEYGEN_FAILED',
  /** C_SignInit / C_Sign failed for another reason than a device or session problem. */
  SIGN_FAILED: 'HSM_SIGN_FAILED',
  /** A session could not be opened or became invalid (token removed, HSM restarted); retryable. */
  SESSION_FAILED: 'HSM_SESSION_FAILED',
  /** The device reported an error or is busy; retryable. */
  DEVICE_ERROR: 'HSM_DEVICE_ERROR',
  /** The adapter was closed. */
  CLOSED: 'HSM_CLOSED',
} as const;
export type HsmCode = (typeof HsmCode)[keyof typeof HsmCode];

export class HsmError extends KadiError {
  constructor(code: HsmCode, message: string, opts: KadiErrorOptions = {}) {
    super(code, message, opts);
  }
}

/** CKR_ names (return values) that mean "try again later" rather than "this will never work". */
const RETRYABLE_CKR = new Set([
  'CKR_DEVICE_ERROR',
  'CKR_DEVICE_MEMORY',
  'CKR_DEVICE_REMOVED',
  'CKR_FUNCTION_FAILED',
  'CKR_SESSION_CLOSED',
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_COUNT',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_OPERATION_ACTIVE',
]);

/** The CKR_ name of a pkcs11js error, or undefined for another error. */
export function ckrName(e: unknown): string | undefined {
  if (e && typeof e === 'object' && 'message' in e) {
    const m = /^(CKR_[A-Z0-9_]+)/.exec(String((e as { message: unknown }).message));
    if (m) return m[1];
  }
  return undefined;
}

/**
 * Wraps a pkcs11js error: the CKR_ name decides between DEVICE_ERROR/SESSION_FAILED (retryable) and `code`.
 * Only the CKR_ name and the function are kept from the native error (its message may echo arguments).
 */
export function wrapPkcs11(e: unknown, fn: string, code: HsmCode, context: string, details: Record<string, unknown> = {}): HsmError {
  if (e instanceof HsmError) return e;
  const ckr = ckrName(e);
  const what = ckr ?? (e instanceof Error ? e.name : 'error');
  let finalCode: HsmCode = code;
  if (ckr && RETRYABLE_CKR.has(ckr)) finalCode = ckr.startsWith('CKR_SESSION') ? HsmCode.SESSION_FAILED : HsmCode.DEVICE_ERROR;
  if (ckr === 'CKR_MECHANISM_INVALID' || ckr === 'CKR_MECHANISM_PARAM_INVALID' || ckr === 'CKR_KEY_TYPE_INCONSISTENT' || ckr === 'CKR_DOMAIN_PARAMS_INVALID' || ckr === 'CKR_CURVE_NOT_SUPPORTED') {
    finalCode = HsmCode.MECHANISM_UNSUPPORTED;
  }
  return new HsmError(finalCode, `${context}: ${fn} returned ${what}`, {
    retryable: finalCode === HsmCode.SESSION_FAILED || finalCode === HsmCode.DEVICE_ERROR,
    details: { function: fn, ...(ckr ? { ckr } : {}), ...details },
  });
}
