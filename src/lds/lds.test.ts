import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import * as asn1js from 'asn1js';
import * as jpeg from 'jpeg-js';
import { describe, expect, it } from 'vitest';
import { bytesEqual, fromHex, toHex, toSpacedHex } from '../shared/index.ts';
import { findPath, parseTlv, readOctetString } from '../tlv/index.ts';
import {
  BIOMETRIC_DATA_BLOCK_TAG,
  BIOMETRIC_INFO_GROUP_TAG,
  BIOMETRIC_INFO_TEMPLATE_TAG,
  type DigestFn,
  type HashAlgorithm,
  HASH_ALGORITHM_OIDS,
  LdsError,
  OID_AA,
  OID_CA_ECDH,
  OID_ECDSA_WITH_SHA256,
  OID_PACE_ECDH_GM,
  OID_PK_ECDH,
  PACE_PARAMETER_ID,
  type SecurityInfo,
  computeDataGroupHashes,
  dataGroupFid,
  dataGroupNumber,
  dataGroupTag,
  decodeCardAccess,
  decodeDg1,
  decodeDg11,
  decodeDg12,
  decodeDg13,
  decodeDg14,
  decodeDg15,
  decodeDg2,
  decodeDg3,
  decodeEfCom,
  decodeFaceRecord,
  decodeLdsSecurityObject,
  decodePublicKeyInfo,
  decodeSecurityInfos,
  dg2Portrait,
  ecPublicKeySpki,
  encodeCardAccess,
  encodeDg1,
  encodeDg11,
  encodeDg12,
  encodeDg13,
  encodeDg14,
  encodeDg15,
  encodeDg2,
  encodeDg3,
  encodeEfCom,
  encodeLdsSecurityObject,
  encodeSecurityInfos,
  fingerSubtype,
  generateTd1,
  imageSize,
  jpeg2000Size,
  rsaPublicKeySpki,
  verifyDataGroupHashes,
} from './index.ts';

const VEC = new URL('../../../shared/vectors/', import.meta.url);
const file = (p: string): Uint8Array => new Uint8Array(readFileSync(new URL(p, VEC)));
interface VectorRecord {
  name: string;
  inputs: Record<string, unknown>;
  expected: Record<string, unknown>;
}
const VECTORS = JSON.parse(readFileSync(new URL('vectors.json', VEC), 'utf8')) as VectorRecord[];

const digest: DigestFn = (alg, data) => new Uint8Array(createHash(alg).update(data).digest());

function expectLdsError(fn: () => unknown, code: string, field?: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LdsError);
    expect((e as LdsError).code).toBe(code);
    if (field !== undefined) expect((e as LdsError).field).toBe(field);
    return;
  }
  throw new Error(`expected ${code}`);
}

function makeJpeg(width: number, height: number): Uint8Array {
  const data = Buffer.alloc(width * height * 4);
  for (let i = 0; i < data.length; i += 4) {
    data[i] = (i / 4) % 256;
    data[i + 1] = 128;
    data[i + 2] = 200;
    data[i + 3] = 255;
  }
  return new Uint8Array(jpeg.encode({ data, width, height }, 80).data);
}

describe('LDS file table', () => {
  it('maps data group numbers to tags and file identifiers (9303-10)', () => {
    expect([1, 2, 3, 11, 12, 13, 14, 15].map(dataGroupTag)).toEqual([0x61, 0x75, 0x63, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f]);
    expect(dataGroupNumber(0x75)).toBe(2);
    expect(dataGroupNumber(0x77)).toBeUndefined();
    expect(dataGroupFid(14)).toBe(0x010e);
    expectLdsError(() => dataGroupTag(17), 'LDS_INVALID_INPUT');
  });
});

