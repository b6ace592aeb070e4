/**
 * DES and triple-DES primitives for ICAO BAC / 3DES secure messaging and GP 3DES key check values.
 *
 * DES availability on this platform (measured, Node 20.20 / OpenSSL 3.0): `crypto.getCiphers()` lists
 * `des-ede`, `des-ede-cbc`, `des-ede-ecb`, `des-ede3`, `des-ede3-cbc`, ... and they work with the default
 * provider; single DES (`des-cbc`, `des-ecb`) is listed by name only in the legacy provider and fails with
 * `error:0308010C:digital envelope routines::unsupported`. Kadi therefore never asks OpenSSL for single DES: a
 * single-DES encryption under K is computed as two-key 3DES-EDE with K1 = K2 = K, since E_K(D_K(E_K(x))) = E_K(x).
 * This needs no legacy provider and no `--openssl-legacy-provider` flag.
 *
 * ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC"), block cipher DES, key K = Ka || Kb (16 bytes), padding method 2:
 * ```
 *   D1..Dq = pad(data)                 (pad = '80 00..' to a multiple of 8; skipped if already padded)
 *   H0 = 0,  Hi = DES(Ka, Hi-1 xor Di)  for i = 1..q        (single-DES CBC over all blocks)
 *   MAC = DES(Ka, DES^-1(Kb, Hq))                          (output transformation 3)
 * ```
 * which equals: single-DES-CBC(Ka) over D1..Dq-1, then 2-key 3DES-EDE(Ka, Kb) of (Hq-1 xor Dq). That is how it
 * is computed here: one `des-ede-cbc` pass with key Ka||Ka, one with Ka||Kb on the last block.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { concatBytes } from '../shared/index.ts';
import { BlockCipher } from './cipher.ts';
import { ApduFormatError } from './errors.ts';
import { pad80 } from './padding.ts';

export const DES_BLOCK = 8;
const ZERO_IV = new Uint8Array(DES_BLOCK);

function checkBlocks(data: Uint8Array): void {
  if (data.length % DES_BLOCK !== 0) {
    throw new ApduFormatError(`DES data of ${data.length} bytes is not a multiple of ${DES_BLOCK}`);
  }
}

/** OpenSSL cipher and key for a DES key of 8 (single, as K||K), 16 (2-key) or 24 (3-key) bytes. */
function tdes(key: Uint8Array, mode: 'ecb' | 'cbc'): { name: string; key: Uint8Array } {
  switch (key.length) {
    case 8:
      return { name: mode === 'cbc' ? 'des-ede-cbc' : 'des-ede-ecb', key: concatBytes(key, key) };
    case 16:
      return { name: mode === 'cbc' ? 'des-ede-cbc' : 'des-ede-ecb', key };
    case 24:
      return { name: mode === 'cbc' ? 'des-ede3-cbc' : 'des-ede3-ecb', key };
    default:
      throw new ApduFormatError(`DES key of ${key.length} bytes (8, 16 or 24 expected)`);
  }
}

