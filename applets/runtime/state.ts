/**
 * The persistent content of one virtual card — what a real chip keeps in EEPROM/flash across power cycles: its
 * identity (serial, CPLC), GlobalPlatform card life cycle and static SCP03 key sets, persistent counters, the eID
 * application's state (life cycle, BAC key seed, Active Authentication key pair) and the ISO 7816-4 file system.
 * Volatile state (selected applet, current file, secure channel sessions) lives in the runtime, not here.
 *
 * JSON form (the card store file `<serial>.json`), format `kadi-virtual-card/1`:
 * ```jsonc
 * {
 *   "format": "kadi-virtual-card/1",
 *   "serial": "0A1B2C3D4E5F",              // 6 bytes: IC batch identifier (2) || IC serial number (4), hex
 *   "createdAt": "...", "updatedAt": "...", // ISO 8601
 *   "profile": { "maxCommandData": 4096, "maxResponseData": 4096 },
 *   "cplc": "hex, 42 bytes",               // GET DATA 9F7F (GP Card Spec 2.3 §H.6)
 *   "cardLifeCycle": "OP_READY",           // OP_READY | INITIALIZED | SECURED | CARD_LOCKED | TERMINATED
 *   "keys": [{ "kvn": 48, "enc": "hex", "mac": "hex", "dek": "hex" }],   // the card's own (diversified) keys
 *   "counters": { "scpSequence": 0, "scpAuthFailures": 0, "bacAuthFailures": 0 },
 *   "eid": { "lifeCycle": "SELECTABLE", "documentNumber": "...", "bacKeySeed": "hex", "aaPrivateKey": "base64 PKCS#8",
 *            "aaPublicKey": "base64 SPKI" },
 *   "mf": { "kind": "DF", "fid": 16128, "children": [ ... EF { fid, sfi, size, data (base64), read, update, written } ] },
 *   "note": "optional free text (e.g. which fault profile made it)"
 * }
 * ```
 * Like a real chip the card keeps key material (its own diversified SCP03 keys, the BAC key seed, the AA private
 * key) and never the issuer's master key. The store directory is test/demo data: keep it private (mode 700).
 */
import {
  type DedicatedFile,
  type FileNodeJson,
  fileNodeFromJson,
  fileNodeToJson,
  newMasterFile,
} from './fs.ts';

export const CARD_STATE_FORMAT = 'kadi-virtual-card/1';

/** GlobalPlatform card life cycle states (GP Card Spec 2.3 §5.1.1, Table 11-5 coding). */
export const CARD_LIFE_CYCLE = {
  OP_READY: 0x01,
  INITIALIZED: 0x07,
  SECURED: 0x0f,
  CARD_LOCKED: 0x7f,
  TERMINATED: 0xff,
} as const;
export type CardLifeCycle = keyof typeof CARD_LIFE_CYCLE;

/**
 * Application life cycle states (GP Card Spec 2.3 §5.1.3, Table 11-7): INSTALLED '03', SELECTABLE '07',
 * application-specific states '07'..'7F' with b3-b1 set, LOCKED = b8 set ('83'). The eID application uses the
 * application-specific state PERSONALIZED '0F' for "personalisation finished, writes refused" (the "lock" of
 * this design); GP LOCKED '83' would make it unselectable, which an issued document must never be.
 */
export const APP_LIFE_CYCLE = {
  INSTALLED: 0x03,
  SELECTABLE: 0x07,
  PERSONALIZED: 0x0f,
  LOCKED: 0x83,
} as const;
export type AppLifeCycle = keyof typeof APP_LIFE_CYCLE;

export function lifeCycleName<T extends Record<string, number>>(table: T, value: number): keyof T {
  const e = Object.entries(table).find(([, v]) => v === value);
  if (!e) throw new Error(`unknown life cycle value ${value.toString(16)}`);
  return e[0] as keyof T;
}

/** Limits the card announces (EF.ATR/INFO 7F66, ISD FCI 9F65) and enforces, in bytes of the APDU data field. */
export interface CardProfile {
  /** Largest command data field (Nc) accepted, after secure messaging. Default 4096. */
  maxCommandData: number;
  /** Largest response data field (Ne) returned in one response. Default 4096. */
  maxResponseData: number;
}

export const DEFAULT_PROFILE: CardProfile = { maxCommandData: 4096, maxResponseData: 4096 };

/** One SCP03 static key set (GP Amd D §6.2: ENC, MAC, DEK; AES-128 here). */
export interface ScpKeySet {
  /** Key version number (1..127). */
  kvn: number;
  enc: Uint8Array;
  mac: Uint8Array;
  dek: Uint8Array;
}

export interface CardCounters {
  /** SCP03 sequence counter (GP Amd D §6.2.1): incremented by each INITIALIZE UPDATE, 3 bytes on the wire. */
  scpSequence: number;
  /** EXTERNAL AUTHENTICATE failures (host cryptogram wrong) — informative. */
  scpAuthFailures: number;
  /** BAC MUTUAL AUTHENTICATE failures — informative. */
  bacAuthFailures: number;
}

/** State of the eID application (AID A0000002471001). */
export interface EidState {
  lifeCycle: number;
  /** Document number as given in PUT DATA (the card's own knowledge; no other personal data is kept in clear). */
  documentNumber: string | undefined;
  /** Kseed = SHA-1(MRZ_information)[0..16] (ICAO 9303-11 §9.7.1). Session keys are derived from it. */
  bacKeySeed: Uint8Array | undefined;
  /** Active Authentication private key, PKCS#8 DER. Never leaves the card. */
  aaPrivateKey: Uint8Array | undefined;
  /** Its public key, SubjectPublicKeyInfo DER. */
  aaPublicKey: Uint8Array | undefined;
}

