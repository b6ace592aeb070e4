/**
 * QC reason codes: one stable code per way a card can fail quality control. Codes are what the QC station shows,
 * what `qc_results.reason_code` stores, what the report groups by and what the API accepts; they never change
 * meaning once released (add new ones instead). Every code belongs to one kind of check:
 *
 * - CHIP   the chip read back as an inspection system reads it (9303-11 BAC, passive and active authentication)
 *          and compared with the order's record; plus the lock check.
 * - FACE   the printed face against the chip and the record: the MRZ text and the Visible Digital Seal.
 * - VISUAL defects QC staff see (recorded by hand with one of these codes).
 *
 * Codes marked `legacy` were offered by the API's stand-in before src/qc existed; they stay valid (stored results
 * and clients use them) and map onto the precise codes in {@link QC_LEGACY_EQUIVALENTS}.
 */

export const QC_KINDS = ['CHIP', 'FACE', 'VISUAL'] as const;
export type QcKind = (typeof QC_KINDS)[number];

export interface QcReasonInfo {
  kind: QcKind;
  /** One line for the QC station and the report (no personal data). */
  description: string;
  /** What QC staff do about it. */
  action: string;
  /** Kept for compatibility with results recorded before src/qc (see module comment). */
  legacy?: true;
}

const DESTROY = 'Spoil the card (blank destroyed); the order is re-queued for a new blank.';
const CHECK_ENCODER = 'Spoil the card; if several cards of one encoder fail this way, take the encoder out of service.';
const CHECK_KEYS = 'Spoil the card and stop the line: call the key custodian (trust material or signing keys are wrong).';

