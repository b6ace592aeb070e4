/**
 * pki: X.509 certificates and CRLs, CMS SignedData, and ICAO 9303 passive authentication (EF.SOD,
 * EF.CardSecurity) for documents made by anyone. Pure: no I/O; node:crypto does the cryptography.
 * Everything signed is parsed with its bytes kept as read, and hashed and verified as read.
 */
export { PkiCode, PkiError, type PkiIssue } from './errors.ts';
export { Asn1, parseAsn1, TagClass, Tag } from './der.ts';
export { Oid, type DigestName, oidName } from './oids.ts';
export { type NamedCurve, NAMED_CURVES, curveByName, curveByOid } from './curves.ts';
export { type Name, type NameAttribute, namesMatch, namesMatchStrict } from './name.ts';
export { type AlgorithmIdentifier, type PssParams, type SignatureScheme, signatureScheme, describeScheme } from './algorithms.ts';
export { type PublicKeyInfo, importPublicKey } from './keys.ts';
export { verifySignature } from './signature.ts';
export {
  type Certificate,
  type CertificateSummary,
  type Extension,
  type PemBlock,
  parseCertificate,
  parseCertificates,
  readPem,
  certificatePublicKey,
  summarizeCertificate,
  isValidAt,
} from './certificate.ts';
export { type Crl, type RevokedEntry, parseCrl, parseCrls } from './crl.ts';
export { type SignedData, type SignerInfo, type SignerIdentifier, type SignedAttribute, parseSignedData, signedAttrsForSignature } from './cms.ts';
export { type Sod, type LdsSecurityObject, type CardSecurity, type SecurityInfo, parseSod, parseLdsSecurityObject, parseCardSecurity } from './sod.ts';
export { CscaStore, type RejectedCertificate } from './store.ts';
export {
  type VerifyOptions,
  type PassiveAuthResult,
  type CardSecurityResult,
  type SignedObjectResult,
  type ChainResult,
  type ChainReason,
  type SignerMatch,
  verifySod,
  verifyCardSecurity,
  verifyDsChain,
  verifyCertificateSignature,
  verifyCrlSignature,
  findSignerCertificate,
  VerifyCache,
} from './verify.ts';

// ---- builders (issuing side): certificates, CRLs and EF.SOD signed through the Signer port
export {
  type KeyAlgorithm,
  type KeyAlgorithmInfo,
  type Signer,
  KEY_ALGORITHMS,
  isKeyAlgorithm,
  keyAlgorithmInfo,
  ecSpki,
  rsaSpki,
  ecdsaRawToDer,
  keyIdentifier,
  softwareSigner,
} from './signer.ts';
export {
  type NameSpec,
  type ExtensionSpec,
  type ContactSpec,
  type CertificateSpec,
  type PeriodSpec,
  type CscaCertificateInput,
  type DsCertificateInput,
  type PrivateKeyUsagePeriod,
  type KeyUsageName,
  OID_X509,
  MAX_DS_PKUP_MONTHS,
  encodeName,
  encodeExtension,
  ext,
  randomSerialNumber,
  signCertificate,
  buildCscaCertificate,
  buildDsCertificate,
  addMonths,
  privateKeyUsagePeriodOf,
  documentTypesOf,
} from './x509-build.ts';
export { type CrlInput, type RevocationSpec, buildCrl, crlNumberOf } from './crl-build.ts';
export { type SodBuilderOptions, type SignerIdentifierChoice, EF_SOD_TAG, SodBuilder, unwrapSod } from './sod-build.ts';
export { compareDer, enc as derEncode } from './der-writer.ts';
