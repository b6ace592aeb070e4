import { describe, expect, it } from 'vitest';
import { Rng, ValidationError } from '../shared/index.ts';
import {
  MAX_PHOTO_BYTES, REASON_CODES, anniversary, encodeJpeg, generateOversizedPhoto, generatePhoto,
  generateRecords, isCalendarDate, normaliseText, toValidationError, validateRecord,
  type EnrolmentRecord, type ValidationResult,
} from './index.ts';

const TODAY = '2025-07-01';
const [BASE] = [...generateRecords({ count: 1, seed: 'validate-base', nonApprovedRate: 0 })];

function rec(patch: Partial<EnrolmentRecord> = {}): EnrolmentRecord {
  return { ...BASE!, ...patch };
}
function check(patch: Partial<EnrolmentRecord>, today: string | Date = TODAY): string {
  const v = validateRecord(rec(patch), { today });
  return v.ok ? 'OK' : `${v.reason}:${v.field ?? ''}`;
}
function failure(v: ValidationResult): Exclude<ValidationResult, { ok: true }> {
  if (v.ok) throw new Error('expected a failure');
  return v;
}

describe('REASON_CODES', () => {
  it('lists every stable code with a one-line description', () => {
    expect(Object.keys(REASON_CODES).sort()).toEqual([
      'DUPLICATE_ACTIVE_CARD', 'INVALID_DATE', 'INVALID_FORMAT', 'MISSING_FIELD', 'NOT_APPROVED',
      'PHOTO_MISSING', 'PHOTO_NOT_JPEG', 'PHOTO_TOO_LARGE', 'UNSUPPORTED_CHARACTERS',
    ]);
    for (const d of Object.values(REASON_CODES)) {
      expect(d.length).toBeGreaterThan(10);
      expect(d).not.toContain('\n');
    }
  });
});

