/**
 * Inside tests: the services test/global-setup.ts started for this vitest run.
 *
 *   const s = testServices();
 *   new Redis(s.redisUrl, { maxRetriesPerRequest: null });
 *   openDb(s.pgUrl!)                       // undefined when KADI_TEST_PG=0
 *   pcsclite()                             // PCSCLITE_CSOCK_NAME already points at s.pcscSocket
 *   pkcs11.load(s.hsmModule)               // SOFTHSM2_CONF already points at s.softhsmConf
 *   readHsmPin(s)                          // the token's user PIN (never log it)
 *   s.slots                                // [{ name: 'Kadi Encoder 0 00 00', port }, ...] 16 vpcd slots
 *
 * Reader slots are shared by all test files of the run, and files run in parallel: a test that plugs
 * a virtual card in takes its own slot(s) with claimReaderSlots() and releases them when done.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { inject } from 'vitest';
import type {} from '../global-setup.ts'; // the ProvidedContext declaration (kadiServices)
import type { ReaderSlot, ServiceInfo } from './services.ts';

export type TestServices = ServiceInfo;
export type { ReaderSlot };

/**
 * The services of this run. Throws when the current vitest project got none (the `unit` project, or a
 * run without test/global-setup.ts).
 *
 * Also (re)asserts PCSCLITE_CSOCK_NAME and SOFTHSM2_CONF in this process's environment; the global
 * set-up already exports them to the workers. libpcsclite reads PCSCLITE_CSOCK_NAME once, at the
 * first SCardEstablishContext of the process, and SoftHSM reads SOFTHSM2_CONF at C_Initialize: both
 * must be right before the first use.
 */
export function testServices(): TestServices {
  const s = inject('kadiServices');
  if (!s) {
    throw new Error(
      'No Kadi test services in this vitest project: they are provided to the sqlite and postgres ' +
        'projects by test/global-setup.ts (run e.g. `npx vitest run --project sqlite test/x.test.ts`).',
    );
  }
  process.env.PCSCLITE_CSOCK_NAME = s.pcscSocket;
  process.env.SOFTHSM2_CONF = s.softhsmConf;
  return s;
}

/** The HSM user PIN from the run's PIN file. Never log or print it. */
export function readHsmPin(s: TestServices = testServices()): string {
  return readFileSync(s.hsmPinFile, 'utf8').trim();
}

/** Reader slots reserved for one test; release() gives them back. */
export interface SlotClaim {
  slots: ReaderSlot[];
  release(): void;
}

/**
 * Reserves `count` vpcd slots of this run for the calling test, across all worker processes (one
 * file per slot under $KADI_HOME/slot-claims, created with O_EXCL). Throws when not enough are free.
 */
export function claimReaderSlots(count = 1, s: TestServices = testServices()): SlotClaim {
  const dir = path.join(s.home, 'slot-claims');
  mkdirSync(dir, { recursive: true });
  const slots: ReaderSlot[] = [];
  const files: string[] = [];
  const release = (): void => {
    for (const f of files.splice(0)) rmSync(f, { force: true });
  };
  for (const slot of s.slots) {
    if (slots.length === count) break;
    const file = path.join(dir, String(slot.port));
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      release();
      throw e;
    }
    slots.push(slot);
    files.push(file);
  }
  if (slots.length < count) {
    release();
    throw new Error(`only ${slots.length} of ${count} reader slots are free (${s.slots.length} in this run)`);
  }
  return { slots, release };
}
