/**
 * GlobalPlatform Secure Channel Protocol '03' (GP Card Specification v2.3 Amendment D v1.2), for both ends:
 * the host (encoder) and the card (Kadi's virtual card in `applets/`). Pure: keys in, bytes out.
 *
 * Data derivation (Amd D §4.1.5; NIST SP 800-108 KDF in counter mode, PRF = AES-CMAC, full 16-byte output):
 * ```
 *   derivation data = label (11 x '00' || derivation constant, 12 bytes)
 *                     || '00' (separation indicator)
 *                     || L (2 bytes, output length in bits)
 *                     || i (1 byte counter, from '01')
 *                     || context
 *   output          = CMAC(K, data(i=1)) || CMAC(K, data(i=2)) || ...  truncated to L bits
 *
 *   derivation constant (Table 4-1)     key          L            context
 *   '00' card cryptogram                S-MAC        64 (S8)      host challenge || card challenge
 *   '01' host cryptogram                S-MAC        64 (S8)      host challenge || card challenge
 *   '02' card challenge (pseudo-random) K-ENC        64 (S8)      sequence counter (3) || invoking AID
 *   '04' S-ENC                          K-ENC        key length   host challenge || card challenge
 *   '06' S-MAC                          K-MAC        key length   host challenge || card challenge
 *   '07' S-RMAC                         K-MAC        key length   host challenge || card challenge
 * ```
 *
 * Command protection (§6.2.4, §6.2.6), in this order:
 * ```
 *   C-DEC  if command data present: data' = AES-CBC(S-ENC, ICV, pad80(data)),
 *          ICV = AES-ECB(S-ENC, encryption counter as 16-byte big-endian number)
 *          The counter starts at 1 for the first command after EXTERNAL AUTHENTICATE and is incremented for every
 *          command, with or without data (so the host and card counters stay equal).
 *   C-MAC  CLA' = CLA with b3 ('04') set, logical channel bits cleared for the MAC input
 *          MCV   = AES-CMAC(S-MAC, MCV || CLA' INS P1 P2 || Lc' || data')   (MCV starts at 16 x '00')
 *          C-MAC = first 8 (S8) / 16 (S16) bytes of MCV, appended to the data; Lc' counts it.
 *          The wire CLA is the original CLA with b3 set (logical channel and chaining bits kept); Le unchanged.
 * ```
 * Response protection (§6.2.5, §6.2.7), only for SW '9000', '62xx', '63xx' (an error SW is returned bare):
 * ```
 *   R-ENC  if response data present: data' = AES-CBC(S-ENC, ICV', pad80(data)),
 *          ICV' = AES-ECB(S-ENC, '80' || last 15 bytes of the counter of the command being answered)
 *   R-MAC  R-MAC = first 8/16 bytes of AES-CMAC(S-RMAC, MCV || data' || SW1 SW2)   (MCV is not updated)
 * ```
 * Security level (P1 of EXTERNAL AUTHENTICATE, §7.1.2.1, Table 7-4): b1 C-MAC, b2 C-DECRYPTION, b5 R-MAC,
 * b6 R-ENCRYPTION: '01', '03', '11', '13', '31' is invalid (R-ENC needs C-DEC), '33'.
 *
 * INITIALIZE UPDATE response (§7.1.1.6, Table 7-3):
 * ```
 *   key diversification data 10 | key information 3 (KVN, '03', i) | card challenge 8/16 |
 *   card cryptogram 8/16 | [sequence counter 3, when i says pseudo-random card challenge]
 *   i (§5.1): b1 '01' S16 mode, b5 '10' pseudo-random card challenge, b6 '20' R-MAC support, b7 '40' R-ENC support
 * ```
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { concatBytes } from '../shared/index.ts';
import {
  encodeCommand,
  isExtended,
  type CommandApdu,
  type ResponseApdu,
} from './apdu.ts';
import { AES_BLOCK, AesCmac, aesCbcDecrypt, aesCbcEncrypt, aesCipher, aesKcv } from './aes.ts';
import type { BlockCipher } from './cipher.ts';
import { ApduFormatError, SecureChannelError } from './errors.ts';
import { pad80, unpad80 } from './padding.ts';

// ---------------------------------------------------------------------------------------------------------------
// Constants

/** Derivation constants, GP Amd D Table 4-1. */
export const SCP03_DERIVE_CARD_CRYPTOGRAM = 0x00;
export const SCP03_DERIVE_HOST_CRYPTOGRAM = 0x01;
export const SCP03_DERIVE_CARD_CHALLENGE = 0x02;
export const SCP03_DERIVE_S_ENC = 0x04;
export const SCP03_DERIVE_S_MAC = 0x06;
export const SCP03_DERIVE_S_RMAC = 0x07;

