/**
 * `kadi cards start | list | insert | new | remove | stop` as an operator runs them: separate processes, the
 * daemon in the background, the test run's pcscd. A card personalised through PC/SC is pulled out, found again by
 * its document number and put back into another slot, where BAC reads it back.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { command } from '../src/chip/index.ts';
import { diversifyKeySet, EID_AID, PcscContext, connect, disconnect, transmitter } from '../applets/index.ts';
import { Terminal, bacSecretsData, hex } from '../applets/testing/index.ts';
import { claimReaderSlots, testServices, type SlotClaim, type TestServices } from './support/env.ts';
import { REPO_ROOT } from './support/services.ts';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `kadi ...`: through bin/kadi.mjs once main.ts wires the cards commands, else a program with only them. */
function kadi(env: NodeJS.ProcessEnv, ...args: string[]): Promise<CliResult> {
  const wired = readFileSync(path.join(REPO_ROOT, 'src/cli/main.ts'), 'utf8').includes('registerCardsCommands');
  const argv = wired
    ? [path.join(REPO_ROOT, 'bin/kadi.mjs'), ...args]
    : [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { Command } from 'commander';
         import { registerCardsCommands } from './src/cli/cards.ts';
         const p = new Command('kadi').exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2));
         registerCardsCommands(p);
         await p.parseAsync(process.argv.slice(1), { from: 'user' });`,
        ...args,
      ];
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { cwd: REPO_ROOT, env, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function json<T = unknown>(r: CliResult): T {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as T;
}

interface ListEntry {
  serial: string;
  chipSerial: string;
  lifeCycle: string;
  eid: string;
  state: string;
  documentNumber: string | null;
  slot: number | null;
}

const SECRETS = { documentNumber: 'KE7654321', dateOfBirth: '850301', dateOfExpiry: '350228' };
const DG1 = hex('615B5F1F58' + '3C'.repeat(88));

let s: TestServices;
let home: string;
let env: NodeJS.ProcessEnv;
let claim: SlotClaim | undefined;

beforeAll(() => {
  s = testServices();
  home = mkdtempSync(path.join(os.tmpdir(), 'kadi-cards-cli-'));
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    KADI_HOME: home,
    KADI_PCSC_DIR: path.join(s.home, 'pcsc'),
    PCSCLITE_CSOCK_NAME: s.pcscSocket,
  };
});

afterAll(async () => {
  // whatever happened: stop the daemon by PID, then drop the slots and the home
  try {
    const pid = Number(readFileSync(path.join(home, 'cards', 'daemon.pid'), 'utf8'));
    if (pid > 0) process.kill(pid, 'SIGTERM');
  } catch {
    // not running
  }
  claim?.release();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('kadi cards', { timeout: 120_000 }, () => {
  it('refuses to start without pcscd, with a reason code', async () => {
    const r = await kadi({ ...env, KADI_PCSC_DIR: path.join(home, 'no-pcsc') }, 'cards', 'start', '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe('CARDS_PCSC_NOT_RUNNING');
  });

  it('start, list, personalise, remove, insert --document, new, stop', async () => {
    claim = claimReaderSlots(3);
    const idx = claim.slots.map((sl) => sl.port - s.readerBasePort);
    const names = claim.slots.map((sl) => sl.name);
    const started = json<{ pid: number; cards: Array<{ index: number; serial: string; name: string }>; masterKeyFile: string; masterKeyCreated: boolean }>(
      await kadi(env, 'cards', 'start', '--count', '2', '--slots', `${idx[0]},${idx[1]}`, '--json'),
    );
    expect(started.cards.map((c) => c.index)).toEqual([idx[0], idx[1]]);
    expect(started.masterKeyCreated).toBe(true);
    expect(statSync(started.masterKeyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(home, 'cards', 'daemon.pid'), 'utf8').trim()).toBe(String(started.pid));
    // a second start is refused
    const again = await kadi(env, 'cards', 'start', '--json');
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout).error.code).toBe('CARDS_DAEMON_RUNNING');

    let list = json<ListEntry[]>(await kadi(env, 'cards', 'list', '--json'));
    expect(list).toHaveLength(2);
    for (const c of list) {
      expect(c).toMatchObject({ lifeCycle: 'OP_READY', eid: 'SELECTABLE', state: 'BLANK', documentNumber: null });
      expect(c.chipSerial).toBe(`4B440001${c.serial}`);
    }
    const first = started.cards[0]!;
    expect(list.find((c) => c.serial === first.serial)?.slot).toBe(idx[0]);

    // personalise the first card through PC/SC; the host derives its keys from the master key file
    const master = hex(readFileSync(started.masterKeyFile, 'utf8').trim());
    const keys = diversifyKeySet(master, first.serial);
    const pcsc = await PcscContext.open(names);
    try {
      await pcsc.waitPresent(names[0]!);
      const reader = pcsc.reader(names[0]!);
      const protocol = await connect(reader, 'exclusive');
      try {
        const term = new Terminal(transmitter(reader, protocol));
        await term.selectAid(EID_AID);
        await term.openScp03(keys, 0x03);
        await term.writeFile(0x0101, DG1);
        await term.expect(command(0x00, 0xda, 0x00, 0xe1, bacSecretsData(SECRETS)));
        await term.expect(command(0x80, 0xf0, 0x40, 0x0f));
      } finally {
        await disconnect(reader);
      }

      const removed = json<{ slot: number; serial: string }>(await kadi(env, 'cards', 'remove', '--slot', String(idx[0]), '--json'));
      expect(removed).toEqual({ slot: idx[0], serial: first.serial });
      await pcsc.waitEmpty(names[0]!);
      list = json<ListEntry[]>(await kadi(env, 'cards', 'list', '--json'));
      expect(list.find((c) => c.serial === first.serial)).toMatchObject({ state: 'LOCKED', eid: 'PERSONALIZED', documentNumber: 'KE7654321', slot: null });

      // the second slot is taken by the other blank card
      const busy = await kadi(env, 'cards', 'insert', '--document', 'KE7654321', '--slot', String(idx[1]), '--json');
      expect(busy.code).toBe(1);
      expect(JSON.parse(busy.stdout).error.code).toBe('CARDS_SLOT_BUSY');
      const unknown = await kadi(env, 'cards', 'insert', '--document', 'XX0000000', '--json');
      expect(JSON.parse(unknown.stdout).error.code).toBe('CARDS_NOT_FOUND');

      // put it into the third slot: QC reads it back with BAC
      const inserted = json<{ slot: number; serial: string; name: string }>(
        await kadi(env, 'cards', 'insert', '--document', 'KE7654321', '--slot', String(idx[2]), '--json'),
      );
      expect(inserted).toMatchObject({ slot: idx[2], serial: first.serial, name: names[2] });
      await pcsc.waitPresent(names[2]!);
      const r2 = pcsc.reader(names[2]!);
      const p2 = await connect(r2, 'shared');
      try {
        const term = new Terminal(transmitter(r2, p2));
        await term.selectAid(EID_AID);
        await term.bac(SECRETS);
        expect(Buffer.from(await term.readFile(0x0101))).toEqual(Buffer.from(DG1));
      } finally {
        await disconnect(r2);
      }
      const inUse = await kadi(env, 'cards', 'insert', first.serial, '--json');
      expect(JSON.parse(inUse.stdout).error.code).toBe('CARDS_IN_USE');

      // a new finished (locked) card into the free first slot
      const fresh = json<{ slot: number; serial: string }>(await kadi(env, 'cards', 'new', '--slot', String(idx[0]), '--locked', '--json'));
      expect(fresh.slot).toBe(idx[0]);
      await pcsc.waitPresent(names[0]!);
      list = json<ListEntry[]>(await kadi(env, 'cards', 'list', '--json'));
      expect(list).toHaveLength(3);
      expect(list.find((c) => c.serial === fresh.serial)).toMatchObject({ state: 'LOCKED', lifeCycle: 'SECURED', slot: idx[0] });

      // stop: the daemon exits, its files go, every slot empties
      const stopped = json<{ stopped: boolean; pid: number }>(await kadi(env, 'cards', 'stop', '--json'));
      expect(stopped).toEqual({ stopped: true, pid: started.pid });
      for (const n of names) await pcsc.waitEmpty(n);
      expect(existsSync(path.join(home, 'cards', 'daemon.sock'))).toBe(false);
      expect(existsSync(path.join(home, 'cards', 'daemon.pid'))).toBe(false);
      expect(json(await kadi(env, 'cards', 'stop', '--json'))).toEqual({ stopped: false, running: false });
      const noDaemon = await kadi(env, 'cards', 'remove', '--slot', String(idx[0]), '--json');
      expect(JSON.parse(noDaemon.stdout).error.code).toBe('CARDS_DAEMON_NOT_RUNNING');
      // the store survives the daemon
      expect(json<ListEntry[]>(await kadi(env, 'cards', 'list', '--json')).map((c) => c.slot)).toEqual([null, null, null]);
    } finally {
      pcsc.close();
    }
  });
});
