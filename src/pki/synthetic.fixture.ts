/**
 * Test-only: a synthetic country PKI (CSCA, Document Signer, CRLs) and EF.SOD built with pkijs/asn1js, an
 * implementation independent of Kadi's reader, so that the verifier is checked against objects it did not make.
 * Not exported from index.ts.
 */
import { webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

type CryptoKey = webcrypto.CryptoKey;
type PkijsEngineParams = ConstructorParameters<typeof pkijs.CryptoEngine>[0];
const engine = new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto } as unknown as PkijsEngineParams);
pkijs.setEngine('node', engine);

const SHA256 = '2.16.840.1.101.3.4.2.1';
const LDS_SO = '2.23.136.1.1.1';

export interface SyntheticKeyPair {
  publicKey: CryptoKey;
  privateKey: CryptoKey;
}

export async function ecKeyPair(): Promise<SyntheticKeyPair> {
  return (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as unknown as SyntheticKeyPair;
}

function name(cn: string): pkijs.RelativeDistinguishedNames {
  return new pkijs.RelativeDistinguishedNames({
    typesAndValues: [
      new pkijs.AttributeTypeAndValue({ type: '2.5.4.6', value: new asn1js.PrintableString({ value: 'UT' }) }),
      new pkijs.AttributeTypeAndValue({ type: '2.5.4.10', value: new asn1js.Utf8String({ value: 'Kadi Test' }) }),
      new pkijs.AttributeTypeAndValue({ type: '2.5.4.3', value: new asn1js.Utf8String({ value: cn }) }),
    ],
  });
}

async function ski(pub: CryptoKey): Promise<ArrayBuffer> {
  const spki = await webcrypto.subtle.exportKey('spki', pub);
  const parsed = pkijs.PublicKeyInfo.fromBER(spki);
  return webcrypto.subtle.digest('SHA-1', parsed.subjectPublicKey.valueBlock.valueHexView);
}

export interface CertSpec {
  subjectCn: string;
  issuerCn: string;
  serial: number;
  subjectKey: CryptoKey;
  issuerPublicKey: CryptoKey;
  issuerPrivateKey: CryptoKey;
  ca: boolean;
  notBefore: Date;
  notAfter: Date;
}

/** A v3 certificate with SKI, AKI, key usage and (for CAs) basic constraints. Returns DER. */
export async function makeCertificate(s: CertSpec): Promise<Uint8Array> {
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = new asn1js.Integer({ value: s.serial });
  cert.issuer = name(s.issuerCn);
  cert.subject = name(s.subjectCn);
  cert.notBefore.value = s.notBefore;
  cert.notAfter.value = s.notAfter;
  await cert.subjectPublicKeyInfo.importKey(s.subjectKey, engine);
  const keyUsage = new asn1js.BitString({ valueHex: Uint8Array.of(s.ca ? 0x06 : 0x80).buffer, unusedBits: s.ca ? 1 : 7 });
  cert.extensions = [
    new pkijs.Extension({ extnID: '2.5.29.14', extnValue: new asn1js.OctetString({ valueHex: await ski(s.subjectKey) }).toBER(false) }),
    new pkijs.Extension({
      extnID: '2.5.29.35',
      extnValue: new pkijs.AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: await ski(s.issuerPublicKey) }) }).toSchema().toBER(false),
    }),
    new pkijs.Extension({ extnID: '2.5.29.15', critical: true, extnValue: keyUsage.toBER(false) }),
  ];
  if (s.ca) {
    cert.extensions.push(new pkijs.Extension({ extnID: '2.5.29.19', critical: true, extnValue: new pkijs.BasicConstraints({ cA: true, pathLenConstraint: 0 }).toSchema().toBER(false) }));
  }
  await cert.sign(s.issuerPrivateKey, 'SHA-256', engine);
  return new Uint8Array(cert.toSchema(true).toBER(false));
}

/** A v2 CRL from `issuerCn` listing the given serial numbers. Returns DER. */
export async function makeCrl(issuerCn: string, issuerPrivateKey: CryptoKey, revokedSerials: number[], thisUpdate: Date, nextUpdate: Date): Promise<Uint8Array> {
  const crl = new pkijs.CertificateRevocationList();
  crl.version = 1;
  crl.issuer = name(issuerCn);
  crl.thisUpdate = new pkijs.Time({ type: 0, value: thisUpdate });
  crl.nextUpdate = new pkijs.Time({ type: 0, value: nextUpdate });
  if (revokedSerials.length > 0) {
    crl.revokedCertificates = revokedSerials.map(
      (serial) => new pkijs.RevokedCertificate({ userCertificate: new asn1js.Integer({ value: serial }), revocationDate: new pkijs.Time({ type: 0, value: thisUpdate }) }),
    );
  }
  await crl.sign(issuerPrivateKey, 'SHA-256', engine);
  return new Uint8Array(crl.toSchema(true).toBER(false));
}

