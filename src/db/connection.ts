/**
 * Database connections through knex: SQLite (better-sqlite3, the embedded default) and PostgreSQL (pg).
 * One schema and one behaviour on both; the differences are absorbed here:
 * - PostgreSQL int8 (bigint ids, count(*)) is parsed to a JS number (safe below 2^53).
 * - SQLite runs in WAL mode with a busy timeout and foreign keys on, so several processes can share the file.
 * - Timestamps are stored as ISO-8601 UTC text on both (lexicographic order = time order), booleans as
 *   integers 0/1, JSON as text. Repositories convert; see docs/decisions/0002-database.md.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { ConfigError } from '../shared/index.ts';

pg.types.setTypeParser(20, (v: string) => Number(v)); // int8
pg.types.setTypeParser(1700, (v: string) => Number(v)); // numeric

export type Db = Knex;
export type Trx = Knex.Transaction;
/** A connection or a transaction: repositories take either. */
export type DbOrTrx = Knex | Knex.Transaction;

export interface OpenDbOptions {
  /** Max pooled connections for PostgreSQL (default 10). SQLite always uses one connection per process. */
  poolMax?: number;
  /** SQLite busy timeout in ms (default 15000): how long a writer waits for another process's lock. */
  busyTimeoutMs?: number;
  /**
   * SQLite: prepared statements kept per connection, by SQL text, least recently used dropped first (default
   * 128; 0 = prepare every statement again, as knex's better-sqlite3 client does on its own).
   */
  statementCache?: number;
}

/** The parts of a better-sqlite3 connection and statement used here (the package ships no types). */
interface SqliteStatement {
  readonly busy: boolean;
  safeIntegers(on?: boolean): SqliteStatement;
}
interface SqliteConnection {
  pragma(s: string): unknown;
  prepare(sql: string): SqliteStatement;
}

/**
 * Makes `conn.prepare` return a cached statement for SQL text it prepared before. knex's better-sqlite3 client
 * calls `prepare` for every query, then `.all()` or `.run()` (both reset the statement when done, so a cached
 * statement holds no lock and no read snapshot between uses); compiling the same text again costs more than
 * running it (docs/decisions/0008). Same SQL text = same program: SQLite re-prepares a statement by itself when
 * the schema changed. A statement still busy (an open `.iterate()`, which knex never uses) is not handed out
 * again; knex sets `safeIntegers` on a statement only for a query that asks, so a reused one is reset to the
 * connection's default (off: openDb never turns it on).
 */
function cacheStatements(conn: SqliteConnection, max: number): void {
  const prepare = conn.prepare.bind(conn);
  const cache = new Map<string, SqliteStatement>();
  conn.prepare = (sql: string): SqliteStatement => {
    const hit = cache.get(sql);
    if (hit && !hit.busy) {
      cache.delete(sql); // re-insert: Map order is the LRU order
      cache.set(sql, hit);
      return hit.safeIntegers(false);
    }
    const st = prepare(sql);
    if (!hit) {
      cache.set(sql, st);
      if (cache.size > max) cache.delete(cache.keys().next().value as string);
    }
    return st;
  };
}

export function dialectOf(db: Knex): 'sqlite' | 'postgres' {
  const c = db.client.config.client as string;
  return c === 'pg' || c === 'postgres' || c === 'postgresql' ? 'postgres' : 'sqlite';
}

/** Opens a knex instance for `sqlite:PATH`, `sqlite::memory:` or `postgres://...`. */
export function openDb(url: string, opts: OpenDbOptions = {}): Knex {
  if (/^postgres(ql)?:\/\//.test(url)) {
    return knexFactory({
      client: 'pg',
      connection: url,
      pool: { min: 0, max: opts.poolMax ?? 10 },
    });
  }
  if (!url.startsWith('sqlite:')) {
    throw new ConfigError(`database URL must start with sqlite: or postgres:// (got a ${url.split(':')[0]}: URL)`);
  }
  const file = url.slice('sqlite:'.length);
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
  const busy = opts.busyTimeoutMs ?? 15_000;
  const cacheMax = opts.statementCache ?? 128;
  return knexFactory({
    client: 'better-sqlite3',
    connection: { filename: file },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      afterCreate(conn: SqliteConnection, done: (err: Error | null, conn: unknown) => void) {
        try {
          if (cacheMax > 0) cacheStatements(conn, cacheMax);
          if (file !== ':memory:') conn.pragma('journal_mode = WAL');
          conn.pragma(`busy_timeout = ${busy}`);
          conn.pragma('foreign_keys = ON');
          conn.pragma('synchronous = NORMAL');
          done(null, conn);
        } catch (e) {
          done(e as Error, conn);
        }
      },
    },
  });
}

/** The current time as stored in the database (ISO-8601 UTC text). */
export function isoNow(d: Date = new Date()): string {
  return d.toISOString();
}

/** Normalises a count returned by the driver (PostgreSQL may return strings for numeric aggregates). */
export function toCount(v: unknown): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : Number(v);
}

/** Normalises a boolean column (0/1 on SQLite, true/false on PostgreSQL). */
export function toBool(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 't';
}

/** The id from `insert(...).returning('id')`, whichever shape the driver gives ({id} or the bare value). */
export function insertedId(rows: unknown[]): number {
  const r = rows[0];
  if (r === undefined) throw new Error('insert returned no row');
  return Number(typeof r === 'object' && r !== null ? (r as { id: unknown }).id : r);
}

/**
 * Call first in a write transaction that begins with reads. On SQLite it takes the database write lock now
 * (like BEGIN IMMEDIATE), so a concurrent writer in another process waits on busy_timeout instead of failing
 * with SQLITE_BUSY when this transaction later upgrades from read to write. No-op on PostgreSQL, whose row
 * locks and MVCC need no such step.
 */
export async function beginWrite(trx: Knex.Transaction): Promise<void> {
  if (dialectOf(trx as unknown as Knex) === 'sqlite') await trx('audit_head').where({ id: 1 }).update({ seq: trx.raw('seq') });
}

/** Whether a database error is a unique-constraint violation (PostgreSQL 23505, SQLite UNIQUE/PRIMARY KEY). */
export function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown };
  const code = err?.code;
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    /UNIQUE constraint failed|duplicate key value/i.test(String(err?.message ?? ''))
  );
}
