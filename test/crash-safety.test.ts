/**
 * Crash safety of the pipeline (issue 8): one production batch of KADI_CRASH_CARDS (default 500) cards runs
 * through real worker processes — `kadi workers start` as an operator runs them: four encoder stations with one
 * virtual encoder each and two back-office workers (prepare, print, qc with one QC reader, pack, batch) — on
 * SQLite, SoftHSM, pcscd+vpcd and a Redis of its own, while the test SIGKILLs random workers again and again
 * (a kill every 2-5 s and at least one per 4 % of the batch) and starts them again, as a supervisor would, and
 * restarts Redis once without persistence, so every job in it is lost. Replacements of spoiled blanks then go
 * through further batches, as an operator would run them.
 *
 * Afterwards, from the database: every order has exactly one live card and it is PACKED (produced exactly once:
 * one successful encode run, one finished print job, chip QC passed), no blank serial is used twice, every
 * spoiled blank has its reason, reconciliation balances and the audit chain verifies.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAudit } from '../src/audit/index.ts';
import { createBatch, getBatch } from '../src/batches/index.ts';
import { openDb } from '../src/db/index.ts';
import { receiveBlankLot, reconcile } from '../src/dispatch/index.ts';
import { Pkcs11Hsm } from '../src/hsm/index.ts';
import { runIntake } from '../src/intake/index.ts';
import { ceremony, parseCeremonyDefinition } from '../src/keys/index.ts';
import { PIPELINE, batchJobId, ensureCardMasterKeyInHsm, redisConnection, remainingStages, submitBatch } from '../src/pipeline/index.ts';
import { createSealSigner } from '../src/print/index.ts';
import { ensureRegistrySchema, seedRegistry } from '../src/registry/index.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { claimReaderSlots, readHsmPin, testServices, type SlotClaim } from './support/env.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const CARDS = Number(process.env.KADI_CRASH_CARDS ?? 500);
const ENCODERS = 4;
const OFFICE = 2;

/** A deterministic PRNG (mulberry32) so a failing run's kill schedule can be replayed with KADI_CRASH_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const seed = Number(process.env.KADI_CRASH_SEED ?? Date.now() % 1_000_000);
const rand = prng(seed);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A Redis of this test's own (no persistence: a restart loses every job), started and stopped by PID. */
class OwnRedis {
  proc: ChildProcess | undefined;
  constructor(
    readonly port: number,
    readonly dir: string,
  ) {}
  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }
  async start(): Promise<void> {
    this.proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir], {
      stdio: 'ignore',
    });
    const c = redisConnection(this.url);
    c.on('error', () => undefined); // refused until it listens
    try {
      for (let i = 0; ; i++) {
        try {
          if ((await c.ping()) === 'PONG') return;
        } catch {
          /* not up yet */
        }
        if (i > 100) throw new Error('redis did not start');
        await sleep(50);
      }
    } finally {
      c.disconnect();
    }
  }
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }
}

interface WorkerSpec {
  name: string;
  args: string[];
}

