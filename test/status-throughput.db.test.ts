/** Live throughput in statusReport (kadi status, /api/status) and /api/metrics, from the audit log, on both engines. */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboard } from '../src/api/reports.ts';
import { renderThroughputMetrics } from '../src/api/routes/status.ts';
import { statusReport, throughputReport, transitionCard, type CardState } from '../src/cards/index.ts';
import { migrateLatest, openDb } from '../src/db/index.ts';
import { createTestDatabase, seedOrderAndCard, testEngine, type TestDatabase } from './support/db.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

let t: TestDatabase;
const now = new Date(Date.now() + 3_600_000); // an hour ahead: nothing else written in this test lands in the windows by accident
const ago = (s: number) => new Date(now.getTime() - s * 1000);

/** Moves a card along `path`, each step at the given time. */
async function walk(cardId: number, path: Array<[CardState, number]>): Promise<void> {
  let from: CardState = 'ORDERED';
  for (const [to, secondsAgo] of path) {
    await transitionCard(t.db, { cardId, from, to, actor: 'test', at: ago(secondsAgo), ...(to === 'SPOILED' ? { reason: 'ENCODE_CARD_REMOVED' } : {}) });
    from = to;
  }
}

beforeAll(async () => {
  t = await createTestDatabase();
  const { cardIds: c } = await seedOrderAndCard(t.db, 6);
  await walk(c[0]!, [['PREPARED', 50], ['ENCODING', 45], ['ENCODED', 30]]); // all in the last minute
  await walk(c[1]!, [['PREPARED', 400], ['ENCODING', 200], ['ENCODED', 180]]); // encoded 3 min ago, prepared 6.7 min ago
  await walk(c[2]!, [['PREPARED', 700], ['ENCODING', 650], ['ENCODED', 600], ['PRINTED', 20]]); // 10 min ago, printed now
  await walk(c[3]!, [['PREPARED', 1250]]); // 21 min ago: outside every window
  await walk(c[4]!, [['PREPARED', 100], ['ENCODING', 90], ['SPOILED', 10]]);
  await walk(c[5]!, [['PREPARED', -60]]); // after `now`: not counted
});
afterAll(async () => t?.close());

describe('throughput from the audit log', () => {
  it('counts cards reaching each state in the last 1, 5 and 15 minutes with the hourly rate', async () => {
    const r = await statusReport(t.db, { now });
    expect(r.throughput.at).toBe(now.toISOString());
    expect(r.throughput.truncated).toBe(false);
    const s = r.throughput.states;
    expect(s.PREPARED).toEqual({ last1m: 1, last5m: 2, last15m: 4, perHour: 16 });
    expect(s.ENCODING).toEqual({ last1m: 1, last5m: 3, last15m: 4, perHour: 16 });
    expect(s.ENCODED).toEqual({ last1m: 1, last5m: 2, last15m: 3, perHour: 12 });
    expect(s.PRINTED).toEqual({ last1m: 1, last5m: 1, last15m: 1, perHour: 4 });
    expect(s.SPOILED).toEqual({ last1m: 1, last5m: 1, last15m: 1, perHour: 4 });
    // the production states are always listed, zeros included
    expect(s.PACKED).toEqual({ last1m: 0, last5m: 0, last15m: 0, perHour: 0 });
    expect(s.DISPATCHED).toEqual({ last1m: 0, last5m: 0, last15m: 0, perHour: 0 });
    // and the rest of the report is unchanged
    expect(r.cards).toMatchObject({ ORDERED: 0, PREPARED: 2, ENCODED: 2, PRINTED: 1, SPOILED: 1 });
  });

  it('moves with the clock: 20 minutes later the windows are empty', async () => {
    const later = await throughputReport(t.db, { now: new Date(now.getTime() + 20 * 60_000) });
    expect(Object.values(later.states).every((v) => v.last15m === 0)).toBe(true);
    const earlier = await throughputReport(t.db, { now: ago(300) }); // 5 min before `now`
    expect(earlier.states.PREPARED).toEqual({ last1m: 0, last5m: 1, last15m: 2, perHour: 8 }); // then: 100 s and 400 s ago
  });

  it('reads a bounded tail of the log and says so when the window holds more', async () => {
    const r = await throughputReport(t.db, { now, maxRows: 3 });
    expect(r.truncated).toBe(true);
    const total = Object.values(r.states).reduce((a, v) => a + v.last15m, 0);
    expect(total).toBeLessThanOrEqual(3);
    expect(total).toBeGreaterThan(0);
  });

  it('exposes the windows and the per-encoder counters in /api/metrics', async () => {
    const snap = await dashboard(t.db);
    const m = renderThroughputMetrics({ ...snap, status: await statusReport(t.db, { now }) });
    expect(m).toContain('# TYPE kadi_cards_reached gauge');
    expect(m).toMatch(/^kadi_cards_reached\{state="ENCODED",window="1m"\} 1$/m);
    expect(m).toMatch(/^kadi_cards_reached\{state="ENCODED",window="5m"\} 2$/m);
    expect(m).toMatch(/^kadi_cards_reached\{state="ENCODED",window="15m"\} 3$/m);
    expect(m).toMatch(/^kadi_cards_reached_truncated 0$/m);
    expect(m).toContain('# TYPE kadi_encoder_cards_total counter');
    for (const line of m.trim().split('\n').filter((l) => !l.startsWith('#'))) expect(line).toMatch(/^[a-z_]+(\{[^}]*\})? -?\d+(\.\d+)?$/);
  });
});

describe.skipIf(testEngine() === 'postgres')('kadi status (CLI, SQLite in KADI_HOME)', () => {
  it('prints the throughput in --json and redraws with --watch as plain lines when not on a terminal', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'kadi-status-'));
    try {
      const db = openDb(`sqlite:${path.join(home, 'kadi.sqlite')}`);
      await migrateLatest(db);
      const { cardIds } = await seedOrderAndCard(db, 2);
      for (const id of cardIds) await transitionCard(db, { cardId: id, from: 'ORDERED', to: 'PREPARED', actor: 'test', at: new Date(Date.now() - 90_000) });
      await db.destroy();
      const env = { ...process.env, KADI_HOME: home };
      const kadi = path.join(ROOT, 'bin/kadi.mjs');

      const json = JSON.parse((await promisify(execFile)(process.execPath, [kadi, 'status', '--json'], { env })).stdout);
      expect(json.throughput.states.PREPARED).toEqual({ last1m: 0, last5m: 2, last15m: 2, perHour: 8 });
      expect(json.cards.PREPARED).toBe(2);

      const p = spawn(process.execPath, [kadi, 'status', '--watch', '--interval', '0.5'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
      const end = Date.now() + 30_000;
      while ((out.match(/^Throughput: /gm) ?? []).length < 2 && Date.now() < end && p.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      p.kill('SIGINT');
      expect(await exited).toBe(0);
      expect((out.match(/^Throughput: /gm) ?? []).length).toBeGreaterThanOrEqual(2);
      expect(out).toMatch(/^ {2}PREPARED +0 +2 +2 +8$/m);
      expect(out).not.toContain('\x1b['); // no terminal control codes in a pipe
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
