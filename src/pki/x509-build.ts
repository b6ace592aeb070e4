/**
 * X.509 certificate builders for the ICAO 9303-12 PKI: the Country Signing CA (CSCA, self-signed) and the
 * Document Signer (DS) it certifies. Pure: the private key operation goes through the {@link Signer} port.
 *
 * ```
 * Certificate ::= SEQUENCE { tbsCertificate TBSCertificate, signatureAlgorithm AlgorithmIdentifier, signatureValue BIT STRING }
 * TBSCertificate ::= SEQUENCE {
 *   version [0] EXPLICIT Version (v3 = 2), serialNumber INTEGER (positive, at most 20 octets),
 *   signature AlgorithmIdentifier, issuer Name, validity Validity, subject Name,
 *   subjectPublicKeyInfo SubjectPublicKeyInfo, extensions [3] EXPLICIT Extensions }
 * Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
 *
 * -- RFC 5280 (implicitly tagged module)
 * PrivateKeyUsagePeriod ::= SEQUENCE { notBefore [0] GeneralizedTime OPTIONAL, notAfter [1] GeneralizedTime OPTIONAL }  -- 2.5.29.16
 * KeyUsage ::= BIT STRING { digitalSignature(0), ..., keyCertSign(5), cRLSign(6) }                                         -- 2.5.29.15
 * BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }                         -- 2.5.29.19
 * SubjectKeyIdentifier ::= OCTET STRING                                                                                   -- 2.5.29.14
 * AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] OCTET STRING OPTIONAL, ... }                                    -- 2.5.29.35
 * CRLDistributionPoints ::= SEQUENCE OF SEQUENCE { distributionPoint [0] { fullName [0] GeneralNames } }                  -- 2.5.29.31
 * SubjectAltName / IssuerAltName ::= GeneralNames; GeneralName rfc822Name [1] IA5String | uniformResourceIdentifier [6]  -- 2.5.29.17/18
 *
 * -- ICAO 9303-12 §7.1.1 (8th ed.)
 * documentTypeList: id-icao-mrtd-security-extensions-documentTypeList 2.23.136.1.1.6.2
 * DocumentTypeListSyntax ::= SEQUENCE { version DocumentTypeListVersion (v0), docTypeList SET OF DocumentType }
 * DocumentType ::= PrintableString (SIZE(1..2))   -- as in the MRZ: "P", "ID"; one letter covers every type starting with it
 * ```
 *
 * Profiles (ICAO 9303-12 Table "Certificate profile", m = mandatory, o = optional, x = absent):
 *
 * | extension                     | CSCA                              | Document Signer                  |
 * |-------------------------------|-----------------------------------|----------------------------------|
 * | authorityKeyIdentifier        | o (written, = SKI)                | m (= CSCA SKI)                   |
 * | subjectKeyIdentifier          | m                                 | m (written)                      |
 * | keyUsage (critical)           | keyCertSign, cRLSign              | digitalSignature                 |
 * | privateKeyUsagePeriod         | m                                 | written: at most 3 months (9303-12 §5.2) |
 * | basicConstraints (critical)   | cA TRUE, pathLenConstraint 0      | x                                |
 * | cRLDistributionPoints         | written when configured           | written when configured          |
 * | subjectAltName/issuerAltName  | written when a contact is configured                                 |
 * | documentTypeList              | x                                 | m                                |
 * | extendedKeyUsage              | x                                 | x                                |
 *
 * Validity (9303-12 §5.1): DS certificate = private key usage period + longest document validity;
 * CSCA certificate = CSCA private key usage period + longest DS certificate validity.
 * Times: UTCTime through 2049, GeneralizedTime from 2050; PKUP always GeneralizedTime.
 */
import { randomBytes } from 'node:crypto';
import { type Certificate, parseCertificate } from './certificate.ts';
import { parseAsn1, readString } from './der.ts';
import { enc, isPrintableString } from './der-writer.ts';
import { PkiCode, PkiError } from './errors.ts';
import { type Signer, keyAlgorithmInfo, keyIdentifier } from './signer.ts';

