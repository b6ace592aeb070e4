import { describe, expect, it } from 'vitest';
import { decodeDg1, decodeDg11, decodeDg13, decodeDg14, decodeEfCom, dg2Portrait } from '../lds/index.ts';
import { generateRecords, validateRecord } from '../registry/index.ts';
import { buildChipImage, OID_ECDSA_PLAIN_SHA256 } from './image.ts';
import { formatDocumentNumber } from './stage.ts';

const doc = {
  documentNumber: 'KA0000042',
  issuingState: 'KEN',
  dateOfIssue: '2026-11-25',
  dateOfExpiry: '2036-11-24',
  issuingAuthority: 'REGISTRAR OF PERSONS KENYA',
  personalisedAt: '2026-11-25T10:11:12.000Z',
  personalisationSystem: 'KADI-TEST',
};

describe('chip image', () => {
  const records = [...generateRecords({ count: 300, seed: 'image-test', nonApprovedRate: 0 })];
  const valid = records
    .map((r) => validateRecord(r, { today: '2026-11-25' }))
    .filter((v): v is Extract<typeof v, { ok: true }> => v.ok)
    .map((v) => v.record);

  it('builds DG1, DG2, DG11-DG14 and EF.COM that decode back to the record', () => {
    expect(valid.length).toBeGreaterThan(250);
    for (const r of valid.slice(0, 60)) {
      const { photo, ...person } = r;
      const img = buildChipImage(person, photo, doc);
      const dg1 = decodeDg1(img.dataGroups.get(1)!);
      expect(dg1.parsed.valid).toBe(true);
      expect(dg1.parsed.documentNumber).toBe('KA0000042');
      expect(dg1.parsed.dateOfBirth).toBe(r.dateOfBirth.slice(2).replace(/-/g, ''));
      expect(dg1.mrz).toBe(img.mrz.join(''));
      expect(Buffer.from(dg2Portrait(img.dataGroups.get(2)!)!)).toEqual(Buffer.from(photo));
      const dg11 = decodeDg11(img.dataGroups.get(11)!);
      expect(dg11.personalNumber).toBe(r.nationalNumber);
      expect(dg11.fullName).toContain(r.surname.toUpperCase() === r.surname ? r.surname : r.surname);
      const dg13 = decodeDg13(img.dataGroups.get(13)!);
      expect(dg13.nationalIdNumber).toBe(r.nationalNumber);
      expect(dg13.kraPin).toBe(r.kraPin);
      expect(decodeDg14(img.dataGroups.get(14)!).infos[0]).toMatchObject({ type: 'ActiveAuthenticationInfo', signatureAlgorithm: OID_ECDSA_PLAIN_SHA256 });
      expect(decodeEfCom(img.com).tags).toEqual([0x61, 0x75, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f]);
    }
  });

  it('keeps names in national characters in DG11 and transliterates only the MRZ', () => {
    const r = valid.find((x) => /[^\x20-\x7e]/.test(x.surname + x.givenNames));
    expect(r).toBeDefined();
    const { photo, ...person } = r!;
    const img = buildChipImage(person, photo, doc);
    expect(decodeDg11(img.dataGroups.get(11)!).fullName).toMatch(/[^\x20-\x7e]/);
    expect(img.mrz.join('')).toMatch(/^[A-Z0-9<]+$/);
  });
});

describe('document numbers', () => {
  it('are 9 characters in series KA, KB, ...', () => {
    expect(formatDocumentNumber(1)).toBe('KA0000001');
    expect(formatDocumentNumber(9_999_999)).toBe('KA9999999');
    expect(formatDocumentNumber(10_000_000)).toBe('KB0000001');
    expect(formatDocumentNumber(9_999_999 * 23 + 1)).toBe('KZ0000001');
    expect(() => formatDocumentNumber(9_999_999 * 24 + 1)).toThrow(/exhausted/);
    expect(() => formatDocumentNumber(0)).toThrow();
  });
});
