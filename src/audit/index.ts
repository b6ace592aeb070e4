/**
 * The audit log: append-only and hash-chained. Every state change and every key use writes one entry, in the
 * same transaction as the change itself.
 *
 *   hash(n) = SHA-256( prev_hash || "\n" || canonical JSON {seq, at, actor, action, entityType, entityId, data} )
 *   prev_hash(1) = 64 zeros;  prev_hash(n) = hash(n-1)
 *
 * `audit_head` (one row) holds the last seq and hash. Appending first updates that row (seq + n, returning the
 * new seq and the hash it held), which takes its row lock (PostgreSQL) or the write lock (SQLite) until commit,
 * so concurrent writers are serialised and the chain has no forks or gaps. Verification walks the chain in seq
 * order and checks, for every entry, that seq is contiguous, prev_hash links to the previous entry and the stored
 * hash matches the recomputed one; and at the end that the head matches the last entry (which detects deleting
 * the newest entries).
 *
 * What it proves: any edit, deletion, insertion or reordering made without recomputing every later hash *and*
 * the head. An attacker with full write access to the database could rebuild the whole chain; anchoring the
 * head hash elsewhere (printed in reports, signed by an HSM key) closes that gap (see docs/decisions).
 *
 * Entries must never hold personal data, PINs or key bytes: ids, codes, labels and states only.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { dialectOf } from '../db/connection.ts';
import { KadiError } from '../shared/index.ts';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditInput {
  /** Who did it: a user name, `system`, or a worker id like `worker:encode@host`. */
  actor: string;
  /** What happened, e.g. `card.transition`, `intake.reject`, `key.sign`. */
  action: string;
  entityType: string;
  entityId: string | number;
  /** Extra facts (states, reason codes, counts). No personal data. */
  data?: Record<string, unknown>;
}

export interface AuditEntry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  entityType: string;
  entityId: string;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** JSON with object keys sorted at every level, so the same content always hashes the same. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

export function entryHash(prevHash: string, e: Omit<AuditEntry, 'prevHash' | 'hash'>): string {
  const body = canonicalJson({
    seq: e.seq,
    at: e.at,
    actor: e.actor,
    action: e.action,
    entityType: e.entityType,
    entityId: e.entityId,
    data: e.data,
  });
  return createHash('sha256').update(prevHash).update('\n').update(body).digest('hex');
}

/**
 * Appends entries inside the caller's transaction (pass the trx that made the change). Returns the new entries.
 * Must run inside a transaction: the head update and the inserts commit or roll back with the change.
 *
 * Statements: `UPDATE audit_head SET seq = seq + n ... RETURNING seq, hash` first — it takes the head's row lock
 * (PostgreSQL) or the write lock (SQLite) before anything is read, exactly as the separate UPDATE did, and on
 * PostgreSQL a writer that waited for the lock gets the row as the previous holder committed it (READ COMMITTED
 * re-reads the updated row), so seq and prev_hash always continue the committed chain. Then the entries and the
 * new head hash: on PostgreSQL one statement (`WITH h AS (UPDATE audit_head SET hash ...) INSERT INTO audit_log
 * ...`), on SQLite, which has no data-modifying CTEs, an INSERT and an UPDATE. 2 statements on PostgreSQL, 3 on
 * SQLite (4 before).
 */
