/**
 * The layout model: template + card data -> drawing operations in millimetres. Pure: fonts are measured through
 * the {@link TextMeasurer} port (the renderer implements it with the real font files), images are referred to by
 * role, the seal is encoded here (Data Matrix) from bytes signed elsewhere.
 *
 * A side is drawn in three layers: `under` (background, artwork and static text: the same on every card, built
 * once per document), the card's own operations, and `over` (artwork on top, e.g. lines across the portrait).
 *
 * Text fitting rules (`fitText`), applied to every field and static text, in this order:
 *  1. FIT: the text on one line at the preferred size fits the box width (and one line fits its height).
 *  2. SHRINK: otherwise the largest size from `size` down to `minSize` (steps of 0.25 pt) at which the text fits
 *     on one line.
 *  3. WRAP: otherwise, when `maxLines` > 1, the largest size from `size` down to `minSize` at which the text,
 *     broken at spaces and after hyphens, fits in at most `maxLines` lines whose total height
 *     (lines x lineHeight x size) fits the box height. A word is never split in this step.
 *  4. TRUNCATE: otherwise, at `minSize`, as many lines as fit (at most `maxLines`), words split where they must,
 *     and the last line cut and ended with "…". The result is flagged `truncated` (counted in the print job).
 * The chosen lines are measured again with the real font (kerning included) and the size lowered further if any
 * line would still be wider than the box: text never overflows its box.
 */
import { encodeDataMatrix } from './datamatrix.ts';
import {
  type CardTemplate,
  type ElementOf,
  type SideName,
  type TemplateElement,
  ID1_HEIGHT_MM,
  TD1_MRZ,
  TemplateError,
  placeholders,
  resolveColor,
} from './template.ts';

/** Points to millimetres. */
export const PT_MM = 25.4 / 72;

/** Font metrics in units of 1/1000 em. */
export interface FontMetrics {
  ascender: number;
  descender: number;
  capHeight: number;
}

/** How the layout measures text (implemented by the renderer with the template's fonts). */
export interface TextMeasurer {
  /** Advance width in millimetres of `text` at `sizePt` in font `font` (kerning as the renderer draws it). */
  width(font: string, sizePt: number, text: string): number;
  metrics(font: string): FontMetrics;
  /** Characters of `text` the font has no glyph for (empty when all are there). */
  missingGlyphs(font: string, text: string): string[];
}

export type PathCmd = ['M', number, number] | ['L', number, number] | ['C', number, number, number, number, number, number] | ['Z'];

export type DrawOp =
  | { op: 'rect'; x: number; y: number; w: number; h: number; r: number; fill?: string; stroke?: string; lineWidth: number; opacity: number }
  | { op: 'path'; d: PathCmd[]; fill?: string; stroke?: string; lineWidth: number; opacity: number; clip?: { x: number; y: number; w: number; h: number } }
  | { op: 'gradient'; x: number; y: number; w: number; h: number; from: string; to: string; direction: 'horizontal' | 'vertical'; opacity: number }
  | { op: 'text'; font: string; size: number; color: string; x: number; y: number; text: string; letterSpacing: number; opacity?: number }
  | { op: 'image'; role: 'photo'; x: number; y: number; w: number; h: number; opacity: number; radius: number }
  | { op: 'modules'; x: number; y: number; module: number; rows: number; cols: number; modules: Uint8Array; color: string; background: { x: number; y: number; w: number; h: number; color: string } };

/** The data printed on one card (VIZ values already as they should read; dates YYYY-MM-DD). */
export interface FaceData {
  cardId: number;
  documentNumber: string;
  nationalNumber: string;
  surname: string;
  givenNames: string;
  sex: 'M' | 'F' | 'X';
  dateOfBirth: string;
  placeOfBirth: string;
  county: string;
  dateOfIssue: string;
  dateOfExpiry: string;
  issuingState: string;
  collectionCentre: string;
  /** The three TD1 MRZ lines (the chip's DG1 MRZ). */
  mrz: readonly string[];
  /** The Visible Digital Seal bytes (signed). */
  seal?: Uint8Array;
  /** JPEG portrait. */
  photo: Uint8Array;
}

