/**
 * Minimal PNG codec (ISO/IEC 15948): decode to 8-bit luminance for the seal reader, encode 8-bit greyscale for
 * tests and tools. Pure apart from node:zlib (no files).
 *
 * ```
 * PNG       = 89 50 4E 47 0D 0A 1A 0A, then chunks: length(4, BE) type(4) data crc(4)
 * IHDR      = width(4) height(4) bitDepth(1) colourType(1) compression(1)=0 filter(1)=0 interlace(1)
 *             colourType 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA
 * IDAT*     = zlib stream of scanlines, each: filterType(1) + bytes; filters 0 None 1 Sub 2 Up 3 Average 4 Paeth
 * ```
 * Interlaced (Adam7) images are refused with PNG_UNSUPPORTED: pdftoppm and every scanner driver write plain ones.
 */
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { KadiError } from '../shared/index.ts';

export class PngError extends KadiError {}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** An 8-bit greyscale bitmap: luminance 0 (black) .. 255 (white), row-major. */
export interface GreyImage {
  width: number;
  height: number;
  data: Uint8Array;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Decodes a PNG file to luminance (Rec. 601 weights; alpha composited over white). */
export function decodePng(file: Uint8Array): GreyImage {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (buf.length < 8 || !buf.subarray(0, 8).equals(SIGNATURE)) throw new PngError('PNG_INVALID', 'not a PNG file (bad signature)');
  let off = 8;
  let width = 0;
  let height = 0;
  let depth = 0;
  let type = 0;
  let palette: Buffer | undefined;
  let trns: Buffer | undefined;
  const idat: Buffer[] = [];
  while (off + 8 <= buf.length) {
    const len = buf.readUInt32BE(off);
    const kind = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (data.length !== len) throw new PngError('PNG_INVALID', `truncated ${kind} chunk`);
    off += 12 + len;
    if (kind === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      depth = data[8]!;
      type = data[9]!;
      if (data[12] !== 0) throw new PngError('PNG_UNSUPPORTED', 'interlaced PNG images are not supported', { hint: 'Save the image without interlacing.' });
    } else if (kind === 'PLTE') palette = data;
    else if (kind === 'tRNS') trns = data;
    else if (kind === 'IDAT') idat.push(data);
    else if (kind === 'IEND') break;
  }
  if (!width || !height) throw new PngError('PNG_INVALID', 'PNG without IHDR');
  if (width * height > 100_000_000) throw new PngError('PNG_UNSUPPORTED', `image of ${width}x${height} pixels is too large`);
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[type];
  if (!channels) throw new PngError('PNG_UNSUPPORTED', `PNG colour type ${type}`);
  if (![1, 2, 4, 8, 16].includes(depth) || (depth < 8 && type !== 0 && type !== 3) || (depth === 16 && type === 3)) {
    throw new PngError('PNG_UNSUPPORTED', `PNG bit depth ${depth} with colour type ${type}`);
  }
  const raw = inflateSync(Buffer.concat(idat));
  const bpp = Math.max(1, (channels * depth) / 8); // bytes per pixel for filtering
  const stride = Math.ceil((width * channels * depth) / 8);
  if (raw.length < height * (stride + 1)) throw new PngError('PNG_INVALID', 'image data shorter than the image');
  const cur = new Uint8Array(stride);
  let prev = new Uint8Array(stride);
  const out = new Uint8Array(width * height);
  const maxV = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    const base = y * (stride + 1);
    const f = raw[base]!;
    for (let x = 0; x < stride; x++) {
      const v = raw[base + 1 + x]!;
      const a = x >= bpp ? cur[x - bpp]! : 0;
      const b = prev[x]!;
      const c = x >= bpp ? prev[x - bpp]! : 0;
      let r: number;
      switch (f) {
        case 0: r = v; break;
        case 1: r = v + a; break;
        case 2: r = v + b; break;
        case 3: r = v + ((a + b) >> 1); break;
        case 4: r = v + paeth(a, b, c); break;
        default: throw new PngError('PNG_INVALID', `unknown filter type ${f}`);
      }
      cur[x] = r & 0xff;
    }
    const sample = (i: number): number => {
      if (depth === 8) return cur[i]!;
      if (depth === 16) return cur[2 * i]!; // high byte
      const bit = i * depth;
      return (cur[bit >> 3]! >> (8 - depth - (bit & 7))) & maxV;
    };
    for (let x = 0; x < width; x++) {
      let l: number;
      if (type === 0) l = depth >= 8 ? sample(x) : Math.round((sample(x) * 255) / maxV);
      else if (type === 3) {
        const idx = sample(x);
        if (!palette || idx * 3 + 2 >= palette.length) throw new PngError('PNG_INVALID', 'palette index out of range');
        l = 0.299 * palette[idx * 3]! + 0.587 * palette[idx * 3 + 1]! + 0.114 * palette[idx * 3 + 2]!;
        const alpha = trns && idx < trns.length ? trns[idx]! : 255;
        l = (l * alpha + 255 * (255 - alpha)) / 255;
      } else if (type === 2) l = 0.299 * sample(3 * x) + 0.587 * sample(3 * x + 1) + 0.114 * sample(3 * x + 2);
      else if (type === 4) l = (sample(2 * x) * sample(2 * x + 1) + 255 * (255 - sample(2 * x + 1))) / 255;
      else {
        const al = sample(4 * x + 3);
        l = ((0.299 * sample(4 * x) + 0.587 * sample(4 * x + 1) + 0.114 * sample(4 * x + 2)) * al + 255 * (255 - al)) / 255;
      }
      out[y * width + x] = Math.round(l);
    }
    prev = Uint8Array.from(cur);
  }
  return { width, height, data: out };
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const t = Buffer.from(type, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(t)));
  return Buffer.concat([len, t, data, crc]);
}

/** Encodes an 8-bit greyscale PNG (filter None). */
export function encodeGreyPng(img: GreyImage): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(img.width, 0);
  ihdr.writeUInt32BE(img.height, 4);
  ihdr[8] = 8;
  ihdr[9] = 0;
  const raw = Buffer.alloc(img.height * (img.width + 1));
  for (let y = 0; y < img.height; y++) raw.set(img.data.subarray(y * img.width, (y + 1) * img.width), y * (img.width + 1) + 1);
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** A bitmap of a module matrix: `scale` pixels per module and a `quiet` module white border. */
export function rasteriseModules(m: { rows: number; cols: number; modules: ArrayLike<number> }, scale = 4, quiet = 2): GreyImage {
  const width = (m.cols + 2 * quiet) * scale;
  const height = (m.rows + 2 * quiet) * scale;
  const data = new Uint8Array(width * height).fill(255);
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < m.cols; c++) {
      if (!m.modules[r * m.cols + c]) continue;
      for (let y = 0; y < scale; y++) {
        const row = ((r + quiet) * scale + y) * width + (c + quiet) * scale;
        data.fill(0, row, row + scale);
      }
    }
  }
  return { width, height, data };
}
