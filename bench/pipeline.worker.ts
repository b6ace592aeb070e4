/**
 * The measuring process of bench/pipeline.bench.ts (started with KADI_HOME, KADI_DB_URL, KADI_REDIS_URL,
 * PCSCLITE_CSOCK_NAME, SOFTHSM2_CONF and UV_THREADPOOL_SIZE set by the parent). Figures go to the parent over IPC
 * ({op:'figure', figure}); notes as {op:'log'}; {op:'done'} at the end.
 *
 * Set-up (not measured): a synthetic registry and intake (every order a real record with its photo), the key
 * ceremony (CSCA, DS, CRL), the seal signer, one blank lot. Then per encoder count k: the stages built by
 * `buildStages` as `kadi workers start --virtual-cards` does, the encode-only baseline on them, then one batch of
 * N cards through every stage on BullMQ workers in this process.
 *
 * Two series in one run, every figure tagged with its `series`:
 * 1. zero-latency virtual cards (`pipeline.*`): the cards answer as fast as they compute, so the line is bounded by
 *    the box's CPU (Kadi, the card emulators, pcscd, Redis, poppler on the same cores);
 * 2. contact-chip model (`pipeline.model.*`, when `modelCards` > 0): the virtual cards of the encoders and of the
 *    QC readers follow the timing model bench/encode.worker.ts uses (applets/runtime/timing.ts, VirtualCard
 *    `timing`, set through the virtual bureau): a card takes ~2 s in an encoder, as a real contact chip would.
 *    No encode-only baseline (k warm-up cards per encoder count are encoded at zero latency instead, untimed); one
 *    batch of `modelCards` cards per encoder count. Besides cards/s, scaling, CPU per card and card-wait share it
 *    gives the Kadi worker's busy share (its CPU seconds per wall second: how idle a line leaves it) and
 *    cards/hour, against a real line's 700-3 000 cards/hour per machine (issue 8).
 */
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBatch } from '../src/batches/index.ts';
import { Context } from '../src/cli/context.ts';
import { openHsm } from '../src/cli/keys.ts';
import { buildStages } from '../src/cli/pipeline.ts';
import { receiveBlankLot } from '../src/dispatch/index.ts';
import { runIntake } from '../src/intake/index.ts';
import { ceremony, parseCeremonyDefinition } from '../src/keys/index.ts';
import { PIPELINE, redisConnection, startWorkers, submitBatch, type StageName } from '../src/pipeline/index.ts';
import { prepareCard } from '../src/prepare/index.ts';
import { createSealSigner } from '../src/print/index.ts';
import { ensureRegistrySchema, seedRegistry } from '../src/registry/index.ts';
import { type ContactCardTiming, TYPICAL_CONTACT_CHIP } from '../applets/runtime/timing.ts';
import { round, serveBenchWorker, workerLog, workerReport } from './lib.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface PipelineWorkerConfig {
  /** Cards per pipeline run. */
  cards: number;
  /** Cards per encode-only baseline run. */
  baselineCards: number;
  /** Encoder counts to run. */
  encoders: number[];
  /** Cards per pipeline run in the contact-chip model series (0: no model series). */
  modelCards: number;
  pcscdPid?: number | undefined;
  redisPid?: number | undefined;
}

const report = workerReport;
const log = workerLog;
const r2 = (v: number, d = 2): number => round(v, d);
const silent = { info() {}, warn() {}, error() {} };

/** CPU time of a process from /proc (utime + stime), ms; 0 when unavailable. */
function procCpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** utime, stime, cutime, cstime of /proc/<pid>/stat, ms (undefined when unreadable). */
function statTimes(pid: number | 'self'): { ppid: number; own: number; reaped: number } | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    // fields 4 (ppid), 14-17 (utime, stime, cutime, cstime), in clock ticks of 1/100 s
    return { ppid: Number(rest[1]), own: ((Number(rest[11]) + Number(rest[12])) * 1000) / 100, reaped: ((Number(rest[13]) + Number(rest[14])) * 1000) / 100 };
  } catch {
    return undefined;
  }
}

