/**
 * The `kadi cards` daemon: a background process that keeps virtual cards in the vpcd reader slots of the local
 * pcscd (the "virtual encoders" of the demo), and takes orders over a control socket.
 *
 * Files, all in `$KADI_HOME/cards/` (the card store directory, mode 700):
 * ```
 *   <serial>.json   the cards (runtime/state.ts)
 *   daemon.pid      PID of the running daemon
 *   daemon.sock     control socket (Unix domain)
 *   daemon.log      the daemon's stdout/stderr (JSON lines: events, never card data)
 * ```
 * Control protocol: one JSON request per connection, one JSON response line, then the daemon closes it.
 * ```
 *   {"op":"status"}                                   -> {"ok":true,"pid":..,"slots":[{"index","port","name","serial"}]}
 *   {"op":"insert","serial":S[,"slot":N][,"faults":{..}]} -> {"ok":true,"slot":N,"port":..,"name":..,"serial":S}
 *   {"op":"new"[,"slot":N][,"wrongKeys"|"prePersonalised"|"locked":true]}  -> same, with a fresh blank card
 *   {"op":"remove","slot":N}                          -> {"ok":true,"slot":N,"serial":S|null}
 *   {"op":"stop"}                                     -> {"ok":true}, then the daemon exits
 *   error                                             -> {"ok":false,"error":{"code":"CARDS_...","message":".."}}
 * ```
 * A slot is free when this daemon has no card in it and pcscd reports it empty (another process — a test, a
 * second launcher — may have a card there). Insert and remove return once pcscd has seen the change, so a
 * caller can act on the reader right away.
 *
 * Started by `kadi cards start` (src/cli/cards.ts): `node --import tsx applets/daemon.ts '<config JSON>'`.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CardLauncher, type SlotSpec } from './launcher.ts';
import { DirCardStore } from './runtime/index.ts';
import type { CardFaults } from './runtime/index.ts';

/** Where the daemon keeps its files. */
export interface CardsPaths {
  dir: string;
  pid: string;
  socket: string;
  log: string;
}

export function cardsPaths(home: string): CardsPaths {
  const dir = path.join(path.resolve(home), 'cards');
  return {
    dir,
    pid: path.join(dir, 'daemon.pid'),
    socket: path.join(dir, 'daemon.sock'),
    log: path.join(dir, 'daemon.log'),
  };
}

/** Longest Unix socket path Linux accepts (sun_path is 108 bytes with the terminating NUL). */
export const MAX_SOCKET_PATH = 107;

/** What services.sh wrote about pcscd: socket, vpcd base port and the slots. */
export interface PcscEnv {
  socket: string;
  basePort: number;
  readers: number;
  /** Every slot: index = port - basePort. */
  slots: SlotSpec[];
}

/** Reads `$KADI_PCSC_DIR/env` and `readers` (scripts/services.sh). Throws Error when pcscd is not running. */
export function readPcscEnv(pcscDir: string): PcscEnv {
  const envFile = path.join(pcscDir, 'env');
  const readersFile = path.join(pcscDir, 'readers');
  if (!existsSync(envFile) || !existsSync(readersFile)) {
    throw new DaemonError('CARDS_PCSC_NOT_RUNNING', `no pcscd environment in ${pcscDir} (env, readers)`);
  }
  const env: Record<string, string> = {};
  for (const line of readFileSync(envFile, 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  const basePort = Number(env.KADI_VPCD_BASE_PORT);
  const socket = env.PCSCLITE_CSOCK_NAME;
  if (!socket || !Number.isInteger(basePort)) throw new DaemonError('CARDS_PCSC_NOT_RUNNING', `${envFile} lacks PCSCLITE_CSOCK_NAME / KADI_VPCD_BASE_PORT`);
  const slots = readFileSync(readersFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [name, port] = line.split('\t');
      return { index: Number(port) - basePort, port: Number(port), name: name! };
    });
  return { socket, basePort, readers: Number(env.KADI_READERS ?? slots.length / 2), slots };
}

/** An error with a stable code, carried over the control socket. */
export class DaemonError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DaemonError';
  }
}

