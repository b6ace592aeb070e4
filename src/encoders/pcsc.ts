/**
 * The PC/SC CardChannel adapter (DESIGN.md §3: chip defines the port, encoders implements it) on the npm `pcsclite`
 * binding (1.0.1), with what the binding leaves to its user (DESIGN.md §4):
 *
 * - Share mode chosen on purpose: an encoder connects EXCLUSIVE (no other application may slip an APDU into a
 *   secure channel session, nor reset the card mid-write); a read-only inspection may connect SHARED.
 * - Protocol T=1 only (the card's ATR offers T=1; a T=0 card would need GET RESPONSE handling for case 4 that
 *   the encode sequence does not expect). SCardConnect's answer is checked.
 * - The receive length is given explicitly on every SCardTransmit (the binding has no default; the examples use
 *   258): 65 538 bytes = the largest extended response (65 536 data bytes + SW1 SW2).
 * - Reader state is tracked from the binding's per-reader status events (SCardGetStatusChange), including the
 *   event counter pcsc-lite keeps in the upper 16 bits of dwEventState: a card pulled and put back between two of
 *   pcscd's polls still shows as a new insertion. Events: 'inserted', 'removed', 'status', 'reader', 'error'.
 * - A card reset by another party (SCARD_W_RESET_CARD) is reconnected at once; the APDU that saw it fails with a
 *   typed error, because whatever secure channel was open is gone with the reset.
 * - A failed transmit is classified: when the reader reports the slot empty (within `removalGraceMs`), the card
 *   was removed (CARD_REMOVED); otherwise the transport failed (CARD_TRANSPORT_FAILED). A transmit that does not
 *   return within `transmitTimeoutMs` is CARD_TIMEOUT. None of these is retryable (chip/errors.ts).
 * - pcsclite's close() makes its reader-list thread fail with SCARD_E_CANCELLED, which the binding emits as an
 *   'error' event: a listener is always attached (an unhandled 'error' event would kill the process).
 * - A reader object's close() must not come right after its creation: the binding's status thread can then miss
 *   the SCardCancel and never signal its uv_async handle, and the process never exits (measured). Readers a context
 *   does not track are therefore kept until the context closes, not closed at once.
 * - An empty response (vpcd's answer when a virtual card's connection closes mid-exchange) is a transport failure,
 *   never a response APDU.
 *
 * The binding runs SCardConnect/SCardTransmit on the libuv thread pool (uv_queue_work, 4 threads unless
 * UV_THREADPOOL_SIZE says otherwise) and keeps one PC/SC context per reader object for them, plus one status
 * thread per reader: with more than 4 encoders busy in one process, set UV_THREADPOOL_SIZE (see
 * docs/decisions/0008-encoding.md for the measurements).
 *
 * PCSCLITE_CSOCK_NAME must name the right pcscd socket before the first PC/SC call of the process.
 */
import { EventEmitter } from 'node:events';
import pcsclite from 'pcsclite';
import { CardCommunicationError, type CardCommunicationReason, type Transmitter } from '../chip/index.ts';

type Pcsc = ReturnType<typeof pcsclite>;
/** The binding's reader object. */
export type PcscReader = Parameters<Parameters<Pcsc['on']>[1]>[0] & { name: string };

/** winscard.h reader state bits (low 16 bits of dwEventState). */
export const SCARD_STATE_CHANGED = 0x0002;
export const SCARD_STATE_UNAVAILABLE = 0x0008;
export const SCARD_STATE_EMPTY = 0x0010;
export const SCARD_STATE_PRESENT = 0x0020;
export const SCARD_STATE_EXCLUSIVE = 0x0080;
export const SCARD_STATE_INUSE = 0x0100;
export const SCARD_STATE_MUTE = 0x0200;

/** PC/SC return codes Kadi tells apart (pcsclite.h). */
export const SCARD_E_SHARING_VIOLATION = 0x8010000b;
export const SCARD_E_NO_SMARTCARD = 0x8010000c;
export const SCARD_E_NOT_TRANSACTED = 0x80100016;
export const SCARD_E_READER_UNAVAILABLE = 0x80100017;
export const SCARD_E_NO_SERVICE = 0x8010001d;
export const SCARD_W_UNRESPONSIVE_CARD = 0x80100066;
export const SCARD_W_UNPOWERED_CARD = 0x80100067;
export const SCARD_W_RESET_CARD = 0x80100068;
export const SCARD_W_REMOVED_CARD = 0x80100069;

