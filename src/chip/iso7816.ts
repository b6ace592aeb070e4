/**
 * ISO/IEC 7816-4 (and 7816-8 for key generation) command builders. Pure: each returns a {@link CommandApdu};
 * sending and status word checks are the session's job.
 *
 * | command                          | CLA | INS  | P1                     | P2                       | data            | Le  |
 * |----------------------------------|-----|------|------------------------|--------------------------|-----------------|-----|
 * | SELECT                           | 00  | A4   | selection (below)      | response/occurrence      | FID / AID / path| opt |
 * | READ BINARY                      | 00  | B0   | offset hi / 80+SFI     | offset lo                | -               | Ne  |
 * | READ BINARY (odd)                | 00  | B1   | file id hi (00)        | file id lo (00 = current)| 54 offset       | Ne  |
 * | UPDATE BINARY                    | 00  | D6   | offset hi / 80+SFI     | offset lo                | data            | -   |
 * | UPDATE BINARY (odd)              | 00  | D7   | file id hi             | file id lo               | 54 offset 53 data | - |
 * | CREATE FILE                      | 00  | E0   | 00                     | 00                       | FCP '62'        | -   |
 * | DELETE FILE                      | 00  | E4   | 00                     | 00                       | [FID]           | -   |
 * | ACTIVATE FILE                    | 00  | 44   | 00                     | 00                       | [FID]           | -   |
 * | GET DATA / PUT DATA              | 00  | CA/DA| tag hi                 | tag lo                   | - / data        | Ne/-|
 * | GENERATE ASYMMETRIC KEY PAIR     | 00  | 47   | 00/80 generate, 81 read| key reference / 00       | [CRT]           | Ne  |
 * | INTERNAL AUTHENTICATE            | 00  | 88   | algorithm (00)         | key reference (00)       | challenge       | Ne  |
 * | EXTERNAL / MUTUAL AUTHENTICATE   | 00  | 82   | algorithm (00)         | key reference (00)       | auth data       | opt |
 * | GET CHALLENGE                    | 00  | 84   | 00                     | 00                       | -               | Ne  |
 * | GET RESPONSE                     | 00  | C0   | 00                     | 00                       | -               | Ne  |
 *
 * SELECT P1: 00 MF/DF/EF by FID, 01 child DF, 02 EF under the current DF, 03 parent DF, 04 by DF name (AID),
 * 08 path from the MF, 09 path from the current DF.
 * SELECT P2: b4-b3 = 00 FCI, 04 FCP, 08 FMD, 0C no response data; b2-b1 = 00 first, 01 last, 02 next, 03 previous.
 *
 * File control parameters (FCP template '62', ISO/IEC 7816-4 §7.4.3 Table 12):
 * ```
 *   80 number of data bytes (file size, excluding structural information), 2+ bytes
 *   81 number of data bytes including structural information
 *   82 file descriptor byte [data coding byte [max record size [number of records]]]
 *        FDB '01' transparent working EF, '38' DF
 *   83 file identifier (2 bytes)
 *   84 DF name (AID)
 *   85 proprietary information (primitive)       A5 (constructed)
 *   86 security attributes, proprietary format   8C compact format   AB expanded format
 *   88 short EF identifier: one byte, b8-b4 = SFI, b3-b1 = 000
 *   8A life cycle status: 01 creation, 03 initialisation, 05 operational activated, 04 deactivated, 0C-0F terminated
 * ```
 */
import { concatBytes } from '../shared/index.ts';
import { encodeTlv, parseTlv, parseTlvList, type TlvNode } from '../tlv/index.ts';
import { SHORT_MAX_LE, command, type CommandApdu } from './apdu.ts';
import { ApduFormatError } from './errors.ts';

export const CLA_ISO = 0x00;

export const INS_SELECT = 0xa4;
export const INS_READ_BINARY = 0xb0;
export const INS_READ_BINARY_ODD = 0xb1;
export const INS_UPDATE_BINARY = 0xd6;
export const INS_UPDATE_BINARY_ODD = 0xd7;
export const INS_CREATE_FILE = 0xe0;
export const INS_DELETE_FILE = 0xe4;
export const INS_ACTIVATE_FILE = 0x44;
export const INS_DEACTIVATE_FILE = 0x04;
export const INS_GET_DATA = 0xca;
export const INS_GET_DATA_ODD = 0xcb;
export const INS_PUT_DATA = 0xda;
export const INS_PUT_DATA_ODD = 0xdb;
export const INS_GENERATE_ASYMMETRIC_KEY_PAIR = 0x47;
export const INS_INTERNAL_AUTHENTICATE = 0x88;
export const INS_EXTERNAL_AUTHENTICATE = 0x82;
/** MUTUAL AUTHENTICATE shares INS '82' with EXTERNAL AUTHENTICATE (ICAO BAC uses it that way). */
export const INS_MUTUAL_AUTHENTICATE = 0x82;
export const INS_GET_CHALLENGE = 0x84;
export const INS_GET_RESPONSE = 0xc0;
export const INS_MANAGE_SECURITY_ENVIRONMENT = 0x22;

