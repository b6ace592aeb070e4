/**
 * Procedural portrait photos for the synthetic registry: real baseline JPEGs that look enough like an ICAO
 * portrait to exercise DG2 building, card-face printing and size limits. Portraits are encoded by the
 * table-caching encoder in ./jpeg.ts (jpeg-js `encode` rebuilds its tables on every call, ~13 ms); the
 * oversized defect photos are encoded by jpeg-js itself.
 *
 * Geometry follows the ISO/IEC 19794-5 "token frontal image": width W = 240 px, height = W / 0.75 = 320 px,
 * eyes on a horizontal line 0.6·W = 144 px from the top, eye centres 0.25·W = 60 px apart, face centred.
 * Plain light background, head and shoulders as shaded ellipses, skin tone, hair style and colour, eyes,
 * brows, nose, mouth, ears, clothing colour, optional glasses or headscarf, and a fine luminance grain (imitating
 * sensor noise; it also puts the file in the 8–20 KB range of a typical DG2 — measured 8.4–12 KB at quality 70).
 * Every parameter is drawn from the caller's `Rng`, so the same person always gets the same photo.
 *
 * Rendering is span based (each ellipse is intersected with a row once, then filled), into one reused RGBA
 * buffer.
 */
import jpeg from 'jpeg-js';
import type { Rng } from '../shared/index.ts';
import { encodeJpeg } from './jpeg.ts';

/** Portrait width in pixels (ISO/IEC 19794-5 token image). */
export const PHOTO_WIDTH = 240;
/** Portrait height in pixels (width / 0.75). */
export const PHOTO_HEIGHT = 320;
/** JPEG quality used for registry portraits (jpeg-js scale 1–100). */
export const PHOTO_QUALITY = 70;

/**
 * Largest portrait Kadi accepts, in bytes: 40 KiB (40 960 bytes).
 *
 * The photo becomes DG2 on the chip. Typical e-ID chips have 80–144 KB of EEPROM for the whole eID/eMRTD
 * application, which must also hold DG1, DG3 (fingerprints, ~2×10 KB), DG11–DG15, EF.SOD with the Document
 * Signer certificate (~2–3 KB), keys, and file-system overhead. Issued documents commonly carry DG2 face
 * images of 15–20 KB; 40 KiB leaves room for an unusually detailed photo while keeping the whole LDS
 * within an 80 KB chip. Larger photos must be re-compressed at the enrolment site, not truncated here.
 */
export const MAX_PHOTO_BYTES = 40 * 1024;

type Rgb = readonly [number, number, number];

const SKIN_TONES: readonly Rgb[] = [
  [66, 42, 30], [78, 50, 34], [92, 60, 40], [104, 68, 44], [118, 78, 52], [132, 90, 60],
  [146, 102, 70], [160, 116, 84], [176, 132, 98], [196, 152, 118], [214, 172, 140], [230, 192, 164],
];
/** Darker tones are far more common in a Kenyan roll-out; indices into SKIN_TONES with repetition as weight. */
const SKIN_WEIGHTED = [0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 6, 6, 7, 8, 9, 10, 11];
const HAIR_COLOURS: readonly Rgb[] = [
  [18, 16, 16], [24, 20, 18], [30, 24, 20], [40, 30, 24], [56, 40, 28], [90, 62, 38], [150, 112, 64],
  [196, 160, 100], [120, 116, 112], [170, 168, 164], [206, 204, 200],
];
const CLOTHES: readonly Rgb[] = [
  [30, 40, 80], [20, 20, 24], [120, 24, 30], [200, 200, 205], [40, 90, 60], [90, 60, 120], [180, 120, 40],
  [60, 110, 170], [150, 150, 155], [230, 230, 232], [200, 90, 40], [20, 110, 110], [90, 40, 40], [70, 70, 60],
];
const BACKGROUNDS: readonly Rgb[] = [
  [236, 238, 240], [228, 232, 238], [240, 240, 236], [226, 230, 234], [232, 236, 242], [242, 242, 242],
];

/** Luminance grain table, shared by every photo; a per-person offset and stride make each grain distinct. */
const NOISE_SIZE = 1 << 16;
const NOISE = new Int8Array(NOISE_SIZE);
(() => {
  let s = 0x2545f491;
  for (let i = 0; i < NOISE_SIZE; i++) {
    // sum of three uniforms ~ gaussian-ish in [-12, 12]
    let v = 0;
    for (let k = 0; k < 3; k++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      v += ((s >>> 0) % 9) - 4;
    }
    NOISE[i] = v;
  }
})();