describe('ICAO 9303-10 specimens', () => {
  it('EF.COM decodes and re-encodes byte-identically', () => {
    const raw = file('lds/ef_com_specimen_ICAO.bin');
    const rec = VECTORS.find((v) => v.name.startsWith('EF.COM specimen'))!;
    expect(toHex(raw).toUpperCase()).toBe(rec.expected['hex']);
    const com = decodeEfCom(raw);
    expect(com).toMatchObject({ ldsVersion: '0106', unicodeVersion: '040000', tags: [0x61, 0x75], dataGroups: [1, 2] });
    expect(com.raw).toEqual(raw);
    expect(encodeEfCom(com)).toEqual(raw);
  });

  it('EF.DG1 (TD2) decodes, validates and re-encodes byte-identically; its SHA-256 matches', () => {
    const raw = file('lds/dg1_specimen_ICAO_TD2_Utopia.bin');
    const rec = VECTORS.find((v) => v.name.startsWith('EF.DG1 specimen'))!;
    expect(toHex(raw).toUpperCase()).toBe(rec.inputs['hex']);
    const dg1 = decodeDg1(raw);
    expect(dg1.mrz).toBe(rec.expected['mrz']);
    expect(dg1.parsed.format).toBe('TD2');
    expect(dg1.parsed.valid).toBe(true);
    expect(dg1.parsed.mrzInformation).toBe(rec.expected['mrzi_for_BAC']);
    expect(encodeDg1(dg1.mrz)).toEqual(raw);
    const [h] = computeDataGroupHashes(new Map([[1, raw]]), 'sha256', digest);
    expect(toHex(h!.hash).toUpperCase()).toBe(rec.expected['sha256']);
  });
});

describe('EF.COM and DG1', () => {
  it('writes LDS 1.8 / Unicode 4.0.0 by default, tags in the given order', () => {
    expect(toSpacedHex(encodeEfCom({ dataGroups: [1, 2, 11, 12, 13, 14, 15] }))).toBe(
      '60 19 5F 01 04 30 31 30 38 5F 36 06 30 34 30 30 30 30 5C 07 61 75 6B 6C 6D 6E 6F',
    );
    expectLdsError(() => encodeEfCom({ dataGroups: [1, 1] }), 'LDS_INVALID_INPUT', 'dataGroups');
    expectLdsError(() => encodeEfCom({ ldsVersion: '1.8', dataGroups: [1] }), 'LDS_INVALID_INPUT', 'ldsVersion');
    expectLdsError(() => decodeEfCom(fromHex('60 04 5C 02 61 75')), 'LDS_MALFORMED');
  });

  it('DG1 holds a generated TD1 (90 characters) and rejects anything that is not an MRZ', () => {
    const g = generateTd1({
      documentNumber: 'AB1234567',
      issuingState: 'KEN',
      nationality: 'KEN',
      surname: 'Mwangi',
      givenNames: 'John',
      dateOfBirth: '1990-05-17',
      sex: 'M',
      dateOfExpiry: '2034-05-16',
    });
    const dg1 = encodeDg1(g);
    expect(toSpacedHex(dg1.subarray(0, 5))).toBe('61 5D 5F 1F 5A');
    expect(decodeDg1(dg1).parsed.documentNumber).toBe('AB1234567');
    expect(encodeDg1(g.lines)).toEqual(dg1);
    expect(() => encodeDg1('P<UTO')).toThrowError(LdsError);
  });
});

