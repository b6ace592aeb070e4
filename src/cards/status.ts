/**
 * Live throughput for `kadi status`, /api/status and /api/metrics: how many cards reached each state in the last
 * 1, 5 and 15 minutes, read from the audit log (every card state change is one `card.transition` entry with
 * `{from, to}`; DESIGN.md §1). A card counts once per state it reached, so a card that went PRINTED -> QC_PASSED
 * -> PACKED in the window counts for all three.
 *
 * Bounded work however long the log is: only the last `maxRows` entries by primary key (seq) are read, then
 * filtered by time. When even those all fall inside the window the figures are lower bounds (`truncated`).
 * Timestamps are ISO-8601 UTC strings on both engines (docs/decisions/0002-database.md), so they compare as text.
 */
import type { Knex } from 'knex';
import type { CardState } from './states.ts';

/** The windows, minutes. */
export const THROUGHPUT_WINDOWS = [1, 5, 15] as const;

/** States always listed (zeros included): the production line from preparation to issuance, and spoils. */
export const THROUGHPUT_STATES: readonly CardState[] = ['PREPARED', 'ENCODED', 'PRINTED', 'QC_PASSED', 'PACKED', 'DISPATCHED', 'RECEIVED', 'ISSUED', 'SPOILED'];

/** Audit entries read at most (the tail of the log). */
export const THROUGHPUT_MAX_ROWS = 100_000;

export interface StateThroughput {
  /** Cards that reached the state in the last minute. */
  last1m: number;
  last5m: number;
  last15m: number;
  /** Hourly rate over the last 15 minutes (last15m x 4). */
  perHour: number;
}

export interface ThroughputReport {
  /** When the figures were taken (ISO-8601 UTC). */
  at: string;
  /** Per state reached: THROUGHPUT_STATES always, any other state only when it was reached in the window. */
  states: Record<string, StateThroughput>;
  /** True when the window held more audit entries than were read: the figures are then lower bounds. */
  truncated: boolean;
}

export async function throughputReport(db: Knex, o: { now?: Date; maxRows?: number } = {}): Promise<ThroughputReport> {
  const now = o.now ?? new Date();
  const maxRows = o.maxRows ?? THROUGHPUT_MAX_ROWS;
  const nowIso = now.toISOString();
  const cutoffs = THROUGHPUT_WINDOWS.map((m) => new Date(now.getTime() - m * 60_000).toISOString());
  const oldest = cutoffs[cutoffs.length - 1]!;
  const head = Number((await db('audit_head').where({ id: 1 }).first('seq'))?.seq ?? 0);
  const from = Math.max(0, head - maxRows);
  const rows = (await db('audit_log')
    .where('seq', '>', from)
    .andWhere({ action: 'card.transition' })
    .andWhere('at', '>=', oldest)
    .andWhere('at', '<=', nowIso)
    .select('at', 'data')) as Array<{ at: string; data: string }>;

  const states: Record<string, StateThroughput> = {};
  const zero = (): StateThroughput => ({ last1m: 0, last5m: 0, last15m: 0, perHour: 0 });
  for (const s of THROUGHPUT_STATES) states[s] = zero();
  for (const r of rows) {
    let to: unknown;
    try {
      to = (JSON.parse(String(r.data)) as { to?: unknown }).to;
    } catch {
      continue;
    }
    if (typeof to !== 'string') continue;
    const t = (states[to] ??= zero());
    const at = String(r.at);
    if (at >= cutoffs[0]!) t.last1m++;
    if (at >= cutoffs[1]!) t.last5m++;
    t.last15m++;
  }
  for (const t of Object.values(states)) t.perHour = Math.round((t.last15m * 60) / THROUGHPUT_WINDOWS[2]);

  let truncated = false;
  if (from > 0) {
    // The first entry read is already inside the window: older entries of the window were not read.
    const first = await db('audit_log').where({ seq: from + 1 }).first('at');
    truncated = first !== undefined && String(first.at) > oldest;
  }
  return { at: nowIso, states, truncated };
}
