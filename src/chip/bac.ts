/**
 * ICAO Doc 9303-11 §4.3 Basic Access Control, terminal and chip side.
 *
 * Document basic access keys (§4.3.2, §9.7.1 KDF for 3DES):
 * ```
 *   MRZ_information = document number (9 characters, '<' padded; longer numbers in full) || check digit
 *                     || date of birth (YYMMDD) || check digit || date of expiry (YYMMDD) || check digit
 *   K_seed = first 16 bytes of SHA-1(MRZ_information)
 *   K      = SHA-1(K_seed || c)[0..16), DES parity adjusted;  c = 00 00 00 01 (K_enc), 00 00 00 02 (K_mac)
 * ```
 * Mutual authentication (§4.3.3.1, Appendix D.3):
 * ```
 *   terminal                                      chip
 *   GET CHALLENGE (00 84 00 00 08)          ->    RND.IC (8)
 *   S = RND.IFD || RND.IC || K.IFD (8 || 8 || 16)
 *   E_IFD = 3DES-CBC(K_enc, IV 0, S); M_IFD = retail MAC(K_mac, pad(E_IFD))
 *   EXTERNAL AUTHENTICATE (00 82 00 00 28 E_IFD||M_IFD 28) ->
 *                                                 checks M_IFD, decrypts S, checks RND.IC
 *                                                 R = RND.IC || RND.IFD || K.IC
 *                                           <-    E_IC || M_IC (E_IC = 3DES(K_enc, R), M_IC = MAC(K_mac, E_IC))
 *   checks M_IC, decrypts R, checks RND.IFD and RND.IC
 *   K_seed = K.IFD xor K.IC;  KS_enc, KS_mac by the KDF above;  SSC = RND.IC[4..8) || RND.IFD[4..8)
 * ```
 */
import { createHash, randomBytes } from 'node:crypto';
import { concatBytes } from '../shared/index.ts';
import { command, type CommandApdu } from './apdu.ts';
import { adjustDesParity, desCbcDecrypt, desCbcEncrypt, retailMac } from './des.ts';
import { ApduFormatError, SecureChannelError } from './errors.ts';
import { macEquals } from './scp03.ts';
import { IsoSecureMessaging } from './sm.ts';

/** KDF counters (ICAO 9303-11 §9.7.1). */
export const KDF_COUNTER_ENC = 1;
export const KDF_COUNTER_MAC = 2;
/** Lengths in the BAC protocol. */
export const BAC_RND_LENGTH = 8;
export const BAC_KEY_MATERIAL_LENGTH = 16;
/** Length of E_IFD || M_IFD and E_IC || M_IC. */
export const BAC_AUTH_DATA_LENGTH = 40;

const MRZ_WEIGHTS = [7, 3, 1] as const;

/** ICAO 9303-3 §4.9 check digit (weights 7-3-1, '<' = 0, A = 10 .. Z = 35). */
export function mrzCheckDigit(field: string): string {
  let sum = 0;
  for (let i = 0; i < field.length; i++) {
    const c = field.charCodeAt(i);
    let v: number;
    if (c >= 48 && c <= 57) v = c - 48;
    else if (c >= 65 && c <= 90) v = c - 55;
    else if (c === 60) v = 0;
    else throw new ApduFormatError(`character '${field[i]}' is not an MRZ character`);
    sum += v * MRZ_WEIGHTS[i % 3]!;
  }
  return String(sum % 10);
}

/** The three MRZ fields BAC keys are made from. */
export interface BacSecrets {
  /** Document number as printed in the MRZ (without the check digit); '<' padding optional. */
  documentNumber: string;
  /** YYMMDD. */
  dateOfBirth: string;
  /** YYMMDD. */
  dateOfExpiry: string;
}

/**
 * MRZ_information for BAC: document number padded with '<' to 9 characters (longer numbers, which overflow into
 * the optional data of a TD1, are used in full) plus check digits of the three fields.
 */
