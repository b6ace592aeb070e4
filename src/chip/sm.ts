/**
 * ISO/IEC 7816-4 secure messaging as profiled by ICAO Doc 9303-11 §9.8 (BAC and PACE sessions), for both the
 * terminal (inspection system, Kadi's QC read-back) and the chip (Kadi's virtual card).
 *
 * Protected command (§9.8.4):
 * ```
 *   CLA' = CLA | '0C'                       (b4-b3 = 11: SM, header authenticated)
 *   DO'87' = '87' L '01' || E(KSenc, pad(data))    command data, even INS ('01' = padding indicator)
 *   DO'85' = '85' L E(KSenc, pad(data))            command data, odd INS (data is BER-TLV, no indicator)
 *   DO'97' = '97' L Le                              '97 01 00' for Ne 256, '97 02 00 00' for Ne 65 536
 *   SSC = SSC + 1
 *   DO'8E' = '8E 08' MAC(KSmac, pad(SSC || pad(CLA' INS P1 P2) || DO'87'/'85' || DO'97'))
 *   APDU  = CLA' INS P1 P2 Lc' [DO'87'|DO'85'] [DO'97'] DO'8E' Le'      (Le' = '00', or '00 00' if extended)
 * ```
 * Protected response (§9.8.5):
 * ```
 *   DO'87'/'85' (response data, encrypted) || DO'99' = '99 02' SW1 SW2 || DO'8E' = '8E 08' MAC || SW1 SW2
 *   SSC = SSC + 1
 *   MAC over pad(SSC || DO'87'/'85' || DO'99')
 * ```
 * Ciphers (§9.8.6, §9.8.7):
 * ```
 *   3DES (BAC, PACE-3DES): E = 2-key 3DES-CBC, IV = 0; MAC = ISO 9797-1 MAC alg. 3 (DES); SSC 8 bytes
 *   AES  (PACE-AES):       E = AES-CBC, IV = AES(KSenc, SSC); MAC = AES-CMAC truncated to 8 bytes; SSC 16 bytes
 * ```
 * The chip answers an SM error (missing or wrong data objects, bad MAC) with a plain SW '6987' / '6988' and
 * ends the session; the terminal treats any unprotected response as the end of the session.
 */
import { concatBytes } from '../shared/index.ts';
import { encodeTlv, parseTlvList, type TlvNode } from '../tlv/index.ts';
import { EXTENDED_MAX_LE, SHORT_MAX_DATA, SHORT_MAX_LE, type CommandApdu, type ResponseApdu } from './apdu.ts';
import { AES_BLOCK, AesCmac, aesCipher } from './aes.ts';
import type { BlockCipher } from './cipher.ts';
import { DES_BLOCK, RetailMac, desCipher } from './des.ts';
import { SecureChannelError } from './errors.ts';
import { pad80, unpad80 } from './padding.ts';
import { macEquals, type SecureChannel } from './scp03.ts';

/** CLA bits b4-b3 = 11: secure messaging, command header authenticated (ISO/IEC 7816-4 §5.4.1). */
export const CLA_SM_HEADER_AUTHENTICATED = 0x0c;
/** Secure messaging data objects (ISO/IEC 7816-4 §10.2). */
export const SM_DO_CRYPTOGRAM_ODD = 0x85;
export const SM_DO_CRYPTOGRAM = 0x87;
export const SM_DO_CHECKSUM = 0x8e;
export const SM_DO_LE = 0x97;
export const SM_DO_STATUS = 0x99;
/** Padding-content indicator of DO'87': '01' = ISO padding ('80 00..'). */
export const SM_PADDING_INDICATOR = 0x01;
/** ISO SM status words. */
export const SW_SM_DATA_MISSING = 0x6987;
export const SW_SM_DATA_INCORRECT = 0x6988;
/** Length of the cryptographic checksum in DO'8E'. */
export const SM_MAC_LENGTH = 8;