/** SELECT P1 values. */
export const SELECT_P1_BY_FID = 0x00;
export const SELECT_P1_CHILD_DF = 0x01;
export const SELECT_P1_EF_UNDER_CURRENT_DF = 0x02;
export const SELECT_P1_PARENT_DF = 0x03;
export const SELECT_P1_BY_DF_NAME = 0x04;
export const SELECT_P1_PATH_FROM_MF = 0x08;
export const SELECT_P1_PATH_FROM_CURRENT_DF = 0x09;
/** SELECT P2 response bits (b4-b3). */
export const SELECT_P2_FCI = 0x00;
export const SELECT_P2_FCP = 0x04;
export const SELECT_P2_FMD = 0x08;
export const SELECT_P2_NO_RESPONSE = 0x0c;
/** SELECT P2 occurrence bits (b2-b1). */
export const SELECT_P2_FIRST = 0x00;
export const SELECT_P2_LAST = 0x01;
export const SELECT_P2_NEXT = 0x02;
export const SELECT_P2_PREVIOUS = 0x03;

/** FID of the master file. */
export const FID_MF = 0x3f00;

/** READ/UPDATE BINARY P1 b8: P1 b5-b1 is an SFI, P2 the offset (0..255). */
export const P1_SFI = 0x80;
/** Largest offset of the even-INS READ/UPDATE BINARY (15 bits). */
export const MAX_EVEN_OFFSET = 0x7fff;
/** Largest offset with SFI addressing. */
export const MAX_SFI_OFFSET = 0xff;

/** Data object tags of odd-INS data unit commands. */
export const TAG_OFFSET = 0x54;
export const TAG_DISCRETIONARY_DATA = 0x53;

/** File control templates and their data objects. */
export const TAG_FCP = 0x62;
export const TAG_FMD = 0x64;
export const TAG_FCI = 0x6f;
export const FCP_FILE_SIZE = 0x80;
export const FCP_TOTAL_SIZE = 0x81;
export const FCP_FILE_DESCRIPTOR = 0x82;
export const FCP_FILE_ID = 0x83;
export const FCP_DF_NAME = 0x84;
export const FCP_PROPRIETARY = 0x85;
export const FCP_SECURITY_ATTRIBUTES_PROPRIETARY = 0x86;
export const FCP_SFI = 0x88;
export const FCP_LIFE_CYCLE_STATUS = 0x8a;
export const FCP_SECURITY_ATTRIBUTES_COMPACT = 0x8c;
export const FCP_SECURITY_ATTRIBUTES_EXPANDED = 0xab;
export const FCP_PROPRIETARY_CONSTRUCTED = 0xa5;

/** File descriptor bytes. */
export const FDB_TRANSPARENT_EF = 0x01;
export const FDB_LINEAR_FIXED_EF = 0x02;
export const FDB_LINEAR_VARIABLE_EF = 0x04;
export const FDB_CYCLIC_EF = 0x06;
export const FDB_DF = 0x38;

/** Life cycle status bytes (ISO/IEC 7816-4 §7.4.10 Table 15). */
export const LCS_CREATION = 0x01;
export const LCS_INITIALISATION = 0x03;
export const LCS_OPERATIONAL_ACTIVATED = 0x05;
export const LCS_OPERATIONAL_DEACTIVATED = 0x04;
export const LCS_TERMINATED = 0x0c;

/** GENERATE ASYMMETRIC KEY PAIR P1 (ISO/IEC 7816-8 §5.1). */
export const GENERATE_KEY_P1_DEFAULT = 0x00;
export const GENERATE_KEY_P1_GENERATE = 0x80;
export const GENERATE_KEY_P1_READ_PUBLIC = 0x81;
/** Public key data objects (ISO/IEC 7816-8 Table 3). */
export const TAG_PUBLIC_KEY_TEMPLATE = 0x7f49;
export const TAG_RSA_MODULUS = 0x81;
export const TAG_RSA_EXPONENT = 0x82;
export const TAG_EC_PRIME = 0x81;
export const TAG_EC_A = 0x82;
export const TAG_EC_B = 0x83;
export const TAG_EC_GENERATOR = 0x84;
export const TAG_EC_ORDER = 0x85;
export const TAG_EC_PUBLIC_POINT = 0x86;
export const TAG_EC_COFACTOR = 0x87;

