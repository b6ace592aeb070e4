/** Pure parts of dispatch: codes, scan and issuance rules, manifest rows and paging, the blank balance, barcodes. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { checkDigit, formatCode, parseCode } from './codes.ts';
import { code128, qrCode, CODE128_QUIET_MODULES, QR_QUIET_MODULES } from './barcode.ts';
import { csvField, csvRow, displayName, holderName, jsonCard, jsonEnd, jsonStart, type ManifestHeader } from './manifest-format.ts';
import { DetailPaginator, planPages, ROWS_PER_PAGE, SIGNATURE_ROWS, SUMMARY_ROWS_PER_PAGE, SummaryPaginator } from './manifest-layout.ts';
import { ManifestPdfWriter } from './manifest-pdf.ts';
import { computeBalance } from './reconcile.ts';
import { BOX_STATES, SCAN_EVENTS, SCAN_RULES, decideScan, issueRefusal, type BoxState } from './rules.ts';
import { CARD_STATES } from '../cards/index.ts';

describe('codes', () => {
  it('uses the ICAO 7-3-1 check digit (9303-3 worked example 520727 → 3)', () => {
    expect(checkDigit('520727')).toBe(3);
    expect(formatCode('box', 1)).toBe('BX0000000011');
    expect(formatCode('shipment', 123)).toBe(`SH000000123${checkDigit('000000123')}`);
    expect(() => formatCode('box', 0)).toThrow(RangeError);
    expect(() => formatCode('box', 1e9)).toThrow(RangeError);
  });

  it('round-trips and tells misreads from foreign codes', () => {
    for (const id of [1, 17, 999, 123_456_789]) {
      for (const kind of ['box', 'shipment', 'seal'] as const) {
        expect(parseCode(` ${formatCode(kind, id).toLowerCase()} `)).toEqual({ ok: true, kind, id, code: formatCode(kind, id) });
      }
    }
    const good = formatCode('box', 4242);
    const flipped = `${good.slice(0, -1)}${(Number(good.slice(-1)) + 3) % 10}`;
    expect(parseCode(flipped)).toMatchObject({ ok: false, problem: 'BAD_CHECK_DIGIT' });
    // A single-digit substitution is always caught (weights 7, 3, 1 are prime to 10).
    for (let pos = 2; pos < 11; pos++) {
      const d = Number(good[pos]);
      const bad = `${good.slice(0, pos)}${(d + 1) % 10}${good.slice(pos + 1)}`;
      expect(parseCode(bad).ok, bad).toBe(false);
    }
    for (const s of ['', 'BX123', 'XX0000000011', 'P<KENDOE<<JOHN', 'BX00000000011', 'BX0000000000']) expect(parseCode(s).ok, s).toBe(false);
  });
});

describe('scan rules', () => {
  const box = (state: BoxState, shipmentId: number | null = 7) => ({ state, centreCode: 'KE-047-01', shipmentId });

  it('allows exactly the documented journey', () => {
    const allowed: string[] = [];
    for (const s of BOX_STATES) {
      for (const e of SCAN_EVENTS) {
        const at = SCAN_RULES[e].atOwnCentre ? 'KE-047-01' : 'HUB';
        const d = decideScan(box(s), e, at, SCAN_RULES[e].atOwnCentre);
        if (d.ok) allowed.push(`${s} -${e}-> ${d.to}`);
      }
    }
    expect(allowed).toEqual([
      'SEALED -dispatched-> DISPATCHED',
      'DISPATCHED -in-transit-> IN_TRANSIT',
      'DISPATCHED -received-> RECEIVED',
      'IN_TRANSIT -in-transit-> IN_TRANSIT',
      'IN_TRANSIT -received-> RECEIVED',
      'RECEIVED -opened-> OPENED',
    ]);
  });

  it('gives a reason for every refusal, wrong centre first', () => {
    const reason = (b: ReturnType<typeof box>, e: string, at: string, isCentre = true) => {
      const d = decideScan(b, e, at, isCentre);
      return d.ok ? 'OK' : d.reason;
    };
    expect(reason(box('DISPATCHED'), 'delivered', 'KE-047-01')).toBe('SCAN_UNKNOWN_EVENT');
    expect(reason(box('DISPATCHED'), 'received', '')).toBe('SCAN_BAD_LOCATION');
    expect(reason(box('DISPATCHED'), 'received', 'X'.repeat(17))).toBe('SCAN_BAD_LOCATION');
    expect(reason(box('DISPATCHED'), 'received', 'KE-001-01')).toBe('SCAN_WRONG_CENTRE');
    expect(reason(box('RECEIVED'), 'received', 'KE-001-01')).toBe('SCAN_WRONG_CENTRE');
    expect(reason(box('DISPATCHED'), 'received', 'MOMBASA-HUB', false)).toBe('SCAN_UNKNOWN_CENTRE');
    expect(reason(box('RECEIVED'), 'received', 'KE-047-01')).toBe('SCAN_DUPLICATE');
    expect(reason(box('OPENED'), 'opened', 'KE-047-01')).toBe('SCAN_DUPLICATE');
    expect(reason(box('DISPATCHED'), 'dispatched', 'BUREAU')).toBe('SCAN_DUPLICATE');
    expect(reason(box('SEALED'), 'received', 'KE-047-01')).toBe('SCAN_OUT_OF_ORDER');
    expect(reason(box('OPEN'), 'dispatched', 'BUREAU')).toBe('SCAN_OUT_OF_ORDER');
    expect(reason(box('RECEIVED'), 'in-transit', 'HUB')).toBe('SCAN_OUT_OF_ORDER');
    expect(reason(box('SEALED', null), 'dispatched', 'BUREAU')).toBe('SCAN_NOT_IN_SHIPMENT');
  });

  it('issues only RECEIVED cards at their own centre', () => {
    const out = Object.fromEntries(CARD_STATES.map((s) => [s, issueRefusal({ state: s, centreCode: 'A' }, 'A') ?? 'OK']));
    expect(out).toMatchObject({ RECEIVED: 'OK', ISSUED: 'ISSUE_ALREADY_ISSUED', RETURNED: 'ISSUE_CARD_WITHDRAWN', DESTROYED: 'ISSUE_CARD_WITHDRAWN', SPOILED: 'ISSUE_CARD_WITHDRAWN', DISPATCHED: 'ISSUE_NOT_RECEIVED', ORDERED: 'ISSUE_NOT_RECEIVED' });
    expect(issueRefusal({ state: 'RECEIVED', centreCode: 'A' }, 'B')).toBe('ISSUE_WRONG_CENTRE');
    expect(issueRefusal({ state: 'ISSUED', centreCode: 'A' }, 'B')).toBe('ISSUE_WRONG_CENTRE');
  });
});

describe('manifest rows', () => {
  it('reads names from the snapshot, NFC-normalised', () => {
    expect(holderName(JSON.stringify({ surname: 'Wanjiku\u0303', givenNames: '  Grace   Njeri ', nationalNumber: '12345678' }))).toEqual({ surname: 'Wanjikũ', givenNames: 'Grace Njeri' });
    expect(holderName('not json')).toEqual({ surname: '', givenNames: '' });
    expect(displayName({ surname: "Ng'ang'a", givenNames: 'John' })).toBe("Ng'ang'a, John");
    expect(displayName({ surname: 'Otieno', givenNames: '' })).toBe('Otieno');
  });

  it('writes RFC 4180 CSV', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField(null)).toBe('');
    // CSV injection: text a spreadsheet would run as a formula is kept as text; numbers are left alone
    expect(csvField('=HYPERLINK("http://x","y")')).toBe('"\'=HYPERLINK(""http://x"",""y"")"');
    expect(csvField('+254700')).toBe("'+254700");
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField('-1+2')).toBe("'-1+2");
    expect(csvField(-3)).toBe('-3');
    expect(csvField("O'NEIL")).toBe("O'NEIL");
    const row = csvRow({ shipment: 'SH1', centre: 'KE-047-01' }, { line: 3, box: 'BX1', seal: null, documentNumber: 'AK1', surname: "O'Brien, Jr", givenNames: 'Seán' });
    expect(row).toBe('SH1,KE-047-01,BX1,,3,AK1,"O\'Brien, Jr",Seán\r\n');
  });

  it('streams a JSON document that parses', () => {
    const h: ManifestHeader = { shipment: 'SH1', state: 'DISPATCHED', centre: { code: 'C', name: 'N', county: 'K' }, createdAt: 'x', dispatchedAt: null, generatedAt: 'y', boxes: 1, cards: 2 };
    const rows = [1, 2].map((line) => ({ line, box: 'BX', seal: 'SL', documentNumber: `D${line}`, surname: 'S"', givenNames: 'G' }));
    const doc = JSON.parse(jsonStart(h, [{ code: 'BX', sealNumber: 'SL', cards: 2 }]) + rows.map((r) => jsonCard(r, r.line === 1)).join('') + jsonEnd());
    expect(doc).toMatchObject({ format: 'kadi.manifest/1', totals: { boxes: 1, cards: 2 }, boxes: [{ code: 'BX', cards: 2 }] });
    expect(doc.cards.map((c: { documentNumber: string }) => c.documentNumber)).toEqual(['D1', 'D2']);
    expect(JSON.parse(jsonStart(h, []) + jsonEnd()).cards).toEqual([]);
  });
});

describe('manifest paging', () => {
  /** Page count by stepping the paginators line by line, as the renderer does. */
  function simulate(boxes: number[]): number {
    const d = new DetailPaginator();
    for (const n of boxes) {
      d.startBox();
      for (let i = 0; i < n; i++) d.card();
    }
    const s = new SummaryPaginator();
    for (let i = 0; i < boxes.length; i++) s.line();
    s.signatures();
    return d.page + s.page;
  }

  it('plans exactly the pages the line-by-line rules give', () => {
    const R = ROWS_PER_PAGE;
    const cases = [[], [0], [1], [R - 1], [R], [R + 1], [R - 2, 1], [R - 1, 1], [200, 200, 200, 37], Array(SUMMARY_ROWS_PER_PAGE).fill(1), Array(SUMMARY_ROWS_PER_PAGE - SIGNATURE_ROWS + 1).fill(2), Array(300).fill(199)];
    for (const c of cases) expect(planPages(c).pages, JSON.stringify(c).slice(0, 40)).toBe(simulate(c));
    let seed = 7;
    for (let k = 0; k < 50; k++) {
      const boxes = Array.from({ length: 1 + (k % 9) }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % (3 * R)));
      expect(planPages(boxes).pages).toBe(simulate(boxes));
    }
  });

  it('never leaves a box heading alone at the bottom of a page', () => {
    const d = new DetailPaginator(10);
    d.startBox();
    for (let i = 0; i < 8; i++) d.card();
    expect(d.startBox()).toEqual({ newPage: true, continuation: false });
  });

  it('the PDF writer writes the planned number of pages', async () => {
    for (const sizes of [[], [3], [ROWS_PER_PAGE - 1, 1, 2 * ROWS_PER_PAGE], Array(SUMMARY_ROWS_PER_PAGE + 3).fill(1)]) {
      const sink = new PassThrough();
      const chunks: Buffer[] = [];
      sink.on('data', (c: Buffer) => chunks.push(c));
      const header: ManifestHeader = { shipment: 'SH0000000011', state: 'DISPATCHED', centre: { code: 'KE-047-01', name: 'Huduma Centre GPO', county: 'Nairobi' }, createdAt: '2026-01-01T00:00:00.000Z', dispatchedAt: null, generatedAt: '2026-01-01T00:00:00.000Z', boxes: sizes.length, cards: sizes.reduce((a, b) => a + b, 0) };
      const boxes = sizes.map((n, i) => ({ code: formatCode('box', i + 1), sealNumber: formatCode('seal', i + 1), cards: n }));
      const w = new ManifestPdfWriter(sink, header, boxes);
      let line = 0;
      for (const b of boxes) {
        await w.addBox(b, Array.from({ length: b.cards }, () => ({ line: ++line, box: b.code, seal: b.sealNumber, documentNumber: `AK${line}`, surname: 'Müller', givenNames: 'Łukasz' })));
      }
      const { pages } = await w.end();
      expect(pages).toBe(planPages(sizes).pages);
      const pdf = Buffer.concat(chunks).toString('latin1');
      expect(pdf.startsWith('%PDF-')).toBe(true);
      expect(pdf.match(/\/Type \/Page\b/g)?.length).toBe(pages);
    }
  });
});

