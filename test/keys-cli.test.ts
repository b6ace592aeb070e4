/**
 * `kadi keys ...` and `kadi sod ...` end to end: `node bin/kadi.mjs` spawned with KADI_HOME pointing at a temp
 * directory holding a SoftHSM token made by scripts/services.sh. One database per algorithm (the ceremony runs
 * once per database), one token for all.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_ALGORITHMS } from '../src/pki/index.ts';
import { makeConfig, startServices, type ServiceInfo } from './support/services.ts';

const REPO = path.resolve(import.meta.dirname, '..');
let home: string;
let info: ServiceInfo;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

function kadi(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO, 'bin/kadi.mjs'), ...args], {
      cwd: home,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/root',
        LANG: 'C.UTF-8',
        KADI_HOME: home,
        KADI_ACTOR: 'custodian.otieno',
        SOFTHSM2_CONF: info.softhsmConf,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code: code ?? -1, stdout, stderr, json });
    });
  });
}

const file = (name: string): string => path.join(home, name);

beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), 'kadi-cli-keys-'));
  info = await startServices(await makeConfig(home, { readers: 1 }), ['softhsm']);
  writeFileSync(file('dg1.bin'), Buffer.from('615D5F1F5A' + Buffer.from('I<UTOD231458907<<<<<<<<<<<<<<<7408122F1204159UTO<<<<<<<<<<<6ERIKSSON<<ANNA<MARIA<<<<<<<<<<').toString('hex'), 'hex'));
  writeFileSync(file('dg2.bin'), Buffer.concat([Buffer.from([0x75, 0x82, 0x3a, 0x98]), Buffer.alloc(15_000, 0x5a)]));
  writeFileSync(file('dg11.bin'), Buffer.from('6B0A5C025F0E5F0E034B454E', 'hex'));
});
afterAll(() => {
  rmSync(home, { recursive: true, force: true });
});

describe.each(KEY_ALGORITHMS)('kadi keys + sod with %s', (alg) => {
  const env = { KADI_DB_URL: `sqlite:${alg}.sqlite` };
  let csca = '';
  let sod = '';
  let dsSerial = '';
  beforeAll(() => {
    csca = file(`csca-${alg}.pem`);
    sod = file(`sod-${alg}.bin`);
  });

  it('runs the ceremony (--json) and lists the keys', async () => {
    const r = await kadi(['keys', 'ceremony', '--algorithm', alg, '--json'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ csca: { kind: 'CSCA', algorithm: alg, status: 'ACTIVE' }, ds: { kind: 'DS', algorithm: alg }, crl: { crlNumber: 1 } });
    dsSerial = r.json.ds.serial;
    const again = await kadi(['keys', 'ceremony', '--json'], env);
    expect(again.code).not.toBe(0);
    expect(again.json.error.code).toBe('KEYS_CSCA_EXISTS');
    const list = await kadi(['keys', 'list', '--json'], env);
    expect(list.code).toBe(0);
    expect(list.json.map((k: { kind: string; inUsagePeriod: boolean }) => [k.kind, k.inUsagePeriod])).toEqual([
      ['DS', true],
      ['CSCA', true],
    ]);
  });

  it('exports the CSCA, signs data groups and verifies the EF.SOD', async () => {
    const ex = await kadi(['keys', 'export', '--csca', csca], env);
    expect(ex.code).toBe(0);
    expect(readFileSync(csca, 'utf8')).toContain('-----BEGIN CERTIFICATE-----');
    const s = await kadi(['sod', 'sign', '--dg', `1=${file('dg1.bin')}`, '--dg', `2=${file('dg2.bin')}`, '--dg', `11=${file('dg11.bin')}`, '--out', sod, '--json'], env);
    expect(s.stderr).toBe('');
    expect(s.code).toBe(0);
    expect(s.json).toMatchObject({ dataGroups: [1, 2, 11], signer: { serial: dsSerial, algorithm: alg } });
    expect(readFileSync(sod)[0]).toBe(0x77);
    const v = await kadi(['sod', 'verify', sod, '--csca', csca, '--dg', `1=${file('dg1.bin')}`, '--dg', `2=${file('dg2.bin')}`, '--json']);
    expect(v.code).toBe(0);
    expect(v.json).toMatchObject({ signatureValid: true, chainValid: true, digestAlgorithm: 'sha256', dgMatches: { '1': true, '2': true } });
    expect(Object.keys(v.json.dataGroups)).toEqual(['1', '2', '11']);
    expect(v.json.dataGroups['2']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('exits non-zero for a tampered data group or signature', async () => {
    const dg2 = readFileSync(file('dg2.bin'));
    dg2[100] = dg2[100]! ^ 1;
    writeFileSync(file(`dg2-bad-${alg}.bin`), dg2);
    const v = await kadi(['sod', 'verify', sod, '--csca', csca, '--dg', `2=${file(`dg2-bad-${alg}.bin`)}`, '--json']);
    expect(v.code).not.toBe(0);
    expect(v.json).toMatchObject({ signatureValid: true, dgMatches: { '2': false } });
    const bytes = readFileSync(sod);
    bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 1;
    writeFileSync(file(`sod-bad-${alg}.bin`), bytes);
    const w = await kadi(['sod', 'verify', file(`sod-bad-${alg}.bin`), '--csca', csca, '--json']);
    expect(w.code).not.toBe(0);
    expect(w.json.signatureValid).toBe(false);
    const human = await kadi(['sod', 'verify', file(`sod-bad-${alg}.bin`), '--csca', csca]);
    expect(human.code).not.toBe(0);
    expect(human.stdout).toContain('INVALID');
  });

  it('rotates the DS, revokes the old one in a CRL, and verify --crl reports DS_REVOKED', async () => {
    const rot = await kadi(['keys', 'rotate-ds', '--json'], env);
    expect(rot.code).toBe(0);
    expect(rot.json.ds.serial).not.toBe(dsSerial);
    expect(rot.json.retired).toHaveLength(1);
    const crl = await kadi(['keys', 'crl', '--out', file(`crl-${alg}.der`), '--revoke', dsSerial, '--json'], env);
    expect(crl.code).toBe(0);
    expect(crl.json).toMatchObject({ crlNumber: 2, newlyRevoked: [dsSerial] });
    const v = await kadi(['sod', 'verify', sod, '--csca', csca, '--crl', file(`crl-${alg}.der`), '--json']);
    expect(v.code).not.toBe(0);
    expect(v.json).toMatchObject({ signatureValid: true, chainValid: false, chainReason: 'DS_REVOKED' });
    // The new DS still signs, and its EF.SOD passes with the same CRL.
    const s = await kadi(['sod', 'sign', '--dg', `1=${file('dg1.bin')}`, '--dg', `2=${file('dg2.bin')}`, '--out', file(`sod2-${alg}.bin`)], env);
    expect(s.code).toBe(0);
    const v2 = await kadi(['sod', 'verify', file(`sod2-${alg}.bin`), '--csca', csca, '--crl', file(`crl-${alg}.der`), '--json']);
    expect(v2.code).toBe(0);
    expect(v2.json).toMatchObject({ valid: true, crlChecked: true });
  });
});

describe('kadi keys/sod errors', () => {
  it('reports usage and HSM errors with codes and never prints the PIN', async () => {
    const pin = readFileSync(info.hsmPinFile, 'utf8').trim();
    const env = { KADI_DB_URL: 'sqlite:errors.sqlite' };
    const noCeremony = await kadi(['sod', 'sign', '--dg', `1=${file('dg1.bin')}`, '--dg', `2=${file('dg2.bin')}`, '--out', file('x.bin'), '--json'], env);
    expect(noCeremony.code).not.toBe(0);
    expect(noCeremony.json.error.code).toBe('KEYS_NO_DS');
    const wrongPin = await kadi(['keys', 'ceremony', '--json'], { ...env, KADI_HSM_PIN: 'wrong-pin-000' });
    expect(wrongPin.code).not.toBe(0);
    expect(wrongPin.json.error.code).toBe('HSM_LOGIN_FAILED');
    expect(wrongPin.stdout + wrongPin.stderr).not.toContain('wrong-pin-000');
    const wrongToken = await kadi(['keys', 'ceremony', '--json'], { ...env, KADI_HSM_TOKEN: 'other' });
    expect(wrongToken.json.error.code).toBe('HSM_TOKEN_NOT_FOUND');
    expect(wrongToken.stdout + wrongToken.stderr).not.toContain(pin);
    const badAlg = await kadi(['keys', 'ceremony', '--algorithm', 'dsa-1024'], env);
    expect(badAlg.code).not.toBe(0);
    expect(badAlg.stderr).toContain('must be one of ecdsa-p256, ecdsa-brainpoolp256r1, rsa-pss-2048');
    const missing = await kadi(['sod', 'verify', file('nope.bin'), '--csca', file('nope.pem'), '--json']);
    expect(missing.code).not.toBe(0);
    expect(missing.json.error.code).toBe('FILE_NOT_READABLE');
  });
});