function u16(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new ApduFormatError(`${what} ${String(v)} is not 2 bytes`);
}

function be(n: number, minBytes = 1): Uint8Array {
  const out: number[] = [];
  let v = n;
  do {
    out.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  while (out.length < minBytes) out.unshift(0);
  return Uint8Array.from(out);
}

function readBe(b: Uint8Array): number {
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}

// -------------------------------------------------------------------------------------------------------------
// SELECT

export type SelectResponse = 'fci' | 'fcp' | 'fmd' | 'none';
export type SelectOccurrence = 'first' | 'last' | 'next' | 'previous';

export interface SelectOptions {
  /** What the card returns: FCI, FCP, FMD or nothing (default). */
  response?: SelectResponse;
  occurrence?: SelectOccurrence;
  cla?: number;
  /** Ne when a response is asked for; default 256. */
  le?: number;
}

const RESPONSE_BITS: Record<SelectResponse, number> = {
  fci: SELECT_P2_FCI,
  fcp: SELECT_P2_FCP,
  fmd: SELECT_P2_FMD,
  none: SELECT_P2_NO_RESPONSE,
};
const OCCURRENCE_BITS: Record<SelectOccurrence, number> = {
  first: SELECT_P2_FIRST,
  last: SELECT_P2_LAST,
  next: SELECT_P2_NEXT,
  previous: SELECT_P2_PREVIOUS,
};

/** The SELECT P2 byte for a response kind and occurrence. */
export function selectP2(response: SelectResponse = 'none', occurrence: SelectOccurrence = 'first'): number {
  return RESPONSE_BITS[response] | OCCURRENCE_BITS[occurrence];
}

/** SELECT with explicit P1. */
export function select(p1: number, data: Uint8Array | undefined, opts: SelectOptions = {}): CommandApdu {
  const response = opts.response ?? 'none';
  return command(
    opts.cla ?? CLA_ISO,
    INS_SELECT,
    p1,
    selectP2(response, opts.occurrence),
    data,
    response === 'none' ? undefined : (opts.le ?? SHORT_MAX_LE),
  );
}

/** SELECT by DF name (application identifier): P1 = 04. The AID is 5 to 16 bytes (empty selects the default). */
export function selectByAid(aid: Uint8Array, opts: SelectOptions = {}): CommandApdu {
  if (aid.length > 16) throw new ApduFormatError(`AID of ${aid.length} bytes (at most 16)`);
  return select(SELECT_P1_BY_DF_NAME, aid, opts);
}

/**
 * SELECT by file identifier. `scope` picks P1: 'any' 00, 'child-df' 01, 'ef' 02 (EF under the current DF: what
 * ICAO readers use, e.g. `00 A4 02 0C 02 01 1E` for EF.COM).
 */
export function selectByFid(
  fid: number,
  opts: SelectOptions & { scope?: 'any' | 'child-df' | 'ef' } = {},
): CommandApdu {
  u16(fid, 'file identifier');
  const p1 =
    opts.scope === 'child-df' ? SELECT_P1_CHILD_DF : opts.scope === 'any' ? SELECT_P1_BY_FID : SELECT_P1_EF_UNDER_CURRENT_DF;
  return select(p1, be(fid, 2), opts);
}

/** SELECT the MF (P1 00, data 3F00). */
export function selectMf(opts: SelectOptions = {}): CommandApdu {
  return select(SELECT_P1_BY_FID, be(FID_MF, 2), opts);
}

/** SELECT the parent DF (P1 03, no data). */
export function selectParent(opts: SelectOptions = {}): CommandApdu {
  return select(SELECT_P1_PARENT_DF, undefined, opts);
}

/** SELECT by path (FIDs without the MF), from the MF (P1 08) or from the current DF (P1 09). */
export function selectByPath(path: readonly number[], opts: SelectOptions & { fromMf?: boolean } = {}): CommandApdu {
  if (path.length === 0) throw new ApduFormatError('empty path');
  const data = concatBytes(...path.map((f) => (u16(f, 'file identifier'), be(f, 2))));
  return select(opts.fromMf === false ? SELECT_P1_PATH_FROM_CURRENT_DF : SELECT_P1_PATH_FROM_MF, data, opts);
}

// -------------------------------------------------------------------------------------------------------------
// File control parameters, CREATE FILE

/** A security attribute data object of an FCP (tag 86, 8C, AB, ...), value as given. */
export interface SecurityAttribute {
  tag: number;
  value: Uint8Array;
}

/** File control parameters (what CREATE FILE takes and SELECT may return). */
export interface FileControlParameters {
  /** File descriptor byte (FDB_TRANSPARENT_EF, FDB_DF, ...). */
  fileDescriptor: number;
  /** Data coding byte (second byte of tag 82), optional. */
  dataCoding?: number;
  fileId?: number;
  /** Number of data bytes (tag 80). */
  size?: number;
  /** Number of bytes including structural information (tag 81). */
  totalSize?: number;
  dfName?: Uint8Array;
  /** Short EF identifier 1..30 (tag 88 carries it as SFI << 3). */
  sfi?: number;
  /** Life cycle status byte (tag 8A). */
  lifeCycle?: number;
  securityAttributes?: SecurityAttribute[];
  /** Proprietary information (tag 85). */
  proprietary?: Uint8Array;
}

/** Encodes an FCP template ('62'), data objects in tag order 82, 83, 84, 80, 81, 88, 8A, 85, security. */
export function encodeFcp(f: FileControlParameters): Uint8Array {
  const parts: Uint8Array[] = [];
  parts.push(
    encodeTlv(
      FCP_FILE_DESCRIPTOR,
      f.dataCoding === undefined ? Uint8Array.of(f.fileDescriptor) : Uint8Array.of(f.fileDescriptor, f.dataCoding),
    ),
  );
  if (f.fileId !== undefined) {
    u16(f.fileId, 'file identifier');
    parts.push(encodeTlv(FCP_FILE_ID, be(f.fileId, 2)));
  }
  if (f.dfName) parts.push(encodeTlv(FCP_DF_NAME, f.dfName));
  if (f.size !== undefined) parts.push(encodeTlv(FCP_FILE_SIZE, be(f.size, 2)));
  if (f.totalSize !== undefined) parts.push(encodeTlv(FCP_TOTAL_SIZE, be(f.totalSize, 2)));
  if (f.sfi !== undefined) {
    if (!Number.isInteger(f.sfi) || f.sfi < 1 || f.sfi > 30) throw new ApduFormatError(`SFI ${f.sfi} outside 1..30`);
    parts.push(encodeTlv(FCP_SFI, Uint8Array.of(f.sfi << 3)));
  }
  if (f.lifeCycle !== undefined) parts.push(encodeTlv(FCP_LIFE_CYCLE_STATUS, Uint8Array.of(f.lifeCycle)));
  if (f.proprietary) parts.push(encodeTlv(FCP_PROPRIETARY, f.proprietary));
  for (const a of f.securityAttributes ?? []) parts.push(encodeTlv(a.tag, a.value));
  return encodeTlv(TAG_FCP, concatBytes(...parts));
}

/**
 * Parses an FCP ('62') or FCI ('6F', whose FCP data objects sit directly inside) template. Unknown data objects
 * are ignored; security attributes (86, 8B, 8C, 8E, A0-AF) are kept as given.
 */
export function parseFcp(bytes: Uint8Array): FileControlParameters {
  const root = parseTlv(bytes, { recurse: false });
  if (root.tag !== TAG_FCP && root.tag !== TAG_FCI) {
    throw new ApduFormatError(`file control template tag ${root.tag.toString(16)} (62 or 6F expected)`);
  }
  const out: FileControlParameters = { fileDescriptor: 0 };
  const sec: SecurityAttribute[] = [];
  let fdbSeen = false;
  for (const n of parseTlvList(root.value, { recurse: false }) as TlvNode[]) {
    switch (n.tag) {
      case FCP_FILE_DESCRIPTOR:
        if (n.value.length < 1) throw new ApduFormatError('empty file descriptor');
        out.fileDescriptor = n.value[0]!;
        if (n.value.length >= 2) out.dataCoding = n.value[1]!;
        fdbSeen = true;
        break;
      case FCP_FILE_ID:
        out.fileId = readBe(n.value);
        break;
      case FCP_DF_NAME:
        out.dfName = n.value.slice();
        break;
      case FCP_FILE_SIZE:
        out.size = readBe(n.value);
        break;
      case FCP_TOTAL_SIZE:
        out.totalSize = readBe(n.value);
        break;
      case FCP_SFI:
        if (n.value.length === 1) out.sfi = n.value[0]! >>> 3;
        break;
      case FCP_LIFE_CYCLE_STATUS:
        if (n.value.length === 1) out.lifeCycle = n.value[0]!;
        break;
      case FCP_PROPRIETARY:
        out.proprietary = n.value.slice();
        break;
      default:
        if (n.tag === 0x86 || n.tag === 0x8b || n.tag === 0x8c || n.tag === 0x8e || (n.tag >= 0xa0 && n.tag <= 0xaf)) {
          sec.push({ tag: n.tag, value: n.value.slice() });
        }
    }
  }
  if (!fdbSeen && root.tag === TAG_FCP) throw new ApduFormatError('FCP without file descriptor (82)');
  if (sec.length > 0) out.securityAttributes = sec;
  return out;
}

/** CREATE FILE (INS E0) with an FCP template. */
export function createFile(fcp: FileControlParameters, opts: { cla?: number } = {}): CommandApdu {
  return command(opts.cla ?? CLA_ISO, INS_CREATE_FILE, 0x00, 0x00, encodeFcp(fcp));
}

/** A transparent working EF of `size` bytes (what an LDS data group is), in creation state unless told. */
export function createTransparentEf(
  fileId: number,
  size: number,
  opts: { sfi?: number; lifeCycle?: number; securityAttributes?: SecurityAttribute[]; cla?: number } = {},
): CommandApdu {
  return createFile(
    {
      fileDescriptor: FDB_TRANSPARENT_EF,
      fileId,
      size,
      ...(opts.sfi !== undefined ? { sfi: opts.sfi } : {}),
      ...(opts.lifeCycle !== undefined ? { lifeCycle: opts.lifeCycle } : {}),
      ...(opts.securityAttributes ? { securityAttributes: opts.securityAttributes } : {}),
    },
    opts.cla !== undefined ? { cla: opts.cla } : {},
  );
}

/** DELETE FILE (INS E4): the given EF/DF by FID, or the current file. */
export function deleteFile(fid?: number, opts: { cla?: number } = {}): CommandApdu {
  if (fid !== undefined) u16(fid, 'file identifier');
  return command(opts.cla ?? CLA_ISO, INS_DELETE_FILE, 0x00, 0x00, fid === undefined ? undefined : be(fid, 2));
}

/** ACTIVATE FILE (INS 44): the given file by FID, or the current file. */
export function activateFile(fid?: number, opts: { cla?: number } = {}): CommandApdu {
  if (fid !== undefined) u16(fid, 'file identifier');
  return command(opts.cla ?? CLA_ISO, INS_ACTIVATE_FILE, 0x00, 0x00, fid === undefined ? undefined : be(fid, 2));
}

// -------------------------------------------------------------------------------------------------------------
// READ / UPDATE BINARY

export interface DataUnitOptions {
  /** Address the EF by short identifier (1..30) instead of the current EF; offset must then be <= 255. */
  sfi?: number;
  /** For the odd-INS forms (offsets > 32 767): the EF's file identifier in P1-P2; default 0000 = current EF. */
  fileId?: number;
  cla?: number;
}

function checkSfi(sfi: number, offset: number): void {
  if (!Number.isInteger(sfi) || sfi < 1 || sfi > 30) throw new ApduFormatError(`SFI ${sfi} outside 1..30`);
  if (offset > MAX_SFI_OFFSET) throw new ApduFormatError(`offset ${offset} too large for SFI addressing (max 255)`);
}

function checkOffset(offset: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset > 0xffffff) throw new ApduFormatError(`offset ${offset} out of range`);
}

