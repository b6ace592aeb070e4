/**
 * `kadi users …` and `kadi serve` as an operator runs them: spawned processes on a temp KADI_HOME (SQLite).
 * The commands are registered the way src/cli/main.ts registers them (registerUserCommands,
 * registerServeCommand), in a small runner, so these tests do not depend on main.ts wiring.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDb } from '../src/db/index.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const home = mkdtempSync(path.join(os.tmpdir(), 'kadi-api-cli-'));
const runner = path.join(home, 'runner.mjs');
writeFileSync(
  runner,
  `import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(path.join(ROOT, 'package.json'))});
const { Command } = require('commander');
const { withContext } = await import(${JSON.stringify(path.join(ROOT, 'src/cli/run.ts'))});
const { registerUserCommands } = await import(${JSON.stringify(path.join(ROOT, 'src/cli/users.ts'))});
const { registerServeCommand } = await import(${JSON.stringify(path.join(ROOT, 'src/cli/serve.ts'))});
const program = new Command().name('kadi').exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2)).option('--actor <name>', 'actor', 'tester@cli');
registerServeCommand(program, withContext);
registerUserCommands(program, withContext, () => program.opts().actor);
await program.parseAsync(process.argv);
`,
);
afterAll(() => rmSync(home, { recursive: true, force: true }));

const env = { ...process.env, KADI_HOME: home, KADI_LOG_LEVEL: 'warn' };

function kadi(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile('node', ['--import', 'tsx', runner, ...args], { cwd: ROOT, env }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (stdin !== undefined) child.stdin!.end(stdin);
    else child.stdin!.end();
  });
}

describe('kadi users', () => {
  it('adds the first admin with a generated password printed once, and refuses bad input', async () => {
    const r = await kadi(['users', 'add', 'Amina.Admin', '--role', 'admin', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.user).toMatchObject({ name: 'amina.admin', role: 'admin', active: true, createdBy: 'tester@cli' });
    expect(out.password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    const db = openDb(`sqlite:${path.join(home, 'kadi.sqlite')}`);
    try {
      const row = await db('users').where({ name: 'amina.admin' }).first('password_hash');
      expect(row.password_hash).toMatch(/^scrypt\$/);
      expect(row.password_hash).not.toContain(out.password);
      expect((await db('audit_log').where({ action: 'user.create' }).first()).actor).toBe('tester@cli');
    } finally {
      await db.destroy();
    }
    const dup = await kadi(['users', 'add', 'amina.admin', '--role', 'qc']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('error USER_EXISTS');
    const badRole = await kadi(['users', 'add', 'someone', '--role', 'root']);
    expect(badRole.code).toBe(1);
    expect(badRole.stderr).toContain('error USER_ROLE_INVALID');
  });

  it('reads a password from stdin, lists, disables and changes roles', async () => {
    const add = await kadi(['users', 'add', 'ken.qc', '--role', 'qc', '--password-stdin'], 'a long piped passphrase\n');
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toContain('user ken.qc (qc) created');
    expect(add.stdout).not.toContain('password:');
    const short = await kadi(['users', 'add', 'ken.short', '--role', 'qc', '--password-stdin'], 'short\n');
    expect(short.stderr).toContain('error PASSWORD_POLICY');
    expect((await kadi(['users', 'set-role', 'ken.qc', 'logistics'])).stdout).toContain('ken.qc (logistics)');
    expect((await kadi(['users', 'disable', 'ken.qc'])).stdout).toContain('ken.qc (logistics, disabled)');
    const list = JSON.parse((await kadi(['users', 'list', '--json'])).stdout);
    expect(list.map((u: { name: string; active: boolean }) => [u.name, u.active])).toEqual([['amina.admin', true], ['ken.qc', false]]);
    const pw = await kadi(['users', 'passwd', 'ken.qc']);
    expect(pw.stdout).toMatch(/password: [A-Za-z0-9_-]{24}/);
    const last = await kadi(['users', 'disable', 'amina.admin']);
    expect(last.stderr).toContain('error USER_LAST_ADMIN');
    expect((await kadi(['users', 'disable', 'nobody'])).stderr).toContain('error USER_NOT_FOUND');
  });
});

describe('kadi serve', () => {
  it('binds 127.0.0.1, prints the console URL, serves the API and stops cleanly on SIGTERM', async () => {
    const child = spawn('node', ['--import', 'tsx', runner, 'serve', '--port', '0'], { cwd: ROOT, env });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL printed: ${out} ${err}`)), 30_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /Kadi console: (http:\/\/127\.0\.0\.1:\d+)\/console\//.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    try {
      expect((await fetch(`${url}/console/login.html`)).status).toBe(200);
      const status = await fetch(`${url}/api/status`);
      expect(status.status).toBe(401);
      const login = await fetch(`${url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'ken.qc', password: 'wrong password!!' }) });
      expect(login.status).toBe(401);
      const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { openapi: string };
      expect(doc.openapi).toBe('3.1.0');
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code, err).toBe(0);
    expect(out).toContain('SIGTERM: stopping');
    expect(out + err).not.toContain('wrong password!!');
  });
});
