/**
 * GlobalPlatform Issuer Security Domain (GP Card Spec 2.3 §9, §11; Amendment D for SCP03).
 *
 * AID A000000151000000. Selected by AID, by an empty SELECT ('00 A4 04 00 00'), and implicitly after reset for
 * GP-class commands (runtime). Commands (CLA '80' plain, '84' under SCP03):
 * ```
 *   SELECT          00 A4 04 00 08 A000000151000000 00
 *                   -> FCI 6F { 84 AID, A5 { 73 {06 <GP card recognition OID>}, 9F65 02 <max command data> } }
 *   INITIALIZE UPDATE / EXTERNAL AUTHENTICATE: see secure-channel.ts
 *   GET DATA        80 CA 9F 7F 00   -> 9F7F 2A <CPLC, 42 bytes>          (no secure channel needed)
 *                   80 CA 00 E0 00   -> key information template E0 { C0 04 <KID KVN 88 10> x3 }
 *                   '6A88' for other tags; a short Le that is too small -> '6CXX'
 *   SET STATUS      84 F0 80 P2      card life cycle -> P2 (GP 2.3 §11.10, transitions of §5.1.1):
 *                                    OP_READY '01' -> INITIALIZED '07' -> SECURED '0F' <-> CARD_LOCKED '7F'
 *                                    -> TERMINATED 'FF' (from any). Backwards: '6985'. Same state: '9000'.
 *                   84 F0 40 P2 Lc AID   application life cycle of AID -> P2; the eID application accepts
 *                                    PERSONALIZED '0F' (its "lock": writes refused for good). '6A88' unknown AID.
 *   PUT KEY         84 D8 P1 81 Lc  new KVN || 3 x (88 11 10 <K encrypted with DEK, 16> 03 <KCV>)   (Amd D §7.2)
 *                                    P1 = KVN to replace, '00' = add a new key set; P2 '81' = keys 1..3
 *                                    -> new KVN || KCV(ENC) || KCV(MAC) || KCV(DEK)
 *                                    '6A80' KCV mismatch / bad format, '6A88' P1 names no key set,
 *                                    '6A89'... KVN exists (when adding)
 * ```
 * SET STATUS and PUT KEY need a command with a verified SCP03 C-MAC ('6982' otherwise). At security levels
 * without C-DEC the keys in PUT KEY are still DEK-encrypted, as GP requires.
 */
import { aesKcv, decryptKeyWithDek } from '../../src/chip/index.ts';
import type { Applet, CardCommand, CardResponse, CardRuntime } from '../runtime/index.ts';
import {
  CardStatus,
  INS_EXTERNAL_AUTHENTICATE,
  INS_GET_DATA,
  INS_INITIALIZE_UPDATE,
  INS_PUT_KEY,
  INS_SELECT,
  INS_SET_STATUS,
  SW_CONDITIONS_NOT_SATISFIED,
  SW_FILE_EXISTS,
  SW_FILE_NOT_FOUND,
  SW_INCORRECT_P1P2,
  SW_INS_NOT_SUPPORTED,
  SW_NO_ERROR,
  SW_REFERENCED_DATA_NOT_FOUND,
  SW_SECURITY_STATUS_NOT_SATISFIED,
  SW_WRONG_DATA,
  isGpClass,
} from '../runtime/index.ts';
import { CARD_LIFE_CYCLE } from '../runtime/index.ts';
import { stampPersonalisation, TAG_CPLC } from './cplc.ts';
import { hasScp03Mac, Scp03Service } from './secure-channel.ts';

export const ISD_AID = 'A000000151000000';
/** GET DATA tags. */
export const TAG_KEY_INFORMATION_TEMPLATE = 0x00e0;
/** FCI tags (GP 2.3 §11.9.3, Table 11-87). */
export const TAG_FCI = 0x6f;
export const TAG_FCI_DF_NAME = 0x84;
export const TAG_FCI_PROPRIETARY = 0xa5;
export const TAG_SD_MANAGEMENT_DATA = 0x73;
export const TAG_MAX_COMMAND_DATA = 0x9f65;
/** SET STATUS P1 (GP 2.3 Table 11-93). */
export const SET_STATUS_ISD = 0x80;
export const SET_STATUS_APPLICATION = 0x40;
/** PUT KEY: key type AES (GP 2.3 Table 11-16), KCV length. */
export const KEY_TYPE_AES = 0x88;
const KCV_LENGTH = 3;
/** GP card recognition data OID 1.2.840.114283.1 (GP 2.3 §H.2). */
const GP_RECOGNITION_OID = Uint8Array.of(0x06, 0x07, 0x2a, 0x86, 0x48, 0x86, 0xfc, 0x6b, 0x01);

