/** Byte helpers shared by every codec. Hex is written and read as spaced or unspaced upper/lower case. */

/** Parses hex, ignoring whitespace ("6F 0A 84" or "6f0a84"). Throws on odd length or non-hex characters. */
export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) {
    throw new TypeError(`invalid hex string (length ${clean.length})`);
  }
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

/** Lower-case hex without spaces. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Upper-case hex with a space between bytes, the way vectors and APDU traces are written. */
export function toSpacedHex(bytes: Uint8Array): string {
  return toHex(bytes).toUpperCase().replace(/(..)(?=.)/g, '$1 ');
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}
