/**
 * Passive authentication of 13 real passport EF.SOD files from 12 countries and 2 EF.CardSecurity files
 * (../shared/vectors/sod, expectations from vectors.json, recomputed there with OpenSSL).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Certificate,
  CscaStore,
  PkiCode,
  PkiError,
  parseCardSecurity,
  parseCertificates,
  parseSod,
  summarizeCertificate,
  verifyCardSecurity,
  verifySod,
  certificatePublicKey,
  type PassiveAuthResult,
} from './index.ts';
import { Oid } from './oids.ts';
import { toHex } from '../shared/index.ts';

const DIR = fileURLToPath(new URL('../../../shared/vectors/', import.meta.url));
const read = (rel: string): Uint8Array => new Uint8Array(readFileSync(DIR + rel));

interface SodRecord {
  name: string;
  inputs: { ef_sod_file: string; ds_cert_file: string; csca_file?: string };
  expected: {
    cms_signature_valid: boolean;
    dg_hash_algorithm: string;
    dg_hashes: Record<string, string>;
    ds_cert: string[];
    ds_signature_algorithm: string;
    ds_chain: string;
  };
}
interface CardSecurityRecord {
  name: string;
  inputs: { file: string };
  expected: { cms_signature_valid: boolean; content_type: string };
}

const records = JSON.parse(readFileSync(DIR + 'vectors.json', 'utf8')) as Array<Record<string, unknown>>;
const sodRecords = records.filter((r) => (r.inputs as Record<string, unknown> | undefined)?.ef_sod_file) as unknown as SodRecord[];
const csRecords = records.filter((r) => String((r.inputs as Record<string, unknown> | undefined)?.file ?? '').includes('CardSecurity')) as unknown as CardSecurityRecord[];
const country = (r: SodRecord): string => r.name.match(/sample (\S+) \(/)![1]!;

/** "subject=C = AT, O = GV" -> "C = AT, O = GV"; dates as OpenSSL prints them -> Date. */
function field(r: SodRecord, key: string): string {
  const line = r.expected.ds_cert.find((l) => l.startsWith(key + '='));
  return line!.slice(key.length + 1);
}
const opensslDate = (s: string): number => Date.parse(s.replace(/\s+/g, ' ').replace(' GMT', ' UTC'));

let store: CscaStore;
let ukCsca: Certificate[];
const results = new Map<string, PassiveAuthResult>();

beforeAll(() => {
  store = CscaStore.fromPem(readFileSync(DIR + 'sod/csca_bundle.pem', 'utf8'));
  ukCsca = parseCertificates(readFileSync(DIR + 'sod/UK_CSCA.pem', 'utf8'));
});

function trustFor(r: SodRecord): CscaStore | Certificate[] {
  return r.inputs.csca_file ? ukCsca : store;
}

describe('vectors', () => {
  it('lists the 13 EF.SOD and 2 EF.CardSecurity samples', () => {
    expect(sodRecords.map(country).sort()).toEqual(['AT', 'DE', 'FI', 'FR', 'ID', 'MY', 'NZ', 'PH', 'RU', 'SG', 'UK', 'UK_imported', 'US']);
    expect(csRecords).toHaveLength(2);
  });

  it('loads the 593-certificate CSCA bundle once, rejecting none', () => {
    expect(store.size).toBe(593);
    expect(store.rejected).toEqual([]);
  });
});

