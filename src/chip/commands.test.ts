/** ISO/IEC 7816-4 and GlobalPlatform command builders: exact bytes, and parsers round-tripping the card side. */
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../shared/index.ts';
import { parseDgis } from '../tlv/index.ts';
import {
  APP_LOCKED,
  CARD_SECURED,
  ApduFormatError,
  FDB_DF,
  FDB_TRANSPARENT_EF,
  LCS_OPERATIONAL_ACTIVATED,
  createFile,
  createTransparentEf,
  cplcChipSerial,
  encodeCommand,
  encodeCplc,
  encodeFcp,
  encodePublicKeyTemplate,
  generateAsymmetricKeyPair,
  getChallenge,
  getCplc,
  getData,
  initializeUpdate,
  internalAuthenticate,
  keyDiversificationDataOf,
  minimumUpdateBinaryCount,
  mutualAuthenticate,
  parseCommand,
  parseCplc,
  parseFcp,
  parseOddDataResponse,
  parsePublicKeyTemplate,
  parsePutKeyData,
  putData,
  putScp03KeySet,
  checkPutKeyResponse,
  readBinary,
  readBinaryCommands,
  selectByAid,
  selectByFid,
  selectByPath,
  selectIsd,
  selectMf,
  setApplicationStatus,
  setCardStatus,
  storeData,
  storeDataDgis,
  updateBinary,
  updateBinaryCommands,
  encryptKeyWithDek,
  type CommandApdu,
} from './index.ts';

const up = (b: Uint8Array) => toHex(b).toUpperCase();
const enc = (c: CommandApdu) => up(encodeCommand(c));

describe('ISO 7816-4 SELECT', () => {
  it('by AID, FID, path, MF', () => {
    expect(enc(selectByAid(fromHex('A0000002471001')))).toBe('00A4040C07A0000002471001');
    expect(enc(selectByAid(fromHex('A0000002471001'), { response: 'fci' }))).toBe('00A4040007A000000247100100');
    expect(enc(selectByAid(fromHex('A0000002471001'), { response: 'fcp', occurrence: 'next' }))).toBe('00A4040607A000000247100100');
    expect(enc(selectByFid(0x011e))).toBe('00A4020C02011E'); // 9303-11 D.4 SELECT EF.COM
    expect(enc(selectByFid(0x011e, { scope: 'any', response: 'fcp' }))).toBe('00A4000402011E00');
    expect(enc(selectMf())).toBe('00A4000C023F00');
    expect(enc(selectByPath([0x5000, 0x011e]))).toBe('00A4080C045000011E');
    expect(enc(selectIsd())).toBe('00A4040008A00000015100000000');
    expect(() => selectByFid(0x10000)).toThrow(ApduFormatError);
  });
});

describe('FCP and CREATE FILE', () => {
  it('builds the FCP vicc and Kadi cards take (62: 82 83 80 88 8A)', () => {
    expect(enc(createTransparentEf(0x011e, 0x100, { sfi: 0x1e }))).toBe('00E00000' + '10' + '620E' + '820101' + '8302011E' + '80020100' + '8801F0');
    const c = createFile({ fileDescriptor: FDB_TRANSPARENT_EF, fileId: 0x0102, size: 40000, sfi: 2, lifeCycle: LCS_OPERATIONAL_ACTIVATED });
    const f = parseFcp(c.data!);
    expect(f).toEqual({ fileDescriptor: 1, fileId: 0x0102, size: 40000, sfi: 2, lifeCycle: 5 });
  });
  it('round-trips a DF with name, security attributes and proprietary data; parses an FCI', () => {
    const fcp = {
      fileDescriptor: FDB_DF,
      dataCoding: 0x21,
      fileId: 0x5000,
      dfName: fromHex('A0000002471001'),
      securityAttributes: [{ tag: 0x8c, value: fromHex('03FFFF') }],
      proprietary: fromHex('0102'),
    };
    expect(parseFcp(encodeFcp(fcp))).toEqual(fcp);
    expect(parseFcp(fromHex('6F098407A0000002471001')).dfName).toEqual(fromHex('A0000002471001'));
    expect(() => parseFcp(fromHex('6203830101'))).toThrow(ApduFormatError);
    expect(() => createTransparentEf(1, 1, { sfi: 31 })).toThrow(ApduFormatError);
  });
});

