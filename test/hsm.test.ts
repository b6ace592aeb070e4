/**
 * The PKCS#11 adapter against a real SoftHSM token (a private token for this file, made by scripts/services.sh).
 * Key attributes are read back through PKCS#11 directly (pkcs11js), independently of the adapter, and every
 * signature is verified with node:crypto.
 */
import { constants, createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HsmCode, HsmError, Pkcs11Hsm } from '../src/hsm/index.ts';
import { KEY_ALGORITHMS, type KeyAlgorithm, keyIdentifier, parseAsn1 } from '../src/pki/index.ts';
import { makeConfig, startServices, SOFTHSM_MODULE } from './support/services.ts';

let home: string;
let pin: string;
let hsm: Pkcs11Hsm;

beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), 'kadi-hsm-test-'));
  const info = await startServices(await makeConfig(home, { readers: 1 }), ['softhsm']);
  pin = readFileSync(info.hsmPinFile, 'utf8').trim();
  process.env.SOFTHSM2_CONF = info.softhsmConf; // read by SoftHSM at C_Initialize
  hsm = Pkcs11Hsm.open({ module: SOFTHSM_MODULE, token: 'kadi', pin, sessions: 2 });
});

afterAll(async () => {
  await hsm?.close();
  rmSync(home, { recursive: true, force: true });
});

function verifyWith(alg: KeyAlgorithm, spki: Uint8Array, data: Uint8Array, sig: Uint8Array): boolean {
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  return alg === 'rsa-pss-2048' ? verify('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig) : verify('sha256', data, { key, dsaEncoding: 'der' }, sig);
}

/** Reads attributes of the private key labelled `label` with pkcs11js directly (same process, same login). */
function rawPrivateKeyAttributes(label: string, alg: KeyAlgorithm): { sensitive: boolean; extractable: boolean; token: boolean; valueReadable: string } {
  const P = pkcs11js;
  const p = new P.PKCS11();
  p.load(SOFTHSM_MODULE);
  try {
    p.C_Initialize({ flags: P.CKF_OS_LOCKING_OK });
    throw new Error('expected the module to be initialised already (once per process)');
  } catch (e) {
    if (!String((e as Error).message).startsWith('CKR_CRYPTOKI_ALREADY_INITIALIZED')) throw e;
  }
  const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === 'kadi')!;
  const s = p.C_OpenSession(slot, P.CKF_SERIAL_SESSION);
  try {
    p.C_FindObjectsInit(s, [
      { type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY },
      { type: P.CKA_LABEL, value: label },
    ]);
    const [h] = p.C_FindObjects(s, 2);
    p.C_FindObjectsFinal(s);
    const attrs = p.C_GetAttributeValue(s, h!, [{ type: P.CKA_SENSITIVE }, { type: P.CKA_EXTRACTABLE }, { type: P.CKA_TOKEN }]);
    let valueReadable = 'readable';
    try {
      // EC: the private scalar is CKA_VALUE; RSA: CKA_PRIVATE_EXPONENT.
      p.C_GetAttributeValue(s, h!, [{ type: alg === 'rsa-pss-2048' ? P.CKA_PRIVATE_EXPONENT : P.CKA_VALUE }]);
    } catch (e) {
      valueReadable = String((e as Error).message).split(':')[0]!;
    }
    return { sensitive: attrs[0]!.value[0] === 1, extractable: attrs[1]!.value[0] === 1, token: attrs[2]!.value[0] === 1, valueReadable };
  } finally {
    p.C_CloseSession(s);
    p.close();
  }
}

describe.each(KEY_ALGORITHMS)('%s key pair in the token', (alg) => {
  const label = `test-${alg}`;

  it('is generated sensitive, non-extractable and persistent, with CKA_ID = key identifier', async () => {
    const k = await hsm.generateKeyPair(label, alg);
    expect(k.algorithm).toBe(alg);
    expect(Buffer.from(k.id)).toEqual(Buffer.from(keyIdentifier(k.publicKeySpki)));
    const info = await hsm.keyInfo(label);
    expect(info).toMatchObject({
      label,
      id: Buffer.from(k.id).toString('hex'),
      keyType: alg === 'rsa-pss-2048' ? 'rsa' : 'ec',
      algorithm: alg,
      token: true,
      private: true,
      sensitive: true,
      extractable: false,
      alwaysSensitive: true,
      neverExtractable: true,
      sign: true,
      decrypt: false,
      unwrap: false,
      derive: false,
    });
    // Independently of the adapter: the private value cannot be read.
    const raw = rawPrivateKeyAttributes(label, alg);
    expect(raw).toMatchObject({ sensitive: true, extractable: false, token: true });
    expect(raw.valueReadable).toBe('CKR_ATTRIBUTE_SENSITIVE');
    // The exported SubjectPublicKeyInfo is a named-curve / rsaEncryption key node:crypto imports.
    const pub = createPublicKey({ key: Buffer.from(k.publicKeySpki), format: 'der', type: 'spki' });
    if (alg === 'rsa-pss-2048') expect(pub.asymmetricKeyDetails?.modulusLength).toBe(2048);
    else expect(pub.asymmetricKeyDetails?.namedCurve).toBe(alg === 'ecdsa-p256' ? 'prime256v1' : 'brainpoolP256r1');
    expect(await hsm.publicKeySpki(label)).toEqual(k.publicKeySpki);
  });

  it('signs (hash on the host, raw signature converted) and node:crypto verifies', async () => {
    const signer = await hsm.signer(label);
    expect(signer.algorithm).toBe(alg);
    for (let i = 0; i < 20; i++) {
      const data = Buffer.from(`document ${i} `.repeat(i + 1));
      const sig = await signer.sign(data);
      expect(verifyWith(alg, signer.publicKeySpki, data, sig)).toBe(true);
      if (alg !== 'rsa-pss-2048') {
        // DER ECDSA-Sig-Value, minimal integers
        const seq = parseAsn1(sig);
        expect(seq.children).toHaveLength(2);
      } else {
        expect(sig).toHaveLength(256);
      }
    }
    const sig = await signer.sign(Buffer.from('x'));
    expect(verifyWith(alg, signer.publicKeySpki, Buffer.from('y'), sig)).toBe(false);
    expect(verifyWith(alg, signer.publicKeySpki, Buffer.from('by label'), await hsm.sign(label, Buffer.from('by label')))).toBe(true);
  });
});

