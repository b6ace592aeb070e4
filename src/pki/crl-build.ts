/**
 * CRL builder for the CSCA (ICAO 9303-12 §7.1.3 "CRL profile", RFC 5280 §5).
 *
 * ```
 * CertificateList ::= SEQUENCE { tbsCertList TBSCertList, signatureAlgorithm AlgorithmIdentifier, signatureValue BIT STRING }
 * TBSCertList ::= SEQUENCE {
 *   version              Version (v2 = 1),
 *   signature            AlgorithmIdentifier,
 *   issuer               Name,                        -- the CSCA certificate's subject, exactly as encoded there
 *   thisUpdate           Time,
 *   nextUpdate           Time,                        -- m in ICAO 9303-12
 *   revokedCertificates  SEQUENCE OF SEQUENCE { userCertificate INTEGER, revocationDate Time } OPTIONAL,  -- omitted when empty
 *   crlExtensions    [0] EXPLICIT Extensions }        -- authorityKeyIdentifier (m), cRLNumber (m); nothing else
 * CRLNumber ::= INTEGER (0..MAX)                      -- 2.5.29.20, non-critical
 * ```
 * ICAO 9303-12: a CSCA issues a CRL at least every 90 days, even when nothing is revoked; no CRL entry
 * extensions, no delta CRLs.
 */
import { type Certificate, parseCertificate } from './certificate.ts';
import { parseAsn1, readBigInt, readOctets, readOid } from './der.ts';
import { enc, unsignedIntegerContent, tlv } from './der-writer.ts';
import { PkiCode, PkiError } from './errors.ts';
import { type Signer, keyAlgorithmInfo } from './signer.ts';
import { OID_X509, encodeExtension, ext } from './x509-build.ts';
import { fromHex } from '../shared/index.ts';

export interface RevocationSpec {
  /** Serial number: big-endian magnitude octets, or hex (as Certificate.serialHex prints it). */
  serial: Uint8Array | string;
  revocationDate: Date;
}

export interface CrlInput {
  /** The issuing CSCA certificate (its subject and subjectKeyIdentifier are copied into the CRL). */
  issuer: Certificate | Uint8Array;
  crlNumber: number | bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  revoked?: readonly RevocationSpec[];
}

/** Builds and signs a v2 CRL with the CSCA key behind `signer`. Returns the CRL DER. */
export async function buildCrl(input: CrlInput, signer: Signer): Promise<Uint8Array> {
  const csca = input.issuer instanceof Uint8Array ? parseCertificate(input.issuer) : input.issuer;
  if (!csca.subjectKeyIdentifier) throw new PkiError(PkiCode.CRL_MALFORMED, 'CSCA certificate has no subjectKeyIdentifier');
  if (input.nextUpdate.getTime() <= input.thisUpdate.getTime()) throw new PkiError(PkiCode.CRL_MALFORMED, 'nextUpdate must be after thisUpdate');
  const sigAlg = keyAlgorithmInfo(signer.algorithm).signatureAlgorithmDer;
  const revoked = (input.revoked ?? []).map((r) => {
    const mag = typeof r.serial === 'string' ? fromHex(r.serial.length % 2 ? '0' + r.serial : r.serial) : r.serial;
    return enc.sequence(tlv(0x02, unsignedIntegerContent(mag)), enc.time(r.revocationDate));
  });
  const fields: Uint8Array[] = [
    enc.integer(1),
    sigAlg,
    csca.subject.raw,
    enc.time(input.thisUpdate),
    enc.time(input.nextUpdate),
  ];
  if (revoked.length > 0) fields.push(enc.sequence(...revoked));
  fields.push(
    enc.explicit(
      0,
      enc.sequence(
        encodeExtension(ext.authorityKeyIdentifier(csca.subjectKeyIdentifier)),
        encodeExtension({ oid: OID_X509.cRLNumber, critical: false, value: enc.integer(input.crlNumber) }),
      ),
    ),
  );
  const tbs = enc.sequence(...fields);
  const sig = await signer.sign(tbs);
  return enc.sequence(tbs, sigAlg, enc.bitString(sig));
}

/** The cRLNumber extension of a CRL (undefined if absent). */
export function crlNumberOf(crlDer: Uint8Array): bigint | undefined {
  const tbs = parseAsn1(crlDer).children[0];
  const extsWrap = tbs?.children.find((c) => c.isContext(0));
  for (const e of extsWrap?.children[0]?.children ?? []) {
    const [id, ...rest] = e.children;
    if (!id || readOid(id) !== OID_X509.cRLNumber) continue;
    const value = rest[rest.length - 1];
    return value ? readBigInt(parseAsn1(readOctets(value))) : undefined;
  }
  return undefined;
}