describe('READ / UPDATE BINARY', () => {
  it('even INS with 15-bit offsets, SFI in P1, odd INS beyond 32 767', () => {
    expect(enc(updateBinary(0, fromHex('AABB')))).toBe('00D6000002AABB');
    expect(enc(updateBinary(0x7fff, fromHex('AA')))).toBe('00D67FFF01AA');
    expect(enc(updateBinary(0x10, fromHex('AA'), { sfi: 0x1e }))).toBe('00D69E1001AA');
    expect(enc(updateBinary(0x8000, fromHex('AABB')))).toBe('00D70000' + '08' + '54028000' + '5302AABB');
    expect(enc(updateBinary(0x12345, fromHex('AA'), { fileId: 0x0102 }))).toBe('00D70102' + '08' + '5403012345' + '5301AA');
    expect(enc(readBinary(0, 4))).toBe('00B0000004');
    expect(enc(readBinary(4, 0x12))).toBe('00B0000412');
    expect(enc(readBinary(0, 256, { sfi: 0x1e }))).toBe('00B09E0000');
    expect(enc(readBinary(0x9000, 256))).toBe('00B100000454029000' + '00');
    expect(enc(readBinary(0, 1000))).toBe('00B00000' + '0003E8');
    expect(up(parseOddDataResponse(fromHex('5303010203')))).toBe('010203');
    expect(() => readBinary(256, 1, { sfi: 1 })).toThrow(ApduFormatError);
  });

  it('writes a whole file in the fewest commands', () => {
    const data = new Uint8Array(1000).map((_, i) => i & 0xff);
    const cmds = updateBinaryCommands(data, { maxCommandData: 239 });
    expect(cmds).toHaveLength(Math.ceil(1000 / 239));
    expect(cmds.map((c) => (c.p1 << 8) | c.p2)).toEqual([0, 239, 478, 717, 956]);
    const joined = new Uint8Array(cmds.flatMap((c) => [...c.data!]));
    expect(up(joined)).toBe(up(data));
    // SFI on the first command only
    const sfi = updateBinaryCommands(data, { maxCommandData: 255, sfi: 2 });
    expect(sfi[0]!.p1).toBe(0x82);
    expect(sfi[1]!.p1).toBe(0x00);
    // extended length: one command
    expect(updateBinaryCommands(data, { maxCommandData: 65535 })).toHaveLength(1);
  });

  it('crosses 32 767 with odd INS and still fills every command', () => {
    const size = 40000;
    const cmds = updateBinaryCommands(new Uint8Array(size).fill(7), { maxCommandData: 1000 });
    let written = 0;
    for (const c of cmds) {
      expect(c.data!.length).toBeLessThanOrEqual(1000);
      if (c.ins === 0xd6) written += c.data!.length;
      else {
        expect(c.ins).toBe(0xd7);
        const n = c.data!.length - 4 - (c.data![4 + 1]! === 0x82 ? 4 : c.data![5]! === 0x81 ? 3 : 2);
        written += n;
      }
    }
    expect(written).toBe(size);
    // 33 even commands reach 33 000 > 32 767; the rest go odd with 992-993 bytes each
    expect(cmds.filter((c) => c.ins === 0xd6)).toHaveLength(33);
    expect(cmds.length).toBe(minimumUpdateBinaryCount(size, 1000));
    expect(cmds.length).toBeLessThanOrEqual(Math.ceil(size / 1000) + 1);
  });

  it('plans read-back within the response limit', () => {
    const cmds = readBinaryCommands(600, { maxResponseData: 256 });
    expect(cmds.map((c) => c.le)).toEqual([256, 256, 88]);
    expect(readBinaryCommands(40000, { maxResponseData: 65536 }).map((c) => c.ins)).toEqual([0xb0]);
  });
});

describe('data, keys and authentication commands', () => {
  it('GET/PUT DATA, GENERATE KEY PAIR, INTERNAL/MUTUAL AUTHENTICATE, GET CHALLENGE', () => {
    expect(enc(getData(0x5f1f))).toBe('00CA5F1F00');
    expect(enc(putData(0x0001, fromHex('0102')))).toBe('00DA0001020102');
    expect(enc(generateAsymmetricKeyPair())).toBe('0047000000');
    expect(enc(generateAsymmetricKeyPair({ p1: 0x80, keyReference: 1, crt: fromHex('B6038001FF') }))).toBe('0047800105B6038001FF00');
    expect(enc(internalAuthenticate(fromHex('0102030405060708')))).toBe('0088000008010203040506070800');
    expect(enc(getChallenge())).toBe('0084000008');
    expect(enc(mutualAuthenticate(new Uint8Array(40), 40))).toBe('0082000028' + '00'.repeat(40) + '28');
  });
  it('public key template 7F49 round trip', () => {
    const point = fromHex('04' + '11'.repeat(32) + '22'.repeat(32));
    const t = encodePublicKeyTemplate([[0x06, fromHex('2A8648CE3D030107')], [0x86, point]]);
    expect(up(t.subarray(0, 3))).toBe('7F494D');
    const m = parsePublicKeyTemplate(t);
    expect(up(m.get(0x86)!)).toBe(up(point));
  });
});

