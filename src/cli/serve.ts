/**
 * `kadi serve [--port P] [--host H]`: the HTTP API and the web console (src/api). Binds 127.0.0.1 by default;
 * put a TLS reverse proxy in front (and pass --secure-cookies --trust-proxy) to serve other machines.
 * Runs until SIGINT/SIGTERM, then closes the server (ending open event streams) and the databases.
 */
import { existsSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { buildServer, listUsers } from '../api/index.ts';
import { PIPELINE, redisConnection, submitBatch } from '../pipeline/index.ts';
import { isQcKind, QC_KINDS, type QcKind } from '../qc/index.ts';
import type { WithContext } from './run.ts';
import { DEFAULT_DEFINITION, loadDefinition, openHsm } from './keys.ts';
import { printLine } from './output.ts';

function portArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number from 0 to 65535');
  return n;
}

function kindsArg(v: string): QcKind[] {
  const kinds = v.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
  if (kinds.length === 0 || !kinds.every(isQcKind)) throw new InvalidArgumentError(`kinds are ${QC_KINDS.join(', ')}`);
  return kinds as QcKind[];
}

function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(sig);
    };
    const onInt = on('SIGINT');
    const onTerm = on('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}

export function registerServeCommand(program: Command, withContext: WithContext): void {
  program
    .command('serve')
    .description('start the HTTP API (/api, /openapi.json) and the web console (/console/)')
    .option('--port <port>', 'TCP port (0: any free port)', portArg, 8420)
    .option('--host <address>', 'address to bind; anything but loopback needs a TLS proxy in front', '127.0.0.1')
    .option('--secure-cookies', 'mark the session cookie Secure (when served over HTTPS)')
    .option('--trust-proxy', 'take the client address from X-Forwarded-For (behind a reverse proxy)')
    .option('--qc-require <kinds>', 'QC kinds a card must pass before QC_PASSED, e.g. chip,face,visual (default chip,face; match the pipeline)', kindsArg)
    .action(async (o: { port: number; host: string; secureCookies?: boolean; trustProxy?: boolean; qcRequire?: QcKind[] }) =>
      withContext(false, async (ctx) => {
        const db = await ctx.db();
        const cfg = ctx.config;
        const keys = existsSync(DEFAULT_DEFINITION)
          ? { openKeyStore: () => openHsm(cfg), definition: loadDefinition(DEFAULT_DEFINITION) }
          : undefined;
        // Batch runs: one Redis connection per submission (submissions are rare; workers hold their own).
        const pipeline = {
          runBatch: async (batchId: number, actor: string) => {
            const conn = redisConnection(cfg.redisUrl);
            try {
              return await submitBatch(db, conn, PIPELINE, batchId, actor);
            } finally {
              conn.disconnect();
            }
          },
        };
        const server = await buildServer({
          db,
          registry: ctx.registryDb(),
          intake: { minAge: cfg.minAge },
          ...(keys ? { keys } : {}),
          pipeline,
          ...(o.qcRequire ? { qc: { policy: { requiredKinds: o.qcRequire } } } : {}),
          log: { level: cfg.logLevel },
          options: { secureCookies: !!o.secureCookies, trustProxy: !!o.trustProxy },
        });
        try {
          await server.app.listen({ host: o.host, port: o.port });
          const addr = server.app.server.address();
          const port = typeof addr === 'object' && addr ? addr.port : o.port;
          const host = o.host.includes(':') ? `[${o.host}]` : o.host;
          printLine(`Kadi console: http://${host}:${port}/console/   API: http://${host}:${port}/api/   OpenAPI: http://${host}:${port}/openapi.json`);
          if ((await listUsers(db)).length === 0) printLine('No user yet: create the first admin with `kadi users add NAME --role admin`.');
          const sig = await waitForSignal();
          printLine(`${sig}: stopping`);
        } finally {
          await server.app.close();
        }
      }),
    );
}