describe('validateRecord', () => {
  it('accepts a valid generated record and normalises it', () => {
    const v = validateRecord(rec(), { today: TODAY });
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.record.registryId).toBe(BASE!.registryId);
    expect(v.record.photoWidth).toBe(240);
    expect(v.record.photoHeight).toBe(320);
    expect(v.record.photo.equals(BASE!.photo!)).toBe(true);
    expect(v.record).not.toHaveProperty('status');
    expect(v.record).not.toHaveProperty('defect');
  });

  it('normalises whitespace, Unicode form, typographic apostrophes and case of codes', () => {
    const v = validateRecord(
      rec({
        surname: '  Ng\u2019ang\u2019a  ', givenNames: 'Jose\u0301   Kamau', sex: 'm', kraPin: 'a012345678z',
        collectionCentre: 'ke-047-01', county: 'nairobi', nhifNumber: '', nssfNumber: '  ',
      }),
      { today: TODAY },
    );
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.record.surname).toBe("Ng'ang'a");
    expect(v.record.givenNames).toBe('José Kamau');
    expect(v.record.sex).toBe('M');
    expect(v.record.kraPin).toBe('A012345678Z');
    expect(v.record.collectionCentre).toBe('KE-047-01');
    expect(v.record.county).toBe('Nairobi');
    expect(v.record.nhifNumber).toBeNull();
    expect(v.record.nssfNumber).toBeNull();
  });

  it('refuses records that are not APPROVED', () => {
    expect(check({ status: 'PENDING' })).toBe('NOT_APPROVED:status');
    expect(check({ status: 'REJECTED' })).toBe('NOT_APPROVED:status');
  });

  it('reports missing required fields (null, empty, blank)', () => {
    for (const f of ['nationalNumber', 'surname', 'givenNames', 'sex', 'dateOfBirth', 'placeOfBirth', 'county',
      'address', 'kraPin', 'collectionCentre', 'approvedAt', 'updatedAt'] as const) {
      expect(check({ [f]: null })).toBe(`MISSING_FIELD:${f}`);
      expect(check({ [f]: '' })).toBe(`MISSING_FIELD:${f}`);
      expect(check({ [f]: ' \u00a0 ' })).toBe(`MISSING_FIELD:${f}`);
    }
    expect(check({ nhifNumber: null, nssfNumber: null })).toBe('OK'); // optional memberships
  });

  it('reports a missing photo', () => {
    expect(check({ photo: null })).toBe('PHOTO_MISSING:photo');
    expect(check({ photo: Buffer.alloc(0) })).toBe('PHOTO_MISSING:photo');
  });

  it('accepts ICAO-transliterable Latin names with apostrophes, hyphens, periods, commas', () => {
    for (const s of ["O'Brien", "Ng'ang'a", 'Wambui-Otieno', 'Muñoz Peña', 'Weiß', 'Åberg', 'Sørensen', 'Çelik',
      'Yılmaz', 'Łukasiewicz', 'Ó Súilleabháin', 'St. John', 'Smith, Jr', 'Ole Ntimama', 'ÆLFRIC', 'Œuvre']) {
      expect(check({ surname: s }), s).toBe('OK');
    }
    expect(check({ placeOfBirth: "Moi's Bridge" })).toBe('OK');
    expect(check({ placeOfBirth: 'São Paulo' })).toBe('OK');
  });

  it('refuses characters no ICAO 9303 transliteration covers', () => {
    for (const bad of ['王', 'Kamau😀', 'Ka\u0007mau', 'Ka\u0000mau', 'Ot\u200bieno', 'Otieno™', 'a@b', 'Kamau\tMwangi', 'Ka#mau', 'x\u0301\u0301', '½']) {
      expect(check({ surname: bad }), JSON.stringify(bad)).toBe('UNSUPPORTED_CHARACTERS:surname');
    }
    expect(check({ givenNames: 'Иван' })).toBe('UNSUPPORTED_CHARACTERS:givenNames'); // non-Latin script
    expect(check({ placeOfBirth: 'Nairobi 🇰🇪' })).toBe('UNSUPPORTED_CHARACTERS:placeOfBirth');
    expect(check({ address: 'P.O. Box 12-00100, Nairobi ✉' })).toBe('UNSUPPORTED_CHARACTERS:address');
  });

  it('never puts the personal value in the message', () => {
    const v = failure(validateRecord(rec({ surname: 'Secretname王' }), { today: TODAY }));
    expect(v.message).not.toContain('Secretname');
    expect(v.message).toContain('surname');
    const n = failure(validateRecord(rec({ nationalNumber: '1234567' }), { today: TODAY }));
    expect(n.message).not.toContain('1234567');
    const d = failure(validateRecord(rec({ dateOfBirth: '2001-02-30' }), { today: TODAY }));
    expect(d.message).not.toContain('2001');
  });

  it('checks the formats of numbers, sex, county and centre', () => {
    expect(check({ nationalNumber: '1234567' })).toBe('INVALID_FORMAT:nationalNumber');
    expect(check({ nationalNumber: '123456789' })).toBe('INVALID_FORMAT:nationalNumber');
    expect(check({ nationalNumber: '1234567X' })).toBe('INVALID_FORMAT:nationalNumber');
    expect(check({ nationalNumber: '12345678' })).toBe('OK');
    expect(check({ kraPin: 'A01234567Z' })).toBe('INVALID_FORMAT:kraPin');
    expect(check({ kraPin: 'P012345678Z' })).toBe('INVALID_FORMAT:kraPin'); // P = company, not a person
    expect(check({ kraPin: 'A0123456789' })).toBe('INVALID_FORMAT:kraPin');
    expect(check({ kraPin: 'A012345678Z' })).toBe('OK');
    expect(check({ nhifNumber: '12345' })).toBe('INVALID_FORMAT:nhifNumber');
    expect(check({ nhifNumber: '12a456' })).toBe('INVALID_FORMAT:nhifNumber');
    expect(check({ nssfNumber: '12345678' })).toBe('INVALID_FORMAT:nssfNumber');
    expect(check({ nssfNumber: '123456789' })).toBe('OK');
    expect(check({ sex: 'Q' })).toBe('INVALID_FORMAT:sex');
    expect(check({ sex: 'male' })).toBe('INVALID_FORMAT:sex');
    expect(check({ sex: 'X' })).toBe('OK');
    expect(check({ county: 'Atlantis' })).toBe('INVALID_FORMAT:county');
    expect(check({ county: "Murang'a" })).toBe('OK');
    expect(check({ collectionCentre: 'KE-048-01' })).toBe('INVALID_FORMAT:collectionCentre');
    expect(check({ collectionCentre: 'KE-047-06' })).toBe('OK');
    expect(check({ registryId: 0 })).toBe('INVALID_FORMAT:registryId');
    expect(check({ surname: 'A'.repeat(101) })).toBe('INVALID_FORMAT:surname');
    expect(check({ surname: "'-." })).toBe('INVALID_FORMAT:surname');
  });

  describe('dates', () => {
    it('accepts leap day 2000-02-29 and refuses 1900-02-29 and other impossible dates', () => {
      expect(check({ dateOfBirth: '2000-02-29' })).toBe('OK');
      expect(check({ dateOfBirth: '1996-02-29' })).toBe('OK');
      for (const d of ['1900-02-29', '2001-02-29', '2001-02-30', '1990-13-01', '1990-00-10', '1985-04-31',
        '1985-06-00', '12/05/1990', '1990-5-12', '19900512', '1990-05-12T00:00:00Z', 'unknown']) {
        expect(check({ dateOfBirth: d }), d).toBe('INVALID_DATE:dateOfBirth');
      }
    });

    it('refuses births before 1900, in the future, and applicants under 18', () => {
      expect(check({ dateOfBirth: '1899-12-31' })).toBe('INVALID_DATE:dateOfBirth');
      expect(check({ dateOfBirth: '1900-01-01' })).toBe('OK');
      expect(check({ dateOfBirth: '2025-07-02' })).toBe('INVALID_DATE:dateOfBirth');
      expect(check({ dateOfBirth: '2031-01-01' })).toBe('INVALID_DATE:dateOfBirth');
      expect(check({ dateOfBirth: '2007-07-01' })).toBe('OK'); // 18th birthday today
      expect(check({ dateOfBirth: '2007-07-02' })).toBe('INVALID_DATE:dateOfBirth'); // 18 tomorrow
    });

    it('lets a 29 February child come of age on 1 March in a common year', () => {
      expect(anniversary('2000-02-29', 18)).toBe('2018-03-01');
      expect(anniversary('2000-02-29', 20)).toBe('2020-02-29');
      expect(check({ dateOfBirth: '2000-02-29' }, '2018-02-28')).toBe('INVALID_DATE:dateOfBirth');
      expect(check({ dateOfBirth: '2000-02-29' }, '2018-03-01')).toBe('OK');
    });

    it('takes today as a Date (UTC day) or a string, and a configurable minimum age', () => {
      expect(check({ dateOfBirth: '2007-07-01' }, new Date('2025-07-01T23:59:59Z'))).toBe('OK');
      expect(check({ dateOfBirth: '2007-07-01' }, new Date('2025-06-30T23:59:59Z'))).toBe('INVALID_DATE:dateOfBirth');
      const v = validateRecord(rec({ dateOfBirth: '2009-01-01' }), { today: TODAY, minAge: 16 });
      expect(v.ok).toBe(true);
      expect(() => validateRecord(rec(), { today: '2025-02-30' })).toThrow(TypeError);
    });

    it('checks approval and update timestamps', () => {
      expect(check({ approvedAt: '2025-01-01' })).toBe('INVALID_DATE:approvedAt');
      expect(check({ approvedAt: '2025-02-30T10:00:00Z' })).toBe('INVALID_DATE:approvedAt');
      expect(check({ updatedAt: 'yesterday' })).toBe('INVALID_DATE:updatedAt');
      const v = validateRecord(rec({ approvedAt: '2025-01-01T13:00:00+03:00' }), { today: TODAY });
      expect(v.ok && v.record.approvedAt).toBe('2025-01-01T10:00:00.000Z');
    });
  });

  describe('photo', () => {
    it('refuses a photo over MAX_PHOTO_BYTES, even a valid JPEG', () => {
      const big = generateOversizedPhoto(new Rng('v-big'));
      expect(check({ photo: big })).toBe('PHOTO_TOO_LARGE:photo');
      expect(check({ photo: Buffer.alloc(MAX_PHOTO_BYTES + 1) })).toBe('PHOTO_TOO_LARGE:photo');
    });

    it('refuses bytes that are not a JPEG', () => {
      const good = BASE!.photo!;
      const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
      expect(check({ photo: png })).toBe('PHOTO_NOT_JPEG:photo');
      expect(check({ photo: Buffer.from('PHOTO NOT AVAILABLE') })).toBe('PHOTO_NOT_JPEG:photo');
      expect(check({ photo: good.subarray(0, good.length >> 1) })).toBe('PHOTO_NOT_JPEG:photo');
      // right markers, garbage entropy data: only decoding finds it
      const corrupt = Buffer.from(good);
      const sos = corrupt.indexOf(Buffer.from([0xff, 0xda]));
      for (let i = sos + 20; i < corrupt.length - 2; i++) corrupt[i] = 0xff;
      const v = validateRecord(rec({ photo: corrupt }), { today: TODAY });
      expect(v.ok ? 'OK' : v.reason).toBe('PHOTO_NOT_JPEG');
    });

    it('refuses JPEGs with implausible dimensions', () => {
      const tiny = encodeJpeg(new Uint8Array(32 * 32 * 4).fill(200), 32, 32, 80);
      expect(check({ photo: tiny })).toBe('PHOTO_NOT_JPEG:photo');
    });

    it('accepts another person\'s portrait and a structurally checked one without decoding', () => {
      expect(check({ photo: generatePhoto(new Rng('someone')) })).toBe('OK');
      expect(validateRecord(rec(), { today: TODAY, decodePhoto: false }).ok).toBe(true);
    });
  });

  it('turns a failure into a ValidationError with only ids in details', () => {
    const f = failure(validateRecord(rec({ kraPin: 'nope' }), { today: TODAY }));
    const e = toValidationError(f, 42);
    expect(e).toBeInstanceOf(ValidationError);
    expect(e.code).toBe('INVALID_FORMAT');
    expect(e.details).toEqual({ registryId: 42, reason: 'INVALID_FORMAT', field: 'kraPin' });
    expect(e.retryable).toBe(false);
  });
});

describe('helpers', () => {
  it('isCalendarDate follows the Gregorian leap rules', () => {
    expect(isCalendarDate('2000-02-29')).toBe(true);
    expect(isCalendarDate('2024-02-29')).toBe(true);
    expect(isCalendarDate('1900-02-29')).toBe(false);
    expect(isCalendarDate('2100-02-29')).toBe(false);
    expect(isCalendarDate('2023-12-31')).toBe(true);
  });

  it('normaliseText', () => {
    expect(normaliseText(' Mary\u00a0 Ann\u2013Wanjiku ')).toBe('Mary Ann-Wanjiku');
    expect(normaliseText('Ng`ang`a')).toBe("Ng'ang'a");
  });
});
