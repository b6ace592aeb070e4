/**
 * Manifest benchmark (issue 7): time and peak memory to write the manifest of one shipment of 1,000,000 cards
 * as PDF and as CSV (goal: under 60 s each, memory flat), plus the baselines they are compared with.
 *
 * Set-up (not measured as part of the figures): a fresh SQLite database (migrated), seeded with bulk SQL
 * straight into the tables — ONE centre, one blank lot, N orders with their personal-data snapshots (names from
 * the synthetic registry generator, incl. non-ASCII), N cards already DISPATCHED in N/200 sealed boxes on one
 * shipment, one `dispatched` tracking event per box. The set-up BYPASSES transitionCard and the audit log on
 * purpose (a million audited transitions would take minutes and is not what is measured here).
 *
 * Each manifest run happens in its own child process so its peak RSS (getrusage maxrss) is its own; the same
 * is done at N/10 cards to show that memory does not grow with the manifest ("flat").
 *
 * Figures (one JSON line each): manifest.pdf.seconds, manifest.pdf.peak_rss_mb, manifest.pdf.cards_per_s,
 * manifest.pdf.pages, manifest.pdf.bytes, the same for csv, the *_rss_mb at N/10, the idle child RSS, and the
 * baselines: pdfkit's own text() against the fast table writer (lines/s), and box labels with vector barcodes
 * against bwip-js PNG barcodes (labels/s).
 *
 * Standalone: `node --import tsx bench/manifest.bench.ts` (KADI_BENCH_MANIFEST_N=100000 for a quick run).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import bwipjs from 'bwip-js';
import PDFDocument from 'pdfkit';
import { migrateLatest, openDb } from '../src/db/index.ts';
import { DEFAULT_FONTS, FastFont, PageContent, drawLabel, formatCode, writeManifests, type ManifestFormat } from '../src/dispatch/index.ts';
import { generateRecords } from '../src/registry/index.ts';
import type { BenchContext, Figure } from './lib.ts';

export type { Figure };

const SELF = fileURLToPath(import.meta.url);
const BOX = 200;
const CENTRE = { code: 'KE-047-01', name: 'Huduma Centre GPO', county: 'Nairobi' };

/** Seeds `n` dispatched cards in one shipment; returns the shipment code. Bypasses transitions (see above). */
export async function seedManifestDb(file: string, n: number): Promise<string> {
  const db = openDb(`sqlite:${file}`);
  try {
    await migrateLatest(db);
    const now = '2026-03-02T08:00:00.000Z';
    const boxes = Math.ceil(n / BOX);
    await db('collection_centres').insert({ ...CENTRE, created_at: now });
    await db('blank_lots').insert({ id: 1, lot_number: 'BENCH-LOT', supplier: 'bench', chip_type: 'bench', quantity: n, received_at: now, received_by: 'bench' });
    await db('shipments').insert({ id: 1, code: formatCode('shipment', 1), centre_code: CENTRE.code, state: 'DISPATCHED', created_at: now, dispatched_at: now });
    const names = [...generateRecords({ count: 997, seed: 'bench-names', invalidRate: 0, nonApprovedRate: 0 })].map((r, i) => ({ i, surname: r.surname ?? '', given: r.givenNames ?? '' }));
    await db.schema.createTable('bench_names', (t) => {
      t.integer('i').primary();
      t.string('surname', 200);
      t.string('given', 200);
    });
    for (let i = 0; i < names.length; i += 200) await db('bench_names').insert(names.slice(i, i + 200));
    await db.transaction(async (trx) => {
      const rows = [];
      const events = [];
      for (let b = 1; b <= boxes; b++) {
        rows.push({ id: b, code: formatCode('box', b), centre_code: CENTRE.code, shipment_id: 1, state: 'DISPATCHED', capacity: BOX, seal_number: formatCode('seal', b), created_at: now, sealed_at: now });
        events.push({ box_id: b, shipment_id: 1, event: 'dispatched', centre_code: 'BUREAU', at: now, actor: 'bench', details: JSON.stringify({ cards: Math.min(BOX, n - (b - 1) * BOX) }) });
      }
      for (let i = 0; i < rows.length; i += 100) await trx('boxes').insert(rows.slice(i, i + 100));
      for (let i = 0; i < events.length; i += 100) await trx('tracking_events').insert(events.slice(i, i + 100));
      const seq = `WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ${n})`;
      await trx.raw(`${seq} INSERT INTO card_orders (id, registry_id, national_number, status, attempts, centre_code, created_at, updated_at)
        SELECT n, n, printf('%08d', 10000000 + n), 'OPEN', 1, '${CENTRE.code}', '${now}', '${now}' FROM seq`);
      await trx.raw(`${seq} INSERT INTO order_records (order_id, data, photo)
        SELECT n, json_object('surname', b.surname, 'givenNames', b.given, 'nationalNumber', printf('%08d', 10000000 + n)), zeroblob(0)
        FROM seq JOIN bench_names b ON b.i = n % ${names.length}`);
      await trx.raw(`${seq} INSERT INTO cards (id, order_id, state, document_number, blank_serial, lot_id, box_id, centre_code, version, created_at, updated_at)
        SELECT n, n, 'DISPATCHED', printf('AK%07d', n), printf('BL%09d', n), 1, (n - 1) / ${BOX} + 1, '${CENTRE.code}', 7, '${now}', '${now}' FROM seq`);
    });
    return formatCode('shipment', 1);
  } finally {
    await db.destroy();
  }
}

