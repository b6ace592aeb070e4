import type { Knex } from 'knex';
import { toCount } from '../db/index.ts';
import { CARD_STATES, type CardState } from './states.ts';
import { throughputReport, type ThroughputReport } from './status.ts';

export interface StatusReport {
  cards: Record<CardState, number>;
  orders: Record<string, number>;
  intake: Record<string, number>;
  totals: { cards: number; orders: number; spoiled: number };
  /** Cards reaching each state in the last 1, 5 and 15 minutes, from the audit log (src/cards/status.ts). */
  throughput: ThroughputReport;
}

async function countBy(db: Knex, table: string, col: string): Promise<Record<string, number>> {
  const rows = await db(table).select(col).count({ n: '*' }).groupBy(col);
  const out: Record<string, number> = {};
  for (const r of rows as Array<Record<string, unknown>>) out[String(r[col])] = toCount(r.n);
  return out;
}

/**
 * Counts per card state (every state listed, zeros included), per order status and per intake outcome, and the
 * live throughput. `now` (default: the current time) ends the throughput windows.
 */
export async function statusReport(db: Knex, o: { now?: Date } = {}): Promise<StatusReport> {
  const byState = await countBy(db, 'cards', 'state');
  const cards = Object.fromEntries(CARD_STATES.map((s) => [s, byState[s] ?? 0])) as Record<CardState, number>;
  const orders = { OPEN: 0, REVIEW: 0, FULFILLED: 0, CLOSED: 0, ...(await countBy(db, 'card_orders', 'status')) };
  const intake = { ORDERED: 0, REJECTED: 0, DUPLICATE: 0, ...(await countBy(db, 'intake_records', 'outcome')) };
  const totalCards = Object.values(cards).reduce((a, b) => a + b, 0);
  const totalOrders = Object.values(orders).reduce((a, b) => a + b, 0);
  const throughput = await throughputReport(db, o.now ? { now: o.now } : {});
  return { cards, orders, intake, totals: { cards: totalCards, orders: totalOrders, spoiled: cards.SPOILED }, throughput };
}
