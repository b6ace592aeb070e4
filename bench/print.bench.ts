/**
 * Card-face printing benchmark (issue 5): card faces/s for a 1,000-card batch (front and back) and peak memory
 * for 1,000 and 10,000 cards, with the baselines they are compared with, in one run.
 *
 *   print.render.cards_per_s / faces_per_s   the renderer alone (CardPdfWriter, kenya-eid template, pre-signed
 *                                            seals, photos from memory): 1,000 cards after a 200-card warm-up
 *   print.render.cards_per_cpu_s             the same per CPU second of this process ("on one core")
 *   print.card_pdf.cpu_ms                    CPU per card of one-card PDFs (renderCardPdf, as the pipeline's print
 *                                            stage renders: a document per card), 300 cards after a warm-up
 *   print.render.naive_png_barcode.cards_per_s   baseline: the same cards, the seal as a bwip-js PNG image
 *   print.batch.sqlite.cards_per_s           `printBatch` end to end: pages of 100 cards read from SQLite (order
 *                                            records, photos, chip images, seals), PDF streamed to a file, job record
 *   print.batch.peak_rss_mb (n = 1000, 10000)    peak RSS of a child process printing a 1,000- / 10,000-card batch
 *   print.batch.heap_after_gc_mb (n = ...)   live heap at the end of the same runs (after a full GC)
 *   print.batch.capped.peak_rss_mb (n = ...) the same runs with --max-old-space-size=128: RSS independent of size
 *   print.seal.sign.hsm.seals_per_s          seal signing through PKCS#11 (SoftHSM), VDS encoding included
 *   print.seal.sign.software.seals_per_s     baseline: the same with a node:crypto key
 *   print.seal.read.png_ms                   reading a seal back from a 300 dpi card PNG (decode + locate + RS)
 *
 * Seal signing is NOT part of the rendering figures: seals are signed before (as `kadi print batch` does, in a
 * separate phase) and measured on their own. The SQLite set-up for the batch figures is bulk SQL (orders,
 * records, ENCODED cards, chip images with their DG1, software-signed seals) and bypasses transitionCard and the
 * audit log on purpose; it is not what is measured.
 *
 * Standalone: `node --import tsx bench/print.bench.ts` (KADI_BENCH_PRINT_N=2000 for the large batch size).
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import bwipjs from 'bwip-js';
import { migrateLatest, openDb } from '../src/db/index.ts';
import { Pkcs11Hsm } from '../src/hsm/index.ts';
import { ceremony, parseCeremonyDefinition } from '../src/keys/index.ts';
import { encodeDg1 } from '../src/lds/index.ts';
import { softwareSigner, type Signer } from '../src/pki/index.ts';
import {
  type FaceData,
  type VdsHeader,
  CardPdfWriter,
  KADI_ID_PROFILE,
  createSealSigner,
  documentDates,
  faceData,
  idSealFeatures,
  loadTemplateFile,
  printBatch,
  readSealFromPng,
  renderCardPdf,
  sealDataFor,
  sealDigest,
  signVds,
} from '../src/print/index.ts';
import { generateRecords, validateRecord } from '../src/registry/index.ts';
import type { BenchContext, Figure } from './lib.ts';

export type { Figure };

const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), '..');
const TEMPLATE = path.join(ROOT, 'templates/kenya-eid.json');
const MODULE = process.env.KADI_HSM_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';
const DATES = documentDates('2026-03-02');

const round = (v: number, d = 1): number => Math.round(v * 10 ** d) / 10 ** d;

interface PoolEntry {
  face: FaceData;
  rec: Record<string, unknown>;
  photo: Buffer;
}

export function header(signerIdentifier = 'KESA', certificateReference = '1A2B3C4D5E6F'): VdsHeader {
  return {
    version: 4,
    issuingCountry: 'KEN',
    signerIdentifier,
    certificateReference,
    documentIssueDate: DATES.dateOfIssue,
    signatureCreationDate: DATES.dateOfIssue,
    featureDefinitionReference: KADI_ID_PROFILE.featureDefinitionReference,
    documentTypeCategory: KADI_ID_PROFILE.documentTypeCategory,
  };
}

export function softSigner(): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return softwareSigner(privateKey, 'ecdsa-p256', new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })));
}

/** Distinct synthetic people (names incl. the long and non-ASCII ones), their photos and faces without seals. */
export function pool(size: number): PoolEntry[] {
  const out: PoolEntry[] = [];
  for (const r of generateRecords({ count: size * 2, seed: 'bench-print', nonApprovedRate: 0 })) {
    if (out.length === size) break;
    const v = validateRecord(r, { today: new Date('2025-07-01') });
    if (!v.ok) continue;
    const { photo, ...rec } = v.record;
    const face = faceData({ cardId: out.length + 1, documentNumber: `KA${String(out.length + 1).padStart(7, '0')}`, record: rec, photo, dates: DATES, issuingState: 'KEN', centreName: 'Huduma Centre GPO' });
    out.push({ face, rec: rec as unknown as Record<string, unknown>, photo });
  }
  return out;
}

