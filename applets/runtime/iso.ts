/**
 * Card-side ISO/IEC 7816-4 and GlobalPlatform constants, and the exception an applet throws to answer with a
 * status word (the Java Card `ISOException.throwIt(sw)` idiom).
 *
 * Status words (ISO/IEC 7816-4:2020 §5.6, Table 5-7; GP Card Spec 2.3 §11.1.3):
 * ```
 *   9000  normal processing                       61XX  XX more bytes: GET RESPONSE
 *   6282  end of file reached before Ne bytes     6283  selected file deactivated
 *   6300  authentication failed (GP EXT AUTH)     6581  memory failure
 *   6700  wrong length                            6881  logical channel not supported
 *   6882  secure messaging not supported          6883  last command of the chain expected
 *   6884  command chaining not supported          6982  security status not satisfied
 *   6983  authentication method blocked           6985  conditions of use not satisfied
 *   6986  command not allowed (no current EF)     6987  expected SM data objects missing
 *   6988  SM data objects incorrect               6A80  incorrect data field
 *   6A81  function not supported                  6A82  file or application not found
 *   6A84  not enough memory in the file           6A86  incorrect P1-P2
 *   6A88  referenced data not found               6A89  file already exists
 *   6B00  wrong P1-P2 (offset outside the EF)     6CXX  wrong Le: XX bytes available
 *   6D00  instruction not supported               6E00  class not supported
 *   6F00  no precise diagnosis
 * ```
 */

export const SW_NO_ERROR = 0x9000;
/** SW1 '61': SW2 more bytes are available with GET RESPONSE ('00' = 256 or more). */
export const SW1_BYTES_REMAINING = 0x61;
/** SW1 '6C': wrong Le, SW2 = the exact number of available bytes. */
export const SW1_CORRECT_LENGTH = 0x6c;
export const SW_END_OF_FILE = 0x6282;
export const SW_FILE_DEACTIVATED = 0x6283;
export const SW_AUTHENTICATION_FAILED = 0x6300;
export const SW_MEMORY_FAILURE = 0x6581;
export const SW_WRONG_LENGTH = 0x6700;
export const SW_LOGICAL_CHANNEL_NOT_SUPPORTED = 0x6881;
export const SW_SECURE_MESSAGING_NOT_SUPPORTED = 0x6882;
export const SW_LAST_COMMAND_EXPECTED = 0x6883;
export const SW_CHAINING_NOT_SUPPORTED = 0x6884;
export const SW_SECURITY_STATUS_NOT_SATISFIED = 0x6982;
export const SW_AUTHENTICATION_METHOD_BLOCKED = 0x6983;
export const SW_CONDITIONS_NOT_SATISFIED = 0x6985;
export const SW_COMMAND_NOT_ALLOWED = 0x6986;
export const SW_SM_DATA_MISSING = 0x6987;
export const SW_SM_DATA_INCORRECT = 0x6988;
export const SW_WRONG_DATA = 0x6a80;
export const SW_FUNCTION_NOT_SUPPORTED = 0x6a81;
export const SW_FILE_NOT_FOUND = 0x6a82;
export const SW_NOT_ENOUGH_MEMORY = 0x6a84;
export const SW_INCORRECT_P1P2 = 0x6a86;
export const SW_REFERENCED_DATA_NOT_FOUND = 0x6a88;
export const SW_FILE_EXISTS = 0x6a89;
export const SW_WRONG_P1P2 = 0x6b00;
export const SW_INS_NOT_SUPPORTED = 0x6d00;
export const SW_CLA_NOT_SUPPORTED = 0x6e00;
export const SW_UNKNOWN = 0x6f00;

/**
 * Instruction bytes (ISO/IEC 7816-4 §11, ISO/IEC 7816-8 §5, ICAO 9303-11 §4.3 and §6.1, GP Card Spec 2.3 §11).
 * INS '82' is EXTERNAL AUTHENTICATE in both worlds: GP class (CLA '8X') = SCP03, interindustry (CLA '0X') = ICAO BAC
 * "MUTUAL AUTHENTICATE" (which uses the EXTERNAL AUTHENTICATE instruction).
 */
