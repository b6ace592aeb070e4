/**
 * Chip encoding (issue 4, docs/decisions/0008-encoding.md):
 *
 * - `blank_lot_usage`: blanks claimed per lot, a counter incremented with a compare-and-set
 *   (`UPDATE ... SET claimed = claimed + 1 WHERE lot_id = ? AND claimed < quantity`) when an encoder claims a
 *   blank, so two encoders can never take the last blank of a lot twice, on SQLite and PostgreSQL alike, without
 *   counting the cards of a lot at every claim. Rows are created lazily (a lot received later gets its row at the
 *   first claim, initialised from the cards already naming it). Stock reports keep counting cards by lot_id; the
 *   two agree as long as blanks are claimed only through the encoder.
 * - `encode_runs`: one row per encoding attempt of a card (a claimed blank): encoder, blank, outcome (RUNNING,
 *   ENCODED, SPOILED, INTERRUPTED, LOST), reason code, APDU/byte counts against the minimum, timings. No personal
 *   data, no key material.
 * - `apdu_traces`: the APDU trace of a run (command headers, lengths, status words, timings; never data bytes),
 *   one compact JSON document per run rather than one row per APDU (~45 APDUs per card, tens of millions of cards).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('blank_lot_usage', (t) => {
    t.integer('lot_id').primary().references('id').inTable('blank_lots');
    t.integer('claimed').notNullable().defaultTo(0);
  });

  await knex.schema.createTable('encode_runs', (t) => {
    t.increments('id').primary();
    t.integer('card_id').notNullable().references('id').inTable('cards');
    t.integer('encoder_id').nullable().references('id').inTable('encoders');
    t.string('chip_serial', 64).nullable();
    t.string('blank_serial', 64).nullable();
    t.integer('lot_id').nullable().references('id').inTable('blank_lots');
    t.string('outcome', 16).notNullable(); // RUNNING, ENCODED, SPOILED, INTERRUPTED, LOST
    t.string('reason_code', 48).nullable();
    t.text('error').nullable(); // JSON {code, message, details}: no personal data
    t.integer('security_level').nullable();
    t.integer('apdus').nullable();
    t.integer('exchanges').nullable();
    t.integer('bytes_sent').nullable();
    t.integer('bytes_received').nullable();
    t.integer('min_apdus').nullable();
    t.integer('min_bytes').nullable();
    t.double('card_ms').nullable();
    t.double('transport_ms').nullable();
    t.double('software_ms').nullable();
    t.string('host', 128).nullable();
    t.integer('pid').nullable();
    t.string('started_at', 32).notNullable();
    t.string('finished_at', 32).nullable();
    t.index(['card_id'], 'encode_runs_card');
    t.index(['outcome'], 'encode_runs_outcome');
  });

  await knex.schema.createTable('apdu_traces', (t) => {
    t.integer('run_id').primary().references('id').inTable('encode_runs');
    t.integer('card_id').notNullable().references('id').inTable('cards');
    t.string('format', 32).notNullable();
    t.integer('records').notNullable();
    t.text('trace').notNullable();
    t.index(['card_id'], 'apdu_traces_card');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('apdu_traces');
  await knex.schema.dropTableIfExists('encode_runs');
  await knex.schema.dropTableIfExists('blank_lot_usage');
}
