/**
 * The virtual bureau: Kadi's virtual cards standing in for the hardware of the encode and qc stages, for the demo,
 * `kadi workers start --virtual-cards` and tests. In this process:
 *
 * - the card factory (applets/) manufacturing blanks with the issuer card master key (the same key the HSM holds
 *   for C_DeriveKey: {@link ensureCardMasterKeyInHsm} imports it once, by label, and checks its check value), every
 *   card kept in the card store (`$KADI_HOME/cards`, `kadi cards insert` takes them from there);
 * - E encoder slots (a ReaderPool of src/encoders) kept loaded with fresh blanks: when an encoder is given back
 *   with a used card, the card is taken out (it stays in the card store) and a new blank put in before the encoder
 *   is free again;
 * - Q QC slots: a finished card is put in by its serial for the qc stage's chip read and taken out after.
 *
 * Card swaps (docs/decisions/0013-pipeline-throughput.md): each slot keeps its vpcd connection open ("the reader's
 * contacts") and cards are exchanged behind it, the way a card transport moves cards under a reader's contacts;
 * the reader then resets the card it is given. Closing and reopening the connection per card instead would cost
 * two of pcscd's ~400 ms presence polls per swap, which a real reader (interrupt-driven card detection) does not
 * have. The guarantees do not rest on pcscd's insertion events: an encoder stays busy in the pool until its new
 * blank is in, the encoder's claim refuses a chip serial already recorded, and QC checks the chip it reads
 * against the card's record. A blank with an injected fault, and a slot whose card pulled itself out, still go
 * through a real removal and insertion.
 *
 * Fault injection (demo and tests): `pullMidWrite` blanks are inserted with a fault that drops the card after some
 * APDUs of the personalisation (the blank is spoiled by the encoder, its order re-queued); `unlockedChips` cards
 * arrive at QC with their eID application never closed (QC_CARD_NOT_LOCKED: spoiled and re-queued by QC).
 *
 * Card timing (benchmarks): with `timing`, the cards in the slots answer each APDU in the time a real contact chip
 * would take (applets/runtime/timing.ts, VirtualCard `timing`); without it they answer as fast as they compute.
 * `bureau.timing` changes the model for every slot from the next APDU on.
 *
 * Keys are never printed or logged.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  APP_LIFE_CYCLE,
  type CardFaults,
  CardLauncher,
  type CardRuntime,
  type ContactCardTiming,
  DirCardStore,
  type SlotSpec,
  VirtualCard,
  createCardRuntime,
  manufactureCard,
  saveCard,
} from '../../applets/index.ts';
import { type EncodeDeps, type Encoder, PcscCardChannel, PcscContext, ReaderPool } from '../encoders/index.ts';
import { HsmCardKeys, type Pkcs11Hsm, cardMasterKeyInfo, importCardMasterKey } from '../hsm/index.ts';
import { currentDsSigner } from '../keys/index.ts';
import { KadiError, isKadiError } from '../shared/index.ts';
import type { Knex } from 'knex';
import type { QcReaderLease } from './qc-stage.ts';

/** The HSM label of the card master key the virtual bureau uses. */
export const VIRTUAL_CARD_MASTER_LABEL = 'kadi-card-master';

/**
 * Reads the issuer card master key file (hex, 16/24/32 bytes), creating it with a random AES-256 key (mode 600)
 * when absent — the same file and format `kadi cards start` uses.
 */