/** The cipher suite of a secure messaging session. */
export interface SmCipher {
  /** '3des' or 'aes'. */
  readonly name: string;
  readonly blockSize: number;
  /** Size of the send sequence counter. */
  readonly sscLength: number;
  encrypt(ssc: Uint8Array, padded: Uint8Array): Uint8Array;
  decrypt(ssc: Uint8Array, data: Uint8Array): Uint8Array;
  /** 8-byte MAC over `padded` (already padded, SSC included). */
  mac(padded: Uint8Array): Uint8Array;
}

/** 3DES secure messaging (BAC): 2-key 3DES-CBC with zero IV, retail MAC. Keys of 16 bytes. */
export class DesSmCipher implements SmCipher {
  readonly name = '3des';
  readonly blockSize = DES_BLOCK;
  readonly sscLength = 8;
  private readonly enc: BlockCipher;
  private readonly retail: RetailMac;
  constructor(ksEnc: Uint8Array, ksMac: Uint8Array) {
    this.enc = desCipher(ksEnc);
    this.retail = new RetailMac(ksMac);
  }
  encrypt(_ssc: Uint8Array, padded: Uint8Array): Uint8Array {
    return this.enc.cbcEncrypt(padded);
  }
  decrypt(_ssc: Uint8Array, data: Uint8Array): Uint8Array {
    return this.enc.cbcDecrypt(data);
  }
  mac(padded: Uint8Array): Uint8Array {
    return this.retail.mac(padded, false);
  }
}

/** AES secure messaging (PACE-AES): AES-CBC with IV = AES(KSenc, SSC), AES-CMAC/8. Keys of 16/24/32 bytes. */
export class AesSmCipher implements SmCipher {
  readonly name = 'aes';
  readonly blockSize = AES_BLOCK;
  readonly sscLength = 16;
  private readonly enc: BlockCipher;
  private readonly cmac: AesCmac;
  constructor(ksEnc: Uint8Array, ksMac: Uint8Array) {
    this.enc = aesCipher(ksEnc);
    this.cmac = new AesCmac(ksMac);
  }
  encrypt(ssc: Uint8Array, padded: Uint8Array): Uint8Array {
    return this.enc.cbcEncrypt(padded, this.enc.ecbEncrypt(ssc));
  }
  decrypt(ssc: Uint8Array, data: Uint8Array): Uint8Array {
    return this.enc.cbcDecrypt(data, this.enc.ecbEncrypt(ssc));
  }
  mac(padded: Uint8Array): Uint8Array {
    return this.cmac.mac(padded).slice(0, SM_MAC_LENGTH);
  }
}

function incrementInPlace(ssc: Uint8Array): void {
  for (let i = ssc.length - 1; i >= 0; i--) {
    ssc[i] = (ssc[i]! + 1) & 0xff;
    if (ssc[i] !== 0) return;
  }
}

function encodeLe(le: number, extended: boolean): Uint8Array {
  if (!extended && le <= SHORT_MAX_LE) return Uint8Array.of(le === SHORT_MAX_LE ? 0 : le);
  const v = le === EXTENDED_MAX_LE ? 0 : le;
  return Uint8Array.of(v >>> 8, v & 0xff);
}

function decodeLe(v: Uint8Array): number {
  if (v.length === 1) return v[0] === 0 ? SHORT_MAX_LE : v[0]!;
  if (v.length === 2) {
    const n = (v[0]! << 8) | v[1]!;
    return n === 0 ? EXTENDED_MAX_LE : n;
  }
  throw new SecureChannelError('SM_DATA_INVALID', `DO'97' of ${v.length} bytes`, SW_SM_DATA_INCORRECT);
}


/**
 * One ICAO / ISO secure messaging session (keys + send sequence counter). Like {@link Scp03Channel}, one class for
 * both ends: the terminal uses {@link wrapCommand} / {@link unwrapResponse}, the chip {@link unwrapCommand} /
 * {@link wrapResponse}. The SSC is incremented before each command MAC and before each response MAC. Any failure
 * closes the session.
 */
export class IsoSecureMessaging implements SecureChannel {
  readonly kind: string;
  private readonly ssc: Uint8Array;
  private closed = false;