export interface CardState {
  serial: string;
  createdAt: string;
  updatedAt: string;
  profile: CardProfile;
  cplc: Uint8Array;
  cardLifeCycle: number;
  keys: ScpKeySet[];
  counters: CardCounters;
  eid: EidState;
  mf: DedicatedFile;
  note: string | undefined;
}

/** Serial: 6 bytes = IC batch identifier (2) || IC serial number (4), as 12 upper-case hex digits. */
export const SERIAL_BYTES = 6;
export const SERIAL_PATTERN = /^[0-9A-F]{12}$/;

export function isSerial(s: string): boolean {
  return SERIAL_PATTERN.test(s);
}

// ---- JSON ---------------------------------------------------------------------------------------------------

export interface CardStateJson {
  format: typeof CARD_STATE_FORMAT;
  serial: string;
  createdAt: string;
  updatedAt: string;
  profile: CardProfile;
  cplc: string;
  cardLifeCycle: CardLifeCycle;
  keys: Array<{ kvn: number; enc: string; mac: string; dek: string }>;
  counters: CardCounters;
  eid: {
    lifeCycle: AppLifeCycle;
    documentNumber?: string;
    bacKeySeed?: string;
    aaPrivateKey?: string;
    aaPublicKey?: string;
  };
  mf: FileNodeJson;
  note?: string;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

export function cardStateToJson(s: CardState): CardStateJson {
  return {
    format: CARD_STATE_FORMAT,
    serial: s.serial,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    profile: { ...s.profile },
    cplc: hex(s.cplc),
    cardLifeCycle: lifeCycleName(CARD_LIFE_CYCLE, s.cardLifeCycle),
    keys: s.keys.map((k) => ({ kvn: k.kvn, enc: hex(k.enc), mac: hex(k.mac), dek: hex(k.dek) })),
    counters: { ...s.counters },
    eid: {
      lifeCycle: lifeCycleName(APP_LIFE_CYCLE, s.eid.lifeCycle),
      ...(s.eid.documentNumber !== undefined ? { documentNumber: s.eid.documentNumber } : {}),
      ...(s.eid.bacKeySeed ? { bacKeySeed: hex(s.eid.bacKeySeed) } : {}),
      ...(s.eid.aaPrivateKey ? { aaPrivateKey: b64(s.eid.aaPrivateKey) } : {}),
      ...(s.eid.aaPublicKey ? { aaPublicKey: b64(s.eid.aaPublicKey) } : {}),
    },
    mf: fileNodeToJson(s.mf),
    ...(s.note ? { note: s.note } : {}),
  };
}

/** Parses and validates a stored card. Throws Error naming what is wrong. */
export function cardStateFromJson(j: unknown): CardState {
  const o = j as Partial<CardStateJson> | null;
  if (!o || typeof o !== 'object') throw new Error('card state is not a JSON object');
  if (o.format !== CARD_STATE_FORMAT) throw new Error(`unknown card state format ${String(o.format)}`);
  if (typeof o.serial !== 'string' || !isSerial(o.serial)) throw new Error(`bad serial ${String(o.serial)}`);
  if (!o.cplc || !o.keys || !o.counters || !o.eid || !o.mf || !o.profile || !o.cardLifeCycle) {
    throw new Error(`card ${o.serial}: missing fields`);
  }
  const cardLc = CARD_LIFE_CYCLE[o.cardLifeCycle];
  const appLc = APP_LIFE_CYCLE[o.eid.lifeCycle];
  if (cardLc === undefined || appLc === undefined) throw new Error(`card ${o.serial}: unknown life cycle`);
  const mf = fileNodeFromJson(o.mf);
  if (mf.kind !== 'DF') throw new Error(`card ${o.serial}: root is not a DF`);
  return {
    serial: o.serial,
    createdAt: String(o.createdAt),
    updatedAt: String(o.updatedAt),
    profile: { maxCommandData: o.profile.maxCommandData, maxResponseData: o.profile.maxResponseData },
    cplc: unhex(o.cplc),
    cardLifeCycle: cardLc,
    keys: o.keys.map((k) => ({ kvn: k.kvn, enc: unhex(k.enc), mac: unhex(k.mac), dek: unhex(k.dek) })),
    counters: { scpSequence: o.counters.scpSequence, scpAuthFailures: o.counters.scpAuthFailures, bacAuthFailures: o.counters.bacAuthFailures },
    eid: {
      lifeCycle: appLc,
      documentNumber: o.eid.documentNumber,
      bacKeySeed: o.eid.bacKeySeed ? unhex(o.eid.bacKeySeed) : undefined,
      aaPrivateKey: o.eid.aaPrivateKey ? unb64(o.eid.aaPrivateKey) : undefined,
      aaPublicKey: o.eid.aaPublicKey ? unb64(o.eid.aaPublicKey) : undefined,
    },
    mf,
    note: o.note,
  };
}

/** An empty state skeleton (factory.ts fills in identity, keys and applications). */
export function emptyCardState(serial: string, cplc: Uint8Array, now: Date, profile: CardProfile = DEFAULT_PROFILE): CardState {
  return {
    serial,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    profile: { ...profile },
    cplc,
    cardLifeCycle: CARD_LIFE_CYCLE.OP_READY,
    keys: [],
    counters: { scpSequence: 0, scpAuthFailures: 0, bacAuthFailures: 0 },
    eid: {
      lifeCycle: APP_LIFE_CYCLE.SELECTABLE,
      documentNumber: undefined,
      bacKeySeed: undefined,
      aaPrivateKey: undefined,
      aaPublicKey: undefined,
    },
    mf: newMasterFile(),
    note: undefined,
  };
}
