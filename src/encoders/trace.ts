/**
 * Stored APDU traces (table `apdu_traces`, one document per encode run). A trace is what the chip layer records
 * per command ({@link ApduTraceRecord}: header, lengths, status word, timing, secure channel, a label such as
 * "DG2" or "SCP03") — never command or response data, so it holds no personal data and no key material, in plain
 * or protected form. Stored as columns-of-rows JSON to keep ~45 records per card small:
 *
 * ```json
 * {"format":"kadi-apdu-trace/1","fields":["seq","atMs","durationMs","header","name","label","lc","le",
 *  "responseLength","sw","secure","exchanges","bytesSent","bytesReceived"],
 *  "rows":[[1,0.1,0.42,"00A4040C","SELECT","ISD",8,null,0,"9000","none",1,13,2], ...]}
 * ```
 */
import type { ApduTraceRecord } from '../chip/index.ts';

export const TRACE_FORMAT = 'kadi-apdu-trace/1';
const FIELDS = ['seq', 'atMs', 'durationMs', 'header', 'name', 'label', 'lc', 'le', 'responseLength', 'sw', 'secure', 'exchanges', 'bytesSent', 'bytesReceived'] as const;

const hex2 = (b: number): string => (b & 0xff).toString(16).toUpperCase().padStart(2, '0');
const round = (v: number, d: number): number => Math.round(v * 10 ** d) / 10 ** d;

/** Encodes trace records as the stored JSON document. */
export function encodeTrace(records: readonly ApduTraceRecord[]): string {
  const rows = records.map((r) => [
    r.seq,
    round(r.atMs, 2),
    round(r.durationMs, 3),
    hex2(r.cla) + hex2(r.ins) + hex2(r.p1) + hex2(r.p2),
    r.name ?? null,
    r.label ?? null,
    r.lc,
    r.le ?? null,
    r.responseLength,
    r.sw.toString(16).toUpperCase().padStart(4, '0'),
    r.secure,
    r.exchanges,
    r.bytesSent,
    r.bytesReceived,
  ]);
  return JSON.stringify({ format: TRACE_FORMAT, fields: FIELDS, rows });
}

/** Decodes a stored trace document back into records. Throws on another format. */
export function decodeTrace(text: string): ApduTraceRecord[] {
  const doc = JSON.parse(text) as { format?: string; fields?: string[]; rows?: unknown[][] };
  if (doc.format !== TRACE_FORMAT || !Array.isArray(doc.rows) || !Array.isArray(doc.fields)) throw new Error(`not a ${TRACE_FORMAT} document`);
  const ix = (f: (typeof FIELDS)[number]): number => doc.fields!.indexOf(f);
  return doc.rows.map((row) => {
    const get = (f: (typeof FIELDS)[number]): unknown => row[ix(f)];
    const header = String(get('header'));
    const rec: ApduTraceRecord = {
      seq: Number(get('seq')),
      atMs: Number(get('atMs')),
      durationMs: Number(get('durationMs')),
      cla: parseInt(header.slice(0, 2), 16),
      ins: parseInt(header.slice(2, 4), 16),
      p1: parseInt(header.slice(4, 6), 16),
      p2: parseInt(header.slice(6, 8), 16),
      lc: Number(get('lc')),
      responseLength: Number(get('responseLength')),
      sw: parseInt(String(get('sw')), 16),
      secure: String(get('secure')),
      exchanges: Number(get('exchanges')),
      bytesSent: Number(get('bytesSent')),
      bytesReceived: Number(get('bytesReceived')),
    };
    if (get('name') !== null) rec.name = String(get('name'));
    if (get('label') !== null) rec.label = String(get('label'));
    if (get('le') !== null) rec.le = Number(get('le'));
    return rec;
  });
}
