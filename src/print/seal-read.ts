/**
 * Reading a seal back: from a PNG (a rendered or scanned card side, or the symbol alone) or from hex. Pure.
 */
import { KadiError } from '../shared/index.ts';
import { locateDataMatrix } from './locate.ts';
import { decodePng } from './png.ts';
import { VDS_MAGIC } from './vds.ts';

/** The first Data Matrix in the image that holds a Visible Digital Seal (starts with 0xDC). */
export function readSealFromPng(png: Uint8Array): Uint8Array {
  const img = decodePng(png);
  const found = locateDataMatrix(img, { max: 4 });
  const seal = found.find((s) => s.bytes[0] === VDS_MAGIC);
  if (!seal) {
    throw new KadiError('SEAL_READ_ERROR', found.length ? 'the image has a Data Matrix but no Visible Digital Seal' : 'no readable Data Matrix in the image', {
      hint: 'Use an upright image of at least 300 dpi (e.g. `kadi print card ... --png DIR --dpi 300`).',
      details: { symbols: found.length },
    });
  }
  return seal.bytes;
}

/** Seal bytes from hex (spaces and colons allowed). */
export function sealFromHex(hex: string): Uint8Array {
  const clean = hex.replace(/[\s:]/g, '');
  if (!/^([0-9a-fA-F]{2})+$/.test(clean)) throw new KadiError('SEAL_HEX_INVALID', 'the seal data is not hex', { hint: 'Give the seal as hex digits, e.g. DC03...' });
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}
