/**
 * Box, shipment and seal codes: what is printed on labels (Code128 + QR) and scanned at every hand-over.
 *
 *   code  = PREFIX (2 letters) || id as 9 decimal digits || check digit      e.g. BX0000001237
 *   check = ICAO 9303-3 §4.9 weights 7-3-1 over the 9 digits, mod 10
 *
 * The check digit lets a scanner (or a person typing) tell a misread code (SCAN_MALFORMED_CODE) from a code that
 * is well formed but not known here (SCAN_UNKNOWN_CODE). Codes carry no personal data.
 */

export const CODE_PREFIX = { box: 'BX', shipment: 'SH', seal: 'SL' } as const;
export type CodeKind = keyof typeof CODE_PREFIX;

const ID_DIGITS = 9;
const MAX_ID = 10 ** ID_DIGITS - 1;
const WEIGHTS = [7, 3, 1] as const;

/** ICAO 7-3-1 check digit over a string of decimal digits. */
export function checkDigit(digits: string): number {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    const d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) throw new RangeError('checkDigit takes decimal digits only');
    sum += d * WEIGHTS[i % 3]!;
  }
  return sum % 10;
}

/** The printed code for an entity id, e.g. formatCode('box', 123) = 'BX0000001237'. */
export function formatCode(kind: CodeKind, id: number): string {
  if (!Number.isInteger(id) || id < 1 || id > MAX_ID) throw new RangeError(`${kind} id out of range for a code`);
  const digits = String(id).padStart(ID_DIGITS, '0');
  return `${CODE_PREFIX[kind]}${digits}${checkDigit(digits)}`;
}

export type ParsedCode =
  | { ok: true; kind: CodeKind; id: number; code: string }
  | { ok: false; problem: 'MALFORMED' | 'BAD_CHECK_DIGIT'; code: string };

const CODE_RE = /^([A-Z]{2})(\d{9})(\d)$/;

/** Parses a scanned or typed code (surrounding blanks and case are ignored). */
export function parseCode(input: string): ParsedCode {
  const code = input.trim().toUpperCase();
  const m = CODE_RE.exec(code);
  const kind = m ? (Object.keys(CODE_PREFIX) as CodeKind[]).find((k) => CODE_PREFIX[k] === m[1]) : undefined;
  if (!m || !kind) return { ok: false, problem: 'MALFORMED', code };
  if (checkDigit(m[2]!) !== Number(m[3])) return { ok: false, problem: 'BAD_CHECK_DIGIT', code };
  const id = Number(m[2]);
  if (id < 1) return { ok: false, problem: 'MALFORMED', code };
  return { ok: true, kind, id, code };
}