describe('blank balance', () => {
  it('balances when every blank is traced to a lot', () => {
    const r = computeBalance(
      [
        { lot: 'L1', supplier: 's', chipType: 'c', quantity: 100, byState: { ISSUED: 40, SPOILED: 3, PACKED: 10, RETURNED: 2, DESTROYED: 1 } },
        { lot: 'L2', supplier: 's', chipType: 'c', quantity: 50, byState: { ENCODING: 1, RECEIVED: 5 } },
      ],
      { ISSUED: 40, SPOILED: 3, PACKED: 10, RETURNED: 2, DESTROYED: 1, ENCODING: 1, RECEIVED: 5, ORDERED: 30 },
    );
    expect(r.blanks).toEqual({ received: 150, issued: 40, inProcess: 16, inStock: 88, spoiled: 3, returned: 2, destroyed: 1, accounted: 150, difference: 0 });
    expect(r.lots.map((l) => [l.lot, l.consumed, l.inStock, l.overConsumed])).toEqual([['L1', 56, 44], ['L2', 6, 44]].map((x) => [...x, 0]));
  });

  it('shows a blank of unknown origin and an over-consumed lot as differences', () => {
    const noLot = computeBalance([{ lot: 'L1', supplier: 's', chipType: 'c', quantity: 10, byState: { ISSUED: 2 } }], { ISSUED: 3 });
    expect(noLot.blanks.difference).toBe(-1);
    const over = computeBalance([{ lot: 'L1', supplier: 's', chipType: 'c', quantity: 2, byState: { ISSUED: 3 } }], { ISSUED: 3 });
    expect(over.blanks.difference).toBe(-1);
    expect(over.lots[0]!.overConsumed).toBe(1);
    const unencoded = computeBalance([{ lot: 'L1', supplier: 's', chipType: 'c', quantity: 5, byState: { PREPARED: 1 } }], { PREPARED: 1 });
    expect(unencoded.blanks.difference).toBe(1);
  });
});

describe('barcodes', () => {
  it('encodes Code128 with quiet zones and QR with a 4-module margin', () => {
    const c = code128('BX0000000011');
    expect(c.bars[0]![0]).toBe(CODE128_QUIET_MODULES);
    const last = c.bars[c.bars.length - 1]!;
    expect(c.modules - (last[0] + last[1])).toBe(CODE128_QUIET_MODULES);
    // Start, 11 modules per symbol, stop (13 modules): width is 11k + 2 + 2 quiet zones.
    expect((c.modules - 2 * CODE128_QUIET_MODULES - 2) % 11).toBe(0);
    const q = qrCode('BX0000000011');
    expect(q.size).toBe(21 + 2 * QR_QUIET_MODULES); // version 1
    // Finder pattern: the top-left 7 modules of the first row are dark.
    expect(q.runs[0]).toEqual([QR_QUIET_MODULES, QR_QUIET_MODULES, 7]);
  });
});
