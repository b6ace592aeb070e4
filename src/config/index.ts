/**
 * Kadi's configuration: one validated object built once at start-up from the environment and an optional
 * JSON file (`KADI_CONFIG`, or `$KADI_HOME/kadi.json` when present). Environment wins over the file.
 * Only entry points (cli, api, scripts) call `loadConfig`; everything else receives the values it needs.
 *
 * Every option, its unit and default is listed in OPTIONS below and in README.md ("Configuration").
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../shared/index.ts';

export interface OptionDoc {
  env: string;
  description: string;
  default: string;
}

/** The documented options (README's configuration table is generated from this list by `kadi config --doc`). */
export const OPTIONS: readonly OptionDoc[] = [
  { env: 'KADI_HOME', description: 'Data directory: databases, HSM token, card store, outputs, logs.', default: './var' },
  { env: 'KADI_CONFIG', description: 'Optional JSON config file with the same keys (camelCase or env names).', default: '$KADI_HOME/kadi.json if present' },
  { env: 'KADI_DB_URL', description: 'Kadi database: `sqlite:PATH` / a file path, or `postgres://user@host:port/db`.', default: 'sqlite:$KADI_HOME/kadi.sqlite' },
  { env: 'KADI_REGISTRY_URL', description: 'Source registry database of approved enrolments (same URL forms).', default: 'sqlite:$KADI_HOME/registry.sqlite' },
  { env: 'KADI_REDIS_URL', description: 'Redis for the BullMQ work queues (loopback by default).', default: 'redis://127.0.0.1:6379' },
  { env: 'KADI_HSM_MODULE', description: 'PKCS#11 module path (SoftHSM, Luna, Utimaco, nShield, CloudHSM).', default: '/usr/lib/softhsm/libsofthsm2.so' },
  { env: 'KADI_HSM_TOKEN', description: 'Label of the PKCS#11 token holding Kadi keys.', default: 'kadi' },
  { env: 'KADI_HSM_PIN', description: 'User PIN of the token (prefer KADI_HSM_PIN_FILE; never logged).', default: '(unset)' },
  { env: 'KADI_HSM_PIN_FILE', description: 'File holding the user PIN (mode 600).', default: '$KADI_HOME/secrets/hsm-pin' },
  { env: 'SOFTHSM2_CONF', description: 'SoftHSM configuration file (only for the SoftHSM module).', default: '$KADI_HOME/softhsm/softhsm2.conf' },
  { env: 'KADI_READERS', description: 'Number of virtual encoder readers started by the demo (1-8).', default: '4' },
  { env: 'KADI_LOG_LEVEL', description: 'Log level: fatal, error, warn, info, debug, trace, silent.', default: 'info' },
  { env: 'KADI_ISSUING_STATE', description: 'ICAO 3-letter issuing state / nationality code.', default: 'KEN' },
  { env: 'KADI_MIN_AGE', description: 'Minimum applicant age in years at intake.', default: '18' },
  { env: 'KADI_BOX_CAPACITY', description: 'Cards per new dispatch box (pack stage, `kadi dispatch pack`).', default: '200' },
];

const dbUrl = z
  .string()
  .min(1)
  .refine((s) => /^(sqlite:|postgres(ql)?:\/\/|\/|\.)/.test(s) || !s.includes('://'), {
    message: 'must be sqlite:PATH, a file path, or postgres://user@host:port/db',
  });

const schema = z.object({
  home: z.string().min(1),
  dbUrl,
  registryUrl: dbUrl,
  redisUrl: z.string().regex(/^rediss?:\/\/[^\s]+$/, 'must be redis://host:port[/db]'),
  hsm: z.object({
    module: z.string().min(1),
    token: z.string().min(1).max(32, 'PKCS#11 token labels are at most 32 characters'),
    pinFile: z.string().min(1),
    softhsmConf: z.string().min(1),
  }),
  readers: z.coerce.number().int().min(1).max(8),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  issuingState: z.string().regex(/^[A-Z]{3}$/, 'must be a 3-letter ICAO code such as KEN'),
  minAge: z.coerce.number().int().min(0).max(120),
  boxCapacity: z.coerce.number().int().min(1).max(5000),
});

export type KadiConfig = z.infer<typeof schema> & {
  /** The PIN itself when given in the environment; otherwise read lazily from hsm.pinFile. Never logged. */
  readonly hsmPin?: string;
};

/** Maps config paths to the environment variable that sets them, so errors can name the key the user wrote. */
const ENV_OF: Record<string, string> = {
  home: 'KADI_HOME',
  dbUrl: 'KADI_DB_URL',
  registryUrl: 'KADI_REGISTRY_URL',
  redisUrl: 'KADI_REDIS_URL',
  'hsm.module': 'KADI_HSM_MODULE',
  'hsm.token': 'KADI_HSM_TOKEN',
  'hsm.pinFile': 'KADI_HSM_PIN_FILE',
  'hsm.softhsmConf': 'SOFTHSM2_CONF',
  readers: 'KADI_READERS',
  logLevel: 'KADI_LOG_LEVEL',
  issuingState: 'KADI_ISSUING_STATE',
  minAge: 'KADI_MIN_AGE',
  boxCapacity: 'KADI_BOX_CAPACITY',
};

