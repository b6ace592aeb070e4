/**
 * CMS SignedData (RFC 5652 §5), read with every signed part kept as read.
 *
 * ```
 * ContentInfo ::= SEQUENCE { contentType ContentType, content [0] EXPLICIT ANY DEFINED BY contentType }
 * SignedData ::= SEQUENCE {
 *   version           CMSVersion,
 *   digestAlgorithms  DigestAlgorithmIdentifiers,           -- SET OF AlgorithmIdentifier
 *   encapContentInfo  EncapsulatedContentInfo,
 *   certificates      [0] IMPLICIT CertificateSet OPTIONAL,
 *   crls              [1] IMPLICIT RevocationInfoChoices OPTIONAL,
 *   signerInfos       SignerInfos }                          -- SET OF SignerInfo
 * EncapsulatedContentInfo ::= SEQUENCE {
 *   eContentType ContentType,
 *   eContent     [0] EXPLICIT OCTET STRING OPTIONAL }
 * SignerInfo ::= SEQUENCE {
 *   version            CMSVersion,
 *   sid                SignerIdentifier,
 *   digestAlgorithm    DigestAlgorithmIdentifier,
 *   signedAttrs        [0] IMPLICIT SignedAttributes OPTIONAL,   -- SET SIZE (1..MAX) OF Attribute
 *   signatureAlgorithm SignatureAlgorithmIdentifier,
 *   signature          SignatureValue,                           -- OCTET STRING
 *   unsignedAttrs      [1] IMPLICIT UnsignedAttributes OPTIONAL }
 * SignerIdentifier ::= CHOICE {
 *   issuerAndSerialNumber IssuerAndSerialNumber,                 -- SEQUENCE { issuer Name, serialNumber INTEGER }
 *   subjectKeyIdentifier  [0] SubjectKeyIdentifier }
 * Attribute ::= SEQUENCE { attrType OBJECT IDENTIFIER, attrValues SET OF AttributeValue }
 * ```
 *
 * The eContent value is taken as read: the content of a primitive OCTET STRING, or the concatenated segments
 * of a constructed (BER) one. The signed attributes are kept as read; their signature input (RFC 5652 §5.4)
 * is the same bytes with the [0] IMPLICIT tag replaced by the SET OF tag 0x31 (see {@link signedAttrsForSignature}).
 */
import { type AlgorithmIdentifier, parseAlgorithmIdentifier } from './algorithms.ts';
import { type Asn1, Tag, TagClass, parseAsn1, readIntegerBytes, readOctets, readOid, readSmallInt, readTime } from './der.ts';
import { type Certificate, parseCertificateNode, serialToHex } from './certificate.ts';
import { PkiCode, PkiError } from './errors.ts';
import { type Name, parseName } from './name.ts';
import { Oid, oidName } from './oids.ts';

export interface SignedAttribute {
  type: string;
  name: string;
  /** attrValues elements as read. */
  values: Asn1[];
  /** The Attribute as read. */
  raw: Uint8Array;
}

export type SignerIdentifier =
  | { kind: 'issuerAndSerialNumber'; issuer: Name; serialHex: string }
  | { kind: 'subjectKeyIdentifier'; keyIdentifier: Uint8Array };

export interface SignerInfo {
  version: number;
  sid: SignerIdentifier;
  digestAlgorithm: AlgorithmIdentifier;
  /** signedAttrs as read, still tagged [0] (0xA0); undefined if absent. */
  signedAttrsRaw?: Uint8Array;
  signedAttrs: SignedAttribute[];
  signatureAlgorithm: AlgorithmIdentifier;
  signature: Uint8Array;
  /** Decoded well-known signed attributes. */
  contentType?: string;
  messageDigest?: Uint8Array;
  signingTime?: Date;
}

export interface SignedData {
  /** The input as given (with any wrapper). */
  raw: Uint8Array;
  version: number;
  digestAlgorithms: AlgorithmIdentifier[];
  eContentType: string;
  /** eContent value as read (what messageDigest is computed over). */
  eContent: Uint8Array;
  /** Certificates embedded in `certificates` (other CertificateChoices are skipped). */
  certificates: Certificate[];
  /** RevocationInfoChoices elements as read (CRLs embedded in the SignedData). */
  crls: Uint8Array[];
  signerInfos: SignerInfo[];
}

