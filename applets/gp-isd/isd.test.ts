/**
 * The GlobalPlatform ISD in memory: key diversification (vector computed with `openssl enc -aes-128-ecb`), SCP03
 * at every security level with the card's diversified keys, failures (wrong keys, bad MAC, no INITIALIZE UPDATE),
 * card life cycle by SET STATUS, GET DATA, PUT KEY.
 */
import { describe, expect, it } from 'vitest';
import { SecureChannelError, aesKcv, command, encryptKeyWithDek } from '../../src/chip/index.ts';
import { createCardRuntime, manufactureCard } from '../factory.ts';
import { MemoryCardStore } from '../runtime/index.ts';
import { Terminal, hex, swOf } from '../testing/index.ts';
import { buildCplc, cplcDate, keyDiversificationData, serialFromCplc } from './cplc.ts';
import { diversificationData, diversifyKey, diversifyKeySet } from './diversify.ts';
import { ISD_AID } from './isd.ts';

const MASTER = hex('000102030405060708090A0B0C0D0E0F');
const SERIAL = '0A1B2C3D4E5F';

function card(opts: { wrongKeys?: boolean } = {}) {
  const state = manufactureCard({ masterKey: MASTER, serial: SERIAL, ...opts });
  const store = new MemoryCardStore();
  const rt = createCardRuntime(state, { store });
  rt.powerOn();
  return { state, rt, store, term: new Terminal((a) => rt.transmit(a)), keys: diversifyKeySet(MASTER, SERIAL) };
}

describe('key diversification', () => {
  it('is AES-ECB(master, serial || F0 || t || serial || 0F || t) (openssl vector)', () => {
    const s = hex(SERIAL);
    expect(Buffer.from(diversificationData(s, 1)).toString('hex')).toBe('0a1b2c3d4e5ff0010a1b2c3d4e5f0f01');
    expect(Buffer.from(diversifyKey(MASTER, s, 1)).toString('hex')).toBe('03fd6d62d2aaf5874c5ea25e46888f82');
    expect(Buffer.from(diversifyKey(MASTER, s, 2)).toString('hex')).toBe('57cc13ea6bac0dc2062972dfb36d8a95');
    expect(Buffer.from(diversifyKey(MASTER, s, 3)).toString('hex')).toBe('45a7e5156e482dd98e83ab11d8087249');
    expect(() => diversificationData(hex('0102'), 1)).toThrow(RangeError);
    // a 256-bit master key also gives 16-byte card keys
    expect(diversifyKey(new Uint8Array(32).fill(7), s, 1).length).toBe(16);
  });

  it('puts the serial in the CPLC and the key diversification data', () => {
    const cplc = buildCplc(hex(SERIAL), new Date('2026-11-25T10:00:00Z'));
    expect(cplc.length).toBe(42);
    expect(Buffer.from(serialFromCplc(cplc)).toString('hex').toUpperCase()).toBe(SERIAL);
    expect(Buffer.from(keyDiversificationData(cplc)).toString('hex').toUpperCase()).toBe(`4B440001${SERIAL}`);
    expect(cplcDate(new Date('2026-11-25T10:00:00Z')).toString(16)).toBe('6329');
    expect(cplcDate(new Date('2020-01-01T00:00:00Z')).toString(16)).toBe('1');
  });
});

describe('SCP03 with the card diversified keys', () => {
  for (const level of [0x01, 0x03, 0x11, 0x13, 0x33]) {
    it(`opens at level ${level.toString(16).padStart(2, '0')} and protects commands both ways`, async () => {
      const { term, keys, state, rt } = card();
      await term.selectAid(ISD_AID);
      const { kdd, sequenceCounter } = await term.openScp03(keys, level);
      expect(Buffer.from(kdd).toString('hex').toUpperCase()).toBe(`4B440001${SERIAL}`);
      expect(sequenceCounter).toEqual(Uint8Array.of(0, 0, 0));
      expect(state.counters.scpSequence).toBe(1);
      const cplc = await term.expect(command(0x80, 0xca, 0x9f, 0x7f, undefined, 256));
      expect(cplc.length).toBe(45);
      await term.expect(command(0x80, 0xf0, 0x80, 0x07)); // OP_READY -> INITIALIZED
      expect(state.cardLifeCycle).toBe(0x07);
      expect(rt.session?.kind).toBe('scp03');
    });
  }

  it('a card with other keys fails the card cryptogram check on the host', async () => {
    const { term, keys, state } = card({ wrongKeys: true });
    await term.selectAid(ISD_AID);
    const err = await term.openScp03(keys, 0x03).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecureChannelError);
    expect((err as SecureChannelError).code).toBe('CARD_SECURE_CHANNEL_CARD_CRYPTOGRAM_INVALID');
    expect(state.note).toContain('wrong keys');
  });

  it('refuses EXTERNAL AUTHENTICATE with a wrong host cryptogram (6300), without INITIALIZE UPDATE (6985), unknown KVN (6A88)', async () => {
    const { rt, term, state } = card();
    await term.selectAid(ISD_AID);
    const sw = (h: string): string => Buffer.from(rt.transmit(hex(h))).subarray(-2).toString('hex').toUpperCase();
    expect(sw('8482010010 00000000000000000000000000000000')).toBe('6985');
    expect(sw('8050310008 0102030405060708 00')).toBe('6A88');
    expect(sw('8050000008 0102030405060708 00')).toBe('9000');
    expect(sw('8482010010 00000000000000000000000000000000')).toBe('6982'); // C-MAC wrong
    expect(rt.session).toBeUndefined();
    expect(state.counters.scpAuthFailures).toBe(1);
    // right C-MAC, wrong host cryptogram: a host that has other keys than the card
    const other = diversifyKeySet(hex('FF0102030405060708090A0B0C0D0E0F'), SERIAL);
    const err = await term.openScp03(other, 0x01).catch((e: unknown) => e);
    expect((err as SecureChannelError).code).toBe('CARD_SECURE_CHANNEL_CARD_CRYPTOGRAM_INVALID');
  });

  it('closes the session on a tampered C-MAC and refuses SM commands afterwards', async () => {
    const { term, keys, rt } = card();
    await term.selectAid(ISD_AID);
    await term.openScp03(keys, 0x01);
    const wrapped = term.channel!.wrapCommand(command(0x80, 0xf0, 0x80, 0x07));
    const bad = { ...wrapped, data: Uint8Array.from(wrapped.data!, (b, i) => (i === 0 ? b ^ 1 : b)) };
    expect(swOf(await term.sendPlain(bad))).toBe('6982');
    expect(rt.session).toBeUndefined();
    expect(swOf(await term.sendPlain(term.channel!.wrapCommand(command(0x80, 0xf0, 0x80, 0x07))))).toBe('6982');
  });
});

