/**
 * Per-card SCP03 key diversification — Kadi's ONE function, shared by the card factory (software, here) and the
 * personalisation host (inside the HSM, PKCS#11 `C_DeriveKey` with `CKM_AES_ECB_ENCRYPT_DATA`).
 *
 * It is the EMV CPS v1.1 / GP "Common Core" diversification pattern with AES in place of 3DES:
 * ```
 *   serial  = the card serial, 6 bytes = CPLC IC batch identifier (2) || IC serial number (4)
 *             = the last 6 bytes of the SCP03 key diversification data (KDD) of INITIALIZE UPDATE
 *   t       = '01' for K-ENC, '02' for K-MAC, '03' for K-DEK
 *   D(t)    = serial || 'F0' || t || serial || '0F' || t                       (16 bytes, one AES block)
 *   K(t)    = AES-ECB(MK, D(t))                                              (16 bytes: an AES-128 card key)
 * ```
 * MK is the issuer's card master key (AES-128 or AES-256). In the HSM:
 * ```
 *   C_DeriveKey(session, { CKM_AES_ECB_ENCRYPT_DATA, CK_KEY_DERIVATION_STRING_DATA { D(t), 16 } }, hMK,
 *               { CKA_CLASS=CKO_SECRET_KEY, CKA_KEY_TYPE=CKK_AES, CKA_VALUE_LEN=16, CKA_SENSITIVE=TRUE,
 *                 CKA_EXTRACTABLE=FALSE, CKA_SIGN=TRUE (CMAC for SCP03 KDF), CKA_ENCRYPT=TRUE, ... })
 * ```
 * SoftHSM 2.6 supports CKM_AES_ECB_ENCRYPT_DATA (derived CKA_VALUE = the encryption of the data), so the host
 * never holds MK in software. The derived key is one AES block, so no truncation rules are involved.
 *
 * Key version (KVN) of the diversified set loaded at manufacture: {@link KADI_KVN} ('30').
 */
import { aesEcbEncrypt } from '../../src/chip/index.ts';
import type { ScpKeySet } from '../runtime/index.ts';

export const DIVERSIFY_ENC = 0x01;
export const DIVERSIFY_MAC = 0x02;
export const DIVERSIFY_DEK = 0x03;
/** Key version number of the key set loaded at card manufacture. */
export const KADI_KVN = 0x30;
export const SERIAL_LENGTH = 6;

/** D(t) = serial || 'F0' || t || serial || '0F' || t (see the module comment). */
export function diversificationData(serial: Uint8Array, keyType: number): Uint8Array {
  if (serial.length !== SERIAL_LENGTH) throw new RangeError(`card serial of ${serial.length} bytes (6 expected)`);
  if (keyType < 1 || keyType > 3) throw new RangeError(`key type ${keyType} (1 ENC, 2 MAC, 3 DEK)`);
  return Uint8Array.of(...serial, 0xf0, keyType, ...serial, 0x0f, keyType);
}

/** K(t) = AES-ECB(masterKey, D(t)). */
export function diversifyKey(masterKey: Uint8Array, serial: Uint8Array, keyType: number): Uint8Array {
  return aesEcbEncrypt(masterKey, diversificationData(serial, keyType));
}

/** The card's ENC/MAC/DEK key set for `serial` (hex or bytes). */
export function diversifyKeySet(masterKey: Uint8Array, serial: Uint8Array | string, kvn = KADI_KVN): ScpKeySet {
  const s = typeof serial === 'string' ? new Uint8Array(Buffer.from(serial, 'hex')) : serial;
  return {
    kvn,
    enc: diversifyKey(masterKey, s, DIVERSIFY_ENC),
    mac: diversifyKey(masterKey, s, DIVERSIFY_MAC),
    dek: diversifyKey(masterKey, s, DIVERSIFY_DEK),
  };
}
