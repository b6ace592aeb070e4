/**
 * Data Matrix ECC 200 (ISO/IEC 16022:2006): encoder and decoder, pure and dependency-free.
 *
 * Why our own: the seal is signed per card, so a symbol is built for every card face. bwip-js needs ~6.5 ms for
 * a 180-byte symbol (and encodes text as UTF-8, not bytes); this encoder needs well under 0.1 ms, which keeps the
 * renderer above 500 cards/s. The decoder is what `kadi seal verify --image` and the tests use, because Debian 12's
 * zbarimg (0.23.92) does not read Data Matrix at all (checked: exit 4, "no symbols"). libdmtx's `dmtxread`
 * (Debian `dmtx-utils`) serves as the independent oracle in the tests.
 *
 * ```
 * Symbol     = finder pattern around every data region:  left column and bottom row solid (the "L"),
 *              top row and right column alternating (timing), top-left module dark.
 * Codewords  = data codewords (+ pad) || Reed-Solomon check codewords, interleaved over `blocks` blocks:
 *              data codeword i belongs to block i mod B; check codeword j of block b sits at n + j*B + b.
 * RS         = GF(256), field polynomial x^8+x^5+x^3+x^2+1 (0x12D), generator roots alpha^1 .. alpha^k.
 * Placement  = the diagonal "utah" placement of ISO/IEC 16022 Annex F over the mapping matrix (the data regions
 *              without their finder patterns); bit 1 of a placement is the codeword's most significant bit.
 * Encodation = ASCII (1..128 = char+1, 130..229 = digit pairs, 129 = pad) and Base 256 (latch 231, length field,
 *              255-state randomised bytes). The decoder also reads C40, Text, X12 and EDIFACT.
 * Pad        = first pad 129, further pads 253-state randomised: 129 + ((149 * pos) mod 253) + 1 (wrap at 254).
 * ```
 */
import { KadiError } from '../shared/index.ts';

export class DataMatrixError extends KadiError {}

/** One ECC 200 symbol size (ISO/IEC 16022 Table 7). */
export interface SymbolSize {
  rows: number;
  cols: number;
  /** Data regions vertically and horizontally. */
  regionRows: number;
  regionCols: number;
  dataCodewords: number;
  eccCodewords: number;
  blocks: number;
}

const S = (rows: number, cols: number, regionRows: number, regionCols: number, dataCodewords: number, eccCodewords: number, blocks: number): SymbolSize => ({
  rows, cols, regionRows, regionCols, dataCodewords, eccCodewords, blocks,
});

/** Square sizes first (smallest to largest), then the rectangular ones. */
export const SYMBOL_SIZES: readonly SymbolSize[] = [
  S(10, 10, 1, 1, 3, 5, 1), S(12, 12, 1, 1, 5, 7, 1), S(14, 14, 1, 1, 8, 10, 1), S(16, 16, 1, 1, 12, 12, 1),
  S(18, 18, 1, 1, 18, 14, 1), S(20, 20, 1, 1, 22, 18, 1), S(22, 22, 1, 1, 30, 20, 1), S(24, 24, 1, 1, 36, 24, 1),
  S(26, 26, 1, 1, 44, 28, 1), S(32, 32, 2, 2, 62, 36, 1), S(36, 36, 2, 2, 86, 42, 1), S(40, 40, 2, 2, 114, 48, 1),
  S(44, 44, 2, 2, 144, 56, 1), S(48, 48, 2, 2, 174, 68, 1), S(52, 52, 2, 2, 204, 84, 2), S(64, 64, 4, 4, 280, 112, 2),
  S(72, 72, 4, 4, 368, 144, 4), S(80, 80, 4, 4, 456, 192, 4), S(88, 88, 4, 4, 576, 224, 4), S(96, 96, 4, 4, 696, 272, 4),
  S(104, 104, 4, 4, 816, 336, 6), S(120, 120, 6, 6, 1050, 408, 6), S(132, 132, 6, 6, 1304, 496, 8),
  S(144, 144, 6, 6, 1558, 620, 10),
  S(8, 18, 1, 1, 5, 7, 1), S(8, 32, 1, 2, 10, 11, 1), S(12, 26, 1, 1, 16, 14, 1), S(12, 36, 1, 2, 22, 18, 1),
  S(16, 36, 1, 2, 32, 24, 1), S(16, 48, 1, 2, 49, 28, 1),
];

