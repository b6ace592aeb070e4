/**
 * The card runtime ("card OS"): takes a command APDU, answers a response APDU. No I/O of its own besides the
 * card store; the vpcd transport (vpcd.ts) and unit tests call {@link CardRuntime.transmit}.
 *
 * Per APDU, in this order:
 * 1. Parse (ISO/IEC 7816-4 §5.1, short and extended). Malformed: '6700'. CLA 'FF': '6E00'. Logical channels other
 *    than the basic channel: '6881'. Data field longer than the card's profile allows: '6700'.
 * 2. GET RESPONSE ('00 C0'): returns the rest of a response announced with '61XX'.
 * 3. Secure messaging, by CLA:
 *    - GP class with b3 set ('84'), or interindustry class '04' (b4-b3 = 01, "proprietary SM", which GP uses for
 *      SCP03 on ISO commands): SCP03. With an established session: C-MAC verified / C-DEC applied; a failure
 *      closes the session and answers the channel's SW ('6982' / '6988'). Without one, only EXTERNAL AUTHENTICATE
 *      ('84 82', which carries its own MAC) is let through, to the secure channel service; others get '6982'.
 *    - Interindustry class with b4 set ('0C'): ICAO secure messaging (BAC), unwrapped by the open BAC session;
 *      without one '6987'. An SM failure answers '6987'/'6988' plain and ends the session (9303-11 §9.8.4).
 *    - Plain: an open BAC session ends (9303-11: "the chip MUST abort SM on a plain APDU"), except for GET
 *      RESPONSE. An SCP03 session stays; the command simply is not authenticated (applets decide, as a Java
 *      Card applet does with `SecureChannel.getSecurityLevel()`).
 * 4. Command chaining (CLA b5, §5.3.3): parts are joined (after unwrapping each); intermediate parts answer '9000'.
 * 5. Card life cycle gate (GP 2.3 §5.1.1): TERMINATED answers '6A81' to everything but SELECT of the ISD and
 *    GET DATA; CARD_LOCKED lets only the ISD be selected.
 * 6. SELECT by DF name ('00 A4 04'): selects an installed applet by (partial) AID, or the ISD on an empty AID;
 *    deselects the previous applet and closes the secure messaging session. SELECT MF ('3F00' or empty FID):
 *    back to the OS. Other commands go to the selected applet; with none selected (after reset), GP-class
 *    commands go to the ISD (the implicitly selected application) and interindustry ones to the OS's MF handler.
 * 7. The response is protected by the session the command arrived under (R-MAC/R-ENC or ICAO SM).
 * 8. Response longer than Ne: '61XX' and GET RESPONSE (fixed-length objects of short commands: '6CXX').
 *    No Le at all (case 1/3): the data is returned anyway (what T=1 cards do).
 * 9. Persistent state changes reach the card store (see {@link CardRuntimeOptions.commit}): by default at once —
 *    before the response leaves the card, a store failure answering '6581' — only when a life cycle, a counter or
 *    a key set changed (a lock, SET STATUS, INITIALIZE UPDATE's sequence counter, authentication failure counts,
 *    PUT KEY); bulk content (files, AA key, BAC secrets) is written with the next of those, at power-off or reset
 *    (which is also what a pulled card gets: everything the card answered is in the store), or when the card has
 *    been idle for a moment ({@link VirtualCard}'s idle flush). A whole-card JSON write per UPDATE BINARY cost the
 *    card process more CPU than the command itself (docs/decisions/0005-virtual-cards.md).
 */
