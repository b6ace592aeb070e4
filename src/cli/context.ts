/**
 * What a CLI command needs, built from the validated configuration: the Kadi database (migrated on first use),
 * the registry database. Everything opened here is closed in `close()`, which main() calls in `finally`.
 */
import type { Knex } from 'knex';
import { loadConfig, type KadiConfig } from '../config/index.ts';
import { migrateLatest, openDb } from '../db/index.ts';

export class Context {
  private kadi?: Knex;
  private registry?: Knex;
  private migrated = false;
  constructor(readonly config: KadiConfig) {}

  static fromEnv(): Context {
    return new Context(loadConfig());
  }

  /** The Kadi database, schema brought up to date. */
  async db(): Promise<Knex> {
    this.kadi ??= openDb(this.config.dbUrl);
    if (!this.migrated) {
      await migrateLatest(this.kadi);
      this.migrated = true;
    }
    return this.kadi;
  }

  registryDb(): Knex {
    this.registry ??= openDb(this.config.registryUrl);
    return this.registry;
  }

  async close(): Promise<void> {
    await this.kadi?.destroy();
    await this.registry?.destroy();
  }
}
