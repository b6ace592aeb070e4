/** Worker metrics: the registry's figures, the text exposition format, and the 127.0.0.1 /metrics server. */
import diagnosticsChannel from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { READER_POOL_OPENED } from '../encoders/index.ts';
import { isKadiError } from '../shared/index.ts';
import { METRICS_HOST, WorkerMetrics, metricCode, startMetricsServer, type MetricsServer } from './metrics.ts';

/** Parses Prometheus text exposition 0.0.4 into samples; throws on any line that is not a comment or a sample. */
function parse(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const out: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?(?:\d+(?:\.\d+)?(?:e[-+]?\d+)?|\+Inf|NaN|Nan))$/.exec(line); // prom-client writes NaN as `Nan` (Prometheus parses either)
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of one sample (labels compared as a set), or undefined when it is not exposed. */
function value(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  return parse(text).find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value;
}

class FakePool extends EventEmitter {
  readonly encoders: Array<{ name: string; busy: boolean; state: string }>;
  constructor(names: string[]) {
    super();
    this.encoders = names.map((name) => ({ name, busy: false, state: 'ready' }));
  }
  acquire(i: number): void {
    const e = this.encoders[i]!;
    e.busy = true;
    e.state = 'busy';
    this.emit('acquired', e);
  }
  release(i: number): void {
    const e = this.encoders[i]!;
    e.busy = false;
    e.state = 'used';
    this.emit('released', e);
  }
}

