/**
 * Migrations are the TypeScript modules in ./migrations named `NNNN_description.ts`, applied in name order.
 * Each exports `up(knex)` and `down(knex)`. Discovery reads this module's own directory, so it works the same
 * from source, from tests and from any working directory.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Knex } from 'knex';

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');
const NAME = /^(\d{4}_[a-z0-9_]+)\.ts$/;

function migrationNames(): string[] {
  return readdirSync(DIR)
    .map((f) => NAME.exec(f)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort();
}

const source: Knex.MigrationSource<string> = {
  getMigrations: async () => migrationNames(),
  getMigrationName: (name) => name,
  getMigration: async (name) => (await import(pathToFileURL(path.join(DIR, `${name}.ts`)).href)) as Migration,
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
  const [done, pending] = (await db.migrate.list(config)) as [Array<{ name: string }>, string[]];
  return { applied: done.map((d) => d.name), pending: [...pending] };
}
