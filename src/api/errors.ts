/**
 * API errors: every error response is `{"error": {"code", "message", "hint"?, "retryable", "details"?,
 * "requestId"}}` with a stable `code`. Domain errors keep their own codes (KadiError); the HTTP status follows
 * the error class:
 *
 * | error                                   | status | examples                                          |
 * |-----------------------------------------|--------|---------------------------------------------------|
 * | request fails its JSON schema           | 400    | REQUEST_INVALID                                   |
 * | ValidationError                         | 400    | BATCH_SIZE_INVALID, SEAL_NUMBER_INVALID           |
 * | no or bad credentials, session expired  | 401    | AUTH_REQUIRED, AUTH_INVALID_CREDENTIALS           |
 * | role lacks the permission / CSRF        | 403    | FORBIDDEN, CSRF_REJECTED                          |
 * | NotFoundError, unknown route            | 404    | CARD_NOT_FOUND, BATCH_NOT_FOUND, ROUTE_NOT_FOUND  |
 * | StateError                              | 409    | CARD_STATE_CONFLICT, BOX_NOT_SEALED               |
 * | wrong content type / body too large     | 415/413| UNSUPPORTED_MEDIA_TYPE, BODY_TOO_LARGE            |
 * | other KadiError (a refused business act)| 422    | SCAN_WRONG_CENTRE, ISSUE_NOT_RECEIVED, KEYS_NO_DS |
 * | login rate limit                        | 429    | AUTH_RATE_LIMITED (+ Retry-After)                 |
 * | TransientError                          | 503    | INTAKE_CONFLICT (retry)                           |
 * | a stage or service not configured       | 503    | INTAKE_UNAVAILABLE, KEYS_UNAVAILABLE              |
 * | anything else (a bug)                   | 500    | INTERNAL (details only in the server log)         |
 */
import { ConfigError, KadiError, NotFoundError, StateError, TransientError, ValidationError, type KadiErrorOptions } from '../shared/index.ts';

/** An error raised by the API layer itself, with its HTTP status. */
export class ApiError extends KadiError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    opts: KadiErrorOptions & { headers?: Record<string, string> } = {},
  ) {
    super(code, message, opts);
    this.headers = opts.headers ?? {};
  }
  readonly headers: Record<string, string>;
}

export const authRequired = (message = 'log in first (session cookie or Authorization: Bearer token)'): ApiError =>
  new ApiError(401, 'AUTH_REQUIRED', message, { hint: 'POST /api/auth/login, then send the cookie or the Bearer token.' });

export const forbidden = (permission: string, role: string): ApiError =>
  new ApiError(403, 'FORBIDDEN', `the ${role} role may not do this (needs ${permission})`, {
    hint: 'Ask a user with the right role; see docs/operator/console.md (roles).',
    details: { permission, role },
  });

export const unavailable = (code: string, what: string): ApiError =>
  new ApiError(503, code, `${what} is not configured on this server`, { hint: 'Start the server with this stage configured (kadi serve).' });

/** HTTP status for any error thrown by a handler. */
export function statusOf(e: unknown): number {
  if (e instanceof ApiError) return e.status;
  if (e instanceof ValidationError) return 400;
  if (e instanceof NotFoundError) return 404;
  if (e instanceof StateError) return 409;
  if (e instanceof TransientError) return 503;
  if (e instanceof ConfigError) return 500;
  if (e instanceof KadiError) return 422;
  return 500;
}

export interface ErrorBody {
  error: {
    code: string;
    message: string;
    hint?: string;
    retryable: boolean;
    details?: Record<string, unknown>;
    requestId?: string;
  };
}

export function errorBody(code: string, message: string, extra: Omit<Partial<ErrorBody['error']>, 'code' | 'message'> = {}): ErrorBody {
  return { error: { code, message, retryable: false, ...extra } };
}

/** Masks long digit runs (national numbers, phone numbers) in text that is about to be logged. */
export function maskDigits(s: string): string {
  return s.replace(/\d{6,}/g, '[digits]');
}
