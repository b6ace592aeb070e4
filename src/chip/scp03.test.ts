/**
 * SCP03 against published vectors (../shared/vectors/vectors.json): session keys (openjavacard), nine real-card
 * traces from pySim (AES-128/192/256 x security levels 11/03/33) replayed from both ends, and the openjavacard
 * command-wrapping sequences. Then host <-> card round trips at every security level.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../shared/index.ts';
import {
  Scp03Channel,
  SecureChannelError,
  computeCardCryptogram,
  computeHostCryptogram,
  deriveSessionKeys,
  encodeCommand,
  encodeResponse,
  openScp03Host,
  parseCommand,
  parseInitializeUpdateResponse,
  parseResponse,
  respondScp03InitializeUpdate,
  SCP03_SECURITY_LEVELS,
  type CommandApdu,
} from './index.ts';

type Rec = { name: string; inputs: Record<string, any>; expected: Record<string, any> };
const records = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../shared/vectors/vectors.json', import.meta.url)), 'utf8'),
) as Rec[];
const hex = (s: string) => fromHex(s);
const lo = (b: Uint8Array) => toHex(b);
const up = (b: Uint8Array) => toHex(b).toUpperCase();
/** eUICC ISD-R AID: the application the pySim traces opened the channel with (its pseudo-random challenges verify). */
const ISD_R_AID = hex('A0000005591010FFFFFFFF8900000100');

describe('SCP03 session keys (openjavacard vector)', () => {
  it('derives S-ENC, S-MAC, S-RMAC from the default keys', () => {
    const r = records.find((x) => x.name.startsWith('SCP03 session keys'))!;
    const k = hex(r.inputs['K_ENC=K_MAC=K_DEK']);
    const sk = deriveSessionKeys({ enc: k, mac: k }, hex(r.inputs.host_challenge), hex(r.inputs.card_challenge));
    expect(lo(sk.sEnc)).toBe(r.expected.S_ENC);
    expect(lo(sk.sMac)).toBe(r.expected.S_MAC);
    expect(lo(sk.sRmac)).toBe(r.expected.S_RMAC);
  });
});

const traces = records.filter((r) => r.name.includes('pySim real-card trace'));

