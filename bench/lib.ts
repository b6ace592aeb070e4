/**
 * Benchmark conventions (DESIGN.md §6): every figure is one JSON line on stdout,
 * `{"name","value","unit","n",...}`, where `n` is how many operations the figure was measured over. Progress
 * and notes go to stderr. A baseline measured in the same run sits next to the figure it explains.
 */

import { readFileSync } from 'node:fs';

export interface Figure {
  /** Dotted name, e.g. `sod.kadi.pkcs11`. */
  name: string;
  value: number;
  /** `docs/s`, `signatures/s`, `ratio`, `ms`, ... */
  unit: string;
  /** Operations measured. */
  n: number;
  [extra: string]: unknown;
}

export interface BenchContext {
  /** Prints one figure as a JSON line on stdout. */
  report(f: Figure): void;
  /** Notes for humans, on stderr. */
  log(msg: string): void;
  /** A scratch directory for this module, removed after it ran. */
  tmpDir: string;
  /** Seconds to spend on each timed figure (BENCH_SECONDS, default 3). */
  seconds: number;
}

/** A bench module: `export default async function (ctx: BenchContext) {...}`. */
export type BenchModule = (ctx: BenchContext) => Promise<void>;

/** Runs `op` repeatedly for about `seconds` (after `warmup` runs) and returns operations per second. */
export async function timed(seconds: number, op: () => Promise<unknown> | unknown, warmup = 200): Promise<{ rate: number; n: number; ms: number }> {
  for (let i = 0; i < warmup; i++) await op();
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  let n = 0;
  let now = t0;
  while (now < end) {
    for (let i = 0; i < 16; i++) await op();
    n += 16;
    now = performance.now();
  }
  const ms = now - t0;
  return { rate: (n * 1000) / ms, n, ms };
}

/** Like {@link timed} for a synchronous operation (no await between iterations). */
export function timedSync(seconds: number, op: () => unknown, warmup = 200): { rate: number; n: number; ms: number } {
  for (let i = 0; i < warmup; i++) op();
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  let n = 0;
  let now = t0;
  while (now < end) {
    for (let i = 0; i < 64; i++) op();
    n += 64;
    now = performance.now();
  }
  const ms = now - t0;
  return { rate: (n * 1000) / ms, n, ms };
}

export const round = (v: number, digits = 0): number => Math.round(v * 10 ** digits) / 10 ** digits;

// ---- bench modules that measure in a child process (encode, pipeline): one IPC protocol
// parent -> child {op:'run', config}; child -> parent {op:'figure', figure} | {op:'log', msg} | {op:'done'} |
// {op:'failed', message}.

/** The pid in a service's pid file (scripts/services.sh), or undefined. */
export function pidOf(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** KADI_BENCH_EXEC_ARGV, split on spaces: extra node options for bench child processes (e.g. --cpu-prof). */
export function extraExecArgv(): string[] {
  return (process.env.KADI_BENCH_EXEC_ARGV ?? '').split(' ').filter((a) => a.length > 0);
}

/** Parent side: sends `config` to the forked bench worker, relays its figures and notes, resolves on 'done'. */
export function runBenchWorker(child: import('node:child_process').ChildProcess, ctx: Pick<BenchContext, 'report' | 'log'>, config: unknown): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let finished = false;
    child.on('message', (m: { op: string; figure?: Figure; msg?: string; message?: string }) => {
      if (m.op === 'figure' && m.figure) ctx.report(m.figure);
      else if (m.op === 'log' && m.msg) ctx.log(m.msg);
      else if (m.op === 'done') {
        finished = true;
        resolve();
      } else if (m.op === 'failed') {
        finished = true;
        reject(new Error(m.message));
      }
    });
    child.on('exit', (code) => {
      if (!finished) reject(new Error(`bench worker exited with code ${code}`));
    });
    child.send({ op: 'run', config });
  });
}

/** Child side: figures and notes to the parent. */
export const workerReport = (f: Figure): void => void process.send?.({ op: 'figure', figure: f });
export const workerLog = (msg: string): void => void process.send?.({ op: 'log', msg });

/** Child side: runs `main` with the parent's config, then reports 'done' or 'failed' and exits. */
export function serveBenchWorker<C>(main: (config: C) => Promise<void>): void {
  process.once('message', (m: { op: string; config: C }) => {
    if (m.op !== 'run') return;
    main(m.config).then(
      () => {
        process.send?.({ op: 'done' });
        setTimeout(() => process.exit(0), 50);
      },
      (e: unknown) => {
        process.send?.({ op: 'failed', message: (e as Error)?.stack ?? String(e) });
        setTimeout(() => process.exit(1), 50);
      },
    );
  });
}
