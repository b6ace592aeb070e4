/**
 * The Issuer Security Domain's SCP03 secure channel service (GP Card Spec 2.3 §10, Amendment D), card side.
 *
 * Like the GP API's `SecureChannel` interface, one service serves every applet: the ISD itself and the eID
 * application, which hands INITIALIZE UPDATE and EXTERNAL AUTHENTICATE to it exactly as a Java Card applet calls
 * `GPSystem.getSecureChannel().processSecurity(apdu)`. The session it opens is the runtime's one secure messaging
 * session, owned by the applet that was selected; the runtime unwraps every following '84' command with it and
 * tells the applet how the command was protected (`CardCommand.protection.scp03`). That is how the eID applet
 * knows an SCP03 session is active: the command it is given carries `protection.scp03.cmac === true`.
 *
 * ```
 *   INITIALIZE UPDATE      80 50 KVN 00 08 host-challenge(8) 00
 *     KVN '00' = the first key set; else the key set with that version ('6A88' if none)
 *     response (32 bytes): KDD(10) || KVN || '03' || i='70' || card challenge(8) || card cryptogram(8)
 *                          || sequence counter(3)          + '9000'
 *     i = '70': S8 mode, pseudo-random card challenge (KDF(K-ENC, '02', counter || AID of the selected
 *     applet)), R-MAC and R-ENC supported. The stored sequence counter is incremented after each one.
 *   EXTERNAL AUTHENTICATE  84 82 SL 00 10 host-cryptogram(8) || C-MAC(8)
 *     SL (security level): '01' C-MAC, '03' C-MAC+C-DEC, '11' +R-MAC, '13', '33' C-MAC+C-DEC+R-MAC+R-ENC
 *     '9000' = session established; '6300' host cryptogram wrong (keys differ); '6982' bad C-MAC;
 *     '6A86' level not allowed; '6985' no INITIALIZE UPDATE before it. Any failure ends the session.
 * ```
 */
import {
  type CommandApdu,
  type ResponseApdu,
  SL_C_DECRYPTION,
  SL_C_MAC,
  SCP03_I_DEFAULT,
  Scp03Channel,
  respondScp03InitializeUpdate,
} from '../../src/chip/index.ts';
import type { CardCommand, CardResponse, CardRuntime, Protection, SecureChannelService, SmSession } from '../runtime/index.ts';
import {
  CardStatus,
  INS_EXTERNAL_AUTHENTICATE,
  INS_INITIALIZE_UPDATE,
  SW_CONDITIONS_NOT_SATISFIED,
  SW_INCORRECT_P1P2,
  SW_INS_NOT_SUPPORTED,
  SW_NO_ERROR,
  SW_REFERENCED_DATA_NOT_FOUND,
  SW_WRONG_LENGTH,
} from '../runtime/index.ts';
import { keyDiversificationData } from './cplc.ts';

/** SCP03 host challenge length in S8 mode. */
const HOST_CHALLENGE_LENGTH = 8;
/** The sequence counter is 3 bytes on the wire. */
const SEQUENCE_COUNTER_MAX = 0xffffff;

/** The runtime session object for one SCP03 secure channel. */
export class Scp03CardSession implements SmSession {
  readonly kind = 'scp03' as const;
  private level: number | undefined;

  constructor(
    readonly ownerAid: string,
    readonly channel: Scp03Channel,
    readonly expectedHostCryptogram: Uint8Array,
    readonly keyVersion: number,
  ) {}

  get established(): boolean {
    return this.level !== undefined && !this.channel.isClosed;
  }

  get securityLevel(): number | undefined {
    return this.level;
  }

  /** EXTERNAL AUTHENTICATE (its own C-MAC over the initial MCV, and the host cryptogram). */
  authenticate(cmd: CommandApdu): number {
    this.level = this.channel.acceptExternalAuthenticate(cmd, this.expectedHostCryptogram);
    return this.level;
  }

