/**
 * ICAO Visible Digital Seal (Doc 9303-13, 8th ed. 2021 + Amendment 1): encoding, decoding and verification.
 * Pure: signatures come from a pki `Signer` (the HSM in production), verification uses certificates passed in.
 *
 * ```
 * Header (version 4, 12 + v bytes)                                                     Doc 9303-13 Table 1
 *   0x00  1  magic constant 0xDC
 *   0x01  1  version: 0x02 = version 3, 0x03 = version 4
 *   0x02  2  issuing State, 3 letters C40 ("KEN")
 *   0x04  v  signer identifier + certificate reference, C40:
 *              v3: "CCSS" + 5 hex characters (v = 6)
 *              v4: "CCSS" + 2 hex characters giving the length n of the reference + n hex characters
 *            CC = signer's country (certificate C), SS = certificate CN (2 characters), reference = hex serial number
 *   +3       document issue date      (MMDDYYYY as an unsigned integer in 3 bytes)
 *   +3       signature creation date
 *   +1       document feature definition reference (1..254)
 *   +1       document type category (odd: ICAO profiles; even: national profiles)
 * Message zone: features  tag(1, 0..254) | length (v3: 1 byte; v4: DER length, 1-5 bytes) | value
 * Signature zone: 0xFF | DER length | ECDSA r || s (each the key length, big-endian, zero-padded)
 *   signed data = header || message zone exactly as encoded; hash by the curve order size (256 bits -> SHA-256)
 * ```
 *
 * Kadi's national e-ID profile (document type category 0x02 = national profile, feature definition 0x01):
 *
 * | tag  | feature              | encoding              | presence |
 * |------|----------------------|-----------------------|----------|
 * | 0x01 | MRZ (TD1, 90 chars)  | C40 ('<' as space)    | m        |
 * | 0x02 | national number      | C40                   | m        |
 * | 0x03 | document number      | C40                   | m        |
 * | 0x04 | date of birth        | date (3 bytes)        | m        |
 * | 0x05 | date of expiry       | date (3 bytes)        | m        |
 * | 0x06 | surname as printed   | UTF-8 (NFC), binary   | m        |
 * | 0x07 | given names as printed | UTF-8 (NFC), binary | m        |
 *
 * The MRZ carries the transliterated names and 2-digit years; the UTF-8 names and full dates let an inspector
 * compare the seal with the visual zone exactly, accents included.
 */
import { createHash, verify as cryptoVerify } from 'node:crypto';
import {
  type Certificate,
  type Crl,
  type CscaStore,
  type Signer,
  type VerifyCache,
  certificatePublicKey,
  derEncode,
  documentTypesOf,
  isValidAt,
  parseAsn1,
  verifyDsChain,
} from '../pki/index.ts';
import { KadiError } from '../shared/index.ts';
import { decodeC40, encodeC40 } from './c40.ts';

export class VdsError extends KadiError {}

export const VDS_MAGIC = 0xdc;
export const VDS_VERSION_3 = 0x02;
export const VDS_VERSION_4 = 0x03;
export const VDS_SIGNATURE_TAG = 0xff;
/** id-icao-mrtd-security-vds 1 = id-icao-vdsSigner (Doc 9303-12 §7.1.3): the bar code signer's extKeyUsage. */
export const OID_VDS_SIGNER = '2.23.136.1.1.11.1';

/** Kadi's national e-ID seal profile. */
export const KADI_ID_PROFILE = {
  featureDefinitionReference: 0x01,
  documentTypeCategory: 0x02,
  tags: {
    mrz: 0x01,
    nationalNumber: 0x02,
    documentNumber: 0x03,
    dateOfBirth: 0x04,
    dateOfExpiry: 0x05,
    surname: 0x06,
    givenNames: 0x07,
  },
} as const;

export interface VdsHeader {
  version: 3 | 4;
  /** Three-letter code, '<'-padded ("KEN", "D<<"). */
  issuingCountry: string;
  /** 4 characters: 2-letter country + 2 characters (the signer certificate's CN). */
  signerIdentifier: string;
  /** Upper-case hex of the signer certificate's serial number. */
  certificateReference: string;
  /** YYYY-MM-DD. */
  documentIssueDate: string;
  /** YYYY-MM-DD. */
  signatureCreationDate: string;
  featureDefinitionReference: number;
  documentTypeCategory: number;
}