export const OID_X509 = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  privateKeyUsagePeriod: '2.5.29.16',
  subjectAltName: '2.5.29.17',
  issuerAltName: '2.5.29.18',
  basicConstraints: '2.5.29.19',
  cRLNumber: '2.5.29.20',
  cRLDistributionPoints: '2.5.29.31',
  authorityKeyIdentifier: '2.5.29.35',
  /** ICAO 9303-12 document type list (DS certificates). */
  documentTypeList: '2.23.136.1.1.6.2',
} as const;

const ATTR_OIDS = {
  country: '2.5.4.6',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  commonName: '2.5.4.3',
  serialNumber: '2.5.4.5',
} as const;

/** A distinguished name as ICAO 9303-12 §7.1.1.1 uses it: C is mandatory (ISO 3166-1 alpha-2, upper case). */
export interface NameSpec {
  country: string;
  organization?: string;
  organizationalUnit?: string;
  commonName: string;
  serialNumber?: string;
}

/**
 * Encodes a Name: one attribute per RDN in the order C, O, OU, CN, serialNumber. countryName and
 * serialNumber are PrintableString (X.520); the others PrintableString when possible, else UTF8String.
 */
export function encodeName(n: NameSpec): Uint8Array {
  if (!/^[A-Z]{2}$/.test(n.country)) throw new PkiError(PkiCode.CERT_MALFORMED, `country "${n.country}" must be an ISO 3166-1 alpha-2 code`);
  const rdn = (oid: string, value: Uint8Array): Uint8Array => enc.set(enc.sequence(enc.oid(oid), value));
  const str = (s: string): Uint8Array => (isPrintableString(s) ? enc.printableString(s) : enc.utf8String(s));
  const parts = [rdn(ATTR_OIDS.country, enc.printableString(n.country))];
  if (n.organization) parts.push(rdn(ATTR_OIDS.organization, str(n.organization)));
  if (n.organizationalUnit) parts.push(rdn(ATTR_OIDS.organizationalUnit, str(n.organizationalUnit)));
  parts.push(rdn(ATTR_OIDS.commonName, str(n.commonName)));
  if (n.serialNumber) parts.push(rdn(ATTR_OIDS.serialNumber, enc.printableString(n.serialNumber)));
  return enc.sequence(...parts);
}

// ---------------------------------------------------------------------------------------------------------
// Extensions

export interface ExtensionSpec {
  oid: string;
  critical: boolean;
  /** The DER of the extension value (what goes inside extnValue's OCTET STRING). */
  value: Uint8Array;
}

export function encodeExtension(e: ExtensionSpec): Uint8Array {
  return e.critical ? enc.sequence(enc.oid(e.oid), enc.boolean(true), enc.octetString(e.value)) : enc.sequence(enc.oid(e.oid), enc.octetString(e.value));
}

const KEY_USAGE_BITS = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
} as const;
export type KeyUsageName = keyof typeof KEY_USAGE_BITS;

/** The named bits as a DER BIT STRING (trailing zero bits removed, DER §11.2.2). */
export function keyUsageValue(bits: readonly KeyUsageName[]): Uint8Array {
  let v = 0;
  for (const b of bits) v |= 0x80 >> KEY_USAGE_BITS[b];
  if (v === 0) throw new RangeError('empty key usage');
  let unused = 0;
  while (((v >> unused) & 1) === 0) unused++;
  return enc.bitString(Uint8Array.of(v), unused);
}

