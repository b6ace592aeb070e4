/**
 * AES primitives for SCP03 and AES secure messaging, on node:crypto (OpenSSL) AES-ECB/CBC without padding.
 *
 * AES-CMAC (NIST SP 800-38B, RFC 4493):
 * ```
 *   L  = AES(K, 0^128)
 *   K1 = L << 1            (xor Rb = 0x87 in the last byte if msb(L) = 1)
 *   K2 = K1 << 1           (same rule)
 *   M  = M1 || ... || Mn   (n = ceil(len/16), n = 1 for the empty message)
 *   Mn' = Mn xor K1        if Mn is a complete block
 *       = pad(Mn) xor K2   otherwise, pad = '80 00..'
 *   T  = last block of AES-CBC(K, IV = 0, M1 || ... || Mn-1 || Mn')
 * ```
 * Keys of 16, 24 or 32 bytes (AES-128/192/256).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { BlockCipher } from './cipher.ts';
import { ApduFormatError } from './errors.ts';

export const AES_BLOCK = 16;
const ZERO_BLOCK = new Uint8Array(AES_BLOCK);

/** A long-lived AES context for one key (see cipher.ts): ECB, CBC encryption and decryption with any IV. */
export function aesCipher(key: Uint8Array): BlockCipher {
  return new BlockCipher(aesName(key, 'cbc'), aesName(key, 'ecb'), key, AES_BLOCK);
}

function aesName(key: Uint8Array, mode: 'ecb' | 'cbc'): string {
  switch (key.length) {
    case 16:
      return `aes-128-${mode}`;
    case 24:
      return `aes-192-${mode}`;
    case 32:
      return `aes-256-${mode}`;
    default:
      throw new ApduFormatError(`AES key of ${key.length} bytes (16, 24 or 32 expected)`);
  }
}

function checkBlocks(data: Uint8Array): void {
  if (data.length % AES_BLOCK !== 0) {
    throw new ApduFormatError(`AES data of ${data.length} bytes is not a multiple of ${AES_BLOCK}`);
  }
}

function run(c: { update(d: Uint8Array): Buffer; final(): Buffer; setAutoPadding(p: boolean): unknown }, data: Uint8Array): Uint8Array {
  c.setAutoPadding(false);
  const a = c.update(data);
  const b = c.final();
  const out = b.length === 0 ? a : Buffer.concat([a, b]);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** AES-ECB encryption of whole blocks. */
export function aesEcbEncrypt(key: Uint8Array, data: Uint8Array): Uint8Array {
  checkBlocks(data);
  return run(createCipheriv(aesName(key, 'ecb'), key, null), data);
}

/** AES-ECB decryption of whole blocks. */
export function aesEcbDecrypt(key: Uint8Array, data: Uint8Array): Uint8Array {
  checkBlocks(data);
  return run(createDecipheriv(aesName(key, 'ecb'), key, null), data);
}

/** AES-CBC encryption of whole blocks (no padding; pad first with {@link pad80}). IV defaults to zero. */
export function aesCbcEncrypt(key: Uint8Array, data: Uint8Array, iv: Uint8Array = ZERO_BLOCK): Uint8Array {
  checkBlocks(data);
  return run(createCipheriv(aesName(key, 'cbc'), key, iv), data);
}

/** AES-CBC decryption of whole blocks (no padding removed). IV defaults to zero. */
export function aesCbcDecrypt(key: Uint8Array, data: Uint8Array, iv: Uint8Array = ZERO_BLOCK): Uint8Array {
  checkBlocks(data);
  return run(createDecipheriv(aesName(key, 'cbc'), key, iv), data);
}

function shiftLeftXor(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(AES_BLOCK);
  for (let i = 0; i < AES_BLOCK; i++) out[i] = ((src[i]! << 1) | ((src[i + 1] ?? 0) >>> 7)) & 0xff;
  if ((src[0]! & 0x80) !== 0) out[AES_BLOCK - 1]! ^= 0x87;
  return out;
}

/**
 * AES-CMAC with the subkeys computed once; reuse one instance for many MACs under the same key (a secure
 * channel session computes one per APDU).
 */
export class AesCmac {
  private readonly k1: Uint8Array;
  private readonly k2: Uint8Array;
  private readonly cipher: BlockCipher;

  constructor(key: Uint8Array) {
    this.cipher = aesCipher(key);
    const l = this.cipher.ecbEncrypt(ZERO_BLOCK);
    this.k1 = shiftLeftXor(l);
    this.k2 = shiftLeftXor(this.k1);
  }

  /** The full 16-byte tag of `message` (the concatenation of `parts`). */
  mac(...parts: Uint8Array[]): Uint8Array {
    let len = 0;
    for (const p of parts) len += p.length;
    const complete = len > 0 && len % AES_BLOCK === 0;
    const padded = complete ? len : (Math.floor(len / AES_BLOCK) + 1) * AES_BLOCK;
    const m = new Uint8Array(padded);
    let o = 0;
    for (const p of parts) {
      m.set(p, o);
      o += p.length;
    }
    if (!complete) m[len] = 0x80;
    const sub = complete ? this.k1 : this.k2;
    const last = padded - AES_BLOCK;
    for (let i = 0; i < AES_BLOCK; i++) m[last + i]! ^= sub[i]!;
    const enc = this.cipher.cbcEncryptInPlace(m);
    return enc.slice(enc.length - AES_BLOCK);
  }
}

/** One-shot AES-CMAC (16-byte tag). */
export function aesCmac(key: Uint8Array, message: Uint8Array): Uint8Array {
  return new AesCmac(key).mac(message);
}

/**
 * GlobalPlatform key check value of an AES key (GP Card Spec 2.3 §11.1.8 / Amd D): the first `length` bytes of
 * AES-ECB(key, '01' x 16). Default 3 bytes.
 */
export function aesKcv(key: Uint8Array, length = 3): Uint8Array {
  return aesEcbEncrypt(key, new Uint8Array(AES_BLOCK).fill(0x01)).slice(0, length);
}
