/**
 * `kadi cards ...`: Kadi's virtual cards in the vpcd reader slots of the local pcscd — the "virtual encoders" of
 * tests and the demo, and the QC desk's way to put a finished card back into a reader.
 *
 * ```
 *   kadi cards start [--count N] [--slots I,J..] [--master-key-file F] [--json]
 *       starts the cards daemon (background, PID file $KADI_HOME/cards/daemon.pid) with N new blank cards in
 *       N free slots (fresh serials). Slot index = 2 x reader + slot ("Kadi Encoder 3 00 01" is slot 7).
 *   kadi cards stop [--json]                 stops the daemon: every card is pulled out, the store kept
 *   kadi cards list [--json]                 stored cards: serial, chip serial, life cycle, state, document
 *                                            number (the card's own knowledge, from its BAC secrets), slot
 *   kadi cards insert (SERIAL | --document DOC) [--slot N] [faults] [--json]
 *                                            puts a stored card into a free (or the given) slot
 *   kadi cards new [--slot N] [--wrong-keys | --pre-personalised | --locked] [faults] [--json]
 *                                            a new blank (or faulty) card into a free slot
 *   kadi cards remove --slot N [--json]      pulls the card out of slot N
 *   faults: --remove-after-apdus K, --garbage-after-apdus K, --slow-ms N (applets/runtime/vpcd.ts)
 * ```
 * The commands reach the daemon over its control socket `$KADI_HOME/cards/daemon.sock` (applets/daemon.ts).
 *
 * Settings: KADI_HOME (card store `$KADI_HOME/cards`), KADI_PCSC_DIR (pcscd's env and readers files written by
 * scripts/services.sh; default `$KADI_HOME/pcsc`), KADI_CARD_MASTER_KEY_FILE (default
 * `$KADI_HOME/secrets/card-master-key`: the issuer card master key, hex, given to the virtual card factory as a
 * card vendor is given it at pre-personalisation; created with a random AES-256 key when absent — import the
 * same key into the HSM for encoding). The master key is never printed.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, InvalidArgumentError } from 'commander';
import {
  type DaemonRequest,
  type DaemonResponse,
  type SlotStatus,
  DaemonError,
  cardsPaths,
  readPcscEnv,
  requestDaemon,
  DirCardStore,
  APP_LIFE_CYCLE,
  CARD_LIFE_CYCLE,
  type CardState,
  lifeCycleName,
  type CardFaults,
  keyDiversificationData,
} from '../../applets/index.ts';
import { loadConfig, type KadiConfig } from '../config/index.ts';
import { KadiError } from '../shared/index.ts';
import { printJson, printLine, reportError, table } from './output.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DAEMON_ENTRY = path.join(ROOT, 'applets', 'daemon.ts');
/** The tsx loader, by absolute URL so the daemon starts whatever the working directory. */
function tsxLoader(): string {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return 'tsx';
  }
}
/** How long `start` waits for the daemon to report ready, ms. */
const START_TIMEOUT_MS = 60_000;
/** How long `stop` waits for the daemon to exit before SIGTERM / SIGKILL, ms. */
const STOP_TIMEOUT_MS = 10_000;

const HINTS: Record<string, string> = {
  CARDS_PCSC_NOT_RUNNING: 'Start pcscd first: `kadi services start pcscd` (or scripts/services.sh start pcscd).',
  CARDS_DAEMON_RUNNING: 'Use `kadi cards insert` / `kadi cards new`, or `kadi cards stop` first.',
  CARDS_DAEMON_NOT_RUNNING: 'Start it with `kadi cards start`.',
  CARDS_NO_FREE_SLOTS: 'Remove a card (`kadi cards remove --slot N`) or start pcscd with more readers (KADI_READERS).',
  CARDS_SLOT_BUSY: 'Choose another slot, or leave out --slot to take the first free one.',
  CARDS_NOT_FOUND: 'See `kadi cards list` for the stored cards.',
  CARDS_AMBIGUOUS: 'Give the card serial instead (see `kadi cards list`).',
  CARDS_IN_USE: 'Remove it first: `kadi cards remove --slot N`.',
  CARDS_SOCKET_PATH: 'Use a shorter KADI_HOME.',
};

function cardsError(code: string, message: string): KadiError {
  return new KadiError(code, message, HINTS[code] ? { hint: HINTS[code] } : {});
}

