/**
 * The initial Kadi schema. Identical on SQLite and PostgreSQL (see docs/decisions/0002-database.md):
 * timestamps are ISO-8601 UTC strings, booleans integers 0/1, JSON text, binary as blob/bytea.
 */
import type { Knex } from 'knex';

const ts = (t: Knex.CreateTableBuilder, name: string, nullable = true) => {
  const c = t.string(name, 32);
  return nullable ? c.nullable() : c.notNullable();
};

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('collection_centres', (t) => {
    t.string('code', 16).primary(); // e.g. KE-047-01
    t.string('name', 120).notNullable();
    t.string('county', 60).notNullable();
    t.integer('active').notNullable().defaultTo(1);
    ts(t, 'created_at', false);
  });

  await knex.schema.createTable('blank_lots', (t) => {
    t.increments('id').primary();
    t.string('lot_number', 64).notNullable().unique();
    t.string('supplier', 120).notNullable();
    t.string('chip_type', 64).notNullable();
    t.integer('quantity').notNullable();
    ts(t, 'received_at', false);
    t.string('received_by', 64).notNullable();
  });

  await knex.schema.createTable('batches', (t) => {
    t.increments('id').primary();
    t.string('state', 16).notNullable(); // CREATED, RUNNING, COMPLETED, CANCELLED
    t.integer('size').notNullable();
    t.string('centre_code', 16).nullable().references('code').inTable('collection_centres');
    ts(t, 'created_at', false);
    t.string('created_by', 64).notNullable();
    ts(t, 'started_at');
    ts(t, 'completed_at');
  });

  await knex.schema.createTable('card_orders', (t) => {
    t.increments('id').primary();
    t.integer('registry_id').notNullable().unique();
    t.string('national_number', 32).notNullable();
    t.string('status', 16).notNullable(); // OPEN, REVIEW, FULFILLED, CLOSED
    t.integer('attempts').notNullable().defaultTo(0);
    t.string('centre_code', 16).notNullable().references('code').inTable('collection_centres');
    ts(t, 'created_at', false);
    ts(t, 'updated_at', false);
    t.index(['status']);
    t.index(['national_number']);
  });
  // One active order (in production, under review or fulfilled) per person: enforced by the database.
  await knex.raw(
    "CREATE UNIQUE INDEX card_orders_one_active_per_person ON card_orders (national_number) WHERE status <> 'CLOSED'",
  );

  // The personal data snapshot taken at intake, kept apart from the hot tables. Never copied to logs or queues.
  await knex.schema.createTable('order_records', (t) => {
    t.integer('order_id').primary().references('id').inTable('card_orders');
    t.text('data').notNullable(); // JSON: names, dates, places, numbers (no photo)
    t.binary('photo').notNullable(); // JPEG as received
  });

  await knex.schema.createTable('intake_records', (t) => {
    t.integer('registry_id').primary();
    t.string('outcome', 16).notNullable(); // ORDERED, REJECTED, DUPLICATE
    t.integer('order_id').nullable().references('id').inTable('card_orders');
    t.string('reason_code', 48).nullable();
    t.string('field', 48).nullable();
    t.string('message', 255).nullable();
    t.string('registry_updated_at', 40).nullable();
    ts(t, 'processed_at', false);
    t.index(['outcome']);
  });

  await knex.schema.createTable('encoders', (t) => {
    t.increments('id').primary();
    t.string('name', 128).notNullable().unique(); // PC/SC reader name
    t.string('machine', 128).notNullable();
    t.string('state', 16).notNullable(); // IDLE, BUSY, OFFLINE, FAULT
    ts(t, 'last_seen_at');
    t.integer('cards_encoded').notNullable().defaultTo(0);
    t.integer('cards_spoiled').notNullable().defaultTo(0);
  });

  await knex.schema.createTable('boxes', (t) => {
    t.increments('id').primary();
    t.string('code', 32).notNullable().unique(); // printed on the label (Code128/QR)
    t.string('centre_code', 16).notNullable().references('code').inTable('collection_centres');
    t.integer('shipment_id').nullable();
    t.string('state', 16).notNullable(); // OPEN, SEALED, DISPATCHED, IN_TRANSIT, RECEIVED, OPENED
    t.integer('capacity').notNullable();
    t.string('seal_number', 32).nullable();
    ts(t, 'created_at', false);
    ts(t, 'sealed_at');
  });

  await knex.schema.createTable('shipments', (t) => {
    t.increments('id').primary();
    t.string('code', 32).notNullable().unique();
    t.string('centre_code', 16).notNullable().references('code').inTable('collection_centres');
    t.string('state', 16).notNullable(); // CREATED, DISPATCHED, RECEIVED
    ts(t, 'created_at', false);
    ts(t, 'dispatched_at');
    ts(t, 'received_at');
  });

  await knex.schema.createTable('cards', (t) => {
    t.increments('id').primary();
    t.integer('order_id').notNullable().references('id').inTable('card_orders');
    t.integer('batch_id').nullable().references('id').inTable('batches');
    t.string('state', 16).notNullable();
    t.string('document_number', 16).nullable().unique();
    t.string('blank_serial', 64).nullable().unique();
    t.string('chip_serial', 64).nullable().unique();
    t.integer('lot_id').nullable().references('id').inTable('blank_lots');
    t.integer('encoder_id').nullable().references('id').inTable('encoders');
    t.integer('box_id').nullable().references('id').inTable('boxes');
    t.string('centre_code', 16).notNullable().references('code').inTable('collection_centres');
    t.string('spoil_reason', 48).nullable();
    t.integer('version').notNullable().defaultTo(0);
    ts(t, 'created_at', false);
    ts(t, 'updated_at', false);
    t.index(['state']);
    t.index(['order_id']);
    t.index(['batch_id', 'state']);
    t.index(['box_id']);
  });
  // Exactly once: at most one live card (not spoiled, returned or destroyed) per order.
  await knex.raw(
    "CREATE UNIQUE INDEX cards_one_live_per_order ON cards (order_id) WHERE state NOT IN ('SPOILED', 'RETURNED', 'DESTROYED')",
  );

  await knex.schema.createTable('qc_results', (t) => {
    t.increments('id').primary();
    t.integer('card_id').notNullable().references('id').inTable('cards');
    t.string('kind', 16).notNullable(); // CHIP, FACE, VISUAL
    t.integer('passed').notNullable();
    t.string('reason_code', 48).nullable();
    t.text('details').nullable(); // JSON, no personal data
    t.string('operator', 64).notNullable();
    t.string('station', 64).nullable();
    ts(t, 'created_at', false);
    t.index(['card_id']);
  });

  await knex.schema.createTable('tracking_events', (t) => {
    t.bigIncrements('id').primary();
    t.integer('box_id').nullable().references('id').inTable('boxes');
    t.integer('card_id').nullable().references('id').inTable('cards');
    t.integer('shipment_id').nullable().references('id').inTable('shipments');
    t.string('event', 24).notNullable();
    t.string('centre_code', 16).nullable();
    ts(t, 'at', false);
    t.string('actor', 64).notNullable();
    t.text('details').nullable();
    t.index(['box_id']);
    t.index(['card_id']);
  });

  await knex.schema.createTable('keys', (t) => {
    t.increments('id').primary();
    t.string('kind', 16).notNullable(); // CSCA, DS, SEAL, GP_MASTER
    t.string('label', 64).notNullable().unique(); // PKCS#11 CKA_LABEL
    t.string('algorithm', 32).notNullable();
    t.string('status', 16).notNullable(); // ACTIVE, RETIRED, REVOKED
    t.binary('certificate').nullable(); // DER
    t.string('subject', 255).nullable();
    t.string('serial_hex', 64).nullable();
    ts(t, 'not_before');
    ts(t, 'not_after');
    ts(t, 'pkup_not_before'); // private key usage period
    ts(t, 'pkup_not_after');
    t.string('kcv', 16).nullable(); // key check value, for symmetric keys
    ts(t, 'created_at', false);
    t.string('created_by', 64).notNullable();
    t.index(['kind', 'status']);
  });

  await knex.schema.createTable('crls', (t) => {
    t.increments('id').primary();
    t.integer('issuer_key_id').notNullable().references('id').inTable('keys');
    t.integer('crl_number').notNullable();
    ts(t, 'this_update', false);
    ts(t, 'next_update', false);
    t.binary('der').notNullable();
  });

  // Append-only, hash-chained audit log (see src/audit). seq is assigned from audit_head under its row lock.
  await knex.schema.createTable('audit_log', (t) => {
    t.bigInteger('seq').primary();
    ts(t, 'at', false);
    t.string('actor', 64).notNullable();
    t.string('action', 48).notNullable();
    t.string('entity_type', 24).notNullable();
    t.string('entity_id', 64).notNullable();
    t.text('data').notNullable(); // canonical JSON, no personal data
    t.string('prev_hash', 64).notNullable();
    t.string('hash', 64).notNullable();
    t.index(['entity_type', 'entity_id']);
  });
  await knex.schema.createTable('audit_head', (t) => {
    t.integer('id').primary();
    t.bigInteger('seq').notNullable();
    t.string('hash', 64).notNullable();
  });
  await knex('audit_head').insert({ id: 1, seq: 0, hash: '0'.repeat(64) });
}

export async function down(knex: Knex): Promise<void> {
  for (const t of [
    'audit_head', 'audit_log', 'crls', 'keys', 'tracking_events', 'qc_results', 'cards', 'shipments', 'boxes',
    'encoders', 'intake_records', 'order_records', 'card_orders', 'batches', 'blank_lots', 'collection_centres',
  ]) {
    await knex.schema.dropTableIfExists(t);
  }
}
