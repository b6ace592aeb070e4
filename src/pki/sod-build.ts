/**
 * EF.SOD writer: CMS SignedData over an LDSSecurityObject, signed by a Document Signer, DER exactly
 * (ICAO 9303-10 §4.6.2, RFC 5652 §5). This is the per-card hot path of data preparation.
 *
 * ```
 * EF.SOD = 77 L ContentInfo                                    -- [APPLICATION 23]
 * ContentInfo ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
 * SignedData ::= SEQUENCE {
 *   version          3,                                        -- ICAO 9303-10: v3 (eContentType is not id-data)
 *   digestAlgorithms SET OF { sha256 },                        -- parameters absent (RFC 5754)
 *   encapContentInfo SEQUENCE { eContentType 2.23.136.1.1.1, eContent [0] EXPLICIT OCTET STRING (LDSSecurityObject) },
 *   certificates     [0] IMPLICIT SET OF Certificate,          -- the DS certificate
 *   signerInfos      SET OF SignerInfo }                       -- exactly one
 * SignerInfo ::= SEQUENCE {
 *   version            1,                                      -- sid = issuerAndSerialNumber (3 with subjectKeyIdentifier)
 *   sid                IssuerAndSerialNumber,                  -- SEQUENCE { issuer Name (as in the DS cert), serialNumber }
 *   digestAlgorithm    sha256,
 *   signedAttrs        [0] IMPLICIT SET OF Attribute,          -- DER order: contentType, signingTime, messageDigest
 *   signatureAlgorithm ecdsa-with-SHA256 | id-RSASSA-PSS(sha256, mgf1-sha256, 32),
 *   signature          OCTET STRING }
 * Attribute ::= SEQUENCE { attrType OID, attrValues SET OF value }
 *   contentType   1.2.840.113549.1.9.3 { 2.23.136.1.1.1 }
 *   signingTime   1.2.840.113549.1.9.5 { UTCTime }             -- GeneralizedTime from 2050 (RFC 5652 §11.3)
 *   messageDigest 1.2.840.113549.1.9.4 { OCTET STRING sha256(eContent) }
 * The signature is computed over the DER of signedAttrs with the SET OF tag 0x31 (RFC 5652 §5.4).
 * ```
 *
 * Signed attribute order. DER sorts SET OF elements by their encodings. All three attributes start with 30 and
 * a one-octet length: contentType is 0x17 octets long (30 15 ...), signingTime 0x1e or 0x20 (UTCTime or
 * GeneralizedTime), messageDigest 0x25..0x51 (SHA-1..SHA-512); so the order is always contentType, signingTime,
 * messageDigest, and the writer uses it directly (sod-build.test.ts checks it against a generic sort).
 *
 * How it is fast. Everything that depends only on the DS certificate (the certificates field, the
 * IssuerAndSerialNumber, the algorithm identifiers, the constant signed attribute headers) is encoded once per
 * {@link SodBuilder}. Per document: one hash of the eContent, a 104-octet signed-attribute buffer (the signature
 * input, which must exist before the signature does), the signature, then every length is computed from the
 * sizes of the parts and the EF.SOD is written front to back into one exactly sized output buffer.
 */
import { createHash, hash } from 'node:crypto';
import { parseCertificate } from './certificate.ts';
import { encodeOidContent } from './der.ts';
import { enc, lengthSize, tlv, tlvSize, writeLength } from './der-writer.ts';
import { PkiCode, PkiError } from './errors.ts';
import { type DigestName, Oid } from './oids.ts';
import { type Signer, keyAlgorithmInfo } from './signer.ts';
import { bytesEqual } from '../shared/index.ts';

/** Tag of EF.SOD ([APPLICATION 23], constructed). */
export const EF_SOD_TAG = 0x77;

export type SignerIdentifierChoice = 'issuerAndSerialNumber' | 'subjectKeyIdentifier';

export interface SodBuilderOptions {
  /** eContentType; default id-icao-mrtd-security-ldsSecurityObject (2.23.136.1.1.1). */
  eContentType?: string;
  /**
   * How the SignerInfo names the DS: `issuerAndSerialNumber` (SignerInfo v1, the default; ICAO 9303-10
   * recommends it and every inspection system supports it) or `subjectKeyIdentifier` (v3).
   */
  signerIdentifier?: SignerIdentifierChoice;
  /** Wrap the ContentInfo in the EF.SOD tag 0x77 (default true; false gives a plain CMS ContentInfo). */
  wrap?: boolean;
}

const OID_SIGNED_DATA = tlv(0x06, encodeOidContent(Oid.signedData));

