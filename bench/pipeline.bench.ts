/**
 * Whole-pipeline benchmark (issue 8, docs/decisions/0013-pipeline-throughput.md), one JSON line per figure:
 *
 *   pipeline.baseline.encode_only.cards_per_s.{k}   baseline: the encode stage alone on the same k encoders of the
 *                                              same virtual bureau (card swaps included), driven by k plain loops
 *                                              (no BullMQ, no other stage) — what the encoders can do
 *   pipeline.cards_per_s.{k}                   the whole pipeline: one batch of N cards (default 1 000) through
 *                                              prepare -> encode -> print -> qc -> pack on BullMQ workers, submit to
 *                                              batch COMPLETED; with the share of the baseline it reaches
 *   pipeline.cpu_ms_per_card.{k}               software CPU per card: process.cpuUsage of the Kadi worker process
 *                                              minus the CPU of the virtual cards running in it (their APDU
 *                                              processing and blank manufacture, measured by the virtual bureau);
 *                                              SoftHSM's C_Sign runs in that process and is counted; the cards'
 *                                              share, pcscd's, Redis's and poppler's (face QC's stand-in for a
 *                                              scanner: pdftotext + pdftoppm child processes) are given next to it
 *                                              (goal < 20)
 *   pipeline.card_wait_share.{k}               share of the encoders' time spent on the cards: APDU round trips
 *                                              plus card swaps, against k x wall time; idle and software shares next
 *   pipeline.busy_share.{k}                    the Kadi worker's CPU seconds per wall second (its CPU as in
 *                                              cpu_ms_per_card), with its floor (idle_workers: the workers started,
 *                                              no job, 2 s before the batch) and what a real line's 700 / 3 000
 *                                              cards/hour would cost it at that CPU per card
 *   pipeline.cards_per_hour.{k}                pipeline.cards_per_s x 3 600
 *   pipeline.scaling_4_vs_1 / 8_vs_1           ratio of pipeline.cards_per_s (goal: 4 encoders >= 3x one)
 *   pipeline.model.*                           second series, same run: the virtual cards (encoder blanks and QC
 *                                              insertions) follow the contact-chip timing model of bench/encode
 *                                              (applets/runtime/timing.ts: T=1 at 223.2 kbit/s, EEPROM 3 ms per
 *                                              64-byte page; ~2 s per card in an encoder), set through the virtual
 *                                              bureau's `timing`. cards_per_s, cpu_ms_per_card, card_wait_share,
 *                                              busy_share ("a real line leaves Kadi's workers nearly idle"),
 *                                              cards_per_hour per k and scaling_4_vs_1 / 8_vs_1; no encode-only
 *                                              baseline. One batch of M cards per encoder count (default 24)
 *
 * Every figure has a `series` field: "zero-latency virtual cards" (the cards answer as fast as they compute, so the
 * line is bounded by the box's CPU) or "contact-chip model: ..." (the cards take the time a real chip takes).
 *
 * Real components: Redis, pcscd with 8 vpcd readers (16 slots, TCP_NODELAY shim) and a SoftHSM token started by
 * scripts/services.sh in a scratch KADI_HOME; the SQLite default database; the stages built by `buildStages` exactly
 * as `kadi workers start --virtual-cards` builds them (encoders on slot 00 00 of readers 0..k-1, QC readers on slot
 * 00 01 of readers 0..q-1, q = max(1, k/2)). Measured in a child process (bench/pipeline.worker.ts) started with
 * PCSCLITE_CSOCK_NAME, SOFTHSM2_CONF and UV_THREADPOOL_SIZE=16. Set-up (registry, intake, key ceremony) is not
 * timed.
 *
 * Options (after `npm run bench -- pipeline`, as `--name value` or `--name=value`; bench/run.ts passes them through):
 * `--cards N` (cards per pipeline run, default 1000; env KADI_BENCH_PIPELINE_CARDS), `--encoders 1,2,4,8` (env
 * KADI_BENCH_PIPELINE_ENCODERS, both series), `--baseline-cards M` (default max(40, N/5); env
 * KADI_BENCH_PIPELINE_BASELINE_CARDS), `--model-cards M` (cards per pipeline run of the contact-chip model series,
 * default 24, 0 leaves the series out; env KADI_BENCH_PIPELINE_MODEL_CARDS: about 2-3 minutes with the default).
 * KADI_BENCH_EXEC_ARGV adds node options to the measuring process (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeConfig, startServices, stopServices, type ServiceConfig } from '../test/support/services.ts';
import { type BenchContext, extraExecArgv, pidOf, runBenchWorker } from './lib.ts';
import type { PipelineWorkerConfig } from './pipeline.worker.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** `--name value` or `--name=value` from the command line (bench/run.ts passes the options through), else `env`. */
function option(name: string, env: string | undefined): string | undefined {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  if (i >= 0) {
    const v = args[i + 1];
    if (v === undefined || v.startsWith('--')) throw new RangeError(`--${name} needs a value`);
    return v;
  }
  const eq = args.find((a) => a.startsWith(`--${name}=`));
  return eq !== undefined ? eq.slice(name.length + 3) : env;
}