export const INS_SELECT = 0xa4;
export const INS_READ_BINARY = 0xb0;
/** READ BINARY, odd INS: offset in data object '54', response in '53' (for offsets above 32 767). */
export const INS_READ_BINARY_ODD = 0xb1;
export const INS_UPDATE_BINARY = 0xd6;
/** UPDATE BINARY, odd INS: data field '54' offset || '53' data. */
export const INS_UPDATE_BINARY_ODD = 0xd7;
export const INS_CREATE_FILE = 0xe0;
export const INS_PUT_DATA = 0xda;
export const INS_GET_DATA = 0xca;
export const INS_GET_CHALLENGE = 0x84;
export const INS_EXTERNAL_AUTHENTICATE = 0x82;
export const INS_INTERNAL_AUTHENTICATE = 0x88;
/** GENERATE ASYMMETRIC KEY PAIR: '47' (ISO/IEC 7816-8:2019, what src/chip sends); '46' is accepted too. */
export const INS_GENERATE_ASYMMETRIC_KEY_PAIR = 0x47;
export const INS_GENERATE_ASYMMETRIC_KEY_PAIR_ALT = 0x46;
export const INS_GET_RESPONSE = 0xc0;
/** GlobalPlatform (CLA '80'/'84'). */
export const INS_INITIALIZE_UPDATE = 0x50;
export const INS_SET_STATUS = 0xf0;
export const INS_PUT_KEY = 0xd8;
export const INS_GET_STATUS = 0xf2;
export const INS_STORE_DATA = 0xe2;

/** CLA bits (ISO/IEC 7816-4 §5.4.1). */
export const CLA_PROPRIETARY = 0x80;
/** GP class: secure messaging indicated by b3 (CLA '84'). */
export const CLA_GP_SECURE_MESSAGING = 0x04;
/** Interindustry class b4-b3: '01' proprietary SM (SCP03 on ISO commands, CLA '04'), '10'/'11' ISO SM (CLA '08'/'0C'). */
export const CLA_ISO_SM_MASK = 0x0c;
export const CLA_CHAINING = 0x10;
/** CLA 'FF' is invalid (used by PPS / readers' pseudo-APDUs). */
export const CLA_INVALID = 0xff;

/** SELECT P1 (ISO/IEC 7816-4 §11.2.2, Table 63). */
export const SELECT_P1_FID = 0x00;
export const SELECT_P1_CHILD_DF = 0x01;
export const SELECT_P1_EF_UNDER_DF = 0x02;
export const SELECT_P1_PARENT_DF = 0x03;
export const SELECT_P1_DF_NAME = 0x04;
export const SELECT_P1_PATH_FROM_MF = 0x08;
export const SELECT_P1_PATH_FROM_DF = 0x09;
/** SELECT P2 b4-b3 (response data): '00' FCI, '04' FCP, '08' FMD, '0C' none; b2-b1 '00' first/only occurrence. */
export const SELECT_P2_RETURN_MASK = 0x0c;
export const SELECT_P2_FCI = 0x00;
export const SELECT_P2_FCP = 0x04;
export const SELECT_P2_NO_DATA = 0x0c;

/** File identifier of the master file. */
export const FID_MF = 0x3f00;

/** Whether CLA is a GlobalPlatform / proprietary class ('8X'-'FE'). */
export function isGpClass(cla: number): boolean {
  return (cla & CLA_PROPRIETARY) !== 0 && cla !== CLA_INVALID;
}

/** Interindustry class (first interindustry, '0X'-'3X'). */
export function isFirstInterindustry(cla: number): boolean {
  return (cla & 0xe0) === 0x00;
}

/**
 * Whether the command is SCP03-protected: GP class with b3 set ('84'), or interindustry class with b4-b3 = '01'
 * ('04', "proprietary secure messaging", which GP Amd D uses for SCP03 on ISO commands such as UPDATE BINARY).
 */
export function hasGpSecureMessaging(cla: number): boolean {
  if (isGpClass(cla)) return (cla & CLA_GP_SECURE_MESSAGING) !== 0;
  return isFirstInterindustry(cla) && (cla & CLA_ISO_SM_MASK) === CLA_GP_SECURE_MESSAGING;
}

/** Whether the command uses ISO secure messaging: interindustry class with b4 set ('08', '0C' = ICAO/BAC). */
export function hasIsoSecureMessaging(cla: number): boolean {
  return isFirstInterindustry(cla) && (cla & 0x08) !== 0;
}

/**
 * Thrown by card code to end the command with a status word (Java Card `ISOException.throwIt`). The runtime
 * answers with exactly this SW and no data. `reason` is a short note for the card's own debug log (never
 * returned to the terminal).
 */
export class CardStatus extends Error {
  constructor(
    readonly sw: number,
    readonly reason = '',
  ) {
    super(`SW ${sw.toString(16).toUpperCase().padStart(4, '0')}${reason ? `: ${reason}` : ''}`);
    this.name = 'CardStatus';
  }
}

/** Throws a {@link CardStatus}: `fail(SW_WRONG_LENGTH, 'Lc must be 8')`. */
export function fail(sw: number, reason = ''): never {
  throw new CardStatus(sw, reason);
}

/** Throws {@link SW_WRONG_LENGTH}... when `cond` is false. */
export function check(cond: unknown, sw: number, reason = ''): asserts cond {
  if (!cond) throw new CardStatus(sw, reason);
}
