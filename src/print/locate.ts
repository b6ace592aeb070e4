/**
 * Finds and samples Data Matrix symbols in an upright bitmap (a rendered card face, a pdftoppm page, a flatbed
 * scan that is not rotated). Pure.
 *
 * Method (enough for print QC, not a phone-camera reader: no rotation, no perspective):
 *  1. binarise at a threshold (default: midway between the darkest and lightest percentile of the image);
 *  2. every vertical dark run of at least `minModules` modules is a candidate for the solid left side of the "L"
 *     finder; the dark run along its bottom row must be the solid bottom side;
 *  3. the top timing row (alternating) gives the number of columns, the right timing column the number of rows;
 *     the pair must be an ECC 200 size;
 *  4. modules are sampled at their centres (3x3 vote), the finder pattern is checked (at most 10% wrong) and the
 *     symbol is decoded (Reed-Solomon corrects the rest). The first candidate that decodes wins.
 */
import { type DecodedDataMatrix, DataMatrixError, decodeDataMatrix, finderErrors, sizeFor } from './datamatrix.ts';
import type { GreyImage } from './png.ts';

export interface LocatedSymbol extends DecodedDataMatrix {
  /** Bounding box in pixels (top-left origin). */
  box: { x: number; y: number; width: number; height: number };
  /** Module size in pixels. */
  moduleSize: number;
}

export interface LocateOptions {
  /** Dark/light threshold 0..255 (default: automatic). */
  threshold?: number;
  /** Smallest finder side, in pixels (default 20). */
  minSidePx?: number;
  /** Stop after this many decoded symbols (default 1). */
  max?: number;
  /**
   * Which decoded symbols count (default: all). A symbol refused is not returned and not counted towards `max`,
   * and its area is not searched again. With `max: 1` the search stops at the first symbol accepted: for an image
   * known to hold one symbol of interest (the crop of a template's seal area), the rest of the image is not scanned.
   */
  accept?: (symbol: DecodedDataMatrix) => boolean;
}

function autoThreshold(img: GreyImage): number {
  const hist = new Uint32Array(256);
  const data = img.data;
  const n = data.length;
  for (let i = 0; i < n; i++) hist[data[i]!]!++;
  let acc = 0;
  let lo = 0;
  let hi = 255;
  for (let v = 0; v < 256; v++) {
    acc += hist[v]!;
    if (acc >= n * 0.01) {
      lo = v;
      break;
    }
  }
  acc = 0;
  for (let v = 255; v >= 0; v--) {
    acc += hist[v]!;
    if (acc >= n * 0.01) {
      hi = v;
      break;
    }
  }
  return Math.max(40, Math.min(200, Math.round((lo + hi) / 2)));
}

