/**
 * Per-card SCP03 keys derived inside the HSM (SoftHSM, PKCS#11), and the proof that no master key byte and no static
 * card key byte reaches the host:
 *
 * 1. the master key is a token object that is sensitive, not extractable and good for derivation only: reading
 *    CKA_VALUE is refused by the token (CKR_ATTRIBUTE_SENSITIVE), generated in the token it is also
 *    CKA_NEVER_EXTRACTABLE / CKA_ALWAYS_SENSITIVE;
 * 2. the session keys the HSM gives are exactly those the card computes (the test plays the card manufacturer, so
 *    it knows the master and derives the card keys with applets/gp-isd/diversify.ts, the factory's own function);
 * 3. every value that crosses the PKCS#11 boundary into this process while session keys are derived is recorded
 *    (a proxy around the module's functions): none of them contains the master key or a static card key (K-ENC,
 *    K-MAC, K-DEK), the only functions used are find / derive / CMAC / destroy (no C_GetAttributeValue, no
 *    C_WrapKey, no C_Encrypt), and the derived card keys are destroyed afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diversificationData, diversifyKeySet } from '../applets/gp-isd/diversify.ts';
import { aesEcbEncrypt, deriveSessionKeys } from '../src/chip/index.ts';
import {
  CARD_KEY_DEK,
  CARD_KEY_ENC,
  HsmCardKeys,
  Pkcs11Hsm,
  cardKeyDiversificationData,
  cardMasterKeyInfo,
  generateCardMasterKey,
  importCardMasterKey,
} from '../src/hsm/index.ts';
import { SOFTHSM_MODULE, makeConfig, startServices, stopServices, type ServiceConfig } from './support/services.ts';

const P = pkcs11js;
let home: string;
let cfg: ServiceConfig;
let hsm: Pkcs11Hsm;
const MASTER = new Uint8Array(randomBytes(32));

beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), 'kadi-encode-keys-'));
  cfg = await makeConfig(home, { readers: 1 });
  const info = await startServices(cfg, ['softhsm']);
  process.env.SOFTHSM2_CONF = info.softhsmConf;
  hsm = Pkcs11Hsm.open({ module: SOFTHSM_MODULE, token: 'kadi', pin: readFileSync(info.hsmPinFile, 'utf8').trim() });
  await importCardMasterKey(hsm, 'gp-master-imported', MASTER);
});

afterAll(async () => {
  await hsm?.close();
  if (cfg) await stopServices(cfg, ['softhsm']).catch(() => undefined);
  if (home) rmSync(home, { recursive: true, force: true });
});

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).indexOf(Buffer.from(needle)) >= 0;
}

/** Every function call of the PKCS#11 module made through `hsm.withSession` while `fn` runs, with what it returned. */
async function recordBoundary<T>(fn: () => Promise<T>): Promise<{ result: T; calls: string[]; returned: Uint8Array[] }> {
  const calls: string[] = [];
  const returned: Uint8Array[] = [];
  const collect = (v: unknown): void => {
    if (v instanceof Uint8Array) returned.push(new Uint8Array(v));
    else if (Array.isArray(v)) v.forEach(collect);
    else if (v && typeof v === 'object') Object.values(v).forEach(collect);
  };
  const original = hsm.withSession.bind(hsm);
  (hsm as { withSession: typeof hsm.withSession }).withSession = (body) =>
    original((p, s) => {
      const spy = new Proxy(p, {
        get(target, prop, receiver) {
          const v = Reflect.get(target, prop, receiver) as unknown;
          if (typeof v !== 'function' || !String(prop).startsWith('C_')) return v;
          return (...args: unknown[]) => {
            calls.push(String(prop));
            const out = (v as (...a: unknown[]) => unknown).apply(target, args);
            collect(out);
            return out;
          };
        },
      });
      return body(spy, s);
    });
  try {
    return { result: await fn(), calls, returned };
  } finally {
    (hsm as { withSession: typeof hsm.withSession }).withSession = original;
  }
}