/** The offset data object '54' (minimal big-endian, at least 2 bytes). */
export function offsetDataObject(offset: number): Uint8Array {
  return encodeTlv(TAG_OFFSET, be(offset, 2));
}

/**
 * UPDATE BINARY. Offsets up to 32 767 use INS D6 with the offset in P1-P2 (or SFI in P1 and offset in P2 when
 * `sfi` is given); larger offsets use the odd INS D7 with '54' offset and '53' data objects.
 */
export function updateBinary(offset: number, data: Uint8Array, opts: DataUnitOptions = {}): CommandApdu {
  checkOffset(offset);
  const cla = opts.cla ?? CLA_ISO;
  if (opts.sfi !== undefined) {
    checkSfi(opts.sfi, offset);
    return command(cla, INS_UPDATE_BINARY, P1_SFI | opts.sfi, offset, data);
  }
  if (offset <= MAX_EVEN_OFFSET) return command(cla, INS_UPDATE_BINARY, offset >>> 8, offset & 0xff, data);
  const fid = opts.fileId ?? 0;
  u16(fid, 'file identifier');
  return command(cla, INS_UPDATE_BINARY_ODD, fid >>> 8, fid & 0xff, concatBytes(offsetDataObject(offset), encodeTlv(TAG_DISCRETIONARY_DATA, data)));
}