/** Security level bits (P1 of EXTERNAL AUTHENTICATE). */
export const SL_C_MAC = 0x01;
export const SL_C_DECRYPTION = 0x02;
export const SL_R_MAC = 0x10;
export const SL_R_ENCRYPTION = 0x20;
/** The security levels SCP03 allows. */
export const SECURITY_LEVEL_NONE = 0x00;
export const SECURITY_LEVEL_C_MAC = 0x01;
export const SECURITY_LEVEL_C_DEC_C_MAC = 0x03;
export const SECURITY_LEVEL_C_MAC_R_MAC = 0x11;
export const SECURITY_LEVEL_C_DEC_C_MAC_R_MAC = 0x13;
export const SECURITY_LEVEL_C_DEC_R_ENC_C_MAC_R_MAC = 0x33;
export const SCP03_SECURITY_LEVELS: readonly number[] = [0x00, 0x01, 0x03, 0x11, 0x13, 0x33];

/** SCP identifier in the key information of INITIALIZE UPDATE. */
export const SCP03_ID = 0x03;
/** i parameter bits (GP Amd D §5.1). */
export const SCP03_I_S16 = 0x01;
export const SCP03_I_PSEUDO_RANDOM_CHALLENGE = 0x10;
export const SCP03_I_R_MAC = 0x20;
export const SCP03_I_R_ENC = 0x40;
/** i = '70': S8, pseudo-random card challenge, R-MAC and R-ENC supported (what Kadi's card announces). */
export const SCP03_I_DEFAULT = 0x70;

/** CLA b3: GlobalPlatform / ISO secure messaging indication. */
export const CLA_SECURE_MESSAGING = 0x04;
/** Length of the key diversification data in INITIALIZE UPDATE responses. */
export const KEY_DIVERSIFICATION_DATA_LENGTH = 10;
/** Length of the sequence counter. */
export const SEQUENCE_COUNTER_LENGTH = 3;

/** S8 (8-byte challenges, cryptograms, MACs) or S16 mode. */
export type Scp03Mode = 8 | 16;

// ---------------------------------------------------------------------------------------------------------------
// KDF, session keys, cryptograms

/**
 * SCP03 data derivation (SP 800-108 counter mode, AES-CMAC). `lengthBits` is L, the output length in bits
 * (64, 128, 192 or 256). Key of 16, 24 or 32 bytes.
 */
export function scp03Kdf(key: Uint8Array, constant: number, context: Uint8Array, lengthBits: number): Uint8Array {
  if (lengthBits <= 0 || lengthBits % 8 !== 0 || lengthBits > 0xffff) {
    throw new ApduFormatError(`SCP03 KDF output length ${lengthBits} bits is invalid`);
  }
  const cmac = new AesCmac(key);
  const outLen = lengthBits / 8;
  const blocks = Math.ceil(outLen / AES_BLOCK);
  const data = new Uint8Array(16 + context.length);
  data[11] = constant & 0xff;
  data[12] = 0x00; // separation indicator
  data[13] = lengthBits >>> 8;
  data[14] = lengthBits & 0xff;
  data.set(context, 16);
  const out = new Uint8Array(blocks * AES_BLOCK);
  for (let i = 1; i <= blocks; i++) {
    data[15] = i;
    out.set(cmac.mac(data), (i - 1) * AES_BLOCK);
  }
  return out.slice(0, outLen);
}

/** A card's static SCP03 key set (K-ENC, K-MAC, K-DEK), each 16, 24 or 32 bytes. */
export interface Scp03Keys {
  readonly enc: Uint8Array;
  readonly mac: Uint8Array;
  readonly dek: Uint8Array;
}

/** Session keys of one secure channel. */
export interface Scp03SessionKeys {
  readonly sEnc: Uint8Array;
  readonly sMac: Uint8Array;
  readonly sRmac: Uint8Array;
}

/** S-ENC, S-MAC and S-RMAC from the static keys and both challenges (Amd D §6.2.1). */
export function deriveSessionKeys(
  keys: Pick<Scp03Keys, 'enc' | 'mac'>,
  hostChallenge: Uint8Array,
  cardChallenge: Uint8Array,
): Scp03SessionKeys {
  const ctx = concatBytes(hostChallenge, cardChallenge);
  return {
    sEnc: scp03Kdf(keys.enc, SCP03_DERIVE_S_ENC, ctx, keys.enc.length * 8),
    sMac: scp03Kdf(keys.mac, SCP03_DERIVE_S_MAC, ctx, keys.mac.length * 8),
    sRmac: scp03Kdf(keys.mac, SCP03_DERIVE_S_RMAC, ctx, keys.mac.length * 8),
  };
}

