/**
 * Migrations are TypeScript modules imported statically (no directory scanning), so they work the same from
 * source, from tests and from any working directory. Add new ones to MIGRATIONS in order.
 */
import type { Knex } from 'knex';
import * as m0001 from './migrations/0001_initial.ts';

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

const MIGRATIONS: ReadonlyArray<readonly [string, Migration]> = [['0001_initial', m0001]];

const source: Knex.MigrationSource<readonly [string, Migration]> = {
  getMigrations: async () => [...MIGRATIONS],
  getMigrationName: (m) => m[0],
  getMigration: async (m) => m[1],
};

const config = { migrationSource: source, tableName: 'knex_migrations' };

/** Brings the schema up to date. Safe to call on every start (knex holds a migration lock). */
export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest(config)) as [number, string[]];
  return applied;
}

export async function migrateRollbackAll(db: Knex): Promise<void> {
  await db.migrate.rollback(config, true);
}

export async function migrationStatus(db: Knex): Promise<{ applied: string[]; pending: string[] }> {
  const [done, pending] = (await db.migrate.list(config)) as [Array<{ name: string }>, Array<readonly [string, Migration]>];
  return { applied: done.map((d) => d.name), pending: pending.map((p) => p[0]) };
}
