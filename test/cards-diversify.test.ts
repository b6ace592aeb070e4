/**
 * The card key diversification (applets/gp-isd/diversify.ts) computed inside SoftHSM by C_DeriveKey gives the
 * same keys the virtual card factory loads — checked without ever extracting a derived key: their key check
 * values (C_Encrypt of '01' x 16) and an SCP03 KDF step (C_Sign with CKM_AES_CMAC) match the software values.
 *
 * pkcs11js cannot pass CK_KEY_DERIVATION_STRING_DATA, the parameter of CKM_AES_ECB_ENCRYPT_DATA; it can pass
 * CK_AES_CBC_ENCRYPT_DATA_PARAMS, and CKM_AES_CBC_ENCRYPT_DATA with a zero IV over one block is the same
 * function: AES-CBC(K, IV = 0, D) = AES-ECB(K, D) for a 16-byte D.
 */
import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { describe, expect, it } from 'vitest';
import { aesCmac, aesKcv, scp03Kdf, SCP03_DERIVE_S_MAC } from '../src/chip/index.ts';
import {
  DIVERSIFY_DEK,
  DIVERSIFY_ENC,
  DIVERSIFY_MAC,
  diversificationData,
  diversifyKeySet,
} from '../applets/index.ts';
import { readHsmPin, testServices } from './support/env.ts';

describe('card key diversification in the HSM', () => {
  it('C_DeriveKey (AES-CBC-ENCRYPT-DATA, IV 0) over D(t) gives the card keys: same KCV and CMAC', () => {
    const s = testServices();
    const p11 = new pkcs11js.PKCS11();
    p11.load(s.hsmModule);
    p11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    try {
      const slot = p11.C_GetSlotList(true).find((sl) => p11.C_GetTokenInfo(sl).label.trim() === s.hsmToken)!;
      const mechs = p11.C_GetMechanismList(slot);
      expect(mechs).toContain(pkcs11js.CKM_AES_ECB_ENCRYPT_DATA);
      expect(mechs).toContain(pkcs11js.CKM_AES_CBC_ENCRYPT_DATA);
      const session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      try {
        p11.C_Login(session, pkcs11js.CKU_USER, readHsmPin(s));
        const master = new Uint8Array(randomBytes(32));
        // the master key as a session object: sensitive, not extractable, usable only to derive
        const hMaster = p11.C_CreateObject(session, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
          { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
          { type: pkcs11js.CKA_VALUE, value: Buffer.from(master) },
          { type: pkcs11js.CKA_TOKEN, value: false },
          { type: pkcs11js.CKA_SENSITIVE, value: true },
          { type: pkcs11js.CKA_EXTRACTABLE, value: false },
          { type: pkcs11js.CKA_DERIVE, value: true },
          { type: pkcs11js.CKA_LABEL, value: 'kadi-test-card-master' },
        ]);
        const serial = randomBytes(6).toString('hex').toUpperCase();
        const software = diversifyKeySet(master, serial);
        for (const [t, key] of [
          [DIVERSIFY_ENC, software.enc],
          [DIVERSIFY_MAC, software.mac],
          [DIVERSIFY_DEK, software.dek],
        ] as const) {
          const hKey = p11.C_DeriveKey(
            session,
            {
              mechanism: pkcs11js.CKM_AES_CBC_ENCRYPT_DATA,
              parameter: {
                type: pkcs11js.CK_PARAMS_AES_CBC,
                iv: Buffer.alloc(16),
                data: Buffer.from(diversificationData(new Uint8Array(Buffer.from(serial, 'hex')), t)),
              } as pkcs11js.AesCBC,
            },
            hMaster,
            [
              { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
              { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
              { type: pkcs11js.CKA_VALUE_LEN, value: 16 },
              { type: pkcs11js.CKA_TOKEN, value: false },
              { type: pkcs11js.CKA_SENSITIVE, value: true },
              { type: pkcs11js.CKA_EXTRACTABLE, value: false },
              { type: pkcs11js.CKA_ENCRYPT, value: true },
              { type: pkcs11js.CKA_SIGN, value: true },
            ],
          );
          // the derived key stays inside: its value cannot be read
          expect(() => p11.C_GetAttributeValue(session, hKey, [{ type: pkcs11js.CKA_VALUE }])).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
          p11.C_EncryptInit(session, { mechanism: pkcs11js.CKM_AES_ECB }, hKey);
          const kcv = p11.C_Encrypt(session, Buffer.alloc(16, 0x01), Buffer.alloc(16)).subarray(0, 3);
          expect(kcv.toString('hex')).toBe(Buffer.from(aesKcv(key)).toString('hex'));
          // an SCP03 KDF step (S-MAC derivation data) signed with CMAC in the HSM equals the software KDF
          const data = new Uint8Array(32);
          data.set([SCP03_DERIVE_S_MAC, 0x00, 0x00, 0x80, 0x01], 11);
          data.set(randomBytes(16), 16);
          p11.C_SignInit(session, { mechanism: pkcs11js.CKM_AES_CMAC }, hKey);
          const mac = p11.C_Sign(session, Buffer.from(data), Buffer.alloc(16));
          expect(mac.toString('hex')).toBe(Buffer.from(aesCmac(key, data)).toString('hex'));
          expect(Buffer.from(scp03Kdf(key, SCP03_DERIVE_S_MAC, data.subarray(16), 128)).toString('hex')).toBe(mac.toString('hex'));
        }
        p11.C_Logout(session);
      } finally {
        p11.C_CloseSession(session);
      }
    } finally {
      p11.C_Finalize();
    }
  });
});