export interface DaemonRequest {
  op: 'status' | 'insert' | 'new' | 'remove' | 'stop';
  serial?: string;
  slot?: number;
  faults?: CardFaults;
  wrongKeys?: boolean;
  prePersonalised?: boolean;
  locked?: boolean;
}

export interface SlotStatus {
  index: number;
  port: number;
  name: string;
  serial: string | null;
}

export type DaemonResponse =
  | ({ ok: true } & Record<string, unknown>)
  | { ok: false; error: { code: string; message: string } };

/** Sends one request to the daemon's control socket. Rejects when no daemon listens. */
export function requestDaemon(socketPath: string, req: DaemonRequest, timeoutMs = 30_000): Promise<DaemonResponse> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new DaemonError('CARDS_DAEMON_TIMEOUT', `no answer from the cards daemon within ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`${JSON.stringify(req)}\n`));
    s.on('data', (d: string) => {
      buf += d;
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      const line = buf.split('\n').find((l) => l.trim() !== '');
      if (!line) return reject(new DaemonError('CARDS_DAEMON_PROTOCOL', 'the cards daemon closed without an answer'));
      try {
        resolve(JSON.parse(line) as DaemonResponse);
      } catch {
        reject(new DaemonError('CARDS_DAEMON_PROTOCOL', 'the cards daemon answered something that is not JSON'));
      }
    });
  });
}

/** The daemon's start-up configuration (passed as JSON on its command line by the CLI). */
export interface DaemonConfig {
  home: string;
  pcscDir: string;
  /** Hex of the issuer card master key for new cards. */
  masterKeyHex: string;
  /** Number of blank cards to start with. */
  count: number;
  /** Explicit slot indexes for them (else the first free ones). */
  slots?: number[];
}

function event(e: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), ...e })}\n`);
}

/** The running daemon. */
export class CardsDaemon {
  private readonly launcher: CardLauncher;
  private server: net.Server | undefined;
  private stopping: Promise<void> | undefined;
  private resolveDone: () => void = () => undefined;
  /** Resolves when the daemon has stopped (stop op or signal). */
  readonly done: Promise<void> = new Promise((r) => {
    this.resolveDone = r;
  });
  private busy: Promise<unknown> = Promise.resolve();

  constructor(
    readonly cfg: DaemonConfig,
    readonly paths: CardsPaths,
    readonly pcsc: PcscEnv,
  ) {
    this.launcher = new CardLauncher({
      store: new DirCardStore(paths.dir),
      masterKey: new Uint8Array(Buffer.from(cfg.masterKeyHex, 'hex')),
      log: (line) => event({ event: 'card', line }),
    });
  }

  /** Slots pcscd reports with a card in them (a fresh PC/SC context each time: survives pcscd restarts). */
  private async occupiedByOthers(): Promise<Set<number>> {
    const { PcscContext } = await import('./pcsc.ts');
    const ctx = await PcscContext.open(this.pcsc.slots.map((s) => s.name!));
    try {
      const mine = new Set(this.launcher.inserted().map((c) => c.slot.index));
      return new Set(this.pcsc.slots.filter((s) => !mine.has(s.index) && ctx.present(s.name!)).map((s) => s.index));
    } finally {
      ctx.close();
    }
  }

  private async waitPcsc(slot: SlotSpec, present: boolean): Promise<void> {
    const { PcscContext } = await import('./pcsc.ts');
    const ctx = await PcscContext.open([slot.name!]);
    try {
      if (present) await ctx.waitPresent(slot.name!, 10_000);
      else await ctx.waitEmpty(slot.name!, 10_000);
    } finally {
      ctx.close();
    }
  }

