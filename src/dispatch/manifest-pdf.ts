/**
 * The shipment manifest as a PDF: A4, paged, with totals on every page, a per-box summary with tick boxes and
 * hand-over signature blocks (layout in manifest-layout.ts). Streamed: pages are written to `out` as they are
 * finished and the writer waits for the stream to drain, so memory stays flat however many cards are listed.
 * Independent of the database: the caller feeds boxes and their rows in order.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import PDFDocument from 'pdfkit';
import {
  BODY_TOP,
  COLUMNS,
  DetailPaginator,
  FOOTER_TOP,
  LINE_HEIGHT,
  PAGE,
  planPages,
  SUMMARY_LINE_HEIGHT,
  SummaryPaginator,
  type PagePlan,
} from './manifest-layout.ts';
import { displayName, type ManifestBox, type ManifestHeader, type ManifestRow } from './manifest-format.ts';
import { FastFont, PageContent } from './pdf-text.ts';

export const DEFAULT_FONTS = {
  regular: '/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf',
  bold: '/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf',
};

export interface ManifestPdfOptions {
  fonts?: { regular: string; bold: string };
  /** Bytes pdfkit may hold before the writer waits for `out` to drain (default 1 MiB). */
  highWaterMark?: number;
}

const fmt = (n: number) => n.toLocaleString('en-GB');
const day = (iso: string | null) => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : '—');

export class ManifestPdfWriter {
  readonly plan: PagePlan;
  private readonly doc: InstanceType<typeof PDFDocument>;
  private readonly regular: FastFont;
  private readonly bold: FastFont;
  private readonly content = new PageContent();
  private readonly detail = new DetailPaginator();
  private readonly hwm: number;
  private page = 0;
  private slotY = BODY_TOP;
  private pageCards = 0;
  private listed = 0;
  private boxIndex = 0;
  private ended = false;

  constructor(
    private readonly out: Writable,
    private readonly header: ManifestHeader,
    private readonly boxes: readonly ManifestBox[],
    opts: ManifestPdfOptions = {},
  ) {
    this.plan = planPages(boxes.map((b) => b.cards));
    this.hwm = opts.highWaterMark ?? 1 << 20;
    const fonts = opts.fonts ?? DEFAULT_FONTS;
    this.doc = new PDFDocument({
      size: 'A4',
      margin: PAGE.margin,
      autoFirstPage: false,
      compress: true,
      info: {
        Title: `Dispatch manifest ${header.shipment}`,
        Subject: `Shipment ${header.shipment} to ${header.centre.code}`,
        Creator: 'Kadi',
        Producer: 'Kadi (pdfkit)',
      },
    });
    this.doc.registerFont('kadi-regular', fonts.regular);
    this.doc.registerFont('kadi-bold', fonts.bold);
    this.regular = new FastFont(this.doc, 'kadi-regular');
    this.bold = new FastFont(this.doc, 'kadi-bold');
    this.doc.pipe(out);
  }

  private async drain(): Promise<void> {
    const d = this.doc as unknown as { readableLength: number };
    while (this.out.writableNeedDrain || d.readableLength > this.hwm) {
      if (this.out.writableNeedDrain) await once(this.out, 'drain');
      else await new Promise((r) => setImmediate(r));
    }
  }

  private async newPage(): Promise<void> {
    if (this.page > 0) await this.finishPage();
    this.doc.addPage();
    this.page++;
    this.slotY = BODY_TOP;
    this.pageCards = 0;
    this.pageHeader();
  }

  private pageHeader(): void {
    const c = this.content;
    const h = this.header;
    const right = PAGE.width - PAGE.margin;
    const width = right - PAGE.margin;
    c.draw(this.bold, 14, PAGE.margin, PAGE.margin, 'Dispatch manifest');
    c.draw(this.bold, 14, PAGE.margin, PAGE.margin, `Shipment ${h.shipment}`, { align: 'right', width });
    c.draw(this.regular, 9, PAGE.margin, PAGE.margin + 20, `To: ${h.centre.code}  ${h.centre.name}, ${h.centre.county} County`, { fit: true, width: width - 90 });
    c.draw(this.bold, 9, PAGE.margin, PAGE.margin + 20, `Page ${this.page} of ${this.plan.pages}`, { align: 'right', width });
    c.draw(
      this.regular,
      8,
      PAGE.margin,
      PAGE.margin + 33,
      `Boxes: ${fmt(h.boxes)}    Cards: ${fmt(h.cards)}    Created: ${day(h.createdAt)}    Dispatched: ${day(h.dispatchedAt)}    Printed: ${day(h.generatedAt)}`,
      { fit: true, width },
    );
    c.line(PAGE.margin, PAGE.margin + 46, right, PAGE.margin + 46, 0.8);
  }

