/**
 * Status words (ISO/IEC 7816-4:2020 §5.6, Tables 5-7; GlobalPlatform Card Spec 2.3 §11.1.3) and the one place
 * they are checked: {@link checkSw}.
 *
 * ```
 *   9000       normal processing
 *   61XX       XX more bytes available (GET RESPONSE)            (process completed)
 *   62XX/63XX  warnings (state of non-volatile memory unchanged / changed)
 *   64XX/65XX  execution errors (memory unchanged / changed)
 *   67XX-6FXX  checking errors (wrong length, CLA function, command not allowed, parameters, INS, CLA)
 *   6CXX       wrong Le: XX is the exact length                  (resend with Le = XX)
 * ```
 */
import type { ResponseApdu } from './apdu.ts';
import { ApduError, swHex, type ApduErrorCommand } from './errors.ts';

export const SW_OK = 0x9000;
/** SW1 of "61XX: bytes remaining". */
export const SW1_BYTES_REMAINING = 0x61;
/** SW1 of "6CXX: wrong Le, exact length XX". */
export const SW1_WRONG_LE = 0x6c;
/** SW1 of "63CX" counters and warnings. */
export const SW1_WARNING_CHANGED = 0x63;
export const SW1_WARNING_UNCHANGED = 0x62;

export const SW_WARNING_NO_INFO = 0x6200;
export const SW_PART_OF_DATA_CORRUPTED = 0x6281;
export const SW_END_OF_FILE = 0x6282;
export const SW_SELECTED_FILE_DEACTIVATED = 0x6283;
export const SW_FCI_NOT_FORMATTED = 0x6284;
export const SW_SELECTED_FILE_TERMINATED = 0x6285;
export const SW_VERIFICATION_FAILED = 0x6300;
export const SW_FILE_FILLED_UP = 0x6381;
export const SW_EXECUTION_ERROR = 0x6400;
export const SW_MEMORY_FAILURE = 0x6581;
export const SW_WRONG_LENGTH = 0x6700;
export const SW_LOGICAL_CHANNEL_NOT_SUPPORTED = 0x6881;
export const SW_SECURE_MESSAGING_NOT_SUPPORTED = 0x6882;
export const SW_LAST_COMMAND_OF_CHAIN_EXPECTED = 0x6883;
export const SW_CHAINING_NOT_SUPPORTED = 0x6884;
export const SW_COMMAND_INCOMPATIBLE_WITH_FILE = 0x6981;
export const SW_SECURITY_STATUS_NOT_SATISFIED = 0x6982;
export const SW_AUTHENTICATION_METHOD_BLOCKED = 0x6983;
export const SW_REFERENCE_DATA_NOT_USABLE = 0x6984;
export const SW_CONDITIONS_NOT_SATISFIED = 0x6985;
export const SW_COMMAND_NOT_ALLOWED = 0x6986;
export const SW_SM_DATA_OBJECTS_MISSING = 0x6987;
export const SW_SM_DATA_OBJECTS_INCORRECT = 0x6988;
export const SW_WRONG_DATA = 0x6a80;
export const SW_FUNCTION_NOT_SUPPORTED = 0x6a81;
export const SW_FILE_NOT_FOUND = 0x6a82;
export const SW_RECORD_NOT_FOUND = 0x6a83;
export const SW_NOT_ENOUGH_MEMORY = 0x6a84;
export const SW_INCORRECT_P1P2 = 0x6a86;
export const SW_LC_INCONSISTENT_WITH_P1P2 = 0x6a87;
export const SW_REFERENCED_DATA_NOT_FOUND = 0x6a88;
export const SW_FILE_ALREADY_EXISTS = 0x6a89;
export const SW_DF_NAME_ALREADY_EXISTS = 0x6a8a;
export const SW_WRONG_P1P2 = 0x6b00;
export const SW_INS_NOT_SUPPORTED = 0x6d00;
export const SW_CLA_NOT_SUPPORTED = 0x6e00;
export const SW_NO_PRECISE_DIAGNOSIS = 0x6f00;

