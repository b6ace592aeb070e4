/**
 * `kadi dispatch manifest SHIPMENT --out DIR`: the shipment's manifest as PDF, CSV and JSON, from one pass over
 * the database. Reads box by box (one query per box, at most a box's capacity in memory), inside one read
 * transaction so the totals printed on page 1 match the lines that follow (REPEATABLE READ on PostgreSQL; a
 * read transaction on SQLite). Each file is written as `NAME.part` and renamed when complete, so a crash never
 * leaves a half manifest that looks whole.
 *
 * Which cards a box lists: before dispatch, its PACKED cards; after, every card that left in it — whatever
 * happened to it since (received, issued, returned, destroyed, or spoiled after the box left).
 */
import { once } from 'node:events';
import { createWriteStream, mkdirSync, renameSync, rmSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import { toCount } from '../db/index.ts';
import { systemClock, type Clock } from '../shared/index.ts';
import { getShipment, type ShipmentRow } from './boxes.ts';
import {
  csvHeader,
  csvRow,
  holderName,
  jsonCard,
  jsonEnd,
  jsonStart,
  type ManifestBox,
  type ManifestHeader,
  type ManifestRow,
} from './manifest-format.ts';
import { ManifestPdfWriter, type ManifestPdfOptions } from './manifest-pdf.ts';
import { DispatchValidationError } from './errors.ts';

export const MANIFEST_FORMATS = ['pdf', 'csv', 'json'] as const;
export type ManifestFormat = (typeof MANIFEST_FORMATS)[number];

export interface ManifestOptions {
  /** Shipment id or code. */
  shipment: string | number;
  outDir: string;
  /** Default: all three. */
  formats?: readonly ManifestFormat[];
  clock?: Clock;
  fonts?: ManifestPdfOptions['fonts'];
  onProgress?: (listed: number, total: number) => void;
}

export interface ManifestResult {
  shipment: string;
  centre: string;
  state: string;
  boxes: number;
  cards: number;
  /** PDF pages (null when no PDF was asked for). */
  pages: number | null;
  files: Partial<Record<ManifestFormat, string>>;
}

const LEFT_STATES = ['DISPATCHED', 'RECEIVED', 'ISSUED', 'RETURNED', 'DESTROYED'];

interface BoxPlan extends ManifestBox {
  id: number;
  /** When the box left the bureau (null: not yet). */
  dispatchedAt: string | null;
}

/** Restricts a cards query to the cards a box lists (see the module comment). */
function listedIn(q: Knex.QueryBuilder, b: { id: number; dispatchedAt: string | null }): Knex.QueryBuilder {
  q.where('c.box_id', b.id);
  if (b.dispatchedAt === null) return q.where('c.state', 'PACKED');
  const at = b.dispatchedAt;
  return q.where((w) => w.whereIn('c.state', LEFT_STATES).orWhere((s) => s.where('c.state', 'SPOILED').andWhere('c.updated_at', '>=', at)));
}

async function planBoxes(trx: Knex.Transaction, s: ShipmentRow): Promise<BoxPlan[]> {
  const boxes = (await trx('boxes').where({ shipment_id: s.id }).orderBy('id').select('id', 'code', 'seal_number')) as Array<{ id: number; code: string; seal_number: string | null }>;
  const left = new Map<number, string>();
  for (const r of await trx('tracking_events').where({ shipment_id: s.id, event: 'dispatched' }).select('box_id', 'at')) left.set(Number(r.box_id), String(r.at));
  const plans: BoxPlan[] = boxes.map((b) => ({ id: Number(b.id), code: String(b.code), sealNumber: b.seal_number ?? null, cards: 0, dispatchedAt: left.get(Number(b.id)) ?? null }));
  // Counts: one grouped query for the common states, one for cards spoiled after their box left.
  const byBox = new Map(plans.map((p) => [p.id, p]));
  const counts = await trx('cards as c')
    .whereIn('c.box_id', trx('boxes').where({ shipment_id: s.id }).select('id'))
    .whereIn('c.state', ['PACKED', ...LEFT_STATES])
    .select('c.box_id', 'c.state')
    .count({ n: '*' })
    .groupBy('c.box_id', 'c.state');
  for (const r of counts as Array<{ box_id: number; state: string; n: unknown }>) {
    const p = byBox.get(Number(r.box_id));
    if (!p) continue;
    const listed = p.dispatchedAt === null ? r.state === 'PACKED' : r.state !== 'PACKED';
    if (listed) p.cards += toCount(r.n);
  }
  const spoiled = await trx('cards as c')
    .join('tracking_events as t', function () {
      this.on('t.box_id', '=', 'c.box_id').andOnVal('t.event', '=', 'dispatched');
    })
    .where('t.shipment_id', s.id)
    .where('c.state', 'SPOILED')
    .whereRaw('c.updated_at >= t.at')
    .select('c.box_id')
    .count({ n: '*' })
    .groupBy('c.box_id');
  for (const r of spoiled as Array<{ box_id: number; n: unknown }>) {
    const p = byBox.get(Number(r.box_id));
    if (p) p.cards += toCount(r.n);
  }
  return plans;
}

async function write(ws: WriteStream, chunk: string): Promise<void> {
  if (!ws.write(chunk)) await once(ws, 'drain');
}

async function close(ws: WriteStream): Promise<void> {
  const done = once(ws, 'finish');
  ws.end();
  await done;
}

/** Writes the requested manifest files for a shipment; returns what was written. */
export async function writeManifests(db: Knex, opts: ManifestOptions): Promise<ManifestResult> {
  const formats = [...new Set(opts.formats ?? MANIFEST_FORMATS)];
  for (const f of formats) {
    if (!(MANIFEST_FORMATS as readonly string[]).includes(f)) {
      throw new DispatchValidationError('DISPATCH_INVALID_OPTION', `unknown manifest format ${String(f)}`, { details: { allowed: MANIFEST_FORMATS } });
    }
  }
  const now = (opts.clock ?? systemClock).now();
  const shipment = await getShipment(db, opts.shipment);
  mkdirSync(opts.outDir, { recursive: true });
  const base = path.join(path.resolve(opts.outDir), `manifest-${shipment.code}`);
  const finalPath = (f: ManifestFormat) => `${base}.${f}`;
  const partPath = (f: ManifestFormat) => `${base}.${f}.part`;
  const streams: Partial<Record<ManifestFormat, WriteStream>> = {};
  const pg = db.client.config.client === 'pg';
  try {
    const result = await db.transaction(
      async (trx) => {
        const centreRow = await trx('collection_centres').where({ code: shipment.centre_code }).first('code', 'name', 'county');
        const boxes = await planBoxes(trx, shipment);
        const total = boxes.reduce((a, b) => a + b.cards, 0);
        const header: ManifestHeader = {
          shipment: shipment.code,
          state: shipment.state,
          centre: { code: shipment.centre_code, name: String(centreRow?.name ?? ''), county: String(centreRow?.county ?? '') },
          createdAt: shipment.created_at,
          dispatchedAt: shipment.dispatched_at,
          generatedAt: now.toISOString(),
          boxes: boxes.length,
          cards: total,
        };
        for (const f of formats) streams[f] = createWriteStream(partPath(f), { highWaterMark: 1 << 20 });
        const pdf = streams.pdf ? new ManifestPdfWriter(streams.pdf, header, boxes, opts.fonts ? { fonts: opts.fonts } : {}) : undefined;
        if (streams.csv) await write(streams.csv, csvHeader());
        if (streams.json) await write(streams.json, jsonStart(header, boxes));
        let line = 0;
        opts.onProgress?.(0, total);
        for (const b of boxes) {
          const raw = (await listedIn(trx('cards as c').join('order_records as r', 'r.order_id', 'c.order_id'), b)
            .orderBy('c.id')
            .select('c.document_number', 'r.data')) as Array<{ document_number: string | null; data: string }>;
          const rows: ManifestRow[] = raw.map((r) => ({
            line: ++line,
            box: b.code,
            seal: b.sealNumber,
            documentNumber: r.document_number ?? '',
            ...holderName(r.data),
          }));
          if (pdf) await pdf.addBox(b, rows);
          if (streams.csv) {
            let chunk = '';
            for (const r of rows) chunk += csvRow({ shipment: shipment.code, centre: shipment.centre_code }, r);
            await write(streams.csv, chunk);
          }
          if (streams.json) {
            let chunk = '';
            for (const r of rows) chunk += jsonCard(r, r.line === 1);
            await write(streams.json, chunk);
          }
          opts.onProgress?.(line, total);
        }
        const pages = pdf ? (await pdf.end()).pages : null;
        if (streams.csv) await close(streams.csv);
        if (streams.json) {
          await write(streams.json, jsonEnd());
          await close(streams.json);
        }
        return { boxes: boxes.length, cards: line, pages };
      },
      pg ? { isolationLevel: 'repeatable read' } : {},
    );
    const files: Partial<Record<ManifestFormat, string>> = {};
    for (const f of formats) {
      renameSync(partPath(f), finalPath(f));
      files[f] = finalPath(f);
    }
    return { shipment: shipment.code, centre: shipment.centre_code, state: shipment.state, ...result, files };
  } catch (e) {
    for (const f of formats) {
      streams[f]?.destroy();
      rmSync(partPath(f), { force: true });
    }
    throw e;
  }
}
