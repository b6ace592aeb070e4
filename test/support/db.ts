/**
 * A fresh, migrated Kadi database per test file, on the engine the vitest project selects
 * (KADI_TEST_DB=sqlite: a temp file; KADI_TEST_DB=postgres: a new database on the run's PostgreSQL).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { migrateLatest, openDb } from '../../src/db/index.ts';
import { testServices } from './env.ts';

export type Engine = 'sqlite' | 'postgres';

export function testEngine(): Engine {
  return process.env.KADI_TEST_DB === 'postgres' ? 'postgres' : 'sqlite';
}

export interface TestDatabase {
  url: string;
  db: Knex;
  /** Another database URL on the same engine (e.g. for a registry). */
  makeUrl(name: string): Promise<string>;
  close(): Promise<void>;
}

/** Creates a database URL on the current engine; drops/removes everything in close(). */
export async function createTestDatabase(opts: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const engine = testEngine();
  const cleanups: Array<() => Promise<void>> = [];
  const opened: Knex[] = [];
  let makeUrl: (name: string) => Promise<string>;
  if (engine === 'sqlite') {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kadi-test-db-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    makeUrl = async (name) => `sqlite:${path.join(dir, `${name}.sqlite`)}`;
  } else {
    const admin = testServices().pgUrl;
    if (!admin) throw new Error('PostgreSQL was not started for this run (KADI_TEST_PG=0?)');
    const adminDb = openDb(admin, { poolMax: 1 });
    makeUrl = async (name) => {
      const dbName = `kadi_t_${name.replace(/\W/g, '_')}_${randomBytes(5).toString('hex')}`;
      await adminDb.raw(`CREATE DATABASE ${dbName}`);
      cleanups.push(async () => {
        await adminDb.raw(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      });
      const u = new URL(admin);
      u.pathname = `/${dbName}`;
      return u.toString();
    };
    cleanups.push(async () => adminDb.destroy());
  }
  const url = await makeUrl('kadi');
  const db = openDb(url);
  opened.push(db);
  if (opts.migrate !== false) await migrateLatest(db);
  return {
    url,
    db,
    makeUrl,
    async close() {
      for (const k of opened) await k.destroy();
      for (const c of cleanups.reverse()) await c();
    },
  };
}

/** Inserts a collection centre and an order with one ORDERED card; returns their ids. For state tests. */
export async function seedOrderAndCard(db: Knex, n = 1): Promise<{ orderIds: number[]; cardIds: number[] }> {
  const now = new Date().toISOString();
  await db('collection_centres')
    .insert({ code: 'KE-047-01', name: 'Huduma Centre GPO', county: 'Nairobi', created_at: now })
    .onConflict('code')
    .ignore();
  const orderIds: number[] = [];
  const cardIds: number[] = [];
  const base = Number((await db('card_orders').max({ m: 'registry_id' }))[0]?.m ?? 0);
  for (let i = 1; i <= n; i++) {
    const [o] = await db('card_orders')
      .insert({
        registry_id: base + i,
        national_number: String(10_000_000 + base + i),
        status: 'OPEN',
        attempts: 1,
        centre_code: 'KE-047-01',
        created_at: now,
        updated_at: now,
      })
      .returning('id');
    const orderId = typeof o === 'object' ? (o as { id: number }).id : (o as number);
    const [c] = await db('cards')
      .insert({ order_id: orderId, state: 'ORDERED', centre_code: 'KE-047-01', created_at: now, updated_at: now })
      .returning('id');
    orderIds.push(orderId);
    cardIds.push(typeof c === 'object' ? (c as { id: number }).id : (c as number));
  }
  return { orderIds, cardIds };
}