import { randomBytes } from 'node:crypto';
import {
  encodeResponse,
  joinChain,
  parseCommand,
  type CommandApdu,
  type ResponseApdu,
} from '../../src/chip/index.ts';
import { buildAtr } from './atr.ts';
import {
  CLA_CHAINING,
  CLA_INVALID,
  CardStatus,
  FID_MF,
  INS_GET_DATA,
  INS_GET_RESPONSE,
  INS_EXTERNAL_AUTHENTICATE,
  INS_READ_BINARY,
  INS_READ_BINARY_ODD,
  INS_SELECT,
  INS_GET_CHALLENGE,
  INS_INTERNAL_AUTHENTICATE,
  SELECT_P1_DF_NAME,
  SELECT_P1_FID,
  SELECT_P1_PATH_FROM_MF,
  SELECT_P2_NO_DATA,
  SELECT_P2_RETURN_MASK,
  SW1_BYTES_REMAINING,
  SW1_CORRECT_LENGTH,
  SW_CLA_NOT_SUPPORTED,
  SW_CONDITIONS_NOT_SATISFIED,
  SW_FILE_NOT_FOUND,
  SW_FUNCTION_NOT_SUPPORTED,
  SW_LAST_COMMAND_EXPECTED,
  SW_LOGICAL_CHANNEL_NOT_SUPPORTED,
  SW_MEMORY_FAILURE,
  SW_NO_ERROR,
  SW_SECURITY_STATUS_NOT_SATISFIED,
  SW_SM_DATA_MISSING,
  SW_UNKNOWN,
  SW_WRONG_LENGTH,
  hasGpSecureMessaging,
  hasIsoSecureMessaging,
  isGpClass,
} from './iso.ts';
import { type ElementaryFile, encodeDfFcp } from './fs.ts';
import { mfProcess, type MfContext } from './os.ts';
import { CARD_LIFE_CYCLE, type CardState } from './state.ts';
import { type CardStore, serializeCard } from './store.ts';

/** How a command arrived: which secure messaging protected it (set by the runtime, read by applets). */
export interface Protection {
  /** SCP03: the security level in force and whether this command carried a verified C-MAC / was decrypted. */
  scp03?: { level: number; cmac: boolean; cdec: boolean };
  /** ICAO secure messaging (BAC): command MAC verified, data decrypted. */
  bac?: boolean;
}

/** A command as applets see it: unwrapped, chain joined, with its protection. */
export interface CardCommand extends CommandApdu {
  readonly protection: Protection;
}

/** What an applet answers. */
export interface CardResponse {
  data: Uint8Array;
  sw: number;
  /**
   * The data is one fixed object (a GET DATA object): a short Le that is too small gets '6CXX' (retry with the
   * right Le) instead of '61XX'.
   */
  exactLength?: boolean;
}

export const EMPTY = new Uint8Array(0);

export function ok(data: Uint8Array = EMPTY): CardResponse {
  return { data, sw: SW_NO_ERROR };
}

/**
 * A secure messaging session opened by an applet (SCP03 by the ISD's secure channel service, BAC by the eID
 * applet). At most one is open; it belongs to the applet that was selected when it was opened and ends when
 * another SELECT by AID happens, on reset/power-off, or on any verification failure.
 */
export interface SmSession {
  readonly kind: 'scp03' | 'bac';
  /** AID (upper-case hex) of the applet that opened it. */
  readonly ownerAid: string;
  /** Commands can be unwrapped (SCP03: after EXTERNAL AUTHENTICATE; BAC: always). */
  readonly established: boolean;
  /** Unwraps a protected command. Throws (SecureChannelError or CardStatus, with `sw`) on failure. */
  unwrap(cmd: CommandApdu): { cmd: CommandApdu; protection: Protection };
  /** Protects the response to a command that arrived under this session. */
  wrap(res: ResponseApdu, cmd: CardCommand): ResponseApdu;
  close(): void;
}

/** The ISD's secure channel service (GP API `GPSystem.getSecureChannel()`), reachable from every applet. */
export interface SecureChannelService {
  /**
   * Processes INITIALIZE UPDATE / EXTERNAL AUTHENTICATE for the selected applet (Java Card
   * `SecureChannel.processSecurity`). Opens the session on the runtime.
   */
  processSecurity(rt: CardRuntime, cmd: CardCommand): CardResponse;
}