  constructor(
    private readonly cipher: SmCipher,
    ssc: Uint8Array,
    kind = 'sm',
  ) {
    if (ssc.length !== cipher.sscLength) {
      throw new SecureChannelError('CHANNEL_STATE', `SSC of ${ssc.length} bytes for ${cipher.name}`);
    }
    this.ssc = ssc.slice();
    this.kind = kind;
  }

  /** A 3DES session (BAC): KSenc, KSmac of 16 bytes, SSC of 8 bytes. */
  static des(ksEnc: Uint8Array, ksMac: Uint8Array, ssc: Uint8Array, kind = 'bac'): IsoSecureMessaging {
    return new IsoSecureMessaging(new DesSmCipher(ksEnc, ksMac), ssc, kind);
  }

  /** An AES session (PACE-AES): SSC of 16 bytes (zero at the start of a PACE session). */
  static aes(ksEnc: Uint8Array, ksMac: Uint8Array, ssc: Uint8Array = new Uint8Array(16), kind = 'pace'): IsoSecureMessaging {
    return new IsoSecureMessaging(new AesSmCipher(ksEnc, ksMac), ssc, kind);
  }

  /** Copy of the current send sequence counter. */
  get sendSequenceCounter(): Uint8Array {
    return this.ssc.slice();
  }
  get isClosed(): boolean {
    return this.closed;
  }
  close(): void {
    this.closed = true;
  }

  private ensureOpen(): void {
    if (this.closed) throw new SecureChannelError('CHANNEL_STATE', 'the secure messaging session is closed');
  }

  private fail(reason: 'SM_DATA_MISSING' | 'SM_DATA_INVALID' | 'RESPONSE_MAC_INVALID' | 'COMMAND_MAC_INVALID' | 'PADDING_INVALID', message: string, sw: number): never {
    this.closed = true;
    throw new SecureChannelError(reason, message, sw);
  }

  private parseDos(data: Uint8Array): TlvNode[] {
    try {
      return parseTlvList(data, { recurse: false });
    } catch (e) {
      this.closed = true;
      throw new SecureChannelError('SM_DATA_INVALID', 'secure messaging data objects are malformed', SW_SM_DATA_INCORRECT, {
        cause: e,
      });
    }
  }

  private encryptDo(tag: number, data: Uint8Array): Uint8Array {
    const enc = this.cipher.encrypt(this.ssc, pad80(data, this.cipher.blockSize));
    return tag === SM_DO_CRYPTOGRAM ? encodeTlv(tag, concatBytes(Uint8Array.of(SM_PADDING_INDICATOR), enc)) : encodeTlv(tag, enc);
  }

  private decryptDo(node: TlvNode): Uint8Array {
    let enc = node.value;
    if (node.tag === SM_DO_CRYPTOGRAM) {
      if (enc[0] !== SM_PADDING_INDICATOR) this.fail('SM_DATA_INVALID', "DO'87' padding indicator is not 01", SW_SM_DATA_INCORRECT);
      enc = enc.subarray(1);
    }
    if (enc.length === 0 || enc.length % this.cipher.blockSize !== 0) {
      this.fail('SM_DATA_INVALID', 'cryptogram is not whole blocks', SW_SM_DATA_INCORRECT);
    }
    try {
      return unpad80(this.cipher.decrypt(this.ssc, enc), this.cipher.blockSize).slice();
    } catch {
      return this.fail('PADDING_INVALID', 'decrypted data has bad padding', SW_SM_DATA_INCORRECT);
    }
  }

  private commandMacInput(cla: number, ins: number, p1: number, p2: number, dos: Uint8Array): Uint8Array {
    const bs = this.cipher.blockSize;
    return pad80(concatBytes(this.ssc, pad80(Uint8Array.of(cla, ins, p1, p2), bs), dos), bs);
  }

  // -- terminal side --------------------------------------------------------------------------------------------

