/**
 * The CardChannel port and a session over it.
 *
 * `Transmitter` (DESIGN §3 "CardChannel") is the only thing the chip core needs from the outside world: bytes of a
 * command APDU in, bytes of a response APDU out. encoders/ implements it over PC/SC; tests implement it over a
 * virtual card object.
 *
 * {@link CardSession} adds, transparently for callers:
 * - '61XX' (ISO/IEC 7816-4 §5.3.4): GET RESPONSE until the card has no more, data concatenated;
 * - '6CXX' (wrong Le): the same command resent once with Le = XX (only outside a secure channel, where a resend
 *   would break the MAC chain);
 * - command chaining (CLA b5) for data longer than the card's maximum command data field;
 * - a secure channel (SCP03 or ICAO SM): commands wrapped before and responses unwrapped after the exchange;
 * - an APDU trace without personal data or key bytes: see {@link ApduTraceRecord}.
 * Transport failures become {@link CardCommunicationError}; garbage responses become `CARD_RESPONSE_MALFORMED`.
 */
import { KadiError } from '../shared/index.ts';
import { encodeTlv, parseTlv, readLength, readTag } from '../tlv/index.ts';
import {
  CLA_CHAINING_BIT,
  EXTENDED_MAX_DATA,
  SHORT_MAX_DATA,
  SHORT_MAX_LE,
  chainCommand,
  encodeCommand,
  parseResponse,
  type CommandApdu,
  type ResponseApdu,
} from './apdu.ts';
import { CardCommunicationError, byteHex } from './errors.ts';
import { GP_INS_NAMES } from './gp.ts';
import {
  ISO_INS_NAMES,
  MAX_EVEN_OFFSET,
  MAX_SFI_OFFSET,
  ODD_RESPONSE_OVERHEAD,
  getResponse,
  parseOddDataResponse,
  readBinary,
  updateBinaryCommands,
} from './iso7816.ts';
import type { SecureChannel } from './scp03.ts';
import { SW1_BYTES_REMAINING, SW1_WRONG_LE, SW_END_OF_FILE, SW_OK, SW_WRONG_P1P2, apduError, checkSw } from './sw.ts';

/** The CardChannel port: one APDU exchange with a card. Implementations throw on transport failure. */
export interface Transmitter {
  transmit(apdu: Uint8Array): Promise<Uint8Array>;
}
/** DESIGN.md's name for the port. */
export type CardChannel = Transmitter;

/**
 * One line of the APDU trace. It holds the command header, lengths, status word and timing — never data bytes:
 * command and response data of an encoding session carry personal data (DG1, DG2) and key material (PUT KEY,
 * BAC secrets), so they are not recorded, in plain or protected form. P1/P2 are offsets, tags or selection
 * controls, not personal data.
 */
export interface ApduTraceRecord {
  /** 1-based sequence number within the session. */
  seq: number;
  /** Milliseconds from the session's creation to the start of this command. */
  atMs: number;
  /** Milliseconds the command took, all exchanges included. */
  durationMs: number;
  /** Header of the plain (unprotected) command. */
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  /** Instruction name when known ("UPDATE BINARY"). */
  name?: string;
  /** Caller's label ("DG2 write"); must not carry personal data. */
  label?: string;
  /** Plain command data length (Nc). */
  lc: number;
  /** Plain Ne asked for. */
  le?: number;
  /** Plain response data length. */
  responseLength: number;
  sw: number;
  /** Secure channel kind in force: 'none', 'scp03', 'bac', ... */
  secure: string;
  /** Transport exchanges this command took (chained parts, GET RESPONSE, 6CXX resend). */
  exchanges: number;
  /** Bytes sent and received on the wire for this command (all exchanges). */
  bytesSent: number;
  bytesReceived: number;
}