describe('card keys derived in the HSM', () => {
  it('uses the factory\'s diversification data, byte for byte', () => {
    const serial = new Uint8Array(randomBytes(6));
    for (const t of [1, 2, 3]) expect(Buffer.from(cardKeyDiversificationData(serial, t))).toEqual(Buffer.from(diversificationData(serial, t)));
  });

  it('keeps the master key in the token: sensitive, not extractable, derive only; its value cannot be read', async () => {
    const imported = await cardMasterKeyInfo(hsm, 'gp-master-imported');
    expect(imported).toMatchObject({ bits: 256, sensitive: true, extractable: false, derive: true, encrypt: false, sign: false, wrap: false });
    // the check value identifies the key without revealing it: AES-ECB(key, 0^16)[0..3]
    expect(imported.checkValue).toBe(Buffer.from(aesEcbEncrypt(MASTER, new Uint8Array(16)).subarray(0, 3)).toString('hex').toUpperCase());
    const generated = await generateCardMasterKey(hsm, 'gp-master-generated', 256);
    expect(generated).toMatchObject({ sensitive: true, extractable: false, neverExtractable: true, alwaysSensitive: true, derive: true });
    for (const label of ['gp-master-imported', 'gp-master-generated']) {
      const err = await hsm
        .withSession((p, s) => {
          p.C_FindObjectsInit(s, [{ type: P.CKA_LABEL, value: label }]);
          const [h] = p.C_FindObjects(s, 1);
          p.C_FindObjectsFinal(s);
          return p.C_GetAttributeValue(s, h!, [{ type: P.CKA_VALUE }]);
        })
        .catch((e: unknown) => e);
      expect(String((err as Error).message)).toMatch(/CKR_ATTRIBUTE_SENSITIVE/);
    }
    await expect(importCardMasterKey(hsm, 'gp-master-imported', MASTER)).rejects.toMatchObject({ code: 'HSM_KEY_EXISTS' });
  });

  it('gives the session keys the card computes, and nothing else crosses the PKCS#11 boundary', async () => {
    const keys = new HsmCardKeys(hsm, 'gp-master-imported');
    await keys.open();
    const serial = new Uint8Array(randomBytes(6));
    const hostChallenge = new Uint8Array(randomBytes(8));
    const cardChallenge = new Uint8Array(randomBytes(8));
    const { result, calls, returned } = await recordBoundary(() => keys.sessionKeys({ serial, hostChallenge, cardChallenge }));

    // what the card (made by the factory from the same master) computes
    const card = diversifyKeySet(MASTER, serial);
    const expected = deriveSessionKeys(card, hostChallenge, cardChallenge);
    expect(Buffer.from(result.sEnc)).toEqual(Buffer.from(expected.sEnc));
    expect(Buffer.from(result.sMac)).toEqual(Buffer.from(expected.sMac));
    expect(Buffer.from(result.sRmac)).toEqual(Buffer.from(expected.sRmac));

    // nothing that crossed the boundary holds the master or a static card key
    expect(returned.length).toBeGreaterThan(0);
    for (const secret of [MASTER, MASTER.subarray(0, 16), MASTER.subarray(16), card.enc, card.mac, card.dek]) {
      for (const r of returned) expect(contains(r, secret)).toBe(false);
    }
    const allowed = new Set(['C_FindObjectsInit', 'C_FindObjects', 'C_FindObjectsFinal', 'C_DeriveKey', 'C_SignInit', 'C_Sign', 'C_DestroyObject']);
    expect(calls.filter((c) => !allowed.has(c))).toEqual([]);
    expect(calls.filter((c) => c === 'C_DeriveKey')).toHaveLength(2); // K-ENC and K-MAC; K-DEK is never derived
    expect(calls.filter((c) => c === 'C_DestroyObject')).toHaveLength(2);

    // no derived card key is left behind in the token (session objects destroyed)
    const left = await hsm.withSession((p, s) => {
      p.C_FindObjectsInit(s, [
        { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
        { type: P.CKA_TOKEN, value: false },
      ]);
      const found = p.C_FindObjects(s, 10);
      p.C_FindObjectsFinal(s);
      return found.length;
    });
    expect(left).toBe(0);
    expect(keys.count).toBe(1);
  });

  it('different cards get different keys (the serial diversifies them), AES-128 from an AES-128 master too', async () => {
    const m128 = new Uint8Array(randomBytes(16));
    await importCardMasterKey(hsm, 'gp-master-128', m128);
    const keys = new HsmCardKeys(hsm, 'gp-master-128');
    const hc = new Uint8Array(8);
    const cc = new Uint8Array(8).fill(1);
    const a = await keys.sessionKeys({ serial: Uint8Array.of(0, 0, 0, 0, 0, 1), hostChallenge: hc, cardChallenge: cc });
    const b = await keys.sessionKeys({ serial: Uint8Array.of(0, 0, 0, 0, 0, 2), hostChallenge: hc, cardChallenge: cc });
    expect(Buffer.from(a.sMac)).not.toEqual(Buffer.from(b.sMac));
    const ref = deriveSessionKeys(diversifyKeySet(m128, Uint8Array.of(0, 0, 0, 0, 0, 2)), hc, cc);
    expect(Buffer.from(b.sEnc)).toEqual(Buffer.from(ref.sEnc));
    expect(CARD_KEY_ENC).toBe(1);
    expect(CARD_KEY_DEK).toBe(3);
    await expect(new HsmCardKeys(hsm, 'no-such-master').open()).rejects.toMatchObject({ code: 'HSM_KEY_NOT_FOUND' });
  });
});
