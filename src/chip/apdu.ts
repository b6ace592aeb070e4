/**
 * Command and response APDUs (ISO/IEC 7816-4:2020 §5.1, §5.3 "command chaining").
 *
 * Command APDU
 * ```
 *   header   CLA INS P1 P2                      always 4 bytes
 *   body     case 1   (empty)
 *            case 2S  Le                         Le 1 byte, '00' means 256
 *            case 3S  Lc Data                    Lc 1 byte '01'..'FF'
 *            case 4S  Lc Data Le
 *            case 2E  00 Le1 Le2                 Le 2 bytes, '0000' means 65 536
 *            case 3E  00 Lc1 Lc2 Data            Lc 2 bytes '0001'..'FFFF'
 *            case 4E  00 Lc1 Lc2 Data Le1 Le2    (Le 2 bytes, no leading 00, when Lc is present)
 * ```
 * Short and extended fields are never mixed in one APDU. Kadi models Le as Ne, the maximum number of bytes
 * expected in the response (1..65 536); `le: undefined` means no Le field. So "Le = 00" in a short APDU is
 * `le: 256` and "Le = 0000" in an extended APDU is `le: 65536`.
 *
 * Response APDU
 * ```
 *   [data] SW1 SW2          SW1SW2 = status word, '9000' = normal processing
 * ```
 *
 * Command chaining (CLA b5 = '10'): data longer than one command carries is sent as a chain of commands with the
 * same INS/P1/P2; every command but the last has CLA bit b5 set; only the last carries Le.
 */
import { concatBytes } from '../shared/index.ts';
import { ApduFormatError, byteHex } from './errors.ts';

/** CLA b5: command is not the last of a chain (ISO/IEC 7816-4 §5.4.1). */
export const CLA_CHAINING_BIT = 0x10;
/** Largest Lc / Ne of a short APDU. */
export const SHORT_MAX_DATA = 255;
export const SHORT_MAX_LE = 256;
/** Largest Lc / Ne of an extended APDU. */
export const EXTENDED_MAX_DATA = 65535;
export const EXTENDED_MAX_LE = 65536;
/** Bytes of a status word. */
export const SW_LENGTH = 2;

/** A command APDU. Immutable by convention: builders return fresh objects. */
export interface CommandApdu {
  readonly cla: number;
  readonly ins: number;
  readonly p1: number;
  readonly p2: number;
  /** Command data (absent or empty = no Lc field). */
  readonly data?: Uint8Array;
  /** Ne: maximum response data length expected, 1..65 536; undefined = no Le field. */
  readonly le?: number;
  /** Force extended length fields even when short ones would do. */
  readonly extended?: boolean;
}

/** A response APDU: data and the status word SW1SW2 as one number (0x9000). */
export interface ResponseApdu {
  readonly data: Uint8Array;
  readonly sw: number;
}

const EMPTY = new Uint8Array(0);

function checkByte(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new ApduFormatError(`${what} ${String(v)} is not a byte`);
}

/** Builds a command, checking header bytes and lengths. */
export function command(
  cla: number,
  ins: number,
  p1: number,
  p2: number,
  data?: Uint8Array,
  le?: number,
  extended?: boolean,
): CommandApdu {
  const c: CommandApdu = {
    cla,
    ins,
    p1,
    p2,
    ...(data && data.length > 0 ? { data } : {}),
    ...(le !== undefined ? { le } : {}),
    ...(extended ? { extended: true } : {}),
  };
  validateCommand(c);
  return c;
}

/** Throws {@link ApduFormatError} when the command cannot be encoded. */
export function validateCommand(c: CommandApdu): void {
  checkByte(c.cla, 'CLA');
  checkByte(c.ins, 'INS');
  checkByte(c.p1, 'P1');
  checkByte(c.p2, 'P2');
  const n = c.data?.length ?? 0;
  if (n > EXTENDED_MAX_DATA) throw new ApduFormatError(`command data of ${n} bytes exceeds ${EXTENDED_MAX_DATA}`);
  if (c.le !== undefined && (!Number.isInteger(c.le) || c.le < 1 || c.le > EXTENDED_MAX_LE)) {
    throw new ApduFormatError(`Ne ${String(c.le)} is outside 1..${EXTENDED_MAX_LE} (Le '00' is Ne 256)`);
  }
}