describe('GlobalPlatform commands', () => {
  it('INITIALIZE UPDATE as the pySim trace sent it', () => {
    expect(enc(initializeUpdate(0x30, fromHex('b13e5f938fc108c4')))).toBe('8050300008B13E5F938FC108C400');
  });
  it('STORE DATA P1 bits, block numbers and DGI packing', () => {
    expect(enc(storeData(0, fromHex('0101020A0B'), { last: true, structure: 'dgi' }))).toBe('80E28800050101020A0B');
    expect(enc(storeData(3, fromHex('AA'), { last: false, structure: 'ber-tlv', encryption: 'encrypted' }))).toBe('80E2700301AA');
    const dgis = [
      { dgi: 0x0101, data: new Uint8Array(100).fill(1) },
      { dgi: 0x0102, data: new Uint8Array(100).fill(2) },
      { dgi: 0x0103, data: new Uint8Array(600).fill(3) },
      { dgi: 0x0104, data: new Uint8Array(10).fill(4) },
    ];
    const cmds = storeDataDgis(dgis, { maxCommandData: 255 });
    expect(cmds.map((c) => c.p2)).toEqual(cmds.map((_, i) => i));
    expect(cmds.map((c) => c.p1 & 0x80)).toEqual([...cmds.slice(1).map(() => 0), 0x80]);
    expect(cmds.every((c) => c.data!.length <= 255)).toBe(true);
    const stream = new Uint8Array(cmds.flatMap((c) => [...c.data!]));
    expect(parseDgis(stream).map((d) => [d.dgi, d.value.length])).toEqual([
      [0x0101, 100],
      [0x0102, 100],
      [0x0103, 600],
      [0x0104, 10],
    ]);
    expect(() => storeData(256, fromHex('00'), { last: true })).toThrow(ApduFormatError);
  });
  it('SET STATUS for the card and an application', () => {
    expect(enc(setCardStatus(CARD_SECURED))).toBe('80F0800F');
    expect(enc(setApplicationStatus(fromHex('A0000002471001'), APP_LOCKED))).toBe('80F0408307A0000002471001');
  });
  it('PUT KEY of an SCP03 key set; the card side decodes it and checks the KCVs', () => {
    const dek = fromHex('404142434445464748494A4B4C4D4E4F');
    const newKeys = {
      enc: fromHex('000102030405060708090A0B0C0D0E0F'),
      mac: fromHex('101112131415161718191A1B1C1D1E1F'),
      dek: fromHex('202122232425262728292A2B2C2D2E2F'),
    };
    const { command, expectedResponse } = putScp03KeySet({ currentDek: dek, newKeys, newKeyVersion: 0x30 });
    expect([command.cla, command.ins, command.p1, command.p2]).toEqual([0x80, 0xd8, 0x00, 0x81]);
    // KVN, then 88 11 10 <16> 03 <kcv> three times; KCVs are pySim's published ones
    expect(up(command.data!.subarray(0, 4))).toBe('30881110');
    expect(up(command.data!.subarray(4, 20))).toBe(up(encryptKeyWithDek(dek, newKeys.enc).subarray(1)));
    expect(up(command.data!.subarray(20, 24))).toBe('03C35280');
    expect(command.data!.length).toBe(1 + 3 * 23);
    expect(up(expectedResponse)).toBe('30C35280013808840DE5');
    const parsed = parsePutKeyData(command.data!, dek);
    expect(parsed.keyVersion).toBe(0x30);
    expect(parsed.keys.map((k) => up(k.key))).toEqual([newKeys.enc, newKeys.mac, newKeys.dek].map(up));
    expect(() => checkPutKeyResponse(fromHex('30C35280013808840DE6'), expectedResponse)).toThrow();
    const tampered = command.data!.slice();
    tampered[22]! ^= 1; // KCV of ENC
    expect(() => parsePutKeyData(tampered, dek)).toThrow(/check value/);
    expect(() => parsePutKeyData(command.data!, fromHex('00'.repeat(16)))).toThrow();
  });
  it('GET DATA CPLC and the CPLC parser', () => {
    expect(enc(getCplc())).toBe('80CA9F7F00');
    const cplc = {
      icFabricator: '4790',
      icType: '5167',
      operatingSystemId: '4791',
      operatingSystemReleaseDate: '2038',
      operatingSystemReleaseLevel: '3100',
      icFabricationDate: '5107',
      icSerialNumber: '0001A2B3',
      icBatchIdentifier: '0042',
      icSerialNumberUnused: undefined,
    };
    const bytes = encodeCplc(cplc);
    expect(up(bytes.subarray(0, 3))).toBe('9F7F2A');
    const p = parseCplc(bytes);
    expect(p.icSerialNumber).toBe('0001A2B3');
    expect(p.icFabricator).toBe('4790');
    expect(p.icPersonalizationEquipmentId).toBe('00000000');
    expect(parseCplc(bytes.subarray(3))).toEqual(p);
    const serial = cplcChipSerial(p);
    expect(serial).toBe('4790516700420001A2B3');
    expect(keyDiversificationDataOf(serial)).toHaveLength(10);
    expect(() => parseCplc(fromHex('9F7F0100'))).toThrow(ApduFormatError);
    expect(() => encodeCplc({ icSerialNumber: '01' })).toThrow(ApduFormatError);
  });
  it('parsed commands keep their meaning', () => {
    const c = parseCommand(encodeCommand(setCardStatus(CARD_SECURED)));
    expect(c.p2).toBe(CARD_SECURED);
  });
});
