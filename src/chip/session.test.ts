/**
 * CardSession over an in-test card (a pure fake, as DESIGN §4 allows in unit tests): GET RESPONSE and 6CXX
 * handling, command chaining, typed transport errors, trace without data bytes, and full host <-> card sessions
 * under SCP03 (every level) and BAC secure messaging, using the card-side half of this module on the fake card.
 */
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex } from '../shared/index.ts';
import {
  ApduError,
  CardCommunicationError,
  CardSession,
  IsoSecureMessaging,
  SCP03_SECURITY_LEVELS,
  Scp03Channel,
  SecureChannelError,
  bacChipAuthenticate,
  bacGetChallenge,
  bacSecureMessaging,
  bacTerminalAuthenticate,
  bacTerminalComplete,
  deriveBacKeys,
  encodeCommand,
  encodeExtendedLengthInfo,
  encodeResponse,
  formatTraceRecord,
  getData,
  initializeUpdate,
  joinChain,
  openScp03Host,
  parseCommand,
  parseExtendedLengthInfo,
  parseOddDataResponse,
  readTransparentFile,
  writeTransparentFile,
  respondScp03InitializeUpdate,
  selectByAid,
  updateBinaryCommands,
  type CommandApdu,
  type ResponseApdu,
  type Transmitter,
} from './index.ts';

const EID_AID = fromHex('A0000002471001');
const KEYS = {
  enc: fromHex('404142434445464748494A4B4C4D4E4F'),
  mac: fromHex('505152535455565758595A5B5C5D5E5F'),
  dek: fromHex('606162636465666768696A6B6C6D6E6F'),
};
const BAC = { documentNumber: 'KE1234567', dateOfBirth: '900101', dateOfExpiry: '340101' };

interface MiniCardOptions {
  /** Answer long responses in chunks of this size with 61XX. */
  chunk?: number;
  /** Largest command data accepted (else 6700). */
  maxCommandData?: number;
  /** GET DATA 'DF01' answers 6C10 unless Le = 16. */
  wrongLe?: boolean;
}

/** A small card: one transparent EF, SCP03 (card side), BAC (chip side), chaining, 61XX and 6CXX behaviour. */
class MiniCard implements Transmitter {
  file = new Uint8Array(50000);
  scp: Scp03Channel | undefined;
  pending: { channel: Scp03Channel; host: Uint8Array } | undefined;
  sm: IsoSecureMessaging | undefined;
  rndIc: Uint8Array | undefined;
  chain: CommandApdu[] = [];
  left: Uint8Array = new Uint8Array(0);
  counter = 1;
  seen: Uint8Array[] = [];
  constructor(private readonly o: MiniCardOptions = {}) {}

  async transmit(bytes: Uint8Array): Promise<Uint8Array> {
    this.seen.push(bytes);
    return encodeResponse(this.process(bytes));
  }

  private out(r: ResponseApdu, le?: number): ResponseApdu {
    const chunk = this.o.chunk;
    if (chunk && r.data.length > chunk) {
      this.left = r.data.subarray(chunk);
      return { data: r.data.subarray(0, chunk), sw: 0x6100 | Math.min(this.left.length, 255) };
    }
    void le;
    return r;
  }

  private process(bytes: Uint8Array): ResponseApdu {
    let cmd = parseCommand(bytes);
    if (cmd.ins === 0xc0) {
      const d = this.left.subarray(0, Math.min(cmd.le ?? 256, this.o.chunk ?? 65536));
      this.left = this.left.subarray(d.length);
      return { data: d, sw: this.left.length > 0 ? 0x6100 | Math.min(this.left.length, 255) : 0x9000 };
    }
    if ((cmd.data?.length ?? 0) > (this.o.maxCommandData ?? 65535)) return { data: new Uint8Array(0), sw: 0x6700 };
    const scp = this.scp?.isAuthenticated && (cmd.cla & 0x04) !== 0 ? this.scp : undefined;
    const sm = this.sm && (cmd.cla & 0x0c) === 0x0c ? this.sm : undefined;
    try {
      if (scp) cmd = scp.unwrapCommand(cmd);
      else if (sm) cmd = sm.unwrapCommand(cmd);
    } catch (e) {
      this.scp = undefined;
      this.sm = undefined;
      return { data: new Uint8Array(0), sw: (e as SecureChannelError).sw };
    }
    if ((cmd.cla & 0x10) !== 0) {
      this.chain.push(cmd);
      return this.protect({ data: new Uint8Array(0), sw: 0x9000 }, cmd, scp, sm);
    }
    if (this.chain.length > 0) {
      cmd = joinChain([...this.chain, cmd]);
      this.chain = [];
    }
    return this.out(this.protect(this.execute(cmd), cmd, scp, sm), cmd.le);
  }

