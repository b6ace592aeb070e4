/**
 * Prometheus metrics of one worker process (`kadi workers start --metrics-port N`), on prom-client
 * (docs/decisions/0012-worker-metrics.md). Cards per state and failures recorded in the database stay in the API's
 * /api/metrics (the database is the truth and every process would report the same figures); what is here is
 * what only this process knows: its jobs, their latency, its encoders and its CPU.
 *
 * Metrics (all counters start at zero for every stage of the process's roles, so `rate()` works from the start):
 *   kadi_worker_jobs_total{stage,outcome}            counter   jobs finished: done, skipped, spoiled, failed
 *                                                              (the batch stage: completed, failed)
 *   kadi_worker_job_failures_total{stage,code}       counter   failed jobs by stable error code (ENCODE_CARD_REMOVED,
 *                                                              INTERNAL for a non-Kadi error). Never a message.
 *   kadi_worker_job_duration_seconds{stage}          histogram job latency, seconds (any outcome)
 *   kadi_worker_jobs_in_flight{stage}                gauge     jobs running now
 *   kadi_worker_stage_concurrency{stage}             gauge     jobs the stage may run at once in this process
 *   kadi_worker_encoders{state}                      gauge     this process's encoders by state (empty, ready, busy, used)
 *   kadi_worker_encoder_busy{encoder}                gauge     1 while the encoder holds a card being personalised
 *   kadi_worker_encoder_busy_seconds_total{encoder}  counter   seconds the encoder was busy; utilisation is
 *                                                              rate(kadi_worker_encoder_busy_seconds_total[5m])
 *   process_cpu_seconds_total, process_cpu_user_seconds_total, process_resident_memory_bytes,
 *   nodejs_eventloop_lag_seconds, ...                          prom-client's default process metrics
 *
 * Labels carry only stage names, outcomes, error codes and reader names: never card data, messages or key
 * material (DESIGN.md §5). An error code that does not look like one (A-Z, 0-9, _) is counted as OTHER.
 *
 * The server binds 127.0.0.1 only and answers GET /metrics; scrape it from the same machine (a local Prometheus
 * or agent) — nothing of a worker is reachable from the network.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { READER_POOL_OPENED } from '../encoders/index.ts';
import { KadiError } from '../shared/index.ts';
import type { StageName, StageOutcome } from './stages.ts';

export type JobOutcome = StageOutcome | 'failed' | 'completed';

/** What `startWorkers` reports after each job (its `onJob` hook). */
export interface JobEvent {
  stage: StageName | 'batch';
  cardId?: number;
  outcome: JobOutcome;
  /** Job time, milliseconds. */
  ms: number;
  /** The error message: logged by the worker, never used here. */
  error?: string;
  /** The stable error code of a failed job. */
  code?: string;
}

/** What the metrics read from a reader pool (src/encoders ReaderPool): its encoders and acquire/release events. */
export interface EncoderPoolView {
  readonly encoders: ReadonlyArray<{ readonly name: string; readonly busy: boolean; readonly state: string }>;
  on(event: 'acquired' | 'released', listener: (enc: { name: string }) => void): unknown;
  off(event: 'acquired' | 'released', listener: (enc: { name: string }) => void): unknown;
}

export interface WorkerMetricsOptions {
  /** Stages this process runs (and their concurrency), so their series exist from the start. Default none. */
  stages?: ReadonlyArray<{ name: StageName | 'batch'; concurrency?: number }>;
  /** Also collect prom-client's default process metrics (CPU, memory, event loop). Default true. */
  processMetrics?: boolean;
  /** Milliseconds clock for busy time (tests). Default performance.now. */
  now?: () => number;
}

/** Histogram buckets, seconds: from a skipped job (a few ms) to a slow real card (tens of seconds). */
export const JOB_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

