/**
 * ICAO 9303-11 §5.1 passive authentication, for documents made by anyone.
 *
 * 1. CMS signature (RFC 5652 §5.4, §5.6): the signedAttrs contentType equals eContentType; messageDigest equals
 *    the hash of eContent *as read*; the signature verifies over the signedAttrs as read, re-tagged as SET OF
 *    (0xA0 -> 0x31), with the Document Signer (DS) certificate's key.
 * 2. DS certificate: found through the SignerInfo's sid among the certificates embedded in the SignedData:
 *    by subjectKeyIdentifier, or by issuerAndSerialNumber with an order-insensitive issuer name match (the MY
 *    quirk), or, when nothing matches and exactly one certificate is embedded, that one (warning
 *    SIGNER_ID_MISMATCH). The signature check in step 1 is what binds the certificate, not the sid.
 * 3. Chain: CSCA candidates from the trust store by issuer name and/or authorityKeyIdentifier; each is tried
 *    until one's key verifies the DS certificate's signature over tbsCertificate as read. A self-issued CSCA
 *    must verify its own signature (a link certificate in the store is trusted as an anchor as it is).
 *    With CRLs: every CRL whose issuer matches the CSCA must be signed by the CSCA key (else it is ignored with a
 *    CRL_SIGNATURE_INVALID warning); a listed DS serial number fails the chain with DS_REVOKED.
 * 4. Validity periods are checked at `at`: the option if given, otherwise the SOD's signingTime if it has one,
 *    otherwise the current time. Outside the period gives a warning (DS_EXPIRED, CSCA_EXPIRED, ...) and does not
 *    fail the chain, unless `strictValidity` is set: a passport is normally valid longer than its DS key is used,
 *    and an expired DS certificate does not make a genuine document's signature false.
 * 5. Data groups (when given): their hash with the LDS hash algorithm must equal the LDSSecurityObject's.
 */
import { createHash } from 'node:crypto';
import { describeScheme, digestOf, signatureScheme } from './algorithms.ts';
import { type Certificate, type CertificateSummary, certificatePublicKey, isValidAt, summarizeCertificate } from './certificate.ts';
import { type PublicKeyInfo, importPublicKey } from './keys.ts';
import { type SignedData, type SignerInfo, signedAttrsForSignature } from './cms.ts';
import { type Crl, parseCrl } from './crl.ts';
import { PkiCode, PkiError, type PkiIssue } from './errors.ts';
import { namesMatch, namesMatchStrict } from './name.ts';
import { type DigestName, oidName } from './oids.ts';
import { verifySignature } from './signature.ts';
import { type CardSecurity, type Sod, parseCardSecurity, parseSod } from './sod.ts';
import { CscaStore } from './store.ts';
import { bytesEqual, toHex } from '../shared/index.ts';

export interface VerifyOptions {
  /** Trust anchors. Build a {@link CscaStore} once for a large bundle; a plain array is indexed per call. */
  cscas: CscaStore | readonly Certificate[];
  /** CRLs (parsed or DER). Only those issued by the DS's CSCA are used. Default: none (no revocation check). */
  crls?: readonly (Crl | Uint8Array)[];
  /** Data group bytes (the whole EF, tag included) by data group number, to compare with the SOD's hashes. */
  dataGroups?: ReadonlyMap<number, Uint8Array>;
  /** Time at which certificate validity is checked. Default: the SOD's signingTime, else now. */
  at?: Date;
  /** Fail the chain (not just warn) when the DS or CSCA is outside its validity period at `at`. Default false. */
  strictValidity?: boolean;
  /** DS certificate to use if the SignedData embeds none that matches the signer. */
  dsCertificate?: Certificate;
  /** Memo of the byte-only steps, shared by many verifications (see {@link VerifyCache}). Default: none. */
  cache?: VerifyCache;
}

export type SignerMatch = 'subjectKeyIdentifier' | 'issuerAndSerialNumber' | 'issuerAndSerialNumberReordered' | 'onlyCertificate';