// ---- codeword values (ISO/IEC 16022 §5.2)
const ASCII_PAD = 129;
const ASCII_DIGITS_BASE = 130;
const LATCH_C40 = 230;
const LATCH_BASE256 = 231;
const FNC1 = 232;
const STRUCTURED_APPEND = 233;
const READER_PROGRAMMING = 234;
const UPPER_SHIFT = 235;
const MACRO_05 = 236;
const MACRO_06 = 237;
const LATCH_X12 = 238;
const LATCH_TEXT = 239;
const LATCH_EDIFACT = 240;
const ECI = 241;
const UNLATCH = 254;

// ---------------------------------------------------------------------------------------------------------
// GF(256) and Reed-Solomon

const GF_POLY = 0x12d;
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= GF_POLY;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!;
}

function gfMul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a]! + LOG[b]!]!;
}

function gfDiv(a: number, b: number): number {
  if (b === 0) throw new RangeError('GF division by zero');
  return a === 0 ? 0 : EXP[(LOG[a]! + 255 - LOG[b]!) % 255]!;
}

const GENERATORS = new Map<number, Uint8Array>();

/** Generator polynomial coefficients g[0..k] (g[0] = leading 1) for k check codewords. */
function generator(k: number): Uint8Array {
  let g = GENERATORS.get(k);
  if (g) return g;
  let poly = [1];
  for (let i = 1; i <= k; i++) {
    const next = new Array<number>(poly.length + 1).fill(0);
    for (let j = 0; j < poly.length; j++) {
      next[j] = next[j]! ^ poly[j]!;
      next[j + 1] = next[j + 1]! ^ gfMul(poly[j]!, EXP[i]!);
    }
    poly = next;
  }
  g = Uint8Array.from(poly);
  GENERATORS.set(k, g);
  return g;
}

/** The k check codewords of `data` (remainder of data(x)·x^k divided by g(x)). */
export function rsEncode(data: ArrayLike<number>, k: number): Uint8Array {
  const g = generator(k);
  const rem = new Uint8Array(k);
  for (let i = 0; i < data.length; i++) {
    const f = data[i]! ^ rem[0]!;
    rem.copyWithin(0, 1);
    rem[k - 1] = 0;
    if (f !== 0) {
      const lf = LOG[f]!;
      for (let j = 0; j < k; j++) {
        const gj = g[j + 1]!;
        if (gj !== 0) rem[j] = rem[j]! ^ EXP[lf + LOG[gj]!]!;
      }
    }
  }
  return rem;
}

/**
 * Corrects a received block (data || check codewords, k check codewords) in place: Berlekamp-Massey, Chien
 * search and Forney. Returns the number of corrected codewords; throws when the block cannot be corrected.
 */