  /** Protects a response with the channel its command came under (not one the command just opened). */
  private protect(r: ResponseApdu, cmd: CommandApdu, scp?: Scp03Channel, sm?: IsoSecureMessaging): ResponseApdu {
    if (scp && !scp.isClosed) return scp.wrapResponse(r);
    if (sm && !sm.isClosed) return sm.wrapResponse(r, (cmd.ins & 1) === 1);
    return r;
  }

  private execute(cmd: CommandApdu): ResponseApdu {
    const ok = (data: Uint8Array = new Uint8Array(0)) => ({ data, sw: 0x9000 });
    const data = cmd.data ?? new Uint8Array(0);
    switch (cmd.ins) {
      case 0xa4:
        this.scp = undefined;
        this.sm = undefined;
        return ok();
      case 0x50: {
        const o = respondScp03InitializeUpdate({
          keys: KEYS,
          keyVersion: 0x30,
          keyDiversificationData: fromHex('00010203040506070809'),
          hostChallenge: data,
          sequenceCounter: Uint8Array.of(0, 0, this.counter++),
          aid: EID_AID,
        });
        this.pending = { channel: o.channel, host: o.expectedHostCryptogram };
        return ok(o.responseData);
      }
      case 0x82: {
        if ((cmd.cla & 0x80) !== 0 || (cmd.cla & 0x04) !== 0) {
          // GP EXTERNAL AUTHENTICATE (arrives still wrapped: the card verifies it here)
          if (!this.pending) return { data: new Uint8Array(0), sw: 0x6985 };
          try {
            this.pending.channel.acceptExternalAuthenticate(cmd, this.pending.host);
            this.scp = this.pending.channel;
            return ok();
          } catch (e) {
            return { data: new Uint8Array(0), sw: (e as SecureChannelError).sw };
          } finally {
            this.pending = undefined;
          }
        }
        if (!this.rndIc) return { data: new Uint8Array(0), sw: 0x6985 };
        try {
          const r = bacChipAuthenticate(deriveBacKeys(BAC), this.rndIc, data);
          this.sm = bacSecureMessaging(r.session);
          return ok(r.responseData);
        } catch (e) {
          return { data: new Uint8Array(0), sw: (e as SecureChannelError).sw };
        } finally {
          this.rndIc = undefined;
        }
      }
      case 0x84:
        this.rndIc = fromHex('1122334455667788');
        return ok(this.rndIc);
      case 0xd6: {
        const off = cmd.p1 & 0x80 ? cmd.p2 : (cmd.p1 << 8) | cmd.p2; // SFI in P1: offset in P2
        this.file.set(data, off);
        return ok();
      }
      case 0xd7: {
        const off = parseInt(toHex(data.subarray(2, 2 + data[1]!)), 16);
        const body = parseOddDataResponse(data.subarray(2 + data[1]!));
        this.file.set(body, off);
        return ok();
      }
      case 0xb0: {
        const off = cmd.p1 & 0x80 ? cmd.p2 : (cmd.p1 << 8) | cmd.p2;
        return ok(this.file.slice(off, off + (cmd.le ?? 256)));
      }
      case 0xb1: {
        const off = parseInt(toHex(data.subarray(2, 2 + data[1]!)), 16);
        const body = this.file.slice(off, off + (cmd.le ?? 256) - 4);
        return ok(concatBytes(fromHex('5382'), Uint8Array.of(body.length >>> 8, body.length & 0xff), body));
      }
      case 0xca:
        if (this.o.wrongLe && cmd.le !== 16) return { data: new Uint8Array(0), sw: 0x6c10 };
        return ok(new Uint8Array(16).fill(0xdf));
      case 0xda:
        return ok();
      default:
        return { data: new Uint8Array(0), sw: 0x6d00 };
    }
  }
}

