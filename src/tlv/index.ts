/**
 * BER-TLV codec (ISO/IEC 7816-4 §5.2, X.690) as used by the ICAO LDS, DER helpers, and GlobalPlatform DGIs.
 * Pure: no I/O. Other folders import from here, never from the files behind it.
 */
export * from './errors.ts';
export * from './ber.ts';
export * from './parse.ts';
export * from './builder.ts';
export * from './der.ts';
export * from './dgi.ts';
