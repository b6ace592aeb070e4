/**
 * Box labels: one 100 × 150 mm label per box (the common thermal shipping label), as a PDF ready to print.
 * Each label names the destination centre in large type and carries the box code twice, as Code128 (for
 * hand scanners at the gate) and as a QR Code (for phone cameras at the centre), plus the seal number, the card
 * count and the shipment. Barcodes are vectors (barcode.ts). No holder data on a label: it travels on the box.
 */
import { once } from 'node:events';
import { createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import PDFDocument from 'pdfkit';
import { getBox, getShipment, normBox, summariseBox, type BoxRow } from './boxes.ts';
import { drawCode128, drawQr } from './barcode.ts';
import { DEFAULT_FONTS } from './manifest-pdf.ts';

const MM = 72 / 25.4;
export const LABEL_SIZE = { width: 100 * MM, height: 150 * MM } as const;

export interface LabelData {
  box: string;
  sealNumber: string | null;
  cards: number;
  centre: { code: string; name: string; county: string };
  shipment: string | null;
  /** Position of the box in its shipment, e.g. 3 of 12. */
  index: number;
  of: number;
  sealedAt: string | null;
}

type Doc = InstanceType<typeof PDFDocument>;

/** Draws one label on a new page of `doc` (fonts 'kadi-regular' and 'kadi-bold' registered). */
export function drawLabel(doc: Doc, l: LabelData, opts: { drawBarcodes?: typeof drawCode128 | null } = {}): void {
  doc.addPage({ size: [LABEL_SIZE.width, LABEL_SIZE.height], margin: 0 });
  const m = 5 * MM;
  const w = LABEL_SIZE.width - 2 * m;
  doc.lineWidth(1.2).rect(m / 2, m / 2, LABEL_SIZE.width - m, LABEL_SIZE.height - m).stroke();
  doc.font('kadi-bold').fontSize(9).text('KADI — NATIONAL ID CARDS — SECURE CONSIGNMENT', m, m, { width: w, align: 'center' });
  doc.font('kadi-regular').fontSize(8).text('DELIVER TO COLLECTION CENTRE', m, m + 16, { width: w });
  doc.font('kadi-bold').fontSize(26).text(l.centre.code, m, m + 27, { width: w });
  doc.font('kadi-bold').fontSize(12).text(l.centre.name, m, m + 57, { width: w, height: 30, ellipsis: true });
  doc.font('kadi-regular').fontSize(10).text(`${l.centre.county} County`, m, m + 87, { width: w });
  doc.moveTo(m, m + 102).lineTo(m + w, m + 102).lineWidth(0.8).stroke();

  // Code128 of the box code, with the code in clear below.
  const bcY = m + 110;
  if (opts.drawBarcodes !== null) (opts.drawBarcodes ?? drawCode128)(doc, l.box, m, bcY, w, 22 * MM);
  doc.font('kadi-bold').fontSize(14).text(l.box, m, bcY + 22 * MM + 4, { width: w, align: 'center', characterSpacing: 1 });

  // QR code on the left, facts on the right.
  const qrY = bcY + 22 * MM + 26;
  const qr = 38 * MM;
  if (opts.drawBarcodes !== null) drawQr(doc, l.box, m, qrY, qr);
  const fx = m + qr + 4 * MM;
  const fw = w - qr - 4 * MM;
  const fact = (label: string, value: string, y: number) => {
    doc.font('kadi-regular').fontSize(7.5).text(label, fx, y, { width: fw });
    doc.font('kadi-bold').fontSize(11).text(value, fx, y + 9, { width: fw });
  };
  fact('SEAL NUMBER', l.sealNumber ?? 'NOT SEALED', qrY + 4);
  fact('CARDS IN BOX', String(l.cards), qrY + 30);
  fact('SHIPMENT', l.shipment ?? '—', qrY + 56);
  fact('BOX', `${l.index} of ${l.of}`, qrY + 82);
  doc
    .font('kadi-regular')
    .fontSize(7)
    .text(
      `Sealed ${l.sealedAt ? `${l.sealedAt.slice(0, 16).replace('T', ' ')} UTC` : '—'}. Do not accept if the seal is broken or its number differs. Scan on every hand-over.`,
      m,
      LABEL_SIZE.height - m - 20,
      { width: w },
    );
}

export interface LabelOptions {
  /** All boxes of a shipment (id or code) … */
  shipment?: string | number;
  /** … or one box (code). */
  box?: string;
  outDir: string;
  fonts?: { regular: string; bold: string };
}

export interface LabelResult {
  file: string;
  labels: number;
  boxes: string[];
}

/** `kadi dispatch labels (SHIPMENT | --box CODE) --out DIR`. */
export async function writeLabels(db: Knex, opts: LabelOptions): Promise<LabelResult> {
  let boxes: BoxRow[];
  let name: string;
  let shipmentCode: string | null = null;
  if (opts.box) {
    const b = await getBox(db, opts.box);
    boxes = [b];
    name = `label-${b.code}`;
    if (b.shipment_id !== null) shipmentCode = String((await db('shipments').where({ id: b.shipment_id }).first('code'))?.code);
  } else if (opts.shipment !== undefined) {
    const s = await getShipment(db, opts.shipment);
    boxes = (await db('boxes').where({ shipment_id: s.id }).orderBy('id').select('*')).map(normBox);
    name = `labels-${s.code}`;
    shipmentCode = s.code;
  } else {
    throw new Error('writeLabels needs a shipment or a box');
  }
  const centres = new Map<string, { code: string; name: string; county: string }>();
  for (const r of await db('collection_centres').whereIn('code', [...new Set(boxes.map((b) => b.centre_code))]).select('code', 'name', 'county')) {
    centres.set(String(r.code), { code: String(r.code), name: String(r.name), county: String(r.county) });
  }
  let of = boxes.length;
  let offset = 0;
  if (opts.box && boxes[0]!.shipment_id !== null) {
    const ids = (await db('boxes').where({ shipment_id: boxes[0]!.shipment_id }).orderBy('id').select('id')).map((r: { id: number }) => Number(r.id));
    of = ids.length;
    offset = ids.indexOf(boxes[0]!.id);
  }
  mkdirSync(opts.outDir, { recursive: true });
  const file = path.join(path.resolve(opts.outDir), `${name}.pdf`);
  const part = `${file}.part`;
  const out = createWriteStream(part);
  const doc = new PDFDocument({ autoFirstPage: false, info: { Title: name, Creator: 'Kadi' } });
  const fonts = opts.fonts ?? DEFAULT_FONTS;
  doc.registerFont('kadi-regular', fonts.regular);
  doc.registerFont('kadi-bold', fonts.bold);
  doc.pipe(out);
  try {
    let i = 0;
    for (const b of boxes) {
      const sum = await summariseBox(db, b);
      drawLabel(doc, {
        box: b.code,
        sealNumber: b.seal_number,
        cards: sum.cards,
        centre: centres.get(b.centre_code) ?? { code: b.centre_code, name: '', county: '' },
        shipment: shipmentCode,
        index: offset + ++i,
        of,
        sealedAt: b.sealed_at,
      });
      if (out.writableNeedDrain) await once(out, 'drain');
    }
    const done = once(out, 'finish');
    doc.end();
    await done;
    renameSync(part, file);
  } catch (e) {
    out.destroy();
    rmSync(part, { force: true });
    throw e;
  }
  return { file, labels: boxes.length, boxes: boxes.map((b) => b.code) };
}
