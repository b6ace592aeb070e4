/**
 * hsm: PKCS#11 adapters (SoftHSM by default; Luna, Utimaco, nShield, CloudHSM through the same interface).
 * Implements the pki Signer port and the key store the keys module uses. Entry points open it from the
 * configuration (module path, token label, PIN) and close it in `finally`.
 */
export { HsmCode, HsmError } from './errors.ts';
export { type HsmOptions, type HsmKeyInfo, type GeneratedKeyPair, Pkcs11Hsm, HsmSigner } from './pkcs11-hsm.ts';
export { type Pkcs11 } from './module.ts';
export { type SessionHandle } from './pool.ts';
export {
  type CardMasterKeyInfo,
  type CardSessionKeyRequest,
  CARD_KEY_DEK,
  CARD_KEY_ENC,
  CARD_KEY_MAC,
  CARD_SERIAL_LENGTH,
  HsmCardKeys,
  cardKeyDiversificationData,
  cardMasterKeyInfo,
  generateCardMasterKey,
  importCardMasterKey,
} from './derive.ts';
