/**
 * Per-card GlobalPlatform SCP03 keys, derived INSIDE the HSM from the issuer's card master key (GP_MASTER), so
 * that no master key byte and no static card key byte ever exists on the host. Only the SCP03 *session* keys of
 * one secure channel (valid for one card, one session) leave the token.
 *
 * Diversification (the scheme of applets/gp-isd/diversify.ts, which the card factory uses; EMV CPS / GP "common
 * core" pattern with AES):
 * ```
 *   serial  = card serial, 6 bytes = CPLC IC batch identifier (2) || IC serial number (4)
 *           = the last 6 bytes of the key diversification data (KDD) of INITIALIZE UPDATE
 *   t       = '01' K-ENC, '02' K-MAC, '03' K-DEK
 *   D(t)    = serial || 'F0' || t || serial || '0F' || t            (one AES block)
 *   K(t)    = AES-ECB(MK, D(t))                                     (AES-128 card key)
 * ```
 * In PKCS#11 terms (2.40 §2.15.2 "Key derivation by data encryption"):
 * ```
 *   C_DeriveKey(hSession, { CKM_AES_CBC_ENCRYPT_DATA, CK_AES_CBC_ENCRYPT_DATA_PARAMS { iv = 00..00, D(t) } }, hMK,
 *               { CKA_CLASS=CKO_SECRET_KEY, CKA_KEY_TYPE=CKK_AES, CKA_VALUE_LEN=16, CKA_TOKEN=FALSE,
 *                 CKA_SENSITIVE=TRUE, CKA_EXTRACTABLE=FALSE, CKA_SIGN=TRUE, CKA_DERIVE=FALSE, ... })
 * ```
 * AES-CBC with a zero IV over one block IS AES-ECB of that block, so this is exactly CKM_AES_ECB_ENCRYPT_DATA.
 * The ECB mechanism takes CK_KEY_DERIVATION_STRING_DATA (a pointer + length struct) which the pkcs11js binding
 * (2.1.7) cannot pass (CKR_MECHANISM_PARAM_INVALID, measured); CK_AES_CBC_ENCRYPT_DATA_PARAMS it can. SoftHSM 2.6
 * supports both mechanisms; production HSMs (Luna, nShield, Utimaco, CloudHSM) support CKM_AES_CBC_ENCRYPT_DATA.
 *
 * SCP03 session keys (GP Amd D §6.2.1, SP 800-108 KDF in counter mode with AES-CMAC, one 128-bit block) are then
 * computed with C_Sign(CKM_AES_CMAC) on the derived card keys, in the token:
 * ```
 *   S-ENC  = CMAC(K-ENC, 00*11 || '04' || '00' || '0080' || '01' || host challenge || card challenge)
 *   S-MAC  = CMAC(K-MAC, 00*11 || '06' || '00' || '0080' || '01' || host challenge || card challenge)
 *   S-RMAC = CMAC(K-MAC, 00*11 || '07' || '00' || '0080' || '01' || host challenge || card challenge)
 * ```
 * The derived card keys are session objects (CKA_TOKEN=FALSE), destroyed right after. K-DEK is derived only for
 * PUT KEY (not used in personalisation) and never here.
 *
 * The master key itself (CKA_LABEL e.g. `kadi-gp-master`) is a token AES key with CKA_SENSITIVE=TRUE,
 * CKA_EXTRACTABLE=FALSE, CKA_DERIVE=TRUE and nothing else (no encrypt, sign, wrap): it can only be derived from.
 * It is either generated in the token ({@link generateCardMasterKey}) or imported once at a key ceremony
 * ({@link importCardMasterKey}) when the card vendor must load the same master into its own HSM for card
 * manufacture (the vendor's pre-personalisation). Its check value (CKA_CHECK_VALUE: first 3 bytes of AES-ECB of a
 * zero block, PKCS#11 3.0) identifies it in logs and the audit; the key bytes never do.
 */
import pkcs11js from 'pkcs11js';
import type { Scp03SessionKeys } from '../chip/index.ts';
import { HsmCode, HsmError, ckrName, wrapPkcs11 } from './errors.ts';
import type { Pkcs11Hsm } from './pkcs11-hsm.ts';
import type { SessionHandle } from './pool.ts';

const P = pkcs11js;

/** Key type bytes t of D(t). */
export const CARD_KEY_ENC = 0x01;
export const CARD_KEY_MAC = 0x02;
export const CARD_KEY_DEK = 0x03;
/** Length of the card serial used for diversification (CPLC batch identifier || IC serial number). */
export const CARD_SERIAL_LENGTH = 6;
/** SCP03 KDF derivation constants (GP Amd D Table 4-1). */
const DERIVE_S_ENC = 0x04;
const DERIVE_S_MAC = 0x06;
const DERIVE_S_RMAC = 0x07;
const ZERO_IV = Buffer.alloc(16);