export function readCardMasterKeyFile(file: string, create = true): Uint8Array {
  if (!existsSync(file)) {
    if (!create) throw new KadiError('CARDS_MASTER_KEY_MISSING', `card master key file ${file} not found`);
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, `${randomBytes(32).toString('hex').toUpperCase()}\n`, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  const hex = readFileSync(file, 'utf8').trim();
  if (!/^([0-9A-Fa-f]{32}|[0-9A-Fa-f]{48}|[0-9A-Fa-f]{64})$/.test(hex)) {
    throw new KadiError('CARDS_MASTER_KEY_INVALID', `card master key file ${file} must hold 16, 24 or 32 bytes of hex`);
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

function checkValue(key: Uint8Array): string {
  const c = createCipheriv(`aes-${key.length * 8}-ecb`, key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(Buffer.alloc(16)), c.final()]).subarray(0, 3).toString('hex').toUpperCase();
}

/**
 * Makes sure the HSM holds `key` under `label` (imported once; idempotent). Throws when the token holds a
 * different key under that label (check values differ).
 */
export async function ensureCardMasterKeyInHsm(hsm: Pkcs11Hsm, label: string, key: Uint8Array): Promise<void> {
  let info;
  try {
    info = await cardMasterKeyInfo(hsm, label);
  } catch (e) {
    if (!isKadiError(e) || !/NOT_FOUND/.test(e.code)) throw e;
    info = await importCardMasterKey(hsm, label, key);
  }
  if (info.checkValue && info.checkValue !== checkValue(key)) {
    throw new KadiError('CARDS_MASTER_KEY_MISMATCH', `the HSM's card master key "${label}" is not the key in the card master key file`, {
      hint: 'Use the key file the HSM key was imported from (KADI_CARD_MASTER_KEY_FILE), or another label.',
    });
  }
}

export interface VirtualBureauOptions {
  db: Knex;
  hsm: Pkcs11Hsm;
  /** Issuer card master key (also given to the card factory). */
  masterKey: Uint8Array;
  /** HSM label of the card master key. Default {@link VIRTUAL_CARD_MASTER_LABEL}. */
  masterKeyLabel?: string;
  /** Card store directory (e.g. `$KADI_HOME/cards`). */
  storeDir: string;
  /** Reader slots used as encoders (one blank each). */
  encoderSlots: readonly SlotSpec[];
  /** Reader slots used as QC readers. */
  qcSlots: readonly SlotSpec[];
  /** Actor of the encode stage (recorded with encode runs). */
  encodeActor: string;
  /** Faults to inject (see the module comment). */
  faults?: { pullMidWrite?: number; unlockedChips?: number; pullAfterApdus?: number };
  /** Cards per order before REVIEW. */
  maxAttempts?: number;
  /** Contact-chip timing model the virtual cards in the slots follow (applets/runtime/timing.ts). Default none:
   *  the cards answer as fast as they compute. */
  timing?: ContactCardTiming;
  log?: (msg: string) => void;
}

export interface VirtualBureau {
  /** The encoders (undefined when the bureau has no encoder slots: a QC-only worker). */
  pool: ReaderPool | undefined;
  deps: EncodeDeps;
  /** The qc stage's reader port. */
  qcReader(card: { cardId: number; chipSerial: string | null }): Promise<QcReaderLease>;
  launcher: CardLauncher;
  /** Faults injected so far. */
  injected: { pulledMidWrite: number; unlockedChips: number };
  /** What the virtual hardware did and how long it took (benchmarks, metrics). */
  stats: VirtualBureauStats;
  /** The timing model the cards in the slots follow (undefined: none); setting it applies from the next APDU. */
  timing: ContactCardTiming | undefined;
  close(): Promise<void>;
}

/** Counters of the virtual hardware (times in ms, performance.now()). */
export interface VirtualBureauStats {
  /** Encoder card swaps (the used card out, a new blank in and seen by the reader) and their total time. */
  encoderSwaps: number;
  encoderSwapMs: number;
  /** QC reader insertions (card in and seen by the reader, plus taking it out again) and their total time. */
  qcSwaps: number;
  qcSwapMs: number;
  /** Time the virtual cards spent answering APDUs (card OS, applets, card store commits) and manufacturing blanks:
   *  the card hardware's work, done on this process's CPU. */
  cardMs: number;
  apdus: number;
}

/** Slot names must be known (from `$KADI_PCSC_DIR/readers`). */
function nameOf(s: SlotSpec): string {
  if (!s.name) throw new RangeError(`slot ${s.index} has no reader name`);
  return s.name;
}

/**
 * A reader slot's card contacts: one vpcd connection kept open (pcscd sees a card present all along) behind which
 * cards are exchanged, like a card transport moving cards under the contacts of a reader that stays connected. The
 * card in the contacts is `current`; none is answered like a mute card. Its time is counted in the stats (card CPU).
 */
class CardContacts {
  current: CardRuntime | undefined;
  card: VirtualCard | undefined;
  constructor(
    readonly slot: SlotSpec,
    private readonly stats: VirtualBureauStats,
    /** The ATR answered while no card is in (the blanks' ATR: pcscd powers the slot up with it). */
    private idleAtr: Uint8Array,
  ) {}
  get atr(): Uint8Array {
    if (this.current) this.idleAtr = this.current.atr;
    return this.idleAtr;
  }
  get serial(): string {
    return this.current?.serial ?? '(none)';
  }
  powerOn(): void {
    this.current?.powerOn();
  }
  powerOff(): void {
    this.current?.powerOff();
  }
  transmit(apdu: Uint8Array): Uint8Array {
    const rt = this.current;
    if (!rt) return Uint8Array.of(0x6f, 0x00);
    const t = performance.now();
    try {
      return rt.transmit(apdu);
    } finally {
      this.stats.cardMs += performance.now() - t;
      this.stats.apdus++;
    }
  }
  /** Takes the current card out of the contacts (its state is in the card store already). */
  takeOut(): string | undefined {
    const rt = this.current;
    if (!rt) return undefined;
    rt.powerOff();
    this.current = undefined;
    return rt.serial;
  }
  /** Whether the contacts' connection is up (false once the card pulled itself out: a `removeAfterApdus` fault). */
  get connected(): boolean {
    return this.card !== undefined && !this.card.isRemoved;
  }
}

export async function openVirtualBureau(o: VirtualBureauOptions): Promise<VirtualBureau> {
  if (o.encoderSlots.length === 0 && o.qcSlots.length === 0) throw new RangeError('the virtual bureau needs at least one encoder slot or one QC slot');
  const label = o.masterKeyLabel ?? VIRTUAL_CARD_MASTER_LABEL;
  await ensureCardMasterKeyInHsm(o.hsm, label, o.masterKey);
  const keys = new HsmCardKeys(o.hsm, label);
  await keys.open();
  const signer = await currentDsSigner({ db: o.db, keyStore: o.hsm, actor: o.encodeActor });
  const store = new DirCardStore(o.storeDir);
  const launcher = new CardLauncher({ store, masterKey: o.masterKey });
  const injected = { pulledMidWrite: 0, unlockedChips: 0 };
  const stats: VirtualBureauStats = { encoderSwaps: 0, encoderSwapMs: 0, qcSwaps: 0, qcSwapMs: 0, cardMs: 0, apdus: 0 };
  const faults = { pullMidWrite: 0, unlockedChips: 0, pullAfterApdus: 30, ...o.faults };
  let timing = o.timing;
  let closing = false;
  let blanks = 0;
  /** Serials of the cards in some slot's contacts now: a card is in one reader at a time. */
  const inContacts = new Map<string, CardContacts>();
  const contactsOf = new Map<string, CardContacts>();
  const allContacts: CardContacts[] = [];

  /** Manufactures a new blank (stored in the card store like the launcher's) and puts it into `c`. */
  const putNewBlank = (c: CardContacts, note?: string): void => {
    const t = performance.now();
    const state = manufactureCard({ masterKey: o.masterKey, ...(note ? { note } : {}) });
    if (store.load(state.serial)) throw new Error(`card ${state.serial} already exists in the store`);
    saveCard(store, state);
    c.current = createCardRuntime(state, { store });
    inContacts.set(state.serial, c);
    stats.cardMs += performance.now() - t;
  };

  /** Connects `c` to its vpcd slot (a card inserted, as pcscd sees it), with `cardFaults` for this insertion. */
  const plug = async (c: CardContacts, cardFaults: CardFaults = {}): Promise<void> => {
    const card = new VirtualCard({ port: c.slot.port, runtime: c as unknown as CardRuntime, faults: cardFaults, ...(timing ? { timing } : {}) });
    c.card = card;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        card.insert(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`vpcd on port ${c.slot.port} did not accept a card within 10000 ms`)), 10_000);
        }),
      ]);
    } catch (e) {
      await card.remove();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  };
  const unplug = async (c: CardContacts): Promise<void> => {
    const card = c.card;
    c.card = undefined;
    await card?.remove();
  };

  const idleAtr = createCardRuntime(manufactureCard({ masterKey: o.masterKey })).atr;
  const encoderContacts = o.encoderSlots.map((s) => new CardContacts(s, stats, idleAtr));
  const qcContacts = o.qcSlots.map((s) => new CardContacts(s, stats, idleAtr));
  for (const c of [...encoderContacts, ...qcContacts]) {
    allContacts.push(c);
    contactsOf.set(nameOf(c.slot), c);
  }

  /**
   * Feeds a new blank into an encoder slot. Normally the used card is exchanged behind the open connection (a
   * card transport: no removal for pcscd to notice; the encoder's reset at the start of the next card powers the
   * new one up); a blank with an injected fault too, the fault armed on the open connection. A slot whose card
   * pulled itself out goes through a real insertion (pcscd notices it at its next presence poll).
   */
  const feed = async (c: CardContacts, ctx: PcscContext | undefined): Promise<void> => {
    blanks++;
    // the faulty blanks are not the very first ones, so a run shows good cards before the first spoil
    const pull = injected.pulledMidWrite < faults.pullMidWrite && blanks > o.encoderSlots.length;
    if (pull) injected.pulledMidWrite++;
    const old = c.takeOut();
    if (old) inContacts.delete(old);
    if (closing) return;
    putNewBlank(c, pull ? 'demo fault: pulled mid-write' : undefined);
    if (c.connected) {
      // a faulty blank pulls itself out when the APDU after its K-th arrives (counted from now on this connection)
      if (pull) c.card!.faults.removeAfterApdus = c.card!.apdus + faults.pullAfterApdus;
      return;
    }
    const name = nameOf(c.slot);
    await unplug(c); // the connection the card dropped
    // pcscd must have seen the slot empty before the next insertion, or it would not count a new card
    await ctx?.waitEmpty(name).catch(() => undefined);
    await plug(c, pull ? { removeAfterApdus: faults.pullAfterApdus } : {});
    await ctx?.waitPresent(name);
  };

  let pool: ReaderPool | undefined;
  let qcCtx: PcscContext | undefined;
  try {
    for (const c of encoderContacts) {
      putNewBlank(c);
      await plug(c);
    }
    for (const c of qcContacts) await plug(c);
    if (o.encoderSlots.length > 0) {
      pool = await ReaderPool.open({ readers: o.encoderSlots.map(nameOf) });
      // the first blanks are in, but pcscd sees a card only at its next presence poll (~400 ms, later under load):
      // the bureau is ready when every encoder's blank is seen
      for (const e of pool.encoders) await e.ctx.waitPresent(e.name);
    }
    if (o.qcSlots.length > 0) qcCtx = await PcscContext.open({ readers: o.qcSlots.map(nameOf), only: o.qcSlots.map(nameOf) });
  } catch (e) {
    await Promise.all(allContacts.map(unplug));
    await pool?.close();
    throw e;
  }
  const qcContext = qcCtx;

  // Keep the encoders loaded: a used (or self-removed) card is replaced by a new blank before the encoder is free
  // again (it stays busy in the pool meanwhile, so no job takes the used card).
  const refills = new Set<Promise<void>>();
  if (pool) {
    const release = pool.release.bind(pool);
    const refill = async (enc: Encoder): Promise<void> => {
      const c = contactsOf.get(enc.name)!;
      const t0 = performance.now();
      try {
        await enc.channel.disconnect('leave').catch(() => undefined);
        await feed(c, enc.ctx);
      } finally {
        stats.encoderSwaps++;
        stats.encoderSwapMs += performance.now() - t0;
      }
    };
    pool.release = (enc: Encoder, opts: { fresh?: boolean } = {}): void => {
      if (opts.fresh || closing) {
        release(enc, opts);
        return;
      }
      const p = refill(enc)
        .then(
          // the contacts hold a new blank (seen by pcscd when it was a real insertion)
          () => release(enc, { fresh: !closing }),
          (e: Error) => {
            o.log?.(`encoder ${enc.name}: cannot insert a new blank: ${e.message}`);
            release(enc, { fresh: false });
          },
        )
        .finally(() => refills.delete(p));
      refills.add(p);
    };
  }

  // QC readers: one card at a time per slot.
  const freeQc = [...qcContacts];
  const qcWaiters: Array<() => void> = [];
  const takeQcSlot = async (): Promise<CardContacts> => {
    for (;;) {
      const s = freeQc.shift();
      if (s) return s;
      await new Promise<void>((r) => qcWaiters.push(r));
    }
  };
  const giveQcSlot = (s: CardContacts): void => {
    freeQc.push(s);
    qcWaiters.shift()?.();
  };

  const qcReader = async (card: { cardId: number; chipSerial: string | null }): Promise<QcReaderLease> => {
    if (!card.chipSerial) throw new KadiError('QC_NO_CHIP_SERIAL', `card ${card.cardId} has no chip serial recorded`);
    const serial = card.chipSerial.slice(-12);
    // a card just encoded may still be on its way out of the encoder
    while (inContacts.has(serial) && refills.size > 0) await Promise.race([...refills]);
    if (inContacts.has(serial)) throw new KadiError('QC_CARD_IN_ENCODER', `card ${serial} is still in an encoder slot`);
    if (injected.unlockedChips < faults.unlockedChips) {
      // demo fault: the chip was never closed (its eID application is still SELECTABLE)
      const st = store.load(serial);
      if (st && st.eid.lifeCycle === APP_LIFE_CYCLE.PERSONALIZED) {
        injected.unlockedChips++;
        st.eid.lifeCycle = APP_LIFE_CYCLE.SELECTABLE;
        saveCard(store, st);
      }
    }
    if (!qcContext) throw new KadiError('QC_NO_READER', 'this process has no QC reader slot', { hint: 'Run the qc role on a worker with QC slots (--qc-slots).' });
    const ctx = qcContext;
    const c = await takeQcSlot();
    const name = nameOf(c.slot);
    let channel: PcscCardChannel | undefined;
    const t0 = performance.now();
    const takeOut = (): void => {
      const s = c.takeOut();
      if (s) inContacts.delete(s);
    };
    try {
      const st = store.load(serial);
      if (!st) throw new Error(`no card ${serial} in the card store`);
      if (!c.connected) {
        await plug(c);
        await ctx.waitPresent(name);
      }
      c.current = createCardRuntime(st, { store });
      inContacts.set(serial, c);
      await ctx.waitPresent(name);
      stats.qcSwapMs += performance.now() - t0;
      channel = new PcscCardChannel(ctx, name, { share: 'shared' });
      // a reset powers the card just put under the contacts up (and drops whatever the previous card had open)
      await channel.reset();
    } catch (e) {
      await channel?.disconnect('leave').catch(() => undefined);
      takeOut();
      giveQcSlot(c);
      throw e;
    }
    const ch = channel;
    return {
      name: `QC-${name}`,
      channel: ch,
      async release() {
        const t1 = performance.now();
        await ch.disconnect('leave').catch(() => undefined);
        takeOut();
        stats.qcSwaps++;
        stats.qcSwapMs += performance.now() - t1;
        giveQcSlot(c);
      },
    };
  };

  let closed = false;
  return {
    pool,
    deps: { db: o.db, keys, signer, actor: o.encodeActor, limitsCache: new Map(), ...(o.maxAttempts ? { maxAttempts: o.maxAttempts } : {}) },
    qcReader,
    launcher,
    injected,
    stats,
    get timing() {
      return timing;
    },
    set timing(t: ContactCardTiming | undefined) {
      timing = t;
      for (const c of allContacts) if (c.card) c.card.timing = t;
    },
    async close() {
      if (closed) return;
      closed = true;
      closing = true;
      await Promise.all([...refills]);
      for (const c of allContacts) {
        const s = c.takeOut();
        if (s) inContacts.delete(s);
      }
      await Promise.all(allContacts.map(unplug));
      // the slots are left empty as pcscd sees them, so the next user of a slot never takes a stale "present"
      await Promise.all([
        ...(pool ? pool.encoders.map((e) => e.ctx.waitEmpty(e.name, 2_000).catch(() => undefined)) : []),
        ...(qcContext ? o.qcSlots.map((s) => qcContext.waitEmpty(nameOf(s), 2_000).catch(() => undefined)) : []),
      ]);
      await pool?.close();
      await launcher.stop();
      qcContext?.close();
      await signer.close();
    },
  };
}
