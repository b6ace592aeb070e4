/**
 * The card OS's own ISO/IEC 7816-4 file commands: the shared implementation of SELECT (file), READ BINARY and
 * UPDATE BINARY used by the MF handler (no applet selected) and by applets for their own DF, with the access
 * decision left to the caller.
 *
 * ```
 *   SELECT        00 A4 00 P2 02 FID          EF or MF by file identifier (in the current DF)
 *                 00 A4 02 P2 02 FID          EF under the current DF
 *                 00 A4 08 P2 2n path         path from the MF (without 3F00)
 *                 00 A4 09 P2 2n path         path from the current DF
 *                 P2: '0C' no response data, '04' FCP, '00' FCI (this card returns the FCP)
 *   READ BINARY   00 B0 P1 P2 Le              P1 b8=0: offset P1-P2 (15 bits) in the current EF
 *                                             P1 b8=1: SFI in P1 b5-b1, offset P2; the EF becomes current
 *                 00 B1 00 00 Lc 54 L off Le  odd INS: offset in DO'54' (current EF, or P2 = '1F'|SFI...),
 *                                             response '53' L data
 *   UPDATE BINARY 00 D6 P1 P2 Lc data         same addressing as READ BINARY
 *                 00 D7 00 00 Lc 54 L off 53 L data
 * ```
 * Responses: '6A82' no such file, '6986' no current EF, '6B00' offset outside the EF, '6282' end of file before
 * Ne bytes, '6982' access condition not satisfied, '6700' missing Le / data past the end.
 *
 * The MF handler (no applet selected) serves the MF's EFs whose read condition is ALWAYS (EF.CardAccess,
 * EF.ATR/INFO); nothing in the MF can be updated through the OS.
 */
import {
  type DedicatedFile,
  type ElementaryFile,
  binaryTarget,
  encodeFcp,
  findEf,
  oddInsOffset,
  readBinary,
  readSimpleTlvs,
  resolveEf,
  updateBinary,
} from './fs.ts';
import {
  CardStatus,
  INS_READ_BINARY,
  INS_READ_BINARY_ODD,
  INS_SELECT,
  INS_UPDATE_BINARY,
  INS_UPDATE_BINARY_ODD,
  SELECT_P1_EF_UNDER_DF,
  SELECT_P1_FID,
  SELECT_P1_PATH_FROM_DF,
  SELECT_P1_PATH_FROM_MF,
  SELECT_P2_NO_DATA,
  SELECT_P2_RETURN_MASK,
  SW_CLA_NOT_SUPPORTED,
  SW_FILE_NOT_FOUND,
  SW_INCORRECT_P1P2,
  SW_INS_NOT_SUPPORTED,
  SW_NO_ERROR,
  SW_SECURITY_STATUS_NOT_SATISFIED,
  SW_WRONG_DATA,
  SW_WRONG_LENGTH,
  isGpClass,
} from './iso.ts';
import type { CardState } from './state.ts';
import type { CardCommand, CardResponse } from './card.ts';

/** Tags of the odd-INS binary commands (ISO/IEC 7816-4 §11.3.3): offset and discretionary data. */
export const TAG_OFFSET = 0x54;
export const TAG_DISCRETIONARY_DATA = 0x53;

/** What the MF handler needs from the runtime. */
export interface MfContext {
  readonly state: CardState;
  mfCurrentEf: ElementaryFile | undefined;
}

/**
 * SELECT of an EF in `df` (see the module comment). Returns the EF; throws '6A82' when absent (the current EF is
 * then unchanged, as ISO requires).
 */
export function selectEf(df: DedicatedFile, cmd: CardCommand): ElementaryFile {
  const d = cmd.data ?? new Uint8Array(0);
  let fid: number;
  switch (cmd.p1) {
    case SELECT_P1_FID:
    case SELECT_P1_EF_UNDER_DF:
      if (d.length !== 2) throw new CardStatus(SW_WRONG_LENGTH, 'FID must be 2 bytes');
      fid = (d[0]! << 8) | d[1]!;
      break;
    case SELECT_P1_PATH_FROM_MF:
    case SELECT_P1_PATH_FROM_DF:
      // One level only: this card's DFs hold EFs directly.
      if (d.length !== 2) throw new CardStatus(SW_FILE_NOT_FOUND, 'only one-level paths');
      fid = (d[0]! << 8) | d[1]!;
      break;
    default:
      throw new CardStatus(SW_INCORRECT_P1P2, 'SELECT P1 not supported');
  }
  const ef = findEf(df, fid);
  if (!ef) throw new CardStatus(SW_FILE_NOT_FOUND, `no EF ${fid.toString(16).padStart(4, '0')}`);
  return ef;
}

/** Response data of a file SELECT per P2. */
export function selectResponse(cmd: CardCommand, ef: ElementaryFile): CardResponse {
  return { data: (cmd.p2 & SELECT_P2_RETURN_MASK) === SELECT_P2_NO_DATA ? new Uint8Array(0) : encodeFcp(ef), sw: SW_NO_ERROR };
}