const OUTCOMES: Record<StageName | 'batch', readonly JobOutcome[]> = {
  prepare: ['done', 'skipped', 'spoiled', 'failed'],
  encode: ['done', 'skipped', 'spoiled', 'failed'],
  print: ['done', 'skipped', 'spoiled', 'failed'],
  qc: ['done', 'skipped', 'spoiled', 'failed'],
  pack: ['done', 'skipped', 'spoiled', 'failed'],
  batch: ['completed', 'failed'],
};

const ENCODER_STATES = ['empty', 'ready', 'busy', 'used'] as const;

/** A label-safe error code: the code itself when it looks like one, else OTHER (bounded, no data). */
export function metricCode(code: string | undefined): string {
  if (code === undefined || code === '') return 'UNKNOWN';
  return /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : 'OTHER';
}

/** The metrics of one worker process, in their own registry (never prom-client's global one). */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly jobs: Counter<'stage' | 'outcome'>;
  private readonly failures: Counter<'stage' | 'code'>;
  private readonly duration: Histogram<'stage'>;
  private readonly inFlight: Gauge<'stage'>;
  private readonly concurrency: Gauge<'stage'>;
  private readonly pools: EncoderPoolView[] = [];
  private readonly detachers: Array<() => void> = [];
  /** Per encoder: finished busy time (ms), start of the current busy period, seconds already counted. */
  private readonly busy = new Map<string, { ms: number; since: number | undefined; reported: number }>();
  private readonly now: () => number;

  constructor(o: WorkerMetricsOptions = {}) {
    this.now = o.now ?? (() => performance.now());
    const registers = [this.registry];
    this.jobs = new Counter({ name: 'kadi_worker_jobs_total', help: 'Jobs finished by this process, by stage and outcome.', labelNames: ['stage', 'outcome'], registers });
    this.failures = new Counter({
      name: 'kadi_worker_job_failures_total',
      help: 'Failed jobs by stage and stable error code.',
      labelNames: ['stage', 'code'],
      registers,
    });
    this.duration = new Histogram({
      name: 'kadi_worker_job_duration_seconds',
      help: 'Job latency by stage, seconds (any outcome).',
      labelNames: ['stage'],
      buckets: JOB_DURATION_BUCKETS,
      registers,
    });
    this.inFlight = new Gauge({ name: 'kadi_worker_jobs_in_flight', help: 'Jobs running now, by stage.', labelNames: ['stage'], registers });
    this.concurrency = new Gauge({
      name: 'kadi_worker_stage_concurrency',
      help: 'Jobs a stage may run at once in this process.',
      labelNames: ['stage'],
      registers,
    });
    const pools = this.pools;
    new Gauge({
      name: 'kadi_worker_encoders',
      help: 'Encoders (reader slots) of this process by state: empty, ready (fresh blank), busy, used (waiting for a new blank).',
      labelNames: ['state'],
      registers,
      collect() {
        const n: Record<string, number> = Object.fromEntries(ENCODER_STATES.map((s) => [s, 0]));
        for (const p of pools) for (const e of p.encoders) n[e.state] = (n[e.state] ?? 0) + 1;
        for (const [state, v] of Object.entries(n)) this.set({ state }, v);
      },
    });
    new Gauge({
      name: 'kadi_worker_encoder_busy',
      help: 'Whether the encoder is personalising a card now (1) or not (0).',
      labelNames: ['encoder'],
      registers,
      collect() {
        for (const p of pools) for (const e of p.encoders) this.set({ encoder: e.name }, e.busy ? 1 : 0);
      },
    });
    const self = this;
    new Counter({
      name: 'kadi_worker_encoder_busy_seconds_total',
      help: 'Seconds each encoder was busy; utilisation = rate() of this counter.',
      labelNames: ['encoder'],
      registers,
      collect() {
        const t = self.now();
        for (const [encoder, b] of self.busy) {
          const total = (b.ms + (b.since === undefined ? 0 : t - b.since)) / 1000;
          if (total > b.reported) this.inc({ encoder }, total - b.reported);
          else this.inc({ encoder }, 0);
          b.reported = Math.max(b.reported, total);
        }
      },
    });
    if (o.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    for (const s of o.stages ?? []) this.declareStage(s.name, s.concurrency);
  }

  /** Creates the stage's series at zero (and records its concurrency). */
  declareStage(stage: StageName | 'batch', concurrency?: number): void {
    for (const outcome of OUTCOMES[stage]) this.jobs.inc({ stage, outcome }, 0);
    this.inFlight.set({ stage }, 0);
    this.duration.zero({ stage });
    if (concurrency !== undefined) this.concurrency.set({ stage }, concurrency);
  }

  /** The `onJobStart` hook of startWorkers. */
  readonly jobStarted = (e: { stage: StageName | 'batch' }): void => {
    this.inFlight.inc({ stage: e.stage });
  };

  /** The `onJob` hook of startWorkers. */
  readonly jobFinished = (e: JobEvent): void => {
    this.inFlight.dec({ stage: e.stage });
    this.jobs.inc({ stage: e.stage, outcome: e.outcome });
    this.duration.observe({ stage: e.stage }, Math.max(0, e.ms) / 1000);
    if (e.outcome === 'failed') this.failures.inc({ stage: e.stage, code: metricCode(e.code) });
  };

  /** Follows a reader pool's encoders (busy time from its 'acquired'/'released' events). Call once per pool. */
  attachEncoders(pool: EncoderPoolView): void {
    this.pools.push(pool);
    const t = this.now();
    for (const e of pool.encoders) this.busy.set(e.name, { ms: 0, since: e.busy ? t : undefined, reported: 0 });
    const acquired = (enc: { name: string }): void => {
      const b = this.busy.get(enc.name);
      if (b && b.since === undefined) b.since = this.now();
    };
    const released = (enc: { name: string }): void => {
      const b = this.busy.get(enc.name);
      if (b && b.since !== undefined) {
        b.ms += this.now() - b.since;
        b.since = undefined;
      }
    };
    pool.on('acquired', acquired);
    pool.on('released', released);
    this.detachers.push(() => {
      pool.off('acquired', acquired);
      pool.off('released', released);
    });
  }

  /**
   * Follows every reader pool this process opens from now on (src/encoders publishes each ReaderPool on the
   * READER_POOL_OPENED diagnostics channel), whoever builds it: the encode stage on real readers or the virtual
   * bureau. Call before building the stages.
   */
  followReaderPools(): void {
    const onPool = (pool: unknown): void => this.attachEncoders(pool as EncoderPoolView);
    diagnosticsChannel.subscribe(READER_POOL_OPENED, onPool);
    this.detachers.push(() => diagnosticsChannel.unsubscribe(READER_POOL_OPENED, onPool));
  }

  /** The text exposition (Prometheus 0.0.4). */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Stops following reader pools and their events. */
  close(): void {
    for (const d of this.detachers.splice(0)) d();
  }
}