  /** Terminal side: protects a plain command. */
  wrapCommand(cmd: CommandApdu): CommandApdu {
    this.ensureOpen();
    const cla = cmd.cla | CLA_SM_HEADER_AUTHENTICATED;
    const odd = (cmd.ins & 1) === 1;
    const data = cmd.data ?? new Uint8Array(0);
    const extendedLe = cmd.extended === true || (cmd.le ?? 0) > SHORT_MAX_LE || data.length > SHORT_MAX_DATA;
    incrementInPlace(this.ssc);
    const doData = data.length > 0 ? this.encryptDo(odd ? SM_DO_CRYPTOGRAM_ODD : SM_DO_CRYPTOGRAM, data) : new Uint8Array(0);
    const doLe = cmd.le !== undefined ? encodeTlv(SM_DO_LE, encodeLe(cmd.le, extendedLe)) : new Uint8Array(0);
    const dos = concatBytes(doData, doLe);
    const mac = this.cipher.mac(this.commandMacInput(cla, cmd.ins, cmd.p1, cmd.p2, dos));
    const body = concatBytes(dos, encodeTlv(SM_DO_CHECKSUM, mac));
    const extended = body.length > SHORT_MAX_DATA || extendedLe;
    return {
      cla,
      ins: cmd.ins,
      p1: cmd.p1,
      p2: cmd.p2,
      data: body,
      le: extended ? EXTENDED_MAX_LE : SHORT_MAX_LE,
      ...(extended ? { extended: true } : {}),
    };
  }

  /**
   * Terminal side: verifies and unprotects a response. A response without data objects (a plain SW, as a chip
   * sends after an SM error) closes the session and is returned as is, so `checkSw` reports its SW.
   */
  unwrapResponse(resp: ResponseApdu): ResponseApdu {
    this.ensureOpen();
    if (resp.data.length === 0) {
      this.closed = true;
      return resp;
    }
    const dos = this.parseDos(resp.data);
    let cryptogram: TlvNode | undefined;
    let status: TlvNode | undefined;
    let checksum: TlvNode | undefined;
    const macd: Uint8Array[] = [];
    for (const n of dos) {
      if (checksum) this.fail('SM_DATA_INVALID', "data object after DO'8E'", SW_SM_DATA_INCORRECT);
      if (n.tag === SM_DO_CRYPTOGRAM || n.tag === SM_DO_CRYPTOGRAM_ODD) cryptogram = n;
      else if (n.tag === SM_DO_STATUS) status = n;
      else if (n.tag === SM_DO_CHECKSUM) {
        checksum = n;
        continue;
      } else if (n.tag === 0x81) {
        // DO'81' (plain value) is legal ISO SM but ICAO never uses it: refuse rather than pass unauthenticated data
        this.fail('SM_DATA_INVALID', "unexpected plain DO'81' in SM response", SW_SM_DATA_INCORRECT);
      }
      macd.push(n.raw);
    }
    if (!checksum) this.fail('SM_DATA_MISSING', "response has no DO'8E'", SW_SM_DATA_MISSING);
    incrementInPlace(this.ssc);
    const expected = this.cipher.mac(pad80(concatBytes(this.ssc, ...macd), this.cipher.blockSize));
    if (!macEquals(checksum.value, expected)) this.fail('RESPONSE_MAC_INVALID', 'response MAC does not verify', SW_SM_DATA_INCORRECT);
    const data = cryptogram ? this.decryptDo(cryptogram) : new Uint8Array(0);
    let sw = resp.sw;
    if (status) {
      if (status.value.length !== 2) this.fail('SM_DATA_INVALID', "DO'99' is not 2 bytes", SW_SM_DATA_INCORRECT);
      sw = (status.value[0]! << 8) | status.value[1]!;
    }
    return { data, sw };
  }

  /** Size of the protected data field for `plainLength` bytes of command data (with a DO'97' of `leBytes`). */
  wrappedDataLength(plainLength: number, leBytes = 1): number {
    const bs = this.cipher.blockSize;
    let n = 2 + SM_MAC_LENGTH;
    if (leBytes > 0) n += 2 + leBytes;
    if (plainLength > 0) {
      const l = 1 + (Math.floor(plainLength / bs) + 1) * bs;
      n += 1 + (l < 0x80 ? 1 : l <= 0xff ? 2 : 3) + l;
    }
    return n;
  }

