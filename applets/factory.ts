/**
 * The card factory: makes new virtual cards (what a card vendor does at manufacture and pre-personalisation) and
 * assembles a card runtime with its applets.
 *
 * A new card gets: a fresh random serial (6 bytes, see gp-isd/cplc.ts) and CPLC; card life cycle OP_READY; one
 * SCP03 key set, KVN '30', diversified from the issuer's card master key by the serial (gp-isd/diversify.ts) —
 * the vendor is given the master key for this, as real vendors load issuer keys at pre-personalisation; the
 * card keeps only its own diversified keys. The MF holds EF.ATR/INFO ('2F01', 7F66 extended length
 * information); the eID application DF is empty and the application SELECTABLE.
 *
 * Fault profiles for tests (manufacture-time properties, stored with the card):
 * - `wrongKeys`: keys diversified from a different (random) master key: SCP03 fails at the card cryptogram.
 * - `prePersonalised`: the eID application already holds EF.COM, DG1, BAC secrets and an AA key (not locked),
 *   as a blank that went through a previous, interrupted personalisation.
 * - `locked`: pre-personalised, eID locked (PERSONALIZED) and the card SECURED — a finished card.
 */
import { randomBytes } from 'node:crypto';
import { IssuerSecurityDomain } from './gp-isd/index.ts';
import { buildCplc, stampPersonalisation } from './gp-isd/index.ts';
import { diversifyKeySet } from './gp-isd/index.ts';
import { EID_AID, EidApplet, FID_EF_ATR_INFO, FID_EF_COM, fidOfDataGroup } from './eid/index.ts';
import { CardRuntime, type CardRuntimeOptions } from './runtime/index.ts';
import { createEf, ensureApplicationDf, updateBinary } from './runtime/index.ts';
import {
  APP_LIFE_CYCLE,
  CARD_LIFE_CYCLE,
  type CardProfile,
  type CardState,
  DEFAULT_PROFILE,
  emptyCardState,
  isSerial,
} from './runtime/index.ts';
import { bacKeySeed, bacMrzInformation } from '../src/chip/index.ts';
import { generateKeyPairSync } from 'node:crypto';

export interface ManufactureOptions {
  /** Issuer card master key (AES-128/192/256) the serial-diversified SCP03 keys are made from. */
  masterKey: Uint8Array;
  /** Serial (12 hex digits); random when absent. */
  serial?: string;
  now?: Date;
  profile?: Partial<CardProfile>;
  wrongKeys?: boolean;
  prePersonalised?: boolean;
  locked?: boolean;
  /** Free text kept with the card. */
  note?: string;
}

/** A fresh random card serial (12 upper-case hex digits). */
export function newSerial(): string {
  return randomBytes(6).toString('hex').toUpperCase();
}

/** ISO/IEC 7816-4 §12.7.1 extended length information, as stored in EF.ATR/INFO. */
export function extendedLengthInfo(profile: CardProfile): Uint8Array {
  const c = profile.maxCommandData;
  const r = profile.maxResponseData;
  return Uint8Array.of(0x7f, 0x66, 0x08, 0x02, 0x02, c >>> 8, c & 0xff, 0x02, 0x02, r >>> 8, r & 0xff);
}

/** Makes a new card (see the module comment). */
export function manufactureCard(opts: ManufactureOptions): CardState {
  const serial = (opts.serial ?? newSerial()).toUpperCase();
  if (!isSerial(serial)) throw new Error(`bad serial ${serial}`);
  const now = opts.now ?? new Date();
  const profile: CardProfile = { ...DEFAULT_PROFILE, ...opts.profile };
  if (profile.maxCommandData < 261 || profile.maxCommandData > 65_535 || profile.maxResponseData < 256 || profile.maxResponseData > 65_536) {
    throw new Error('profile: maxCommandData 261..65535, maxResponseData 256..65536');
  }
  const serialBytes = new Uint8Array(Buffer.from(serial, 'hex'));
  const state = emptyCardState(serial, buildCplc(serialBytes, now), now, profile);
  const master = opts.wrongKeys ? new Uint8Array(randomBytes(opts.masterKey.length)) : opts.masterKey;
  state.keys.push(diversifyKeySet(master, serialBytes));
  const info = extendedLengthInfo(profile);
  const atrInfo = createEf(state.mf, { fid: FID_EF_ATR_INFO, size: info.length, sfi: null }, 'ALWAYS', 'NEVER');
  updateBinary(atrInfo, 0, info);
  ensureApplicationDf(state.mf, EID_AID);
  const notes = [opts.note, opts.wrongKeys ? 'fault: wrong keys' : undefined].filter(Boolean);
  if (opts.prePersonalised || opts.locked) {
    prePersonalise(state, now);
    notes.push(opts.locked ? 'fault: locked (finished card)' : 'fault: pre-personalised');
  }
  if (opts.locked) {
    state.eid.lifeCycle = APP_LIFE_CYCLE.PERSONALIZED;
    state.cardLifeCycle = CARD_LIFE_CYCLE.SECURED;
    stampPersonalisation(state.cplc, now);
  }
  state.note = notes.length ? notes.join('; ') : undefined;
  return state;
}

/** Leaves the traces of an earlier personalisation: EF.COM, DG1, BAC secrets, an AA key. */
function prePersonalise(state: CardState, now: Date): void {
  const df = ensureApplicationDf(state.mf, EID_AID);
  const com = Uint8Array.of(0x60, 0x14, 0x5f, 0x01, 0x04, 0x30, 0x31, 0x30, 0x38, 0x5f, 0x36, 0x06, 0x30, 0x34, 0x30, 0x30, 0x30, 0x30, 0x5c, 0x02, 0x61, 0x6f);
  updateBinary(createEf(df, { fid: FID_EF_COM, size: com.length, sfi: undefined }, 'SECURE', 'PERSO'), 0, com);
  const dg1 = new Uint8Array(95).fill(0x3c);
  dg1.set([0x61, 0x5d, 0x5f, 0x1f, 0x5a], 0);
  updateBinary(createEf(df, { fid: fidOfDataGroup(1), size: dg1.length, sfi: undefined }, 'SECURE', 'PERSO'), 0, dg1);
  const documentNumber = `P${state.serial.slice(-8)}`;
  const yy = String(now.getUTCFullYear() % 100).padStart(2, '0');
  state.eid.documentNumber = documentNumber;
  state.eid.bacKeySeed = bacKeySeed(bacMrzInformation({ documentNumber, dateOfBirth: '900101', dateOfExpiry: `${yy}1231` }));
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  state.eid.aaPrivateKey = new Uint8Array(privateKey.export({ type: 'pkcs8', format: 'der' }));
  state.eid.aaPublicKey = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
}

/** A runtime for a card with the ISD and the eID application installed. */
export function createCardRuntime(state: CardState, opts: CardRuntimeOptions = {}): CardRuntime {
  const rt = new CardRuntime(state, opts);
  IssuerSecurityDomain.install(rt);
  rt.install(new EidApplet());
  return rt;
}
