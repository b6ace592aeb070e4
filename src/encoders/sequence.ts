/**
 * The chip side of encoding one card, over a {@link CardSession} (no database, no PC/SC: ports in, APDUs out).
 *
 * ```
 *  identify (plain; before the blank is claimed)                                       APDUs
 *    [SELECT EF.ATR/INFO 2F01 + READ BINARY: 7F66 limits, once per ATR, cached]         (2)
 *    SELECT ISD (FCI: 9F65 max command data of this card)                                 1
 *    GET DATA CPLC (9F7F: chip serial, blank serial, personalisation stamp)              1
 *  personalise (eID application, SCP03 at level 33 by default)
 *    SELECT eID A0000002471001                                                            1
 *    INITIALIZE UPDATE (host challenge) -> KDD, card challenge, card cryptogram           1
 *      session keys S-ENC/S-MAC/S-RMAC from the HSM (card keys derived there from the master by the KDD serial)
 *      card cryptogram verified on the host; wrong keys stop here, nothing sent
 *    EXTERNAL AUTHENTICATE (host cryptogram, C-MAC)                                       1
 *    GENERATE ASYMMETRIC KEY PAIR (AA key, P-256, made on the card) -> SPKI (R-MAC'd)     1
 *      DG15 = 6F { SPKI };  EF.SOD signed in the HSM over DG1, DG2, DG11-DG15
 *    per file EF.COM, DG1, DG2, DG11, DG12, DG13, DG14, DG15, EF.SOD:
 *      CREATE FILE (FCP 62: 82 01, 83 FID, 80 size, 88 SFI) -> the new EF is current       1 each
 *      UPDATE BINARY, largest chunks the card takes after SCP03 overhead                  ceil(size / max) each
 *    PUT DATA 00E1 (BAC secrets: 5A document number, 5F2B birth, 5F24 expiry)            1
 *    SET STATUS application -> PERSONALIZED '0F' (the lock)                               1
 *  read back (as an inspection system: BAC secure messaging, 3DES)
 *    SELECT eID (ends the SCP03 session)                                                  1
 *    GET CHALLENGE, MUTUAL AUTHENTICATE (keys from the MRZ of DG1)                        2
 *    per file: READ BINARY by SFI (first chunk), then offsets                             ceil(size / max) each
 *    INTERNAL AUTHENTICATE (Active Authentication, 8-byte challenge)                      1
 *    checks: every file equals what was written (byte for byte), EF.SOD verifies (signature, chain, CRL) and its
 *    data group hashes match the bytes read, the AA signature verifies with the DG15 key read back.
 * ```
 * The minimum for a card (see {@link minimumPlan}) is the same sequence without secure messaging overhead, every
 * file written and read in chunks of the card's full maximum command / response data.
 */
import { type KeyObject, createPublicKey, randomBytes, verify as verifySignature } from 'node:crypto';
import {
  APP_PERSONALIZED,
  ApduError,
  type BacSecrets,
  CardCommunicationError,
  type CardSession,
  type CommandApdu,
  type Cplc,
  type ExtendedLengthInfo,
  GP_ISD_AID,
  SHORT_MAX_DATA,
  SHORT_MAX_LE,
  SW_END_OF_FILE,
  SW_FILE_NOT_FOUND,
  SW_OK,
  Scp03Channel,
  SecureChannelError,
  type Scp03SessionKeys,
  bacGetChallenge,
  bacSecureMessaging,
  bacTerminalAuthenticate,
  bacTerminalComplete,
  checkSecurityLevel,
  command,
  computeCardCryptogram,
  computeHostCryptogram,
  cplcChipSerial,
  createTransparentEf,
  deriveBacKeys,
  encodedCommandLength,
  getCplc,
  internalAuthenticate,
  macEquals,
  parseCplc,
  parseExtendedLengthInfo,
  parseInitializeUpdateResponse,
  putData,
  randomHostChallenge,
  readBinary,
  readTransparentFile,
  scp03ModeOf,
  selectByAid,
  selectByFid,
  selectIsd,
  initializeUpdate,
  setApplicationStatus,
  writeTransparentFile,
  generateAsymmetricKeyPair,
  SL_R_MAC,
  SCP03_I_R_MAC,
  SL_R_ENCRYPTION,
  SCP03_I_R_ENC,
} from '../chip/index.ts';
import { decodePublicKeyInfo, encodeDg15 } from '../lds/index.ts';
import { fromHex } from '../shared/index.ts';
import { parseTlv } from '../tlv/index.ts';
import { CardSpoiledError, SpoilReason } from './errors.ts';

