/**
 * Transliteration of names into the MRZ character set (A-Z and the filler '<').
 *
 * Source: ICAO Doc 9303, Part 3 (8th edition, 2021), Section 6 "Transliterations recommended for use by States",
 * table of multinational Latin-based characters (ordered by Unicode code point since the 2016 amendment of the 7th
 * edition). The table below is reconstructed from that publication (no machine-readable copy of it is shipped
 * with Kadi); rows are quoted as "code point, character, recommended MRZ transliteration":
 * ```
 *   00C0 À A    00C1 Á A    00C2 Â A    00C3 Ã A    00C4 Ä AE   00C5 Å AA   00C6 Æ AE   00C7 Ç C
 *   00C8 È E    00C9 É E    00CA Ê E    00CB Ë E    00CC Ì I    00CD Í I    00CE Î I    00CF Ï I
 *   00D0 Ð D    00D1 Ñ N    00D2 Ò O    00D3 Ó O    00D4 Ô O    00D5 Õ O    00D6 Ö OE   00D8 Ø OE
 *   00D9 Ù U    00DA Ú U    00DB Û U    00DC Ü UE   00DD Ý Y    00DE Þ TH   00DF ß SS
 *   0100 Ā A    0102 Ă A    0104 Ą A    0106 Ć C    0108 Ĉ C    010A Ċ C    010C Č C    010E Ď D
 *   0110 Đ D    0112 Ē E    0114 Ĕ E    0116 Ė E    0118 Ę E    011A Ě E    011C Ĝ G    011E Ğ G
 *   0120 Ġ G    0122 Ģ G    0124 Ĥ H    0126 Ħ H    0128 Ĩ I    012A Ī I    012C Ĭ I    012E Į I
 *   0130 İ I    0131 ı I    0132 Ĳ IJ   0134 Ĵ J    0136 Ķ K    0139 Ĺ L    013B Ļ L    013D Ľ L
 *   013F Ŀ L    0141 Ł L    0143 Ń N    0145 Ņ N    0147 Ň N    014A Ŋ N    014C Ō O    014E Ŏ O
 *   0150 Ő O    0152 Œ OE   0154 Ŕ R    0156 Ŗ R    0158 Ř R    015A Ś S    015C Ŝ S    015E Ş S
 *   0160 Š S    0162 Ţ T    0164 Ť T    0166 Ŧ T    0168 Ũ U    016A Ū U    016C Ŭ U    016E Ů U
 *   0170 Ű U    0172 Ų U    0174 Ŵ W    0176 Ŷ Y    0178 Ÿ Y    0179 Ź Z    017B Ż Z    017D Ž Z
 *   1E9E ẞ SS
 * ```
 * Lower-case letters are upper-cased first (Unicode default case mapping), so á, ß, ĳ, ı follow the rows above.
 * Input is normalised to NFC first, so a base letter followed by a combining accent is treated as the precomposed
 * character.
 *
 * Alternatives: earlier editions (6th edition, Part 1 Vol. 1 Section IV Appendix 9) listed national alternatives
 * next to the recommended forms: Ä → A, Å → A, Ö → O, Ø → O, Ü → U or UXX, Ñ → NXX. They are offered through
 * {@link TransliterationOptions.alternatives}; the default is the recommended column.
 *
 * Punctuation (Part 3 §4.6, name of the holder in the MRZ):
 * - apostrophes are omitted and the parts on either side joined (D'ARTAGNAN → DARTAGNAN);
 * - hyphens, spaces and commas become a filler '<' (a run of them becomes one filler);
 * - any other character (digits, '.', non-Latin scripts, Latin letters not in the table such as Ș or Ẹ) is
 *   rejected with `MRZ_UNSUPPORTED_CHARACTER`: transliterating Cyrillic, Greek or Arabic needs the issuing
 *   State's choice of table and is not done silently.
 */
import { LdsError } from './errors.ts';

