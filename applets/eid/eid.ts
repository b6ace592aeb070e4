/**
 * The eID / eMRTD LDS1 application (ICAO Doc 9303-10 §3, 9303-11 §4.3 BAC, §6.1 Active Authentication),
 * AID A0000002471001, as Kadi personalises it.
 *
 * Life cycle (GP application life cycle, state.ts): SELECTABLE (blank, being personalised) -> PERSONALIZED
 * ('0F', "locked": no more writes, files readable only under BAC secure messaging). There is no way back.
 *
 * Before lock — personalisation, every write under an SCP03 session opened through the ISD's secure channel
 * service (the command must carry a verified C-MAC: `protection.scp03.cmac`). On the wire an ISO command
 * protected by SCP03 has CLA '04' (CLA '00' with b3 set), a GP command '84':
 * ```
 *   INITIALIZE UPDATE / EXTERNAL AUTHENTICATE   80 50 ... / 84 82 ...   delegated to the ISD (secure-channel.ts)
 *   CREATE FILE      04 E0 00 00 Lc FCP          62 { 80 size, 82 01 01, 83 FID, [88 SFI] } (fs.ts)
 *                                                EF.CardAccess 011C and EF.DIR 2F00 go to the MF (read ALWAYS);
 *                                                all others to this DF (read SECURE). The new EF becomes current.
 *                                                '6A89' FID/SFI exists, '6A80' bad FCP
 *   UPDATE BINARY    04 D6 P1 P2 Lc data         current EF or SFI (P1 b8); odd INS D7 with DOs 54/53 too
 *   PUT DATA         04 DA 00 E1 Lc value        BAC secrets, value of template E1 (the E1 wrapper is optional):
 *                                                  5A    document number, ASCII as in the MRZ (no '<' padding)
 *                                                  5F2B  date of birth, ASCII YYMMDD
 *                                                  5F24  date of expiry, ASCII YYMMDD
 *                                                The card computes MRZ_information and Kseed = SHA-1(..)[0..16]
 *                                                (9303-11 §9.7.1) and keeps only Kseed and the document number.
 *   GENERATE ASYMMETRIC KEY PAIR  04 47 00 00 Le  Active Authentication key, ECDSA P-256, made on the card
 *                                                (node:crypto); the private key never leaves it. Response: the
 *                                                public key as DER SubjectPublicKeyInfo (id-ecPublicKey, prime256v1,
 *                                                uncompressed point; 91 bytes), ready for DG15. INS '46' and P1 '80'
 *                                                are accepted too; P1 '81' reads the public key again (any time).
 *   LOCK             84 F0 40 0F [Lc AID]        GP SET STATUS of this application to PERSONALIZED '0F'
 *                                                (also accepted by the ISD: 84 F0 40 0F 07 A0000002471001).
 *                                                Needs the BAC secrets ('6985' otherwise).
 *   READ BINARY      04 B0 ...                   read-back under SCP03 (or BAC) before lock
 * ```
 * Without a verified C-MAC, CREATE FILE / UPDATE BINARY / PUT DATA / GENERATE KEY / LOCK answer '6982'.
 *
 * After lock (9303-11 §4.3, §9.8):
 * ```
 *   writes (E0, D6, D7, DA, 46/47, F0)                          '6985' (conditions of use not satisfied)
 *   GET CHALLENGE    00 84 00 00 08                             RND.IC (8)
 *   MUTUAL AUTHENTICATE (EXTERNAL AUTHENTICATE INS)  00 82 00 00 28 E_IFD||M_IFD 28
 *                                                               E_IC||M_IC (40); '6300' wrong keys; opens SM
 *   SELECT / READ BINARY under SM   0C A4 02 0C ... / 0C B0 ...   (plain: '6982')
 *   INTERNAL AUTHENTICATE  00|0C 88 00 00 08 RND.IFD 00         Active Authentication, plain or under SM:
 *                                                               ECDSA-SHA256 over RND.IFD, plain r||s (64 bytes,
 *                                                               BSI TR-03111 format, 9303-11 §6.1.2)
 * ```
 * GET CHALLENGE and BAC also work before lock once the BAC secrets are set (to test read-back).
 */
