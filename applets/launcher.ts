/**
 * The launcher: runs virtual cards in reader slots, in this process (one `VirtualCard` per slot; a card costs a
 * socket and a few KiB, and APDU handling is microseconds, so one process serves all 16 slots pcscd can have).
 *
 * Cards are manufactured (`insertNew`) or taken from the card store (`insert`), and every state change is written
 * to the store by the runtime, so `remove` + `insert` of the same serial gives back the same card. A card is in at
 * most one slot; a slot holds at most one card. Faults (vpcd.ts) are per insertion; manufacture-time faults
 * (wrong keys, pre-personalised, locked) are per card (factory.ts).
 *
 * Used by tests directly and by the `kadi cards` daemon (daemon.ts).
 */
import { createCardRuntime, manufactureCard, type ManufactureOptions } from './factory.ts';
import type { CardRuntime } from './runtime/index.ts';
import type { CardProfile } from './runtime/index.ts';
import { type CardStore, saveCard } from './runtime/index.ts';
import { type CardFaults, VirtualCard, checkFaults } from './runtime/index.ts';

/** A reader slot: index k = 2 x reader + slot, port = base + k. */
export interface SlotSpec {
  index: number;
  port: number;
  /** Reader name as PC/SC shows it ("Kadi Encoder 0 00 01"). */
  name?: string;
}

export interface LauncherOptions {
  store: CardStore;
  /** Issuer card master key for new cards (factory.ts). */
  masterKey: Uint8Array;
  /** vpcd host. Default 127.0.0.1. */
  host?: string;
  /** Card debug log and launcher events. */
  log?: (line: string) => void;
  /** Default profile of new cards. */
  profile?: Partial<CardProfile>;
  /** How long an insertion waits for vpcd to accept the connection, ms. Default 10 000. */
  connectTimeoutMs?: number;
}

/** Options of a new card: manufacture faults + insertion faults. */
export interface NewCardOptions extends Pick<ManufactureOptions, 'wrongKeys' | 'prePersonalised' | 'locked' | 'serial' | 'note' | 'profile'> {
  faults?: CardFaults;
}

export interface InsertedCard {
  slot: SlotSpec;
  serial: string;
  card: VirtualCard;
  runtime: CardRuntime;
}

export class CardLauncher {
  private readonly bySlot = new Map<number, InsertedCard>();
  private readonly log: (line: string) => void;

  constructor(private readonly opts: LauncherOptions) {
    this.log = opts.log ?? (() => undefined);
  }

  get store(): CardStore {
    return this.opts.store;
  }

  /** Cards currently in slots, by slot index. */
  inserted(): InsertedCard[] {
    return [...this.bySlot.values()].sort((a, b) => a.slot.index - b.slot.index);
  }

  slotOf(serial: string): number | undefined {
    return this.inserted().find((c) => c.serial === serial)?.slot.index;
  }

  /** Manufactures a new card (fresh serial unless given), stores it and inserts it into `slot`. */
  async insertNew(slot: SlotSpec, o: NewCardOptions = {}): Promise<InsertedCard> {
    this.checkSlotFree(slot);
    const state = manufactureCard({
      masterKey: this.opts.masterKey,
      ...(o.serial ? { serial: o.serial } : {}),
      ...(o.wrongKeys ? { wrongKeys: true } : {}),
      ...(o.prePersonalised ? { prePersonalised: true } : {}),
      ...(o.locked ? { locked: true } : {}),
      ...(o.note ? { note: o.note } : {}),
      profile: { ...this.opts.profile, ...o.profile },
    });
    if (this.opts.store.load(state.serial)) throw new Error(`card ${state.serial} already exists in the store`);
    saveCard(this.opts.store, state);
    return this.plug(slot, state.serial, o.faults);
  }

  /** Inserts a stored card into `slot`. */
  async insert(serial: string, slot: SlotSpec, faults?: CardFaults): Promise<InsertedCard> {
    this.checkSlotFree(slot);
    const where = this.slotOf(serial);
    if (where !== undefined) throw new Error(`card ${serial} is already in slot ${where}`);
    if (!this.opts.store.load(serial)) throw new Error(`no card ${serial} in the card store`);
    return this.plug(slot, serial, faults);
  }

  private checkSlotFree(slot: SlotSpec): void {
    const c = this.bySlot.get(slot.index);
    if (c && !c.card.isRemoved) throw new Error(`slot ${slot.index} already holds card ${c.serial}`);
  }

  private async plug(slot: SlotSpec, serial: string, faults: CardFaults = {}): Promise<InsertedCard> {
    checkFaults(faults);
    const state = this.opts.store.load(serial)!;
    const runtime = createCardRuntime(state, { store: this.opts.store, log: this.log });
    const card = new VirtualCard({
      port: slot.port,
      ...(this.opts.host ? { host: this.opts.host } : {}),
      runtime,
      faults,
      log: this.log,
    });
    const entry: InsertedCard = { slot, serial, card, runtime };
    this.bySlot.set(slot.index, entry);
    // A card that removes itself (fault) frees its slot.
    card.once('removed', () => {
      if (this.bySlot.get(slot.index) === entry) this.bySlot.delete(slot.index);
    });
    const timeoutMs = this.opts.connectTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        card.insert(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`vpcd on port ${slot.port} did not accept card ${serial} within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (e) {
      this.bySlot.delete(slot.index);
      await card.remove();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return entry;
  }

  /** Pulls the card out of `slotIndex` (no-op when empty). Returns its serial. */
  async remove(slotIndex: number): Promise<string | undefined> {
    const c = this.bySlot.get(slotIndex);
    if (!c) return undefined;
    this.bySlot.delete(slotIndex);
    await c.card.remove();
    return c.serial;
  }

  /** Removes every card. */
  async stop(): Promise<void> {
    await Promise.all([...this.bySlot.keys()].map((k) => this.remove(k)));
  }
}
