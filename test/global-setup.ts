/**
 * vitest globalSetup: the real services (Redis, pcscd with 8 vpcd readers, a SoftHSM token and
 * PostgreSQL unless KADI_TEST_PG=0) are started ONCE per vitest run, in a temp KADI_HOME under
 * os.tmpdir(), through scripts/services.sh, and stopped by PID when the run ends.
 *
 * How vitest 4.1 runs globalSetup with projects (read from vitest/dist and checked with a probe config):
 *  - Before running, vitest calls `_initializeGlobalSetup()` for every project that has test files in
 *    this run, and ALWAYS also for the root project (`initializeGlobalSetup` adds it unconditionally).
 *    So the root config's `globalSetup` runs even for `vitest run --project unit` or a run of one
 *    src/ file, while a project's own `globalSetup` runs only when that project has files to run.
 *  - Each project loads the file through its own module runner: module-level variables are NOT shared
 *    between projects (a module singleton would start the services once per project). `globalThis` is
 *    shared (same Node process), so the run-wide state lives there, with a reference count.
 *  - Order: projects with tests first (in spec order), the root project last; teardowns run in
 *    reverse at close.
 *  - `project.provide()` on the root project is inherited by every project; on a project it is local.
 *    Each project that needs the services provides them itself.
 *  - Inline projects without `extends: true` do not inherit root test options (testTimeout,
 *    hookTimeout, globalSetup...): that is why vitest.config.ts repeats globalSetup per project.
 *
 * Hence: a call for the root project (when it is not itself a test project) or for a project listed in
 * NO_SERVICES does nothing; the first call from a project that needs services starts them; later calls
 * reuse them; the last teardown stops them. A process 'exit' hook stops them if vitest exits without
 * tearing down, and a new run reaps the leftovers of runs that were killed outright.
 *
 * Workers inherit the main process environment at spawn time (after globalSetup), so this also sets
 * PCSCLITE_CSOCK_NAME (libpcsclite's socket path; it is read once per process at the first PC/SC call)
 * and SOFTHSM2_CONF (read by SoftHSM at C_Initialize) for every test process.
 *
 * Tests read the connection info with testServices() from test/support/env.ts.
 * KADI_TEST_KEEP_HOME=1 keeps the temp KADI_HOME (logs, token) after the run.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import {
  createServicesHome,
  HOME_PREFIX,
  makeConfig,
  startServices,
  stopServices,
  stopServicesSync,
  type ServiceConfig,
  type ServiceInfo,
  type ServiceName,
} from './support/services.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Services of this vitest run (test/global-setup.ts); undefined in projects that get none (unit). */
    kadiServices: ServiceInfo | undefined;
  }
}

/** Projects that never need services (pure unit tests). */
const NO_SERVICES = new Set(['unit']);
/** Environment variables set for the workers of this run. */
const ENV_KEYS = ['PCSCLITE_CSOCK_NAME', 'SOFTHSM2_CONF'] as const;

interface RunState {
  refs: number;
  home: string;
  services: ServiceName[];
  cfg?: ServiceConfig;
  ready: Promise<ServiceInfo>;
  /** Start-up failed: every project gets the same error, nothing is retried. */
  failed?: boolean;
  stopping?: Promise<void>;
  savedEnv: Partial<Record<(typeof ENV_KEYS)[number], string | undefined>>;
}

const STATE = Symbol.for('kadi.test.services');
type GlobalWithState = typeof globalThis & { [STATE]?: RunState };

