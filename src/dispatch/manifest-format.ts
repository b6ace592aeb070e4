/**
 * Manifest rows for other systems, pure: the holder name taken from the order's personal-data snapshot, CSV
 * (RFC 4180: comma separated, CRLF line ends, fields quoted when they hold a comma, quote or line break, UTF-8
 * without BOM) and the JSON document's pieces. Manifests are a legitimate place for holder names (the centre
 * must hand each card to its holder); logs, audit entries and errors are not.
 */

export interface ManifestCentre {
  code: string;
  name: string;
  county: string;
}

export interface ManifestHeader {
  shipment: string;
  state: string;
  centre: ManifestCentre;
  createdAt: string;
  dispatchedAt: string | null;
  generatedAt: string;
  boxes: number;
  cards: number;
}

export interface ManifestBox {
  code: string;
  sealNumber: string | null;
  /** Cards listed for this box. */
  cards: number;
}

export interface ManifestRow {
  /** Running number over the whole manifest, from 1. */
  line: number;
  box: string;
  seal: string | null;
  documentNumber: string;
  surname: string;
  givenNames: string;
}

/** Surname and given names from an order_records.data snapshot (NFC normalised, blanks collapsed). */
export function holderName(snapshotJson: string): { surname: string; givenNames: string } {
  let d: { surname?: unknown; givenNames?: unknown } = {};
  try {
    d = JSON.parse(snapshotJson) as typeof d;
  } catch {
    // an unreadable snapshot prints as empty names; reconcile and intake guard the data itself
  }
  const clean = (v: unknown) => (typeof v === 'string' ? v.normalize('NFC').replace(/\s+/g, ' ').trim() : '');
  return { surname: clean(d.surname), givenNames: clean(d.givenNames) };
}

/** "SURNAME, Given Names" as printed on the manifest. */
export function displayName(r: { surname: string; givenNames: string }): string {
  return r.givenNames ? `${r.surname}, ${r.givenNames}` : r.surname;
}

export const CSV_COLUMNS = ['shipment', 'centre', 'box', 'seal_number', 'line', 'document_number', 'surname', 'given_names'] as const;

/**
 * One CSV field (RFC 4180 quoting). Text starting with = + - @ or a tab/CR is prefixed with an apostrophe, so a
 * spreadsheet opening the manifest shows it as text instead of running it as a formula (CSV injection, OWASP).
 */
export function csvField(v: string | number | null): string {
  let s = v === null ? '' : String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`;
}

export function csvRow(h: { shipment: string; centre: string }, r: ManifestRow): string {
  return `${[h.shipment, h.centre, r.box, r.seal, r.line, r.documentNumber, r.surname, r.givenNames].map(csvField).join(',')}\r\n`;
}

export const JSON_FORMAT = 'kadi.manifest/1';

/** The JSON manifest is written as a stream: jsonStart, then jsonCard for each row, then jsonEnd. */
export function jsonStart(h: ManifestHeader, boxes: readonly ManifestBox[]): string {
  const head = {
    format: JSON_FORMAT,
    shipment: { code: h.shipment, state: h.state, centre: h.centre, createdAt: h.createdAt, dispatchedAt: h.dispatchedAt },
    generatedAt: h.generatedAt,
    totals: { boxes: h.boxes, cards: h.cards },
    boxes: boxes.map((b) => ({ code: b.code, sealNumber: b.sealNumber, cards: b.cards })),
  };
  const s = JSON.stringify(head);
  return `${s.slice(0, -1)},"cards":[\n`;
}

export function jsonCard(r: ManifestRow, first: boolean): string {
  const o = { line: r.line, box: r.box, seal: r.seal, documentNumber: r.documentNumber, surname: r.surname, givenNames: r.givenNames };
  return `${first ? '' : ',\n'}${JSON.stringify(o)}`;
}

export function jsonEnd(): string {
  return '\n]}\n';
}
