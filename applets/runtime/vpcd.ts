/**
 * A virtual card plugged into a vsmartcard vpcd reader slot (DESIGN.md §4).
 *
 * vpcd protocol: the card is a TCP *client* of vpcd (127.0.0.1, port = base + 2 x reader + slot). Every message,
 * both ways, is a 2-byte big-endian length followed by the payload (at most 65 535 bytes):
 * ```
 *   vpcd -> card  1 byte  '00' power off   '01' power on   '02' reset   '04' get ATR (the only one answered)
 *   card -> vpcd          the ATR (answer to '04')
 *   vpcd -> card  n > 1   a command APDU
 *   card -> vpcd          the response APDU
 * ```
 * A connected card is an inserted card; closing the connection is pulling it out. pcscd polls presence (and the
 * ATR) about every 400 ms. If vpcd goes away (pcscd restarted), the card reconnects every `reconnectMs` until
 * `remove()`.
 *
 * Faults (tests of the encoder's error handling; counts are APDUs, control messages excluded):
 * - `removeAfterApdus: K` — K APDUs are answered; when APDU K+1 arrives the card is pulled: APDU K+1 is not
 *   executed, the connection is reset mid-response (see removeNow) and the card does not come back. The host's
 *   SCardTransmit fails ("Transaction failed", 0x80100016); pcscd then reports the slot empty.
 * - `garbageAfterApdus: K` — APDUs after the K-th are answered with one byte ('6F'), which is not a response
 *   APDU (shorter than a status word); the command is not executed.
 * - `slowMs: N` — every response is sent N ms late.
 *
 * Timing model (not a fault): with `timing`, each response is held back for the time a real contact chip would
 * need for the exchange (T=1 transmission and EEPROM writes, timing.ts).
 *
 * Card store: the runtime writes life cycles, counters and keys at once and the rest at power-off/reset (see
 * card.ts); the card also writes unsaved changes after `idleFlushMs` without an APDU, so a card left in a reader
 * shows its content in the store (`kadi cards list`) shortly after the terminal's last command. Pulling the card
 * (remove(), the removeAfterApdus fault, vpcd going away) powers it off, which writes them too.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { CardRuntime } from './card.ts';
import { type ContactCardTiming, apduTimeMs } from './timing.ts';

export const VPCD_POWER_OFF = 0x00;
export const VPCD_POWER_ON = 0x01;
export const VPCD_RESET = 0x02;
export const VPCD_GET_ATR = 0x04;
/** Largest vpcd message. */
export const VPCD_MAX_MESSAGE = 0xffff;
/** Delay between the truncated response frame and the TCP reset of a pulled card, ms. */
const ABORT_RESET_DELAY_MS = 20;
/** The garbage answer of `garbageAfterApdus`. */
export const GARBAGE_RESPONSE = Uint8Array.of(0x6f);

export interface CardFaults {
  /** Answer K APDUs, then drop the connection when the next one arrives. */
  removeAfterApdus?: number;
  /** Answer APDUs after the K-th with bytes that are not a response APDU. */
  garbageAfterApdus?: number;
  /** Delay every APDU response by this many milliseconds. */
  slowMs?: number;
}

export interface VirtualCardOptions {
  /** vpcd host. Default 127.0.0.1. */
  host?: string;
  /** vpcd port of the slot. */
  port: number;
  runtime: CardRuntime;
  faults?: CardFaults;
  /** Delay between connection attempts while vpcd is not there, ms. Default 200. */
  reconnectMs?: number;
  /** Unsaved card state is written to the store after this many ms without an APDU. Default 20. */
  idleFlushMs?: number;
  /** Behave like a real contact chip in time (timing.ts). Default: none (answers as fast as it computes). */
  timing?: ContactCardTiming;
  log?: (line: string) => void;
}