export const QC_REASONS = {
  // ---- CHIP: reading ---------------------------------------------------------------------------------------
  QC_CHIP_UNREADABLE: { kind: 'CHIP', description: 'The chip does not answer, or its answers are not valid APDUs.', action: 'Re-seat the card once; if it still fails, spoil it.' },
  QC_APP_NOT_FOUND: { kind: 'CHIP', description: 'The eID application (A0000002471001) cannot be selected.', action: CHECK_ENCODER },
  QC_UNPROTECTED_READ: { kind: 'CHIP', description: 'Data groups can be read without Basic Access Control (skimming risk).', action: CHECK_ENCODER },
  QC_BAC_FAILED: { kind: 'CHIP', description: 'Basic Access Control with the printed MRZ fails (chip and face disagree, or chip keys wrong).', action: CHECK_ENCODER },
  QC_SM_FAILED: { kind: 'CHIP', description: 'Secure messaging broke during the read (MAC or padding of a chip response wrong).', action: CHECK_ENCODER },
  QC_FILE_MISSING: { kind: 'CHIP', description: 'EF.COM, EF.SOD or a data group listed in them is not on the chip.', action: CHECK_ENCODER },
  QC_FILE_MALFORMED: { kind: 'CHIP', description: 'A file on the chip does not decode as ICAO 9303-10 describes it.', action: CHECK_ENCODER },
  QC_COM_MISMATCH: { kind: 'CHIP', description: 'EF.COM and EF.SOD do not list the same data groups.', action: CHECK_ENCODER },
  // ---- CHIP: passive authentication --------------------------------------------------------------------------
  QC_SOD_MALFORMED: { kind: 'CHIP', description: 'EF.SOD is not a CMS SignedData with an LDS security object.', action: CHECK_ENCODER },
  QC_SOD_SIGNATURE_INVALID: { kind: 'CHIP', description: 'The EF.SOD signature (or its messageDigest) does not verify with the Document Signer key.', action: CHECK_KEYS },
  QC_DS_UNKNOWN: { kind: 'CHIP', description: 'The Document Signer certificate does not chain to a trusted CSCA.', action: CHECK_KEYS },
  QC_DS_REVOKED: { kind: 'CHIP', description: "The Document Signer certificate is revoked on the CSCA's CRL.", action: CHECK_KEYS },
  QC_DS_NOT_VALID: { kind: 'CHIP', description: 'The Document Signer or CSCA certificate is outside its validity period now.', action: CHECK_KEYS },
  QC_CRL_UNAVAILABLE: { kind: 'CHIP', description: 'No valid CRL of the CSCA is available, so revocation cannot be checked.', action: 'Do not pass cards: the key custodian issues a CRL (`kadi keys crl`).' },
  QC_DG_HASH_MISMATCH: { kind: 'CHIP', description: 'A data group read from the chip does not hash to the value signed in EF.SOD.', action: CHECK_ENCODER },
  QC_DG_NOT_IN_SOD: { kind: 'CHIP', description: 'A data group is on the chip but its hash is not in EF.SOD.', action: CHECK_ENCODER },
  // ---- CHIP: active authentication -----------------------------------------------------------------------------
  QC_AA_FAILED: { kind: 'CHIP', description: "Active Authentication: the chip's signature of a random challenge does not verify with the DG15 key.", action: DESTROY + ' A cloned or mis-encoded chip.' },
  QC_AA_UNAVAILABLE: { kind: 'CHIP', description: 'Active Authentication cannot be run: DG15 or the DG14 algorithm is missing, or the chip refuses.', action: CHECK_ENCODER },
  // ---- CHIP: lock --------------------------------------------------------------------------------------------
  QC_CARD_NOT_LOCKED: { kind: 'CHIP', description: 'The chip accepts writes, or refuses them only for lack of keys: personalisation was not closed.', action: CHECK_ENCODER },
  // ---- CHIP: data against the order's record ------------------------------------------------------------------
  QC_DG1_MISMATCH: { kind: 'CHIP', description: "DG1 (the chip's MRZ) differs from the order's record.", action: CHECK_ENCODER },
  QC_DG2_MISMATCH: { kind: 'CHIP', description: "The portrait in DG2 is not the order's enrolment photo.", action: CHECK_ENCODER },
  QC_DG11_MISMATCH: { kind: 'CHIP', description: "DG11 (full name, personal number, birth, address) differs from the order's record.", action: CHECK_ENCODER },
  QC_DG12_MISMATCH: { kind: 'CHIP', description: 'DG12 (issuing authority, date of issue) differs from the document record.', action: CHECK_ENCODER },
  QC_DG13_MISMATCH: { kind: 'CHIP', description: "DG13 (national numbers) differs from the order's record.", action: CHECK_ENCODER },
  QC_WRONG_CARD: { kind: 'CHIP', description: 'The chip holds another document number than the card being checked.', action: 'Put the card aside and find its record: cards were swapped between encoding and QC.' },
  // ---- FACE ----------------------------------------------------------------------------------------------------
  QC_FACE_MRZ_MISMATCH: { kind: 'FACE', description: 'The MRZ printed on the face differs from DG1 on the chip.', action: DESTROY },
  QC_FACE_MRZ_UNREADABLE: { kind: 'FACE', description: 'The printed MRZ cannot be read, or its check digits are wrong.', action: 'Re-scan once; if it still fails, spoil the card.' },
  QC_SEAL_MISSING: { kind: 'FACE', description: 'No Visible Digital Seal can be read on the face.', action: 'Re-scan once; if it still fails, spoil the card.' },
  QC_SEAL_INVALID: { kind: 'FACE', description: 'The Visible Digital Seal does not verify (format, signature, signer chain or revocation).', action: CHECK_KEYS },
  QC_SEAL_MISMATCH: { kind: 'FACE', description: 'The seal verifies but its data differs from the chip (MRZ, names, numbers, dates).', action: DESTROY },
  // ---- VISUAL (recorded by QC staff) -------------------------------------------------------------------------
  QC_PRINT_DEFECT: { kind: 'VISUAL', description: 'Printing defect: smear, streak, missing or misregistered field, colour shift.', action: DESTROY },
  QC_PHOTO_DEFECT: { kind: 'VISUAL', description: "The printed portrait is defective or is not the holder's.", action: DESTROY },
  QC_CARD_DAMAGED: { kind: 'VISUAL', description: 'Card body damaged: scratch, bend, crack, delamination, chip module damage.', action: DESTROY },
  QC_SECURITY_FEATURE_DEFECT: { kind: 'VISUAL', description: 'A security feature (hologram/OVI, guilloche, UV print, laser image) is missing or defective.', action: DESTROY },
  // ---- legacy (API stand-in) -------------------------------------------------------------------------------
  QC_CHIP_DATA_MISMATCH: { kind: 'CHIP', description: "Data read from the chip differs from the order (DG1/MRZ, DG2).", action: CHECK_ENCODER, legacy: true },
  QC_SOD_INVALID: { kind: 'CHIP', description: 'EF.SOD does not verify (passive authentication failed).', action: CHECK_KEYS, legacy: true },
  QC_MRZ_UNREADABLE: { kind: 'FACE', description: 'The printed MRZ cannot be read or has wrong check digits.', action: 'Re-scan once; if it still fails, spoil the card.', legacy: true },
  QC_FACE_DATA_MISMATCH: { kind: 'FACE', description: 'Printed data differs from the chip or the order.', action: DESTROY, legacy: true },
} as const satisfies Record<string, QcReasonInfo>;

