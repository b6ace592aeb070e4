/**
 * Chip and face QC against Kadi's virtual card in memory (the card runtime without the vpcd transport): the QC
 * reader's BAC against the ICAO 9303-11 Appendix D worked example (byte for byte, through the reader's own
 * functions), a good card passing, each fault class caught with its reason code, the read sequence's APDU count,
 * Active Authentication with ECDSA and ISO/IEC 9796-2 RSA, and the face checks. The PC/SC path, the HSM keys and the
 * database are in test/qc-chip.test.ts and test/qc.db.test.ts.
 */
import { constants, createHash, generateKeyPairSync, privateDecrypt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, beforeAll } from 'vitest';
import { createCardRuntime, manufactureCard } from '../../applets/index.ts';
import { hex } from '../../applets/testing/index.ts';
import { CardSession, bacKeySeed, deriveDesKeyPair, type Transmitter } from '../chip/index.ts';
import { encodeDg1, encodeDg15, generateTd1, parseMrz } from '../lds/index.ts';
import { CscaStore, parseCertificate } from '../pki/index.ts';
import { buildChipImage, type ChipImage, type PersonData } from '../prepare/index.ts';
import { generatePhoto } from '../registry/index.ts';
import { Rng } from '../shared/index.ts';
import { personaliseTestCard, softwarePki, type CardFaults, type SoftwarePki } from '../../test/support/qc-cards.ts';
import {
  type ChipRead,
  type QcExpectation,
  type QcTrust,
  QC_REASONS,
  REASON_PRIORITY,
  bacAuthenticate,
  bacKeysFromMrz,
  checkChip,
  checkFace,
  primaryFinding,
  readChip,
  readLdsFile,
  verifyActiveAuthentication,
  verifyIso9796Scheme1,
} from './index.ts';

type Rec = { name: string; inputs: Record<string, any>; expected: Record<string, any> };
const records = JSON.parse(readFileSync(fileURLToPath(new URL('../../../shared/vectors/vectors.json', import.meta.url)), 'utf8')) as Rec[];
const rec = (p: string) => records.find((r) => r.name.startsWith(p))!;
const up = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();

