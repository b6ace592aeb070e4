/**
 * The renderer: layout operations -> PDF through pdfkit, streamed to a Writable. The adapter side of `print`
 * (the layout model stays pure); it reads font files and nothing else.
 *
 * - Pages are ISO/IEC 7810 ID-1 exactly: 85.60 x 53.98 mm = 242.6457 x 153.0142 pt (mm x 72 / 25.4).
 * - One page per side, front then back, card after card ("production order"); or, with imposition, sheets of N
 *   fronts followed by a sheet of the N backs mirrored for long-edge duplex, with crop marks.
 * - What is the same on every card (background, guilloches, rosettes, labels) is drawn once per document into a
 *   PDF Form XObject per side and layer, and each page only references it (`/Fm Do`). pdfkit 0.20 has no form
 *   API; we point the current page's content and resource objects at the form while pdfkit draws, then put
 *   them back (pinned pdfkit version; covered by the rendering tests).
 * - Barcode modules, paths and the signature are written as raw PDF path operators (one `re` per run of dark
 *   modules, one fill): no raster images besides the portrait.
 * - Memory stays flat: pages are flushed as soon as the next one starts, pdfkit's per-word layout cache is
 *   cleared after each card (it would otherwise keep every name ever printed), finished page objects drop their
 *   dictionaries, and `drain()` waits for the output stream when more than 1 MB is buffered.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { deflateSync } from 'node:zlib';
import PDFDocument from 'pdfkit';
import { KadiError } from '../shared/index.ts';
import {
  type DrawOp,
  type FaceData,
  type FontMetrics,
  type PathCmd,
  type StaticLayers,
  type TextMeasurer,
  PT_MM,
  cardSide,
  staticLayers,
} from './layout.ts';
import { rememberTemplate } from './face-areas.ts';
import { type CardTemplate, type SideName, ID1_HEIGHT_MM, ID1_WIDTH_MM } from './template.ts';

export const MM = 72 / 25.4;
/** ID-1 page size in points. */
export const ID1_PAGE_PT: [number, number] = [ID1_WIDTH_MM * MM, ID1_HEIGHT_MM * MM];

export class RenderError extends KadiError {}

// ---- the parts of pdfkit we use beyond its typings
interface PdfRef {
  data: Record<string, unknown>;
  buffer: Uint8Array[];
  compress: boolean;
  write(chunk: string | Uint8Array): void;
  end(chunk?: string | Uint8Array): void;
  toString(): string;
}
interface PdfFont {
  id: string;
  ascender: number;
  descender: number;
  capHeight: number;
  layoutCache?: Record<string, unknown>;
  font: { hasGlyphForCodePoint(cp: number): boolean };
  /** fontkit's subset of this document's font: `glyphs[newId]` = the font's glyph id (0 = .notdef first). */
  subset: { glyphs: number[]; includeGlyph(glyph: number): number };
  widths: number[];
  unicode: number[][];
  dictionary?: PdfRef;
  widthOfString(s: string, size: number): number;
  ref(): PdfRef;
}
interface PdfPage {
  content: PdfRef;
  resources: PdfRef;
  dictionary: PdfRef;
  xobjects: Record<string, PdfRef>;
  height: number;
}
interface PdfImage {
  width: number;
  height: number;
  obj?: PdfRef;
  label: string;
  embed(doc: unknown): void;
}
type Doc = PDFKit.PDFDocument & {
  _font: PdfFont;
  page: PdfPage;
  ref(data?: Record<string, unknown>): PdfRef;
  openImage(src: Uint8Array | Buffer): PdfImage;
  _registeredFonts: Record<string, unknown>;
  _fontFamilies: Record<string, unknown>;
  registerFont(name: string, src: string | object): Doc;
  readableLength: number;
  _root: { data: { Pages: { data: { Kids: PdfRef[] } } } };
};

/** Resolves the template's font files: absolute paths as given, relative ones against `baseDir`. */
export function resolveFontFiles(t: CardTemplate, baseDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [id, file] of Object.entries(t.fonts)) {
    const p = path.isAbsolute(file) ? file : path.resolve(baseDir, file);
    if (!existsSync(p)) {
      throw new RenderError('PRINT_FONT_MISSING', `font "${id}" not found at ${p}`, {
        hint: 'Install the font (Debian fonts-ocr-b, fonts-liberation) or fix the path in the template.',
        details: { font: id, file: p },
      });
    }
    out[id] = p;
  }
  return out;
}