async function renderRun(faces: FaceData[], n: number, file: string, extra?: (w: CardPdfWriter, f: FaceData) => void): Promise<{ seconds: number; cpu: number }> {
  const { template, baseDir } = await loadTemplateFile(TEMPLATE);
  const w = new CardPdfWriter({ template, baseDir, out: createWriteStream(file), title: 'bench' });
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const f = faces[i % faces.length]!;
    w.addCard({ ...f, cardId: i + 1 });
    extra?.(w, f);
    await w.drain();
  }
  await w.finish();
  const cu = process.cpuUsage(c0);
  return { seconds: (performance.now() - t0) / 1000, cpu: (cu.user + cu.system) / 1e6 };
}

/** Bulk-seeds `n` ENCODED cards in one batch (see the module comment); returns the batch id. */
export async function seedBatch(file: string, entries: PoolEntry[], seals: Uint8Array[], n: number, batchId: number, firstCard: number): Promise<void> {
  const db = openDb(`sqlite:${file}`);
  try {
    await migrateLatest(db);
    const now = '2026-03-02T08:00:00.000Z';
    await db('collection_centres').insert({ code: 'KE-047-01', name: 'Huduma Centre GPO', county: 'Nairobi', created_at: now }).onConflict('code').ignore();
    await db('batches').insert({ id: batchId, state: 'RUNNING', size: n, created_at: now, created_by: 'bench' });
    await db('keys').insert({ id: 1, kind: 'SEAL', label: 'bench-seal', algorithm: 'ecdsa-p256', status: 'ACTIVE', created_at: now, created_by: 'bench' }).onConflict('id').ignore();
    await db.transaction(async (trx) => {
      for (let i0 = 0; i0 < n; i0 += 100) {
        const orders = [];
        const records = [];
        const cards = [];
        const chips = [];
        const sealRows = [];
        for (let i = i0; i < Math.min(n, i0 + 100); i++) {
          const id = firstCard + i;
          const e = entries[i % entries.length]!;
          const doc = `KA${String(id).padStart(7, '0')}`;
          orders.push({ id, registry_id: id, national_number: String(10_000_000 + id), status: 'OPEN', attempts: 1, centre_code: 'KE-047-01', created_at: now, updated_at: now });
          records.push({ order_id: id, data: JSON.stringify(e.rec), photo: e.photo });
          cards.push({ id, order_id: id, batch_id: batchId, state: 'ENCODED', document_number: doc, centre_code: 'KE-047-01', created_at: now, updated_at: now });
          const dg1 = Buffer.from(encodeDg1(e.face.mrz)).toString('base64');
          chips.push({ card_id: id, document_number: doc, date_of_issue: DATES.dateOfIssue, date_of_expiry: DATES.dateOfExpiry, files: JSON.stringify({ mrz: e.face.mrz, dg: { 1: dg1 } }), created_at: now });
          const seal = seals[i % seals.length]!;
          sealRows.push({ card_id: id, seal: Buffer.from(seal), seal_sha256: sealDigest(seal), signer_key_id: 1, cert_serial: '1a2b3c4d5e6f', date_of_issue: DATES.dateOfIssue, date_of_expiry: DATES.dateOfExpiry, signed_at: now, signed_by: 'bench' });
        }
        await trx('card_orders').insert(orders);
        for (let k = 0; k < records.length; k += 20) await trx('order_records').insert(records.slice(k, k + 20));
        await trx('cards').insert(cards);
        for (let k = 0; k < chips.length; k += 20) await trx('chip_images').insert(chips.slice(k, k + 20));
        for (let k = 0; k < sealRows.length; k += 20) await trx('card_seals').insert(sealRows.slice(k, k + 20));
      }
    });
  } finally {
    await db.destroy();
  }
}

