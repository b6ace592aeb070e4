/**
 * Chip QC decisions: what the bytes of a {@link ChipRead} mean. Pure (no I/O): the trust material, the time and
 * the expected record are passed in.
 *
 * Steps, each `pass`, `fail` or `skipped` in the result, every failure a {@link QcFinding} with a reason code:
 * ```
 *   read         the reader's own findings (transport, application, BAC, SM, missing/malformed files)
 *   unprotected  plain read before BAC refused                                   QC_UNPROTECTED_READ
 *   com          EF.COM lists exactly the data groups EF.SOD signs                 QC_COM_MISMATCH
 *   sod          EF.SOD parses; CMS signature and messageDigest verify             QC_SOD_MALFORMED, QC_SOD_SIGNATURE_INVALID
 *   chain        DS certificate -> trusted CSCA, valid now                         QC_DS_UNKNOWN, QC_DS_NOT_VALID
 *   revocation   a valid, current CRL of that CSCA does not list the DS            QC_DS_REVOKED, QC_CRL_UNAVAILABLE
 *   hashes       every data group read hashes to its SOD value                     QC_DG_HASH_MISMATCH, QC_DG_NOT_IN_SOD
 *   aa           the challenge's signature verifies with DG15 (+ DG14 algorithm)   QC_AA_FAILED, QC_AA_UNAVAILABLE
 *   lock         the write probe was refused as by a locked chip ('6985')         QC_CARD_NOT_LOCKED
 *   dg1 .. dg13  data groups equal the order's record (compare.ts)                QC_DG<n>_MISMATCH
 * ```
 * The card passes when there is no finding. `primary` is the finding recorded as the card's reason code: the
 * first in {@link REASON_PRIORITY} order (the root cause before its consequences: a BAC failure before the
 * missing files, a tampered hash before the record mismatch it also causes).
 */
import { type ChainReason, type Crl, type CscaStore, PkiCode, type PassiveAuthResult, PkiError, type VerifyCache, verifySod } from '../pki/index.ts';
import { decodeDg1, decodeEfCom } from '../lds/index.ts';
import { swHex } from '../chip/index.ts';
import { verifyActiveAuthentication } from './aa.ts';
import { type QcExpectation, RECORD_COMPARISONS } from './compare.ts';
import type { QcFinding, QcReason } from './reasons.ts';
import { type ChipRead, writeRefusedAsLocked } from './reader.ts';

/** The trust material of an inspection system: CSCA certificates and their CRLs. */
export interface QcTrust {
  cscas: CscaStore;
  crls: ReadonlyArray<Crl | Uint8Array>;
  /**
   * Memo of passive authentication's byte-only steps (DS signature under the CSCA, CRL signature, key imports; see
   * src/pki VerifyCache), shared by the cards checked under this trust material. Validity, revocation look-up, the
   * SOD signature and the data group hashes are still checked per card. Default: none.
   */
  cache?: VerifyCache;
}

export interface ChipCheckOptions {
  trust: QcTrust;
  /** Time of the check (certificate validity, CRL freshness). Default now. */
  at?: Date;
  /** The order's record and document data; without it, no record comparison is made. */
  expected?: QcExpectation;
  /** Fail when Active Authentication cannot be run (no DG15). Default true: every Kadi card has an AA key. */
  requireActiveAuthentication?: boolean;
  /** Fail when no valid, current CRL of the CSCA is available. Default true. */
  requireCrl?: boolean;
  /** Fail when the lock probe was not refused as a locked chip refuses. Default true. */
  requireLock?: boolean;
  /** Data groups every card must carry. Default [1, 2] (ICAO 9303-10 mandatory). */
  requiredDataGroups?: readonly number[];
}

export type StepOutcome = 'pass' | 'fail' | 'skipped';

export const CHIP_STEPS = ['read', 'unprotected', 'com', 'sod', 'chain', 'revocation', 'hashes', 'aa', 'lock', 'dg1', 'dg2', 'dg11', 'dg12', 'dg13'] as const;
export type ChipStep = (typeof CHIP_STEPS)[number];

export interface ChipCheckResult {
  passed: boolean;
  /** The reason code recorded for a failed card. */
  primary?: QcFinding;
  findings: QcFinding[];
  steps: Record<ChipStep, StepOutcome>;
  /** The chip's document number (from DG1), when it decodes. */
  documentNumber?: string;
  /** Passive authentication facts (no personal data). */
  passiveAuth?: {
    hashAlgorithm: string;
    signatureAlgorithm: string;
    signingTime?: string;
    dsSerial?: string;
    cscaSubject?: string;
    crlChecked: boolean;
    dataGroups: number[];
  };
  activeAuth?: { status: 'valid' | 'invalid' | 'unavailable'; algorithm?: string };
}