/** A measurer over a pdfkit document's registered fonts (what the layout model measures with). */
export function pdfkitMeasurer(doc: PDFKit.PDFDocument, fontIds: readonly string[]): TextMeasurer {
  const d = doc as Doc;
  const fonts = new Map<string, PdfFont>();
  for (const id of fontIds) {
    d.font(id);
    fonts.set(id, d._font);
  }
  const get = (id: string): PdfFont => {
    const f = fonts.get(id);
    if (!f) throw new RenderError('PRINT_FONT_MISSING', `font "${id}" is not loaded`);
    return f;
  };
  const metrics = new Map<string, FontMetrics>();
  return {
    width: (font, size, text) => get(font).widthOfString(text, size) * PT_MM,
    metrics: (font) => {
      let m = metrics.get(font);
      if (!m) {
        const f = get(font);
        m = { ascender: f.ascender, descender: f.descender, capHeight: f.capHeight };
        metrics.set(font, m);
      }
      return m;
    },
    missingGlyphs: (font, text) => {
      const f = get(font);
      const out: string[] = [];
      for (const ch of text) {
        const cp = ch.codePointAt(0)!;
        if (cp === 0x20) continue;
        if (!f.font.hasGlyphForCodePoint(cp) && !out.includes(ch)) out.push(ch);
      }
      return out;
    },
  };
}

/** A measurer for a template without an output document (tests, template checks). */
export function templateMeasurer(t: CardTemplate, baseDir: string): TextMeasurer {
  const doc = new PDFDocument({ autoFirstPage: false, fontLayoutCache: false });
  for (const [id, file] of Object.entries(resolveFontFiles(t, baseDir))) doc.registerFont(id, file);
  return pdfkitMeasurer(doc, Object.keys(t.fonts));
}

// ---------------------------------------------------------------------------------------------------------
// Raw PDF operators (user space = pdfkit's: points, origin top-left, y down)

const n = (v: number): string => (Math.round(v * 1000) / 1000).toString();
const pt = (mm: number): string => n(mm * MM);

function rgb(hex: string): string {
  const v = Number.parseInt(hex.slice(1), 16);
  return `${n(((v >> 16) & 255) / 255)} ${n(((v >> 8) & 255) / 255)} ${n((v & 255) / 255)}`;
}

function pathOps(d: PathCmd[]): string {
  const out: string[] = [];
  for (const c of d) {
    if (c[0] === 'M') out.push(`${pt(c[1])} ${pt(c[2])} m`);
    else if (c[0] === 'L') out.push(`${pt(c[1])} ${pt(c[2])} l`);
    else if (c[0] === 'C') out.push(`${pt(c[1])} ${pt(c[2])} ${pt(c[3])} ${pt(c[4])} ${pt(c[5])} ${pt(c[6])} c`);
    else out.push('h');
  }
  return out.join('\n');
}

function roundedRect(x: number, y: number, w: number, h: number, r: number): string {
  if (r <= 0) return `${pt(x)} ${pt(y)} ${pt(w)} ${pt(h)} re`;
  const k = 0.5523 * r;
  const d: PathCmd[] = [
    ['M', x + r, y], ['L', x + w - r, y], ['C', x + w - r + k, y, x + w, y + r - k, x + w, y + r],
    ['L', x + w, y + h - r], ['C', x + w, y + h - r + k, x + w - r + k, y + h, x + w - r, y + h],
    ['L', x + r, y + h], ['C', x + r - k, y + h, x, y + h - r + k, x, y + h - r],
    ['L', x, y + r], ['C', x, y + r - k, x + r - k, y, x + r, y], ['Z'],
  ];
  return pathOps(d);
}

// ---------------------------------------------------------------------------------------------------------

/** Sheet imposition: cards on a larger sheet with crop marks; backs mirrored for long-edge duplex. */
export interface ImposeOptions {
  /** Sheet size, mm (default A4 portrait 210 x 297). */
  sheet?: [number, number];
  /** Unprinted margin of the sheet, mm (default 10). */
  margin?: number;
  /** Gap between cards, mm (default 10, room for crop marks). */
  gap?: number;
  /** Crop marks (default true). */
  cropMarks?: boolean;
}

export const SHEETS: Record<string, [number, number]> = { A4: [210, 297], A3: [297, 420], SRA3: [320, 450], LETTER: [215.9, 279.4] };

interface Imposition {
  sheet: [number, number];
  cols: number;
  rows: number;
  origins: Array<[number, number]>;
  cropMarks: boolean;
}

function imposition(o: ImposeOptions): Imposition {
  const sheet = o.sheet ?? SHEETS.A4!;
  const margin = o.margin ?? 10;
  const gap = o.gap ?? 10;
  const cols = Math.floor((sheet[0] - 2 * margin + gap) / (ID1_WIDTH_MM + gap));
  const rows = Math.floor((sheet[1] - 2 * margin + gap) / (ID1_HEIGHT_MM + gap));
  if (cols < 1 || rows < 1) throw new RenderError('PRINT_IMPOSE_INVALID', `no ID-1 card fits a ${sheet[0]} x ${sheet[1]} mm sheet with ${margin} mm margins`);
  const usedW = cols * ID1_WIDTH_MM + (cols - 1) * gap;
  const usedH = rows * ID1_HEIGHT_MM + (rows - 1) * gap;
  const x0 = (sheet[0] - usedW) / 2;
  const y0 = (sheet[1] - usedH) / 2;
  const origins: Array<[number, number]> = [];
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) origins.push([x0 + c * (ID1_WIDTH_MM + gap), y0 + r * (ID1_HEIGHT_MM + gap)]);
  return { sheet, cols, rows, origins, cropMarks: o.cropMarks ?? true };
}