export type QcReason = keyof typeof QC_REASONS;

/** Precise codes a legacy code stands for (the report may fold them together). */
export const QC_LEGACY_EQUIVALENTS: Readonly<Record<string, readonly QcReason[]>> = {
  QC_CHIP_DATA_MISMATCH: ['QC_DG1_MISMATCH', 'QC_DG2_MISMATCH', 'QC_DG11_MISMATCH', 'QC_DG12_MISMATCH', 'QC_DG13_MISMATCH'],
  QC_SOD_INVALID: ['QC_SOD_MALFORMED', 'QC_SOD_SIGNATURE_INVALID', 'QC_DS_UNKNOWN', 'QC_DS_REVOKED', 'QC_DG_HASH_MISMATCH'],
  QC_MRZ_UNREADABLE: ['QC_FACE_MRZ_UNREADABLE'],
  QC_FACE_DATA_MISMATCH: ['QC_FACE_MRZ_MISMATCH', 'QC_SEAL_MISMATCH'],
};

export function isQcReason(code: string): code is QcReason {
  return Object.hasOwn(QC_REASONS, code);
}

export function isQcKind(kind: string): kind is QcKind {
  return (QC_KINDS as readonly string[]).includes(kind);
}

/** Reason codes of one kind (for a station's pick list); legacy codes only when asked for. */
export function reasonsOfKind(kind: QcKind, opts: { legacy?: boolean } = {}): QcReason[] {
  return (Object.keys(QC_REASONS) as QcReason[]).filter((c) => {
    const r: QcReasonInfo = QC_REASONS[c];
    return r.kind === kind && (opts.legacy || !r.legacy);
  });
}

/** Human-entered (VISUAL) codes. */
export const VISUAL_REASONS: readonly QcReason[] = reasonsOfKind('VISUAL');

/**
 * One finding of a check: a failure with its reason code, and machine-readable facts (file names, SWs, field
 * names, algorithm names — never personal data or key bytes).
 */
export interface QcFinding {
  code: QcReason;
  message: string;
  details?: Record<string, unknown>;
}

/** The reason codes as a list (for the API and the console's pick lists), optionally of one kind. */
export function qcReasonList(kind?: QcKind, opts: { legacy?: boolean } = {}): Array<{ code: QcReason; kind: QcKind; description: string; action: string; legacy: boolean }> {
  return (Object.keys(QC_REASONS) as QcReason[])
    .map((code) => {
      const r: QcReasonInfo = QC_REASONS[code];
      return { code, kind: r.kind, description: r.description, action: r.action, legacy: r.legacy === true };
    })
    .filter((r) => (!kind || r.kind === kind) && (opts.legacy !== false || !r.legacy));
}
