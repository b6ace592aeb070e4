/**
 * Reading a card face the way a QC station's scanner does, from the print job's rendered PDF (the adapter face QC
 * uses when no physical scanner is attached: the demo, the pipeline with virtual encoders, tests). The MRZ comes
 * from the text layer of the card's page (poppler's `pdftotext -layout`), the seal from a 300 dpi greyscale rendering
 * of it (`pdftoppm -gray`, a PGM on stdout: no PNG compression and decompression, no temporary file) through
 * src/print's Data Matrix locator — the same path a camera image takes. Text and image of a page are read at once.
 *
 * When the card's template is known (the print job records its digest; the templates this process printed with or
 * loaded are known, src/print `knownTemplates`), only the seal's area of the page is rendered and searched, as a
 * QC camera aimed at the seal would see it (about a tenth of the page: poppler's rendering and the search are
 * 3-4x cheaper). A seal not found there (say, a misprint shifted it) is looked for on the whole page, as before.
 * poppler runs in long-lived helper shells (poppler.ts), not in a process spawned by Kadi per card and tool.
 *
 * Which pages: the newest COMPLETED print job holding the card, without imposition: front = page 2p - 1, back =
 * page 2p for the card at position p (src/print). Imposed jobs (several cards per sheet) are refused with
 * QC_FACE_SOURCE_UNSUPPORTED: give the station's readings instead (`kadi qc face --mrz ... --seal ...`).
 */
import path from 'node:path';
import type { Knex } from 'knex';
import { type CardTemplate, type FaceArea, type GreyImage, VDS_MAGIC, decodeVds, knownTemplates, locateDataMatrix, readIdSealFeatures, sealArea, templateDigest } from '../print/index.ts';
import { KadiError, NotFoundError } from '../shared/index.ts';
import { popplerRead } from './poppler.ts';


/** What was read on a face. */
export interface FaceReading {
  /** The MRZ lines found (3 x 30), or undefined. */
  faceMrz: string[] | undefined;
  /** The seal bytes, or undefined. */
  seal: Uint8Array | undefined;
  /** Where it came from (job, pages). */
  source: { jobId: number; pdf: string; pages: number[] };
}

/** TD1 MRZ lines in a page's text, in order (blanks inside a line ignored). */
export function mrzLinesIn(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/\s+/g, ''))
    .filter((l) => /^[A-Z0-9<]{30}$/.test(l));
}

/** The MRZ of one card among the lines of a page: the first run of 3 lines whose first names `documentNumber`. */
export function pickMrz(lines: readonly string[], documentNumber?: string): string[] | undefined {
  for (let i = 0; i + 3 <= lines.length; i++) {
    const l1 = lines[i]!;
    if (!/^[AIC][A-Z0-9<]/.test(l1)) continue;
    if (documentNumber && !l1.slice(5, 14).startsWith(documentNumber.slice(0, 9))) continue;
    return lines.slice(i, i + 3);
  }
  return undefined;
}

/**
 * A binary PGM (Netpbm P5: `P5 <width> <height> <maxval>`, whitespace separated, one whitespace byte, then
 * width x height samples of one byte when maxval < 256) as a grey image. Throws on anything else.
 */
export function decodePgm(file: Uint8Array): GreyImage {
  const fields: number[] = [];
  let i = 2;
  if (file[0] !== 0x50 || file[1] !== 0x35) throw new RangeError('not a binary PGM (P5)');
  const space = (b: number | undefined): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
  while (fields.length < 3) {
    while (space(file[i])) i++;
    if (file[i] === 0x23) {
      while (i < file.length && file[i] !== 0x0a) i++; // comment
      continue;
    }
    let v = 0;
    const start = i;
    while (i < file.length && file[i]! >= 0x30 && file[i]! <= 0x39) v = v * 10 + file[i++]! - 0x30;
    if (i === start) throw new RangeError('PGM header is malformed');
    fields.push(v);
  }
  if (!space(file[i])) throw new RangeError('PGM header is malformed');
  i++;
  const [width, height, maxval] = fields as [number, number, number];
  if (maxval < 1 || maxval > 255) throw new RangeError(`PGM with maxval ${maxval} is not supported`);
  if (file.length - i < width * height) throw new RangeError('PGM is truncated');
  return { width, height, data: file.subarray(i, i + width * height) };
}

/** Resolution the seal is rendered at, dpi: modules of 0.4-0.5 mm are 5-6 pixels wide. */
const SEAL_DPI = 300;

/** `area` (mm) as a crop in pixels at {@link SEAL_DPI}. */
function cropOf(area: FaceArea): { x: number; y: number; w: number; h: number } {
  const px = (mm: number): number => Math.round((mm / 25.4) * SEAL_DPI);
  return { x: px(area.x), y: px(area.y), w: px(area.w), h: px(area.h) };
}

const isSeal = (s: { bytes: Uint8Array }): boolean => s.bytes[0] === VDS_MAGIC;

