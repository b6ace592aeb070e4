/**
 * JPEG for the registry: a small, fast baseline encoder for synthetic portraits, and a structural inspector
 * that intake validation uses before (optionally) decoding.
 *
 * Why an encoder here and not jpeg-js `encode`: jpeg-js builds its Huffman and category tables (two
 * 65 535-entry arrays of small arrays) on every call, about 13 ms, three times the cost of encoding a
 * 240×320 portrait; a 100k-record registry would spend most of its time there. This encoder keeps its tables
 * in typed arrays built once, so a portrait costs ~2 ms. jpeg-js stays the independent decoder (tests decode
 * every generated photo with it) and encodes the rare oversized photos.
 *
 * ITU-T T.81 (ISO/IEC 10918-1) baseline sequential DCT, Huffman coded, as produced here:
 *   SOI | APP0 JFIF 1.01 | DQT (Annex K.1 luminance, K.2 chrominance, IJG quality scaling) | SOF0 (8-bit,
 *   3 components, Y 2×2, Cb 1×1, Cr 1×1 = 4:2:0) | DHT (Annex K.3 typical tables) | SOS | entropy data | EOI
 * FDCT is the AAN (Arai–Agui–Nakajima) float algorithm with the scale factors folded into the quantiser.
 */

/** Annex K.1 luminance quantisation table, natural (row-major) order. */
const STD_LUM_Q = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22,
  29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103,
  121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
/** Annex K.2 chrominance quantisation table, natural order. */
const STD_CHR_Q = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99,
  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
  99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];
/** ZIGZAG[k] = natural index of the k-th coefficient in zig-zag order (T.81 Figure A.6). */
const ZIGZAG = new Uint8Array([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14,
  21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53,
  60, 61, 54, 47, 55, 62, 63,
]);

/** Annex K.3 typical Huffman tables: BITS (counts of codes of length 1..16) and HUFFVAL. */
const DC_LUM_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_CHR_BITS = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_VALS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_LUM_BITS = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
const AC_LUM_VALS = [
  0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71,
  0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72,
  0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37,
  0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59,
  0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83,
  0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3,
  0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
  0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
  0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
];
const AC_CHR_BITS = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
const AC_CHR_VALS = [
  0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22,
  0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1,
  0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36,
  0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58,
  0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a,
  0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a,
  0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba,
  0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
  0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
];

/** JPEG marker codes (T.81 Table B.1) used here. */
export const JPEG_MARKER = {
  SOI: 0xd8, EOI: 0xd9, SOS: 0xda, DQT: 0xdb, DHT: 0xc4, DRI: 0xdd, APP0: 0xe0, COM: 0xfe,
  SOF0: 0xc0, SOF1: 0xc1, SOF2: 0xc2, TEM: 0x01, RST0: 0xd0, RST7: 0xd7,
} as const;

interface HuffTable {
  code: Uint16Array;
  size: Uint8Array;
}

/** Generates code words from BITS/HUFFVAL (T.81 Annex C). */
function buildHuffman(bits: readonly number[], vals: readonly number[]): HuffTable {
  const code = new Uint16Array(256);
  const size = new Uint8Array(256);
  let c = 0, k = 0;
  for (let len = 1; len <= 16; len++) {
    for (let i = 0; i < bits[len - 1]!; i++) {
      const v = vals[k++]!;
      code[v] = c++;
      size[v] = len;
    }
    c <<= 1;
  }
  return { code, size };
}

const HT_DC_LUM = buildHuffman(DC_LUM_BITS, DC_VALS);
const HT_DC_CHR = buildHuffman(DC_CHR_BITS, DC_VALS);
const HT_AC_LUM = buildHuffman(AC_LUM_BITS, AC_LUM_VALS);
const HT_AC_CHR = buildHuffman(AC_CHR_BITS, AC_CHR_VALS);

/** AAN scale factors: cos(k·π/16)·√2 for k > 0, 1 for k = 0. */
const AAN = [1.0, 1.387039845, 1.306562965, 1.175875602, 1.0, 0.785694958, 0.5411961, 0.275899379];

interface QuantTables {
  /** Quantiser values in zig-zag order, as written to DQT. */
  lumZz: Uint8Array;
  chrZz: Uint8Array;
  /** Reciprocal divisors (with AAN scaling), natural order. */
  lumDiv: Float64Array;
  chrDiv: Float64Array;
}