/** AID of the eID / eMRTD LDS1 application. */
export const EID_AID = fromHex('A0000002471001');
/** EF.ATR/INFO (ISO/IEC 7816-4 §8.2.1.1), in the MF. */
export const FID_EF_ATR_INFO = 0x2f01;
/** PUT DATA tag of the BAC secrets template and its data objects (Kadi eID applet, ISO/IEC 7816-6 tags). */
export const TAG_BAC_SECRETS = 0x00e1;
export const TAG_DOCUMENT_NUMBER = 0x5a;
export const TAG_DATE_OF_BIRTH = 0x5f2b;
export const TAG_DATE_OF_EXPIRY = 0x5f24;
/** ISD FCI: proprietary template and max command data ('9F65', GP 2.3 Table 11-87). */
const TAG_FCI_PROPRIETARY = 0xa5;
const TAG_MAX_COMMAND_DATA = 0x9f65;
/** Key version of the diversified key set (0 = the card's first key set). */
export const DEFAULT_KEY_VERSION = 0x00;
/** Active Authentication challenge length (ICAO 9303-11 §6.1). */
export const AA_CHALLENGE_LENGTH = 8;

/** One LDS file to write: FID, SFI, label for traces (no personal data), bytes. */
export interface LdsFile {
  name: string;
  fid: number;
  sfi: number;
  bytes: Uint8Array;
}

/** LDS file identifiers and SFIs (ICAO 9303-10 §4.6.1, Table 4). */
export const LDS_FILES: Readonly<Record<string, { fid: number; sfi: number }>> = {
  'EF.COM': { fid: 0x011e, sfi: 0x1e },
  'EF.SOD': { fid: 0x011d, sfi: 0x1d },
};
/** FID and SFI of data group n. */
export function dataGroupFile(n: number): { fid: number; sfi: number } {
  if (!Number.isInteger(n) || n < 1 || n > 16) throw new RangeError(`DG${n}`);
  return { fid: 0x0100 + n, sfi: n };
}

/** Card limits for command and response data fields. */
export interface CardLimits {
  maxCommandData: number;
  maxResponseData: number;
  /** Where the response limit came from. */
  source: '7F66' | 'default';
}

/** What identification found out. */
export interface CardIdentity {
  /** IC fabricator || IC type || IC batch identifier || IC serial number (10 bytes, hex): cards.chip_serial. */
  chipSerial: string;
  /** IC batch identifier || IC serial number (6 bytes, hex): the card serial the keys are diversified with and the
   *  serial the virtual card store knows; cards.blank_serial. */
  blankSerial: string;
  cplc: Cplc;
  /** The CPLC carries a personalisation stamp (personaliser or date set): not a blank. */
  personalised: boolean;
  limits: CardLimits;
}

/** Reads the card's limits (cached per ATR), then its CPLC. Plain APDUs only; writes nothing. */
export async function identifyCard(session: CardSession, opts: { atr?: Uint8Array; limitsCache?: Map<string, CardLimits> } = {}): Promise<CardIdentity> {
  const key = opts.atr ? Buffer.from(opts.atr).toString('hex') : undefined;
  let limits = key ? opts.limitsCache?.get(key) : undefined;
  if (!limits) {
    limits = await readLimits(session);
    // Only limits the card stated are kept for its ATR; a card without EF.ATR/INFO is asked again next time.
    if (key && limits.source === '7F66') opts.limitsCache?.set(key, limits);
  }
  session.setLimits({ maxCommandData: limits.maxCommandData, maxResponseData: limits.maxResponseData });
  const fci = await session.send(selectIsd(), SW_OK, { label: 'ISD' });
  const fromFci = maxCommandDataOfFci(fci.data);
  let maxCommand = limits.maxCommandData;
  if (fromFci !== undefined) maxCommand = Math.min(fromFci, limits.source === '7F66' ? limits.maxCommandData : fromFci);
  const cardLimits: CardLimits = { ...limits, maxCommandData: maxCommand };
  session.setLimits({ maxCommandData: maxCommand });
  const r = await session.send(getCplc(), SW_OK, { label: 'CPLC' });
  let cplc: Cplc;
  try {
    cplc = parseCplc(r.data);
  } catch (e) {
    throw new CardCommunicationError('CARD_RESPONSE_MALFORMED', 'the CPLC is not 42 bytes of CPLC data', { cause: e });
  }
  return {
    chipSerial: cplcChipSerial(cplc),
    blankSerial: (cplc.icBatchIdentifier + cplc.icSerialNumber).toUpperCase(),
    cplc,
    personalised: cplc.icPersonalizer !== '0000' || cplc.icPersonalizationDate !== '0000',
    limits: cardLimits,
  };
}

