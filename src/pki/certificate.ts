/**
 * X.509 certificates (RFC 5280 §4.1), parsed with every signed part kept as read.
 *
 * ```
 * Certificate ::= SEQUENCE {
 *   tbsCertificate       TBSCertificate,
 *   signatureAlgorithm   AlgorithmIdentifier,
 *   signatureValue       BIT STRING }
 * TBSCertificate ::= SEQUENCE {
 *   version         [0] EXPLICIT Version DEFAULT v1,
 *   serialNumber         CertificateSerialNumber,          -- INTEGER
 *   signature            AlgorithmIdentifier,
 *   issuer               Name,
 *   validity             Validity,                          -- SEQUENCE { notBefore Time, notAfter Time }
 *   subject              Name,
 *   subjectPublicKeyInfo SubjectPublicKeyInfo,
 *   issuerUniqueID  [1] IMPLICIT UniqueIdentifier OPTIONAL,
 *   subjectUniqueID [2] IMPLICIT UniqueIdentifier OPTIONAL,
 *   extensions      [3] EXPLICIT Extensions OPTIONAL }
 * Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
 * SubjectKeyIdentifier ::= KeyIdentifier                      -- OCTET STRING
 * AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] KeyIdentifier OPTIONAL,
 *   authorityCertIssuer [1] GeneralNames OPTIONAL, authorityCertSerialNumber [2] CertificateSerialNumber OPTIONAL }
 * BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL }
 * KeyUsage ::= BIT STRING { digitalSignature(0), nonRepudiation(1), keyEncipherment(2), dataEncipherment(3),
 *   keyAgreement(4), keyCertSign(5), cRLSign(6), encipherOnly(7), decipherOnly(8) }
 * ```
 */
import { createHash } from 'node:crypto';
import { type AlgorithmIdentifier, parseAlgorithmIdentifier } from './algorithms.ts';
import { type Asn1, Tag, TagClass, bytesToBigInt, parseAsn1, readBitString, readBoolean, readIntegerBytes, readOctets, readOid, readSmallInt, readTime } from './der.ts';
import { PkiCode, PkiError } from './errors.ts';
import { type PublicKeyInfo, importPublicKey } from './keys.ts';
import { type Name, parseName } from './name.ts';
import { Oid } from './oids.ts';
import { toHex } from '../shared/index.ts';

export interface Extension {
  oid: string;
  critical: boolean;
  /** extnValue content (the DER of the extension's own value), as read. */
  value: Uint8Array;
}

export interface Certificate {
  /** The whole certificate as read. */
  raw: Uint8Array;
  /** tbsCertificate as read: the bytes the issuer signed. */
  tbsRaw: Uint8Array;
  /** 1, 2 or 3. */
  version: number;
  /** serialNumber INTEGER content octets as read. */
  serialNumber: Uint8Array;
  /** Serial number as unsigned lower-case hex without leading zeros (for comparisons and display). */
  serialHex: string;
  /** The signature algorithm inside tbsCertificate. */
  tbsSignatureAlgorithm: AlgorithmIdentifier;
  /** The outer signatureAlgorithm (the one used for verification; must equal the inner one). */
  signatureAlgorithm: AlgorithmIdentifier;
  signatureValue: Uint8Array;
  issuer: Name;
  subject: Name;
  notBefore: Date;
  notAfter: Date;
  /** SubjectPublicKeyInfo as read. */
  spkiRaw: Uint8Array;
  extensions: Extension[];
  subjectKeyIdentifier?: Uint8Array;
  /** AuthorityKeyIdentifier.keyIdentifier. */
  authorityKeyIdentifier?: Uint8Array;
  basicConstraints?: { cA: boolean; pathLen?: number };
  /** Key usage bit names that are set. */
  keyUsage?: string[];
  /** SHA-256 of the certificate as read, lower-case hex. */
  sha256Fingerprint: string;
}

/** What a report shows of a certificate. */
export interface CertificateSummary {
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  signatureAlgorithm: string;
  publicKey: string;
  subjectKeyIdentifier?: string;
  authorityKeyIdentifier?: string;
  sha256Fingerprint: string;
}

const KEY_USAGE_BITS = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly'];

function bad(message: string, cause?: unknown): PkiError {
  return new PkiError(PkiCode.CERT_MALFORMED, message, cause === undefined ? {} : { cause });
}