interface ChildResult {
  seconds: number;
  maxRssMb: number;
  pages: number | null;
  bytes: number;
  cards: number;
}

/** Runs one manifest format in a child process (its own peak RSS). */
function runChild(file: string, format: ManifestFormat | 'idle', outDir: string): ChildResult {
  const out = execFileSync(process.execPath, ['--import', 'tsx', SELF, '--child', format, file, outDir], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop()!) as ChildResult;
}

async function child(format: ManifestFormat | 'idle', file: string, outDir: string): Promise<void> {
  const db = openDb(`sqlite:${file}`);
  try {
    if (format === 'idle') {
      await db('cards').count({ n: '*' });
      process.stdout.write(`${JSON.stringify({ seconds: 0, maxRssMb: process.resourceUsage().maxRSS / 1024, pages: null, bytes: 0, cards: 0 })}\n`);
      return;
    }
    const t = performance.now();
    const r = await writeManifests(db, { shipment: 1, outDir, formats: [format] });
    const seconds = (performance.now() - t) / 1000;
    const bytes = statSync(r.files[format]!).size;
    process.stdout.write(`${JSON.stringify({ seconds, maxRssMb: process.resourceUsage().maxRSS / 1024, pages: r.pages, bytes, cards: r.cards })}\n`);
  } finally {
    await db.destroy();
  }
}

/** Table lines per second: pdfkit's text() per cell (the obvious way) against the FastFont/PageContent writer. */
async function textBaseline(lineCount: number): Promise<{ pdfkit: number; fast: number }> {
  let lines = lineCount;
  const sink = () => {
    const s = createWriteStream(os.devNull);
    return s;
  };
  const cells = (i: number) => [String(i + 1), `AK${String(i).padStart(7, '0')}`, `Wanjikũ-Müller, Grace Şükrü ${i % 977}`, formatCode('box', 1 + Math.floor(i / 200))];
  const xs = [36, 82, 152, 458];
  const measure = async (fast: boolean) => {
    const doc = new PDFDocument({ size: 'A4', autoFirstPage: false });
    const out = sink();
    doc.pipe(out);
    doc.registerFont('r', DEFAULT_FONTS.regular);
    const f = new FastFont(doc, 'r');
    doc.fontSize(7.5);
    const page = new PageContent();
    const t = performance.now();
    for (let i = 0; i < lines; i++) {
      if (i % 64 === 0) {
        if (fast && i > 0) page.flush(doc);
        doc.addPage();
        if (out.writableNeedDrain) await once(out, 'drain');
      }
      const y = 100 + (i % 64) * 10.5;
      const c = cells(i);
      for (let k = 0; k < c.length; k++) {
        if (fast) page.draw(f, 7.5, xs[k]!, y, c[k]!);
        else doc.text(c[k]!, xs[k]!, y, { lineBreak: false });
      }
    }
    if (fast) page.flush(doc);
    const done = once(out, 'finish');
    doc.end();
    await done;
    return lines / ((performance.now() - t) / 1000);
  };
  // Warm both paths up first (JIT, font loading), then measure.
  const full = lines;
  lines = Math.min(2000, full);
  await measure(false);
  await measure(true);
  lines = full;
  return { pdfkit: await measure(false), fast: await measure(true) };
}

/** Box labels per second with vector barcodes against PNG barcodes (bwip-js toBuffer + doc.image). */
async function labelBaseline(count: number): Promise<{ vector: number; png: number }> {
  const label = (i: number) => ({ box: formatCode('box', i + 1), sealNumber: formatCode('seal', i + 1), cards: 200, centre: CENTRE, shipment: formatCode('shipment', 1), index: i + 1, of: count, sealedAt: '2026-03-02T08:00:00.000Z' });
  const run = async (png: boolean) => {
    const doc = new PDFDocument({ autoFirstPage: false });
    const out = createWriteStream(os.devNull);
    doc.pipe(out);
    doc.registerFont('kadi-regular', DEFAULT_FONTS.regular);
    doc.registerFont('kadi-bold', DEFAULT_FONTS.bold);
    const t = performance.now();
    for (let i = 0; i < count; i++) {
      const l = label(i);
      if (!png) {
        drawLabel(doc, l);
        continue;
      }
      // Same label, barcodes as PNG images at 300 dpi.
      drawLabel(doc, l, { drawBarcodes: null });
      const c128 = await bwipjs.toBuffer({ bcid: 'code128', text: l.box, scale: 4, height: 22 });
      const qr = await bwipjs.toBuffer({ bcid: 'qrcode', text: l.box, scale: 8 });
      doc.image(c128, 14, 45, { width: 255, height: 62 });
      doc.image(qr, 14, 140, { width: 108, height: 108 });
    }
    const done = once(out, 'finish');
    doc.end();
    await done;
    return count / ((performance.now() - t) / 1000);
  };
  return { vector: await run(false), png: await run(true) };
}

