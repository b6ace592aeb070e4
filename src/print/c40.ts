/**
 * C40 encoding of strings as ICAO Doc 9303-13 §2.6 uses it (after ISO/IEC 16022 C40):
 *
 * ```
 * alphabet  0 Shift1, 1 Shift2, 2 Shift3, 3 <SPACE>, 4..13 '0'..'9', 14..39 'A'..'Z';  '<' is written as <SPACE>
 * triple    U = 1600*U1 + 40*U2 + U3 + 1  ->  two bytes U div 256, U mod 256
 * padding   2 values left: third value 0 (Shift 1);  1 value left: 0xFE then the DataMatrix ASCII value (char+1)
 * length    the least even number of bytes >= the number of characters
 * ```
 * Decoding turns <SPACE> back into '<' when asked (MRZ fields), and stops at the 0xFE single-character tail.
 */
import { KadiError } from '../shared/index.ts';

export class C40Error extends KadiError {}

function c40Value(ch: string): number {
  const c = ch.charCodeAt(0);
  if (ch === ' ' || ch === '<') return 3;
  if (c >= 48 && c <= 57) return c - 44;
  if (c >= 65 && c <= 90) return c - 51;
  throw new C40Error('C40_CHARACTER', `character ${JSON.stringify(ch)} cannot be C40 encoded (A-Z, 0-9, space and < only)`);
}

function c40Char(v: number): string {
  if (v === 3) return ' ';
  if (v >= 4 && v <= 13) return String.fromCharCode(v + 44);
  if (v >= 14 && v <= 39) return String.fromCharCode(v + 51);
  throw new C40Error('C40_VALUE', `C40 value ${v} is not a character of the VDS alphabet`);
}

/** Encodes A-Z, 0-9, space and '<' (written as space) into C40 bytes. */
export function encodeC40(s: string): Uint8Array {
  const vals = [...s].map(c40Value);
  const out: number[] = [];
  let i = 0;
  for (; i + 3 <= vals.length; i += 3) {
    const u = 1600 * vals[i]! + 40 * vals[i + 1]! + vals[i + 2]! + 1;
    out.push(u >> 8, u & 0xff);
  }
  const rest = vals.length - i;
  if (rest === 2) {
    const u = 1600 * vals[i]! + 40 * vals[i + 1]! + 0 + 1;
    out.push(u >> 8, u & 0xff);
  } else if (rest === 1) {
    out.push(0xfe, s.charCodeAt(i) === 60 ? 33 : s.charCodeAt(i) + 1);
  }
  return Uint8Array.from(out);
}

/** Decodes C40 bytes; `filler: true` writes <SPACE> as '<' (MRZ and other filler-padded fields). */
export function decodeC40(b: Uint8Array, opts: { filler?: boolean } = {}): string {
  if (b.length % 2 !== 0) throw new C40Error('C40_LENGTH', `C40 data of odd length ${b.length}`);
  let s = '';
  for (let i = 0; i < b.length; i += 2) {
    const b1 = b[i]!;
    const b2 = b[i + 1]!;
    if (b1 === 0xfe) {
      s += String.fromCharCode(b2 - 1);
      if (i + 2 !== b.length) throw new C40Error('C40_LENGTH', 'C40 single-character tail is not at the end');
      break;
    }
    const v = b1 * 256 + b2 - 1;
    const u1 = Math.floor(v / 1600);
    const u2 = Math.floor((v - u1 * 1600) / 40);
    const u3 = v - u1 * 1600 - u2 * 40;
    s += c40Char(u1);
    s += c40Char(u2);
    if (u3 !== 0) s += c40Char(u3); // 0 = Shift 1 pad of a final pair
  }
  return opts.filler ? s.replace(/ /g, '<') : s;
}
