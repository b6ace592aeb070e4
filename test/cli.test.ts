/** The `kadi` command line end to end, as an operator runs it (spawned processes, real SQLite files). */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { openDb } from '../src/db/index.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..');
const home = mkdtempSync(path.join(os.tmpdir(), 'kadi-cli-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

async function kadi(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('node', [path.join(ROOT, 'bin/kadi.mjs'), ...args], {
      env: { ...process.env, KADI_HOME: home, ...env },
      maxBuffer: 32 * 1024 * 1024,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('kadi CLI', () => {
  it('seeds 1000 records with 5% bad ones and intake accounts for all of them', async () => {
    const seed = await kadi(['registry', 'seed', '--count', '1000', '--invalid-rate', '0.05', '--json']);
    expect(seed.code).toBe(0);
    expect(JSON.parse(seed.stdout)).toMatchObject({ inserted: 1000 });
    const r = await kadi(['intake', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.ordered + out.rejected + out.duplicates + out.notApproved).toBe(1000);
    expect(out.rejected).toBeGreaterThan(10);
    expect(out.duplicates).toBeGreaterThan(0);
    const again = JSON.parse((await kadi(['intake', '--json'])).stdout);
    expect(again).toMatchObject({ ordered: 0, rejected: 0, duplicates: 0, alreadyProcessed: out.ordered + out.rejected + out.duplicates });

    const status = JSON.parse((await kadi(['status', '--json'])).stdout);
    expect(status.cards.ORDERED).toBe(out.ordered);
    expect(status.intake).toMatchObject({ ORDERED: out.ordered, REJECTED: out.rejected, DUPLICATE: out.duplicates });
  }, 120_000);

  it('verifies the audit chain and names the first tampered entry', async () => {
    const ok = await kadi(['audit', 'verify', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true });
    const db = openDb(`sqlite:${path.join(home, 'kadi.sqlite')}`);
    try {
      await db('audit_log').where({ seq: 42 }).update({ actor: 'mallory' });
    } finally {
      await db.destroy();
    }
    const bad = await kadi(['audit', 'verify', '--json']);
    expect(bad.code).toBe(3);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, firstBad: { seq: 42, problem: 'HASH_MISMATCH' } });
    expect(bad.stderr).toContain('AUDIT_CHAIN_BROKEN');
  });

  it('reports configuration errors with a code and the key, before doing anything', async () => {
    const r = await kadi(['status'], { KADI_REDIS_URL: 'localhost:6379' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error CONFIG_INVALID: KADI_REDIS_URL:/);
    const j = await kadi(['status', '--json'], { KADI_READERS: '99' });
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout).error).toMatchObject({ code: 'CONFIG_INVALID', details: { key: 'KADI_READERS' } });
  });

  it('prints a TD1 MRZ from JSON on stdin and rejects bad input with a code', async () => {
    const { spawnSync } = await import('node:child_process');
    const mrz = (input: string) =>
      spawnSync('node', [path.join(ROOT, 'bin/kadi.mjs'), 'mrz', '--json'], { input, encoding: 'utf8', env: { ...process.env, KADI_HOME: home } });
    const ok = mrz(
      JSON.stringify({
        documentNumber: 'L898902C3', issuingState: 'UTO', nationality: 'UTO', surname: 'Eriksson', givenNames: 'Anna María',
        dateOfBirth: '1974-08-12', sex: 'F', dateOfExpiry: '2012-04-15', optionalData: 'ZE184226B',
      }),
    );
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({
      lines: ['IDUTOL898902C36ZE184226B<<<<<<', '7408122F1204159UTO<<<<<<<<<<<5', 'ERIKSSON<<ANNA<MARIA<<<<<<<<<<'],
    });
    const bad = mrz(JSON.stringify({ documentNumber: 'X1', issuingState: 'UTO', nationality: 'UTO', surname: 'A', givenNames: 'B', dateOfBirth: '1974-02-30', sex: 'F', dateOfExpiry: '2012-04-15' }));
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout).error.code).toMatch(/^MRZ_/);
    const notJson = mrz('hello');
    expect(notJson.status).toBe(1);
    expect(JSON.parse(notJson.stdout).error.code).toBe('MRZ_INPUT_NOT_JSON');
  });

  it('rejects bad arguments with usage help and exit code 2', async () => {
    const r = await kadi(['registry', 'seed', '--count', 'lots']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--count must be an integer/);
  });
});
