/**
 * Benchmark conventions (DESIGN.md §6): every figure is one JSON line on stdout,
 * `{"name","value","unit","n",...}`, where `n` is how many operations the figure was measured over. Progress
 * and notes go to stderr. A baseline measured in the same run sits next to the figure it explains.
 */

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
