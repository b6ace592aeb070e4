/**
 * Just enough image header parsing to fill the image information blocks of ISO/IEC 19794-5 and 19794-4
 * (width, height, format) without decoding the image.
 *
 * JPEG (ISO/IEC 10918-1 Annex B): SOI 'FFD8', then marker segments 'FFxx' + 2-byte length; the frame header
 * SOFn (C0-CF except C4 DHT, C8 JPG, CC DAC) holds precision (1), height (2), width (2).
 * JPEG 2000 (ISO/IEC 15444-1 Annex A): codestream SOC 'FF4F', SIZ 'FF51' + Lsiz (2) Rsiz (2) Xsiz (4) Ysiz (4)
 * XOsiz (4) YOsiz (4); image size = Xsiz - XOsiz by Ysiz - YOsiz. A JP2 file (signature box '0000000C 6A502020')
 * carries the codestream in its 'jp2c' box.
 */

export type ImageFormat = 'jpeg' | 'jpeg2000' | 'unknown';

export function detectImageFormat(b: Uint8Array): ImageFormat {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0x4f && b[2] === 0xff && b[3] === 0x51) return 'jpeg2000';
  if (
    b.length >= 12 &&
    b[0] === 0x00 && b[1] === 0x00 && b[2] === 0x00 && b[3] === 0x0c &&
    b[4] === 0x6a && b[5] === 0x50 && b[6] === 0x20 && b[7] === 0x20
  ) {
    return 'jpeg2000';
  }
  return 'unknown';
}

export interface ImageSize {
  width: number;
  height: number;
}

const u16 = (b: Uint8Array, i: number): number => (b[i]! << 8) | b[i + 1]!;
const u32 = (b: Uint8Array, i: number): number => ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;

/** Width and height from a JPEG frame header, or undefined when none is found. */
export function jpegSize(b: Uint8Array): ImageSize | undefined {
  if (detectImageFormat(b) !== 'jpeg') return undefined;
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2; // no length
      continue;
    }
    const len = u16(b, i + 2);
    if (len < 2) return undefined;
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (i + 9 > b.length) return undefined;
      return { height: u16(b, i + 5), width: u16(b, i + 7) };
    }
    if (marker === 0xda || marker === 0xd9) return undefined; // start of scan / end without a frame header
    i += 2 + len;
  }
  return undefined;
}

/** Width and height from a JPEG 2000 codestream or JP2 file, or undefined. */
export function jpeg2000Size(b: Uint8Array): ImageSize | undefined {
  let at = -1;
  const limit = Math.min(b.length - 20, 4096);
  for (let i = 0; i <= limit; i++) {
    if (b[i] === 0xff && b[i + 1] === 0x4f && b[i + 2] === 0xff && b[i + 3] === 0x51) {
      at = i + 4;
      break;
    }
  }
  if (at < 0 || at + 2 + 2 + 16 > b.length) return undefined;
  const x = u32(b, at + 4);
  const y = u32(b, at + 8);
  const xo = u32(b, at + 12);
  const yo = u32(b, at + 16);
  return { width: x - xo, height: y - yo };
}

/** Size of a JPEG or JPEG 2000 image, or undefined. */
export function imageSize(b: Uint8Array): ImageSize | undefined {
  const f = detectImageFormat(b);
  return f === 'jpeg' ? jpegSize(b) : f === 'jpeg2000' ? jpeg2000Size(b) : undefined;
}
