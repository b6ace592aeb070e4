/**
 * The QC report as a PDF (A4, pdfkit, the standard Helvetica fonts: the report holds codes, names of machines and
 * staff, and figures — no personal data). Written to `<out>.part` and renamed when complete.
 *
 * Sections: summary (cards, pass rate, results by kind, reject loop), failures by reason (code, kind, count,
 * share, description), per encoder, per QC operator, per station.
 */
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import PDFDocument from 'pdfkit';
import type { QcReport } from './report.ts';

const MM = 72 / 25.4;
const MARGIN = 18 * MM;
const LINE = 14;

type Doc = InstanceType<typeof PDFDocument>;

const pct = (v: number | null): string => (v === null ? '-' : `${(v * 100).toFixed(1)} %`);

class Writer {
  y = MARGIN;
  constructor(readonly doc: Doc) {}
  get bottom(): number {
    return this.doc.page.height - MARGIN;
  }
  get width(): number {
    return this.doc.page.width - 2 * MARGIN;
  }
  ensure(h: number): void {
    if (this.y + h > this.bottom) {
      this.doc.addPage();
      this.y = MARGIN;
    }
  }
  heading(text: string): void {
    this.ensure(LINE * 3);
    this.y += 6;
    this.doc.font('Helvetica-Bold').fontSize(12).fillColor('#000').text(text, MARGIN, this.y, { lineBreak: false });
    this.y += LINE + 4;
  }
  line(text: string, opts: { bold?: boolean; size?: number } = {}): void {
    this.ensure(LINE);
    this.doc.font(opts.bold ? 'Helvetica-Bold' : 'Helvetica').fontSize(opts.size ?? 9).fillColor('#000').text(text, MARGIN, this.y, { width: this.width, lineBreak: false, ellipsis: true });
    this.y += LINE;
  }
  /** A table: columns as fractions of the width; numeric columns right-aligned. */
  table(headers: string[], widths: number[], rows: Array<Array<string | number>>, numeric: boolean[]): void {
    const xs: number[] = [];
    let x = MARGIN;
    for (const w of widths) {
      xs.push(x);
      x += w * this.width;
    }
    const row = (cells: Array<string | number>, bold: boolean) => {
      this.ensure(LINE);
      this.doc.font(bold ? 'Helvetica-Bold' : 'Helvetica').fontSize(8.5).fillColor('#000');
      cells.forEach((c, i) => {
        const w = widths[i]! * this.width - 4;
        this.doc.text(String(c), xs[i]!, this.y, { width: w, align: numeric[i] ? 'right' : 'left', lineBreak: false, ellipsis: true });
      });
      this.y += LINE - 2;
    };
    row(headers, true);
    this.doc.moveTo(MARGIN, this.y - 2).lineTo(MARGIN + this.width, this.y - 2).lineWidth(0.5).strokeColor('#888').stroke();
    if (rows.length === 0) row(['(none)', ...headers.slice(1).map(() => '')], false);
    for (const r of rows) row(r, false);
    this.y += 6;
  }
}

/** Writes `report` to `out` (see the module comment). Resolves with the number of pages. */
export async function writeQcReportPdf(report: QcReport, out: string): Promise<{ pages: number; bytes: number }> {
  const part = `${out}.part`;
  const doc = new PDFDocument({
    size: 'A4',
    margin: MARGIN,
    compress: true,
    bufferPages: true,
    info: { Title: `QC report, batch ${report.batchId}`, Author: 'Kadi', Subject: 'Quality control', Creator: 'kadi qc report' },
  });
  const stream = createWriteStream(part);
  let bytes = 0;
  doc.on('data', (b: Buffer) => {
    bytes += b.length;
  });
  doc.pipe(stream);
  const done = new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', reject);
    doc.on('error', reject);
  });
  try {
    const w = new Writer(doc);
    doc.font('Helvetica-Bold').fontSize(16).text(`Quality control report — batch ${report.batchId}`, MARGIN, w.y, { lineBreak: false });
    w.y += 24;
    w.line(`Batch state ${report.batchState}. Generated ${report.generatedAt}.`);
    const c = report.cards;
    w.heading('Summary');
    w.table(
      ['', 'cards'],
      [0.6, 0.4],
      [
        ['Cards in the batch', c.inBatch],
        ['Checked (at least one QC result)', c.checked],
        ['Passed', c.passed],
        ['Failed (spoiled in QC)', c.failed],
        ['Pending (a required check still missing)', c.pending],
        ['Printed, awaiting QC', c.awaiting],
        ['Pass rate (passed / decided)', pct(c.passRate)],
        ['Orders re-queued on a new blank', report.replacements],
        ['Orders flagged for a supervisor (REVIEW)', report.flaggedForReview],
      ],
      [false, true],
    );
    w.heading('Results by kind');
    w.table(
      ['kind', 'passed', 'failed', 'pass rate'],
      [0.4, 0.2, 0.2, 0.2],
      Object.entries(report.results.byKind).map(([k, v]) => [k, v.passed, v.failed, pct(v.passed + v.failed ? v.passed / (v.passed + v.failed) : null)]),
      [false, true, true, true],
    );
    w.heading('Failures by reason');
    w.table(
      ['reason code', 'kind', 'count', 'share', 'meaning'],
      [0.27, 0.08, 0.08, 0.09, 0.48],
      report.failuresByReason.map((r) => [r.code, r.kind, r.count, pct(r.share), r.description]),
      [false, false, true, true, false],
    );
    w.heading('Per encoder');
    w.table(
      ['encoder', 'checked', 'passed', 'failed', 'pending', 'pass rate'],
      [0.4, 0.12, 0.12, 0.12, 0.12, 0.12],
      report.byEncoder.map((r) => [r.encoder, r.checked, r.passed, r.failed, r.pending, pct(r.passRate)]),
      [false, true, true, true, true, true],
    );
    w.heading('Per QC operator');
    w.table(
      ['operator', 'results', 'passed', 'failed', 'pass rate'],
      [0.44, 0.14, 0.14, 0.14, 0.14],
      report.byOperator.map((r) => [r.operator, r.results, r.passed, r.failed, pct(r.passRate)]),
      [false, true, true, true, true],
    );
    w.heading('Per station');
    w.table(
      ['station', 'results', 'passed', 'failed', 'pass rate'],
      [0.44, 0.14, 0.14, 0.14, 0.14],
      report.byStation.map((r) => [r.station, r.results, r.passed, r.failed, pct(r.passRate)]),
      [false, true, true, true, true],
    );
    const range = doc.bufferedPageRange();
    for (let i = 0; i < range.count; i++) {
      doc.switchToPage(range.start + i);
      doc.font('Helvetica').fontSize(7.5).fillColor('#555').text(`Kadi QC report, batch ${report.batchId} — page ${i + 1} of ${range.count}`, MARGIN, doc.page.height - MARGIN + 6, { lineBreak: false });
    }
    doc.end();
    await done;
    renameSync(part, out);
    return { pages: range.count, bytes };
  } catch (e) {
    stream.destroy();
    rmSync(part, { force: true });
    throw e;
  }
}
