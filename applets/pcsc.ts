/**
 * PC/SC helpers for the applets' integration tests and the `kadi cards` daemon's free-slot check, on the npm
 * `pcsclite` binding (DESIGN.md §4): reader state tracked from 'status' events (the binding keeps none that is
 * reliable), connect with an explicit share mode and T=1, transmit with an explicit receive length.
 *
 * PCSCLITE_CSOCK_NAME must point at the right pcscd before the first call in the process (libpcsclite reads it
 * once, at the first SCardEstablishContext).
 */
import pcsclite from 'pcsclite';

type Pcsc = ReturnType<typeof pcsclite>;
export type PcscReader = Parameters<Parameters<Pcsc['on']>[1]>[0] & { name: string };

/** SCARD_STATE_PRESENT / EMPTY (winscard.h). */
export const SCARD_STATE_EMPTY = 0x0010;
export const SCARD_STATE_PRESENT = 0x0020;
/** Receive buffer for extended responses: 65 536 data bytes + SW. */
export const EXTENDED_RECEIVE_LENGTH = 65_538;

interface Tracked {
  reader: PcscReader;
  state: number | undefined;
  atr: Buffer | undefined;
  waiters: Array<() => void>;
}

/** An open PC/SC context with every reader's last known state. */
export class PcscContext {
  private readonly pcsc: Pcsc;
  private readonly readers = new Map<string, Tracked>();
  private readerWaiters: Array<() => void> = [];
  private error: Error | undefined;

  private constructor() {
    this.pcsc = pcsclite();
    this.pcsc.on('error', (e: unknown) => {
      this.error = e instanceof Error ? e : new Error(String(e));
      for (const w of this.readerWaiters.splice(0)) w();
    });
    this.pcsc.on('reader', (r: PcscReader) => {
      const t: Tracked = { reader: r, state: undefined, atr: undefined, waiters: [] };
      this.readers.set(r.name, t);
      r.on('error', () => undefined); // status errors while closing
      r.on('status', (st: { state: number; atr?: Buffer }) => {
        t.state = st.state;
        t.atr = st.atr;
        for (const w of t.waiters.splice(0)) w();
      });
      for (const w of this.readerWaiters.splice(0)) w();
    });
  }

  /** Opens a context and waits until every reader in `names` has reported a first state. */
  static async open(names: readonly string[], timeoutMs = 15_000): Promise<PcscContext> {
    const ctx = new PcscContext();
    try {
      for (const n of names) await ctx.waitFor(n, (t) => t.state !== undefined, timeoutMs, 'a first state');
    } catch (e) {
      ctx.close();
      throw e;
    }
    return ctx;
  }

  reader(name: string): PcscReader {
    const t = this.readers.get(name);
    if (!t) throw new Error(`no reader ${name}`);
    return t.reader;
  }

  /** Whether a card is present (last known state). */
  present(name: string): boolean {
    const st = this.readers.get(name)?.state ?? 0;
    return (st & SCARD_STATE_PRESENT) !== 0;
  }

  atr(name: string): Buffer | undefined {
    return this.readers.get(name)?.atr;
  }

  private waitFor(name: string, cond: (t: Tracked) => boolean, timeoutMs: number, what: string): Promise<Tracked> {
    return new Promise((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`reader ${name}: no ${what} within ${timeoutMs} ms`)), timeoutMs);
      const check = (): void => {
        if (this.error) {
          clearTimeout(deadline);
          reject(this.error);
          return;
        }
        const t = this.readers.get(name);
        if (t && cond(t)) {
          clearTimeout(deadline);
          resolve(t);
          return;
        }
        if (t) t.waiters.push(check);
        else this.readerWaiters.push(check);
      };
      check();
    });
  }

  /** Waits until a card is present (resolves with its ATR) or absent. */
  async waitPresent(name: string, timeoutMs = 15_000): Promise<Buffer> {
    const t = await this.waitFor(name, (x) => ((x.state ?? 0) & SCARD_STATE_PRESENT) !== 0, timeoutMs, 'card');
    return t.atr ?? Buffer.alloc(0);
  }

  async waitEmpty(name: string, timeoutMs = 15_000): Promise<void> {
    await this.waitFor(name, (x) => ((x.state ?? 0) & SCARD_STATE_EMPTY) !== 0, timeoutMs, 'empty slot');
  }

  close(): void {
    for (const t of this.readers.values()) t.reader.close();
    this.pcsc.close();
  }
}

export type ShareMode = 'shared' | 'exclusive';

/** Connects to the card in `reader` with T=1; resolves with the active protocol. */
export function connect(reader: PcscReader, share: ShareMode): Promise<number> {
  return new Promise((resolve, reject) =>
    reader.connect(
      { share_mode: share === 'exclusive' ? reader.SCARD_SHARE_EXCLUSIVE : reader.SCARD_SHARE_SHARED, protocol: reader.SCARD_PROTOCOL_T1 },
      (err, protocol) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(protocol)),
    ),
  );
}

/** A transmit function (for testing/terminal.ts) over a connected reader. */
export function transmitter(reader: PcscReader, protocol: number, receiveLength = EXTENDED_RECEIVE_LENGTH) {
  return (apdu: Uint8Array): Promise<Uint8Array> =>
    new Promise((resolve, reject) =>
      reader.transmit(Buffer.from(apdu), receiveLength, protocol, (err, res) =>
        err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(new Uint8Array(res)),
      ),
    );
}

export function disconnect(reader: PcscReader, disposition: 'leave' | 'reset' | 'unpower' = 'leave'): Promise<void> {
  const d = disposition === 'reset' ? reader.SCARD_RESET_CARD : disposition === 'unpower' ? reader.SCARD_UNPOWER_CARD : reader.SCARD_LEAVE_CARD;
  return new Promise((resolve) => reader.disconnect(d, () => resolve()));
}
