/**
 * ISO/IEC 9797-1 padding method 2 (= ISO/IEC 7816-4 padding, GP "80 padding"): append '80', then '00' bytes up to
 * a multiple of the block size. Always adds at least one byte.
 */
import { SecureChannelError } from './errors.ts';

/** Padding indicator byte. */
export const PAD_BYTE = 0x80;

/** Pads `data` with '80 00..' to a multiple of `blockSize` (8 for DES, 16 for AES). */
export function pad80(data: Uint8Array, blockSize: number): Uint8Array {
  const n = data.length + 1;
  const out = new Uint8Array(n + ((blockSize - (n % blockSize)) % blockSize));
  out.set(data, 0);
  out[data.length] = PAD_BYTE;
  return out;
}

/**
 * Removes '80 00..' padding. Throws {@link SecureChannelError} `PADDING_INVALID` (SW 6988) when the last non-zero
 * byte is not '80' or the padding is longer than one block.
 */
export function unpad80(data: Uint8Array, blockSize?: number): Uint8Array {
  let i = data.length - 1;
  while (i >= 0 && data[i] === 0) i--;
  if (i < 0 || data[i] !== PAD_BYTE || (blockSize !== undefined && data.length - i > blockSize)) {
    throw new SecureChannelError('PADDING_INVALID', 'decrypted data does not end in 80 00.. padding', 0x6988);
  }
  return data.subarray(0, i);
}