export function bacMrzInformation(s: BacSecrets): string {
  let doc = s.documentNumber.toUpperCase();
  if (doc.length < 9) doc = doc.padEnd(9, '<');
  for (const [name, v] of [
    ['date of birth', s.dateOfBirth],
    ['date of expiry', s.dateOfExpiry],
  ] as const) {
    if (!/^[0-9]{6}$/.test(v)) throw new ApduFormatError(`${name} must be YYMMDD`);
  }
  return (
    doc + mrzCheckDigit(doc) + s.dateOfBirth + mrzCheckDigit(s.dateOfBirth) + s.dateOfExpiry + mrzCheckDigit(s.dateOfExpiry)
  );
}

function sha1(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** K_seed = first 16 bytes of SHA-1(MRZ_information). */
export function bacKeySeed(mrzInformation: string): Uint8Array {
  return sha1(new TextEncoder().encode(mrzInformation)).slice(0, BAC_KEY_MATERIAL_LENGTH);
}

/** ICAO 9303-11 §9.7.1 KDF for 2-key 3DES: SHA-1(seed || counter (4 bytes BE))[0..16), parity adjusted. */
export function deriveDesKey(seed: Uint8Array, counter: number): Uint8Array {
  const c = Uint8Array.of(counter >>> 24, (counter >>> 16) & 0xff, (counter >>> 8) & 0xff, counter & 0xff);
  return adjustDesParity(sha1(seed, c).subarray(0, 16));
}

/** A pair of 3DES keys: document basic access keys (K_enc, K_mac) or session keys (KS_enc, KS_mac). */
export interface DesKeyPair {
  enc: Uint8Array;
  mac: Uint8Array;
}

/** K_enc and K_mac from a 16-byte seed. */
export function deriveDesKeyPair(seed: Uint8Array): DesKeyPair {
  return { enc: deriveDesKey(seed, KDF_COUNTER_ENC), mac: deriveDesKey(seed, KDF_COUNTER_MAC) };
}

/** Document basic access keys from the MRZ fields. */
export function deriveBacKeys(s: BacSecrets): DesKeyPair {
  return deriveDesKeyPair(bacKeySeed(bacMrzInformation(s)));
}

/** The session established by BAC. */
export interface BacSession {
  ksEnc: Uint8Array;
  ksMac: Uint8Array;
  /** Initial send sequence counter. */
  ssc: Uint8Array;
}

/** A secure messaging session object for a BAC session (3DES). */
export function bacSecureMessaging(s: BacSession): IsoSecureMessaging {
  return IsoSecureMessaging.des(s.ksEnc, s.ksMac, s.ssc, 'bac');
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

function sessionFrom(kIfd: Uint8Array, kIc: Uint8Array, rndIc: Uint8Array, rndIfd: Uint8Array): BacSession {
  const ks = deriveDesKeyPair(xor(kIfd, kIc));
  return { ksEnc: ks.enc, ksMac: ks.mac, ssc: concatBytes(rndIc.subarray(4, 8), rndIfd.subarray(4, 8)) };
}

/** GET CHALLENGE for BAC: 00 84 00 00 08. */
export function bacGetChallenge(): CommandApdu {
  return command(0x00, 0x84, 0x00, 0x00, undefined, BAC_RND_LENGTH);
}

/** Terminal state between EXTERNAL AUTHENTICATE and its response. */
export interface BacTerminalState {
  keys: DesKeyPair;
  rndIc: Uint8Array;
  rndIfd: Uint8Array;
  kIfd: Uint8Array;
}

/**
 * Terminal side, step 1: from RND.IC (the GET CHALLENGE response), builds EXTERNAL AUTHENTICATE. RND.IFD and
 * K.IFD are random unless given (tests).
 */
export function bacTerminalAuthenticate(
  keys: DesKeyPair,
  rndIc: Uint8Array,
  opts: { rndIfd?: Uint8Array; kIfd?: Uint8Array } = {},
): { command: CommandApdu; state: BacTerminalState } {
  if (rndIc.length !== BAC_RND_LENGTH) throw new ApduFormatError(`RND.IC of ${rndIc.length} bytes (8 expected)`);
  const rndIfd = opts.rndIfd ?? new Uint8Array(randomBytes(BAC_RND_LENGTH));
  const kIfd = opts.kIfd ?? new Uint8Array(randomBytes(BAC_KEY_MATERIAL_LENGTH));
  const eIfd = desCbcEncrypt(keys.enc, concatBytes(rndIfd, rndIc, kIfd));
  const mIfd = retailMac(keys.mac, eIfd);
  return {
    command: command(0x00, 0x82, 0x00, 0x00, concatBytes(eIfd, mIfd), BAC_AUTH_DATA_LENGTH),
    state: { keys, rndIc: rndIc.slice(), rndIfd, kIfd },
  };
}

/**
 * Terminal side, step 2: verifies the chip's response (E_IC || M_IC) and derives the session. Throws
 * {@link SecureChannelError} `AUTHENTICATION_FAILED` when the MAC or the nonces do not verify.
 */
export function bacTerminalComplete(state: BacTerminalState, responseData: Uint8Array): BacSession {
  if (responseData.length !== BAC_AUTH_DATA_LENGTH) {
    throw new SecureChannelError('AUTHENTICATION_FAILED', `BAC response of ${responseData.length} bytes`);
  }
  const eIc = responseData.subarray(0, 32);
  if (!macEquals(retailMac(state.keys.mac, eIc), responseData.subarray(32))) {
    throw new SecureChannelError('AUTHENTICATION_FAILED', 'chip authentication MAC does not verify');
  }
  const r = desCbcDecrypt(state.keys.enc, eIc);
  if (!macEquals(r.subarray(0, 8), state.rndIc) || !macEquals(r.subarray(8, 16), state.rndIfd)) {
    throw new SecureChannelError('AUTHENTICATION_FAILED', 'chip response does not carry the exchanged nonces');
  }
  return sessionFrom(state.kIfd, r.subarray(16, 32), state.rndIc, state.rndIfd);
}

/**
 * Chip side: verifies EXTERNAL AUTHENTICATE data (E_IFD || M_IFD) against the RND.IC the chip gave out, and
 * answers. K.IC is random unless given. Throws {@link SecureChannelError} `AUTHENTICATION_FAILED` with SW '6300'
 * (the chip then sends that SW and forgets RND.IC).
 */
export function bacChipAuthenticate(
  keys: DesKeyPair,
  rndIc: Uint8Array,
  commandData: Uint8Array,
  opts: { kIc?: Uint8Array } = {},
): { responseData: Uint8Array; session: BacSession } {
  if (commandData.length !== BAC_AUTH_DATA_LENGTH) {
    throw new SecureChannelError('AUTHENTICATION_FAILED', `BAC command data of ${commandData.length} bytes`, 0x6700);
  }
  const eIfd = commandData.subarray(0, 32);
  if (!macEquals(retailMac(keys.mac, eIfd), commandData.subarray(32))) {
    throw new SecureChannelError('AUTHENTICATION_FAILED', 'terminal authentication MAC does not verify', 0x6300);
  }
  const s = desCbcDecrypt(keys.enc, eIfd);
  const rndIfd = s.slice(0, 8);
  if (!macEquals(s.subarray(8, 16), rndIc)) {
    throw new SecureChannelError('AUTHENTICATION_FAILED', 'terminal did not answer this chip challenge', 0x6300);
  }
  const kIfd = s.subarray(16, 32);
  const kIc = opts.kIc ?? new Uint8Array(randomBytes(BAC_KEY_MATERIAL_LENGTH));
  const eIc = desCbcEncrypt(keys.enc, concatBytes(rndIc, rndIfd, kIc));
  return {
    responseData: concatBytes(eIc, retailMac(keys.mac, eIc)),
    session: sessionFrom(kIfd, kIc, rndIc, rndIfd),
  };
}
