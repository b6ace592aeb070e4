/**
 * The real services of a test run (test/global-setup.ts -> scripts/services.sh) answer like the real
 * thing: Redis PING, PostgreSQL SELECT 1, pcscd lists the 16 vpcd slots on its private socket and moves
 * APDUs to a virtual card, SoftHSM logs in with the generated PIN. Plus the script's own contract:
 * idempotent start, truthful status, stop by PID, restart after kill -9.
 *
 * Runs in the `sqlite` project only (not a *.db.test.ts file).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import knex from 'knex';
import pcsclite from 'pcsclite';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimReaderSlots, readHsmPin, testServices, type TestServices } from './support/env.ts';
import {
  configFromInfo,
  createServicesHome,
  makeConfig,
  pidFromStatus,
  runServicesScript,
  servicesStatus,
  startServices,
  stopServices,
  type ServiceConfig,
  type ServiceName,
} from './support/services.ts';

type PcscReader = Parameters<Parameters<ReturnType<typeof pcsclite>['on']>[1]>[0] & {
  name: string;
};

/** PKCS#11 2.40 session state "R/W user functions" (pkcs11js exports no CKS_* constants). */
const CKS_RW_USER_FUNCTIONS = 3;

/** The 16 slot names pcscd gives 8 vpcd readers ("FRIENDLYNAME" + " %02X %02X" reader/slot numbers). */
function expectedSlotNames(readers: number): string[] {
  const names: string[] = [];
  for (let i = 0; i < readers; i++) for (const j of ['00', '01']) names.push(`Kadi Encoder ${i} 00 ${j}`);
  return names;
}

/** True while PID is a live process (zombies, which wait to be reaped, count as gone). */
function processRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Opens the PC/SC context (on PCSCLITE_CSOCK_NAME) and collects readers until `want` are seen. */
async function withReaders<T>(want: number, use: (readers: Map<string, PcscReader>) => Promise<T>): Promise<T> {
  const pcsc = pcsclite();
  const readers = new Map<string, PcscReader>();
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`saw ${readers.size} of ${want} readers: ${[...readers.keys()].join(', ')}`)),
        15_000,
      );
      pcsc.on('error', (e) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      });
      pcsc.on('reader', (r) => {
        readers.set(r.name, r as PcscReader);
        r.on('error', () => undefined); // status errors while closing are not this test's subject
        // pcsclite reports the whole reader list in one go; resolve after it has been delivered.
        if (readers.size >= want) {
          clearTimeout(timer);
          setImmediate(resolve);
        }
      });
    });
    return await use(readers);
  } finally {
    for (const r of readers.values()) r.close();
    pcsc.close();
  }
}

/**
 * A minimal virtual card on a vpcd slot: vpcd frames are a 2-byte big-endian length + payload; a
 * 1-byte payload is control (00 off, 01 on, 02 reset, 04 "send ATR", only 04 is answered), anything
 * else is a command APDU to answer with a response APDU.
 */
async function plugCard(port: number, atr: Buffer, respond: (apdu: Buffer) => Buffer): Promise<net.Socket> {
  const sock = net.connect({ host: '127.0.0.1', port });
  sock.setNoDelay(true);
  const send = (payload: Buffer): void => {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(payload.length);
    sock.write(Buffer.concat([len, payload]));
  };
  let buf = Buffer.alloc(0);
  sock.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const payload = buf.subarray(2, 2 + buf.readUInt16BE(0));
      buf = buf.subarray(2 + payload.length);
      if (payload.length === 1) {
        if (payload[0] === 0x04) send(atr);
      } else {
        send(respond(payload));
      }
    }
  });
  sock.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  return sock;
}