function attributeHeader(oid: string, valueLength: number): Uint8Array {
  // 30 L { 06 oid, 31 L { value } } up to the first octet of the value
  const oidTlv = tlv(0x06, encodeOidContent(oid));
  const setContent = valueLength;
  const seqContent = oidTlv.length + tlvSize(setContent);
  const out = new Uint8Array(1 + lengthSize(seqContent) + oidTlv.length + 1 + lengthSize(setContent));
  let o = 0;
  out[o++] = 0x30;
  o = writeLength(out, o, seqContent);
  out.set(oidTlv, o);
  o += oidTlv.length;
  out[o++] = 0x31;
  writeLength(out, o, setContent);
  return out;
}

function two(n: number): string {
  return n < 10 ? '0' + n : String(n);
}

/**
 * Builds EF.SOD files for one Document Signer. Create one per DS certificate (the constant parts are encoded in
 * the constructor) and call {@link sign} per document. Safe for concurrent calls.
 */
export class SodBuilder {
  readonly digest: DigestName;
  readonly algorithm: Signer['algorithm'];
  private readonly wrap: boolean;
  private readonly digestLen: number;
  private readonly digestAlgs: Uint8Array;
  private readonly eTypeOid: Uint8Array;
  private readonly certsField: Uint8Array;
  private readonly siFixed: Uint8Array;
  private readonly sigAlg: Uint8Array;
  private readonly attrContentType: Uint8Array;
  private readonly attrTimeHeadUtc: Uint8Array;
  private readonly attrDigestHead: Uint8Array;
  private readonly attrsLenUtc: number;
  private cachedSecond = -1;
  private cachedTime = new Uint8Array(13);

  constructor(
    dsCertificate: Uint8Array,
    private readonly signer: Signer,
    opts: SodBuilderOptions = {},
  ) {
    const cert = parseCertificate(dsCertificate);
    if (!bytesEqual(cert.spkiRaw, signer.publicKeySpki)) {
      throw new PkiError(PkiCode.KEY_UNSUPPORTED, `the signer's public key is not the one in DS certificate ${cert.serialHex}`);
    }
    const info = keyAlgorithmInfo(signer.algorithm);
    this.algorithm = signer.algorithm;
    this.digest = info.hash;
    this.digestLen = createHash(info.hash).digest().length;
    this.wrap = opts.wrap ?? true;
    this.digestAlgs = enc.set(info.digestAlgorithmDer);
    const eType = opts.eContentType ?? Oid.ldsSecurityObject;
    this.eTypeOid = enc.oid(eType);
    this.certsField = tlv(0xa0, cert.raw);
    const sidChoice = opts.signerIdentifier ?? 'issuerAndSerialNumber';
    let sid: Uint8Array;
    let version: number;
    if (sidChoice === 'subjectKeyIdentifier') {
      if (!cert.subjectKeyIdentifier) throw new PkiError(PkiCode.CERT_MALFORMED, 'DS certificate has no subjectKeyIdentifier');
      sid = tlv(0x80, cert.subjectKeyIdentifier);
      version = 3;
    } else {
      sid = enc.sequence(cert.issuer.raw, tlv(0x02, cert.serialNumber));
      version = 1;
    }
    this.siFixed = Uint8Array.from([...enc.integer(version), ...sid, ...info.digestAlgorithmDer]);
    this.sigAlg = info.signatureAlgorithmDer;
    this.attrContentType = enc.sequence(enc.oid(Oid.contentType), enc.set(this.eTypeOid));
    this.attrTimeHeadUtc = Uint8Array.from([...attributeHeader(Oid.signingTime, 15), 0x17, 13]);
    this.attrDigestHead = Uint8Array.from([...attributeHeader(Oid.messageDigest, 2 + this.digestLen), 0x04, this.digestLen]);
    this.attrsLenUtc = this.attrContentType.length + this.attrTimeHeadUtc.length + 13 + this.attrDigestHead.length + this.digestLen;
  }

  /** The DER signed attributes (tagged SET OF, 0x31) for `eContentDigest` at `signingTime`. */
  signedAttributes(eContentDigest: Uint8Array, signingTime: Date): Uint8Array {
    if (eContentDigest.length !== this.digestLen) throw new RangeError(`digest of ${eContentDigest.length} octets, expected ${this.digestLen}`);
    const year = signingTime.getUTCFullYear();
    if (year < 1950) throw new RangeError('signingTime before 1950');
    if (year >= 2050) {
      // RFC 5652 §11.3: GeneralizedTime from 2050 (not the hot path).
      return enc.set(
        this.attrContentType,
        enc.sequence(enc.oid(Oid.signingTime), enc.set(enc.generalizedTime(signingTime))),
        enc.sequence(enc.oid(Oid.messageDigest), enc.set(enc.octetString(eContentDigest))),
      );
    }
    const len = this.attrsLenUtc;
    const out = new Uint8Array(tlvSize(len));
    out[0] = 0x31;
    let o = writeLength(out, 1, len);
    out.set(this.attrContentType, o);
    o += this.attrContentType.length;
    out.set(this.attrTimeHeadUtc, o);
    o += this.attrTimeHeadUtc.length;
    out.set(this.utcTime(signingTime), o);
    o += 13;
    out.set(this.attrDigestHead, o);
    o += this.attrDigestHead.length;
    out.set(eContentDigest, o);
    return out;
  }