/**
 * READ BINARY of up to `le` bytes (Ne, 1..65 536) from `offset`. Offsets above 32 767 use the odd INS B1 (the
 * response is then a '53' data object: see {@link parseOddDataResponse}).
 */
export function readBinary(offset: number, le: number, opts: DataUnitOptions = {}): CommandApdu {
  checkOffset(offset);
  const cla = opts.cla ?? CLA_ISO;
  if (opts.sfi !== undefined) {
    checkSfi(opts.sfi, offset);
    return command(cla, INS_READ_BINARY, P1_SFI | opts.sfi, offset, undefined, le);
  }
  if (offset <= MAX_EVEN_OFFSET) return command(cla, INS_READ_BINARY, offset >>> 8, offset & 0xff, undefined, le);
  const fid = opts.fileId ?? 0;
  u16(fid, 'file identifier');
  return command(cla, INS_READ_BINARY_ODD, fid >>> 8, fid & 0xff, offsetDataObject(offset), le);
}

/** The content of the '53' discretionary data object(s) of an odd-INS READ BINARY response. */
export function parseOddDataResponse(data: Uint8Array): Uint8Array {
  const parts = parseTlvList(data, { recurse: false }).filter((n) => n.tag === TAG_DISCRETIONARY_DATA || n.tag === 0x73);
  if (parts.length === 0) throw new ApduFormatError("odd-INS response has no '53' data object");
  return concatBytes(...parts.map((p) => p.value));
}