function intArg(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

function slotsArg(v: string): number[] {
  const out = v.split(',').map((x) => Number(x.trim()));
  if (out.some((n) => !Number.isInteger(n) || n < 0 || n > 15)) throw new InvalidArgumentError('--slots takes slot indexes 0..15, comma separated');
  if (new Set(out).size !== out.length) throw new InvalidArgumentError('--slots lists a slot twice');
  return out;
}

/** Runs a command body with the validated configuration, reporting errors the Kadi way. */
async function run(json: boolean, body: (cfg: KadiConfig) => Promise<number | void>): Promise<void> {
  try {
    const code = await body(loadConfig());
    if (typeof code === 'number') process.exitCode = code;
  } catch (e) {
    const err = e instanceof DaemonError ? cardsError(e.code, e.message) : e;
    process.exitCode = reportError(err, json);
  }
}

function pcscDir(cfg: KadiConfig): string {
  return path.resolve(process.env.KADI_PCSC_DIR || path.join(cfg.home, 'pcsc'));
}

/** PID of the running daemon, or undefined (a stale PID file, or a PID reused by another program, is ignored). */
export function daemonPid(home: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(cardsPaths(home).pid, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('daemon.ts') ? pid : undefined;
  } catch {
    return undefined;
  }
}

function readMasterKey(file: string, create: boolean): { hex: string; created: boolean } {
  if (!existsSync(file)) {
    if (!create) throw new KadiError('CARDS_MASTER_KEY_MISSING', `card master key file ${file} not found`);
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, `${randomBytes(32).toString('hex').toUpperCase()}\n`, { mode: 0o600, flag: 'wx' });
    return { hex: readFileSync(file, 'utf8').trim(), created: true };
  }
  const hex = readFileSync(file, 'utf8').trim();
  if (!/^([0-9A-Fa-f]{32}|[0-9A-Fa-f]{48}|[0-9A-Fa-f]{64})$/.test(hex)) {
    throw new KadiError('CARDS_MASTER_KEY_INVALID', `card master key file ${file} must hold 16, 24 or 32 bytes of hex`);
  }
  return { hex, created: false };
}

async function ask(home: string, req: DaemonRequest): Promise<Record<string, unknown>> {
  const paths = cardsPaths(home);
  if (daemonPid(home) === undefined) throw cardsError('CARDS_DAEMON_NOT_RUNNING', 'the cards daemon is not running');
  let res: DaemonResponse;
  try {
    res = await requestDaemon(paths.socket, req);
  } catch (e) {
    if (e instanceof DaemonError) throw e;
    throw cardsError('CARDS_DAEMON_NOT_RUNNING', `cannot reach the cards daemon at ${paths.socket}: ${(e as Error).message}`);
  }
  if (!res.ok) throw cardsError(res.error.code, res.error.message);
  return res;
}

function faultsOf(o: { removeAfterApdus?: number; garbageAfterApdus?: number; slowMs?: number }): CardFaults | undefined {
  const f: CardFaults = {
    ...(o.removeAfterApdus !== undefined ? { removeAfterApdus: o.removeAfterApdus } : {}),
    ...(o.garbageAfterApdus !== undefined ? { garbageAfterApdus: o.garbageAfterApdus } : {}),
    ...(o.slowMs !== undefined ? { slowMs: o.slowMs } : {}),
  };
  return Object.keys(f).length ? f : undefined;
}

function withFaultOptions(c: Command): Command {
  return c
    .option('--remove-after-apdus <k>', 'fault: answer K APDUs, then act as pulled out', intArg('--remove-after-apdus', 0, 1_000_000))
    .option('--garbage-after-apdus <k>', 'fault: answer APDUs after the K-th with garbage', intArg('--garbage-after-apdus', 0, 1_000_000))
    .option('--slow-ms <n>', 'fault: delay each response by N milliseconds', intArg('--slow-ms', 0, 60_000));
}

/** What `kadi cards list` shows of a stored card (no personal data besides the document number). */
export interface CardListEntry {
  serial: string;
  /** IC fabricator || IC type || serial: the 10-byte chip serial of the CPLC / key diversification data. */
  chipSerial: string;
  /** GP card life cycle. */
  lifeCycle: string;
  /** eID application life cycle (SELECTABLE, PERSONALIZED = locked). */
  eid: string;
  /** BLANK (nothing written), PERSONALISING (content, not locked), LOCKED (finished), TERMINATED. */
  state: 'BLANK' | 'PERSONALISING' | 'LOCKED' | 'TERMINATED';
  documentNumber: string | null;
  slot: number | null;
  createdAt: string;
  updatedAt: string;
  note?: string;
}

