/**
 * Kadi's error model: one class per outcome, each with a stable `code` that operators, logs and the API can
 * rely on, a human message saying what went wrong and what to do, and a clear retryable/unrecoverable split.
 * Retrying an unrecoverable error (a chip rejection) burns cards; only `retryable: true` errors may be retried.
 *
 * Messages must never carry personal data, PINs or key bytes: put identifiers (ids, labels, codes) only.
 */
export interface KadiErrorOptions {
  /** What the user can do about it (printed after the message). */
  hint?: string;
  /** Whether the same operation may succeed if simply tried again (transient I/O, busy resource). */
  retryable?: boolean;
  /** Machine-readable details (ids, codes, counts; never personal data). */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class KadiError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, opts: KadiErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = opts.hint;
    this.retryable = opts.retryable ?? false;
    this.details = opts.details;
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      retryable: this.retryable,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

/** Bad configuration: names the offending key. */
export class ConfigError extends KadiError {
  constructor(message: string, opts: KadiErrorOptions = {}) {
    super('CONFIG_INVALID', message, opts);
  }
}

/** Input that can never be processed as given (malformed records, bad files, bad arguments). */
export class ValidationError extends KadiError {}

/** A requested entity does not exist. */
export class NotFoundError extends KadiError {}

/** A card (or other entity) is not in the state an operation requires. */
export class StateError extends KadiError {}

/** A transient failure of an external service (database busy, Redis down); may be retried. */
export class TransientError extends KadiError {
  constructor(code: string, message: string, opts: KadiErrorOptions = {}) {
    super(code, message, { ...opts, retryable: true });
  }
}

export function isKadiError(e: unknown): e is KadiError {
  return e instanceof KadiError;
}
