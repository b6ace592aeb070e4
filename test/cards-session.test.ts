/**
 * src/chip's host side (CardSession, command builders, SCP03 and BAC) drives a Kadi virtual card through pcscd
 * exactly as the encoder will: limits from EF.ATR/INFO, SCP03 level 33 with the serial-diversified keys read
 * from the CPLC, files written with the fewest APDUs the card allows, BAC secrets, Active Authentication key,
 * lock, then BAC read-back of every file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  APP_PERSONALIZED,
  CardSession,
  bacGetChallenge,
  bacSecureMessaging,
  bacTerminalAuthenticate,
  bacTerminalComplete,
  cplcChipSerial,
  createTransparentEf,
  deriveBacKeys,
  generateAsymmetricKeyPair,
  getCplc,
  initializeUpdate,
  internalAuthenticate,
  minimumUpdateBinaryCount,
  openScp03Host,
  parseCplc,
  parseExtendedLengthInfo,
  putData,
  randomHostChallenge,
  readTransparentFile,
  selectByAid,
  selectByFid,
  selectIsd,
  selectMf,
  setApplicationStatus,
  writeTransparentFile,
} from '../src/chip/index.ts';
import {
  diversifyKeySet,
  CardLauncher,
  PcscContext,
  connect,
  disconnect,
  transmitter,
  DirCardStore,
} from '../applets/index.ts';
import { bacSecretsData, hex } from '../applets/testing/index.ts';
import { createPublicKey, verify } from 'node:crypto';
import { claimReaderSlots, testServices } from './support/env.ts';

const MASTER = hex('00112233445566778899AABBCCDDEEFF');
const EID = hex('A0000002471001');
const SECRETS = { documentNumber: 'KE2468135', dateOfBirth: '010101', dateOfExpiry: '310101' };
const FILES: Array<[number, Uint8Array]> = [
  [0x011e, hex('60145F0104303130385F36063034303030305C026175')],
  [0x0101, hex('615B5F1F58' + '3C'.repeat(88))],
  [0x0102, new Uint8Array(Buffer.concat([Buffer.from('7582' + '4E1C', 'hex'), Buffer.alloc(0x4e1c, 0x11)]))], // 20 000 + 4
];

let home: string;
beforeAll(() => {
  testServices();
  home = mkdtempSync(path.join(os.tmpdir(), 'kadi-cards-session-'));
});
afterAll(() => {
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('src/chip CardSession against the virtual card', { timeout: 60_000 }, () => {
  it('encodes, locks and reads back with the minimum number of UPDATE BINARY commands', async () => {
    const s = testServices();
    const claim = claimReaderSlots(1);
    const slot = { index: claim.slots[0]!.port - s.readerBasePort, port: claim.slots[0]!.port, name: claim.slots[0]!.name };
    const launcher = new CardLauncher({ store: new DirCardStore(path.join(home, 'cards')), masterKey: MASTER });
    let pcsc: PcscContext | undefined;
    try {
      const card = await launcher.insertNew(slot);
      pcsc = await PcscContext.open([slot.name]);
      await pcsc.waitPresent(slot.name);
      const reader = pcsc.reader(slot.name);
      const protocol = await connect(reader, 'exclusive');
      try {
        const session = new CardSession({ transmit: transmitter(reader, protocol) }, { trace: true });
        // limits: EF.ATR/INFO in the MF
        await session.send(selectMf());
        await session.send(selectByFid(0x2f01));
        const info = await session.transmit({ cla: 0, ins: 0xb0, p1: 0, p2: 0, le: 256 });
        const limits = parseExtendedLengthInfo(info.data);
        expect(limits).toEqual({ maxCommandLength: 4096, maxResponseLength: 4096 });
        session.setLimits({ maxCommandData: limits.maxCommandLength, maxResponseData: limits.maxResponseLength });

        // chip serial from the CPLC = key diversification data
        await session.send(selectIsd());
        const cplc = parseCplc((await session.send(getCplc())).data);
        const chipSerial = cplcChipSerial(cplc);
        expect(chipSerial).toBe(`4B440001${card.serial}`);
        const keys = diversifyKeySet(MASTER, chipSerial.slice(8));

        await session.send(selectByAid(EID));
        const hostChallenge = randomHostChallenge();
        const iu = await session.send(initializeUpdate(0, hostChallenge));
        const opening = openScp03Host({ keys, hostChallenge, initializeUpdateResponse: iu.data, securityLevel: 0x33 });
        expect(Buffer.from(opening.initializeUpdate.keyDiversificationData).toString('hex').toUpperCase()).toBe(chipSerial);
        await session.send(opening.externalAuthenticate);
        session.setSecureChannel(opening.channel);

        const before = session.trace.length;
        for (const [fid, data] of FILES) {
          await session.send(createTransparentEf(fid, data.length));
          await writeTransparentFile(session, data);
        }
        const updates = session.trace.slice(before).filter((r) => r.ins === 0xd6).length;
        const minimum = FILES.reduce((n, [, d]) => n + minimumUpdateBinaryCount(d.length, session.maxPlainCommandData), 0);
        expect(updates).toBe(minimum);
        expect(minimum).toBe(1 + 1 + 5); // 20 004 bytes in 4 079-byte commands

        await session.send(putData(0x00e1, bacSecretsData(SECRETS)));
        const spki = (await session.send(generateAsymmetricKeyPair())).data;
        await session.send(setApplicationStatus(EID, APP_PERSONALIZED));

        // read-back under BAC
        session.setSecureChannel(undefined);
        await session.send(selectByAid(EID));
        const rnd = await session.send(bacGetChallenge());
        const { command: auth, state } = bacTerminalAuthenticate(deriveBacKeys(SECRETS), rnd.data);
        const r = await session.send(auth);
        session.setSecureChannel(bacSecureMessaging(bacTerminalComplete(state, r.data)));
        for (const [fid, data] of FILES) {
          await session.send(selectByFid(fid));
          expect(Buffer.from(await readTransparentFile(session))).toEqual(Buffer.from(data));
        }
        const challenge = hex('0011223344556677');
        const sig = (await session.send(internalAuthenticate(challenge))).data;
        const pub = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
        expect(verify('sha256', challenge, { key: pub, dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
        // the trace has headers, lengths and SWs only
        expect(JSON.stringify(session.trace)).not.toContain('KE2468135');
      } finally {
        await disconnect(reader);
      }
    } finally {
      await launcher.stop();
      await pcsc?.waitEmpty(slot.name).catch(() => undefined);
      pcsc?.close();
      claim.release();
    }
  });
});
