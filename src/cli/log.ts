/**
 * Structured logs (pino, JSON lines on stderr). Log ids, codes, states and timings only — never names,
 * national numbers, photos, PINs or key bytes; the redaction list is a safety net, not a licence.
 */
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string, name = 'kadi'): Logger {
  return pino(
    {
      name,
      level,
      redact: {
        paths: ['pin', '*.pin', 'password', '*.password', 'surname', 'givenNames', '*.surname', '*.givenNames', 'nationalNumber', '*.nationalNumber', 'photo', '*.photo', 'key', '*.key'],
        censor: '[redacted]',
      },
    },
    pino.destination(2),
  );
}
