/**
 * Card-face templates: a JSON layout for the front and back of an ISO/IEC 7810 ID-1 card, validated on load.
 * Pure (the caller reads the file and passes the parsed JSON; font files are resolved by the renderer).
 *
 * Units: positions and sizes in millimetres from the card's top-left corner (y grows downwards); font sizes in
 * points; stroke widths in millimetres; opacity 0..1; colours `#rrggbb` or a name from `colors`.
 *
 * ```jsonc
 * {
 *   "format": "kadi-card-template", "version": 1, "id": "kenya-eid", "name": "...",
 *   "issuingState": "KEN",               // ICAO code printed in the MRZ and the seal
 *   "documentCode": "ID",                 // MRZ document code (TD1: A, C or I + 1 character)
 *   "dateFormat": "DD.MM.YYYY",           // tokens DD, MM, MMM (JAN..DEC), YYYY
 *   "fonts":  { "sans": "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf", ... },
 *   "colors": { "ink": "#1b1b1b", ... },
 *   "constants": { "nationality": "KENYAN" },   // extra {placeholders}
 *   "front": { "background": "#f6f1e4", "elements": [ ... ] },
 *   "back":  { "background": "#eef3ee", "elements": [ ... ] }
 * }
 * ```
 * Elements (`type`): static artwork `rect`, `line`, `gradient`, `guilloche`, `rosette`, `microtext`, `emblem`,
 * static `text`; per-card `field` (text with {placeholders}), `photo`, `ghost` (a faint second portrait),
 * `signature`, `seal` (the Visible Digital Seal as a Data Matrix) and `mrz` (three OCR-B lines, placed per
 * ICAO 9303-5 unless overridden within the tolerances). Artwork and static text may say `"layer": "over"` to be
 * drawn on top of the per-card content (e.g. a guilloche over the portrait's edge).
 *
 * Text fitting (field and text elements) — see layout.ts `fitText`.
 */
import { z } from 'zod';
import { ValidationError } from '../shared/index.ts';

/** ISO/IEC 7810 ID-1 nominal size, millimetres. */
export const ID1_WIDTH_MM = 85.6;
export const ID1_HEIGHT_MM = 53.98;

/**
 * ICAO Doc 9303-5 (8th ed.) Figure 6, TD1 machine readable zone:
 *  - first character's left edge 5.0 ± 1.0 mm from the left edge;
 *  - reference centre lines 4.23 mm (1/6 in) apart, the middle one 11.5 ± 1.0 mm from the bottom edge
 *    (so line 1 at 15.73 mm and line 3 at 7.27 mm);
 *  - each line's printing zone 2.95 mm high; the zone (Zone VII) 23.3 ± 1.0 mm high, 77.7 mm wide;
 * Doc 9303-3 §4.4: OCR-B size 1, fixed pitch 2.54 mm (10 characters per inch).
 */
export const TD1_MRZ = {
  leftMm: 5.0,
  leftToleranceMm: 1.0,
  lineSpacingMm: 4.23,
  middleLineFromBottomMm: 11.5,
  middleLineToleranceMm: 1.0,
  printingZoneHeightMm: 2.95,
  zoneHeightMm: 23.3,
  pitchMm: 2.54,
  charactersPerLine: 30,
} as const;

export const BINDABLE_FIELDS = [
  'documentNumber', 'nationalNumber', 'surname', 'givenNames', 'fullName', 'sex', 'dateOfBirth', 'placeOfBirth',
  'county', 'dateOfIssue', 'dateOfExpiry', 'issuingState', 'collectionCentre', 'cardId',
] as const;
export type BindableField = (typeof BINDABLE_FIELDS)[number];

const num = z.number().finite();
const mm = num.min(-10).max(200);
const pos = num.min(0).max(200);
const color = z.string().min(1).max(40);
const fontId = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/);
const opacity = num.min(0).max(1);
const layer = z.enum(['under', 'over']).default('under');
const align = z.enum(['left', 'center', 'right']).default('left');
const valign = z.enum(['top', 'middle', 'bottom']).default('top');

const box = { x: mm, y: mm, w: pos, h: pos };

