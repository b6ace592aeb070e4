/**
 * keys: the key custodian's domain. Key ceremony (CSCA + Document Signer in the HSM, ICAO 9303-12 profiles),
 * DS rotation, CRL issuance, key listing and CSCA export, and the DS signing policy (private key usage
 * period, CRL freshness) for EF.SOD signing. Private keys stay behind the KeyStore port (src/hsm); every key
 * creation and a summary of every key use goes to the audit log.
 */
export { KeysCode, KeysError } from './errors.ts';
export { type CeremonyDefinition, parseCeremonyDefinition } from './definition.ts';
export { type KeyStore, type KeyRecord, type CrlRecord, type KeyKind, type KeyStatus } from './store.ts';
export {
  type KeysDeps,
  type CeremonyOptions,
  type CeremonyResult,
  type RotateOptions,
  type IssueCrlOptions,
  type IssuedCrl,
  type KeyListing,
  ceremony,
  rotateDs,
  issueCrl,
  listKeys,
  exportCsca,
  currentCrl,
  certificatePem,
  crlPem,
  normaliseSerial,
} from './ceremony.ts';
export { type SigningDeps, type SignSodOptions, type DsSigningSession, type KeyUseSummary, checkDsPolicy, currentDsSigner } from './signing.ts';
