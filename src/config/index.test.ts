import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../shared/index.ts';
import { loadConfig, OPTIONS, readHsmPin } from './index.ts';

const cwd = '/srv/kadi';

function errorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, cwd);
  } catch (e) {
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('has documented defaults rooted in KADI_HOME', () => {
    const c = loadConfig({}, cwd);
    expect(c.home).toBe('/srv/kadi/var');
    expect(c.dbUrl).toBe('sqlite:/srv/kadi/var/kadi.sqlite');
    expect(c.registryUrl).toBe('sqlite:/srv/kadi/var/registry.sqlite');
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.hsm).toEqual({
      module: '/usr/lib/softhsm/libsofthsm2.so',
      token: 'kadi',
      pinFile: '/srv/kadi/var/secrets/hsm-pin',
      softhsmConf: '/srv/kadi/var/softhsm/softhsm2.conf',
    });
    expect(c.readers).toBe(4);
    expect(c.issuingState).toBe('KEN');
  });

  it('takes values from the environment', () => {
    const c = loadConfig(
      { KADI_HOME: '/data', KADI_DB_URL: 'postgres://kadi@127.0.0.1:5432/kadi', KADI_READERS: '8', KADI_HSM_TOKEN: 'prod' },
      cwd,
    );
    expect(c.home).toBe('/data');
    expect(c.dbUrl).toBe('postgres://kadi@127.0.0.1:5432/kadi');
    expect(c.readers).toBe(8);
    expect(c.hsm.token).toBe('prod');
  });

  it.each([
    [{ KADI_REDIS_URL: 'http://localhost' }, 'KADI_REDIS_URL'],
    [{ KADI_DB_URL: 'mysql://x@y/z' }, 'KADI_DB_URL'],
    [{ KADI_REGISTRY_URL: 'oracle://x' }, 'KADI_REGISTRY_URL'],
    [{ KADI_READERS: '0' }, 'KADI_READERS'],
    [{ KADI_READERS: '12' }, 'KADI_READERS'],
    [{ KADI_READERS: 'four' }, 'KADI_READERS'],
    [{ KADI_LOG_LEVEL: 'loud' }, 'KADI_LOG_LEVEL'],
    [{ KADI_ISSUING_STATE: 'Kenya' }, 'KADI_ISSUING_STATE'],
    [{ KADI_HSM_TOKEN: 'x'.repeat(33) }, 'KADI_HSM_TOKEN'],
    [{ KADI_MIN_AGE: '-1' }, 'KADI_MIN_AGE'],
    [{ KADI_BOX_CAPACITY: '0' }, 'KADI_BOX_CAPACITY'],
  ])('names the bad key %o', (env, key) => {
    const e = errorOf(env);
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message.startsWith(`${key}:`)).toBe(true);
    expect(e.details).toEqual({ key });
  });

  it('reads an optional JSON file, with the environment winning', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kadi-cfg-'));
    const file = path.join(dir, 'kadi.json');
    writeFileSync(file, JSON.stringify({ redisUrl: 'redis://127.0.0.1:7000', KADI_READERS: 2 }));
    const c = loadConfig({ KADI_CONFIG: file, KADI_READERS: '3' }, cwd);
    expect(c.redisUrl).toBe('redis://127.0.0.1:7000');
    expect(c.readers).toBe(3);
  });

  it('rejects unknown keys and bad JSON in the file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kadi-cfg-'));
    writeFileSync(path.join(dir, 'a.json'), JSON.stringify({ redisURL: 'x' }));
    writeFileSync(path.join(dir, 'b.json'), '{nope');
    expect(errorOf({ KADI_CONFIG: path.join(dir, 'a.json') }).message).toMatch(/unknown key "redisURL"/);
    expect(errorOf({ KADI_CONFIG: path.join(dir, 'b.json') }).message).toMatch(/^KADI_CONFIG:/);
  });

  it('never exposes the PIN in JSON and reads it from env or file', () => {
    const c = loadConfig({ KADI_HSM_PIN: 'not-a-real-pin' }, cwd);
    expect(JSON.stringify(c)).not.toContain('not-a-real-pin');
    expect(readHsmPin(c)).toBe('not-a-real-pin');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kadi-cfg-'));
    writeFileSync(path.join(dir, 'pin'), 'from-file\n');
    expect(readHsmPin(loadConfig({ KADI_HSM_PIN_FILE: path.join(dir, 'pin') }, cwd))).toBe('from-file');
    const missing = loadConfig({ KADI_HSM_PIN_FILE: path.join(dir, 'nope') }, cwd);
    expect(() => readHsmPin(missing)).toThrow(/KADI_HSM_PIN_FILE/);
  });

  it('documents every option it reads', () => {
    const documented = new Set(OPTIONS.map((o) => o.env));
    for (const k of ['KADI_HOME', 'KADI_DB_URL', 'KADI_REGISTRY_URL', 'KADI_REDIS_URL', 'KADI_HSM_MODULE', 'KADI_HSM_TOKEN', 'KADI_HSM_PIN', 'KADI_HSM_PIN_FILE', 'SOFTHSM2_CONF', 'KADI_READERS']) {
      expect(documented.has(k)).toBe(true);
    }
  });
});
