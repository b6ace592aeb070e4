/**
 * Printing (src/print): card seals, print jobs and the cards each job put on paper. Same types on SQLite and
 * PostgreSQL as 0001 (ISO timestamps as text, JSON as text, binary as blob/bytea; bigint parsed to numbers).
 */
import type { Knex } from 'knex';

const ts = (t: Knex.CreateTableBuilder, name: string, nullable = true) => {
  const c = t.string(name, 32);
  return nullable ? c.nullable() : c.notNullable();
};

export async function up(knex: Knex): Promise<void> {
  // One Visible Digital Seal per card, signed once (before the first print) so every reprint shows the same seal.
  await knex.schema.createTable('card_seals', (t) => {
    t.integer('card_id').primary().references('id').inTable('cards');
    t.binary('seal').notNullable(); // the VDS bytes (ICAO 9303-13)
    t.string('seal_sha256', 64).notNullable();
    t.integer('signer_key_id').notNullable().references('id').inTable('keys');
    t.string('cert_serial', 64).notNullable();
    t.string('date_of_issue', 10).notNullable(); // YYYY-MM-DD, as printed
    t.string('date_of_expiry', 10).notNullable();
    ts(t, 'signed_at', false);
    t.string('signed_by', 64).notNullable();
  });

  await knex.schema.createTable('print_jobs', (t) => {
    t.increments('id').primary();
    t.integer('batch_id').notNullable().references('id').inTable('batches');
    t.string('state', 16).notNullable(); // RUNNING, COMPLETED, FAILED
    t.string('template_id', 64).notNullable();
    t.string('template_sha256', 64).notNullable();
    t.string('output_path', 1000).notNullable();
    t.string('output_sha256', 64).nullable();
    t.bigInteger('output_bytes').nullable();
    t.text('options').notNullable(); // JSON: imposition, dpi, ...
    t.integer('cards').notNullable().defaultTo(0);
    t.integer('pages').notNullable().defaultTo(0);
    t.integer('skipped').notNullable().defaultTo(0); // cards of the batch not in a printable state
    t.integer('truncated_fields').notNullable().defaultTo(0);
    t.integer('shrunk_fields').notNullable().defaultTo(0);
    t.integer('wrapped_fields').notNullable().defaultTo(0);
    ts(t, 'started_at', false);
    ts(t, 'completed_at');
    t.string('created_by', 64).notNullable();
    t.string('error_code', 48).nullable();
    t.string('error_message', 255).nullable();
    t.index(['batch_id']);
  });

  // The cards of a job in print order: page = 2 * position - 1 (front) and 2 * position (back) without imposition.
  await knex.schema.createTable('print_job_cards', (t) => {
    t.integer('job_id').notNullable().references('id').inTable('print_jobs');
    t.integer('position').notNullable();
    t.integer('card_id').notNullable().references('id').inTable('cards');
    t.string('seal_sha256', 64).nullable();
    t.primary(['job_id', 'position']);
    t.index(['card_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('print_job_cards');
  await knex.schema.dropTableIfExists('print_jobs');
  await knex.schema.dropTableIfExists('card_seals');
}
