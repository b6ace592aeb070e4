/**
 * Read models for the console and the metrics: counts and lists read straight from the tables, never changing
 * anything. Domain decisions stay in the domain modules; what is here only reports.
 *
 * - dashboard(): cards per state, orders, intake, latest batches with per-state progress, throughput (card state
 *   changes in the last 15 minutes, from the tail of the audit log), failures by reason (spoiled cards, QC
 *   failures, intake rejections) and encoder states. Cached for `maxAgeMs` so that many open dashboards and
 *   the metrics scraper share one set of queries.
 * - cardView(): one card by document number, with its QC results and (for roles allowed to see it) a minimal
 *   view of the holder: names, sex, date of birth, national number. Never the address or other numbers.
 */
import type { Knex } from 'knex';
import { listBatches, type BatchSummary } from '../batches/index.ts';
import { THROUGHPUT_WINDOWS, statusReport, type StatusReport } from '../cards/index.ts';
import { toBool, toCount } from '../db/index.ts';
import { qcResults } from '../qc/index.ts';
import { NotFoundError, systemClock, type Clock } from '../shared/index.ts';

export interface Throughput {
  windowMinutes: number;
  /** Card state changes per hour over the window, by the state reached. */
  perHour: Record<string, number>;
  /** True when the window held more changes than were read (the rates are then lower bounds). */
  truncated: boolean;
}

export interface EncoderView {
  name: string;
  machine: string;
  state: string;
  lastSeenAt: string | null;
  cardsEncoded: number;
  cardsSpoiled: number;
}

export interface DashboardSnapshot {
  at: string;
  status: StatusReport;
  batches: BatchSummary[];
  throughput: Throughput;
  failures: { spoiled: Record<string, number>; qc: Record<string, number>; intake: Record<string, number> };
  encoders: EncoderView[];
  auditEntries: number;
}

async function countBy(q: Knex.QueryBuilder, col: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const r of (await q.select(col).count({ n: '*' }).groupBy(col)) as Array<Record<string, unknown>>) {
    out[String(r[col] ?? 'UNKNOWN')] = toCount(r.n);
  }
  return out;
}

/**
 * The dashboard's 15-minute rate per state reached, from the status report's throughput windows (read once from
 * the audit log, src/cards/status.ts): only states some card reached in the window.
 */
export function throughputOf(status: StatusReport): Throughput {
  const perHour: Record<string, number> = {};
  for (const [state, t] of Object.entries(status.throughput.states)) if (t.last15m > 0) perHour[state] = t.perHour;
  return { windowMinutes: THROUGHPUT_WINDOWS[THROUGHPUT_WINDOWS.length - 1]!, perHour, truncated: status.throughput.truncated };
}

export async function failuresByReason(db: Knex): Promise<DashboardSnapshot['failures']> {
  return {
    spoiled: await countBy(db('cards').where({ state: 'SPOILED' }), 'spoil_reason'),
    qc: await countBy(db('qc_results').where({ passed: 0 }), 'reason_code'),
    intake: await countBy(db('intake_records').where({ outcome: 'REJECTED' }), 'reason_code'),
  };
}

export async function encoders(db: Knex): Promise<EncoderView[]> {
  return (await db('encoders').orderBy('name').select('*')).map((r: Record<string, unknown>) => ({
    name: String(r.name),
    machine: String(r.machine),
    state: String(r.state),
    lastSeenAt: (r.last_seen_at as string | null) ?? null,
    cardsEncoded: Number(r.cards_encoded),
    cardsSpoiled: Number(r.cards_spoiled),
  }));
}

export async function centres(db: Knex): Promise<Array<{ code: string; name: string; county: string; active: boolean }>> {
  return (await db('collection_centres').orderBy('code').select('code', 'name', 'county', 'active')).map((r: Record<string, unknown>) => ({
    code: String(r.code),
    name: String(r.name),
    county: String(r.county),
    active: toBool(r.active),
  }));
}

