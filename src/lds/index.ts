/**
 * ICAO 9303 Logical Data Structure: MRZ (Parts 3-6), data groups and EF.COM / EF.CardAccess (Part 10/11), and the
 * LDSSecurityObject signed into EF.SOD. Pure: no I/O, no crypto (hashes come in through a port).
 * Other folders import from here, never from the files behind it.
 */
export * from './errors.ts';
export * from './tags.ts';
export * from './transliteration.ts';
export * from './mrz.ts';
export * from './com.ts';
export * from './dg1.ts';
export * from './image.ts';
export * from './face.ts';
export * from './finger.ts';
export * from './biometric.ts';
export * from './additional.ts';
export * from './dg13.ts';
export * from './public-key.ts';
export * from './security-infos.ts';
export * from './dg15.ts';
export * from './lds-object.ts';