/**
 * CPU time of this process's child processes, ms: the finished ones (cutime + cstime) plus the live ones with what
 * they reaped — poppler for face QC, whether spawned per card or run by long-lived helper shells (src/qc/poppler.ts).
 */
function childrenCpuMs(): number {
  let ms = statTimes('self')?.reaped ?? 0;
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      const t = statTimes(Number(d));
      if (t && t.ppid === process.pid) ms += t.own + t.reaped;
    }
  } catch {
    // no /proc: finished children only
  }
  return ms;
}

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const ZERO_LATENCY = 'zero-latency virtual cards';
/** The card-timing model of bench/encode.worker.ts's second series. */
const MODEL: ContactCardTiming = TYPICAL_CONTACT_CHIP;
const MODEL_SERIES = `contact-chip model: T=1 ${MODEL.baud} bit/s, IFSC ${MODEL.ifsc}, EEPROM ${MODEL.eepromPageWriteMs} ms per ${MODEL.eepromPageBytes}-byte page`;
/** How long the idle workers' CPU is measured before each batch, ms. */
const IDLE_MS = 2000;
/** A real line's throughput per machine (issue 8), cards/hour. */
const REAL_LINE = [700, 3000] as const;

const PREP = { actor: 'bench', issuingState: 'KEN', issuingAuthority: 'REGISTRAR OF PERSONS KENYA', validityYears: 10, personalisationSystem: 'KADI' };

