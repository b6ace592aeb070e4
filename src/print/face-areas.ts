/**
 * Where things are on a printed card face, for readers that look at the face (QC): the seal's area, from the
 * template. And the templates this process has printed with (or loaded), so that a reader given a print job (which
 * records its template's id and digest, not the template) can still know the layout. No I/O.
 */
import type { CardTemplate, SideName } from './template.ts';

/** A rectangle on a card side, mm from the top-left corner of the card. */
export interface FaceArea {
  side: SideName;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The seal's area (its quiet zone included) widened by `marginMm` (default 2), not past the card's left or top edge; undefined without a seal. */
export function sealArea(t: CardTemplate, marginMm = 2): FaceArea | undefined {
  for (const side of ['back', 'front'] as const) {
    const e = t[side].elements.find((el) => el.type === 'seal');
    if (!e || e.type !== 'seal') continue;
    const x = Math.max(0, e.x - marginMm);
    const y = Math.max(0, e.y - marginMm);
    return { side, x, y, w: e.size + 2 * marginMm - (x - (e.x - marginMm)), h: e.size + 2 * marginMm - (y - (e.y - marginMm)) };
  }
  return undefined;
}

const KNOWN_MAX = 32;
const known: CardTemplate[] = [];

/** Remembers a template this process prints with (the most recent {@link KNOWN_MAX}). */
export function rememberTemplate(t: CardTemplate): void {
  const i = known.indexOf(t);
  if (i === 0) return;
  if (i > 0) known.splice(i, 1);
  known.unshift(t);
  if (known.length > KNOWN_MAX) known.length = KNOWN_MAX;
}

/** The templates remembered, most recent first. */
export function knownTemplates(): readonly CardTemplate[] {
  return known;
}