function positiveInt(v: string, what: string, min = 1): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new RangeError(`${what} must be an integer >= ${min}, got "${v}"`);
  return n;
}

export async function run(ctx: BenchContext): Promise<void> {
  const cards = positiveInt(option('cards', process.env.KADI_BENCH_PIPELINE_CARDS) ?? '1000', '--cards');
  const encoders = (option('encoders', process.env.KADI_BENCH_PIPELINE_ENCODERS) ?? '1,2,4,8').split(',').map((v) => positiveInt(v, '--encoders'));
  if (encoders.some((k) => k > 8)) throw new RangeError('at most 8 encoders (8 vpcd readers, slot 00 00 each)');
  const baselineCards = positiveInt(option('baseline-cards', process.env.KADI_BENCH_PIPELINE_BASELINE_CARDS) ?? String(Math.max(40, Math.round(cards / 5))), '--baseline-cards');
  const modelCards = positiveInt(option('model-cards', process.env.KADI_BENCH_PIPELINE_MODEL_CARDS) ?? '24', '--model-cards', 0);
  ctx.log(`${cards} cards per run (zero-latency series), ${modelCards} (contact-chip model series), encoders ${encoders.join(',')}`);
  const cfg: ServiceConfig = await makeConfig(ctx.tmpDir, { readers: 8 });
  const info = await startServices(cfg, ['redis', 'pcscd', 'softhsm']);
  try {
    const config: PipelineWorkerConfig = {
      cards,
      baselineCards,
      encoders,
      modelCards,
      pcscdPid: pidOf(path.join(ctx.tmpDir, 'pcsc', 'pcscd.pid')),
      redisPid: pidOf(path.join(ctx.tmpDir, 'redis', 'redis.pid')),
    };
    const child = fork(path.join(ROOT, 'bench/pipeline.worker.ts'), [], {
      execArgv: ['--import', 'tsx', ...extraExecArgv()],
      env: {
        ...process.env,
        KADI_HOME: ctx.tmpDir,
        KADI_DB_URL: `sqlite:${path.join(ctx.tmpDir, 'bench-pipeline.sqlite')}`,
        KADI_REGISTRY_URL: `sqlite:${path.join(ctx.tmpDir, 'bench-registry.sqlite')}`,
        KADI_REDIS_URL: info.redisUrl,
        KADI_PCSC_DIR: path.join(ctx.tmpDir, 'pcsc'),
        KADI_HSM_MODULE: info.hsmModule,
        KADI_HSM_TOKEN: info.hsmToken,
        KADI_HSM_PIN_FILE: info.hsmPinFile,
        KADI_LOG_LEVEL: 'warn',
        KADI_CARD_MASTER_KEY_FILE: path.join(ctx.tmpDir, 'secrets', 'card-master-key'),
        PCSCLITE_CSOCK_NAME: info.pcscSocket,
        SOFTHSM2_CONF: info.softhsmConf,
        UV_THREADPOOL_SIZE: '16',
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await runBenchWorker(child, ctx, config);
  } finally {
    await stopServices(cfg, ['redis', 'pcscd', 'softhsm']);
  }
}

export default run;