describe('adapter behaviour', () => {
  it('refuses a second key with the same label', async () => {
    await hsm.generateKeyPair('dup', 'ecdsa-p256');
    await expect(hsm.generateKeyPair('dup', 'ecdsa-p256')).rejects.toMatchObject({ code: HsmCode.KEY_EXISTS });
  });

  it('reports an unknown label as HSM_KEY_NOT_FOUND', async () => {
    await expect(hsm.signer('no-such-key')).rejects.toMatchObject({ code: HsmCode.KEY_NOT_FOUND });
    await expect(hsm.keyInfo('no-such-key')).rejects.toMatchObject({ code: HsmCode.KEY_NOT_FOUND });
  });

  it('destroys both halves of a key pair', async () => {
    await hsm.generateKeyPair('to-destroy', 'ecdsa-p256');
    expect(await hsm.hasKey('to-destroy')).toBe(true);
    await hsm.destroyKeyPair('to-destroy');
    expect(await hsm.hasKey('to-destroy')).toBe(false);
    await expect(hsm.signer('to-destroy')).rejects.toMatchObject({ code: HsmCode.KEY_NOT_FOUND });
  });

  it('lists the private keys on the token', async () => {
    const labels = (await hsm.listKeys()).map((k) => k.label);
    expect(labels).toEqual(expect.arrayContaining(['test-ecdsa-p256', 'test-rsa-pss-2048', 'dup']));
  });

  it('says which mechanisms the token has (SoftHSM: CKM_ECDSA but no CKM_ECDSA_SHA256)', () => {
    const m = hsm.mechanisms();
    expect(m).toContain('CKM_ECDSA');
    expect(m).toContain('CKM_RSA_PKCS_PSS');
    expect(m).not.toContain('CKM_ECDSA_SHA256');
  });

  it('refuses a wrong PIN with HSM_LOGIN_FAILED, without the PIN in the error', async () => {
    // A second adapter in the same process: the module is initialised once and shared; the wrong PIN is refused
    // only if nobody is logged in, so use a fresh token state: close ours first.
    await hsm.close();
    const wrong = 'not-the-pin-123456';
    let err: unknown;
    try {
      Pkcs11Hsm.open({ module: SOFTHSM_MODULE, token: 'kadi', pin: wrong });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HsmError);
    expect(err).toMatchObject({ code: HsmCode.LOGIN_FAILED, retryable: false });
    const text = JSON.stringify((err as HsmError).toJSON()) + (err as Error).message + String((err as Error).stack);
    expect(text).not.toContain(wrong);
    expect(text).not.toContain(pin);
    hsm = Pkcs11Hsm.open({ module: SOFTHSM_MODULE, token: 'kadi', pin, sessions: 2 });
  });

  it('reports an unknown token and a missing module with their codes', () => {
    expect(() => Pkcs11Hsm.open({ module: SOFTHSM_MODULE, token: 'no-such-token', pin })).toThrow(expect.objectContaining({ code: HsmCode.TOKEN_NOT_FOUND }));
    expect(() => Pkcs11Hsm.open({ module: '/nonexistent/libpkcs11.so', token: 'kadi', pin })).toThrow(expect.objectContaining({ code: HsmCode.MODULE_LOAD_FAILED }));
  });

  it('shares the process-wide login between adapters and survives one of them closing', async () => {
    const second = Pkcs11Hsm.open({ module: SOFTHSM_MODULE, token: 'kadi', pin, sessions: 1 });
    const s2 = await second.signer('test-ecdsa-p256');
    await second.close();
    const s1 = await hsm.signer('test-ecdsa-p256');
    const sig = await s1.sign(Buffer.from('after close'));
    expect(verifyWith('ecdsa-p256', s1.publicKeySpki, Buffer.from('after close'), sig)).toBe(true);
    await expect(s2.sign(Buffer.from('closed adapter'))).rejects.toMatchObject({ code: HsmCode.CLOSED });
  });

  it('signs concurrently through the session pool with C_SignAsync', async () => {
    const asyncHsm = Pkcs11Hsm.open({ module: SOFTHSM_MODULE, token: 'kadi', pin, sessions: 3, asyncSign: true });
    try {
      const signer = await asyncHsm.signer('test-ecdsa-brainpoolp256r1');
      const inputs = Array.from({ length: 60 }, (_, i) => Buffer.from(`concurrent ${i}`));
      const sigs = await Promise.all(inputs.map((d) => signer.sign(d)));
      sigs.forEach((sig, i) => expect(verifyWith('ecdsa-brainpoolp256r1', signer.publicKeySpki, inputs[i]!, sig)).toBe(true));
    } finally {
      await asyncHsm.close();
    }
  });
});
