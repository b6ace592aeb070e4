/**
 * Fast text and rules for long pdfkit documents (the million-line manifest).
 *
 * pdfkit's text() shapes every string with fontkit (GSUB/GPOS lookups, line wrapping) and writes each fragment
 * with its own save/transform/restore: about 12 µs a call, a minute for a million-card manifest. Tabular text
 * needs none of that, so this module encodes strings glyph by glyph — each character is encoded once through the
 * embedded font's own encode() (which adds the glyph to the font subset and its width and ToUnicode entry) and
 * cached — and writes the page's text as one BT…ET block of Tm/Tj operators through doc.addContent(). Output
 * stays a normal pdfkit document: same font subsetting, compression and streaming; pdftotext reads it back.
 * No kerning or ligatures (not wanted in a table). Strings are NFC-normalised first, so accents are single glyphs.
 *
 * Coordinates are pdfkit's page coordinates (points, y downwards from the top). This relies on three pdfkit
 * 0.x internals, checked at construction: doc._font (the current PDFFont: id, ascender, encode, ref) and
 * doc.page.fonts (the page's font resources).
 */
import type PDFDocument from 'pdfkit';

interface PdfkitFont {
  id: string;
  ascender: number;
  descender: number;
  encode(text: string): [string[], Array<{ xAdvance: number }>];
  ref(): unknown;
}

interface PdfkitInternals {
  _font: PdfkitFont;
  page: { fonts: Record<string, unknown> };
  addContent(s: string): unknown;
}

type Doc = InstanceType<typeof PDFDocument>;

function internals(doc: Doc): PdfkitInternals {
  return doc as unknown as PdfkitInternals;
}

/** PDF number: at most 2 decimals, no trailing zeros. */
export function num(n: number): string {
  const s = n.toFixed(2);
  return s.endsWith('.00') ? s.slice(0, -3) : s.endsWith('0') ? s.slice(0, -1) : s;
}

export class FastFont {
  readonly id: string;
  /** Ascender and descender in 1/1000 em. */
  readonly ascender: number;
  readonly descender: number;
  private readonly font: PdfkitFont;
  private readonly cache = new Map<string, { hex: string; adv: number }>();

  constructor(doc: Doc, name: string) {
    doc.font(name);
    const f = internals(doc)._font;
    if (!f || typeof f.encode !== 'function' || typeof f.ref !== 'function' || typeof f.id !== 'string') {
      throw new Error('pdfkit internals changed: doc._font has no id/encode/ref (see src/dispatch/pdf-text.ts)');
    }
    this.font = f;
    this.id = f.id;
    this.ascender = f.ascender;
    this.descender = f.descender;
  }

  private glyph(ch: string): { hex: string; adv: number } {
    let g = this.cache.get(ch);
    if (!g) {
      const [enc, pos] = this.font.encode(ch);
      g = { hex: enc.join(''), adv: pos.reduce((a, p) => a + p.xAdvance, 0) };
      this.cache.set(ch, g);
    }
    return g;
  }

  /** Width in 1/1000 em. */
  measure(s: string): number {
    let w = 0;
    for (const ch of s) w += this.glyph(ch).adv;
    return w;
  }

  encode(s: string): { hex: string; width: number } {
    let hex = '';
    let width = 0;
    for (const ch of s) {
      const g = this.glyph(ch);
      hex += g.hex;
      width += g.adv;
    }
    return { hex, width };
  }

  /** Registers the font on the current page (pdfkit does this inside text()). */
  useOn(doc: Doc): void {
    const page = internals(doc).page;
    if (page.fonts[this.id] == null) page.fonts[this.id] = this.font.ref();
  }
}

export interface TextOptions {
  align?: 'left' | 'right' | 'center';
  /** Box width for right/center alignment and for fitting. */
  width?: number;
  /**
   * Text wider than `width` is first condensed (horizontal scaling down to 70%), then cut with an ellipsis.
   */
  fit?: boolean;
}

/** Collects one page's drawing and text, then writes it in one addContent(). */
export class PageContent {
  private graphics: string[] = [];
  private text: string[] = [];
  private curFont = '';
  private curSize = 0;
  readonly fonts = new Set<FastFont>();

  /** Draws `s` with its top at y. */
  draw(font: FastFont, size: number, x: number, y: number, s: string, o: TextOptions = {}): void {
    let str = s.normalize('NFC');
    if (str.length === 0) return;
    let { hex, width } = font.encode(str);
    let w = (width * size) / 1000;
    let scale = 100;
    if (o.fit && o.width !== undefined && w > o.width) {
      scale = Math.max(70, Math.floor((o.width / w) * 100));
      if ((w * scale) / 100 > o.width) {
        // Still too wide at 70%: cut, keeping room for the ellipsis.
        const max = (o.width * 100) / scale;
        const ell = font.measure('…');
        let cut = '';
        let cw = 0;
        for (const ch of str) {
          const cwNext = cw + font.measure(ch);
          if (((cwNext + ell) * size) / 1000 > max) break;
          cut += ch;
          cw = cwNext;
        }
        str = `${cut.trimEnd()}…`;
        ({ hex, width } = font.encode(str));
      }
      w = (width * size * scale) / 100_000;
    }
    let tx = x;
    if (o.align === 'right' && o.width !== undefined) tx = x + o.width - w;
    else if (o.align === 'center' && o.width !== undefined) tx = x + (o.width - w) / 2;
    const baseline = y + (font.ascender * size) / 1000;
    if (font.id !== this.curFont || size !== this.curSize) {
      this.text.push(`/${font.id} ${num(size)} Tf`);
      this.curFont = font.id;
      this.curSize = size;
    }
    this.fonts.add(font);
    if (scale !== 100) this.text.push(`${scale} Tz 1 0 0 -1 ${num(tx)} ${num(baseline)} Tm <${hex}> Tj 100 Tz`);
    else this.text.push(`1 0 0 -1 ${num(tx)} ${num(baseline)} Tm <${hex}> Tj`);
  }

  line(x1: number, y1: number, x2: number, y2: number, width = 0.5): void {
    this.graphics.push(`${num(width)} w ${num(x1)} ${num(y1)} m ${num(x2)} ${num(y2)} l S`);
  }

  /** An outlined rectangle (tick boxes, signature fields). */
  box(x: number, y: number, w: number, h: number, width = 0.5): void {
    this.graphics.push(`${num(width)} w ${num(x)} ${num(y)} ${num(w)} ${num(h)} re S`);
  }

  /** A filled rectangle in grey level g (0 black … 1 white). */
  fill(x: number, y: number, w: number, h: number, g: number): void {
    this.graphics.push(`${num(g)} g ${num(x)} ${num(y)} ${num(w)} ${num(h)} re f 0 g`);
  }

  /** Writes everything collected to the current page and starts empty again. */
  flush(doc: Doc): void {
    for (const f of this.fonts) f.useOn(doc);
    const out: string[] = [];
    if (this.graphics.length) out.push('q 0 G', ...this.graphics, 'Q');
    if (this.text.length) out.push('BT 0 g', ...this.text, 'ET');
    if (out.length) internals(doc).addContent(out.join('\n'));
    this.graphics = [];
    this.text = [];
    this.curFont = '';
    this.curSize = 0;
    this.fonts.clear();
  }
}