export const ext = {
  keyUsage: (bits: readonly KeyUsageName[]): ExtensionSpec => ({ oid: OID_X509.keyUsage, critical: true, value: keyUsageValue(bits) }),
  basicConstraintsCa: (pathLen: number): ExtensionSpec => ({
    oid: OID_X509.basicConstraints,
    critical: true,
    value: enc.sequence(enc.boolean(true), enc.integer(pathLen)),
  }),
  subjectKeyIdentifier: (ki: Uint8Array): ExtensionSpec => ({ oid: OID_X509.subjectKeyIdentifier, critical: false, value: enc.octetString(ki) }),
  authorityKeyIdentifier: (ki: Uint8Array): ExtensionSpec => ({
    oid: OID_X509.authorityKeyIdentifier,
    critical: false,
    value: enc.sequence(enc.implicitPrimitive(0, ki)),
  }),
  privateKeyUsagePeriod: (notBefore: Date, notAfter: Date): ExtensionSpec => ({
    oid: OID_X509.privateKeyUsagePeriod,
    critical: false,
    value: enc.sequence(retag(enc.generalizedTime(notBefore), 0x80), retag(enc.generalizedTime(notAfter), 0x81)),
  }),
  documentTypeList: (types: readonly string[]): ExtensionSpec => {
    for (const t of types) {
      if (!/^[A-Z0-9<]{1,2}$/.test(t)) throw new PkiError(PkiCode.CERT_MALFORMED, `document type "${t}" must be 1-2 MRZ characters`);
    }
    return {
      oid: OID_X509.documentTypeList,
      critical: false,
      value: enc.sequence(enc.integer(0), enc.setOf(...types.map((t) => enc.printableString(t)))),
    };
  },
  crlDistributionPoints: (uris: readonly string[]): ExtensionSpec => ({
    oid: OID_X509.cRLDistributionPoints,
    critical: false,
    value: enc.sequence(
      ...uris.map((u) => enc.sequence(enc.implicitConstructed(0, enc.implicitConstructed(0, enc.implicitPrimitive(6, Buffer.from(u, 'ascii')))))),
    ),
  }),
  altName: (which: 'subject' | 'issuer', contact: ContactSpec): ExtensionSpec => ({
    oid: which === 'subject' ? OID_X509.subjectAltName : OID_X509.issuerAltName,
    critical: false,
    value: generalNames(contact),
  }),
};

/** Contact information for subjectAltName / issuerAltName. */
export interface ContactSpec {
  email?: string;
  uri?: string;
}

function generalNames(c: ContactSpec): Uint8Array {
  const names: Uint8Array[] = [];
  if (c.email) names.push(enc.implicitPrimitive(1, Buffer.from(c.email, 'ascii')));
  if (c.uri) names.push(enc.implicitPrimitive(6, Buffer.from(c.uri, 'ascii')));
  if (names.length === 0) throw new RangeError('contact needs an email or a URI');
  return enc.sequence(...names);
}

function retag(der: Uint8Array, identifier: number): Uint8Array {
  const b = Uint8Array.from(der);
  b[0] = identifier;
  return b;
}

// ---------------------------------------------------------------------------------------------------------
// Certificates

export interface CertificateSpec {
  /** Positive serial number, big-endian magnitude (at most 20 octets once encoded). */
  serialNumber: Uint8Array;
  /** Issuer Name DER (for a DS: the CSCA certificate's subject exactly as encoded there). */
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  subjectPublicKeySpki: Uint8Array;
  extensions: readonly ExtensionSpec[];
}

/** A random positive 16-octet serial number (RFC 5280 §4.1.2.2: unique, at most 20 octets; 127 bits of entropy). */
export function randomSerialNumber(): Uint8Array {
  const b = new Uint8Array(randomBytes(16));
  b[0] = (b[0]! & 0x7f) | 0x01; // positive, and no leading zero octet
  return b;
}

/** Builds and signs a v3 certificate with `signer` (the issuer's key). Returns the certificate DER. */
export async function signCertificate(spec: CertificateSpec, signer: Signer): Promise<Uint8Array> {
  if (spec.notAfter.getTime() <= spec.notBefore.getTime()) throw new PkiError(PkiCode.CERT_MALFORMED, 'notAfter must be after notBefore');
  const serial = enc.unsignedInteger(spec.serialNumber);
  if (serial.length - 2 > 20) throw new PkiError(PkiCode.CERT_MALFORMED, 'serial number longer than 20 octets');
  const sigAlg = keyAlgorithmInfo(signer.algorithm).signatureAlgorithmDer;
  const tbs = enc.sequence(
    enc.explicit(0, enc.integer(2)),
    serial,
    sigAlg,
    spec.issuer,
    enc.sequence(enc.time(spec.notBefore), enc.time(spec.notAfter)),
    spec.subject,
    spec.subjectPublicKeySpki,
    enc.explicit(3, enc.sequence(...spec.extensions.map(encodeExtension))),
  );
  const sig = await signer.sign(tbs);
  return enc.sequence(tbs, sigAlg, enc.bitString(sig));
}

