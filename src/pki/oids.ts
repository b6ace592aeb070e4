/** Object identifiers used by X.509, CMS and ICAO 9303 passive authentication. */
export const Oid = {
  // CMS (RFC 5652)
  signedData: '1.2.840.113549.1.7.2',
  data: '1.2.840.113549.1.7.1',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  cmsAlgorithmProtection: '1.2.840.113549.1.9.52',
  // ICAO 9303-10 / BSI TR-03110
  ldsSecurityObject: '2.23.136.1.1.1',
  /** id-SecurityObject (EF.CardSecurity / EF.ChipSecurity content, BSI TR-03110-3). */
  securityObject: '0.4.0.127.0.7.3.2.1',
  // digests
  sha1: '1.3.14.3.2.26',
  sha224: '2.16.840.1.101.3.4.2.4',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  // RSA (RFC 8017)
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha1WithRSAEncryption: '1.2.840.113549.1.1.5',
  sha224WithRSAEncryption: '1.2.840.113549.1.1.14',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  sha384WithRSAEncryption: '1.2.840.113549.1.1.12',
  sha512WithRSAEncryption: '1.2.840.113549.1.1.13',
  rsassaPss: '1.2.840.113549.1.1.10',
  mgf1: '1.2.840.113549.1.1.8',
  // ECDSA (RFC 5480, RFC 5758) and the BSI TR-03111 plain (r||s) variants
  ecPublicKey: '1.2.840.10045.2.1',
  primeField: '1.2.840.10045.1.1',
  ecdsaWithSHA1: '1.2.840.10045.4.1',
  ecdsaWithSHA224: '1.2.840.10045.4.3.1',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  ecdsaWithSHA384: '1.2.840.10045.4.3.3',
  ecdsaWithSHA512: '1.2.840.10045.4.3.4',
  ecdsaPlainSHA1: '0.4.0.127.0.7.1.1.4.1.1',
  ecdsaPlainSHA224: '0.4.0.127.0.7.1.1.4.1.2',
  ecdsaPlainSHA256: '0.4.0.127.0.7.1.1.4.1.3',
  ecdsaPlainSHA384: '0.4.0.127.0.7.1.1.4.1.4',
  ecdsaPlainSHA512: '0.4.0.127.0.7.1.1.4.1.5',
  // X.509 extensions (RFC 5280)
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
} as const;

/** Short names of digest algorithms, as node:crypto spells them. */
export type DigestName = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

export const DIGEST_BY_OID: Readonly<Record<string, DigestName>> = {
  [Oid.sha1]: 'sha1',
  [Oid.sha224]: 'sha224',
  [Oid.sha256]: 'sha256',
  [Oid.sha384]: 'sha384',
  [Oid.sha512]: 'sha512',
};

export const DIGEST_LENGTH: Readonly<Record<DigestName, number>> = {
  sha1: 20,
  sha224: 28,
  sha256: 32,
  sha384: 48,
  sha512: 64,
};

/** Names for OIDs in reports (OpenSSL's long names where it has one). */
export const OID_NAMES: Readonly<Record<string, string>> = {
  [Oid.signedData]: 'pkcs7-signedData',
  [Oid.ldsSecurityObject]: 'id-icao-mrtd-security-ldsSecurityObject',
  [Oid.securityObject]: 'id-SecurityObject',
  [Oid.sha1]: 'sha1',
  [Oid.sha224]: 'sha224',
  [Oid.sha256]: 'sha256',
  [Oid.sha384]: 'sha384',
  [Oid.sha512]: 'sha512',
  [Oid.rsaEncryption]: 'rsaEncryption',
  [Oid.sha1WithRSAEncryption]: 'sha1WithRSAEncryption',
  [Oid.sha224WithRSAEncryption]: 'sha224WithRSAEncryption',
  [Oid.sha256WithRSAEncryption]: 'sha256WithRSAEncryption',
  [Oid.sha384WithRSAEncryption]: 'sha384WithRSAEncryption',
  [Oid.sha512WithRSAEncryption]: 'sha512WithRSAEncryption',
  [Oid.rsassaPss]: 'rsassaPss',
  [Oid.ecPublicKey]: 'id-ecPublicKey',
  [Oid.ecdsaWithSHA1]: 'ecdsa-with-SHA1',
  [Oid.ecdsaWithSHA224]: 'ecdsa-with-SHA224',
  [Oid.ecdsaWithSHA256]: 'ecdsa-with-SHA256',
  [Oid.ecdsaWithSHA384]: 'ecdsa-with-SHA384',
  [Oid.ecdsaWithSHA512]: 'ecdsa-with-SHA512',
  [Oid.ecdsaPlainSHA1]: 'ecdsa-plain-SHA1',
  [Oid.ecdsaPlainSHA224]: 'ecdsa-plain-SHA224',
  [Oid.ecdsaPlainSHA256]: 'ecdsa-plain-SHA256',
  [Oid.ecdsaPlainSHA384]: 'ecdsa-plain-SHA384',
  [Oid.ecdsaPlainSHA512]: 'ecdsa-plain-SHA512',
};

export function oidName(oid: string): string {
  return OID_NAMES[oid] ?? oid;
}
