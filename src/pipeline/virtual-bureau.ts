/**
 * The virtual bureau: Kadi's virtual cards standing in for the hardware of the encode and qc stages, for the demo,
 * `kadi workers start --virtual-cards` and tests. In this process:
 *
 * - a CardLauncher (applets/) manufacturing blanks with the issuer card master key (the same key the HSM holds
 *   for C_DeriveKey: {@link ensureCardMasterKeyInHsm} imports it once, by label, and checks its check value);
 * - E encoder slots (a ReaderPool of src/encoders) kept loaded with fresh blanks: when an encoder is given back
 *   with a used card, the card is pulled out (it stays in the card store) and a new blank inserted;
 * - Q QC slots: a finished card is inserted by its serial for the qc stage's chip read and pulled out after.
 *
 * Fault injection (demo and tests): `pullMidWrite` blanks are inserted with a fault that drops the card after some
 * APDUs of the personalisation (the blank is spoiled by the encoder, its order re-queued); `unlockedChips` cards
 * arrive at QC with their eID application never closed (QC_CARD_NOT_LOCKED: spoiled and re-queued by QC).
 *
 * Keys are never printed or logged.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { APP_LIFE_CYCLE, CardLauncher, DirCardStore, type SlotSpec, saveCard } from '../../applets/index.ts';
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
  close(): Promise<void>;
}

/** Slot names must be known (from `$KADI_PCSC_DIR/readers`). */
function nameOf(s: SlotSpec): string {
  if (!s.name) throw new RangeError(`slot ${s.index} has no reader name`);
  return s.name;
}

export async function openVirtualBureau(o: VirtualBureauOptions): Promise<VirtualBureau> {
  if (o.encoderSlots.length === 0 && o.qcSlots.length === 0) throw new RangeError('the virtual bureau needs at least one encoder slot or one QC slot');
  const label = o.masterKeyLabel ?? VIRTUAL_CARD_MASTER_LABEL;
  await ensureCardMasterKeyInHsm(o.hsm, label, o.masterKey);
  const keys = new HsmCardKeys(o.hsm, label);
  await keys.open();
  const signer = await currentDsSigner({ db: o.db, keyStore: o.hsm, actor: o.encodeActor });
  const launcher = new CardLauncher({ store: new DirCardStore(o.storeDir), masterKey: o.masterKey });
  const injected = { pulledMidWrite: 0, unlockedChips: 0 };
  const faults = { pullMidWrite: 0, unlockedChips: 0, pullAfterApdus: 30, ...o.faults };
  const slotOf = new Map(o.encoderSlots.map((s) => [nameOf(s), s]));
  let closing = false;
  let blanks = 0;

  const insertBlank = async (slot: SlotSpec): Promise<void> => {
    blanks++;
    // the faulty blanks are not the very first ones, so a run shows good cards before the first spoil
    const pull = injected.pulledMidWrite < faults.pullMidWrite && blanks > o.encoderSlots.length;
    if (pull) injected.pulledMidWrite++;
    await launcher.insertNew(slot, pull ? { faults: { removeAfterApdus: faults.pullAfterApdus }, note: 'demo fault: pulled mid-write' } : {});
  };

  let pool: ReaderPool | undefined;
  let qcCtx: PcscContext | undefined;
  try {
    for (const s of o.encoderSlots) await insertBlank(s);
    if (o.encoderSlots.length > 0) pool = await ReaderPool.open({ readers: o.encoderSlots.map(nameOf) });
    if (o.qcSlots.length > 0) qcCtx = await PcscContext.open({ readers: o.qcSlots.map(nameOf), only: o.qcSlots.map(nameOf) });
  } catch (e) {
    await launcher.stop();
    await pool?.close();
    throw e;
  }
  const qcContext = qcCtx;

  // Keep the encoders loaded: a used (or self-removed) card is replaced by a new blank after release.
  const refills = new Set<Promise<void>>();
  const refill = async (enc: Encoder): Promise<void> => {
    const slot = slotOf.get(enc.name)!;
    await enc.channel.disconnect('leave').catch(() => undefined);
    await launcher.remove(slot.index);
    await enc.ctx.waitEmpty(enc.name).catch(() => undefined);
    if (closing) return;
    await insertBlank(slot);
  };
  if (pool) {
    const release = pool.release.bind(pool);
    pool.release = (enc: Encoder, opts: { fresh?: boolean } = {}): void => {
      release(enc, opts);
      if (opts.fresh || closing) return;
      const p = refill(enc)
        .catch((e: Error) => o.log?.(`encoder ${enc.name}: cannot insert a new blank: ${e.message}`))
        .finally(() => refills.delete(p));
      refills.add(p);
    };
  }

  // QC readers: one card at a time per slot.
  const freeQc = [...o.qcSlots];
  const qcWaiters: Array<() => void> = [];
  const takeQcSlot = async (): Promise<SlotSpec> => {
    for (;;) {
      const s = freeQc.shift();
      if (s) return s;
      await new Promise<void>((r) => qcWaiters.push(r));
    }
  };
  const giveQcSlot = (s: SlotSpec): void => {
    freeQc.push(s);
    qcWaiters.shift()?.();
  };

  const qcReader = async (card: { cardId: number; chipSerial: string | null }): Promise<QcReaderLease> => {
    if (!card.chipSerial) throw new KadiError('QC_NO_CHIP_SERIAL', `card ${card.cardId} has no chip serial recorded`);
    const serial = card.chipSerial.slice(-12);
    if (injected.unlockedChips < faults.unlockedChips) {
      // demo fault: the chip was never closed (its eID application is still SELECTABLE)
      const st = launcher.store.load(serial);
      if (st && st.eid.lifeCycle === APP_LIFE_CYCLE.PERSONALIZED) {
        injected.unlockedChips++;
        st.eid.lifeCycle = APP_LIFE_CYCLE.SELECTABLE;
        saveCard(launcher.store, st);
      }
    }
    if (!qcContext) throw new KadiError('QC_NO_READER', 'this process has no QC reader slot', { hint: 'Run the qc role on a worker with QC slots (--qc-slots).' });
    const ctx = qcContext;
    const slot = await takeQcSlot();
    const name = nameOf(slot);
    let channel: PcscCardChannel | undefined;
    try {
      await launcher.insert(serial, slot);
      await ctx.waitPresent(name);
      channel = new PcscCardChannel(ctx, name, { share: 'shared' });
      await channel.connect();
    } catch (e) {
      await channel?.disconnect('leave').catch(() => undefined);
      await launcher.remove(slot.index);
      await ctx.waitEmpty(name).catch(() => undefined);
      giveQcSlot(slot);
      throw e;
    }
    const ch = channel;
    return {
      name: `QC-${name}`,
      channel: ch,
      async release() {
        await ch.disconnect('leave').catch(() => undefined);
        await launcher.remove(slot.index);
        await ctx.waitEmpty(name).catch(() => undefined);
        giveQcSlot(slot);
      },
    };
  };

  let closed = false;
  return {
    pool,
    deps: { db: o.db, keys, signer, actor: o.encodeActor, ...(o.maxAttempts ? { maxAttempts: o.maxAttempts } : {}) },
    qcReader,
    launcher,
    injected,
    async close() {
      if (closed) return;
      closed = true;
      closing = true;
      await Promise.all([...refills]);
      await pool?.close();
      await launcher.stop();
      qcContext?.close();
      await signer.close();
    },
  };
}