/** Size of the odd-INS UPDATE BINARY data field for `n` data bytes at `offset`. */
function oddUpdateOverhead(offset: number, n: number): number {
  const off = be(offset, 2).length;
  return 2 + off + 1 + (n < 0x80 ? 1 : n <= 0xff ? 2 : 3);
}

/**
 * Writes `data` into a transparent EF in the fewest UPDATE BINARY commands whose data field is at most
 * `maxCommandData` bytes (the card's limit, minus secure messaging overhead: see `SecureChannel.maxPlainData`).
 * Even INS D6 while the start offset is <= 32 767 (a chunk may run past it), odd INS D7 beyond. With `sfi`, the
 * first command addresses the EF by SFI (saving a SELECT) when its offset is <= 255.
 */
export function updateBinaryCommands(
  data: Uint8Array,
  opts: DataUnitOptions & { maxCommandData: number; offset?: number },
): CommandApdu[] {
  const max = opts.maxCommandData;
  if (!Number.isInteger(max) || max < 1) throw new ApduFormatError(`maximum command data ${max} is below 1`);
  const out: CommandApdu[] = [];
  let at = 0;
  let offset = opts.offset ?? 0;
  const base: DataUnitOptions = {
    ...(opts.fileId !== undefined ? { fileId: opts.fileId } : {}),
    ...(opts.cla !== undefined ? { cla: opts.cla } : {}),
  };
  while (at < data.length) {
    let n: number;
    if (offset <= MAX_EVEN_OFFSET) {
      n = Math.min(max, data.length - at);
    } else {
      n = Math.min(data.length - at, max - oddUpdateOverhead(offset, Math.min(max, data.length - at)));
      while (n > 0 && n + oddUpdateOverhead(offset, n) > max) n--;
      if (n < 1) throw new ApduFormatError(`maximum command data ${max} leaves no room for odd-INS UPDATE BINARY`);
    }
    const useSfi = out.length === 0 && opts.sfi !== undefined && offset <= MAX_SFI_OFFSET;
    out.push(updateBinary(offset, data.subarray(at, at + n), useSfi ? { ...base, sfi: opts.sfi! } : base));
    at += n;
    offset += n;
  }
  return out;
}

/** The minimum number of UPDATE BINARY commands for `length` bytes at `maxCommandData` (for APDU budgets). */
export function minimumUpdateBinaryCount(length: number, maxCommandData: number, offset = 0): number {
  return updateBinaryCommands(new Uint8Array(length), { maxCommandData, offset }).length;
}