/** One reused RGBA canvas (jpeg-js reads RGBA). Encoding is synchronous, so reuse is safe. */
const CANVAS = new Uint8Array(PHOTO_WIDTH * PHOTO_HEIGHT * 4);

/** Everything that varies between two people's portraits. */
export interface PortraitParams {
  background: Rgb;
  skin: Rgb;
  hair: Rgb;
  clothes: Rgb;
  /** 'short' close crop, 'long' hair down to the shoulders, 'scarf' headscarf, 'bald'. */
  hairStyle: 'short' | 'long' | 'scarf' | 'bald';
  glasses: boolean;
  headRx: number;
  headRy: number;
  headCy: number;
  faceShift: number;
  shoulderRx: number;
  eyeGap: number;
  eyeSize: number;
  mouthWidth: number;
  mouthY: number;
  hairVolume: number;
  grainOffset: number;
  grainStride: number;
  grainAmp: number;
}

export interface PortraitOptions {
  /** Age in years (grey hair becomes likelier with age). Default 35. */
  age?: number;
  /** Sex marker; only shifts the hair-style odds. */
  sex?: string;
  /** JPEG quality 1–100. Default PHOTO_QUALITY (70). */
  quality?: number;
}

/** Draws a person's portrait parameters from `rng`. */
export function portraitParams(rng: Rng, opts: PortraitOptions = {}): PortraitParams {
  const age = opts.age ?? 35;
  const female = opts.sex === 'F';
  const skin = SKIN_TONES[rng.pick(SKIN_WEIGHTED)]!;
  let hair = HAIR_COLOURS[rng.int(0, 5)]!;
  if (skin[0] > 190 && rng.chance(0.5)) hair = HAIR_COLOURS[rng.int(4, 7)]!;
  if (age > 50 && rng.chance((age - 45) / 60)) hair = HAIR_COLOURS[rng.int(8, 10)]!;
  const r = rng.next();
  const hairStyle: PortraitParams['hairStyle'] = female
    ? r < 0.12 ? 'scarf' : r < 0.55 ? 'long' : 'short'
    : r < 0.1 ? 'bald' : r < 0.97 ? 'short' : 'long';
  const jitter = (c: Rgb, d: number): Rgb => [
    clamp(c[0] + rng.int(-d, d)), clamp(c[1] + rng.int(-d, d)), clamp(c[2] + rng.int(-d, d)),
  ];
  return {
    background: jitter(rng.pick(BACKGROUNDS), 4),
    skin: jitter(skin, 6),
    hair: jitter(hair, 5),
    clothes: jitter(rng.pick(CLOTHES), 18),
    hairStyle,
    glasses: rng.chance(0.12),
    headRx: rng.int(54, 68),
    headRy: rng.int(76, 90),
    headCy: rng.int(146, 156),
    faceShift: rng.int(-4, 4),
    shoulderRx: rng.int(112, 140),
    eyeGap: rng.int(27, 33),
    eyeSize: rng.int(6, 8),
    mouthWidth: rng.int(15, 24),
    mouthY: rng.int(198, 210),
    hairVolume: rng.int(4, 16),
    grainOffset: rng.int(0, NOISE_SIZE - 1),
    grainStride: rng.pick([1, 3, 5, 7, 9, 11, 13]),
    grainAmp: rng.int(7, 10),
  };
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v | 0;
}

/**
 * Fills the part of row `y` inside the ellipse (cx, cy, rx, ry) with `c`, optionally shaded: brightness
 * falls from 1 at the centre to 1 - shade at the rim (a cheap sphere lighting), and skipping the part inside
 * `hole` (an ellipse the fill must not cover).
 */
function ellipseRow(
  y: number, cx: number, cy: number, rx: number, ry: number, c: Rgb, shade = 0,
  hole?: { cx: number; cy: number; rx: number; ry: number },
): void {
  const dy = (y + 0.5 - cy) / ry;
  const dy2 = dy * dy;
  if (dy2 >= 1) return;
  const half = rx * Math.sqrt(1 - dy2);
  let x0 = Math.max(0, Math.ceil(cx - half - 0.5));
  const x1 = Math.min(PHOTO_WIDTH - 1, Math.floor(cx + half - 0.5));
  let hx0 = 1, hx1 = 0;
  if (hole) {
    const hdy = (y + 0.5 - hole.cy) / hole.ry;
    if (hdy * hdy < 1) {
      const hh = hole.rx * Math.sqrt(1 - hdy * hdy);
      hx0 = Math.ceil(hole.cx - hh - 0.5);
      hx1 = Math.floor(hole.cx + hh - 0.5);
    }
  }
  const [r, g, b] = c;
  let p = (y * PHOTO_WIDTH + x0) * 4;
  const inv = 1 / (rx * rx);
  for (; x0 <= x1; x0++, p += 4) {
    if (x0 >= hx0 && x0 <= hx1) continue;
    if (shade === 0) {
      CANVAS[p] = r;
      CANVAS[p + 1] = g;
      CANVAS[p + 2] = b;
    } else {
      const dx = x0 + 0.5 - cx;
      const k = 1 - shade * (dx * dx * inv + dy2);
      CANVAS[p] = r * k;
      CANVAS[p + 1] = g * k;
      CANVAS[p + 2] = b * k;
    }
  }
}