const PCSC_NAMES: Readonly<Record<number, string>> = {
  [SCARD_E_SHARING_VIOLATION]: 'SCARD_E_SHARING_VIOLATION',
  [SCARD_E_NO_SMARTCARD]: 'SCARD_E_NO_SMARTCARD',
  [SCARD_E_NOT_TRANSACTED]: 'SCARD_E_NOT_TRANSACTED',
  [SCARD_E_READER_UNAVAILABLE]: 'SCARD_E_READER_UNAVAILABLE',
  [SCARD_E_NO_SERVICE]: 'SCARD_E_NO_SERVICE',
  [SCARD_W_UNRESPONSIVE_CARD]: 'SCARD_W_UNRESPONSIVE_CARD',
  [SCARD_W_UNPOWERED_CARD]: 'SCARD_W_UNPOWERED_CARD',
  [SCARD_W_RESET_CARD]: 'SCARD_W_RESET_CARD',
  [SCARD_W_REMOVED_CARD]: 'SCARD_W_REMOVED_CARD',
};

/** Largest response APDU: 65 536 data bytes + SW1 SW2. */
export const EXTENDED_RECEIVE_LENGTH = 65_538;

/** The PC/SC return code in a pcsclite error message ("SCardTransmit error: Transaction failed.(0x80100016)"). */
export function pcscCode(e: unknown): number | undefined {
  const m = /\(0x([0-9a-fA-F]{8})\)/.exec(String((e as { message?: unknown })?.message ?? e));
  return m ? parseInt(m[1]!, 16) : undefined;
}

/** Name of a PC/SC return code, or its hex. */
export function pcscName(code: number | undefined): string {
  if (code === undefined) return 'unknown';
  return PCSC_NAMES[code] ?? `0x${code.toString(16).padStart(8, '0')}`;
}

/** A reader's last known state. */
export interface ReaderStatus {
  /** Raw dwEventState (event counter in the upper 16 bits). */
  state: number;
  present: boolean;
  empty: boolean;
  exclusive: boolean;
  inUse: boolean;
  mute: boolean;
  /** Card insertion/removal events counted by pcscd for this reader. */
  events: number;
  atr: Uint8Array | undefined;
  /** When this status arrived (ms, performance.now()). */
  at: number;
}

function toStatus(state: number, atr: Buffer | undefined): ReaderStatus {
  return {
    state,
    present: (state & SCARD_STATE_PRESENT) !== 0,
    empty: (state & SCARD_STATE_EMPTY) !== 0,
    exclusive: (state & SCARD_STATE_EXCLUSIVE) !== 0,
    inUse: (state & SCARD_STATE_INUSE) !== 0,
    mute: (state & SCARD_STATE_MUTE) !== 0,
    events: (state >>> 16) & 0xffff,
    atr: atr && atr.length > 0 ? new Uint8Array(atr) : undefined,
    at: performance.now(),
  };
}

interface Tracked {
  reader: PcscReader;
  status: ReaderStatus | undefined;
  waiters: Array<() => void>;
}

export interface PcscContextOptions {
  /** Reader names to wait for (each must report a first state) before `open` resolves. Default: none. */
  readers?: readonly string[];
  /** Only track these readers (the others' events are ignored; their status threads stop at close). Default: all. */
  only?: readonly string[];
  /** How long `open` waits for the readers, ms. Default 15 000. */
  timeoutMs?: number;
}

/**
 * One `pcsclite()` instance: the reader list and every tracked reader's state. Emits 'reader' (name), 'status'
 * (name, status), 'inserted' (name, status), 'removed' (name, status) and 'error' (Error, never thrown).
 */
export class PcscContext extends EventEmitter {
  private readonly pcsc: Pcsc;
  private readonly tracked = new Map<string, Tracked>();
  private readonly only: ReadonlySet<string> | undefined;
  private listWaiters: Array<() => void> = [];
  /** Readers not tracked whose status thread is still to be stopped (after their first status event). */
  private readonly untracked = new Set<PcscReader>();
  private closed = false;
  /** Last error reported by the binding (reader list), if any. */
  lastError: Error | undefined;

  private constructor(opts: PcscContextOptions) {
    super();
    this.only = opts.only ? new Set(opts.only) : undefined;
    this.on('error', () => undefined); // listeners of the context's own 'error' are optional
    this.pcsc = pcsclite();
    this.pcsc.on('error', (e: unknown) => {
      const err = e instanceof Error ? e : new Error(String(e));
      if (this.closed) return; // SCARD_E_CANCELLED from close()
      this.lastError = err;
      this.emit('error', err);
      for (const w of this.listWaiters.splice(0)) w();
    });
    this.pcsc.on('reader', (r: PcscReader) => this.onReader(r));
  }