export interface CardWriterOptions {
  template: CardTemplate;
  /** Directory relative font paths are resolved against (the template file's directory). */
  baseDir: string;
  out: Writable;
  impose?: ImposeOptions;
  /** Document information. */
  title?: string;
  /** Deflate content streams (default true). */
  compress?: boolean;
  /** Fixed creation date (reproducible output). */
  creationDate?: Date;
}

export interface CardRenderReport {
  cardId: number;
  pages: number;
  fits: Array<{ path: string; rule: string; size: number; lines: number; truncated: boolean }>;
}

export interface WriterStats {
  cards: number;
  pages: number;
  sheets: number;
  truncatedFields: number;
  shrunkFields: number;
  wrappedFields: number;
}

/** Streams card faces into one PDF. Call addCard() per card (in production order), then finish(). */
/**
 * The static layers of a template's sides, laid out once per template and font directory and then shared by every
 * writer (a print stage renders one small PDF per card: laying the guilloches, rosettes and labels out again for
 * each was a tenth of a card's render time). Layers depend only on the template and its fonts' metrics; they are
 * read, never changed, by the writers.
 */
const layerCache = new WeakMap<CardTemplate, Map<string, Record<SideName, StaticLayers>>>();
function templateLayers(t: CardTemplate, baseDir: string, measurer: TextMeasurer): Record<SideName, StaticLayers> {
  let byDir = layerCache.get(t);
  if (!byDir) layerCache.set(t, (byDir = new Map()));
  let l = byDir.get(baseDir);
  if (!l) byDir.set(baseDir, (l = { front: staticLayers(t, 'front', measurer), back: staticLayers(t, 'back', measurer) }));
  return l;
}

/**
 * Parsed fonts, shared by every writer of the process: pdfkit would otherwise read and parse each font file again for
 * every document (the print stage renders one small PDF per card). A fontkit font is read-only once parsed; each
 * document still has its own subset (pdfkit's EmbeddedFont). The word-shaping cache pdfkit keeps per font is shared
 * too (shaping depends on the font only) and started afresh every {@link LAYOUT_CACHE_CARDS} cards so memory stays flat.
 */
interface SharedFont {
  font: object;
  layoutCache: Record<string, unknown>;
}
const sharedFonts = new Map<string, SharedFont>();
const LAYOUT_CACHE_CARDS = 200;
let cardsSinceLayoutReset = 0;

/**
 * The static forms of a template, made once per process and reused, byte for byte, by every document (deflating
 * them and writing their path operators was about 60 % of a one-card PDF). A form's content refers to its fonts by
 * resource name and to glyphs by the document's subset glyph ids, so both are made the same in every document: the
 * fonts get the same names (F1, F2, ... in template order), and the glyphs the forms use are put first into each
 * document's font subsets, in the order they had when the forms were made (with their widths and Unicode values,
 * for the font's W array and ToUnicode map); the card's own text then adds its glyphs after them.
 */
interface FormRecipe {
  /** Content stream as written (deflated when the document compresses). */
  content: Buffer;
  /** Resource name -> template font id. */
  fonts: Record<string, string>;
  /** Resource name -> ExtGState dictionary (opacity). */
  extGStates: Record<string, Record<string, unknown>>;
}
interface FormSet {
  /** Template font id -> the font's resource name in the document. */
  fontNames: Record<string, string>;
  /** Template font id -> the subset's glyphs after the forms were drawn: [font glyph id, width, code points]. */
  glyphs: Record<string, Array<[number, number, number[]]>>;
  forms: Record<string, FormRecipe | null>;
}
const formCache = new WeakMap<CardTemplate, Map<string, FormSet>>();

/**
 * Embedded font programs, deflated, by font file and subset glyph list (fontkit's subsetting re-decodes every
 * glyph, and the result was deflated again, for every document: two thirds of a one-card PDF once the forms were
 * cached). So that one-card documents share subsets, every subset starts with the same glyphs: the forms' glyphs,
 * then those of the characters card data is printed in ({@link BASE_CHARS}: upper case, digits, MRZ filler, date and
 * name punctuation); a card's other characters (É, Ñ, ...) make a subset of its own,
 * also cached. Bounded: the oldest entry goes beyond {@link SUBSET_CACHE_MAX}.
 */
const subsetCache = new Map<string, Buffer>();
const SUBSET_CACHE_MAX = 64;
const BASE_CHARS = [..." 0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<.,-'/()"].map((c) => c.codePointAt(0)!);
const FORM_KEYS = [['front', 'under'], ['front', 'over'], ['back', 'under'], ['back', 'over']] as const;

