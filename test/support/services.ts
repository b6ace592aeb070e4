/**
 * Drives scripts/services.sh from tests: starts and stops private instances of Redis, PostgreSQL,
 * pcscd (+ vpcd virtual readers) and a SoftHSM token under a given KADI_HOME, on free loopback ports,
 * and returns how to reach them.
 *
 * Everything goes through the script (one implementation for operators, the demo and tests). The
 * script's environment is built explicitly here (PATH and a few basics plus the KADI_* settings), so a
 * developer's own KADI_HSM_PIN, KADI_REDIS_PORT... never leak into a test run.
 *
 * Used by test/global-setup.ts (once per vitest run) and by test/services.test.ts.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SERVICES_SH = path.join(REPO_ROOT, 'scripts', 'services.sh');
export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

export type ServiceName = 'redis' | 'postgres' | 'pcscd' | 'softhsm';
/** Start order; stop runs in reverse. */
export const ALL_SERVICES: readonly ServiceName[] = ['redis', 'postgres', 'pcscd', 'softhsm'];

/** One vpcd slot: the reader name PC/SC clients see and the TCP port a virtual card connects to. */
export interface ReaderSlot {
  name: string;
  port: number;
}

/** Connection information for a set of running services. Plain data: it is passed to tests with provide(). */
export interface ServiceInfo {
  /** KADI_HOME of these services (temp directory for a test run). */
  home: string;
  /** redis://127.0.0.1:PORT/0 */
  redisUrl: string;
  /** postgres://postgres@127.0.0.1:PORT/kadi (superuser, trust auth); absent when PostgreSQL was not started. */
  pgUrl?: string;
  /** pcscd's client socket: set PCSCLITE_CSOCK_NAME to it before the first PC/SC call of a process. */
  pcscSocket: string;
  /** vpcd port of reader 0 slot 0; reader i slot j listens on readerBasePort + 2i + j (127.0.0.1). */
  readerBasePort: number;
  /** Number of vpcd readers (2 slots each). */
  readers: number;
  /** Every slot, ordered by port, with the name pcscd gives it ("Kadi Encoder 3 00 01"). */
  slots: ReaderSlot[];
  /** SOFTHSM2_CONF for these services. */
  softhsmConf: string;
  /** PKCS#11 module path. */
  hsmModule: string;
  /** Token label. */
  hsmToken: string;
  /** File holding the token's user PIN (mode 600). Read it; never log it. */
  hsmPinFile: string;
}

/** Prefix of service homes in os.tmpdir(); test/global-setup.ts reaps those whose owner.pid is dead. */
export const HOME_PREFIX = 'kadi-services-';

/**
 * A new, empty KADI_HOME in os.tmpdir(), marked with the PID of this process (owner.pid): if the
 * process dies without stopping what it started there, the next vitest run stops it and removes it.
 */
export function createServicesHome(label = ''): string {
  const home = mkdtempSync(path.join(os.tmpdir(), `${HOME_PREFIX}${label}`));
  writeFileSync(path.join(home, 'owner.pid'), `${process.pid}\n`);
  return home;
}

/** Settings handed to scripts/services.sh. */
export interface ServiceConfig {
  home: string;
  redisPort: number;
  pgPort: number;
  readers: number;
  vpcdBasePort: number;
  hsmToken: string;
  /** KADI_PG_FAST=1: fsync and synchronous_commit off (throw-away test clusters). */
  pgFast: boolean;
}

export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A free TCP port on 127.0.0.1 (the kernel's choice for port 0). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * The first of `count` consecutive free loopback ports (vpcd needs a contiguous block: 2 per reader).
 * Tries random bases in 20000-59999 so concurrent test runs on one machine rarely collide; the
 * script re-checks the ports before starting pcscd.
 */
export async function freePortBlock(count: number): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (40_000 - count));
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await canListen(p);
    if (ok) return base;
  }
  throw new Error(`no block of ${count} free loopback ports found`);
}

/** Completes a partial configuration with free ports and defaults (8 readers, token "kadi"). */
export async function makeConfig(home: string, partial: Partial<Omit<ServiceConfig, 'home'>> = {}): Promise<ServiceConfig> {
  const readers = partial.readers ?? 8;
  return {
    home,
    redisPort: partial.redisPort ?? (await freePort()),
    pgPort: partial.pgPort ?? (await freePort()),
    readers,
    vpcdBasePort: partial.vpcdBasePort ?? (await freePortBlock(2 * readers)),
    hsmToken: partial.hsmToken ?? 'kadi',
    pgFast: partial.pgFast ?? true,
  };
}

/** The configuration behind a ServiceInfo (to call services.sh again for the same services). */
export function configFromInfo(info: ServiceInfo): ServiceConfig {
  return {
    home: info.home,
    redisPort: Number(new URL(info.redisUrl).port),
    pgPort: info.pgUrl ? Number(new URL(info.pgUrl).port) : 5432,
    readers: info.readers,
    vpcdBasePort: info.readerBasePort,
    hsmToken: info.hsmToken,
    pgFast: true,
  };
}

