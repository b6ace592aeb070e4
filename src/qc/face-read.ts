/**
 * Reading a card face the way a QC station's scanner does, from the print job's rendered PDF (the adapter face QC
 * uses when no physical scanner is attached: the demo, the pipeline with virtual encoders, tests). The MRZ comes
 * from the text layer of the card's page (poppler's `pdftotext -layout`), the seal from a 300 dpi greyscale rendering
 * of it (`pdftoppm -gray`, a PGM on stdout: no PNG compression and decompression, no temporary file) through
 * src/print's Data Matrix locator — the same path a camera image takes. Text and image of a page are read at once.
 *
 * Which pages: the newest COMPLETED print job holding the card, without imposition: front = page 2p - 1, back =
 * page 2p for the card at position p (src/print). Imposed jobs (several cards per sheet) are refused with
 * QC_FACE_SOURCE_UNSUPPORTED: give the station's readings instead (`kadi qc face --mrz ... --seal ...`).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Knex } from 'knex';
import { type GreyImage, VDS_MAGIC, decodeVds, locateDataMatrix, readIdSealFeatures } from '../print/index.ts';
import { KadiError, NotFoundError } from '../shared/index.ts';

const run = promisify(execFile);

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

async function pageText(pdf: string, page: number): Promise<string> {
  const { stdout } = await run('pdftotext', ['-f', String(page), '-l', String(page), '-layout', pdf, '-'], { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
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

async function pageSeal(pdf: string, page: number, documentNumber?: string): Promise<Uint8Array | undefined> {
  const { stdout } = await run('pdftoppm', ['-r', '300', '-gray', '-singlefile', '-f', String(page), '-l', String(page), pdf], {
    encoding: 'buffer',
    maxBuffer: 256 * 1024 * 1024,
  });
  const img = decodePgm(new Uint8Array(stdout.buffer, stdout.byteOffset, stdout.length));
  const seals = locateDataMatrix(img, { max: 4 }).filter((s) => s.bytes[0] === VDS_MAGIC);
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

/** Reads a card's face from a PDF: `pages` in order (the back first is cheapest: MRZ and seal are there). */
export async function readFaceFromPdf(pdf: string, pages: readonly number[], documentNumber?: string): Promise<Omit<FaceReading, 'source'>> {
  try {
    let faceMrz: string[] | undefined;
    let seal: Uint8Array | undefined;
    for (const p of pages) {
      const [text, found] = await Promise.all([
        faceMrz ? undefined : pageText(pdf, p),
        seal ? undefined : pageSeal(pdf, p, documentNumber),
      ]);
      if (text !== undefined) faceMrz = pickMrz(mrzLinesIn(text), documentNumber);
      seal ??= found;
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
    .first('j.id as job_id', 'j.output_path', 'j.options', 'c.position');
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
  const r = await readFaceFromPdf(pdf, pages, card?.document_number ? String(card.document_number) : undefined);
  return { ...r, source: { jobId: Number(row.job_id), pdf, pages } };
}
