/**
 * Face QC: the printed card against the chip (and the record). Pure: the station (or the PDF adapter in
 * face-read.ts) supplies what it read from the face — the MRZ text and the seal bytes — and the checks compare.
 *
 * ```
 *   mrz    the printed MRZ reads (3 x 30, check digits valid)                    QC_FACE_MRZ_UNREADABLE
 *          and equals DG1 character for character                                QC_FACE_MRZ_MISMATCH
 *   seal   a Visible Digital Seal is present                                      QC_SEAL_MISSING
 *          it verifies (9303-13 App. D: format, signer, chain, CRL, signature)  QC_SEAL_INVALID
 *          its data equals the chip: MRZ = DG1, document number, dates of birth
 *          and expiry (DG1), national number (DG13), names (DG11)                 QC_SEAL_MISMATCH
 * ```
 * Uses src/print's seal verifier (`verifySeal`), so QC and `kadi seal verify` judge a seal the same way.
 */
import { decodeDg1, decodeDg11, decodeDg13, parseMrz } from '../lds/index.ts';
import { type Certificate, type Crl, type VerifyCache } from '../pki/index.ts';
import { type IdSealData, verifySeal } from '../print/index.ts';
import type { StepOutcome } from './checks.ts';
import { primaryFinding } from './checks.ts';
import type { QcFinding } from './reasons.ts';

/** What the chip says, for the face to match: DG1 always; DG11 and DG13 when read. */
export interface FaceChipData {
  /** DG1 as read from the chip (or its MRZ text). */
  dg1: Uint8Array | string | readonly string[];
  dg11?: Uint8Array;
  dg13?: Uint8Array;
}

export interface SealTrust {
  cscas: readonly Certificate[];
  /** Bar code signer certificates. */
  signers: readonly Certificate[];
  crls?: ReadonlyArray<Crl | Uint8Array>;
  /** Memo of the byte-only steps (signer chain check, CRL signatures, key import); the per-seal checks stay. */
  cache?: VerifyCache;
}

export interface FaceCheckInput {
  /** The MRZ as read from the face (3 lines, or 90 characters; blanks ignored); undefined when none was read. */
  faceMrz: string | readonly string[] | undefined;
  /** The seal bytes read from the face's Data Matrix; undefined when none was found. */
  seal: Uint8Array | undefined;
  chip: FaceChipData;
  trust: SealTrust;
  /** Verification time. Default now. */
  at?: Date;
  /** Fail when the face carries no seal. Default true (Kadi's template prints one on every card). */
  requireSeal?: boolean;
}

export const FACE_STEPS = ['mrz', 'seal', 'sealData'] as const;
export type FaceStep = (typeof FACE_STEPS)[number];

export interface FaceCheckResult {
  passed: boolean;
  primary?: QcFinding;
  findings: QcFinding[];
  steps: Record<FaceStep, StepOutcome>;
  /** Seal verification facts (no personal data). */
  seal?: { status: 'VALID' | 'INVALID'; subIndication?: string; signerSerial?: string };
}

const FACE_PRIORITY = ['QC_FACE_MRZ_UNREADABLE', 'QC_FACE_MRZ_MISMATCH', 'QC_SEAL_MISSING', 'QC_SEAL_INVALID', 'QC_SEAL_MISMATCH'] as const;

function mrzText(v: string | readonly string[]): string {
  return (typeof v === 'string' ? v : v.join('')).replace(/\s+/g, '').toUpperCase();
}

/** YYYY-MM-DD -> YYMMDD */
const yymmdd = (iso: string): string => iso.replace(/-/g, '').slice(2, 8);

