/**
 * The chip sequence against Kadi's virtual card runtime in memory (applets/, no pcscd): identification, SCP03 with
 * session keys from a stand-in key port, files in the fewest APDUs, AA key, lock, BAC read-back, AA, and the fault
 * mapping. The HSM and the SOD signer are stand-ins here (pure unit test); test/encode.db.test.ts runs the real ones.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCardRuntime, manufactureCard } from '../../applets/factory.ts';
import { diversifyKeySet } from '../../applets/gp-isd/diversify.ts';
import { ApduError, CardCommunicationError, CardSession, SecureChannelError, deriveSessionKeys, type ApduTraceRecord } from '../chip/index.ts';
import { CardSpoiledError, SpoilReason } from './errors.ts';
import { spoilReasonOf } from './encode.ts';
import {
  type CardLimits,
  type LdsFile,
  type Scp03SessionKeySource,
  bacSecretsData,
  dataGroupFile,
  identifyCard,
  maxCommandDataOfFci,
  minimumPlan,
  personalise,
  readBack,
} from './sequence.ts';
import { decodeTrace, encodeTrace } from './trace.ts';

const MASTER = new Uint8Array(randomBytes(32));
const BAC = { documentNumber: 'KA0000042', dateOfBirth: '900214', dateOfExpiry: '361124' };

function tlv(tag: number, len: number): Uint8Array {
  const hdr = len < 0x80 ? [tag, len] : len < 0x100 ? [tag, 0x81, len] : [tag, 0x82, len >> 8, len & 0xff];
  return Uint8Array.from([...hdr, ...randomBytes(len)]);
}

function files(): { files: LdsFile[]; dataGroups: Map<number, Uint8Array> } {
  const dgs = new Map<number, Uint8Array>([
    [1, tlv(0x61, 93)],
    [2, tlv(0x75, 10_400)],
    [11, tlv(0x6b, 120)],
    [14, tlv(0x6e, 27)],
  ]);
  const out: LdsFile[] = [{ name: 'EF.COM', fid: 0x011e, sfi: 0x1e, bytes: tlv(0x60, 20) }];
  for (const [n, b] of dgs) out.push({ name: `DG${n}`, ...dataGroupFile(n), bytes: b });
  return { files: out, dataGroups: dgs };
}

/** The card factory's own keys, as the HSM would derive them (stand-in for HsmCardKeys). */
const softwareKeys: Scp03SessionKeySource = {
  async sessionKeys({ serial, hostChallenge, cardChallenge }) {
    return deriveSessionKeys(diversifyKeySet(MASTER, serial), hostChallenge, cardChallenge);
  },
};

/** A stand-in "SOD": 77 82 LL LL { n || sha256(DGn) ... }, checked by the stand-in verifier. */
function fakeSod(dgs: ReadonlyMap<number, Uint8Array>): Uint8Array {
  const body = Buffer.concat([...dgs.entries()].sort(([a], [b]) => a - b).map(([n, b]) => Buffer.concat([Buffer.of(n), createHash('sha256').update(b).digest()])));
  return Uint8Array.from([0x77, 0x82, body.length >> 8, body.length & 0xff, ...body]);
}

function newCard(opts: { wrongKeys?: boolean; prePersonalised?: boolean; locked?: boolean } = {}) {
  const rt = createCardRuntime(manufactureCard({ masterKey: MASTER, ...opts }));
  const trace: ApduTraceRecord[] = [];
  const session = new CardSession({ transmit: async (apdu) => rt.transmit(apdu) }, { onTrace: (r) => trace.push(r) });
  return { rt, session, trace };
}