describe('DG2 (face, ISO/IEC 19794-5)', () => {
  const portrait = makeJpeg(40, 52);

  it('encodes the CBEFF structure and face record, and decodes it back', () => {
    const bytes = encodeDg2({ faces: [{ image: portrait, gender: 'female', eyeColour: 3, poseAngle: [91, 91, 91] }] });
    const node = parseTlv(bytes);
    expect(node.tag).toBe(0x75);
    // 7F61 { 02 01 01, 7F60 { A1 { 80 0101, 81 02, 87 0101, 88 0008 }, 5F2E ... } }
    expect(toSpacedHex(findPath(node, [0x7f61, 0x02])!.raw)).toBe('02 01 01');
    expect(toSpacedHex(findPath(node, [0x7f61, 0x7f60, 0xa1])!.raw)).toBe('A1 0F 80 02 01 01 81 01 02 87 02 01 01 88 02 00 08');
    const bdb = findPath(node, [BIOMETRIC_INFO_GROUP_TAG, BIOMETRIC_INFO_TEMPLATE_TAG, BIOMETRIC_DATA_BLOCK_TAG])!.value;
    // record header: 'FAC' 00, '010' 00, record length, 1 image; then the facial record data length
    expect(toSpacedHex(bdb.subarray(0, 8))).toBe('46 41 43 00 30 31 30 00');
    expect(new DataView(bdb.buffer, bdb.byteOffset).getUint32(8)).toBe(bdb.length);
    expect(new DataView(bdb.buffer, bdb.byteOffset).getUint16(12)).toBe(1);
    expect(new DataView(bdb.buffer, bdb.byteOffset).getUint32(14)).toBe(20 + 12 + portrait.length);

    const dg2 = decodeDg2(bytes);
    expect(dg2.instances.length).toBe(1);
    expect(dg2.instances[0]!.header).toMatchObject({ formatOwner: 0x0101, formatType: 0x0008, biometricType: 2, icaoHeaderVersion: 0x0101 });
    const img = dg2.faces[0]!.images[0]!;
    expect(img).toMatchObject({ gender: 2, eyeColour: 3, poseAngle: [91, 91, 91], faceImageType: 1, imageDataType: 0, width: 40, height: 52, colourSpace: 1, sourceType: 2 });
    expect(bytesEqual(img.image, portrait)).toBe(true);
    expect(bytesEqual(dg2Portrait(bytes)!, portrait)).toBe(true);
    // the decoder's view re-encodes to the same bytes
    expect(
      bytesEqual(
        encodeDg2({ faces: [{ image: img.image, gender: 'female', eyeColour: img.eyeColour, poseAngle: img.poseAngle }] }),
        bytes,
      ),
    ).toBe(true);
    // the image size comes from the JPEG header, independently decoded by jpeg-js
    const decoded = jpeg.decode(portrait);
    expect(imageSize(portrait)).toEqual({ width: decoded.width, height: decoded.height });
  });

  it('writes one biometric information template per face, with feature points and a creation date', () => {
    const bytes = encodeDg2({
      faces: [
        { image: portrait, featurePoints: [{ type: 1, code: 0x31, x: 10, y: 20 }] },
        { image: makeJpeg(16, 16), faceImageType: 'tokenFrontal' },
      ],
      header: { creationDateTime: '20250101120000', biometricSubtype: 0 },
    });
    const dg2 = decodeDg2(bytes);
    expect(dg2.instances.length).toBe(2);
    expect(dg2.instances[0]!.header.creationDateTime).toBe('20250101120000');
    expect(dg2.faces[0]!.images[0]!.featurePoints).toEqual([{ type: 1, code: 0x31, x: 10, y: 20 }]);
    expect(dg2.faces[1]!.images[0]).toMatchObject({ width: 16, height: 16, faceImageType: 2 });
  });

  it('rejects bad input and malformed groups', () => {
    expectLdsError(() => encodeDg2({ faces: [] }), 'LDS_INVALID_INPUT', 'faces');
    expectLdsError(() => encodeDg2({ faces: [{ image: Uint8Array.of(1, 2, 3) }] }), 'LDS_INVALID_INPUT', 'faces[0].image');
    expectLdsError(() => encodeDg2({ faces: [{ image: portrait, eyeColour: 300 }] }), 'LDS_INVALID_INPUT', 'faces[0].eyeColour');
    // count says 2, one BIT present
    const bytes = encodeDg2({ faces: [{ image: portrait }] });
    const tampered = bytes.slice();
    const countAt = bytes.indexOf(0x02, 4); // 02 01 01 after 75 L 7F61 L
    expect(tampered[countAt + 2]).toBe(1);
    tampered[countAt + 2] = 2;
    expectLdsError(() => decodeDg2(tampered), 'LDS_MALFORMED');
    expectLdsError(() => decodeFaceRecord(fromHex('46 49 52 00 30 31 30 00 00 00 00 0E 00 00')), 'LDS_MALFORMED');
  });

  it('reads the size of a JPEG 2000 codestream', () => {
    // SOC, SIZ: Lsiz, Rsiz, Xsiz=640, Ysiz=480, XOsiz=0, YOsiz=0
    const j2k = fromHex('FF 4F FF 51 00 29 00 00 00 00 02 80 00 00 01 E0 00 00 00 00 00 00 00 00 00 00 00 00');
    expect(jpeg2000Size(j2k)).toEqual({ width: 640, height: 480 });
    const bytes = encodeDg2({ faces: [{ image: j2k }] });
    expect(decodeDg2(bytes).faces[0]!.images[0]).toMatchObject({ imageDataType: 1, width: 640, height: 480 });
  });
});

