/**
 * `npm run bench [-- FILTER...]` = `node --import tsx bench/run.ts`: runs every `bench/*.bench.ts` module (or
 * those whose file name contains one of the FILTER words), one after the other, and prints one JSON line per
 * figure on stdout: `{"name","value","unit","n",...}` (see bench/lib.ts). Exit code 1 if a module failed.
 *
 * Environment: BENCH_SECONDS (seconds per timed figure, default 3).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchContext, BenchModule, Figure } from './lib.ts';

const DIR = path.dirname(fileURLToPath(import.meta.url));

async function main(): Promise<number> {
  const filters = process.argv.slice(2);
  const seconds = Number(process.env.BENCH_SECONDS ?? 3);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error('BENCH_SECONDS must be a positive number');
  const files = readdirSync(DIR)
    .filter((f) => f.endsWith('.bench.ts'))
    .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
    .sort();
  if (files.length === 0) {
    process.stderr.write(`bench: no bench/*.bench.ts module matches ${filters.join(' ')}\n`);
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