/** Root causes first; see the module comment. */
export const REASON_PRIORITY: readonly QcReason[] = [
  'QC_FACE_MRZ_UNREADABLE',
  'QC_CHIP_UNREADABLE',
  'QC_APP_NOT_FOUND',
  'QC_BAC_FAILED',
  'QC_SM_FAILED',
  'QC_SOD_MALFORMED',
  'QC_SOD_SIGNATURE_INVALID',
  'QC_DS_UNKNOWN',
  'QC_DS_REVOKED',
  'QC_DS_NOT_VALID',
  'QC_CRL_UNAVAILABLE',
  'QC_DG_HASH_MISMATCH',
  'QC_DG_NOT_IN_SOD',
  'QC_FILE_MISSING',
  'QC_FILE_MALFORMED',
  'QC_COM_MISMATCH',
  'QC_AA_FAILED',
  'QC_AA_UNAVAILABLE',
  'QC_CARD_NOT_LOCKED',
  'QC_UNPROTECTED_READ',
  'QC_DG1_MISMATCH',
  'QC_DG2_MISMATCH',
  'QC_DG11_MISMATCH',
  'QC_DG12_MISMATCH',
  'QC_DG13_MISMATCH',
];

/** The finding to record as the card's reason: the first by {@link REASON_PRIORITY}. */
export function primaryFinding(findings: readonly QcFinding[]): QcFinding | undefined {
  let best: QcFinding | undefined;
  let rank = Number.MAX_SAFE_INTEGER;
  for (const f of findings) {
    const r = REASON_PRIORITY.indexOf(f.code);
    const k = r < 0 ? REASON_PRIORITY.length : r;
    if (k < rank) {
      rank = k;
      best = f;
    }
  }
  return best;
}

const CHAIN_UNKNOWN: ReadonlySet<ChainReason | string> = new Set([
  PkiCode.SIGNER_NOT_FOUND,
  PkiCode.CSCA_NOT_FOUND,
  PkiCode.DS_SIGNATURE_INVALID,
  PkiCode.CSCA_SIGNATURE_INVALID,
  PkiCode.KEY_UNSUPPORTED,
  PkiCode.ALGORITHM_UNSUPPORTED,
]);
const CHAIN_PERIOD: ReadonlySet<string> = new Set([PkiCode.DS_EXPIRED, PkiCode.DS_NOT_YET_VALID, PkiCode.CSCA_EXPIRED, PkiCode.CSCA_NOT_YET_VALID]);