describe.each(sodRecords.map((r) => [country(r), r] as const))('EF.SOD %s', (cc, rec) => {
  const file = () => read(rec.inputs.ef_sod_file);
  const verify = (): PassiveAuthResult => {
    let r = results.get(cc);
    if (!r) {
      r = verifySod(file(), { cscas: trustFor(rec) });
      results.set(cc, r);
    }
    return r;
  };

  it('parses: LDS security object content type, hash algorithm and data group hashes as vectors.json', () => {
    const sod = parseSod(file());
    expect(sod.signedData.eContentType).toBe(Oid.ldsSecurityObject);
    expect(sod.lds.hash).toBe(rec.expected.dg_hash_algorithm);
    const hashes = Object.fromEntries([...sod.lds.dataGroupHashes].map(([n, h]) => [String(n), toHex(h).toUpperCase()]));
    expect(hashes).toEqual(rec.expected.dg_hashes);
    expect(sod.signatureScheme).toBeDefined();
  });

  it('embeds exactly the DS certificate of DS_<CC>.pem, with the subject, issuer and validity vectors.json states', () => {
    const sod = parseSod(file());
    const [pem] = parseCertificates(readFileSync(DIR + rec.inputs.ds_cert_file, 'utf8'));
    expect(sod.signedData.certificates).toHaveLength(1);
    const ds = sod.signedData.certificates[0]!;
    expect(Buffer.from(ds.raw).equals(Buffer.from(pem!.raw))).toBe(true);
    expect(ds.subject.text).toBe(field(rec, 'subject'));
    expect(ds.issuer.text).toBe(field(rec, 'issuer'));
    expect(ds.notBefore.getTime()).toBe(opensslDate(field(rec, 'notBefore')));
    expect(ds.notAfter.getTime()).toBe(opensslDate(field(rec, 'notAfter')));
    expect(ds.sha256Fingerprint.toUpperCase()).toBe(field(rec, 'sha256 Fingerprint').replace(/:/g, ''));
    expect(ds.signatureAlgorithm.name).toBe(rec.expected.ds_signature_algorithm);
  });

  it('verifies the CMS signature (messageDigest over eContent as read, signature over signedAttrs as read)', () => {
    const r = verify();
    expect(rec.expected.cms_signature_valid).toBe(true);
    expect(r.messageDigestValid).toBe(true);
    expect(r.signatureValid).toBe(true);
    expect(r.dataGroups).toEqual(Object.fromEntries(Object.entries(rec.expected.dg_hashes).map(([k, v]) => [k, v.toLowerCase()])));
  });

  it('validates the chain to the CSCA vectors.json names (same subject and same key as the fingerprinted CSCA)', () => {
    const r = verify();
    const m = rec.expected.ds_chain.match(/^Verified OK by CSCA: subject=(.*) \| sha256 Fingerprint=([0-9A-F:]+)$/);
    expect(m).not.toBeNull();
    expect(r.chainValid).toBe(true);
    expect(r.chainReason).toBeUndefined();
    expect(r.cscaSubject).toBe(m![1]);
    const fp = m![2]!.replace(/:/g, '').toLowerCase();
    const pool = rec.inputs.csca_file ? ukCsca : store.certificates;
    const named = pool.find((c) => c.sha256Fingerprint === fp);
    expect(named, 'the CSCA named by vectors.json is in the trust store').toBeDefined();
    // A CSCA key may be in a master list twice (self-signed root and link certificate): same key required.
    const ours = pool.find((c) => c.sha256Fingerprint === r.csca!.sha256Fingerprint)!;
    const spki = (c: Certificate) => certificatePublicKey(c).key.export({ format: 'der', type: 'spki' });
    expect(spki(ours).equals(spki(named!))).toBe(true);
    expect(r.valid).toBe(true);
    expect(r.errors).toEqual([]);
  });

  it('fails when one byte of the signature is changed', () => {
    const sod = parseSod(file());
    const bytes = Uint8Array.from(file());
    const sig = sod.signer.signature;
    const pos = Buffer.from(bytes).lastIndexOf(Buffer.from(sig));
    expect(pos).toBeGreaterThan(0);
    bytes[pos + (sig.length >> 1)]! ^= 0x01;
    const r = verifySod(bytes, { cscas: trustFor(rec) });
    expect(r.signatureValid).toBe(false);
    expect(r.messageDigestValid).toBe(true);
    expect(r.valid).toBe(false);
    expect(r.errors.map((e) => e.code)).toContain(PkiCode.SOD_SIGNATURE_INVALID);
  });

  it('fails when one byte of a data group hash in eContent is changed', () => {
    const sod = parseSod(file());
    const bytes = Uint8Array.from(file());
    const dg1 = sod.lds.dataGroupHashes.values().next().value!;
    const pos = Buffer.from(bytes).indexOf(Buffer.from(dg1));
    expect(pos).toBeGreaterThan(0);
    bytes[pos]! ^= 0x80;
    const r = verifySod(bytes, { cscas: trustFor(rec) });
    expect(r.messageDigestValid).toBe(false);
    expect(r.signatureValid).toBe(false);
    expect(r.valid).toBe(false);
    expect(r.errors.map((e) => e.code)).toContain(PkiCode.SOD_DIGEST_MISMATCH);
  });
});