/** Named error codes per SW; an SW not listed gets `CARD_SW_<hex>`. */
const SW_NAMES: ReadonlyMap<number, { code: string; text: string }> = new Map([
  [SW_WARNING_NO_INFO, { code: 'CARD_WARNING', text: 'warning, no information given' }],
  [SW_PART_OF_DATA_CORRUPTED, { code: 'CARD_DATA_CORRUPTED', text: 'part of returned data may be corrupted' }],
  [SW_END_OF_FILE, { code: 'CARD_END_OF_FILE', text: 'end of file reached before reading Ne bytes' }],
  [SW_SELECTED_FILE_DEACTIVATED, { code: 'CARD_FILE_DEACTIVATED', text: 'selected file deactivated' }],
  [SW_FCI_NOT_FORMATTED, { code: 'CARD_FCI_NOT_FORMATTED', text: 'file control information not formatted' }],
  [SW_SELECTED_FILE_TERMINATED, { code: 'CARD_FILE_TERMINATED', text: 'selected file in termination state' }],
  [SW_VERIFICATION_FAILED, { code: 'CARD_VERIFICATION_FAILED', text: 'verification / authentication failed' }],
  [SW_FILE_FILLED_UP, { code: 'CARD_FILE_FILLED_UP', text: 'file filled up by the last write' }],
  [SW_EXECUTION_ERROR, { code: 'CARD_EXECUTION_ERROR', text: 'execution error, memory unchanged' }],
  [SW_MEMORY_FAILURE, { code: 'CARD_MEMORY_FAILURE', text: 'memory failure' }],
  [SW_WRONG_LENGTH, { code: 'CARD_WRONG_LENGTH', text: 'wrong length' }],
  [SW_LOGICAL_CHANNEL_NOT_SUPPORTED, { code: 'CARD_LOGICAL_CHANNEL_NOT_SUPPORTED', text: 'logical channel not supported' }],
  [SW_SECURE_MESSAGING_NOT_SUPPORTED, { code: 'CARD_SECURE_MESSAGING_NOT_SUPPORTED', text: 'secure messaging not supported' }],
  [SW_LAST_COMMAND_OF_CHAIN_EXPECTED, { code: 'CARD_LAST_COMMAND_OF_CHAIN_EXPECTED', text: 'last command of the chain expected' }],
  [SW_CHAINING_NOT_SUPPORTED, { code: 'CARD_CHAINING_NOT_SUPPORTED', text: 'command chaining not supported' }],
  [SW_COMMAND_INCOMPATIBLE_WITH_FILE, { code: 'CARD_COMMAND_INCOMPATIBLE_WITH_FILE', text: 'command incompatible with file structure' }],
  [SW_SECURITY_STATUS_NOT_SATISFIED, { code: 'CARD_SECURITY_STATUS_NOT_SATISFIED', text: 'security status not satisfied' }],
  [SW_AUTHENTICATION_METHOD_BLOCKED, { code: 'CARD_AUTHENTICATION_METHOD_BLOCKED', text: 'authentication method blocked' }],
  [SW_REFERENCE_DATA_NOT_USABLE, { code: 'CARD_REFERENCE_DATA_NOT_USABLE', text: 'reference data not usable' }],
  [SW_CONDITIONS_NOT_SATISFIED, { code: 'CARD_CONDITIONS_NOT_SATISFIED', text: 'conditions of use not satisfied' }],
  [SW_COMMAND_NOT_ALLOWED, { code: 'CARD_COMMAND_NOT_ALLOWED', text: 'command not allowed (no current EF)' }],
  [SW_SM_DATA_OBJECTS_MISSING, { code: 'CARD_SM_DATA_OBJECTS_MISSING', text: 'expected secure messaging data objects missing' }],
  [SW_SM_DATA_OBJECTS_INCORRECT, { code: 'CARD_SM_DATA_OBJECTS_INCORRECT', text: 'incorrect secure messaging data objects' }],
  [SW_WRONG_DATA, { code: 'CARD_WRONG_DATA', text: 'incorrect parameters in the command data field' }],
  [SW_FUNCTION_NOT_SUPPORTED, { code: 'CARD_FUNCTION_NOT_SUPPORTED', text: 'function not supported' }],
  [SW_FILE_NOT_FOUND, { code: 'CARD_FILE_NOT_FOUND', text: 'file or application not found' }],
  [SW_RECORD_NOT_FOUND, { code: 'CARD_RECORD_NOT_FOUND', text: 'record not found' }],
  [SW_NOT_ENOUGH_MEMORY, { code: 'CARD_NOT_ENOUGH_MEMORY', text: 'not enough memory space in the file' }],
  [SW_INCORRECT_P1P2, { code: 'CARD_INCORRECT_P1P2', text: 'incorrect parameters P1-P2' }],
  [SW_LC_INCONSISTENT_WITH_P1P2, { code: 'CARD_LC_INCONSISTENT', text: 'Lc inconsistent with P1-P2' }],
  [SW_REFERENCED_DATA_NOT_FOUND, { code: 'CARD_REFERENCED_DATA_NOT_FOUND', text: 'referenced data or reference data not found' }],
  [SW_FILE_ALREADY_EXISTS, { code: 'CARD_FILE_ALREADY_EXISTS', text: 'file already exists' }],
  [SW_DF_NAME_ALREADY_EXISTS, { code: 'CARD_DF_NAME_ALREADY_EXISTS', text: 'DF name already exists' }],
  [SW_WRONG_P1P2, { code: 'CARD_WRONG_P1P2', text: 'wrong parameters P1-P2 (offset outside the EF)' }],
  [SW_INS_NOT_SUPPORTED, { code: 'CARD_INS_NOT_SUPPORTED', text: 'instruction not supported' }],
  [SW_CLA_NOT_SUPPORTED, { code: 'CARD_CLA_NOT_SUPPORTED', text: 'class not supported' }],
  [SW_NO_PRECISE_DIAGNOSIS, { code: 'CARD_NO_PRECISE_DIAGNOSIS', text: 'no precise diagnosis' }],
]);