/** Finds and decodes Data Matrix symbols. Returns them in the order found (top-left first). */
export function locateDataMatrix(img: GreyImage, opts: LocateOptions = {}): LocatedSymbol[] {
  const { width: W, height: H, data } = img;
  const t = opts.threshold ?? autoThreshold(img);
  // dark = below the threshold, read from the pixels where needed (no binarised copy of the image)
  const at = (x: number, y: number): number => (x < 0 || y < 0 || x >= W || y >= H ? 0 : data[y * W + x]! < t ? 1 : 0);
  const minSide = opts.minSidePx ?? 20;
  const max = opts.max ?? 1;
  const accept = opts.accept;
  const found: LocatedSymbol[] = [];
  /** Every symbol decoded, accepted or not: their areas are not searched again. */
  const decoded: LocatedSymbol[] = [];
  const tried = new Set<string>();
  const covered = (x: number, y: number): boolean => decoded.some((f) => x >= f.box.x - 2 && x <= f.box.x + f.box.width + 2 && y >= f.box.y - 2 && y <= f.box.y + f.box.height + 2);

  for (let x = 0; x < W && found.length < max; x++) {
    let y = 0;
    while (y < H) {
      if (!at(x, y)) {
        y++;
        continue;
      }
      const y0 = y;
      while (y < H && at(x, y)) y++;
      const y1 = y - 1; // inclusive bottom of the vertical run
      const len = y1 - y0 + 1;
      if (len < minSide || at(x - 1, (y0 + y1) >> 1) || covered(x, y0)) continue;
      // Bottom side: the dark run along row y1 (and a little above, for anti-aliased edges).
      let x1 = x;
      while (x1 + 1 < W && (at(x1 + 1, y1) || at(x1 + 1, y1 - 1))) x1++;
      const wlen = x1 - x + 1;
      if (wlen < minSide * 0.4) continue;
      const key = `${x},${y0},${y1},${x1}`;
      if (tried.has(key)) continue;
      tried.add(key);
      const sym = tryBox(x, y0, x1, y1);
      if (sym) {
        decoded.push(sym);
        if (!accept || accept(sym)) found.push(sym);
      }
    }
  }
  return found;

  /** The symbol whose left side spans y0..y1 at column x0 and whose bottom side ends at x1. */
  function tryBox(x0: number, y0: number, x1: number, y1: number): LocatedSymbol | undefined {
    const w = x1 - x0 + 1;
    const h = y1 - y0 + 1;
    // Count timing transitions a little inside the top edge and the right edge.
    const cols = countModules(x0, x1, (i) => at(i, y0 + Math.max(1, Math.round(h / 200))), true);
    const rows = countModules(y0, y1, (i) => at(x1 - Math.max(1, Math.round(w / 200)), i), false);
    const candidates: Array<[number, number]> = [];
    for (const dr of [0, -1, 1, -2, 2]) for (const dc of [0, -1, 1, -2, 2]) candidates.push([rows + dr, cols + dc]);
    const topY = y0 + Math.max(1, Math.round(h / 200));
    const rightX = x1 - Math.max(1, Math.round(w / 200));
    for (const [r, c] of candidates) {
      if (!sizeFor(r, c)) continue;
      const mw = w / c;
      const mh = h / r;
      // Module centres from the timing patterns (printers and rasterisers snap module edges to pixels, so a
      // uniform grid drifts); uniform spacing when the edges cannot be counted exactly.
      const xs = centres(x0, x1, c, (i) => at(i, topY)) ?? Array.from({ length: c }, (_, j) => x0 + (j + 0.5) * mw);
      const ys = centres(y0, y1, r, (i) => at(rightX, i)) ?? Array.from({ length: r }, (_, i) => y0 + (i + 0.5) * mh);
      const modules = new Uint8Array(r * c);
      const dx = Math.max(1, Math.floor(mw / 4));
      const dy = Math.max(1, Math.floor(mh / 4));
      for (let i = 0; i < r; i++) {
        for (let j = 0; j < c; j++) {
          const cx = xs[j]!;
          const cy = ys[i]!;
          let votes = 0;
          for (let ox = -dx; ox <= dx; ox += dx) for (let oy = -dy; oy <= dy; oy += dy) votes += at(Math.round(cx + ox), Math.round(cy + oy));
          modules[i * c + j] = votes >= 5 ? 1 : 0;
        }
      }
      if (finderErrors(r, c, modules) > 0.1 * 2 * (r + c)) continue;
      try {
        const d = decodeDataMatrix({ rows: r, cols: c, modules });
        return { ...d, box: { x: x0, y: y0, width: w, height: h }, moduleSize: (mw + mh) / 2 };
      } catch (e) {
        if (!(e instanceof DataMatrixError)) throw e;
      }
    }
    return undefined;
  }
}

/** Centres of `count` modules between pixel `from` and `to` (inclusive) from the edges of an alternating pattern. */
function centres(from: number, to: number, count: number, sample: (i: number) => number): number[] | undefined {
  const edges: number[] = [from - 0.5];
  let prev = sample(from);
  for (let i = from + 1; i <= to; i++) {
    const v = sample(i);
    if (v !== prev) edges.push(i - 0.5);
    prev = v;
  }
  edges.push(to + 0.5);
  if (edges.length !== count + 1) return undefined;
  return edges.slice(1).map((e, k) => (edges[k]! + e) / 2);
}

/**
 * Number of modules along a timing edge: the edge starts dark and alternates, so modules = 2 * dark segments
 * (the last module of a side is light on the top row and dark on the right column).
 */
function countModules(from: number, to: number, sample: (i: number) => number, top: boolean): number {
  let segments = 0;
  let prev = 0;
  for (let i = from; i <= to; i++) {
    const v = sample(i);
    if (v && !prev) segments++;
    prev = v;
  }
  return top ? segments * 2 : segments * 2;
}