/** D(t) = serial || 'F0' || t || serial || '0F' || t (the module comment). */
export function cardKeyDiversificationData(serial: Uint8Array, keyType: number): Uint8Array {
  if (serial.length !== CARD_SERIAL_LENGTH) throw new RangeError(`card serial of ${serial.length} bytes (6 expected)`);
  if (keyType < CARD_KEY_ENC || keyType > CARD_KEY_DEK) throw new RangeError(`key type ${keyType} (1 ENC, 2 MAC, 3 DEK)`);
  return Uint8Array.of(...serial, 0xf0, keyType, ...serial, 0x0f, keyType);
}

/** The SCP03 KDF input for one 128-bit output block (GP Amd D §4.1.5). */
export function scp03KdfInput(constant: number, context: Uint8Array): Buffer {
  const b = Buffer.alloc(16 + context.length);
  b[11] = constant;
  b[12] = 0x00; // separation indicator
  b[13] = 0x00;
  b[14] = 0x80; // L = 128 bits
  b[15] = 0x01; // counter i
  b.set(context, 16);
  return b;
}

/** What the token says about a card master key (attributes only; never its value). */
export interface CardMasterKeyInfo {
  label: string;
  /** Key length in bits (128, 192 or 256). */
  bits: number;
  /** CKA_CHECK_VALUE, upper-case hex (3 bytes): AES-ECB(key, 0^16)[0..3]. */
  checkValue: string;
  sensitive: boolean;
  extractable: boolean;
  /** CKA_NEVER_EXTRACTABLE / CKA_ALWAYS_SENSITIVE: true only for a key generated in the token. */
  neverExtractable: boolean;
  alwaysSensitive: boolean;
  derive: boolean;
  /** Other uses the key must NOT have. */
  encrypt: boolean;
  sign: boolean;
  wrap: boolean;
}

