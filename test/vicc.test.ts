/**
 * Interoperability with a card nobody here wrote: Debian's `vicc -t iso7816` (vsmartcard-vpicc, Python), started
 * through test/support/vicc.py (which patches its Python 3 bugs) against a vpcd slot of this run's pcscd. Kadi's
 * PC/SC adapter (src/encoders) and ISO 7816 layer (src/chip: FCP builder, CREATE FILE, UPDATE/READ BINARY with
 * the fewest-APDU helpers, SFI addressing, status word checks) create files on it, write them and read them back;
 * vicc's own FCP encoder is read with Kadi's FCP parser.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApduError,
  CardSession,
  FDB_TRANSPARENT_EF,
  SW_FILE_NOT_FOUND,
  createTransparentEf,
  parseFcp,
  readTransparentFile,
  selectByFid,
  selectMf,
  writeTransparentFile,
} from '../src/chip/index.ts';
import { PcscCardChannel, PcscContext } from '../src/encoders/index.ts';
import { claimReaderSlots, testServices, type SlotClaim } from './support/env.ts';

const WRAPPER = path.join(import.meta.dirname, 'support', 'vicc.py');

let claim: SlotClaim;
let vicc: ChildProcess | undefined;
let ctx: PcscContext;
let channel: PcscCardChannel;
let name: string;
let viccLog = '';

beforeAll(async () => {
  testServices();
  claim = claimReaderSlots(1);
  const slot = claim.slots[0]!;
  name = slot.name;
  vicc = spawn('/usr/bin/python3', [WRAPPER, '-t', 'iso7816', '-H', '127.0.0.1', '-P', String(slot.port), '-v'], { stdio: ['ignore', 'pipe', 'pipe'] });
  vicc.stdout!.on('data', (d: Buffer) => (viccLog += d.toString()));
  vicc.stderr!.on('data', (d: Buffer) => (viccLog += d.toString()));
  ctx = await PcscContext.open({ readers: [name], only: [name] });
  await ctx.waitPresent(name, 20_000).catch((e: unknown) => {
    throw new Error(`vicc did not come up in ${name}: ${(e as Error).message}\n${viccLog}`);
  });
  channel = new PcscCardChannel(ctx, name, { share: 'exclusive' });
  await channel.connect();
});

afterAll(async () => {
  await channel?.disconnect('leave');
  if (vicc && vicc.exitCode === null) {
    const exited = new Promise((r) => vicc!.once('exit', r));
    vicc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
  }
  if (ctx) await ctx.waitEmpty(name, 5_000).catch(() => undefined);
  ctx?.close();
  claim?.release();
});

describe('vicc (vsmartcard, iso7816) through Kadi\'s PC/SC adapter and ISO 7816 layer', { timeout: 60_000 }, () => {
  it('connects with T=1 and sees vicc\'s ATR', () => {
    expect(channel.isConnected).toBe(true);
    expect(Buffer.from(channel.atr!).toString('hex')).toMatch(/^3b/);
  });

  it('creates transparent EFs with an FCP, writes them in the fewest short APDUs and reads them back', async () => {
    const session = new CardSession(channel, { trace: true }); // short APDUs: vicc is not extended-length capable
    await session.send(selectMf());
    const files = [
      { fid: 0x0101, sfi: 1, bytes: new Uint8Array(randomBytes(95)) },
      { fid: 0x0102, sfi: 2, bytes: new Uint8Array(randomBytes(1_000)) },
      { fid: 0x011e, sfi: 0x1e, bytes: new Uint8Array(randomBytes(27)) },
    ];
    for (const f of files) {
      await session.send(createTransparentEf(f.fid, f.bytes.length, { sfi: f.sfi }));
      const n = await writeTransparentFile(session, f.bytes);
      expect(n).toBe(Math.ceil(f.bytes.length / 255));
    }
    for (const f of files) {
      // by SFI (no SELECT) for the first chunk, then by offset in the current EF
      const got = await readTransparentFile(session, { sfi: f.sfi, length: f.bytes.length });
      expect(Buffer.from(got)).toEqual(Buffer.from(f.bytes));
    }
    // an update in the middle, read back by FID selection
    const patch = new Uint8Array(randomBytes(300));
    await session.send(selectByFid(0x0102, { scope: 'ef' }));
    await writeTransparentFile(session, patch, { offset: 500 });
    const all = await readTransparentFile(session, { length: 1_000 });
    expect(Buffer.from(all.subarray(500, 800))).toEqual(Buffer.from(patch));
    expect(Buffer.from(all.subarray(0, 500))).toEqual(Buffer.from(files[1]!.bytes.subarray(0, 500)));
    expect(session.trace.every((r) => r.bytesSent <= 5 + 255 + 1)).toBe(true);
  });

  it('reads vicc\'s own FCP with Kadi\'s parser (size, FID, SFI, structure)', async () => {
    const session = new CardSession(channel);
    await session.send(selectMf());
    const r = await session.send(selectByFid(0x0101, { scope: 'ef', response: 'fcp' }));
    const fcp = parseFcp(r.data);
    expect(fcp).toMatchObject({ fileId: 0x0101, size: 95, sfi: 1, fileDescriptor: FDB_TRANSPARENT_EF });
  });

  it('reports a missing file as a typed ApduError with SW 6A82', async () => {
    const session = new CardSession(channel);
    await session.send(selectMf());
    const err = await session.send(selectByFid(0x0110, { scope: 'ef' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApduError);
    expect((err as ApduError).sw).toBe(SW_FILE_NOT_FOUND);
    expect((err as ApduError).code).toBe('CARD_FILE_NOT_FOUND');
  });
});
