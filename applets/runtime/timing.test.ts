/**
 * The contact-chip timing model (timing.ts): T=1 wire time and EEPROM page writes, computed by hand.
 */
import { describe, expect, it } from 'vitest';
import { TYPICAL_CONTACT_CHIP, apduTimeMs, eepromBytesWritten, t1ExchangeMs } from './timing.ts';

const T = { baud: 100_000, ifsc: 254, eepromPageBytes: 64, eepromPageWriteMs: 3 };

describe('contact card timing model', () => {
  it('T=1: 11 etu per character, 4 characters per block, R-block acks and BGT per change of direction', () => {
    // 5-byte command, 2-byte response: (5+4 + 2+4) chars x 11 etu + 2 x 22 etu = 209 etu at 100 kbit/s
    expect(t1ExchangeMs(5, 2, T)).toBeCloseTo(2.09, 6);
    // 600 bytes: 3 blocks (254, 254, 92), 2 R-blocks back, 5 turns; response 2 bytes
    const etu = (600 + 12 + 8) * 11 + 5 * 22 + (2 + 4) * 11 + 22;
    expect(t1ExchangeMs(600, 2, T)).toBeCloseTo(etu / 100, 6);
  });

  it('EEPROM: pages of what a successful write command stores; reads and failures write nothing', () => {
    const update = Uint8Array.from([0x0c, 0xd6, 0, 0, 0, 0x01, 0x00, ...new Uint8Array(256)]); // extended Lc 256
    expect(eepromBytesWritten(update, Uint8Array.of(0x90, 0x00))).toBe(256);
    expect(eepromBytesWritten(update, Uint8Array.of(0x69, 0x85))).toBe(0);
    expect(eepromBytesWritten(Uint8Array.of(0, 0xb0, 0, 0, 0), Uint8Array.of(0x90, 0x00))).toBe(0);
    expect(apduTimeMs(update, Uint8Array.of(0x90, 0x00), T)).toBeCloseTo(t1ExchangeMs(update.length, 2, T) + 4 * 3, 6);
    // the published-typical chip: a 4 KiB write takes about a quarter of a second
    const big = Uint8Array.from([0x0c, 0xd6, 0, 0, 0, 0x10, 0x00, ...new Uint8Array(4096)]);
    const ms = apduTimeMs(big, Uint8Array.of(0x90, 0x00), TYPICAL_CONTACT_CHIP);
    expect(ms).toBeGreaterThan(200);
    expect(ms).toBeLessThan(500);
  });
});