/** Byte equality without dumping megabytes of hex into a failure message. */
function same(a: Uint8Array, b: Uint8Array): string {
  if (a.length !== b.length) return `lengths ${a.length} and ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `first difference at ${i}`;
  return 'same';
}

const pattern = (n: number) => new Uint8Array(n).map((_, i) => (i * 7 + 3) & 0xff);

describe('CardSession transport handling', () => {
  it('collects 61XX responses with GET RESPONSE', async () => {
    const card = new MiniCard({ chunk: 100 });
    const s = new CardSession(card, { trace: true });
    card.file.set(pattern(256), 0);
    const r = await s.send({ cla: 0, ins: 0xb0, p1: 0, p2: 0, le: 256 });
    expect(same(r.data, pattern(256))).toBe('same');
    expect(s.trace[0]!.exchanges).toBe(3);
    expect(s.stats.exchanges).toBe(3);
  });

  it('resends once with the Le a 6CXX asked for', async () => {
    const s = new CardSession(new MiniCard({ wrongLe: true }), { trace: true });
    const r = await s.send(getData(0xdf01, { le: 256 }));
    expect(r.data).toHaveLength(16);
    expect(s.trace[0]!.exchanges).toBe(2);
  });

  it('chains commands longer than the card takes', async () => {
    const card = new MiniCard({ maxCommandData: 255 });
    const s = new CardSession(card, { maxCommandData: 255 });
    await s.send({ cla: 0, ins: 0xd6, p1: 0, p2: 0, data: pattern(600) });
    expect(card.seen.map((b) => b[0])).toEqual([0x10, 0x10, 0x00]);
    expect(same(card.file.subarray(0, 600), pattern(600))).toBe('same');
  });

  it('types transport failures, garbage and endless GET RESPONSE', async () => {
    const boom: Transmitter = { transmit: async () => Promise.reject(new Error('reader gone')) };
    await expect(new CardSession(boom).send(getData(0xdf01))).rejects.toMatchObject({ code: 'CARD_TRANSPORT_FAILED', retryable: false });
    const removed: Transmitter = {
      transmit: async () => Promise.reject(new CardCommunicationError('CARD_REMOVED', 'card removed')),
    };
    await expect(new CardSession(removed).send(getData(0xdf01))).rejects.toMatchObject({ code: 'CARD_REMOVED' });
    const garbage: Transmitter = { transmit: async () => fromHex('01') };
    await expect(new CardSession(garbage).send(getData(0xdf01))).rejects.toBeInstanceOf(CardCommunicationError);
    const garbage2: Transmitter = { transmit: async () => fromHex('DEADBEEF') };
    await expect(new CardSession(garbage2).send(getData(0xdf01))).rejects.toMatchObject({ code: 'CARD_RESPONSE_MALFORMED' });
    const endless: Transmitter = { transmit: async () => fromHex('AA6101') };
    await expect(new CardSession(endless, { maxGetResponse: 5 }).send(getData(0xdf01))).rejects.toMatchObject({ code: 'CARD_RESPONSE_MALFORMED' });
  });

  it('checks the SW in send() and returns it in transmit()', async () => {
    const s = new CardSession(new MiniCard());
    const r = await s.transmit({ cla: 0, ins: 0x99, p1: 0, p2: 0 });
    expect(r.sw).toBe(0x6d00);
    await expect(s.send({ cla: 0, ins: 0x99, p1: 0, p2: 0 })).rejects.toBeInstanceOf(ApduError);
    await expect(s.send({ cla: 0, ins: 0x99, p1: 0, p2: 0 })).rejects.toMatchObject({ code: 'CARD_INS_NOT_SUPPORTED', sw: 0x6d00 });
  });

  it('extended length information 7F66', () => {
    const b = encodeExtendedLengthInfo({ maxCommandLength: 2048, maxResponseLength: 4096 });
    expect(toHex(b).toUpperCase()).toBe('7F660802020800020210' + '00');
    expect(parseExtendedLengthInfo(b)).toEqual({ maxCommandLength: 2048, maxResponseLength: 4096 });
  });
});

describe('trace', () => {
  it('records header, lengths, SW and timing, and never data bytes', async () => {
    const lines: string[] = [];
    const card = new MiniCard();
    let t = 0;
    const s = new CardSession(card, { trace: true, now: () => (t += 1.5), onTrace: (r) => lines.push(formatTraceRecord(r)) });
    const secret = new TextEncoder().encode('KE1234567<<MWANGI<<AMINA<WANJIRU'); // personal data
    await s.send({ cla: 0, ins: 0xd6, p1: 0, p2: 0x10, data: secret }, 0x9000, { label: 'DG1' });
    await s.send({ cla: 0, ins: 0xb0, p1: 0, p2: 0x10, le: secret.length });
    const rec = s.trace[0]!;
    expect(rec).toMatchObject({ seq: 1, cla: 0, ins: 0xd6, p1: 0, p2: 0x10, lc: secret.length, sw: 0x9000, name: 'UPDATE BINARY', label: 'DG1', secure: 'none' });
    expect(rec.durationMs).toBeGreaterThan(0);
    expect(s.trace[1]!.responseLength).toBe(secret.length);
    const dump = JSON.stringify(s.trace) + lines.join('\n');
    expect(dump).not.toContain('MWANGI');
    expect(dump.toLowerCase()).not.toContain(toHex(secret.subarray(0, 4)));
    expect(Object.keys(rec).sort()).toEqual(
      ['atMs', 'bytesReceived', 'bytesSent', 'cla', 'durationMs', 'exchanges', 'ins', 'label', 'lc', 'name', 'p1', 'p2', 'responseLength', 'secure', 'seq', 'sw'].sort(),
    );
    expect(lines[0]).toMatch(/^#1 .*00 D6 00 10 UPDATE BINARY Lc=32 -> 0B SW=9000/);
  });
});

async function openScp03(s: CardSession, level: number): Promise<Scp03Channel> {
  await s.send(selectByAid(EID_AID));
  const hostChallenge = fromHex('0011223344556677');
  const iu = await s.send(initializeUpdate(0x30, hostChallenge));
  const { channel, externalAuthenticate } = openScp03Host({ keys: KEYS, hostChallenge, initializeUpdateResponse: iu.data, securityLevel: level });
  await s.send(externalAuthenticate);
  s.setSecureChannel(channel);
  return channel;
}

describe('host <-> card sessions', () => {
  const file = pattern(40000); // crosses 32 767: even and odd INS
  for (const level of SCP03_SECURITY_LEVELS.filter((l) => l !== 0)) {
    for (const maxCommandData of [255, 2048]) {
      it(`SCP03 level ${level.toString(16).padStart(2, '0')}, max command data ${maxCommandData}: write 40 000 bytes, read back`, async () => {
        const card = new MiniCard({ maxCommandData });
        const s = new CardSession(card, { maxCommandData, maxResponseData: maxCommandData + 1, trace: true });
        await openScp03(s, level);
        const n = await writeTransparentFile(s, file, { label: 'EF' });
        expect(n).toBe(updateBinaryCommands(file, { maxCommandData: s.maxPlainCommandData }).length);
        expect(same(card.file.subarray(0, file.length), file)).toBe('same');
        const back = await readTransparentFile(s, { length: file.length });
        expect(same(back, file)).toBe('same');
        // every command fitted: no chaining was needed
        expect(card.seen.every((b) => (b[0]! & 0x10) === 0)).toBe(true);
        expect(s.trace.filter((r) => r.ins === 0xd6 || r.ins === 0xd7).every((r) => r.secure === 'scp03' && r.exchanges === 1)).toBe(true);
        if (level & 0x02) expect(card.seen.some((b) => toHex(b).includes(toHex(file.subarray(0, 16))))).toBe(false);
      });
    }
  }

  it('SCP03 with a wrong-key card fails before anything is written', async () => {
    const card = new MiniCard();
    const s = new CardSession(card);
    await s.send(selectByAid(EID_AID));
    const hc = fromHex('0011223344556677');
    const iu = await s.send(initializeUpdate(0x30, hc));
    const wrong = { enc: KEYS.mac, mac: KEYS.enc };
    expect(() => openScp03Host({ keys: wrong, hostChallenge: hc, initializeUpdateResponse: iu.data, securityLevel: 0x33 })).toThrow(SecureChannelError);
  });

  it('a card that rejects the MAC answers 6982 and the session reports it', async () => {
    const card = new MiniCard();
    const s = new CardSession(card);
    const ch = await openScp03(s, 0x03);
    ch.wrapCommand({ cla: 0, ins: 0xd6, p1: 0, p2: 0, data: fromHex('01') }); // host MAC chain moves on alone
    await expect(s.send({ cla: 0, ins: 0xd6, p1: 0, p2: 0, data: fromHex('02') })).rejects.toMatchObject({
      code: 'CARD_SECURITY_STATUS_NOT_SATISFIED',
      sw: 0x6982,
    });
  });

  it('BAC then secure messaging read-back, with 61XX and extended lengths', async () => {
    for (const [chunk, maxResponseData] of [[undefined, 256], [200, 256], [undefined, 4096]] as const) {
      const card = new MiniCard(chunk ? { chunk } : {});
      card.file.set(file, 0);
      const s = new CardSession(card, { maxCommandData: 1024, maxResponseData });
      const rndIc = (await s.send(bacGetChallenge())).data;
      const keys = deriveBacKeys(BAC);
      const { command, state } = bacTerminalAuthenticate(keys, rndIc);
      const r = await s.send(command);
      s.setSecureChannel(bacSecureMessaging(bacTerminalComplete(state, r.data)));
      const back = await readTransparentFile(s, { length: 1000 });
      expect(same(back, file.subarray(0, 1000))).toBe('same');
      const cmds = updateBinaryCommands(pattern(3000), { maxCommandData: s.maxPlainCommandData, offset: 100 });
      await s.sendAll(cmds);
      expect(same(card.file.subarray(100, 3100), pattern(3000))).toBe('same');
    }
  });

  it('reads an LDS file whose length comes from its own TLV header, by SFI, under BAC', async () => {
    const body = pattern(34000);
    const lds = concatBytes(fromHex('7782'), Uint8Array.of(body.length >>> 8, body.length & 0xff), body);
    const card = new MiniCard();
    card.file.set(lds, 0);
    card.file.set(pattern(100), lds.length); // bytes after the object are not part of the file
    const s = new CardSession(card, { maxCommandData: 255, maxResponseData: 256, trace: true });
    const rndIc = (await s.send(bacGetChallenge())).data;
    const { command, state } = bacTerminalAuthenticate(deriveBacKeys(BAC), rndIc);
    s.setSecureChannel(bacSecureMessaging(bacTerminalComplete(state, (await s.send(command)).data)));
    const got = await readTransparentFile(s, { sfi: 0x1d, label: 'EF.SOD' });
    expect(same(got, lds)).toBe('same');
    const reads = s.trace.filter((r) => r.ins === 0xb0 || r.ins === 0xb1);
    expect(reads[0]!.p1).toBe(0x9d); // SFI on the first read
    expect(reads.some((r) => r.ins === 0xb1)).toBe(true);
    expect(reads.length).toBeLessThanOrEqual(Math.ceil(lds.length / s.maxPlainResponseData) + 1); // +1: odd INS overhead
  });

  it('a file shorter than asked is an end-of-file error', async () => {
    const card = new MiniCard();
    const s = new CardSession(card);
    await expect(readTransparentFile(s, { length: 60000 })).rejects.toMatchObject({ code: 'CARD_END_OF_FILE' });
  });

  it('BAC with wrong MRZ data is refused by the chip', async () => {
    const s = new CardSession(new MiniCard());
    const rndIc = (await s.send(bacGetChallenge())).data;
    const { command } = bacTerminalAuthenticate(deriveBacKeys({ ...BAC, dateOfBirth: '900102' }), rndIc);
    await expect(s.send(command)).rejects.toMatchObject({ code: 'CARD_VERIFICATION_FAILED', sw: 0x6300 });
  });

  it('wire bytes of a protected command parse back (sanity of encodeCommand for SM output)', () => {
    const sm = IsoSecureMessaging.des(new Uint8Array(16).fill(1), new Uint8Array(16).fill(2), new Uint8Array(8));
    const w = sm.wrapCommand({ cla: 0, ins: 0xb0, p1: 0, p2: 0, le: 256 });
    expect(parseCommand(encodeCommand(w)).data).toHaveLength(w.data!.length);
  });
});
