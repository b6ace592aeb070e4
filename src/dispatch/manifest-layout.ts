/**
 * The manifest's page layout, pure: A4 portrait, measurements in PDF points (1/72 in), y growing downwards
 * from the top edge (pdfkit's page coordinates).
 *
 * Every page: a header (title, shipment code, destination centre, page X of Y, totals), column headings, up to
 * ROWS_PER_PAGE fixed-height lines, and a footer (cards on the page, running total, initials box). Lines are
 * box headings ("Box …, seal …, n cards") and card lines. A box heading is never the last line of a page; a box
 * that goes on over a page break gets a "continued" heading at the top of the next page. After the card pages
 * come the summary pages: one line per box (seal, cards, tick boxes for "received" and "seal intact"), the
 * totals line, and the hand-over signature blocks (bureau, carrier, centre), kept together on the last page.
 *
 * Because every line has the same height, the whole pagination follows from the card count of each box; the
 * renderer and planPages() use the same DetailPaginator, so "Page X of Y" is known before the first page is
 * written (the PDF is streamed; nothing is buffered to number pages afterwards).
 */

export const PAGE = { width: 595.28, height: 841.89, margin: 36 } as const;

/** Top of the first line, line height, and how many lines fit above the footer. */
export const BODY_TOP = 104;
export const LINE_HEIGHT = 10.5;
export const FOOTER_TOP = PAGE.height - PAGE.margin - 26;
export const ROWS_PER_PAGE = Math.floor((FOOTER_TOP - 4 - BODY_TOP) / LINE_HEIGHT);

/** Summary lines are taller (tick boxes to fill by hand). */
export const SUMMARY_LINE_HEIGHT = 14;
export const SUMMARY_ROWS_PER_PAGE = Math.floor((FOOTER_TOP - 4 - BODY_TOP) / SUMMARY_LINE_HEIGHT);
/** Height of the totals line plus the three signature blocks and the reception statement. */
export const SIGNATURE_BLOCK_HEIGHT = 220;
export const SIGNATURE_ROWS = Math.ceil(SIGNATURE_BLOCK_HEIGHT / SUMMARY_LINE_HEIGHT);

/** Card-line columns: x positions (left edges) and widths. */
export const COLUMNS = {
  line: { x: PAGE.margin, w: 38 }, // right aligned running number
  document: { x: PAGE.margin + 46, w: 66 },
  name: { x: PAGE.margin + 116, w: 300 },
  box: { x: PAGE.margin + 422, w: 70 },
  tick: { x: PAGE.width - PAGE.margin - 10, w: 7 },
} as const;

export type DetailStep = { newPage: boolean; continuation: boolean };

/**
 * Decides where lines go. startBox() before a box heading, card() before each card line; each returns whether
 * a new page starts first (and, for card(), whether that page opens with a "continued" heading).
 */
export class DetailPaginator {
  page = 0;
  slot = 0;
  constructor(readonly rowsPerPage = ROWS_PER_PAGE) {
    if (rowsPerPage < 3) throw new RangeError('a page needs room for at least 3 lines');
  }
  startBox(): DetailStep {
    let newPage = false;
    if (this.page === 0 || this.rowsPerPage - this.slot < 2) {
      this.page++;
      this.slot = 0;
      newPage = true;
    }
    this.slot++;
    return { newPage, continuation: false };
  }
  card(): DetailStep {
    if (this.slot < this.rowsPerPage) {
      this.slot++;
      return { newPage: false, continuation: false };
    }
    this.page++;
    this.slot = 2; // continued heading + this card
    return { newPage: true, continuation: true };
  }
}

/** Summary pages for `boxes` box lines followed by the totals and signature blocks. */
export class SummaryPaginator {
  page = 0;
  slot = 0;
  constructor(readonly rowsPerPage = SUMMARY_ROWS_PER_PAGE, readonly signatureRows = SIGNATURE_ROWS) {}
  line(): boolean {
    if (this.page === 0 || this.slot >= this.rowsPerPage) {
      this.page++;
      this.slot = 1;
      return true;
    }
    this.slot++;
    return false;
  }
  signatures(): boolean {
    if (this.page === 0 || this.rowsPerPage - this.slot < this.signatureRows) {
      this.page++;
      this.slot = this.signatureRows;
      return true;
    }
    this.slot += this.signatureRows;
    return false;
  }
}

export interface PagePlan {
  detailPages: number;
  summaryPages: number;
  pages: number;
}

/** Page count for boxes holding these numbers of cards (in manifest order). */
export function planPages(boxCards: readonly number[], rowsPerPage = ROWS_PER_PAGE, summaryRows = SUMMARY_ROWS_PER_PAGE): PagePlan {
  const d = new DetailPaginator(rowsPerPage);
  for (const n of boxCards) {
    d.startBox();
    // Arithmetic equivalent of n calls to d.card(), so planning a million cards stays instant.
    let left = n;
    while (left > 0) {
      const room = d.rowsPerPage - d.slot;
      if (room === 0) {
        d.card();
        left--;
        continue;
      }
      const take = Math.min(room, left);
      d.slot += take;
      left -= take;
    }
  }
  const s = new SummaryPaginator(summaryRows);
  for (let i = 0; i < boxCards.length; i++) s.line();
  s.signatures();
  return { detailPages: d.page, summaryPages: s.page, pages: d.page + s.page };
}