describe('SCP03 real-card traces (pySim)', () => {
  it('has nine traces: AES-128/192/256 at levels 11, 03, 33', () => {
    expect(traces).toHaveLength(9);
    expect(new Set(traces.map((t) => t.inputs.security_level))).toEqual(new Set(['11', '03', '33']));
  });

  for (const t of traces) {
    const keys = { enc: hex(t.inputs.K_ENC), mac: hex(t.inputs.K_MAC), dek: hex(t.inputs.K_DEK) };
    const level = parseInt(t.inputs.security_level, 16);
    const iuCmd = parseCommand(hex(t.inputs.INITIALIZE_UPDATE_cmd));
    const hostChallenge = iuCmd.data!;
    const iuRsp = hex(t.inputs.INITIALIZE_UPDATE_rsp);
    const plain = t.inputs.plain_cmds as Record<string, string>;
    const order = ['case1', 'case2', 'case3', 'case4'];

    it(`${t.name}: session keys, cryptograms, challenge`, () => {
      const iu = parseInitializeUpdateResponse(iuRsp);
      expect(iu.keyVersion).toBe(parseInt(t.inputs.KVN, 16));
      expect(iu.iParameter).toBe(0x70);
      expect(up(iu.cardChallenge)).toBe(t.expected.derived_locally.card_challenge);
      const sk = deriveSessionKeys(keys, hostChallenge, iu.cardChallenge);
      expect(up(sk.sEnc)).toBe(t.expected.derived_locally.S_ENC);
      expect(up(sk.sMac)).toBe(t.expected.derived_locally.S_MAC);
      expect(up(sk.sRmac)).toBe(t.expected.derived_locally.S_RMAC);
      expect(up(computeCardCryptogram(sk.sMac, hostChallenge, iu.cardChallenge))).toBe(t.expected.derived_locally.card_cryptogram);
      expect(up(iu.cardCryptogram)).toBe(t.expected.derived_locally.card_cryptogram);
      expect(up(computeHostCryptogram(sk.sMac, hostChallenge, iu.cardChallenge))).toBe(t.expected.derived_locally.host_cryptogram);
    });

    it(`${t.name}: host side reproduces every wrapped command and unwraps the response`, () => {
      const { channel, externalAuthenticate } = openScp03Host({
        keys,
        hostChallenge,
        initializeUpdateResponse: iuRsp,
        securityLevel: level,
      });
      expect(lo(encodeCommand(externalAuthenticate))).toBe(t.expected.EXTERNAL_AUTHENTICATE_cmd.toLowerCase());
      const wrapped = channel.wrapCommand(parseCommand(hex(plain.get_eid!)));
      expect(lo(encodeCommand(wrapped))).toBe(t.expected.wrapped_GET_EID.toLowerCase());
      const rsp = channel.unwrapResponse({ data: hex(t.inputs.wrapped_GET_EID_rsp), sw: 0x9000 });
      expect(lo(rsp.data)).toBe(t.inputs.GET_EID_rsp_plain);
      for (const c of order) {
        expect(lo(encodeCommand(channel.wrapCommand(parseCommand(hex(plain[c]!)))))).toBe(
          (t.expected[`wrapped_${c}`] as string).toLowerCase(),
        );
      }
    });

    it(`${t.name}: card side answers INITIALIZE UPDATE identically and unwraps what the host sent`, () => {
      const iu = parseInitializeUpdateResponse(iuRsp);
      const opening = respondScp03InitializeUpdate({
        keys,
        keyVersion: iu.keyVersion,
        keyDiversificationData: iu.keyDiversificationData,
        hostChallenge,
        iParameter: iu.iParameter,
        sequenceCounter: iu.sequenceCounter!,
        aid: ISD_R_AID, // pseudo-random challenge: computed, not given
      });
      expect(lo(opening.responseData)).toBe(lo(iuRsp));
      const card = opening.channel;
      expect(card.acceptExternalAuthenticate(parseCommand(hex(t.expected.EXTERNAL_AUTHENTICATE_cmd)), opening.expectedHostCryptogram)).toBe(level);
      const eid = card.unwrapCommand(parseCommand(hex(t.expected.wrapped_GET_EID)));
      expect(lo(encodeCommand(eid))).toBe(plain.get_eid!.toLowerCase());
      const out = card.wrapResponse({ data: hex(t.inputs.GET_EID_rsp_plain), sw: 0x9000 });
      expect(lo(out.data)).toBe(t.inputs.wrapped_GET_EID_rsp);
      for (const c of order) {
        const got = card.unwrapCommand(parseCommand(hex(t.expected[`wrapped_${c}`] as string)));
        expect(lo(encodeCommand(got))).toBe(plain[c]!.toLowerCase());
      }
    });
  }

  it('rejects the card cryptogram when the keys are wrong (wrong-key card)', () => {
    const t = traces[0]!;
    const iuCmd = parseCommand(hex(t.inputs.INITIALIZE_UPDATE_cmd));
    const wrong = hex('000102030405060708090A0B0C0D0E0E');
    let err: unknown;
    try {
      openScp03Host({ keys: { enc: wrong, mac: wrong }, hostChallenge: iuCmd.data!, initializeUpdateResponse: hex(t.inputs.INITIALIZE_UPDATE_rsp), securityLevel: 0x33 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SecureChannelError);
    expect((err as SecureChannelError).code).toBe('CARD_SECURE_CHANNEL_CARD_CRYPTOGRAM_INVALID');
    expect((err as SecureChannelError).retryable).toBe(false);
  });

  it('rejects a tampered R-MAC and closes the channel', () => {
    const t = traces.find((x) => x.inputs.security_level === '33')!;
    const keys = { enc: hex(t.inputs.K_ENC), mac: hex(t.inputs.K_MAC) };
    const { channel } = openScp03Host({
      keys,
      hostChallenge: parseCommand(hex(t.inputs.INITIALIZE_UPDATE_cmd)).data!,
      initializeUpdateResponse: hex(t.inputs.INITIALIZE_UPDATE_rsp),
      securityLevel: 0x33,
    });
    channel.wrapCommand(parseCommand(hex(t.inputs.plain_cmds.get_eid)));
    const bad = hex(t.inputs.wrapped_GET_EID_rsp);
    bad[bad.length - 1]! ^= 0x01;
    expect(() => channel.unwrapResponse({ data: bad, sw: 0x9000 })).toThrow(/R-MAC/);
    expect(channel.isClosed).toBe(true);
    expect(() => channel.wrapCommand(parseCommand(hex('80F22002')))).toThrow(SecureChannelError);
  });
});

describe('SCP03 command wrapping sequences (openjavacard)', () => {
  for (const name of ['SCP03 command wrapping C-MAC with', 'SCP03 command wrapping C-MAC+C-ENC']) {
    const r = records.find((x) => x.name.startsWith(name))!;
    it(r.name, () => {
      const level = name.includes('C-ENC') ? 0x03 : 0x01;
      const sk = { sEnc: hex(r.inputs.S_ENC), sMac: hex(r.inputs.S_MAC), sRmac: hex(r.inputs.S_MAC) };
      const host = new Scp03Channel(sk, { securityLevel: level });
      const card = new Scp03Channel(sk, { securityLevel: level });
      const plainSeq = r.inputs.plain_sequence as string[];
      const expected = r.expected.wrapped_sequence as string[];
      expect(plainSeq).toHaveLength(8);
      plainSeq.forEach((p, i) => {
        const w = encodeCommand(host.wrapCommand(parseCommand(hex(p))));
        expect(lo(w)).toBe(expected[i]);
        expect(lo(encodeCommand(card.unwrapCommand(parseCommand(w))))).toBe(p);
      });
    });
  }
});

describe('SCP03 host <-> card round trips', () => {
  const keySizes = [16, 24, 32];
  const levels = SCP03_SECURITY_LEVELS.filter((l) => l !== 0);
  const commands: CommandApdu[] = [
    { cla: 0x80, ins: 0xf2, p1: 0x80, p2: 0x02 }, // case 1
    { cla: 0x80, ins: 0xca, p1: 0x9f, p2: 0x7f, le: 256 }, // case 2
    { cla: 0x00, ins: 0xd6, p1: 0x00, p2: 0x10, data: hex('0102030405060708090A0B0C0D0E0F') }, // case 3, ISO CLA
    { cla: 0x80, ins: 0xe2, p1: 0x80, p2: 0x00, data: new Uint8Array(16).fill(0xaa), le: 256 }, // case 4, block multiple
    { cla: 0x00, ins: 0xd6, p1: 0x00, p2: 0x00, data: new Uint8Array(1000).fill(0x5a) }, // extended
  ];
  const responses = [
    { data: new Uint8Array(0), sw: 0x9000 },
    { data: hex('9F7F2A4790'), sw: 0x9000 },
    { data: new Uint8Array(0), sw: 0x6a82 }, // error: unprotected
    { data: new Uint8Array(300).fill(7), sw: 0x6282 }, // warning: protected
    { data: new Uint8Array(16).fill(1), sw: 0x9000 },
  ];

  for (const size of keySizes) {
    for (const level of levels) {
      it(`AES-${size * 8} security level ${level.toString(16).padStart(2, '0')}`, () => {
        const keys = { enc: new Uint8Array(size).fill(0x41), mac: new Uint8Array(size).fill(0x42), dek: new Uint8Array(size).fill(0x43) };
        const hostChallenge = hex('0102030405060708');
        const card = respondScp03InitializeUpdate({
          keys,
          keyVersion: 0x30,
          keyDiversificationData: hex('00112233445566778899'),
          hostChallenge,
          sequenceCounter: hex('000001'),
          aid: hex('A0000002471001'),
        });
        const host = openScp03Host({ keys, hostChallenge, initializeUpdateResponse: card.responseData, securityLevel: level });
        // EXTERNAL AUTHENTICATE crosses the wire as bytes
        expect(card.channel.acceptExternalAuthenticate(parseCommand(encodeCommand(host.externalAuthenticate)), card.expectedHostCryptogram)).toBe(level);
        commands.forEach((cmd, i) => {
          const wire = encodeCommand(host.channel.wrapCommand(cmd));
          if (level & 0x02 && cmd.data) expect(toHex(wire)).not.toContain(toHex(cmd.data)); // data encrypted
          const got = card.channel.unwrapCommand(parseCommand(wire));
          expect(lo(got.data ?? new Uint8Array(0))).toBe(lo(cmd.data ?? new Uint8Array(0)));
          expect([got.cla, got.ins, got.p1, got.p2]).toEqual([cmd.cla, cmd.ins, cmd.p1, cmd.p2]);
          const resp = responses[i]!;
          const rwire = encodeResponse(card.channel.wrapResponse(resp));
          const back = host.channel.unwrapResponse(parseResponse(rwire));
          expect(back.sw).toBe(resp.sw);
          if (resp.sw === 0x9000 || resp.sw >>> 8 === 0x62) expect(lo(back.data)).toBe(lo(resp.data));
        });
        expect(host.channel.encryptionCounter).toBe(commands.length);
        expect(lo(host.channel.macChainingValue)).toBe(lo(card.channel.macChainingValue));
      });
    }
  }

  it('card rejects a wrong host cryptogram and a replayed command', () => {
    const keys = { enc: new Uint8Array(16).fill(1), mac: new Uint8Array(16).fill(2) };
    const hc = hex('1111111111111111');
    const card = respondScp03InitializeUpdate({ keys, keyVersion: 0x30, keyDiversificationData: new Uint8Array(10), hostChallenge: hc, sequenceCounter: hex('000005') });
    const host = openScp03Host({ keys, hostChallenge: hc, initializeUpdateResponse: card.responseData, securityLevel: 0x03 });
    const bad = card.expectedHostCryptogram.slice();
    bad[0]! ^= 1;
    expect(() => card.channel.acceptExternalAuthenticate(host.externalAuthenticate, bad)).toThrow(SecureChannelError);

    const card2 = respondScp03InitializeUpdate({ keys, keyVersion: 0x30, keyDiversificationData: new Uint8Array(10), hostChallenge: hc, sequenceCounter: hex('000005') });
    const host2 = openScp03Host({ keys, hostChallenge: hc, initializeUpdateResponse: card2.responseData, securityLevel: 0x03 });
    card2.channel.acceptExternalAuthenticate(host2.externalAuthenticate, card2.expectedHostCryptogram);
    const w = host2.channel.wrapCommand({ cla: 0x00, ins: 0xd6, p1: 0, p2: 0, data: hex('0102') });
    card2.channel.unwrapCommand(w);
    try {
      card2.channel.unwrapCommand(w); // replay: MAC chain has moved on
      expect.unreachable();
    } catch (e) {
      expect((e as SecureChannelError).code).toBe('CARD_SECURE_CHANNEL_COMMAND_MAC_INVALID');
      expect((e as SecureChannelError).sw).toBe(0x6982);
    }
  });

  it('S16 mode (i = 71): 16-byte challenges, cryptograms and MACs', () => {
    const keys = { enc: new Uint8Array(32).fill(3), mac: new Uint8Array(32).fill(4) };
    const hostChallenge = new Uint8Array(16).fill(9);
    const card = respondScp03InitializeUpdate({ keys, keyVersion: 0x31, keyDiversificationData: new Uint8Array(10), hostChallenge, iParameter: 0x71, sequenceCounter: hex('000009'), aid: hex('A0000002471001') });
    expect(card.responseData).toHaveLength(10 + 3 + 16 + 16 + 3);
    const host = openScp03Host({ keys, hostChallenge, initializeUpdateResponse: card.responseData, securityLevel: 0x33 });
    expect(host.externalAuthenticate.data).toHaveLength(32);
    expect(card.channel.acceptExternalAuthenticate(host.externalAuthenticate, card.expectedHostCryptogram)).toBe(0x33);
    const w = host.channel.wrapCommand({ cla: 0x80, ins: 0xe2, p1: 0x88, p2: 0, data: hex('0101020A0B') });
    expect(w.data).toHaveLength(16 + 16);
    expect(lo(card.channel.unwrapCommand(w).data!)).toBe('0101020a0b');
    const r = card.channel.wrapResponse({ data: hex('CAFE'), sw: 0x9000 });
    expect(r.data).toHaveLength(16 + 16);
    expect(lo(host.channel.unwrapResponse(r).data)).toBe('cafe');
  });

  it('knows how much plain data fits', () => {
    const sk = { sEnc: new Uint8Array(16), sMac: new Uint8Array(16), sRmac: new Uint8Array(16) };
    const mac = new Scp03Channel(sk, { securityLevel: 0x01 });
    const enc = new Scp03Channel(sk, { securityLevel: 0x03 });
    expect(mac.maxPlainData(255)).toBe(247);
    expect(enc.maxPlainData(255)).toBe(239);
    expect(enc.wrappedDataLength(239)).toBe(248);
    expect(enc.wrappedDataLength(240)).toBe(264);
  });
});
