/**
 * Kadi's virtual cards through the real pcscd + vpcd of the test run, with the npm `pcsclite` binding on the host
 * side and src/chip's host code for SCP03 and BAC: power-on / ATR seen by pcscd, personalisation under SCP03 with
 * the serial-diversified keys (extended-length APDUs), lock, BAC + secure messaging read-back, Active
 * Authentication, persistence across remove / insert, and each transport fault.
 */
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApduFormatError, SecureChannelError, command } from '../src/chip/index.ts';
import {
  diversifyKeySet,
  EID_AID,
  CardLauncher,
  type SlotSpec,
  parseAtr,
  DirCardStore,
  PcscContext,
  connect,
  disconnect,
  transmitter,
  type ShareMode,
} from '../applets/index.ts';
import { Terminal, bacSecretsData, hex, swOf } from '../applets/testing/index.ts';
import { claimReaderSlots, testServices, type SlotClaim } from './support/env.ts';

const MASTER = hex('5A5B5C5D5E5F606162636465666768696A6B6C6D6E6F70717273747576777879'); // AES-256 master
const SECRETS = { documentNumber: 'KE1234567', dateOfBirth: '900214', dateOfExpiry: '340213' };
const COM = hex('60145F0104303130385F36063034303030305C02616F');
const DG1 = new Uint8Array(Buffer.concat([Buffer.from('615B5F1F58', 'hex'), Buffer.from('IDKEN' + 'KE1234567'.padEnd(25, '<') + '9002141M3402130KEN'.padEnd(30, '<') + 'MWANGI<<AMANI'.padEnd(30, '<'))]));
const DG2 = new Uint8Array(Buffer.alloc(12_000, 0x37));

let home: string;
let store: DirCardStore;
beforeAll(() => {
  testServices(); // PCSCLITE_CSOCK_NAME for this worker
  home = mkdtempSync(path.join(os.tmpdir(), 'kadi-cards-pcsc-'));
  store = new DirCardStore(path.join(home, 'cards'));
});
afterAll(() => {
  if (home) rmSync(home, { recursive: true, force: true });
});

/** Runs `body` with a launcher, claimed slots and a PC/SC context; everything is released in finally. */
async function withCards<T>(n: number, body: (x: { launcher: CardLauncher; slots: SlotSpec[]; pcsc: PcscContext; claim: SlotClaim }) => Promise<T>): Promise<T> {
  const s = testServices();
  const claim = claimReaderSlots(n);
  const slots = claim.slots.map((sl) => ({ index: sl.port - s.readerBasePort, port: sl.port, name: sl.name }));
  const launcher = new CardLauncher({ store, masterKey: MASTER });
  let pcsc: PcscContext | undefined;
  try {
    pcsc = await PcscContext.open(slots.map((x) => x.name));
    return await body({ launcher, slots, pcsc, claim });
  } finally {
    await launcher.stop();
    // pcscd notices a removal at its next poll: hand the slots back only once they are seen empty
    for (const sl of slots) await pcsc?.waitEmpty(sl.name!).catch(() => undefined);
    pcsc?.close();
    claim.release();
  }
}

/** Connects to the card in `slot` and returns a terminal on it. */
async function terminalOn(pcsc: PcscContext, slot: SlotSpec, share: ShareMode = 'exclusive'): Promise<{ term: Terminal; done: () => Promise<void> }> {
  await pcsc.waitPresent(slot.name!);
  const reader = pcsc.reader(slot.name!);
  const protocol = await connect(reader, share);
  expect(protocol).toBe(reader.SCARD_PROTOCOL_T1);
  return { term: new Terminal(transmitter(reader, protocol)), done: () => disconnect(reader, 'leave') };
}

function aaVerify(spki: Uint8Array, challenge: Uint8Array, sig: Uint8Array): boolean {
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  return verify('sha256', challenge, { key, dsaEncoding: 'ieee-p1363' }, sig);
}