/** Bytes the '53' wrapper of an odd-INS READ BINARY response costs at most ('53 82 XX XX'). */
export const ODD_RESPONSE_OVERHEAD = 4;

/**
 * READ BINARY commands for `length` bytes from `offset`, each asking for at most `maxResponseData` bytes (odd
 * INS B1 beyond offset 32 767: Ne then counts the '53' wrapper too). A plan: a card may return fewer bytes than
 * asked (end of file), so a reader advances by what came back (`readTransparentFile` in the session does).
 */
export function readBinaryCommands(
  length: number,
  opts: DataUnitOptions & { maxResponseData: number; offset?: number },
): CommandApdu[] {
  const out: CommandApdu[] = [];
  let offset = opts.offset ?? 0;
  const end = offset + length;
  const base: DataUnitOptions = {
    ...(opts.fileId !== undefined ? { fileId: opts.fileId } : {}),
    ...(opts.cla !== undefined ? { cla: opts.cla } : {}),
  };
  while (offset < end) {
    const odd = offset > MAX_EVEN_OFFSET;
    const n = Math.min(odd ? opts.maxResponseData - ODD_RESPONSE_OVERHEAD : opts.maxResponseData, end - offset);
    if (n < 1) throw new ApduFormatError(`maximum response data ${opts.maxResponseData} too small`);
    const useSfi = out.length === 0 && opts.sfi !== undefined && offset <= MAX_SFI_OFFSET;
    out.push(readBinary(offset, odd ? n + ODD_RESPONSE_OVERHEAD : n, useSfi ? { ...base, sfi: opts.sfi! } : base));
    offset += n;
  }
  return out;
}

// -------------------------------------------------------------------------------------------------------------
// GET DATA / PUT DATA

/** GET DATA (INS CA) of the data object with tag `tag` (P1-P2, '00XX' for a one-byte tag). */
export function getData(tag: number, opts: { le?: number; cla?: number } = {}): CommandApdu {
  u16(tag, 'tag');
  return command(opts.cla ?? CLA_ISO, INS_GET_DATA, tag >>> 8, tag & 0xff, undefined, opts.le ?? SHORT_MAX_LE);
}

/** PUT DATA (INS DA) of `data` under tag `tag` (P1-P2). */
export function putData(tag: number, data: Uint8Array, opts: { cla?: number } = {}): CommandApdu {
  u16(tag, 'tag');
  return command(opts.cla ?? CLA_ISO, INS_PUT_DATA, tag >>> 8, tag & 0xff, data);
}

/** PUT DATA with odd INS (DB): P1-P2 = file identifier (or 3FFF current DF), data = BER-TLV data objects. */
export function putDataOdd(fileId: number, data: Uint8Array, opts: { cla?: number } = {}): CommandApdu {
  u16(fileId, 'file identifier');
  return command(opts.cla ?? CLA_ISO, INS_PUT_DATA_ODD, fileId >>> 8, fileId & 0xff, data);
}

// -------------------------------------------------------------------------------------------------------------
// Keys and authentication

/**
 * GENERATE ASYMMETRIC KEY PAIR (ISO/IEC 7816-8 §5.1, INS 47). P1 '00' (default: generate, no further
 * information — what Kadi's eID applet takes for its Active Authentication key), '80' generate (the OpenPGP-card
 * style), '81' read the public key of an existing pair; P2 = key reference; optional control reference template
 * in the data field. Cards answer with the public key: a template '7F49' (see {@link parsePublicKeyTemplate}) or,
 * as Kadi's eID applet does, a DER SubjectPublicKeyInfo.
 */
export function generateAsymmetricKeyPair(
  opts: { p1?: number; keyReference?: number; crt?: Uint8Array; le?: number; cla?: number } = {},
): CommandApdu {
  return command(
    opts.cla ?? CLA_ISO,
    INS_GENERATE_ASYMMETRIC_KEY_PAIR,
    opts.p1 ?? GENERATE_KEY_P1_DEFAULT,
    opts.keyReference ?? 0x00,
    opts.crt,
    opts.le ?? SHORT_MAX_LE,
  );
}

/** Public key data objects of a '7F49' template, by tag (86 = EC point, 81/82 = RSA modulus/exponent, ...). */
export type PublicKeyTemplate = Map<number, Uint8Array>;