  /** A free slot: `wanted` if free, else the first free one. */
  private async freeSlot(wanted?: number): Promise<SlotSpec> {
    const others = await this.occupiedByOthers();
    const mine = new Set(this.launcher.inserted().map((c) => c.slot.index));
    if (wanted !== undefined) {
      const slot = this.pcsc.slots.find((s) => s.index === wanted);
      if (!slot) throw new DaemonError('CARDS_BAD_SLOT', `no slot ${wanted} (0..${this.pcsc.slots.length - 1})`);
      if (mine.has(wanted) || others.has(wanted)) throw new DaemonError('CARDS_SLOT_BUSY', `slot ${wanted} holds a card`);
      return slot;
    }
    const free = this.pcsc.slots.find((s) => !mine.has(s.index) && !others.has(s.index));
    if (!free) throw new DaemonError('CARDS_NO_FREE_SLOTS', 'every reader slot holds a card');
    return free;
  }

  status(): SlotStatus[] {
    const bySlot = new Map(this.launcher.inserted().map((c) => [c.slot.index, c.serial]));
    return this.pcsc.slots.map((s) => ({ index: s.index, port: s.port, name: s.name!, serial: bySlot.get(s.index) ?? null }));
  }

  private slotResult(slot: SlotSpec, serial: string): Record<string, unknown> {
    return { slot: slot.index, port: slot.port, name: slot.name, serial };
  }

  /** Starts the initial blank cards. */
  async startCards(): Promise<void> {
    const { count, slots } = this.cfg;
    if (slots && slots.length !== count) throw new DaemonError('CARDS_BAD_SLOT', `--slots lists ${slots.length} slots for ${count} cards`);
    const others = await this.occupiedByOthers();
    let chosen: SlotSpec[];
    if (slots) {
      chosen = slots.map((i) => {
        const s = this.pcsc.slots.find((x) => x.index === i);
        if (!s) throw new DaemonError('CARDS_BAD_SLOT', `no slot ${i} (0..${this.pcsc.slots.length - 1})`);
        if (others.has(i)) throw new DaemonError('CARDS_SLOT_BUSY', `slot ${i} holds a card`);
        return s;
      });
    } else {
      chosen = this.pcsc.slots.filter((s) => !others.has(s.index)).slice(0, count);
      if (chosen.length < count) {
        throw new DaemonError('CARDS_NO_FREE_SLOTS', `only ${chosen.length} of ${count} reader slots are free`);
      }
    }
    for (const slot of chosen) {
      const c = await this.launcher.insertNew(slot);
      event({ event: 'inserted', ...this.slotResult(slot, c.serial), blank: true });
    }
    await Promise.all(chosen.map((s) => this.waitPcsc(s, true)));
  }

  private async handle(req: DaemonRequest): Promise<Record<string, unknown>> {
    switch (req.op) {
      case 'status':
        return { pid: process.pid, slots: this.status() };
      case 'insert': {
        if (!req.serial) throw new DaemonError('CARDS_USAGE', 'insert needs a serial');
        if (!this.launcher.store.load(req.serial)) throw new DaemonError('CARDS_NOT_FOUND', `no card ${req.serial} in the card store`);
        const where = this.launcher.slotOf(req.serial);
        if (where !== undefined) throw new DaemonError('CARDS_IN_USE', `card ${req.serial} is already in slot ${where}`);
        const slot = await this.freeSlot(req.slot);
        await this.launcher.insert(req.serial, slot, req.faults);
        await this.waitPcsc(slot, true);
        event({ event: 'inserted', ...this.slotResult(slot, req.serial) });
        return this.slotResult(slot, req.serial);
      }
      case 'new': {
        const slot = await this.freeSlot(req.slot);
        const c = await this.launcher.insertNew(slot, {
          ...(req.wrongKeys ? { wrongKeys: true } : {}),
          ...(req.prePersonalised ? { prePersonalised: true } : {}),
          ...(req.locked ? { locked: true } : {}),
          ...(req.faults ? { faults: req.faults } : {}),
        });
        await this.waitPcsc(slot, true);
        event({ event: 'inserted', ...this.slotResult(slot, c.serial), blank: true });
        return this.slotResult(slot, c.serial);
      }
      case 'remove': {
        if (req.slot === undefined) throw new DaemonError('CARDS_USAGE', 'remove needs a slot');
        const slot = this.pcsc.slots.find((s) => s.index === req.slot);
        if (!slot) throw new DaemonError('CARDS_BAD_SLOT', `no slot ${req.slot}`);
        const serial = await this.launcher.remove(req.slot);
        if (serial) await this.waitPcsc(slot, false);
        event({ event: 'removed', slot: req.slot, serial: serial ?? null });
        return { slot: req.slot, serial: serial ?? null };
      }
      case 'stop':
        setImmediate(() => void this.stop());
        return {};
      default:
        throw new DaemonError('CARDS_USAGE', `unknown op ${String((req as { op?: unknown }).op)}`);
    }
  }

