/**
 * encoders: chip personalisation on PC/SC card encoders. The PC/SC CardChannel adapter (the chip port over the
 * `pcsclite` binding), the reader pool (one card at a time per reader slot), the encode sequence (identify, claim a
 * blank, SCP03 with HSM-derived keys, files, on-card AA key, SOD, BAC secrets, lock, BAC read-back with passive and
 * active authentication), the fault handling (spoil + replacement) and APDU trace storage.
 * See docs/decisions/0008-encoding.md.
 */
export * from './errors.ts';
export * from './pcsc.ts';
export * from './pool.ts';
export * from './sequence.ts';
export * from './trace.ts';
export * from './records.ts';
export * from './encode.ts';