/** Options of a {@link CardSession}. */
export interface CardSessionOptions {
  /** Largest command data field (Nc) the card accepts, in bytes, on the wire. Default 255 (short APDUs). */
  maxCommandData?: number;
  /** Largest response data (Ne) the card returns in one response, in bytes. Default 256. */
  maxResponseData?: number;
  /** Keep trace records in memory (`session.trace`). Default false. */
  trace?: boolean;
  /** Called with each trace record when its command completes (whether or not `trace` is on). */
  onTrace?: (r: ApduTraceRecord) => void;
  /** Monotonic clock in milliseconds. Default `performance.now`. */
  now?: () => number;
  /** Most GET RESPONSE rounds for one command before the card is declared broken. Default 64. */
  maxGetResponse?: number;
}

/** Counters of a session (for benchmarks and the per-card record). */
export interface CardSessionStats {
  commands: number;
  exchanges: number;
  bytesSent: number;
  bytesReceived: number;
}

/** Per-call options of {@link CardSession.transmit}. */
export interface TransmitOptions {
  /** A label for the trace (no personal data). */
  label?: string;
  /** Send without the secure channel even if one is set (e.g. SELECT before SCP03 of another application). */
  plain?: boolean;
}

function insName(ins: number, cla: number): string | undefined {
  // GP proprietary CLA (b8 set) first, then ISO
  if ((cla & 0x80) !== 0 && GP_INS_NAMES[ins]) return GP_INS_NAMES[ins];
  return ISO_INS_NAMES[ins] ?? GP_INS_NAMES[ins];
}

/** Extended length information '7F66' (ISO/IEC 7816-4 §12.7.1): max command and response sizes the card takes. */
export interface ExtendedLengthInfo {
  maxCommandLength: number;
  maxResponseLength: number;
}

/** Parses the '7F66' extended length information data object (from EF.ATR/INFO or historical bytes). */
export function parseExtendedLengthInfo(bytes: Uint8Array): ExtendedLengthInfo {
  const root = parseTlv(bytes, { recurse: true });
  if (root.tag !== 0x7f66) throw new CardCommunicationError('CARD_RESPONSE_MALFORMED', 'extended length information is not 7F66');
  const ints = root.children.filter((c) => c.tag === 0x02).map((c) => c.value.reduce((a, b) => a * 256 + b, 0));
  if (ints.length < 2) throw new CardCommunicationError('CARD_RESPONSE_MALFORMED', 'extended length information lacks sizes');
  return { maxCommandLength: ints[0]!, maxResponseLength: ints[1]! };
}

/** Encodes '7F66' (card side). */
export function encodeExtendedLengthInfo(info: ExtendedLengthInfo): Uint8Array {
  const int = (n: number) => encodeTlv(0x02, Uint8Array.of(n >>> 8, n & 0xff));
  const a = int(info.maxCommandLength);
  const b = int(info.maxResponseLength);
  const v = new Uint8Array(a.length + b.length);
  v.set(a, 0);
  v.set(b, a.length);
  return encodeTlv(0x7f66, v);
}

const defaultNow = (): number => performance.now();

/**
 * A session with one card over a {@link Transmitter}. Not safe for concurrent use: one command at a time (a
 * card is a sequential device); callers await each call.
 */
export class CardSession {
  private maxCommand: number;
  private maxResponse: number;
  private channel: SecureChannel | undefined;
  private readonly records: ApduTraceRecord[] = [];
  private readonly keepTrace: boolean;
  private readonly onTrace: ((r: ApduTraceRecord) => void) | undefined;
  private readonly now: () => number;
  private readonly t0: number;
  private readonly maxGetResponse: number;
  private seq = 0;
  private readonly counters: CardSessionStats = { commands: 0, exchanges: 0, bytesSent: 0, bytesReceived: 0 };

  constructor(
    private readonly transmitter: Transmitter,
    opts: CardSessionOptions = {},
  ) {
    this.maxCommand = opts.maxCommandData ?? SHORT_MAX_DATA;
    this.maxResponse = opts.maxResponseData ?? SHORT_MAX_LE;
    this.keepTrace = opts.trace ?? false;
    this.onTrace = opts.onTrace;
    this.now = opts.now ?? defaultNow;
    this.maxGetResponse = opts.maxGetResponse ?? 64;
    this.t0 = this.now();
    this.checkLimits();
  }