const textStyle = {
  font: fontId,
  /** Preferred size, points. */
  size: num.min(2).max(72),
  /** Smallest size the fitter may shrink to, points (default: size, i.e. no shrinking). */
  minSize: num.min(2).max(72).optional(),
  /** Lines the fitter may wrap to (default 1). */
  maxLines: z.number().int().min(1).max(6).default(1),
  /** Line height as a multiple of the size (default 1.15). */
  lineHeight: num.min(0.8).max(3).default(1.15),
  /** Extra space between characters, points (default 0). */
  letterSpacing: num.min(-2).max(10).default(0),
  align,
  valign,
  color: color.default('#000000'),
  /** Case transformation applied before fitting. */
  case: z.enum(['asis', 'upper']).default('asis'),
};

const rect = z.object({ type: z.literal('rect'), ...box, fill: color.optional(), stroke: color.optional(), strokeWidth: num.min(0).max(5).default(0.2), radius: num.min(0).max(20).default(0), opacity: opacity.default(1), layer });
const line = z.object({ type: z.literal('line'), x1: mm, y1: mm, x2: mm, y2: mm, stroke: color, strokeWidth: num.min(0.01).max(5).default(0.2), opacity: opacity.default(1), layer });
const gradient = z.object({ type: z.literal('gradient'), ...box, from: color, to: color, direction: z.enum(['horizontal', 'vertical']).default('horizontal'), opacity: opacity.default(1), layer });
const guilloche = z.object({
  type: z.literal('guilloche'),
  ...box,
  /** Number of wave lines across the box. */
  lines: z.number().int().min(1).max(200).default(24),
  /** Wave amplitude, mm. */
  amplitude: num.min(0).max(30).default(2),
  /** Full sine periods across the width. */
  periods: num.min(0.25).max(60).default(3),
  /** Second harmonic strength 0..1 (makes the interlaced guilloche look). */
  harmonic: num.min(0).max(1).default(0.35),
  /** Phase shift between successive lines, radians. */
  phaseStep: num.min(0).max(7).default(0.26),
  color,
  strokeWidth: num.min(0.01).max(1).default(0.08),
  opacity: opacity.default(1),
  layer,
});
const rosette = z.object({
  type: z.literal('rosette'),
  cx: mm,
  cy: mm,
  /** Outer radius, mm. */
  r: pos.max(60),
  /** Inner radius, mm. */
  r2: pos.max(60).default(0),
  /** Petals (lobes) of each curve. */
  petals: z.number().int().min(3).max(120).default(18),
  /** Rotated copies of the curve. */
  curves: z.number().int().min(1).max(120).default(24),
  color,
  strokeWidth: num.min(0.01).max(1).default(0.06),
  opacity: opacity.default(1),
  layer,
});
const microtext = z.object({ type: z.literal('microtext'), text: z.string().min(1).max(200), x: mm, y: mm, w: pos, font: fontId, size: num.min(0.5).max(3).default(1.2), color, opacity: opacity.default(1), layer });
const emblem = z.object({ type: z.literal('emblem'), cx: mm, cy: mm, size: pos.max(40), color, accent: color.optional(), layer });
const text = z.object({ type: z.literal('text'), text: z.string().min(1).max(500), ...box, ...textStyle, layer });
const field = z.object({
  type: z.literal('field'),
  /** Text with {placeholders} (see BINDABLE_FIELDS and the template's constants); `{x|date}` formats a date, `{x|upper}` upper-cases. */
  value: z.string().min(1).max(300),
  ...box,
  ...textStyle,
});
const photo = z.object({ type: z.literal('photo'), ...box, opacity: opacity.default(1), radius: num.min(0).max(10).default(0) });
const ghost = z.object({ type: z.literal('ghost'), ...box, opacity: opacity.default(0.3) });
const signature = z.object({ type: z.literal('signature'), ...box, color: color.default('#10206a'), strokeWidth: num.min(0.05).max(1).default(0.28) });
const seal = z.object({
  type: z.literal('seal'),
  x: mm,
  y: mm,
  /** Side of the square the symbol (with its quiet zone) is fitted into, mm. */
  size: pos.max(50),
  /** Quiet zone in modules (ISO/IEC 16022 asks for 1; default 2). */
  quietZone: z.number().int().min(1).max(10).default(2),
  background: color.default('#ffffff'),
  color: color.default('#000000'),
});
const mrz = z.object({
  type: z.literal('mrz'),
  /** Left edge of the first character, mm (ICAO: 5.0 ± 1.0). */
  x: num.default(TD1_MRZ.leftMm),
  /** Reference centre line of the middle line from the bottom edge, mm (ICAO: 11.5 ± 1.0). */
  middleLineFromBottom: num.default(TD1_MRZ.middleLineFromBottomMm),
  /** Distance between reference centre lines, mm (ICAO: 4.23). */
  lineSpacing: num.default(TD1_MRZ.lineSpacingMm),
  font: fontId,
  color: color.default('#000000'),
  /** Optional plain background of Zone VII (the clear area), drawn under the lines. */
  background: color.optional(),
});

