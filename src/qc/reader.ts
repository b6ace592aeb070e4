/**
 * The inspection-system read of a Kadi card over the CardChannel port: what a border inspection system does,
 * knowing only what is printed on the card (the MRZ). No database, no files: bytes in, bytes out.
 *
 * Sequence (ICAO 9303-10 §3, 9303-11 §4.3 BAC, §6.1 Active Authentication), APDUs for a Kadi card with seven
 * data groups and a 15 KB DG2 when the card announces 4 096-byte responses:
 * ```
 *   step      command(s)                                                     APDUs
 *   limits    SELECT EF.ATR/INFO 00 A4 02 0C 2F01, READ BINARY (7F66)          2     (`limits: 'auto'`)
 *   identify  SELECT ISD, GET DATA CPLC 80 CA 9F 7F                            2     (only with `expectChipSerial`)
 *   select    SELECT eID 00 A4 04 0C A0000002471001                            1
 *   probe     plain READ BINARY of DG1 (SFI 01) must be refused                1
 *   bac       GET CHALLENGE 00 84 00 00 08; MUTUAL AUTHENTICATE 00 82 00 00 28  2
 *   files     EF.COM, EF.SOD, then every DG in EF.COM or EF.SOD, under SM:
 *               READ BINARY with SFI (0C B0 8x 00), the whole file when it fits  1 per file (+1 per 4 064 bytes)
 *               (`addressing: 'fid'`: SELECT 0C A4 02 0C + READ BINARY)         (+1 per file)
 *   aa        INTERNAL AUTHENTICATE 0C 88 00 00 08 RND.IFD                      1
 *   lock      UPDATE BINARY of the last file's first byte with the same value  1     must be refused ('6985')
 * ```
 * about 20 APDUs in all (25 with the identification step and the EF.ATR/INFO read).
 *
 * Everything the card does wrong becomes a {@link QcFinding} in the result, never an exception: a transport
 * failure, BAC refused, a secure messaging failure end the read (the rest is unknown); a missing or unreadable
 * file is noted and the read goes on. Exceptions are left for programming errors and bad options. Nothing here
 * is judged: checks.ts decides what the bytes mean (passive and active authentication, lock, record).
 */
import { randomBytes } from 'node:crypto';
import {
  type ApduTraceRecord,
  type BacSecrets,
  type DesKeyPair,
  type Transmitter,
  ApduError,
  CardCommunicationError,
  CardSession,
  SecureChannelError,
  SW_CONDITIONS_NOT_SATISFIED,
  SW_END_OF_FILE,
  SW_FILE_NOT_FOUND,
  SW_FUNCTION_NOT_SUPPORTED,
  SW_INCORRECT_P1P2,
  SW_INS_NOT_SUPPORTED,
  SW_OK,
  SW_SECURITY_STATUS_NOT_SATISFIED,
  SW_WRONG_P1P2,
  bacGetChallenge,
  bacKeySeed,
  bacSecureMessaging,
  bacTerminalAuthenticate,
  bacTerminalComplete,
  cplcChipSerial,
  deriveBacKeys,
  deriveDesKeyPair,
  getCplc,
  internalAuthenticate,
  parseCplc,
  parseExtendedLengthInfo,
  readBinary,
  readTransparentFile,
  selectByAid,
  selectByFid,
  selectIsd,
  selectMf,
  swHex,
  updateBinary,
} from '../chip/index.ts';
import { EMRTD_AID, EF_COM_FID, EF_COM_SFI, EF_SOD_FID, EF_SOD_SFI, dataGroupFid, dataGroupSfi, decodeEfCom, parseMrz } from '../lds/index.ts';
import { parseSod } from '../pki/index.ts';
import { KadiError, ValidationError } from '../shared/index.ts';
import { readLength, readTag } from '../tlv/index.ts';
import type { QcFinding, QcReason } from './reasons.ts';

/** EF.ATR/INFO (ISO/IEC 7816-4 §8.2.1.1): the card's extended length information '7F66'. */
export const FID_EF_ATR_INFO = 0x2f01;
/** Active Authentication challenge length (RND.IFD, 9303-11 §6.1). */
export const AA_CHALLENGE_LENGTH = 8;
/** Data groups behind Extended Access Control (fingerprints, iris): not readable under BAC alone. */
export const EAC_PROTECTED_DGS: ReadonlySet<number> = new Set([3, 4]);
/**
 * Status words a locked (operational) chip answers to a write: conditions of use not satisfied (the LDS
 * application is in its PERSONALIZED life cycle state), instruction or function not supported.
 */