export function rsCorrect(block: Uint8Array, k: number): number {
  const n = block.length;
  // Syndromes S_i = r(alpha^i), i = 1..k; codeword index 0 is the highest power x^(n-1).
  const syn = new Uint8Array(k);
  let allZero = true;
  for (let i = 0; i < k; i++) {
    let s = 0;
    const a = EXP[i + 1]!;
    for (let j = 0; j < n; j++) s = gfMul(s, a) ^ block[j]!;
    syn[i] = s;
    if (s !== 0) allZero = false;
  }
  if (allZero) return 0;
  // Berlekamp-Massey: error locator sigma(x), lowest degree first.
  let sigma = [1];
  let prev = [1];
  let l = 0;
  let m = 1;
  let b = 1;
  for (let i = 0; i < k; i++) {
    let d = syn[i]!;
    for (let j = 1; j <= l; j++) d ^= gfMul(sigma[j] ?? 0, syn[i - j]!);
    if (d === 0) {
      m++;
      continue;
    }
    const coef = gfDiv(d, b);
    const next = sigma.slice();
    while (next.length < prev.length + m) next.push(0);
    for (let j = 0; j < prev.length; j++) next[j + m] = next[j + m]! ^ gfMul(coef, prev[j]!);
    if (2 * l <= i) {
      prev = sigma;
      l = i + 1 - l;
      b = d;
      m = 1;
    } else m++;
    sigma = next;
  }
  while (sigma.length > 1 && sigma[sigma.length - 1] === 0) sigma.pop();
  const errors = sigma.length - 1;
  if (errors === 0 || 2 * errors > k) throw new DataMatrixError('DATAMATRIX_UNCORRECTABLE', 'too many codeword errors');
  // Chien search: error at position p (power e = n-1-p) when sigma(alpha^-e) = 0.
  const positions: number[] = [];
  for (let p = 0; p < n; p++) {
    const e = n - 1 - p;
    const xinv = EXP[(255 - (e % 255)) % 255]!;
    let v = 0;
    for (let j = sigma.length - 1; j >= 0; j--) v = gfMul(v, xinv) ^ sigma[j]!;
    if (v === 0) positions.push(p);
  }
  if (positions.length !== errors) throw new DataMatrixError('DATAMATRIX_UNCORRECTABLE', 'error locator has no consistent roots');
  // Forney (first consecutive root 1): e_p = X * Omega(X^-1) / sigma'(X^-1)... with b=1 the X factor cancels:
  // magnitude = Omega(X^-1) / sigma'(X^-1) where Omega = S(x)·sigma(x) mod x^k.
  const omega = new Array<number>(k).fill(0);
  for (let i = 0; i < k; i++) {
    let v = 0;
    for (let j = 0; j <= i && j < sigma.length; j++) v ^= gfMul(sigma[j]!, syn[i - j]!);
    omega[i] = v;
  }
  for (const p of positions) {
    const e = n - 1 - p;
    const xinv = EXP[(255 - (e % 255)) % 255]!;
    let num = 0;
    for (let j = omega.length - 1; j >= 0; j--) num = gfMul(num, xinv) ^ omega[j]!;
    let den = 0; // formal derivative: odd-power terms
    for (let j = 1; j < sigma.length; j += 2) {
      let t = sigma[j]!;
      for (let q = 0; q < j - 1; q++) t = gfMul(t, xinv);
      den ^= t;
    }
    if (den === 0) throw new DataMatrixError('DATAMATRIX_UNCORRECTABLE', 'Forney denominator is zero');
    block[p] = block[p]! ^ gfDiv(num, den);
  }
  return errors;
}

// ---------------------------------------------------------------------------------------------------------
// Placement (ISO/IEC 16022 Annex F)

const PLACEMENTS = new Map<string, Int32Array>();

/**
 * For a mapping matrix of nrow x ncol modules: for each module, codeword*8 + (bit-1) (bit 1 = MSB), or -1 for
 * the fixed pattern in the bottom-right corner when no codeword covers it (value -2 dark, -3 light).
 */
