/**
 * CLI output conventions: `--json` prints one JSON document on stdout and nothing else there; human output is
 * plain text; progress bars go to stderr only when it is a TTY and --json is off; errors print
 * `error CODE: message` (+ hint) on stderr, or a JSON error object with --json, and set a non-zero exit code.
 */
import cliProgress from 'cli-progress';
import { isKadiError } from '../shared/index.ts';

export interface Progress {
  start(total: number, label?: string): void;
  update(done: number, total?: number): void;
  stop(): void;
}

const silent: Progress = { start() {}, update() {}, stop() {} };

export function progress(json: boolean): Progress {
  if (json || !process.stderr.isTTY) return silent;
  const bar = new cliProgress.SingleBar(
    { format: '{label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted}', stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    start(total, label = '') {
      bar.start(total, 0, { label });
      started = true;
    },
    update(done, total) {
      if (!started) return;
      if (total !== undefined) bar.setTotal(total);
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}

export function printLine(s = ''): void {
  process.stdout.write(`${s}\n`);
}

/** Renders rows as an aligned text table. */
export function table(rows: Array<Array<string | number>>): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, String(c).length)));
  return rows.map((r) => r.map((c, i) => (typeof c === 'number' ? String(c).padStart(widths[i]!) : String(c).padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** Prints an error and returns the exit code to use (1 for Kadi errors, 70 for bugs). */
export function reportError(e: unknown, json: boolean): number {
  if (isKadiError(e)) {
    if (json) process.stdout.write(`${JSON.stringify({ error: e.toJSON() }, null, 2)}\n`);
    process.stderr.write(`error ${e.code}: ${e.message}\n${e.hint ? `  ${e.hint}\n` : ''}`);
    return 1;
  }
  const err = e as Error;
  if (json) process.stdout.write(`${JSON.stringify({ error: { code: 'INTERNAL', message: err?.message ?? String(e) } })}\n`);
  process.stderr.write(`error INTERNAL: ${err?.stack ?? String(e)}\n  This is a bug in Kadi; please report it with the command you ran.\n`);
  return 70;
}