/** An on-card application. */
export interface Applet {
  /** AID, upper-case hex. */
  readonly aid: string;
  readonly name: string;
  /** SELECT by AID: returns the FCI (response data for P2 '00'), or throws CardStatus. */
  select(rt: CardRuntime, cmd: CardCommand): Uint8Array;
  /** Called when another applet (or the MF) is selected, and on reset. */
  deselect?(rt: CardRuntime): void;
  process(rt: CardRuntime, cmd: CardCommand): CardResponse;
}

/** Per-runtime counters (volatile; for tests and diagnostics). */
export interface RuntimeStats {
  apdus: number;
  powerOns: number;
  saves: number;
  /** Last status words, newest last (at most 32) — debug aid for tests. */
  lastSws: number[];
}

export interface CardRuntimeOptions {
  /** Where state changes are written. Without a store, changes stay in memory. */
  store?: CardStore;
  /** Debug log of the card (never sent to the terminal). */
  log?: (line: string) => void;
  /** Clock for `updatedAt` and CPLC dates. */
  now?: () => Date;
  /** Random source (tests may fix it). */
  random?: (n: number) => Uint8Array;
  /** Largest joined command chain, bytes. Default 65 535. */
  maxChainData?: number;
  /**
   * When state changes are written to the store. `'deferred'` (default): at once for life cycles, counters and key
   * sets; other changes at the next of those, at power-off/reset, or on {@link CardRuntime.persist} (idle flush).
   * `'apdu'`: after every APDU that changed persistent state (an EEPROM commit per command).
   */
  commit?: 'deferred' | 'apdu';
}

/** Instructions that never change persistent state (the store is not compared after them). */
const READ_ONLY_INS = new Set([INS_SELECT, INS_READ_BINARY, INS_READ_BINARY_ODD, INS_GET_RESPONSE, INS_GET_DATA, INS_GET_CHALLENGE, INS_INTERNAL_AUTHENTICATE]);

export class CardRuntime implements MfContext {
  readonly atr: Uint8Array;
  readonly stats: RuntimeStats = { apdus: 0, powerOns: 0, saves: 0, lastSws: [] };
  /** Set by the ISD at installation. */
  secureChannel: SecureChannelService | undefined;

  private readonly applets: Applet[] = [];
  private selected: Applet | undefined;
  private smSession: SmSession | undefined;
  private chain: CommandApdu[] | undefined;
  private pending: Uint8Array | undefined;
  private powered = false;
  private dirty = false;
  /** Changes made since the last write to the store. */
  private unsaved = false;
  /** The last state written (serialised without its timestamp); computed on first use. */
  private lastComparable: string | undefined;
  private readonly commitEvery: boolean;
  /** Current EF when the MF is the current DF. */
  mfCurrentEf: ElementaryFile | undefined;
  private readonly store: CardStore | undefined;
  private readonly log: (line: string) => void;
  readonly now: () => Date;
  readonly random: (n: number) => Uint8Array;
  private readonly maxChainData: number;

  constructor(
    readonly state: CardState,
    opts: CardRuntimeOptions = {},
  ) {
    this.atr = buildAtr();
    this.store = opts.store;
    this.log = opts.log ?? (() => undefined);
    this.now = opts.now ?? (() => new Date());
    this.random = opts.random ?? ((n) => new Uint8Array(randomBytes(n)));
    this.maxChainData = opts.maxChainData ?? 65_535;
    this.commitEvery = opts.commit === 'apdu';
    if (this.store) this.lastComparable = this.comparable();
  }

  get serial(): string {
    return this.state.serial;
  }

  /** Installs an applet (factory time). */
  install(applet: Applet): void {
    if (this.applets.some((a) => a.aid === applet.aid)) throw new Error(`applet ${applet.aid} installed twice`);
    this.applets.push(applet);
  }

  applet(aid: string): Applet | undefined {
    return this.applets.find((a) => a.aid === aid.toUpperCase());
  }