/** Recommended MRZ transliteration of multinational Latin characters (upper case), ICAO 9303-3 §6. */
export const LATIN_TRANSLITERATION: ReadonlyMap<string, string> = new Map<string, string>([
  ['\u00C0', 'A'], ['\u00C1', 'A'], ['\u00C2', 'A'], ['\u00C3', 'A'], ['\u00C4', 'AE'], ['\u00C5', 'AA'],
  ['\u00C6', 'AE'], ['\u00C7', 'C'], ['\u00C8', 'E'], ['\u00C9', 'E'], ['\u00CA', 'E'], ['\u00CB', 'E'],
  ['\u00CC', 'I'], ['\u00CD', 'I'], ['\u00CE', 'I'], ['\u00CF', 'I'], ['\u00D0', 'D'], ['\u00D1', 'N'],
  ['\u00D2', 'O'], ['\u00D3', 'O'], ['\u00D4', 'O'], ['\u00D5', 'O'], ['\u00D6', 'OE'], ['\u00D8', 'OE'],
  ['\u00D9', 'U'], ['\u00DA', 'U'], ['\u00DB', 'U'], ['\u00DC', 'UE'], ['\u00DD', 'Y'], ['\u00DE', 'TH'],
  ['\u00DF', 'SS'],
  ['\u0100', 'A'], ['\u0102', 'A'], ['\u0104', 'A'], ['\u0106', 'C'], ['\u0108', 'C'], ['\u010A', 'C'],
  ['\u010C', 'C'], ['\u010E', 'D'], ['\u0110', 'D'], ['\u0112', 'E'], ['\u0114', 'E'], ['\u0116', 'E'],
  ['\u0118', 'E'], ['\u011A', 'E'], ['\u011C', 'G'], ['\u011E', 'G'], ['\u0120', 'G'], ['\u0122', 'G'],
  ['\u0124', 'H'], ['\u0126', 'H'], ['\u0128', 'I'], ['\u012A', 'I'], ['\u012C', 'I'], ['\u012E', 'I'],
  ['\u0130', 'I'], ['\u0131', 'I'], ['\u0132', 'IJ'], ['\u0134', 'J'], ['\u0136', 'K'], ['\u0139', 'L'],
  ['\u013B', 'L'], ['\u013D', 'L'], ['\u013F', 'L'], ['\u0141', 'L'], ['\u0143', 'N'], ['\u0145', 'N'],
  ['\u0147', 'N'], ['\u014A', 'N'], ['\u014C', 'O'], ['\u014E', 'O'], ['\u0150', 'O'], ['\u0152', 'OE'],
  ['\u0154', 'R'], ['\u0156', 'R'], ['\u0158', 'R'], ['\u015A', 'S'], ['\u015C', 'S'], ['\u015E', 'S'],
  ['\u0160', 'S'], ['\u0162', 'T'], ['\u0164', 'T'], ['\u0166', 'T'], ['\u0168', 'U'], ['\u016A', 'U'],
  ['\u016C', 'U'], ['\u016E', 'U'], ['\u0170', 'U'], ['\u0172', 'U'], ['\u0174', 'W'], ['\u0176', 'Y'],
  ['\u0178', 'Y'], ['\u0179', 'Z'], ['\u017B', 'Z'], ['\u017D', 'Z'],
  ['\u1E9E', 'SS'],
]);

/** National alternatives allowed for a few characters (see the module comment). */
export const TRANSLITERATION_ALTERNATIVES: Readonly<Record<string, readonly string[]>> = {
  '\u00C4': ['A'], // Ä
  '\u00C5': ['A'], // Å
  '\u00D6': ['O'], // Ö
  '\u00D8': ['O'], // Ø
  '\u00DC': ['U', 'UXX'], // Ü
  '\u00D1': ['NXX'], // Ñ
};

export interface TransliterationOptions {
  /**
   * Use an alternative for some characters, e.g. `{ 'Ñ': 'NXX', 'Ü': 'UXX' }`. Only the alternatives in
   * {@link TRANSLITERATION_ALTERNATIVES} are accepted (`MRZ_INVALID_INPUT` otherwise). Default: none (the
   * recommended transliteration).
   */
  alternatives?: Readonly<Record<string, string>>;
}

/** Characters omitted from the MRZ name: apostrophe and its typographic look-alikes. */
const APOSTROPHES = new Set(["'", '\u2019', '\u2018', '\u02BC', '\u02B9', '`', '\u00B4']);
/** Characters that separate name components: space (and no-break space), hyphen (and dashes), comma. */
const SEPARATORS = new Set([' ', '\u00A0', '\t', '-', '\u2010', '\u2011', '\u2013', ',']);

function checkAlternatives(alts: Readonly<Record<string, string>>): void {
  for (const [ch, to] of Object.entries(alts)) {
    const allowed = TRANSLITERATION_ALTERNATIVES[ch];
    if (!allowed || !allowed.includes(to)) {
      throw new LdsError('MRZ_INVALID_INPUT', 'transliteration: alternative not listed by ICAO 9303-3', {
        field: 'transliteration',
      });
    }
  }
}

/**
 * Transliterates a name (primary or secondary identifier) into MRZ name components: upper-case A-Z strings,
 * in order, without fillers. `field` is only used in errors.
 */
export function transliterateName(text: string, field: string, opts: TransliterationOptions = {}): string[] {
  const alts = opts.alternatives ?? {};
  if (opts.alternatives) checkAlternatives(alts);
  const parts: string[] = [];
  let cur = '';
  let index = 0; // index of the code point in the NFC-normalised input
  for (const original of text.normalize('NFC')) {
    // Upper-case per character: one character may become several (ß -> SS, ŉ -> ʼN).
    for (const ch of original.toUpperCase()) {
      if (ch >= 'A' && ch <= 'Z') {
        cur += ch;
      } else if (SEPARATORS.has(ch)) {
        if (cur) parts.push(cur);
        cur = '';
      } else if (APOSTROPHES.has(ch)) {
        // omitted; the parts on either side are joined
      } else {
        const mapped = alts[ch] ?? LATIN_TRANSLITERATION.get(ch);
        if (mapped === undefined) {
          const cp = original.codePointAt(0)!;
          throw new LdsError(
            'MRZ_UNSUPPORTED_CHARACTER',
            `${field}: character at index ${index} has no MRZ transliteration`,
            { field, index, codePoint: `U+${cp.toString(16).toUpperCase().padStart(4, '0')}` },
          );
        }
        cur += mapped;
      }
    }
    index++;
  }
  if (cur) parts.push(cur);
  return parts;
}

/** Transliterated name components joined by single fillers ("ANNA<MARIA"). */
export function transliterate(text: string, field = 'name', opts: TransliterationOptions = {}): string {
  return transliterateName(text, field, opts).join('<');
}