import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import {
  type CommandApdu,
  type IsoSecureMessaging,
  type ResponseApdu,
  bacChipAuthenticate,
  bacKeySeed,
  bacMrzInformation,
  bacSecureMessaging,
  deriveDesKeyPair,
} from '../../src/chip/index.ts';
import type { Applet, CardCommand, CardResponse, CardRuntime, Protection, SmSession } from '../runtime/index.ts';
import { ok } from '../runtime/index.ts';
import {
  type DedicatedFile,
  type ElementaryFile,
  createEf,
  ensureApplicationDf,
  findEf,
  findEfBySfi,
  parseFcp,
  readSimpleTlvs,
} from '../runtime/index.ts';
import {
  CardStatus,
  INS_CREATE_FILE,
  INS_EXTERNAL_AUTHENTICATE,
  INS_GENERATE_ASYMMETRIC_KEY_PAIR,
  INS_GENERATE_ASYMMETRIC_KEY_PAIR_ALT,
  INS_GET_CHALLENGE,
  INS_INITIALIZE_UPDATE,
  INS_INTERNAL_AUTHENTICATE,
  INS_PUT_DATA,
  INS_READ_BINARY,
  INS_READ_BINARY_ODD,
  INS_SELECT,
  INS_SET_STATUS,
  INS_UPDATE_BINARY,
  INS_UPDATE_BINARY_ODD,
  SELECT_P1_DF_NAME,
  SW_CONDITIONS_NOT_SATISFIED,
  SW_FILE_NOT_FOUND,
  SW_INCORRECT_P1P2,
  SW_INS_NOT_SUPPORTED,
  SW_NO_ERROR,
  SW_REFERENCED_DATA_NOT_FOUND,
  SW_SECURITY_STATUS_NOT_SATISFIED,
  SW_WRONG_DATA,
  SW_WRONG_LENGTH,
  isGpClass,
} from '../runtime/index.ts';
import { binaryAccess, readResponse, selectEf, selectResponse, writeAccess } from '../runtime/index.ts';
import { APP_LIFE_CYCLE } from '../runtime/index.ts';
import { SET_STATUS_APPLICATION, hasScp03Mac } from '../gp-isd/index.ts';

export const EID_AID = 'A0000002471001';

/** LDS file identifiers (ICAO 9303-10 §3.6, Table 4). */
export const FID_EF_COM = 0x011e;
export const FID_EF_SOD = 0x011d;
export const FID_EF_CARD_ACCESS = 0x011c;
export const FID_EF_DIR = 0x2f00;
export const FID_EF_ATR_INFO = 0x2f01;
/** DGn = 0x0100 + n (DG1 0101 .. DG16 0110). */
export function fidOfDataGroup(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 16) throw new RangeError(`DG${n}`);
  return 0x0100 + n;
}
/** EFs that live in the MF, readable without access control (9303-10 §3.11, ISO 7816-4 §8.2.1). */
export const MF_FIDS: ReadonlySet<number> = new Set([FID_EF_CARD_ACCESS, FID_EF_DIR]);

/** PUT DATA tags: template and its objects (ISO/IEC 7816-6 interindustry tags). */
export const TAG_BAC_SECRETS = 0xe1;
export const TAG_DOCUMENT_NUMBER = 0x5a;
export const TAG_DATE_OF_BIRTH = 0x5f2b;
export const TAG_DATE_OF_EXPIRY = 0x5f24;
/** Active Authentication challenge length (RND.IFD, 9303-11 §6.1.2). */
export const AA_CHALLENGE_LENGTH = 8;
/** BAC challenge length. */
export const BAC_CHALLENGE_LENGTH = 8;
/** GENERATE ASYMMETRIC KEY PAIR P1 (ISO/IEC 7816-8 §5.1). */
export const GENERATE_P1_DEFAULT = 0x00;
export const GENERATE_P1_GENERATE = 0x80;
export const GENERATE_P1_READ_PUBLIC = 0x81;