  /** AID of the selected applet, or undefined when the MF is current. */
  get selectedAid(): string | undefined {
    return this.selected?.aid;
  }

  // ---- power ------------------------------------------------------------------------------------------------

  /** Cold or warm reset: volatile state is lost (selection, sessions, chains), persistent state kept (and written). */
  powerOn(): void {
    this.persistQuietly('reset');
    this.resetVolatile();
    this.powered = true;
    this.stats.powerOns++;
  }

  /** Power off (deactivation, or the card pulled out): unsaved changes are written first. */
  powerOff(): void {
    this.persistQuietly('power-off');
    this.resetVolatile();
    this.powered = false;
  }

  /** Whether changes wait to be written to the store. */
  get hasUnsavedChanges(): boolean {
    return this.unsaved;
  }

  /** Writes unsaved changes where no status word can report a failure (power-off, reset, idle): logs it instead. */
  persistQuietly(why: string): void {
    try {
      this.persist();
    } catch (e) {
      this.debug(`card store write at ${why} failed: ${(e as Error).message}`);
    }
  }

  get isPowered(): boolean {
    return this.powered;
  }

  private resetVolatile(): void {
    this.closeSession();
    this.selected?.deselect?.(this);
    this.selected = undefined;
    this.mfCurrentEf = undefined;
    this.chain = undefined;
    this.pending = undefined;
  }

  // ---- sessions (context for applets) -------------------------------------------------------------------------

  get session(): SmSession | undefined {
    return this.smSession;
  }

  /** Opens a secure messaging session (closing any other). */
  openSession(s: SmSession): void {
    this.closeSession();
    this.smSession = s;
  }

  closeSession(): void {
    this.smSession?.close();
    this.smSession = undefined;
  }

  /**
   * Applets call this after changing persistent state. `commit`: write it before the response leaves the card
   * (key sets); life cycles and counters are detected by the runtime itself.
   */
  changed(commit = false): void {
    this.dirty = true;
    if (commit) this.commitNow = true;
  }
  private commitNow = false;

  /** Life cycles, counters and key versions: changes to these are written at once. */
  private commitMark(): string {
    const s = this.state;
    const c = s.counters;
    return `${s.cardLifeCycle}/${s.eid.lifeCycle}/${c.scpSequence}/${c.scpAuthFailures}/${c.bacAuthFailures}/${s.keys.length}`;
  }

  debug(line: string): void {
    this.log(`[card ${this.state.serial}] ${line}`);
  }

  // ---- APDU -------------------------------------------------------------------------------------------------

  /** Processes one command APDU and returns the response APDU (data || SW1 SW2). */
  transmit(raw: Uint8Array): Uint8Array {
    if (!this.powered) this.powerOn(); // a terminal that skipped the power-on gets an implicit cold reset
    this.stats.apdus++;
    let res: ResponseApdu;
    let ins = -1;
    const mark = this.store ? this.commitMark() : '';
    try {
      ins = raw[1] ?? -1;
      res = this.process(raw);
    } catch (e) {
      res = { data: EMPTY, sw: this.swOf(e) };
    }
    if (this.dirty || !READ_ONLY_INS.has(ins)) {
      this.dirty = false;
      this.unsaved = true;
      if (this.commitEvery || this.commitNow || (this.store && this.commitMark() !== mark)) {
        this.commitNow = false;
        try {
          this.persist();
        } catch (e) {
          this.debug(`card store write failed: ${(e as Error).message}`);
          res = { data: EMPTY, sw: SW_MEMORY_FAILURE };
        }
      }
    }
    this.stats.lastSws.push(res.sw);
    if (this.stats.lastSws.length > 32) this.stats.lastSws.shift();
    return encodeResponse(res);
  }