/** The child: prints one batch from the database; reports time, peak RSS and the live heap after a full GC. */
async function child(dbFile: string, batchId: number, out: string): Promise<void> {
  const db = openDb(`sqlite:${dbFile}`);
  try {
    const { template, baseDir } = await loadTemplateFile(TEMPLATE);
    const t0 = performance.now();
    const r = await printBatch({ db, batchId, template, baseDir, out, actor: 'bench' });
    const seconds = (performance.now() - t0) / 1000;
    (globalThis as { gc?: () => void }).gc?.();
    process.stdout.write(`${JSON.stringify({ seconds, cards: r.job.cards, pages: r.job.pages, bytes: r.job.outputBytes, maxRssMb: process.resourceUsage().maxRSS / 1024, heapMb: process.memoryUsage().heapUsed / 1048576 })}\n`);
  } finally {
    await db.destroy();
  }
}

function runChild(dbFile: string, batchId: number, out: string, capped: boolean): { seconds: number; cards: number; pages: number; bytes: number; maxRssMb: number; heapMb: number } {
  const args = ['--expose-gc', ...(capped ? ['--max-old-space-size=128'] : []), '--import', 'tsx', SELF, '--child', dbFile, String(batchId), out];
  return JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 20, cwd: ROOT }).trim().split('\n').at(-1)!);
}