/** Where a READ/UPDATE BINARY lands: the EF and offset, plus (odd INS) the data to write. */
export interface BinaryAccess {
  ef: ElementaryFile;
  offset: number;
  /** UPDATE BINARY: the bytes to write. */
  data: Uint8Array;
  odd: boolean;
}

/**
 * Resolves the target of READ/UPDATE BINARY (even or odd INS) in `df` with `current` as the current EF.
 * For odd INS, P1-P2 = '0000' means the current EF; P1-P2 = '00' || SFI... is not used by the LDS and refused.
 */
export function binaryAccess(df: DedicatedFile, current: ElementaryFile | undefined, cmd: CardCommand): BinaryAccess {
  const odd = cmd.ins === INS_READ_BINARY_ODD || cmd.ins === INS_UPDATE_BINARY_ODD;
  if (!odd) {
    const { sfi, offset } = binaryTarget(cmd.p1, cmd.p2);
    return { ef: resolveEf(df, sfi, current), offset, data: cmd.data ?? new Uint8Array(0), odd };
  }
  if (cmd.p1 !== 0 || cmd.p2 !== 0) throw new CardStatus(SW_INCORRECT_P1P2, 'odd INS: only the current EF (P1-P2 0000)');
  const dos = readSimpleTlvs(cmd.data ?? new Uint8Array(0));
  const off = dos.find((x) => x.tag === TAG_OFFSET);
  if (!off) throw new CardStatus(SW_WRONG_DATA, "odd INS needs offset DO'54'");
  const payload = dos.find((x) => x.tag === TAG_DISCRETIONARY_DATA)?.value ?? new Uint8Array(0);
  return { ef: resolveEf(df, undefined, current), offset: oddInsOffset(off.value), data: payload, odd };
}

/** Size of a BER-TLV header for a value of `n` bytes with a one-byte tag. */
function tlvHeaderSize(n: number): number {
  return n < 0x80 ? 2 : n <= 0xff ? 3 : 4;
}

/**
 * READ BINARY on `access.ef`, honouring Ne and the card's response limit. Odd INS wraps the data in DO'53'.
 */
export function readResponse(access: BinaryAccess, cmd: CardCommand, maxResponse: number): CardResponse {
  if (cmd.le === undefined) throw new CardStatus(SW_WRONG_LENGTH, 'READ BINARY without Le');
  const ne = Math.min(cmd.le, maxResponse);
  if (!access.odd) {
    const r = readBinary(access.ef, access.offset, ne);
    return { data: r.data, sw: r.sw };
  }
  let want = ne - tlvHeaderSize(ne);
  if (want < 1) throw new CardStatus(SW_WRONG_LENGTH, 'Le too small for DO 53');
  const r = readBinary(access.ef, access.offset, want);
  want = r.data.length;
  const hdr = want < 0x80 ? [TAG_DISCRETIONARY_DATA, want] : want <= 0xff ? [TAG_DISCRETIONARY_DATA, 0x81, want] : [TAG_DISCRETIONARY_DATA, 0x82, want >>> 8, want & 0xff];
  const out = new Uint8Array(hdr.length + want);
  out.set(hdr, 0);
  out.set(r.data, hdr.length);
  return { data: out, sw: r.sw };
}

/** UPDATE BINARY on `access.ef`. */
export function writeAccess(access: BinaryAccess): void {
  if (access.data.length === 0) throw new CardStatus(SW_WRONG_LENGTH, 'UPDATE BINARY without data');
  updateBinary(access.ef, access.offset, access.data);
}

/** The OS's MF handler (see the module comment). */
export function mfProcess(ctx: MfContext, cmd: CardCommand): CardResponse {
  if (isGpClass(cmd.cla)) throw new CardStatus(SW_CLA_NOT_SUPPORTED);
  const mf = ctx.state.mf;
  switch (cmd.ins) {
    case INS_SELECT: {
      const ef = selectEf(mf, cmd);
      ctx.mfCurrentEf = ef;
      return selectResponse(cmd, ef);
    }
    case INS_READ_BINARY:
    case INS_READ_BINARY_ODD: {
      const access = binaryAccess(mf, ctx.mfCurrentEf, cmd);
      if (access.ef.read !== 'ALWAYS') throw new CardStatus(SW_SECURITY_STATUS_NOT_SATISFIED, 'MF EF not readable');
      ctx.mfCurrentEf = access.ef;
      return readResponse(access, cmd, ctx.state.profile.maxResponseData);
    }
    case INS_UPDATE_BINARY:
    case INS_UPDATE_BINARY_ODD:
      // Resolve first so a missing file is reported as such.
      binaryAccess(mf, ctx.mfCurrentEf, cmd);
      throw new CardStatus(SW_SECURITY_STATUS_NOT_SATISFIED, 'MF files are written by their application');
    default:
      throw new CardStatus(SW_INS_NOT_SUPPORTED);
  }
}