/** Whether the command needs (or asks for) extended length fields. */
export function isExtended(c: CommandApdu): boolean {
  return c.extended === true || (c.data?.length ?? 0) > SHORT_MAX_DATA || (c.le ?? 0) > SHORT_MAX_LE;
}

/** ISO 7816-4 case (1..4) of a command. */
export function commandCase(c: CommandApdu): 1 | 2 | 3 | 4 {
  const hasData = (c.data?.length ?? 0) > 0;
  const hasLe = c.le !== undefined;
  return hasData ? (hasLe ? 4 : 3) : hasLe ? 2 : 1;
}

/** Encoded size of a command without building it. */
export function encodedCommandLength(c: CommandApdu): number {
  const n = c.data?.length ?? 0;
  const ext = isExtended(c);
  let len = 4;
  if (n > 0) len += (ext ? 3 : 1) + n;
  if (c.le !== undefined) len += ext ? (n > 0 ? 2 : 3) : 1;
  return len;
}

/** Encodes a command APDU (short or extended, per {@link isExtended}). */
export function encodeCommand(c: CommandApdu): Uint8Array {
  validateCommand(c);
  const data = c.data ?? EMPTY;
  const n = data.length;
  const ext = isExtended(c);
  const out = new Uint8Array(encodedCommandLength(c));
  out[0] = c.cla;
  out[1] = c.ins;
  out[2] = c.p1;
  out[3] = c.p2;
  let o = 4;
  if (n > 0) {
    if (ext) {
      out[o++] = 0;
      out[o++] = n >>> 8;
      out[o++] = n & 0xff;
    } else {
      out[o++] = n;
    }
    out.set(data, o);
    o += n;
  }
  if (c.le !== undefined) {
    if (ext) {
      if (n === 0) out[o++] = 0;
      const le = c.le === EXTENDED_MAX_LE ? 0 : c.le;
      out[o++] = le >>> 8;
      out[o++] = le & 0xff;
    } else {
      out[o++] = c.le === SHORT_MAX_LE ? 0 : c.le;
    }
  }
  return out;
}

/**
 * Parses a command APDU (cases 1, 2S/E, 3S/E, 4S/E). `extended` is set on the result when extended fields were
 * used. Throws {@link ApduFormatError} for any other length.
 */
export function parseCommand(bytes: Uint8Array): CommandApdu {
  if (bytes.length < 4) throw new ApduFormatError(`command APDU of ${bytes.length} bytes is shorter than a header`);
  const [cla, ins, p1, p2] = [bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!];
  const len = bytes.length;
  const hdr = { cla, ins, p1, p2 };
  if (len === 4) return hdr; // case 1
  const b5 = bytes[4]!;
  if (len === 5) return { ...hdr, le: b5 === 0 ? SHORT_MAX_LE : b5 }; // case 2S
  if (b5 !== 0) {
    if (len === 5 + b5) return { ...hdr, data: bytes.subarray(5, 5 + b5) }; // case 3S
    if (len === 6 + b5) {
      const le = bytes[5 + b5]!;
      return { ...hdr, data: bytes.subarray(5, 5 + b5), le: le === 0 ? SHORT_MAX_LE : le }; // case 4S
    }
    throw new ApduFormatError(`command APDU length ${len} does not match Lc ${b5}`, { ins: byteHex(ins) });
  }
  // b5 = 00: extended
  if (len === 7) {
    const le = (bytes[5]! << 8) | bytes[6]!;
    return { ...hdr, le: le === 0 ? EXTENDED_MAX_LE : le, extended: true }; // case 2E
  }
  if (len < 7) throw new ApduFormatError(`command APDU length ${len} is not a valid case`, { ins: byteHex(ins) });
  const lc = (bytes[5]! << 8) | bytes[6]!;
  if (lc === 0) throw new ApduFormatError('extended Lc of 0', { ins: byteHex(ins) });
  if (len === 7 + lc) return { ...hdr, data: bytes.subarray(7, 7 + lc), extended: true }; // case 3E
  if (len === 9 + lc) {
    const le = (bytes[7 + lc]! << 8) | bytes[8 + lc]!;
    return { ...hdr, data: bytes.subarray(7, 7 + lc), le: le === 0 ? EXTENDED_MAX_LE : le, extended: true }; // 4E
  }
  throw new ApduFormatError(`command APDU length ${len} does not match extended Lc ${lc}`, { ins: byteHex(ins) });
}

