/**
 * A card-timing model of a real contact chip, for the virtual card (vpcd.ts `timing`): how long the exchange of
 * one APDU would take on the wire and in the chip's non-volatile memory. The virtual card computes in microseconds
 * and pcscd + vpcd add ~0.1 ms; a real chip is limited by its serial line and its EEPROM. The model is the card's
 * behaviour only: the card holds its response back for the modelled time, the host sees a slower card.
 *
 * Transmission, ISO/IEC 7816-3 T=1 (§11):
 * ```
 *   etu            = Fi / (Di x f)                     1 / baud
 *   character      = 11 etu                            (start, 8 data, parity, CGT with N = 0)
 *   block          = NAD PCB LEN | INF (<= IFSC) | LRC  3 + n + 1 characters
 *   a message of n bytes goes as ceil(n / IFSC) chained I-blocks, each but the last acknowledged by an R-block
 *   (4 characters) from the other side; every change of direction costs the block guard time BGT = 22 etu.
 * ```
 * EEPROM: each command that writes persistent data costs `eepromPageWriteMs` per started page of what it writes
 * (UPDATE BINARY and PUT DATA: their data field — under secure messaging a few bytes more than the plain data;
 * CREATE FILE, SET STATUS, INITIALIZE UPDATE (the sequence counter): one page; GENERATE KEY PAIR: two pages, the
 * key pair). Commands that fail write nothing.
 * Not modelled (so the model card is *faster* than a real one, and the host's share of the card time an upper
 * bound): the chip's own processing — secure messaging, on-card key generation and signatures (typically tens to
 * hundreds of ms for P-256) — and the waiting time extensions the card asks for during them.
 */

/** Parameters of the model. */
export interface ContactCardTiming {
  /** Serial line rate, bit/s (1 etu = 1 / baud s). */
  baud: number;
  /** Largest information field of a T=1 block (IFSC = IFSD assumed), bytes. */
  ifsc: number;
  /** EEPROM page size, bytes. */
  eepromPageBytes: number;
  /** Erase + write time of one EEPROM page, ms. */
  eepromPageWriteMs: number;
}

/**
 * Published-typical values:
 * - 223 200 bit/s: ISO/IEC 7816-3 TA1 = '96' (Fi = 512, Di = 32) at f = 3.5712 MHz, a rate current ID chips and
 *   personalisation readers negotiate with PPS (the default, Fi 372 / Di 1, is 9 600 bit/s);
 * - IFSC 254, the T=1 maximum (§11.4.2);
 * - EEPROM pages of 64 bytes and 3 ms erase + write per page: smart-card EEPROMs write 32-128-byte pages in
 *   3-10 ms (smartcardfyi.com glossary "EEPROM"; Microchip CryptoMemory datasheet, write cycle ~5 ms); the low end
 *   is taken.
 */
export const TYPICAL_CONTACT_CHIP: Readonly<ContactCardTiming> = Object.freeze({ baud: 223_200, ifsc: 254, eepromPageBytes: 64, eepromPageWriteMs: 3 });

const CHAR_ETU = 11;
const BGT_ETU = 22;
const BLOCK_OVERHEAD = 4;
const R_BLOCK = 4;

/** Characters and direction changes for sending `n` bytes as chained T=1 I-blocks (with the R-block acks). */
function t1Message(n: number, ifsc: number): { chars: number; turns: number } {
  const blocks = Math.max(1, Math.ceil(n / ifsc));
  return { chars: n + blocks * BLOCK_OVERHEAD + (blocks - 1) * R_BLOCK, turns: 2 * (blocks - 1) + 1 };
}

/** Wire time of one command/response pair over T=1, ms. */
export function t1ExchangeMs(commandBytes: number, responseBytes: number, t: ContactCardTiming): number {
  const c = t1Message(commandBytes, t.ifsc);
  const r = t1Message(responseBytes, t.ifsc);
  const etu = (c.chars + r.chars) * CHAR_ETU + (c.turns + r.turns) * BGT_ETU;
  return (etu * 1000) / t.baud;
}

/** Bytes a command writes to EEPROM (see the module comment), from the command and its response as sent. */
export function eepromBytesWritten(command: Uint8Array, response: Uint8Array): number {
  const sw = response.length >= 2 ? (response[response.length - 2]! << 8) | response[response.length - 1]! : 0;
  if (sw !== 0x9000) return 0;
  const ins = command[1];
  switch (ins) {
    case 0xd6: // UPDATE BINARY
    case 0xd7:
    case 0xda: // PUT DATA
    case 0xdb:
      return dataLength(command);
    case 0xe0: // CREATE FILE
    case 0xf0: // SET STATUS
    case 0x50: // INITIALIZE UPDATE (sequence counter)
      return 1;
    case 0x46: // GENERATE ASYMMETRIC KEY PAIR
      return 2 * 64;
    default:
      return 0;
  }
}

/** Nc of a command APDU as sent (short or extended). */
function dataLength(apdu: Uint8Array): number {
  if (apdu.length <= 5) return 0;
  if (apdu[4] !== 0) return apdu[4]!;
  return apdu.length >= 7 ? (apdu[5]! << 8) | apdu[6]! : 0;
}

/** The modelled time of one APDU: transmission both ways plus the EEPROM writes, ms. */
export function apduTimeMs(command: Uint8Array, response: Uint8Array, t: ContactCardTiming): number {
  const written = eepromBytesWritten(command, response);
  const pages = written === 0 ? 0 : Math.ceil(written / t.eepromPageBytes);
  return t1ExchangeMs(command.length, response.length, t) + pages * t.eepromPageWriteMs;
}
