/**
 * PNG export for printers that take images: the rendered PDF is rasterised by poppler's `pdftoppm` (Debian
 * poppler-utils) at the chosen resolution — the same renderer the tests read the MRZ and seal back from, and
 * colour-exact to the PDF. One pdftoppm run per PDF; pages are renamed to `<name>-front.png` / `<name>-back.png`.
 *
 * At 300 dpi an ID-1 side is 1011 x 638 pixels; the seal's modules (~0.33 mm) are ~3.9 pixels, which the seal
 * reader decodes; below 250 dpi it does not (a printer taking images needs at least 300 dpi anyway).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { KadiError } from '../shared/index.ts';

export interface PngExportOptions {
  pdf: string;
  outDir: string;
  /** Resolution, dots per inch (72..1200, default 300). */
  dpi?: number;
  /** Greyscale instead of RGB. */
  gray?: boolean;
  /** Output names for the pages, in page order (without .png). Default: page-N. */
  names?: string[];
  /** First and last page (1-based) to export. */
  firstPage?: number;
  lastPage?: number;
}

export function pdftoppmAvailable(): boolean {
  return spawnSync('pdftoppm', ['-v'], { stdio: 'ignore' }).status === 0;
}

/** Rasterises PDF pages to PNG files; returns the files written, in page order. */
export function exportPngs(o: PngExportOptions): string[] {
  const dpi = o.dpi ?? 300;
  if (!Number.isInteger(dpi) || dpi < 72 || dpi > 1200) throw new KadiError('PRINT_DPI_INVALID', `dpi must be an integer from 72 to 1200, not ${dpi}`);
  mkdirSync(o.outDir, { recursive: true });
  const prefix = path.join(o.outDir, `.kadi-png-${process.pid}`);
  const args = ['-r', String(dpi), '-png', ...(o.gray ? ['-gray'] : []), ...(o.firstPage ? ['-f', String(o.firstPage)] : []), ...(o.lastPage ? ['-l', String(o.lastPage)] : []), o.pdf, prefix];
  const r = spawnSync('pdftoppm', args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new KadiError('PRINT_PNG_EXPORT_FAILED', `pdftoppm failed: ${r.error?.message ?? r.stderr?.trim() ?? `exit ${r.status}`}`, {
      hint: 'Install poppler-utils (Debian) and check the PDF.',
    });
  }
  const base = path.basename(prefix);
  const made = readdirSync(o.outDir)
    .filter((f) => f.startsWith(`${base}-`) && f.endsWith('.png'))
    .map((f) => ({ f, page: Number(f.slice(base.length + 1, -4)) }))
    .sort((a, b) => a.page - b.page);
  const out: string[] = [];
  made.forEach(({ f, page }, i) => {
    const name = o.names?.[i] ?? `page-${page}`;
    const dest = path.join(o.outDir, `${name}.png`);
    rmSync(dest, { force: true });
    renameSync(path.join(o.outDir, f), dest);
    out.push(dest);
  });
  return out;
}