  /** Opens the control socket. */
  async listen(): Promise<void> {
    if (this.paths.socket.length > MAX_SOCKET_PATH) {
      throw new DaemonError('CARDS_SOCKET_PATH', `control socket path is too long for a Unix socket: ${this.paths.socket}`);
    }
    rmSync(this.paths.socket, { force: true });
    this.server = net.createServer((conn) => {
      let buf = '';
      conn.setEncoding('utf8');
      conn.on('error', () => undefined);
      conn.on('data', (d: string) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = '';
        // One request at a time: slot decisions must not race.
        this.busy = this.busy
          .then(async () => {
            let res: DaemonResponse;
            try {
              const req = JSON.parse(line) as DaemonRequest;
              res = { ok: true, ...(await this.handle(req)) };
            } catch (e) {
              const err = e as Error & { code?: string };
              res = { ok: false, error: { code: err instanceof DaemonError ? err.code : 'CARDS_FAILED', message: err.message } };
            }
            conn.end(`${JSON.stringify(res)}\n`);
          })
          .catch(() => undefined);
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.paths.socket, () => resolve());
    });
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      event({ event: 'stopping' });
      this.server?.close();
      await this.launcher.stop();
      rmSync(this.paths.socket, { force: true });
      try {
        if (readFileSync(this.paths.pid, 'utf8').trim() === String(process.pid)) rmSync(this.paths.pid, { force: true });
      } catch {
        // already gone
      }
      event({ event: 'stopped' });
      this.resolveDone();
    })();
    return this.stopping;
  }
}

/** Process entry: `node --import tsx applets/daemon.ts '<DaemonConfig JSON>'`. */
export async function main(argv: string[]): Promise<void> {
  let daemon: CardsDaemon | undefined;
  try {
    const cfg = JSON.parse(argv[2] ?? '') as DaemonConfig;
    const paths = cardsPaths(cfg.home);
    const pcsc = readPcscEnv(cfg.pcscDir);
    // libpcsclite reads the socket path once, at the first PC/SC call of the process.
    process.env.PCSCLITE_CSOCK_NAME = pcsc.socket;
    writeFileSync(paths.pid, `${process.pid}\n`, { mode: 0o644 });
    daemon = new CardsDaemon(cfg, paths, pcsc);
    const d = daemon;
    const onSignal = (): void => {
      void d.stop().then(() => process.exit(0));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    await daemon.startCards();
    await daemon.listen();
    event({ event: 'ready', pid: process.pid, slots: daemon.status() });
    await d.done;
    process.exit(0);
  } catch (e) {
    const err = e as Error & { code?: string };
    event({ event: 'failed', error: { code: err instanceof DaemonError ? err.code : 'CARDS_FAILED', message: err.message } });
    await daemon?.stop().catch(() => undefined);
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main(process.argv);
