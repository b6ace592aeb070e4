/** APDU model (ISO/IEC 7816-4 cases 1-4, short and extended), chaining, status words. */
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../shared/index.ts';
import {
  ApduError,
  ApduFormatError,
  chainCommand,
  checkSw,
  command,
  commandCase,
  encodeCommand,
  encodeResponse,
  encodedCommandLength,
  joinChain,
  parseCommand,
  parseResponse,
  swCode,
  isSuccessOrWarning,
  type CommandApdu,
} from './index.ts';

const up = (b: Uint8Array) => toHex(b).toUpperCase();

describe('command APDU encoding and parsing', () => {
  const cases: Array<[string, CommandApdu, string]> = [
    ['case 1', { cla: 0x00, ins: 0xa4, p1: 0x00, p2: 0x0c }, '00A4000C'],
    ['case 2S Le=8', { cla: 0x00, ins: 0x84, p1: 0, p2: 0, le: 8 }, '0084000008'],
    ['case 2S Ne=256 -> Le 00', { cla: 0x00, ins: 0xb0, p1: 0, p2: 0, le: 256 }, '00B0000000'],
    ['case 3S', { cla: 0x00, ins: 0xa4, p1: 2, p2: 0x0c, data: fromHex('011E') }, '00A4020C02011E'],
    ['case 4S', { cla: 0x00, ins: 0x88, p1: 0, p2: 0, data: fromHex('0102'), le: 256 }, '008800000201020' + '0'],
    ['case 2E Ne=257', { cla: 0x00, ins: 0xb0, p1: 0, p2: 0, le: 257 }, '00B00000000101'],
    ['case 2E Ne=65536 -> 0000', { cla: 0x00, ins: 0xb0, p1: 0, p2: 0, le: 65536 }, '00B00000000000'],
    ['case 2E forced, Ne=256', { cla: 0x00, ins: 0xb0, p1: 0, p2: 0, le: 256, extended: true }, '00B00000000100'],
    ['case 3E forced', { cla: 0x00, ins: 0xd6, p1: 0, p2: 0, data: fromHex('AA'), extended: true }, '00D6000000' + '0001AA'],
    ['case 4E Ne=65536', { cla: 0x00, ins: 0x88, p1: 0, p2: 0, data: fromHex('AA'), le: 65536 }, '00880000000001AA0000'],
  ];
  for (const [name, c, hex] of cases) {
    it(name, () => {
      const enc = encodeCommand(c);
      expect(up(enc)).toBe(hex);
      expect(encodedCommandLength(c)).toBe(enc.length);
      const back = parseCommand(enc);
      expect([back.cla, back.ins, back.p1, back.p2]).toEqual([c.cla, c.ins, c.p1, c.p2]);
      expect(up(back.data ?? new Uint8Array(0))).toBe(up(c.data ?? new Uint8Array(0)));
      expect(back.le).toBe(c.le);
      expect(up(encodeCommand(back))).toBe(hex);
    });
  }

  it('case 3E with 300 bytes and 4E with 70000-byte data refused', () => {
    const d = new Uint8Array(300).fill(1);
    const enc = encodeCommand({ cla: 0, ins: 0xd6, p1: 0, p2: 0, data: d });
    expect(up(enc.subarray(0, 7))).toBe('00D60000' + '00012C');
    expect(enc.length).toBe(307);
    expect(parseCommand(enc).data).toHaveLength(300);
    expect(commandCase(parseCommand(enc))).toBe(3);
    expect(() => encodeCommand({ cla: 0, ins: 0xd6, p1: 0, p2: 0, data: new Uint8Array(70000) })).toThrow(ApduFormatError);
  });

  it('refuses bad header bytes, Ne 0 and inconsistent lengths', () => {
    expect(() => command(0x100, 0, 0, 0)).toThrow(ApduFormatError);
    expect(() => command(0, 0xb0, 0, 0, undefined, 0)).toThrow(/Ne 0/);
    expect(() => parseCommand(fromHex('00A402'))).toThrow(ApduFormatError);
    expect(() => parseCommand(fromHex('00A4020C05011E'))).toThrow(ApduFormatError);
    expect(() => parseCommand(fromHex('00D60000000003AABB'))).toThrow(ApduFormatError);
    expect(parseCommand(fromHex('00D6000000')).le).toBe(256); // 5 bytes is case 2S, Le 00
  });
});