describe('DG3 (fingers, ISO/IEC 19794-4)', () => {
  it('round-trips finger records with the CBEFF subtype of the finger', () => {
    const wsq = Uint8Array.of(0xff, 0xa0, 0xff, 0xa8, 1, 2, 3, 4);
    const bytes = encodeDg3({
      records: [
        { compression: 'wsq', fingers: [{ position: 2, image: wsq, width: 400, height: 500, quality: 80 }] },
        { compression: 'jpeg', fingers: [{ position: 7, image: makeJpeg(32, 40) }] },
      ],
    });
    const dg3 = decodeDg3(bytes);
    expect(dg3.instances.map((i) => i.header.biometricSubtype)).toEqual([0x09, 0x0a]); // right index, left index
    expect(dg3.instances[0]!.header).toMatchObject({ formatOwner: 0x0101, formatType: 0x0007, biometricType: 0x08 });
    const r0 = dg3.fingers[0]!;
    expect(r0).toMatchObject({ version: '010', imageAcquisitionLevel: 31, scaleUnits: 1, compression: 2, pixelDepth: 8 });
    expect(r0.scanResolution).toEqual({ horizontal: 500, vertical: 500 });
    expect(r0.fingers[0]).toMatchObject({ position: 2, quality: 80, width: 400, height: 500, viewCount: 1, viewNumber: 1 });
    expect(bytesEqual(r0.fingers[0]!.image, wsq)).toBe(true);
    expect(dg3.fingers[1]!.fingers[0]).toMatchObject({ position: 7, width: 32, height: 40 });
    // general header: 'FIR' 00 '010' 00 and a 6-byte record length
    const bdb = dg3.instances[0]!.bdb;
    expect(toSpacedHex(bdb.subarray(0, 14))).toBe('46 49 52 00 30 31 30 00 00 00 00 00 00 36');
    expect(bdb.length).toBe(0x36);
    expect(fingerSubtype(1)).toBe(0x05);
    expect(fingerSubtype(10)).toBe(0x16);
    expect(fingerSubtype(0)).toBe(0);
    expectLdsError(
      () => encodeDg3({ records: [{ fingers: [{ position: 1, image: wsq }] }] }),
      'LDS_INVALID_INPUT',
      'fingers[0].image',
    );
  });
});

describe('DG11 and DG12', () => {
  it('writes the tag list and elements in the 9303-10 order, exact bytes', () => {
    const bytes = encodeDg11({ fullDateOfBirth: '1990-05-17', fullName: { surname: 'MWANGI', givenNames: 'JOHN' } });
    expect(toSpacedHex(bytes)).toBe(
      '6B 20 5C 04 5F 0E 5F 2B 5F 0E 0C 4D 57 41 4E 47 49 3C 3C 4A 4F 48 4E 5F 2B 08 31 39 39 30 30 35 31 37',
    );
  });

  it('DG11 round-trips every element, national characters included', () => {
    const input = {
      fullName: 'WANJIRŨ<<NJERĨ ÑUÑEZ',
      otherNames: ['NJERI KAMAU', 'ZOË'],
      personalNumber: '12345678',
      fullDateOfBirth: '19900517',
      placeOfBirth: ['NYERI', 'KENYA'],
      permanentAddress: ['P.O. BOX 1-10100', 'NYERI', 'KENYA'],
      telephone: '+254700000000',
      profession: 'ENGINEER',
      title: 'DR',
      personalSummary: 'Summary',
      proofOfCitizenship: makeJpeg(8, 8),
      otherValidTdNumbers: ['AK0000001', 'AK0000002'],
      custodyInformation: 'none',
    };
    const bytes = encodeDg11(input);
    const d = decodeDg11(bytes);
    expect(d.tagList).toEqual([0x5f0e, 0x5f0f, 0x5f10, 0x5f2b, 0x5f11, 0x5f42, 0x5f12, 0x5f13, 0x5f14, 0x5f15, 0x5f16, 0x5f17, 0x5f18]);
    expect(d).toMatchObject({ ...input, proofOfCitizenship: expect.any(Uint8Array) });
    expect(bytesEqual(d.proofOfCitizenship!, input.proofOfCitizenship)).toBe(true);
    expect(toSpacedHex(findPath(d.node, [0xa0, 0x02])!.raw)).toBe('02 01 02');
    expect(bytesEqual(encodeDg11({ ...d, fullName: d.fullName! }), bytes)).toBe(true);
    expectLdsError(() => encodeDg11({ fullDateOfBirth: '1990-02-30' }), 'LDS_INVALID_INPUT', 'fullDateOfBirth');
    expectLdsError(() => encodeDg11({ placeOfBirth: ['A<B'] }), 'LDS_INVALID_INPUT', 'placeOfBirth[0]');
  });

  it('DG12 round-trips, with the personalization date-time', () => {
    const input = {
      issuingAuthority: 'NATIONAL REGISTRATION BUREAU',
      dateOfIssue: '2025-01-31',
      namesOfOtherPersons: ['OTIENO<<PAUL'],
      endorsementsAndObservations: 'none',
      taxOrExitRequirements: 'none',
      imageOfFront: makeJpeg(8, 8),
      imageOfRear: makeJpeg(8, 8),
      dateAndTimeOfPersonalization: '2025-01-31T10:20:30Z',
      personalizationSystemSerialNumber: 'KADI-0001',
    };
    const bytes = encodeDg12(input);
    const d = decodeDg12(bytes);
    expect(d).toMatchObject({
      issuingAuthority: 'NATIONAL REGISTRATION BUREAU',
      dateOfIssue: '20250131',
      namesOfOtherPersons: ['OTIENO<<PAUL'],
      dateAndTimeOfPersonalization: '20250131102030',
      personalizationSystemSerialNumber: 'KADI-0001',
    });
    expect(d.tagList).toEqual([0x5f19, 0x5f26, 0x5f1a, 0x5f1b, 0x5f1c, 0x5f1d, 0x5f1e, 0x5f55, 0x5f56]);
    expect(bytesEqual(encodeDg12({ ...d }), bytes)).toBe(true);
    expect(decodeDg12(encodeDg12({ dateOfIssue: '20250131' })).other).toEqual([]);
    expectLdsError(() => decodeDg12(fromHex('6C 03 5F 19 00')), 'LDS_MALFORMED');
  });
});