export async function dashboard(db: Knex, clock: Clock = systemClock): Promise<DashboardSnapshot> {
  const status = await statusReport(db, { now: clock.now() });
  return {
    at: clock.now().toISOString(),
    status,
    batches: await listBatches(db, 20),
    throughput: throughputOf(status),
    failures: await failuresByReason(db),
    encoders: await encoders(db),
    auditEntries: Number((await db('audit_head').where({ id: 1 }).first('seq'))?.seq ?? 0),
  };
}

/** One shared, briefly cached dashboard snapshot (SSE streams, polling consoles and /api/metrics). */
export class DashboardFeed {
  private cached?: { at: number; value: Promise<DashboardSnapshot> };
  constructor(
    private readonly db: Knex,
    private readonly maxAgeMs: number,
    private readonly clock: Clock = systemClock,
  ) {}

  get(): Promise<DashboardSnapshot> {
    const now = Date.now();
    if (!this.cached || now - this.cached.at >= this.maxAgeMs) {
      const value = dashboard(this.db, this.clock);
      this.cached = { at: now, value };
      value.catch(() => {
        if (this.cached?.value === value) this.cached = undefined;
      });
    }
    return this.cached.value;
  }
}

export interface QcResultView {
  kind: string;
  passed: boolean;
  reasonCode: string | null;
  station: string | null;
  operator: string;
  at: string;
  details: Record<string, unknown> | null;
}

export interface HolderView {
  surname: string | null;
  givenNames: string | null;
  sex: string | null;
  dateOfBirth: string | null;
  nationalNumber: string | null;
}

export interface CardView {
  documentNumber: string;
  state: string;
  centre: string;
  batchId: number | null;
  box: string | null;
  orderStatus: string;
  spoilReason: string | null;
  createdAt: string;
  updatedAt: string;
  qc: QcResultView[];
  /** Only for roles with card.read_personal. */
  holder?: HolderView;
}

export async function cardView(db: Knex, documentNumber: string, o: { personal: boolean }): Promise<CardView & { id: number }> {
  const c = await db('cards as c')
    .join('card_orders as o', 'o.id', 'c.order_id')
    .leftJoin('boxes as b', 'b.id', 'c.box_id')
    .where('c.document_number', documentNumber.trim().toUpperCase())
    .first('c.id', 'c.state', 'c.centre_code', 'c.batch_id', 'c.spoil_reason', 'c.created_at', 'c.updated_at', 'c.order_id', 'o.status as order_status', 'b.code as box_code', 'c.document_number');
  if (!c) throw new NotFoundError('CARD_NOT_FOUND', `no card with document number ${documentNumber.trim().toUpperCase()}`);
  const qc = (await qcResults(db, Number(c.id))).map((r) => ({
    kind: r.kind,
    passed: r.passed,
    reasonCode: r.reasonCode,
    station: r.station,
    operator: r.operator,
    at: r.createdAt,
    details: r.details,
  }));
  const view: CardView & { id: number } = {
    id: Number(c.id),
    documentNumber: String(c.document_number),
    state: String(c.state),
    centre: String(c.centre_code),
    batchId: c.batch_id === null ? null : Number(c.batch_id),
    box: (c.box_code as string | null) ?? null,
    orderStatus: String(c.order_status),
    spoilReason: (c.spoil_reason as string | null) ?? null,
    createdAt: String(c.created_at),
    updatedAt: String(c.updated_at),
    qc,
  };
  if (o.personal) {
    const rec = await db('order_records').where({ order_id: c.order_id }).first('data');
    const d = rec ? (JSON.parse(String(rec.data)) as Record<string, unknown>) : {};
    const str = (k: string) => (typeof d[k] === 'string' ? (d[k] as string) : null);
    view.holder = { surname: str('surname'), givenNames: str('givenNames'), sex: str('sex'), dateOfBirth: str('dateOfBirth'), nationalNumber: str('nationalNumber') };
  }
  return view;
}