export interface VdsFeature {
  tag: number;
  value: Uint8Array;
}

export interface Vds {
  header: VdsHeader;
  features: VdsFeature[];
  /** r || s. */
  signature: Uint8Array;
  /** Header and message zone exactly as read: what was signed. */
  signedBytes: Uint8Array;
  /** The whole seal as read (padding after the signature excluded). */
  raw: Uint8Array;
}

// ---------------------------------------------------------------------------------------------------------
// Basic types

/** Date feature: MMDDYYYY as an integer in 3 bytes (9303-13 §2.3.1 d). */
export function encodeVdsDate(iso: string): Uint8Array {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  if (!m) throw new VdsError('VDS_DATE_INVALID', `date ${JSON.stringify(iso)} is not YYYY-MM-DD`);
  const n = Number(`${m[2]}${m[3]}${m[1]}`);
  return Uint8Array.of((n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}

export function decodeVdsDate(b: Uint8Array): string {
  if (b.length !== 3) throw new VdsError('VDS_WRONG_FORMAT', `a date is 3 bytes, not ${b.length}`);
  const s = String((b[0]! << 16) | (b[1]! << 8) | b[2]!).padStart(8, '0');
  const iso = `${s.slice(4)}-${s.slice(0, 2)}-${s.slice(2, 4)}`;
  if (!/^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/.test(iso)) throw new VdsError('VDS_WRONG_FORMAT', `date value ${s} is not MMDDYYYY`);
  return iso;
}

function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n >>>= 8;
  }
  return [0x80 | bytes.length, ...bytes];
}