export type ChainReason =
  | typeof PkiCode.SIGNER_NOT_FOUND
  | typeof PkiCode.CSCA_NOT_FOUND
  | typeof PkiCode.DS_SIGNATURE_INVALID
  | typeof PkiCode.CSCA_SIGNATURE_INVALID
  | typeof PkiCode.DS_REVOKED
  | typeof PkiCode.DS_EXPIRED
  | typeof PkiCode.DS_NOT_YET_VALID
  | typeof PkiCode.CSCA_EXPIRED
  | typeof PkiCode.CSCA_NOT_YET_VALID
  | typeof PkiCode.KEY_UNSUPPORTED
  | typeof PkiCode.ALGORITHM_UNSUPPORTED;

export interface ChainResult {
  valid: boolean;
  reason?: ChainReason;
  /** The CSCA whose key verified the DS certificate. */
  csca?: Certificate;
  /** The CSCA is self-issued and its self-signature verified (false for a link certificate). */
  cscaSelfSigned?: boolean;
  /** How many trust-store certificates matched the DS issuer name / AKI. */
  candidates: number;
  /** A CRL from the CSCA, validly signed, was consulted. */
  crlChecked: boolean;
  dsValidAt: boolean;
  cscaValidAt?: boolean;
  errors: PkiIssue[];
  warnings: PkiIssue[];
}

/** Result of verifying a CMS-signed security object (EF.SOD or EF.CardSecurity). */
export interface SignedObjectResult {
  /** Everything checked passed: signature, chain, and every given data group. */
  valid: boolean;
  /** The CMS signature is valid: signed contentType, messageDigest and the signature itself. */
  signatureValid: boolean;
  /** messageDigest equals the hash of eContent as read. */
  messageDigestValid: boolean;
  chainValid: boolean;
  chainReason?: ChainReason;
  eContentType: string;
  /** SignerInfo digest algorithm ("sha256"). */
  digestAlgorithm: string;
  /** SignerInfo signature algorithm with its parameters ("ecdsa-with-SHA256", "rsassaPss(sha256, mgf1-sha256, salt 32)"). */
  signatureAlgorithm: string;
  signingTime?: string;
  signerCertificate?: CertificateSummary;
  signerMatchedBy?: SignerMatch;
  cscaSubject?: string;
  csca?: CertificateSummary;
  cscaSelfSigned?: boolean;
  crlChecked: boolean;
  /** When and why validity was checked at that time. */
  validity: { at: string; source: 'option' | 'signingTime' | 'now'; dsValid?: boolean; cscaValid?: boolean };
  errors: PkiIssue[];
  warnings: PkiIssue[];
}

export interface PassiveAuthResult extends SignedObjectResult {
  ldsVersion: number;
  /** LDSSecurityObject hash algorithm ("sha256"). */
  ldsHashAlgorithm: string;
  /** Data group number -> hash (lower-case hex) listed in the SOD. */
  dataGroups: Record<string, string>;
  /** Data group number -> hash matches, for the data groups given in the options. */
  dgMatches: Record<string, boolean>;
}

export interface CardSecurityResult extends SignedObjectResult {
  securityInfoProtocols: string[];
}

function issue(code: PkiCode, message: string): PkiIssue {
  return { code, message };
}

function toStore(c: CscaStore | readonly Certificate[]): CscaStore {
  return c instanceof CscaStore ? c : new CscaStore(c);
}

function hashOf(alg: DigestName, data: Uint8Array): Uint8Array {
  return createHash(alg).update(data).digest();
}

// ---------------------------------------------------------------------------------------------------------
// Certificate and CRL signatures

/** Verifies `cert`'s signature (over tbsCertificate as read) with `issuer`'s key. Throws for unsupported keys/algorithms. */
export function verifyCertificateSignature(cert: Certificate, issuer: Certificate, cache?: VerifyCache): boolean {
  if (cert.signatureAlgorithm.oid !== cert.tbsSignatureAlgorithm.oid) return false;
  const scheme = signatureScheme(cert.signatureAlgorithm);
  return verifySignature(scheme, keyOf(issuer, cache), cert.tbsRaw, cert.signatureValue);
}