describe('DG13 (Kadi national profile)', () => {
  it('writes the documented private-tag schema and reads it back', () => {
    const bytes = encodeDg13({ nationalIdNumber: '12345678', kraPin: 'A012345678Z', nhifNumber: 'R1234567', nssfNumber: '2012345678' });
    expect(toSpacedHex(bytes.subarray(0, 15))).toBe('6D 30 C0 01 01 C1 08 31 32 33 34 35 36 37 38');
    const d = decodeDg13(bytes);
    expect(d).toMatchObject({ schemaVersion: 1, nationalIdNumber: '12345678', kraPin: 'A012345678Z', nhifNumber: 'R1234567', nssfNumber: '2012345678' });
    expect(bytesEqual(encodeDg13(d), bytes)).toBe(true);
    expect(toSpacedHex(encodeDg13({}))).toBe('6D 03 C0 01 01');
    // unknown later elements are kept, an unknown schema version is refused
    expect(decodeDg13(fromHex('6D 07 C0 01 01 C9 02 41 42')).other.map((n) => n.tag)).toEqual([0xc9]);
    expectLdsError(() => decodeDg13(fromHex('6D 03 C0 01 02')), 'LDS_MALFORMED');
    expectLdsError(() => encodeDg13({ kraPin: 'B012345678Z' }), 'LDS_INVALID_INPUT', 'kraPin');
    expectLdsError(() => encodeDg13({ nationalIdNumber: '12A' }), 'LDS_INVALID_INPUT', 'nationalIdNumber');
  });
});

function ecKey(): { spki: Uint8Array; x: Uint8Array; y: Uint8Array } {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  return {
    spki: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
    x: new Uint8Array(Buffer.from(jwk.x!, 'base64url')),
    y: new Uint8Array(Buffer.from(jwk.y!, 'base64url')),
  };
}

