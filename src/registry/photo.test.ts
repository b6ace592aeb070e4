import { createHash } from 'node:crypto';
import jpeg from 'jpeg-js';
import { describe, expect, it } from 'vitest';
import { Rng } from '../shared/index.ts';
import {
  MAX_PHOTO_BYTES, PHOTO_HEIGHT, PHOTO_WIDTH, encodeJpeg, generateOversizedPhoto, generatePhoto, inspectJpeg,
} from './index.ts';

describe('generatePhoto', () => {
  it('gives 200 people 200 distinct, decodable 240x320 JPEGs of 8-20 KB', () => {
    const hashes = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const photo = generatePhoto(new Rng(`person-${i}`), { age: 18 + (i % 70), sex: i % 3 === 0 ? 'F' : 'M' });
      hashes.add(createHash('sha256').update(photo).digest('hex'));
      expect(photo.length).toBeGreaterThanOrEqual(8 * 1024 * 0.9);
      expect(photo.length).toBeLessThanOrEqual(20 * 1024);
      expect(photo.length).toBeLessThan(MAX_PHOTO_BYTES);
      if (i % 20 === 0) {
        const img = jpeg.decode(photo, { useTArray: true, tolerantDecoding: false });
        expect([img.width, img.height]).toEqual([PHOTO_WIDTH, PHOTO_HEIGHT]);
      }
      const insp = inspectJpeg(photo);
      expect(insp.ok && insp.info.sof).toBe(0xc0); // baseline
    }
    expect(hashes.size).toBe(200);
  });

  it('is deterministic in the Rng', () => {
    expect(generatePhoto(new Rng(7)).equals(generatePhoto(new Rng(7)))).toBe(true);
  });

  it('draws a light background and a darker subject in the middle', () => {
    const img = jpeg.decode(generatePhoto(new Rng('bg')), { useTArray: true });
    const lum = (x: number, y: number): number => {
      const p = (y * img.width + x) * 4;
      return (img.data[p]! + img.data[p + 1]! + img.data[p + 2]!) / 3;
    };
    expect(lum(5, 5)).toBeGreaterThan(190);
    expect(lum(img.width - 5, 5)).toBeGreaterThan(190);
    expect(lum(img.width / 2, 150)).toBeLessThan(lum(5, 150));
  });
});

describe('generateOversizedPhoto', () => {
  it('is a valid JPEG larger than MAX_PHOTO_BYTES', () => {
    const big = generateOversizedPhoto(new Rng('big'));
    expect(big.length).toBeGreaterThan(MAX_PHOTO_BYTES);
    const img = jpeg.decode(big, { useTArray: true, tolerantDecoding: false });
    expect(img.width).toBe(PHOTO_WIDTH * 2);
    expect(inspectJpeg(big).ok).toBe(true);
  });
});

describe('encodeJpeg', () => {
  it('round-trips odd sizes through an independent decoder (jpeg-js) with small error', () => {
    for (const [w, h] of [[1, 1], [37, 23], [17, 33], [64, 48]] as const) {
      const px = new Uint8Array(w * h * 4);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const p = (y * w + x) * 4;
          px[p] = (x * 255) / Math.max(1, w - 1);
          px[p + 1] = (y * 255) / Math.max(1, h - 1);
          px[p + 2] = 128;
          px[p + 3] = 255;
        }
      }
      const img = jpeg.decode(encodeJpeg(px, w, h, 90), { useTArray: true, tolerantDecoding: false });
      expect([img.width, img.height]).toEqual([w, h]);
      let err = 0;
      for (let i = 0; i < px.length; i += 4) {
        for (let c = 0; c < 3; c++) err += Math.abs(img.data[i + c]! - px[i + c]!);
      }
      expect(err / (w * h * 3)).toBeLessThan(6);
    }
  });

  it('stuffs 0xFF bytes in entropy data (noise images decode)', () => {
    const r = new Rng('noise');
    const px = new Uint8Array(64 * 64 * 4).map(() => r.int(0, 255));
    const out = encodeJpeg(px, 64, 64, 100);
    expect(inspectJpeg(out).ok).toBe(true);
    expect(jpeg.decode(out, { useTArray: true, tolerantDecoding: false }).width).toBe(64);
  });

  it('refuses impossible dimensions', () => {
    expect(() => encodeJpeg(new Uint8Array(4), 0, 1)).toThrow(RangeError);
    expect(() => encodeJpeg(new Uint8Array(4), 2, 2)).toThrow(RangeError);
  });
});

describe('inspectJpeg', () => {
  const good = generatePhoto(new Rng('inspect'));
  const bad = (b: Uint8Array): string => {
    const r = inspectJpeg(b);
    return r.ok ? 'ok' : r.problem;
  };

  it('accepts a real JPEG and reports its frame', () => {
    const r = inspectJpeg(good);
    expect(r).toEqual({ ok: true, info: { width: 240, height: 320, components: 3, sof: 0xc0 } });
  });

  it('refuses non-JPEG and broken JPEG bytes', () => {
    expect(bad(Buffer.from('PHOTO NOT AVAILABLE'))).toMatch(/SOI/);
    expect(bad(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toMatch(/SOI/);
    expect(bad(good.subarray(0, good.length - 100))).toMatch(/EOI/);
    expect(bad(Buffer.from([0xff, 0xd8, 0xff, 0xd9]))).toMatch(/frame/);
    expect(bad(Buffer.concat([good, Buffer.from([0xff, 0xd9])]))).toMatch(/after EOI/);
    const noFrame = Buffer.from(good);
    noFrame[good.indexOf(Buffer.from([0xff, 0xc0])) + 1] = 0xc3; // lossless frame type
    expect(bad(noFrame)).toMatch(/unsupported frame/);
    const badLen = Buffer.from(good);
    badLen[4] = 0xff; // APP0 length runs past the end
    expect(bad(badLen)).toMatch(/length/);
  });
});
