/**
 * The card runtime without TCP: ATR, file system, dispatcher (SELECT, GET RESPONSE, 6CXX, chaining, errors) and
 * card store persistence, through the in-memory transmit function.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { chainCommand, command } from '../../src/chip/index.ts';
import { createCardRuntime, manufactureCard } from '../factory.ts';
import { diversifyKeySet } from '../gp-isd/index.ts';
import { EID_AID } from '../eid/index.ts';
import { Terminal, hex, swOf } from '../testing/index.ts';
import { atrCheckByte, buildAtr, parseAtr } from './atr.ts';
import {
  createEf,
  encodeFcp,
  findApplicationDf,
  fileNodeFromJson,
  fileNodeToJson,
  newMasterFile,
  parseFcp,
  readBinary,
  updateBinary,
} from './fs.ts';
import { CardStatus } from './iso.ts';
import { cardStateFromJson, cardStateToJson } from './state.ts';
import { DirCardStore, MemoryCardStore, saveCard } from './store.ts';

const MASTER = hex('404142434445464748494A4B4C4D4E4F');

function swThrown(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof CardStatus) return e.sw.toString(16).toUpperCase();
    throw e;
  }
  return 'no error';
}

describe('ATR (ISO/IEC 7816-3 §8.2)', () => {
  it('announces T=1 with IFSC 254, 14 historical bytes and a correct TCK', () => {
    const atr = buildAtr();
    expect(Buffer.from(atr).toString('hex').toUpperCase()).toBe('3BFE1300008131FE45803180' + '73B401C0534B4401829000' + atr.at(-1)!.toString(16).toUpperCase().padStart(2, '0'));
    const p = parseAtr(atr);
    expect(p.protocols).toEqual([1]);
    expect(p.ifsc).toBe(0xfe);
    expect(p.historical.length).toBe(14);
    expect(p.historical[0]).toBe(0x80); // category indicator: COMPACT-TLV
    expect(p.tckPresent && p.tckValid).toBe(true);
    // XOR of T0..TCK is 0 when TCK is right
    let x = 0;
    for (const b of atr.subarray(1)) x ^= b;
    expect(x).toBe(0);
  });

  it('detects a wrong TCK and a truncated ATR', () => {
    const atr = buildAtr();
    const bad = atr.slice();
    bad[bad.length - 1]! ^= 0x01;
    expect(parseAtr(bad).tckValid).toBe(false);
    expect(() => parseAtr(atr.subarray(0, 6))).toThrow(RangeError);
    expect(atrCheckByte(Uint8Array.of(0x3b, 0x80, 0x01))).toBe(0x81);
    // the services test's minimal ATR 3B 80 80 01 01 parses as T=1 with a valid TCK
    expect(parseAtr(hex('3B80800101'))).toMatchObject({ protocols: [0, 1], tckValid: true });
  });
});

describe('file system (ISO/IEC 7816-4 §7)', () => {
  it('parses the FCP of CREATE FILE: size, FID, SFI coded in b8-b4, no SFI, default SFI', () => {
    expect(parseFcp(hex('620E 8002 1234 820101 8302 0101 880108'))).toEqual({ fid: 0x0101, size: 0x1234, sfi: 1 });
    expect(parseFcp(hex('6209 800110 8302 011E 8800'))).toEqual({ fid: 0x011e, size: 0x10, sfi: null });
    expect(parseFcp(hex('6207 800120 8302 011D'))).toEqual({ fid: 0x011d, size: 0x20, sfi: undefined });
    expect(swThrown(() => parseFcp(hex('6207 800120 8302 3F00')))).toBe('6A80'); // reserved FID
    expect(swThrown(() => parseFcp(hex('6204 8302 0101')))).toBe('6A80'); // no size
    expect(swThrown(() => parseFcp(hex('620A 800120 8302 0101 880101')))).toBe('6A80'); // SFI not in b8-b4
    expect(swThrown(() => parseFcp(hex('620A 800120 8302 0101 820102')))).toBe('6A80'); // not transparent
    expect(swThrown(() => parseFcp(hex('6309 800120 8302 0101')))).toBe('6A80');
  });

  it('creates EFs, refuses duplicates, reads and updates within bounds', () => {
    const mf = newMasterFile();
    const ef = createEf(mf, { fid: 0x0101, size: 10, sfi: undefined }, 'SECURE', 'PERSO');
    expect(ef.sfi).toBe(1);
    expect(swThrown(() => createEf(mf, { fid: 0x0101, size: 1, sfi: null }, 'SECURE', 'PERSO'))).toBe('6A89');
    expect(swThrown(() => createEf(mf, { fid: 0x0201, size: 1, sfi: 1 }, 'SECURE', 'PERSO'))).toBe('6A89'); // SFI taken
    updateBinary(ef, 2, hex('AABB'));
    expect(readBinary(ef, 0, 4)).toEqual({ data: hex('0000AABB'), sw: 0x9000 });
    expect(readBinary(ef, 8, 4)).toEqual({ data: hex('0000'), sw: 0x6282 });
    expect(swThrown(() => readBinary(ef, 11, 1))).toBe('6B00');
    expect(swThrown(() => updateBinary(ef, 9, hex('0102')))).toBe('6700');
    expect(ef.written).toBe(4);
    expect(Buffer.from(encodeFcp(ef)).toString('hex')).toBe('6211' + '8002000a' + '820101' + '83020101' + '880108' + '8a0105');
    const back = fileNodeFromJson(JSON.parse(JSON.stringify(fileNodeToJson(mf))));
    expect(back).toEqual(mf);
  });
});

describe('dispatcher', () => {
  function card() {
    const state = manufactureCard({ masterKey: MASTER });
    const store = new MemoryCardStore();
    const rt = createCardRuntime(state, { store });
    rt.powerOn();
    const term = new Terminal((a) => rt.transmit(a));
    return { state, store, rt, term, keys: diversifyKeySet(MASTER, state.serial) };
  }

  it('answers malformed and unsupported commands with the right SW', async () => {
    const { rt } = card();
    const sw = (h: string): string => Buffer.from(rt.transmit(hex(h))).toString('hex').toUpperCase();
    expect(sw('00A4')).toBe('6700'); // shorter than a header
    expect(sw('00B0000005AA')).toBe('6700'); // Lc does not match
    expect(sw('FFCA000000')).toBe('6E00');
    expect(sw('01A4040C07A0000002471001')).toBe('6881'); // logical channel 1
    expect(sw('00A4040C05A000000999')).toBe('6A82'); // no such AID
    expect(sw('00C0000010')).toBe('6985'); // GET RESPONSE with nothing pending
    expect(sw('0012000000')).toBe('6D00'); // unknown INS at the MF
    expect(sw('00D6000001AA')).toBe('6986'); // no current EF
  });

  it('selects applets by full and partial AID, the ISD by an empty SELECT, and the MF', async () => {
    const { rt, term } = card();
    const fci = await term.sendPlain(command(0x00, 0xa4, 0x04, 0x00, undefined, 256));
    expect(swOf(fci)).toBe('9000');
    expect(Buffer.from(fci.data).toString('hex')).toContain('8408a000000151000000');
    expect(Buffer.from(fci.data).toString('hex')).toContain('9f65021000'); // max command data 4096
    expect(rt.selectedAid).toBe('A000000151000000');
    expect(swOf(await term.sendPlain(command(0x00, 0xa4, 0x04, 0x0c, hex('A000000247'))))).toBe('9000');
    expect(rt.selectedAid).toBe(EID_AID);
    const mf = await term.sendPlain(command(0x00, 0xa4, 0x00, 0x04, hex('3F00'), 256));
    expect(Buffer.from(mf.data).toString('hex')).toMatch(/^62..820138.*83023f00/);
    expect(rt.selectedAid).toBeUndefined();
    // EF.ATR/INFO in the MF: extended length information 7F66
    await term.sendPlain(command(0x00, 0xa4, 0x02, 0x0c, hex('2F01')));
    const info = await term.sendPlain(command(0x00, 0xb0, 0x00, 0x00, undefined, 256));
    expect(swOf(info)).toBe('6282');
    expect(Buffer.from(info.data).toString('hex')).toBe('7f660802021000' + '02021000');
    expect(swOf(await term.sendPlain(command(0x00, 0xd6, 0x00, 0x00, hex('00'))))).toBe('6982');
  });

  it('returns long responses with 61XX + GET RESPONSE and fixed objects with 6CXX', async () => {
    const { rt, state } = card();
    // GET DATA CPLC with Le 10: wrong Le -> 6C2D (45 = 9F7F 2A + 42 bytes)
    const r1 = rt.transmit(hex('80CA9F7F10'));
    expect(Buffer.from(r1).toString('hex')).toBe('6c2d');
    const r2 = rt.transmit(hex('80CA9F7F2D'));
    expect(Buffer.from(r2.subarray(0, 3)).toString('hex')).toBe('9f7f2a');
    expect(Buffer.from(r2.subarray(3 + 12, 3 + 16)).toString('hex').toUpperCase()).toBe(state.serial.slice(4));
    // INITIALIZE UPDATE (32 bytes of data) with Le 10 -> 16 bytes + 6110, then GET RESPONSE
    const iu = rt.transmit(hex('8050000008 0102030405060708 10'));
    expect(iu.length).toBe(18);
    expect(Buffer.from(iu.subarray(16)).toString('hex')).toBe('6110');
    const rest = rt.transmit(hex('00C0000010'));
    expect(Buffer.from(rest.subarray(16)).toString('hex')).toBe('9000');
    expect(Buffer.from(iu.subarray(0, 10)).toString('hex').toUpperCase()).toBe(`4B440001${state.serial}`); // KDD
  });

  it('joins command chains (each part under SCP03) and rejects a broken chain', async () => {
    const { term, keys, state } = card();
    await term.selectAid(EID_AID);
    await term.openScp03(keys, 0x03);
    await term.expect(command(0x00, 0xe0, 0x00, 0x00, hex('620B 8002 0200 820101 8302 0102')));
    const data = new Uint8Array(Buffer.alloc(0x200, 0x42));
    const parts = chainCommand(command(0x00, 0xd6, 0x00, 0x00, data), 0x90);
    expect(parts.length).toBe(4);
    for (const p of parts) expect(swOf(await term.send(p))).toBe('9000');
    expect(Buffer.from(await term.readFile(0x0102))).toEqual(Buffer.from(data));
    // a chain interrupted by another instruction: 6883
    await term.send({ ...parts[0]! });
    expect(swOf(await term.send(command(0x00, 0xb0, 0x00, 0x00, undefined, 4)))).toBe('6883');
    expect(state.mf.children.length).toBe(2);
  });

  it('ends sessions on power off and on SELECT of another applet', async () => {
    const { term, keys, rt } = card();
    await term.selectAid(EID_AID);
    await term.openScp03(keys, 0x01);
    expect(rt.session?.kind).toBe('scp03');
    rt.powerOff();
    rt.powerOn();
    expect(rt.session).toBeUndefined();
    await term.selectAid(EID_AID);
    await term.openScp03(keys, 0x01);
    const ch = term.channel!;
    await term.selectAid('A000000151000000');
    expect(rt.session).toBeUndefined();
    const r = await term.sendPlain(ch.wrapCommand(command(0x80, 0xf0, 0x80, 0x07)));
    expect(swOf(r)).toBe('6982');
  });
});

describe('card store', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('round-trips a card through its JSON form', () => {
    const s = manufactureCard({ masterKey: MASTER, prePersonalised: true });
    const back = cardStateFromJson(JSON.parse(JSON.stringify(cardStateToJson(s))));
    expect(back).toEqual(s);
    expect(() => cardStateFromJson({ ...cardStateToJson(s), format: 'x' })).toThrow(/format/);
    expect(() => cardStateFromJson({ ...cardStateToJson(s), serial: '12' })).toThrow(/serial/);
  });

  it('writes life cycles and counters at once, bulk content at power-off, atomically, and a re-inserted card keeps its content', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kadi-cards-'));
    dirs.push(dir);
    const store = new DirCardStore(path.join(dir, 'cards'));
    expect(statSync(store.dir).mode & 0o777).toBe(0o700);
    const state = manufactureCard({ masterKey: MASTER });
    saveCard(store, state);
    const rt = createCardRuntime(store.load(state.serial)!, { store });
    rt.powerOn();
    const term = new Terminal((a) => rt.transmit(a));
    await term.selectAid(EID_AID);
    const before = rt.stats.saves;
    await term.sendPlain(command(0x80, 0xca, 0x9f, 0x7f, undefined, 256));
    expect(rt.stats.saves).toBe(before); // reads do not write
    const keys = diversifyKeySet(MASTER, state.serial);
    await term.openScp03(keys, 0x33);
    expect(rt.stats.saves).toBe(before + 1); // INITIALIZE UPDATE: sequence counter
    await term.writeFile(0x0101, hex('61035F1F00'));
    expect(rt.stats.saves).toBe(before + 1); // CREATE FILE, UPDATE BINARY: not yet written
    expect(rt.hasUnsavedChanges).toBe(true);
    expect(findApplicationDf(store.load(state.serial)!.mf, EID_AID)!.children).toEqual([]);
    rt.powerOff(); // the card is pulled out: what it answered is written
    expect(rt.stats.saves).toBe(before + 2);
    expect(rt.hasUnsavedChanges).toBe(false);
    rt.powerOff();
    expect(rt.stats.saves).toBe(before + 2); // nothing new, no write
    expect(readdirSync(store.dir)).toEqual([`${state.serial}.json`]); // no temporary files left
    expect(statSync(store.fileOf(state.serial)).mode & 0o777).toBe(0o600);

    // "re-insert": a new runtime from the store
    const again = createCardRuntime(store.load(state.serial)!, { store });
    again.powerOn();
    const t2 = new Terminal((a) => again.transmit(a));
    await t2.selectAid(EID_AID);
    const iu = await t2.openScp03(keys, 0x01);
    expect(iu.sequenceCounter).toEqual(Uint8Array.of(0, 0, 1));
    expect(Buffer.from(await t2.readFile(0x0101)).toString('hex')).toBe('61035f1f00');
    expect(store.serials()).toEqual([state.serial]);
    const json = JSON.parse(readFileSync(store.fileOf(state.serial), 'utf8'));
    expect(json).toMatchObject({ format: 'kadi-virtual-card/1', serial: state.serial, cardLifeCycle: 'OP_READY', counters: { scpSequence: 2 } });
  });

  it("commit 'apdu' writes after every state-changing APDU; a lock is written before the card answers", async () => {
    const store = new MemoryCardStore();
    const state = manufactureCard({ masterKey: MASTER });
    saveCard(store, state);
    const keys = diversifyKeySet(MASTER, state.serial);
    const every = createCardRuntime(store.load(state.serial)!, { store, commit: 'apdu' });
    every.powerOn();
    const t1 = new Terminal((a) => every.transmit(a));
    await t1.selectAid(EID_AID);
    await t1.openScp03(keys, 0x33);
    const w0 = store.writes;
    await t1.writeFile(0x0101, hex('61035F1F00'));
    expect(store.writes).toBe(w0 + 2); // CREATE FILE, UPDATE BINARY
    expect(findApplicationDf(store.load(state.serial)!.mf, EID_AID)!.children).toHaveLength(1);

    // deferred (default): INITIALIZE UPDATE's sequence counter is written at once, with the file written before it
    const other = manufactureCard({ masterKey: MASTER });
    saveCard(store, other);
    const rt = createCardRuntime(store.load(other.serial)!, { store });
    rt.powerOn();
    const t2 = new Terminal((a) => rt.transmit(a));
    await t2.selectAid(EID_AID);
    await t2.openScp03(diversifyKeySet(MASTER, other.serial), 0x33);
    await t2.writeFile(0x0101, hex('61035F1F00'));
    expect(rt.hasUnsavedChanges).toBe(true);
    await t2.selectAid(EID_AID);
    const saves = rt.stats.saves;
    await t2.openScp03(diversifyKeySet(MASTER, other.serial), 0x33); // sequence counter: written at once
    expect(rt.stats.saves).toBe(saves + 1);
    expect(findApplicationDf(store.load(other.serial)!.mf, EID_AID)!.children).toHaveLength(1);
  });

  it('reports a corrupt card file and answers 6581 when the store cannot be written', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kadi-cards-'));
    dirs.push(dir);
    const store = new DirCardStore(dir);
    writeFileSync(path.join(dir, 'AAAAAAAAAAAA.json'), '{"format":');
    expect(() => store.load('AAAAAAAAAAAA')).toThrow(/corrupt/);
    expect(store.load('BBBBBBBBBBBB')).toBeUndefined();
    expect(() => store.load('../etc')).toThrow(/serial/);

    const failing = new MemoryCardStore();
    failing.write = () => {
      throw new Error('disk full');
    };
    const rt = createCardRuntime(manufactureCard({ masterKey: MASTER }), { store: failing });
    const res = rt.transmit(hex('8050000008 0102030405060708 00'));
    expect(Buffer.from(res).toString('hex')).toBe('6581');
  });
});
