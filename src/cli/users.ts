/**
 * `kadi users add|list|passwd|disable|enable|set-role`: staff accounts for the API and console (src/api/users.ts).
 * The first admin is created here. A password is read from stdin with --password-stdin (first line), or
 * generated and printed once. Every change is audited with the --actor of the command.
 */
import type { Command } from 'commander';
import { createUser, findUserByName, listUsers, normaliseUserName, ROLES, setPassword, updateUser, type User } from '../api/index.ts';
import { KadiError, NotFoundError } from '../shared/index.ts';
import type { Context } from './context.ts';
import type { WithContext } from './run.ts';
import { printJson, printLine, table } from './output.ts';


async function readStdinLine(): Promise<string> {
  if (process.stdin.isTTY) {
    throw new KadiError('CLI_USAGE', '--password-stdin reads a piped password, but stdin is a terminal', { hint: 'Pipe it in (e.g. from a password manager), or omit --password-stdin to generate one.' });
  }
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

async function userByName(ctx: Context, name: string): Promise<User> {
  const u = await findUserByName(await ctx.db(), normaliseUserName(name));
  if (!u) throw new NotFoundError('USER_NOT_FOUND', `no user ${name}`, { hint: 'List users with `kadi users list`.' });
  return u;
}

function describe(u: User): string {
  return `${u.name} (${u.role}${u.active ? '' : ', disabled'})`;
}

export function registerUserCommands(program: Command, withContext: WithContext, actor: () => string): void {
  const users = program.command('users').description('staff accounts of the API and console');

  users
    .command('add')
    .description(`create a user with a role (${ROLES.join(', ')}); the password is generated and printed once unless --password-stdin`)
    .argument('<name>', 'login name: a letter, then letters, digits, . _ - (2-32)')
    .requiredOption('--role <role>', ROLES.join(' | '))
    .option('--password-stdin', 'read the password from stdin (first line) instead of generating one')
    .option('--json', 'JSON output')
    .action(async (name: string, o: { role: string; passwordStdin?: boolean; json?: boolean }) =>
      withContext(!!o.json, async (ctx) => {
        const password = o.passwordStdin ? await readStdinLine() : undefined;
        const r = await createUser(await ctx.db(), { name, role: o.role, actor: actor(), ...(password === undefined ? {} : { password }) });
        if (o.json) return printJson({ user: r.user, ...(r.generatedPassword ? { password: r.generatedPassword } : {}) });
        printLine(`user ${describe(r.user)} created`);
        if (r.generatedPassword) printLine(`password: ${r.generatedPassword}\n  (shown once: hand it over in person; change it with \`kadi users passwd\` or the console)`);
      }),
    );

  users
    .command('list')
    .description('every user with role and state')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) =>
      withContext(!!o.json, async (ctx) => {
        const list = await listUsers(await ctx.db());
        if (o.json) return printJson(list);
        printLine(table([['id', 'name', 'role', 'active', 'last login'], ...list.map((u) => [u.id, u.name, u.role, u.active ? 'yes' : 'no', u.lastLoginAt ?? '-'])]));
      }),
    );

  users
    .command('passwd')
    .description('set a new password (generated unless --password-stdin); ends the user\'s sessions and tokens')
    .argument('<name>')
    .option('--password-stdin', 'read the password from stdin (first line)')
    .option('--json', 'JSON output')
    .action(async (name: string, o: { passwordStdin?: boolean; json?: boolean }) =>
      withContext(!!o.json, async (ctx) => {
        const u = await userByName(ctx, name);
        const password = o.passwordStdin ? await readStdinLine() : undefined;
        const r = await setPassword(await ctx.db(), u.id, { actor: actor(), ...(password === undefined ? {} : { password }) });
        if (o.json) return printJson({ user: r.user, ...(r.generatedPassword ? { password: r.generatedPassword } : {}) });
        printLine(`password of ${describe(r.user)} changed; their sessions and tokens were ended`);
        if (r.generatedPassword) printLine(`password: ${r.generatedPassword}\n  (shown once)`);
      }),
    );

  for (const [cmd, active] of [['disable', false], ['enable', true]] as const) {
    users
      .command(cmd)
      .description(active ? 'allow the user to log in again' : 'stop the user from logging in and end their sessions and tokens')
      .argument('<name>')
      .option('--json', 'JSON output')
      .action(async (name: string, o: { json?: boolean }) =>
        withContext(!!o.json, async (ctx) => {
          const u = await userByName(ctx, name);
          const r = await updateUser(await ctx.db(), u.id, { active, actor: actor() });
          if (o.json) return printJson(r);
          printLine(`user ${describe(r)}`);
        }),
      );
  }

  users
    .command('set-role')
    .description('change a user\'s role')
    .argument('<name>')
    .argument('<role>', ROLES.join(' | '))
    .option('--json', 'JSON output')
    .action(async (name: string, role: string, o: { json?: boolean }) =>
      withContext(!!o.json, async (ctx) => {
        const u = await userByName(ctx, name);
        const r = await updateUser(await ctx.db(), u.id, { role, actor: actor() });
        if (o.json) return printJson(r);
        printLine(`user ${describe(r)}`);
      }),
    );
}