/** Renders `pp` into the shared canvas (RGBA). */
function render(pp: PortraitParams): void {
  const W = PHOTO_WIDTH, H = PHOTO_HEIGHT;
  const cx = W / 2 + pp.faceShift;
  const { headRx, headRy, headCy } = pp;
  const eyeY = headCy - 6;
  const skinDark: Rgb = [pp.skin[0] * 0.8, pp.skin[1] * 0.78, pp.skin[2] * 0.78];
  const lip: Rgb = [clamp(pp.skin[0] * 0.75 + 30), clamp(pp.skin[1] * 0.55), clamp(pp.skin[2] * 0.55)];
  const white: Rgb = [235, 232, 228];
  const iris: Rgb = [40, 28, 20];
  const frame: Rgb = [28, 28, 30];
  const scarf: Rgb = pp.clothes;
  const hairTop = headCy - headRy - pp.hairVolume;
  const faceHole = { cx, cy: headCy + 6, rx: headRx - 6, ry: headRy - 8 };
  for (let y = 0; y < H; y++) {
    // background: gentle vertical gradient
    const t = 1 - (y / H) * 0.08;
    const br = pp.background[0] * t, bg = pp.background[1] * t, bb = pp.background[2] * t;
    let p = y * W * 4;
    for (let x = 0; x < W; x++, p += 4) {
      CANVAS[p] = br;
      CANVAS[p + 1] = bg;
      CANVAS[p + 2] = bb;
      CANVAS[p + 3] = 255;
    }
    if (pp.hairStyle === 'long') {
      ellipseRow(y, cx, headCy + 30, headRx + pp.hairVolume + 8, headRy + 60, pp.hair, 0.25);
    } else if (pp.hairStyle === 'scarf') {
      ellipseRow(y, cx, headCy + 40, headRx + 26, headRy + 70, scarf, 0.3);
    }
    // neck, then shoulders and clothing with a round neckline
    const neckCy = headCy + headRy + 10;
    if (pp.hairStyle !== 'scarf') ellipseRow(y, cx, neckCy + 50, headRx * 0.5, 110, skinDark, 0.15);
    ellipseRow(y, W / 2, H + 40, pp.shoulderRx, 140, pp.clothes, 0.35,
      pp.hairStyle === 'scarf' ? undefined : { cx, cy: neckCy + 6, rx: headRx * 0.42, ry: 30 });
    // ears
    if (pp.hairStyle !== 'scarf' && pp.hairStyle !== 'long') {
      ellipseRow(y, cx - headRx + 2, eyeY + 14, 9, 17, skinDark, 0.2);
      ellipseRow(y, cx + headRx - 2, eyeY + 14, 9, 17, skinDark, 0.2);
    }
    // hair mass behind the face top
    if (pp.hairStyle === 'short' || pp.hairStyle === 'long') {
      if (y < headCy - headRy * 0.2) {
        ellipseRow(y, cx, headCy - 12, headRx + pp.hairVolume * 0.6, headRy + pp.hairVolume - 8, pp.hair, 0.2);
      }
    }
    // head
    if (pp.hairStyle === 'scarf') ellipseRow(y, cx, headCy + 6, headRx - 6, headRy - 8, pp.skin, 0.35);
    else ellipseRow(y, cx, headCy, headRx, headRy, pp.skin, 0.35);
    // hair cap over the forehead (hairline dips at the temples)
    if ((pp.hairStyle === 'short' || pp.hairStyle === 'long') && y >= hairTop && y < headCy - headRy * 0.45) {
      ellipseRow(y, cx, headCy - 6, headRx + 2, headRy + 2, pp.hair, 0.15, {
        cx, cy: headCy + headRy * 0.35, rx: headRx * 0.85, ry: headRy * 0.95,
      });
    }
    if (pp.hairStyle === 'scarf' && y < headCy) {
      // scarf band across the top of the face
      ellipseRow(y, cx, headCy - 24, headRx + 6, headRy - 20, scarf, 0.2, faceHole);
    }
    // brows
    ellipseRow(y, cx - pp.eyeGap, eyeY - 13, 13, 3, pp.hair);
    ellipseRow(y, cx + pp.eyeGap, eyeY - 13, 13, 3, pp.hair);
    // eyes
    ellipseRow(y, cx - pp.eyeGap, eyeY, pp.eyeSize + 5, pp.eyeSize * 0.6, white);
    ellipseRow(y, cx + pp.eyeGap, eyeY, pp.eyeSize + 5, pp.eyeSize * 0.6, white);
    ellipseRow(y, cx - pp.eyeGap, eyeY, pp.eyeSize * 0.6, pp.eyeSize * 0.6, iris);
    ellipseRow(y, cx + pp.eyeGap, eyeY, pp.eyeSize * 0.6, pp.eyeSize * 0.6, iris);
    if (pp.glasses) {
      const ring = (ex: number): void => {
        ellipseRow(y, ex, eyeY, 20, 14, frame, 0, { cx: ex, cy: eyeY, rx: 17, ry: 11 });
      };
      ring(cx - pp.eyeGap);
      ring(cx + pp.eyeGap);
      ellipseRow(y, cx, eyeY - 2, 10, 2, frame);
    }
    // nose and mouth
    ellipseRow(y, cx, eyeY + 30, 8, 18, skinDark, 0.1);
    ellipseRow(y, cx, pp.mouthY, pp.mouthWidth, 5, lip, 0.2);
  }
  // grain (luminance only, so chroma stays cheap to encode)
  const amp = pp.grainAmp;
  let n = pp.grainOffset;
  const stride = pp.grainStride;
  const mask = NOISE_SIZE - 1;
  for (let p = 0; p < CANVAS.length; p += 4) {
    const d = (NOISE[n]! * amp) >> 3;
    n = (n + stride) & mask;
    CANVAS[p] = clamp(CANVAS[p]! + d);
    CANVAS[p + 1] = clamp(CANVAS[p + 1]! + d);
    CANVAS[p + 2] = clamp(CANVAS[p + 2]! + d);
  }
}