/** Passive authentication findings from verifySod's result (see the module comment). */
function passiveAuthFindings(pa: PassiveAuthResult, opts: { requireCrl: boolean }, steps: Record<ChipStep, StepOutcome>): QcFinding[] {
  const out: QcFinding[] = [];
  const codes = (list: typeof pa.errors) => [...new Set(list.map((i) => i.code))];
  // signature
  if (!pa.signatureValid) {
    const kinds = codes(pa.errors).filter((c) => c === PkiCode.SOD_SIGNATURE_INVALID || c === PkiCode.SOD_DIGEST_MISMATCH || c === PkiCode.SOD_SIGNED_ATTRS_INVALID);
    out.push({ code: 'QC_SOD_SIGNATURE_INVALID', message: 'the EF.SOD signature does not verify with the Document Signer key', details: { pki: kinds.length ? kinds : codes(pa.errors) } });
    steps.sod = 'fail';
  } else steps.sod = 'pass';
  // chain
  const reason = pa.chainReason;
  if (!pa.chainValid && reason && CHAIN_UNKNOWN.has(reason)) {
    out.push({ code: 'QC_DS_UNKNOWN', message: 'the Document Signer certificate does not chain to a trusted CSCA', details: { pki: reason } });
    steps.chain = 'fail';
  } else if (!pa.chainValid && reason && CHAIN_PERIOD.has(reason)) {
    out.push({ code: 'QC_DS_NOT_VALID', message: 'the Document Signer or CSCA certificate is not valid now', details: { pki: reason, at: pa.validity.at } });
    steps.chain = 'fail';
  } else if (!pa.chainValid && reason === PkiCode.DS_REVOKED) {
    steps.chain = 'pass';
  } else if (!pa.chainValid) {
    out.push({ code: 'QC_DS_UNKNOWN', message: 'the Document Signer certificate chain does not verify', details: { pki: reason ?? 'unknown' } });
    steps.chain = 'fail';
  } else steps.chain = 'pass';
  // revocation
  const outdated = pa.warnings.some((w) => w.code === PkiCode.CRL_OUTDATED);
  if (reason === PkiCode.DS_REVOKED) {
    out.push({ code: 'QC_DS_REVOKED', message: "the Document Signer certificate is on its CSCA's CRL", details: { dsSerial: pa.signerCertificate?.serialNumber } });
    steps.revocation = 'fail';
  } else if (steps.chain === 'fail') {
    steps.revocation = 'skipped';
  } else if (opts.requireCrl && (!pa.crlChecked || outdated)) {
    out.push({
      code: 'QC_CRL_UNAVAILABLE',
      message: outdated ? "the CSCA's CRL is past its nextUpdate" : "no CRL signed by the DS certificate's CSCA is available",
      details: { pki: outdated ? PkiCode.CRL_OUTDATED : PkiCode.CRL_NOT_FOUND },
    });
    steps.revocation = 'fail';
  } else steps.revocation = pa.crlChecked ? 'pass' : 'skipped';
  // hashes
  const bad = Object.entries(pa.dgMatches).filter(([, ok]) => !ok).map(([n]) => Number(n));
  const notInSod = bad.filter((n) => pa.dataGroups[String(n)] === undefined);
  const mismatched = bad.filter((n) => pa.dataGroups[String(n)] !== undefined);
  if (mismatched.length) out.push({ code: 'QC_DG_HASH_MISMATCH', message: `${mismatched.map((n) => `DG${n}`).join(', ')} ${mismatched.length > 1 ? 'do' : 'does'} not hash to the value signed in EF.SOD`, details: { dataGroups: mismatched, hash: pa.ldsHashAlgorithm } });
  if (notInSod.length) out.push({ code: 'QC_DG_NOT_IN_SOD', message: `${notInSod.map((n) => `DG${n}`).join(', ')} on the chip but not in EF.SOD`, details: { dataGroups: notInSod } });
  steps.hashes = bad.length ? 'fail' : 'pass';
  return out;
}