  private swOf(e: unknown): number {
    if (e instanceof CardStatus) {
      if (e.reason) this.debug(`${e.message}`);
      return e.sw;
    }
    const sw = (e as { sw?: unknown }).sw;
    if (typeof sw === 'number' && (e as { code?: string }).code?.startsWith('CARD_SECURE_CHANNEL_')) {
      this.debug(`secure channel: ${(e as Error).message}`);
      return sw;
    }
    if ((e as { code?: string }).code === 'APDU_INVALID') return SW_WRONG_LENGTH;
    this.debug(`internal error: ${(e as Error).stack ?? String(e)}`);
    return SW_UNKNOWN;
  }

  /** Serialization without the timestamp, to detect changes. */
  private comparable(): string {
    return serializeCard({ ...this.state, updatedAt: '' });
  }

  /** Writes unsaved changes to the store now, when the state differs from what was last written. Throws when the
   *  store fails (the changes stay unsaved). Without a store, changes stay in memory. */
  persist(): void {
    if (!this.unsaved) return;
    if (!this.store) {
      this.unsaved = false;
      return;
    }
    const now = this.comparable();
    if (now !== this.lastComparable) {
      const at = this.state.updatedAt;
      this.state.updatedAt = this.now().toISOString();
      try {
        this.store.write(this.state.serial, serializeCard(this.state));
      } catch (e) {
        this.state.updatedAt = at;
        throw e;
      }
      this.lastComparable = now;
      this.stats.saves++;
    }
    this.unsaved = false;
  }

  private process(raw: Uint8Array): ResponseApdu {
    const wire = parseCommand(raw);
    if (wire.cla === CLA_INVALID) throw new CardStatus(SW_CLA_NOT_SUPPORTED, 'CLA FF');
    if (logicalChannelOf(wire.cla) !== 0) throw new CardStatus(SW_LOGICAL_CHANNEL_NOT_SUPPORTED);
    if ((wire.data?.length ?? 0) > this.state.profile.maxCommandData) {
      throw new CardStatus(SW_WRONG_LENGTH, `Nc ${wire.data?.length} above the card's ${this.state.profile.maxCommandData}`);
    }

    // 2. GET RESPONSE
    if (wire.ins === INS_GET_RESPONSE && !isGpClass(wire.cla)) return this.getResponse(wire);
    this.pending = undefined;

    // 3. secure messaging
    let cmd: CardCommand;
    let session: SmSession | undefined;
    const s = this.smSession;
    if (hasGpSecureMessaging(wire.cla)) {
      if (s?.kind === 'scp03' && s.established) {
        cmd = this.unwrapWith(s, wire);
        session = s;
      } else if (wire.ins === INS_EXTERNAL_AUTHENTICATE) {
        cmd = { ...wire, protection: {} }; // carries its own C-MAC: verified by the secure channel service
      } else {
        throw new CardStatus(SW_SECURITY_STATUS_NOT_SATISFIED, 'SCP03 command without a secure channel');
      }
    } else if (hasIsoSecureMessaging(wire.cla)) {
      if (s?.kind !== 'bac') throw new CardStatus(SW_SM_DATA_MISSING, 'SM command without an SM session');
      cmd = this.unwrapWith(s, wire);
      session = s;
    } else {
      if (s?.kind === 'bac') {
        this.debug('plain command ends the BAC session');
        this.closeSession();
      }
      cmd = { ...wire, protection: {} };
    }

    // 4. chaining
    if (cmd.cla & CLA_CHAINING) {
      const chain = this.chain ?? [];
      const first = chain[0];
      if (first && (first.ins !== cmd.ins || first.p1 !== cmd.p1 || first.p2 !== cmd.p2)) {
        this.chain = undefined;
        throw new CardStatus(SW_LAST_COMMAND_EXPECTED, 'chain mixes commands');
      }
      chain.push(cmd);
      const total = chain.reduce((n, c) => n + (c.data?.length ?? 0), 0);
      if (total > this.maxChainData) {
        this.chain = undefined;
        throw new CardStatus(SW_WRONG_LENGTH, 'command chain too long');
      }
      this.chain = chain;
      return this.protect({ data: EMPTY, sw: SW_NO_ERROR }, cmd, session);
    }
    if (this.chain) {
      const parts = this.chain;
      this.chain = undefined;
      const first = parts[0]!;
      if (first.ins !== cmd.ins || first.p1 !== cmd.p1 || first.p2 !== cmd.p2) {
        throw new CardStatus(SW_LAST_COMMAND_EXPECTED, 'chain not completed');
      }
      cmd = { ...joinChain([...parts, cmd]), protection: cmd.protection };
    }

    // 5.-6. dispatch
    let res: CardResponse;
    try {
      res = this.dispatch(cmd);
    } catch (e) {
      const sw = this.swOf(e);
      res = { data: EMPTY, sw };
    }
    const out = this.protect(res, cmd, session);
    return this.fitLe(out, wire, res.exactLength === true && !session);
  }