describe('quirks', () => {
  it('NZ: BER indefinite lengths are read, and the signature checks out over the bytes as read', () => {
    const bytes = read('sod/EF_SOD_NZ.bin');
    expect(toHex(bytes.subarray(4, 6))).toBe('3080');
    const r = verifySod(bytes, { cscas: store });
    expect(r.signatureValid).toBe(true);
    expect(r.signatureAlgorithm).toBe('rsaEncryption with sha256');
  });

  it('MY: the SignerInfo issuer lists the RDNs in another order; the signer is matched order-insensitively (warning)', () => {
    const r = results.get('MY') ?? verifySod(read('sod/EF_SOD_MY.bin'), { cscas: store });
    expect(r.signerMatchedBy).toBe('issuerAndSerialNumberReordered');
    expect(r.warnings.map((w) => w.code)).toContain(PkiCode.SIGNER_ID_MISMATCH);
    expect(r.signatureValid).toBe(true);
    const sod = parseSod(read('sod/EF_SOD_MY.bin'));
    expect(sod.signatureScheme).toEqual({ kind: 'rsa-pss', hash: 'sha256', mgfHash: 'sha256', saltLength: 32, trailerField: 1 });
    const sid = sod.signer.sid;
    expect(sid.kind === 'issuerAndSerialNumber' && sid.issuer.text).not.toBe(sod.signedData.certificates[0]!.issuer.text);
  });

  it.each([
    ['ID', 'rsassaPss(sha256, mgf1-sha256, salt 32)'],
    ['MY', 'rsassaPss(sha256, mgf1-sha256, salt 32)'],
    ['PH', 'rsassaPss(sha256, mgf1-sha256, salt 32)'],
    ['SG', 'rsassaPss(sha256, mgf1-sha256, salt 32)'],
    ['UK_imported', 'rsassaPss(sha256, mgf1-sha256, salt 32)'],
    ['AT', 'ecdsa-with-SHA256'],
    ['RU', 'ecdsa-with-SHA1'],
    ['FR', 'sha256WithRSAEncryption'],
  ])('%s signs with %s', (cc, alg) => {
    const rec = sodRecords.find((r) => country(r) === cc)!;
    const r = results.get(cc) ?? verifySod(read(rec.inputs.ef_sod_file), { cscas: trustFor(rec) });
    expect(r.signatureAlgorithm).toBe(alg);
  });

  it.each([
    ['AT', 'brainpoolP256r1'],
    ['DE', 'brainpoolP384r1'],
    ['FI', 'brainpoolP512r1'],
    ['RU', 'prime256v1'],
    ['UK', 'prime256v1'],
  ])('%s: the DS key has explicit EC parameters, mapped to %s', (cc, curve) => {
    const ds = parseSod(read(`sod/EF_SOD_${cc}.bin`)).signedData.certificates[0]!;
    const k = certificatePublicKey(ds);
    expect(k.explicitParams).toBe(true);
    expect(k.curve?.name).toBe(curve);
    expect(summarizeCertificate(ds).publicKey).toBe(`EC ${curve} (explicit parameters)`);
  });

  it('UK_imported: the DS expired in 2022; checked now it is reported as a warning, not a chain failure', () => {
    const r = verifySod(read('sod/UK_imported_EF_SOD.bin'), { cscas: ukCsca });
    expect(r.signingTime).toBeUndefined();
    expect(r.validity.source).toBe('now');
    expect(r.validity.dsValid).toBe(false);
    expect(r.chainValid).toBe(true);
    expect(r.warnings.map((w) => w.code)).toContain(PkiCode.DS_EXPIRED);
  });

  it('UK_imported: strictValidity turns the expired DS into a chain failure; at a time inside the period it passes', () => {
    const strict = verifySod(read('sod/UK_imported_EF_SOD.bin'), { cscas: ukCsca, strictValidity: true });
    expect(strict.chainValid).toBe(false);
    expect(strict.chainReason).toBe(PkiCode.DS_EXPIRED);
    const at = new Date('2015-01-01T00:00:00Z');
    const inPeriod = verifySod(read('sod/UK_imported_EF_SOD.bin'), { cscas: ukCsca, strictValidity: true, at });
    expect(inPeriod.chainValid).toBe(true);
    expect(inPeriod.validity).toMatchObject({ at: at.toISOString(), source: 'option', dsValid: true });
  });

  it('AT: validity is checked at the SOD signingTime by default', () => {
    const r = results.get('AT') ?? verifySod(read('sod/EF_SOD_AT.bin'), { cscas: store });
    expect(r.signingTime).toBe('2023-03-17T13:40:18.000Z');
    expect(r.validity).toMatchObject({ at: '2023-03-17T13:40:18.000Z', source: 'signingTime', dsValid: true, cscaValid: true });
  });

  it('AT: a master list holding the CSCA key as root and as link certificate resolves to the self-signed root', () => {
    const r = results.get('AT') ?? verifySod(read('sod/EF_SOD_AT.bin'), { cscas: store });
    expect(r.cscaSelfSigned).toBe(true);
    expect(r.csca!.subjectKeyIdentifier).toBe(r.csca!.authorityKeyIdentifier);
  });
});