export const LOCKED_WRITE_SWS: readonly number[] = [SW_CONDITIONS_NOT_SATISFIED, SW_INS_NOT_SUPPORTED, SW_FUNCTION_NOT_SUPPORTED];

/** A file of the LDS: EF.COM, EF.SOD or a data group number. */
export type LdsFile = 'COM' | 'SOD' | number;

export function fileName(f: LdsFile): string {
  return f === 'COM' ? 'EF.COM' : f === 'SOD' ? 'EF.SOD' : `DG${f}`;
}

function fidOf(f: LdsFile): number {
  return f === 'COM' ? EF_COM_FID : f === 'SOD' ? EF_SOD_FID : dataGroupFid(f);
}

function sfiOf(f: LdsFile): number {
  return f === 'COM' ? EF_COM_SFI : f === 'SOD' ? EF_SOD_SFI : dataGroupSfi(f);
}

/** What is printed on the card that BAC needs: the MRZ (3 TD1 lines or their concatenation), or its three fields. */
export type PrintedMrz = string | readonly string[] | BacSecrets;

export interface ChipReadOptions {
  /** The MRZ as printed on the card (or read by the station's MRZ scanner). */
  mrz: PrintedMrz;
  /**
   * How files are addressed. 'sfi' (default): READ BINARY with the short file identifier (one APDU saved per
   * file), falling back to SELECT by FID when the card refuses the SFI. 'fid': SELECT by FID, then READ BINARY
   * (what the 9303-11 Appendix D worked example does).
   */
  addressing?: 'sfi' | 'fid';
  /** Bytes asked for in the first READ BINARY of a file. Default: as many as one response can carry. */
  firstReadLength?: number;
  /**
   * The card's command/response limits: 'auto' (default) reads EF.ATR/INFO before selecting the application and
   * falls back to short APDUs (255/256 bytes); or given explicitly.
   */
  limits?: 'auto' | { maxCommandData: number; maxResponseData: number };
  /** Read the CPLC first and stop with QcError QC_WRONG_CARD when the chip serial differs (20 or 12 hex digits). */
  expectChipSerial?: string;
  /** Run Active Authentication when DG15 is present. Default true. */
  activeAuthentication?: boolean;
  /** Try a write after the read (must be refused). Default true. */
  lockProbe?: boolean;
  /** Try a plain read before BAC (must be refused). Default true. */
  unprotectedProbe?: boolean;
  /** Random bytes (AA challenge). Default node:crypto. */
  random?: (n: number) => Uint8Array;
  /** Fixed BAC terminal randoms (tests against published vectors only). */
  bacRandoms?: { rndIfd: Uint8Array; kIfd: Uint8Array };
  /** Keep the APDU trace (headers, lengths, SWs, timing: no data) in the result. Default false. */
  trace?: boolean;
  /** Monotonic clock, ms. Default performance.now. */
  now?: () => number;
}

export interface ChipReadStats {
  /** Commands sent (a command = one logical APDU; GET RESPONSE rounds and chained parts are `exchanges`). */
  apdus: number;
  exchanges: number;
  bytesSent: number;
  bytesReceived: number;
  /** Milliseconds spent inside the CardChannel's transmit (the raw APDU round trips). */
  transmitMs: number;
  /** Milliseconds for the whole read. */
  totalMs: number;
  /** Commands per step (limits, identify, select, probe, bac, EF.COM, EF.SOD, DG1.., aa, lock). */
  apdusByStep: Record<string, number>;
}

/** Everything the read got from the card: the files as read (bytes kept as read), AA and probe answers. */
export interface ChipRead {
  /** EF.COM, EF.SOD as read. */
  com?: Uint8Array;
  sod?: Uint8Array;
  /** Data group number -> file as read (tag included). */
  dataGroups: Map<number, Uint8Array>;
  /** Data groups listed but not read because they need Extended Access Control. */
  eacProtected: number[];
  /** BAC succeeded (files below were read under secure messaging). */
  bac: boolean;
  /** The chip serial from the CPLC (when identification ran). */
  chipSerial?: string;
  /** The card's limits used for the read. */
  limits: { maxCommandData: number; maxResponseData: number; source: 'EF.ATR/INFO' | 'default' | 'option' };
  /** Plain READ BINARY before BAC: its SW and whether data came back. */
  unprotected?: { sw: number; dataReturned: boolean };
  /** Active Authentication: the challenge sent and the chip's answer. */
  aa?: { challenge: Uint8Array; signature: Uint8Array; sw: number };
  /** The write probe: which file, its SW. */
  lockProbe?: { file: string; sw: number };
  /** Problems met while reading. The read stops at the first of BAC / SM / transport failures. */
  findings: QcFinding[];
  stats: ChipReadStats;
  trace?: ApduTraceRecord[];
}