  private unwrapWith(s: SmSession, wire: CommandApdu): CardCommand {
    try {
      const { cmd, protection } = s.unwrap(wire);
      return { ...cmd, protection };
    } catch (e) {
      this.closeSession();
      throw e;
    }
  }

  /** Protects the response with the session the command came under, if it is still open. */
  private protect(res: CardResponse, cmd: CardCommand, session: SmSession | undefined): ResponseApdu {
    if (!session || session !== this.smSession) return { data: res.data, sw: res.sw };
    try {
      return session.wrap({ data: res.data, sw: res.sw }, cmd);
    } catch (e) {
      this.closeSession();
      throw e;
    }
  }

  /** Applies Ne: '61XX' + GET RESPONSE for long data, '6CXX' for fixed objects of short commands. */
  private fitLe(res: ResponseApdu, wire: CommandApdu, exact: boolean): ResponseApdu {
    const ne = wire.le;
    if (ne === undefined || res.data.length <= ne) return res;
    if (exact && !wire.extended && res.data.length <= 256) {
      return { data: EMPTY, sw: (SW1_CORRECT_LENGTH << 8) | (res.data.length & 0xff) };
    }
    if (res.sw !== SW_NO_ERROR && res.sw >>> 8 !== 0x62) return { data: res.data.subarray(0, ne), sw: res.sw };
    this.pending = res.data.slice(ne);
    const remaining = this.pending.length;
    return { data: res.data.subarray(0, ne), sw: (SW1_BYTES_REMAINING << 8) | (remaining >= 256 ? 0 : remaining) };
  }

  /** GET RESPONSE (ISO/IEC 7816-4 §11.7.1): next part of a pending response. */
  private getResponse(cmd: CommandApdu): ResponseApdu {
    if (cmd.p1 !== 0 || cmd.p2 !== 0) throw new CardStatus(0x6a86, 'GET RESPONSE P1-P2 must be 0000');
    const pending = this.pending;
    if (!pending) throw new CardStatus(SW_CONDITIONS_NOT_SATISFIED, 'no pending response');
    const ne = cmd.le ?? pending.length;
    const part = pending.subarray(0, ne);
    const rest = pending.subarray(part.length);
    this.pending = rest.length > 0 ? rest : undefined;
    if (rest.length > 0) return { data: part, sw: (SW1_BYTES_REMAINING << 8) | (rest.length >= 256 ? 0 : rest.length) };
    return { data: part, sw: SW_NO_ERROR };
  }