/** Card life cycle transitions allowed by SET STATUS (GP 2.3 §5.1.1, Figure 5-1). */
const CARD_TRANSITIONS: ReadonlyMap<number, readonly number[]> = new Map([
  [CARD_LIFE_CYCLE.OP_READY, [CARD_LIFE_CYCLE.INITIALIZED, CARD_LIFE_CYCLE.SECURED, CARD_LIFE_CYCLE.TERMINATED]],
  [CARD_LIFE_CYCLE.INITIALIZED, [CARD_LIFE_CYCLE.SECURED, CARD_LIFE_CYCLE.TERMINATED]],
  [CARD_LIFE_CYCLE.SECURED, [CARD_LIFE_CYCLE.CARD_LOCKED, CARD_LIFE_CYCLE.TERMINATED]],
  [CARD_LIFE_CYCLE.CARD_LOCKED, [CARD_LIFE_CYCLE.SECURED, CARD_LIFE_CYCLE.TERMINATED]],
]);

function tlv(tag: number, value: Uint8Array): Uint8Array {
  const t = tag > 0xff ? [tag >>> 8, tag & 0xff] : [tag];
  const l = value.length < 0x80 ? [value.length] : value.length <= 0xff ? [0x81, value.length] : [0x82, value.length >>> 8, value.length & 0xff];
  return Uint8Array.of(...t, ...l, ...value);
}

/** An applet whose life cycle the ISD may set (the eID application). */
export interface LifeCycleApplet extends Applet {
  setLifeCycle(rt: CardRuntime, value: number): void;
}

export class IssuerSecurityDomain implements Applet {
  readonly aid = ISD_AID;
  readonly name = 'GP Issuer Security Domain';
  readonly isIsd = true;
  readonly secureChannel = new Scp03Service();

  /** Installs the ISD and its secure channel service on a runtime. */
  static install(rt: CardRuntime): IssuerSecurityDomain {
    const isd = new IssuerSecurityDomain();
    rt.install(isd);
    rt.secureChannel = isd.secureChannel;
    return isd;
  }

  select(rt: CardRuntime): Uint8Array {
    const max = rt.state.profile.maxCommandData;
    const proprietary = Uint8Array.of(
      ...tlv(TAG_SD_MANAGEMENT_DATA, GP_RECOGNITION_OID),
      ...tlv(TAG_MAX_COMMAND_DATA, Uint8Array.of(max >>> 8, max & 0xff)),
    );
    return tlv(TAG_FCI, Uint8Array.of(...tlv(TAG_FCI_DF_NAME, Buffer.from(ISD_AID, 'hex')), ...tlv(TAG_FCI_PROPRIETARY, proprietary)));
  }

  process(rt: CardRuntime, cmd: CardCommand): CardResponse {
    if (cmd.ins === INS_SELECT && !isGpClass(cmd.cla)) throw new CardStatus(SW_FILE_NOT_FOUND, 'the ISD has no files');
    if (cmd.ins === INS_GET_DATA) return this.getData(rt, cmd);
    if (!isGpClass(cmd.cla)) throw new CardStatus(SW_INS_NOT_SUPPORTED);
    switch (cmd.ins) {
      case INS_INITIALIZE_UPDATE:
      case INS_EXTERNAL_AUTHENTICATE:
        return this.secureChannel.processSecurity(rt, cmd);
      case INS_SET_STATUS:
        return this.setStatus(rt, cmd);
      case INS_PUT_KEY:
        return this.putKey(rt, cmd);
      default:
        throw new CardStatus(SW_INS_NOT_SUPPORTED);
    }
  }

  /** GET DATA (GP 2.3 §11.3): CPLC '9F7F', key information template '00E0'. */
  private getData(rt: CardRuntime, cmd: CardCommand): CardResponse {
    const tag = (cmd.p1 << 8) | cmd.p2;
    if (tag === TAG_CPLC) return { data: tlv(TAG_CPLC, rt.state.cplc), sw: SW_NO_ERROR, exactLength: true };
    if (tag === TAG_KEY_INFORMATION_TEMPLATE) {
      const infos: number[] = [];
      for (const k of rt.state.keys) {
        for (const [kid, key] of [[1, k.enc], [2, k.mac], [3, k.dek]] as const) {
          infos.push(...tlv(0xc0, Uint8Array.of(kid, k.kvn, KEY_TYPE_AES, key.length)));
        }
      }
      return { data: tlv(0xe0, Uint8Array.from(infos)), sw: SW_NO_ERROR, exactLength: true };
    }
    throw new CardStatus(SW_REFERENCED_DATA_NOT_FOUND, `GET DATA ${tag.toString(16)}`);
  }