/** Checks a card face (see the module comment). Never throws for what was read. */
export function checkFace(input: FaceCheckInput): FaceCheckResult {
  const findings: QcFinding[] = [];
  const steps: Record<FaceStep, StepOutcome> = { mrz: 'skipped', seal: 'skipped', sealData: 'skipped' };
  const result: FaceCheckResult = { passed: false, findings, steps };

  let chipMrz: string | undefined;
  try {
    chipMrz = input.chip.dg1 instanceof Uint8Array ? decodeDg1(input.chip.dg1).mrz : mrzText(input.chip.dg1);
  } catch (e) {
    findings.push({ code: 'QC_FILE_MALFORMED', message: `DG1 does not decode (${(e as { code?: string }).code ?? 'invalid'})`, details: { file: 'DG1' } });
  }

  // the printed MRZ
  if (input.faceMrz === undefined) {
    findings.push({ code: 'QC_FACE_MRZ_UNREADABLE', message: 'no MRZ was read on the face' });
    steps.mrz = 'fail';
  } else {
    const face = mrzText(input.faceMrz);
    let valid = false;
    try {
      const p = parseMrz(face);
      valid = p.format === 'TD1' && p.valid;
      if (!valid) findings.push({ code: 'QC_FACE_MRZ_UNREADABLE', message: 'the printed MRZ has wrong check digits or field formats', details: { format: p.format, checkDigitsValid: p.checkDigitsValid, problems: p.formatProblems } });
    } catch (e) {
      findings.push({ code: 'QC_FACE_MRZ_UNREADABLE', message: `the printed MRZ is not a TD1 MRZ (${(e as { code?: string }).code ?? 'invalid'})` });
    }
    if (chipMrz !== undefined && face !== chipMrz) {
      const lines = [0, 1, 2].filter((i) => face.slice(i * 30, i * 30 + 30) !== chipMrz!.slice(i * 30, i * 30 + 30)).map((i) => i + 1);
      findings.push({ code: 'QC_FACE_MRZ_MISMATCH', message: `the printed MRZ differs from DG1 (line${lines.length > 1 ? 's' : ''} ${lines.join(', ')})`, details: { lines } });
      valid = false;
    }
    steps.mrz = valid && chipMrz !== undefined ? 'pass' : 'fail';
  }

  // the seal
  if (!input.seal) {
    if (input.requireSeal ?? true) {
      findings.push({ code: 'QC_SEAL_MISSING', message: 'no Visible Digital Seal was read on the face' });
      steps.seal = 'fail';
    }
  } else {
    const v = verifySeal(input.seal, {
      cscas: input.trust.cscas,
      signers: input.trust.signers,
      ...(input.trust.crls ? { crls: input.trust.crls } : {}),
      ...(input.trust.cache ? { cache: input.trust.cache } : {}),
      ...(input.at ? { at: input.at } : {}),
    });
    result.seal = { status: v.status, ...(v.subIndication ? { subIndication: v.subIndication } : {}), ...(v.signer ? { signerSerial: v.signer.serial } : {}) };
    if (v.status !== 'VALID') {
      findings.push({ code: 'QC_SEAL_INVALID', message: `the seal does not verify: ${v.subIndication ?? 'INVALID'}`, details: { subIndication: v.subIndication ?? 'INVALID' } });
      steps.seal = 'fail';
    } else {
      steps.seal = 'pass';
      if (v.data && chipMrz !== undefined) {
        const fields = sealMismatches(v.data, chipMrz, input.chip);
        steps.sealData = fields.length ? 'fail' : 'pass';
        if (fields.length) findings.push({ code: 'QC_SEAL_MISMATCH', message: `the seal differs from the chip in: ${fields.join(', ')}`, details: { fields } });
      }
    }
  }

  result.passed = findings.length === 0;
  const ordered = [...findings].sort((a, b) => rank(a) - rank(b));
  const p = ordered[0] ?? primaryFinding(findings);
  if (p) result.primary = p;
  return result;
}

function rank(f: QcFinding): number {
  const i = (FACE_PRIORITY as readonly string[]).indexOf(f.code);
  return i < 0 ? FACE_PRIORITY.length : i;
}

/** Names of the seal fields that differ from the chip. */
function sealMismatches(seal: IdSealData, chipMrz: string, chip: FaceChipData): string[] {
  const fields: string[] = [];
  if (mrzText(seal.mrz) !== chipMrz) fields.push('mrz');
  try {
    const p = parseMrz(chipMrz);
    if (seal.documentNumber !== p.documentNumber) fields.push('documentNumber');
    if (yymmdd(seal.dateOfBirth) !== p.dateOfBirth) fields.push('dateOfBirth');
    if (yymmdd(seal.dateOfExpiry) !== p.dateOfExpiry) fields.push('dateOfExpiry');
  } catch {
    fields.push('documentNumber');
  }
  if (chip.dg13) {
    try {
      if (decodeDg13(chip.dg13).nationalIdNumber !== seal.nationalNumber) fields.push('nationalNumber');
    } catch {
      fields.push('nationalNumber');
    }
  }
  if (chip.dg11) {
    try {
      const full = decodeDg11(chip.dg11).fullName?.normalize('NFC');
      if (full !== `${seal.surname}<<${seal.givenNames}`.normalize('NFC')) fields.push('names');
    } catch {
      fields.push('names');
    }
  }
  return fields;
}