function readDerLength(b: Uint8Array, off: number): { len: number; next: number } {
  const first = b[off];
  if (first === undefined) throw new VdsError('VDS_WRONG_FORMAT', 'length missing');
  if (first < 0x80) return { len: first, next: off + 1 };
  const n = first & 0x7f;
  if (n === 0 || n > 4) throw new VdsError('VDS_WRONG_FORMAT', `length field of ${n} bytes`);
  let len = 0;
  for (let i = 0; i < n; i++) {
    const v = b[off + 1 + i];
    if (v === undefined) throw new VdsError('VDS_WRONG_FORMAT', 'length truncated');
    len = len * 256 + v;
  }
  return { len, next: off + 1 + n };
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

/** Header || message zone (the bytes to sign). Version 4 unless `header.version` is 3. */
export function encodeVdsUnsigned(header: VdsHeader, features: readonly VdsFeature[]): Uint8Array {
  const out: number[] = [VDS_MAGIC, header.version === 3 ? VDS_VERSION_3 : VDS_VERSION_4];
  if (!/^[A-Z<]{3}$/.test(header.issuingCountry)) throw new VdsError('VDS_HEADER_INVALID', 'issuing country must be 3 letters or <');
  out.push(...encodeC40(header.issuingCountry));
  if (!/^[A-Z]{2}[A-Z0-9]{2}$/.test(header.signerIdentifier)) throw new VdsError('VDS_HEADER_INVALID', 'signer identifier must be a 2-letter country and 2 alphanumerics');
  const ref = header.certificateReference.toUpperCase();
  if (!/^[0-9A-F]+$/.test(ref)) throw new VdsError('VDS_HEADER_INVALID', 'certificate reference must be hex');
  let signer: string;
  if (header.version === 3) {
    if (ref.length > 5) throw new VdsError('VDS_HEADER_INVALID', 'a version 3 certificate reference has 5 hex characters');
    signer = header.signerIdentifier + ref.padStart(5, '0');
  } else {
    if (ref.length > 255) throw new VdsError('VDS_HEADER_INVALID', 'certificate reference too long');
    signer = header.signerIdentifier + ref.length.toString(16).toUpperCase().padStart(2, '0') + ref;
  }
  out.push(...encodeC40(signer));
  out.push(...encodeVdsDate(header.documentIssueDate), ...encodeVdsDate(header.signatureCreationDate));
  if (header.featureDefinitionReference < 1 || header.featureDefinitionReference > 254) throw new VdsError('VDS_HEADER_INVALID', 'feature definition reference must be 1..254');
  if (header.documentTypeCategory < 1 || header.documentTypeCategory > 254) throw new VdsError('VDS_HEADER_INVALID', 'document type category must be 1..254');
  out.push(header.featureDefinitionReference, header.documentTypeCategory);
  for (const f of features) {
    if (f.tag < 0 || f.tag > 254) throw new VdsError('VDS_FEATURE_INVALID', `feature tag ${f.tag} out of range 0..254`);
    if (header.version === 3 && f.value.length > 255) throw new VdsError('VDS_FEATURE_INVALID', 'version 3 features are at most 255 bytes');
    out.push(f.tag, ...(header.version === 3 ? [f.value.length] : derLength(f.value.length)), ...f.value);
  }
  return Uint8Array.from(out);
}

/** Appends the signature zone (0xFF, DER length, r || s). */
export function withSignature(unsigned: Uint8Array, rs: Uint8Array): Uint8Array {
  const head = [VDS_SIGNATURE_TAG, ...derLength(rs.length)];
  const out = new Uint8Array(unsigned.length + head.length + rs.length);
  out.set(unsigned);
  out.set(head, unsigned.length);
  out.set(rs, unsigned.length + head.length);
  return out;
}

/** DER ECDSA-Sig-Value to r || s with each integer left-padded to `len` bytes (9303-13 Appendix B). */
export function ecdsaDerToRaw(der: Uint8Array, len: number): Uint8Array {
  const seq = parseAsn1(der);
  const [r, s] = seq.children;
  if (!r || !s || seq.children.length !== 2) throw new VdsError('VDS_SIGNATURE_INVALID', 'ECDSA signature is not SEQUENCE { r, s }');
  const out = new Uint8Array(2 * len);
  for (const [i, n] of [r, s].entries()) {
    let c = n.content;
    while (c.length > 1 && c[0] === 0) c = c.subarray(1);
    if (c.length > len) throw new VdsError('VDS_SIGNATURE_INVALID', 'ECDSA integer longer than the key');
    out.set(c, i * len + (len - c.length));
  }
  return out;
}

/** Signs header || message zone with `signer` (ECDSA keys only) and returns the complete seal. */
export async function signVds(header: VdsHeader, features: readonly VdsFeature[], signer: Signer): Promise<Uint8Array> {
  if (signer.algorithm === 'rsa-pss-2048') throw new VdsError('VDS_ALGORITHM', 'visible digital seals use ECDSA (Doc 9303-13 §2.4)');
  const unsigned = encodeVdsUnsigned(header, features);
  const der = await signer.sign(unsigned);
  return withSignature(unsigned, ecdsaDerToRaw(der, 32));
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

/** Parses a seal (trailing bar code padding after the signature is ignored). Throws VdsError VDS_WRONG_FORMAT. */
export function decodeVds(bytes: Uint8Array): Vds {
  const bad = (msg: string): never => {
    throw new VdsError('VDS_WRONG_FORMAT', msg);
  };
  if (bytes[0] !== VDS_MAGIC) bad(`magic constant is 0x${(bytes[0] ?? 0).toString(16)}, not 0xDC`);
  const vb = bytes[1];
  if (vb !== VDS_VERSION_3 && vb !== VDS_VERSION_4) bad(`unknown header version byte 0x${(vb ?? 0).toString(16)}`);
  const version: 3 | 4 = vb === VDS_VERSION_3 ? 3 : 4;
  let off = 2;
  const take = (n: number): Uint8Array => {
    if (off + n > bytes.length) bad('seal truncated');
    const v = bytes.subarray(off, off + n);
    off += n;
    return v;
  };
  const issuingCountry = decodeC40(take(2), { filler: true });
  let signerIdentifier: string;
  let certificateReference: string;
  if (version === 3) {
    const s = decodeC40(take(6));
    signerIdentifier = s.slice(0, 4);
    certificateReference = s.slice(4);
  } else {
    // The first 6 characters (4 bytes) give the signer and the reference length in hex.
    const first = decodeC40(take(4));
    signerIdentifier = first.slice(0, 4);
    const n = Number.parseInt(first.slice(4, 6), 16);
    if (!Number.isInteger(n)) bad('certificate reference length is not hex');
    const refChars = n; // characters after the 6 already read
    const bytesNeeded = Math.ceil(refChars / 3) * 2; // C40 pairs (a 1-character tail is also 2 bytes)
    certificateReference = decodeC40(take(bytesNeeded)).slice(0, refChars);
  }
  const documentIssueDate = decodeVdsDate(take(3));
  const signatureCreationDate = decodeVdsDate(take(3));
  const [featureDefinitionReference, documentTypeCategory] = take(2);
  const header: VdsHeader = {
    version,
    issuingCountry,
    signerIdentifier,
    certificateReference,
    documentIssueDate,
    signatureCreationDate,
    featureDefinitionReference: featureDefinitionReference!,
    documentTypeCategory: documentTypeCategory!,
  };
  const features: VdsFeature[] = [];
  for (;;) {
    if (off >= bytes.length) bad('signature zone missing');
    const tagPos = off;
    const tag = bytes[off]!;
    off++;
    let len: number;
    if (version === 3) len = take(1)[0]!;
    else {
      const l = readDerLength(bytes, off);
      len = l.len;
      off = l.next;
    }
    if (tag === VDS_SIGNATURE_TAG) {
      const signedBytes = bytes.subarray(0, tagPos);
      const signature = take(len);
      return { header, features, signature, signedBytes, raw: bytes.subarray(0, off) };
    }
    features.push({ tag, value: take(len) });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Kadi national e-ID profile

export interface IdSealData {
  /** The three MRZ lines (TD1), exactly as printed and as in DG1. */
  mrz: readonly string[];
  nationalNumber: string;
  documentNumber: string;
  /** YYYY-MM-DD. */
  dateOfBirth: string;
  dateOfExpiry: string;
  /** As printed (national characters kept). */
  surname: string;
  givenNames: string;
}

/** The message zone features of Kadi's e-ID profile. */
export function idSealFeatures(d: IdSealData): VdsFeature[] {
  const t = KADI_ID_PROFILE.tags;
  const mrz = d.mrz.join('');
  if (mrz.length !== 90) throw new VdsError('VDS_FEATURE_INVALID', 'the seal takes a TD1 MRZ of 3 x 30 characters');
  return [
    { tag: t.mrz, value: encodeC40(mrz) },
    { tag: t.nationalNumber, value: encodeC40(d.nationalNumber) },
    { tag: t.documentNumber, value: encodeC40(d.documentNumber) },
    { tag: t.dateOfBirth, value: encodeVdsDate(d.dateOfBirth) },
    { tag: t.dateOfExpiry, value: encodeVdsDate(d.dateOfExpiry) },
    { tag: t.surname, value: Buffer.from(d.surname.normalize('NFC'), 'utf8') },
    { tag: t.givenNames, value: Buffer.from(d.givenNames.normalize('NFC'), 'utf8') },
  ];
}

/** Reads the profile's features back; unknown tags are listed in `unknownTags`. Throws VDS_WRONG_FORMAT. */
export function readIdSealFeatures(features: readonly VdsFeature[]): { data: IdSealData; unknownTags: number[] } {
  const t = KADI_ID_PROFILE.tags;
  const byTag = new Map<number, Uint8Array>();
  const unknownTags: number[] = [];
  const known = new Set<number>(Object.values(t));
  for (const f of features) {
    if (!known.has(f.tag)) unknownTags.push(f.tag);
    else if (byTag.has(f.tag)) throw new VdsError('VDS_WRONG_FORMAT', `feature 0x${f.tag.toString(16)} appears twice`);
    else byTag.set(f.tag, f.value);
  }
  const need = (tag: number, name: string): Uint8Array => {
    const v = byTag.get(tag);
    if (!v) throw new VdsError('VDS_WRONG_FORMAT', `mandatory feature ${name} (0x${tag.toString(16).padStart(2, '0')}) missing`);
    return v;
  };
  const mrz = decodeC40(need(t.mrz, 'MRZ'), { filler: true });
  if (mrz.length !== 90) throw new VdsError('VDS_WRONG_FORMAT', `MRZ feature has ${mrz.length} characters, not 90`);
  const utf8 = (v: Uint8Array): string => {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(v);
    } catch {
      throw new VdsError('VDS_WRONG_FORMAT', 'name feature is not UTF-8');
    }
  };
  return {
    data: {
      mrz: [mrz.slice(0, 30), mrz.slice(30, 60), mrz.slice(60, 90)],
      nationalNumber: decodeC40(need(t.nationalNumber, 'national number')),
      documentNumber: decodeC40(need(t.documentNumber, 'document number')),
      dateOfBirth: decodeVdsDate(need(t.dateOfBirth, 'date of birth')),
      dateOfExpiry: decodeVdsDate(need(t.dateOfExpiry, 'date of expiry')),
      surname: utf8(need(t.surname, 'surname')),
      givenNames: utf8(need(t.givenNames, 'given names')),
    },
    unknownTags,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Verification (Doc 9303-13 Appendix D validation policy)

export type SealSubIndication =
  | 'READ_ERROR'
  | 'WRONG_FORMAT'
  | 'UNKNOWN_FEATURE'
  | 'UNKNOWN_CERTIFICATE'
  | 'UNTRUSTED_CERTIFICATE'
  | 'INVALID_DOCUMENTTYPE'
  | 'EXPIRED_CERTIFICATE'
  | 'REVOKED_CERTIFICATE'
  | 'INVALID_SIGNATURE';

export interface SealVerification {
  status: 'VALID' | 'INVALID';
  /** Why INVALID (or UNKNOWN_FEATURE on a VALID seal). */
  subIndication?: SealSubIndication;
  /** Human-readable reason (no personal data). */
  reason?: string;
  signatureValid: boolean;
  chainValid: boolean;
  header?: VdsHeader;
  /** The e-ID profile data, when the seal uses Kadi's profile and parses. */
  data?: IdSealData;
  signer?: { subject: string; serial: string; notBefore: string; notAfter: string; sha256: string };
  csca?: { subject: string; serial: string };
  /** The seal as hex (what `kadi seal verify --data` takes). */
  hex?: string;
}

export interface VerifySealOptions {
  /** Trusted CSCA certificates (a {@link CscaStore} built once for many seals, or a plain array indexed per call). */
  cscas: CscaStore | readonly Certificate[];
  /** Candidate bar code signer certificates (the seal names one by signer identifier and serial). */
  signers: readonly Certificate[];
  /** CSCA CRLs for revocation. */
  crls?: readonly (Crl | Uint8Array)[];
  /** Time of verification (default now): the signer certificate must be valid then. */
  at?: Date;
  /**
   * Memo of the byte-only steps (src/pki {@link VerifyCache}), shared by the seals checked under the same trust
   * material: the signer certificate's signature under the CSCA, the CRL signatures, and the import of the signer's
   * public key, each keyed by the exact bytes. Still checked for every seal: the seal's signature, the revocation
   * look-up, the validity periods, extKeyUsage and document types. Default: none.
   */
  cache?: VerifyCache;
}

function nameAttr(cert: Certificate, short: string): string | undefined {
  for (const rdn of cert.subject.rdns) for (const a of rdn) if (a.shortName === short) return a.value;
  return undefined;
}

function normHex(h: string): string {
  return h.toUpperCase().replace(/^0+(?=.)/, '');
}

/** The certificate the header points to: C + CN = signer identifier, serial = certificate reference. */
export function findSealSigner(header: VdsHeader, certs: readonly Certificate[]): Certificate | undefined {
  const country = header.signerIdentifier.slice(0, 2);
  const cn = header.signerIdentifier.slice(2, 4);
  return certs.find((c) => nameAttr(c, 'C') === country && nameAttr(c, 'CN') === cn && normHex(c.serialHex) === normHex(header.certificateReference));
}

const EKU_OID = '2.5.29.37';

function hasVdsSignerEku(cert: Certificate): boolean {
  const ext = cert.extensions.find((e) => e.oid === EKU_OID);
  if (!ext) return false;
  const want = Buffer.from(derEncode.oid(OID_VDS_SIGNER));
  return parseAsn1(ext.value).children.some((c) => Buffer.from(c.raw).equals(want));
}

function hashFor(bits: number): string {
  if (bits <= 224) return 'sha224';
  if (bits <= 256) return 'sha256';
  if (bits <= 384) return 'sha384';
  return 'sha512';
}

/**
 * Checks r || s over the signed bytes with the certificate's EC key: imported once per certificate object (src/pki
 * `certificatePublicKey`), or once per SubjectPublicKeyInfo with a `cache`.
 */
export function verifyVdsSignature(vds: Vds, cert: Certificate, cache?: VerifyCache): boolean {
  const pub = cache ? cache.publicKey(cert) : certificatePublicKey(cert);
  if (pub.kind !== 'ec') return false;
  const len = pub.ecOrderLength ?? Math.ceil(pub.bits / 8);
  if (vds.signature.length !== 2 * len) return false;
  return cryptoVerify(hashFor(pub.bits), vds.signedBytes, { key: pub.key, dsaEncoding: 'ieee-p1363' }, vds.signature);
}

/** Applies the Doc 9303-13 Appendix D validation policy to a seal's bytes. Never throws for a bad seal. */
export function verifySeal(bytes: Uint8Array, opts: VerifySealOptions): SealVerification {
  const hex = Buffer.from(bytes).toString('hex').toUpperCase();
  const invalid = (subIndication: SealSubIndication, reason: string, extra: Partial<SealVerification> = {}): SealVerification => ({
    status: 'INVALID',
    subIndication,
    reason,
    signatureValid: false,
    chainValid: false,
    hex,
    ...extra,
  });
  let vds: Vds;
  try {
    vds = decodeVds(bytes);
  } catch (e) {
    return invalid('WRONG_FORMAT', (e as Error).message);
  }
  const header = vds.header;
  let data: IdSealData | undefined;
  let unknownTags: number[] = [];
  if (header.featureDefinitionReference === KADI_ID_PROFILE.featureDefinitionReference && header.documentTypeCategory === KADI_ID_PROFILE.documentTypeCategory) {
    try {
      ({ data, unknownTags } = readIdSealFeatures(vds.features));
    } catch (e) {
      return invalid('WRONG_FORMAT', (e as Error).message, { header });
    }
  } else {
    return invalid('WRONG_FORMAT', `unknown profile (feature definition ${header.featureDefinitionReference}, document type category ${header.documentTypeCategory})`, { header });
  }
  const base = { header, data };
  const cert = findSealSigner(header, opts.signers);
  if (!cert) return invalid('UNKNOWN_CERTIFICATE', `no bar code signer certificate for ${header.signerIdentifier} serial ${header.certificateReference}`, base);
  const signer = {
    subject: cert.subject.text,
    serial: cert.serialHex,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    sha256: cert.sha256Fingerprint,
  };
  const at = opts.at ?? new Date();
  const chain = verifyDsChain(cert, opts.cscas, { at, ...(opts.crls ? { crls: opts.crls } : {}), ...(opts.cache ? { cache: opts.cache } : {}) });
  const withSigner = { ...base, signer, ...(chain.csca ? { csca: { subject: chain.csca.subject.text, serial: chain.csca.serialHex } } : {}) };
  if (!chain.valid) {
    if (chain.reason === 'DS_REVOKED') return invalid('REVOKED_CERTIFICATE', chain.errors[0]?.message ?? 'revoked', withSigner);
    return invalid('UNTRUSTED_CERTIFICATE', chain.errors[0]?.message ?? 'not issued by a trusted CSCA', withSigner);
  }
  if (!hasVdsSignerEku(cert)) return invalid('UNTRUSTED_CERTIFICATE', 'the certificate is not a bar code signer certificate (extKeyUsage id-icao-vdsSigner missing)', withSigner);
  const types = documentTypesOf(cert);
  if (types && data) {
    const code = data.mrz[0]!.slice(0, 2).replace(/<+$/, '');
    if (!types.some((t) => code.startsWith(t))) return invalid('INVALID_DOCUMENTTYPE', `document type ${code} is not in the signer's document type list`, withSigner);
  }
  if (!isValidAt(cert, at)) return invalid('EXPIRED_CERTIFICATE', `signer certificate not valid at ${at.toISOString()}`, withSigner);
  const signedOn = new Date(`${header.signatureCreationDate}T12:00:00Z`);
  if (signedOn.getTime() < cert.notBefore.getTime() - 86_400_000 || signedOn.getTime() > cert.notAfter.getTime()) {
    return invalid('EXPIRED_CERTIFICATE', `signature date ${header.signatureCreationDate} is outside the signer certificate validity`, withSigner);
  }
  let sigOk = false;
  try {
    sigOk = verifyVdsSignature(vds, cert, opts.cache);
  } catch {
    sigOk = false;
  }
  if (!sigOk) return { ...invalid('INVALID_SIGNATURE', 'the seal signature does not verify with the signer certificate', withSigner), chainValid: true };
  return {
    status: 'VALID',
    ...(unknownTags.length ? { subIndication: 'UNKNOWN_FEATURE' as const, reason: `unknown feature tags ${unknownTags.join(', ')}` } : {}),
    signatureValid: true,
    chainValid: true,
    ...withSigner,
    hex,
  };
}

/** SHA-256 of a seal, hex (recorded in print jobs and the audit log instead of the seal). */
export function sealDigest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