/** The runtime session object for a BAC secure messaging session. */
export class BacCardSession implements SmSession {
  readonly kind = 'bac' as const;
  readonly established = true;
  constructor(
    readonly ownerAid: string,
    private readonly sm: IsoSecureMessaging,
  ) {}
  unwrap(cmd: CommandApdu): { cmd: CommandApdu; protection: Protection } {
    return { cmd: this.sm.unwrapCommand(cmd), protection: { bac: true } };
  }
  wrap(res: ResponseApdu, cmd: CardCommand): ResponseApdu {
    return this.sm.wrapResponse(res, (cmd.ins & 1) === 1);
  }
  close(): void {
    this.sm.close();
  }
}

export class EidApplet implements Applet {
  readonly aid = EID_AID;
  readonly name = 'eMRTD LDS1 (eID)';
  private currentEf: ElementaryFile | undefined;
  private rndIc: Uint8Array | undefined;
  private aaKey: KeyObject | undefined;

  private df(rt: CardRuntime): DedicatedFile {
    return ensureApplicationDf(rt.state.mf, EID_AID);
  }

  private locked(rt: CardRuntime): boolean {
    return rt.state.eid.lifeCycle !== APP_LIFE_CYCLE.SELECTABLE;
  }

  select(rt: CardRuntime): Uint8Array {
    if (rt.state.eid.lifeCycle === APP_LIFE_CYCLE.LOCKED) throw new CardStatus(SW_FILE_NOT_FOUND, 'application locked');
    this.reset();
    const aid = Buffer.from(EID_AID, 'hex');
    return Uint8Array.of(0x6f, aid.length + 2, 0x84, aid.length, ...aid);
  }

  deselect(): void {
    this.reset();
  }

  private reset(): void {
    this.currentEf = undefined;
    this.rndIc = undefined;
  }

  /** GP SET STATUS of this application (from the ISD or sent to the applet itself). */
  setLifeCycle(rt: CardRuntime, value: number): void {
    const eid = rt.state.eid;
    if (value === eid.lifeCycle) return;
    if (value !== APP_LIFE_CYCLE.PERSONALIZED) throw new CardStatus(SW_WRONG_DATA, 'only PERSONALIZED (0F) can be set');
    if (eid.lifeCycle !== APP_LIFE_CYCLE.SELECTABLE) throw new CardStatus(SW_CONDITIONS_NOT_SATISFIED, 'not SELECTABLE');
    if (!eid.bacKeySeed) throw new CardStatus(SW_CONDITIONS_NOT_SATISFIED, 'lock before the BAC secrets are set');
    eid.lifeCycle = APP_LIFE_CYCLE.PERSONALIZED;
    rt.changed();
    rt.debug('eID application locked (PERSONALIZED)');
  }

  process(rt: CardRuntime, cmd: CardCommand): CardResponse {
    const gp = isGpClass(cmd.cla);
    if (gp && (cmd.ins === INS_INITIALIZE_UPDATE || cmd.ins === INS_EXTERNAL_AUTHENTICATE)) {
      const sc = rt.secureChannel;
      if (!sc) throw new CardStatus(SW_INS_NOT_SUPPORTED, 'no security domain');
      return sc.processSecurity(rt, cmd);
    }
    switch (cmd.ins) {
      case INS_SELECT:
        return this.selectFile(rt, cmd);
      case INS_READ_BINARY:
      case INS_READ_BINARY_ODD:
        return this.readBinary(rt, cmd);
      case INS_UPDATE_BINARY:
      case INS_UPDATE_BINARY_ODD:
        return this.updateBinary(rt, cmd);
      case INS_CREATE_FILE:
        return this.createFile(rt, cmd);
      case INS_PUT_DATA:
        return this.putData(rt, cmd);
      case INS_GENERATE_ASYMMETRIC_KEY_PAIR:
      case INS_GENERATE_ASYMMETRIC_KEY_PAIR_ALT:
        return this.generateKeyPair(rt, cmd);
      case INS_INTERNAL_AUTHENTICATE:
        return this.internalAuthenticate(rt, cmd);
      case INS_GET_CHALLENGE:
        if (gp) break;
        return this.getChallenge(rt, cmd);
      case INS_EXTERNAL_AUTHENTICATE:
        return this.mutualAuthenticate(rt, cmd);
      case INS_SET_STATUS:
        if (!gp) break;
        return this.lock(rt, cmd);
      default:
        break;
    }
    throw new CardStatus(SW_INS_NOT_SUPPORTED);
  }