export class CardPdfWriter {
  readonly doc: Doc;
  readonly measurer: TextMeasurer;
  private readonly forms = new Map<string, PdfRef | null>();
  private formsReady = false;
  private readonly fontFiles: Record<string, string>;
  private readonly layers: Record<SideName, StaticLayers>;
  private readonly imp: Imposition | undefined;
  private queue: FaceData[] = [];
  private readonly done: Promise<void>;
  private finished = false;
  private readonly finishedPages: PdfRef[] = [];
  readonly stats: WriterStats = { cards: 0, pages: 0, sheets: 0, truncatedFields: 0, shrunkFields: 0, wrappedFields: 0 };

  constructor(private readonly opts: CardWriterOptions) {
    const t = opts.template;
    this.doc = new PDFDocument({
      autoFirstPage: false,
      margin: 0,
      compress: opts.compress ?? true,
      fontLayoutCache: true,
      info: {
        Title: opts.title ?? `${t.name} card faces`,
        Producer: 'Kadi',
        Creator: `Kadi print (${t.id} v${t.version})`,
        ...(opts.creationDate ? { CreationDate: opts.creationDate } : {}),
      },
    }) as Doc;
    rememberTemplate(t);
    this.fontFiles = resolveFontFiles(t, opts.baseDir);
    for (const [id, file] of Object.entries(this.fontFiles)) this.doc.registerFont(id, sharedFonts.get(file)?.font ?? file);
    this.measurer = pdfkitMeasurer(this.doc, Object.keys(t.fonts));
    for (const [id, file] of Object.entries(this.fontFiles)) {
      this.doc.font(id);
      const f = this.doc._font;
      let shared = sharedFonts.get(file);
      if (!shared) sharedFonts.set(file, (shared = { font: (f as unknown as { font: object }).font, layoutCache: Object.create(null) as Record<string, unknown> }));
      if (f.layoutCache) f.layoutCache = shared.layoutCache;
      this.cacheEmbedding(f, file);
    }
    this.layers = templateLayers(t, opts.baseDir, this.measurer);
    this.imp = opts.impose ? imposition(opts.impose) : undefined;
    this.done = new Promise((resolve, reject) => {
      opts.out.once('finish', resolve);
      opts.out.once('close', resolve);
      opts.out.once('error', reject);
      this.doc.once('error', reject);
    });
    this.doc.pipe(opts.out);
  }

  /** Cards per sheet when imposing (1 otherwise). */
  get perSheet(): number {
    return this.imp ? this.imp.origins.length : 1;
  }

  /** Renders one card: two ID-1 pages, or a slot on the current sheet pair. */
  addCard(face: FaceData): CardRenderReport {
    if (this.finished) throw new RenderError('PRINT_WRITER_CLOSED', 'the PDF is already finished');
    // Lay out both sides first so a bad card fails before anything of it is written.
    const front = cardSide(this.opts.template, 'front', face, this.measurer);
    const back = cardSide(this.opts.template, 'back', face, this.measurer);
    const fits = [...front.fits, ...back.fits];
    for (const f of fits) {
      if (f.truncated) this.stats.truncatedFields++;
      else if (f.rule === 'shrink') this.stats.shrunkFields++;
      else if (f.rule === 'wrap') this.stats.wrappedFields++;
    }
    this.stats.cards++;
    let pages = 0;
    if (!this.imp) {
      this.page(ID1_PAGE_PT);
      this.drawSide('front', face, front.ops, 0, 0);
      this.page(ID1_PAGE_PT);
      this.drawSide('back', face, back.ops, 0, 0);
      pages = 2;
    } else {
      this.queue.push(face);
      this.pendingOps.push({ front: front.ops, back: back.ops });
      if (this.queue.length === this.imp.origins.length) pages = this.flushSheet();
    }
    // pdfkit caches the shaping of every word it draws, per font, forever: keep the (shared) cache for a while
    // (words recur: dates, KENYAN, M/F), start it afresh every 200 cards so memory stays flat.
    if (++cardsSinceLayoutReset >= LAYOUT_CACHE_CARDS) {
      cardsSinceLayoutReset = 0;
      for (const s of sharedFonts.values()) s.layoutCache = Object.create(null) as Record<string, unknown>;
    }
    this.useSharedLayoutCaches();
    return { cardId: face.cardId, pages, fits };
  }

  private pendingOps: Array<{ front: DrawOp[]; back: DrawOp[] }> = [];

  /** Waits while more than 1 MB of PDF is buffered (back-pressure from the output stream). */
  async drain(): Promise<void> {
    const out = this.opts.out;
    while (this.doc.readableLength + out.writableLength > 1 << 20) {
      // The output is full: wait for it; otherwise pdfkit's own buffer only needs the event loop to flow.
      await new Promise<void>((resolve) => (out.writableNeedDrain ? out.once('drain', resolve) : setImmediate(resolve)));
    }
  }

  /** Ends the document and waits until the output has everything. */
  async finish(): Promise<WriterStats> {
    if (this.imp && this.queue.length) this.flushSheet();
    if (this.stats.pages === 0) this.page(ID1_PAGE_PT); // a PDF needs a page; an empty batch gives one blank page
    this.compressContent((this.doc.page as PdfPage).content);
    this.finished = true;
    this.doc.end();
    await this.done;
    return this.stats;
  }