export interface PeriodSpec {
  notBefore: Date;
  notAfter: Date;
}

export interface CscaCertificateInput {
  subject: NameSpec;
  serialNumber?: Uint8Array;
  /** Certificate validity (= private key usage period + longest DS certificate validity). */
  validity: PeriodSpec;
  /** CSCA private key usage period (3-5 years in ICAO practice). */
  privateKeyUsagePeriod: PeriodSpec;
  crlDistributionPoints?: readonly string[];
  contact?: ContactSpec;
}

/** The self-signed CSCA certificate for the key behind `signer`. */
export async function buildCscaCertificate(input: CscaCertificateInput, signer: Signer): Promise<Uint8Array> {
  checkPeriodWithin(input.privateKeyUsagePeriod, input.validity, 'CSCA private key usage period');
  const name = encodeName(input.subject);
  const ski = keyIdentifier(signer.publicKeySpki);
  const extensions: ExtensionSpec[] = [
    ext.authorityKeyIdentifier(ski),
    ext.subjectKeyIdentifier(ski),
    ext.keyUsage(['keyCertSign', 'cRLSign']),
    ext.privateKeyUsagePeriod(input.privateKeyUsagePeriod.notBefore, input.privateKeyUsagePeriod.notAfter),
    ext.basicConstraintsCa(0),
  ];
  if (input.contact) extensions.push(ext.altName('subject', input.contact), ext.altName('issuer', input.contact));
  if (input.crlDistributionPoints?.length) extensions.push(ext.crlDistributionPoints(input.crlDistributionPoints));
  return signCertificate(
    {
      serialNumber: input.serialNumber ?? randomSerialNumber(),
      issuer: name,
      subject: name,
      notBefore: input.validity.notBefore,
      notAfter: input.validity.notAfter,
      subjectPublicKeySpki: signer.publicKeySpki,
      extensions,
    },
    signer,
  );
}

/** Longest DS private key usage period ICAO 9303-12 allows: three months. */
export const MAX_DS_PKUP_MONTHS = 3;

export interface DsCertificateInput {
  subject: NameSpec;
  serialNumber?: Uint8Array;
  /** The DS public key (from the HSM). */
  subjectPublicKeySpki: Uint8Array;
  /** DS private key usage period: at most {@link MAX_DS_PKUP_MONTHS} months. */
  privateKeyUsagePeriod: PeriodSpec;
  /** Certificate validity: normally PKUP start .. PKUP end + document validity. */
  validity: PeriodSpec;
  /** Document types as in the MRZ ("ID" for a TD1 identity card). */
  documentTypes: readonly string[];
  crlDistributionPoints?: readonly string[];
  contact?: ContactSpec;
}

/** The date `months` calendar months after `d` (UTC; the day clamped to the month's last day). */
export function addMonths(d: Date, months: number): Date {
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth() + months;
  const target = new Date(Date.UTC(y, m, 1, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()));
  const last = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(d.getUTCDate(), last));
  return target;
}

function checkPeriodWithin(inner: PeriodSpec, outer: PeriodSpec, what: string): void {
  if (inner.notAfter.getTime() <= inner.notBefore.getTime()) throw new PkiError(PkiCode.CERT_MALFORMED, `${what}: end must be after start`);
  if (inner.notBefore.getTime() < outer.notBefore.getTime() || inner.notAfter.getTime() > outer.notAfter.getTime()) {
    throw new PkiError(PkiCode.CERT_MALFORMED, `${what} must lie within the certificate validity`);
  }
}

/**
 * A Document Signer certificate issued by the CSCA `issuer` (parsed, its subject and SKI are copied as encoded)
 * and signed with the CSCA key behind `cscaSigner`.
 */