/**
 * The seal in a rendered page (or part of one): the Visible Digital Seal of `documentNumber` when there are several.
 * `crop`: the image is the crop of the template's seal area, which holds one card's seal and nothing else that is a
 * seal, so the search stops at the first seal found instead of scanning the rest of the image for others.
 */
function sealIn(pgm: Buffer, documentNumber?: string, crop = false): Uint8Array | undefined {
  const img = decodePgm(new Uint8Array(pgm.buffer, pgm.byteOffset, pgm.length));
  if (crop) return locateDataMatrix(img, { max: 1, accept: isSeal })[0]?.bytes;
  const seals = locateDataMatrix(img, { max: 4 }).filter(isSeal);
  if (!documentNumber || seals.length <= 1) return seals[0]?.bytes;
  return (
    seals.find((s) => {
      try {
        return readIdSealFeatures(decodeVds(s.bytes).features).data.documentNumber === documentNumber;
      } catch {
        return false;
      }
    })?.bytes ?? seals[0]?.bytes
  );
}

/** Where the seal should be: on `page`, in `area` (mm from the card's top-left corner). */
export interface SealHint {
  page: number;
  area: FaceArea;
}

/**
 * Reads a card's face from a PDF: `pages` in order (the back first is cheapest: MRZ and seal are there). With a
 * `sealHint`, the seal is first looked for in that area of its page only, then (not found) on the whole pages.
 */
export async function readFaceFromPdf(pdf: string, pages: readonly number[], documentNumber?: string, sealHint?: SealHint): Promise<Omit<FaceReading, 'source'>> {
  try {
    let faceMrz: string[] | undefined;
    let seal: Uint8Array | undefined;
    for (const p of pages) {
      const hinted = sealHint?.page === p ? sealHint.area : undefined;
      // text and image of the page from one poppler request (src/qc/poppler.ts: no process spawn per card)
      const got = await popplerRead({
        pdf,
        ...(faceMrz ? {} : { textPage: p }),
        ...(seal ? {} : { imagePage: p }),
        dpi: SEAL_DPI,
        ...(hinted ? { crop: cropOf(hinted) } : {}),
      });
      if (got.text !== undefined) faceMrz = pickMrz(mrzLinesIn(got.text), documentNumber);
      if (got.image) seal ??= sealIn(got.image, documentNumber, hinted !== undefined);
      // not in the seal's area: the whole page, as a camera not aimed at it would see it
      if (!seal && hinted) seal = sealIn((await popplerRead({ pdf, imagePage: p, dpi: SEAL_DPI })).image!, documentNumber);
      if (faceMrz && seal) break;
    }
    return { faceMrz, seal };
  } catch (e) {
    throw new KadiError('QC_FACE_READ_FAILED', `the card face could not be read from ${path.basename(pdf)}: ${(e as Error).message}`, {
      hint: 'poppler-utils (pdftotext, pdftoppm) must be installed, and the PDF must still exist.',
      cause: e,
    });
  }
}

/** Reads `cardId`'s face from the newest completed print job that holds it (see the module comment). */
export async function readFaceFromPrintJob(db: Knex, cardId: number): Promise<FaceReading> {
  const row = await db('print_job_cards as c')
    .join('print_jobs as j', 'j.id', 'c.job_id')
    .where({ 'c.card_id': cardId, 'j.state': 'COMPLETED' })
    .orderBy('j.id', 'desc')
    .first('j.id as job_id', 'j.output_path', 'j.options', 'j.template_sha256', 'c.position');
  if (!row) throw new NotFoundError('QC_FACE_NOT_PRINTED', `card ${cardId} is in no completed print job`, { details: { cardId } });
  const options = JSON.parse(String(row.options ?? '{}')) as { impose?: unknown };
  if (options.impose) {
    throw new KadiError('QC_FACE_SOURCE_UNSUPPORTED', `print job ${Number(row.job_id)} is imposed (several cards per sheet); read the face at the QC station instead`, {
      details: { jobId: Number(row.job_id) },
    });
  }
  const card = await db('cards').where({ id: cardId }).first('document_number');
  const position = Number(row.position);
  const pages = [2 * position, 2 * position - 1];
  const pdf = String(row.output_path);
  const template = row.template_sha256 ? knownTemplate(String(row.template_sha256)) : undefined;
  const area = template ? sealArea(template) : undefined;
  const hint = area ? { page: area.side === 'back' ? 2 * position : 2 * position - 1, area } : undefined;
  const r = await readFaceFromPdf(pdf, pages, card?.document_number ? String(card.document_number) : undefined, hint);
  return { ...r, source: { jobId: Number(row.job_id), pdf, pages } };
}

const digests = new WeakMap<CardTemplate, string>();

/** The template this process knows (src/print knownTemplates) with this digest (print_jobs.template_sha256). */
function knownTemplate(sha256: string): CardTemplate | undefined {
  return knownTemplates().find((t) => {
    let d = digests.get(t);
    if (d === undefined) digests.set(t, (d = templateDigest(t)));
    return d === sha256;
  });
}