export type FitRule = 'fit' | 'shrink' | 'wrap' | 'truncate';

export interface FitResult {
  size: number;
  lines: string[];
  rule: FitRule;
  truncated: boolean;
}

export interface FitSpec {
  font: string;
  size: number;
  minSize?: number | undefined;
  maxLines: number;
  lineHeight: number;
  letterSpacing: number;
}

const STEP = 0.25;
const ELLIPSIS = '…';

function floorStep(v: number): number {
  return Math.floor(v / STEP + 1e-9) * STEP;
}

/** Tokens for wrapping: each ends after a space run or a hyphen. */
function tokens(text: string): string[] {
  return text.match(/[^\s-]*-|[^\s-]+\s*|\s+/g) ?? [];
}

/** Applies the fitting rules (see the module comment). Widths and heights in mm, sizes in pt. */
export function fitText(text: string, w: number, h: number, spec: FitSpec, m: TextMeasurer): FitResult {
  const minSize = Math.min(spec.minSize ?? spec.size, spec.size);
  const lsMm = spec.letterSpacing * PT_MM;
  const widthAt = (s: string, size: number): number => m.width(spec.font, size, s) + lsMm * s.length;
  const lineH = (size: number): number => size * spec.lineHeight * PT_MM;
  const clean = text.replace(/\s+/g, ' ').trim();
  if (clean === '') return { size: spec.size, lines: [], rule: 'fit', truncated: false };

  const verify = (r: FitResult): FitResult => {
    // Final guard with the real measurement (kerning, rounding): lower the size until every line fits.
    let size = r.size;
    while (size > 2 && r.lines.some((l) => widthAt(l, size) > w + 1e-6)) size -= STEP;
    return { ...r, size };
  };

  // 1 + 2: one line, largest size (from size down to minSize) that fits the width and the height.
  const w1 = m.width(spec.font, 1, clean);
  const byWidth = floorStep((w - lsMm * clean.length) / w1);
  const byHeight = floorStep(h / (spec.lineHeight * PT_MM));
  const single = Math.min(spec.size, byWidth, byHeight);
  if (single >= minSize - 1e-9) {
    return verify({ size: single, lines: [clean], rule: single >= spec.size ? 'fit' : 'shrink', truncated: false });
  }
  // 3: wrap at word boundaries.
  const toks = tokens(clean);
  const tokW1 = toks.map((t) => m.width(spec.font, 1, t));
  const tokW1Trim = toks.map((t, i) => (t.trimEnd().length === t.length ? tokW1[i]! : m.width(spec.font, 1, t.trimEnd())));
  if (spec.maxLines > 1) {
    for (let s = spec.size; s >= minSize - 1e-9; s -= STEP) {
      const limit = Math.min(spec.maxLines, Math.floor((h + 1e-6) / lineH(s)));
      if (limit < 2) continue;
      const lines = wrapWords(toks, tokW1, tokW1Trim, s, w, lsMm, limit);
      if (lines) return verify({ size: s, lines, rule: 'wrap', truncated: false });
    }
  }
  // 4: truncate at the minimum size.
  const s = minSize;
  const limit = Math.max(1, Math.min(spec.maxLines, Math.floor((h + 1e-6) / lineH(s))));
  const lines: string[] = [];
  let rest = clean;
  while (rest && lines.length < limit) {
    const last = lines.length === limit - 1;
    if (!last) {
      // Greedy: as many whole tokens as fit, else as many characters.
      const t = tokens(rest);
      let line = '';
      for (const tok of t) {
        if (widthAt((line + tok).trimEnd(), s) <= w) line += tok;
        else break;
      }
      if (!line) line = cutToWidth(rest, s, w, widthAt);
      lines.push(line.trimEnd());
      rest = rest.slice(line.length).trimStart();
    } else {
      if (widthAt(rest, s) <= w) lines.push(rest);
      else lines.push(cutToWidth(rest, s, w, (x, z) => widthAt(x + ELLIPSIS, z)).trimEnd() + ELLIPSIS);
      rest = '';
    }
  }
  return verify({ size: s, lines, rule: 'truncate', truncated: true });
}