describe('worker metrics registry', () => {
  it('counts jobs by stage and outcome, failures by code, latency and jobs in flight', async () => {
    const m = new WorkerMetrics({ stages: [{ name: 'encode', concurrency: 4 }, { name: 'batch' }], processMetrics: false });
    let t = await m.metrics();
    // declared series exist at zero before any job
    expect(value(t, 'kadi_worker_jobs_total', { stage: 'encode', outcome: 'done' })).toBe(0);
    expect(value(t, 'kadi_worker_jobs_total', { stage: 'batch', outcome: 'completed' })).toBe(0);
    expect(value(t, 'kadi_worker_stage_concurrency', { stage: 'encode' })).toBe(4);
    expect(value(t, 'kadi_worker_job_duration_seconds_count', { stage: 'encode' })).toBe(0);

    m.jobStarted({ stage: 'encode' });
    m.jobStarted({ stage: 'encode' });
    m.jobStarted({ stage: 'encode' });
    t = await m.metrics();
    expect(value(t, 'kadi_worker_jobs_in_flight', { stage: 'encode' })).toBe(3);

    m.jobFinished({ stage: 'encode', cardId: 1, outcome: 'done', ms: 40 });
    m.jobFinished({ stage: 'encode', cardId: 2, outcome: 'spoiled', ms: 300 });
    m.jobFinished({ stage: 'encode', cardId: 3, outcome: 'failed', ms: 3000, code: 'ENCODE_CARD_REMOVED', error: 'ENCODE_CARD_REMOVED: card 3 pulled' });
    m.jobStarted({ stage: 'batch' });
    m.jobFinished({ stage: 'batch', outcome: 'completed', ms: 2 });
    t = await m.metrics();
    expect(value(t, 'kadi_worker_jobs_in_flight', { stage: 'encode' })).toBe(0);
    expect(value(t, 'kadi_worker_jobs_total', { stage: 'encode', outcome: 'done' })).toBe(1);
    expect(value(t, 'kadi_worker_jobs_total', { stage: 'encode', outcome: 'spoiled' })).toBe(1);
    expect(value(t, 'kadi_worker_jobs_total', { stage: 'encode', outcome: 'failed' })).toBe(1);
    expect(value(t, 'kadi_worker_jobs_total', { stage: 'encode', outcome: 'skipped' })).toBe(0);
    expect(value(t, 'kadi_worker_jobs_total', { stage: 'batch', outcome: 'completed' })).toBe(1);
    expect(value(t, 'kadi_worker_job_failures_total', { stage: 'encode', code: 'ENCODE_CARD_REMOVED' })).toBe(1);
    // histogram: cumulative buckets in seconds
    expect(value(t, 'kadi_worker_job_duration_seconds_bucket', { stage: 'encode', le: '0.05' })).toBe(1);
    expect(value(t, 'kadi_worker_job_duration_seconds_bucket', { stage: 'encode', le: '0.5' })).toBe(2);
    expect(value(t, 'kadi_worker_job_duration_seconds_bucket', { stage: 'encode', le: '2.5' })).toBe(2);
    expect(value(t, 'kadi_worker_job_duration_seconds_bucket', { stage: 'encode', le: '5' })).toBe(3);
    expect(value(t, 'kadi_worker_job_duration_seconds_bucket', { stage: 'encode', le: '+Inf' })).toBe(3);
    expect(value(t, 'kadi_worker_job_duration_seconds_count', { stage: 'encode' })).toBe(3);
    expect(value(t, 'kadi_worker_job_duration_seconds_sum', { stage: 'encode' })).toBeCloseTo(3.34, 6);
    // the error message is never exposed
    expect(t).not.toContain('pulled');
  });

  it('labels failures by code only: anything that is not a code becomes OTHER, a missing code UNKNOWN', async () => {
    expect(metricCode('QC_PRINT_DEFECT')).toBe('QC_PRINT_DEFECT');
    expect(metricCode('INTERNAL')).toBe('INTERNAL');
    expect(metricCode('Jane Doe 12345678')).toBe('OTHER');
    expect(metricCode('ENCODE_X"} 1\nkadi_fake 9')).toBe('OTHER');
    expect(metricCode(undefined)).toBe('UNKNOWN');
    const m = new WorkerMetrics({ processMetrics: false });
    m.jobFinished({ stage: 'prepare', outcome: 'failed', ms: 1, code: 'surname WANJIKU' });
    m.jobFinished({ stage: 'prepare', outcome: 'failed', ms: 1 });
    const t = await m.metrics();
    expect(value(t, 'kadi_worker_job_failures_total', { stage: 'prepare', code: 'OTHER' })).toBe(1);
    expect(value(t, 'kadi_worker_job_failures_total', { stage: 'prepare', code: 'UNKNOWN' })).toBe(1);
    expect(t).not.toContain('WANJIKU');
  });

  it('measures encoder busy time and states from the pool events', async () => {
    let now = 10_000;
    const m = new WorkerMetrics({ processMetrics: false, now: () => now });
    const pool = new FakePool(['Kadi Encoder 0 00 00', 'Kadi Encoder 0 00 01']);
    m.attachEncoders(pool);
    pool.acquire(0);
    now += 1500;
    pool.release(0);
    now += 500;
    pool.acquire(0);
    pool.acquire(1);
    now += 250;
    let t = await m.metrics();
    // encoder 0: 1.5 s finished + 0.25 s running; encoder 1: 0.25 s running
    expect(value(t, 'kadi_worker_encoder_busy_seconds_total', { encoder: 'Kadi Encoder 0 00 00' })).toBeCloseTo(1.75, 9);
    expect(value(t, 'kadi_worker_encoder_busy_seconds_total', { encoder: 'Kadi Encoder 0 00 01' })).toBeCloseTo(0.25, 9);
    expect(value(t, 'kadi_worker_encoder_busy', { encoder: 'Kadi Encoder 0 00 00' })).toBe(1);
    expect(value(t, 'kadi_worker_encoders', { state: 'busy' })).toBe(2);
    pool.release(1);
    now += 1000;
    t = await m.metrics();
    // the counter never goes back and idle time does not count
    expect(value(t, 'kadi_worker_encoder_busy_seconds_total', { encoder: 'Kadi Encoder 0 00 00' })).toBeCloseTo(2.75, 9);
    expect(value(t, 'kadi_worker_encoder_busy_seconds_total', { encoder: 'Kadi Encoder 0 00 01' })).toBeCloseTo(0.25, 9);
    expect(value(t, 'kadi_worker_encoder_busy', { encoder: 'Kadi Encoder 0 00 01' })).toBe(0);
    expect(value(t, 'kadi_worker_encoders', { state: 'busy' })).toBe(1);
    expect(value(t, 'kadi_worker_encoders', { state: 'used' })).toBe(1);
    m.close();
    expect(pool.listenerCount('acquired') + pool.listenerCount('released')).toBe(0);
  });

  it('follows reader pools published on the encoders diagnostics channel, and stops after close()', async () => {
    const m = new WorkerMetrics({ processMetrics: false });
    m.followReaderPools();
    const pool = new FakePool(['R1']);
    diagnosticsChannel.channel(READER_POOL_OPENED).publish(pool);
    pool.acquire(0);
    expect(value(await m.metrics(), 'kadi_worker_encoder_busy', { encoder: 'R1' })).toBe(1);
    m.close();
    diagnosticsChannel.channel(READER_POOL_OPENED).publish(new FakePool(['R2']));
    expect(value(await m.metrics(), 'kadi_worker_encoder_busy', { encoder: 'R2' })).toBeUndefined();
  });

  it('exposes valid text format: HELP and TYPE once per family, only sample lines otherwise, process CPU included', async () => {
    const m = new WorkerMetrics({ stages: [{ name: 'qc', concurrency: 1 }] });
    m.jobStarted({ stage: 'qc' });
    m.jobFinished({ stage: 'qc', outcome: 'done', ms: 12 });
    const t = await m.metrics();
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parse(t); // throws on a malformed line
    const types = new Map<string, string>();
    for (const line of t.split('\n').filter((l) => l.startsWith('# TYPE '))) {
      const [, , name, type] = line.split(' ');
      expect(types.has(name!), `TYPE twice for ${name}`).toBe(false);
      types.set(name!, type!);
      expect(t).toContain(`# HELP ${name} `);
    }
    for (const s of samples) {
      const family = types.has(s.name) ? s.name : s.name.replace(/_(bucket|sum|count)$/, '');
      expect(types.has(family), `sample ${s.name} without TYPE`).toBe(true);
      if (types.get(family) === 'counter' || s.name.endsWith('_total')) expect(s.value).toBeGreaterThanOrEqual(0);
    }
    expect(types.get('kadi_worker_job_duration_seconds')).toBe('histogram');
    expect(types.get('kadi_worker_jobs_total')).toBe('counter');
    expect(types.get('process_cpu_seconds_total')).toBe('counter');
    // counted from the registry's creation: present, possibly 0 this soon after
    expect(value(t, 'process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
  });
});

describe('worker metrics server', () => {
  const servers: MetricsServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  it('serves GET /metrics on 127.0.0.1 with the counts of the jobs seen so far', async () => {
    const m = new WorkerMetrics({ stages: [{ name: 'prepare', concurrency: 2 }] });
    const s = await startMetricsServer({ metrics: m, port: 0 });
    servers.push(s);
    expect(s.host).toBe(METRICS_HOST);
    expect(s.port).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) {
      m.jobStarted({ stage: 'prepare' });
      m.jobFinished({ stage: 'prepare', cardId: i, outcome: i === 4 ? 'failed' : 'done', ms: 5 + i, ...(i === 4 ? { code: 'PREPARE_DATA_INVALID' } : {}) });
    }
    m.jobStarted({ stage: 'prepare' });
    const r = await fetch(`http://127.0.0.1:${s.port}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const t = await r.text();
    expect(value(t, 'kadi_worker_jobs_total', { stage: 'prepare', outcome: 'done' })).toBe(4);
    expect(value(t, 'kadi_worker_jobs_total', { stage: 'prepare', outcome: 'failed' })).toBe(1);
    expect(value(t, 'kadi_worker_job_failures_total', { stage: 'prepare', code: 'PREPARE_DATA_INVALID' })).toBe(1);
    expect(value(t, 'kadi_worker_jobs_in_flight', { stage: 'prepare' })).toBe(1);
    expect(value(t, 'kadi_worker_job_duration_seconds_count', { stage: 'prepare' })).toBe(5);
    expect(value(t, 'process_cpu_seconds_total')).toBeGreaterThan(0);

    // a second scrape sees later jobs
    m.jobFinished({ stage: 'prepare', outcome: 'skipped', ms: 1 });
    const t2 = await (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text();
    expect(value(t2, 'kadi_worker_jobs_total', { stage: 'prepare', outcome: 'skipped' })).toBe(1);
    expect(value(t2, 'kadi_worker_jobs_in_flight', { stage: 'prepare' })).toBe(0);

    expect((await fetch(`http://127.0.0.1:${s.port}/`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${s.port}/metrics`, { method: 'POST', body: 'x' })).status).toBe(405);
    const head = await fetch(`http://127.0.0.1:${s.port}/metrics?x=1`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });

  it('refuses a port that is taken with WORKER_METRICS_PORT_IN_USE, and frees its port on close', async () => {
    const m = new WorkerMetrics({ processMetrics: false });
    const a = await startMetricsServer({ metrics: m, port: 0 });
    const err = await startMetricsServer({ metrics: m, port: a.port }).catch((e: unknown) => e);
    expect(isKadiError(err) && err.code).toBe('WORKER_METRICS_PORT_IN_USE');
    await a.close();
    const b = await startMetricsServer({ metrics: m, port: a.port });
    servers.push(b);
    expect(b.port).toBe(a.port);
    await expect(startMetricsServer({ metrics: m, port: 70_000 })).rejects.toThrow(RangeError);
  });
});