/** The stable error code for a status word (`CARD_SECURITY_STATUS_NOT_SATISFIED`, `CARD_SW_6F12`, ...). */
export function swCode(sw: number): string {
  const n = SW_NAMES.get(sw);
  if (n) return n.code;
  if (sw >>> 8 === SW1_WRONG_LE) return 'CARD_WRONG_LE';
  if ((sw & 0xfff0) === 0x63c0) return 'CARD_VERIFICATION_FAILED';
  return `CARD_SW_${swHex(sw)}`;
}

/** A short description of a status word. */
export function swText(sw: number): string {
  const n = SW_NAMES.get(sw);
  if (n) return n.text;
  const s1 = sw >>> 8;
  if (sw === SW_OK) return 'normal processing';
  if (s1 === SW1_BYTES_REMAINING) return `${sw & 0xff || 256} bytes remaining`;
  if (s1 === SW1_WRONG_LE) return `wrong Le, exact length ${sw & 0xff || 256}`;
  if ((sw & 0xfff0) === 0x63c0) return `verification failed, ${sw & 0x0f} tries left`;
  return 'unknown status';
}

/** Whether the SW is '9000' or a warning ('62XX', '63XX'). */
export function isSuccessOrWarning(sw: number): boolean {
  const s1 = sw >>> 8;
  return sw === SW_OK || s1 === SW1_WARNING_UNCHANGED || s1 === SW1_WARNING_CHANGED;
}

/** Builds the {@link ApduError} for a status word (without throwing it). */
export function apduError(sw: number, cmd?: ApduErrorCommand): ApduError {
  const what = cmd?.name ?? (cmd ? `INS ${cmd.ins.toString(16).toUpperCase().padStart(2, '0')}` : 'command');
  return new ApduError(swCode(sw), sw, `${what} failed: SW ${swHex(sw)} (${swText(sw)})`, cmd);
}

/**
 * THE status word check. Returns the response when its SW is one of `expected` (default: only '9000'); otherwise
 * throws {@link ApduError} carrying the SW, with a named code where ISO/GP name one. Never retryable.
 */
export function checkSw(resp: ResponseApdu, expected: number | readonly number[] = SW_OK, cmd?: ApduErrorCommand): ResponseApdu {
  if (typeof expected === 'number' ? resp.sw === expected : expected.includes(resp.sw)) return resp;
  throw apduError(resp.sw, cmd);
}
