/**
 * Card faces without a database: templates, text fitting, the Data Matrix and seal codecs, and rendered PDFs
 * checked as a person would — with poppler (pdfinfo page sizes, pdffonts embedded OCR-B, pdftotext for the MRZ
 * text layer, pdftoppm to read the seal back from pixels) and libdmtx's dmtxread as an independent Data Matrix
 * decoder. Seals here are signed with a software key; the SoftHSM path is in print.db.test.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMrz } from '../src/lds/index.ts';
import {
  type CardTemplate,
  type FaceData,
  type TextMeasurer,
  CardPdfWriter,
  ID1_PAGE_PT,
  KADI_ID_PROFILE,
  PT_MM,
  SYMBOL_SIZES,
  TD1_MRZ,
  cardSide,
  decodeC40,
  decodeDataMatrix,
  decodePng,
  decodeVds,
  documentDates,
  encodeC40,
  encodeDataMatrix,
  encodeGreyPng,
  encodeVdsUnsigned,
  faceData,
  fitText,
  idSealFeatures,
  loadTemplateFile,
  locateDataMatrix,
  mrzGeometry,
  parseTemplate,
  rasteriseModules,
  readIdSealFeatures,
  readSealFromPng,
  sealDataFor,
  signVds,
  staticLayers,
  templateMeasurer,
  withSignature,
} from '../src/print/index.ts';
import { softwareSigner } from '../src/pki/index.ts';
import { generateRecords, validateRecord } from '../src/registry/index.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const TEMPLATE = path.join(ROOT, 'templates/kenya-eid.json');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'kadi-print-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const hasDmtx = spawnSync('dmtxread', ['--version'], { stdio: 'ignore' }).status === 0;

let template: CardTemplate;
let baseDir: string;
let m: TextMeasurer;
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const softSigner = softwareSigner(privateKey, 'ecdsa-p256', new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })));

interface Rec {
  registryId: number;
  nationalNumber: string;
  surname: string;
  givenNames: string;
  sex: 'M' | 'F' | 'X';
  dateOfBirth: string;
  placeOfBirth: string;
  county: string;
  collectionCentre: string;
  photo: Buffer;
}
let records: Rec[] = [];

beforeAll(async () => {
  ({ template, baseDir } = await loadTemplateFile(TEMPLATE));
  m = templateMeasurer(template, baseDir);
  for (const r of generateRecords({ count: 3000, seed: 'print-test', nonApprovedRate: 0 })) {
    const v = validateRecord(r, { today: new Date('2025-07-01') });
    if (v.ok) records.push(v.record as unknown as Rec);
  }
  records = records.sort((a, b) => (b.surname + b.givenNames).length - (a.surname + a.givenNames).length);
});

async function faceFor(r: Rec, cardId: number): Promise<FaceData> {
  const { photo, ...rec } = r;
  const face = faceData({ cardId, documentNumber: `KA${String(cardId).padStart(7, '0')}`, record: rec, photo, dates: documentDates('2026-11-25'), issuingState: 'KEN', centreName: 'Huduma Centre GPO' });
  const seal = await signVds(
    {
      version: 4,
      issuingCountry: 'KEN',
      signerIdentifier: 'KESA',
      certificateReference: '1A2B3C4D5E6F',
      documentIssueDate: face.dateOfIssue,
      signatureCreationDate: '2026-11-25',
      featureDefinitionReference: KADI_ID_PROFILE.featureDefinitionReference,
      documentTypeCategory: KADI_ID_PROFILE.documentTypeCategory,
    },
    idSealFeatures(sealDataFor(face)),
    softSigner,
  );
  return { ...face, seal };
}

async function renderPdf(faces: FaceData[], file: string, impose?: boolean): Promise<void> {
  const { createWriteStream } = await import('node:fs');
  const out = createWriteStream(file);
  const w = new CardPdfWriter({ template, baseDir, out, title: 'test', ...(impose ? { impose: {} } : {}) });
  for (const f of faces) w.addCard(f);
  await w.finish();
}

describe('Data Matrix ECC 200', () => {
  it('round-trips every square size and dmtxread (libdmtx) reads what Kadi encodes', () => {
    for (const s of SYMBOL_SIZES.filter((z) => z.rows === z.cols)) {
      const n = Math.max(1, s.dataCodewords - 3);
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i === 0 ? 0xff : (i * 53 + s.rows) & 255)); // Base 256
      const sym = encodeDataMatrix(bytes);
      expect(sym.rows).toBe(s.rows);
      expect(Buffer.from(decodeDataMatrix(sym).bytes)).toEqual(Buffer.from(bytes));
      if (hasDmtx && [10, 26, 52, 104, 144].includes(s.rows)) {
        const f = path.join(tmp, `dm-${s.rows}.png`);
        writeFileSync(f, encodeGreyPng(rasteriseModules(sym, 4, 2)));
        expect(execFileSync('dmtxread', [f]), `dmtxread ${s.rows}`).toEqual(Buffer.from(bytes));
      }
    }
  });

  it('encodes ASCII text with digit pairs and decodes what it wrote', () => {
    const sym = encodeDataMatrix('KADI 2026 batch 0001');
    expect(Buffer.from(decodeDataMatrix(sym).bytes).toString('latin1')).toBe('KADI 2026 batch 0001');
  });

  it('corrects damaged modules with Reed-Solomon and refuses a symbol damaged beyond repair', () => {
    const bytes = Uint8Array.from({ length: 200 }, (_, i) => i);
    const sym = encodeDataMatrix(bytes);
    const damaged = Uint8Array.from(sym.modules);
    for (let i = 0; i < 30; i++) damaged[(3 + ((i * 7) % (sym.rows - 6))) * sym.cols + 3 + ((i * 11) % (sym.cols - 6))]! ^= 1;
    const d = decodeDataMatrix({ rows: sym.rows, cols: sym.cols, modules: damaged });
    expect(d.corrected).toBeGreaterThan(0);
    expect(Buffer.from(d.bytes)).toEqual(Buffer.from(bytes));
    const ruined = Uint8Array.from(sym.modules);
    for (let r = 1; r < sym.rows - 1; r++) for (let c = 1; c < sym.cols - 1; c += 2) ruined[r * sym.cols + c]! ^= 1;
    expect(() => decodeDataMatrix({ rows: sym.rows, cols: sym.cols, modules: ruined })).toThrow(/DATAMATRIX|codeword|error|valid/i);
  });

  it('finds and decodes a symbol in a bitmap (with a quiet zone, among other marks)', () => {
    const sym = encodeDataMatrix(Uint8Array.from([0xdc, 1, 2, 3, 250]));
    const img = rasteriseModules(sym, 5, 6);
    for (let x = 0; x < 12; x++) img.data[x] = 0; // a stray dark mark in a corner
    const found = locateDataMatrix(decodePng(encodeGreyPng(img)));
    expect(found).toHaveLength(1);
    expect([...found[0]!.bytes]).toEqual([0xdc, 1, 2, 3, 250]);
  });
});

describe('Visible Digital Seal encoding', () => {
  it('matches the C40 examples of Doc 9303-13 Appendix C', () => {
    expect(Buffer.from(encodeC40('XK<CD')).toString('hex')).toBe('eb0466a9');
    expect(Buffer.from(encodeC40('XKCD')).toString('hex')).toBe('eb11fe45');
    expect(decodeC40(Uint8Array.from([0xeb, 0x04, 0x66, 0xa9]), { filler: true })).toBe('XK<CD');
    expect(decodeC40(Uint8Array.from([0xeb, 0x11, 0xfe, 0x45]))).toBe('XKCD');
  });

  it('decodes a published ICAO emergency travel document seal and re-encodes it byte for byte', () => {
    // Doc 9303-8/-13 example ETD seal (UTO), as carried in the test vectors of the independent tsenger/vdstools.
    const etd = Buffer.from(
      'DC03D9C5D9CAC8A73A990F71347D4E375E0302308A0D62B9D917A4CCA93CA4D0EDFC133C133C133C133C133C3FEF3A2938EE43F1593D1AE52DBB26751FE64B7C133C136BFF4022F8BD19ECCBA4EF24F204787796DD914FEC61F605B153B22A6EF307D3869938A4E7E908F0A63B8379880B395C7FDBAC720D7F2836D08E1DA62611614A00120B',
      'hex',
    );
    const v = decodeVds(etd);
    expect(v.header).toMatchObject({ version: 4, issuingCountry: 'UTO', signerIdentifier: 'UTTS', certificateReference: '5B', featureDefinitionReference: 0x5e, documentTypeCategory: 3 });
    expect(decodeC40(v.features[0]!.value, { filler: true })).toBe('I<GBRSUPAMANN<<MARY<<<<<<<<<<<<<<<<<6525845096USA7008038M2201018<<<<<<06');
    expect(v.signedBytes.length).toBe(68);
    expect(v.signature.length).toBe(64);
    expect(Buffer.from(withSignature(encodeVdsUnsigned(v.header, v.features), v.signature))).toEqual(etd);
  });

  it('carries the card data in Kadi’s e-ID profile, names in UTF-8 with their accents', async () => {
    const r = records.find((x) => /[^\x00-\x7f]/.test(x.surname + x.givenNames))!;
    const face = await faceFor(r, 7);
    const v = decodeVds(face.seal!);
    const { data, unknownTags } = readIdSealFeatures(v.features);
    expect(unknownTags).toEqual([]);
    expect(data).toEqual(sealDataFor(face));
    expect(data.surname).toBe(r.surname);
  });
});

describe('templates', () => {
  const base = (): Record<string, unknown> => JSON.parse(readFileSync(TEMPLATE, 'utf8')) as Record<string, unknown>;
  const withBack = (f: (els: Array<Record<string, unknown>>) => void): Record<string, unknown> => {
    const t = base();
    f((t.back as { elements: Array<Record<string, unknown>> }).elements);
    return t;
  };

  it('the shipped Kenyan template is valid', () => {
    expect(parseTemplate(base()).id).toBe('kenya-eid');
  });

  it.each([
    ['an unknown font', withBack((e) => e.push({ type: 'text', text: 'X', x: 1, y: 1, w: 5, h: 3, font: 'comic', size: 5 })), /font "comic"/],
    ['an MRZ outside the ICAO tolerance', withBack((e) => Object.assign(e.find((x) => x.type === 'mrz')!, { middleLineFromBottom: 14 })), /11\.5 ± 1\.0/],
    ['an MRZ line spacing below ISO 1831', withBack((e) => Object.assign(e.find((x) => x.type === 'mrz')!, { lineSpacing: 4.0 })), /4\.20\.\.4\.52/],
    ['an element off the card', withBack((e) => e.push({ type: 'rect', x: 80, y: 1, w: 10, h: 3, fill: '#000000' })), /outside the 85\.6 x 53\.98 mm card/],
    ['an unknown placeholder', withBack((e) => e.push({ type: 'field', value: '{shoeSize}', x: 1, y: 1, w: 10, h: 3, font: 'sans', size: 5 })), /unknown placeholder \{shoeSize\}/],
    ['an unknown colour', withBack((e) => e.push({ type: 'rect', x: 1, y: 1, w: 10, h: 3, fill: 'mauve' })), /unknown colour "mauve"/],
    ['a missing MRZ', withBack((e) => e.splice(e.findIndex((x) => x.type === 'mrz'), 1)), /exactly one mrz/],
  ])('refuses %s with a clear error naming the path', (_what, json, message) => {
    expect(() => parseTemplate(json)).toThrow(message);
    try {
      parseTemplate(json);
    } catch (e) {
      expect((e as { code: string }).code).toBe('PRINT_TEMPLATE_INVALID');
      expect((e as Error).message).toMatch(/^template: (back|front)/);
    }
  });

  it('no static text of the shipped template needs truncating', () => {
    for (const side of ['front', 'back'] as const) {
      staticLayers(template, side, m);
      for (const e of template[side].elements) {
        if (e.type === 'text') expect(fitText(e.text, e.w, e.h, e, m).truncated, e.text).toBe(false);
      }
    }
  });
});

describe('text fitting', () => {
  const spec = { font: 'bold', size: 8, minSize: 6, maxLines: 2, lineHeight: 1.1, letterSpacing: 0 };

  it('keeps a short text at its size, shrinks a longer one, wraps when shrinking is not enough, truncates last', () => {
    expect(fitText('OTIENO', 40, 7, spec, m)).toMatchObject({ rule: 'fit', size: 8, lines: ['OTIENO'] });
    const shrink = fitText('WANJIKU MUTHONI NJERI KAMAU', 40, 7, spec, m);
    expect(shrink.rule).toBe('shrink');
    expect(shrink.size).toBeLessThan(8);
    expect(shrink.size).toBeGreaterThanOrEqual(6);
    const wrap = fitText('WANJIKU MUTHONI NJERI KAMAU ACHIENG-ODHIAMBO', 40, 7, spec, m);
    expect(wrap.rule).toBe('wrap');
    expect(wrap.lines.length).toBe(2);
    const trunc = fitText('WANJIKU MUTHONI NJERI KAMAU ACHIENG-ODHIAMBO NYAMBURA WAMBUI CHEPKOECH JEPCHIRCHIR', 40, 7, spec, m);
    expect(trunc).toMatchObject({ rule: 'truncate', truncated: true, size: 6 });
    expect(trunc.lines.at(-1)!.endsWith('…')).toBe(true);
    for (const r of [shrink, wrap, trunc]) for (const l of r.lines) expect(m.width('bold', r.size, l)).toBeLessThanOrEqual(40 + 1e-6);
  });

  it('breaks after hyphens when wrapping and never splits a word in the wrap step', () => {
    const r = fitText('NZIOKA-NZOMO-MUTISYA-KILONZO', 25, 7, { ...spec, minSize: 7.5 }, m);
    expect(r.rule).toBe('wrap');
    expect(r.lines[0]!.endsWith('-')).toBe(true);
    expect(r.lines.join('')).toBe('NZIOKA-NZOMO-MUTISYA-KILONZO');
  });

  it('lays out the 300 longest registry names and non-ASCII names without overflowing any box', async () => {
    const picks = [...records.slice(0, 300), ...records.filter((r) => /[^\x00-\x7f]/.test(r.surname + r.givenNames)).slice(0, 50)];
    let truncated = 0;
    for (const [i, r] of picks.entries()) {
      const face = await faceFor(r, i + 1);
      for (const side of ['front', 'back'] as const) {
        const lay = cardSide(template, side, face, m);
        for (const f of lay.fits) if (f.truncated) truncated++;
        const els = template[side].elements;
        for (const op of lay.ops) {
          if (op.op !== 'text' || op.font === 'ocrb') continue;
          const box = els.find((e) => e.type === 'field' && op.x >= e.x - 1e-6 && op.x <= e.x + e.w && op.y >= e.y && op.y <= e.y + e.h) as { x: number; w: number } | undefined;
          expect(box, `a box for "${op.text}"`).toBeDefined();
          expect(op.x + m.width(op.font, op.size, op.text)).toBeLessThanOrEqual(box!.x + box!.w + 1e-6);
        }
      }
    }
    expect(truncated).toBe(0);
  });
});

describe('rendered PDF', () => {
  let faces: FaceData[];
  const pdf = path.join(tmp, 'cards.pdf');

  beforeAll(async () => {
    const nonAscii = records.filter((r) => /[^\x00-\x7f]/.test(r.surname + r.givenNames)).slice(0, 2);
    faces = await Promise.all([records[0]!, records[1]!, ...nonAscii, records.at(-1)!].map((r, i) => faceFor(r, i + 1)));
    await renderPdf(faces, pdf);
  });

  it('has one ID-1 page (85.60 x 53.98 mm) per side, front then back, card after card', () => {
    const info = execFileSync('pdfinfo', ['-f', '1', '-l', '100', pdf], { encoding: 'utf8' });
    expect(info).toMatch(new RegExp(`Pages:\\s+${faces.length * 2}\\b`));
    const sizes = [...info.matchAll(/Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts/g)].map((x) => [Number(x[1]), Number(x[2])]);
    expect(sizes).toHaveLength(faces.length * 2);
    for (const [w, h] of sizes) {
      expect(w).toBeCloseTo(ID1_PAGE_PT[0], 2); // 242.65 pt = 85.60 mm
      expect(h).toBeCloseTo(ID1_PAGE_PT[1], 2); // 153.01 pt = 53.98 mm
    }
    const front2 = execFileSync('pdftotext', ['-f', '3', '-l', '3', pdf, '-'], { encoding: 'utf8' });
    expect(front2).toContain(faces[1]!.surname.toUpperCase());
  });

  it('embeds OCR-B and the Liberation fonts (subsets) and nothing else', () => {
    const fonts = execFileSync('pdffonts', [pdf], { encoding: 'utf8' }).split('\n').slice(2).filter(Boolean);
    const ocrb = fonts.find((l) => /OCRB|OCR-B/i.test(l));
    expect(ocrb, fonts.join('\n')).toBeDefined();
    expect(ocrb).toMatch(/\byes\s+yes\s+yes\b/); // emb sub uni
    for (const l of fonts) expect(l).toMatch(/\byes\s+yes\s+(yes|no)\b/);
    expect(fonts.every((l) => /OCRB|Liberation/i.test(l))).toBe(true);
  });

  it('carries the MRZ in the text layer: pdftotext reads the three lines exactly, and the npm mrz parser accepts them', async () => {
    const { parse } = await import('mrz');
    for (const [i, f] of faces.entries()) {
      const text = execFileSync('pdftotext', ['-f', String(2 * i + 2), '-l', String(2 * i + 2), '-layout', pdf, '-'], { encoding: 'utf8' });
      const lines = text.split('\n').map((l) => l.trim()).filter((l) => /^[A-Z0-9<]{30}$/.test(l));
      expect(lines).toEqual([...f.mrz]);
      expect(parse(lines).valid).toBe(true);
      expect(parseMrz(lines).valid).toBe(true);
    }
  });

  it('keeps accented names as printed (Liberation Sans glyphs) while the MRZ is transliterated', () => {
    const i = 2; // the first non-ASCII record
    const text = execFileSync('pdftotext', ['-f', String(2 * i + 1), '-l', String(2 * i + 1), pdf, '-'], { encoding: 'utf8' });
    expect(text.normalize('NFC')).toContain(faces[i]!.surname.toLocaleUpperCase('en').normalize('NFC'));
    expect(faces[i]!.mrz[2]).toMatch(/^[A-Z<]+$/);
  });

  it('places the MRZ per ICAO 9303-5: first character 5.0 mm from the left, centre lines 15.73 / 11.5 / 7.27 mm from the bottom, 2.54 mm pitch', () => {
    const mrzEl = template.back.elements.find((e) => e.type === 'mrz')!;
    if (mrzEl.type !== 'mrz') throw new Error('no mrz');
    const g = mrzGeometry(mrzEl, m);
    expect(m.width('ocrb', g.size, '<'.repeat(30))).toBeCloseTo(30 * TD1_MRZ.pitchMm, 6);
    const cap = (m.metrics('ocrb').capHeight / 1000) * g.size * PT_MM;
    expect(cap).toBeGreaterThan(2.3); // OCR-B size I capitals, nominal 2.46 mm
    expect(cap).toBeLessThan(2.6);
    const centres = g.baselines.map((b) => 53.98 - (b - cap / 2));
    expect(centres[0]).toBeCloseTo(15.73, 2);
    expect(centres[1]).toBeCloseTo(11.5, 2);
    expect(centres[2]).toBeCloseTo(7.27, 2);
    // And in the PDF: pdftotext -bbox gives the glyph boxes of the first MRZ line.
    const html = execFileSync('pdftotext', ['-f', '2', '-l', '2', '-bbox', pdf, '-'], { encoding: 'utf8' });
    const word = [...html.replace(/&lt;/g, '<').matchAll(/<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([A-Z0-9<]{30})<\/word>/g)][0]!;
    const xMinMm = Number(word[1]) / (72 / 25.4);
    const xMaxMm = Number(word[3]) / (72 / 25.4);
    expect(xMinMm).toBeCloseTo(5.0, 1);
    expect(xMaxMm - xMinMm).toBeCloseTo(30 * 2.54, 0);
  });

  it('prints a seal that is read back from a 300 dpi rendering and carries the card data', () => {
    const out = path.join(tmp, 'back');
    execFileSync('pdftoppm', ['-r', '300', '-gray', '-png', '-f', '2', '-l', '2', pdf, out]);
    const png = readFileSync(`${out}-02.png`);
    const seal = readSealFromPng(png);
    expect(Buffer.from(seal)).toEqual(Buffer.from(faces[0]!.seal!));
    expect(readIdSealFeatures(decodeVds(seal).features).data.mrz).toEqual(faces[0]!.mrz);
  });

  it.skipIf(!hasDmtx)('the printed seal is a Data Matrix libdmtx reads too', () => {
    const out = path.join(tmp, 'seal');
    // Crop the seal area (template position) at 300 dpi to keep dmtxread fast.
    const sealEl = template.back.elements.find((e) => e.type === 'seal')!;
    if (sealEl.type !== 'seal') throw new Error('no seal');
    const px = (mm: number): number => Math.round((mm / 25.4) * 300);
    execFileSync('pdftoppm', ['-r', '300', '-gray', '-png', '-f', '2', '-l', '2', '-x', String(px(sealEl.x) - 10), '-y', String(px(sealEl.y) - 10), '-W', String(px(sealEl.size) + 20), '-H', String(px(sealEl.size) + 20), pdf, out]);
    expect(execFileSync('dmtxread', [`${out}-02.png`])).toEqual(Buffer.from(faces[0]!.seal!));
  });

  it('imposes cards on A4 sheets with the backs mirrored for long-edge duplex', async () => {
    const sheet = path.join(tmp, 'sheet.pdf');
    await renderPdf(faces, sheet, true);
    const info = execFileSync('pdfinfo', [sheet], { encoding: 'utf8' });
    expect(info).toMatch(/Pages:\s+2\b/); // 5 cards fit one A4 sheet pair (2 x 4 slots)
    expect(info).toMatch(/595\.2\d* x 841\.8\d* pts/);
    const bbox = execFileSync('pdftotext', ['-f', '1', '-l', '2', '-bbox', sheet, '-'], { encoding: 'utf8' });
    const pages = bbox.split('<page ').slice(1);
    const firstMrzX = (page: string, mrzLine: string): number => Number(new RegExp(`<word xMin="([\\d.]+)"[^>]*>${mrzLine.replace(/</g, '&lt;')}</word>`).exec(page)![1]);
    const frontSurnameX = Number(new RegExp(`<word xMin="([\\d.]+)"[^>]*>${faces[0]!.surname.toUpperCase().split(/[ -]/)[0]}`).exec(pages[0]!)![1]);
    // Card 1 is in the left column on the front sheet and in the right column on the back sheet.
    expect(frontSurnameX).toBeLessThan(595 / 2);
    expect(firstMrzX(pages[1]!, faces[0]!.mrz[0]!)).toBeGreaterThan(595 / 2);
  });
});