describe('the QC reader passes the ICAO 9303-11 Appendix D worked example', () => {
  it('derives the BAC keys from the printed MRZ (D.2), TD2 and a long TD1 document number', () => {
    const d2 = rec('BAC D.2 document basic access keys');
    const td2 = rec('MRZ TD2 BAC example L898902C< with corrected composite').inputs.td2_lines as string[];
    const keys = bacKeysFromMrz(td2);
    expect(up(keys.enc)).toBe(d2.expected.K_enc);
    expect(up(keys.mac)).toBe(d2.expected.K_mac);
    expect(up(bacKeysFromMrz({ documentNumber: 'L898902C', dateOfBirth: '690806', dateOfExpiry: '940623' }).enc)).toBe(d2.expected.K_enc);
    const long = rec('BAC D.2 key seed for long document number');
    const td1 = rec('MRZ TD1 ICAO 9303 p11 D.2 STEVENSON').inputs.td1_lines as string[];
    expect(up(bacKeysFromMrz(td1).enc)).toBe(up(deriveDesKeyPair(hex(long.expected.K_seed)).enc));
    expect(parseMrz(td1).mrzInformation).toBe(long.expected.MRZ_information);
  });

  it('sends exactly the D.3 and D.4 commands and reads EF.COM from the D.4 responses', async () => {
    const d3 = rec('BAC D.3');
    const d4 = rec('BAC D.4');
    const script: Array<[string, string]> = [
      [d3.inputs.GET_CHALLENGE_cmd, d3.inputs.GET_CHALLENGE_rsp],
      [d3.expected.EXTERNAL_AUTHENTICATE_cmd, d3.expected.EXTERNAL_AUTHENTICATE_rsp],
      [d4.expected.protected_SELECT_EF_COM, d4.expected.SELECT_rsp],
      [d4.expected.protected_READ_BINARY_1, d4.expected.READ_BINARY_1_rsp],
      [d4.expected.protected_READ_BINARY_2, d4.expected.READ_BINARY_2_rsp],
    ];
    const sent: string[] = [];
    const replay: Transmitter = {
      async transmit(apdu) {
        const i = sent.length;
        sent.push(up(apdu));
        const step = script[i];
        if (!step || step[0] !== up(apdu)) return hex('6F00');
        return hex(step[1]);
      },
    };
    const session = new CardSession(replay);
    const td2 = rec('MRZ TD2 BAC example L898902C< with corrected composite').inputs.td2_lines as string[];
    await bacAuthenticate(session, bacKeysFromMrz(td2), { rndIfd: hex(d3.inputs['RND.IFD']), kIfd: hex(d3.inputs['K.IFD']) });
    const com = await readLdsFile(session, 'COM', { addressing: 'fid', firstReadLength: 4 });
    expect(sent).toEqual(script.map((s) => s[0]));
    expect(up(com)).toBe(d4.expected.EF_COM);
  });

  it('refuses a chip that answers with another key (QC_BAC_FAILED) without reading anything', async () => {
    const d3 = rec('BAC D.3');
    const replay: Transmitter = {
      async transmit(apdu) {
        if (up(apdu) === d3.inputs.GET_CHALLENGE_cmd) return hex(d3.inputs.GET_CHALLENGE_rsp);
        const bad = hex(d3.expected.EXTERNAL_AUTHENTICATE_rsp);
        bad[5]! ^= 1;
        return bad;
      },
    };
    const session = new CardSession(replay);
    const keys = deriveDesKeyPair(bacKeySeed('L898902C<369080619406236'));
    await expect(bacAuthenticate(session, keys, { rndIfd: hex(d3.inputs['RND.IFD']), kIfd: hex(d3.inputs['K.IFD']) })).rejects.toMatchObject({ code: 'QC_BAC_FAILED' });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Cards in memory

const MASTER = hex('5A5B5C5D5E5F606162636465666768696A6B6C6D6E6F70717273747576777879');
const PERSON: PersonData = {
  registryId: 1,
  nationalNumber: '31234567',
  surname: 'WANJIRŨ',
  givenNames: 'AMANI NJERI',
  sex: 'F',
  dateOfBirth: '1990-02-14',
  placeOfBirth: 'NYERI',
  county: 'Nyeri',
  address: 'P.O. BOX 123 OTHAYA',
  nhifNumber: 'N1234567',
  nssfNumber: null,
  kraPin: 'A012345678Z',
  collectionCentre: 'KE-019-01',
};
const DOC = {
  documentNumber: 'KA0000042',
  issuingState: 'KEN',
  dateOfIssue: '2026-11-25',
  dateOfExpiry: '2036-11-24',
  issuingAuthority: 'PRINCIPAL REGISTRAR OF PERSONS',
  personalisedAt: '2026-11-25T08:00:00Z',
  personalisationSystem: 'KADI-TEST',
};

let photo: Uint8Array;
let image: ChipImage;
let pki: SoftwarePki;
let rogue: SoftwarePki;
let trust: QcTrust;
let expected: QcExpectation;

beforeAll(async () => {
  photo = new Uint8Array(generatePhoto(new Rng('qc-unit')));
  image = buildChipImage(PERSON, photo, DOC);
  pki = await softwarePki();
  rogue = await softwarePki('Rogue CSCA');
  trust = { cscas: new CscaStore([parseCertificate(pki.cscaCertificate)]), crls: [await pki.crl()] };
  expected = { documentNumber: DOC.documentNumber, issuingState: 'KEN', dateOfIssue: DOC.dateOfIssue, dateOfExpiry: DOC.dateOfExpiry, issuingAuthority: DOC.issuingAuthority, person: PERSON, photo };
});

const BAC = { documentNumber: 'KA0000042', dateOfBirth: '900214', dateOfExpiry: '361124' };

/** A finished card in memory, personalised with `faults`. */
async function card(faults: CardFaults = {}, signer: SoftwarePki = pki) {
  const state = manufactureCard({ masterKey: MASTER });
  const rt = createCardRuntime(state);
  rt.powerOn();
  const transmit = (a: Uint8Array) => rt.transmit(a);
  const dataGroups = new Map(image.dataGroups);
  const written = await personaliseTestCard(transmit, { serial: state.serial, masterKey: MASTER, com: image.com, dataGroups, bac: BAC, signSod: (d) => signer.signSod(d), faults });
  rt.powerOff();
  rt.powerOn();
  return { rt, state, written, channel: { transmit: async (a: Uint8Array) => rt.transmit(a) } as Transmitter };
}

async function qc(faults: CardFaults = {}, opts: { signer?: SoftwarePki; trust?: QcTrust } = {}) {
  const c = await card(faults, opts.signer);
  const read = await readChip(c.channel, { mrz: image.mrz });
  return { read, check: checkChip(read, { trust: opts.trust ?? trust, expected }), card: c };
}

describe('chip QC of cards in memory', () => {
  it('a good card passes every step in about 20 APDUs', async () => {
    const { read, check } = await qc();
    expect(check.findings).toEqual([]);
    expect(check.passed).toBe(true);
    expect(Object.values(check.steps).every((s) => s === 'pass')).toBe(true);
    expect(check.documentNumber).toBe('KA0000042');
    expect(check.activeAuth).toEqual({ status: 'valid', algorithm: 'ecdsa-plain-SHA256' });
    expect(check.passiveAuth).toMatchObject({ hashAlgorithm: 'sha256', crlChecked: true, dataGroups: [1, 2, 11, 12, 13, 14, 15] });
    expect([...read.dataGroups.keys()]).toEqual([1, 2, 11, 12, 13, 14, 15]);
    expect(read.limits).toMatchObject({ source: 'EF.ATR/INFO', maxResponseData: 4096 });
    expect(read.stats.apdusByStep).toMatchObject({ limits: 2, select: 1, probe: 1, bac: 2, 'EF.COM': 1, 'EF.SOD': 1, DG1: 1, DG11: 1, DG15: 1, aa: 1, lock: 1 });
    // DG2 (about 10 KB of portrait) in as few READ BINARY as 4 064-byte responses allow
    expect(read.stats.apdusByStep.DG2).toBe(Math.ceil(image.dataGroups.get(2)!.length / 4064));
    expect(read.stats.apdus).toBeLessThanOrEqual(22);
    expect(read.lockProbe!.sw).toBe(0x6985);
    expect(read.unprotected!.sw).toBe(0x6982);
  });

  it('FID addressing (SELECT + READ BINARY) reads the same bytes with one more APDU per file', async () => {
    const c = await card();
    const bySfi = await readChip(c.channel, { mrz: image.mrz });
    const byFid = await readChip(c.channel, { mrz: image.mrz, addressing: 'fid' });
    expect(checkChip(byFid, { trust, expected }).passed).toBe(true);
    expect(up(byFid.sod!)).toBe(up(bySfi.sod!));
    // the card was not reset between the two reads: the second goes back to the MF for EF.ATR/INFO (+2)
    expect(byFid.stats.apdus - bySfi.stats.apdus).toBe(9 + 2);
  });

  it.each<[string, CardFaults, string]>([
    ['a data group changed after signing', { tamperDg: 11 }, 'QC_DG_HASH_MISMATCH'],
    ['a corrupted SOD signature', { corruptSodSignature: true }, 'QC_SOD_SIGNATURE_INVALID'],
    ['DG15 that is not the chip key', { foreignAaKey: true }, 'QC_AA_FAILED'],
    ['an unlocked card', { skipLock: true }, 'QC_CARD_NOT_LOCKED'],
  ])('%s fails with %s', async (_what, faults, code) => {
    const { check } = await qc(faults);
    expect(check.passed).toBe(false);
    expect(check.primary!.code).toBe(code);
    expect(check.findings.map((f) => f.code)).toContain(code);
  });

  it('an unlocked card refuses the write only for lack of keys (6982), not as a locked card (6985)', async () => {
    const { read, check } = await qc({ skipLock: true });
    expect(read.lockProbe!.sw).toBe(0x6982);
    expect(check.steps.lock).toBe('fail');
    expect(check.steps.hashes).toBe('pass');
  });

  it('a SOD signed by a Document Signer of another CSCA: QC_DS_UNKNOWN', async () => {
    const { check } = await qc({}, { signer: rogue });
    expect(check.primary!.code).toBe('QC_DS_UNKNOWN');
    expect(check.steps.sod).toBe('pass'); // the signature itself is fine
    expect(check.steps.chain).toBe('fail');
  });

  it('a revoked Document Signer: QC_DS_REVOKED; no CRL or an outdated one: QC_CRL_UNAVAILABLE', async () => {
    const revoked: QcTrust = { cscas: trust.cscas, crls: [await pki.crl([pki.dsSerialHex])] };
    expect((await qc({}, { trust: revoked })).check.primary!.code).toBe('QC_DS_REVOKED');
    expect((await qc({}, { trust: { cscas: trust.cscas, crls: [] } })).check.primary!.code).toBe('QC_CRL_UNAVAILABLE');
    const old = await pki.crl([], { nextUpdate: new Date(Date.now() - 1000) });
    expect((await qc({}, { trust: { cscas: trust.cscas, crls: [old] } })).check.primary!.code).toBe('QC_CRL_UNAVAILABLE');
    // another CSCA's CRL does not count
    expect((await qc({}, { trust: { cscas: trust.cscas, crls: [await rogue.crl()] } })).check.primary!.code).toBe('QC_CRL_UNAVAILABLE');
  });

  it('DG1 signed correctly but not the order\'s data: QC_DG1_MISMATCH naming the fields', async () => {
    const other = generateTd1({ documentNumber: 'KA0000042', issuingState: 'KEN', nationality: 'KEN', surname: 'OTIENO', givenNames: 'BRIAN', dateOfBirth: '1990-02-14', sex: 'M', dateOfExpiry: '2036-11-24' });
    const { check } = await qc({ dg1: encodeDg1(other) });
    expect(check.steps.hashes).toBe('pass');
    expect(check.primary).toMatchObject({ code: 'QC_DG1_MISMATCH', details: { file: 'DG1', fields: ['sex', 'name'] } });
    expect(JSON.stringify(check.findings)).not.toMatch(/OTIENO|WANJIR/);
  });

  it('compares DG2, DG11, DG12, DG13 with the record', () => {
    const read: ChipRead = { dataGroups: new Map(image.dataGroups), bac: true, findings: [], eacProtected: [], limits: { maxCommandData: 255, maxResponseData: 256, source: 'default' }, stats: { apdus: 0, exchanges: 0, bytesSent: 0, bytesReceived: 0, transmitMs: 0, totalMs: 0, apdusByStep: {} } };
    const otherPerson = { ...PERSON, address: 'P.O. BOX 9 NYERI', kraPin: 'A999999999Z', nhifNumber: null };
    const x2: QcExpectation = { ...expected, person: otherPerson, photo: new Uint8Array(generatePhoto(new Rng('someone else'))), dateOfIssue: '2026-11-26' };
    const r = checkChip(read, { trust, expected: x2, requireActiveAuthentication: false });
    const codes = r.findings.map((f) => f.code);
    expect(codes).toEqual(expect.arrayContaining(['QC_DG2_MISMATCH', 'QC_DG11_MISMATCH', 'QC_DG12_MISMATCH', 'QC_DG13_MISMATCH']));
    expect(r.findings.find((f) => f.code === 'QC_DG11_MISMATCH')!.details).toEqual({ file: 'DG11', fields: ['permanentAddress'] });
    expect(r.findings.find((f) => f.code === 'QC_DG13_MISMATCH')!.details).toEqual({ file: 'DG13', fields: ['kraPin', 'nhifNumber'] });
    expect(r.findings.find((f) => f.code === 'QC_DG12_MISMATCH')!.details).toEqual({ file: 'DG12', fields: ['dateOfIssue'] });
  });

  it('a wrong MRZ (another date of birth) fails BAC and reads nothing; the chip refuses unprotected reads', async () => {
    const c = await card();
    const wrong = generateTd1({ documentNumber: 'KA0000042', issuingState: 'KEN', nationality: 'KEN', surname: 'WANJIRU', givenNames: 'AMANI', dateOfBirth: '1990-02-15', sex: 'F', dateOfExpiry: '2036-11-24' });
    const read = await readChip(c.channel, { mrz: wrong.lines });
    expect(read.bac).toBe(false);
    expect(read.dataGroups.size).toBe(0);
    const check = checkChip(read, { trust, expected });
    expect(check.primary!.code).toBe('QC_BAC_FAILED');
    expect(check.steps.unprotected).toBe('pass');
  });

  it('a card without its application, and a card that is not there', async () => {
    const blank = createCardRuntime(manufactureCard({ masterKey: MASTER, locked: true }));
    blank.state.eid.lifeCycle = 0x83; // application LOCKED: not selectable
    const r1 = await readChip({ transmit: async (a) => blank.transmit(a) }, { mrz: image.mrz });
    expect(checkChip(r1, { trust }).primary!.code).toBe('QC_APP_NOT_FOUND');
    const r2 = await readChip({ transmit: async () => { throw new Error('SCardTransmit error: Transaction failed.(0x80100016)'); } }, { mrz: image.mrz });
    expect(checkChip(r2, { trust }).primary).toMatchObject({ code: 'QC_CHIP_UNREADABLE', details: { reason: 'CARD_TRANSPORT_FAILED' } });
  });

  it('identification: another chip in the reader stops QC with QC_WRONG_CARD before anything is judged', async () => {
    const c = await card();
    await expect(readChip(c.channel, { mrz: image.mrz, expectChipSerial: 'AAAAAAAAAAAA' })).rejects.toMatchObject({ code: 'QC_WRONG_CARD' });
    const ok = await readChip(c.channel, { mrz: image.mrz, expectChipSerial: c.state.serial });
    expect(ok.chipSerial!.endsWith(c.state.serial)).toBe(true);
    expect(ok.stats.apdusByStep.identify).toBe(2);
  });
});

describe('Active Authentication', () => {
  it('ISO/IEC 9796-2 scheme 1 (RSA): a signature made with the private key verifies, a changed challenge does not', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024, publicExponent: 65537 });
    const challenge = hex('0102030405060708');
    const k = 128;
    const m1 = new Uint8Array(k - 2 - 20).fill(0x33);
    const h = createHash('sha1').update(m1).update(challenge).digest();
    const f = Uint8Array.from([0x6a, ...m1, ...h, 0xbc]);
    const sig = new Uint8Array(privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, f));
    const jwk = publicKey.export({ format: 'jwk' }) as { n: string; e: string };
    const n = BigInt(`0x${Buffer.from(jwk.n, 'base64url').toString('hex')}`);
    const e = BigInt(`0x${Buffer.from(jwk.e, 'base64url').toString('hex')}`);
    expect(verifyIso9796Scheme1(n, e, challenge, sig)).toMatchObject({ valid: true, hash: 'sha1' });
    expect(verifyIso9796Scheme1(n, e, hex('0102030405060709'), sig).valid).toBe(false);
    const dg15 = encodeDg15(new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })));
    expect(verifyActiveAuthentication(dg15, undefined, challenge, sig)).toEqual({ status: 'valid', algorithm: 'iso9796-2-scheme1-SHA1' });
  });

  it('an EC key without DG14 cannot be judged (QC_AA_UNAVAILABLE)', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const dg15 = encodeDg15(new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })));
    expect(verifyActiveAuthentication(dg15, undefined, new Uint8Array(8), new Uint8Array(64)).status).toBe('unavailable');
  });
});