  private dispatch(cmd: CardCommand): CardResponse {
    const lc = this.state.cardLifeCycle;
    const isSelectByName = cmd.ins === INS_SELECT && !isGpClass(cmd.cla) && cmd.p1 === SELECT_P1_DF_NAME;
    if (lc === CARD_LIFE_CYCLE.TERMINATED) {
      const isd = this.isdAid();
      const selectsIsd = isSelectByName && (!cmd.data || cmd.data.length === 0 || this.findApplet(cmd.data)?.aid === isd);
      if (!selectsIsd && !(cmd.ins === INS_GET_DATA && this.selected?.aid === isd)) {
        throw new CardStatus(SW_FUNCTION_NOT_SUPPORTED, 'card terminated');
      }
    }
    if (isSelectByName) return this.selectByName(cmd);
    if (cmd.ins === INS_SELECT && !isGpClass(cmd.cla) && isSelectMf(cmd)) return this.selectMf(cmd);
    const app = this.selected;
    if (app) return app.process(this, cmd);
    // Nothing selected (the MF is current): GP-class commands go to the ISD, which GP makes the implicitly
    // selected application after reset (GP 2.3 §6.1.2); interindustry commands go to the OS's MF handler.
    if (isGpClass(cmd.cla)) {
      const isd = this.isdAid();
      const isdApplet = isd ? this.applet(isd) : undefined;
      if (!isdApplet) throw new CardStatus(SW_CLA_NOT_SUPPORTED, 'no security domain');
      return isdApplet.process(this, cmd);
    }
    return mfProcess(this, cmd);
  }

  /** AID of the Issuer Security Domain (the first installed applet flagged by the ISD itself). */
  isdAid(): string | undefined {
    return this.applets.find((a) => (a as { isIsd?: boolean }).isIsd)?.aid;
  }

  private findApplet(aid: Uint8Array): Applet | undefined {
    const want = Buffer.from(aid).toString('hex').toUpperCase();
    // full match first, then partial (ISO 7816-4 §8.2.2.2: a DF name may be given truncated)
    return this.applets.find((a) => a.aid === want) ?? this.applets.find((a) => a.aid.startsWith(want));
  }

  /** SELECT by DF name (ISO/IEC 7816-4 §11.2.2; GP 2.3 §11.9). */
  private selectByName(cmd: CardCommand): CardResponse {
    const data = cmd.data ?? EMPTY;
    const isd = this.isdAid();
    const app = data.length === 0 ? (isd ? this.applet(isd) : undefined) : this.findApplet(data);
    if (!app) {
      if (this.selected) return this.selected.process(this, cmd); // a DF name inside the application
      throw new CardStatus(SW_FILE_NOT_FOUND, 'no application with this AID');
    }
    if (this.state.cardLifeCycle === CARD_LIFE_CYCLE.CARD_LOCKED && app.aid !== isd) {
      throw new CardStatus(SW_FILE_NOT_FOUND, 'card locked: only the ISD is selectable');
    }
    const fci = app.select(this, cmd); // may refuse (throws) before anything changes
    this.closeSession();
    if (this.selected && this.selected !== app) this.selected.deselect?.(this);
    this.selected = app;
    this.mfCurrentEf = undefined;
    return ok((cmd.p2 & SELECT_P2_RETURN_MASK) === SELECT_P2_NO_DATA ? EMPTY : fci);
  }

  /** SELECT MF: '00 A4 00 xx 02 3F00', '00 A4 00 0C' (no data), or an empty path from the MF. */
  private selectMf(cmd: CardCommand): CardResponse {
    this.closeSession();
    this.selected?.deselect?.(this);
    this.selected = undefined;
    this.mfCurrentEf = undefined;
    return ok((cmd.p2 & SELECT_P2_RETURN_MASK) === SELECT_P2_NO_DATA ? EMPTY : encodeDfFcp(this.state.mf));
  }
}

function logicalChannelOf(cla: number): number {
  if (isGpClass(cla)) return cla & 0x03;
  if ((cla & 0x40) === 0) return cla & 0x03;
  return (cla & 0x0f) + 4;
}

function isSelectMf(cmd: CommandApdu): boolean {
  const d = cmd.data ?? EMPTY;
  if (cmd.p1 === SELECT_P1_FID) return d.length === 0 || (d.length === 2 && ((d[0]! << 8) | d[1]!) === FID_MF);
  if (cmd.p1 === SELECT_P1_PATH_FROM_MF) return d.length === 0;
  return false;
}
