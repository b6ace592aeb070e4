/**
 * One running print job per card: the pipeline's print stage prints one card per job, and two jobs for the same
 * card (a duplicate job after a worker crash or Redis loss) must not both print it. `print_jobs.card_id` names the
 * card of a single-card job (null for batch jobs); a partial unique index lets only one such job be RUNNING.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('print_jobs', (t) => {
    t.integer('card_id').nullable().references('id').inTable('cards');
  });
  await knex.raw("CREATE UNIQUE INDEX print_jobs_one_running_per_card ON print_jobs (card_id) WHERE state = 'RUNNING' AND card_id IS NOT NULL");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS print_jobs_one_running_per_card');
  await knex.schema.alterTable('print_jobs', (t) => {
    t.dropColumn('card_id');
  });
}