/** Verifies a CRL's signature (over tbsCertList as read) with `issuer`'s key. */
export function verifyCrlSignature(crl: Crl, issuer: Certificate, cache?: VerifyCache): boolean {
  const scheme = signatureScheme(crl.signatureAlgorithm);
  return verifySignature(scheme, keyOf(issuer, cache), crl.tbsRaw, crl.signatureValue);
}

// ---------------------------------------------------------------------------------------------------------
// Verification cache

/**
 * A memo of the verification steps that depend on bytes only, for checking many documents signed under the same
 * Document Signer (an encoding line reads back every chip it made and checks its EF.SOD):
 * - the signature of a certificate (DS by CSCA) or of a CRL over its bytes as read, under an issuer's key;
 * - the import of a public key from a certificate's SubjectPublicKeyInfo.
 * Entries are keyed by the complete bytes (SHA-256 of the certificate or CRL as read, the issuer certificate's
 * fingerprint, the SubjectPublicKeyInfo itself), so a hit stands for the same computation on the same input, with
 * the same result. Nothing that depends on time or on the document is cached: validity periods, CRL nextUpdate,
 * the revocation lookup, the CMS signature, messageDigest and the data group hashes are checked on every call.
 * A signature check that throws (unsupported key or algorithm) is not remembered. Bounded: cleared when full.
 */
export class VerifyCache {
  private readonly signatures = new Map<string, boolean>();
  private readonly keys = new Map<string, PublicKeyInfo>();
  private readonly crlHashes = new WeakMap<Crl, string>();
  /** Look-ups answered from the memo / computed. */
  hits = 0;
  misses = 0;

  /** @param maxEntries entries per memo before it is cleared (default 256). */
  constructor(readonly maxEntries = 256) {}

  /** `cert`'s signature under `issuer`'s key ({@link verifyCertificateSignature}), memoised. */
  certificateSignature(cert: Certificate, issuer: Certificate): boolean {
    return this.signature(`c:${cert.sha256Fingerprint}:${issuer.sha256Fingerprint}`, () => verifyCertificateSignature(cert, issuer, this));
  }

  /** `crl`'s signature under `issuer`'s key ({@link verifyCrlSignature}), memoised. */
  crlSignature(crl: Crl, issuer: Certificate): boolean {
    let h = this.crlHashes.get(crl);
    if (h === undefined) {
      h = createHash('sha256').update(crl.raw).digest('hex');
      this.crlHashes.set(crl, h);
    }
    return this.signature(`l:${h}:${issuer.sha256Fingerprint}`, () => verifyCrlSignature(crl, issuer, this));
  }

  /** The public key of `cert`, imported once per SubjectPublicKeyInfo. */
  publicKey(cert: Certificate): PublicKeyInfo {
    const k = Buffer.from(cert.spkiRaw.buffer, cert.spkiRaw.byteOffset, cert.spkiRaw.byteLength).toString('base64');
    let v = this.keys.get(k);
    if (v) {
      this.hits++;
      return v;
    }
    this.misses++;
    v = importPublicKey(cert.spkiRaw);
    if (this.keys.size >= this.maxEntries) this.keys.clear();
    this.keys.set(k, v);
    return v;
  }

  private signature(key: string, verify: () => boolean): boolean {
    const v = this.signatures.get(key);
    if (v !== undefined) {
      this.hits++;
      return v;
    }
    this.misses++;
    const ok = verify();
    if (this.signatures.size >= this.maxEntries) this.signatures.clear();
    this.signatures.set(key, ok);
    return ok;
  }
}

const keyOf = (cert: Certificate, cache?: VerifyCache): PublicKeyInfo => (cache ? cache.publicKey(cert) : certificatePublicKey(cert));

const selfSignedCache = new WeakMap<Certificate, boolean>();

/** Self-signed: self-issued (subject matches issuer) and, if it names keys, authority key = subject key. */
function isSelfSigned(c: Certificate): boolean {
  if (!namesMatch(c.subject, c.issuer)) return false;
  if (c.authorityKeyIdentifier && c.subjectKeyIdentifier) return bytesEqual(c.authorityKeyIdentifier, c.subjectKeyIdentifier);
  return true;
}

