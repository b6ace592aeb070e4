/**
 * qc: quality control of finished cards. The chip is read back as an inspection system reads it — knowing only
 * the printed MRZ: BAC, every file, passive authentication (SOD signature, DS chain to the CSCA, CRL, every DG
 * hash), active authentication with a random challenge, the lock — and compared with the order's record; the
 * printed face is checked against the chip (MRZ, Visible Digital Seal); QC staff record visual defects. Every
 * failure has a stable reason code (reasons.ts). A failed card is spoiled and its order re-queued on a new blank
 * (src/cards spoilAndReplace), or flagged for a supervisor after repeated failures. See docs/decisions/0010-qc.md.
 *
 * Pure: reasons, compare, checks, face, aa. Over the CardChannel port only: reader. Database: store, run, report.
 * Files and poppler: face-read (the rendered face), report-pdf.
 */
export * from './reasons.ts';
export * from './reader.ts';
export * from './aa.ts';
export * from './compare.ts';
export * from './checks.ts';
export * from './face.ts';
export * from './store.ts';
export * from './run.ts';
export * from './face-read.ts';
export * from './report.ts';
export * from './report-pdf.ts';