  unwrap(cmd: CommandApdu): { cmd: CommandApdu; protection: Protection } {
    const level = this.level ?? 0;
    const hadData = (cmd.data?.length ?? 0) > 0;
    const plain = this.channel.unwrapCommand(cmd);
    return {
      cmd: plain,
      protection: {
        scp03: { level, cmac: (level & SL_C_MAC) !== 0, cdec: (level & SL_C_DECRYPTION) !== 0 && hadData },
      },
    };
  }

  wrap(res: ResponseApdu): ResponseApdu {
    return this.channel.wrapResponse(res);
  }

  close(): void {
    this.channel.close();
  }
}

/** Whether a command arrived with a verified SCP03 C-MAC (the "authenticated" condition of GP commands). */
export function hasScp03Mac(cmd: CardCommand): boolean {
  return cmd.protection.scp03?.cmac === true;
}

export class Scp03Service implements SecureChannelService {
  /** i parameter announced (S8, pseudo-random challenge, R-MAC, R-ENC). */
  readonly iParameter = SCP03_I_DEFAULT;

  processSecurity(rt: CardRuntime, cmd: CardCommand): CardResponse {
    if (cmd.ins === INS_INITIALIZE_UPDATE) return this.initializeUpdate(rt, cmd);
    if (cmd.ins === INS_EXTERNAL_AUTHENTICATE) return this.externalAuthenticate(rt, cmd);
    throw new CardStatus(SW_INS_NOT_SUPPORTED);
  }

  private initializeUpdate(rt: CardRuntime, cmd: CardCommand): CardResponse {
    if (cmd.p2 !== 0x00) throw new CardStatus(SW_INCORRECT_P1P2, 'INITIALIZE UPDATE P2 must be 00');
    const hostChallenge = cmd.data;
    if (!hostChallenge || hostChallenge.length !== HOST_CHALLENGE_LENGTH) {
      throw new CardStatus(SW_WRONG_LENGTH, 'host challenge must be 8 bytes');
    }
    const keys = rt.state.keys;
    const set = cmd.p1 === 0 ? keys[0] : keys.find((k) => k.kvn === cmd.p1);
    if (!set) throw new CardStatus(SW_REFERENCED_DATA_NOT_FOUND, `no key set with version ${cmd.p1}`);
    rt.closeSession(); // a new INITIALIZE UPDATE ends any session
    const owner = rt.selectedAid ?? rt.isdAid() ?? '';
    const counter = rt.state.counters.scpSequence;
    if (counter >= SEQUENCE_COUNTER_MAX) throw new CardStatus(SW_CONDITIONS_NOT_SATISFIED, 'sequence counter exhausted');
    const opening = respondScp03InitializeUpdate({
      keys: set,
      keyVersion: set.kvn,
      keyDiversificationData: keyDiversificationData(rt.state.cplc),
      hostChallenge,
      iParameter: this.iParameter,
      sequenceCounter: Uint8Array.of(counter >>> 16, (counter >>> 8) & 0xff, counter & 0xff),
      aid: new Uint8Array(Buffer.from(owner, 'hex')),
    });
    rt.state.counters.scpSequence = counter + 1;
    rt.changed();
    rt.openSession(new Scp03CardSession(owner, opening.channel, opening.expectedHostCryptogram, set.kvn));
    return { data: opening.responseData, sw: SW_NO_ERROR };
  }

  private externalAuthenticate(rt: CardRuntime, cmd: CardCommand): CardResponse {
    const s = rt.session;
    if (!(s instanceof Scp03CardSession) || s.established) {
      throw new CardStatus(SW_CONDITIONS_NOT_SATISFIED, 'EXTERNAL AUTHENTICATE without INITIALIZE UPDATE');
    }
    try {
      s.authenticate(cmd);
    } catch (e) {
      rt.closeSession();
      rt.state.counters.scpAuthFailures++;
      rt.changed();
      throw e;
    }
    rt.debug(`SCP03 session open, security level ${s.securityLevel!.toString(16).padStart(2, '0')}, KVN ${s.keyVersion}`);
    return { data: new Uint8Array(0), sw: SW_NO_ERROR };
  }
}
