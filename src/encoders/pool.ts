/**
 * The reader pool: each encoder is one PC/SC reader slot holding one card at a time.
 *
 * An encoder's card goes through: EMPTY -> (card inserted) READY -> (acquired) BUSY -> (released) USED -> (card
 * removed, or a new insertion counted by pcscd) EMPTY/READY. A card is personalised at most once per insertion: a
 * released card stays USED until the reader reports it gone or replaced, so the same blank is never taken twice
 * (the claim additionally refuses a chip serial that is already recorded).
 *
 * One PC/SC context (`pcsclite()` instance) for the whole pool by default; `contextPerEncoder` gives each encoder
 * its own (the binding already keeps one SCARDCONTEXT per reader object for connect/transmit, so the difference
 * is the reader-list and status threads: see docs/decisions/0008-encoding.md for the measurement).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { TransientError } from '../shared/index.ts';
import { EncodeCode } from './errors.ts';
import { PcscCardChannel, PcscContext, type PcscChannelOptions, type ReaderStatus } from './pcsc.ts';

export type EncoderState = 'empty' | 'ready' | 'busy' | 'used';

/** Diagnostics channel on which every opened ReaderPool is published (worker metrics follow it; free without subscribers). */
export const READER_POOL_OPENED = 'kadi:encoders:reader-pool-opened';
const poolOpened = diagnosticsChannel.channel(READER_POOL_OPENED);

/** One reader slot. */
export class Encoder {
  busy = false;
  /** pcscd's event counter when the current card was released (undefined: no used card in the slot). */
  usedAtEvents: number | undefined;
  /** Row id in the `encoders` table, once registered. */
  id: number | undefined;

  constructor(
    readonly name: string,
    readonly ctx: PcscContext,
    readonly channel: PcscCardChannel,
  ) {}

  get status(): ReaderStatus | undefined {
    return this.ctx.status(this.name);
  }

  get state(): EncoderState {
    if (this.busy) return 'busy';
    const s = this.status;
    if (!s?.present) return 'empty';
    if (this.usedAtEvents !== undefined && s.events === this.usedAtEvents) return 'used';
    return 'ready';
  }
}

export interface ReaderPoolOptions {
  /** Reader names, one encoder each. */
  readers: readonly string[];
  /** One PC/SC context per encoder instead of one for the pool. Default false. */
  contextPerEncoder?: boolean;
  /** Options of every encoder's channel (share mode, receive length, timeouts). */
  channel?: PcscChannelOptions;
  /** How long `open` waits for each reader's first state, ms. Default 15 000. */
  timeoutMs?: number;
}

/** Emits 'ready' (encoder), 'inserted' (encoder), 'removed' (encoder); 'acquired' and 'released' (encoder) for busy-time metrics. */
export class ReaderPool extends EventEmitter {
  private readonly waiters: Array<() => void> = [];
  private closed = false;

  private constructor(
    readonly encoders: readonly Encoder[],
    private readonly contexts: readonly PcscContext[],
  ) {
    super();
    for (const ctx of contexts) {
      ctx.on('inserted', (name: string) => this.onChange(name, 'inserted'));
      ctx.on('removed', (name: string) => this.onChange(name, 'removed'));
      ctx.on('status', () => this.wake());
    }
    if (poolOpened.hasSubscribers) poolOpened.publish(this);
  }

  /** The reader names pcscd offers (waits up to `timeoutMs` for the list to settle). */
  static async listReaders(timeoutMs = 2_000): Promise<string[]> {
    const ctx = await PcscContext.open();
    try {
      let names: string[] = [];
      const end = performance.now() + timeoutMs;
      // The binding reports readers one by one; stop when the list is stable for a short while.
      while (performance.now() < end) {
        await new Promise((r) => setTimeout(r, 150));
        const now = ctx.readerNames();
        if (now.length > 0 && now.length === names.length) break;
        names = now;
      }
      return ctx.readerNames();
    } finally {
      ctx.close();
    }
  }