  // ---- pages

  private page(size: [number, number]): void {
    const prev = this.doc.page as PdfPage | undefined;
    if (prev) this.compressContent(prev.content);
    this.doc.addPage({ size, margin: 0 });
    if (!this.formsReady) this.prepareForms();
    if (prev) this.finishedPages.push(prev.dictionary, prev.resources, prev.content);
    // pdfkit flushed the previous page; its objects are written and only their ids are needed from now on.
    for (const ref of this.finishedPages.splice(0)) {
      ref.data = {};
    }
    this.stats.pages++;
  }

  /**
   * Deflates a finished page's content stream at level 1 instead of pdfkit's default level (it would otherwise
   * be a fifth of the rendering time): about 3x faster, output a few per cent larger. pdfkit then writes the
   * buffer as it is (compress off, Filter set).
   */
  private compressContent(ref: PdfRef): void {
    const r = ref as PdfRef & { buffer: Uint8Array[]; compress: boolean };
    if (!r.compress || this.opts.compress === false) return;
    const raw = Buffer.concat(r.buffer);
    r.buffer = [deflateSync(raw, { level: 1 })];
    r.compress = false;
    r.data.Filter = 'FlateDecode';
  }

  /** Points this document's fonts at the current shared shaping caches (they are replaced every 200 cards). */
  private useSharedLayoutCaches(): void {
    for (const [id, file] of Object.entries(this.fontFiles)) {
      const shared = sharedFonts.get(file);
      const f = (this.doc._fontFamilies as Record<string, PdfFont | undefined>)[id];
      if (shared && f?.layoutCache && f.layoutCache !== shared.layoutCache) f.layoutCache = shared.layoutCache;
    }
  }

  private flushSheet(): number {
    const imp = this.imp!;
    const size: [number, number] = [imp.sheet[0] * MM, imp.sheet[1] * MM];
    const faces = this.queue.splice(0);
    const ops = this.pendingOps.splice(0);
    const ids = faces.map((f) => f.cardId);
    for (const side of ['front', 'back'] as const) {
      this.page(size);
      this.stats.sheets++;
      faces.forEach((face, i) => {
        // Backs: mirror the columns so each back lands behind its front when the sheet is turned on its long edge.
        const col = i % imp.cols;
        const row = Math.floor(i / imp.cols);
        const slot = side === 'front' ? i : row * imp.cols + (imp.cols - 1 - col);
        const [ox, oy] = imp.origins[slot]!;
        this.drawSide(side, face, ops[i]![side], ox, oy);
        if (imp.cropMarks) this.cropMarks(ox, oy);
      });
      this.slug(`${this.opts.title ?? 'Kadi'} - ${side} - cards ${ids.join(', ')}`, imp);
    }
    return 2;
  }

  private cropMarks(ox: number, oy: number): void {
    const len = 3;
    const off = 1;
    const d: PathCmd[] = [];
    for (const [cx, sx] of [[ox, -1], [ox + ID1_WIDTH_MM, 1]] as const) {
      for (const [cy, sy] of [[oy, -1], [oy + ID1_HEIGHT_MM, 1]] as const) {
        d.push(['M', cx + sx * off, cy], ['L', cx + sx * (off + len), cy]);
        d.push(['M', cx, cy + sy * off], ['L', cx, cy + sy * (off + len)]);
      }
    }
    this.doc.addContent(`q 0 0 0 RG 0.25 w\n${pathOps(d)}\nS Q`);
  }

  private slug(text: string, imp: Imposition): void {
    const first = Object.keys(this.opts.template.fonts)[0]!;
    this.doc.font(first).fontSize(6).fillColor('#555555').text(text.slice(0, 180), 5 * MM, (imp.sheet[1] - 4) * MM, { lineBreak: false, baseline: 'alphabetic' });
  }

  // ---- drawing

  private drawSide(side: SideName, face: FaceData, ops: DrawOp[], ox: number, oy: number): void {
    const d = this.doc;
    const translated = ox !== 0 || oy !== 0;
    d.addContent('q');
    if (translated) d.addContent(`1 0 0 1 ${pt(ox)} ${pt(oy)} cm`);
    this.useForm(side, 'under');
    let photo: PdfImage | undefined;
    for (const op of ops) {
      if (op.op === 'image') photo ??= d.openImage(Buffer.from(face.photo.buffer, face.photo.byteOffset, face.photo.byteLength));
      this.draw(op, photo);
    }
    this.useForm(side, 'over');
    d.addContent('Q');
  }

  /** Draws (creating on first use) the static layer of a side as a Form XObject. */
  private useForm(side: SideName, layer: 'under' | 'over'): void {
    const form = this.forms.get(`${side}-${layer}`);
    if (!form) return;
    const name = `Fm${side === 'front' ? 'F' : 'B'}${layer === 'under' ? 'U' : 'O'}`;
    this.doc.page.xobjects[name] = form;
    this.doc.addContent(`/${name} Do`);
  }