const element = z.discriminatedUnion('type', [rect, line, gradient, guilloche, rosette, microtext, emblem, text, field, photo, ghost, signature, seal, mrz]);
export type TemplateElement = z.infer<typeof element>;
export type ElementOf<T extends TemplateElement['type']> = Extract<TemplateElement, { type: T }>;

const side = z.object({ background: color.optional(), elements: z.array(element).max(400) });
export type TemplateSide = z.infer<typeof side>;

const schema = z.object({
  format: z.literal('kadi-card-template'),
  version: z.literal(1),
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/),
  name: z.string().min(1).max(200),
  description: z.string().max(2000).optional(),
  issuingState: z.string().regex(/^[A-Z<]{3}$/),
  documentCode: z.string().regex(/^[ACI][A-Z0-9<]?$/).default('ID'),
  dateFormat: z.string().min(2).max(20).default('DD.MM.YYYY'),
  card: z.object({ width: z.literal(ID1_WIDTH_MM), height: z.literal(ID1_HEIGHT_MM), cornerRadius: num.min(0).max(5).default(3.18) }).default({ width: ID1_WIDTH_MM, height: ID1_HEIGHT_MM, cornerRadius: 3.18 }),
  fonts: z.record(fontId, z.string().min(1).max(500)),
  colors: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/), z.string().regex(/^#[0-9a-fA-F]{6}$/)).default({}),
  constants: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,31}$/), z.string().max(200)).default({}),
  front: side,
  back: side,
});

export type CardTemplate = z.infer<typeof schema>;
export type SideName = 'front' | 'back';

export class TemplateError extends ValidationError {
  constructor(message: string, path: string, details: Record<string, unknown> = {}) {
    super('PRINT_TEMPLATE_INVALID', `template: ${path ? `${path}: ` : ''}${message}`, {
      hint: 'Fix the template JSON (see docs/operator/printing.md, "Templates").',
      details: { path, ...details },
    });
  }
}

const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9_]*)(?:\|([a-z]+))?\}/g;

/** Placeholders of a field value: [name, filter][]. */
export function placeholders(value: string): Array<[string, string | undefined]> {
  return [...value.matchAll(PLACEHOLDER)].map((m) => [m[1]!, m[2]]);
}