  // ---- personalisation --------------------------------------------------------------------------------------

  /** Writes need: not locked ('6985'), then a verified SCP03 C-MAC ('6982'). */
  private requirePerso(rt: CardRuntime, cmd: CardCommand): void {
    if (this.locked(rt)) throw new CardStatus(SW_CONDITIONS_NOT_SATISFIED, 'application locked');
    if (!hasScp03Mac(cmd)) throw new CardStatus(SW_SECURITY_STATUS_NOT_SATISFIED, 'needs an SCP03 session (C-MAC)');
  }

  /** CREATE FILE (ISO/IEC 7816-9 §6.1 / 7816-4 FCP): see the module comment. */
  private createFile(rt: CardRuntime, cmd: CardCommand): CardResponse {
    this.requirePerso(rt, cmd);
    if (cmd.p1 !== 0 || cmd.p2 !== 0) throw new CardStatus(SW_INCORRECT_P1P2, 'CREATE FILE P1-P2 must be 0000');
    const spec = parseFcp(cmd.data ?? new Uint8Array(0));
    const inMf = MF_FIDS.has(spec.fid);
    const ef = inMf ? createEf(rt.state.mf, spec, 'ALWAYS', 'PERSO') : createEf(this.df(rt), spec, 'SECURE', 'PERSO');
    this.currentEf = ef;
    rt.changed();
    return ok();
  }

  private updateBinary(rt: CardRuntime, cmd: CardCommand): CardResponse {
    this.requirePerso(rt, cmd);
    const access = binaryAccess(this.df(rt), this.currentEf, this.withMfSfi(rt, cmd));
    if (access.ef.update !== 'PERSO') throw new CardStatus(SW_SECURITY_STATUS_NOT_SATISFIED, 'EF not updatable');
    writeAccess(access);
    this.currentEf = access.ef;
    rt.changed();
    return ok();
  }

  /** PUT DATA of the BAC secrets (see the module comment). */
  private putData(rt: CardRuntime, cmd: CardCommand): CardResponse {
    this.requirePerso(rt, cmd);
    if (((cmd.p1 << 8) | cmd.p2) !== TAG_BAC_SECRETS) throw new CardStatus(SW_REFERENCED_DATA_NOT_FOUND, 'PUT DATA tag');
    let dos = readSimpleTlvs(cmd.data ?? new Uint8Array(0));
    if (dos.length === 1 && dos[0]!.tag === TAG_BAC_SECRETS) dos = readSimpleTlvs(dos[0]!.value);
    const text = (tag: number): string => {
      const v = dos.find((d) => d.tag === tag)?.value;
      if (!v) throw new CardStatus(SW_WRONG_DATA, `missing DO ${tag.toString(16)}`);
      return Buffer.from(v).toString('latin1');
    };
    const documentNumber = text(TAG_DOCUMENT_NUMBER);
    const dateOfBirth = text(TAG_DATE_OF_BIRTH);
    const dateOfExpiry = text(TAG_DATE_OF_EXPIRY);
    if (!/^[0-9A-Z]{1,22}$/.test(documentNumber)) throw new CardStatus(SW_WRONG_DATA, 'document number: 1-22 of 0-9 A-Z');
    let mrzInformation: string;
    try {
      mrzInformation = bacMrzInformation({ documentNumber, dateOfBirth, dateOfExpiry });
    } catch {
      throw new CardStatus(SW_WRONG_DATA, 'dates must be YYMMDD');
    }
    rt.state.eid.documentNumber = documentNumber;
    rt.state.eid.bacKeySeed = bacKeySeed(mrzInformation);
    rt.changed();
    return ok();
  }