describe('card life cycle and keys', () => {
  it('follows GP transitions: forward only, SECURED <-> CARD_LOCKED, TERMINATED final', async () => {
    const { term, keys, state, rt } = card();
    await term.selectAid(ISD_AID);
    expect(swOf(await term.send(command(0x80, 0xf0, 0x80, 0x0f)))).toBe('6982'); // needs SCP03
    await term.openScp03(keys, 0x01);
    await term.expect(command(0x80, 0xf0, 0x80, 0x0f)); // OP_READY -> SECURED
    expect(Buffer.from(state.cplc.subarray(34, 36)).toString('hex')).toBe('4b44'); // personalizer stamped
    expect(swOf(await term.send(command(0x80, 0xf0, 0x80, 0x07)))).toBe('6985'); // backwards
    await term.expect(command(0x80, 0xf0, 0x80, 0x0f)); // same state: fine
    await term.expect(command(0x80, 0xf0, 0x80, 0x7f)); // CARD_LOCKED
    expect(rt.session).toBeUndefined();
    // card locked: only the ISD is selectable
    expect(swOf(await term.selectAid('A0000002471001'))).toBe('6A82');
    await term.selectAid(ISD_AID);
    await term.openScp03(keys, 0x01);
    await term.expect(command(0x80, 0xf0, 0x80, 0x0f)); // back to SECURED
    await term.expect(command(0x80, 0xf0, 0x80, 0xff)); // TERMINATED
    expect(state.cardLifeCycle).toBe(0xff);
    expect(swOf(await term.selectAid('A0000002471001'))).toBe('6A81');
    await term.selectAid(ISD_AID);
    expect(swOf(await term.sendPlain(command(0x80, 0xca, 0x9f, 0x7f, undefined, 256)))).toBe('9000');
    expect(swOf(await term.sendPlain(command(0x80, 0x50, 0x00, 0x00, new Uint8Array(8), 256)))).toBe('6A81');
  });

  it('GET DATA key information, PUT KEY of a new key set, SCP03 with the new keys', async () => {
    const { term, keys, state } = card();
    await term.selectAid(ISD_AID);
    const kit = await term.expect(command(0x80, 0xca, 0x00, 0xe0, undefined, 256));
    expect(Buffer.from(kit).toString('hex')).toBe('e012' + 'c00401308810' + 'c00402308810' + 'c00403308810');
    await term.openScp03(keys, 0x33);
    const fresh = { enc: hex('11'.repeat(16)), mac: hex('22'.repeat(16)), dek: hex('33'.repeat(16)) };
    const block = (k: Uint8Array): number[] => [0x88, 0x11, ...encryptKeyWithDek(keys.dek, k), 0x03, ...aesKcv(k)];
    const data = Uint8Array.from([0x31, ...block(fresh.enc), ...block(fresh.mac), ...block(fresh.dek)]);
    const res = await term.expect(command(0x80, 0xd8, 0x00, 0x81, data, 256));
    expect(Buffer.from(res).toString('hex')).toBe('31' + [fresh.enc, fresh.mac, fresh.dek].map((k) => Buffer.from(aesKcv(k)).toString('hex')).join(''));
    expect(state.keys.map((k) => k.kvn)).toEqual([0x30, 0x31]);
    // a wrong KCV is refused
    const bad = data.slice();
    bad[bad.length - 1]! ^= 1;
    expect(swOf(await term.send(command(0x80, 0xd8, 0x31, 0x81, bad, 256)))).toBe('6A80');
    await term.selectAid(ISD_AID);
    await term.openScp03(fresh, 0x03, 0x31);
    await term.expect(command(0x80, 0xf0, 0x80, 0x07));
  });
});