/** A response from data and SW. */
export function response(data: Uint8Array, sw: number): ResponseApdu {
  return { data, sw: sw & 0xffff };
}

/** Encodes a response APDU (data || SW1 SW2). */
export function encodeResponse(r: ResponseApdu): Uint8Array {
  const out = new Uint8Array(r.data.length + 2);
  out.set(r.data, 0);
  out[r.data.length] = r.sw >>> 8;
  out[r.data.length + 1] = r.sw & 0xff;
  return out;
}

/**
 * Parses a response APDU. Throws {@link ApduFormatError} when shorter than a status word or when SW1 is not a
 * valid ISO SW1 ('6X' or '9X'); the session turns that into a `CARD_RESPONSE_MALFORMED` communication error.
 */
export function parseResponse(bytes: Uint8Array): ResponseApdu {
  if (bytes.length < SW_LENGTH) throw new ApduFormatError(`response of ${bytes.length} bytes has no status word`);
  const sw1 = bytes[bytes.length - 2]!;
  if ((sw1 & 0xf0) !== 0x60 && (sw1 & 0xf0) !== 0x90) {
    throw new ApduFormatError(`response SW1 ${byteHex(sw1)} is not an ISO 7816-4 status byte`);
  }
  return { data: bytes.subarray(0, bytes.length - 2), sw: (sw1 << 8) | bytes[bytes.length - 1]! };
}

/** SW1 and SW2 of a response. */
export function sw1(r: ResponseApdu | number): number {
  return (typeof r === 'number' ? r : r.sw) >>> 8;
}
export function sw2(r: ResponseApdu | number): number {
  return (typeof r === 'number' ? r : r.sw) & 0xff;
}

/**
 * Splits a command whose data exceeds `maxData` into a command chain (ISO/IEC 7816-4 §5.3.3): every part but the
 * last has CLA | '10'; Le only on the last. A command that fits is returned alone and unchanged.
 */
export function chainCommand(c: CommandApdu, maxData: number): CommandApdu[] {
  const data = c.data ?? EMPTY;
  if (maxData < 1) throw new ApduFormatError(`maximum command data ${maxData} is below 1`);
  if (data.length <= maxData) return [c];
  if ((c.cla & CLA_CHAINING_BIT) !== 0) throw new ApduFormatError('command already has the chaining bit set');
  const out: CommandApdu[] = [];
  for (let o = 0; o < data.length; o += maxData) {
    const part = data.subarray(o, Math.min(o + maxData, data.length));
    const last = o + maxData >= data.length;
    out.push({
      cla: last ? c.cla : c.cla | CLA_CHAINING_BIT,
      ins: c.ins,
      p1: c.p1,
      p2: c.p2,
      data: part,
      ...(last && c.le !== undefined ? { le: c.le } : {}),
      ...(c.extended ? { extended: true } : {}),
    });
  }
  return out;
}

/** Joins the data of a received chain (card side), checking that all parts share INS/P1/P2. */
export function joinChain(parts: readonly CommandApdu[]): CommandApdu {
  const last = parts[parts.length - 1];
  if (!last) throw new ApduFormatError('empty command chain');
  for (const p of parts) {
    if (p.ins !== last.ins || p.p1 !== last.p1 || p.p2 !== last.p2) {
      throw new ApduFormatError('command chain mixes instructions or parameters');
    }
  }
  return {
    cla: last.cla & ~CLA_CHAINING_BIT,
    ins: last.ins,
    p1: last.p1,
    p2: last.p2,
    data: concatBytes(...parts.map((p) => p.data ?? EMPTY)),
    ...(last.le !== undefined ? { le: last.le } : {}),
  };
}

/** Logical channel number encoded in a first-interindustry CLA (b2-b1) or further-interindustry CLA (b4-b1 + 4). */
export function logicalChannel(cla: number): number {
  if ((cla & 0x40) === 0) return cla & 0x03;
  return (cla & 0x0f) + 4;
}

/** Short header string for logs and traces ("00 A4 04 0C"). Never includes data. */
export function headerString(c: Pick<CommandApdu, 'cla' | 'ins' | 'p1' | 'p2'>): string {
  return `${byteHex(c.cla)} ${byteHex(c.ins)} ${byteHex(c.p1)} ${byteHex(c.p2)}`;
}