/** Validates fault options (non-negative integers). Throws RangeError naming the bad one. */
export function checkFaults(f: CardFaults): CardFaults {
  for (const k of ['removeAfterApdus', 'garbageAfterApdus', 'slowMs'] as const) {
    const v = f[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw new RangeError(`fault ${k} must be a non-negative integer, got ${String(v)}`);
  }
  return f;
}

/**
 * Events: 'connected' (vpcd accepted the card), 'disconnected' (connection lost; a reconnect follows unless
 * removed), 'removed' (the card is out for good: remove() or the removeAfterApdus fault), 'apdu' (count).
 */
export class VirtualCard extends EventEmitter {
  readonly port: number;
  readonly host: string;
  readonly runtime: CardRuntime;
  readonly faults: CardFaults;
  /** Card-timing model in force (may be changed between APDUs), or undefined. */
  timing: ContactCardTiming | undefined;
  /** APDUs received (control messages excluded). */
  apdus = 0;
  private socket: net.Socket | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private removed = false;
  private timer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleFlushMs: number;
  private queue: Promise<void> = Promise.resolve();
  private readonly reconnectMs: number;
  private readonly log: (line: string) => void;

  constructor(opts: VirtualCardOptions) {
    super();
    this.port = opts.port;
    this.host = opts.host ?? '127.0.0.1';
    this.runtime = opts.runtime;
    this.faults = checkFaults({ ...opts.faults });
    this.reconnectMs = opts.reconnectMs ?? 200;
    this.idleFlushMs = opts.idleFlushMs ?? 20;
    this.timing = opts.timing;
    if (!Number.isInteger(this.idleFlushMs) || this.idleFlushMs < 0) throw new RangeError(`idleFlushMs must be a non-negative integer, got ${String(opts.idleFlushMs)}`);
    this.log = opts.log ?? (() => undefined);
  }

  get serial(): string {
    return this.runtime.serial;
  }

  get isConnected(): boolean {
    return this.socket !== undefined && !this.socket.destroyed && !this.socket.connecting;
  }

  get isRemoved(): boolean {
    return this.removed;
  }

  /** Inserts the card: connects (retrying until vpcd listens). Resolves at the first connection. */
  insert(): Promise<void> {
    if (this.removed) return Promise.reject(new Error('card was removed; make a new VirtualCard'));
    return new Promise((resolve, reject) => {
      const onConnected = (): void => {
        this.off('removed', onRemoved);
        resolve();
      };
      const onRemoved = (): void => {
        this.off('connected', onConnected);
        reject(new Error('card removed before it connected'));
      };
      this.once('connected', onConnected);
      this.once('removed', onRemoved);
      this.connect();
    });
  }

  /** Pulls the card out: closes the connection, no reconnect. */
  remove(): Promise<void> {
    return new Promise((resolve) => {
      this.removeNow('removed');
      const s = this.socket;
      if (!s || s.destroyed) return resolve();
      s.once('close', () => resolve());
    });
  }

  /**
   * Takes the card out. `abort` emulates a card pulled while an APDU is in flight so that the host sees a
   * transmission error: the card starts a response frame (the 2-byte length) and then resets the TCP connection.
   * vpcd's recv() of the body then fails and pcscd answers SCardTransmit with SCARD_E_NOT_TRANSACTED
   * ("Transaction failed"). (A plain close makes vpcd 0.8 return an empty response with *success*: its
   * recvFromVICC compares the signed recv() result with an unsigned size; a reset before the length has the
   * same effect.)
   */
  private removeNow(why: string, abort = false): void {
    if (this.removed) return;
    this.removed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const s = this.socket;
    if (s && !s.destroyed) {
      if (abort && !s.connecting) {
        s.write(Uint8Array.of(0x00, 0x02), () => {
          const t = setTimeout(() => s.resetAndDestroy(), ABORT_RESET_DELAY_MS);
          t.unref?.();
        });
      } else {
        s.destroy();
      }
    }
    this.runtime.powerOff();
    this.log(`card ${this.serial} out of port ${this.port} (${why})`);
    this.emit('removed', why);
  }

  private connect(): void {
    if (this.removed) return;
    const s = net.connect({ host: this.host, port: this.port });
    this.socket = s;
    s.setNoDelay(true);
    s.on('connect', () => {
      this.buf = Buffer.alloc(0);
      this.log(`card ${this.serial} in port ${this.port}`);
      this.emit('connected');
    });
    s.on('data', (chunk: Buffer) => this.onData(s, chunk));
    s.on('error', () => undefined); // 'close' follows
    s.on('close', () => {
      if (this.socket !== s) return;
      this.runtime.powerOff();
      if (this.removed) return;
      this.emit('disconnected');
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.connect();
      }, this.reconnectMs);
      this.timer.unref?.();
    });
  }

  private onData(s: net.Socket, chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 2) {
      const len = this.buf.readUInt16BE(0);
      if (this.buf.length < 2 + len) break;
      const payload = new Uint8Array(this.buf.subarray(2, 2 + len));
      this.buf = this.buf.subarray(2 + len);
      // Keep answers in order even when a response is delayed (slowMs).
      this.queue = this.queue.then(() => this.handle(s, payload)).catch((e: unknown) => {
        this.log(`card ${this.serial}: ${(e as Error).message}`);
      });
    }
  }

  private send(s: net.Socket, payload: Uint8Array): void {
    if (s.destroyed || this.removed) return;
    if (payload.length > VPCD_MAX_MESSAGE) throw new Error(`response of ${payload.length} bytes exceeds the vpcd limit`);
    const frame = Buffer.alloc(2 + payload.length);
    frame.writeUInt16BE(payload.length, 0);
    frame.set(payload, 2);
    s.write(frame);
  }

  private async handle(s: net.Socket, payload: Uint8Array): Promise<void> {
    if (this.removed || s.destroyed) return;
    if (payload.length === 1) {
      switch (payload[0]) {
        case VPCD_POWER_OFF:
          this.runtime.powerOff();
          return;
        case VPCD_POWER_ON:
        case VPCD_RESET:
          this.runtime.powerOn();
          return;
        case VPCD_GET_ATR:
          this.send(s, this.runtime.atr);
          return;
        default:
          this.log(`card ${this.serial}: unknown vpcd control ${payload[0]}`);
          return;
      }
    }
    this.apdus++;
    this.emit('apdu', this.apdus);
    const f = this.faults;
    if (f.removeAfterApdus !== undefined && this.apdus > f.removeAfterApdus) {
      this.removeNow(`fault removeAfterApdus=${f.removeAfterApdus}`, true);
      return;
    }
    const response =
      f.garbageAfterApdus !== undefined && this.apdus > f.garbageAfterApdus ? GARBAGE_RESPONSE : this.runtime.transmit(payload);
    const modelMs = this.timing ? apduTimeMs(payload, response, this.timing) : 0;
    const delay = (f.slowMs ?? 0) + modelMs;
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    this.send(s, response);
    if (this.runtime.hasUnsavedChanges) this.armIdleFlush();
  }

  /** (Re)starts the idle timer that writes unsaved card state (see the module comment). */
  private armIdleFlush(): void {
    if (this.idleTimer) {
      this.idleTimer.refresh();
      return;
    }
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (!this.removed) this.runtime.persistQuietly('idle');
    }, this.idleFlushMs);
    this.idleTimer.unref?.();
  }
}
