/**
 * Dispatch and logistics (issue 7): indexes for packing, shipping, tracking and the per-centre reports, and
 * unique seal numbers. No new tables: boxes, shipments and tracking_events come from 0001.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // Packing (QC_PASSED per centre), issuance and the ageing report (RECEIVED per centre).
  await knex.schema.alterTable('cards', (t) => {
    t.index(['centre_code', 'state'], 'cards_centre_state');
  });
  await knex.schema.alterTable('boxes', (t) => {
    t.index(['centre_code', 'state'], 'boxes_centre_state');
    t.index(['shipment_id'], 'boxes_shipment');
    // A physical seal is used once. NULLs (unsealed boxes) do not collide on SQLite or PostgreSQL.
    t.unique(['seal_number'], { indexName: 'boxes_seal_number_unique' });
  });
  await knex.schema.alterTable('shipments', (t) => {
    t.index(['centre_code', 'state'], 'shipments_centre_state');
  });
  await knex.schema.alterTable('tracking_events', (t) => {
    t.index(['shipment_id'], 'tracking_events_shipment');
    t.index(['event'], 'tracking_events_event');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tracking_events', (t) => {
    t.dropIndex(['event'], 'tracking_events_event');
    t.dropIndex(['shipment_id'], 'tracking_events_shipment');
  });
  await knex.schema.alterTable('shipments', (t) => {
    t.dropIndex(['centre_code', 'state'], 'shipments_centre_state');
  });
  await knex.schema.alterTable('boxes', (t) => {
    t.dropUnique(['seal_number'], 'boxes_seal_number_unique');
    t.dropIndex(['shipment_id'], 'boxes_shipment');
    t.dropIndex(['centre_code', 'state'], 'boxes_centre_state');
  });
  await knex.schema.alterTable('cards', (t) => {
    t.dropIndex(['centre_code', 'state'], 'cards_centre_state');
  });
}