type Env = Record<string, string | undefined>;

function readFileConfig(file: string): Env {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`KADI_CONFIG: cannot read ${file} as JSON (${(e as Error).message})`, {
      hint: 'Fix the file or unset KADI_CONFIG.',
    });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`KADI_CONFIG: ${file} must hold a JSON object`);
  }
  const out: Env = {};
  const known = new Set(OPTIONS.map((o) => o.env));
  for (const [k, v] of Object.entries(parsed)) {
    const envName = known.has(k) ? k : ENV_OF[k];
    if (!envName) {
      throw new ConfigError(`KADI_CONFIG: unknown key "${k}" in ${file}`, {
        hint: `Known keys: ${[...known].join(', ')}`,
      });
    }
    out[envName] = String(v);
  }
  return out;
}

/** Normalises a database URL: bare paths become sqlite:ABSOLUTE_PATH. */
export function normaliseDbUrl(url: string, home: string): string {
  if (/^postgres(ql)?:\/\//.test(url)) return url;
  const p = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  if (p === ':memory:') return 'sqlite::memory:';
  return `sqlite:${path.resolve(home, p)}`;
}

/**
 * Builds and validates the configuration. Throws ConfigError naming the offending key.
 * @param env the environment (default process.env)
 */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): KadiConfig {
  const home0 = env.KADI_HOME && env.KADI_HOME.trim() !== '' ? env.KADI_HOME : './var';
  const home = path.resolve(cwd, home0);
  const fileName = env.KADI_CONFIG ?? (existsSync(path.join(home, 'kadi.json')) ? path.join(home, 'kadi.json') : undefined);
  const fromFile = fileName ? readFileConfig(path.resolve(cwd, fileName)) : {};
  const get = (k: string): string | undefined => {
    const v = env[k] ?? fromFile[k];
    return v === undefined || v === '' ? undefined : v;
  };

  const raw = {
    home,
    dbUrl: get('KADI_DB_URL') ?? 'sqlite:kadi.sqlite',
    registryUrl: get('KADI_REGISTRY_URL') ?? 'sqlite:registry.sqlite',
    redisUrl: get('KADI_REDIS_URL') ?? 'redis://127.0.0.1:6379',
    hsm: {
      module: get('KADI_HSM_MODULE') ?? '/usr/lib/softhsm/libsofthsm2.so',
      token: get('KADI_HSM_TOKEN') ?? 'kadi',
      pinFile: path.resolve(home, get('KADI_HSM_PIN_FILE') ?? 'secrets/hsm-pin'),
      softhsmConf: path.resolve(home, get('SOFTHSM2_CONF') ?? 'softhsm/softhsm2.conf'),
    },
    readers: get('KADI_READERS') ?? '4',
    logLevel: get('KADI_LOG_LEVEL') ?? 'info',
    issuingState: get('KADI_ISSUING_STATE') ?? 'KEN',
    minAge: get('KADI_MIN_AGE') ?? '18',
    boxCapacity: get('KADI_BOX_CAPACITY') ?? '200',
  };

  const res = schema.safeParse(raw);
  if (!res.success) {
    const issue = res.error.issues[0]!;
    const key = issue.path.join('.');
    const envName = ENV_OF[key] ?? key;
    throw new ConfigError(`${envName}: ${issue.message}`, {
      hint: `Set ${envName} to a valid value (see README "Configuration").`,
      details: { key: envName },
    });
  }
  const cfg: KadiConfig = {
    ...res.data,
    dbUrl: normaliseDbUrl(res.data.dbUrl, home),
    registryUrl: normaliseDbUrl(res.data.registryUrl, home),
    ...(get('KADI_HSM_PIN') ? { hsmPin: get('KADI_HSM_PIN') } : {}),
  };
  // Keep the PIN out of accidental JSON dumps and console.log.
  if (cfg.hsmPin !== undefined) Object.defineProperty(cfg, 'hsmPin', { enumerable: false });
  return cfg;
}

/** Reads the HSM user PIN (environment first, then the PIN file). Never log the result. */
export function readHsmPin(cfg: KadiConfig): string {
  if (cfg.hsmPin) return cfg.hsmPin;
  try {
    return readFileSync(cfg.hsm.pinFile, 'utf8').trim();
  } catch {
    throw new ConfigError(`KADI_HSM_PIN_FILE: cannot read the PIN file ${cfg.hsm.pinFile}`, {
      hint: 'Run `kadi services start softhsm` (creates the token and PIN file) or set KADI_HSM_PIN.',
      details: { key: 'KADI_HSM_PIN_FILE' },
    });
  }
}
