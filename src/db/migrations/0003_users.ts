/**
 * Users of the API and console (issue 9): staff accounts with one role each, and their sessions/tokens.
 *
 * - users.password_hash is a scrypt hash string (`scrypt$N$r$p$salt$hash`, see src/api/auth/passwords.ts);
 *   the password itself is never stored.
 * - sessions holds console sessions (cookie) and API tokens (Bearer) alike. Only the SHA-256 of the secret is
 *   stored (`secret_hash`): the secrets are 256-bit random values, so a fast hash is enough, and a stolen table
 *   gives no usable credential. A row is valid while `revoked_at` is null and `expires_at` is in the future.
 * Every change to these tables is written with an audit entry by src/api/auth (user.create, session.create...).
 * Staff names are not citizens' personal data, but they are still kept out of URLs (users are addressed by id).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.increments('id').primary();
    t.string('name', 32).notNullable().unique(); // login name, lower case: [a-z][a-z0-9._-]{1,31}
    t.string('role', 16).notNullable(); // operator, qc, logistics, custodian, admin
    t.string('password_hash', 255).notNullable();
    t.integer('active').notNullable().defaultTo(1);
    t.string('created_at', 32).notNullable();
    t.string('created_by', 64).notNullable();
    t.string('updated_at', 32).notNullable();
    t.string('password_changed_at', 32).notNullable();
    t.string('last_login_at', 32).nullable();
  });

  await knex.schema.createTable('sessions', (t) => {
    t.increments('id').primary();
    t.string('secret_hash', 64).notNullable().unique(); // SHA-256 hex of the cookie value / bearer token
    t.integer('user_id').notNullable().references('id').inTable('users');
    t.string('kind', 8).notNullable(); // session (console cookie) | token (API Bearer)
    t.string('label', 64).nullable(); // what the token is for, e.g. "prometheus"
    t.string('created_at', 32).notNullable();
    t.string('expires_at', 32).notNullable();
    t.string('last_used_at', 32).notNullable();
    t.string('revoked_at', 32).nullable();
    t.index(['user_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('sessions');
  await knex.schema.dropTableIfExists('users');
}