export async function appendAudit(trx: Knex.Transaction, inputs: AuditInput | AuditInput[], at = new Date()): Promise<AuditEntry[]> {
  const list = Array.isArray(inputs) ? inputs : [inputs];
  if (list.length === 0) return [];
  const [head] = (await trx('audit_head')
    .where({ id: 1 })
    .update({ seq: trx.raw('?? + ?', ['seq', list.length]) })
    .returning(['seq', 'hash'])) as Array<{ seq: unknown; hash: unknown }>;
  if (!head) throw new KadiError('AUDIT_HEAD_MISSING', 'audit_head row is missing', { hint: 'Run `kadi db migrate`.' });
  let seq = Number(head.seq) - list.length;
  let prev = head.hash as string;
  const iso = at.toISOString();
  const rows = [];
  const entries: AuditEntry[] = [];
  for (const inp of list) {
    seq += 1;
    const base = {
      seq,
      at: iso,
      actor: inp.actor,
      action: inp.action,
      entityType: inp.entityType,
      entityId: String(inp.entityId),
      data: inp.data ?? {},
    };
    const hash = entryHash(prev, base);
    entries.push({ ...base, prevHash: prev, hash });
    rows.push({
      seq,
      at: iso,
      actor: base.actor,
      action: base.action,
      entity_type: base.entityType,
      entity_id: base.entityId,
      data: canonicalJson(base.data),
      prev_hash: prev,
      hash,
    });
    prev = hash;
  }
  const pg = dialectOf(trx as unknown as Knex) === 'postgres';
  // Chunk to stay under SQLite's bound-parameter limit; on PostgreSQL the last chunk also moves the head hash.
  for (let i = 0; i < rows.length; i += 100) {
    const chunk = rows.slice(i, i + 100);
    if (pg && i + 100 >= rows.length) {
      await trx('audit_log')
        .with('h', trx.raw('UPDATE ?? SET ?? = ? WHERE ?? = 1', ['audit_head', 'hash', prev, 'id']))
        .insert(chunk);
    } else {
      await trx('audit_log').insert(chunk);
    }
  }
  if (!pg) await trx('audit_head').where({ id: 1 }).update({ hash: prev });
  return entries;
}

export interface AuditVerifyResult {
  ok: boolean;
  entries: number;
  headSeq: number;
  /** The first entry found bad (by position in seq order), with what is wrong. */
  firstBad?: { seq: number; problem: 'HASH_MISMATCH' | 'BROKEN_LINK' | 'SEQ_GAP' | 'HEAD_MISMATCH'; expected?: string | number; found?: string | number };
}

function rowToEntry(r: Record<string, unknown>): AuditEntry {
  return {
    seq: Number(r.seq),
    at: String(r.at),
    actor: String(r.actor),
    action: String(r.action),
    entityType: String(r.entity_type),
    entityId: String(r.entity_id),
    data: JSON.parse(String(r.data)) as Record<string, unknown>,
    prevHash: String(r.prev_hash),
    hash: String(r.hash),
  };
}

/** Walks the whole chain in pages (memory stays flat) and reports the first bad entry. */
export async function verifyAudit(db: Knex, onProgress?: (done: number, total: number) => void): Promise<AuditVerifyResult> {
  const head = await db('audit_head').where({ id: 1 }).first('seq', 'hash');
  const headSeq = head ? Number(head.seq) : 0;
  const total = Number((await db('audit_log').count({ n: '*' }))[0]?.n ?? 0);
  let prevHash = GENESIS_HASH;
  let expectSeq = 1;
  let n = 0;
  const PAGE = 2000;
  let after = 0;
  for (;;) {
    const rows = await db('audit_log').where('seq', '>', after).orderBy('seq').limit(PAGE);
    if (rows.length === 0) break;
    for (const r of rows) {
      const e = rowToEntry(r);
      n++;
      if (e.seq !== expectSeq) {
        return { ok: false, entries: n, headSeq, firstBad: { seq: e.seq, problem: 'SEQ_GAP', expected: expectSeq, found: e.seq } };
      }
      if (e.prevHash !== prevHash) {
        return { ok: false, entries: n, headSeq, firstBad: { seq: e.seq, problem: 'BROKEN_LINK', expected: prevHash, found: e.prevHash } };
      }
      const h = entryHash(prevHash, e);
      if (h !== e.hash) {
        return { ok: false, entries: n, headSeq, firstBad: { seq: e.seq, problem: 'HASH_MISMATCH', expected: h, found: e.hash } };
      }
      prevHash = e.hash;
      expectSeq++;
    }
    after = Number(rows[rows.length - 1].seq);
    onProgress?.(n, total);
  }
  if (!head || headSeq !== expectSeq - 1 || head.hash !== prevHash) {
    return { ok: false, entries: n, headSeq, firstBad: { seq: expectSeq, problem: 'HEAD_MISMATCH', expected: headSeq, found: expectSeq - 1 } };
  }
  return { ok: true, entries: n, headSeq };
}

/** Entries about one entity, oldest first (card history, box history). */
export async function auditTrail(db: Knex, entityType: string, entityId: string | number): Promise<AuditEntry[]> {
  const rows = await db('audit_log').where({ entity_type: entityType, entity_id: String(entityId) }).orderBy('seq');
  return rows.map(rowToEntry);
}