/** Judges a chip read (see the module comment). */
export function checkChip(read: ChipRead, opts: ChipCheckOptions): ChipCheckResult {
  const at = opts.at ?? new Date();
  const steps = Object.fromEntries(CHIP_STEPS.map((s) => [s, 'skipped'])) as Record<ChipStep, StepOutcome>;
  const findings: QcFinding[] = [...read.findings];
  steps.read = read.findings.length ? 'fail' : 'pass';
  const result: ChipCheckResult = { passed: false, findings, steps };

  if (read.unprotected) steps.unprotected = read.findings.some((f) => f.code === 'QC_UNPROTECTED_READ') ? 'fail' : 'pass';
  if (!read.bac) return finish(result);

  // data groups that must be there
  for (const n of opts.requiredDataGroups ?? [1, 2]) {
    if (!read.dataGroups.has(n) && !findings.some((f) => f.code === 'QC_FILE_MISSING' && f.details?.file === `DG${n}`)) {
      findings.push({ code: 'QC_FILE_MISSING', message: `DG${n} is neither listed nor readable`, details: { file: `DG${n}` } });
      steps.read = 'fail';
    }
  }

  // EF.COM against EF.SOD
  let sodDgs: number[] | undefined;
  let pa: PassiveAuthResult | undefined;
  if (read.sod) {
    try {
      pa = verifySod(read.sod, {
        cscas: opts.trust.cscas,
        crls: opts.trust.crls,
        dataGroups: read.dataGroups,
        at,
        strictValidity: true,
        ...(opts.trust.cache ? { cache: opts.trust.cache } : {}),
      });
      sodDgs = Object.keys(pa.dataGroups).map(Number).sort((a, b) => a - b);
    } catch (e) {
      findings.push({ code: 'QC_SOD_MALFORMED', message: `EF.SOD cannot be read as a signed LDS security object (${e instanceof PkiError ? e.code : 'invalid'})`, details: { pki: e instanceof PkiError ? e.code : 'invalid' } });
      steps.sod = 'fail';
    }
  }
  if (read.com && sodDgs) {
    try {
      const comDgs = [...decodeEfCom(read.com).dataGroups].sort((a, b) => a - b);
      const same = comDgs.length === sodDgs.length && comDgs.every((n, i) => n === sodDgs![i]);
      steps.com = same ? 'pass' : 'fail';
      if (!same) findings.push({ code: 'QC_COM_MISMATCH', message: 'EF.COM and EF.SOD list different data groups', details: { com: comDgs, sod: sodDgs } });
    } catch {
      steps.com = 'fail'; // the reader already reported QC_FILE_MALFORMED
    }
  }
  if (pa) {
    findings.push(...passiveAuthFindings(pa, { requireCrl: opts.requireCrl ?? true }, steps));
    result.passiveAuth = {
      hashAlgorithm: pa.ldsHashAlgorithm,
      signatureAlgorithm: pa.signatureAlgorithm,
      ...(pa.signingTime ? { signingTime: pa.signingTime } : {}),
      ...(pa.signerCertificate ? { dsSerial: pa.signerCertificate.serialNumber } : {}),
      ...(pa.cscaSubject ? { cscaSubject: pa.cscaSubject } : {}),
      crlChecked: pa.crlChecked,
      dataGroups: sodDgs ?? [],
    };
  }

  // Active Authentication
  const dg15 = read.dataGroups.get(15);
  if (read.aa && dg15) {
    if (read.aa.sw !== 0x9000) {
      findings.push({ code: 'QC_AA_FAILED', message: `the chip refused INTERNAL AUTHENTICATE (SW ${swHex(read.aa.sw)})`, details: { sw: swHex(read.aa.sw) } });
      steps.aa = 'fail';
      result.activeAuth = { status: 'invalid' };
    } else {
      const aa = verifyActiveAuthentication(dg15, read.dataGroups.get(14), read.aa.challenge, read.aa.signature);
      result.activeAuth = { status: aa.status, ...(aa.status !== 'unavailable' ? { algorithm: aa.algorithm } : {}) };
      if (aa.status === 'invalid') findings.push({ code: 'QC_AA_FAILED', message: `Active Authentication failed: ${aa.reason}`, details: { algorithm: aa.algorithm } });
      if (aa.status === 'unavailable') findings.push({ code: 'QC_AA_UNAVAILABLE', message: `Active Authentication cannot be run: ${aa.reason}` });
      steps.aa = aa.status === 'valid' ? 'pass' : 'fail';
    }
  } else if (opts.requireActiveAuthentication ?? true) {
    if (!findings.some((f) => f.code === 'QC_FILE_MISSING' && f.details?.file === 'DG15')) {
      findings.push({ code: 'QC_AA_UNAVAILABLE', message: 'the chip has no DG15: Active Authentication cannot be run' });
    }
    steps.aa = 'fail';
    result.activeAuth = { status: 'unavailable' };
  }

  // lock
  if (read.lockProbe) {
    const locked = writeRefusedAsLocked(read.lockProbe.sw);
    steps.lock = locked ? 'pass' : 'fail';
    if (!locked && (opts.requireLock ?? true)) {
      findings.push({
        code: 'QC_CARD_NOT_LOCKED',
        message:
          read.lockProbe.sw === 0x9000
            ? `the chip accepted a write to ${read.lockProbe.file}`
            : `a write to ${read.lockProbe.file} was refused with ${swHex(read.lockProbe.sw)} (no keys), not as by a locked chip (6985)`,
        details: { file: read.lockProbe.file, sw: swHex(read.lockProbe.sw) },
      });
    }
  }

  // the order's record
  const dg1 = read.dataGroups.get(1);
  if (dg1) {
    try {
      result.documentNumber = decodeDgDocumentNumber(dg1);
    } catch {
      // malformed DG1 is reported by compareDg1 / hashes
    }
  }
  if (opts.expected) {
    for (const [n, compare] of RECORD_COMPARISONS) {
      const b = read.dataGroups.get(n);
      if (!b) continue;
      const f = compare(b, opts.expected);
      findings.push(...f);
      steps[`dg${n}` as ChipStep] = f.length ? 'fail' : 'pass';
    }
  }
  return finish(result);
}

function decodeDgDocumentNumber(dg1: Uint8Array): string {
  return decodeDg1(dg1).parsed.documentNumber;
}

function finish(r: ChipCheckResult): ChipCheckResult {
  r.passed = r.findings.length === 0;
  const p = primaryFinding(r.findings);
  if (p) r.primary = p;
  return r;
}