/** Serial number INTEGER content to normalized hex (unsigned, no leading zeros). */
export function serialToHex(content: Uint8Array): string {
  const h = bytesToBigInt(content).toString(16);
  return h.length % 2 ? '0' + h : h;
}

/** Parses one DER (or BER) certificate. */
export function parseCertificate(bytes: Uint8Array): Certificate {
  try {
    return parseCertificateNode(parseAsn1(bytes));
  } catch (e) {
    if (e instanceof PkiError && e.code === PkiCode.CERT_MALFORMED) throw e;
    throw bad(`not an X.509 certificate: ${(e as Error).message}`, e);
  }
}

/** Parses a certificate from an already-read element (e.g. inside a CMS CertificateSet). */
export function parseCertificateNode(root: Asn1): Certificate {
  const [tbs, sigAlg, sigVal] = root.children;
  if (!root.isUniversal(Tag.SEQUENCE) || !tbs || !sigAlg || !sigVal || root.children.length !== 3) throw bad('Certificate must be SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }');
  const f = tbs.children;
  let i = 0;
  let version = 1;
  if (f[0]?.isContext(0)) {
    const v = f[0].children[0];
    if (!v) throw bad('empty version');
    version = readSmallInt(v) + 1;
    i++;
  }
  const serialNode = f[i++];
  const sigInner = f[i++];
  const issuerNode = f[i++];
  const validity = f[i++];
  const subjectNode = f[i++];
  const spki = f[i++];
  if (!serialNode || !sigInner || !issuerNode || !validity || !subjectNode || !spki) throw bad('tbsCertificate is missing fields');
  const [nb, na] = validity.children;
  if (!nb || !na) throw bad('Validity malformed');
  const serialNumber = readIntegerBytes(serialNode);
  const extensions: Extension[] = [];
  for (; i < f.length; i++) {
    const x = f[i]!;
    if (x.tagClass === TagClass.CONTEXT && x.tagNumber === 3) {
      const list = x.children[0];
      if (!list) throw bad('empty extensions');
      for (const e of list.children) extensions.push(parseExtension(e));
    }
  }
  const bits = readBitString(sigVal);
  const cert: Certificate = {
    raw: root.raw,
    tbsRaw: tbs.raw,
    version,
    serialNumber,
    serialHex: serialToHex(serialNumber),
    tbsSignatureAlgorithm: parseAlgorithmIdentifier(sigInner),
    signatureAlgorithm: parseAlgorithmIdentifier(sigAlg),
    signatureValue: bits.bytes,
    issuer: parseName(issuerNode),
    subject: parseName(subjectNode),
    notBefore: readTime(nb),
    notAfter: readTime(na),
    spkiRaw: spki.raw,
    extensions,
    sha256Fingerprint: createHash('sha256').update(root.raw).digest('hex'),
  };
  for (const e of extensions) {
    try {
      if (e.oid === Oid.subjectKeyIdentifier) {
        cert.subjectKeyIdentifier = readOctets(parseAsn1(e.value));
      } else if (e.oid === Oid.authorityKeyIdentifier) {
        const kid = parseAsn1(e.value).children.find((c) => c.isContext(0));
        if (kid) cert.authorityKeyIdentifier = readOctets(kid, true);
      } else if (e.oid === Oid.basicConstraints) {
        const seq = parseAsn1(e.value).children;
        let cA = false;
        let pathLen: number | undefined;
        for (const c of seq) {
          if (c.isUniversal(Tag.BOOLEAN)) cA = readBoolean(c);
          else if (c.isUniversal(Tag.INTEGER)) pathLen = readSmallInt(c);
        }
        cert.basicConstraints = pathLen === undefined ? { cA } : { cA, pathLen };
      } else if (e.oid === Oid.keyUsage) {
        const b = readBitString(parseAsn1(e.value)).bytes;
        cert.keyUsage = KEY_USAGE_BITS.filter((_, bit) => ((b[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) !== 0);
      }
    } catch (err) {
      throw bad(`extension ${e.oid} malformed: ${(err as Error).message}`, err);
    }
  }
  return cert;
}

function parseExtension(e: Asn1): Extension {
  const k = e.children;
  const id = k[0];
  if (!e.isUniversal(Tag.SEQUENCE) || !id) throw bad('Extension malformed');
  let critical = false;
  let valueNode = k[1];
  if (valueNode?.isUniversal(Tag.BOOLEAN)) {
    critical = readBoolean(valueNode);
    valueNode = k[2];
  }
  if (!valueNode) throw bad('Extension without extnValue');
  return { oid: readOid(id), critical, value: readOctets(valueNode) };
}

// ---------------------------------------------------------------------------------------------------------
// Public key (imported once per certificate object)

const keyCache = new WeakMap<Certificate, PublicKeyInfo>();

/** The certificate's public key as a node:crypto key (explicit EC parameters mapped to the named curve). */
export function certificatePublicKey(cert: Certificate): PublicKeyInfo {
  let k = keyCache.get(cert);
  if (!k) {
    k = importPublicKey(cert.spkiRaw);
    keyCache.set(cert, k);
  }
  return k;
}

/** Where an imported key may come from instead of {@link certificatePublicKey}: a src/pki VerifyCache (keyed by the SubjectPublicKeyInfo bytes). */
export interface PublicKeySource {
  publicKey(cert: Certificate): PublicKeyInfo;
}

/** "RSA 2048", "EC prime256v1", ... With `keys` (a VerifyCache), a key that cache has imported is not imported again. */
export function describePublicKey(cert: Certificate, keys?: PublicKeySource): string {
  try {
    const k = keys ? keys.publicKey(cert) : certificatePublicKey(cert);
    if (k.kind === 'rsa') return `RSA ${k.bits}`;
    const curve = k.curve?.name ?? k.curveName ?? 'unknown curve';
    return `EC ${curve}${k.explicitParams ? ' (explicit parameters)' : ''}`;
  } catch (e) {
    return `unsupported key (${(e as Error).message})`;
  }
}

/** The certificate's summary for reports. `keys`: see {@link describePublicKey}. */
export function summarizeCertificate(cert: Certificate, keys?: PublicKeySource): CertificateSummary {
  return {
    subject: cert.subject.text,
    issuer: cert.issuer.text,
    serialNumber: cert.serialHex,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    signatureAlgorithm: cert.signatureAlgorithm.name,
    publicKey: describePublicKey(cert, keys),
    ...(cert.subjectKeyIdentifier ? { subjectKeyIdentifier: toHex(cert.subjectKeyIdentifier) } : {}),
    ...(cert.authorityKeyIdentifier ? { authorityKeyIdentifier: toHex(cert.authorityKeyIdentifier) } : {}),
    sha256Fingerprint: cert.sha256Fingerprint,
  };
}

/** True if the certificate was valid at `at` (notBefore <= at <= notAfter). */
export function isValidAt(cert: Certificate, at: Date): boolean {
  const t = at.getTime();
  return cert.notBefore.getTime() <= t && t <= cert.notAfter.getTime();
}

// ---------------------------------------------------------------------------------------------------------
// PEM

export interface PemBlock {
  label: string;
  der: Uint8Array;
}

/** All `-----BEGIN X----- ... -----END X-----` blocks in `text` (text between blocks is ignored). */
export function readPem(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (const m of text.matchAll(re)) {
    const body = m[2]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new PkiError(PkiCode.PEM_MALFORMED, `bad base64 in PEM block ${m[1]}`);
    out.push({ label: m[1]!, der: Uint8Array.from(Buffer.from(body, 'base64')) });
  }
  return out;
}

/**
 * Certificates from PEM text (any number of CERTIFICATE blocks, e.g. a CSCA bundle) or from DER bytes
 * (one certificate). Throws PEM_MALFORMED for text without a CERTIFICATE block.
 */
export function parseCertificates(input: string | Uint8Array): Certificate[] {
  let text: string | undefined;
  if (typeof input === 'string') text = input;
  else if (input[0] !== 0x30) text = Buffer.from(input).toString('latin1');
  if (text === undefined) return [parseCertificate(input as Uint8Array)];
  const blocks = readPem(text).filter((b) => b.label === 'CERTIFICATE' || b.label === 'X509 CERTIFICATE');
  if (blocks.length === 0) throw new PkiError(PkiCode.PEM_MALFORMED, 'no CERTIFICATE block found');
  return blocks.map((b, i) => {
    try {
      return parseCertificate(b.der);
    } catch (e) {
      throw new PkiError(PkiCode.CERT_MALFORMED, `certificate #${i + 1} in PEM: ${(e as Error).message}`, { cause: e });
    }
  });
}