export function cardListEntry(s: CardState, slot: number | null): CardListEntry {
  const eidDf = s.mf.children.find((c) => c.kind === 'DF');
  const empty = (!eidDf || eidDf.kind !== 'DF' || eidDf.children.length === 0) && !s.eid.bacKeySeed && !s.eid.aaPrivateKey;
  const state =
    s.cardLifeCycle === CARD_LIFE_CYCLE.TERMINATED
      ? 'TERMINATED'
      : s.eid.lifeCycle !== APP_LIFE_CYCLE.SELECTABLE
        ? 'LOCKED'
        : empty
          ? 'BLANK'
          : 'PERSONALISING';
  return {
    serial: s.serial,
    chipSerial: Buffer.from(keyDiversificationData(s.cplc)).toString('hex').toUpperCase(),
    lifeCycle: String(lifeCycleName(CARD_LIFE_CYCLE, s.cardLifeCycle)),
    eid: String(lifeCycleName(APP_LIFE_CYCLE, s.eid.lifeCycle)),
    state,
    documentNumber: s.eid.documentNumber ?? null,
    slot,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    ...(s.note ? { note: s.note } : {}),
  };
}

/** Every stored card, with its slot when the daemon holds it. */
async function listCards(home: string): Promise<CardListEntry[]> {
  const paths = cardsPaths(home);
  if (!existsSync(paths.dir)) return [];
  const store = new DirCardStore(paths.dir);
  const slots = new Map<string, number>();
  if (daemonPid(home) !== undefined) {
    try {
      const res = await requestDaemon(paths.socket, { op: 'status' }, 5_000);
      if (res.ok) for (const s of res.slots as SlotStatus[]) if (s.serial) slots.set(s.serial, s.index);
    } catch {
      // the daemon is going away: list without slots
    }
  }
  const out: CardListEntry[] = [];
  for (const serial of store.serials()) {
    const s = store.load(serial);
    if (s) out.push(cardListEntry(s, slots.get(serial) ?? null));
  }
  return out;
}

/** SERIAL (12 hex) or chip serial (20 hex), or the one stored card with this document number. */
async function resolveCard(home: string, serial: string | undefined, document: string | undefined): Promise<string> {
  if (serial && document) throw new KadiError('CLI_USAGE', 'give a SERIAL or --document, not both');
  if (!serial && !document) throw new KadiError('CLI_USAGE', 'give a card SERIAL or --document DOCUMENT_NUMBER');
  const cards = await listCards(home);
  if (serial) {
    const want = serial.toUpperCase();
    const hit = cards.find((c) => c.serial === want || c.chipSerial === want);
    if (!hit) throw cardsError('CARDS_NOT_FOUND', `no card ${serial} in the card store`);
    return hit.serial;
  }
  const hits = cards.filter((c) => c.documentNumber === document);
  if (hits.length === 0) throw cardsError('CARDS_NOT_FOUND', `no stored card knows document number ${document}`);
  if (hits.length > 1) {
    const locked = hits.filter((c) => c.state === 'LOCKED');
    if (locked.length === 1) return locked[0]!.serial;
    throw cardsError('CARDS_AMBIGUOUS', `${hits.length} stored cards carry this document number: ${hits.map((c) => c.serial).join(', ')}`);
  }
  return hits[0]!.serial;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function pidGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const st = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return st === 'Z' || st === 'X';
  } catch {
    return true;
  }
}

/** The last `failed` event of the daemon log, if any. */
function failureFromLog(logFile: string, from: number): { code: string; message: string } | undefined {
  try {
    const lines = readFileSync(logFile, 'utf8').slice(from).split('\n').filter(Boolean);
    for (const l of lines.reverse()) {
      try {
        const e = JSON.parse(l) as { event?: string; error?: { code: string; message: string } };
        if (e.event === 'failed' && e.error) return e.error;
      } catch {
        // not an event line (a stack trace): keep looking
      }
    }
  } catch {
    // no log
  }
  return undefined;
}

function printSlots(slots: SlotStatus[]): void {
  printLine(table(slots.map((s) => [`slot ${s.index}`, s.name, `port ${s.port}`, s.serial ? `card ${s.serial}` : 'empty'])));
}

