/**
 * ICAO 9303-11 BAC and secure messaging against the Appendix D worked example (vectors.json records "BAC D.2",
 * "BAC D.3", "BAC D.4"), from both the terminal and the chip side; then terminal <-> chip round trips.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../shared/index.ts';
import {
  IsoSecureMessaging,
  SecureChannelError,
  bacChipAuthenticate,
  bacGetChallenge,
  bacKeySeed,
  bacMrzInformation,
  bacSecureMessaging,
  bacTerminalAuthenticate,
  bacTerminalComplete,
  deriveBacKeys,
  deriveDesKeyPair,
  encodeCommand,
  encodeResponse,
  mrzCheckDigit,
  parseCommand,
  parseResponse,
  type CommandApdu,
} from './index.ts';

type Rec = { name: string; inputs: Record<string, any>; expected: Record<string, any> };
const records = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../shared/vectors/vectors.json', import.meta.url)), 'utf8'),
) as Rec[];
const rec = (p: string) => records.find((r) => r.name.startsWith(p))!;
const hex = (s: string) => fromHex(s);
const up = (b: Uint8Array) => toHex(b).toUpperCase();

describe('BAC key derivation (9303-11 D.2)', () => {
  it('MRZ information, K_seed, K_enc, K_mac', () => {
    const r = rec('BAC D.2 document basic access keys');
    const secrets = { documentNumber: r.inputs.document_number, dateOfBirth: r.inputs.date_of_birth, dateOfExpiry: r.inputs.date_of_expiry };
    const info = bacMrzInformation(secrets);
    expect(info).toBe(r.expected.MRZ_information);
    expect(up(bacKeySeed(info))).toBe(r.expected.K_seed);
    const keys = deriveBacKeys(secrets);
    expect(up(keys.enc)).toBe(r.expected.K_enc);
    expect(up(keys.mac)).toBe(r.expected.K_mac);
    // '<' padding is optional in the input
    expect(bacMrzInformation({ ...secrets, documentNumber: 'L898902C' })).toBe(r.expected.MRZ_information);
  });
  it('long document number used in full', () => {
    const r = rec('BAC D.2 key seed for long document number');
    const info = bacMrzInformation({ documentNumber: r.inputs.document_number, dateOfBirth: r.inputs.date_of_birth, dateOfExpiry: r.inputs.date_of_expiry });
    expect(info).toBe(r.expected.MRZ_information);
    expect(up(bacKeySeed(info))).toBe(r.expected.K_seed);
  });
  it('check digits', () => {
    expect(mrzCheckDigit('L898902C<')).toBe('3');
    expect(mrzCheckDigit('690806')).toBe('1');
    expect(() => mrzCheckDigit('ab')).toThrow();
  });
});

describe('BAC mutual authentication (9303-11 D.3)', () => {
  const r = rec('BAC D.3');
  const keys = { enc: hex(r.inputs.K_enc), mac: hex(r.inputs.K_mac) };
  const rndIc = hex(r.inputs['RND.IC']);
  const rndIfd = hex(r.inputs['RND.IFD']);
  const kIfd = hex(r.inputs['K.IFD']);
  const kIc = hex(r.expected['K.IC']);

  it('terminal builds GET CHALLENGE and EXTERNAL AUTHENTICATE', () => {
    expect(up(encodeCommand(bacGetChallenge()))).toBe(r.inputs.GET_CHALLENGE_cmd);
    const { command } = bacTerminalAuthenticate(keys, rndIc, { rndIfd, kIfd });
    expect(up(encodeCommand(command))).toBe(r.expected.EXTERNAL_AUTHENTICATE_cmd);
  });

  it('chip verifies it and answers with E_IC || M_IC', () => {
    const cmd = parseCommand(hex(r.expected.EXTERNAL_AUTHENTICATE_cmd));
    const { responseData, session } = bacChipAuthenticate(keys, rndIc, cmd.data!, { kIc });
    expect(up(encodeResponse({ data: responseData, sw: 0x9000 }))).toBe(r.expected.EXTERNAL_AUTHENTICATE_rsp);
    expect(up(session.ksEnc)).toBe(r.expected.KS_enc);
    expect(up(session.ksMac)).toBe(r.expected.KS_mac);
    expect(up(session.ssc)).toBe(r.expected.SSC);
  });

  it('terminal verifies the chip and derives KS_enc, KS_mac, SSC', () => {
    const { state } = bacTerminalAuthenticate(keys, rndIc, { rndIfd, kIfd });
    const rsp = parseResponse(hex(r.expected.EXTERNAL_AUTHENTICATE_rsp));
    const s = bacTerminalComplete(state, rsp.data);
    expect(up(s.ksEnc)).toBe(r.expected.KS_enc);
    expect(up(s.ksMac)).toBe(r.expected.KS_mac);
    expect(up(s.ssc)).toBe(r.expected.SSC);
    const ks = deriveDesKeyPair(hex(r.expected.K_seed_session));
    expect(up(ks.enc)).toBe(r.expected.KS_enc);
  });

  it('terminal rejects a chip that does not know the keys', () => {
    const { state } = bacTerminalAuthenticate(keys, rndIc, { rndIfd, kIfd });
    const rsp = hex(r.expected.E_IC + r.expected.M_IC);
    rsp[3]! ^= 1;
    expect(() => bacTerminalComplete(state, rsp)).toThrow(SecureChannelError);
  });

  it('chip rejects a terminal with wrong MRZ keys (SW 6300) and a stale challenge', () => {
    const wrong = deriveBacKeys({ documentNumber: 'L898902C', dateOfBirth: '690806', dateOfExpiry: '940624' });
    const { command } = bacTerminalAuthenticate(wrong, rndIc);
    try {
      bacChipAuthenticate(keys, rndIc, command.data!);
      expect.unreachable();
    } catch (e) {
      expect((e as SecureChannelError).code).toBe('CARD_SECURE_CHANNEL_AUTHENTICATION_FAILED');
      expect((e as SecureChannelError).sw).toBe(0x6300);
    }
    const cmd = parseCommand(hex(r.expected.EXTERNAL_AUTHENTICATE_cmd));
    expect(() => bacChipAuthenticate(keys, hex('0000000000000000'), cmd.data!)).toThrow(SecureChannelError);
  });
});

describe('BAC secure messaging (9303-11 D.4)', () => {
  const r = rec('BAC D.4');
  const ks = { ksEnc: hex(r.inputs.KS_enc), ksMac: hex(r.inputs.KS_mac), ssc: hex(r.inputs.SSC_initial) };
  const [select, read1, read2] = (r.inputs.plain_cmds as string[]).map((c) => parseCommand(hex(c))) as [CommandApdu, CommandApdu, CommandApdu];

  it('terminal: protects the three commands and unprotects the three responses', () => {
    const sm = bacSecureMessaging(ks);
    expect(up(encodeCommand(sm.wrapCommand(select)))).toBe(r.expected.protected_SELECT_EF_COM);
    const s = sm.unwrapResponse(parseResponse(hex(r.expected.SELECT_rsp)));
    expect(s.sw).toBe(0x9000);
    expect(s.data).toHaveLength(0);
    expect(up(encodeCommand(sm.wrapCommand(read1)))).toBe(r.expected.protected_READ_BINARY_1);
    const d1 = sm.unwrapResponse(parseResponse(hex(r.expected.READ_BINARY_1_rsp)));
    expect(up(d1.data)).toBe(r.expected.READ_BINARY_1_plain);
    expect(up(encodeCommand(sm.wrapCommand(read2)))).toBe(r.expected.protected_READ_BINARY_2);
    const d2 = sm.unwrapResponse(parseResponse(hex(r.expected.READ_BINARY_2_rsp)));
    expect(up(d2.data)).toBe(r.expected.READ_BINARY_2_plain);
    expect(up(d1.data) + up(d2.data)).toBe(r.expected.EF_COM);
    expect(up(sm.sendSequenceCounter)).toBe(r.expected.SSC_final);
  });

  it('chip: unprotects the three commands and produces the three responses byte for byte', () => {
    const sm = bacSecureMessaging(ks);
    const c1 = sm.unwrapCommand(parseCommand(hex(r.expected.protected_SELECT_EF_COM)));
    expect(up(encodeCommand(c1))).toBe(r.inputs.plain_cmds[0]);
    expect(up(encodeResponse(sm.wrapResponse({ data: new Uint8Array(0), sw: 0x9000 })))).toBe(r.expected.SELECT_rsp);
    const c2 = sm.unwrapCommand(parseCommand(hex(r.expected.protected_READ_BINARY_1)));
    expect(up(encodeCommand(c2))).toBe(r.inputs.plain_cmds[1]);
    expect(up(encodeResponse(sm.wrapResponse({ data: hex(r.expected.READ_BINARY_1_plain), sw: 0x9000 })))).toBe(r.expected.READ_BINARY_1_rsp);
    const c3 = sm.unwrapCommand(parseCommand(hex(r.expected.protected_READ_BINARY_2)));
    expect(up(encodeCommand(c3))).toBe(r.inputs.plain_cmds[2]);
    expect(up(encodeResponse(sm.wrapResponse({ data: hex(r.expected.READ_BINARY_2_plain), sw: 0x9000 })))).toBe(r.expected.READ_BINARY_2_rsp);
    expect(up(sm.sendSequenceCounter)).toBe(r.expected.SSC_final);
  });

  it('terminal rejects a tampered response; chip rejects a tampered command with 6988', () => {
    const t = bacSecureMessaging(ks);
    t.wrapCommand(select);
    const bad = hex(r.expected.SELECT_rsp);
    bad[8]! ^= 0x40; // inside the MAC
    expect(() => t.unwrapResponse(parseResponse(bad))).toThrow(/MAC/);
    expect(t.isClosed).toBe(true);
    const t2 = bacSecureMessaging(ks);
    t2.wrapCommand(select);
    const garbled = hex(r.expected.SELECT_rsp);
    garbled[5]! ^= 0x40; // DO'8E' length runs past the data
    expect(() => t2.unwrapResponse(parseResponse(garbled))).toThrow(SecureChannelError);
    expect(t2.isClosed).toBe(true);

    const c = bacSecureMessaging(ks);
    const badCmd = hex(r.expected.protected_SELECT_EF_COM);
    badCmd[8]! ^= 1;
    try {
      c.unwrapCommand(parseCommand(badCmd));
      expect.unreachable();
    } catch (e) {
      expect((e as SecureChannelError).sw).toBe(0x6988);
    }
    const plainCmd = bacSecureMessaging(ks);
    expect(() => plainCmd.unwrapCommand(select)).toThrow(SecureChannelError);
  });

  it('an unprotected error SW from the chip ends the session', () => {
    const t = bacSecureMessaging(ks);
    t.wrapCommand(select);
    const out = t.unwrapResponse({ data: new Uint8Array(0), sw: 0x6988 });
    expect(out.sw).toBe(0x6988);
    expect(t.isClosed).toBe(true);
  });
});

describe('terminal <-> chip round trips', () => {
  const cmds: Array<{ cmd: CommandApdu; rsp: { data: Uint8Array; sw: number }; odd?: boolean }> = [
    { cmd: { cla: 0x00, ins: 0xa4, p1: 0x02, p2: 0x0c, data: hex('011E') }, rsp: { data: new Uint8Array(0), sw: 0x9000 } },
    { cmd: { cla: 0x00, ins: 0xb0, p1: 0x00, p2: 0x00, le: 256 }, rsp: { data: new Uint8Array(256).fill(3), sw: 0x9000 } },
    { cmd: { cla: 0x00, ins: 0xb0, p1: 0x7f, p2: 0xff, le: 4 }, rsp: { data: new Uint8Array(0), sw: 0x6b00 } },
    { cmd: { cla: 0x00, ins: 0xb1, p1: 0x00, p2: 0x00, data: hex('540300FFFF'), le: 65536 }, rsp: { data: hex('5382010000'), sw: 0x6282 }, odd: true },
    { cmd: { cla: 0x00, ins: 0x88, p1: 0x00, p2: 0x00, data: hex('0102030405060708'), le: 256 }, rsp: { data: new Uint8Array(64).fill(9), sw: 0x9000 } },
    { cmd: { cla: 0x00, ins: 0xd6, p1: 0x00, p2: 0x00, data: new Uint8Array(2000).fill(0x11) }, rsp: { data: new Uint8Array(0), sw: 0x9000 } },
  ];

  const run = (terminal: IsoSecureMessaging, chip: IsoSecureMessaging) => {
    for (const { cmd, rsp, odd } of cmds) {
      const wire = encodeCommand(terminal.wrapCommand(cmd));
      const got = chip.unwrapCommand(parseCommand(wire));
      expect(up(got.data ?? new Uint8Array(0))).toBe(up(cmd.data ?? new Uint8Array(0)));
      expect(got.le).toBe(cmd.le);
      const rwire = encodeResponse(chip.wrapResponse(rsp, odd));
      const back = terminal.unwrapResponse(parseResponse(rwire));
      expect(back.sw).toBe(rsp.sw);
      expect(up(back.data)).toBe(up(rsp.data));
    }
    expect(up(terminal.sendSequenceCounter)).toBe(up(chip.sendSequenceCounter));
  };

  it('BAC from MRZ to protected file reads (3DES)', () => {
    const secrets = { documentNumber: 'AB1234567', dateOfBirth: '900101', dateOfExpiry: '350101' };
    const keys = deriveBacKeys(secrets);
    const rndIc = hex('0102030405060708');
    const { command, state } = bacTerminalAuthenticate(keys, rndIc);
    const chipSide = bacChipAuthenticate(keys, rndIc, parseCommand(encodeCommand(command)).data!);
    const termSession = bacTerminalComplete(state, chipSide.responseData);
    expect(up(termSession.ksEnc)).toBe(up(chipSide.session.ksEnc));
    run(bacSecureMessaging(termSession), bacSecureMessaging(chipSide.session));
  });

  it('AES secure messaging (PACE-AES sessions) with 128- and 256-bit keys', () => {
    for (const n of [16, 32]) {
      const e = new Uint8Array(n).fill(0x21);
      const m = new Uint8Array(n).fill(0x22);
      run(IsoSecureMessaging.aes(e, m), IsoSecureMessaging.aes(e, m));
    }
  });

  it('knows how much plain data fits in a protected command', () => {
    const sm = IsoSecureMessaging.des(new Uint8Array(16), new Uint8Array(16), new Uint8Array(8));
    const n = sm.maxPlainData(255);
    expect(sm.wrappedDataLength(n, 2)).toBeLessThanOrEqual(255);
    expect(sm.wrappedDataLength(n + 8, 2)).toBeGreaterThan(255);
    const w = sm.wrapCommand({ cla: 0, ins: 0xd6, p1: 0, p2: 0, data: new Uint8Array(n) });
    expect(w.data!.length).toBeLessThanOrEqual(255);
  });
});
