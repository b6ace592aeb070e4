/**
 * Worker metrics with real workers: BullMQ on the run's Redis, the real prepare stage, the metrics server on an
 * ephemeral 127.0.0.1 port; and `kadi workers start --metrics-port` as an operator runs it.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBatch, getBatch } from '../src/batches/index.ts';
import { migrateLatest, openDb } from '../src/db/index.ts';
import { runIntake } from '../src/intake/index.ts';
import { WorkerMetrics, prepareStage, redisConnection, startMetricsServer, startWorkers, submitBatch } from '../src/pipeline/index.ts';
import { ensureRegistrySchema, seedRegistry } from '../src/registry/index.ts';
import { createTestDatabase, seedOrderAndCard, testEngine, type TestDatabase } from './support/db.ts';
import { testServices } from './support/env.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const silent = { info() {}, warn() {}, error() {} };
const prepOpts = { actor: 'worker:prepare', issuingState: 'KEN', issuingAuthority: 'REGISTRAR OF PERSONS KENYA', validityYears: 10, personalisationSystem: 'KADI-TEST' };

let t: TestDatabase;
let registry: Knex;

beforeAll(async () => {
  t = await createTestDatabase();
  registry = openDb(await t.makeUrl('registry'));
  await ensureRegistrySchema(registry);
  await seedRegistry(registry, { count: 12, seed: 'worker-metrics', invalidRate: 0 });
  await runIntake({ db: t.db, registry, actor: 'test' });
});
afterAll(async () => {
  await registry?.destroy();
  await t?.close();
});

/** The value of one sample in a Prometheus text exposition (labels in any order), or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).sort().join('|');
  for (const line of text.split('\n')) {
    const m = /^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? (\S+)$/i.exec(line);
    if (!m || m[1] !== name) continue;
    const got = [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]).sort().join('|');
    if (got === want) return Number(m[3]);
  }
  return undefined;
}

async function scrapeUntil(url: string, done: (text: string) => boolean, ms = 30_000): Promise<string> {
  const end = Date.now() + ms;
  let text = '';
  while (Date.now() < end) {
    text = await (await fetch(url)).text();
    if (done(text)) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`metrics never reached the expected state; last scrape:\n${text}`);
}

describe('worker metrics', () => {
  it('counts real jobs by outcome and failure code, and serves them on 127.0.0.1', async () => {
    const prefix = `kt${randomBytes(4).toString('hex')}`;
    const url = testServices().redisUrl;
    const stages = [prepareStage(t.db, prepOpts, 2)];
    const metrics = new WorkerMetrics({ stages: [{ name: 'prepare', concurrency: 2 }, { name: 'batch', concurrency: 1 }] });
    const server = await startMetricsServer({ metrics, port: 0 });
    const conn = redisConnection(url);
    const queue = new Queue('prepare', { connection: redisConnection(url), prefix });
    const pool = await startWorkers({
      db: t.db,
      connection: () => redisConnection(url),
      stages,
      roles: ['prepare', 'batch'],
      prefix,
      log: silent,
      recoveryIntervalMs: 0,
      stalledIntervalMs: 5000,
      onJobStart: metrics.jobStarted,
      onJob: metrics.jobFinished,
    });
    try {
      const b = await createBatch(t.db, { size: 6, actor: 'op' });
      await submitBatch(t.db, conn, stages, b.id, 'op', prefix);
      const until = Date.now() + 30_000;
      while ((await getBatch(t.db, b.id)).state !== 'COMPLETED' && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect((await getBatch(t.db, b.id)).cards).toEqual({ PREPARED: 6 });
      // a card that does not exist: an unrecoverable CARD_NOT_FOUND, counted once by its code
      await queue.add('prepare', { cardId: 987_654 }, { jobId: `metrics-missing-${prefix}`, attempts: 1 });
      // a card already prepared: skipped
      const prepared = await t.db('cards').where({ batch_id: b.id }).first('id');
      await queue.add('prepare', { cardId: Number(prepared.id) }, { jobId: `metrics-again-${prefix}`, attempts: 1 });

      const at = `http://127.0.0.1:${server.port}/metrics`;
      const text = await scrapeUntil(at, (x) => sample(x, 'kadi_worker_jobs_total', { stage: 'prepare', outcome: 'failed' }) === 1 && sample(x, 'kadi_worker_jobs_total', { stage: 'prepare', outcome: 'skipped' }) === 1);
      expect(sample(text, 'kadi_worker_jobs_total', { stage: 'prepare', outcome: 'done' })).toBe(6);
      expect(sample(text, 'kadi_worker_jobs_total', { stage: 'batch', outcome: 'completed' })).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'kadi_worker_job_failures_total', { stage: 'prepare', code: 'CARD_NOT_FOUND' })).toBe(1);
      expect(sample(text, 'kadi_worker_job_duration_seconds_count', { stage: 'prepare' })).toBe(8);
      expect(sample(text, 'kadi_worker_jobs_in_flight', { stage: 'prepare' })).toBe(0);
      expect(sample(text, 'kadi_worker_stage_concurrency', { stage: 'prepare' })).toBe(2);
      expect(sample(text, 'process_cpu_seconds_total')).toBeGreaterThan(0);
      // ids, names and messages stay out of the metrics
      expect(text).not.toContain('987654');
      expect(text).not.toMatch(/does not exist/);
    } finally {
      await pool.close();
      await queue.close();
      await server.close();
      metrics.close();
      conn.disconnect();
    }
  });

  it.skipIf(testEngine() === 'postgres')('kadi workers start --metrics-port serves the worker process metrics until it stops', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'kadi-wm-'));
    // Its own Redis database: the CLI uses the installation prefix `kadi`.
    const redisUrl = new URL(testServices().redisUrl);
    redisUrl.pathname = '/11';
    const redis = redisConnection(redisUrl.toString());
    await redis.flushdb();
    const db = openDb(`sqlite:${path.join(home, 'kadi.sqlite')}`);
    await migrateLatest(db);
    const { cardIds } = await seedOrderAndCard(db, 1); // no order record: prepare fails with ORDER_RECORD_NOT_FOUND
    await db.destroy();
    const p = spawn(process.execPath, [path.join(ROOT, 'bin/kadi.mjs'), 'workers', 'start', '--role', 'prepare', '--metrics-port', '0'], {
      env: { ...process.env, KADI_HOME: home, KADI_REDIS_URL: redisUrl.toString(), KADI_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    const queue = new Queue('prepare', { connection: redisConnection(redisUrl.toString()), prefix: 'kadi' });
    try {
      const end = Date.now() + 60_000;
      let metricsUrl: string | undefined;
      while (!metricsUrl && Date.now() < end && p.exitCode === null) {
        metricsUrl = /"url":"(http:\/\/127\.0\.0\.1:\d+\/metrics)"/.exec(stderr)?.[1];
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(metricsUrl, stderr).toBeDefined();
      await queue.add('prepare', { cardId: cardIds[0] }, { jobId: 'wm-cli-1', attempts: 1 });
      const text = await scrapeUntil(metricsUrl!, (x) => sample(x, 'kadi_worker_jobs_total', { stage: 'prepare', outcome: 'failed' }) === 1);
      expect(sample(text, 'kadi_worker_job_failures_total', { stage: 'prepare', code: 'ORDER_RECORD_NOT_FOUND' })).toBe(1);
      expect(sample(text, 'kadi_worker_stage_concurrency', { stage: 'prepare' })).toBeGreaterThan(0);
      expect(sample(text, 'kadi_worker_jobs_total', { stage: 'prepare', outcome: 'done' })).toBe(0);
      expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
      // the worker's log names the code too, never the holder
      expect(stderr).toContain('"code":"ORDER_RECORD_NOT_FOUND"');
      p.kill('SIGTERM');
      expect(await exited).toBe(0);
      await expect(fetch(metricsUrl!)).rejects.toThrow();
    } finally {
      if (p.exitCode === null) p.kill('SIGKILL');
      await queue.close();
      await redis.flushdb();
      redis.disconnect();
      rmSync(home, { recursive: true, force: true });
    }
  });
});