async function readLimits(session: CardSession): Promise<CardLimits> {
  const sel = await session.transmit(selectByFid(FID_EF_ATR_INFO, { scope: 'any' }), { label: 'EF.ATR/INFO' });
  if (sel.sw === SW_FILE_NOT_FOUND) return { maxCommandData: SHORT_MAX_DATA, maxResponseData: SHORT_MAX_LE, source: 'default' };
  if (sel.sw !== SW_OK) throw apduErrorOf(sel.sw, selectByFid(FID_EF_ATR_INFO, { scope: 'any' }), 'SELECT');
  const cmd = readBinary(0, SHORT_MAX_LE);
  const rb = await session.transmit(cmd, { label: 'EF.ATR/INFO' });
  if (rb.sw !== SW_OK && rb.sw !== SW_END_OF_FILE) throw apduErrorOf(rb.sw, cmd, 'READ BINARY');
  let info: ExtendedLengthInfo;
  try {
    info = parseExtendedLengthInfo(rb.data);
  } catch {
    return { maxCommandData: SHORT_MAX_DATA, maxResponseData: SHORT_MAX_LE, source: 'default' };
  }
  return {
    maxCommandData: clamp(info.maxCommandLength, 1, 65_535),
    maxResponseData: clamp(info.maxResponseLength, 1, 65_536),
    source: '7F66',
  };
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, v));
}

function apduErrorOf(sw: number, cmd: CommandApdu, name: string): ApduError {
  return new ApduError(`CARD_SW_${sw.toString(16).toUpperCase().padStart(4, '0')}`, sw, `${name} failed: SW ${sw.toString(16).toUpperCase().padStart(4, '0')}`, {
    cla: cmd.cla,
    ins: cmd.ins,
    p1: cmd.p1,
    p2: cmd.p2,
    name,
  });
}

/** '9F65' (max command data) from an ISD FCI, if present. */
export function maxCommandDataOfFci(fci: Uint8Array): number | undefined {
  try {
    const root = parseTlv(fci, { recurse: true });
    const prop = root.children.find((c) => c.tag === TAG_FCI_PROPRIETARY);
    const v = prop?.children.find((c) => c.tag === TAG_MAX_COMMAND_DATA)?.value;
    if (!v || v.length === 0 || v.length > 2) return undefined;
    return v.reduce((a, b) => a * 256 + b, 0) || undefined;
  } catch {
    return undefined;
  }
}

/** The HSM port: SCP03 session keys for a card (src/hsm HsmCardKeys implements it). */
export interface Scp03SessionKeySource {
  sessionKeys(req: { serial: Uint8Array; hostChallenge: Uint8Array; cardChallenge: Uint8Array }): Promise<Scp03SessionKeys>;
}

/** What personalisation needs besides the session. */
export interface PersonalisationInput {
  /** EF.COM, DG1, DG2, DG11-DG14 in writing order (DG15 and EF.SOD are added here). */
  files: readonly LdsFile[];
  /** Data groups by number (1, 2, 11-14), for the SOD. */
  dataGroups: ReadonlyMap<number, Uint8Array>;
  bac: BacSecrets;
  /** SCP03 security level: 0x33 (default) or 0x03, 0x13. */
  securityLevel?: number;
  keyVersion?: number;
  /** The caller already selected the eID application and opened SCP03 on the session ({@link openPersonalisation},
   *  overlapped with its claim); the HSM time it took. */
  opened?: { hsmMs: number };
}

