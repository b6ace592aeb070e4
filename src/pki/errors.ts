import { KadiError, type KadiErrorOptions } from '../shared/index.ts';

/**
 * Stable codes of the pki module. Parse failures are thrown as {@link PkiError}; verification outcomes are
 * reported as {@link PkiIssue} entries in a result (verification never throws for a bad signature).
 *
 * None of these is retryable: the same bytes give the same answer.
 */
export const PkiCode = {
  /** BER/DER that cannot be read (bad length, truncated, nesting too deep). */
  ASN1_MALFORMED: 'ASN1_MALFORMED',
  /** EF.SOD / CMS structure is not a SignedData as ICAO 9303-10 and RFC 5652 describe it. */
  SOD_MALFORMED: 'SOD_MALFORMED',
  /** The SignedData's eContentType is not the one expected (e.g. not id-icao-mrtd-security-ldsSecurityObject). */
  SOD_CONTENT_TYPE: 'SOD_CONTENT_TYPE',
  /** Not an X.509 certificate, or a certificate field cannot be read. */
  CERT_MALFORMED: 'CERT_MALFORMED',
  /** Not an X.509 CRL, or a CRL field cannot be read. */
  CRL_MALFORMED: 'CRL_MALFORMED',
  /** PEM text without the expected BEGIN/END blocks, or bad base64. */
  PEM_MALFORMED: 'PEM_MALFORMED',
  /** A signature or digest algorithm this verifier does not implement. */
  ALGORITHM_UNSUPPORTED: 'ALGORITHM_UNSUPPORTED',
  /** A public key that cannot be imported (unknown explicit curve, implicitCA, unknown key type). */
  KEY_UNSUPPORTED: 'KEY_UNSUPPORTED',

  // ---- verification outcomes (PkiIssue codes) ----
  /** signedAttrs messageDigest differs from the hash of eContent as read. */
  SOD_DIGEST_MISMATCH: 'SOD_DIGEST_MISMATCH',
  /** The signature over the signed attributes does not verify with the Document Signer key. */
  SOD_SIGNATURE_INVALID: 'SOD_SIGNATURE_INVALID',
  /** signedAttrs contentType differs from eContentType, or a mandatory signed attribute is missing. */
  SOD_SIGNED_ATTRS_INVALID: 'SOD_SIGNED_ATTRS_INVALID',
  /** No certificate matching the SignerInfo's sid (and no fallback). */
  SIGNER_NOT_FOUND: 'SIGNER_NOT_FOUND',
  /** The signer certificate was found only by falling back to the single embedded certificate. */
  SIGNER_ID_MISMATCH: 'SIGNER_ID_MISMATCH',
  /** No CSCA in the trust store has the DS certificate's issuer name or authority key identifier. */
  CSCA_NOT_FOUND: 'CSCA_NOT_FOUND',
  /** CSCA candidates exist but none of their keys verifies the DS certificate's signature. */
  DS_SIGNATURE_INVALID: 'DS_SIGNATURE_INVALID',
  /** The (self-issued) CSCA certificate's own signature does not verify. */
  CSCA_SIGNATURE_INVALID: 'CSCA_SIGNATURE_INVALID',
  /** The CSCA that issued the DS is not self-issued (a link certificate); trusted because it is in the store. */
  CSCA_LINK_CERTIFICATE: 'CSCA_LINK_CERTIFICATE',
  /** A CRL issued (and validly signed) by the CSCA lists the DS certificate's serial number. */
  DS_REVOKED: 'DS_REVOKED',
  /** A CRL for the CSCA whose signature does not verify with the CSCA key; it is ignored. */
  CRL_SIGNATURE_INVALID: 'CRL_SIGNATURE_INVALID',
  /** CRLs were given but none was issued by the CSCA that issued the DS. */
  CRL_NOT_FOUND: 'CRL_NOT_FOUND',
  /** The applicable CRL's nextUpdate is before the check time. */
  CRL_OUTDATED: 'CRL_OUTDATED',
  DS_EXPIRED: 'DS_EXPIRED',
  DS_NOT_YET_VALID: 'DS_NOT_YET_VALID',
  CSCA_EXPIRED: 'CSCA_EXPIRED',
  CSCA_NOT_YET_VALID: 'CSCA_NOT_YET_VALID',
  /** A data group's hash differs from the one in the LDS security object. */
  DG_HASH_MISMATCH: 'DG_HASH_MISMATCH',
  /** A data group was given whose number the LDS security object does not list. */
  DG_NOT_IN_SOD: 'DG_NOT_IN_SOD',
} as const;
export type PkiCode = (typeof PkiCode)[keyof typeof PkiCode];

/** A parse or key failure in the pki module (never retryable). */
export class PkiError extends KadiError {
  constructor(code: PkiCode, message: string, opts: KadiErrorOptions = {}) {
    super(code, message, { ...opts, retryable: false });
  }
}

/** One finding of a verification: a failure (in `errors`) or a notice that does not fail it (in `warnings`). */
export interface PkiIssue {
  code: PkiCode;
  message: string;
}