function run(c: { update(d: Uint8Array): Buffer; final(): Buffer; setAutoPadding(p: boolean): unknown }, data: Uint8Array): Uint8Array {
  c.setAutoPadding(false);
  const a = c.update(data);
  const b = c.final();
  const out = b.length === 0 ? a : Buffer.concat([a, b]);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** (3)DES-CBC encryption of whole blocks; key of 8 (single DES), 16 or 24 bytes; IV defaults to zero. */
export function desCbcEncrypt(key: Uint8Array, data: Uint8Array, iv: Uint8Array = ZERO_IV): Uint8Array {
  checkBlocks(data);
  const t = tdes(key, 'cbc');
  return run(createCipheriv(t.name, t.key, iv), data);
}

/** (3)DES-CBC decryption of whole blocks. */
export function desCbcDecrypt(key: Uint8Array, data: Uint8Array, iv: Uint8Array = ZERO_IV): Uint8Array {
  checkBlocks(data);
  const t = tdes(key, 'cbc');
  return run(createDecipheriv(t.name, t.key, iv), data);
}

/** (3)DES-ECB encryption of whole blocks. */
export function desEcbEncrypt(key: Uint8Array, data: Uint8Array): Uint8Array {
  checkBlocks(data);
  const t = tdes(key, 'ecb');
  return run(createCipheriv(t.name, t.key, null), data);
}

/** (3)DES-ECB decryption of whole blocks. */
export function desEcbDecrypt(key: Uint8Array, data: Uint8Array): Uint8Array {
  checkBlocks(data);
  const t = tdes(key, 'ecb');
  return run(createDecipheriv(t.name, t.key, null), data);
}

/**
 * ISO/IEC 9797-1 MAC algorithm 3 with DES (retail MAC), 8-byte result. `key` is 16 bytes (Ka || Kb).
 * `pad` (default true) applies padding method 2 first; pass false for data that is already padded.
 */
export function retailMac(key: Uint8Array, data: Uint8Array, pad = true): Uint8Array {
  if (key.length !== 16) throw new ApduFormatError(`retail MAC key of ${key.length} bytes (16 expected)`);
  const m = pad ? pad80(data, DES_BLOCK) : data;
  checkBlocks(m);
  if (m.length === 0) throw new ApduFormatError('retail MAC of empty unpadded data');
  const ka = key.subarray(0, 8);
  let h: Uint8Array = ZERO_IV;
  if (m.length > DES_BLOCK) {
    const chain = desCbcEncrypt(ka, m.subarray(0, m.length - DES_BLOCK));
    h = chain.subarray(chain.length - DES_BLOCK);
  }
  return desCbcEncrypt(key, m.subarray(m.length - DES_BLOCK), h);
}

/** A long-lived (3)DES context for one key of 8, 16 or 24 bytes (see cipher.ts). */
export function desCipher(key: Uint8Array): BlockCipher {
  const c = tdes(key, 'cbc');
  return new BlockCipher(c.name, tdes(key, 'ecb').name, c.key, DES_BLOCK);
}

/** Retail MAC (ISO 9797-1 MAC algorithm 3, DES) with long-lived contexts for one 16-byte key. */
export class RetailMac {
  private readonly single: BlockCipher;
  private readonly triple: BlockCipher;
  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new ApduFormatError(`retail MAC key of ${key.length} bytes (16 expected)`);
    this.single = desCipher(key.subarray(0, 8));
    this.triple = desCipher(key);
  }
  /** 8-byte MAC of `data` (padded with method 2 first unless `pad` is false). */
  mac(data: Uint8Array, pad = true): Uint8Array {
    const m = pad ? pad80(data, DES_BLOCK) : data;
    if (m.length === 0 || m.length % DES_BLOCK !== 0) throw new ApduFormatError('retail MAC input is not whole blocks');
    let h: Uint8Array | undefined;
    if (m.length > DES_BLOCK) {
      const chain = this.single.cbcEncrypt(m.subarray(0, m.length - DES_BLOCK));
      h = chain.subarray(chain.length - DES_BLOCK);
    }
    return this.triple.cbcEncrypt(m.subarray(m.length - DES_BLOCK), h).slice();
  }
}

/** Sets each byte's least significant bit so that the byte has odd parity (DES key parity, FIPS 46-3). */
export function adjustDesParity(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) {
    let b = key[i]! & 0xfe;
    let ones = 0;
    for (let v = b; v !== 0; v >>>= 1) ones += v & 1;
    if (ones % 2 === 0) b |= 1;
    out[i] = b;
  }
  return out;
}

/** GlobalPlatform key check value of a (3)DES key: the first `length` bytes of 3DES-ECB(key, 00 x 8). */
export function desKcv(key: Uint8Array, length = 3): Uint8Array {
  return desEcbEncrypt(key, new Uint8Array(DES_BLOCK)).slice(0, length);
}
