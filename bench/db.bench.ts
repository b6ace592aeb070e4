/**
 * Database hot-path benchmark: card transitions per second, each one transaction with the compare-and-set
 * `UPDATE cards ... WHERE id = ? AND state = ?` and one hash-chained audit entry (src/cards/transition.ts), the
 * step every pipeline stage takes for every card. One JSON line per figure:
 *
 *   db.transition.sqlite.before.per_s        baseline: the path as it was before 2026-11-25 —
 *                                             the old 4-statement audit append (UPDATE head seq, SELECT head,
 *                                             INSERT entry, UPDATE head hash; copied below, used only here) and
 *                                             no statement cache (every statement prepared again)
 *   db.transition.sqlite.nocache.per_s       the current append (UPDATE head ... RETURNING), statement cache off
 *   db.transition.sqlite.per_s               the current code as `openDb` opens it (statement cache on)
 *   db.transition.sqlite.speedup             per_s / before.per_s
 *                                             (every per_s figure carries cpuUsPerTransition: this process's CPU
 *                                             time per transition, steadier than wall time on a loaded box)
 *   db.transition.{engine}.statements        statements per transition (knex `query` events, BEGIN/COMMIT
 *                                             included), with the baseline's count next to it
 *   db.transition.postgres.before.per_s.{c}  PostgreSQL, c concurrent transactions (pool of c), old append
 *   db.transition.postgres.per_s.{c}         PostgreSQL, current append (c = 1 and 8)
 *   db.transition.postgres.speedup.{c}
 *
 * SQLite: a WAL file in the bench's scratch directory, as `openDb` opens it (synchronous = NORMAL). PostgreSQL: a
 * private server started by scripts/services.sh in the scratch KADI_HOME with KADI_PG_FAST=1 (fsync and
 * synchronous_commit off, as for the tests), so the figure is CPU and round trips, not the disk; skipped with a
 * note if it cannot start. Cards toggle ORDERED <-> PREPARED (a legal pair), so a few thousand cards suffice.
 * The variants alternate in 12 short rounds, order rotating, on the same database (the box's load drifts; the rate
 * is total ops / total time per variant), and the audit chain, written by both append paths interleaved, must verify at the end.
 */
import { migrateLatest, openDb, type Db, type OpenDbOptions } from '../src/db/index.ts';
import { canonicalJson, entryHash, verifyAudit, type AuditInput } from '../src/audit/index.ts';
import { transitionCard, type TransitionRequest } from '../src/cards/transition.ts';
import type { CardState } from '../src/cards/states.ts';
import { makeConfig, startServices, stopServices, type ServiceConfig } from '../test/support/services.ts';
import { round, type BenchContext } from './lib.ts';
import type { Knex } from 'knex';

/** The audit append before this change (4 statements), verbatim but for the error; the baseline only. */
async function appendAuditBefore(trx: Knex.Transaction, inp: AuditInput, at: Date): Promise<void> {
  await trx('audit_head').where({ id: 1 }).increment('seq', 1);
  const head = await trx('audit_head').where({ id: 1 }).first('seq', 'hash');
  if (!head) throw new Error('audit_head row is missing');
  const seq = Number(head.seq);
  const prev = head.hash as string;
  const iso = at.toISOString();
  const base = { seq, at: iso, actor: inp.actor, action: inp.action, entityType: inp.entityType, entityId: String(inp.entityId), data: inp.data ?? {} };
  const hash = entryHash(prev, base);
  await trx('audit_log').insert({
    seq,
    at: iso,
    actor: base.actor,
    action: base.action,
    entity_type: base.entityType,
    entity_id: base.entityId,
    data: canonicalJson(base.data),
    prev_hash: prev,
    hash,
  });
  await trx('audit_head').where({ id: 1 }).update({ hash });
}

/** src/cards/transition.ts's hot path as it was, on the old append (no reason/set: the bench never uses them). */
async function transitionBefore(db: Db, req: TransitionRequest): Promise<void> {
  await db.transaction(async (trx) => {
    const at = new Date();
    const n = await trx('cards')
      .where({ id: req.cardId, state: req.from })
      .update({ state: req.to, updated_at: at.toISOString(), version: trx.raw('version + 1') });
    if (n !== 1) throw new Error(`card ${req.cardId} is not ${req.from}`);
    await appendAuditBefore(trx, { actor: req.actor, action: 'card.transition', entityType: 'card', entityId: req.cardId, data: { from: req.from, to: req.to } }, at);
  });
}

type Transition = (db: Db, req: TransitionRequest) => Promise<void>;
const transitionNow: Transition = (db, req) => transitionCard(db, req);

