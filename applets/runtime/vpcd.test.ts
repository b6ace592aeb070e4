/**
 * The vpcd transport against a fake vpcd (a loopback TCP server speaking the vpcd framing): power control, ATR,
 * APDUs, reconnect after vpcd restarts, and the three transport faults. The real pcscd + vpcd path is covered by
 * test/cards-*.test.ts.
 */
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createCardRuntime, manufactureCard } from '../factory.ts';
import { hex } from '../testing/index.ts';
import { VirtualCard, type CardFaults } from './vpcd.ts';

/** A stand-in for vpcd: accepts one card, sends framed messages, returns framed answers. */
class FakeVpcd {
  server!: net.Server;
  port = 0;
  sock: net.Socket | undefined;
  private buf = Buffer.alloc(0);
  private waiters: Array<(b: Buffer | undefined) => void> = [];
  private connectWaiters: Array<() => void> = [];
  closed = false;

  async listen(port = 0): Promise<void> {
    this.server = net.createServer((s) => {
      this.sock = s;
      this.buf = Buffer.alloc(0);
      s.on('error', () => undefined); // a pulled card resets the connection
      s.on('data', (d: Buffer) => {
        this.buf = Buffer.concat([this.buf, d]);
        this.drain();
      });
      s.on('close', () => {
        for (const w of this.waiters.splice(0)) w(undefined);
      });
      for (const w of this.connectWaiters.splice(0)) w();
    });
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  connected(): Promise<void> {
    if (this.sock && !this.sock.destroyed) return Promise.resolve();
    return new Promise((r) => this.connectWaiters.push(r));
  }

  private drain(): void {
    while (this.buf.length >= 2 && this.buf.length >= 2 + this.buf.readUInt16BE(0) && this.waiters.length) {
      const n = this.buf.readUInt16BE(0);
      const msg = this.buf.subarray(2, 2 + n);
      this.buf = this.buf.subarray(2 + n);
      this.waiters.shift()!(Buffer.from(msg));
    }
  }

  /** Sends a payload; resolves with the answer, or undefined if the card hung up. */
  request(payload: Uint8Array): Promise<Buffer | undefined> {
    const p = new Promise<Buffer | undefined>((r) => {
      this.waiters.push(r);
      this.drain();
    });
    this.post(payload);
    return p;
  }

  post(payload: Uint8Array): void {
    const f = Buffer.alloc(2 + payload.length);
    f.writeUInt16BE(payload.length, 0);
    f.set(payload, 2);
    this.sock!.write(f);
  }

  async close(): Promise<void> {
    this.sock?.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const MASTER = hex('000102030405060708090A0B0C0D0E0F');
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function setup(faults: CardFaults = {}) {
  const vpcd = new FakeVpcd();
  await vpcd.listen();
  cleanup.push(() => vpcd.close());
  const rt = createCardRuntime(manufactureCard({ masterKey: MASTER }));
  const card = new VirtualCard({ port: vpcd.port, runtime: rt, faults, reconnectMs: 20 });
  cleanup.push(() => card.remove());
  await card.insert();
  await vpcd.connected();
  return { vpcd, rt, card };
}

const SELECT_EID = hex('00A4040C07A0000002471001');

describe('vpcd transport', () => {
  it('answers get-ATR, follows power on/off, moves APDUs', async () => {
    const { vpcd, rt } = await setup();
    expect(await vpcd.request(Uint8Array.of(0x04))).toEqual(Buffer.from(rt.atr));
    vpcd.post(Uint8Array.of(0x01));
    expect((await vpcd.request(SELECT_EID))?.toString('hex')).toBe('9000');
    expect(rt.selectedAid).toBe('A0000002471001');
    vpcd.post(Uint8Array.of(0x00)); // power off: selection lost
    expect((await vpcd.request(hex('00B0000004')))?.toString('hex')).toBe('6986');
    expect(rt.stats.powerOns).toBe(2); // power on + implicit power on of the APDU after power off
  });

  it('reconnects when vpcd goes away and comes back on the same port', async () => {
    const { vpcd, card } = await setup();
    const port = vpcd.port;
    const disconnected = new Promise((r) => card.once('disconnected', r));
    await vpcd.close();
    await disconnected;
    const again = new FakeVpcd();
    await again.listen(port);
    cleanup.push(() => again.close());
    await again.connected();
    expect((await again.request(SELECT_EID))?.toString('hex')).toBe('9000');
  });

  it('removeAfterApdus: answers K APDUs, then hangs up without executing the next one', async () => {
    const { vpcd, card, rt } = await setup({ removeAfterApdus: 2 });
    const removed = new Promise((r) => card.once('removed', r));
    expect((await vpcd.request(SELECT_EID))?.toString('hex')).toBe('9000');
    expect((await vpcd.request(hex('00A4040C08A000000151000000')))?.toString('hex')).toBe('9000');
    expect(await vpcd.request(hex('80CA9F7F00'))).toBeUndefined();
    await removed;
    expect(card.isRemoved).toBe(true);
    expect(rt.stats.apdus).toBe(2);
  });

  it('garbageAfterApdus: answers one byte that is no response APDU, without executing', async () => {
    const { vpcd, rt } = await setup({ garbageAfterApdus: 1 });
    expect((await vpcd.request(SELECT_EID))?.toString('hex')).toBe('9000');
    expect((await vpcd.request(hex('80CA9F7F00')))?.toString('hex')).toBe('6f');
    expect(rt.stats.apdus).toBe(1);
  });

  it('slowMs: holds each response back for N ms (fake timers)', async () => {
    const { vpcd, card } = await setup({ slowMs: 500 });
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    try {
      const received = new Promise((r) => card.once('apdu', r));
      let answered = false;
      const res = vpcd.request(SELECT_EID).then((r) => {
        answered = true;
        return r;
      });
      await received;
      await new Promise((r) => setImmediate(r));
      expect(answered).toBe(false);
      await vi.advanceTimersByTimeAsync(499);
      expect(answered).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect((await res)?.toString('hex')).toBe('9000');
    } finally {
      vi.useRealTimers();
    }
  });

  it('rejects bad fault options', () => {
    const rt = createCardRuntime(manufactureCard({ masterKey: MASTER }));
    expect(() => new VirtualCard({ port: 1, runtime: rt, faults: { slowMs: -1 } })).toThrow(/slowMs/);
    expect(() => new VirtualCard({ port: 1, runtime: rt, faults: { removeAfterApdus: 1.5 } })).toThrow(/removeAfterApdus/);
  });
});