function cutToWidth(text: string, size: number, w: number, widthAt: (s: string, size: number) => number): string {
  const chars = [...text];
  let lo = 0;
  let hi = chars.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (widthAt(chars.slice(0, mid).join(''), size) <= w) lo = mid;
    else hi = mid - 1;
  }
  return chars.slice(0, Math.max(lo, 0)).join('');
}

function wrapWords(toks: string[], tokW1: number[], tokW1Trim: number[], size: number, w: number, lsMm: number, limit: number): string[] | null {
  const lines: string[] = [];
  let line = '';
  let lineW = 0; // width of `line` including its trailing spaces
  let lineWTrim = 0; // width of `line` without its trailing spaces
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (!line && !t.trim()) continue;
    const tw = tokW1[i]! * size + lsMm * t.length;
    const twTrim = tokW1Trim[i]! * size + lsMm * t.trimEnd().length;
    if (line && lineW + twTrim > w) {
      lines.push(line.trimEnd());
      if (lines.length >= limit) return null;
      line = '';
      lineW = 0;
      lineWTrim = 0;
      if (!t.trim()) continue;
    }
    if (!line && twTrim > w) return null; // a word wider than the box: not in this step
    lineWTrim = lineW + twTrim;
    line += t;
    lineW += tw;
  }
  if (line.trim()) lines.push(line.trimEnd());
  void lineWTrim;
  return lines.length <= limit ? lines : null;
}

// ---------------------------------------------------------------------------------------------------------
// Values

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

/** Formats YYYY-MM-DD (or YYYY-MM / YYYY for partly unknown dates of birth) with DD, MM, MMM, YYYY tokens. */
export function formatDate(iso: string, format: string): string {
  const m = /^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$/.exec(iso);
  if (!m) return iso;
  const [, y, mo, d] = m;
  return format.replace(/YYYY|MMM|MM|DD/g, (tok) => {
    if (tok === 'YYYY') return y!;
    if (tok === 'MMM') return mo ? MONTHS[Number(mo) - 1]! : 'XXX';
    if (tok === 'MM') return mo ?? 'XX';
    return d ?? 'XX';
  });
}

/** The value of a placeholder for a card. */
export function bindingValue(t: CardTemplate, face: FaceData, name: string): string {
  switch (name) {
    case 'fullName':
      return face.givenNames ? `${face.surname}, ${face.givenNames}` : face.surname;
    case 'cardId':
      return String(face.cardId);
    case 'documentNumber':
    case 'nationalNumber':
    case 'surname':
    case 'givenNames':
    case 'sex':
    case 'dateOfBirth':
    case 'placeOfBirth':
    case 'county':
    case 'dateOfIssue':
    case 'dateOfExpiry':
    case 'issuingState':
    case 'collectionCentre':
      return face[name];
    default: {
      const c = t.constants[name];
      if (c === undefined) throw new TemplateError(`unknown placeholder {${name}}`, '');
      return c;
    }
  }
}