/** Card authentication cryptogram (Amd D §6.2.2.2), 8 bytes in S8 mode. */
export function computeCardCryptogram(
  sMac: Uint8Array,
  hostChallenge: Uint8Array,
  cardChallenge: Uint8Array,
  mode: Scp03Mode = 8,
): Uint8Array {
  return scp03Kdf(sMac, SCP03_DERIVE_CARD_CRYPTOGRAM, concatBytes(hostChallenge, cardChallenge), mode * 8);
}

/** Host authentication cryptogram (Amd D §6.2.2.3), 8 bytes in S8 mode. */
export function computeHostCryptogram(
  sMac: Uint8Array,
  hostChallenge: Uint8Array,
  cardChallenge: Uint8Array,
  mode: Scp03Mode = 8,
): Uint8Array {
  return scp03Kdf(sMac, SCP03_DERIVE_HOST_CRYPTOGRAM, concatBytes(hostChallenge, cardChallenge), mode * 8);
}

/**
 * Pseudo-random card challenge (Amd D §6.2.2.1): KDF(K-ENC, '02', context = sequence counter (3 bytes) ||
 * AID of the application that opens the channel).
 */
export function computeCardChallenge(
  kEnc: Uint8Array,
  sequenceCounter: Uint8Array,
  aid: Uint8Array,
  mode: Scp03Mode = 8,
): Uint8Array {
  if (sequenceCounter.length !== SEQUENCE_COUNTER_LENGTH) {
    throw new ApduFormatError(`SCP03 sequence counter of ${sequenceCounter.length} bytes (3 expected)`);
  }
  return scp03Kdf(kEnc, SCP03_DERIVE_CARD_CHALLENGE, concatBytes(sequenceCounter, aid), mode * 8);
}

/** Key check value of an AES key as GP defines it (AES-ECB(key, '01' x 16), first 3 bytes). */
export const scp03KeyCheckValue = aesKcv;

/**
 * Encrypts a key for PUT KEY with the DEK (GP 2.3 §11.8.2.3 Table 11-70, Amd D §7.2): AES-CBC, IV = 0, the key
 * right-padded with '00' to a multiple of 16 when needed. Returns the key component block: key length (1 byte) ||
 * encrypted key.
 */
export function encryptKeyWithDek(dek: Uint8Array, key: Uint8Array): Uint8Array {
  const padded = new Uint8Array(Math.ceil(key.length / AES_BLOCK) * AES_BLOCK);
  padded.set(key, 0);
  return concatBytes(Uint8Array.of(key.length), aesCbcEncrypt(dek, padded));
}

/** Inverse of {@link encryptKeyWithDek} (card side): key length byte || encrypted key -> key. */
export function decryptKeyWithDek(dek: Uint8Array, block: Uint8Array): Uint8Array {
  const len = block[0];
  const enc = block.subarray(1);
  if (len === undefined || enc.length === 0 || enc.length % AES_BLOCK !== 0 || len > enc.length) {
    throw new SecureChannelError('SM_DATA_INVALID', 'malformed encrypted key component block', 0x6a80);
  }
  return aesCbcDecrypt(dek, enc).slice(0, len);
}

/** Key types for {@link diversifyKeyGpProKdf3}. */
export type Scp03KeyType = 'enc' | 'mac' | 'dek';
const KDF3_CONSTANT: Record<Scp03KeyType, number> = { enc: 1, mac: 2, dek: 3 };

/**
 * Per-card key diversification as GlobalPlatformPro's "KDF3" does it (not part of GP Amd D). A vector-tested
 * reference only: Kadi's own card keys use the scheme of `applets/gp-isd/diversify.ts` (AES-ECB of
 * serial-based diversification data, derivable in the HSM with CKM_AES_ECB_ENCRYPT_DATA). For each block i:
 * ```
 *   block_i = AES-CMAC(master, i || '00 00 00' || c || '00' || KDD)      c = 01 ENC, 02 MAC, 03 DEK
 * ```
 * concatenated and cut to the master key's length. KDD is the card's key diversification data (10 bytes from
 * INITIALIZE UPDATE, or the chip serial).
 */
export function diversifyKeyGpProKdf3(master: Uint8Array, kdd: Uint8Array, type: Scp03KeyType): Uint8Array {
  const cmac = new AesCmac(master);
  const out = new Uint8Array(Math.ceil(master.length / AES_BLOCK) * AES_BLOCK);
  for (let i = 1; i <= out.length / AES_BLOCK; i++) {
    out.set(cmac.mac(Uint8Array.of(i, 0, 0, 0, KDF3_CONSTANT[type], 0), kdd), (i - 1) * AES_BLOCK);
  }
  return out.slice(0, master.length);
}