function selfSignatureValid(c: Certificate): boolean {
  let v = selfSignedCache.get(c);
  if (v === undefined) {
    try {
      v = verifyCertificateSignature(c, c);
    } catch {
      v = false;
    }
    selfSignedCache.set(c, v);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// Chain

/** Validates a DS certificate against the CSCA trust store (step 3 and 4 of the module comment). */
export function verifyDsChain(
  ds: Certificate,
  cscas: CscaStore | readonly Certificate[],
  opts: { at: Date; crls?: readonly (Crl | Uint8Array)[]; strictValidity?: boolean; cache?: VerifyCache },
): ChainResult {
  const cache = opts.cache;
  const store = toStore(cscas);
  const errors: PkiIssue[] = [];
  const warnings: PkiIssue[] = [];
  const dsValidAt = isValidAt(ds, opts.at);
  const base = { crlChecked: false, dsValidAt, errors, warnings };
  const fail = (reason: ChainReason, message: string, extra: Partial<ChainResult> = {}): ChainResult => {
    errors.push(issue(reason, message));
    return { valid: false, reason, candidates: 0, ...base, ...extra };
  };

  const candidates = store.findIssuers(ds);
  if (candidates.length === 0) {
    return fail(PkiCode.CSCA_NOT_FOUND, `no CSCA in the trust store for issuer "${ds.issuer.text}"${ds.authorityKeyIdentifier ? ` (AKI ${toHex(ds.authorityKeyIdentifier)})` : ''}`);
  }
  const verifying: Certificate[] = [];
  let lastError: PkiError | undefined;
  for (const c of candidates) {
    try {
      if (cache ? cache.certificateSignature(ds, c) : verifyCertificateSignature(ds, c)) verifying.push(c);
    } catch (e) {
      if (e instanceof PkiError) lastError = e;
      else throw e;
    }
  }
  if (verifying.length === 0) {
    if (lastError && candidates.length === 1) {
      return fail(lastError.code as ChainReason, `DS certificate signature could not be checked: ${lastError.message}`, { candidates: candidates.length });
    }
    return fail(PkiCode.DS_SIGNATURE_INVALID, `none of the ${candidates.length} CSCA candidate(s) for "${ds.issuer.text}" verifies the DS certificate signature`, { candidates: candidates.length });
  }
  // The same CSCA key may be in the store twice: as a self-signed root and inside a link certificate (same
  // subject, signed by the previous CSCA key). Prefer a self-signed certificate whose self-signature verifies.
  const csca = verifying.find((c) => isSelfSigned(c) && selfSignatureValid(c)) ?? verifying[0]!;
  const withCsca = { csca, candidates: candidates.length };

  let cscaSelfSigned = false;
  if (isSelfSigned(csca)) {
    if (!selfSignatureValid(csca)) {
      return fail(PkiCode.CSCA_SIGNATURE_INVALID, `CSCA "${csca.subject.text}" self-signature does not verify`, withCsca);
    }
    cscaSelfSigned = true;
  } else {
    // A link (or cross) certificate: check it against its own issuer when the store has one.
    const parents = store.findIssuers(csca).filter((p) => p !== csca);
    const parent = parents.find((p) => {
      try {
        return cache ? cache.certificateSignature(csca, p) : verifyCertificateSignature(csca, p);
      } catch {
        return false;
      }
    });
    if (parents.length > 0 && !parent) {
      return fail(PkiCode.CSCA_SIGNATURE_INVALID, `CSCA link certificate "${csca.subject.text}" is not verified by any of its ${parents.length} issuer candidate(s) in the store`, withCsca);
    }
    warnings.push(
      issue(
        PkiCode.CSCA_LINK_CERTIFICATE,
        parent
          ? `CSCA "${csca.subject.text}" is a link certificate, verified by "${parent.subject.text}" (SKI ${parent.subjectKeyIdentifier ? toHex(parent.subjectKeyIdentifier) : '-'})`
          : `CSCA "${csca.subject.text}" is a link certificate whose issuer is not in the store; trusted as an anchor`,
      ),
    );
  }

  // Revocation
  let crlChecked = false;
  if (opts.crls && opts.crls.length > 0) {
    let revokedAt: Date | undefined;
    for (const item of opts.crls) {
      const crl = item instanceof Uint8Array ? parseCrl(item) : item;
      if (!namesMatch(crl.issuer, csca.subject)) continue;
      let ok = false;
      try {
        ok = cache ? cache.crlSignature(crl, csca) : verifyCrlSignature(crl, csca);
      } catch {
        ok = false;
      }
      if (!ok) {
        warnings.push(issue(PkiCode.CRL_SIGNATURE_INVALID, `CRL from "${crl.issuer.text}" (thisUpdate ${crl.thisUpdate.toISOString()}) is not signed by the CSCA; ignored`));
        continue;
      }
      crlChecked = true;
      if (crl.nextUpdate && crl.nextUpdate.getTime() < opts.at.getTime()) {
        warnings.push(issue(PkiCode.CRL_OUTDATED, `CRL nextUpdate ${crl.nextUpdate.toISOString()} is before ${opts.at.toISOString()}`));
      }
      const hit = crl.revoked.find((r) => r.serialHex === ds.serialHex);
      if (hit) revokedAt = hit.revocationDate;
    }
    if (revokedAt) {
      return fail(PkiCode.DS_REVOKED, `DS certificate serial ${ds.serialHex} is revoked (since ${revokedAt.toISOString()})`, { ...withCsca, cscaSelfSigned, crlChecked });
    }
    if (!crlChecked) warnings.push(issue(PkiCode.CRL_NOT_FOUND, `no valid CRL from "${csca.subject.text}" among the ${opts.crls.length} given`));
  }

  // Validity periods
  const cscaValidAt = isValidAt(csca, opts.at);
  const at = opts.at.toISOString();
  const periodIssues: [ChainReason, string][] = [];
  if (!dsValidAt) {
    periodIssues.push(
      opts.at < ds.notBefore
        ? [PkiCode.DS_NOT_YET_VALID, `DS certificate not valid before ${ds.notBefore.toISOString()} (checked at ${at})`]
        : [PkiCode.DS_EXPIRED, `DS certificate expired ${ds.notAfter.toISOString()} (checked at ${at})`],
    );
  }
  if (!cscaValidAt) {
    periodIssues.push(
      opts.at < csca.notBefore
        ? [PkiCode.CSCA_NOT_YET_VALID, `CSCA certificate not valid before ${csca.notBefore.toISOString()} (checked at ${at})`]
        : [PkiCode.CSCA_EXPIRED, `CSCA certificate expired ${csca.notAfter.toISOString()} (checked at ${at})`],
    );
  }
  const done = { ...withCsca, cscaSelfSigned, crlChecked, dsValidAt, cscaValidAt, errors, warnings };
  if (opts.strictValidity && periodIssues.length > 0) {
    for (const [code, msg] of periodIssues) errors.push(issue(code, msg));
    return { valid: false, reason: periodIssues[0]![0], ...done };
  }
  for (const [code, msg] of periodIssues) warnings.push(issue(code, msg));
  return { valid: true, ...done };
}

// ---------------------------------------------------------------------------------------------------------
// Signer

/** Finds the signer's certificate among `certs` (see module comment, step 2). */
export function findSignerCertificate(signer: SignerInfo, certs: readonly Certificate[]): { cert: Certificate; matchedBy: SignerMatch } | undefined {
  const sid = signer.sid;
  if (sid.kind === 'subjectKeyIdentifier') {
    const c = certs.find((x) => x.subjectKeyIdentifier && bytesEqual(x.subjectKeyIdentifier, sid.keyIdentifier));
    if (c) return { cert: c, matchedBy: 'subjectKeyIdentifier' };
  } else {
    const sameSerial = certs.filter((x) => x.serialHex === sid.serialHex);
    const strict = sameSerial.find((x) => namesMatchStrict(x.issuer, sid.issuer));
    if (strict) return { cert: strict, matchedBy: 'issuerAndSerialNumber' };
    const loose = sameSerial.find((x) => namesMatch(x.issuer, sid.issuer));
    if (loose) return { cert: loose, matchedBy: 'issuerAndSerialNumberReordered' };
  }
  if (certs.length === 1) return { cert: certs[0]!, matchedBy: 'onlyCertificate' };
  return undefined;
}

/** Steps 1-4 for any SignedData with one signer. */
function verifySignedObject(sd: SignedData, signer: SignerInfo, opts: VerifyOptions): SignedObjectResult {
  const errors: PkiIssue[] = [];
  const warnings: PkiIssue[] = [];
  let signatureAlgorithm = signer.signatureAlgorithm.name;
  let digest: DigestName | undefined;
  try {
    digest = digestOf(signer.digestAlgorithm);
  } catch (e) {
    errors.push(issue(PkiCode.ALGORITHM_UNSUPPORTED, (e as Error).message));
  }

  // Signed attributes
  let attrsOk = true;
  let messageDigestValid = false;
  if (!signer.signedAttrsRaw) {
    warnings.push(issue(PkiCode.SOD_SIGNED_ATTRS_INVALID, 'SignerInfo has no signed attributes (ICAO 9303 requires them); signature checked over eContent'));
    messageDigestValid = true;
  } else {
    if (signer.contentType !== sd.eContentType) {
      attrsOk = false;
      errors.push(issue(PkiCode.SOD_SIGNED_ATTRS_INVALID, `signed contentType ${signer.contentType ? oidName(signer.contentType) : '(absent)'} differs from eContentType ${oidName(sd.eContentType)}`));
    }
    if (!signer.messageDigest) {
      errors.push(issue(PkiCode.SOD_SIGNED_ATTRS_INVALID, 'signed attributes lack messageDigest'));
    } else if (digest) {
      messageDigestValid = bytesEqual(signer.messageDigest, hashOf(digest, sd.eContent));
      if (!messageDigestValid) errors.push(issue(PkiCode.SOD_DIGEST_MISMATCH, `messageDigest differs from the ${digest} of eContent`));
    }
  }

  // Signer certificate
  const certs = opts.dsCertificate ? [...sd.certificates, opts.dsCertificate] : sd.certificates;
  const found = findSignerCertificate(signer, sd.certificates) ?? (opts.dsCertificate ? findSignerCertificate(signer, [opts.dsCertificate]) : undefined);
  if (found?.matchedBy === 'onlyCertificate') {
    warnings.push(issue(PkiCode.SIGNER_ID_MISMATCH, 'SignerInfo sid matches no certificate; using the only certificate available'));
  } else if (found?.matchedBy === 'issuerAndSerialNumberReordered') {
    warnings.push(issue(PkiCode.SIGNER_ID_MISMATCH, 'SignerInfo issuer names the DS certificate issuer with its RDNs in another order'));
  }

  // Signature
  let sigOk = false;
  if (!found) {
    errors.push(issue(PkiCode.SIGNER_NOT_FOUND, `no certificate matches the SignerInfo (${certs.length} available)`));
  } else if (digest) {
    try {
      const scheme = signatureScheme(signer.signatureAlgorithm, digest);
      signatureAlgorithm = describeScheme(signer.signatureAlgorithm, scheme);
      const input = signedAttrsForSignature(signer) ?? sd.eContent;
      sigOk = verifySignature(scheme, keyOf(found.cert, opts.cache), input, signer.signature);
      if (!sigOk) errors.push(issue(PkiCode.SOD_SIGNATURE_INVALID, `${signatureAlgorithm} signature does not verify with the DS key`));
    } catch (e) {
      if (!(e instanceof PkiError)) throw e;
      errors.push(issue(e.code as PkiCode, e.message));
    }
  }
  const signatureValid = sigOk && messageDigestValid && attrsOk;

  // Chain
  const source: 'option' | 'signingTime' | 'now' = opts.at ? 'option' : signer.signingTime ? 'signingTime' : 'now';
  const at = opts.at ?? signer.signingTime ?? new Date();
  let chain: ChainResult | undefined;
  if (found) {
    chain = verifyDsChain(found.cert, opts.cscas, {
      at,
      ...(opts.crls ? { crls: opts.crls } : {}),
      ...(opts.strictValidity ? { strictValidity: true } : {}),
      ...(opts.cache ? { cache: opts.cache } : {}),
    });
    errors.push(...chain.errors);
    warnings.push(...chain.warnings);
  }
  const chainValid = chain?.valid ?? false;
  const chainReason: ChainReason | undefined = found ? chain?.reason : PkiCode.SIGNER_NOT_FOUND;

  return {
    valid: signatureValid && chainValid,
    signatureValid,
    messageDigestValid,
    chainValid,
    ...(chainReason ? { chainReason } : {}),
    eContentType: sd.eContentType,
    digestAlgorithm: signer.digestAlgorithm.name,
    signatureAlgorithm,
    ...(signer.signingTime ? { signingTime: signer.signingTime.toISOString() } : {}),
    ...(found ? { signerCertificate: summarizeCertificate(found.cert, opts.cache), signerMatchedBy: found.matchedBy } : {}),
    ...(chain?.csca ? { cscaSubject: chain.csca.subject.text, csca: summarizeCertificate(chain.csca, opts.cache) } : {}),
    ...(chain?.cscaSelfSigned !== undefined ? { cscaSelfSigned: chain.cscaSelfSigned } : {}),
    crlChecked: chain?.crlChecked ?? false,
    validity: {
      at: at.toISOString(),
      source,
      ...(chain ? { dsValid: chain.dsValidAt } : {}),
      ...(chain?.cscaValidAt !== undefined ? { cscaValid: chain.cscaValidAt } : {}),
    },
    errors,
    warnings,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Entry points

/**
 * Passive authentication of an EF.SOD (bytes as read from the chip, or a parsed {@link Sod}).
 * Throws PkiError (SOD_MALFORMED, SOD_CONTENT_TYPE, ALGORITHM_UNSUPPORTED for the LDS hash) only when the
 * bytes cannot be read as an EF.SOD; every verification outcome is reported in the result.
 */
export function verifySod(input: Uint8Array | Sod, opts: VerifyOptions): PassiveAuthResult {
  const sod = input instanceof Uint8Array ? parseSod(input) : input;
  const base = verifySignedObject(sod.signedData, sod.signer, opts);
  const dataGroups: Record<string, string> = {};
  for (const [n, h] of sod.lds.dataGroupHashes) dataGroups[String(n)] = toHex(h);
  const dgMatches: Record<string, boolean> = {};
  for (const [n, bytes] of opts.dataGroups ?? []) {
    const expected = sod.lds.dataGroupHashes.get(n);
    if (!expected) {
      dgMatches[String(n)] = false;
      base.errors.push(issue(PkiCode.DG_NOT_IN_SOD, `DG${n} is not listed in the SOD`));
      continue;
    }
    const ok = bytesEqual(hashOf(sod.lds.hash, bytes), expected);
    dgMatches[String(n)] = ok;
    if (!ok) base.errors.push(issue(PkiCode.DG_HASH_MISMATCH, `DG${n} ${sod.lds.hash} differs from the SOD`));
  }
  const dgOk = Object.values(dgMatches).every(Boolean);
  return {
    ...base,
    valid: base.valid && dgOk,
    ldsVersion: sod.lds.version,
    ldsHashAlgorithm: sod.lds.hash,
    dataGroups,
    dgMatches,
  };
}

/** Verifies an EF.CardSecurity (SecurityInfos signed by a DS), same checks as {@link verifySod} without data groups. */
export function verifyCardSecurity(input: Uint8Array | CardSecurity, opts: VerifyOptions): CardSecurityResult {
  const cs = input instanceof Uint8Array ? parseCardSecurity(input) : input;
  return { ...verifySignedObject(cs.signedData, cs.signer, opts), securityInfoProtocols: cs.securityInfos.map((s) => s.protocol) };
}