/** Ports personalisation calls out to. */
export interface PersonalisationPorts {
  keys: Scp03SessionKeySource;
  /** Signs EF.SOD over the data groups (DG15 included) in the HSM. */
  signSod(dataGroups: ReadonlyMap<number, Uint8Array>): Promise<Uint8Array>;
  /** Called with the SOD and DG15 as soon as they exist (before they are written). */
  onSigned?(x: { sod: Uint8Array; dg15: Uint8Array }): void;
}

export interface PersonalisationResult {
  /** Every file as written, in order (DG15 and EF.SOD included). */
  files: LdsFile[];
  dataGroups: Map<number, Uint8Array>;
  dg15: Uint8Array;
  sod: Uint8Array;
  aaPublicKey: Uint8Array;
  /** The AA public key as imported when it was checked (reused by {@link readBack} when DG15 reads back the same). */
  aaKey: KeyObject;
  securityLevel: number;
  /** Time spent in the HSM port calls (key derivation, SOD signing), ms. */
  hsmMs: number;
}

/** PUT DATA value of the BAC secrets (5A, 5F2B, 5F24), ASCII as in the MRZ. */
export function bacSecretsData(s: BacSecrets): Uint8Array {
  const enc = (tag: number[], v: string): number[] => {
    const b = Buffer.from(v, 'latin1');
    if (b.length > 0x7f) throw new RangeError('BAC secret too long');
    return [...tag, b.length, ...b];
  };
  return Uint8Array.from([
    ...enc([TAG_DOCUMENT_NUMBER], s.documentNumber),
    ...enc([TAG_DATE_OF_BIRTH >> 8, TAG_DATE_OF_BIRTH & 0xff], s.dateOfBirth),
    ...enc([TAG_DATE_OF_EXPIRY >> 8, TAG_DATE_OF_EXPIRY & 0xff], s.dateOfExpiry),
  ]);
}

/**
 * Opens SCP03 with session keys from the HSM port: INITIALIZE UPDATE, card cryptogram check, EXTERNAL
 * AUTHENTICATE. Puts the channel on the session. Throws SecureChannelError CARD_CRYPTOGRAM_INVALID (wrong keys) before
 * sending EXTERNAL AUTHENTICATE, and CARD_IDENTITY_MISMATCH when the KDD names another card than the CPLC did.
 */
export async function openSecureChannel(
  session: CardSession,
  keys: Scp03SessionKeySource,
  identity: Pick<CardIdentity, 'blankSerial'>,
  securityLevel: number,
  keyVersion = DEFAULT_KEY_VERSION,
): Promise<{ channel: Scp03Channel; hsmMs: number }> {
  checkSecurityLevel(securityLevel);
  session.setSecureChannel(undefined);
  const hostChallenge = randomHostChallenge(8);
  const iuCmd = initializeUpdate(keyVersion, hostChallenge);
  const iu = await session.send(iuCmd, SW_OK, { label: 'SCP03' });
  const parsed = parseInitializeUpdateResponse(iu.data);
  const mode = scp03ModeOf(parsed.iParameter);
  if (mode !== 8) throw new SecureChannelError('PROTOCOL_UNSUPPORTED', 'the card asks for SCP03 S16 mode; Kadi cards use S8');
  if ((securityLevel & SL_R_MAC) !== 0 && (parsed.iParameter & SCP03_I_R_MAC) === 0) {
    throw new SecureChannelError('PROTOCOL_UNSUPPORTED', 'card does not support R-MAC');
  }
  if ((securityLevel & SL_R_ENCRYPTION) !== 0 && (parsed.iParameter & SCP03_I_R_ENC) === 0) {
    throw new SecureChannelError('PROTOCOL_UNSUPPORTED', 'card does not support R-ENC');
  }
  const serial = parsed.keyDiversificationData.subarray(4, 10);
  if (Buffer.from(serial).toString('hex').toUpperCase() !== identity.blankSerial) {
    throw new CardSpoiledError(SpoilReason.CARD_IDENTITY_MISMATCH, 'the key diversification data names another card than the CPLC', {
      details: { blankSerial: identity.blankSerial },
    });
  }
  const t0 = performance.now();
  let sk: Scp03SessionKeys;
  try {
    sk = await keys.sessionKeys({ serial, hostChallenge, cardChallenge: parsed.cardChallenge });
  } catch (e) {
    throw new CardSpoiledError(SpoilReason.KEY_DERIVATION_FAILED, `card keys could not be derived in the HSM: ${(e as Error).message}`, { cause: e });
  }
  const hsmMs = performance.now() - t0;
  const expected = computeCardCryptogram(sk.sMac, hostChallenge, parsed.cardChallenge, mode);
  if (!macEquals(expected, parsed.cardCryptogram)) {
    throw new SecureChannelError('CARD_CRYPTOGRAM_INVALID', `card cryptogram does not verify with key version ${parsed.keyVersion}: wrong keys for this card`);
  }
  const channel = new Scp03Channel(sk, { mode });
  const ea = channel.externalAuthenticate(computeHostCryptogram(sk.sMac, hostChallenge, parsed.cardChallenge, mode), securityLevel);
  await session.send(ea, SW_OK, { label: 'SCP03' });
  session.setSecureChannel(channel);
  return { channel, hsmMs };
}