  /**
   * GENERATE ASYMMETRIC KEY PAIR (ISO/IEC 7816-8 §5.1): the AA key. P1 '00' or '80' generate (replacing an
   * earlier key, before lock only), '81' read the public key of the existing pair (any time). P2 '00'.
   */
  private generateKeyPair(rt: CardRuntime, cmd: CardCommand): CardResponse {
    if (cmd.p2 !== 0x00) throw new CardStatus(SW_INCORRECT_P1P2, 'P2 must be 00 (the AA key)');
    if (cmd.p1 === GENERATE_P1_READ_PUBLIC) {
      const spki = rt.state.eid.aaPublicKey;
      if (!spki) throw new CardStatus(SW_REFERENCED_DATA_NOT_FOUND, 'no Active Authentication key');
      return { data: spki.slice(), sw: SW_NO_ERROR };
    }
    if (cmd.p1 !== GENERATE_P1_DEFAULT && cmd.p1 !== GENERATE_P1_GENERATE) throw new CardStatus(SW_INCORRECT_P1P2, 'P1 00/80 generate, 81 read');
    this.requirePerso(rt, cmd);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    rt.state.eid.aaPrivateKey = new Uint8Array(privateKey.export({ type: 'pkcs8', format: 'der' }));
    const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
    rt.state.eid.aaPublicKey = spki;
    this.aaKey = privateKey;
    rt.changed();
    return { data: spki, sw: SW_NO_ERROR };
  }

  /** The LOCK: SET STATUS of this application to PERSONALIZED. */
  private lock(rt: CardRuntime, cmd: CardCommand): CardResponse {
    this.requirePerso(rt, cmd);
    if (cmd.p1 !== SET_STATUS_APPLICATION) throw new CardStatus(SW_INCORRECT_P1P2, 'SET STATUS P1 must be 40');
    const data = cmd.data;
    if (data && data.length > 0 && Buffer.from(data).toString('hex').toUpperCase() !== EID_AID) {
      throw new CardStatus(SW_REFERENCED_DATA_NOT_FOUND, 'AID is not this application');
    }
    this.setLifeCycle(rt, cmd.p2);
    return ok();
  }

  // ---- reading ----------------------------------------------------------------------------------------------

  /** SFI addressing: this DF first, then the MF files this application created (EF.CardAccess). */
  private withMfSfi(rt: CardRuntime, cmd: CardCommand): CardCommand {
    if (!(cmd.p1 & 0x80) || (cmd.ins & 1) === 1) return cmd;
    const sfi = cmd.p1 & 0x1f;
    if (findEfBySfi(this.df(rt), sfi)) return cmd;
    const ef = findEfBySfi(rt.state.mf, sfi);
    if (ef && MF_FIDS.has(ef.fid)) {
      // address the MF file as the current EF
      this.currentEf = ef;
      return { ...cmd, p1: 0, p2: cmd.p2 };
    }
    return cmd;
  }

  /** Read condition of an EF for this command (see fs.ts): ALWAYS, or SECURE = SCP03 before lock / BAC. */
  private mayRead(rt: CardRuntime, cmd: CardCommand, ef: ElementaryFile): boolean {
    if (ef.read === 'ALWAYS') return true;
    if (ef.read === 'NEVER') return false;
    if (cmd.protection.bac) return true;
    return !this.locked(rt) && hasScp03Mac(cmd);
  }

  private selectFile(rt: CardRuntime, cmd: CardCommand): CardResponse {
    if (cmd.p1 === SELECT_P1_DF_NAME) throw new CardStatus(SW_FILE_NOT_FOUND, 'no DF with this name');
    let ef: ElementaryFile;
    try {
      ef = selectEf(this.df(rt), cmd);
    } catch (e) {
      const fid = cmd.data && cmd.data.length === 2 ? (cmd.data[0]! << 8) | cmd.data[1]! : -1;
      const mfEf = MF_FIDS.has(fid) ? findEf(rt.state.mf, fid) : undefined;
      if (!mfEf) throw e;
      ef = mfEf;
    }
    // After lock, the LDS files are not even selectable without secure messaging (as BAC chips answer).
    if (this.locked(rt) && ef.read !== 'ALWAYS' && !cmd.protection.bac) {
      throw new CardStatus(SW_SECURITY_STATUS_NOT_SATISFIED, 'SELECT needs BAC secure messaging');
    }
    this.currentEf = ef;
    return selectResponse(cmd, ef);
  }