/** Constant-time equality for MACs and cryptograms. */
export function macEquals(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Checks that a security level is one SCP03 allows; returns it. */
export function checkSecurityLevel(level: number): number {
  if (!SCP03_SECURITY_LEVELS.includes(level)) {
    throw new ApduFormatError(`SCP03 security level ${level.toString(16).padStart(2, '0')} is not allowed`);
  }
  return level;
}

// ---------------------------------------------------------------------------------------------------------------
// INITIALIZE UPDATE response

/** Parsed INITIALIZE UPDATE response (SCP03). */
export interface InitializeUpdateResponse {
  keyDiversificationData: Uint8Array;
  keyVersion: number;
  scpId: number;
  /** The i parameter. */
  iParameter: number;
  cardChallenge: Uint8Array;
  cardCryptogram: Uint8Array;
  /** Present when the card uses a pseudo-random card challenge. */
  sequenceCounter?: Uint8Array;
}

/** S8/S16 mode announced by an i parameter. */
export function scp03ModeOf(iParameter: number): Scp03Mode {
  return (iParameter & SCP03_I_S16) !== 0 ? 16 : 8;
}

/**
 * Parses the data of an INITIALIZE UPDATE response (GP Amd D Table 7-3). Throws `SecureChannelError`
 * `PROTOCOL_UNSUPPORTED` when the card does not speak SCP03 or the length does not fit.
 */
export function parseInitializeUpdateResponse(data: Uint8Array): InitializeUpdateResponse {
  if (data.length < 13) {
    throw new SecureChannelError('PROTOCOL_UNSUPPORTED', `INITIALIZE UPDATE response of ${data.length} bytes`);
  }
  const scpId = data[11]!;
  if (scpId !== SCP03_ID) {
    throw new SecureChannelError('PROTOCOL_UNSUPPORTED', `card offers SCP ${scpId.toString(16)}, not SCP03`);
  }
  const iParameter = data[12]!;
  const n = scp03ModeOf(iParameter);
  const withCounter = 13 + 2 * n + SEQUENCE_COUNTER_LENGTH;
  if (data.length !== 13 + 2 * n && data.length !== withCounter) {
    throw new SecureChannelError('PROTOCOL_UNSUPPORTED', `INITIALIZE UPDATE response of ${data.length} bytes`);
  }
  return {
    keyDiversificationData: data.slice(0, KEY_DIVERSIFICATION_DATA_LENGTH),
    keyVersion: data[10]!,
    scpId,
    iParameter,
    cardChallenge: data.slice(13, 13 + n),
    cardCryptogram: data.slice(13 + n, 13 + 2 * n),
    ...(data.length === withCounter ? { sequenceCounter: data.slice(13 + 2 * n) } : {}),
  };
}

/** Encodes the data of an INITIALIZE UPDATE response (card side). */
export function encodeInitializeUpdateResponse(r: InitializeUpdateResponse): Uint8Array {
  if (r.keyDiversificationData.length !== KEY_DIVERSIFICATION_DATA_LENGTH) {
    throw new ApduFormatError('key diversification data must be 10 bytes');
  }
  return concatBytes(
    r.keyDiversificationData,
    Uint8Array.of(r.keyVersion, r.scpId, r.iParameter),
    r.cardChallenge,
    r.cardCryptogram,
    r.sequenceCounter ?? new Uint8Array(0),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The channel

/** Options of a {@link Scp03Channel}. */
export interface Scp03ChannelOptions {
  /** Security level in force (normally set by EXTERNAL AUTHENTICATE). Default 0 (until authenticated). */
  securityLevel?: number;
  /** S8 (default) or S16 mode. */
  mode?: Scp03Mode;
}

/** Something that protects commands and unprotects responses (SCP03 or ICAO SM); used by `CardSession`. */
export interface SecureChannel {
  /** Short name for traces ("scp03", "bac"). */
  readonly kind: string;
  /** Protects a plain command (host side). */
  wrapCommand(cmd: CommandApdu): CommandApdu;
  /** Verifies and unprotects a response (host side). Throws `SecureChannelError` on a bad MAC. */
  unwrapResponse(resp: ResponseApdu): ResponseApdu;
  /** Largest plain command data that fits in `maxWireData` bytes once protected. */
  maxPlainData(maxWireData: number): number;
}

/**
 * The state of one SCP03 secure channel: session keys, MAC chaining value, encryption counter and security level.
 * The same class serves both ends: the host uses {@link wrapCommand} / {@link unwrapResponse}, the card uses
 * {@link unwrapCommand} / {@link wrapResponse}. Each end holds its own instance; as long as both see the same
 * command sequence, their states stay equal.
 *
 * After any verification failure the channel is closed (every further call throws `CHANNEL_STATE`): a card must
 * then answer with the error's `sw` and drop the session; a host must give up on the card.
 */
export class Scp03Channel implements SecureChannel {
  readonly kind = 'scp03';
  readonly mode: Scp03Mode;
  private level: number;
  private mcv: Uint8Array = new Uint8Array(AES_BLOCK);
  private counter = 0;
  private authenticated = false;
  private closed = false;
  private readonly cmac: AesCmac;
  private readonly rmac: AesCmac;
  private readonly enc: BlockCipher;

  constructor(keys: Scp03SessionKeys, opts: Scp03ChannelOptions = {}) {
    this.mode = opts.mode ?? 8;
    this.level = checkSecurityLevel(opts.securityLevel ?? SECURITY_LEVEL_NONE);
    this.cmac = new AesCmac(keys.sMac);
    this.rmac = new AesCmac(keys.sRmac);
    this.enc = aesCipher(keys.sEnc);
    if (opts.securityLevel !== undefined) this.authenticated = true;
  }

  /** Current security level. */
  get securityLevel(): number {
    return this.level;
  }
  /** Whether EXTERNAL AUTHENTICATE has completed (or the channel was created with a level). */
  get isAuthenticated(): boolean {
    return this.authenticated && !this.closed;
  }
  /** Whether a verification failure closed the channel. */
  get isClosed(): boolean {
    return this.closed;
  }
  /** Copy of the current MAC chaining value. */
  get macChainingValue(): Uint8Array {
    return this.mcv.slice();
  }
  /** Encryption counter of the last command (0 before the first command after EXTERNAL AUTHENTICATE). */
  get encryptionCounter(): number {
    return this.counter;
  }

  /** Closes the channel (after an error, or at the end of a session). */
  close(): void {
    this.closed = true;
  }

  private ensureOpen(): void {
    if (this.closed) throw new SecureChannelError('CHANNEL_STATE', 'the SCP03 secure channel is closed');
  }

  // -- EXTERNAL AUTHENTICATE ------------------------------------------------------------------------------------

  /**
   * Host side: the EXTERNAL AUTHENTICATE command (CLA '84', INS '82', P1 = security level, data = host
   * cryptogram || C-MAC). C-MAC only, whatever the level; the level applies from the next command on.
   */
  externalAuthenticate(hostCryptogram: Uint8Array, securityLevel: number): CommandApdu {
    this.ensureOpen();
    checkSecurityLevel(securityLevel);
    const wrapped = this.macCommand({ cla: 0x80, ins: 0x82, p1: securityLevel, p2: 0x00, data: hostCryptogram });
    this.level = securityLevel;
    this.counter = 0;
    this.authenticated = true;
    return wrapped;
  }

  /**
   * Card side: verifies an EXTERNAL AUTHENTICATE command (its C-MAC over the initial MCV, and the host cryptogram)
   * and, on success, puts its security level (P1) in force. Returns the level. On failure the channel closes and
   * a {@link SecureChannelError} with SW 6982 is thrown.
   */
  acceptExternalAuthenticate(cmd: CommandApdu, expectedHostCryptogram: Uint8Array): number {
    this.ensureOpen();
    const plain = this.verifyCommandMac(cmd);
    if (!SCP03_SECURITY_LEVELS.includes(cmd.p1) || (cmd.p1 & SL_C_MAC) === 0) {
      this.closed = true;
      throw new SecureChannelError('SM_DATA_INVALID', `security level ${cmd.p1.toString(16)} not allowed`, 0x6a86);
    }
    if (!plain.data || !macEquals(plain.data, expectedHostCryptogram)) {
      this.closed = true;
      throw new SecureChannelError('HOST_CRYPTOGRAM_INVALID', 'host cryptogram does not verify', 0x6300);
    }
    this.level = cmd.p1;
    this.counter = 0;
    this.authenticated = true;
    return cmd.p1;
  }

  // -- commands -------------------------------------------------------------------------------------------------

  private macInput(cla: number, c: CommandApdu, dataWithMacPlaceholder: Uint8Array): Uint8Array {
    const enc = encodeCommand({
      cla: (cla & 0xf0) | CLA_SECURE_MESSAGING,
      ins: c.ins,
      p1: c.p1,
      p2: c.p2,
      data: dataWithMacPlaceholder,
      ...(isExtended({ ...c, data: dataWithMacPlaceholder }) ? { extended: true } : {}),
    });
    return enc.subarray(0, enc.length - this.mode);
  }

  /** C-MAC a command whose data is final (already encrypted); updates the MCV. */
  private macCommand(c: CommandApdu, le?: number): CommandApdu {
    const data = c.data ?? new Uint8Array(0);
    const wireData = new Uint8Array(data.length + this.mode);
    wireData.set(data, 0);
    const probe: CommandApdu = { ...c, data: wireData, ...(le !== undefined ? { le } : {}) };
    this.mcv = this.cmac.mac(this.mcv, this.macInput(c.cla, probe, wireData));
    wireData.set(this.mcv.subarray(0, this.mode), data.length);
    return {
      cla: c.cla | CLA_SECURE_MESSAGING,
      ins: c.ins,
      p1: c.p1,
      p2: c.p2,
      data: wireData,
      ...(le !== undefined ? { le } : {}),
      ...(c.extended ? { extended: true } : {}),
    };
  }

  /** Verifies the C-MAC of a received command, updates the MCV, returns the command without the MAC. */
  private verifyCommandMac(cmd: CommandApdu): CommandApdu {
    const data = cmd.data ?? new Uint8Array(0);
    if ((cmd.cla & CLA_SECURE_MESSAGING) === 0 || data.length < this.mode) {
      this.closed = true;
      throw new SecureChannelError('SM_DATA_MISSING', 'command carries no C-MAC', 0x6982);
    }
    const mac = data.subarray(data.length - this.mode);
    const next = this.cmac.mac(this.mcv, this.macInput(cmd.cla, cmd, data));
    if (!macEquals(mac, next.subarray(0, this.mode))) {
      this.closed = true;
      throw new SecureChannelError('COMMAND_MAC_INVALID', 'C-MAC does not verify', 0x6982);
    }
    this.mcv = next;
    const body = data.subarray(0, data.length - this.mode);
    return {
      cla: cmd.cla & ~CLA_SECURE_MESSAGING,
      ins: cmd.ins,
      p1: cmd.p1,
      p2: cmd.p2,
      ...(body.length > 0 ? { data: body } : {}),
      ...(cmd.le !== undefined ? { le: cmd.le } : {}),
    };
  }

  private icv(response: boolean): Uint8Array {
    const block = new Uint8Array(AES_BLOCK);
    let v = this.counter;
    for (let i = AES_BLOCK - 1; i >= 0 && v > 0; i--) {
      block[i] = v % 256;
      v = Math.floor(v / 256);
    }
    if (response) block[0] = 0x80;
    return this.enc.ecbEncrypt(block);
  }

  /**
   * Host side: protects a plain command at the current security level (C-DEC then C-MAC). With no C-MAC in the
   * level the command is returned unchanged. Le is kept as given: it counts the plain response data, and the card
   * adds R-MAC/R-ENC overhead on top (ask for less than the transport maximum: `CardSession.maxPlainResponseData`).
   */
  wrapCommand(cmd: CommandApdu): CommandApdu {
    this.ensureOpen();
    if (!this.authenticated) throw new SecureChannelError('CHANNEL_STATE', 'EXTERNAL AUTHENTICATE not done');
    if ((this.level & SL_C_MAC) === 0) return cmd;
    this.counter++;
    let data = cmd.data ?? new Uint8Array(0);
    if ((this.level & SL_C_DECRYPTION) !== 0 && data.length > 0) {
      data = this.enc.cbcEncryptInPlace(pad80(data, AES_BLOCK), this.icv(false));
    }
    return this.macCommand({ ...cmd, data }, cmd.le);
  }

  /**
   * Card side: verifies and unprotects a command (C-MAC, then C-DEC). Throws {@link SecureChannelError} (SW in
   * `sw`) and closes the channel on failure.
   */
  unwrapCommand(cmd: CommandApdu): CommandApdu {
    this.ensureOpen();
    if (!this.authenticated) throw new SecureChannelError('CHANNEL_STATE', 'EXTERNAL AUTHENTICATE not done');
    if ((this.level & SL_C_MAC) === 0) return cmd;
    const plain = this.verifyCommandMac(cmd);
    this.counter++;
    if ((this.level & SL_C_DECRYPTION) !== 0 && plain.data && plain.data.length > 0) {
      if (plain.data.length % AES_BLOCK !== 0) {
        this.closed = true;
        throw new SecureChannelError('SM_DATA_INVALID', 'encrypted command data is not whole blocks', 0x6988);
      }
      let data: Uint8Array;
      try {
        data = unpad80(this.enc.cbcDecrypt(plain.data, this.icv(false)), AES_BLOCK);
      } catch (e) {
        this.closed = true;
        throw e;
      }
      const { data: _ignored, ...rest } = plain;
      return data.length > 0 ? { ...rest, data } : rest;
    }
    return plain;
  }

  // -- responses ------------------------------------------------------------------------------------------------

  /** Whether a response with this SW is protected (R-MAC / R-ENC apply to '9000', '62xx', '63xx' only). */
  static isProtectedSw(sw: number): boolean {
    const sw1 = sw >>> 8;
    return sw === 0x9000 || sw1 === 0x62 || sw1 === 0x63;
  }

  /**
   * Card side: protects a response (R-ENC then R-MAC) when the level asks for it. An error SW is returned with no
   * data and no protection, as Amd D requires.
   */
  wrapResponse(resp: ResponseApdu): ResponseApdu {
    this.ensureOpen();
    if ((this.level & SL_R_MAC) === 0) return resp;
    if (!Scp03Channel.isProtectedSw(resp.sw)) return { data: new Uint8Array(0), sw: resp.sw };
    let data = resp.data;
    if ((this.level & SL_R_ENCRYPTION) !== 0 && data.length > 0) {
      data = this.enc.cbcEncryptInPlace(pad80(data, AES_BLOCK), this.icv(true));
    }
    const mac = this.rmac.mac(this.mcv, data, Uint8Array.of(resp.sw >>> 8, resp.sw & 0xff));
    return { data: concatBytes(data, mac.subarray(0, this.mode)), sw: resp.sw };
  }

  /**
   * Host side: verifies the R-MAC and decrypts (R-ENC) a response. An error SW passes through untouched (the
   * caller's `checkSw` reports it). Throws `RESPONSE_MAC_INVALID` and closes the channel on a bad R-MAC.
   */
  unwrapResponse(resp: ResponseApdu): ResponseApdu {
    this.ensureOpen();
    if ((this.level & SL_R_MAC) === 0) return resp;
    if (!Scp03Channel.isProtectedSw(resp.sw)) return resp;
    if (resp.data.length < this.mode) {
      this.closed = true;
      throw new SecureChannelError('SM_DATA_MISSING', 'response carries no R-MAC', 0x6987);
    }
    const body = resp.data.subarray(0, resp.data.length - this.mode);
    const mac = resp.data.subarray(resp.data.length - this.mode);
    const expected = this.rmac.mac(this.mcv, body, Uint8Array.of(resp.sw >>> 8, resp.sw & 0xff));
    if (!macEquals(mac, expected.subarray(0, this.mode))) {
      this.closed = true;
      throw new SecureChannelError('RESPONSE_MAC_INVALID', 'R-MAC does not verify');
    }
    if ((this.level & SL_R_ENCRYPTION) !== 0 && body.length > 0) {
      if (body.length % AES_BLOCK !== 0) {
        this.closed = true;
        throw new SecureChannelError('SM_DATA_INVALID', 'encrypted response data is not whole blocks', 0x6988);
      }
      try {
        return { data: unpad80(this.enc.cbcDecrypt(body, this.icv(true)), AES_BLOCK).slice(), sw: resp.sw };
      } catch (e) {
        this.closed = true;
        throw e;
      }
    }
    return { data: body, sw: resp.sw };
  }

  /** Size of the protected data field for `plainLength` bytes of command data. */
  wrappedDataLength(plainLength: number): number {
    if ((this.level & SL_C_MAC) === 0) return plainLength;
    const body =
      (this.level & SL_C_DECRYPTION) !== 0 && plainLength > 0
        ? (Math.floor(plainLength / AES_BLOCK) + 1) * AES_BLOCK
        : plainLength;
    return body + this.mode;
  }

  /** Largest plain command data whose protected form fits in `maxWireData` bytes. */
  maxPlainData(maxWireData: number): number {
    if ((this.level & SL_C_MAC) === 0) return maxWireData;
    const room = maxWireData - this.mode;
    if ((this.level & SL_C_DECRYPTION) === 0) return Math.max(0, room);
    return Math.max(0, Math.floor(room / AES_BLOCK) * AES_BLOCK - 1);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Handshake helpers

/** A fresh random host challenge (8 bytes in S8 mode). */
export function randomHostChallenge(mode: Scp03Mode = 8): Uint8Array {
  return new Uint8Array(randomBytes(mode));
}

/** Result of {@link openScp03Host}. */
export interface Scp03HostOpening {
  /** The channel, already switched to the requested level (use it for every command after EXTERNAL AUTHENTICATE). */
  channel: Scp03Channel;
  /** The EXTERNAL AUTHENTICATE command to send next. */
  externalAuthenticate: CommandApdu;
  /** What the card said in INITIALIZE UPDATE (key version, diversification data, counter). */
  initializeUpdate: InitializeUpdateResponse;
}

/**
 * Host side of the SCP03 handshake, after INITIALIZE UPDATE: derives the session keys, verifies the card
 * cryptogram (throws `SecureChannelError` `CARD_CRYPTOGRAM_INVALID` — wrong keys for this card — without sending
 * anything further), computes the host cryptogram and builds EXTERNAL AUTHENTICATE.
 */
export function openScp03Host(args: {
  keys: Pick<Scp03Keys, 'enc' | 'mac'>;
  hostChallenge: Uint8Array;
  /** Data of the INITIALIZE UPDATE response (without SW), or its parsed form. */
  initializeUpdateResponse: Uint8Array | InitializeUpdateResponse;
  securityLevel: number;
}): Scp03HostOpening {
  const iu =
    args.initializeUpdateResponse instanceof Uint8Array
      ? parseInitializeUpdateResponse(args.initializeUpdateResponse)
      : args.initializeUpdateResponse;
  const mode = scp03ModeOf(iu.iParameter);
  if (args.hostChallenge.length !== mode) {
    throw new ApduFormatError(`host challenge of ${args.hostChallenge.length} bytes for S${mode} mode`);
  }
  if ((args.securityLevel & SL_R_MAC) !== 0 && (iu.iParameter & SCP03_I_R_MAC) === 0) {
    throw new SecureChannelError('PROTOCOL_UNSUPPORTED', 'card does not support R-MAC');
  }
  if ((args.securityLevel & SL_R_ENCRYPTION) !== 0 && (iu.iParameter & SCP03_I_R_ENC) === 0) {
    throw new SecureChannelError('PROTOCOL_UNSUPPORTED', 'card does not support R-ENC');
  }
  const sk = deriveSessionKeys(args.keys, args.hostChallenge, iu.cardChallenge);
  const expected = computeCardCryptogram(sk.sMac, args.hostChallenge, iu.cardChallenge, mode);
  if (!macEquals(expected, iu.cardCryptogram)) {
    throw new SecureChannelError(
      'CARD_CRYPTOGRAM_INVALID',
      `card cryptogram does not verify with key version ${iu.keyVersion}: wrong keys for this card`,
    );
  }
  const channel = new Scp03Channel(sk, { mode });
  const hostCryptogram = computeHostCryptogram(sk.sMac, args.hostChallenge, iu.cardChallenge, mode);
  const externalAuthenticate = channel.externalAuthenticate(hostCryptogram, args.securityLevel);
  return { channel, externalAuthenticate, initializeUpdate: iu };
}

/** Result of {@link respondScp03InitializeUpdate}. */
export interface Scp03CardOpening {
  /** Data of the INITIALIZE UPDATE response (send with SW 9000). */
  responseData: Uint8Array;
  /** The pending channel: call `acceptExternalAuthenticate(cmd, expectedHostCryptogram)` on it next. */
  channel: Scp03Channel;
  /** The host cryptogram EXTERNAL AUTHENTICATE must carry. */
  expectedHostCryptogram: Uint8Array;
  cardChallenge: Uint8Array;
}

/**
 * Card side of INITIALIZE UPDATE: computes the card challenge (pseudo-random from the sequence counter and AID
 * when the i parameter says so, else random unless given), the session keys and both cryptograms.
 * The card must increment its stored sequence counter after each INITIALIZE UPDATE.
 */
export function respondScp03InitializeUpdate(args: {
  keys: Pick<Scp03Keys, 'enc' | 'mac'>;
  keyVersion: number;
  keyDiversificationData: Uint8Array;
  hostChallenge: Uint8Array;
  /** i parameter; default '70'. */
  iParameter?: number;
  /** Sequence counter (3 bytes), required with a pseudo-random challenge. */
  sequenceCounter?: Uint8Array;
  /** AID of the application opening the channel (pseudo-random challenge context). */
  aid?: Uint8Array;
  /** Explicit card challenge (tests); otherwise computed or random. */
  cardChallenge?: Uint8Array;
}): Scp03CardOpening {
  const i = args.iParameter ?? SCP03_I_DEFAULT;
  const mode = scp03ModeOf(i);
  if (args.hostChallenge.length !== mode) {
    throw new SecureChannelError('SM_DATA_INVALID', `host challenge of ${args.hostChallenge.length} bytes`, 0x6700);
  }
  const pseudo = (i & SCP03_I_PSEUDO_RANDOM_CHALLENGE) !== 0;
  if (pseudo && !args.sequenceCounter) throw new ApduFormatError('pseudo-random card challenge needs a sequence counter');
  const cardChallenge =
    args.cardChallenge ??
    (pseudo
      ? computeCardChallenge(args.keys.enc, args.sequenceCounter!, args.aid ?? new Uint8Array(0), mode)
      : new Uint8Array(randomBytes(mode)));
  const sk = deriveSessionKeys(args.keys, args.hostChallenge, cardChallenge);
  const responseData = encodeInitializeUpdateResponse({
    keyDiversificationData: args.keyDiversificationData,
    keyVersion: args.keyVersion,
    scpId: SCP03_ID,
    iParameter: i,
    cardChallenge,
    cardCryptogram: computeCardCryptogram(sk.sMac, args.hostChallenge, cardChallenge, mode),
    ...(pseudo ? { sequenceCounter: args.sequenceCounter! } : {}),
  });
  return {
    responseData,
    channel: new Scp03Channel(sk, { mode }),
    expectedHostCryptogram: computeHostCryptogram(sk.sMac, args.hostChallenge, cardChallenge, mode),
    cardChallenge,
  };
}