  private utcTime(d: Date): Uint8Array {
    const sec = Math.floor(d.getTime() / 1000);
    if (sec !== this.cachedSecond) {
      const s = two(d.getUTCFullYear() % 100) + two(d.getUTCMonth() + 1) + two(d.getUTCDate()) + two(d.getUTCHours()) + two(d.getUTCMinutes()) + two(d.getUTCSeconds()) + 'Z';
      const b = new Uint8Array(13);
      for (let i = 0; i < 13; i++) b[i] = s.charCodeAt(i);
      this.cachedTime = b;
      this.cachedSecond = sec;
    }
    return this.cachedTime;
  }

  /** Signs `eContent` (the DER LDSSecurityObject) and returns the EF.SOD (or ContentInfo when `wrap` is false). */
  async sign(eContent: Uint8Array, signingTime: Date): Promise<Uint8Array> {
    const digest = hash(this.digest, eContent, 'buffer');
    const attrs = this.signedAttributes(digest, signingTime);
    const signature = await this.signer.sign(attrs);
    return this.assemble(eContent, attrs, signature);
  }

  /** Writes the EF.SOD from its variable parts into one buffer. `attrs` is the 0x31-tagged signature input. */
  assemble(eContent: Uint8Array, attrs: Uint8Array, signature: Uint8Array): Uint8Array {
    const eOct = tlvSize(eContent.length);
    const eExp = tlvSize(eOct);
    const encapContent = this.eTypeOid.length + eExp;
    const encap = tlvSize(encapContent);
    const siContent = this.siFixed.length + attrs.length + this.sigAlg.length + tlvSize(signature.length);
    const siSeq = tlvSize(siContent);
    const sdContent = 3 + this.digestAlgs.length + encap + this.certsField.length + tlvSize(siSeq);
    const sdSeq = tlvSize(sdContent);
    const ciContent = OID_SIGNED_DATA.length + tlvSize(sdSeq);
    const ci = tlvSize(ciContent);
    const total = this.wrap ? tlvSize(ci) : ci;

    const out = new Uint8Array(total);
    let o = 0;
    if (this.wrap) {
      out[o++] = EF_SOD_TAG;
      o = writeLength(out, o, ci);
    }
    out[o++] = 0x30;
    o = writeLength(out, o, ciContent);
    out.set(OID_SIGNED_DATA, o);
    o += OID_SIGNED_DATA.length;
    out[o++] = 0xa0;
    o = writeLength(out, o, sdSeq);
    out[o++] = 0x30;
    o = writeLength(out, o, sdContent);
    out[o++] = 0x02;
    out[o++] = 0x01;
    out[o++] = 0x03;
    out.set(this.digestAlgs, o);
    o += this.digestAlgs.length;
    out[o++] = 0x30;
    o = writeLength(out, o, encapContent);
    out.set(this.eTypeOid, o);
    o += this.eTypeOid.length;
    out[o++] = 0xa0;
    o = writeLength(out, o, eOct);
    out[o++] = 0x04;
    o = writeLength(out, o, eContent.length);
    out.set(eContent, o);
    o += eContent.length;
    out.set(this.certsField, o);
    o += this.certsField.length;
    out[o++] = 0x31;
    o = writeLength(out, o, siSeq);
    out[o++] = 0x30;
    o = writeLength(out, o, siContent);
    out.set(this.siFixed, o);
    o += this.siFixed.length;
    out.set(attrs, o);
    out[o] = 0xa0; // [0] IMPLICIT in the SignerInfo; 0x31 in the signature input
    o += attrs.length;
    out.set(this.sigAlg, o);
    o += this.sigAlg.length;
    out[o++] = 0x04;
    o = writeLength(out, o, signature.length);
    out.set(signature, o);
    o += signature.length;
    if (o !== total) throw new PkiError(PkiCode.SOD_MALFORMED, `EF.SOD writer size mismatch (${o} != ${total})`);
    return out;
  }
}

/** The CMS ContentInfo inside an EF.SOD (strips the 0x77 wrapper; returns the input if it has none). */
export function unwrapSod(sod: Uint8Array): Uint8Array {
  if (sod[0] !== EF_SOD_TAG) return sod;
  const l0 = sod[1]!;
  if (l0 < 0x80) return sod.subarray(2, 2 + l0);
  const n = l0 & 0x7f;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + sod[2 + i]!;
  return sod.subarray(2 + n, 2 + n + len);
}