describe('chain failures', () => {
  it('without the CSCA in the store the chain fails with CSCA_NOT_FOUND, while the signature stays valid', () => {
    const r = verifySod(read('sod/EF_SOD_FR.bin'), { cscas: ukCsca });
    expect(r.signatureValid).toBe(true);
    expect(r.chainValid).toBe(false);
    expect(r.chainReason).toBe(PkiCode.CSCA_NOT_FOUND);
    expect(r.valid).toBe(false);
  });

  it('a DS certificate with one changed signature byte fails with DS_SIGNATURE_INVALID', () => {
    const bytes = Uint8Array.from(read('sod/EF_SOD_US.bin'));
    const ds = parseSod(bytes).signedData.certificates[0]!;
    const pos = Buffer.from(bytes).indexOf(Buffer.from(ds.raw)) + ds.raw.length - 10;
    bytes[pos]! ^= 0x01;
    const r = verifySod(bytes, { cscas: store });
    expect(r.signatureValid).toBe(true); // the DS key is untouched
    expect(r.chainValid).toBe(false);
    expect(r.chainReason).toBe(PkiCode.DS_SIGNATURE_INVALID);
  });

  it('data groups not matching the SOD are reported per data group', () => {
    const r = verifySod(read('sod/EF_SOD_FR.bin'), { cscas: store, dataGroups: new Map([[1, Uint8Array.of(0x61, 0x00)], [5, Uint8Array.of(0x65, 0x00)]]) });
    expect(r.dgMatches).toEqual({ '1': false, '5': false });
    expect(r.errors.map((e) => e.code).sort()).toEqual([PkiCode.DG_HASH_MISMATCH, PkiCode.DG_NOT_IN_SOD]);
    expect(r.signatureValid).toBe(true);
    expect(r.chainValid).toBe(true);
    expect(r.valid).toBe(false);
  });
});

describe('malformed input', () => {
  const codeOf = (f: () => unknown): string | undefined => {
    try {
      f();
    } catch (e) {
      return e instanceof PkiError ? e.code : 'not a PkiError';
    }
    return undefined;
  };

  it('rejects garbage, truncation and trailing junk with SOD_MALFORMED', () => {
    const sod = read('sod/EF_SOD_DE.bin');
    expect(codeOf(() => parseSod(Uint8Array.of(0x77, 0x03, 0x01, 0x02, 0x03)))).toBe(PkiCode.SOD_MALFORMED);
    expect(codeOf(() => parseSod(sod.subarray(0, sod.length - 1)))).toBe(PkiCode.SOD_MALFORMED);
    expect(codeOf(() => parseSod(new Uint8Array(0)))).toBe(PkiCode.SOD_MALFORMED);
    expect(codeOf(() => parseSod(Uint8Array.from([...sod, 0x12, 0x34])))).toBe(PkiCode.SOD_MALFORMED);
    expect(codeOf(() => verifySod(Uint8Array.of(0x30, 0x00), { cscas: store }))).toBe(PkiCode.SOD_MALFORMED);
  });

  it('accepts zero padding after the EF.SOD (a file read by its allocated size)', () => {
    const sod = read('sod/EF_SOD_DE.bin');
    expect(parseSod(Uint8Array.from([...sod, 0, 0, 0, 0])).lds.dataGroupHashes.size).toBe(4);
  });

  it('rejects an EF.CardSecurity given as EF.SOD with SOD_CONTENT_TYPE', () => {
    expect(codeOf(() => parseSod(read('sod/EF_CardSecurity_DE.bin')))).toBe(PkiCode.SOD_CONTENT_TYPE);
  });
});

describe.each(csRecords.map((r) => [r.inputs.file, r] as const))('EF.CardSecurity %s', (file, rec) => {
  it('is a SignedData with id-SecurityObject content whose signature verifies, and chains to the national CSCA', () => {
    expect(rec.expected.content_type.startsWith(Oid.securityObject)).toBe(true);
    const cs = parseCardSecurity(read(file));
    expect(cs.signedData.eContentType).toBe(Oid.securityObject);
    expect(cs.securityInfos.length).toBeGreaterThan(0);
    const r = verifyCardSecurity(read(file), { cscas: store });
    expect(r.signatureValid).toBe(rec.expected.cms_signature_valid);
    expect(r.chainValid).toBe(true);
    expect(r.securityInfoProtocols.every((p) => p.startsWith('0.4.0.127.0.7.'))).toBe(true);
  });
});