describe('response APDU', () => {
  it('encodes and parses', () => {
    const r = parseResponse(fromHex('0102039000'));
    expect(r.sw).toBe(0x9000);
    expect(up(r.data)).toBe('010203');
    expect(up(encodeResponse(r))).toBe('0102039000');
    expect(parseResponse(fromHex('6A82')).data).toHaveLength(0);
  });
  it('refuses garbage: too short, not an ISO SW1', () => {
    expect(() => parseResponse(fromHex('90'))).toThrow(ApduFormatError);
    expect(() => parseResponse(fromHex('01020304'))).toThrow(/SW1 03/);
  });
});

describe('command chaining', () => {
  it('splits with CLA b5 on all but the last; Le only on the last', () => {
    const data = new Uint8Array(600).map((_, i) => i & 0xff);
    const parts = chainCommand({ cla: 0x80, ins: 0xe2, p1: 0x88, p2: 0, data, le: 256 }, 255);
    expect(parts.map((p) => p.cla)).toEqual([0x90, 0x90, 0x80]);
    expect(parts.map((p) => p.data!.length)).toEqual([255, 255, 90]);
    expect(parts.map((p) => p.le)).toEqual([undefined, undefined, 256]);
    const joined = joinChain(parts);
    expect(joined.cla).toBe(0x80);
    expect(up(joined.data!)).toBe(up(data));
  });
  it('leaves a command that fits alone', () => {
    const c = { cla: 0, ins: 0xd6, p1: 0, p2: 0, data: new Uint8Array(10) };
    expect(chainCommand(c, 255)).toEqual([c]);
  });
  it('refuses chains that mix instructions', () => {
    expect(() => joinChain([{ cla: 0x10, ins: 1, p1: 0, p2: 0 }, { cla: 0, ins: 2, p1: 0, p2: 0 }])).toThrow(ApduFormatError);
  });
});

describe('status words', () => {
  it('checkSw passes expected SWs and throws ApduError with the SW otherwise', () => {
    expect(checkSw({ data: new Uint8Array(0), sw: 0x9000 }).sw).toBe(0x9000);
    expect(checkSw({ data: new Uint8Array(0), sw: 0x6282 }, [0x9000, 0x6282]).sw).toBe(0x6282);
    try {
      checkSw({ data: new Uint8Array(0), sw: 0x6982 }, 0x9000, { cla: 0, ins: 0xd6, p1: 0, p2: 0, name: 'UPDATE BINARY' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ApduError);
      const a = e as ApduError;
      expect(a.code).toBe('CARD_SECURITY_STATUS_NOT_SATISFIED');
      expect(a.sw).toBe(0x6982);
      expect(a.retryable).toBe(false);
      expect(a.message).toContain('UPDATE BINARY');
      expect(a.details).toMatchObject({ sw: '6982', ins: 'D6' });
    }
  });
  it('names codes; unknown SWs get CARD_SW_<hex>', () => {
    expect(swCode(0x6a82)).toBe('CARD_FILE_NOT_FOUND');
    expect(swCode(0x6c10)).toBe('CARD_WRONG_LE');
    expect(swCode(0x63c2)).toBe('CARD_VERIFICATION_FAILED');
    expect(swCode(0x6f12)).toBe('CARD_SW_6F12');
    expect(swCode(0x9101)).toBe('CARD_SW_9101');
    expect(isSuccessOrWarning(0x6310)).toBe(true);
    expect(isSuccessOrWarning(0x6a80)).toBe(false);
  });
});