  /** Opens a context and waits until every reader in `opts.readers` has reported a first state. */
  static async open(opts: PcscContextOptions = {}): Promise<PcscContext> {
    const ctx = new PcscContext(opts);
    try {
      for (const n of opts.readers ?? []) await ctx.waitFor(n, () => true, opts.timeoutMs ?? 15_000, 'a first state');
    } catch (e) {
      ctx.close();
      throw e;
    }
    return ctx;
  }

  private onReader(r: PcscReader): void {
    if (this.only && !this.only.has(r.name)) {
      // Not tracked: its events are ignored. Its status thread is stopped with the others in close(), not now:
      // closed right after it starts, the binding's thread can miss SCardCancel and block the process.
      r.on('error', () => undefined);
      this.untracked.add(r);
      return;
    }
    const t: Tracked = { reader: r, status: undefined, waiters: [] };
    this.tracked.set(r.name, t);
    r.on('error', (e: unknown) => {
      if (!this.closed) this.emit('error', e instanceof Error ? e : new Error(String(e)));
    });
    r.on('end', () => {
      if (this.tracked.get(r.name) === t) this.tracked.delete(r.name);
    });
    r.on('status', (st: { state: number; atr?: Buffer }) => {
      const prev = t.status;
      const next = toStatus(st.state, st.atr);
      t.status = next;
      this.emit('status', r.name, next);
      if (next.present && (!prev || !prev.present || prev.events !== next.events)) this.emit('inserted', r.name, next);
      if (!next.present && prev?.present) this.emit('removed', r.name, next);
      for (const w of t.waiters.splice(0)) w();
    });
    this.emit('reader', r.name);
    for (const w of this.listWaiters.splice(0)) w();
  }

  /** Names of the readers seen so far. */
  readerNames(): string[] {
    return [...this.tracked.keys()].sort();
  }

  /** The binding's reader object. Throws when the reader is unknown. */
  reader(name: string): PcscReader {
    const t = this.tracked.get(name);
    if (!t) throw new CardCommunicationError('CARD_TRANSPORT_FAILED', `no PC/SC reader named "${name}"`, { details: { reader: name } });
    return t.reader;
  }

  /** Last known state of a reader (undefined before its first status event). */
  status(name: string): ReaderStatus | undefined {
    return this.tracked.get(name)?.status;
  }

  /** Waits until `pred(status)` holds for reader `name`. Rejects after `timeoutMs` or on a context error. */
  waitFor(name: string, pred: (s: ReaderStatus) => boolean, timeoutMs: number, what = 'the expected state'): Promise<ReaderStatus> {
    return new Promise((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        done = true;
        reject(new CardCommunicationError('CARD_TIMEOUT', `reader "${name}": no ${what} within ${timeoutMs} ms`, { details: { reader: name } }));
      }, timeoutMs);
      const check = (): void => {
        if (done) return;
        if (this.closed) {
          done = true;
          clearTimeout(timer);
          reject(new CardCommunicationError('CARD_TRANSPORT_FAILED', 'the PC/SC context is closed'));
          return;
        }
        const t = this.tracked.get(name);
        if (t?.status && pred(t.status)) {
          done = true;
          clearTimeout(timer);
          resolve(t.status);
          return;
        }
        if (t) t.waiters.push(check);
        else this.listWaiters.push(check);
      };
      check();
    });
  }

  /** Waits for a card in `name`; resolves with its status (ATR). */
  waitPresent(name: string, timeoutMs = 15_000): Promise<ReaderStatus> {
    return this.waitFor(name, (s) => s.present, timeoutMs, 'card');
  }

  /** Waits until `name` is empty. */
  waitEmpty(name: string, timeoutMs = 15_000): Promise<ReaderStatus> {
    return this.waitFor(name, (s) => s.empty, timeoutMs, 'empty slot');
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Stops every status thread and the reader list thread. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.tracked.values()) {
      try {
        t.reader.close();
      } catch {
        // already closed
      }
      for (const w of t.waiters.splice(0)) w();
    }
    for (const r of this.untracked) {
      try {
        r.close();
      } catch {
        // already closed
      }
    }
    for (const w of this.listWaiters.splice(0)) w();
    try {
      this.pcsc.close();
    } catch {
      // already closed
    }
  }
}