/** Encodes the shared canvas as a baseline JPEG. */
function encodeCanvas(quality: number): Buffer {
  return encodeJpeg(CANVAS, PHOTO_WIDTH, PHOTO_HEIGHT, quality);
}

/**
 * A person's portrait: a 240×320 baseline JPEG, typically 8–20 KB at quality 70, always under
 * MAX_PHOTO_BYTES. Deterministic in `rng`.
 */
export function generatePhoto(rng: Rng, opts: PortraitOptions = {}): Buffer {
  render(portraitParams(rng, opts));
  return encodeCanvas(opts.quality ?? PHOTO_QUALITY);
}

/** Renders a portrait from explicit parameters (for tests and tools). */
export function renderPortrait(pp: PortraitParams, quality = PHOTO_QUALITY): Buffer {
  render(pp);
  return encodeCanvas(quality);
}

/**
 * A genuinely valid baseline JPEG that is too large for a chip: the person's portrait at twice the size
 * (480×640) with colour sensor noise, encoded by jpeg-js at quality 90 — typically 80–110 KB, two to three
 * times MAX_PHOTO_BYTES, the kind of file an enrolment camera writes when nobody re-compresses it.
 * Always larger than MAX_PHOTO_BYTES (quality is raised until it is).
 */
export function generateOversizedPhoto(rng: Rng): Buffer {
  const W = PHOTO_WIDTH * 2, H = PHOTO_HEIGHT * 2;
  render(portraitParams(rng));
  const big = new Uint8Array(W * H * 4);
  let s = (rng.int(1, 0x7fffffff) | 1) >>> 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const src = ((y >> 1) * PHOTO_WIDTH + (x >> 1)) * 4;
      const dst = (y * W + x) * 4;
      for (let c = 0; c < 3; c++) {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        big[dst + c] = clamp(CANVAS[src + c]! + (((s >>> 0) & 15) - 8));
      }
      big[dst + 3] = 255;
    }
  }
  for (let q = 90; ; q += 5) {
    const out = jpeg.encode({ width: W, height: H, data: big }, q).data;
    if (out.length > MAX_PHOTO_BYTES || q >= 100) return out;
  }
}
