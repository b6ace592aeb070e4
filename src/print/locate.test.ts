/** locateDataMatrix (locate.ts): several symbols in one image, `max`, and `accept` (the seal-area crop of face QC). */
import { describe, expect, it } from 'vitest';
import { encodeDataMatrix } from './datamatrix.ts';
import { locateDataMatrix } from './locate.ts';
import { type GreyImage, rasteriseModules } from './png.ts';

/** Two symbols side by side on white: `left` then `right`. */
function twoSymbols(left: Uint8Array, right: Uint8Array): GreyImage {
  const a = rasteriseModules(encodeDataMatrix(left), 5, 4);
  const b = rasteriseModules(encodeDataMatrix(right), 5, 4);
  const width = a.width + b.width;
  const height = Math.max(a.height, b.height);
  const data = new Uint8Array(width * height).fill(255);
  for (let y = 0; y < a.height; y++) data.set(a.data.subarray(y * a.width, (y + 1) * a.width), y * width);
  for (let y = 0; y < b.height; y++) data.set(b.data.subarray(y * b.width, (y + 1) * b.width), y * width + a.width);
  return { width, height, data };
}

const OTHER = Uint8Array.from([0x01, 2, 3, 4, 5]);
const SEAL = Uint8Array.from([0xdc, 9, 8, 7, 6]);
const isSeal = (s: { bytes: Uint8Array }): boolean => s.bytes[0] === 0xdc;

describe('locateDataMatrix', () => {
  it('finds the symbols left to right up to max', () => {
    const img = twoSymbols(OTHER, SEAL);
    expect(locateDataMatrix(img, { max: 4 }).map((s) => s.bytes[0])).toEqual([0x01, 0xdc]);
    expect(locateDataMatrix(img, { max: 1 }).map((s) => s.bytes[0])).toEqual([0x01]);
  });

  it('with accept, skips the symbols refused and stops at the first accepted one', () => {
    const img = twoSymbols(OTHER, SEAL);
    const found = locateDataMatrix(img, { max: 1, accept: isSeal });
    expect(found).toHaveLength(1);
    expect([...found[0]!.bytes]).toEqual([...SEAL]);
    expect(locateDataMatrix(img, { max: 4, accept: (s) => !isSeal(s) }).map((s) => s.bytes[0])).toEqual([0x01]);
    expect(locateDataMatrix(twoSymbols(OTHER, OTHER), { max: 1, accept: isSeal })).toEqual([]);
  });

  it('reads the same symbol with or without an explicit threshold', () => {
    const img = twoSymbols(SEAL, OTHER);
    expect(locateDataMatrix(img, { threshold: 128, max: 4 })).toEqual(locateDataMatrix(img, { max: 4 }));
  });
});