  private columnHeadings(): void {
    const c = this.content;
    const y = BODY_TOP - 14;
    c.draw(this.bold, 7.5, COLUMNS.line.x, y, 'No.', { align: 'right', width: COLUMNS.line.w });
    c.draw(this.bold, 7.5, COLUMNS.document.x, y, 'Document no.');
    c.draw(this.bold, 7.5, COLUMNS.name.x, y, 'Holder (surname, given names)');
    c.draw(this.bold, 7.5, COLUMNS.box.x, y, 'Box');
    c.draw(this.bold, 7.5, COLUMNS.tick.x - 26, y, 'Issued');
    c.line(PAGE.margin, BODY_TOP - 3, PAGE.width - PAGE.margin, BODY_TOP - 3);
  }

  private pageFooter(kind: 'detail' | 'summary'): void {
    const c = this.content;
    const right = PAGE.width - PAGE.margin;
    c.line(PAGE.margin, FOOTER_TOP, right, FOOTER_TOP);
    const left =
      kind === 'detail'
        ? `Cards on this page: ${fmt(this.pageCards)}    Listed so far: ${fmt(this.listed)} of ${fmt(this.header.cards)}`
        : `Summary: ${fmt(this.header.boxes)} boxes, ${fmt(this.header.cards)} cards`;
    c.draw(this.regular, 7.5, PAGE.margin, FOOTER_TOP + 5, left);
    c.draw(this.regular, 7.5, PAGE.margin, FOOTER_TOP + 15, `Kadi dispatch manifest ${this.header.shipment} — ${this.header.centre.code} — page ${this.page} of ${this.plan.pages}`);
    c.draw(this.regular, 7.5, right - 150, FOOTER_TOP + 8, 'Checked (initials):');
    c.box(right - 80, FOOTER_TOP + 4, 80, 16);
  }

  private async finishPage(): Promise<void> {
    this.content.flush(this.doc);
    await this.drain();
  }

  private boxHeading(box: ManifestBox, continued: boolean): void {
    const c = this.content;
    const y = this.slotY;
    c.fill(PAGE.margin, y - 1, PAGE.width - 2 * PAGE.margin, LINE_HEIGHT, 0.88);
    const text = `Box ${box.code}${continued ? ' (continued)' : ''}    Seal ${box.sealNumber ?? '— not sealed —'}    ${fmt(box.cards)} card${box.cards === 1 ? '' : 's'}`;
    c.draw(this.bold, 7.5, PAGE.margin + 4, y + 0.5, text);
    this.slotY += LINE_HEIGHT;
  }

  /** Adds one box and its card lines (in manifest order). Call once per box, in the order of `boxes`. */
  async addBox(box: ManifestBox, rows: readonly ManifestRow[]): Promise<void> {
    const step = this.detail.startBox();
    if (step.newPage) {
      if (this.page > 0) this.pageFooter('detail');
      await this.newPage();
      this.columnHeadings();
    }
    this.boxHeading(box, false);
    this.boxIndex++;
    for (const r of rows) {
      const s = this.detail.card();
      if (s.newPage) {
        this.pageFooter('detail');
        await this.newPage();
        this.columnHeadings();
        this.boxHeading(box, true);
      }
      this.cardLine(r);
    }
    if (this.boxIndex === this.boxes.length) this.pageFooter('detail');
  }

  private cardLine(r: ManifestRow): void {
    const c = this.content;
    const y = this.slotY;
    c.draw(this.regular, 7.5, COLUMNS.line.x, y, String(r.line), { align: 'right', width: COLUMNS.line.w });
    c.draw(this.regular, 7.5, COLUMNS.document.x, y, r.documentNumber, { fit: true, width: COLUMNS.document.w });
    c.draw(this.regular, 7.5, COLUMNS.name.x, y, displayName(r), { fit: true, width: COLUMNS.name.w });
    c.draw(this.regular, 7.5, COLUMNS.box.x, y, r.box);
    c.box(COLUMNS.tick.x, y + 0.5, COLUMNS.tick.w, COLUMNS.tick.w, 0.4);
    this.slotY += LINE_HEIGHT;
    this.pageCards++;
    this.listed++;
  }

