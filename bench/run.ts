/**
 * `npm run bench [-- FILTER... [--OPTION [VALUE]...]]` = `node --import tsx bench/run.ts`: runs every
 * `bench/*.bench.ts` module (or those whose file name contains one of the FILTER words), one after the other, and
 * prints one JSON line per figure on stdout: `{"name","value","unit","n",...}` (see bench/lib.ts). Exit code 1 if
 * a module failed.
 *
 * FILTER words come first; everything from the first argument starting with `-` on is options for the modules
 * (e.g. `npm run bench -- pipeline --cards 200`), not filters: the modules find them in `process.argv`, which the
 * runner leaves as `[node, run.ts, ...options]`, each module reading its own (see bench/pipeline.bench.ts). A `--`
 * alone ends the filters too and is dropped.
 *
 * Environment: BENCH_SECONDS (seconds per timed figure, default 3).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchContext, BenchModule, Figure } from './lib.ts';

const DIR = path.dirname(fileURLToPath(import.meta.url));

/** Splits the command line into file-name filters (leading words) and module options (the rest, see above). */
function splitArgs(args: readonly string[]): { filters: string[]; options: string[] } {
  const i = args.findIndex((a) => a.startsWith('-'));
  if (i < 0) return { filters: [...args], options: [] };
  return { filters: args.slice(0, i), options: args.slice(args[i] === '--' ? i + 1 : i) };
}

async function main(): Promise<number> {
  const { filters, options } = splitArgs(process.argv.slice(2));
  // the modules see their options only (process.argv[2...]), never the filter words
  process.argv.splice(2, process.argv.length - 2, ...options);
  const seconds = Number(process.env.BENCH_SECONDS ?? 3);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error('BENCH_SECONDS must be a positive number');
  const files = readdirSync(DIR)
    .filter((f) => f.endsWith('.bench.ts'))
    .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
    .sort();
  if (files.length === 0) {
    process.stderr.write(`bench: no bench/*.bench.ts module matches ${filters.join(' ')}${options.length ? ` (options: ${options.join(' ')})` : ''}\n`);
    return 1;
  }
  let failed = 0;
  for (const f of files) {
    const tmpDir = mkdtempSync(path.join(os.tmpdir(), `kadi-bench-${path.basename(f, '.bench.ts')}-`));
    const ctx: BenchContext = {
      report: (fig: Figure) => process.stdout.write(`${JSON.stringify({ ...fig, module: f })}\n`),
      log: (msg: string) => process.stderr.write(`[${f}] ${msg}\n`),
      tmpDir,
      seconds,
    };
    const t0 = performance.now();
    try {
      const mod = (await import(pathToFileURL(path.join(DIR, f)).href)) as { default?: BenchModule };
      if (typeof mod.default !== 'function') throw new Error('a bench module must export a default async function (ctx)');
      await mod.default(ctx);
      ctx.log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } catch (e) {
      failed++;
      process.stderr.write(`[${f}] FAILED: ${(e as Error).stack ?? String(e)}\n`);
    } finally {
      rmSync(tmpDir, { recursive: true, force: true });
    }
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