/** LDSSecurityObject v0 (SHA-256) over the given data groups. */
export async function makeLdsSecurityObject(dataGroups: ReadonlyMap<number, Uint8Array>): Promise<Uint8Array> {
  const entries: asn1js.Sequence[] = [];
  for (const [n, bytes] of dataGroups) {
    const h = await webcrypto.subtle.digest('SHA-256', bytes);
    entries.push(new asn1js.Sequence({ value: [new asn1js.Integer({ value: n }), new asn1js.OctetString({ valueHex: h })] }));
  }
  const lds = new asn1js.Sequence({
    value: [new asn1js.Integer({ value: 0 }), new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: SHA256 }), new asn1js.Null()] }), new asn1js.Sequence({ value: entries })],
  });
  return new Uint8Array(lds.toBER(false));
}

/** An EF.SOD (0x77 wrapper) over `lds`, signed by the DS key with signed attributes, embedding the DS certificate. */
export async function makeSod(lds: Uint8Array, dsCertDer: Uint8Array, dsPrivateKey: CryptoKey, signingTime: Date): Promise<Uint8Array> {
  const ds = pkijs.Certificate.fromBER(dsCertDer);
  const digest = await webcrypto.subtle.digest('SHA-256', lds);
  const sd = new pkijs.SignedData({
    version: 3,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: LDS_SO, eContent: new asn1js.OctetString({ valueHex: lds }) }),
    signerInfos: [
      new pkijs.SignerInfo({
        version: 1,
        sid: new pkijs.IssuerAndSerialNumber({ issuer: ds.issuer, serialNumber: ds.serialNumber }),
        signedAttrs: new pkijs.SignedAndUnsignedAttributes({
          type: 0,
          attributes: [
            new pkijs.Attribute({ type: '1.2.840.113549.1.9.3', values: [new asn1js.ObjectIdentifier({ value: LDS_SO })] }),
            new pkijs.Attribute({ type: '1.2.840.113549.1.9.5', values: [new asn1js.UTCTime({ valueDate: signingTime })] }),
            new pkijs.Attribute({ type: '1.2.840.113549.1.9.4', values: [new asn1js.OctetString({ valueHex: digest })] }),
          ],
        }),
      }),
    ],
    certificates: [ds],
  });
  await sd.sign(dsPrivateKey, 0, 'SHA-256', undefined, engine);
  const ci = new pkijs.ContentInfo({ contentType: '1.2.840.113549.1.7.2', content: sd.toSchema(true) });
  const body = new Uint8Array(ci.toSchema().toBER(false));
  // [APPLICATION 23] wrapper, definite length
  const len = body.length < 0x80 ? [body.length] : body.length < 0x100 ? [0x81, body.length] : [0x82, body.length >> 8, body.length & 0xff];
  return Uint8Array.from([0x77, ...len, ...body]);
}

/** A complete synthetic country: CSCA, DS, an impostor CSCA with the same name, and an EF.SOD over `dataGroups`. */
export async function makeCountry(dataGroups: ReadonlyMap<number, Uint8Array>) {
  const cscaKeys = await ecKeyPair();
  const dsKeys = await ecKeyPair();
  const impostorKeys = await ecKeyPair();
  const notBefore = new Date('2024-01-01T00:00:00Z');
  const notAfter = new Date('2034-01-01T00:00:00Z');
  const csca = await makeCertificate({ subjectCn: 'CSCA Utopia', issuerCn: 'CSCA Utopia', serial: 1, subjectKey: cscaKeys.publicKey, issuerPublicKey: cscaKeys.publicKey, issuerPrivateKey: cscaKeys.privateKey, ca: true, notBefore, notAfter });
  const impostor = await makeCertificate({ subjectCn: 'CSCA Utopia', issuerCn: 'CSCA Utopia', serial: 1, subjectKey: impostorKeys.publicKey, issuerPublicKey: impostorKeys.publicKey, issuerPrivateKey: impostorKeys.privateKey, ca: true, notBefore, notAfter });
  const ds = await makeCertificate({
    subjectCn: 'DS Utopia 1',
    issuerCn: 'CSCA Utopia',
    serial: 0x1234,
    subjectKey: dsKeys.publicKey,
    issuerPublicKey: cscaKeys.publicKey,
    issuerPrivateKey: cscaKeys.privateKey,
    ca: false,
    notBefore,
    notAfter: new Date('2025-06-01T00:00:00Z'),
  });
  const lds = await makeLdsSecurityObject(dataGroups);
  const sod = await makeSod(lds, ds, dsKeys.privateKey, new Date('2024-06-01T12:00:00Z'));
  return { cscaKeys, dsKeys, impostorKeys, csca, impostor, ds, lds, sod, dsSerial: 0x1234 };
}