describe('the encode sequence on the virtual card runtime', () => {
  it('personalises and reads back in the minimum number of APDUs for the card\'s limits', async () => {
    const { rt, session, trace } = newCard();
    const cache = new Map<string, CardLimits>();
    const id = await identifyCard(session, { atr: rt.atr, limitsCache: cache });
    expect(id.limits).toMatchObject({ maxCommandData: 4096, maxResponseData: 4096, source: '7F66' });
    expect(id.blankSerial).toBe(rt.serial);
    expect(id.chipSerial).toBe(`4B440001${rt.serial}`);
    expect(id.personalised).toBe(false);
    expect(cache.size).toBe(1);
    const { files: fs, dataGroups } = files();
    const perso = await personalise(session, id, { files: fs, dataGroups, bac: BAC }, { keys: softwareKeys, signSod: async (d) => fakeSod(d) });
    expect(rt.state.eid.lifeCycle).toBe(0x0f);
    expect(perso.files.map((f) => f.name)).toEqual(['EF.COM', 'DG1', 'DG2', 'DG11', 'DG14', 'DG15', 'EF.SOD']);
    const back = await readBack(session, perso.files, BAC, (sod, dgs) => {
      const ok = Buffer.from(sod).equals(Buffer.from(fakeSod(dgs)));
      return { valid: ok, errors: ok ? [] : ['PKI_DG_HASH_MISMATCH'] };
    });
    expect(back.aaVerified).toBe(true);
    expect(Buffer.from(back.dataGroups.get(2)!)).toEqual(Buffer.from(dataGroups.get(2)!));
    // identify 2 (+2 for the limits, first card of this ATR) + the rest at the minimum
    const min = minimumPlan(perso.files.map((f) => f.bytes.length), id.limits);
    expect(trace.length).toBe(min.apdus + 2);
    expect(trace.filter((r) => r.ins === 0xd6).every((r) => r.sw === 0x9000)).toBe(true);
    expect(Math.max(...trace.map((r) => r.lc))).toBe(4079); // 4 096 on the wire at level 33
  });

  it('turns faults into spoil reasons', async () => {
    const { files: fs, dataGroups } = files();
    const run = async (o: { wrongKeys?: boolean; prePersonalised?: boolean; locked?: boolean }) => {
      const { rt, session } = newCard(o);
      const id = await identifyCard(session, { atr: rt.atr });
      return personalise(session, id, { files: fs, dataGroups, bac: BAC }, { keys: softwareKeys, signSod: async (d) => fakeSod(d) }).catch((e: unknown) => e);
    };
    const wrong = await run({ wrongKeys: true });
    expect(wrong).toBeInstanceOf(SecureChannelError);
    expect(spoilReasonOf(wrong)).toBe(SpoilReason.CARD_KEYS_WRONG);
    const pre = await run({ prePersonalised: true });
    expect(pre).toBeInstanceOf(ApduError);
    expect(spoilReasonOf(pre)).toBe(SpoilReason.CARD_NOT_BLANK);
    const locked = await run({ locked: true });
    expect(spoilReasonOf(locked)).toBe(SpoilReason.CARD_LOCKED);
    expect(spoilReasonOf(new CardCommunicationError('CARD_REMOVED', 'x'))).toBe(SpoilReason.CARD_REMOVED);
    expect(spoilReasonOf(new CardCommunicationError('CARD_RESPONSE_MALFORMED', 'x'))).toBe(SpoilReason.RESPONSE_MALFORMED);
    expect(spoilReasonOf(new CardCommunicationError('CARD_TIMEOUT', 'x'))).toBe(SpoilReason.TRANSPORT_FAILED);
    expect(spoilReasonOf(new CardSpoiledError(SpoilReason.AA_FAILED, 'x'))).toBe(SpoilReason.AA_FAILED);
    expect(spoilReasonOf(new Error('bug'))).toBe(SpoilReason.FAILED);
    const signFails = await (async () => {
      const { rt, session } = newCard();
      const id = await identifyCard(session, { atr: rt.atr });
      return personalise(session, id, { files: fs, dataGroups, bac: BAC }, { keys: softwareKeys, signSod: async () => Promise.reject(new Error('HSM gone')) }).catch((e: unknown) => e);
    })();
    expect(signFails).toMatchObject({ code: SpoilReason.SIGNING_FAILED, retryable: false });
  });

  it('encodes BAC secrets, reads 9F65 from an FCI, and round-trips traces without data', () => {
    expect(Buffer.from(bacSecretsData(BAC)).toString('hex')).toBe(
      `5a09${Buffer.from('KA0000042').toString('hex')}5f2b06${Buffer.from('900214').toString('hex')}5f2406${Buffer.from('361124').toString('hex')}`,
    );
    expect(maxCommandDataOfFci(Uint8Array.from(Buffer.from('6F11 8408A000000151000000 A505 9F65021000'.replace(/ /g, ''), 'hex')))).toBe(0x1000);
    expect(maxCommandDataOfFci(Uint8Array.of(0x6f, 0x00))).toBeUndefined();
    const recs: ApduTraceRecord[] = [
      { seq: 1, atMs: 0.12, durationMs: 0.4, cla: 0x84, ins: 0xd6, p1: 0x0f, p2: 0xef, lc: 4079, responseLength: 0, sw: 0x9000, secure: 'scp03', exchanges: 1, bytesSent: 4103, bytesReceived: 10, label: 'DG2' },
      { seq: 2, atMs: 1.5, durationMs: 0.3, cla: 0x00, ins: 0xb0, p1: 0x82, p2: 0, lc: 0, le: 4064, responseLength: 4064, sw: 0x6282, secure: 'bac', exchanges: 1, bytesSent: 20, bytesReceived: 4090, name: 'READ BINARY' },
    ];
    const text = encodeTrace(recs);
    expect(decodeTrace(text)).toEqual(recs);
    expect(Object.keys(JSON.parse(text))).toEqual(['format', 'fields', 'rows']);
  });
});