/** The holder's portrait (JPEG) of a card's order, for the QC face check and the issuing desk. */
export async function cardPhoto(db: Knex, documentNumber: string): Promise<Buffer> {
  const r = await db('cards as c')
    .join('order_records as r', 'r.order_id', 'c.order_id')
    .where('c.document_number', documentNumber.trim().toUpperCase())
    .first('r.photo');
  if (!r) throw new NotFoundError('CARD_NOT_FOUND', `no card with document number ${documentNumber.trim().toUpperCase()}`);
  return Buffer.from(r.photo as Uint8Array);
}

// ---------------------------------------------------------------------------------------------- metrics

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export class PromText {
  private lines: string[] = [];
  metric(name: string, type: 'gauge' | 'counter', help: string, samples: Array<[Record<string, string>, number]>): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) {
      const l = Object.entries(labels).map(([k, x]) => `${k}="${esc(x)}"`).join(',');
      this.lines.push(`${name}${l ? `{${l}}` : ''} ${Number.isFinite(v) ? v : 0}`);
    }
  }
  toString(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

export interface ApiCounters {
  /** method|route|status -> count */
  requests: Map<string, number>;
  loginFailures: number;
  loginRateLimited: number;
}

/** Prometheus text exposition format 0.0.4. */
export function renderMetrics(s: DashboardSnapshot, counters: ApiCounters): string {
  const p = new PromText();
  const entries = (o: Record<string, number>, label: string) => Object.entries(o).map(([k, v]) => [{ [label]: k }, v] as [Record<string, string>, number]);
  p.metric('kadi_cards', 'gauge', 'Cards by state.', entries(s.status.cards, 'state'));
  p.metric('kadi_orders', 'gauge', 'Card orders by status.', entries(s.status.orders, 'status'));
  p.metric('kadi_intake_records', 'gauge', 'Registry records taken in, by outcome.', entries(s.status.intake, 'outcome'));
  p.metric('kadi_cards_spoiled_by_reason', 'gauge', 'Spoiled cards by reason code.', entries(s.failures.spoiled, 'reason'));
  p.metric('kadi_qc_failures', 'gauge', 'Failed QC results by reason code.', entries(s.failures.qc, 'reason'));
  p.metric('kadi_intake_rejections', 'gauge', 'Rejected registry records by reason code.', entries(s.failures.intake, 'reason'));
  p.metric('kadi_card_transitions_per_hour', 'gauge', `Card state changes per hour over the last ${s.throughput.windowMinutes} minutes, by state reached.`, entries(s.throughput.perHour, 'state'));
  const batchStates: Record<string, number> = {};
  for (const b of s.batches) batchStates[b.state] = (batchStates[b.state] ?? 0) + 1;
  p.metric('kadi_recent_batches', 'gauge', 'The latest 20 batches by state.', entries(batchStates, 'state'));
  const enc: Record<string, number> = {};
  for (const e of s.encoders) enc[e.state] = (enc[e.state] ?? 0) + 1;
  p.metric('kadi_encoders', 'gauge', 'Encoders by state.', entries(enc, 'state'));
  p.metric('kadi_audit_entries', 'gauge', 'Entries in the hash-chained audit log.', [[{}, s.auditEntries]]);
  p.metric(
    'kadi_api_requests_total',
    'counter',
    'API requests served by this process, by method, route and status.',
    [...counters.requests.entries()].map(([k, v]) => {
      const [method, route, status] = k.split('|');
      return [{ method: method!, route: route!, status: status! }, v];
    }),
  );
  p.metric('kadi_api_login_failures_total', 'counter', 'Failed logins seen by this process.', [[{}, counters.loginFailures]]);
  p.metric('kadi_api_login_rate_limited_total', 'counter', 'Logins refused by the rate limit in this process.', [[{}, counters.loginRateLimited]]);
  return p.toString();
}