describe('public keys, DG15 and DG14 / EF.CardAccess', () => {
  it('DG15 carries an EC P-256 or RSA SubjectPublicKeyInfo; builders match node:crypto', () => {
    const ec = ecKey();
    const point = new Uint8Array([4, ...ec.x, ...ec.y]);
    expect(bytesEqual(ecPublicKeySpki('P-256', point), ec.spki)).toBe(true);
    const dg15 = encodeDg15(ec.spki);
    expect(toSpacedHex(dg15.subarray(0, 2))).toBe('6F 5B');
    const d = decodeDg15(dg15);
    expect(d.key).toMatchObject({ keyType: 'ec', curve: '1.2.840.10045.3.1.7' });
    expect(bytesEqual(d.key.ecPoint!, point)).toBe(true);
    expect(bytesEqual(d.key.spki, ec.spki)).toBe(true);

    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsaSpki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
    const jwk = publicKey.export({ format: 'jwk' });
    const n = new Uint8Array(Buffer.from(jwk.n!, 'base64url'));
    const e = new Uint8Array(Buffer.from(jwk.e!, 'base64url'));
    expect(bytesEqual(rsaPublicKeySpki(n, e), rsaSpki)).toBe(true);
    const r = decodeDg15(encodeDg15(rsaSpki)).key;
    expect(r.keyType).toBe('rsa');
    expect(bytesEqual(r.rsa!.modulus, n)).toBe(true);
    expect(bytesEqual(r.rsa!.exponent, e)).toBe(true);

    expectLdsError(() => encodeDg15(fromHex('30 03 02 01 00')), 'LDS_MALFORMED');
    expectLdsError(() => ecPublicKeySpki('P-256', point.subarray(1)), 'LDS_INVALID_INPUT', 'point');
  });

  it('DG14 with CA public key, CA info, PACE info and AA info: DER SET OF, decoded back', () => {
    const ec = ecKey();
    const infos: SecurityInfo[] = [
      { type: 'ActiveAuthenticationInfo', protocol: OID_AA, version: 1, signatureAlgorithm: OID_ECDSA_WITH_SHA256 },
      { type: 'ChipAuthenticationPublicKeyInfo', protocol: OID_PK_ECDH, publicKey: ec.spki, keyId: 1 },
      { type: 'ChipAuthenticationInfo', protocol: `${OID_CA_ECDH}.2`, version: 1, keyId: 1 },
      { type: 'PACEInfo', protocol: `${OID_PACE_ECDH_GM}.2`, version: 2, parameterId: PACE_PARAMETER_ID.NIST_P256 },
    ];
    const dg14 = encodeDg14(infos);
    const d = decodeDg14(dg14);
    expect(d.raw).toEqual(dg14);
    expect(d.infos.map((i) => i.type).sort()).toEqual(infos.map((i) => i.type).sort());
    const pace = d.infos.find((i) => i.type === 'PACEInfo')!;
    expect(pace).toMatchObject({ protocol: '0.4.0.127.0.7.2.2.4.2.2', version: 2, parameterId: 12 });
    expect(toSpacedHex(pace.raw)).toBe('30 12 06 0A 04 00 7F 00 07 02 02 04 02 02 02 01 02 02 01 0C');
    const pk = d.infos.find((i) => i.type === 'ChipAuthenticationPublicKeyInfo')!;
    expect(pk.key!.keyType).toBe('ec');
    // SET OF components in ascending order of their encodings (X.690 §11.6)
    const raws = d.infos.map((i) => toHex(i.raw));
    expect([...raws].sort()).toEqual(raws);
    // asn1js reads the same structure
    const oracle = asn1js.fromBER(dg14);
    expect(oracle.offset).toBe(dg14.length);
    expect(oracle.result.idBlock.tagClass).toBe(2); // application
    expect(oracle.result.idBlock.tagNumber).toBe(14);
    const set = (oracle.result.valueBlock as unknown as { value: asn1js.Set[] }).value[0]!;
    expect(set).toBeInstanceOf(asn1js.Set);
    expect(set.valueBlock.value.length).toBe(4);
    // re-encoding the decoded infos gives the same file
    expect(bytesEqual(encodeDg14(d.infos), dg14)).toBe(true);
    expectLdsError(
      () => encodeDg14([{ type: 'PACEInfo', protocol: OID_AA, version: 2 }]),
      'LDS_INVALID_INPUT',
      'protocol',
    );
  });

  it('EF.CardAccess is the bare SecurityInfos SET', () => {
    const ca = encodeCardAccess([{ type: 'PACEInfo', protocol: `${OID_PACE_ECDH_GM}.2`, version: 2, parameterId: 12 }]);
    expect(toSpacedHex(ca)).toBe('31 14 30 12 06 0A 04 00 7F 00 07 02 02 04 02 02 02 01 02 02 01 0C');
    expect(decodeCardAccess(ca).infos[0]).toMatchObject({ type: 'PACEInfo', parameterId: 12 });
  });

  for (const cc of ['DE', 'FI']) {
    it(`real EF.CardSecurity ${cc}: SecurityInfos decode and re-encode byte-identically`, () => {
      const root = parseTlv(file(`sod/EF_CardSecurity_${cc}.bin`));
      // ContentInfo { contentType, [0] SignedData { version, digestAlgorithms, encapContentInfo { type, [0] eContent } } }
      const encap = root.children[1]!.children[0]!.children[2]!;
      const content = readOctetString(encap.children[1]!.children[0]!);
      const si = decodeSecurityInfos(content);
      expect(si.infos.some((i) => i.type === 'PACEInfo')).toBe(true);
      const pks = si.infos.filter((i) => i.type === 'ChipAuthenticationPublicKeyInfo');
      expect(pks.length).toBeGreaterThan(0);
      // BSI TR-03110 form: algorithm standardizedDomainParameters (0.4.0.127.0.7.1.2) + parameter id
      for (const pk of pks) {
        expect(pk.key!.keyType).toBe('ec');
        expect(pk.key!.standardizedDomainParameterId).toBeGreaterThanOrEqual(8);
        expect(pk.key!.ecPoint![0]).toBe(0x04);
      }
      expect(bytesEqual(encodeSecurityInfos(si.infos), content)).toBe(true);
    });
  }
});

