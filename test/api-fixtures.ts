/**
 * Fixtures for the API and browser tests: users for every role, and cards walked through the real state
 * machine (transitionCard, so every move is in the audit trail) up to the state a test needs, with an order,
 * a personal-data snapshot and a portrait like intake writes them.
 */
import type { Knex } from 'knex';
import { createUser, type Role, type User } from '../src/api/index.ts';
import { transitionCard, type CardState } from '../src/cards/index.ts';
import { insertedId } from '../src/db/index.ts';
import { receiveBlankLot } from '../src/dispatch/index.ts';
import { generatePhoto } from '../src/registry/index.ts';
import { Rng } from '../src/shared/index.ts';

export const PASSWORD = 'correct horse battery staple';
export const ROLES_ALL: readonly Role[] = ['operator', 'qc', 'logistics', 'custodian', 'admin'];

/** One user per role, named after it (e.g. `amina.qc`), all with PASSWORD. */
export async function seedUsers(db: Knex, prefix = 'amina'): Promise<Record<Role, User>> {
  const out = {} as Record<Role, User>;
  for (const role of ROLES_ALL) {
    out[role] = (await createUser(db, { name: `${prefix}.${role}`, role, password: PASSWORD, actor: 'test-setup' })).user;
  }
  return out;
}

export const CENTRE = 'KE-047-01';
export const OTHER_CENTRE = 'KE-001-01';

export async function seedCentres(db: Knex): Promise<void> {
  const now = new Date().toISOString();
  for (const [code, name, county] of [
    [CENTRE, 'Huduma Centre GPO', 'Nairobi'],
    [OTHER_CENTRE, 'Huduma Centre Mombasa', 'Mombasa'],
  ] as const) {
    await db('collection_centres').insert({ code, name, county, created_at: now }).onConflict('code').ignore();
  }
}

const PATH: readonly CardState[] = ['ORDERED', 'PREPARED', 'ENCODING', 'ENCODED', 'PRINTED', 'QC_PASSED'];

export interface SeededCard {
  cardId: number;
  orderId: number;
  documentNumber: string;
  nationalNumber: string;
  surname: string;
  givenNames: string;
}

let seq = 0;
let lotId: number | undefined;

/**
 * Creates `n` orders with one card each, moved to `state` (ORDERED … QC_PASSED) along the production path.
 * Document numbers are `KT` + 7 digits; national numbers are 8 digits starting with 7.
 */
export async function seedCards(db: Knex, n: number, o: { state: CardState; centre?: string; surname?: string; batchId?: number } = { state: 'PRINTED' }): Promise<SeededCard[]> {
  const centre = o.centre ?? CENTRE;
  await seedCentres(db);
  if (lotId === undefined || !(await db('blank_lots').where({ id: lotId }).first('id'))) {
    const lot = await receiveBlankLot(db, { lot: `LOT-${Date.now()}-${Math.floor(Math.random() * 1e6)}`, quantity: 100_000, supplier: 'Test Cards Ltd', chipType: 'JCOP4', actor: 'test-setup' });
    lotId = lot.id;
  }
  const rng = new Rng(`api-fixtures-${seq}`);
  const out: SeededCard[] = [];
  const base = Number((await db('card_orders').max({ m: 'registry_id' }))[0]?.m ?? 0);
  const target = PATH.indexOf(o.state);
  if (target < 0) throw new Error(`seedCards: ${o.state} is not on the production path`);
  for (let i = 0; i < n; i++) {
    seq++;
    const now = new Date().toISOString();
    const nationalNumber = String(70_000_000 + seq);
    const surname = o.surname ?? `Wanjiru${String.fromCharCode(65 + (seq % 26))}`;
    const givenNames = `Achieng ${String.fromCharCode(65 + ((seq * 7) % 26))}ngela`;
    const orderId = insertedId(
      await db('card_orders')
        .insert({ registry_id: base + 1 + i, national_number: nationalNumber, status: 'OPEN', attempts: 1, centre_code: centre, created_at: now, updated_at: now })
        .returning('id'),
    );
    await db('order_records').insert({
      order_id: orderId,
      data: JSON.stringify({ nationalNumber, surname, givenNames, sex: 'F', dateOfBirth: '1990-04-12', placeOfBirth: 'Nairobi', county: 'Nairobi', address: 'P.O. Box 1-00100, Nairobi', collectionCentre: centre }),
      photo: generatePhoto(rng),
    });
    const cardId = insertedId(await db('cards').insert({ order_id: orderId, state: 'ORDERED', centre_code: centre, batch_id: o.batchId ?? null, created_at: now, updated_at: now }).returning('id'));
    const documentNumber = `KT${String(seq).padStart(7, '0')}`;
    for (let s = 1; s <= target; s++) {
      const from = PATH[s - 1]!;
      const to = PATH[s]!;
      const set =
        to === 'PREPARED' ? { document_number: documentNumber } : to === 'ENCODING' ? { blank_serial: `BS-${documentNumber}`, chip_serial: `CS-${documentNumber}`, lot_id: lotId } : undefined;
      await transitionCard(db, { cardId, from, to, actor: 'worker:test', ...(set ? { set } : {}) });
    }
    out.push({ cardId, orderId, documentNumber, nationalNumber, surname, givenNames });
  }
  return out;
}

/** Moves one card forward along the production path by one step (for watching a batch progress). */
export async function advanceCard(db: Knex, cardId: number): Promise<CardState> {
  const c = await db('cards').where({ id: cardId }).first('state', 'document_number');
  const from = c.state as CardState;
  const i = PATH.indexOf(from);
  if (i < 0 || i === PATH.length - 1) return from;
  const to = PATH[i + 1]!;
  const doc = (c.document_number as string | null) ?? `KT${String(900_000 + cardId).padStart(7, '0')}`;
  const set = to === 'PREPARED' ? { document_number: doc } : to === 'ENCODING' ? { blank_serial: `BS-${doc}`, chip_serial: `CS-${doc}`, lot_id: lotId ?? null } : undefined;
  await transitionCard(db, { cardId, from, to, actor: 'worker:test', ...(set ? { set } : {}) });
  return to;
}