function placement(nrow: number, ncol: number): Int32Array {
  const key = `${nrow}x${ncol}`;
  let arr = PLACEMENTS.get(key);
  if (arr) return arr;
  arr = new Int32Array(nrow * ncol).fill(-1);
  const a = arr;
  const module = (row: number, col: number, chr: number, bit: number): void => {
    if (row < 0) {
      row += nrow;
      col += 4 - ((nrow + 4) % 8);
    }
    if (col < 0) {
      col += ncol;
      row += 4 - ((ncol + 4) % 8);
    }
    a[row * ncol + col] = chr * 8 + (bit - 1);
  };
  const utah = (row: number, col: number, chr: number): void => {
    module(row - 2, col - 2, chr, 1);
    module(row - 2, col - 1, chr, 2);
    module(row - 1, col - 2, chr, 3);
    module(row - 1, col - 1, chr, 4);
    module(row - 1, col, chr, 5);
    module(row, col - 2, chr, 6);
    module(row, col - 1, chr, 7);
    module(row, col, chr, 8);
  };
  const corner1 = (chr: number): void => {
    module(nrow - 1, 0, chr, 1);
    module(nrow - 1, 1, chr, 2);
    module(nrow - 1, 2, chr, 3);
    module(0, ncol - 2, chr, 4);
    module(0, ncol - 1, chr, 5);
    module(1, ncol - 1, chr, 6);
    module(2, ncol - 1, chr, 7);
    module(3, ncol - 1, chr, 8);
  };
  const corner2 = (chr: number): void => {
    module(nrow - 3, 0, chr, 1);
    module(nrow - 2, 0, chr, 2);
    module(nrow - 1, 0, chr, 3);
    module(0, ncol - 4, chr, 4);
    module(0, ncol - 3, chr, 5);
    module(0, ncol - 2, chr, 6);
    module(0, ncol - 1, chr, 7);
    module(1, ncol - 1, chr, 8);
  };
  const corner3 = (chr: number): void => {
    module(nrow - 3, 0, chr, 1);
    module(nrow - 2, 0, chr, 2);
    module(nrow - 1, 0, chr, 3);
    module(0, ncol - 2, chr, 4);
    module(0, ncol - 1, chr, 5);
    module(1, ncol - 1, chr, 6);
    module(2, ncol - 1, chr, 7);
    module(3, ncol - 1, chr, 8);
  };
  const corner4 = (chr: number): void => {
    module(nrow - 1, 0, chr, 1);
    module(nrow - 1, ncol - 1, chr, 2);
    module(0, ncol - 3, chr, 3);
    module(0, ncol - 2, chr, 4);
    module(0, ncol - 1, chr, 5);
    module(1, ncol - 3, chr, 6);
    module(1, ncol - 2, chr, 7);
    module(1, ncol - 1, chr, 8);
  };
  let chr = 0;
  let row = 4;
  let col = 0;
  do {
    if (row === nrow && col === 0) corner1(chr++);
    if (row === nrow - 2 && col === 0 && ncol % 4) corner2(chr++);
    if (row === nrow - 2 && col === 0 && ncol % 8 === 4) corner3(chr++);
    if (row === nrow + 4 && col === 2 && !(ncol % 8)) corner4(chr++);
    do {
      if (row < nrow && col >= 0 && a[row * ncol + col] === -1) utah(row, col, chr++);
      row -= 2;
      col += 2;
    } while (row >= 0 && col < ncol);
    row += 1;
    col += 3;
    do {
      if (row >= 0 && col < ncol && a[row * ncol + col] === -1) utah(row, col, chr++);
      row += 2;
      col -= 2;
    } while (row < nrow && col >= 0);
    row += 3;
    col += 1;
  } while (row < nrow || col < ncol);
  if (a[(nrow - 1) * ncol + ncol - 1] === -1) {
    a[(nrow - 1) * ncol + ncol - 1] = -2;
    a[(nrow - 2) * ncol + ncol - 2] = -2;
    a[(nrow - 1) * ncol + ncol - 2] = -3;
    a[(nrow - 2) * ncol + ncol - 1] = -3;
  }
  PLACEMENTS.set(key, arr);
  return arr;
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

/** A symbol: `rows` x `cols` modules, row-major, 1 = dark. Quiet zone not included (leave one module at least). */
export interface DataMatrix {
  rows: number;
  cols: number;
  modules: Uint8Array;
  size: SymbolSize;
}

function randomise255(cw: number, pos: number): number {
  const t = cw + ((149 * pos) % 255) + 1;
  return t <= 255 ? t : t - 256;
}

function unrandomise255(cw: number, pos: number): number {
  const t = cw - (((149 * pos) % 255) + 1);
  return t >= 0 ? t : t + 256;
}

/** Data codewords for `data`: ASCII (digit pairs) when every byte is < 128, else one Base 256 field. */
export function encodeCodewords(data: Uint8Array): number[] {
  const out: number[] = [];
  let ascii = true;
  for (const b of data) if (b > 127) ascii = false;
  if (ascii) {
    for (let i = 0; i < data.length; i++) {
      const c = data[i]!;
      const n = data[i + 1];
      if (c >= 48 && c <= 57 && n !== undefined && n >= 48 && n <= 57) {
        out.push(ASCII_DIGITS_BASE + (c - 48) * 10 + (n - 48));
        i++;
      } else out.push(c + 1);
    }
    return out;
  }
  out.push(LATCH_BASE256);
  const len = data.length;
  const field = len <= 249 ? [len] : [Math.floor(len / 250) + 249, len % 250];
  if (len > 1555) throw new DataMatrixError('DATAMATRIX_TOO_LONG', `${len} bytes do not fit a Data Matrix symbol`);
  for (const f of field) out.push(randomise255(f, out.length + 1));
  for (const b of data) out.push(randomise255(b, out.length + 1));
  return out;
}

/** The smallest square (or any, with `shape: 'any'`) symbol that holds `n` data codewords. */
export function chooseSize(n: number, shape: 'square' | 'any' = 'square'): SymbolSize {
  const sizes = shape === 'square' ? SYMBOL_SIZES.filter((s) => s.rows === s.cols) : [...SYMBOL_SIZES].sort((x, y) => x.rows * x.cols - y.rows * y.cols);
  const s = sizes.find((z) => z.dataCodewords >= n);
  if (!s) throw new DataMatrixError('DATAMATRIX_TOO_LONG', `${n} codewords do not fit a Data Matrix symbol`);
  return s;
}

/** Encodes bytes (or a latin-1/ASCII string) into the smallest fitting square symbol (or the given size). */
export function encodeDataMatrix(input: Uint8Array | string, opts: { size?: SymbolSize; shape?: 'square' | 'any' } = {}): DataMatrix {
  const data = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const cws = encodeCodewords(data);
  const size = opts.size ?? chooseSize(cws.length, opts.shape);
  if (cws.length > size.dataCodewords) throw new DataMatrixError('DATAMATRIX_TOO_LONG', `${cws.length} codewords do not fit ${size.rows}x${size.cols}`);
  // Pad
  if (cws.length < size.dataCodewords) cws.push(ASCII_PAD);
  while (cws.length < size.dataCodewords) {
    const pos = cws.length + 1;
    let p = ASCII_PAD + ((149 * pos) % 253) + 1;
    if (p > 254) p -= 254;
    cws.push(p);
  }
  // Reed-Solomon, interleaved
  const B = size.blocks;
  const k = size.eccCodewords / B;
  const all = new Uint8Array(size.dataCodewords + size.eccCodewords);
  all.set(cws);
  for (let b = 0; b < B; b++) {
    const blockData: number[] = [];
    for (let i = b; i < size.dataCodewords; i += B) blockData.push(cws[i]!);
    const ecc = rsEncode(blockData, k);
    for (let j = 0; j < k; j++) all[size.dataCodewords + j * B + b] = ecc[j]!;
  }
  return place(size, all);
}

function regionGeometry(size: SymbolSize): { h: number; w: number; nrow: number; ncol: number } {
  const h = size.rows / size.regionRows - 2;
  const w = size.cols / size.regionCols - 2;
  return { h, w, nrow: h * size.regionRows, ncol: w * size.regionCols };
}

function place(size: SymbolSize, codewords: Uint8Array): DataMatrix {
  const { h, w, nrow, ncol } = regionGeometry(size);
  const map = placement(nrow, ncol);
  const modules = new Uint8Array(size.rows * size.cols);
  // Finder patterns of each region.
  for (let rr = 0; rr < size.regionRows; rr++) {
    for (let rc = 0; rc < size.regionCols; rc++) {
      const top = rr * (h + 2);
      const left = rc * (w + 2);
      for (let c = 0; c < w + 2; c++) {
        modules[(top + h + 1) * size.cols + left + c] = 1; // bottom row solid
        modules[top * size.cols + left + c] = c % 2 === 0 ? 1 : 0; // top row alternating
      }
      for (let r = 0; r < h + 2; r++) {
        modules[(top + r) * size.cols + left] = 1; // left column solid
        modules[(top + r) * size.cols + left + w + 1] = r % 2 === 1 ? 1 : 0; // right column alternating
      }
    }
  }
  for (let r = 0; r < nrow; r++) {
    const sr = Math.floor(r / h) * (h + 2) + 1 + (r % h);
    for (let c = 0; c < ncol; c++) {
      const sc = Math.floor(c / w) * (w + 2) + 1 + (c % w);
      const v = map[r * ncol + c]!;
      let dark: number;
      if (v >= 0) dark = (codewords[v >> 3]! >> (7 - (v & 7))) & 1;
      else dark = v === -2 ? 1 : 0;
      modules[sr * size.cols + sc] = dark;
    }
  }
  return { rows: size.rows, cols: size.cols, modules, size };
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

export interface DecodedDataMatrix {
  /** The decoded bytes (latin-1 for ASCII/C40/Text/X12/EDIFACT characters, raw bytes for Base 256). */
  bytes: Uint8Array;
  size: SymbolSize;
  /** Codewords corrected by Reed-Solomon. */
  corrected: number;
}

/** Size entry for a symbol of rows x cols modules. */
export function sizeFor(rows: number, cols: number): SymbolSize | undefined {
  return SYMBOL_SIZES.find((s) => s.rows === rows && s.cols === cols);
}

/** Counts finder-pattern modules that are wrong (a quick plausibility check for a sampled grid). */
export function finderErrors(rows: number, cols: number, modules: ArrayLike<number>): number {
  const size = sizeFor(rows, cols);
  if (!size) return Number.POSITIVE_INFINITY;
  const { h, w } = regionGeometry(size);
  let bad = 0;
  for (let rr = 0; rr < size.regionRows; rr++) {
    for (let rc = 0; rc < size.regionCols; rc++) {
      const top = rr * (h + 2);
      const left = rc * (w + 2);
      for (let c = 0; c < w + 2; c++) {
        if (modules[(top + h + 1) * cols + left + c] !== 1) bad++;
        if (modules[top * cols + left + c] !== (c % 2 === 0 ? 1 : 0)) bad++;
      }
      for (let r = 0; r < h + 2; r++) {
        if (modules[(top + r) * cols + left] !== 1) bad++;
        if (modules[(top + r) * cols + left + w + 1] !== (r % 2 === 1 ? 1 : 0)) bad++;
      }
    }
  }
  return bad;
}

/** Decodes a sampled symbol (row-major modules, 1 = dark, no quiet zone). Throws DataMatrixError. */
export function decodeDataMatrix(m: { rows: number; cols: number; modules: ArrayLike<number> }): DecodedDataMatrix {
  const size = sizeFor(m.rows, m.cols);
  if (!size) throw new DataMatrixError('DATAMATRIX_SIZE', `${m.rows}x${m.cols} is not an ECC 200 symbol size`);
  const { h, w, nrow, ncol } = regionGeometry(size);
  const map = placement(nrow, ncol);
  const total = size.dataCodewords + size.eccCodewords;
  const cw = new Uint8Array(total);
  for (let r = 0; r < nrow; r++) {
    const sr = Math.floor(r / h) * (h + 2) + 1 + (r % h);
    for (let c = 0; c < ncol; c++) {
      const v = map[r * ncol + c]!;
      if (v < 0) continue;
      const sc = Math.floor(c / w) * (w + 2) + 1 + (c % w);
      if (m.modules[sr * m.cols + sc]) cw[v >> 3] = cw[v >> 3]! | (1 << (7 - (v & 7)));
    }
  }
  // De-interleave, correct, re-interleave.
  const B = size.blocks;
  const k = size.eccCodewords / B;
  let corrected = 0;
  const data = new Uint8Array(size.dataCodewords);
  for (let b = 0; b < B; b++) {
    const idx: number[] = [];
    for (let i = b; i < size.dataCodewords; i += B) idx.push(i);
    const block = new Uint8Array(idx.length + k);
    idx.forEach((i, j) => (block[j] = cw[i]!));
    for (let j = 0; j < k; j++) block[idx.length + j] = cw[size.dataCodewords + j * B + b]!;
    corrected += rsCorrect(block, k);
    idx.forEach((i, j) => (data[i] = block[j]!));
  }
  return { bytes: decodeCodewords(data), size, corrected };
}

const C40_SHIFT2 = '!"#$%&\'()*+,-./:;<=>?@[\\]^_';

/** Decodes data codewords (ISO/IEC 16022 §5.2 encodation schemes) to bytes. */
export function decodeCodewords(cw: Uint8Array): Uint8Array {
  const out: number[] = [];
  let i = 0;
  let upper = false;
  const emit = (b: number): void => {
    out.push(upper ? b + 128 : b);
    upper = false;
  };
  const fail = (msg: string): never => {
    throw new DataMatrixError('DATAMATRIX_DATA_INVALID', msg);
  };
  while (i < cw.length) {
    const c = cw[i++]!;
    if (c >= 1 && c <= 128) emit(c - 1);
    else if (c === ASCII_PAD) break;
    else if (c >= ASCII_DIGITS_BASE && c <= 229) {
      const v = c - ASCII_DIGITS_BASE;
      out.push(48 + Math.floor(v / 10), 48 + (v % 10));
    } else if (c === UPPER_SHIFT) upper = true;
    else if (c === FNC1 || c === READER_PROGRAMMING) {
      /* FNC1 (GS1) and reader programming carry no data bytes here */
    } else if (c === STRUCTURED_APPEND) i += 3;
    else if (c === MACRO_05 || c === MACRO_06) {
      const header = c === MACRO_05 ? '[)>\x1e05\x1d' : '[)>\x1e06\x1d';
      for (const ch of header) out.push(ch.charCodeAt(0));
    } else if (c === ECI) {
      const e = cw[i++] ?? 0;
      if (e >= 128) i += e >= 192 ? 2 : 1;
    } else if (c === LATCH_BASE256) {
      const d1 = unrandomise255(cw[i] ?? fail('Base 256 length missing'), i + 1);
      i++;
      let len: number;
      if (d1 === 0) len = cw.length - i;
      else if (d1 <= 249) len = d1;
      else {
        const d2 = unrandomise255(cw[i] ?? fail('Base 256 length missing'), i + 1);
        i++;
        len = (d1 - 249) * 250 + d2;
      }
      if (i + len > cw.length) fail('Base 256 field runs past the end of the symbol');
      for (let j = 0; j < len; j++) {
        out.push(unrandomise255(cw[i]!, i + 1));
        i++;
      }
    } else if (c === LATCH_C40 || c === LATCH_TEXT) {
      const text = c === LATCH_TEXT;
      let shift = 0;
      while (i + 1 < cw.length && cw[i] !== UNLATCH) {
        const v = cw[i]! * 256 + cw[i + 1]! - 1;
        i += 2;
        for (const u of [Math.floor(v / 1600), Math.floor((v % 1600) / 40), v % 40]) {
          if (shift === 0) {
            if (u <= 2) shift = u + 1;
            else if (u === 3) emit(32);
            else if (u <= 13) emit(48 + u - 4);
            else emit((text ? 97 : 65) + u - 14);
          } else if (shift === 1) {
            emit(u);
            shift = 0;
          } else if (shift === 2) {
            if (u < C40_SHIFT2.length) emit(C40_SHIFT2.charCodeAt(u));
            else if (u === 30) upper = true;
            shift = 0;
          } else {
            if (text) emit(u === 0 ? 96 : u <= 26 ? 64 + u : 96 + u); // ` A-Z { | } ~ DEL
            else emit(96 + u); // ` a-z { | } ~ DEL
            shift = 0;
          }
        }
      }
      if (cw[i] === UNLATCH) i++;
    } else if (c === LATCH_X12) {
      while (i + 1 < cw.length && cw[i] !== UNLATCH) {
        const v = cw[i]! * 256 + cw[i + 1]! - 1;
        i += 2;
        for (const u of [Math.floor(v / 1600), Math.floor((v % 1600) / 40), v % 40]) {
          if (u === 0) out.push(13);
          else if (u === 1) out.push(42);
          else if (u === 2) out.push(62);
          else if (u === 3) out.push(32);
          else if (u <= 13) out.push(48 + u - 4);
          else out.push(65 + u - 14);
        }
      }
      if (cw[i] === UNLATCH) i++;
    } else if (c === LATCH_EDIFACT) {
      let done = false;
      while (!done && i < cw.length) {
        const bytes = [cw[i] ?? 0, cw[i + 1] ?? 0, cw[i + 2] ?? 0];
        const n = Math.min(3, cw.length - i);
        i += n;
        const bits = (bytes[0]! << 16) | (bytes[1]! << 8) | bytes[2]!;
        for (let q = 0; q < 4; q++) {
          const v = (bits >> (18 - 6 * q)) & 0x3f;
          if (v === 0x1f) {
            done = true;
            i -= n - Math.ceil(((q + 1) * 6) / 8); // the rest of the triplet is unused
            break;
          }
          out.push(v >= 32 ? v : v + 64);
        }
      }
    } else fail(`codeword ${c} is not valid here`);
  }
  return Uint8Array.from(out);
}