  private checkLimits(): void {
    if (!Number.isInteger(this.maxCommand) || this.maxCommand < 1 || this.maxCommand > EXTENDED_MAX_DATA) {
      throw new RangeError(`maxCommandData ${this.maxCommand} outside 1..65535`);
    }
    if (!Number.isInteger(this.maxResponse) || this.maxResponse < 1 || this.maxResponse > EXTENDED_MAX_DATA + 1) {
      throw new RangeError(`maxResponseData ${this.maxResponse} outside 1..65536`);
    }
  }

  /** Updates the card's limits (e.g. after reading its extended length information). */
  setLimits(limits: { maxCommandData?: number; maxResponseData?: number }): void {
    if (limits.maxCommandData !== undefined) this.maxCommand = limits.maxCommandData;
    if (limits.maxResponseData !== undefined) this.maxResponse = limits.maxResponseData;
    this.checkLimits();
  }

  /** Largest command data field on the wire. */
  get maxCommandData(): number {
    return this.maxCommand;
  }
  /** Largest response data per response. */
  get maxResponseData(): number {
    return this.maxResponse;
  }
  /** Largest plain command data that fits one command once the secure channel (if any) has protected it. */
  get maxPlainCommandData(): number {
    return this.channel ? this.channel.maxPlainData(this.maxCommand) : this.maxCommand;
  }
  /** Largest plain response data to ask for per command, leaving room for secure messaging overhead. */
  get maxPlainResponseData(): number {
    if (!this.channel) return this.maxResponse;
    // SCP03: R-MAC 8/16 + padding up to 16; ICAO SM: DO'87' header 4 + indicator 1 + padding 8 + DO'99' 4 + DO'8E' 10
    return Math.max(1, this.maxResponse - 32);
  }

  /** Puts a secure channel in force for the following commands (undefined = plain). */
  setSecureChannel(channel: SecureChannel | undefined): void {
    this.channel = channel;
  }
  get secureChannel(): SecureChannel | undefined {
    return this.channel;
  }

  /** Trace records kept so far (when `trace` is on). */
  get trace(): readonly ApduTraceRecord[] {
    return this.records;
  }
  /** Session counters. */
  get stats(): Readonly<CardSessionStats> {
    return { ...this.counters };
  }

