/**
 * What the API server is built from. Entry points (`kadi serve`, tests) open the databases and adapters and
 * pass them in; the API itself never reads the configuration or the environment (DESIGN.md §3).
 *
 * Optional parts turn routes on: without `registry`, POST /api/intake answers 503 INTAKE_UNAVAILABLE; without
 * `keys`, key operations answer 503 KEYS_UNAVAILABLE (listing keys works, it only reads the database).
 */
import type { Knex } from 'knex';
import type { DestinationStream, Level } from 'pino';
import type { CeremonyDefinition, KeyStore } from '../keys/index.ts';
import type { QcPolicy } from '../qc/index.ts';
import type { Clock } from '../shared/index.ts';
import type { RateLimitOptions } from './rate-limit.ts';
import type { ApiCounters, DashboardFeed } from './reports.ts';
import type { LoginLimiter } from './rate-limit.ts';
import type { SessionPolicy } from './users.ts';

export interface KeysApiDeps {
  /** Opens the HSM key store for one operation; closed when the operation ends. */
  openKeyStore(): KeyStore & { close(): void | Promise<void> };
  definition: CeremonyDefinition;
}

/** The production pipeline, built by the entry point (it owns the Redis connection and the stages). */
export interface PipelineApiDeps {
  /** Submits (or resubmits) a batch's flow: src/pipeline submitBatch with this installation's stages. */
  runBatch(batchId: number, actor: string): Promise<{ batchId: number; run: number; cards: number; jobs: number }>;
}

export interface ApiOptions {
  /** Session and token lifetimes (minutes); see users.ts. */
  sessions: SessionPolicy;
  /** Login rate limit (failures per window); see rate-limit.ts. */
  rateLimit: RateLimitOptions;
  /** Add `Secure` to the session cookie: set when the console is served over HTTPS (default false). */
  secureCookies: boolean;
  /** Trust X-Forwarded-For from a reverse proxy for the client address (default false). */
  trustProxy: boolean;
  /** Interval of the dashboard's server-sent events, in ms (default 2000). */
  eventsIntervalMs: number;
  /** Largest request body in bytes (default 1 MiB). */
  bodyLimit: number;
}

export const DEFAULT_API_OPTIONS: ApiOptions = {
  sessions: { sessionTtlMinutes: 720, sessionIdleMinutes: 30, tokenTtlMinutes: 43_200 },
  rateLimit: { maxFailures: 5, maxFailuresPerIp: 50, windowMs: 15 * 60_000, maxKeys: 100_000 },
  secureCookies: false,
  trustProxy: false,
  eventsIntervalMs: 2000,
  bodyLimit: 1024 * 1024,
};

export interface ApiDeps {
  /** The Kadi database, migrated. */
  db: Knex;
  /** The source registry (for intake). */
  registry?: Knex;
  /** Intake settings (from the configuration). */
  intake?: { minAge: number };
  keys?: KeysApiDeps;
  /** Without it, POST /api/batches/:id/run answers 503 PIPELINE_UNAVAILABLE. */
  pipeline?: PipelineApiDeps;
  /** QC policy for results submitted through the API (default: src/qc's, CHIP and FACE required). */
  qc?: { policy?: QcPolicy };
  clock?: Clock;
  options?: Partial<ApiOptions>;
  /** Log level (default info) and destination (default stdout). Personal data is never logged. */
  log?: { level?: Level | 'silent'; stream?: DestinationStream };
  /** Version string shown in the OpenAPI document. */
  version?: string;
}

/** What route modules receive: the deps plus the server's shared services. */
export interface ApiContext extends ApiDeps {
  clock: Clock;
  opts: ApiOptions;
  limiter: LoginLimiter;
  feed: DashboardFeed;
  counters: ApiCounters;
  /** Long-lived responses (event streams) to end when the server closes. */
  streams: Set<() => void>;
}