  /** Writes the summary and signature pages, ends the PDF and waits until `out` has it all. */
  async end(): Promise<{ pages: number }> {
    if (this.ended) throw new Error('manifest already ended');
    this.ended = true;
    if (this.boxIndex < this.boxes.length) throw new Error(`manifest has ${this.boxes.length} boxes but ${this.boxIndex} were added`);
    if (this.page > 0) await this.finishPage();
    const s = new SummaryPaginator();
    const c = this.content;
    const right = PAGE.width - PAGE.margin;
    const cols = { n: PAGE.margin, box: PAGE.margin + 40, seal: PAGE.margin + 130, cards: PAGE.margin + 250, recv: PAGE.margin + 330, seal2: PAGE.margin + 420 };
    const summaryHead = async () => {
      this.doc.addPage();
      this.page++;
      this.slotY = BODY_TOP;
      this.pageHeader();
      const y = BODY_TOP - 14;
      c.draw(this.bold, 8, cols.n, y, 'No.');
      c.draw(this.bold, 8, cols.box, y, 'Box');
      c.draw(this.bold, 8, cols.seal, y, 'Seal number');
      c.draw(this.bold, 8, cols.cards, y, 'Cards', { align: 'right', width: 40 });
      c.draw(this.bold, 8, cols.recv, y, 'Box received');
      c.draw(this.bold, 8, cols.seal2, y, 'Seal intact');
      c.line(PAGE.margin, BODY_TOP - 3, right, BODY_TOP - 3);
    };
    for (let i = 0; i < this.boxes.length; i++) {
      if (s.line()) {
        if (this.page > this.plan.detailPages) {
          this.pageFooter('summary');
          await this.finishPage();
        }
        await summaryHead();
      }
      const b = this.boxes[i]!;
      const y = this.slotY;
      c.draw(this.regular, 8, cols.n, y + 2, String(i + 1));
      c.draw(this.regular, 8, cols.box, y + 2, b.code);
      c.draw(this.regular, 8, cols.seal, y + 2, b.sealNumber ?? '—');
      c.draw(this.regular, 8, cols.cards, y + 2, fmt(b.cards), { align: 'right', width: 40 });
      c.box(cols.recv + 20, y + 1, 9, 9);
      c.box(cols.seal2 + 16, y + 1, 9, 9);
      this.slotY += SUMMARY_LINE_HEIGHT;
    }
    if (s.signatures()) {
      if (this.page > this.plan.detailPages) {
        this.pageFooter('summary');
        await this.finishPage();
      }
      await summaryHead();
    }
    this.signatures(this.slotY + 6);
    this.pageFooter('summary');
    this.content.flush(this.doc);
    const done = once(this.out, 'finish');
    this.doc.end();
    await done;
    if (this.page !== this.plan.pages) throw new Error(`manifest paging drifted: planned ${this.plan.pages}, wrote ${this.page}`);
    return { pages: this.page };
  }

  private signatures(top: number): void {
    const c = this.content;
    const right = PAGE.width - PAGE.margin;
    const h = this.header;
    c.line(PAGE.margin, top, right, top, 0.8);
    c.draw(this.bold, 10, PAGE.margin, top + 6, `Total: ${fmt(h.boxes)} box${h.boxes === 1 ? '' : 'es'}, ${fmt(h.cards)} card${h.cards === 1 ? '' : 's'}`);
    c.draw(
      this.regular,
      8,
      PAGE.margin,
      top + 22,
      'Hand-over: each party counts the boxes, checks every seal number against this list and signs. Note any difference below.',
      { fit: true, width: right - PAGE.margin },
    );
    const gap = 12;
    const w = (right - PAGE.margin - 2 * gap) / 3;
    const titles = ['Released by (card bureau)', 'Carrier / driver', 'Received by (collection centre)'];
    const by = top + 40;
    titles.forEach((t, i) => {
      const x = PAGE.margin + i * (w + gap);
      c.box(x, by, w, 120);
      c.draw(this.bold, 8.5, x + 6, by + 6, t);
      ['Name', 'Staff / ID no.', 'Signature', 'Date and time', 'Boxes counted'].forEach((label, j) => {
        const ly = by + 24 + j * 19;
        c.draw(this.regular, 7.5, x + 6, ly, label);
        c.line(x + 62, ly + 9, x + w - 6, ly + 9, 0.4);
      });
    });
    c.draw(this.regular, 8, PAGE.margin, by + 130, 'Differences noted (boxes missing, seals broken or not matching):');
    c.line(PAGE.margin, by + 152, right, by + 152, 0.4);
    c.line(PAGE.margin, by + 168, right, by + 168, 0.4);
  }
}
