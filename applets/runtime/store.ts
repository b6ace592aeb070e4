/**
 * The card store: where virtual cards keep their content between insertions, one JSON document per card
 * (format in state.ts). `DirCardStore` writes `<dir>/<serial>.json` atomically (write a temporary file in the
 * same directory, then rename over the old one), so a reader — `kadi cards list`, another process — sees either
 * the old or the new content, never half a card. No fsync: a virtual card survives a crash of its process,
 * not of the machine. `MemoryCardStore` is for unit tests.
 *
 * Default directory: `$KADI_HOME/cards` (created mode 700: it holds card keys and test personal data).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { type CardState, cardStateFromJson, cardStateToJson, isSerial } from './state.ts';

export interface CardStore {
  /** The stored card, or undefined. Throws if the stored document is corrupt. */
  load(serial: string): CardState | undefined;
  /** Stores serialized card state (JSON text of cardStateToJson). */
  write(serial: string, json: string): void;
  /** Serials of all stored cards, sorted. */
  serials(): string[];
  /** Removes a card from the store (tests only). */
  delete(serial: string): void;
}

/** Serializes a card for {@link CardStore.write}. */
export function serializeCard(state: CardState): string {
  return `${JSON.stringify(cardStateToJson(state), null, 1)}\n`;
}

export function saveCard(store: CardStore, state: CardState): void {
  store.write(state.serial, serializeCard(state));
}

function checkSerial(serial: string): void {
  if (!isSerial(serial)) throw new Error(`not a card serial: ${JSON.stringify(serial)} (12 upper-case hex digits)`);
}

export class DirCardStore implements CardStore {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = path.resolve(dir);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  fileOf(serial: string): string {
    checkSerial(serial);
    return path.join(this.dir, `${serial}.json`);
  }

  load(serial: string): CardState | undefined {
    let text: string;
    try {
      text = readFileSync(this.fileOf(serial), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    try {
      return cardStateFromJson(JSON.parse(text));
    } catch (e) {
      throw new Error(`card store: ${this.fileOf(serial)} is corrupt: ${(e as Error).message}`);
    }
  }

  write(serial: string, json: string, durable = false): void {
    const file = this.fileOf(serial);
    const tmp = path.join(this.dir, `.${serial}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const fd = openSync(tmp, 'w', 0o600);
    try {
      const buf = Buffer.from(json, 'utf8');
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      renameSync(tmp, file);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  }

  serials(): string[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -'.json'.length))
      .filter(isSerial)
      .sort();
  }

  delete(serial: string): void {
    rmSync(this.fileOf(serial), { force: true });
  }
}

/** In-memory store: keeps the serialized JSON, so a load is a real round trip through the stored form. */
export class MemoryCardStore implements CardStore {
  readonly docs = new Map<string, string>();
  writes = 0;
  load(serial: string): CardState | undefined {
    const t = this.docs.get(serial);
    return t === undefined ? undefined : cardStateFromJson(JSON.parse(t));
  }
  write(serial: string, json: string): void {
    checkSerial(serial);
    this.docs.set(serial, json);
    this.writes++;
  }
  serials(): string[] {
    return [...this.docs.keys()].sort();
  }
  delete(serial: string): void {
    this.docs.delete(serial);
  }
}