  /**
   * Makes the document's static forms, before anything else is drawn (so the forms' glyphs come first in every
   * subset): from the process cache when there is one for this template, fonts and compression, otherwise by
   * drawing them (and caching them when this document started clean).
   */
  private prepareForms(): void {
    this.formsReady = true;
    const d = this.doc;
    const compress = this.opts.compress ?? true;
    const key = `${compress}\0${JSON.stringify(this.fontFiles)}`;
    let byKey = formCache.get(this.opts.template);
    if (!byKey) formCache.set(this.opts.template, (byKey = new Map()));
    const fonts: Record<string, PdfFont> = {};
    for (const id of Object.keys(this.fontFiles)) {
      d.font(id);
      fonts[id] = d._font;
    }
    const cached = byKey.get(key);
    if (cached && this.replayForms(cached, fonts)) {
      this.primeSubsets(fonts);
      return;
    }
    const clean = !cached && Object.values(fonts).every((f) => f.subset.glyphs.length === 1);
    const recipes: Record<string, FormRecipe | null> = {};
    let cacheable = clean;
    for (const [side, layer] of FORM_KEYS) {
      const l = this.layers[side];
      const ops = layer === 'under' ? l.under : l.over;
      const k = `${side}-${layer}`;
      if (ops.length === 0 && !(layer === 'under' && l.background)) {
        this.forms.set(k, null);
        recipes[k] = null;
        continue;
      }
      const built = this.buildForm(ops, layer === 'under' ? l.background : undefined, fonts);
      this.forms.set(k, built.form);
      if (built.recipe) recipes[k] = built.recipe;
      else cacheable = false;
    }
    const set: FormSet = { fontNames: {}, glyphs: {}, forms: recipes };
    for (const [id, f] of Object.entries(fonts)) {
      set.fontNames[id] = f.id;
      set.glyphs[id] = f.subset.glyphs.slice(1).map((g, i) => [g, f.widths[i + 1]!, f.unicode[i + 1]!]);
    }
    this.primeSubsets(fonts);
    if (cacheable) byKey.set(key, set);
  }

  /** Puts the glyphs of {@link BASE_CHARS} into every font's subset (after the forms' glyphs). */
  private primeSubsets(fonts: Record<string, PdfFont>): void {
    for (const f of Object.values(fonts)) {
      const fk = (f as unknown as { font: { glyphForCodePoint(cp: number): { id: number; advanceWidth: number } } }).font;
      const scale = (f as unknown as { scale: number }).scale;
      for (const cp of BASE_CHARS) {
        const g = fk.glyphForCodePoint(cp);
        if (!g || g.id === 0) continue;
        const gid = f.subset.includeGlyph(g.id);
        f.widths[gid] ??= g.advanceWidth * scale;
        f.unicode[gid] ??= [cp];
      }
    }
  }

  /**
   * Makes pdfkit embed this font's subset from {@link subsetCache}: the font program is taken from the cache (or
   * made and deflated once) and written as it is; the rest of the font (widths, ToUnicode map) is pdfkit's.
   */
  private cacheEmbedding(f: PdfFont, file: string): void {
    const font = f as PdfFont & { embed(): void; subset: { encode(): Uint8Array } };
    const embed = font.embed;
    const doc = this.doc as unknown as { ref(data?: Record<string, unknown>): PdfRef };
    const compress = this.opts.compress !== false;
    font.embed = () => {
      const key = `${compress}\0${file}\0${font.subset.glyphs.join(',')}`;
      let program = subsetCache.get(key);
      if (program) {
        subsetCache.delete(key);
      } else {
        const raw = Buffer.from(font.subset.encode());
        program = compress ? deflateSync(raw) : raw;
      }
      subsetCache.set(key, program);
      if (subsetCache.size > SUBSET_CACHE_MAX) subsetCache.delete(subsetCache.keys().next().value!);
      const bytes = program;
      font.subset.encode = () => bytes;
      // pdfkit's embed() first makes the font file's stream: have it written as given (already deflated)
      const ref = doc.ref;
      doc.ref = (data?: Record<string, unknown>): PdfRef => {
        doc.ref = ref;
        const r = ref.call(doc, data);
        if (compress) {
          r.compress = false;
          r.data.Filter = 'FlateDecode';
        }
        return r;
      };
      try {
        embed.call(font);
      } finally {
        doc.ref = ref;
      }
    };
  }