export interface MetricsServer {
  /** The port it listens on (the one asked for, or the one the system chose for 0). */
  readonly port: number;
  /** Always 127.0.0.1. */
  readonly host: string;
  close(): Promise<void>;
}

export const METRICS_HOST = '127.0.0.1';

/**
 * Serves `GET /metrics` (and HEAD) on 127.0.0.1:`port` (0: any free port); everything else is 404 (405 for other
 * methods on /metrics). Throws WORKER_METRICS_PORT_IN_USE when the port is taken.
 */
export async function startMetricsServer(o: { metrics: Pick<WorkerMetrics, 'metrics' | 'contentType'>; port: number }): Promise<MetricsServer> {
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65_535) throw new RangeError('the metrics port must be an integer from 0 to 65535');
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: scrape /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    o.metrics.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': o.metrics.contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      () => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics collection failed\n');
      },
    );
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      reject(
        e.code === 'EADDRINUSE'
          ? new KadiError('WORKER_METRICS_PORT_IN_USE', `port ${o.port} on ${METRICS_HOST} is already in use`, {
              hint: 'Give each worker process on a machine its own --metrics-port.',
            })
          : e,
      );
    };
    server.once('error', onError);
    server.listen(o.port, METRICS_HOST, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    host: METRICS_HOST,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