/** Worker processes, (re)started like a supervisor would, with their output kept in log files. */
class Workers {
  readonly procs = new Map<string, ChildProcess>();
  readonly startedAt = new Map<string, number>();
  kills = 0;
  starts = 0;
  constructor(
    readonly specs: WorkerSpec[],
    readonly env: NodeJS.ProcessEnv,
    readonly logDir: string,
  ) {}
  start(spec: WorkerSpec): void {
    const log = createWriteStream(path.join(this.logDir, `${spec.name}.log`), { flags: 'a' });
    const p = spawn(process.execPath, [path.join(ROOT, 'bin/kadi.mjs'), 'workers', 'start', ...spec.args], { cwd: ROOT, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout!.pipe(log);
    p.stderr!.pipe(log);
    this.procs.set(spec.name, p);
    this.startedAt.set(spec.name, Date.now());
    this.starts++;
  }
  startAll(): void {
    for (const s of this.specs) this.start(s);
  }
  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.procs.get(name);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await gone;
    if (signal === 'SIGKILL') this.kills++;
  }
  async stopAll(): Promise<void> {
    // graceful: SIGTERM lets the card in flight finish; SIGKILL after 30 s
    await Promise.all(
      [...this.procs.keys()].map(async (n) => {
        const p = this.procs.get(n)!;
        if (p.exitCode !== null || p.signalCode !== null) return;
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
        await gone;
        clearTimeout(t);
      }),
    );
  }
  tail(name: string, lines = 15): string {
    try {
      return readFileSync(path.join(this.logDir, `${name}.log`), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }
}

let tmp: string;
let t: TestDatabase;
let registry: Knex;
let claim: SlotClaim;
let redis: OwnRedis;
let workers: Workers | undefined;
let orders = 0;

beforeAll(async () => {
  const s = testServices();
  // CI runs it on SQLite (the embedded default, several processes on one file); KADI_CRASH_DB=postgres runs it on
  // PostgreSQL, the scale-out database
  if (process.env.KADI_CRASH_DB) process.env.KADI_TEST_DB = process.env.KADI_CRASH_DB;
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kadi-crash-'));
  t = await createTestDatabase();
  registry = openDb(await t.makeUrl('registry'));
  await ensureRegistrySchema(registry);
  // a few more records than cards: the synthetic registry plants some duplicates and minors even at rate 0
  await seedRegistry(registry, { count: Math.ceil(CARDS * 1.05) + 5, seed: `crash-${seed}`, invalidRate: 0 });
  orders = (await runIntake({ db: t.db, registry, actor: 'intake' })).ordered;

  const hsm = Pkcs11Hsm.open({ module: s.hsmModule, token: s.hsmToken, pin: readHsmPin(s) });
  const masterKey = randomBytes(32);
  const label = `crash-master-${randomBytes(4).toString('hex')}`;
  try {
    const definition = parseCeremonyDefinition(JSON.parse(readFileSync(path.join(ROOT, 'hsm/ceremony.json'), 'utf8')));
    await ceremony({ db: t.db, keyStore: hsm, actor: 'custodian.wanjiru' }, definition);
    await createSealSigner({ db: t.db, keyStore: hsm, actor: 'custodian.wanjiru' });
    // imported once here: worker processes starting together would race to create it
    await ensureCardMasterKeyInHsm(hsm, label, new Uint8Array(masterKey));
  } finally {
    await hsm.close();
  }
  await receiveBlankLot(t.db, { lot: 'LOT-CRASH-0001', quantity: orders + 200, supplier: 'Test Cards Ltd', chipType: 'Kadi virtual eID', actor: 'stores.otieno' });

  mkdirSync(path.join(tmp, 'secrets'), { mode: 0o700 });
  const keyFile = path.join(tmp, 'secrets', 'card-master-key');
  writeFileSync(keyFile, `${masterKey.toString('hex').toUpperCase()}\n`, { mode: 0o600 });
  mkdirSync(path.join(tmp, 'redis'));
  mkdirSync(path.join(tmp, 'logs'));
  redis = new OwnRedis(await freePort(), path.join(tmp, 'redis'));
  await redis.start();

  claim = claimReaderSlots(ENCODERS + OFFICE);
  const idx = claim.slots.map((sl) => sl.port - s.readerBasePort);
  const common = ['--virtual-cards', '--stalled-interval', '1000', '--lock-duration', '4000', '--recovery-interval', '3000'];
  const specs: WorkerSpec[] = [
    ...Array.from({ length: ENCODERS }, (_, i) => ({ name: `encoder-${i}`, args: [...common, '--role', 'encode', '--encoder-slots', String(idx[i])] })),
    ...Array.from({ length: OFFICE }, (_, i) => ({ name: `office-${i}`, args: [...common, '--role', 'prepare,print,qc,pack,batch', '--qc-slots', String(idx[ENCODERS + i])] })),
  ];
  workers = new Workers(
    specs,
    {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      KADI_HOME: tmp,
      KADI_DB_URL: t.url,
      KADI_REDIS_URL: redis.url,
      KADI_HSM_MODULE: s.hsmModule,
      KADI_HSM_TOKEN: s.hsmToken,
      KADI_HSM_PIN_FILE: s.hsmPinFile,
      SOFTHSM2_CONF: s.softhsmConf,
      KADI_PCSC_DIR: path.join(s.home, 'pcsc'),
      PCSCLITE_CSOCK_NAME: s.pcscSocket,
      KADI_CARD_MASTER_KEY_FILE: keyFile,
      KADI_CARD_MASTER_LABEL: label,
      KADI_LOG_LEVEL: 'warn',
      KADI_ACTOR: 'supervisor',
    },
    path.join(tmp, 'logs'),
  );
}, 600_000);

afterAll(async () => {
  await workers?.stopAll();
  await redis?.kill();
  claim?.release();
  await registry?.destroy();
  await t?.close();
  if (tmp && !process.env.KADI_KEEP_CRASH_HOME) rmSync(tmp, { recursive: true, force: true });
}, 120_000);

const count = async (q: Knex.QueryBuilder): Promise<number> => Number((await q.count({ n: '*' }))[0]!.n);

/** Cards of the batch with no stage left (PACKED, SPOILED). */
async function doneCards(batchId: number): Promise<number> {
  const rows: Array<{ state: never }> = await t.db('cards').where({ batch_id: batchId }).select('state');
  return rows.filter((c) => remainingStages(c.state, PIPELINE).length === 0).length;
}

describe('crash safety', () => {
  it(`produces every order of a ${CARDS}-card batch exactly once while workers are killed and Redis restarts`, async () => {
    const w = workers!;
    w.startAll();
    const conn = redisConnection(redis.url);
    conn.on('error', () => undefined); // Redis is restarted on purpose
    const batches: number[] = [];
    let operatorReruns = 0;
    let redisRestarts = 0;
    const diag = async (batchId: number) =>
      `seed ${seed}; batch ${batchId}: ${JSON.stringify((await getBatch(t.db, batchId)).cards)}\n` +
      w.specs.map((sp) => `--- ${sp.name}\n${w.tail(sp.name)}`).join('\n');

    /**
     * Waits for the batch to complete. Chaos (when on) kills a random worker every 2-5 s and restarts it, and
     * restarts Redis once at a third of the batch. A batch whose run ended with cards still to go (a job that
     * failed for good) is re-run, as the operator would with `kadi batch run`.
     */
    const runBatch = async (batchId: number, chaos: boolean): Promise<void> => {
      await submitBatch(t.db, conn, PIPELINE, batchId, 'operator.achieng');
      let last = -1;
      let lastChange = Date.now();
      // a kill every 2-5 s, and at least one per 4 % of the batch (so a faster pipeline is not killed less)
      const step = Math.max(1, Math.floor(CARDS / 25));
      let nextKill = Date.now() + 2000 + rand() * 3000;
      let nextKillAt = step;
      for (;;) {
        const b = await getBatch(t.db, batchId);
        if (b.state === 'COMPLETED') return;
        const done = await doneCards(batchId);
        if (done !== last) {
          last = done;
          lastChange = Date.now();
        }
        if (Date.now() - lastChange > 120_000) throw new Error(`no progress for 120 s\n${await diag(batchId)}`);
        const share = done / b.size;
        if (chaos && share < 0.9) {
          if (redisRestarts === 0 && share >= 0.33) {
            await redis.kill();
            await sleep(500);
            await redis.start();
            redisRestarts++;
          } else if (Date.now() >= nextKill || done >= nextKillAt) {
            // a victim that has been up long enough to be working (a worker process starts in 2-4 s)
            const up = w.specs.filter((sp) => Date.now() - (w.startedAt.get(sp.name) ?? 0) > 4000);
            const victim = up[Math.floor(rand() * up.length)];
            if (victim) {
              await w.kill(victim.name);
              await sleep(200 + rand() * 1500);
              w.start(victim);
            }
            nextKill = Date.now() + 2000 + rand() * 3000;
            nextKillAt = done + step;
          }
        }
        // the batch job of the current run finished but cards are left: re-run it (operator)
        const run = Number((await t.db('batches').where({ id: batchId }).first('runs')).runs);
        const job = await conn.hgetall(`kadi:batch:${batchJobId(batchId, run)}`).catch(() => ({}) as Record<string, string>);
        if (job.finishedOn && (await getBatch(t.db, batchId)).state === 'RUNNING') {
          operatorReruns++;
          await submitBatch(t.db, conn, PIPELINE, batchId, 'operator.achieng');
        }
        await sleep(250);
      }
    };

    try {
      const first = await createBatch(t.db, { size: CARDS, actor: 'operator.achieng' });
      batches.push(first.id);
      expect(first.size).toBe(CARDS);
      await runBatch(first.id, true);
      for (let round = 0; round < 4; round++) {
        const waiting = await count(t.db('cards').where({ state: 'ORDERED' }).whereNull('batch_id'));
        if (waiting === 0) break;
        const b = await createBatch(t.db, { size: waiting, actor: 'operator.achieng' });
        batches.push(b.id);
        await runBatch(b.id, false);
      }
    } finally {
      conn.disconnect();
      await w.stopAll();
    }

    // the chaos really happened
    expect(redisRestarts).toBe(1);
    expect(w.kills).toBeGreaterThanOrEqual(10);
    console.log(
      `crash-safety: seed ${seed}, ${CARDS} cards, ${w.kills} workers killed, Redis restarted ${redisRestarts}x, ${batches.length} batches, ` +
        `${operatorReruns} operator re-runs, ${await count(t.db('cards').where({ state: 'SPOILED' }))} blanks spoiled ` +
        `(${await count(t.db('encode_runs').where({ outcome: 'INTERRUPTED' }))} encodes interrupted), ` +
        `${await count(t.db('print_jobs').whereNot({ state: 'COMPLETED' }))} print jobs not completed`,
    );

    // every order: exactly one live card, PACKED
    expect(orders).toBeGreaterThanOrEqual(CARDS);
    expect(await count(t.db('card_orders'))).toBe(orders);
    const live = (await t.db('cards').whereNot({ state: 'SPOILED' }).select('order_id', 'state')) as Array<{ order_id: number; state: string }>;
    const perOrder = new Map<number, number>();
    for (const c of live) perOrder.set(Number(c.order_id), (perOrder.get(Number(c.order_id)) ?? 0) + 1);
    expect(perOrder.size).toBe(orders);
    expect([...perOrder.values()].every((n) => n === 1)).toBe(true);
    expect(live.filter((c) => c.state !== 'PACKED')).toEqual([]);

    // produced exactly once: one successful encode run, one finished print job, the chip passed QC
    const packed = live.length;
    const encoded = (await t.db('encode_runs as r').join('cards as c', 'c.id', 'r.card_id').where('c.state', 'PACKED').where('r.outcome', 'ENCODED').groupBy('r.card_id').select('r.card_id').count({ n: '*' })) as Array<{ n: unknown }>;
    expect(encoded).toHaveLength(packed);
    expect(encoded.every((r) => Number(r.n) === 1)).toBe(true);
    expect(await count(t.db('encode_runs').where({ outcome: 'RUNNING' }))).toBe(0);
    const chipPassed = Number(
      ((await t.db('qc_results as q').join('cards as c', 'c.id', 'q.card_id').where('c.state', 'PACKED').where({ 'q.kind': 'CHIP', 'q.passed': 1 }).countDistinct({ n: 'q.card_id' })) as Array<{ n: unknown }>)[0]!.n,
    );
    expect(chipPassed).toBe(packed);
    const printed = (await t.db('print_job_cards as pc').join('print_jobs as j', 'j.id', 'pc.job_id').join('cards as c', 'c.id', 'pc.card_id').where('c.state', 'PACKED').where('j.state', 'COMPLETED').groupBy('pc.card_id').select('pc.card_id').count({ n: '*' })) as Array<{ n: unknown }>;
    expect(printed).toHaveLength(packed);
    expect(printed.filter((p) => Number(p.n) !== 1)).toEqual([]);

    // blanks: none used twice; every spoiled blank has its reason
    const serials = (await t.db('cards').whereNotNull('blank_serial').select('blank_serial')) as Array<{ blank_serial: string }>;
    expect(new Set(serials.map((r) => r.blank_serial)).size).toBe(serials.length);
    expect(await count(t.db('cards').where({ state: 'SPOILED' }).whereNull('spoil_reason'))).toBe(0);

    const r = await reconcile(t.db);
    expect(r.differences).toEqual([]);
    expect(r.ok).toBe(true);
    expect((await verifyAudit(t.db)).ok).toBe(true);
  }, 1_800_000);
});