async function main(cfg: PipelineWorkerConfig): Promise<void> {
  const ctx = Context.fromEnv();
  const db = await ctx.db();
  const registry = ctx.registryDb();
  const common = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '?' };
  try {
    // -- set-up (not measured)
    const need =
      cfg.encoders.length * (cfg.cards + cfg.baselineCards) + (cfg.modelCards > 0 ? cfg.encoders.reduce((a, k) => a + cfg.modelCards + k, 0) : 0);
    let t0 = performance.now();
    await ensureRegistrySchema(registry);
    await seedRegistry(registry, { count: Math.ceil(need * 1.03) + 20, seed: 'bench-pipeline', invalidRate: 0 });
    const intake = await runIntake({ db, registry, actor: 'bench' });
    if (intake.ordered < need) throw new Error(`intake gave ${intake.ordered} orders, the bench needs ${need}`);
    const hsm = openHsm(ctx.config);
    try {
      const def = parseCeremonyDefinition(JSON.parse(readFileSync(path.join(ROOT, 'hsm/ceremony.json'), 'utf8')));
      await ceremony({ db, keyStore: hsm, actor: 'bench' }, def);
      await createSealSigner({ db, keyStore: hsm, actor: 'bench' });
    } finally {
      await hsm.close();
    }
    await receiveBlankLot(db, { lot: 'BENCH-PIPE-1', quantity: 1_000_000, supplier: 'bench', chipType: 'Kadi virtual eID', actor: 'bench' });
    log(`set-up: ${intake.ordered} orders in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const incomplete: string[] = [];
    const series = [{ model: false, cards: cfg.cards }, ...(cfg.modelCards > 0 ? [{ model: true, cards: cfg.modelCards }] : [])];
    for (const { model, cards } of series) {
      const tag = model ? MODEL_SERIES : ZERO_LATENCY;
      const pre = model ? 'pipeline.model' : 'pipeline';
      const rates = new Map<number, number>();
      if (model) log(`second series: ${MODEL_SERIES}, ${cards} cards per encoder count`);
      for (const k of cfg.encoders) {
        const q = Math.max(1, k >> 1);
        const stages = await buildStages(ctx, db, 'bench', {
          virtualCards: { encoders: Array.from({ length: k }, (_, i) => 2 * i), qcReaders: Array.from({ length: q }, (_, i) => 2 * i + 1), log },
          printDir: path.join(ctx.config.home, 'print'),
        });
        const bureau = stages.bureau!;
        const pool = bureau.pool!;
        const transportMs = (): number => pool.encoders.reduce((a, e) => a + e.channel.stats.transportMs, 0);
        const busy = { ms: 0, since: new Map<string, number>() };
        const onAcquired = (e: { name: string }): void => void busy.since.set(e.name, performance.now());
        const onReleased = (e: { name: string }): void => {
          const s = busy.since.get(e.name);
          if (s !== undefined) busy.ms += performance.now() - s;
          busy.since.delete(e.name);
        };
        pool.on('acquired', onAcquired);
        pool.on('released', onReleased);
        const snap = () => ({
          at: performance.now(),
          cpu: cpuMs(),
          cardMs: bureau.stats.cardMs,
          transport: transportMs(),
          swapMs: bureau.stats.encoderSwapMs,
          swaps: bureau.stats.encoderSwaps,
          qcSwapMs: bureau.stats.qcSwapMs,
          busy: busy.ms,
          pcscd: procCpuMs(cfg.pcscdPid),
          children: childrenCpuMs(),
          redis: procCpuMs(cfg.redisPid),
        });
        let workers: Awaited<ReturnType<typeof startWorkers>> | undefined;
        try {
          const encode = stages.find((s) => s.name === 'encode')!;
          let baseRate: number | undefined;
          if (!model) {
            // -- baseline: the encode stage alone on the same encoders, k plain loops (no queue, no other stage)
            const base: number[] = ((await db('cards').where({ state: 'ORDERED' }).whereNull('batch_id').orderBy('id').limit(cfg.baselineCards).select('id')) as Array<{ id: number }>).map((r) => Number(r.id));
            for (const id of base) await prepareCard(db, id, PREP);
            const warm = base.splice(0, k);
            await Promise.all(warm.map((id) => encode.run(id)));
            const b0 = snap();
            let encoded = 0;
            await Promise.all(
              Array.from({ length: k }, async () => {
                for (let id = base.shift(); id !== undefined; id = base.shift()) if ((await encode.run(id)) === 'done') encoded++;
              }),
            );
            const b1 = snap();
            baseRate = (encoded * 1000) / (b1.at - b0.at);
            const bn = Math.max(1, encoded);
            report({
              name: `pipeline.baseline.encode_only.cards_per_s.${k}`,
              value: r2(baseRate, 1),
              unit: 'cards/s',
              n: encoded,
              encoders: k,
              swap_ms_per_card: r2((b1.swapMs - b0.swapMs) / Math.max(1, b1.swaps - b0.swaps)),
              apdu_ms_per_card: r2((b1.transport - b0.transport) / bn),
              cpu_ms_per_card: { kadi: r2((b1.cpu - b0.cpu - (b1.cardMs - b0.cardMs)) / bn), virtual_cards: r2((b1.cardMs - b0.cardMs) / bn) },
              series: tag,
              note: 'baseline: encode stage run() in k loops on the same virtual bureau, no BullMQ, no other stage',
              ...common,
            });
          } else {
            // warm-up, untimed: one card per encoder at zero latency (JIT, HSM sessions, the card-limits cache), then
            // every card in the bureau's slots follows the model
            const warm = ((await db('cards').where({ state: 'ORDERED' }).whereNull('batch_id').orderBy('id').limit(k).select('id')) as Array<{ id: number }>).map((r) => Number(r.id));
            for (const id of warm) await prepareCard(db, id, PREP);
            await Promise.all(warm.map((id) => encode.run(id)));
            bureau.timing = MODEL;
          }

          // -- the whole pipeline on BullMQ
          const jobs = new Map<string, { n: number; ms: number; failed: number }>();
          let batchDone: (() => void) | undefined;
          const finished = new Promise<void>((r) => (batchDone = r));
          workers = await startWorkers({
            db,
            connection: () => redisConnection(ctx.config.redisUrl),
            stages,
            pipeline: PIPELINE,
            roles: [...stages.map((s) => s.name), 'batch'],
            log: { ...silent, warn: (o: Record<string, unknown>, m?: string) => log(`${m ?? ''} ${JSON.stringify(o)}`) },
            recoveryIntervalMs: 0,
            onJob: (e) => {
              const j = jobs.get(e.stage) ?? { n: 0, ms: 0, failed: 0 };
              j.n++;
              j.ms += e.ms;
              if (e.outcome === 'failed') j.failed++;
              jobs.set(e.stage, j);
              if (e.stage === 'batch') batchDone?.();
            },
          });
          const batch = await createBatch(db, { size: cards, actor: 'bench' });
          const conn = redisConnection(ctx.config.redisUrl);
          // the same process with the workers started and no job yet (BullMQ's blocking waits, timers): its floor
          const i0 = { at: performance.now(), cpu: cpuMs() };
          await new Promise((r) => setTimeout(r, IDLE_MS));
          const idleShare = (cpuMs() - i0.cpu) / (performance.now() - i0.at);
          const p0 = snap();
          try {
            await submitBatch(db, conn, PIPELINE, batch.id, 'bench');
            const timer = setInterval(() => {
              const done = jobs.get('pack')?.n ?? 0;
              log(`${model ? 'model ' : ''}k=${k}: ${done}/${cards} packed, ${((performance.now() - p0.at) / 1000).toFixed(0)} s`);
            }, 30_000);
            try {
              await finished;
            } finally {
              clearInterval(timer);
            }
          } finally {
            conn.disconnect();
          }
          const p1 = snap();
          const states = (await db('cards').where({ batch_id: batch.id }).groupBy('state').select('state').count({ n: '*' })) as Array<{ state: string; n: unknown }>;
          const packed = Number(states.find((s) => s.state === 'PACKED')?.n ?? 0);
          if (packed < cards) incomplete.push(`${model ? 'model ' : ''}k=${k}: ${packed} of ${cards} cards PACKED (${JSON.stringify(states)})`);
          const wall = p1.at - p0.at;
          const rate = (packed * 1000) / wall;
          rates.set(k, rate);
          const n = Math.max(1, packed);
          const cardCpu = p1.cardMs - p0.cardMs;
          const kadiCpu = p1.cpu - p0.cpu - cardCpu;
          const stageMs = Object.fromEntries(
            (['prepare', 'encode', 'print', 'qc', 'pack', 'batch'] as Array<StageName | 'batch'>).filter((s) => jobs.has(s)).map((s) => [s, r2(jobs.get(s)!.ms / jobs.get(s)!.n)]),
          );
          const failed = Object.fromEntries([...jobs].filter(([, j]) => j.failed > 0).map(([s, j]) => [s, j.failed]));
          report({
            name: `${pre}.cards_per_s.${k}`,
            value: r2(rate, model ? 2 : 1),
            unit: 'cards/s',
            n: packed,
            encoders: k,
            qc_readers: q,
            series: tag,
            wall_s: r2(wall / 1000, 1),
            cards_per_hour: Math.round(rate * 3600),
            states: Object.fromEntries(states.map((s) => [s.state, Number(s.n)])),
            ...(baseRate !== undefined ? { share_of_encode_only_baseline: r2(rate / baseRate, 2), encode_only_baseline: r2(baseRate, 1) } : {}),
            ...(model ? { model: MODEL } : {}),
            job_ms_mean: stageMs,
            ...(Object.keys(failed).length ? { failed_jobs: failed } : {}),
            ...common,
          });
          report({
            name: `${pre}.cpu_ms_per_card.${k}`,
            value: r2(kadiCpu / n),
            unit: 'ms',
            n: packed,
            series: tag,
            goal: '< 20',
            virtual_cards_ms: r2(cardCpu / n),
            process_total_ms: r2((p1.cpu - p0.cpu) / n),
            pcscd_ms: r2((p1.pcscd - p0.pcscd) / n),
            face_scanner_ms: r2((p1.children - p0.children) / n),
            redis_ms: r2((p1.redis - p0.redis) / n),
            note: 'Kadi = process.cpuUsage of the worker process (all five stages, BullMQ, SQLite, PKCS#11 client) minus the virtual cards running in it (APDU processing, card store commits, blank manufacture: timed by the virtual bureau); SoftHSM runs inside it (counted); pcscd, Redis and poppler (the face "scanner": pdftotext + pdftoppm child processes of face QC) given apart',
          });
          const total = k * wall;
          const apdu = p1.transport - p0.transport;
          const swap = p1.swapMs - p0.swapMs;
          const busyMs = p1.busy - p0.busy;
          report({
            name: `${pre}.card_wait_share.${k}`,
            value: r2((apdu + swap) / total, 3),
            unit: 'ratio',
            n: packed,
            series: tag,
            apdu_round_trips: r2(apdu / total, 3),
            card_swaps: r2(swap / total, 3),
            encoder_software: r2(Math.max(0, busyMs - apdu) / total, 3),
            encoder_idle: r2(Math.max(0, total - busyMs - swap) / total, 3),
            swap_ms_per_card: r2(swap / Math.max(1, p1.swaps - p0.swaps)),
            qc_swap_ms_per_card: r2((p1.qcSwapMs - p0.qcSwapMs) / n),
            note: 'shares of k x wall time: encoders in APDU round trips, in card swaps (used card out, new blank in and seen), busy with Kadi software (encode job minus round trips), idle (waiting for work)',
          });
          // how busy the line keeps the Kadi worker: its CPU seconds per wall second (1 = one core flat out), and what
          // a real line's rate would cost it at the CPU per card measured here
          const cores = os.cpus().length;
          const perCardS = kadiCpu / n / 1000;
          report({
            name: `${pre}.busy_share.${k}`,
            value: r2(kadiCpu / wall, 3),
            unit: 'cpu_s/wall_s',
            n: packed,
            series: tag,
            of_machine: r2(kadiCpu / wall / cores, 3),
            cores,
            idle_workers: r2(idleShare, 4),
            process_total: r2((p1.cpu - p0.cpu) / wall, 3),
            face_scanner: r2((p1.children - p0.children) / wall, 3),
            at_real_line: Object.fromEntries(REAL_LINE.map((c) => [`${c}_cards_per_hour`, r2((c * perCardS) / 3600, 4)])),
            note: `Kadi worker CPU (process CPU minus the virtual cards in it, as cpu_ms_per_card) per wall second of the run; of_machine: over all cores; idle_workers: the same process with its workers started and no job, for ${IDLE_MS} ms before the batch; at_real_line: the same CPU per card at a real line's 700 / 3 000 cards/hour (one core = 1)`,
          });
          report({
            name: `${pre}.cards_per_hour.${k}`,
            value: Math.round(rate * 3600),
            unit: 'cards/h',
            n: packed,
            series: tag,
            encoders: k,
            real_line: `${REAL_LINE[0]}-${REAL_LINE[1]} cards/hour per machine`,
          });
        } finally {
          pool.off('acquired', onAcquired);
          pool.off('released', onReleased);
          bureau.timing = undefined;
          if (workers) await workers.close();
          else for (const s of stages) await s.close?.();
        }
      }
      if (rates.has(1) && rates.has(4)) report({ name: `${pre}.scaling_4_vs_1`, value: r2(rates.get(4)! / rates.get(1)!, 2), unit: 'ratio', n: 2, series: tag, goal: '>= 3' });
      if (rates.has(1) && rates.has(8)) report({ name: `${pre}.scaling_8_vs_1`, value: r2(rates.get(8)! / rates.get(1)!, 2), unit: 'ratio', n: 2, series: tag });
    }
    if (incomplete.length) throw new Error(`pipeline runs did not pack every card: ${incomplete.join('; ')}`);
  } finally {
    await ctx.close();
  }
}

serveBenchWorker(main);