/** Parses a public key template '7F49'. */
export function parsePublicKeyTemplate(bytes: Uint8Array): PublicKeyTemplate {
  const root = parseTlv(bytes, { recurse: false });
  if (root.tag !== TAG_PUBLIC_KEY_TEMPLATE) throw new ApduFormatError(`public key template tag ${root.tag.toString(16)} (7F49 expected)`);
  const m: PublicKeyTemplate = new Map();
  for (const n of parseTlvList(root.value, { recurse: false })) m.set(n.tag, n.value.slice());
  return m;
}

/** Encodes a public key template '7F49' (card side), data objects in the order given. */
export function encodePublicKeyTemplate(objects: ReadonlyArray<readonly [number, Uint8Array]>): Uint8Array {
  return encodeTlv(TAG_PUBLIC_KEY_TEMPLATE, concatBytes(...objects.map(([t, v]) => encodeTlv(t, v))));
}

/** INTERNAL AUTHENTICATE (INS 88): the card signs or MACs `challenge` (ICAO Active Authentication: 8 bytes). */
export function internalAuthenticate(
  challenge: Uint8Array,
  opts: { p1?: number; p2?: number; le?: number; cla?: number } = {},
): CommandApdu {
  return command(opts.cla ?? CLA_ISO, INS_INTERNAL_AUTHENTICATE, opts.p1 ?? 0x00, opts.p2 ?? 0x00, challenge, opts.le ?? SHORT_MAX_LE);
}

/** EXTERNAL AUTHENTICATE (INS 82) without response data. */
export function externalAuthenticateIso(data: Uint8Array, opts: { p1?: number; p2?: number; cla?: number } = {}): CommandApdu {
  return command(opts.cla ?? CLA_ISO, INS_EXTERNAL_AUTHENTICATE, opts.p1 ?? 0x00, opts.p2 ?? 0x00, data);
}

/** MUTUAL AUTHENTICATE (INS 82) expecting `le` bytes back (ICAO BAC: 40). */
export function mutualAuthenticate(data: Uint8Array, le: number, opts: { p1?: number; p2?: number; cla?: number } = {}): CommandApdu {
  return command(opts.cla ?? CLA_ISO, INS_MUTUAL_AUTHENTICATE, opts.p1 ?? 0x00, opts.p2 ?? 0x00, data, le);
}

/** GET CHALLENGE (INS 84) of `length` bytes (default 8). */
export function getChallenge(length = 8, opts: { cla?: number } = {}): CommandApdu {
  return command(opts.cla ?? CLA_ISO, INS_GET_CHALLENGE, 0x00, 0x00, undefined, length);
}

/** GET RESPONSE (INS C0) of `le` bytes. */
export function getResponse(le: number, opts: { cla?: number } = {}): CommandApdu {
  return command(opts.cla ?? CLA_ISO, INS_GET_RESPONSE, 0x00, 0x00, undefined, le);
}

/** Human names of the instructions above, for errors and traces. */
export const ISO_INS_NAMES: Readonly<Record<number, string>> = {
  [INS_SELECT]: 'SELECT',
  [INS_READ_BINARY]: 'READ BINARY',
  [INS_READ_BINARY_ODD]: 'READ BINARY',
  [INS_UPDATE_BINARY]: 'UPDATE BINARY',
  [INS_UPDATE_BINARY_ODD]: 'UPDATE BINARY',
  [INS_CREATE_FILE]: 'CREATE FILE',
  [INS_DELETE_FILE]: 'DELETE FILE',
  [INS_ACTIVATE_FILE]: 'ACTIVATE FILE',
  [INS_DEACTIVATE_FILE]: 'DEACTIVATE FILE',
  [INS_GET_DATA]: 'GET DATA',
  [INS_GET_DATA_ODD]: 'GET DATA',
  [INS_PUT_DATA]: 'PUT DATA',
  [INS_PUT_DATA_ODD]: 'PUT DATA',
  [INS_GENERATE_ASYMMETRIC_KEY_PAIR]: 'GENERATE ASYMMETRIC KEY PAIR',
  [INS_INTERNAL_AUTHENTICATE]: 'INTERNAL AUTHENTICATE',
  [INS_EXTERNAL_AUTHENTICATE]: 'EXTERNAL AUTHENTICATE',
  [INS_GET_CHALLENGE]: 'GET CHALLENGE',
  [INS_GET_RESPONSE]: 'GET RESPONSE',
  [INS_MANAGE_SECURITY_ENVIRONMENT]: 'MANAGE SECURITY ENVIRONMENT',
};