async function seedCards(db: Db, n: number): Promise<number[]> {
  const now = new Date().toISOString();
  await db('collection_centres').insert({ code: 'KE-047-01', name: 'Huduma Centre GPO', county: 'Nairobi', created_at: now });
  const ids: number[] = [];
  await db.transaction(async (trx) => {
    for (let i = 1; i <= n; i++) {
      const [o] = await trx('card_orders')
        .insert({ registry_id: i, national_number: String(10_000_000 + i), status: 'OPEN', attempts: 1, centre_code: 'KE-047-01', created_at: now, updated_at: now })
        .returning('id');
      const orderId = Number(typeof o === 'object' ? (o as { id: number }).id : o);
      const [c] = await trx('cards').insert({ order_id: orderId, state: 'ORDERED', centre_code: 'KE-047-01', created_at: now, updated_at: now }).returning('id');
      ids.push(Number(typeof c === 'object' ? (c as { id: number }).id : c));
    }
  });
  return ids;
}

/** Cards split between `workers` lanes; each lane toggles its cards ORDERED <-> PREPARED in turn. */
class Lanes {
  private readonly next: number[];
  private constructor(
    private readonly lanes: number[][],
    private readonly state: Map<number, CardState>,
  ) {
    this.next = lanes.map(() => 0);
  }
  /** `state`: every card's current state, shared by all the Lanes over the same cards. */
  static split(ids: number[], workers: number, state: Map<number, CardState>): Lanes {
    const lanes = Array.from({ length: workers }, (_, w) => ids.filter((_, i) => i % workers === w));
    for (const id of ids) if (!state.has(id)) state.set(id, 'ORDERED');
    return new Lanes(lanes, state);
  }
  take(w: number): TransitionRequest {
    const lane = this.lanes[w]!;
    const id = lane[this.next[w]!++ % lane.length]!;
    const from = this.state.get(id)!;
    const to: CardState = from === 'ORDERED' ? 'PREPARED' : 'ORDERED';
    this.state.set(id, to);
    return { cardId: id, from, to, actor: 'bench' };
  }
}

interface Variant {
  key: string;
  db: Db;
  run: Transition;
  ops: number;
  ms: number;
  /** CPU time of this process (user + system), microseconds. */
  cpuUs: number;
}

/**
 * Runs every variant for `seconds` in total, `workers` concurrent loops each, in `rounds` short slices whose order
 * rotates every round, so a drift in the box's load hits every variant alike.
 */
async function measure(variants: Variant[], lanes: Lanes, seconds: number, workers: number, rounds = 12): Promise<void> {
  for (const v of variants) for (let i = 0; i < 100; i++) await v.run(v.db, lanes.take(i % workers));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(r + k) % variants.length]!;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const end = t0 + (seconds * 1000) / rounds;
      let n = 0;
      await Promise.all(
        Array.from({ length: workers }, async (_, w) => {
          while (performance.now() < end) {
            await v.run(v.db, lanes.take(w));
            n++;
          }
        }),
      );
      v.ms += performance.now() - t0;
      const c = process.cpuUsage(c0);
      v.cpuUs += c.user + c.system;
      v.ops += n;
    }
  }
}

const perS = (v: Variant): number => (v.ops * 1000) / v.ms;
/** This process's CPU microseconds per transition. */
const cpuUs = (v: Variant): number => round(v.cpuUs / v.ops, 1);

/** Statements one transition issues (knex `query` events). */
async function countStatements(db: Db, run: Transition, req: TransitionRequest): Promise<number> {
  let n = 0;
  const on = (): void => {
    n++;
  };
  db.on('query', on);
  try {
    await run(db, req);
  } finally {
    db.off('query', on);
  }
  return n;
}