describe('LDSSecurityObject (9303-10 §4.6.2)', () => {
  const h = (alg: HashAlgorithm, seed: number): Uint8Array => digest(alg, Uint8Array.of(seed));

  it('matches an asn1js-built oracle for every hash algorithm, with and without LDSVersionInfo', () => {
    for (const alg of Object.keys(HASH_ALGORITHM_OIDS) as HashAlgorithm[]) {
      for (const withInfo of [false, true]) {
        for (const params of ['absent', 'null'] as const) {
          const hashes = [1, 2, 3, 11, 12, 14, 15].map((n) => ({ dataGroupNumber: n, hash: h(alg, n) }));
          const ours = encodeLdsSecurityObject({
            hashAlgorithm: alg,
            dataGroupHashes: hashes,
            algorithmParameters: params,
            ...(withInfo ? { ldsVersionInfo: { ldsVersion: '0108', unicodeVersion: '040000' } } : {}),
          });
          const oracle = new asn1js.Sequence({
            value: [
              new asn1js.Integer({ value: withInfo ? 1 : 0 }),
              new asn1js.Sequence({
                value: [
                  new asn1js.ObjectIdentifier({ value: HASH_ALGORITHM_OIDS[alg] }),
                  ...(params === 'null' ? [new asn1js.Null()] : []),
                ],
              }),
              new asn1js.Sequence({
                value: hashes.map(
                  (x) =>
                    new asn1js.Sequence({
                      value: [new asn1js.Integer({ value: x.dataGroupNumber }), new asn1js.OctetString({ valueHex: x.hash })],
                    }),
                ),
              }),
              ...(withInfo
                ? [new asn1js.Sequence({ value: [new asn1js.PrintableString({ value: '0108' }), new asn1js.PrintableString({ value: '040000' })] })]
                : []),
            ],
          });
          expect(toHex(ours), `${alg} ${withInfo} ${params}`).toBe(toHex(new Uint8Array(oracle.toBER())));
          const d = decodeLdsSecurityObject(ours);
          expect(d).toMatchObject({ version: withInfo ? 1 : 0, hashAlgorithm: alg, algorithmParameters: params });
          expect(d.dataGroupHashes).toEqual(hashes);
        }
      }
    }
  });

  it('validates its input', () => {
    const one = [{ dataGroupNumber: 1, hash: h('sha256', 1) }];
    expectLdsError(() => encodeLdsSecurityObject({ hashAlgorithm: 'sha256', dataGroupHashes: one }), 'LDS_INVALID_INPUT', 'dataGroupHashes');
    expectLdsError(
      () => encodeLdsSecurityObject({ hashAlgorithm: 'sha256', dataGroupHashes: [...one, ...one] }),
      'LDS_INVALID_INPUT',
      'dataGroupNumber',
    );
    expectLdsError(
      () => encodeLdsSecurityObject({ hashAlgorithm: 'sha256', dataGroupHashes: [...one, { dataGroupNumber: 17, hash: h('sha256', 2) }] }),
      'LDS_INVALID_INPUT',
      'dataGroupNumber',
    );
    expectLdsError(
      () => encodeLdsSecurityObject({ hashAlgorithm: 'sha256', dataGroupHashes: [...one, { dataGroupNumber: 2, hash: h('sha1', 2) }] }),
      'LDS_INVALID_INPUT',
      'hash',
    );
    expectLdsError(
      () =>
        encodeLdsSecurityObject({
          hashAlgorithm: 'sha256',
          dataGroupHashes: [...one, { dataGroupNumber: 2, hash: h('sha256', 2) }],
          ldsVersionInfo: { ldsVersion: '1.8', unicodeVersion: '040000' },
        }),
      'LDS_INVALID_INPUT',
      'ldsVersionInfo.ldsVersion',
    );
    expectLdsError(
      () => encodeLdsSecurityObject({ hashAlgorithm: 'md5' as HashAlgorithm, dataGroupHashes: one }),
      'LDS_INVALID_INPUT',
      'hashAlgorithm',
    );
  });

  it('hashes data groups through the digest port and verifies them', () => {
    const dg1 = file('lds/dg1_specimen_ICAO_TD2_Utopia.bin');
    const dg2 = encodeDg2({ faces: [{ image: makeJpeg(8, 8) }] });
    const hashes = computeDataGroupHashes({ 2: dg2, 1: dg1 }, 'sha256', digest);
    expect(hashes.map((x) => x.dataGroupNumber)).toEqual([1, 2]);
    const sod = decodeLdsSecurityObject(encodeLdsSecurityObject({ hashAlgorithm: 'sha256', dataGroupHashes: hashes }));
    const tampered = dg2.slice();
    tampered[tampered.length - 1] = tampered[tampered.length - 1]! ^ 1;
    expect(verifyDataGroupHashes(sod, new Map([[1, dg1], [2, tampered], [3, dg1]]), digest)).toEqual([
      { dataGroupNumber: 1, status: 'match' },
      { dataGroupNumber: 2, status: 'mismatch' },
      { dataGroupNumber: 3, status: 'unlisted' },
    ]);
    expect(verifyDataGroupHashes(sod, { 1: dg1 }, digest)[1]).toEqual({ dataGroupNumber: 2, status: 'missing' });
  });

  const sods = readdirSync(new URL('sod/', VEC)).filter((f) => f.endsWith('.bin') && f.includes('SOD'));
  for (const f of sods) {
    const cc = f.replace('_EF_SOD', '').replace('EF_SOD_', '').replace('.bin', '');
    it(`real EF.SOD ${cc}: hashes as published, re-encoded byte-identically`, () => {
      const rec = VECTORS.find((v) => v.name === `EF.SOD real-world sample ${cc} (SOD + embedded DS cert)`)!;
      expect(rec).toBeDefined();
      // 77 { ContentInfo { id-signedData, [0] { SignedData } } }; NZ uses indefinite lengths
      const root = parseTlv(file(`sod/${f}`), { allowIndefinite: true });
      expect(root.tag).toBe(0x77);
      const encap = root.children[0]!.children[1]!.children[0]!.children[2]!;
      const eContent = readOctetString(encap.children[1]!.children[0]!);
      const lso = decodeLdsSecurityObject(eContent);
      expect(lso.hashAlgorithm).toBe(rec.expected['dg_hash_algorithm']);
      const published = rec.expected['dg_hashes'] as Record<string, string>;
      expect(Object.fromEntries(lso.dataGroupHashes.map((x) => [String(x.dataGroupNumber), toHex(x.hash).toUpperCase()]))).toEqual(published);
      if (rec.expected['dg1_sha256_in_sod']) {
        expect(toHex(lso.dataGroupHashes[0]!.hash).toUpperCase()).toBe(rec.expected['dg1_sha256_in_sod']);
      }
      const again = encodeLdsSecurityObject({
        hashAlgorithm: lso.hashAlgorithm!,
        dataGroupHashes: lso.dataGroupHashes,
        algorithmParameters: lso.algorithmParameters === 'null' ? 'null' : 'absent',
        ...(lso.ldsVersionInfo ? { ldsVersionInfo: lso.ldsVersionInfo } : {}),
      });
      expect(toHex(again)).toBe(toHex(eContent));
    });
  }

  it('covers the 13 published EF.SOD files, NZ with indefinite lengths rejected by default', () => {
    expect(sods.length).toBe(13);
    expect(() => parseTlv(file('sod/EF_SOD_NZ.bin'))).toThrowError(/indefinite/);
  });
});

describe('public key info parser', () => {
  it('rejects a non-SPKI', () => {
    expectLdsError(() => decodePublicKeyInfo(fromHex('30 05 30 03 06 01 2A')), 'LDS_MALFORMED');
  });
});