/** Resolves a colour name or `#rrggbb`; throws TemplateError for an unknown name. */
export function resolveColor(t: Pick<CardTemplate, 'colors'>, c: string, path = ''): string {
  if (/^#[0-9a-fA-F]{6}$/.test(c)) return c.toLowerCase();
  const v = t.colors[c];
  if (!v) throw new TemplateError(`unknown colour "${c}" (use #rrggbb or a name from "colors")`, path);
  return v.toLowerCase();
}

/**
 * Validates a parsed template: shape (zod), then meaning — fonts and colours exist, placeholders are known,
 * every element lies on the card, exactly one MRZ (on the back) within the ICAO 9303-5 tolerances, at most one
 * seal and one photo per side. Throws TemplateError naming the first problem's JSON path.
 */
export function parseTemplate(json: unknown): CardTemplate {
  const r = schema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new TemplateError(i.message, i.path.map(String).join('.'));
  }
  const t = r.data;
  const known = new Set<string>([...BINDABLE_FIELDS, ...Object.keys(t.constants)]);
  let mrzCount = 0;
  for (const sideName of ['front', 'back'] as const) {
    const s = t[sideName];
    if (s.background) resolveColor(t, s.background, `${sideName}.background`);
    const counts: Record<string, number> = {};
    s.elements.forEach((e, i) => {
      const path = `${sideName}.elements.${i}`;
      counts[e.type] = (counts[e.type] ?? 0) + 1;
      if ('font' in e && !t.fonts[e.font]) throw new TemplateError(`font "${e.font}" is not declared in "fonts"`, `${path}.font`);
      for (const k of ['color', 'fill', 'stroke', 'from', 'to', 'background', 'accent'] as const) {
        const v = (e as Record<string, unknown>)[k];
        if (typeof v === 'string') resolveColor(t, v, `${path}.${k}`);
      }
      if (e.type === 'field') {
        for (const [name, filter] of placeholders(e.value)) {
          if (!known.has(name)) throw new TemplateError(`unknown placeholder {${name}} (known: ${[...known].join(', ')})`, `${path}.value`);
          if (filter && filter !== 'date' && filter !== 'upper') throw new TemplateError(`unknown filter |${filter} (date, upper)`, `${path}.value`);
        }
      }
      if ('minSize' in e && e.minSize !== undefined && e.minSize > e.size) throw new TemplateError('minSize is larger than size', `${path}.minSize`);
      const b = bounds(e);
      if (b && (b.x0 < -0.001 || b.y0 < -0.001 || b.x1 > ID1_WIDTH_MM + 0.001 || b.y1 > ID1_HEIGHT_MM + 0.001)) {
        throw new TemplateError(`element lies outside the ${ID1_WIDTH_MM} x ${ID1_HEIGHT_MM} mm card`, path, { bounds: b });
      }
      if (e.type === 'mrz') {
        mrzCount++;
        if (sideName !== 'back') throw new TemplateError('the TD1 MRZ is on the back of the card (ICAO 9303-5 §4.2.1.1)', path);
        if (Math.abs(e.x - TD1_MRZ.leftMm) > TD1_MRZ.leftToleranceMm + 1e-9) throw new TemplateError(`MRZ left edge ${e.x} mm is outside 5.0 ± 1.0 mm (ICAO 9303-5 §4.2.1.3)`, `${path}.x`);
        if (Math.abs(e.middleLineFromBottom - TD1_MRZ.middleLineFromBottomMm) > TD1_MRZ.middleLineToleranceMm + 1e-9) {
          throw new TemplateError(`MRZ middle line ${e.middleLineFromBottom} mm from the bottom is outside 11.5 ± 1.0 mm (ICAO 9303-5 Figure 6)`, `${path}.middleLineFromBottom`);
        }
        if (e.lineSpacing < 4.2 - 1e-9 || e.lineSpacing > 4.52 + 1e-9) throw new TemplateError(`MRZ line spacing ${e.lineSpacing} mm is outside 4.20..4.52 mm (ICAO 9303-5 Figure 6, ISO 1831 §6.13)`, `${path}.lineSpacing`);
        const right = e.x + TD1_MRZ.charactersPerLine * TD1_MRZ.pitchMm;
        if (right > ID1_WIDTH_MM - 2) throw new TemplateError('MRZ runs into the 2 mm edge margin', `${path}.x`);
      }
    });
    for (const k of ['photo', 'seal', 'signature', 'ghost']) {
      if ((counts[k] ?? 0) > 1) throw new TemplateError(`at most one ${k} element per side`, `${sideName}.elements`);
    }
  }
  if (mrzCount !== 1) throw new TemplateError('a TD1 card template needs exactly one mrz element (on the back)', 'back.elements');
  return t;
}

/** The area an element covers, mm (undefined for the MRZ, which is checked separately). */
export function bounds(e: TemplateElement): { x0: number; y0: number; x1: number; y1: number } | undefined {
  switch (e.type) {
    case 'line':
      return { x0: Math.min(e.x1, e.x2), y0: Math.min(e.y1, e.y2), x1: Math.max(e.x1, e.x2), y1: Math.max(e.y1, e.y2) };
    case 'rosette':
      return { x0: e.cx - e.r, y0: e.cy - e.r, x1: e.cx + e.r, y1: e.cy + e.r };
    case 'emblem':
      return { x0: e.cx - e.size / 2, y0: e.cy - e.size / 2, x1: e.cx + e.size / 2, y1: e.cy + e.size / 2 };
    case 'microtext':
      return { x0: e.x, y0: e.y - 1, x1: e.x + e.w, y1: e.y };
    case 'seal':
      return { x0: e.x, y0: e.y, x1: e.x + e.size, y1: e.y + e.size };
    case 'mrz':
      return undefined;
    default:
      return { x0: e.x, y0: e.y, x1: e.x + e.w, y1: e.y + e.h };
  }
}