async function sqliteFigures(ctx: BenchContext): Promise<void> {
  const url = `sqlite:${ctx.tmpDir}/db-bench.sqlite`;
  const dbs: Db[] = [];
  const open = (o: OpenDbOptions): Db => {
    const d = openDb(url, o);
    dbs.push(d);
    return d;
  };
  try {
    const main = open({});
    await migrateLatest(main);
    const ids = await seedCards(main, 2000);
    const lanes = Lanes.split(ids, 1, new Map());
    const noCache = open({ statementCache: 0 });
    const before: Variant = { key: 'before', db: noCache, run: transitionBefore, ops: 0, ms: 0, cpuUs: 0 };
    const nocache: Variant = { key: 'nocache', db: open({ statementCache: 0 }), run: transitionNow, ops: 0, ms: 0, cpuUs: 0 };
    const now: Variant = { key: 'now', db: main, run: transitionNow, ops: 0, ms: 0, cpuUs: 0 };
    await measure([before, nocache, now], lanes, ctx.seconds * 3, 1);
    const base = { engine: 'sqlite', journal: 'WAL', synchronous: 'NORMAL' };
    ctx.report({ name: 'db.transition.sqlite.before.per_s', value: round(perS(before)), unit: 'transitions/s', n: before.ops, cpuUsPerTransition: cpuUs(before), baseline: true, ...base, audit: '4 statements', statementCache: false });
    ctx.report({ name: 'db.transition.sqlite.nocache.per_s', value: round(perS(nocache)), unit: 'transitions/s', n: nocache.ops, cpuUsPerTransition: cpuUs(nocache), ...base, statementCache: false });
    ctx.report({ name: 'db.transition.sqlite.per_s', value: round(perS(now)), unit: 'transitions/s', n: now.ops, cpuUsPerTransition: cpuUs(now), ...base, statementCache: true });
    ctx.report({ name: 'db.transition.sqlite.speedup', value: round(perS(now) / perS(before), 2), unit: 'ratio', n: now.ops });
    ctx.report({
      name: 'db.transition.sqlite.statements',
      value: await countStatements(main, transitionNow, lanes.take(0)),
      unit: 'statements',
      n: 1,
      before: await countStatements(noCache, transitionBefore, lanes.take(0)),
    });
    const v = await verifyAudit(main);
    if (!v.ok) throw new Error(`audit chain does not verify after the bench: ${JSON.stringify(v.firstBad)}`);
    ctx.log(`sqlite: audit chain verified, ${v.entries} entries`);
  } finally {
    for (const d of dbs) await d.destroy();
  }
}

async function postgresFigures(ctx: BenchContext): Promise<void> {
  let cfg: ServiceConfig | undefined;
  try {
    cfg = await makeConfig(ctx.tmpDir, { pgFast: true, readers: 1 });
    const info = await startServices(cfg, ['postgres']);
    if (!info.pgUrl) throw new Error('services.sh did not report a PostgreSQL URL');
    const admin = openDb(info.pgUrl, { poolMax: 1 });
    try {
      await admin.raw('DROP DATABASE IF EXISTS kadi_bench_db');
      await admin.raw('CREATE DATABASE kadi_bench_db');
    } finally {
      await admin.destroy();
    }
    const u = new URL(info.pgUrl);
    u.pathname = '/kadi_bench_db';
    const db = openDb(u.toString(), { poolMax: 8 });
    try {
      await migrateLatest(db);
      const ids = await seedCards(db, 2000);
      const state = new Map<number, CardState>();
      for (const c of [1, 8]) {
        const lanes = Lanes.split(ids, c, state);
        const before: Variant = { key: 'before', db, run: transitionBefore, ops: 0, ms: 0, cpuUs: 0 };
        const now: Variant = { key: 'now', db, run: transitionNow, ops: 0, ms: 0, cpuUs: 0 };
        await measure([before, now], lanes, ctx.seconds * 2, c);
        const base = { engine: 'postgres', concurrency: c, pool: 8, fsync: 'off' };
        ctx.report({ name: `db.transition.postgres.before.per_s.${c}`, value: round(perS(before)), unit: 'transitions/s', n: before.ops, cpuUsPerTransition: cpuUs(before), baseline: true, ...base, audit: '4 statements' });
        ctx.report({ name: `db.transition.postgres.per_s.${c}`, value: round(perS(now)), unit: 'transitions/s', n: now.ops, cpuUsPerTransition: cpuUs(now), ...base });
        ctx.report({ name: `db.transition.postgres.speedup.${c}`, value: round(perS(now) / perS(before), 2), unit: 'ratio', n: now.ops });
        if (c === 1) {
          ctx.report({
            name: 'db.transition.postgres.statements',
            value: await countStatements(db, transitionNow, lanes.take(0)),
            unit: 'statements',
            n: 1,
            before: await countStatements(db, transitionBefore, lanes.take(0)),
          });
        }
      }
      const v = await verifyAudit(db);
      if (!v.ok) throw new Error(`audit chain does not verify after the bench: ${JSON.stringify(v.firstBad)}`);
      ctx.log(`postgres: audit chain verified, ${v.entries} entries`);
    } finally {
      await db.destroy();
    }
  } catch (e) {
    if (/audit chain/.test((e as Error).message)) throw e;
    ctx.log(`PostgreSQL not measured: ${(e as Error).message.split('\n')[0]}`);
  } finally {
    if (cfg) await stopServices(cfg, ['postgres']).catch(() => undefined);
  }
}

export default async function dbBench(ctx: BenchContext): Promise<void> {
  await sqliteFigures(ctx);
  await postgresFigures(ctx);
}