/** The complete environment of a services.sh run: explicit, nothing inherited but the basics. */
export function scriptEnv(cfg: ServiceConfig): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
    HOME: process.env.HOME ?? '/root',
    LANG: 'C.UTF-8',
    KADI_HOME: cfg.home,
    KADI_REDIS_PORT: String(cfg.redisPort),
    KADI_PG_PORT: String(cfg.pgPort),
    KADI_READERS: String(cfg.readers),
    KADI_VPCD_BASE_PORT: String(cfg.vpcdBasePort),
    KADI_HSM_TOKEN: cfg.hsmToken,
    KADI_PG_FAST: cfg.pgFast ? '1' : '0',
  };
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  if (process.env.KADI_PCSCD_DEBUG) env.KADI_PCSCD_DEBUG = process.env.KADI_PCSCD_DEBUG;
  return env;
}

/** Runs `services.sh ARGS...`; resolves with the exit code and output (never rejects on a non-zero exit). */
export function runServicesScript(cfg: ServiceConfig, args: string[], timeoutMs = 180_000): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [SERVICES_SH, ...args],
      { env: scriptEnv(cfg), cwd: REPO_ROOT, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 << 20 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          reject(new Error(`services.sh ${args.join(' ')}: ${err.message}\n${stderr}`));
          return;
        }
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
  });
}

async function runOrThrow(cfg: ServiceConfig, args: string[]): Promise<ScriptResult> {
  const r = await runServicesScript(cfg, args);
  if (r.code !== 0) {
    throw new Error(`scripts/services.sh ${args.join(' ')} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
  }
  return r;
}

/** KEY=VALUE lines of a file such as $KADI_HOME/pcsc/env. */
export function readEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** Connection information for the services of `cfg` (reads the files services.sh wrote). */
export function serviceInfo(cfg: ServiceConfig, started: readonly ServiceName[]): ServiceInfo {
  const pcscDir = path.join(cfg.home, 'pcsc');
  let pcscSocket = path.join(pcscDir, 'pcscd.comm');
  let readerBasePort = cfg.vpcdBasePort;
  let readers = cfg.readers;
  let slots: ReaderSlot[] = [];
  if (started.includes('pcscd')) {
    const env = readEnvFile(path.join(pcscDir, 'env'));
    pcscSocket = env.PCSCLITE_CSOCK_NAME ?? pcscSocket;
    readerBasePort = Number(env.KADI_VPCD_BASE_PORT ?? readerBasePort);
    readers = Number(env.KADI_READERS ?? readers);
    slots = readFileSync(path.join(pcscDir, 'readers'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [name, port] = line.split('\t');
        return { name: name!, port: Number(port) };
      });
  }
  const info: ServiceInfo = {
    home: cfg.home,
    redisUrl: `redis://127.0.0.1:${cfg.redisPort}/0`,
    pcscSocket,
    readerBasePort,
    readers,
    slots,
    softhsmConf: path.join(cfg.home, 'softhsm', 'softhsm2.conf'),
    hsmModule: SOFTHSM_MODULE,
    hsmToken: cfg.hsmToken,
    hsmPinFile: path.join(cfg.home, 'secrets', 'hsm-pin'),
  };
  if (started.includes('postgres')) info.pgUrl = `postgres://postgres@127.0.0.1:${cfg.pgPort}/kadi`;
  return info;
}

function ordered(services: readonly ServiceName[]): ServiceName[] {
  return ALL_SERVICES.filter((s) => services.includes(s));
}

/** Starts `services` for `cfg` (idempotent, like the script) and returns how to reach them. */
export async function startServices(cfg: ServiceConfig, services: readonly ServiceName[]): Promise<ServiceInfo> {
  const list = ordered(services);
  await runOrThrow(cfg, ['start', ...list]);
  return serviceInfo(cfg, list);
}

/** Stops `services` (default: everything under cfg.home, PostgreSQL included) by PID. */
export async function stopServices(cfg: ServiceConfig, services: readonly ServiceName[] = ALL_SERVICES): Promise<void> {
  await runOrThrow(cfg, ['stop', ...ordered(services)]);
}

/** Synchronous stop, for process 'exit' handlers where nothing asynchronous runs any more. */
export function stopServicesSync(cfg: ServiceConfig, services: readonly ServiceName[] = ALL_SERVICES): void {
  execFileSync('bash', [SERVICES_SH, 'stop', ...ordered(services)], {
    env: scriptEnv(cfg),
    cwd: REPO_ROOT,
    stdio: 'ignore',
    timeout: 120_000,
  });
}

/** `services.sh status ...`: ok when every requested service is up; one line per service. */
export async function servicesStatus(
  cfg: ServiceConfig,
  services: readonly ServiceName[],
): Promise<{ ok: boolean; lines: string[] }> {
  const r = await runServicesScript(cfg, ['status', ...ordered(services)]);
  return { ok: r.code === 0, lines: r.stdout.split('\n').filter(Boolean) };
}

/** The PID of a running service as `status` reports it, or undefined. */
export function pidFromStatus(lines: readonly string[], service: ServiceName): number | undefined {
  const line = lines.find((l) => l.startsWith(`${service}: running `));
  const m = line && /\bpid=(\d+)/.exec(line);
  return m ? Number(m[1]) : undefined;
}
