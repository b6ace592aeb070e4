/**
 * Card Production Life Cycle data (GP Card Spec 2.3 §H.6 "CPLC", GET DATA tag '9F7F'), 42 bytes:
 * ```
 *   offset len  field                                  Kadi virtual card
 *    0      2   IC fabricator                          '4B44' ("KD")
 *    2      2   IC type                                '0001'
 *    4      2   operating system identifier            '4B41' ("KA")
 *    6      2   operating system release date (YDDD)   manufacture date
 *    8      2   operating system release level         '0100'
 *   10      2   IC fabrication date (YDDD)             manufacture date
 *   12      4   IC serial number                       serial[2..6]
 *   16      2   IC batch identifier                    serial[0..2]
 *   18      2   IC module fabricator                   '4B44'
 *   20      2   IC module packaging date               manufacture date
 *   22      2   ICC manufacturer                       '4B44'
 *   24      2   IC embedding date                      manufacture date
 *   26      2   IC pre-personalizer                    '4B44'
 *   28      2   IC pre-perso equipment date            manufacture date
 *   30      4   IC pre-perso equipment identifier      '00000001'
 *   34      2   IC personalizer                        '0000' until personalised
 *   36      2   IC personalization date                '0000'
 *   38      4   IC perso equipment identifier          '00000000'
 * ```
 * Dates are "YDDD" in BCD: last digit of the year, day of the year (2026-11-25 = '6329').
 *
 * The card serial (6 bytes) is IC batch identifier || IC serial number, unique per chip like the real pair.
 * The SCP03 key diversification data (10 bytes, INITIALIZE UPDATE) is IC fabricator || IC type || serial.
 */
export const CPLC_LENGTH = 42;
export const TAG_CPLC = 0x9f7f;
export const KADI_IC_FABRICATOR = 0x4b44;
export const KADI_IC_TYPE = 0x0001;
export const KADI_OS_ID = 0x4b41;

/** YDDD (BCD) of a date. */
export function cplcDate(d: Date): number {
  const start = Date.UTC(d.getUTCFullYear(), 0, 1);
  const day = Math.floor((Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - start) / 86_400_000) + 1;
  const digits = `${d.getUTCFullYear() % 10}${String(day).padStart(3, '0')}`;
  return parseInt(digits, 16);
}

/** Builds the CPLC of a new card. */
export function buildCplc(serial: Uint8Array, manufactured: Date): Uint8Array {
  if (serial.length !== 6) throw new RangeError('serial must be 6 bytes');
  const c = new Uint8Array(CPLC_LENGTH);
  const v = new DataView(c.buffer);
  const date = cplcDate(manufactured);
  v.setUint16(0, KADI_IC_FABRICATOR);
  v.setUint16(2, KADI_IC_TYPE);
  v.setUint16(4, KADI_OS_ID);
  v.setUint16(6, date);
  v.setUint16(8, 0x0100);
  v.setUint16(10, date);
  c.set(serial.subarray(2, 6), 12);
  c.set(serial.subarray(0, 2), 16);
  v.setUint16(18, KADI_IC_FABRICATOR);
  v.setUint16(20, date);
  v.setUint16(22, KADI_IC_FABRICATOR);
  v.setUint16(24, date);
  v.setUint16(26, KADI_IC_FABRICATOR);
  v.setUint16(28, date);
  v.setUint32(30, 1);
  return c;
}

/** The serial (batch || IC serial number) a CPLC carries. */
export function serialFromCplc(cplc: Uint8Array): Uint8Array {
  if (cplc.length !== CPLC_LENGTH) throw new RangeError('CPLC must be 42 bytes');
  return Uint8Array.of(...cplc.subarray(16, 18), ...cplc.subarray(12, 16));
}

/** Key diversification data of INITIALIZE UPDATE: IC fabricator || IC type || serial (10 bytes). */
export function keyDiversificationData(cplc: Uint8Array): Uint8Array {
  return Uint8Array.of(...cplc.subarray(0, 4), ...serialFromCplc(cplc));
}

/** Marks the card as personalised in its CPLC (personalizer, date, equipment). */
export function stampPersonalisation(cplc: Uint8Array, when: Date, personalizer = KADI_IC_FABRICATOR, equipment = 1): void {
  const v = new DataView(cplc.buffer, cplc.byteOffset, cplc.byteLength);
  v.setUint16(34, personalizer);
  v.setUint16(36, cplcDate(when));
  v.setUint32(38, equipment);
}