function bad(message: string, cause?: unknown): PkiError {
  return new PkiError(PkiCode.SOD_MALFORMED, message, cause === undefined ? {} : { cause });
}

/** Only zero or 0xFF padding may follow the outer element (files read from a chip by size). */
function checkTrailing(bytes: Uint8Array, end: number): void {
  for (let i = end; i < bytes.length; i++) {
    if (bytes[i] !== 0x00 && bytes[i] !== 0xff) throw bad(`${bytes.length - end} unexpected trailing bytes after the SignedData`);
  }
}

/**
 * Reads a CMS ContentInfo holding SignedData. An ICAO EF.SOD wrapper (tag 0x77, [APPLICATION 23]) is unwrapped
 * when present. `expectedContentType`, if given, must equal eContentType (else SOD_CONTENT_TYPE).
 */
export function parseSignedData(bytes: Uint8Array, opts: { expectedContentType?: string } = {}): SignedData {
  let sd: SignedData;
  try {
    let root = parseAsn1(bytes, { allowTrailing: true });
    checkTrailing(bytes, root.end);
    if (root.tagClass === TagClass.APPLICATION && root.tagNumber === 23) {
      const inner = root.children[0];
      if (!inner || root.children.length !== 1) throw bad('EF.SOD wrapper 0x77 must hold exactly one ContentInfo');
      root = inner;
    }
    sd = readContentInfo(bytes, root);
  } catch (e) {
    if (e instanceof PkiError && e.code === PkiCode.SOD_MALFORMED) throw e;
    throw bad(`not a CMS SignedData: ${(e as Error).message}`, e);
  }
  if (opts.expectedContentType !== undefined && sd.eContentType !== opts.expectedContentType) {
    throw new PkiError(PkiCode.SOD_CONTENT_TYPE, `eContentType is ${oidName(sd.eContentType)}, expected ${oidName(opts.expectedContentType)}`);
  }
  return sd;
}

function readContentInfo(bytes: Uint8Array, ci: Asn1): SignedData {
  const [ct, content] = ci.children;
  if (!ci.isUniversal(Tag.SEQUENCE) || !ct || !content) throw bad('ContentInfo must be SEQUENCE { contentType, [0] content }');
  const type = readOid(ct);
  if (type !== Oid.signedData) throw bad(`ContentInfo contentType is ${oidName(type)}, expected pkcs7-signedData`);
  if (!content.isContext(0) || !content.children[0]) throw bad('ContentInfo content must be [0] EXPLICIT');
  const s = content.children[0];
  if (!s.isUniversal(Tag.SEQUENCE)) throw bad('SignedData must be a SEQUENCE');
  const f = s.children;
  const [versionNode, digestSet, eci] = f;
  if (!versionNode || !digestSet || !eci) throw bad('SignedData is missing fields');
  if (!digestSet.isUniversal(Tag.SET)) throw bad('digestAlgorithms must be a SET');
  const [eType, eWrap] = eci.children;
  if (!eci.isUniversal(Tag.SEQUENCE) || !eType) throw bad('EncapsulatedContentInfo malformed');
  if (!eWrap || !eWrap.isContext(0) || !eWrap.children[0]) throw bad('EncapsulatedContentInfo has no eContent (detached content is not an EF.SOD)');
  const eContent = readOctets(eWrap.children[0]);

  const certificates: Certificate[] = [];
  const crls: Uint8Array[] = [];
  let signerSet: Asn1 | undefined;
  for (const x of f.slice(3)) {
    if (x.isContext(0)) {
      for (const c of x.children) if (c.isUniversal(Tag.SEQUENCE)) certificates.push(parseCertificateNode(c));
    } else if (x.isContext(1)) {
      for (const c of x.children) crls.push(c.raw);
    } else if (x.isUniversal(Tag.SET)) {
      signerSet = x;
    } else {
      throw bad(`unexpected ${x.describe()} in SignedData`);
    }
  }
  if (!signerSet || signerSet.children.length === 0) throw bad('SignedData has no SignerInfo');
  return {
    raw: bytes,
    version: readSmallInt(versionNode),
    digestAlgorithms: digestSet.children.map((d) => parseAlgorithmIdentifier(d, PkiCode.SOD_MALFORMED)),
    eContentType: readOid(eType),
    eContent,
    certificates,
    crls,
    signerInfos: signerSet.children.map(readSignerInfo),
  };
}