export type ShareMode = 'exclusive' | 'shared';
export type Disposition = 'leave' | 'reset' | 'unpower';

/** Options of a {@link PcscCardChannel}. */
export interface PcscChannelOptions {
  /** SCARD_SHARE_EXCLUSIVE (default: encoding) or SCARD_SHARE_SHARED (read-only inspection). */
  share?: ShareMode;
  /** Receive buffer per SCardTransmit, bytes. Default 65 538 (extended responses). */
  receiveLength?: number;
  /** A transmit that takes longer fails with CARD_TIMEOUT, ms. Default 30 000. */
  transmitTimeoutMs?: number;
  /** After a failed transmit, how long to wait for the reader to report the slot empty (removal), ms. Default 1 500
   *  (pcscd polls card presence about every 400 ms). */
  removalGraceMs?: number;
}

/** Counters of a channel (transport time is what the benchmark subtracts from the card time). */
export interface ChannelStats {
  transmits: number;
  /** Milliseconds spent inside SCardTransmit (call to callback). */
  transportMs: number;
  bytesSent: number;
  bytesReceived: number;
  connects: number;
  /** Reconnects after SCARD_W_RESET_CARD. */
  resetsSeen: number;
}

/** The Transmitter (CardChannel) over one PC/SC reader. One card session at a time; not re-entrant. */
export class PcscCardChannel implements Transmitter {
  readonly name: string;
  readonly share: ShareMode;
  private readonly receiveLength: number;
  private readonly transmitTimeoutMs: number;
  private readonly removalGraceMs: number;
  private protocol: number | undefined;
  private busy = false;
  readonly stats: ChannelStats = { transmits: 0, transportMs: 0, bytesSent: 0, bytesReceived: 0, connects: 0, resetsSeen: 0 };

  constructor(
    private readonly ctx: PcscContext,
    name: string,
    opts: PcscChannelOptions = {},
  ) {
    this.name = name;
    this.share = opts.share ?? 'exclusive';
    this.receiveLength = opts.receiveLength ?? EXTENDED_RECEIVE_LENGTH;
    this.transmitTimeoutMs = opts.transmitTimeoutMs ?? 30_000;
    this.removalGraceMs = opts.removalGraceMs ?? 1_500;
    if (!Number.isInteger(this.receiveLength) || this.receiveLength < 2 || this.receiveLength > EXTENDED_RECEIVE_LENGTH) {
      throw new RangeError(`receiveLength ${this.receiveLength} outside 2..${EXTENDED_RECEIVE_LENGTH}`);
    }
  }

  private get reader(): PcscReader {
    return this.ctx.reader(this.name);
  }

  get isConnected(): boolean {
    return this.protocol !== undefined && this.reader.connected;
  }

  /** The ATR of the card in the reader (last status). */
  get atr(): Uint8Array | undefined {
    return this.ctx.status(this.name)?.atr;
  }

  private fail(reason: CardCommunicationReason, message: string, code?: number, extra: Record<string, unknown> = {}): CardCommunicationError {
    return new CardCommunicationError(reason, `reader "${this.name}": ${message}`, {
      details: { reader: this.name, ...(code !== undefined ? { pcsc: pcscName(code) } : {}), ...extra },
    });
  }

  /** SCardConnect with the share mode of this channel and T=1. */
  async connect(): Promise<void> {
    const r = this.reader;
    if (r.connected && this.protocol !== undefined) return;
    if (r.connected) await this.disconnect('leave'); // a stale handle (after a failure): start afresh
    const share = this.share === 'exclusive' ? r.SCARD_SHARE_EXCLUSIVE : r.SCARD_SHARE_SHARED;
    const protocol = await new Promise<number>((resolve, reject) =>
      r.connect({ share_mode: share, protocol: r.SCARD_PROTOCOL_T1 }, (err, p) => {
        if (err) {
          const code = pcscCode(err);
          const reason: CardCommunicationReason =
            code === SCARD_E_NO_SMARTCARD || code === SCARD_W_REMOVED_CARD ? 'CARD_REMOVED' : 'CARD_TRANSPORT_FAILED';
          reject(this.fail(reason, `cannot connect (${pcscName(code)})`, code));
        } else resolve(p);
      }),
    );
    if (protocol !== r.SCARD_PROTOCOL_T1) {
      await this.disconnect('leave');
      throw this.fail('CARD_TRANSPORT_FAILED', `the card did not accept protocol T=1 (got ${protocol})`);
    }
    this.protocol = protocol;
    this.stats.connects++;
  }

