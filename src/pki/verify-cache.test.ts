/**
 * VerifyCache (verify.ts): the byte-only steps of passive authentication memoised across documents of one DS —
 * with the same outcome as without the cache, revocation and per-document checks still done every time.
 */
import { describe, expect, it } from 'vitest';
import { parseCertificate, parseCrl } from './index.ts';
import { makeCountry, makeCrl } from './synthetic.fixture.ts';
import { VerifyCache, verifySod } from './verify.ts';

const DG1 = Uint8Array.from([0x61, 0x03, 0x5f, 0x1f, 0x00]);

describe('VerifyCache', () => {
  it('gives the same results as no cache, answers the chain from the memo, and still sees a revocation and a changed data group', async () => {
    const c = await makeCountry(new Map([[1, DG1]]));
    const csca = parseCertificate(c.csca);
    const at = new Date('2024-06-01T12:00:00Z');
    const crl = parseCrl(await makeCrl('CSCA Utopia', c.cscaKeys.privateKey, [], at, new Date('2024-12-01T00:00:00Z')));
    const cache = new VerifyCache();
    const opts = { cscas: [csca], crls: [crl], dataGroups: new Map([[1, DG1]]), at };

    const plain = verifySod(c.sod, opts);
    const first = verifySod(c.sod, { ...opts, cache });
    const misses = cache.misses;
    const second = verifySod(c.sod, { ...opts, cache });
    expect(plain.valid).toBe(true);
    expect(first).toEqual(plain);
    expect(second).toEqual(plain);
    expect(cache.misses).toBe(misses); // DS signature, CRL signature, keys: all from the memo
    expect(cache.hits).toBeGreaterThanOrEqual(3);

    // a changed data group fails on every call
    const bad = verifySod(c.sod, { ...opts, dataGroups: new Map([[1, Uint8Array.from([0x61, 0x03, 0x5f, 0x1f, 0x01])]]), cache });
    expect(bad.valid).toBe(false);
    expect(bad.dgMatches['1']).toBe(false);

    // a new CRL listing the DS: revoked although its signature check was memoised
    const revoking = parseCrl(await makeCrl('CSCA Utopia', c.cscaKeys.privateKey, [c.dsSerial], at, new Date('2024-12-01T00:00:00Z')));
    const revoked = verifySod(c.sod, { ...opts, crls: [revoking], cache });
    expect(revoked.valid).toBe(false);
    expect(revoked.chainReason).toBe('DS_REVOKED');

    // a CRL signed by another key is not taken for the CSCA's (its bytes differ: no memo hit)
    const forged = parseCrl(await makeCrl('CSCA Utopia', c.impostorKeys.privateKey, [], at, new Date('2024-12-01T00:00:00Z')));
    const r = verifySod(c.sod, { ...opts, crls: [forged], cache });
    expect(r.crlChecked).toBe(false);
    expect(r.warnings.map((w) => w.code)).toContain('CRL_SIGNATURE_INVALID');

    // another CSCA with the same name (impostor): its key does not verify the DS
    const other = verifySod(c.sod, { ...opts, cscas: [parseCertificate(c.impostor)], crls: [], cache });
    expect(other.valid).toBe(false);
  });

  it('describes the DS key in the result summary from the cache: no import of its own, the same summary', async () => {
    const c = await makeCountry(new Map([[1, DG1]]));
    const csca = parseCertificate(c.csca);
    const at = new Date('2024-06-01T12:00:00Z');
    const cache = new VerifyCache();
    const opts = { cscas: [csca], dataGroups: new Map([[1, DG1]]), at };
    const plain = verifySod(c.sod, opts);
    verifySod(c.sod, { ...opts, cache });
    // a fresh parse of the same EF.SOD (as every card's read-back is): its DS certificate is a new object
    const misses = cache.misses;
    const again = verifySod(Uint8Array.from(c.sod), { ...opts, cache });
    expect(cache.misses).toBe(misses);
    expect(again.signerCertificate).toEqual(plain.signerCertificate);
    expect(again.signerCertificate!.publicKey).toMatch(/^EC /);
    expect(again).toEqual(plain);
  });
});