describe('virtual cards over pcscd + vpcd', { timeout: 60_000 }, () => {
  it('a new blank card powers on in its slot and pcscd reports the Kadi ATR', async () => {
    await withCards(1, async ({ launcher, slots, pcsc }) => {
      const c = await launcher.insertNew(slots[0]!);
      const atr = await pcsc.waitPresent(slots[0]!.name!);
      expect(atr.toString('hex')).toBe(Buffer.from(c.runtime.atr).toString('hex'));
      const parsed = parseAtr(atr);
      expect(parsed.protocols).toEqual([1]);
      expect(parsed.tckValid).toBe(true);
      expect(store.load(c.serial)?.cardLifeCycle).toBe(0x01);
      // GET DATA CPLC through PC/SC, shared access
      const { term, done } = await terminalOn(pcsc, slots[0]!, 'shared');
      try {
        await term.selectAid('A000000151000000');
        const cplc = await term.expect(command(0x80, 0xca, 0x9f, 0x7f, undefined, 256));
        expect(Buffer.from(cplc.subarray(3 + 12, 3 + 16)).toString('hex').toUpperCase()).toBe(c.serial.slice(4));
      } finally {
        await done();
      }
      await launcher.remove(slots[0]!.index);
      await pcsc.waitEmpty(slots[0]!.name!);
    });
  });

  it('personalises under SCP03 (diversified keys, extended APDUs), locks, reads back under BAC, AA verifies; the card keeps it across remove/insert', async () => {
    await withCards(2, async ({ launcher, slots, pcsc }) => {
      const c = await launcher.insertNew(slots[0]!);
      const keys = diversifyKeySet(MASTER, c.serial);
      let spki: Uint8Array;
      {
        const { term, done } = await terminalOn(pcsc, slots[0]!, 'exclusive');
        try {
          expect(swOf(await term.selectAid(EID_AID))).toBe('9000');
          // refused without SCP03
          expect(swOf(await term.send(command(0x00, 0xe0, 0x00, 0x00, hex('620B 8002 0020 820101 8302 011E'))))).toBe('6982');
          const { kdd } = await term.openScp03(keys, 0x33);
          expect(Buffer.from(kdd.subarray(4)).toString('hex').toUpperCase()).toBe(c.serial);
          await term.writeFile(0x011e, COM);
          await term.writeFile(0x0101, DG1);
          await term.writeFile(0x0102, DG2, 4000); // extended-length UPDATE BINARY (4000 + SCP03 overhead)
          await term.expect(command(0x00, 0xda, 0x00, 0xe1, bacSecretsData(SECRETS)), 0x9000, 'PUT DATA');
          spki = await term.expect(command(0x00, 0x47, 0x00, 0x00, undefined, 256), 0x9000, 'GENERATE KEY PAIR');
          // read-back under SCP03 (R-ENC + R-MAC), extended Le: DG2 is the current EF after its writes
          await term.expect(command(0x00, 0xa4, 0x02, 0x0c, hex('0102')));
          const big = await term.expect(command(0x00, 0xb0, 0x00, 0x00, undefined, 4096));
          expect(Buffer.from(big)).toEqual(Buffer.from(DG2.subarray(0, 4096)));
          await term.expect(command(0x80, 0xf0, 0x40, 0x0f), 0x9000, 'LOCK');
          expect(swOf(await term.send(command(0x00, 0xd6, 0x00, 0x00, hex('00'))))).toBe('6985');
        } finally {
          await done();
        }
      }
      // after lock: plain read refused, BAC read-back, AA under SM
      {
        const { term, done } = await terminalOn(pcsc, slots[0]!, 'shared');
        try {
          await term.selectAid(EID_AID);
          expect(swOf(await term.send(command(0x00, 0xb0, 0x81, 0x00, undefined, 256)))).toBe('6982');
          await term.bac(SECRETS);
          expect(Buffer.from(await term.readFile(0x011e))).toEqual(Buffer.from(COM));
          expect(Buffer.from(await term.readFile(0x0101))).toEqual(Buffer.from(DG1));
          expect(Buffer.from(await term.readFile(0x0102, 0x800))).toEqual(Buffer.from(DG2));
          const challenge = hex('A1A2A3A4A5A6A7A8');
          const sig = await term.expect(command(0x00, 0x88, 0x00, 0x00, challenge, 256), 0x9000, 'INTERNAL AUTHENTICATE');
          expect(aaVerify(spki, challenge, sig)).toBe(true);
        } finally {
          await done();
        }
      }
      const stored = store.load(c.serial)!;
      expect(stored.eid.lifeCycle).toBe(0x0f);
      expect(stored.eid.documentNumber).toBe('KE1234567');

      // pull it out, put it in the other slot: same card
      await launcher.remove(slots[0]!.index);
      await pcsc.waitEmpty(slots[0]!.name!);
      await launcher.insert(c.serial, slots[1]!);
      const { term, done } = await terminalOn(pcsc, slots[1]!, 'exclusive');
      try {
        await term.selectAid(EID_AID);
        await term.bac(SECRETS);
        expect(Buffer.from(await term.readFile(0x0101))).toEqual(Buffer.from(DG1));
        await term.selectAid(EID_AID);
        await term.openScp03(keys, 0x01);
        expect(swOf(await term.send(command(0x00, 0xe0, 0x00, 0x00, hex('620B 8002 0020 820101 8302 0103'))))).toBe('6985');
      } finally {
        await done();
      }
    });
  });

  it('removeAfterApdus: the card pulled mid-sequence gives the host a transport error', async () => {
    await withCards(1, async ({ launcher, slots, pcsc }) => {
      const c = await launcher.insertNew(slots[0]!, { faults: { removeAfterApdus: 3 } });
      const keys = diversifyKeySet(MASTER, c.serial);
      const { term, done } = await terminalOn(pcsc, slots[0]!, 'exclusive');
      try {
        await term.selectAid(EID_AID);
        await term.openScp03(keys, 0x03); // APDUs 2 and 3
        const err = await term.send(command(0x00, 0xe0, 0x00, 0x00, hex('620B 8002 0020 820101 8302 011E'))).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(Error);
        expect(err).not.toBeInstanceOf(ApduFormatError);
        expect(String((err as Error).message)).toMatch(/SCard|removed|transact|reset|communication/i);
        await pcsc.waitEmpty(slots[0]!.name!);
        // the command that was in flight did not reach the card's store
        expect(store.load(c.serial)!.mf.children.find((x) => x.kind === 'DF')).toMatchObject({ children: [] });
      } finally {
        await done();
      }
    });
  });

  it('garbageAfterApdus: the host gets bytes it cannot parse as a response', async () => {
    await withCards(1, async ({ launcher, slots, pcsc }) => {
      await launcher.insertNew(slots[0]!, { faults: { garbageAfterApdus: 1 } });
      const { term, done } = await terminalOn(pcsc, slots[0]!, 'shared');
      try {
        expect(swOf(await term.selectAid(EID_AID))).toBe('9000');
        const err = await term.sendPlain(command(0x80, 0x50, 0x00, 0x00, new Uint8Array(8), 256)).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ApduFormatError);
        expect((err as ApduFormatError).message).toMatch(/no status word/);
      } finally {
        await done();
      }
    });
  });

  it('slowMs: a slow card still works', async () => {
    await withCards(1, async ({ launcher, slots, pcsc }) => {
      const c = await launcher.insertNew(slots[0]!, { faults: { slowMs: 120 } });
      const keys = diversifyKeySet(MASTER, c.serial);
      const { term, done } = await terminalOn(pcsc, slots[0]!, 'exclusive');
      try {
        await term.selectAid(EID_AID);
        await term.openScp03(keys, 0x01);
        await term.writeFile(0x011e, COM);
        expect(Buffer.from(await term.readFile(0x011e))).toEqual(Buffer.from(COM));
        expect(c.card.apdus).toBe(7);
      } finally {
        await done();
      }
    });
  });

  it('wrongKeys: SCP03 fails on the host at the card cryptogram; locked card refuses writes', async () => {
    await withCards(2, async ({ launcher, slots, pcsc }) => {
      const wrong = await launcher.insertNew(slots[0]!, { wrongKeys: true });
      const locked = await launcher.insertNew(slots[1]!, { locked: true });
      {
        const { term, done } = await terminalOn(pcsc, slots[0]!, 'exclusive');
        try {
          await term.selectAid(EID_AID);
          const err = await term.openScp03(diversifyKeySet(MASTER, wrong.serial), 0x03).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(SecureChannelError);
          expect((err as SecureChannelError).reason).toBe('CARD_CRYPTOGRAM_INVALID');
        } finally {
          await done();
        }
      }
      const { term, done } = await terminalOn(pcsc, slots[1]!, 'exclusive');
      try {
        await term.selectAid(EID_AID);
        await term.openScp03(diversifyKeySet(MASTER, locked.serial), 0x03);
        expect(swOf(await term.send(command(0x00, 0xe0, 0x00, 0x00, hex('620B 8002 0020 820101 8302 011E'))))).toBe('6985');
        term.channel = undefined;
        await term.selectAid('A000000151000000');
        const cplc = await term.expect(command(0x80, 0xca, 0x9f, 0x7f, undefined, 256));
        expect(Buffer.from(cplc.subarray(3 + 34, 3 + 36)).toString('hex')).toBe('4b44'); // personalised
      } finally {
        await done();
      }
    });
  });
});