describe('face QC (without seal) and reason codes', () => {
  it('the printed MRZ must equal DG1: QC_FACE_MRZ_MISMATCH names the line; unreadable MRZ: QC_FACE_MRZ_UNREADABLE', () => {
    const dg1 = image.dataGroups.get(1)!;
    const ok = checkFace({ faceMrz: image.mrz, seal: undefined, chip: { dg1 }, trust: { cscas: [], signers: [] }, requireSeal: false });
    expect(ok.passed).toBe(true);
    const other = [...image.mrz];
    other[2] = other[2]!.replace('AMANI', 'AMANY');
    const bad = checkFace({ faceMrz: other, seal: undefined, chip: { dg1 }, trust: { cscas: [], signers: [] }, requireSeal: false });
    expect(bad.primary).toMatchObject({ code: 'QC_FACE_MRZ_MISMATCH', details: { lines: [3] } });
    const smudged = [...image.mrz];
    smudged[1] = `${smudged[1]!.slice(0, 6)}8${smudged[1]!.slice(7)}`; // date of birth check digit
    expect(checkFace({ faceMrz: smudged, seal: undefined, chip: { dg1 }, trust: { cscas: [], signers: [] }, requireSeal: false }).primary!.code).toBe('QC_FACE_MRZ_UNREADABLE');
    expect(checkFace({ faceMrz: image.mrz, seal: undefined, chip: { dg1 }, trust: { cscas: [], signers: [] } }).primary!.code).toBe('QC_SEAL_MISSING');
  });

  it('every code in the priority list is a reason; the root cause comes first', () => {
    for (const c of REASON_PRIORITY) expect(QC_REASONS[c]).toBeDefined();
    expect(primaryFinding([{ code: 'QC_DG11_MISMATCH', message: '' }, { code: 'QC_DG_HASH_MISMATCH', message: '' }])!.code).toBe('QC_DG_HASH_MISMATCH');
    expect(primaryFinding([{ code: 'QC_FILE_MISSING', message: '' }, { code: 'QC_BAC_FAILED', message: '' }])!.code).toBe('QC_BAC_FAILED');
  });

});