export function registerCardsCommands(program: Command): void {
  const cards = program.command('cards').description('virtual cards in the vpcd reader slots (tests, demo, QC re-insertion)');

  cards
    .command('start')
    .description('start the cards daemon with N new blank cards in free reader slots')
    .option('--count <n>', 'number of blank cards', intArg('--count', 1, 16), 1)
    .option('--slots <list>', 'use these slot indexes (2 x reader + slot), comma separated', slotsArg)
    .option('--master-key-file <file>', 'issuer card master key (hex); default $KADI_CARD_MASTER_KEY_FILE or $KADI_HOME/secrets/card-master-key')
    .option('--json', 'JSON output')
    .action(async (o: { count: number; slots?: number[]; masterKeyFile?: string; json?: boolean }) =>
      run(!!o.json, async (cfg) => {
        const paths = cardsPaths(cfg.home);
        const running = daemonPid(cfg.home);
        if (running !== undefined) throw cardsError('CARDS_DAEMON_RUNNING', `the cards daemon is already running (pid ${running})`);
        const dir = pcscDir(cfg);
        readPcscEnv(dir); // fail early, with the hint, when pcscd is not up
        if (o.slots && o.slots.length !== o.count) {
          if (o.count !== 1) throw new KadiError('CLI_USAGE', `--slots lists ${o.slots.length} slots for --count ${o.count}`);
          o.count = o.slots.length;
        }
        const keyFile = path.resolve(o.masterKeyFile ?? process.env.KADI_CARD_MASTER_KEY_FILE ?? path.join(cfg.home, 'secrets', 'card-master-key'));
        const key = readMasterKey(keyFile, o.masterKeyFile === undefined);
        mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
        rmSync(paths.pid, { force: true });
        rmSync(paths.socket, { force: true });
        const logStart = existsSync(paths.log) ? readFileSync(paths.log).length : 0;
        const log = openSync(paths.log, 'a', 0o600);
        const config = { home: cfg.home, pcscDir: dir, masterKeyHex: key.hex, count: o.count, ...(o.slots ? { slots: o.slots } : {}) };
        let exited = false;
        let child;
        try {
          child = spawn(process.execPath, ['--import', tsxLoader(), DAEMON_ENTRY, JSON.stringify(config)], {
            cwd: ROOT,
            detached: true,
            stdio: ['ignore', log, log],
            env: process.env,
          });
        } finally {
          closeSync(log);
        }
        child.once('exit', () => {
          exited = true;
        });
        child.unref();
        const deadline = Date.now() + START_TIMEOUT_MS;
        let status: Record<string, unknown> | undefined;
        while (Date.now() < deadline) {
          if (exited) break;
          if (existsSync(paths.socket)) {
            try {
              const res = await requestDaemon(paths.socket, { op: 'status' }, 5_000);
              if (res.ok) {
                status = res;
                break;
              }
            } catch {
              // not listening yet
            }
          }
          await sleep(100);
        }
        if (!status) {
          const failure = failureFromLog(paths.log, logStart);
          if (!exited && child.pid) process.kill(child.pid, 'SIGTERM');
          if (failure) throw cardsError(failure.code, failure.message);
          throw new KadiError('CARDS_DAEMON_FAILED', `the cards daemon did not start; see ${paths.log}`);
        }
        const slots = (status.slots as SlotStatus[]).filter((s) => s.serial);
        const out = { pid: status.pid, socket: paths.socket, log: paths.log, store: paths.dir, masterKeyFile: keyFile, masterKeyCreated: key.created, cards: slots };
        if (o.json) printJson(out);
        else {
          printLine(`cards daemon started (pid ${String(status.pid)}), ${slots.length} blank card(s):`);
          printSlots(slots);
          if (key.created) printLine(`created the card master key ${keyFile}: import the same key into the HSM to encode these cards`);
        }
      }),
    );

  cards
    .command('stop')
    .description('stop the cards daemon (cards are pulled out; the card store is kept)')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) =>
      run(!!o.json, async (cfg) => {
        const paths = cardsPaths(cfg.home);
        const pid = daemonPid(cfg.home);
        if (pid === undefined) {
          rmSync(paths.socket, { force: true });
          rmSync(paths.pid, { force: true });
          if (o.json) printJson({ stopped: false, running: false });
          else printLine('cards daemon: not running');
          return;
        }
        await requestDaemon(paths.socket, { op: 'stop' }, 10_000).catch(() => undefined);
        let deadline = Date.now() + STOP_TIMEOUT_MS;
        while (!pidGone(pid) && Date.now() < deadline) await sleep(100);
        if (!pidGone(pid)) {
          process.kill(pid, 'SIGTERM');
          deadline = Date.now() + 5_000;
          while (!pidGone(pid) && Date.now() < deadline) await sleep(100);
          if (!pidGone(pid)) process.kill(pid, 'SIGKILL');
        }
        rmSync(paths.socket, { force: true });
        rmSync(paths.pid, { force: true });
        if (o.json) printJson({ stopped: true, pid });
        else printLine(`cards daemon stopped (pid ${pid})`);
      }),
    );

  cards
    .command('list')
    .description('list the stored cards: serial, life cycle, state, document number, slot')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) =>
      run(!!o.json, async (cfg) => {
        const list = await listCards(cfg.home);
        if (o.json) return printJson(list);
        if (list.length === 0) return printLine('no stored cards');
        printLine(
          table([
            ['SERIAL', 'LIFE CYCLE', 'STATE', 'DOCUMENT', 'SLOT'],
            ...list.map((c) => [c.serial, c.lifeCycle, c.state, c.documentNumber ?? '-', c.slot === null ? '-' : String(c.slot)]),
          ]),
        );
      }),
    );

  withFaultOptions(
    cards
      .command('insert')
      .description('put a stored card into a free reader slot of the running daemon')
      .argument('[serial]', 'card serial (12 hex digits) or chip serial (20)')
      .option('--document <number>', 'the card that knows this document number')
      .option('--slot <n>', 'slot index (2 x reader + slot); default the first free one', intArg('--slot', 0, 15)),
  )
    .option('--json', 'JSON output')
    .action(async (serial: string | undefined, o: { document?: string; slot?: number; json?: boolean; removeAfterApdus?: number; garbageAfterApdus?: number; slowMs?: number }) =>
      run(!!o.json, async (cfg) => {
        const s = await resolveCard(cfg.home, serial, o.document);
        const faults = faultsOf(o);
        const res = await ask(cfg.home, { op: 'insert', serial: s, ...(o.slot !== undefined ? { slot: o.slot } : {}), ...(faults ? { faults } : {}) });
        const out = { slot: res.slot, name: res.name, port: res.port, serial: res.serial };
        if (o.json) printJson(out);
        else printLine(`card ${s} is in slot ${String(res.slot)} (${String(res.name)})`);
      }),
    );

  withFaultOptions(
    cards
      .command('new')
      .description('put a new blank card (or a faulty one) into a free reader slot of the running daemon')
      .option('--slot <n>', 'slot index; default the first free one', intArg('--slot', 0, 15))
      .option('--wrong-keys', 'card personalised with other SCP03 keys')
      .option('--pre-personalised', 'card that already holds eID content (not locked)')
      .option('--locked', 'finished card: eID locked, card SECURED'),
  )
    .option('--json', 'JSON output')
    .action(async (o: { slot?: number; wrongKeys?: boolean; prePersonalised?: boolean; locked?: boolean; json?: boolean; removeAfterApdus?: number; garbageAfterApdus?: number; slowMs?: number }) =>
      run(!!o.json, async (cfg) => {
        const faults = faultsOf(o);
        const res = await ask(cfg.home, {
          op: 'new',
          ...(o.slot !== undefined ? { slot: o.slot } : {}),
          ...(o.wrongKeys ? { wrongKeys: true } : {}),
          ...(o.prePersonalised ? { prePersonalised: true } : {}),
          ...(o.locked ? { locked: true } : {}),
          ...(faults ? { faults } : {}),
        });
        const out = { slot: res.slot, name: res.name, port: res.port, serial: res.serial };
        if (o.json) printJson(out);
        else printLine(`new card ${String(res.serial)} is in slot ${String(res.slot)} (${String(res.name)})`);
      }),
    );

  cards
    .command('remove')
    .description('pull the card out of a reader slot')
    .requiredOption('--slot <n>', 'slot index (2 x reader + slot)', intArg('--slot', 0, 15))
    .option('--json', 'JSON output')
    .action(async (o: { slot: number; json?: boolean }) =>
      run(!!o.json, async (cfg) => {
        const res = await ask(cfg.home, { op: 'remove', slot: o.slot });
        if (o.json) printJson({ slot: res.slot, serial: res.serial });
        else printLine(res.serial ? `card ${String(res.serial)} removed from slot ${o.slot}` : `slot ${o.slot} was empty`);
      }),
    );
}
