/**
 * Answer-to-Reset of the Kadi virtual card (ISO/IEC 7816-3:2006 §8.2, historical bytes ISO/IEC 7816-4 §8.1.1).
 *
 * ```
 *   TS   3B        direct convention
 *   T0   FK        Y1 = F: TA1 TB1 TC1 TD1 present; K = number of historical bytes (0..15)
 *   TA1  13        Fi = 372, Di = 4 (FI=1, DI=3)
 *   TB1  00        no programming voltage (deprecated, kept as real cards do)
 *   TC1  00        no extra guard time
 *   TD1  81        Y2 = 8: TD2 present; T = 1
 *   TD2  31        Y3 = 3: TA3 TB3 present; T = 1
 *   TA3  FE        IFSC = 254 bytes
 *   TB3  45        BWI = 4, CWI = 5
 *   T1..TK         historical bytes (below)
 *   TCK            XOR of T0 .. TK: present because a protocol other than T=0 is offered (§8.2.5)
 * ```
 * Historical bytes (ISO/IEC 7816-4 §8.1.1, category indicator '80' = COMPACT-TLV objects follow, the last one
 * being the status indicator):
 * ```
 *   80             category indicator
 *   31 80          card service data: application selection by full DF name
 *   73 B4 01 C0    card capabilities: selection by full DF name, path, FID, SFI supported; data unit 1 byte;
 *                  command chaining and extended Lc/Le supported
 *   53 4B 44 VV    card issuer's data: "KD" + one byte OS version
 *   82 90 00       status indicator: SW 9000
 * ```
 */

export const ATR_TS_DIRECT = 0x3b;
/** Interface bytes of the Kadi ATR after T0 (TA1 TB1 TC1 TD1 TD2 TA3 TB3). */
export const KADI_INTERFACE_BYTES = Uint8Array.of(0x13, 0x00, 0x00, 0x81, 0x31, 0xfe, 0x45);
/** Y1 = TA1 TB1 TC1 TD1 present. */
const T0_Y1_ALL = 0xf0;
/** Version of the virtual card OS, carried in the issuer data of the historical bytes. */
export const KADI_OS_VERSION = 0x01;

/** The historical bytes described above. */
export function kadiHistoricalBytes(osVersion = KADI_OS_VERSION): Uint8Array {
  const issuer = [0x4b, 0x44, osVersion]; // "KD" + version
  return Uint8Array.of(0x80, 0x31, 0x80, 0x73, 0xb4, 0x01, 0xc0, 0x50 | issuer.length, ...issuer, 0x82, 0x90, 0x00);
}

/** XOR of all bytes from T0 to the last historical byte (the TCK check byte). */
export function atrCheckByte(atrWithoutTck: Uint8Array): number {
  let x = 0;
  for (let i = 1; i < atrWithoutTck.length; i++) x ^= atrWithoutTck[i]!;
  return x;
}

/** Builds the Kadi ATR for the given historical bytes (at most 15). */
export function buildAtr(historical: Uint8Array = kadiHistoricalBytes()): Uint8Array {
  if (historical.length > 15) throw new RangeError(`at most 15 historical bytes, got ${historical.length}`);
  const body = Uint8Array.of(ATR_TS_DIRECT, T0_Y1_ALL | historical.length, ...KADI_INTERFACE_BYTES, ...historical);
  return Uint8Array.of(...body, atrCheckByte(body));
}

/** What {@link parseAtr} found. */
export interface ParsedAtr {
  /** Protocols offered in TDi (T=0 implied when there is no TD1). */
  protocols: number[];
  historical: Uint8Array;
  /** TCK present and correct (true when absent and not required). */
  tckValid: boolean;
  tckPresent: boolean;
  /** IFSC from the first TAi (i>2) for T=1, default 32. */
  ifsc: number;
}

/**
 * Parses an ATR (ISO/IEC 7816-3 §8.2): walks the TDi chain, collects offered protocols, checks TCK. Used by unit
 * tests and by anyone who wants to see what the card announces; throws RangeError on a truncated ATR.
 */
export function parseAtr(atr: Uint8Array): ParsedAtr {
  if (atr.length < 2) throw new RangeError('ATR shorter than TS T0');
  if (atr[0] !== 0x3b && atr[0] !== 0x3f) throw new RangeError(`TS ${atr[0]!.toString(16)} is not 3B/3F`);
  const t0 = atr[1]!;
  const k = t0 & 0x0f;
  let y = t0 >>> 4;
  let i = 2;
  const protocols: number[] = [];
  let level = 1;
  let ifsc = 32;
  let lastProtocol = 0;
  for (;;) {
    const ta = y & 0x1 ? atr[i++] : undefined;
    if (y & 0x2) i++;
    if (y & 0x4) i++;
    if (ta !== undefined && level > 2 && lastProtocol === 1 && ifsc === 32) ifsc = ta;
    if (i > atr.length) throw new RangeError('ATR truncated in interface bytes');
    if (!(y & 0x8)) break;
    const td = atr[i++];
    if (td === undefined) throw new RangeError('ATR truncated at TD');
    lastProtocol = td & 0x0f;
    if (!protocols.includes(lastProtocol)) protocols.push(lastProtocol);
    y = td >>> 4;
    level++;
  }
  if (protocols.length === 0) protocols.push(0);
  const historical = atr.subarray(i, i + k);
  if (historical.length !== k) throw new RangeError('ATR truncated in historical bytes');
  const tckRequired = protocols.some((p) => p !== 0);
  const tckPresent = atr.length > i + k;
  const tckValid = tckPresent ? atrCheckByte(atr.subarray(0, i + k)) === atr[i + k] : !tckRequired;
  return { protocols, historical, tckValid, tckPresent, ifsc };
}