function masterTemplate(label: string): pkcs11js.Template {
  return [
    { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
    { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
    { type: P.CKA_TOKEN, value: true },
    { type: P.CKA_PRIVATE, value: true },
    { type: P.CKA_LABEL, value: label },
    { type: P.CKA_SENSITIVE, value: true },
    { type: P.CKA_EXTRACTABLE, value: false },
    { type: P.CKA_DERIVE, value: true },
    { type: P.CKA_ENCRYPT, value: false },
    { type: P.CKA_DECRYPT, value: false },
    { type: P.CKA_SIGN, value: false },
    { type: P.CKA_VERIFY, value: false },
    { type: P.CKA_WRAP, value: false },
    { type: P.CKA_UNWRAP, value: false },
  ];
}

function checkLabel(label: string): void {
  if (!label || Buffer.byteLength(label) > 64) throw new RangeError('key label must be 1..64 octets');
}

function findSecretKeys(p: pkcs11js.PKCS11, s: SessionHandle, label: string): Buffer[] {
  p.C_FindObjectsInit(s, [
    { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
    { type: P.CKA_LABEL, value: label },
  ]);
  try {
    return p.C_FindObjects(s, 2);
  } finally {
    p.C_FindObjectsFinal(s);
  }
}

function refuseExisting(p: pkcs11js.PKCS11, s: SessionHandle, hsm: Pkcs11Hsm, label: string): void {
  if (findSecretKeys(p, s, label).length > 0) {
    throw new HsmError(HsmCode.KEY_EXISTS, `token "${hsm.tokenLabel}" already holds a key labelled "${label}"`, { details: { label } });
  }
}

/**
 * Generates a card master key in the token (AES, 128 or 256 bits): sensitive, never extractable, derive only.
 * Use this when cards are manufactured with keys the issuer's HSM hands to the vendor by other means (or when the
 * vendor derives in the same HSM); otherwise {@link importCardMasterKey} at a key ceremony.
 */
export async function generateCardMasterKey(hsm: Pkcs11Hsm, label: string, bits: 128 | 256 = 256): Promise<CardMasterKeyInfo> {
  checkLabel(label);
  await hsm.withSession((p, s) => {
    refuseExisting(p, s, hsm, label);
    try {
      p.C_GenerateKey(s, { mechanism: P.CKM_AES_KEY_GEN }, [...masterTemplate(label), { type: P.CKA_VALUE_LEN, value: bits / 8 }]);
    } catch (e) {
      throw wrapPkcs11(e, 'C_GenerateKey', HsmCode.KEYGEN_FAILED, `cannot generate the card master key "${label}"`, { label });
    }
  });
  return cardMasterKeyInfo(hsm, label);
}

/**
 * Imports a card master key (AES-128/192/256) into the token, once, at a key ceremony, with the same template as
 * {@link generateCardMasterKey}. The bytes pass through this process only for this call (they are not kept); on a
 * production HSM the key is entered as components under dual control or unwrapped under a transport key instead.
 * In Kadi's tests and demo this is the "card manufacturer" hand-over: the same master goes to the virtual card
 * factory, which diversifies each card's keys from it in software.
 */
export async function importCardMasterKey(hsm: Pkcs11Hsm, label: string, key: Uint8Array): Promise<CardMasterKeyInfo> {
  checkLabel(label);
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) throw new RangeError('an AES master key is 16, 24 or 32 bytes');
  await hsm.withSession((p, s) => {
    refuseExisting(p, s, hsm, label);
    const value = Buffer.from(key);
    try {
      p.C_CreateObject(s, [...masterTemplate(label), { type: P.CKA_VALUE, value }]);
    } catch (e) {
      throw wrapPkcs11(e, 'C_CreateObject', HsmCode.KEYGEN_FAILED, `cannot import the card master key "${label}"`, { label });
    } finally {
      value.fill(0);
    }
  });
  return cardMasterKeyInfo(hsm, label);
}

function bool(b: Buffer | undefined): boolean {
  return !!b && b.length > 0 && b[0] !== 0;
}

function ulong(b: Buffer | undefined): number {
  if (!b || b.length === 0) return -1;
  return b.length >= 8 ? Number(b.readBigUInt64LE(0)) : b.readUInt32LE(0);
}

function readInfo(p: pkcs11js.PKCS11, s: SessionHandle, h: Buffer, label: string): CardMasterKeyInfo {
  const types = [
    P.CKA_VALUE_LEN,
    P.CKA_CHECK_VALUE,
    P.CKA_SENSITIVE,
    P.CKA_EXTRACTABLE,
    P.CKA_NEVER_EXTRACTABLE,
    P.CKA_ALWAYS_SENSITIVE,
    P.CKA_DERIVE,
    P.CKA_ENCRYPT,
    P.CKA_SIGN,
    P.CKA_WRAP,
  ];
  const v = p.C_GetAttributeValue(s, h, types.map((type) => ({ type })));
  const at = (t: number): Buffer | undefined => v.find((x) => x.type === t)?.value;
  return {
    label,
    bits: ulong(at(P.CKA_VALUE_LEN)) * 8,
    checkValue: (at(P.CKA_CHECK_VALUE) ?? Buffer.alloc(0)).toString('hex').toUpperCase(),
    sensitive: bool(at(P.CKA_SENSITIVE)),
    extractable: bool(at(P.CKA_EXTRACTABLE)),
    neverExtractable: bool(at(P.CKA_NEVER_EXTRACTABLE)),
    alwaysSensitive: bool(at(P.CKA_ALWAYS_SENSITIVE)),
    derive: bool(at(P.CKA_DERIVE)),
    encrypt: bool(at(P.CKA_ENCRYPT)),
    sign: bool(at(P.CKA_SIGN)),
    wrap: bool(at(P.CKA_WRAP)),
  };
}

function masterNotFound(hsm: Pkcs11Hsm, label: string): HsmError {
  return new HsmError(HsmCode.KEY_NOT_FOUND, `no card master key labelled "${label}" on token "${hsm.tokenLabel}"`, {
    hint: 'Create it at a key ceremony: `kadi gp-master-key generate` or `kadi gp-master-key import --file FILE`.',
    details: { label, token: hsm.tokenLabel },
  });
}

/** Attributes and check value of the card master key `label`. */
export async function cardMasterKeyInfo(hsm: Pkcs11Hsm, label: string): Promise<CardMasterKeyInfo> {
  return hsm.withSession((p, s) => {
    const [h, more] = findSecretKeys(p, s, label);
    if (!h) throw masterNotFound(hsm, label);
    if (more) throw new HsmError(HsmCode.KEY_EXISTS, `more than one secret key labelled "${label}"`, { details: { label } });
    return readInfo(p, s, h, label);
  });
}

/** Input of one SCP03 session key derivation. */
export interface CardSessionKeyRequest {
  /** Card serial, 6 bytes (last 6 bytes of the KDD of INITIALIZE UPDATE). */
  serial: Uint8Array;
  /** Host challenge (8 bytes, S8 mode). */
  hostChallenge: Uint8Array;
  /** Card challenge from INITIALIZE UPDATE. */
  cardChallenge: Uint8Array;
}

/**
 * The card key deriver: given a card's serial and the two challenges of INITIALIZE UPDATE, returns the SCP03
 * session keys S-ENC, S-MAC, S-RMAC, computed in the token from the card master key (see the module comment).
 * Implements the `Scp03SessionKeySource` port of src/encoders.
 */
export class HsmCardKeys {
  private handle: Buffer | undefined;
  private readonly derivedTemplate: pkcs11js.Template = [
    { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
    { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
    { type: P.CKA_VALUE_LEN, value: 16 },
    { type: P.CKA_TOKEN, value: false },
    { type: P.CKA_PRIVATE, value: true },
    { type: P.CKA_SENSITIVE, value: true },
    { type: P.CKA_EXTRACTABLE, value: false },
    { type: P.CKA_SIGN, value: true },
    { type: P.CKA_DERIVE, value: false },
    { type: P.CKA_ENCRYPT, value: false },
    { type: P.CKA_DECRYPT, value: false },
    { type: P.CKA_WRAP, value: false },
  ];
  /** Derivations done (for the key-use audit summary). */
  count = 0;

  constructor(
    private readonly hsm: Pkcs11Hsm,
    readonly label: string,
  ) {}

  /** Finds the master key now (fails early with HSM_KEY_NOT_FOUND) and returns its attributes. */
  async open(): Promise<CardMasterKeyInfo> {
    const info = await cardMasterKeyInfo(this.hsm, this.label);
    if (!info.derive) {
      throw new HsmError(HsmCode.MECHANISM_UNSUPPORTED, `key "${this.label}" is not allowed to derive (CKA_DERIVE false)`, { details: { label: this.label } });
    }
    await this.masterHandle(true);
    return info;
  }

  private async masterHandle(refresh = false): Promise<Buffer> {
    if (this.handle && !refresh) return this.handle;
    const h = await this.hsm.withSession((p, s) => findSecretKeys(p, s, this.label)[0]);
    if (!h) throw masterNotFound(this.hsm, this.label);
    this.handle = h;
    return h;
  }

  private deriveCardKey(p: pkcs11js.PKCS11, s: SessionHandle, master: Buffer, serial: Uint8Array, keyType: number): Buffer {
    const data = Buffer.from(cardKeyDiversificationData(serial, keyType));
    try {
      return p.C_DeriveKey(
        s,
        { mechanism: P.CKM_AES_CBC_ENCRYPT_DATA, parameter: { type: P.CK_PARAMS_AES_CBC, iv: ZERO_IV, data } as pkcs11js.AesCBC },
        master,
        this.derivedTemplate,
      );
    } catch (e) {
      throw wrapPkcs11(e, 'C_DeriveKey', HsmCode.KEYGEN_FAILED, `cannot derive a card key from "${this.label}"`, { label: this.label });
    }
  }

  private cmac(p: pkcs11js.PKCS11, s: SessionHandle, key: Buffer, input: Buffer): Uint8Array {
    try {
      p.C_SignInit(s, { mechanism: P.CKM_AES_CMAC }, key);
      return new Uint8Array(p.C_Sign(s, input, Buffer.allocUnsafe(16)));
    } catch (e) {
      throw wrapPkcs11(e, 'C_Sign', HsmCode.SIGN_FAILED, `AES-CMAC with a card key derived from "${this.label}" failed`, { label: this.label });
    }
  }

  /** S-ENC, S-MAC and S-RMAC of one SCP03 session (see the module comment). */
  async sessionKeys(req: CardSessionKeyRequest): Promise<Scp03SessionKeys> {
    if (req.serial.length !== CARD_SERIAL_LENGTH) throw new RangeError(`card serial of ${req.serial.length} bytes (6 expected)`);
    const context = Buffer.concat([req.hostChallenge, req.cardChallenge]);
    const run = async (master: Buffer): Promise<Scp03SessionKeys> =>
      this.hsm.withSession((p, s) => {
        const made: Buffer[] = [];
        try {
          const kEnc = this.deriveCardKey(p, s, master, req.serial, CARD_KEY_ENC);
          made.push(kEnc);
          const kMac = this.deriveCardKey(p, s, master, req.serial, CARD_KEY_MAC);
          made.push(kMac);
          return {
            sEnc: this.cmac(p, s, kEnc, scp03KdfInput(DERIVE_S_ENC, context)),
            sMac: this.cmac(p, s, kMac, scp03KdfInput(DERIVE_S_MAC, context)),
            sRmac: this.cmac(p, s, kMac, scp03KdfInput(DERIVE_S_RMAC, context)),
          };
        } finally {
          for (const h of made) {
            try {
              p.C_DestroyObject(s, h);
            } catch {
              // session objects vanish with the session anyway
            }
          }
        }
      });
    let keys: Scp03SessionKeys;
    try {
      keys = await run(await this.masterHandle());
    } catch (e) {
      const ckr = e instanceof HsmError ? (e.details?.ckr as string | undefined) : ckrName(e);
      if (ckr !== 'CKR_KEY_HANDLE_INVALID' && ckr !== 'CKR_OBJECT_HANDLE_INVALID') throw e;
      keys = await run(await this.masterHandle(true)); // token reloaded: look the key up once more
    }
    this.count++;
    return keys;
  }
}