  /** SCardDisconnect with the given disposition (default: leave the card as it is). Never throws. */
  async disconnect(disposition: Disposition = 'leave'): Promise<void> {
    this.protocol = undefined;
    let r: PcscReader;
    try {
      r = this.reader;
    } catch {
      return;
    }
    if (!r.connected) return;
    const d = disposition === 'reset' ? r.SCARD_RESET_CARD : disposition === 'unpower' ? r.SCARD_UNPOWER_CARD : r.SCARD_LEAVE_CARD;
    await new Promise<void>((resolve) =>
      r.disconnect(d, (err) => {
        // The binding clears `connected` only on success; after a removal the handle is dead anyway, and a stale
        // `connected = true` would make the next connect() a no-op.
        if (err) (r as { connected: boolean }).connected = false;
        resolve();
      }),
    );
  }

  /**
   * Resets the card (warm reset: SCardDisconnect with SCARD_RESET_CARD) and connects again, so a session starts
   * from the card's reset state whatever the previous user left selected. When not connected, connects first (a
   * plain SCardConnect does not reset a card that another connection left powered).
   */
  async reset(): Promise<void> {
    if (!this.isConnected) await this.connect();
    await this.disconnect('reset');
    await this.connect();
  }

  private rawTransmit(r: PcscReader, apdu: Uint8Array): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(this.fail('CARD_TIMEOUT', `no response within ${this.transmitTimeoutMs} ms`));
      }, this.transmitTimeoutMs);
      r.transmit(Buffer.from(apdu.buffer, apdu.byteOffset, apdu.byteLength), this.receiveLength, this.protocol!, (err, res) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err instanceof Error ? err : new Error(String(err)));
        else resolve(res);
      });
    });
  }

  /** One APDU exchange (the Transmitter port). Failures are typed {@link CardCommunicationError}s. */
  async transmit(apdu: Uint8Array): Promise<Uint8Array> {
    if (this.busy) throw this.fail('CARD_TRANSPORT_FAILED', 'transmit while another transmit is in flight');
    if (this.protocol === undefined) throw this.fail('CARD_TRANSPORT_FAILED', 'not connected');
    const r = this.reader;
    this.busy = true;
    const t0 = performance.now();
    try {
      const res = await this.rawTransmit(r, apdu);
      // vpcd 0.8 answers an *empty, successful* response when the card's connection closed before the length
      // frame (see docs/decisions/0005-virtual-cards.md): no card answers 0 bytes, so this is a transport failure.
      if (res.length === 0) throw await this.classify(new Error('empty response from the reader'));
      this.stats.transmits++;
      this.stats.bytesSent += apdu.length;
      this.stats.bytesReceived += res.length;
      return new Uint8Array(res.buffer, res.byteOffset, res.byteLength);
    } catch (e) {
      if (e instanceof CardCommunicationError) {
        if (e.reason === 'CARD_TIMEOUT' || e.reason === 'CARD_REMOVED') this.protocol = undefined; // the native call may still be pending
        throw e;
      }
      throw await this.classify(e);
    } finally {
      this.stats.transportMs += performance.now() - t0;
      this.busy = false;
    }
  }

  private async classify(e: unknown): Promise<CardCommunicationError> {
    const code = pcscCode(e);
    if (code === SCARD_W_RESET_CARD) {
      // Another party reset the card: reconnect so the reader is usable, but the session state is gone.
      this.stats.resetsSeen++;
      let reconnected = false;
      try {
        await this.disconnect('leave');
        await this.connect();
        reconnected = true;
      } catch {
        // reported below
      }
      return this.fail('CARD_TRANSPORT_FAILED', 'the card was reset by another application; the session is lost', code, { reconnected });
    }
    this.protocol = undefined;
    if (code === SCARD_W_REMOVED_CARD || code === SCARD_E_NO_SMARTCARD) return this.fail('CARD_REMOVED', 'the card was removed', code);
    // "Transaction failed" and friends: removed if the reader reports the slot empty shortly.
    try {
      await this.ctx.waitFor(this.name, (s) => !s.present, this.removalGraceMs, 'removal');
      return this.fail('CARD_REMOVED', `the card was removed during the exchange (${pcscName(code)})`, code);
    } catch {
      const msg = code === undefined ? String((e as Error)?.message ?? e).slice(0, 120) : pcscName(code);
      return this.fail('CARD_TRANSPORT_FAILED', `transmission failed (${msg})`, code);
    }
  }
}
