import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CENTRE_BY_CODE, COLLECTION_CENTRES, COUNTIES, COUNTY_BY_NAME, DEFAULT_REFERENCE_DATE, DEFECT_KINDS,
  MISSING_FIELD_CANDIDATES, generateRecords, nationalNumberFor, validateRecord,
  type DefectKind, type EnrolmentRecord, type ReasonCode,
} from './index.ts';
import { ValidationError } from '../shared/index.ts';

const today = DEFAULT_REFERENCE_DATE;

function fingerprint(r: EnrolmentRecord): string {
  const { photo, ...rest } = r;
  return JSON.stringify(rest) + createHash('sha256').update(photo ?? Buffer.alloc(0)).digest('hex');
}

describe('generateRecords determinism', () => {
  it('gives identical records for the same seed and options', () => {
    const a = [...generateRecords({ count: 40, seed: 'kadi', invalidRate: 0.3 })].map(fingerprint);
    const b = [...generateRecords({ count: 40, seed: 'kadi', invalidRate: 0.3 })].map(fingerprint);
    expect(a).toEqual(b);
  });

  it('gives different records for different seeds', () => {
    const a = [...generateRecords({ count: 40, seed: 1 })];
    const b = [...generateRecords({ count: 40, seed: 2 })];
    const same = a.filter((r, i) => r.surname === b[i]!.surname && r.givenNames === b[i]!.givenNames && r.dateOfBirth === b[i]!.dateOfBirth);
    expect(same.length).toBeLessThan(3);
    // photos differ too
    expect(a.filter((r, i) => r.photo!.equals(b[i]!.photo!)).length).toBe(0);
  });

  it('numbers records from startId and keeps a record independent of its neighbours', () => {
    const all = [...generateRecords({ count: 10, seed: 's', startId: 1 })];
    const tail = [...generateRecords({ count: 5, seed: 's', startId: 6 })];
    expect(all.map((r) => r.registryId)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(tail.map(fingerprint)).toEqual(all.slice(5).map(fingerprint));
  });

  it('does not depend on the wall clock but on referenceDate', () => {
    const [a] = [...generateRecords({ count: 1, seed: 'x', referenceDate: '2030-01-01' })];
    const [b] = [...generateRecords({ count: 1, seed: 'x', referenceDate: '2025-07-01' })];
    expect(a!.dateOfBirth! > b!.dateOfBirth!).toBe(true);
    expect(a!.approvedAt! < '2030-01-01').toBe(true);
    expect(a!.approvedAt! > '2028-06-01').toBe(true);
  });

  it('is lazy: a huge count costs nothing until iterated', () => {
    const it = generateRecords({ count: 10_000_000, seed: 'lazy' });
    expect(it.next().value?.registryId).toBe(1);
  });

  it('rejects bad options with a ValidationError', () => {
    const bad = [
      { count: -1, seed: 1 }, { count: 1.5, seed: 1 }, { count: 1, seed: 1, invalidRate: 1.2 },
      { count: 1, seed: 1, startId: 0 }, { count: 1, seed: 1, referenceDate: '2025-02-30' },
      { count: 1, seed: 1, nonApprovedRate: -0.1 },
    ];
    for (const o of bad) expect(() => generateRecords(o).next()).toThrow(ValidationError);
  });
});

describe('national numbers', () => {
  it('are 8 digits and unique across ids', () => {
    const seen = new Set<string>();
    for (let id = 1; id <= 50_000; id++) {
      const n = nationalNumberFor(id);
      expect(n).toMatch(/^[1-9]\d{7}$/);
      seen.add(n);
    }
    expect(seen.size).toBe(50_000);
  });
});

describe('a 2000-record sample', () => {
  let sample: EnrolmentRecord[] = [];
  beforeAll(() => {
    sample = [...generateRecords({ count: 2000, seed: 'sample' })];
  });

  const fullName = (r: EnrolmentRecord): string => `${r.surname} ${r.givenNames}`;

  it('has apostrophes, hyphens, non-ASCII letters and names longer than an MRZ line', () => {
    const apostrophes = sample.filter((r) => fullName(r).includes("'"));
    const hyphens = sample.filter((r) => fullName(r).includes('-'));
    const nonAscii = sample.filter((r) => /[^\x20-\x7e]/.test(fullName(r)));
    const long = sample.filter((r) => r.surname!.length + 2 + r.givenNames!.length > 30);
    expect(apostrophes.length).toBeGreaterThan(100); // Ng'ang'a, Ochieng', Nyang'au... are common
    expect(hyphens.length).toBeGreaterThan(20);
    expect(nonAscii.length).toBeGreaterThan(10);
    expect(long.length).toBeGreaterThan(40);
    expect(long.some((r) => r.surname!.length + 2 + r.givenNames!.length >= 36)).toBe(true);
    const letters = new Set([...sample.map(fullName).join('')].filter((c) => c > '\u007f'));
    expect(letters.size).toBeGreaterThan(8);
  });

  it('covers the main communities, both sexes and a few X', () => {
    const surnames = new Set(sample.map((r) => r.surname));
    for (const s of ['Kamau', 'Otieno', 'Wafula', 'Mutua', 'Rotich', 'Nyakundi', 'Kazungu', 'Mohamed']) {
      expect(surnames.has(s), s).toBe(true);
    }
    const sexes = new Map<string, number>();
    for (const r of sample) sexes.set(r.sex!, (sexes.get(r.sex!) ?? 0) + 1);
    expect(sexes.get('M')).toBeGreaterThan(800);
    expect(sexes.get('F')).toBeGreaterThan(800);
    expect([...sexes.keys()].every((s) => ['M', 'F', 'X'].includes(s))).toBe(true);
  });

  it('has adults aged 18-90 on the reference date', () => {
    const years = sample.map((r) => Number(r.dateOfBirth!.slice(0, 4)));
    const refYear = Number(today.slice(0, 4));
    expect(Math.max(...years)).toBeLessThanOrEqual(refYear - 18);
    expect(Math.min(...years)).toBeGreaterThanOrEqual(refYear - 91);
    expect(new Set(years).size).toBeGreaterThan(50);
  });

  it('uses real counties, known centres (mostly in the person\'s county) and well-formed numbers', () => {
    let sameCounty = 0;
    for (const r of sample) {
      expect(COUNTY_BY_NAME.has(r.county!)).toBe(true);
      const centre = CENTRE_BY_CODE.get(r.collectionCentre!);
      expect(centre).toBeDefined();
      if (centre!.county === r.county) sameCounty++;
      expect(r.kraPin).toMatch(/^A\d{9}[A-Z]$/);
      if (r.nhifNumber !== null) expect(r.nhifNumber).toMatch(/^\d{6,9}$/);
      if (r.nssfNumber !== null) expect(r.nssfNumber).toMatch(/^\d{9,10}$/);
      expect(r.address!.length).toBeGreaterThan(5);
      expect(r.updatedAt! >= r.approvedAt! || r.approvedAt === null).toBe(true);
    }
    expect(sameCounty / sample.length).toBeGreaterThan(0.8);
    expect(sample.some((r) => r.address!.startsWith('P.O. Box '))).toBe(true);
    expect(sample.some((r) => r.nssfNumber === null)).toBe(true);
  });

  it('holds about 1% non-approved records and otherwise only valid ones', () => {
    const nonApproved = sample.filter((r) => r.status !== 'APPROVED');
    expect(nonApproved.length).toBeGreaterThan(5);
    expect(nonApproved.length).toBeLessThan(50);
    expect(nonApproved.every((r) => r.status === 'PENDING' || r.status === 'REJECTED')).toBe(true);
    expect(nonApproved.every((r) => r.approvedAt === null)).toBe(true);
    for (const r of sample) {
      expect(r.defect).toBeUndefined();
      if (r.status !== 'APPROVED') continue;
      const v = validateRecord(r, { today, decodePhoto: false });
      expect(v.ok ? 'OK' : `${v.reason} ${v.field}`).toBe('OK');
    }
  });
});

describe('planted defects', () => {
  const expected: Record<Exclude<DefectKind, 'duplicate_national_number'>, ReasonCode> = {
    missing_field: 'MISSING_FIELD',
    impossible_date: 'INVALID_DATE',
    photo_oversized: 'PHOTO_TOO_LARGE',
    photo_not_image: 'PHOTO_NOT_JPEG',
    bad_characters: 'UNSUPPORTED_CHARACTERS',
  };
  let recs: EnrolmentRecord[] = [];
  beforeAll(() => {
    recs = [...generateRecords({ count: 700, seed: 'defects', invalidRate: 0.5, nonApprovedRate: 0 })];
  });

  it('produces every kind, chosen evenly, at about the requested rate', () => {
    const counts = new Map<string, number>();
    for (const r of recs) if (r.defect) counts.set(r.defect, (counts.get(r.defect) ?? 0) + 1);
    for (const k of DEFECT_KINDS) expect(counts.get(k) ?? 0, k).toBeGreaterThan(25);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    expect(total / recs.length).toBeGreaterThan(0.4);
    expect(total / recs.length).toBeLessThan(0.6);
  });

  it('maps each kind to its reason code through validateRecord', () => {
    for (const r of recs) {
      if (!r.defect || r.defect === 'duplicate_national_number') continue;
      const v = validateRecord(r, { today });
      expect(v.ok ? 'OK' : v.reason, `${r.registryId} ${r.defect}`).toBe(expected[r.defect]);
    }
  });

  it('blanks each kind of required field for missing_field', () => {
    const fields = new Set<string>();
    for (const r of recs) {
      if (r.defect !== 'missing_field') continue;
      const v = validateRecord(r, { today });
      if (!v.ok) fields.add(v.field!);
    }
    expect(fields.size).toBeGreaterThan(5);
    for (const f of fields) expect(MISSING_FIELD_CANDIDATES as readonly string[]).toContain(f);
  });

  it('reuses an earlier approved national number for duplicates, which validate individually', () => {
    const earlier = new Map<string, number>();
    let dups = 0;
    for (const r of recs) {
      if (r.defect === 'duplicate_national_number') {
        dups++;
        expect(earlier.has(r.nationalNumber!)).toBe(true);
        expect(validateRecord(r, { today }).ok).toBe(true);
      } else if (!r.defect) earlier.set(r.nationalNumber!, r.registryId);
    }
    expect(dups).toBeGreaterThan(0);
    // no other record shares a number
    const numbers = recs.filter((r) => r.defect !== 'duplicate_national_number' && r.defect !== 'missing_field').map((r) => r.nationalNumber);
    expect(new Set(numbers).size).toBe(numbers.length);
  });

  it('can duplicate numbers of an earlier run passed in', () => {
    const prior = ['12345678', '87654321'];
    const [r] = [...generateRecords({ count: 200, seed: 'dup-prior', invalidRate: 1, earlierNationalNumbers: prior })]
      .filter((x) => x.defect === 'duplicate_national_number');
    expect(prior).toContain(r!.nationalNumber);
  });
});

describe('places', () => {
  it('has the 47 counties with codes 001-047 and about 60 centres covering every county', () => {
    expect(COUNTIES).toHaveLength(47);
    expect(COUNTIES.map((c) => c.code)).toEqual(Array.from({ length: 47 }, (_, i) => String(i + 1).padStart(3, '0')));
    expect(COUNTIES.find((c) => c.code === '047')!.name).toBe('Nairobi');
    expect(COLLECTION_CENTRES).toHaveLength(60);
    expect(new Set(COLLECTION_CENTRES.map((c) => c.code)).size).toBe(60);
    for (const c of COLLECTION_CENTRES) {
      expect(c.code).toMatch(/^KE-0[0-4]\d-\d{2}$/);
      expect(COUNTY_BY_NAME.get(c.county)!.code).toBe(c.code.slice(3, 6));
    }
    for (const county of COUNTIES) expect(COLLECTION_CENTRES.some((c) => c.county === county.name)).toBe(true);
    expect(CENTRE_BY_CODE.get('KE-047-01')!.name).toBe('Huduma Centre GPO');
  });
});