export async function run(report: (f: Figure) => void, opts: { tmpDir?: string; log?: (m: string) => void; large?: number } = {}): Promise<void> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const tmp = opts.tmpDir ?? mkdtempSync(path.join(os.tmpdir(), 'kadi-bench-print-'));
  const own = !opts.tmpDir;
  const large = opts.large ?? Number(process.env.KADI_BENCH_PRINT_N ?? 10_000);
  const common = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '?', template: 'kenya-eid' };
  try {
    // ---- renderer alone
    const entries = pool(120);
    const signer = softSigner();
    const seals: Uint8Array[] = [];
    for (const e of entries) seals.push(await signVds(header(), idSealFeatures(sealDataFor(e.face)), signer));
    const faces = entries.map((e, i) => ({ ...e.face, seal: seals[i]! }));
    log(`pool of ${faces.length} people; seal ${seals[0]!.length} bytes`);
    await renderRun(faces, 200, path.join(tmp, 'warmup.pdf'));
    const r = await renderRun(faces, 1000, path.join(tmp, 'render.pdf'));
    report({ name: 'print.render.cards_per_s', value: round(1000 / r.seconds), unit: 'cards/s', n: 1000, goal: 500, ...common });
    report({ name: 'print.render.faces_per_s', value: round(2000 / r.seconds), unit: 'faces/s', n: 2000, ...common });
    report({ name: 'print.render.cards_per_cpu_s', value: round(1000 / r.cpu), unit: 'cards/cpu-s', n: 1000, note: 'cards per CPU second of the process (user + system)', ...common });

    // ---- one PDF per card, as the pipeline's print stage renders (renderCardPdf: a document per card)
    {
      const { template, baseDir } = await loadTemplateFile(TEMPLATE);
      for (let i = 0; i < 20; i++) await renderCardPdf(template, baseDir, { ...faces[i % faces.length]!, cardId: i + 1 });
      const n = 300;
      let bytes = 0;
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) bytes += (await renderCardPdf(template, baseDir, { ...faces[i % faces.length]!, cardId: i + 1 })).length;
      const cu = process.cpuUsage(c0);
      report({ name: 'print.card_pdf.cpu_ms', value: round((cu.user + cu.system) / 1000 / n, 2), unit: 'ms', n, wallMs: round((performance.now() - t0) / n, 2), pdfKb: round(bytes / n / 1024), note: 'CPU per one-card PDF (front + back), as the print stage renders', ...common });
    }

    // ---- baseline: the seal as a bwip-js PNG (the naive path)
    const { template } = await loadTemplateFile(TEMPLATE);
    const sealEl = template.back.elements.find((e) => e.type === 'seal');
    const naiveFaces = faces.map((f) => ({ ...f }));
    const noSealTemplate = { ...template, back: { ...template.back, elements: template.back.elements.filter((e) => e.type !== 'seal') } };
    const naive = await (async () => {
      const { baseDir } = await loadTemplateFile(TEMPLATE);
      const w = new CardPdfWriter({ template: noSealTemplate, baseDir, out: createWriteStream(path.join(tmp, 'naive.pdf')), title: 'naive' });
      const n = 200;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const f = naiveFaces[i % naiveFaces.length]!;
        w.addCard({ ...f, cardId: i + 1 });
        if (sealEl?.type === 'seal') {
          const png = await bwipjs.toBuffer({ bcid: 'datamatrix', text: Buffer.from(f.seal!).toString('latin1'), scale: 4, padding: 2 });
          w.doc.image(png, sealEl.x * (72 / 25.4), sealEl.y * (72 / 25.4), { width: sealEl.size * (72 / 25.4) });
        }
        await w.drain();
      }
      await w.finish();
      return n / ((performance.now() - t0) / 1000);
    })();
    report({ name: 'print.render.naive_png_barcode.cards_per_s', value: round(naive), unit: 'cards/s', n: 200, baseline: true, note: 'same renderer, seal as a bwip-js PNG image instead of vector modules', ...common });
    report({ name: 'print.render.speedup_vs_naive', value: round(1000 / r.seconds / naive, 2), unit: 'ratio', n: 1000 });

    // ---- seal read-back from a 300 dpi PNG
    execFileSync('pdftoppm', ['-r', '300', '-gray', '-png', '-singlefile', '-f', '2', '-l', '2', path.join(tmp, 'render.pdf'), path.join(tmp, 'back')]);
    const png = readFileSync(path.join(tmp, 'back.png'));
    const t1 = performance.now();
    for (let i = 0; i < 10; i++) readSealFromPng(png);
    report({ name: 'print.seal.read.png_ms', value: round((performance.now() - t1) / 10, 1), unit: 'ms', n: 10, dpi: 300 });

    // ---- seal signing: software baseline and SoftHSM (throw-away token through the services script)
    {
      const t0 = performance.now();
      for (let i = 0; i < 500; i++) await signVds(header(), idSealFeatures(sealDataFor(faces[i % faces.length]!)), signer);
      report({ name: 'print.seal.sign.software.seals_per_s', value: round(500 / ((performance.now() - t0) / 1000)), unit: 'seals/s', n: 500, baseline: true, key: 'node:crypto P-256' });
    }
    try {
      execFileSync('bash', [path.join(ROOT, 'scripts/services.sh'), 'start', 'softhsm'], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', KADI_HOME: tmp, KADI_HSM_TOKEN: 'kadi' },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      process.env.SOFTHSM2_CONF = path.join(tmp, 'softhsm', 'softhsm2.conf');
      const hsm = Pkcs11Hsm.open({ module: MODULE, token: 'kadi', pin: readFileSync(path.join(tmp, 'secrets', 'hsm-pin'), 'utf8').trim(), sessions: 1 });
      const kdb = openDb(`sqlite:${path.join(tmp, 'keys.sqlite')}`);
      try {
        await migrateLatest(kdb);
        const def = parseCeremonyDefinition(JSON.parse(readFileSync(path.join(ROOT, 'hsm/ceremony.json'), 'utf8')));
        await ceremony({ db: kdb, keyStore: hsm, actor: 'bench' }, def);
        const rec = await createSealSigner({ db: kdb, keyStore: hsm, actor: 'bench' });
        const hsmSigner = await hsm.signer(rec.label);
        const h = header(rec.signerIdentifier, rec.certificateReference);
        for (let i = 0; i < 50; i++) await signVds(h, idSealFeatures(sealDataFor(faces[i % faces.length]!)), hsmSigner);
        const t0 = performance.now();
        const N = 2000;
        for (let i = 0; i < N; i++) await signVds(h, idSealFeatures(sealDataFor(faces[i % faces.length]!)), hsmSigner);
        report({ name: 'print.seal.sign.hsm.seals_per_s', value: round(N / ((performance.now() - t0) / 1000)), unit: 'seals/s', n: N, token: 'SoftHSM2', mechanism: 'CKM_ECDSA (SHA-256 on the host)' });
      } finally {
        await kdb.destroy();
        await hsm.close();
        execFileSync('bash', [path.join(ROOT, 'scripts/services.sh'), 'stop', 'softhsm'], { env: { ...process.env, KADI_HOME: tmp }, stdio: 'ignore' });
      }
    } catch (e) {
      log(`SoftHSM seal signing not measured: ${(e as Error).message.split('\n')[0]}`);
    }

    // ---- printBatch from SQLite, and peak memory for 1,000 and `large` cards (child processes)
    const dbFile = path.join(tmp, 'print.sqlite');
    await seedBatch(dbFile, entries, seals, 1000, 1, 1);
    await seedBatch(dbFile, entries, seals, large, 2, 1_000_001);
    log(`seeded batches of 1000 and ${large} ENCODED cards`);
    const small = runChild(dbFile, 1, path.join(tmp, 'b1.pdf'), false);
    report({ name: 'print.batch.sqlite.cards_per_s', value: round(small.cards / small.seconds), unit: 'cards/s', n: small.cards, pages: small.pages, pdfMb: round(small.bytes / 1048576), ...common });
    report({ name: 'print.batch.sqlite.faces_per_s', value: round(small.pages / small.seconds), unit: 'faces/s', n: small.pages, ...common });
    const big = runChild(dbFile, 2, path.join(tmp, 'b2.pdf'), false);
    report({ name: 'print.batch.sqlite.cards_per_s', value: round(big.cards / big.seconds), unit: 'cards/s', n: big.cards, pages: big.pages, pdfMb: round(big.bytes / 1048576), ...common });
    for (const [n, x] of [[small.cards, small], [big.cards, big]] as const) {
      report({ name: 'print.batch.peak_rss_mb', value: round(x.maxRssMb), unit: 'MB', n, note: 'default V8 heap sizing' });
      report({ name: 'print.batch.heap_after_gc_mb', value: round(x.heapMb), unit: 'MB', n });
    }
    for (const [batch, n] of [[1, 1000], [2, large]] as const) {
      const c = runChild(dbFile, batch, path.join(tmp, `c${batch}.pdf`), true);
      report({ name: 'print.batch.capped.peak_rss_mb', value: round(c.maxRssMb), unit: 'MB', n, cardsPerS: round(c.cards / c.seconds), note: '--max-old-space-size=128' });
    }
  } finally {
    if (own) rmSync(tmp, { recursive: true, force: true });
  }
}

export default async function printBench(ctx: BenchContext): Promise<void> {
  await run((f) => ctx.report(f), { tmpDir: ctx.tmpDir, log: (m) => ctx.log(m) });
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  if (process.argv[2] === '--child') {
    await child(process.argv[3]!, Number(process.argv[4]), process.argv[5]!);
  } else {
    await run((f) => process.stdout.write(`${JSON.stringify(f)}\n`));
  }
}
