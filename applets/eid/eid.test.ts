/**
 * The eID application end to end in memory (no TCP): personalisation under SCP03 through the ISD's secure
 * channel, BAC secrets, Active Authentication key generation, lock, then BAC + secure messaging read-back and
 * Active Authentication — with the host side of src/chip as the terminal.
 */
import { createPublicKey, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { command, type SecureChannel } from '../../src/chip/index.ts';
import { createCardRuntime, manufactureCard } from '../factory.ts';
import { diversifyKeySet } from '../gp-isd/index.ts';
import { MemoryCardStore } from '../runtime/index.ts';
import { Terminal, bacSecretsData, hex, swOf } from '../testing/index.ts';
import { EID_AID } from './eid.ts';

const MASTER = hex('000102030405060708090A0B0C0D0E0F');
const SECRETS = { documentNumber: 'L898902C3', dateOfBirth: '740812', dateOfExpiry: '120415' };
const COM = hex('60145F0104303130365F36063034303030305C026175');
const DG1 = new Uint8Array(Buffer.concat([Buffer.from([0x61, 0x5b, 0x5f, 0x1f, 0x58]), Buffer.alloc(88, 0x3c)]));
const DG2 = new Uint8Array(Buffer.alloc(9000, 0xa5));

function newCard(opts: Parameters<typeof manufactureCard>[0] = { masterKey: MASTER }) {
  const store = new MemoryCardStore();
  const state = manufactureCard(opts);
  const rt = createCardRuntime(state, { store });
  rt.powerOn();
  const term = new Terminal((apdu) => rt.transmit(apdu));
  const keys = diversifyKeySet(MASTER, state.serial);
  return { store, state, rt, term, keys };
}

async function personalise(term: Terminal, keys: { enc: Uint8Array; mac: Uint8Array }, level = 0x33): Promise<Uint8Array> {
  expect(swOf(await term.selectAid(EID_AID))).toBe('9000');
  await term.openScp03(keys, level);
  await term.writeFile(0x011e, COM);
  await term.writeFile(0x0101, DG1);
  await term.writeFile(0x0102, DG2, 4000);
  await term.expect(command(0x00, 0xda, 0x00, 0xe1, bacSecretsData(SECRETS)), 0x9000, 'PUT DATA');
  const spki = await term.expect(command(0x00, 0x47, 0x00, 0x00, undefined, 256), 0x9000, 'GENERATE KEY');
  // P1 81: read the public key again
  expect(Buffer.from(await term.expect(command(0x00, 0x47, 0x81, 0x00, undefined, 256)))).toEqual(Buffer.from(spki));
  return spki;
}

function aaVerify(spki: Uint8Array, challenge: Uint8Array, sig: Uint8Array): boolean {
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  return verify('sha256', challenge, { key, dsaEncoding: 'ieee-p1363' }, sig);
}

describe('eID application', () => {
  for (const level of [0x01, 0x03, 0x33]) {
    it(`personalises under SCP03 level ${level.toString(16).padStart(2, '0')}, locks, reads back under BAC`, async () => {
      const { term, keys, rt, store, state } = newCard();
      const spki = await personalise(term, keys, level);
      expect(spki.length).toBe(91);
      const pub = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
      expect(pub.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');

      // read-back under SCP03 before lock
      expect(Buffer.from(await term.readFile(0x011e))).toEqual(Buffer.from(COM));

      // lock (SET STATUS of the application to PERSONALIZED)
      await term.expect(command(0x80, 0xf0, 0x40, 0x0f, hex(EID_AID)), 0x9000, 'LOCK');
      expect(store.load(state.serial)?.eid.lifeCycle).toBe(0x0f);

      // after lock: writes refused even under SCP03
      const w = await term.send(command(0x00, 0xd6, 0x00, 0x00, Uint8Array.of(1)));
      expect(swOf(w)).toBe('6985');

      // plain reads refused
      term.channel = undefined;
      await term.selectAid(EID_AID);
      expect(swOf(await term.send(command(0x00, 0xa4, 0x02, 0x0c, hex('011E'))))).toBe('6982');
      expect(swOf(await term.send(command(0x00, 0xb0, 0x9e, 0x00, undefined, 256)))).toBe('6982');

      // BAC + SM read-back
      await term.bac(SECRETS);
      expect(Buffer.from(await term.readFile(0x011e))).toEqual(Buffer.from(COM));
      expect(Buffer.from(await term.readFile(0x0101))).toEqual(Buffer.from(DG1));
      expect(Buffer.from(await term.readFile(0x0102))).toEqual(Buffer.from(DG2));

      // AA under SM
      const challenge = hex('0102030405060708');
      const sig = await term.expect(command(0x00, 0x88, 0x00, 0x00, challenge, 256), 0x9000, 'INTERNAL AUTHENTICATE');
      expect(sig.length).toBe(64);
      expect(aaVerify(spki, challenge, sig)).toBe(true);
      expect(aaVerify(spki, hex('0102030405060709'), sig)).toBe(false);

      // a plain command ends the SM session: the next SM command is refused
      const ch: SecureChannel | undefined = term.channel as SecureChannel | undefined;
      await term.sendPlain(command(0x00, 0x84, 0x00, 0x00, undefined, 8));
      term.channel = ch;
      const after = await term.sendPlain(ch!.wrapCommand(command(0x00, 0xb0, 0x00, 0x00, undefined, 16)));
      expect(swOf(after)).toBe('6987');
      expect(rt.stats.apdus).toBeGreaterThan(10);
    });
  }

  it('refuses personalisation commands without SCP03, and a wrong BAC key', async () => {
    const { term, keys } = newCard();
    await term.selectAid(EID_AID);
    const fcp = hex('620B 8002 0010 820101 8302 011E');
    expect(swOf(await term.send(command(0x00, 0xe0, 0x00, 0x00, fcp)))).toBe('6982');
    expect(swOf(await term.send(command(0x00, 0xda, 0x00, 0xe1, bacSecretsData(SECRETS))))).toBe('6982');
    expect(swOf(await term.send(command(0x00, 0x46, 0x00, 0x00, undefined, 256)))).toBe('6982');
    // no BAC secrets yet: no challenge, no lock
    expect(swOf(await term.send(command(0x00, 0x84, 0x00, 0x00, undefined, 8)))).toBe('6985');
    await term.openScp03(keys, 0x03);
    expect(swOf(await term.send(command(0x80, 0xf0, 0x40, 0x0f)))).toBe('6985');
    await term.expect(command(0x00, 0xe0, 0x00, 0x00, fcp));
    // the same FID twice
    expect(swOf(await term.send(command(0x00, 0xe0, 0x00, 0x00, fcp)))).toBe('6A89');
    await term.expect(command(0x00, 0xda, 0x00, 0xe1, bacSecretsData(SECRETS)));
    // BAC with the wrong date of birth
    term.channel = undefined;
    await expect(term.bac({ ...SECRETS, dateOfBirth: '740813' })).rejects.toThrow(/MUTUAL AUTHENTICATE: SW 6300/);
  });

  it('keeps EF.CardAccess in the MF, readable without BAC after lock', async () => {
    const { term, keys } = newCard();
    await term.selectAid(EID_AID);
    await term.openScp03(keys, 0x01);
    const cardAccess = hex('3114 3012 060A 04007F0007020204020202010202010D');
    await term.writeFile(0x011c, cardAccess, 0xdf, 0x1c);
    await term.expect(command(0x00, 0xda, 0x00, 0xe1, bacSecretsData(SECRETS)));
    await term.expect(command(0x80, 0xf0, 0x40, 0x0f));
    term.channel = undefined;
    // from the MF, as an inspection system does right after reset
    await term.sendPlain(command(0x00, 0xa4, 0x00, 0x0c, hex('3F00')));
    expect(Buffer.from(await term.readFile(0x011c))).toEqual(Buffer.from(cardAccess));
    // by SFI
    const r = await term.send(command(0x00, 0xb0, 0x9c, 0x00, undefined, 256));
    expect(swOf(r)).toBe('6282');
    expect(Buffer.from(r.data)).toEqual(Buffer.from(cardAccess));
  });

  it('answers READ BINARY with odd INS (DO 53) and UPDATE BINARY with odd INS', async () => {
    const { term, keys } = newCard();
    await term.selectAid(EID_AID);
    await term.openScp03(keys, 0x03);
    await term.writeFile(0x0102, new Uint8Array(300));
    const payload = hex('DEADBEEF');
    await term.expect(command(0x00, 0xd7, 0x00, 0x00, Uint8Array.of(0x54, 0x02, 0x01, 0x00, 0x53, 0x04, ...payload)));
    const r = await term.expect(command(0x00, 0xb1, 0x00, 0x00, hex('54020100'), 6), [0x9000, 0x6282]);
    expect(Buffer.from(r).toString('hex')).toBe('5304deadbeef');
  });

  it('lets the ISD lock the application (SET STATUS P1 40 with the AID)', async () => {
    const { term, keys, state } = newCard();
    await term.selectAid(EID_AID);
    await term.openScp03(keys, 0x01);
    await term.expect(command(0x00, 0xda, 0x00, 0xe1, bacSecretsData(SECRETS)));
    await term.selectAid('A000000151000000');
    await term.openScp03(keys, 0x01);
    await term.expect(command(0x80, 0xf0, 0x40, 0x0f, hex(EID_AID)));
    expect(state.eid.lifeCycle).toBe(0x0f);
    expect(state.eid.documentNumber).toBe('L898902C3');
  });

  it('pre-personalised and locked cards refuse a new personalisation', async () => {
    const pre = newCard({ masterKey: MASTER, prePersonalised: true });
    await pre.term.selectAid(EID_AID);
    await pre.term.openScp03(pre.keys, 0x03);
    const fcp = hex('620B 8002 0016 820101 8302 011E');
    expect(swOf(await pre.term.send(command(0x00, 0xe0, 0x00, 0x00, fcp)))).toBe('6A89');

    const locked = newCard({ masterKey: MASTER, locked: true });
    await locked.term.selectAid(EID_AID);
    await locked.term.openScp03(locked.keys, 0x03);
    expect(swOf(await locked.term.send(command(0x00, 0xe0, 0x00, 0x00, hex('620B 8002 0016 820101 8302 0103'))))).toBe('6985');
  });
});