const quantCache = new Map<number, QuantTables>();

/** IJG quality scaling of the Annex K tables, cached per quality. */
function quantTables(quality: number): QuantTables {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  const hit = quantCache.get(q);
  if (hit) return hit;
  const sf = q < 50 ? Math.floor(5000 / q) : 200 - q * 2;
  const make = (base: readonly number[]): [Uint8Array, Float64Array] => {
    const zz = new Uint8Array(64);
    const div = new Float64Array(64);
    for (let k = 0; k < 64; k++) {
      const nat = ZIGZAG[k]!;
      let v = Math.floor((base[nat]! * sf + 50) / 100);
      v = v < 1 ? 1 : v > 255 ? 255 : v;
      zz[k] = v;
    }
    for (let k = 0; k < 64; k++) {
      const nat = ZIGZAG[k]!;
      div[nat] = 1 / (zz[k]! * AAN[nat >> 3]! * AAN[nat & 7]! * 8);
    }
    return [zz, div];
  };
  const [lumZz, lumDiv] = make(STD_LUM_Q);
  const [chrZz, chrDiv] = make(STD_CHR_Q);
  const t = { lumZz, chrZz, lumDiv, chrDiv };
  quantCache.set(q, t);
  return t;
}

/** Growable output with a bit writer that stuffs 0x00 after every 0xFF in entropy-coded data. */
class Writer {
  buf = new Uint8Array(1 << 16);
  pos = 0;
  private acc = 0;
  private nbits = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
  }
  reset(): void {
    this.pos = 0;
    this.acc = 0;
    this.nbits = 0;
  }
  byte(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }
  word(v: number): void {
    this.ensure(2);
    this.buf[this.pos++] = v >> 8;
    this.buf[this.pos++] = v & 0xff;
  }
  bytes(a: ArrayLike<number>): void {
    this.ensure(a.length);
    for (let i = 0; i < a.length; i++) this.buf[this.pos++] = a[i]!;
  }
  /** Appends the low `n` bits of `v` (n ≤ 16), most significant first. */
  bits(v: number, n: number): void {
    this.acc = (this.acc << n) | (v & ((1 << n) - 1));
    this.nbits += n;
    while (this.nbits >= 8) {
      const b = (this.acc >>> (this.nbits - 8)) & 0xff;
      this.nbits -= 8;
      if (this.pos + 2 > this.buf.length) this.ensure(2);
      this.buf[this.pos++] = b;
      if (b === 0xff) this.buf[this.pos++] = 0;
    }
    this.acc &= (1 << this.nbits) - 1;
  }
  /** Pads the last byte with 1-bits (T.81 F.1.2.3). */
  flushBits(): void {
    if (this.nbits > 0) this.bits(0x7f, 8 - this.nbits);
  }
}

const WRITER = new Writer();
const BLOCK = new Float64Array(64);
const COEF = new Int32Array(64);

/** One 8-point AAN forward DCT in place over d[o], d[o + s], ..., d[o + 7s] (s = 1: a row, s = 8: a column). */
function dct8(d: Float64Array, o: number, s: number): void {
  const t0 = d[o]! + d[o + 7 * s]!, t7 = d[o]! - d[o + 7 * s]!;
  const t1 = d[o + s]! + d[o + 6 * s]!, t6 = d[o + s]! - d[o + 6 * s]!;
  const t2 = d[o + 2 * s]! + d[o + 5 * s]!, t5 = d[o + 2 * s]! - d[o + 5 * s]!;
  const t3 = d[o + 3 * s]! + d[o + 4 * s]!, t4 = d[o + 3 * s]! - d[o + 4 * s]!;
  let t10 = t0 + t3;
  const t13 = t0 - t3;
  let t11 = t1 + t2;
  let t12 = t1 - t2;
  d[o] = t10 + t11;
  d[o + 4 * s] = t10 - t11;
  const z1 = (t12 + t13) * 0.707106781;
  d[o + 2 * s] = t13 + z1;
  d[o + 6 * s] = t13 - z1;
  t10 = t4 + t5;
  t11 = t5 + t6;
  t12 = t6 + t7;
  const z5 = (t10 - t12) * 0.382683433;
  const z2 = 0.5411961 * t10 + z5;
  const z4 = 1.306562965 * t12 + z5;
  const z3 = t11 * 0.707106781;
  const z11 = t7 + z3, z13 = t7 - z3;
  d[o + 5 * s] = z13 + z2;
  d[o + 3 * s] = z13 - z2;
  d[o + s] = z11 + z4;
  d[o + 7 * s] = z11 - z4;
}