  private readBinary(rt: CardRuntime, cmd: CardCommand): CardResponse {
    const access = binaryAccess(this.df(rt), this.currentEf, this.withMfSfi(rt, cmd));
    if (!this.mayRead(rt, cmd, access.ef)) {
      throw new CardStatus(SW_SECURITY_STATUS_NOT_SATISFIED, this.locked(rt) ? 'read needs BAC' : 'read needs SCP03 before lock');
    }
    this.currentEf = access.ef;
    return readResponse(access, cmd, rt.state.profile.maxResponseData);
  }

  // ---- BAC and Active Authentication ------------------------------------------------------------------------

  /** GET CHALLENGE (ISO/IEC 7816-4 §11.6.4; 9303-11 §4.3.3.1). */
  private getChallenge(rt: CardRuntime, cmd: CardCommand): CardResponse {
    if (cmd.p1 !== 0 || cmd.p2 !== 0) throw new CardStatus(SW_INCORRECT_P1P2);
    if (cmd.le !== BAC_CHALLENGE_LENGTH) throw new CardStatus(SW_WRONG_LENGTH, 'GET CHALLENGE Le must be 08');
    if (!rt.state.eid.bacKeySeed) throw new CardStatus(SW_CONDITIONS_NOT_SATISFIED, 'no BAC secrets');
    this.rndIc = rt.random(BAC_CHALLENGE_LENGTH);
    return { data: this.rndIc.slice(), sw: SW_NO_ERROR };
  }

  /** MUTUAL AUTHENTICATE (EXTERNAL AUTHENTICATE INS, interindustry class), 9303-11 §4.3.3.1. */
  private mutualAuthenticate(rt: CardRuntime, cmd: CardCommand): CardResponse {
    if (isGpClass(cmd.cla)) throw new CardStatus(SW_INS_NOT_SUPPORTED);
    if (cmd.p1 !== 0 || cmd.p2 !== 0) throw new CardStatus(SW_INCORRECT_P1P2);
    const seed = rt.state.eid.bacKeySeed;
    const rndIc = this.rndIc;
    this.rndIc = undefined; // one attempt per challenge
    if (!seed) throw new CardStatus(SW_CONDITIONS_NOT_SATISFIED, 'no BAC secrets');
    if (!rndIc) throw new CardStatus(SW_CONDITIONS_NOT_SATISFIED, 'GET CHALLENGE first');
    let result: ReturnType<typeof bacChipAuthenticate>;
    try {
      result = bacChipAuthenticate(deriveDesKeyPair(seed), rndIc, cmd.data ?? new Uint8Array(0));
    } catch (e) {
      rt.state.counters.bacAuthFailures++;
      rt.changed();
      throw e;
    }
    rt.openSession(new BacCardSession(EID_AID, bacSecureMessaging(result.session)));
    return { data: result.responseData, sw: SW_NO_ERROR };
  }

  /** INTERNAL AUTHENTICATE = Active Authentication, ECDSA variant (9303-11 §6.1). */
  private internalAuthenticate(rt: CardRuntime, cmd: CardCommand): CardResponse {
    if (isGpClass(cmd.cla) && !hasScp03Mac(cmd)) throw new CardStatus(SW_INS_NOT_SUPPORTED);
    if (cmd.p1 !== 0 || cmd.p2 !== 0) throw new CardStatus(SW_INCORRECT_P1P2);
    const challenge = cmd.data;
    if (!challenge || challenge.length !== AA_CHALLENGE_LENGTH) throw new CardStatus(SW_WRONG_LENGTH, 'challenge must be 8 bytes');
    const der = rt.state.eid.aaPrivateKey;
    if (!der) throw new CardStatus(SW_REFERENCED_DATA_NOT_FOUND, 'no Active Authentication key');
    this.aaKey ??= createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
    const signature = sign('sha256', challenge, { key: this.aaKey, dsaEncoding: 'ieee-p1363' });
    return { data: new Uint8Array(signature), sw: SW_NO_ERROR };
  }
}