  /** Puts cached forms into this document; false (nothing done) when its fonts are not named as in the cache. */
  private replayForms(set: FormSet, fonts: Record<string, PdfFont>): boolean {
    const d = this.doc;
    for (const [id, f] of Object.entries(fonts)) {
      if (set.fontNames[id] !== f.id || f.subset.glyphs.length !== 1) return false;
    }
    for (const [id, glyphs] of Object.entries(set.glyphs)) {
      const f = fonts[id]!;
      glyphs.forEach(([g, width, unicode], i) => {
        const gid = f.subset.includeGlyph(g);
        if (gid !== i + 1) throw new RenderError('PRINT_FORM_CACHE', `font "${id}": cached glyph ${g} got subset id ${gid}, not ${i + 1}`);
        f.widths[gid] ??= width;
        f.unicode[gid] ??= unicode;
      });
    }
    for (const [k, r] of Object.entries(set.forms)) {
      if (!r) {
        this.forms.set(k, null);
        continue;
      }
      const res: Record<string, unknown> = { ProcSet: ['PDF', 'Text', 'ImageB', 'ImageC', 'ImageI'] };
      const fontRes = Object.fromEntries(Object.entries(r.fonts).map(([name, id]) => [name, fonts[id]!.ref()]));
      if (Object.keys(fontRes).length) res.Font = fontRes;
      const gs = Object.entries(r.extGStates).map(([name, data]): [string, PdfRef] => {
        const ref = this.ref({ ...data });
        ref.end();
        return [name, ref];
      });
      if (gs.length) res.ExtGState = Object.fromEntries(gs);
      const resources = this.ref(res);
      const form = this.ref({ Type: 'XObject', Subtype: 'Form', FormType: 1, BBox: [0, 0, ID1_PAGE_PT[0], ID1_PAGE_PT[1]], Resources: resources, ...(this.opts.compress === false ? {} : { Filter: 'FlateDecode' }) });
      form.compress = false;
      form.buffer = [r.content];
      form.end();
      resources.end();
      this.forms.set(k, form);
    }
    return true;
  }

  private ref(data: Record<string, unknown>): PdfRef {
    return (this.doc as unknown as { ref(data: Record<string, unknown>): PdfRef }).ref(data);
  }

  private buildForm(ops: DrawOp[], background: string | undefined, fonts: Record<string, PdfFont>): { form: PdfRef; recipe?: FormRecipe } {
    const d = this.doc;
    const resources = this.ref({ ProcSet: ['PDF', 'Text', 'ImageB', 'ImageC', 'ImageI'] });
    const form = this.ref({ Type: 'XObject', Subtype: 'Form', FormType: 1, BBox: [0, 0, ID1_PAGE_PT[0], ID1_PAGE_PT[1]], Resources: resources });
    const page = d.page as unknown as PdfPage;
    const saved = { content: page.content, resources: page.resources };
    page.content = form;
    page.resources = resources;
    try {
      // The form is drawn in the page's (flipped, top-left) user space, so BBox covers y in [0, H] there too.
      if (background) d.addContent(`q ${rgb(background)} rg 0 0 ${n(ID1_PAGE_PT[0])} ${n(ID1_PAGE_PT[1])} re f Q`);
      for (const op of ops) this.draw(op, undefined);
    } finally {
      page.content = saved.content;
      page.resources = saved.resources;
    }
    // The form's content is deflated here (best compression: it is cached and written again for every document).
    const raw = Buffer.concat(form.buffer);
    const content = this.opts.compress === false ? raw : deflateSync(raw, { level: 9 });
    if (this.opts.compress !== false) {
      form.buffer = [content];
      form.compress = false;
      form.data.Filter = 'FlateDecode';
    }
    const recipe = this.recipeOf(resources.data, fonts, content);
    form.end();
    resources.end();
    return recipe ? { form, recipe } : { form };
  }

  /** What a form needs besides its content, when it is only fonts and opacity (else undefined: not cached). */
  private recipeOf(res: Record<string, unknown>, fonts: Record<string, PdfFont>, content: Buffer): FormRecipe | undefined {
    const recipe: FormRecipe = { content, fonts: {}, extGStates: {} };
    for (const [k, v] of Object.entries(res)) {
      if (k === 'ProcSet') continue;
      if (k === 'Font') {
        for (const [name, ref] of Object.entries(v as Record<string, unknown>)) {
          const id = Object.keys(fonts).find((i) => fonts[i]!.dictionary === ref && fonts[i]!.id === name);
          if (!id) return undefined;
          recipe.fonts[name] = id;
        }
      } else if (k === 'ExtGState') {
        for (const [name, ref] of Object.entries(v as Record<string, PdfRef>)) recipe.extGStates[name] = { ...ref.data };
      } else {
        return undefined;
      }
    }
    return recipe;
  }