function readSignerInfo(si: Asn1): SignerInfo {
  if (!si.isUniversal(Tag.SEQUENCE)) throw bad('SignerInfo must be a SEQUENCE');
  const f = si.children;
  let i = 0;
  const versionNode = f[i++];
  const sidNode = f[i++];
  const digestNode = f[i++];
  if (!versionNode || !sidNode || !digestNode) throw bad('SignerInfo is missing fields');
  let sid: SignerIdentifier;
  if (sidNode.isUniversal(Tag.SEQUENCE)) {
    const [issuer, serial] = sidNode.children;
    if (!issuer || !serial) throw bad('IssuerAndSerialNumber malformed');
    sid = { kind: 'issuerAndSerialNumber', issuer: parseName(issuer), serialHex: serialToHex(readIntegerBytes(serial)) };
  } else if (sidNode.isContext(0)) {
    sid = { kind: 'subjectKeyIdentifier', keyIdentifier: readOctets(sidNode, true) };
  } else {
    throw bad(`SignerIdentifier: unexpected ${sidNode.describe()}`);
  }
  let signedAttrsRaw: Uint8Array | undefined;
  const signedAttrs: SignedAttribute[] = [];
  if (f[i]?.isContext(0)) {
    const attrs = f[i++]!;
    signedAttrsRaw = attrs.raw;
    for (const a of attrs.children) {
      const [t, vals] = a.children;
      if (!a.isUniversal(Tag.SEQUENCE) || !t || !vals || !vals.isUniversal(Tag.SET)) throw bad('signed Attribute malformed');
      const type = readOid(t);
      signedAttrs.push({ type, name: ATTR_NAMES[type] ?? type, values: vals.children, raw: a.raw });
    }
  }
  const sigAlgNode = f[i++];
  const sigNode = f[i++];
  if (!sigAlgNode || !sigNode) throw bad('SignerInfo is missing signatureAlgorithm or signature');
  const out: SignerInfo = {
    version: readSmallInt(versionNode),
    sid,
    digestAlgorithm: parseAlgorithmIdentifier(digestNode, PkiCode.SOD_MALFORMED),
    ...(signedAttrsRaw ? { signedAttrsRaw } : {}),
    signedAttrs,
    signatureAlgorithm: parseAlgorithmIdentifier(sigAlgNode, PkiCode.SOD_MALFORMED),
    signature: readOctets(sigNode),
  };
  for (const a of signedAttrs) {
    const v = a.values[0];
    if (!v) continue;
    if (a.values.length !== 1 && (a.type === Oid.contentType || a.type === Oid.messageDigest || a.type === Oid.signingTime)) {
      throw bad(`signed attribute ${a.name} must have exactly one value`);
    }
    if (a.type === Oid.contentType) out.contentType = readOid(v);
    else if (a.type === Oid.messageDigest) out.messageDigest = readOctets(v);
    else if (a.type === Oid.signingTime) out.signingTime = readTime(v);
  }
  return out;
}

const ATTR_NAMES: Readonly<Record<string, string>> = {
  [Oid.contentType]: 'contentType',
  [Oid.messageDigest]: 'messageDigest',
  [Oid.signingTime]: 'signingTime',
  [Oid.cmsAlgorithmProtection]: 'cmsAlgorithmProtection',
};

/**
 * The signature input for signed attributes (RFC 5652 §5.4): the signedAttrs encoding as read with its
 * [0] IMPLICIT identifier octet (0xA0) replaced by the SET OF identifier (0x31). Nothing is re-encoded.
 */
export function signedAttrsForSignature(signer: SignerInfo): Uint8Array | undefined {
  if (!signer.signedAttrsRaw) return undefined;
  const b = Uint8Array.from(signer.signedAttrsRaw);
  b[0] = 0x31;
  return b;
}