function needsServices(project: TestProject): boolean {
  if (project.isRootProject() && !project.vitest.projects.includes(project)) return false;
  return !NO_SERVICES.has(project.name);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A config good enough to stop whatever runs under `home` (stop only uses PID files). */
async function stopConfig(home: string): Promise<ServiceConfig> {
  return makeConfig(home, { redisPort: 6379, pgPort: 5432, vpcdBasePort: 35963 });
}

/** Stops and removes the KADI_HOME of earlier runs whose vitest process is gone (killed with -9...). */
async function reapOrphans(): Promise<void> {
  const tmp = os.tmpdir();
  for (const name of readdirSync(tmp)) {
    if (!name.startsWith(HOME_PREFIX)) continue;
    const home = path.join(tmp, name);
    const ownerFile = path.join(home, 'owner.pid');
    if (!existsSync(ownerFile)) continue;
    const owner = Number(readFileSync(ownerFile, 'utf8').trim());
    if (!Number.isInteger(owner) || owner <= 0 || pidAlive(owner)) continue;
    try {
      stopServicesSync(await stopConfig(home));
      rmSync(home, { recursive: true, force: true });
      process.stderr.write(`kadi: stopped services left by an earlier test run in ${home}\n`);
    } catch (e) {
      process.stderr.write(`kadi: could not clean ${home}: ${(e as Error).message}\n`);
    }
  }
}

function applyEnv(state: RunState, info: ServiceInfo): void {
  const values: Record<(typeof ENV_KEYS)[number], string> = {
    PCSCLITE_CSOCK_NAME: info.pcscSocket,
    SOFTHSM2_CONF: info.softhsmConf,
  };
  for (const k of ENV_KEYS) {
    state.savedEnv[k] = process.env[k];
    process.env[k] = values[k];
  }
}

function restoreEnv(state: RunState): void {
  for (const k of ENV_KEYS) {
    if (!(k in state.savedEnv)) continue;
    const v = state.savedEnv[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

function removeHome(home: string): void {
  if (process.env.KADI_TEST_KEEP_HOME === '1') {
    process.stderr.write(`kadi: test services home kept: ${home}\n`);
    return;
  }
  rmSync(home, { recursive: true, force: true });
}

function begin(): RunState {
  const home = createServicesHome();
  const services: ServiceName[] = ['redis', 'pcscd', 'softhsm'];
  if (process.env.KADI_TEST_PG !== '0') services.push('postgres');
  const state = { refs: 0, home, services, savedEnv: {} } as Omit<RunState, 'ready'> as RunState;

  // Last resort when vitest exits without teardown (only synchronous code runs in 'exit').
  const onExit = (): void => {
    if (state.stopping || !state.cfg) return;
    try {
      stopServicesSync(state.cfg);
      removeHome(home);
    } catch {
      // nothing more can be done while exiting; the next run reaps it (owner.pid is dead)
    }
  };
  process.once('exit', onExit);

  state.ready = (async () => {
    await reapOrphans();
    const cfg = await makeConfig(home, { readers: 8, pgFast: true });
    state.cfg = cfg;
    try {
      const info = await startServices(cfg, services);
      applyEnv(state, info);
      process.stderr.write(
        `kadi: test services in ${home}: ${services.join(', ')} ` +
          `(redis :${cfg.redisPort}, ${info.readers} readers on vpcd :${info.readerBasePort}` +
          `${info.pgUrl ? `, postgres :${cfg.pgPort}` : ''})\n`,
      );
      return info;
    } catch (e) {
      state.failed = true;
      await end(state, { keepHome: true }).catch(() => undefined);
      if (e instanceof Error) e.message += `\n(kept ${home} for inspection)`;
      throw e;
    }
  })();
  return state;
}

function end(state: RunState, opts: { keepHome?: boolean } = {}): Promise<void> {
  state.stopping ??= (async () => {
    restoreEnv(state);
    if (state.cfg) await stopServices(state.cfg); // throws: the home is kept for inspection
    if (!opts.keepHome) removeHome(state.home);
  })();
  return state.stopping;
}

export async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (!needsServices(project)) return undefined;
  const g = globalThis as GlobalWithState;
  // A new state only on the first call of this process (or after a completed run, e.g. the
  // Node API creating Vitest twice); a failed start-up is not retried by the next project.
  if (!g[STATE] || (g[STATE].stopping && !g[STATE].failed)) g[STATE] = begin();
  const state = g[STATE];
  state.refs++;
  let info: ServiceInfo;
  try {
    info = await state.ready;
  } catch (e) {
    state.refs--;
    throw e;
  }
  project.provide('kadiServices', info);

  let tornDown = false;
  return async () => {
    if (tornDown) return;
    tornDown = true;
    state.refs--;
    if (state.refs === 0) await end(state);
  };
}