/**
 * Runs host work while an APDU is on its way: `send` is started first (SCardTransmit runs on the libuv thread
 * pool), then `work` runs on this thread, then both are awaited. Both outcomes are always collected, so a failed
 * transmit never goes unhandled; the transmit's error wins (it says what happened to the card).
 */
export async function overlapped<T, U>(send: Promise<T>, work: () => Promise<U> | U): Promise<[T, U]> {
  const [a, b] = await Promise.allSettled([send, (async () => work())()]);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return [a.value, b.value];
}

/** SELECT of the eID application (plain; changes nothing on the card). */
export function selectEid(session: CardSession): Promise<unknown> {
  return session.send(selectByAid(EID_AID), SW_OK, { label: 'eID' });
}

/** Checks a GENERATE KEY PAIR answer: a DER SubjectPublicKeyInfo of an ECDSA P-256 key. Returns DG15. */
export function dg15FromCardKey(spki: Uint8Array): Uint8Array {
  return checkCardKey(spki).dg15;
}

/** {@link dg15FromCardKey}, with the imported key (for the Active Authentication check of the read-back). */
function checkCardKey(spki: Uint8Array): { dg15: Uint8Array; key: KeyObject } {
  try {
    const info = decodePublicKeyInfo(spki, 'AA key');
    if (info.keyType !== 'ec') throw new Error(`key type ${info.keyType}`);
    const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    if (key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error(`curve ${String(key.asymmetricKeyDetails?.namedCurve)}`);
    return { dg15: encodeDg15(spki), key };
  } catch (e) {
    throw new CardSpoiledError(SpoilReason.CARD_KEY_INVALID, `the card's Active Authentication key is not an ECDSA P-256 public key (${(e as Error).message})`, { cause: e });
  }
}

/**
 * The first steps of personalisation, which write nothing to the card: SELECT eID, INITIALIZE UPDATE (the card
 * only counts it), card cryptogram check, EXTERNAL AUTHENTICATE. Safe to run before the blank is claimed.
 */
export async function openPersonalisation(
  session: CardSession,
  identity: Pick<CardIdentity, 'blankSerial'>,
  keys: Scp03SessionKeySource,
  securityLevel = 0x33,
  keyVersion = DEFAULT_KEY_VERSION,
): Promise<{ hsmMs: number }> {
  await selectEid(session);
  const { hsmMs } = await openSecureChannel(session, keys, identity, securityLevel, keyVersion);
  return { hsmMs };
}

/** Personalises the eID application (see the module comment). The session must hold `identity`'s card. */
export async function personalise(
  session: CardSession,
  identity: CardIdentity,
  input: PersonalisationInput,
  ports: PersonalisationPorts,
): Promise<PersonalisationResult> {
  const level = input.securityLevel ?? 0x33;
  let { hsmMs } = input.opened ?? (await openPersonalisation(session, identity, ports.keys, level, input.keyVersion));

  const key = await session.send(generateAsymmetricKeyPair(), SW_OK, { label: 'AA key' });
  const { dg15, key: aaKey } = checkCardKey(key.data);
  const dataGroups = new Map(input.dataGroups);
  dataGroups.set(15, dg15);

  // The files that do not depend on the card go first; EF.SOD is signed while the first CREATE FILE travels.
  const [first, ...rest] = input.files;
  if (!first) throw new RangeError('no files to write');
  const t0 = performance.now();
  const [, sod] = await overlapped(
    session.send(createTransparentEf(first.fid, first.bytes.length, { sfi: first.sfi }), SW_OK, { label: first.name }),
    async () => {
      try {
        return await ports.signSod(dataGroups);
      } catch (e) {
        throw new CardSpoiledError(SpoilReason.SIGNING_FAILED, `EF.SOD could not be signed: ${(e as Error).message}`, { cause: e });
      }
    },
  );
  hsmMs += performance.now() - t0; // an upper bound: includes the overlapped CREATE FILE
  ports.onSigned?.({ sod, dg15 });
  await writeTransparentFile(session, first.bytes, { label: first.name });

  const files: LdsFile[] = [...input.files, { name: 'DG15', ...dataGroupFile(15), bytes: dg15 }, { name: 'EF.SOD', ...LDS_FILES['EF.SOD']!, bytes: sod }];
  for (const f of [...rest, ...files.slice(input.files.length)]) {
    await session.send(createTransparentEf(f.fid, f.bytes.length, { sfi: f.sfi }), SW_OK, { label: f.name });
    await writeTransparentFile(session, f.bytes, { label: f.name });
  }
  await session.send(putData(TAG_BAC_SECRETS, bacSecretsData(input.bac)), SW_OK, { label: 'BAC secrets' });
  await session.send(setApplicationStatus(EID_AID, APP_PERSONALIZED), SW_OK, { label: 'lock' });
  session.setSecureChannel(undefined);
  return { files, dataGroups, dg15, sod, aaPublicKey: key.data, aaKey, securityLevel: level, hsmMs };
}

/** Result of the read-back. */
export interface ReadBackResult {
  /** Files as read, by name. */
  files: Map<string, Uint8Array>;
  /** Data groups as read, by number. */
  dataGroups: Map<number, Uint8Array>;
  sod: Uint8Array;
  aaVerified: boolean;
}

/** Passive authentication port: verifies EF.SOD and the data group bytes against it. */
export type SodVerifier = (sod: Uint8Array, dataGroups: ReadonlyMap<number, Uint8Array>) => { valid: boolean; errors: string[] };

/**
 * Reads every file back as an inspection system would (BAC with the document's MRZ keys, secure messaging), and
 * checks it: bytes equal to what was written, EF.SOD valid with matching hashes, Active Authentication.
 */
export async function readBack(
  session: CardSession,
  written: readonly LdsFile[],
  bac: BacSecrets,
  verifySod: SodVerifier,
  opts: { aaKey?: { spki: Uint8Array; key: KeyObject } } = {},
): Promise<ReadBackResult> {
  session.setSecureChannel(undefined);
  await session.send(selectByAid(EID_AID), SW_OK, { label: 'eID' });
  try {
    const rnd = await session.send(bacGetChallenge(), SW_OK, { label: 'BAC' });
    const { command: auth, state } = bacTerminalAuthenticate(deriveBacKeys(bac), rnd.data);
    const r = await session.send(auth, SW_OK, { label: 'BAC' });
    session.setSecureChannel(bacSecureMessaging(bacTerminalComplete(state, r.data)));
  } catch (e) {
    if (e instanceof CardCommunicationError) throw e;
    throw new CardSpoiledError(SpoilReason.READBACK_BAC_FAILED, `BAC with the document's MRZ keys failed: ${(e as Error).message}`, { cause: e });
  }
  const files = new Map<string, Uint8Array>();
  const dataGroups = new Map<number, Uint8Array>();
  let sod: Uint8Array | undefined;
  const mismatched: string[] = [];
  for (const f of written) {
    const got = await readTransparentFile(session, { sfi: f.sfi, label: f.name });
    files.set(f.name, got);
    if (!macEquals(got, f.bytes)) mismatched.push(f.name);
    if (f.name === 'EF.SOD') sod = got;
    else if (f.fid > 0x0100 && f.fid <= 0x0110) dataGroups.set(f.fid - 0x0100, got);
  }
  if (mismatched.length > 0) {
    throw new CardSpoiledError(SpoilReason.READBACK_MISMATCH, `files read back differ from what was written: ${mismatched.join(', ')}`, { details: { files: mismatched } });
  }
  if (!sod) throw new CardSpoiledError(SpoilReason.READBACK_MISMATCH, 'EF.SOD was not read back');

  // Active Authentication with the DG15 key as read; passive authentication runs while the challenge travels.
  const dg15 = dataGroups.get(15);
  const challenge = new Uint8Array(randomBytes(AA_CHALLENGE_LENGTH));
  const [aa, pa] = await overlapped(session.send(internalAuthenticate(challenge), SW_OK, { label: 'AA' }), () => verifySod(sod!, dataGroups));
  let aaVerified = false;
  try {
    const spki = dg15 ? decodePublicKeyInfo(parseTlv(dg15).children[0]!.raw, 'DG15').spki : undefined;
    if (spki) {
      // the key as read; imported again unless it is byte for byte the key checked at personalisation
      const known = opts.aaKey && macEquals(opts.aaKey.spki, spki) ? opts.aaKey.key : undefined;
      const key = known ?? createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
      aaVerified = verifySignature('sha256', challenge, { key, dsaEncoding: 'ieee-p1363' }, aa.data);
    }
  } catch {
    aaVerified = false;
  }
  if (!aaVerified) throw new CardSpoiledError(SpoilReason.AA_FAILED, 'the Active Authentication signature does not verify with the DG15 key');
  if (!pa.valid) {
    const hashes = pa.errors.some((e) => e.includes('HASH') || e.includes('NOT_IN_SOD'));
    throw new CardSpoiledError(hashes ? SpoilReason.READBACK_MISMATCH : SpoilReason.SOD_INVALID, `passive authentication failed: ${pa.errors.join('; ')}`, {
      details: { errors: pa.errors },
    });
  }
  session.setSecureChannel(undefined);
  return { files, dataGroups, sod, aaVerified };
}

/** The minimum APDUs and bytes for a card of `limits` with these file sizes (the module comment). */
export function minimumPlan(fileSizes: readonly number[], limits: Pick<CardLimits, 'maxCommandData' | 'maxResponseData'>): { apdus: number; bytes: number } {
  let apdus = 0;
  let bytes = 0;
  const add = (cmd: CommandApdu, responseData: number): void => {
    apdus++;
    bytes += encodedCommandLength(cmd) + responseData + 2;
  };
  // identify
  add(selectIsd(), 30);
  add(getCplc(), 45);
  // personalise
  add(selectByAid(EID_AID), 0);
  add(initializeUpdate(0, new Uint8Array(8)), 32);
  add(command(0x84, 0x82, 0x33, 0x00, new Uint8Array(16)), 0);
  add(generateAsymmetricKeyPair(), 91);
  for (const size of fileSizes) {
    add(createTransparentEf(0x0101, size, { sfi: 1 }), 0);
    for (let o = 0; o < size; o += limits.maxCommandData) add(command(0, 0xd6, 0, 0, new Uint8Array(Math.min(limits.maxCommandData, size - o))), 0);
  }
  add(putData(TAG_BAC_SECRETS, new Uint8Array(24)), 0);
  add(setApplicationStatus(EID_AID, APP_PERSONALIZED), 0);
  // read back
  add(selectByAid(EID_AID), 0);
  add(bacGetChallenge(), 8);
  add(command(0, 0x82, 0, 0, new Uint8Array(40), 40), 40);
  for (const size of fileSizes) {
    for (let o = 0; o < size; o += limits.maxResponseData) {
      const n = Math.min(limits.maxResponseData, size - o);
      add(readBinary(0, n), n);
    }
  }
  add(internalAuthenticate(new Uint8Array(8)), 64);
  return { apdus, bytes };
}