  /** Largest plain command data whose protected form (with a 2-byte DO'97') fits in `maxWireData` bytes. */
  maxPlainData(maxWireData: number): number {
    const bs = this.cipher.blockSize;
    for (let blocks = Math.floor(maxWireData / bs); blocks > 0; blocks--) {
      const n = blocks * bs - 1;
      if (this.wrappedDataLength(n, 2) <= maxWireData) return n;
    }
    return 0;
  }

  // -- chip side ------------------------------------------------------------------------------------------------

  /**
   * Chip side: verifies and unprotects a command. Throws {@link SecureChannelError} (its `sw` is '6987' or
   * '6988', to be sent plain) and closes the session on failure.
   */
  unwrapCommand(cmd: CommandApdu): CommandApdu {
    this.ensureOpen();
    if ((cmd.cla & CLA_SM_HEADER_AUTHENTICATED) !== CLA_SM_HEADER_AUTHENTICATED) {
      this.fail('SM_DATA_MISSING', 'command is not secure messaging', SW_SM_DATA_MISSING);
    }
    const dos = this.parseDos(cmd.data ?? new Uint8Array(0));
    let cryptogram: TlvNode | undefined;
    let le: TlvNode | undefined;
    let checksum: TlvNode | undefined;
    const macd: Uint8Array[] = [];
    for (const n of dos) {
      if (checksum) this.fail('SM_DATA_INVALID', "data object after DO'8E'", SW_SM_DATA_INCORRECT);
      if (n.tag === SM_DO_CRYPTOGRAM || n.tag === SM_DO_CRYPTOGRAM_ODD) {
        if (cryptogram || le) this.fail('SM_DATA_INVALID', 'data objects out of order', SW_SM_DATA_INCORRECT);
        cryptogram = n;
      } else if (n.tag === SM_DO_LE) {
        if (le) this.fail('SM_DATA_INVALID', "two DO'97'", SW_SM_DATA_INCORRECT);
        le = n;
      } else if (n.tag === SM_DO_CHECKSUM) {
        checksum = n;
        continue;
      } else {
        this.fail('SM_DATA_INVALID', `unexpected SM data object ${n.tag.toString(16)}`, SW_SM_DATA_INCORRECT);
      }
      macd.push(n.raw);
    }
    if (!checksum) this.fail('SM_DATA_MISSING', "command has no DO'8E'", SW_SM_DATA_MISSING);
    incrementInPlace(this.ssc);
    const expected = this.cipher.mac(this.commandMacInput(cmd.cla, cmd.ins, cmd.p1, cmd.p2, concatBytes(...macd)));
    if (!macEquals(checksum.value, expected)) this.fail('COMMAND_MAC_INVALID', 'command MAC does not verify', SW_SM_DATA_INCORRECT);
    const data = cryptogram ? this.decryptDo(cryptogram) : undefined;
    const ne = le ? decodeLe(le.value) : undefined;
    return {
      cla: cmd.cla & ~CLA_SM_HEADER_AUTHENTICATED,
      ins: cmd.ins,
      p1: cmd.p1,
      p2: cmd.p2,
      ...(data && data.length > 0 ? { data } : {}),
      ...(ne !== undefined ? { le: ne } : {}),
    };
  }

  /**
   * Chip side: protects a response (DO'87'/'85' when there is data, DO'99', DO'8E'). `oddIns` selects DO'85'
   * for responses to odd instructions (e.g. READ BINARY 'B1').
   */
  wrapResponse(resp: ResponseApdu, oddIns = false): ResponseApdu {
    this.ensureOpen();
    incrementInPlace(this.ssc);
    const doData = resp.data.length > 0 ? this.encryptDo(oddIns ? SM_DO_CRYPTOGRAM_ODD : SM_DO_CRYPTOGRAM, resp.data) : new Uint8Array(0);
    const doSw = encodeTlv(SM_DO_STATUS, Uint8Array.of(resp.sw >>> 8, resp.sw & 0xff));
    const dos = concatBytes(doData, doSw);
    const mac = this.cipher.mac(pad80(concatBytes(this.ssc, dos), this.cipher.blockSize));
    return { data: concatBytes(dos, encodeTlv(SM_DO_CHECKSUM, mac)), sw: resp.sw };
  }
}
