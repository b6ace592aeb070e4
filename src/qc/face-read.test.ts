/** The PGM reader of face-read.ts (pdftoppm -gray output): header forms, and what it refuses. */
import { describe, expect, it } from 'vitest';
import { decodePgm } from './face-read.ts';

const pgm = (header: string, pixels: number[]): Uint8Array => new Uint8Array([...Buffer.from(header, 'latin1'), ...pixels]);

describe('decodePgm', () => {
  it('reads a binary PGM as pdftoppm writes it', () => {
    const img = decodePgm(pgm('P5\n3 2\n255\n', [0, 128, 255, 1, 2, 3]));
    expect(img.width).toBe(3);
    expect(img.height).toBe(2);
    expect([...img.data]).toEqual([0, 128, 255, 1, 2, 3]);
  });

  it('skips comments and any whitespace in the header, and keeps a pixel value that looks like whitespace', () => {
    const img = decodePgm(pgm('P5 # made by hand\n2\t1 \r\n255 ', [0x0a, 0x20]));
    expect([img.width, img.height]).toEqual([2, 1]);
    expect([...img.data]).toEqual([0x0a, 0x20]);
  });

  it('refuses other formats, 16-bit samples and truncated files', () => {
    expect(() => decodePgm(pgm('P6\n1 1\n255\n', [0, 0, 0]))).toThrow(/P5/);
    expect(() => decodePgm(pgm('P5\n1 1\n65535\n', [0, 0]))).toThrow(/maxval/);
    expect(() => decodePgm(pgm('P5\n4 4\n255\n', [1, 2, 3]))).toThrow(/truncated/);
    expect(() => decodePgm(pgm('P5\nx 4\n255\n', []))).toThrow(/malformed/);
  });
});