  /** SET STATUS (GP 2.3 §11.10). */
  private setStatus(rt: CardRuntime, cmd: CardCommand): CardResponse {
    if (!hasScp03Mac(cmd)) throw new CardStatus(SW_SECURITY_STATUS_NOT_SATISFIED, 'SET STATUS needs SCP03');
    if (cmd.p1 === SET_STATUS_ISD) {
      const from = rt.state.cardLifeCycle;
      const to = cmd.p2;
      if (to === from) return { data: new Uint8Array(0), sw: SW_NO_ERROR };
      if (!Object.values(CARD_LIFE_CYCLE).includes(to as never)) throw new CardStatus(SW_INCORRECT_P1P2, 'unknown card state');
      if (!CARD_TRANSITIONS.get(from)?.includes(to)) throw new CardStatus(SW_CONDITIONS_NOT_SATISFIED, 'transition not allowed');
      rt.state.cardLifeCycle = to;
      if (to === CARD_LIFE_CYCLE.SECURED && from !== CARD_LIFE_CYCLE.CARD_LOCKED) stampPersonalisation(rt.state.cplc, rt.now());
      rt.changed();
      rt.debug(`card life cycle ${from.toString(16)} -> ${to.toString(16)}`);
      if (to === CARD_LIFE_CYCLE.TERMINATED || to === CARD_LIFE_CYCLE.CARD_LOCKED) rt.closeSession();
      return { data: new Uint8Array(0), sw: SW_NO_ERROR };
    }
    if (cmd.p1 === SET_STATUS_APPLICATION) {
      const aid = cmd.data;
      if (!aid || aid.length < 5 || aid.length > 16) throw new CardStatus(SW_WRONG_DATA, 'AID expected');
      const app = rt.applet(Buffer.from(aid).toString('hex'));
      if (!app || app.aid === ISD_AID || !('setLifeCycle' in app)) throw new CardStatus(SW_REFERENCED_DATA_NOT_FOUND, 'no such application');
      (app as LifeCycleApplet).setLifeCycle(rt, cmd.p2);
      return { data: new Uint8Array(0), sw: SW_NO_ERROR };
    }
    throw new CardStatus(SW_INCORRECT_P1P2, 'SET STATUS P1');
  }

  /** PUT KEY (GP 2.3 §11.8, Amd D §7.2): AES key set of three keys, DEK-encrypted, with KCVs. */
  private putKey(rt: CardRuntime, cmd: CardCommand): CardResponse {
    if (!hasScp03Mac(cmd)) throw new CardStatus(SW_SECURITY_STATUS_NOT_SATISFIED, 'PUT KEY needs SCP03');
    if (cmd.p2 !== 0x81) throw new CardStatus(SW_INCORRECT_P1P2, 'PUT KEY: P2 must be 81 (keys 1..3)');
    const session = rt.session;
    const current = rt.state.keys.find((k) => k.kvn === (session as { keyVersion?: number } | undefined)?.keyVersion) ?? rt.state.keys[0];
    if (!current) throw new CardStatus(SW_CONDITIONS_NOT_SATISFIED, 'no key set');
    const d = cmd.data ?? new Uint8Array(0);
    const newKvn = d[0];
    if (newKvn === undefined || newKvn < 1 || newKvn > 0x7f) throw new CardStatus(SW_WRONG_DATA, 'new KVN must be 1..7F');
    let i = 1;
    const keys: Uint8Array[] = [];
    const kcvs: number[] = [];
    for (let n = 0; n < 3; n++) {
      const type = d[i];
      const len = d[i + 1];
      if (type !== KEY_TYPE_AES || len === undefined || i + 2 + len > d.length) throw new CardStatus(SW_WRONG_DATA, 'AES key data expected');
      const key = decryptKeyWithDek(current.dek, d.subarray(i + 2, i + 2 + len));
      i += 2 + len;
      if (key.length !== 16 && key.length !== 24 && key.length !== 32) throw new CardStatus(SW_WRONG_DATA, 'AES key length');
      const kcvLen = d[i];
      const kcv = d.subarray(i + 1, i + 1 + (kcvLen ?? 0));
      i += 1 + (kcvLen ?? 0);
      const expected = aesKcv(key, KCV_LENGTH);
      if (kcvLen !== KCV_LENGTH || Buffer.compare(Buffer.from(kcv), Buffer.from(expected)) !== 0) {
        throw new CardStatus(SW_WRONG_DATA, 'key check value does not match');
      }
      keys.push(key);
      kcvs.push(...expected);
    }
    if (i !== d.length) throw new CardStatus(SW_WRONG_DATA, 'trailing data');
    const set = { kvn: newKvn, enc: keys[0]!, mac: keys[1]!, dek: keys[2]! };
    if (cmd.p1 === 0) {
      if (rt.state.keys.some((k) => k.kvn === newKvn)) throw new CardStatus(SW_FILE_EXISTS, 'KVN exists');
      rt.state.keys.push(set);
    } else {
      const idx = rt.state.keys.findIndex((k) => k.kvn === cmd.p1);
      if (idx < 0) throw new CardStatus(SW_REFERENCED_DATA_NOT_FOUND, 'no key set to replace');
      if (newKvn !== cmd.p1 && rt.state.keys.some((k) => k.kvn === newKvn)) throw new CardStatus(SW_FILE_EXISTS, 'KVN exists');
      rt.state.keys[idx] = set;
    }
    rt.changed(true); // a key set: in the store before the card answers
    return { data: Uint8Array.of(newKvn, ...kcvs), sw: SW_NO_ERROR };
  }
}