  private draw(op: DrawOp, photo: PdfImage | undefined): void {
    const d = this.doc;
    switch (op.op) {
      case 'rect': {
        const paint = op.fill && op.stroke ? 'B' : op.fill ? 'f' : 'S';
        d.save();
        if (op.opacity < 1) d.opacity(op.opacity);
        d.addContent(`${op.fill ? `${rgb(op.fill)} rg ` : ''}${op.stroke ? `${rgb(op.stroke)} RG ${pt(op.lineWidth)} w ` : ''}${roundedRect(op.x, op.y, op.w, op.h, op.r)} ${paint}`);
        d.restore();
        break;
      }
      case 'gradient': {
        // Vector bands instead of a shading pattern: identical in every viewer and RIP, no pattern matrix.
        const steps = 48;
        const a = Number.parseInt(op.from.slice(1), 16);
        const b = Number.parseInt(op.to.slice(1), 16);
        const parts: string[] = [];
        for (let i = 0; i < steps; i++) {
          const f = i / (steps - 1);
          const mix = (sh: number): number => Math.round((((a >> sh) & 255) * (1 - f) + ((b >> sh) & 255) * f));
          const hex = `#${((mix(16) << 16) | (mix(8) << 8) | mix(0)).toString(16).padStart(6, '0')}`;
          const [x, y, w, h] = op.direction === 'horizontal' ? [op.x + (op.w * i) / steps, op.y, op.w / steps + 0.05, op.h] : [op.x, op.y + (op.h * i) / steps, op.w, op.h / steps + 0.05];
          parts.push(`${rgb(hex)} rg ${pt(x)} ${pt(y)} ${pt(Math.min(w, op.x + op.w - x))} ${pt(Math.min(h, op.y + op.h - y))} re f`);
        }
        d.save();
        if (op.opacity < 1) d.opacity(op.opacity);
        d.addContent(parts.join('\n'));
        d.restore();
        break;
      }
      case 'path': {
        d.save();
        if (op.opacity < 1) d.opacity(op.opacity);
        const clip = op.clip ? `${pt(op.clip.x)} ${pt(op.clip.y)} ${pt(op.clip.w)} ${pt(op.clip.h)} re W n\n` : '';
        const paint = op.fill && op.stroke ? 'B' : op.fill ? 'f' : 'S';
        d.addContent(`${clip}1 J 1 j ${pt(op.lineWidth)} w ${op.fill ? `${rgb(op.fill)} rg ` : ''}${op.stroke ? `${rgb(op.stroke)} RG` : ''}\n${pathOps(op.d)}\n${paint}`);
        d.restore();
        break;
      }
      case 'text': {
        d.font(op.font).fontSize(op.size).fillColor(op.color);
        if (op.opacity !== undefined && op.opacity < 1) d.fillOpacity(op.opacity);
        d.text(op.text, op.x * MM, op.y * MM, { lineBreak: false, baseline: 'alphabetic', ...(op.letterSpacing ? { characterSpacing: op.letterSpacing } : {}) });
        if (op.opacity !== undefined && op.opacity < 1) d.fillOpacity(1);
        break;
      }
      case 'image': {
        if (!photo) throw new RenderError('PRINT_PHOTO_MISSING', 'the card has no portrait');
        d.save();
        d.addContent(`${roundedRect(op.x, op.y, op.w, op.h, op.radius)} W n`);
        if (op.opacity < 1) d.opacity(op.opacity);
        // Cover the box, centred (the portrait is cropped, never stretched: ICAO 9303-3 §3.9.1.3).
        const scale = Math.max((op.w * MM) / photo.width, (op.h * MM) / photo.height);
        const iw = photo.width * scale;
        const ih = photo.height * scale;
        d.image(photo as unknown as Buffer, op.x * MM + (op.w * MM - iw) / 2, op.y * MM + (op.h * MM - ih) / 2, { width: iw, height: ih });
        d.restore();
        break;
      }
      case 'modules': {
        // In module units: one `cm` scales a module to 1 x 1, so every run is `x y w 1 re` with small integers.
        const b = op.background;
        const parts: string[] = [`q ${rgb(b.color)} rg ${pt(b.x)} ${pt(b.y)} ${pt(b.w)} ${pt(b.h)} re f ${rgb(op.color)} rg ${n(op.module * MM)} 0 0 ${n(op.module * MM)} ${pt(op.x)} ${pt(op.y)} cm`];
        for (let r = 0; r < op.rows; r++) {
          let c = 0;
          const row = r * op.cols;
          while (c < op.cols) {
            if (!op.modules[row + c]) {
              c++;
              continue;
            }
            const c0 = c;
            while (c < op.cols && op.modules[row + c]) c++;
            parts.push(`${c0} ${r} ${c - c0} 1 re`);
          }
        }
        parts.push('f Q');
        d.addContent(parts.join('\n'));
        break;
      }
    }
  }
}

/** Renders one card (front + back pages) to a PDF buffer: for PNG export and previews. */
export async function renderCardPdf(t: CardTemplate, baseDir: string, face: FaceData): Promise<Buffer> {
  const { PassThrough } = await import('node:stream');
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const w = new CardPdfWriter({ template: t, baseDir, out, title: `card ${face.cardId}` });
  w.addCard(face);
  await w.finish();
  return Buffer.concat(chunks);
}

/** Reads and validates a template file (JSON). Relative font paths resolve against the file's directory. */
export async function loadTemplateFile(file: string): Promise<{ template: CardTemplate; baseDir: string }> {
  const { parseTemplate } = await import('./template.ts');
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new RenderError('PRINT_TEMPLATE_UNREADABLE', `cannot read template ${file}: ${(e as Error).message}`, { hint: 'Give a JSON template file (see templates/).' });
  }
  const template = parseTemplate(json);
  rememberTemplate(template);
  return { template, baseDir: path.dirname(path.resolve(file)) };
}