export async function buildDsCertificate(input: DsCertificateInput, issuer: Certificate | Uint8Array, cscaSigner: Signer): Promise<Uint8Array> {
  const csca = issuer instanceof Uint8Array ? parseCertificate(issuer) : issuer;
  const pkup = input.privateKeyUsagePeriod;
  if (pkup.notAfter.getTime() > addMonths(pkup.notBefore, MAX_DS_PKUP_MONTHS).getTime()) {
    throw new PkiError(PkiCode.CERT_MALFORMED, `DS private key usage period longer than ${MAX_DS_PKUP_MONTHS} months (ICAO 9303-12)`);
  }
  checkPeriodWithin(pkup, input.validity, 'DS private key usage period');
  if (input.validity.notAfter.getTime() > csca.notAfter.getTime() || input.validity.notBefore.getTime() < csca.notBefore.getTime()) {
    throw new PkiError(PkiCode.CERT_MALFORMED, 'DS certificate validity must lie within the CSCA certificate validity');
  }
  if (!csca.subjectKeyIdentifier) throw new PkiError(PkiCode.CERT_MALFORMED, 'CSCA certificate has no subjectKeyIdentifier');
  if (input.documentTypes.length === 0) throw new PkiError(PkiCode.CERT_MALFORMED, 'a DS certificate needs at least one document type');
  const extensions: ExtensionSpec[] = [
    ext.authorityKeyIdentifier(csca.subjectKeyIdentifier),
    ext.subjectKeyIdentifier(keyIdentifier(input.subjectPublicKeySpki)),
    ext.keyUsage(['digitalSignature']),
    ext.privateKeyUsagePeriod(pkup.notBefore, pkup.notAfter),
    ext.documentTypeList(input.documentTypes),
  ];
  if (input.contact) extensions.push(ext.altName('subject', input.contact), ext.altName('issuer', input.contact));
  if (input.crlDistributionPoints?.length) extensions.push(ext.crlDistributionPoints(input.crlDistributionPoints));
  return signCertificate(
    {
      serialNumber: input.serialNumber ?? randomSerialNumber(),
      issuer: csca.subject.raw,
      subject: encodeName(input.subject),
      notBefore: input.validity.notBefore,
      notAfter: input.validity.notAfter,
      subjectPublicKeySpki: input.subjectPublicKeySpki,
      extensions,
    },
    cscaSigner,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Reading the ICAO extensions back (for key listings and tests)

export interface PrivateKeyUsagePeriod {
  notBefore?: Date;
  notAfter?: Date;
}

/** The certificate's private key usage period extension, if present. */
export function privateKeyUsagePeriodOf(cert: Certificate): PrivateKeyUsagePeriod | undefined {
  const e = cert.extensions.find((x) => x.oid === OID_X509.privateKeyUsagePeriod);
  if (!e) return undefined;
  const out: PrivateKeyUsagePeriod = {};
  // SEQUENCE { [0] IMPLICIT GeneralizedTime OPTIONAL, [1] IMPLICIT GeneralizedTime OPTIONAL }
  for (const f of parseAsn1(e.value).children) {
    const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(Buffer.from(f.content).toString('latin1'));
    if (!m) throw new PkiError(PkiCode.CERT_MALFORMED, 'privateKeyUsagePeriod time malformed');
    const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
    if (f.isContext(0)) out.notBefore = d;
    else if (f.isContext(1)) out.notAfter = d;
  }
  return out;
}

/** The document types of a DS certificate's documentTypeList extension, if present. */
export function documentTypesOf(cert: Certificate): string[] | undefined {
  const e = cert.extensions.find((x) => x.oid === OID_X509.documentTypeList);
  if (!e) return undefined;
  // SEQUENCE { version INTEGER, docTypeList SET OF PrintableString }
  const list = parseAsn1(e.value).children[1];
  if (!list) throw new PkiError(PkiCode.CERT_MALFORMED, 'documentTypeList malformed');
  return list.children.map((c) => readString(c));
}
