/**
 * A small reference terminal for the applets' own tests: encodes commands with src/chip, sends them through any
 * transmit function (the runtime in memory, or PC/SC), follows '61XX' with GET RESPONSE, and protects commands
 * with an open SCP03 or BAC channel (src/chip host side). Not product code: the encoder lives in src/encoders.
 */
import { randomBytes } from 'node:crypto';
import {
  type BacSecrets,
  type CommandApdu,
  type ResponseApdu,
  type SecureChannel,
  bacGetChallenge,
  bacSecureMessaging,
  bacTerminalAuthenticate,
  bacTerminalComplete,
  command,
  deriveBacKeys,
  encodeCommand,
  openScp03Host,
  parseResponse,
} from '../../src/chip/index.ts';
import type { ScpKeySet } from '../runtime/index.ts';

export type RawTransmit = (apdu: Uint8Array) => Uint8Array | Promise<Uint8Array>;

export class SwError extends Error {
  constructor(
    readonly sw: number,
    what: string,
  ) {
    super(`${what}: SW ${sw.toString(16).toUpperCase().padStart(4, '0')}`);
  }
}

export function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

export function swOf(r: ResponseApdu): string {
  return r.sw.toString(16).toUpperCase().padStart(4, '0');
}

export class Terminal {
  channel: SecureChannel | undefined;
  /** Every raw command sent (for assertions on APDU counts). */
  readonly sent: Uint8Array[] = [];

  constructor(private readonly raw: RawTransmit) {}

  /** Sends one command as is (no secure messaging), following 61XX with GET RESPONSE. */
  async sendPlain(cmd: CommandApdu): Promise<ResponseApdu> {
    const bytes = encodeCommand(cmd);
    this.sent.push(bytes);
    let res = parseResponse(await this.raw(bytes));
    let data = res.data;
    while (res.sw >>> 8 === 0x61) {
      const le = res.sw & 0xff || 256;
      const gr = encodeCommand(command(0x00, 0xc0, 0x00, 0x00, undefined, le));
      this.sent.push(gr);
      res = parseResponse(await this.raw(gr));
      data = Buffer.concat([data, res.data]);
    }
    return { data: new Uint8Array(data), sw: res.sw };
  }

  /** Sends a command through the open secure channel (if any). */
  async send(cmd: CommandApdu): Promise<ResponseApdu> {
    if (!this.channel) return this.sendPlain(cmd);
    const res = await this.sendPlain(this.channel.wrapCommand(cmd));
    return this.channel.unwrapResponse(res);
  }

  /** Sends and requires one of `ok` SWs (default 9000). */
  async expect(cmd: CommandApdu, ok: number | number[] = 0x9000, what = 'command'): Promise<Uint8Array> {
    const r = await this.send(cmd);
    const list = Array.isArray(ok) ? ok : [ok];
    if (!list.includes(r.sw)) throw new SwError(r.sw, what);
    return r.data;
  }

  async selectAid(aid: string, p2 = 0x0c): Promise<ResponseApdu> {
    this.channel = undefined;
    return this.sendPlain(command(0x00, 0xa4, 0x04, p2, hex(aid), p2 === 0x0c ? undefined : 256));
  }

  /** INITIALIZE UPDATE + EXTERNAL AUTHENTICATE; the channel is used for every following command. */
  async openScp03(keys: Pick<ScpKeySet, 'enc' | 'mac'>, level: number, kvn = 0): Promise<{ kdd: Uint8Array; sequenceCounter?: Uint8Array }> {
    this.channel = undefined;
    const hostChallenge = new Uint8Array(randomBytes(8));
    const iu = await this.sendPlain(command(0x80, 0x50, kvn, 0x00, hostChallenge, 256));
    if (iu.sw !== 0x9000) throw new SwError(iu.sw, 'INITIALIZE UPDATE');
    const opening = openScp03Host({ keys, hostChallenge, initializeUpdateResponse: iu.data, securityLevel: level });
    const ea = await this.sendPlain(opening.externalAuthenticate);
    if (ea.sw !== 0x9000) throw new SwError(ea.sw, 'EXTERNAL AUTHENTICATE');
    this.channel = opening.channel;
    return {
      kdd: opening.initializeUpdate.keyDiversificationData,
      ...(opening.initializeUpdate.sequenceCounter ? { sequenceCounter: opening.initializeUpdate.sequenceCounter } : {}),
    };
  }

  /** BAC with the MRZ fields; the SM session is used for every following command. */
  async bac(secrets: BacSecrets): Promise<void> {
    this.channel = undefined;
    const rnd = await this.sendPlain(bacGetChallenge());
    if (rnd.sw !== 0x9000) throw new SwError(rnd.sw, 'GET CHALLENGE');
    const { command: auth, state } = bacTerminalAuthenticate(deriveBacKeys(secrets), rnd.data);
    const r = await this.sendPlain(auth);
    if (r.sw !== 0x9000) throw new SwError(r.sw, 'MUTUAL AUTHENTICATE');
    this.channel = bacSecureMessaging(bacTerminalComplete(state, r.data));
  }

  /** SELECT EF by FID (P2 0C) and READ BINARY it whole in chunks of `chunk` bytes. */
  async readFile(fid: number, chunk = 0xdf): Promise<Uint8Array> {
    await this.expect(command(0x00, 0xa4, 0x02, 0x0c, Uint8Array.of(fid >>> 8, fid & 0xff)), 0x9000, 'SELECT EF');
    const parts: Uint8Array[] = [];
    let offset = 0;
    for (;;) {
      const r = await this.send(command(0x00, 0xb0, offset >>> 8, offset & 0xff, undefined, chunk));
      if (r.sw !== 0x9000 && r.sw !== 0x6282) throw new SwError(r.sw, 'READ BINARY');
      parts.push(r.data);
      offset += r.data.length;
      if (r.sw === 0x6282 || r.data.length < chunk) break;
    }
    return new Uint8Array(Buffer.concat(parts));
  }

  /** CREATE FILE (transparent EF) + UPDATE BINARY in chunks of `chunk` bytes. */
  async writeFile(fid: number, data: Uint8Array, chunk = 0xdf, sfi?: number): Promise<void> {
    const fcp = [0x80, 0x02, data.length >>> 8, data.length & 0xff, 0x82, 0x01, 0x01, 0x83, 0x02, fid >>> 8, fid & 0xff];
    if (sfi !== undefined) fcp.push(0x88, 0x01, sfi << 3);
    await this.expect(command(0x00, 0xe0, 0x00, 0x00, Uint8Array.of(0x62, fcp.length, ...fcp)), 0x9000, 'CREATE FILE');
    for (let o = 0; o < data.length; o += chunk) {
      await this.expect(command(0x00, 0xd6, o >>> 8, o & 0xff, data.subarray(o, Math.min(o + chunk, data.length))), 0x9000, 'UPDATE BINARY');
    }
  }
}

/** PUT DATA value of the BAC secrets (template E1 value: 5A, 5F2B, 5F24). */
export function bacSecretsData(s: BacSecrets): Uint8Array {
  const enc = (t: number[], v: string): number[] => [...t, v.length, ...Buffer.from(v, 'latin1')];
  return Uint8Array.from([...enc([0x5a], s.documentNumber), ...enc([0x5f, 0x2b], s.dateOfBirth), ...enc([0x5f, 0x24], s.dateOfExpiry)]);
}