function waitPresent(reader: PcscReader): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no card seen in ${reader.name}`)), 15_000);
    const onStatus = (st: { state: number; atr?: Buffer }): void => {
      if (st.state & reader.SCARD_STATE_PRESENT) {
        clearTimeout(timer);
        reader.removeListener('status', onStatus);
        resolve(st.atr);
      }
    };
    reader.on('status', onStatus);
  });
}

const connect = (r: PcscReader): Promise<number> =>
  new Promise((resolve, reject) =>
    r.connect({ share_mode: r.SCARD_SHARE_SHARED, protocol: r.SCARD_PROTOCOL_T1 }, (err, protocol) =>
      err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(protocol),
    ),
  );
const transmit = (r: PcscReader, apdu: Buffer, resLen: number, protocol: number): Promise<Buffer> =>
  new Promise((resolve, reject) =>
    r.transmit(apdu, resLen, protocol, (err, res) =>
      err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(res),
    ),
  );
const disconnect = (r: PcscReader): Promise<void> =>
  new Promise((resolve) => r.disconnect(r.SCARD_LEAVE_CARD, () => resolve()));

let s: TestServices;
beforeAll(() => {
  s = testServices();
});

describe('test services of this run', { timeout: 60_000 }, () => {
  it('Redis answers PING and stores a value', async () => {
    const redis = new Redis(s.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    try {
      await redis.connect();
      expect(await redis.ping()).toBe('PONG');
      const key = `kadi:test:${randomBytes(4).toString('hex')}`;
      await redis.set(key, 'ok', 'EX', 60);
      expect(await redis.get(key)).toBe('ok');
      expect(await redis.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
      await redis.del(key);
    } finally {
      redis.disconnect();
    }
  });

  it.skipIf(process.env.KADI_TEST_PG === '0')('PostgreSQL answers SELECT 1 on loopback', async () => {
    expect(s.pgUrl).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/kadi$/);
    const db = knex({ client: 'pg', connection: s.pgUrl, pool: { min: 0, max: 1 } });
    try {
      const r = await db.raw('select 1 as one, current_database() as db, current_setting(?) as listen', [
        'listen_addresses',
      ]);
      expect(r.rows).toEqual([{ one: 1, db: 'kadi', listen: '127.0.0.1' }]);
    } finally {
      await db.destroy();
    }
  });

  it('pcscd lists exactly the 8 vpcd readers x 2 slots on its own socket', async () => {
    expect(process.env.PCSCLITE_CSOCK_NAME).toBe(s.pcscSocket);
    expect(s.pcscSocket.startsWith(s.home)).toBe(true);
    expect(statSync(s.pcscSocket).isSocket()).toBe(true);
    expect(s.readers).toBe(8);
    const expected = expectedSlotNames(8);
    // The slot list services.sh wrote: reader i slot j on base + 2i + j.
    expect(s.slots).toEqual(expected.map((name, k) => ({ name, port: s.readerBasePort + k })));
    const names = await withReaders(16, async (readers) => [...readers.keys()]);
    expect([...names].sort()).toEqual([...expected].sort());
  });

  it('moves APDUs between pcsclite and a virtual card on a claimed vpcd slot', async () => {
    const claim = claimReaderSlots(1);
    const slot = claim.slots[0]!;
    // ATR 3B 80 80 01 01: direct convention, TD1 -> TD2 offering T=1, TCK.
    const atr = Buffer.from('3b80800101', 'hex');
    const seen: string[] = [];
    const card = await plugCard(slot.port, atr, (apdu) => {
      seen.push(apdu.toString('hex'));
      if (apdu[1] === 0xb0) return Buffer.concat([Buffer.alloc(1024, 0x5a), Buffer.from('9000', 'hex')]);
      return Buffer.from('9000', 'hex');
    });
    try {
      await withReaders(16, async (readers) => {
        const reader = readers.get(slot.name);
        expect(reader, slot.name).toBeDefined();
        const cardAtr = await waitPresent(reader!);
        expect(cardAtr?.toString('hex')).toBe('3b80800101');
        const protocol = await connect(reader!);
        try {
          const select = Buffer.from('00a4040c07a0000002471001', 'hex'); // SELECT eMRTD LDS1 AID
          expect((await transmit(reader!, select, 258, protocol)).toString('hex')).toBe('9000');
          // Extended length: READ BINARY with Le = 0x000400 gets 1024 bytes + SW.
          const read = Buffer.from('00b00000000400', 'hex');
          const res = await transmit(reader!, read, 1024 + 2, protocol);
          expect(res.length).toBe(1026);
          expect(res.subarray(1024).toString('hex')).toBe('9000');
        } finally {
          await disconnect(reader!);
        }
      });
      expect(seen).toEqual(['00a4040c07a0000002471001', '00b00000000400']);
    } finally {
      card.destroy();
      claim.release();
    }
  });

  it('SoftHSM: finds the token by label and logs in with the PIN from the PIN file', () => {
    expect(process.env.SOFTHSM2_CONF).toBe(s.softhsmConf);
    expect(statSync(s.hsmPinFile).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(s.hsmPinFile)).mode & 0o777).toBe(0o700);
    const p11 = new pkcs11js.PKCS11();
    p11.load(s.hsmModule);
    p11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    try {
      const slot = p11.C_GetSlotList(true).find((sl) => p11.C_GetTokenInfo(sl).label.trim() === s.hsmToken);
      expect(slot, `token ${s.hsmToken}`).toBeDefined();
      const session = p11.C_OpenSession(slot!, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      try {
        // A wrong PIN (random, so it cannot be the real one) is refused...
        expect(() => p11.C_Login(session, pkcs11js.CKU_USER, randomBytes(12).toString('hex'))).toThrow(
          /CKR_PIN_INCORRECT/,
        );
        // ...and the one from the PIN file is accepted.
        p11.C_Login(session, pkcs11js.CKU_USER, readHsmPin(s));
        expect(p11.C_GetSessionInfo(session).state).toBe(CKS_RW_USER_FUNCTIONS);
        expect(p11.C_GenerateRandom(session, Buffer.alloc(32)).length).toBe(32);
        p11.C_Logout(session);
      } finally {
        p11.C_CloseSession(session);
      }
    } finally {
      p11.C_Finalize();
    }
  });

  it('services.sh start is a no-op for the running services and status reports them', async () => {
    const cfg = configFromInfo(s);
    const services: ServiceName[] = ['redis', 'pcscd', 'softhsm'];
    if (s.pgUrl) services.push('postgres');
    const before = await servicesStatus(cfg, services);
    expect(before.ok, before.lines.join('\n')).toBe(true);
    expect(before.lines).toHaveLength(services.length);

    const again = await runServicesScript(cfg, ['start', ...services]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^redis: already running \(pid \d+\)/m);
    expect(again.stdout).toMatch(/^pcscd: already running \(pid \d+\)/m);
    expect(again.stdout).toMatch(/^softhsm: token 'kadi' already initialised/m);
    if (s.pgUrl) expect(again.stdout).toContain(`postgres: already running`);

    const after = await servicesStatus(cfg, services);
    expect(after.ok).toBe(true);
    for (const svc of ['redis', 'pcscd', 'postgres'] as const) {
      if (services.includes(svc)) expect(pidFromStatus(after.lines, svc)).toBe(pidFromStatus(before.lines, svc));
    }
    expect(after.lines).toContain(`softhsm: ready token=kadi conf=${s.softhsmConf} module=${s.hsmModule}`);
  });
});

describe('services.sh lifecycle in a private KADI_HOME', { timeout: 120_000 }, () => {
  let home: string;
  let cfg: ServiceConfig;
  const services: ServiceName[] = ['redis', 'pcscd', 'softhsm'];

  beforeAll(async () => {
    home = createServicesHome('lifecycle-'); // reaped by the next run if this worker dies
    cfg = await makeConfig(home, { readers: 1 });
  });
  afterAll(async () => {
    if (cfg) await stopServices(cfg).catch(() => undefined);
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('start, start again, status, kill -9 + restart, stop, stop again', async () => {
    // Nothing yet: status fails and says so per service.
    const none = await servicesStatus(cfg, services);
    expect(none.ok).toBe(false);
    expect(none.lines).toEqual(['redis: stopped', 'pcscd: stopped', expect.stringMatching(/^softhsm: token 'kadi' not initialised/)]);

    const first = await runServicesScript(cfg, ['start', ...services]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^redis: started \(pid \d+\)/m);
    expect(first.stdout).toMatch(/^pcscd: started \(pid \d+\)/m);
    expect(first.stdout).toMatch(/^softhsm: token 'kadi' initialised/m);
    // Generated PINs: stored with tight permissions, never printed.
    const pin = readFileSync(path.join(home, 'secrets', 'hsm-pin'), 'utf8').trim();
    const soPin = readFileSync(path.join(home, 'secrets', 'hsm-so-pin'), 'utf8').trim();
    expect(pin).toMatch(/^[0-9a-f]{32}$/);
    expect(soPin).toMatch(/^[0-9a-f]{32}$/);
    expect(pin).not.toBe(soPin);
    for (const out of [first.stdout, first.stderr]) {
      expect(out).not.toContain(pin);
      expect(out).not.toContain(soPin);
    }
    expect(statSync(path.join(home, 'secrets', 'hsm-so-pin')).mode & 0o777).toBe(0o600);

    const up = await servicesStatus(cfg, services);
    expect(up.ok, up.lines.join('\n')).toBe(true);
    const redisPid = pidFromStatus(up.lines, 'redis')!;
    const pcscdPid = pidFromStatus(up.lines, 'pcscd')!;
    expect(processRunning(redisPid) && processRunning(pcscdPid)).toBe(true);
    const info = await startServices(cfg, services); // second start: no-op
    expect(info.slots).toEqual([
      { name: 'Kadi Encoder 0 00 00', port: cfg.vpcdBasePort },
      { name: 'Kadi Encoder 0 00 01', port: cfg.vpcdBasePort + 1 },
    ]);
    expect(readFileSync(path.join(home, 'pcsc', 'env'), 'utf8')).toContain(`PCSCLITE_CSOCK_NAME=${info.pcscSocket}\n`);
    const same = await servicesStatus(cfg, services);
    expect(pidFromStatus(same.lines, 'redis')).toBe(redisPid);
    expect(pidFromStatus(same.lines, 'pcscd')).toBe(pcscdPid);

    // kill -9: status notices, the stale socket stays behind, start cleans up and comes back.
    process.kill(redisPid, 'SIGKILL');
    process.kill(pcscdPid, 'SIGKILL');
    await expect.poll(() => processRunning(redisPid) || processRunning(pcscdPid), { timeout: 10_000 }).toBe(false);
    const killed = await servicesStatus(cfg, services);
    expect(killed.ok).toBe(false);
    expect(killed.lines.slice(0, 2)).toEqual(['redis: stopped', 'pcscd: stopped']);
    expect(existsSync(info.pcscSocket)).toBe(true);
    const restart = await runServicesScript(cfg, ['start', ...services]);
    expect(restart.code, restart.stderr).toBe(0);
    const back = await servicesStatus(cfg, services);
    expect(back.ok, back.lines.join('\n')).toBe(true);
    const newPcscdPid = pidFromStatus(back.lines, 'pcscd')!;
    expect(newPcscdPid).not.toBe(pcscdPid);
    // An independent PC/SC client (pcsc_scan, its own process) sees the reader on the new daemon.
    const listed = execFileSync('pcsc_scan', ['-r'], {
      env: { PATH: process.env.PATH, PCSCLITE_CSOCK_NAME: info.pcscSocket },
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(listed).toContain('Kadi Encoder 0 00 00');
    expect(listed).toContain('Kadi Encoder 0 00 01');

    // stop: by PID, processes gone, socket removed; stopping again is fine.
    const newRedisPid = pidFromStatus(back.lines, 'redis')!;
    const stop = await runServicesScript(cfg, ['stop', ...services]);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout).toContain(`pcscd: stopped (pid ${newPcscdPid})`);
    expect(stop.stdout).toContain(`redis: stopped (pid ${newRedisPid})`);
    expect(processRunning(newPcscdPid)).toBe(false);
    expect(processRunning(newRedisPid)).toBe(false);
    expect(existsSync(info.pcscSocket)).toBe(false);
    const down = await servicesStatus(cfg, ['redis', 'pcscd']);
    expect(down).toEqual({ ok: false, lines: ['redis: stopped', 'pcscd: stopped'] });
    const stopAgain = await runServicesScript(cfg, ['stop', ...services]);
    expect(stopAgain.code).toBe(0);
    expect(stopAgain.stdout).toContain('redis: not running');
    expect(stopAgain.stdout).toContain('pcscd: not running');
    // The token survives (it is data, not a process).
    expect((await servicesStatus(cfg, ['softhsm'])).ok).toBe(true);
  });

  it('rejects bad settings and unknown services with a clear message', async () => {
    const bad = await runServicesScript({ ...cfg, readers: 9 }, ['start', 'pcscd']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('KADI_READERS must be 1..8');
    const unknown = await runServicesScript(cfg, ['start', 'mysql']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("unknown service 'mysql'");
  });
});