/** Forward DCT of BLOCK (level-shifted samples, natural order) and quantisation into COEF (zig-zag order). */
function fdctQuant(div: Float64Array): void {
  const d = BLOCK;
  for (let o = 0; o < 64; o += 8) dct8(d, o, 1);
  for (let o = 0; o < 8; o++) dct8(d, o, 8);
  for (let k = 0; k < 64; k++) {
    const nat = ZIGZAG[k]!;
    const v = d[nat]! * div[nat]!;
    COEF[k] = v > 0 ? (v + 0.5) | 0 : (v - 0.5) | 0;
  }
}

/** Huffman-codes COEF against the previous DC value; returns the new DC predictor (T.81 F.1.2). */
function encodeBlock(w: Writer, prevDc: number, dc: HuffTable, ac: HuffTable): number {
  const c = COEF;
  const diff = c[0]! - prevDc;
  if (diff === 0) {
    w.bits(dc.code[0]!, dc.size[0]!);
  } else {
    const a = diff < 0 ? -diff : diff;
    const cat = 32 - Math.clz32(a);
    w.bits(dc.code[cat]!, dc.size[cat]!);
    w.bits(diff < 0 ? diff - 1 : diff, cat);
  }
  let end = 63;
  while (end > 0 && c[end] === 0) end--;
  let run = 0;
  for (let k = 1; k <= end; k++) {
    const v = c[k]!;
    if (v === 0) {
      run++;
      continue;
    }
    while (run > 15) {
      w.bits(ac.code[0xf0]!, ac.size[0xf0]!); // ZRL: sixteen zeros
      run -= 16;
    }
    const a = v < 0 ? -v : v;
    const cat = 32 - Math.clz32(a);
    const sym = (run << 4) | cat;
    w.bits(ac.code[sym]!, ac.size[sym]!);
    w.bits(v < 0 ? v - 1 : v, cat);
    run = 0;
  }
  if (end !== 63) w.bits(ac.code[0]!, ac.size[0]!); // EOB
  return c[0]!;
}

let planeY = new Float32Array(0);
let planeCb = new Float32Array(0);
let planeCr = new Float32Array(0);

/**
 * Encodes RGBA pixels (4 bytes per pixel, alpha ignored) as a baseline 4:2:0 JFIF JPEG.
 * @param quality IJG quality 1–100 (default 75).
 */
