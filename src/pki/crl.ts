/**
 * X.509 certificate revocation lists (RFC 5280 §5.1), with the signed part kept as read.
 *
 * ```
 * CertificateList ::= SEQUENCE {
 *   tbsCertList          TBSCertList,
 *   signatureAlgorithm   AlgorithmIdentifier,
 *   signatureValue       BIT STRING }
 * TBSCertList ::= SEQUENCE {
 *   version                 Version OPTIONAL,               -- if present, MUST be v2
 *   signature               AlgorithmIdentifier,
 *   issuer                  Name,
 *   thisUpdate              Time,
 *   nextUpdate              Time OPTIONAL,
 *   revokedCertificates     SEQUENCE OF SEQUENCE {
 *        userCertificate         CertificateSerialNumber,
 *        revocationDate          Time,
 *        crlEntryExtensions      Extensions OPTIONAL } OPTIONAL,
 *   crlExtensions           [0] EXPLICIT Extensions OPTIONAL }
 * ```
 */
import { type AlgorithmIdentifier, parseAlgorithmIdentifier } from './algorithms.ts';
import { type Asn1, Tag, parseAsn1, readBitString, readIntegerBytes, readTime } from './der.ts';
import { PkiCode, PkiError } from './errors.ts';
import { type Name, parseName } from './name.ts';
import { serialToHex } from './certificate.ts';

export interface RevokedEntry {
  /** Serial number, normalized hex (see Certificate.serialHex). */
  serialHex: string;
  revocationDate: Date;
}

export interface Crl {
  raw: Uint8Array;
  /** tbsCertList as read: the bytes the CSCA signed. */
  tbsRaw: Uint8Array;
  issuer: Name;
  thisUpdate: Date;
  nextUpdate?: Date;
  revoked: RevokedEntry[];
  signatureAlgorithm: AlgorithmIdentifier;
  signatureValue: Uint8Array;
}

function bad(message: string, cause?: unknown): PkiError {
  return new PkiError(PkiCode.CRL_MALFORMED, message, cause === undefined ? {} : { cause });
}

/** Parses a DER CRL, or every X509 CRL block of PEM text. */
export function parseCrls(input: string | Uint8Array): Crl[] {
  if (typeof input !== 'string' && input[0] === 0x30) return [parseCrl(input)];
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('latin1');
  const re = /-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/g;
  const out = [...text.matchAll(re)].map((m) => parseCrl(Uint8Array.from(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'))));
  if (out.length === 0) throw new PkiError(PkiCode.PEM_MALFORMED, 'no X509 CRL block found');
  return out;
}

export function parseCrl(bytes: Uint8Array): Crl {
  try {
    return parseCrlNode(parseAsn1(bytes));
  } catch (e) {
    if (e instanceof PkiError && e.code === PkiCode.CRL_MALFORMED) throw e;
    throw bad(`not an X.509 CRL: ${(e as Error).message}`, e);
  }
}

function parseCrlNode(root: Asn1): Crl {
  const [tbs, sigAlg, sigVal] = root.children;
  if (!root.isUniversal(Tag.SEQUENCE) || !tbs || !sigAlg || !sigVal) throw bad('CertificateList must be SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue }');
  const f = tbs.children;
  let i = 0;
  if (f[0]?.isUniversal(Tag.INTEGER)) i++;
  i++; // signature (inner AlgorithmIdentifier)
  const issuerNode = f[i++];
  const thisUpdate = f[i++];
  if (!issuerNode || !thisUpdate) throw bad('tbsCertList is missing fields');
  let nextUpdate: Date | undefined;
  const n = f[i];
  if (n && (n.isUniversal(Tag.UTC_TIME) || n.isUniversal(Tag.GENERALIZED_TIME))) {
    nextUpdate = readTime(n);
    i++;
  }
  const revoked: RevokedEntry[] = [];
  const list = f[i];
  if (list?.isUniversal(Tag.SEQUENCE)) {
    for (const e of list.children) {
      const [serial, date] = e.children;
      if (!serial || !date) throw bad('revoked entry malformed');
      revoked.push({ serialHex: serialToHex(readIntegerBytes(serial)), revocationDate: readTime(date) });
    }
  }
  return {
    raw: root.raw,
    tbsRaw: tbs.raw,
    issuer: parseName(issuerNode),
    thisUpdate: readTime(thisUpdate),
    ...(nextUpdate ? { nextUpdate } : {}),
    revoked,
    signatureAlgorithm: parseAlgorithmIdentifier(sigAlg, PkiCode.CRL_MALFORMED),
    signatureValue: readBitString(sigVal).bytes,
  };
}
