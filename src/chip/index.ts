/**
 * chip: the pure core of talking to a smart card. APDU model and CardChannel port, status words, ISO/IEC 7816-4
 * and GlobalPlatform command builders, SCP03 and ICAO (BAC) secure messaging for both the host and the card.
 * No I/O: a `Transmitter` (the CardChannel port) is given from outside (encoders/ for PC/SC, tests for fakes).
 * Other folders (encoders, qc, applets) import from here only.
 */
export * from './errors.ts';
export * from './apdu.ts';
export * from './sw.ts';
export * from './padding.ts';
export * from './aes.ts';
export * from './des.ts';
export * from './scp03.ts';
export * from './sm.ts';
export * from './bac.ts';
export * from './iso7816.ts';
export * from './gp.ts';
export * from './session.ts';
export * from './cipher.ts';