  static async open(opts: ReaderPoolOptions): Promise<ReaderPool> {
    if (opts.readers.length === 0) throw new RangeError('a reader pool needs at least one reader');
    if (new Set(opts.readers).size !== opts.readers.length) throw new RangeError('a reader appears twice in the pool');
    const timeoutMs = opts.timeoutMs ?? 15_000;
    const contexts: PcscContext[] = [];
    try {
      const encoders: Encoder[] = [];
      if (opts.contextPerEncoder) {
        for (const name of opts.readers) {
          const ctx = await PcscContext.open({ readers: [name], only: [name], timeoutMs });
          contexts.push(ctx);
          encoders.push(new Encoder(name, ctx, new PcscCardChannel(ctx, name, opts.channel)));
        }
      } else {
        const ctx = await PcscContext.open({ readers: opts.readers, only: opts.readers, timeoutMs });
        contexts.push(ctx);
        for (const name of opts.readers) encoders.push(new Encoder(name, ctx, new PcscCardChannel(ctx, name, opts.channel)));
      }
      return new ReaderPool(encoders, contexts);
    } catch (e) {
      for (const c of contexts) c.close();
      throw e;
    }
  }

  private onChange(name: string, what: 'inserted' | 'removed'): void {
    const enc = this.encoders.find((e) => e.name === name);
    if (!enc) return;
    if (what === 'removed') enc.usedAtEvents = undefined;
    this.emit(what, enc);
    if (enc.state === 'ready') this.emit('ready', enc);
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  encoder(name: string): Encoder {
    const e = this.encoders.find((x) => x.name === name);
    if (!e) throw new RangeError(`no encoder "${name}" in the pool`);
    return e;
  }

  /** Encoders with a fresh card, not busy. */
  ready(): Encoder[] {
    return this.encoders.filter((e) => e.state === 'ready');
  }

  /**
   * Takes an encoder holding a fresh card (the given one, or any), marking it busy. Waits up to `timeoutMs`;
   * then throws the retryable ENCODE_NO_BLANK (nothing was consumed).
   */
  acquire(opts: { timeoutMs?: number; reader?: string } = {}): Promise<Encoder> {
    const timeoutMs = opts.timeoutMs ?? 0;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const attempt = (): void => {
        if (this.closed) {
          clearTimeout(timer);
          reject(new TransientError(EncodeCode.NO_BLANK, 'the reader pool is closed'));
          return;
        }
        const candidates = opts.reader ? [this.encoder(opts.reader)] : this.encoders;
        const enc = candidates.find((e) => e.state === 'ready');
        if (enc) {
          clearTimeout(timer);
          enc.busy = true;
          this.emit('acquired', enc);
          resolve(enc);
          return;
        }
        this.waiters.push(attempt);
      };
      timer = setTimeout(() => {
        const i = this.waiters.indexOf(attempt);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(
          new TransientError(EncodeCode.NO_BLANK, `no reader${opts.reader ? ` "${opts.reader}"` : ''} holds a fresh blank (waited ${timeoutMs} ms)`, {
            hint: 'Insert blanks (virtual: `kadi cards start` / `kadi cards insert`) and run again.',
          }),
        );
      }, timeoutMs);
      attempt();
    });
  }

  /**
   * Gives an encoder back. Its card counts as used until the reader reports it removed or replaced, unless `fresh`
   * (nothing was done to it: the card it was meant for had been taken care of elsewhere).
   */
  release(enc: Encoder, opts: { fresh?: boolean } = {}): void {
    if (!opts.fresh) enc.usedAtEvents = enc.status?.present ? enc.status.events : undefined;
    enc.busy = false;
    this.emit('released', enc);
    this.wake();
  }

  /** Disconnects every channel and closes the PC/SC contexts. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.encoders.map((e) => e.channel.disconnect('leave')));
    for (const c of this.contexts) c.close();
    this.wake();
  }
}