/** Fills a field's {placeholders}. */
export function bindValue(t: CardTemplate, value: string, face: FaceData): string {
  let out = value;
  for (const [name, filter] of placeholders(value)) {
    let v = bindingValue(t, face, name);
    if (filter === 'date') v = formatDate(v, t.dateFormat);
    else if (filter === 'upper') v = v.toLocaleUpperCase('en');
    out = out.replace(`{${name}${filter ? `|${filter}` : ''}}`, () => v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Text placement

export interface TextBlock {
  ops: DrawOp[];
  fit: FitResult;
}

type TextLike = ElementOf<'text'> | ElementOf<'field'>;

/** Fits and places text in an element's box. */
export function layoutText(t: CardTemplate, e: TextLike, text: string, m: TextMeasurer, path: string): TextBlock {
  const value = e.case === 'upper' ? text.toLocaleUpperCase('en') : text;
  const missing = m.missingGlyphs(e.font, value);
  if (missing.length) {
    throw new TemplateError(`font "${e.font}" has no glyph for ${missing.map((c) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`).join(', ')}`, path, { code: 'PRINT_GLYPH_MISSING' });
  }
  const fit = fitText(value, e.w, e.h, e, m);
  const color = resolveColor(t, e.color, `${path}.color`);
  const met = m.metrics(e.font);
  const lh = fit.size * e.lineHeight * PT_MM;
  const blockH = fit.lines.length * lh;
  const top = e.valign === 'top' ? e.y : e.valign === 'middle' ? e.y + (e.h - blockH) / 2 : e.y + e.h - blockH;
  // Baseline inside each line box: glyph extent (ascender - descender) centred in the line box.
  const ext = ((met.ascender - met.descender) / 1000) * fit.size * PT_MM;
  const baseOff = (lh - ext) / 2 + (met.ascender / 1000) * fit.size * PT_MM;
  const ops: DrawOp[] = fit.lines.map((line, i) => {
    const lw = m.width(e.font, fit.size, line) + e.letterSpacing * PT_MM * line.length;
    const x = e.align === 'left' ? e.x : e.align === 'center' ? e.x + (e.w - lw) / 2 : e.x + e.w - lw;
    return { op: 'text', font: e.font, size: fit.size, color, x, y: top + i * lh + baseOff, text: line, letterSpacing: e.letterSpacing };
  });
  return { ops, fit };
}

// ---------------------------------------------------------------------------------------------------------
// Artwork (procedural; deterministic)

function guillochePaths(e: ElementOf<'guilloche'>): PathCmd[] {
  const d: PathCmd[] = [];
  const samples = Math.max(48, Math.ceil(e.periods * 32));
  for (let i = 0; i < e.lines; i++) {
    const base = e.y + (e.h * (i + 0.5)) / e.lines;
    const ph = i * e.phaseStep;
    for (let k = 0; k <= samples; k++) {
      const u = k / samples;
      const x = e.x + u * e.w;
      const y = base + e.amplitude * Math.sin(2 * Math.PI * e.periods * u + ph) + e.amplitude * e.harmonic * Math.sin(2 * Math.PI * e.periods * 2.5 * u - 1.7 * ph);
      d.push([k === 0 ? 'M' : 'L', round(x), round(y)]);
    }
  }
  return d;
}

function rosettePaths(e: ElementOf<'rosette'>): PathCmd[] {
  const d: PathCmd[] = [];
  const samples = Math.max(120, e.petals * 16);
  const inner = e.r2 || e.r * 0.45;
  for (let c = 0; c < e.curves; c++) {
    const rot = (2 * Math.PI * c) / (e.curves * e.petals);
    for (let k = 0; k <= samples; k++) {
      const t = (2 * Math.PI * k) / samples;
      const r = inner + (e.r - inner) * (0.5 + 0.5 * Math.cos(e.petals * t));
      d.push([k === 0 ? 'M' : 'L', round(e.cx + r * Math.cos(t + rot)), round(e.cy + r * Math.sin(t + rot))]);
    }
    d.push(['Z']);
  }
  return d;
}

/** An abstract emblem (shield, two crossed spears, a ring) — synthetic artwork, not a state symbol. */
function emblemOps(t: CardTemplate, e: ElementOf<'emblem'>, path: string): DrawOp[] {
  const c = resolveColor(t, e.color, `${path}.color`);
  const a = e.accent ? resolveColor(t, e.accent, `${path}.accent`) : c;
  const s = e.size / 2;
  const { cx, cy } = e;
  const spear = (dir: 1 | -1): PathCmd[] => [
    ['M', cx - dir * s * 0.78, cy + s * 0.85],
    ['L', cx + dir * s * 0.62, cy - s * 0.72],
    ['M', cx + dir * s * 0.62, cy - s * 0.72],
    ['L', cx + dir * s * 0.78, cy - s * 0.95],
    ['L', cx + dir * s * 0.52, cy - s * 0.80],
    ['Z'],
  ];
  const shield: PathCmd[] = [
    ['M', cx, cy - s * 0.62],
    ['C', cx + s * 0.42, cy - s * 0.62, cx + s * 0.44, cy - s * 0.2, cx + s * 0.38, cy + s * 0.18],
    ['C', cx + s * 0.3, cy + s * 0.5, cx + s * 0.1, cy + s * 0.66, cx, cy + s * 0.72],
    ['C', cx - s * 0.1, cy + s * 0.66, cx - s * 0.3, cy + s * 0.5, cx - s * 0.38, cy + s * 0.18],
    ['C', cx - s * 0.44, cy - s * 0.2, cx - s * 0.42, cy - s * 0.62, cx, cy - s * 0.62],
    ['Z'],
  ];
  const ring: PathCmd[] = [];
  for (let k = 0; k <= 48; k++) {
    const th = (2 * Math.PI * k) / 48;
    ring.push([k === 0 ? 'M' : 'L', round(cx + s * 0.98 * Math.cos(th)), round(cy + s * 0.98 * Math.sin(th))]);
  }
  const band: PathCmd[] = [['M', cx - s * 0.4, cy - s * 0.05], ['L', cx + s * 0.4, cy - s * 0.05], ['L', cx + s * 0.4, cy + s * 0.12], ['L', cx - s * 0.4, cy + s * 0.12], ['Z']];
  return [
    { op: 'path', d: ring, stroke: c, lineWidth: s * 0.05, opacity: 1 },
    { op: 'path', d: [...spear(1), ...spear(-1)], stroke: c, fill: c, lineWidth: s * 0.07, opacity: 1 },
    { op: 'path', d: shield, fill: c, lineWidth: 0, opacity: 1 },
    { op: 'path', d: band, fill: a, lineWidth: 0, opacity: 1 },
  ];
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

/**
 * A cursive-looking signature derived from a seed (synthetic: the registry holds no signatures). The pen follows
 * a prolate cycloid (loops like joined handwriting) whose loop size, slant and rhythm come from the seed, then
 * an underline flourish.
 */
export function signaturePath(seed: string, x: number, y: number, w: number, h: number): PathCmd[] {
  let st = 2166136261;
  for (let i = 0; i < seed.length; i++) st = Math.imul(st ^ seed.charCodeAt(i), 16777619) >>> 0;
  const rnd = (): number => {
    st ^= st << 13;
    st >>>= 0;
    st ^= st >>> 17;
    st ^= st << 5;
    st >>>= 0;
    return st / 4294967296;
  };
  const letters = 7 + Math.floor(rnd() * 5);
  const slant = 0.25 + rnd() * 0.25;
  const d: PathCmd[] = [];
  const samples = letters * 10;
  const baseY = y + h * 0.62;
  let first = true;
  let gap = Math.floor(2 + rnd() * (letters - 3)); // one pen lift between two words
  for (let k = 0; k <= samples; k++) {
    const t = (k / samples) * letters * 2 * Math.PI;
    const letter = Math.floor(k / 10);
    const amp = h * (0.18 + 0.16 * Math.abs(Math.sin(letter * 1.7 + st % 7)) + (letter === 0 ? 0.18 : 0));
    const u = k / samples;
    const px = x + w * 0.04 + u * w * 0.84 - 0.55 * (w / letters / (2 * Math.PI)) * Math.sin(t) * 2.2;
    const py = baseY - amp * (1 - Math.cos(t)) * 0.5 - h * 0.08 * Math.sin(u * Math.PI);
    const sx = px + slant * (baseY - py);
    if (letter === gap && k % 10 === 0) {
      first = true;
      gap = -1;
      continue;
    }
    d.push([first ? 'M' : 'L', round(sx), round(py)]);
    first = false;
  }
  d.push(['M', round(x + w * 0.08), round(y + h * 0.9)], ['C', round(x + w * 0.35), round(y + h * 1.0), round(x + w * 0.7), round(y + h * 0.74), round(x + w * 0.96), round(y + h * 0.82)]);
  return d;
}

// ---------------------------------------------------------------------------------------------------------
// Sides

function isStatic(e: TemplateElement): boolean {
  return !['field', 'photo', 'ghost', 'signature', 'seal', 'mrz'].includes(e.type);
}

export interface StaticLayers {
  background?: string;
  under: DrawOp[];
  over: DrawOp[];
}

/** The layers that are the same on every card of a side (computed once per template and document). */
export function staticLayers(t: CardTemplate, side: SideName, m: TextMeasurer): StaticLayers {
  const under: DrawOp[] = [];
  const over: DrawOp[] = [];
  t[side].elements.forEach((e, i) => {
    if (!isStatic(e)) return;
    const path = `${side}.elements.${i}`;
    const target = 'layer' in e && e.layer === 'over' ? over : under;
    const col = (c: string, k: string): string => resolveColor(t, c, `${path}.${k}`);
    switch (e.type) {
      case 'rect':
        target.push({ op: 'rect', x: e.x, y: e.y, w: e.w, h: e.h, r: e.radius, ...(e.fill ? { fill: col(e.fill, 'fill') } : {}), ...(e.stroke ? { stroke: col(e.stroke, 'stroke') } : {}), lineWidth: e.strokeWidth, opacity: e.opacity });
        break;
      case 'line':
        target.push({ op: 'path', d: [['M', e.x1, e.y1], ['L', e.x2, e.y2]], stroke: col(e.stroke, 'stroke'), lineWidth: e.strokeWidth, opacity: e.opacity });
        break;
      case 'gradient':
        target.push({ op: 'gradient', x: e.x, y: e.y, w: e.w, h: e.h, from: col(e.from, 'from'), to: col(e.to, 'to'), direction: e.direction, opacity: e.opacity });
        break;
      case 'guilloche':
        target.push({ op: 'path', d: guillochePaths(e), stroke: col(e.color, 'color'), lineWidth: e.strokeWidth, opacity: e.opacity, clip: { x: e.x, y: e.y, w: e.w, h: e.h } });
        break;
      case 'rosette':
        target.push({ op: 'path', d: rosettePaths(e), stroke: col(e.color, 'color'), lineWidth: e.strokeWidth, opacity: e.opacity });
        break;
      case 'emblem':
        target.push(...emblemOps(t, e, path));
        break;
      case 'microtext': {
        const unit = `${e.text} `;
        let s = unit;
        while (m.width(e.font, e.size, s + unit) <= e.w) s += unit;
        s = cutToWidth(s + unit, e.size, e.w, (x, z) => m.width(e.font, z, x));
        target.push({ op: 'text', font: e.font, size: e.size, color: col(e.color, 'color'), x: e.x, y: e.y, text: s.trimEnd(), letterSpacing: 0, opacity: e.opacity });
        break;
      }
      case 'text':
        target.push(...layoutText(t, e, e.text, m, path).ops);
        break;
    }
  });
  return { ...(t[side].background ? { background: resolveColor(t, t[side].background!, `${side}.background`) } : {}), under, over };
}

export interface CardSideLayout {
  ops: DrawOp[];
  /** Fitting outcome of every field (for QC and the job statistics). */
  fits: Array<{ path: string; rule: FitRule; size: number; lines: number; truncated: boolean }>;
}

/** MRZ geometry for a template element: font size, baselines and the pitch, in mm / pt. */
export function mrzGeometry(e: ElementOf<'mrz'>, m: TextMeasurer): { size: number; baselines: number[]; letterSpacing: number } {
  const adv1 = m.width(e.font, 1, 'A'); // mm per pt of one OCR-B advance (the font is monospaced)
  const size = TD1_MRZ.pitchMm / adv1;
  const cap = (m.metrics(e.font).capHeight / 1000) * size * PT_MM;
  const centres = [e.middleLineFromBottom + e.lineSpacing, e.middleLineFromBottom, e.middleLineFromBottom - e.lineSpacing];
  return { size, baselines: centres.map((c) => ID1_HEIGHT_MM - c + cap / 2), letterSpacing: 0 };
}

/** The per-card operations of one side. */
export function cardSide(t: CardTemplate, side: SideName, face: FaceData, m: TextMeasurer): CardSideLayout {
  const ops: DrawOp[] = [];
  const fits: CardSideLayout['fits'] = [];
  t[side].elements.forEach((e, i) => {
    if (isStatic(e)) return;
    const path = `${side}.elements.${i}`;
    switch (e.type) {
      case 'field': {
        const b = layoutText(t, e, bindValue(t, e.value, face), m, path);
        ops.push(...b.ops);
        fits.push({ path, rule: b.fit.rule, size: b.fit.size, lines: b.fit.lines.length, truncated: b.fit.truncated });
        break;
      }
      case 'photo':
        ops.push({ op: 'image', role: 'photo', x: e.x, y: e.y, w: e.w, h: e.h, opacity: e.opacity, radius: e.radius });
        break;
      case 'ghost':
        ops.push({ op: 'image', role: 'photo', x: e.x, y: e.y, w: e.w, h: e.h, opacity: e.opacity, radius: 0 });
        break;
      case 'signature':
        ops.push({ op: 'path', d: signaturePath(`${face.surname}|${face.givenNames}|${face.nationalNumber}`, e.x, e.y, e.w, e.h), stroke: resolveColor(t, e.color, `${path}.color`), lineWidth: e.strokeWidth, opacity: 1 });
        break;
      case 'seal': {
        if (!face.seal) throw new TemplateError('the card has no signed seal to print', path, { code: 'PRINT_SEAL_MISSING', cardId: face.cardId });
        const dm = encodeDataMatrix(face.seal);
        const module = e.size / (dm.cols + 2 * e.quietZone);
        ops.push({
          op: 'modules',
          x: e.x + e.quietZone * module,
          y: e.y + e.quietZone * module,
          module,
          rows: dm.rows,
          cols: dm.cols,
          modules: dm.modules,
          color: resolveColor(t, e.color, `${path}.color`),
          background: { x: e.x, y: e.y, w: e.size, h: e.size, color: resolveColor(t, e.background, `${path}.background`) },
        });
        break;
      }
      case 'mrz': {
        if (face.mrz.length !== 3 || face.mrz.some((l) => !/^[A-Z0-9<]{30}$/.test(l))) {
          throw new TemplateError('the MRZ must be 3 lines of 30 characters A-Z 0-9 <', path, { code: 'PRINT_MRZ_INVALID', cardId: face.cardId });
        }
        const g = mrzGeometry(e, m);
        const color = resolveColor(t, e.color, `${path}.color`);
        if (e.background) {
          ops.push({ op: 'rect', x: 0, y: ID1_HEIGHT_MM - TD1_MRZ.zoneHeightMm, w: 85.6, h: TD1_MRZ.zoneHeightMm, r: 0, fill: resolveColor(t, e.background, `${path}.background`), lineWidth: 0, opacity: 1 });
        }
        face.mrz.forEach((line, k) => ops.push({ op: 'text', font: e.font, size: g.size, color, x: e.x, y: g.baselines[k]!, text: line, letterSpacing: g.letterSpacing }));
        break;
      }
    }
  });
  return { ops, fits };
}