  /** One raw exchange: bytes out, parsed response back; transport errors typed. */
  private async exchangeRaw(apdu: Uint8Array, acc: { exchanges: number; sent: number; received: number }): Promise<ResponseApdu> {
    let raw: Uint8Array;
    acc.exchanges++;
    acc.sent += apdu.length;
    this.counters.exchanges++;
    this.counters.bytesSent += apdu.length;
    try {
      raw = await this.transmitter.transmit(apdu);
    } catch (e) {
      if (e instanceof KadiError) throw e;
      throw new CardCommunicationError('CARD_TRANSPORT_FAILED', `transmission failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
    acc.received += raw.length;
    this.counters.bytesReceived += raw.length;
    try {
      return parseResponse(raw);
    } catch (e) {
      throw new CardCommunicationError('CARD_RESPONSE_MALFORMED', `card sent ${raw.length} bytes that are not a response APDU`, {
        cause: e,
      });
    }
  }

  /** A wire command with 61XX / 6CXX handled. */
  private async exchange(wire: CommandApdu, allowLeRetry: boolean, acc: { exchanges: number; sent: number; received: number }): Promise<ResponseApdu> {
    let resp = await this.exchangeRaw(encodeCommand(wire), acc);
    if (allowLeRetry && resp.sw >>> 8 === SW1_WRONG_LE) {
      const le = resp.sw & 0xff || SHORT_MAX_LE;
      resp = await this.exchangeRaw(encodeCommand({ ...wire, le }), acc);
    }
    if (resp.sw >>> 8 !== SW1_BYTES_REMAINING) return resp;
    const parts: Uint8Array[] = [resp.data];
    let total = resp.data.length;
    let rounds = 0;
    while (resp.sw >>> 8 === SW1_BYTES_REMAINING) {
      if (++rounds > this.maxGetResponse) {
        throw new CardCommunicationError('CARD_RESPONSE_MALFORMED', `card still has data after ${this.maxGetResponse} GET RESPONSE`);
      }
      const le = resp.sw & 0xff || SHORT_MAX_LE;
      resp = await this.exchangeRaw(encodeCommand(getResponse(le, { cla: wire.cla & 0x03 })), acc);
      parts.push(resp.data);
      total += resp.data.length;
    }
    const data = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      data.set(p, o);
      o += p.length;
    }
    return { data, sw: resp.sw };
  }

  /**
   * Sends a plain command and returns the plain response, whatever its SW (see {@link send} for the checked
   * form). Chains the command when its data exceeds {@link maxPlainCommandData}; wraps/unwraps through the
   * secure channel in force.
   */
  async transmit(cmd: CommandApdu, opts: TransmitOptions = {}): Promise<ResponseApdu> {
    const start = this.now();
    const acc = { exchanges: 0, sent: 0, received: 0 };
    const sm = opts.plain ? undefined : this.channel;
    const maxPlain = sm ? sm.maxPlainData(this.maxCommand) : this.maxCommand;
    const parts = (cmd.data?.length ?? 0) > maxPlain ? chainCommand(cmd, maxPlain) : [cmd];
    let resp: ResponseApdu = { data: new Uint8Array(0), sw: SW_OK };
    this.counters.commands++;
    let failed: unknown;
    try {
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i]!;
        const wire = sm ? sm.wrapCommand(part) : part;
        const raw = await this.exchange(wire, !sm, acc);
        resp = sm ? sm.unwrapResponse(raw) : raw;
        const last = i === parts.length - 1;
        if (!last && resp.sw !== SW_OK) break; // the chain stops at the first refusal
      }
    } catch (e) {
      failed = e;
      throw e;
    } finally {
      const rec: ApduTraceRecord = {
        seq: ++this.seq,
        atMs: start - this.t0,
        durationMs: this.now() - start,
        cla: cmd.cla & ~CLA_CHAINING_BIT,
        ins: cmd.ins,
        p1: cmd.p1,
        p2: cmd.p2,
        lc: cmd.data?.length ?? 0,
        responseLength: failed ? 0 : resp.data.length,
        sw: failed ? 0 : resp.sw,
        secure: sm?.kind ?? 'none',
        exchanges: acc.exchanges,
        bytesSent: acc.sent,
        bytesReceived: acc.received,
      };
      const name = insName(cmd.ins, cmd.cla);
      if (name) rec.name = name;
      if (cmd.le !== undefined) rec.le = cmd.le;
      if (opts.label) rec.label = opts.label;
      if (this.keepTrace) this.records.push(rec);
      this.onTrace?.(rec);
    }
    return resp;
  }

  /**
   * Sends a command and checks its SW in the one place that does it ({@link checkSw}): returns the response
   * when the SW is expected (default '9000'), else throws `ApduError` carrying the SW.
   */
  async send(cmd: CommandApdu, expected: number | readonly number[] = SW_OK, opts: TransmitOptions = {}): Promise<ResponseApdu> {
    const resp = await this.transmit(cmd, opts);
    const name = insName(cmd.ins, cmd.cla);
    return checkSw(resp, expected, { cla: cmd.cla, ins: cmd.ins, p1: cmd.p1, p2: cmd.p2, ...(name ? { name } : {}) });
  }

  /** Sends a list of commands (e.g. from `updateBinaryCommands`) in order, each checked for '9000'. */
  async sendAll(cmds: readonly CommandApdu[], opts: TransmitOptions = {}): Promise<void> {
    for (const c of cmds) await this.send(c, SW_OK, opts);
  }
}

/** Options of {@link readTransparentFile} and {@link writeTransparentFile}. */
export interface FileIoOptions {
  /** Address the EF by short identifier for the first command (saves a SELECT); otherwise the current EF. */
  sfi?: number;
  /** Start offset. Default 0. */
  offset?: number;
  /** Trace label (no personal data). */
  label?: string;
}

/**
 * Reads a transparent EF with as few READ BINARY commands as the session's limits allow (odd INS B1 beyond
 * offset 32 767). Without `length`, the file is taken to hold one BER-TLV data object (every LDS file does) and
 * its length is read from the first response. Advances by what the card actually returns. Throws `ApduError`
 * when the card refuses, or ends the file before `length` bytes.
 */
export async function readTransparentFile(session: CardSession, opts: FileIoOptions & { length?: number } = {}): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const start = opts.offset ?? 0;
  let got = 0;
  let total = opts.length;
  const t: TransmitOptions = opts.label ? { label: opts.label } : {};
  while (total === undefined || got < total) {
    const offset = start + got;
    const odd = offset > MAX_EVEN_OFFSET;
    const room = session.maxPlainResponseData - (odd ? ODD_RESPONSE_OVERHEAD : 0);
    const want = total === undefined ? room : Math.min(room, total - got);
    const useSfi = opts.sfi !== undefined && got === 0 && offset <= MAX_SFI_OFFSET;
    const cmd = readBinary(offset, odd ? want + ODD_RESPONSE_OVERHEAD : want, useSfi ? { sfi: opts.sfi! } : {});
    const resp = await session.transmit(cmd, t);
    if (resp.sw !== SW_OK && resp.sw !== SW_END_OF_FILE && !(resp.sw === SW_WRONG_P1P2 && got > 0)) {
      throw apduError(resp.sw, { cla: cmd.cla, ins: cmd.ins, p1: cmd.p1, p2: cmd.p2, name: 'READ BINARY' });
    }
    const data = odd && resp.data.length > 0 ? parseOddDataResponse(resp.data) : resp.data;
    if (data.length > 0) parts.push(data);
    got += data.length;
    if (total === undefined && got > 0) {
      const head = parts.length === 1 ? parts[0]! : concatParts(parts, got);
      try {
        const tag = readTag(head, 0);
        const len = readLength(head, tag.size);
        if (len.indefinite) throw new Error('indefinite length');
        total = tag.size + len.size + len.length;
      } catch (e) {
        throw new CardCommunicationError('CARD_RESPONSE_MALFORMED', 'file does not start with a BER-TLV header', { cause: e });
      }
    }
    if (data.length === 0 || resp.sw !== SW_OK) {
      if (total !== undefined && got < total) {
        throw apduError(resp.sw === SW_OK ? SW_END_OF_FILE : resp.sw, { cla: cmd.cla, ins: cmd.ins, p1: cmd.p1, p2: cmd.p2, name: 'READ BINARY' });
      }
      break;
    }
  }
  const all = concatParts(parts, got);
  return total !== undefined && all.length > total ? all.subarray(0, total) : all;
}

function concatParts(parts: readonly Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p.subarray(0, Math.min(p.length, n - o)), o);
    o += p.length;
    if (o >= n) break;
  }
  return out;
}

/**
 * Writes `data` into the current (or SFI-addressed) transparent EF with the fewest UPDATE BINARY commands the
 * session's limits and secure channel allow; each checked for '9000'. Returns the number of commands sent.
 */
export async function writeTransparentFile(session: CardSession, data: Uint8Array, opts: FileIoOptions = {}): Promise<number> {
  const cmds = updateBinaryCommands(data, {
    maxCommandData: session.maxPlainCommandData,
    ...(opts.offset !== undefined ? { offset: opts.offset } : {}),
    ...(opts.sfi !== undefined ? { sfi: opts.sfi } : {}),
  });
  await session.sendAll(cmds, opts.label ? { label: opts.label } : {});
  return cmds.length;
}

/** Formats a trace record as one line ("#12 +35.2ms 00 D6 00 00 Lc=247 SW=9000 1.1ms scp03"). */
export function formatTraceRecord(r: ApduTraceRecord): string {
  const hdr = `${byteHex(r.cla)} ${byteHex(r.ins)} ${byteHex(r.p1)} ${byteHex(r.p2)}`;
  const le = r.le !== undefined ? ` Le=${r.le}` : '';
  return `#${r.seq} +${r.atMs.toFixed(1)}ms ${hdr}${r.name ? ` ${r.name}` : ''} Lc=${r.lc}${le} -> ${r.responseLength}B SW=${r.sw
    .toString(16)
    .toUpperCase()
    .padStart(4, '0')} ${r.durationMs.toFixed(2)}ms ${r.secure}${r.label ? ` [${r.label}]` : ''}`;
}
