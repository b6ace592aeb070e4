/** Prepared chip images and the document number sequence. */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // One row per card: the chip-independent LDS files (JSON: {"com": b64, "dg": {"1": b64, ...}, "mrz": [...]})
  // plus the document dates. Personal data: never copied to logs or queues.
  await knex.schema.createTable('chip_images', (t) => {
    t.integer('card_id').primary().references('id').inTable('cards');
    t.string('document_number', 16).notNullable().unique();
    t.string('date_of_issue', 10).notNullable();
    t.string('date_of_expiry', 10).notNullable();
    t.text('files').notNullable();
    t.string('created_at', 32).notNullable();
  });
  // Named counters, incremented under their row lock (document numbers, box codes, ...).
  await knex.schema.createTable('counters', (t) => {
    t.string('name', 32).primary();
    t.bigInteger('value').notNullable();
  });
  await knex('counters').insert({ name: 'document_number', value: 0 });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('counters');
  await knex.schema.dropTableIfExists('chip_images');
}