export function encodeJpeg(rgba: Uint8Array, width: number, height: number, quality = 75): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 65535 || height > 65535) {
    throw new RangeError(`invalid JPEG dimensions ${width}x${height}`);
  }
  if (rgba.length < width * height * 4) throw new RangeError('pixel buffer shorter than width*height*4');
  const qt = quantTables(quality);
  const mcuW = Math.ceil(width / 16), mcuH = Math.ceil(height / 16);
  const pw = mcuW * 16, ph = mcuH * 16; // padded luma plane (edge replicated)
  const cw = pw >> 1, ch = ph >> 1;
  if (planeY.length < pw * ph) planeY = new Float32Array(pw * ph);
  if (planeCb.length < cw * ch) {
    planeCb = new Float32Array(cw * ch);
    planeCr = new Float32Array(cw * ch);
  }
  const Y = planeY, Cb = planeCb, Cr = planeCr;
  // colour conversion (JFIF: full-range BT.601) into a padded luma plane, chroma averaged over 2×2
  for (let y = 0; y < ph; y += 2) {
    const sy0 = y < height ? y : height - 1;
    const sy1 = y + 1 < height ? y + 1 : height - 1;
    for (let x = 0; x < pw; x += 2) {
      const sx0 = x < width ? x : width - 1;
      const sx1 = x + 1 < width ? x + 1 : width - 1;
      let sb = 0, sr = 0;
      for (let j = 0; j < 4; j++) {
        const sx = j & 1 ? sx1 : sx0, sy = j & 2 ? sy1 : sy0;
        const p = (sy * width + sx) * 4;
        const r = rgba[p]!, g = rgba[p + 1]!, b = rgba[p + 2]!;
        Y[(y + (j >> 1)) * pw + x + (j & 1)] = 0.299 * r + 0.587 * g + 0.114 * b - 128;
        sb += -0.168736 * r - 0.331264 * g + 0.5 * b;
        sr += 0.5 * r - 0.418688 * g - 0.081312 * b;
      }
      const ci = (y >> 1) * cw + (x >> 1);
      Cb[ci] = sb * 0.25;
      Cr[ci] = sr * 0.25;
    }
  }

  const w = WRITER;
  w.reset();
  w.word(0xff00 | JPEG_MARKER.SOI);
  // APP0 JFIF 1.01, no units, 1:1 aspect, no thumbnail
  w.word(0xff00 | JPEG_MARKER.APP0);
  w.word(16);
  w.bytes([0x4a, 0x46, 0x49, 0x46, 0x00, 1, 1, 0, 0, 1, 0, 1, 0, 0]);
  // DQT: table 0 luminance, table 1 chrominance, 8-bit precision, zig-zag order
  w.word(0xff00 | JPEG_MARKER.DQT);
  w.word(2 + 2 * 65);
  w.byte(0x00);
  w.bytes(qt.lumZz);
  w.byte(0x01);
  w.bytes(qt.chrZz);
  // SOF0: 8-bit, height, width, 3 components (id, H<<4|V, Tq)
  w.word(0xff00 | JPEG_MARKER.SOF0);
  w.word(17);
  w.byte(8);
  w.word(height);
  w.word(width);
  w.bytes([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  // DHT: DC0, AC0 (luminance), DC1, AC1 (chrominance)
  w.word(0xff00 | JPEG_MARKER.DHT);
  w.word(2 + 4 * 17 + DC_VALS.length * 2 + AC_LUM_VALS.length + AC_CHR_VALS.length);
  for (const [tc, bits, vals] of [
    [0x00, DC_LUM_BITS, DC_VALS], [0x10, AC_LUM_BITS, AC_LUM_VALS],
    [0x01, DC_CHR_BITS, DC_VALS], [0x11, AC_CHR_BITS, AC_CHR_VALS],
  ] as const) {
    w.byte(tc);
    w.bytes(bits);
    w.bytes(vals);
  }
  // SOS: 3 components (id, Td<<4|Ta), Ss=0, Se=63, Ah=Al=0
  w.word(0xff00 | JPEG_MARKER.SOS);
  w.word(12);
  w.bytes([3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);

  let dcY = 0, dcCb = 0, dcCr = 0;
  const B = BLOCK;
  for (let my = 0; my < mcuH; my++) {
    for (let mx = 0; mx < mcuW; mx++) {
      for (let blk = 0; blk < 4; blk++) {
        const bx = mx * 16 + (blk & 1) * 8, by = my * 16 + (blk >> 1) * 8;
        for (let r = 0; r < 8; r++) {
          const src = (by + r) * pw + bx;
          const o = r * 8;
          for (let c = 0; c < 8; c++) B[o + c] = Y[src + c]!;
        }
        fdctQuant(qt.lumDiv);
        dcY = encodeBlock(w, dcY, HT_DC_LUM, HT_AC_LUM);
      }
      const cx = mx * 8, cy = my * 8;
      for (let r = 0; r < 8; r++) {
        const src = (cy + r) * cw + cx;
        for (let c = 0; c < 8; c++) B[r * 8 + c] = Cb[src + c]!;
      }
      fdctQuant(qt.chrDiv);
      dcCb = encodeBlock(w, dcCb, HT_DC_CHR, HT_AC_CHR);
      for (let r = 0; r < 8; r++) {
        const src = (cy + r) * cw + cx;
        for (let c = 0; c < 8; c++) B[r * 8 + c] = Cr[src + c]!;
      }
      fdctQuant(qt.chrDiv);
      dcCr = encodeBlock(w, dcCr, HT_DC_CHR, HT_AC_CHR);
    }
  }
  w.flushBits();
  w.word(0xff00 | JPEG_MARKER.EOI);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

/** What the structural check learned about a JPEG. */
export interface JpegInfo {
  width: number;
  height: number;
  /** Number of colour components (1 grey, 3 YCbCr). */
  components: number;
  /** SOF marker found: 0xC0 baseline, 0xC1 extended sequential, 0xC2 progressive. */
  sof: number;
}

export type JpegInspection = { ok: true; info: JpegInfo } | { ok: false; problem: string };

/**
 * Walks a JPEG's marker structure without decoding pixels (T.81 Annex B): SOI first; every marker segment's
 * length inside the file; exactly one SOF0/SOF1/SOF2 frame (8-bit, 1 or 3 components, non-zero dimensions)
 * before the first SOS; at least one DQT and (for these Huffman processes) one DHT; entropy-coded data
 * followed by further segments or EOI; EOI as the last two bytes. Arithmetic-coded, lossless and
 * hierarchical frames are refused: no chip reader is required to display them.
 * `problem` never contains file content, only positions and marker codes.
 */
export function inspectJpeg(buf: Uint8Array): JpegInspection {
  const n = buf.length;
  const fail = (problem: string): JpegInspection => ({ ok: false, problem });
  if (n < 4 || buf[0] !== 0xff || buf[1] !== JPEG_MARKER.SOI) return fail('no SOI marker at start');
  if (buf[n - 2] !== 0xff || buf[n - 1] !== JPEG_MARKER.EOI) return fail('no EOI marker at end');
  let pos = 2;
  let info: JpegInfo | undefined;
  let dqt = false, dht = false, scans = 0;
  for (;;) {
    if (pos >= n) return fail('file ends before EOI');
    if (buf[pos] !== 0xff) return fail(`expected a marker at offset ${pos}`);
    while (pos < n && buf[pos] === 0xff) pos++; // fill bytes
    if (pos >= n) return fail('file ends inside a marker');
    const m = buf[pos++]!;
    if (m === JPEG_MARKER.EOI) {
      if (pos !== n) return fail(`data after EOI at offset ${pos}`);
      break;
    }
    if (m === 0x00 || m === JPEG_MARKER.SOI) return fail(`unexpected marker 0x${m.toString(16)} at offset ${pos - 1}`);
    if (m === JPEG_MARKER.TEM || (m >= JPEG_MARKER.RST0 && m <= JPEG_MARKER.RST7)) continue; // standalone
    if (pos + 2 > n) return fail('file ends inside a segment length');
    const len = (buf[pos]! << 8) | buf[pos + 1]!;
    if (len < 2 || pos + len > n) return fail(`segment 0x${m.toString(16)} length out of bounds at offset ${pos}`);
    const seg = pos + 2;
    if (m >= 0xc0 && m <= 0xcf && m !== JPEG_MARKER.DHT && m !== 0xc8 && m !== 0xcc) {
      if (m !== JPEG_MARKER.SOF0 && m !== JPEG_MARKER.SOF1 && m !== JPEG_MARKER.SOF2) {
        return fail(`unsupported frame type 0x${m.toString(16)}`);
      }
      if (info) return fail('more than one frame header');
      if (len < 8) return fail('frame header too short');
      const precision = buf[seg]!;
      const height = (buf[seg + 1]! << 8) | buf[seg + 2]!;
      const width = (buf[seg + 3]! << 8) | buf[seg + 4]!;
      const components = buf[seg + 5]!;
      if (precision !== 8) return fail(`sample precision ${precision} is not 8`);
      if (components !== 1 && components !== 3) return fail(`${components} components (1 or 3 expected)`);
      if (len !== 8 + 3 * components) return fail('frame header length does not match components');
      if (width === 0 || height === 0) return fail('zero width or height');
      info = { width, height, components, sof: m };
    } else if (m === JPEG_MARKER.DQT) {
      dqt = true;
    } else if (m === JPEG_MARKER.DHT) {
      dht = true;
    } else if (m === JPEG_MARKER.SOS) {
      if (!info) return fail('scan before frame header');
      if (!dqt || !dht) return fail('scan before quantisation or Huffman tables');
      scans++;
      // entropy-coded data: skip to the next marker that is not a stuffed 0xFF00 or a restart marker
      pos += len;
      while (pos < n) {
        if (buf[pos] === 0xff) {
          const nx = buf[pos + 1];
          if (nx === 0x00 || (nx !== undefined && nx >= JPEG_MARKER.RST0 && nx <= JPEG_MARKER.RST7)) {
            pos += 2;
            continue;
          }
          if (nx === 0xff) {
            pos++;
            continue;
          }
          break;
        }
        pos++;
      }
      continue;
    }
    pos += len;
  }
  if (!info) return fail('no frame header');
  if (scans === 0) return fail('no scan');
  return { ok: true, info };
}