/**
 * Runs the benchmark, reporting each figure. `tmpDir`: where the databases and files go (default: a new temp
 * folder, removed afterwards). `log`: progress notes for humans.
 */
export async function run(report: (figure: Figure) => void, opts: { tmpDir?: string; log?: (msg: string) => void } = {}): Promise<void> {
  const n = Number(process.env.KADI_BENCH_MANIFEST_N ?? 1_000_000);
  const small = Math.max(1000, Math.round(n / 10));
  const log = opts.log ?? ((m: string) => process.stderr.write(`[manifest.bench] ${m}\n`));
  const dir = mkdtempSync(path.join(opts.tmpDir ?? os.tmpdir(), 'kadi-bench-manifest-'));
  try {
    const idle = path.join(dir, 'idle.sqlite');
    await seedManifestDb(idle, 10);
    report({ name: 'manifest.child.idle_rss_mb', value: round(runChild(idle, 'idle', dir).maxRssMb), unit: 'MB', n: 1, note: 'node + tsx + Kadi modules, before any manifest' });

    for (const size of [small, n]) {
      const file = path.join(dir, `m${size}.sqlite`);
      const t = performance.now();
      log(`seeding ${size} cards (bulk SQL)`);
      await seedManifestDb(file, size);
      report({ name: 'manifest.setup.seed_seconds', value: round((performance.now() - t) / 1000), unit: 's', n: size, note: 'bulk SQL, bypasses transitions and audit' });
      for (const format of ['pdf', 'csv'] as const) {
        log(`${format} manifest of ${size} cards`);
        const r = runChild(file, format, dir);
        if (r.cards !== size) throw new Error(`manifest listed ${r.cards} cards, expected ${size}`);
        const tag = size === n ? '' : '.small';
        report({ name: `manifest.${format}${tag}.seconds`, value: round(r.seconds), unit: 's', n: size, ...(size === n ? { goal: 60 } : {}) });
        report({ name: `manifest.${format}${tag}.peak_rss_mb`, value: round(r.maxRssMb), unit: 'MB', n: size });
        if (size === n) {
          report({ name: `manifest.${format}.cards_per_s`, value: Math.round(size / r.seconds), unit: 'cards/s', n: size });
          report({ name: `manifest.${format}.bytes`, value: r.bytes, unit: 'B', n: size });
          if (r.pages !== null) report({ name: 'manifest.pdf.pages', value: r.pages, unit: 'pages', n: size });
        }
        rmSync(path.join(dir, `manifest-${formatCode('shipment', 1)}.${format}`), { force: true });
      }
      rmSync(file, { force: true });
      rmSync(`${file}-wal`, { force: true });
      rmSync(`${file}-shm`, { force: true });
    }

    log('baselines: pdfkit text() against the fast table writer; PNG against vector barcodes');
    const lines = 20_000;
    const tb = await textBaseline(lines);
    report({ name: 'manifest.table_text.pdfkit_text_lines_per_s', value: Math.round(tb.pdfkit), unit: 'lines/s', n: lines, note: 'baseline: doc.text() per cell' });
    report({ name: 'manifest.table_text.fast_lines_per_s', value: Math.round(tb.fast), unit: 'lines/s', n: lines, speedup: round(tb.fast / tb.pdfkit) });
    const lb = await labelBaseline(300);
    report({ name: 'labels.png_barcodes_per_s', value: Math.round(lb.png), unit: 'labels/s', n: 300, note: 'baseline: bwip-js toBuffer PNG + doc.image' });
    report({ name: 'labels.vector_barcodes_per_s', value: Math.round(lb.vector), unit: 'labels/s', n: 300, speedup: round(lb.vector / lb.png) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The bench/run.ts entry (bench/lib.ts BenchModule). */
export default async function manifestBench(ctx: BenchContext): Promise<void> {
  await run((f) => ctx.report(f), { tmpDir: ctx.tmpDir, log: (m) => ctx.log(m) });
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

const isMain = process.argv[1] !== undefined && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url;
if (isMain) {
  if (process.argv[2] === '--child') {
    await child(process.argv[3] as ManifestFormat | 'idle', process.argv[4]!, process.argv[5]!);
  } else {
    await run((f) => process.stdout.write(`${JSON.stringify(f)}\n`));
  }
}