/** A card problem that ends (or skips part of) the read; becomes a finding. */
class ReadFailure extends Error {
  constructor(
    readonly code: QcReason,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The card in the reader is not the card QC was asked to check. Not a card failure: do not spoil anything. */
export class WrongCardError extends KadiError {
  constructor(expected: string, found: string) {
    super('QC_WRONG_CARD', `the chip in the reader has serial ${found}, not ${expected}`, {
      hint: 'Put the right card into the reader: cards were swapped between encoding and QC. Nothing was recorded.',
      details: { expected, found },
    });
  }
}

/** BAC keys from what is printed: the MRZ text (its MRZ_information, 9303-11 §4.3.2) or the three fields. */
export function bacKeysFromMrz(mrz: PrintedMrz): DesKeyPair {
  if (typeof mrz === 'object' && !Array.isArray(mrz)) return deriveBacKeys(mrz as BacSecrets);
  const text = typeof mrz === 'string' ? mrz.replace(/\s+/g, '') : (mrz as readonly string[]).join('');
  let info: string;
  try {
    info = parseMrz(text).mrzInformation;
  } catch (e) {
    throw new ReadFailure('QC_FACE_MRZ_UNREADABLE', `the printed MRZ cannot be read (${(e as { code?: string }).code ?? 'invalid'})`);
  }
  return deriveDesKeyPair(bacKeySeed(info));
}

/** A CardChannel that measures the time spent in transmit. */
class TimedChannel implements Transmitter {
  ms = 0;
  constructor(
    private readonly inner: Transmitter,
    private readonly now: () => number,
  ) {}
  async transmit(apdu: Uint8Array): Promise<Uint8Array> {
    const t = this.now();
    try {
      return await this.inner.transmit(apdu);
    } finally {
      this.ms += this.now() - t;
    }
  }
}

/**
 * BAC (9303-11 §4.3.3.1, terminal side) on `session`; on success the ICAO secure messaging session is put in
 * force for every following command. Throws ReadFailure QC_BAC_FAILED (the chip refused, or its answer does not
 * verify with the keys from the printed MRZ).
 */
export async function bacAuthenticate(session: CardSession, keys: DesKeyPair, randoms?: { rndIfd: Uint8Array; kIfd: Uint8Array }): Promise<void> {
  session.setSecureChannel(undefined);
  const challenge = await session.transmit(bacGetChallenge(), { label: 'bac' });
  if (challenge.sw !== SW_OK) throw new ReadFailure('QC_BAC_FAILED', `GET CHALLENGE refused (SW ${swHex(challenge.sw)})`, { sw: swHex(challenge.sw), step: 'GET CHALLENGE' });
  let auth: ReturnType<typeof bacTerminalAuthenticate>;
  try {
    auth = bacTerminalAuthenticate(keys, challenge.data, randoms ?? {});
  } catch {
    throw new ReadFailure('QC_BAC_FAILED', `GET CHALLENGE returned ${challenge.data.length} bytes, not 8`, { step: 'GET CHALLENGE' });
  }
  const r = await session.transmit(auth.command, { label: 'bac' });
  if (r.sw !== SW_OK) throw new ReadFailure('QC_BAC_FAILED', `MUTUAL AUTHENTICATE refused (SW ${swHex(r.sw)}): the chip does not accept the printed MRZ`, { sw: swHex(r.sw), step: 'MUTUAL AUTHENTICATE' });
  try {
    session.setSecureChannel(bacSecureMessaging(bacTerminalComplete(auth.state, r.data)));
  } catch (e) {
    throw new ReadFailure('QC_BAC_FAILED', `the chip's BAC answer does not verify (${(e as KadiError).code ?? 'invalid'})`, { step: 'MUTUAL AUTHENTICATE' });
  }
}

/** SWs after which an SFI read is retried with SELECT by FID (the card may not map SFIs). */
const SFI_FALLBACK_SWS: ReadonlySet<number> = new Set([SW_FILE_NOT_FOUND, SW_INCORRECT_P1P2, SW_WRONG_P1P2, SW_FUNCTION_NOT_SUPPORTED, 0x6981]);

/** Length of a BER-TLV header + value from the first bytes of a file, or undefined when more bytes are needed. */
function tlvTotal(head: Uint8Array): number | undefined {
  try {
    const tag = readTag(head, 0);
    const len = readLength(head, tag.size);
    if (len.indefinite) throw new Error('indefinite');
    return tag.size + len.size + len.length;
  } catch (e) {
    if (head.length < 6) return undefined; // header may be cut (at most 2 tag + 4 length bytes in the LDS)
    throw new ReadFailure('QC_FILE_MALFORMED', 'file does not start with a BER-TLV header', { cause: (e as Error).message });
  }
}

/**
 * Reads one LDS file whole. The first READ BINARY asks for `firstReadLength` bytes (default: all one response
 * can carry) and its BER-TLV header gives the file length; the rest is read in as few commands as fit.
 * Throws ApduError when the card refuses (e.g. '6A82' not found).
 */
export async function readLdsFile(session: CardSession, f: LdsFile, opts: { addressing?: 'sfi' | 'fid'; firstReadLength?: number } = {}): Promise<Uint8Array> {
  const label = fileName(f);
  const first = Math.max(1, Math.min(opts.firstReadLength ?? session.maxPlainResponseData, session.maxPlainResponseData));
  let resp;
  if ((opts.addressing ?? 'sfi') === 'sfi') {
    resp = await session.transmit(readBinary(0, first, { sfi: sfiOf(f) }), { label });
    if (SFI_FALLBACK_SWS.has(resp.sw)) resp = undefined;
  }
  if (!resp) {
    await session.send(selectByFid(fidOf(f)), SW_OK, { label });
    resp = await session.transmit(readBinary(0, first), { label });
  }
  if (resp.sw !== SW_OK && resp.sw !== SW_END_OF_FILE) {
    throw new ApduError(`CARD_SW_${swHex(resp.sw)}`, resp.sw, `READ BINARY of ${label} refused`, { cla: 0, ins: 0xb0, p1: 0, p2: 0, name: 'READ BINARY' });
  }
  let data = resp.data;
  let total = tlvTotal(data);
  if (total === undefined && resp.sw === SW_OK) {
    // a header longer than the first read (a 4-byte probe of a big file): read a few more bytes
    const more = await readTransparentFile(session, { offset: data.length, length: 6 - data.length, label });
    data = concat(data, more);
    total = tlvTotal(data);
  }
  if (total === undefined) throw new ReadFailure('QC_FILE_MALFORMED', `${label} is shorter than its header`, { file: label });
  if (data.length >= total) return data.subarray(0, total);
  if (resp.sw === SW_END_OF_FILE) throw new ReadFailure('QC_FILE_MALFORMED', `${label} ends before the length its header announces`, { file: label, length: total, read: data.length });
  const rest = await readTransparentFile(session, { offset: data.length, length: total - data.length, label });
  return concat(data, rest);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function chipSerialOf(cplc: Uint8Array): string {
  try {
    return cplcChipSerial(parseCplc(cplc));
  } catch (e) {
    throw new ReadFailure('QC_CHIP_UNREADABLE', `the CPLC does not decode (${(e as KadiError).code ?? 'invalid'})`);
  }
}

/** Serial forms: 20 hex digits (IC fabricator, type, batch, serial: src/chip `cplcChipSerial`) or the 12-digit card serial (batch, serial). */
function serialMatches(expected: string, chip20: string): boolean {
  const e = expected.toUpperCase();
  return e === chip20 || e === chip20.slice(8);
}

function finding(e: unknown): QcFinding {
  if (e instanceof ReadFailure) return { code: e.code, message: e.message, ...(Object.keys(e.details).length ? { details: e.details } : {}) };
  if (e instanceof SecureChannelError) return { code: 'QC_SM_FAILED', message: `secure messaging failed: ${e.message}`, details: { reason: e.reason } };
  if (e instanceof CardCommunicationError) return { code: 'QC_CHIP_UNREADABLE', message: e.message, details: { reason: e.reason } };
  if (e instanceof ApduError) return { code: 'QC_CHIP_UNREADABLE', message: e.message, details: { sw: swHex(e.sw) } };
  throw e;
}

/**
 * Reads a card as an inspection system would (see the module comment). Never throws for what the card does:
 * problems are in `findings`. Throws WrongCardError (identification) and ValidationError (bad options).
 */
export async function readChip(channel: Transmitter, opts: ChipReadOptions): Promise<ChipRead> {
  const now = opts.now ?? (() => performance.now());
  const random = opts.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
  if (opts.firstReadLength !== undefined && (!Number.isInteger(opts.firstReadLength) || opts.firstReadLength < 1)) {
    throw new ValidationError('QC_OPTION_INVALID', 'firstReadLength must be a positive integer');
  }
  const t0 = now();
  const timed = new TimedChannel(channel, now);
  const trace: ApduTraceRecord[] = [];
  const byStep: Record<string, number> = {};
  const explicit = opts.limits && opts.limits !== 'auto' ? opts.limits : undefined;
  const session = new CardSession(timed, {
    ...(explicit ? { maxCommandData: explicit.maxCommandData, maxResponseData: explicit.maxResponseData } : {}),
    now,
    onTrace: (r) => {
      const step = r.label ?? 'other';
      byStep[step] = (byStep[step] ?? 0) + 1;
      if (opts.trace) trace.push(r);
    },
  });
  const read: ChipRead = {
    dataGroups: new Map(),
    eacProtected: [],
    bac: false,
    limits: { maxCommandData: session.maxCommandData, maxResponseData: session.maxResponseData, source: explicit ? 'option' : 'default' },
    findings: [],
    stats: { apdus: 0, exchanges: 0, bytesSent: 0, bytesReceived: 0, transmitMs: 0, totalMs: 0, apdusByStep: byStep },
  };
  const addressing = opts.addressing ?? 'sfi';
  const fileOpts = { addressing, ...(opts.firstReadLength !== undefined ? { firstReadLength: opts.firstReadLength } : {}) };
  let keys: DesKeyPair | undefined;
  try {
    keys = bacKeysFromMrz(opts.mrz);
  } catch (e) {
    read.findings.push(finding(e));
  }

  try {
    if (!keys) return read;
    // limits: EF.ATR/INFO in the MF (readable without access control)
    if (!explicit && (opts.limits ?? 'auto') === 'auto') {
      let sel = await session.transmit(selectByFid(FID_EF_ATR_INFO), { label: 'limits' });
      if (sel.sw !== SW_OK) {
        // an application is still selected (no reset since the last session): back to the MF and try again
        const mf = await session.transmit(selectMf(), { label: 'limits' });
        if (mf.sw === SW_OK) sel = await session.transmit(selectByFid(FID_EF_ATR_INFO), { label: 'limits' });
      }
      if (sel.sw === SW_OK) {
        const r = await session.transmit(readBinary(0, 256), { label: 'limits' });
        if ((r.sw === SW_OK || r.sw === SW_END_OF_FILE) && r.data.length > 0) {
          try {
            const info = parseExtendedLengthInfo(r.data);
            session.setLimits({ maxCommandData: Math.min(info.maxCommandLength, 65_535), maxResponseData: Math.min(info.maxResponseLength, 65_536) });
            read.limits = { maxCommandData: session.maxCommandData, maxResponseData: session.maxResponseData, source: 'EF.ATR/INFO' };
          } catch {
            // not 7F66: keep short APDUs
          }
        }
      }
    }
    // identify: the chip serial from the CPLC, before anything is judged
    if (opts.expectChipSerial) {
      await session.send(selectIsd(), SW_OK, { label: 'identify' });
      const cplc = await session.send(getCplc(), SW_OK, { label: 'identify' });
      read.chipSerial = chipSerialOf(cplc.data);
      if (!serialMatches(opts.expectChipSerial, read.chipSerial)) throw new WrongCardError(opts.expectChipSerial.toUpperCase(), read.chipSerial);
    }
    // select the LDS application
    const sel = await session.transmit(selectByAid(EMRTD_AID), { label: 'select' });
    if (sel.sw !== SW_OK) {
      read.findings.push({ code: 'QC_APP_NOT_FOUND', message: `SELECT of the eID application answered ${swHex(sel.sw)}`, details: { sw: swHex(sel.sw) } });
      return read;
    }
    // probe: LDS data must not be readable without BAC
    if (opts.unprotectedProbe ?? true) {
      const r = await session.transmit(readBinary(0, 1, { sfi: dataGroupSfi(1) }), { label: 'probe' });
      read.unprotected = { sw: r.sw, dataReturned: r.data.length > 0 };
      if (r.sw === SW_OK || r.sw === SW_END_OF_FILE || r.data.length > 0) {
        read.findings.push({ code: 'QC_UNPROTECTED_READ', message: `DG1 was readable without secure messaging (SW ${swHex(r.sw)})`, details: { sw: swHex(r.sw) } });
      }
    }
    await bacAuthenticate(session, keys, opts.bacRandoms);
    read.bac = true;

    // EF.COM, EF.SOD, then every data group either lists
    const missing: string[] = [];
    const tryRead = async (f: LdsFile): Promise<Uint8Array | undefined> => {
      try {
        return await readLdsFile(session, f, fileOpts);
      } catch (e) {
        if (e instanceof ApduError) {
          if (typeof f === 'number' && EAC_PROTECTED_DGS.has(f) && e.sw === SW_SECURITY_STATUS_NOT_SATISFIED) {
            read.eacProtected.push(f);
            return undefined;
          }
          missing.push(fileName(f));
          read.findings.push({ code: 'QC_FILE_MISSING', message: `${fileName(f)} cannot be read (SW ${swHex(e.sw)})`, details: { file: fileName(f), sw: swHex(e.sw) } });
          return undefined;
        }
        if (e instanceof ReadFailure && e.code === 'QC_FILE_MALFORMED') {
          read.findings.push(finding(e));
          return undefined;
        }
        throw e;
      }
    };
    let last: { file: LdsFile; firstByte: number } | undefined;
    const keep = (f: LdsFile, b: Uint8Array | undefined): Uint8Array | undefined => {
      if (b && b.length > 0) last = { file: f, firstByte: b[0]! };
      return b;
    };
    read.com = keep('COM', await tryRead('COM'));
    read.sod = keep('SOD', await tryRead('SOD'));
    const listed = new Set<number>();
    if (read.com) {
      try {
        for (const n of decodeEfCom(read.com).dataGroups) listed.add(n);
      } catch (e) {
        read.findings.push({ code: 'QC_FILE_MALFORMED', message: `EF.COM does not decode (${(e as { code?: string }).code ?? 'invalid'})`, details: { file: 'EF.COM' } });
      }
    }
    if (read.sod) {
      try {
        for (const n of parseSod(read.sod).lds.dataGroupHashes.keys()) listed.add(n);
      } catch {
        // judged by the checks (QC_SOD_MALFORMED)
      }
    }
    for (const n of [...listed].sort((a, b) => a - b)) {
      if (n < 1 || n > 16) continue;
      const b = keep(n, await tryRead(n));
      if (b) read.dataGroups.set(n, b);
    }

    // Active Authentication with a random challenge
    if ((opts.activeAuthentication ?? true) && read.dataGroups.has(15)) {
      const challenge = random(AA_CHALLENGE_LENGTH);
      const r = await session.transmit(internalAuthenticate(challenge, { le: Math.min(session.maxPlainResponseData, 256) }), { label: 'aa' });
      read.aa = { challenge, signature: r.data, sw: r.sw };
    }

    // lock: a write of the byte that is already there must be refused
    if ((opts.lockProbe ?? true) && last) {
      const cmd = addressing === 'sfi' ? updateBinary(0, Uint8Array.of(last.firstByte), { sfi: sfiOf(last.file) }) : updateBinary(0, Uint8Array.of(last.firstByte));
      const r = await session.transmit(cmd, { label: 'lock' });
      read.lockProbe = { file: fileName(last.file), sw: r.sw };
    }
  } catch (e) {
    if (e instanceof WrongCardError) throw e;
    read.findings.push(finding(e));
  } finally {
    const s = session.stats;
    read.stats.apdus = s.commands;
    read.stats.exchanges = s.exchanges;
    read.stats.bytesSent = s.bytesSent;
    read.stats.bytesReceived = s.bytesReceived;
    read.stats.transmitMs = timed.ms;
    read.stats.totalMs = now() - t0;
    if (opts.trace) read.trace = trace;
  }
  return read;
}

/** Whether the lock probe's SW shows a locked chip (see {@link LOCKED_WRITE_SWS}). */
export function writeRefusedAsLocked(sw: number): boolean {
  return LOCKED_WRITE_SWS.includes(sw);
}
