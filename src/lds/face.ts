/**
 * ISO/IEC 19794-5:2005 face image record, the biometric data block of EF.DG2 (format owner 0101, format type
 * 0008). All numbers big-endian.
 * ```
 *   Facial record header (14 bytes)
 *     4  format identifier          'FAC' 00
 *     4  version number             '010' 00
 *     4  length of record           whole record, header included
 *     2  number of facial images
 *   per image: facial record data
 *     Facial information (20 bytes)
 *       4  facial record data length   this image's block: 20 + 8 × feature points + 12 + image length
 *       2  number of feature points
 *       1  gender                      00 unspecified, 01 male, 02 female, 03 unknown
 *       1  eye colour                  00 unspecified, 01 black, 02 blue, 03 brown, 04 grey, 05 green,
 *                                      06 multi-coloured, 07 pink, FF other or unknown
 *       1  hair colour                 00 unspecified, 01 bald, 02 black, 03 blonde, 04 brown, 05 grey,
 *                                      06 white, 07 red, 08 green, 09 blue, FF other or unknown
 *       3  property (feature) mask     bit flags (glasses, moustache, ...), 0 = not specified
 *       2  expression                  0000 unspecified, 0001 neutral, ...
 *       3  pose angle                  yaw, pitch, roll (encoded 1..181, 0 = unspecified)
 *       3  pose angle uncertainty      yaw, pitch, roll
 *     Feature points (8 bytes each)
 *       1  type                        01 = MPEG-4 feature point
 *       1  code                        major (high nibble), minor (low nibble)
 *       2  x    2  y    2  reserved
 *     Image information (12 bytes)
 *       1  face image type             00 basic, 01 full frontal, 02 token frontal
 *       1  image data type             00 JPEG, 01 JPEG 2000
 *       2  width    2  height
 *       1  image colour space          00 unspecified, 01 24-bit RGB, 02 YUV422, 03 8-bit greyscale, 04 other
 *       1  source type                 00 unspecified, 01 static photo unknown source, 02 static photo digital
 *                                      still, 03 static photo scan, 04 video frame unknown, 05 analogue video,
 *                                      06 digital video, 07 unknown
 *       2  device type                 0000 unspecified
 *       2  quality                     0000 unspecified
 *     Image data
 * ```
 */
import type { TlvItem } from '../tlv/index.ts';
import { ldsInvalid, ldsMalformed } from './errors.ts';
import { detectImageFormat, imageSize } from './image.ts';

/** 'FAC' 00 */
export const FACE_FORMAT_IDENTIFIER = 0x46414300;
/** '010' 00 */
export const FACE_VERSION_010 = 0x30313000;
export const FACE_RECORD_HEADER_LENGTH = 14;
export const FACIAL_INFORMATION_LENGTH = 20;
export const FEATURE_POINT_LENGTH = 8;
export const IMAGE_INFORMATION_LENGTH = 12;

export const FACE_GENDER = { unspecified: 0, male: 1, female: 2, unknown: 3 } as const;
export const FACE_IMAGE_TYPE = { basic: 0, fullFrontal: 1, tokenFrontal: 2 } as const;
export const FACE_IMAGE_DATA_TYPE = { jpeg: 0, jpeg2000: 1 } as const;
export const FACE_COLOUR_SPACE = { unspecified: 0, rgb24: 1, yuv422: 2, grey8: 3, other: 4 } as const;
export const FACE_SOURCE_TYPE = {
  unspecified: 0,
  staticPhotoUnknown: 1,
  staticPhotoDigitalStill: 2,
  staticPhotoScan: 3,
  videoFrameUnknown: 4,
  videoFrameAnalogue: 5,
  videoFrameDigital: 6,
  unknown: 7,
} as const;

export interface FeaturePoint {
  /** 1 = MPEG-4 feature point. */
  type: number;
  /** Major code in the high nibble, minor code in the low nibble. */
  code: number;
  x: number;
  y: number;
}

export interface FaceImageInput {
  /** JPEG or JPEG 2000 bytes. */
  image: Uint8Array;
  /** Default: detected from the image's signature. */
  imageDataType?: keyof typeof FACE_IMAGE_DATA_TYPE;
  /** Pixels; default read from the image header. */
  width?: number;
  height?: number;
  gender?: keyof typeof FACE_GENDER;
  /** Default 0 (unspecified). */
  eyeColour?: number;
  hairColour?: number;
  featureMask?: number;
  expression?: number;
  /** Yaw, pitch, roll codes, default 0,0,0 (unspecified). */
  poseAngle?: readonly [number, number, number];
  poseAngleUncertainty?: readonly [number, number, number];
  featurePoints?: readonly FeaturePoint[];
  /** Default `fullFrontal` (what ICAO requires for the portrait in DG2). */
  faceImageType?: keyof typeof FACE_IMAGE_TYPE;
  /** Default `rgb24`. */
  colourSpace?: keyof typeof FACE_COLOUR_SPACE;
  /** Default `staticPhotoDigitalStill`. */
  sourceType?: keyof typeof FACE_SOURCE_TYPE;
  deviceType?: number;
  quality?: number;
}

/** A decoded face image; numeric codes are kept as numbers so unknown values survive. */
export interface FaceImage {
  gender: number;
  eyeColour: number;
  hairColour: number;
  featureMask: number;
  expression: number;
  poseAngle: [number, number, number];
  poseAngleUncertainty: [number, number, number];
  featurePoints: FeaturePoint[];
  faceImageType: number;
  imageDataType: number;
  width: number;
  height: number;
  colourSpace: number;
  sourceType: number;
  deviceType: number;
  quality: number;
  /** Image bytes (view of the input). */
  image: Uint8Array;
}

export interface FaceRecord {
  version: string;
  images: FaceImage[];
  /** The record as read. */
  raw: Uint8Array;
}

function u(n: number | undefined, max: number, field: string, dflt = 0): number {
  const v = n ?? dflt;
  if (!Number.isInteger(v) || v < 0 || v > max) throw ldsInvalid(field, `expected an integer 0..${max}`);
  return v;
}

/** All numbers validated up front, so writing cannot fail half-way. */
interface PreparedFace {
  blockLength: number;
  gender: number;
  eyeColour: number;
  hairColour: number;
  featureMask: number;
  expression: number;
  pose: number[];
  uncertainty: number[];
  featurePoints: FeaturePoint[];
  faceImageType: number;
  dataType: number;
  width: number;
  height: number;
  colourSpace: number;
  sourceType: number;
  deviceType: number;
  quality: number;
  image: Uint8Array;
}

function pick<T extends Record<string, number>>(table: T, key: string | undefined, dflt: keyof T, field: string): number {
  const k = key ?? (dflt as string);
  const v = table[k];
  if (v === undefined) throw ldsInvalid(field, `expected one of ${Object.keys(table).join(', ')}`);
  return v;
}

function prepare(img: FaceImageInput, i: number): PreparedFace {
  const f = `faces[${i}]`;
  if (!img || !(img.image instanceof Uint8Array) || img.image.length === 0) throw ldsInvalid(`${f}.image`, 'expected image bytes');
  const detected = detectImageFormat(img.image);
  const kind = img.imageDataType ?? (detected === 'unknown' ? undefined : detected);
  if (kind === undefined) throw ldsInvalid(`${f}.image`, 'not a JPEG or JPEG 2000 image');
  const size = img.width !== undefined && img.height !== undefined ? undefined : imageSize(img.image);
  const width = img.width ?? size?.width;
  const height = img.height ?? size?.height;
  if (width === undefined || height === undefined) {
    throw ldsInvalid(`${f}.image`, 'width and height not given and not found in the image header');
  }
  const featurePoints = (img.featurePoints ?? []).map((p) => ({
    type: u(p.type, 0xff, `${f}.featurePoints.type`),
    code: u(p.code, 0xff, `${f}.featurePoints.code`),
    x: u(p.x, 0xffff, `${f}.featurePoints.x`),
    y: u(p.y, 0xffff, `${f}.featurePoints.y`),
  }));
  const pose = img.poseAngle ?? [0, 0, 0];
  const unc = img.poseAngleUncertainty ?? [0, 0, 0];
  if (pose.length !== 3 || unc.length !== 3) throw ldsInvalid(`${f}.poseAngle`, 'expected yaw, pitch, roll');
  return {
    blockLength:
      FACIAL_INFORMATION_LENGTH + FEATURE_POINT_LENGTH * featurePoints.length + IMAGE_INFORMATION_LENGTH + img.image.length,
    gender: pick(FACE_GENDER, img.gender, 'unspecified', `${f}.gender`),
    eyeColour: u(img.eyeColour, 0xff, `${f}.eyeColour`),
    hairColour: u(img.hairColour, 0xff, `${f}.hairColour`),
    featureMask: u(img.featureMask, 0xffffff, `${f}.featureMask`),
    expression: u(img.expression, 0xffff, `${f}.expression`),
    pose: pose.map((v) => u(v, 0xff, `${f}.poseAngle`)),
    uncertainty: unc.map((v) => u(v, 0xff, `${f}.poseAngleUncertainty`)),
    featurePoints,
    faceImageType: pick(FACE_IMAGE_TYPE, img.faceImageType, 'fullFrontal', `${f}.faceImageType`),
    dataType: pick(FACE_IMAGE_DATA_TYPE, kind, 'jpeg', `${f}.imageDataType`),
    width: u(width, 0xffff, `${f}.width`),
    height: u(height, 0xffff, `${f}.height`),
    colourSpace: pick(FACE_COLOUR_SPACE, img.colourSpace, 'rgb24', `${f}.colourSpace`),
    sourceType: pick(FACE_SOURCE_TYPE, img.sourceType, 'staticPhotoDigitalStill', `${f}.sourceType`),
    deviceType: u(img.deviceType, 0xffff, `${f}.deviceType`),
    quality: u(img.quality, 0xffff, `${f}.quality`),
    image: img.image,
  };
}

/**
 * The face record as a builder item (so DG2 is written in one allocation): wrap it with
 * `constructed(0x5F2E, [faceRecordItem(...)])`.
 */
export function faceRecordItem(images: readonly FaceImageInput[]): TlvItem {
  if (!Array.isArray(images) || images.length === 0 || images.length > 0xffff) {
    throw ldsInvalid('faces', 'expected 1 or more face images');
  }
  const prepared = images.map(prepare);
  let size = FACE_RECORD_HEADER_LENGTH;
  for (const p of prepared) size += p.blockLength;
  const total = size;
  return {
    size: total,
    writeTo(out, o) {
      const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
      dv.setUint32(o, FACE_FORMAT_IDENTIFIER);
      dv.setUint32(o + 4, FACE_VERSION_010);
      dv.setUint32(o + 8, total);
      dv.setUint16(o + 12, prepared.length);
      o += FACE_RECORD_HEADER_LENGTH;
      for (const p of prepared) {
        dv.setUint32(o, p.blockLength);
        dv.setUint16(o + 4, p.featurePoints.length);
        out[o + 6] = p.gender;
        out[o + 7] = p.eyeColour;
        out[o + 8] = p.hairColour;
        out[o + 9] = p.featureMask >>> 16;
        out[o + 10] = (p.featureMask >>> 8) & 0xff;
        out[o + 11] = p.featureMask & 0xff;
        dv.setUint16(o + 12, p.expression);
        for (let k = 0; k < 3; k++) {
          out[o + 14 + k] = p.pose[k]!;
          out[o + 17 + k] = p.uncertainty[k]!;
        }
        o += FACIAL_INFORMATION_LENGTH;
        for (const fp of p.featurePoints) {
          out[o] = fp.type;
          out[o + 1] = fp.code;
          dv.setUint16(o + 2, fp.x);
          dv.setUint16(o + 4, fp.y);
          dv.setUint16(o + 6, 0);
          o += FEATURE_POINT_LENGTH;
        }
        out[o] = p.faceImageType;
        out[o + 1] = p.dataType;
        dv.setUint16(o + 2, p.width);
        dv.setUint16(o + 4, p.height);
        out[o + 6] = p.colourSpace;
        out[o + 7] = p.sourceType;
        dv.setUint16(o + 8, p.deviceType);
        dv.setUint16(o + 10, p.quality);
        o += IMAGE_INFORMATION_LENGTH;
        out.set(p.image, o);
        o += p.image.length;
      }
      return o;
    },
  };
}

/** Decodes an ISO/IEC 19794-5 face record (the DG2 biometric data block). Images are views of `bdb`. */
export function decodeFaceRecord(bdb: Uint8Array): FaceRecord {
  const bad = (what: string): Error => ldsMalformed(`face record: ${what}`, { file: 'DG2' });
  if (bdb.length < FACE_RECORD_HEADER_LENGTH) throw bad('shorter than its header');
  const dv = new DataView(bdb.buffer, bdb.byteOffset, bdb.byteLength);
  if (dv.getUint32(0) !== FACE_FORMAT_IDENTIFIER) throw bad("format identifier is not 'FAC'");
  const version = String.fromCharCode(bdb[4]!, bdb[5]!, bdb[6]!);
  if (bdb[7] !== 0 || !/^\d{3}$/.test(version)) throw bad('bad version number');
  const length = dv.getUint32(8);
  if (length !== bdb.length) throw bad(`record length ${length} differs from the ${bdb.length} bytes present`);
  const count = dv.getUint16(12);
  const images: FaceImage[] = [];
  let o = FACE_RECORD_HEADER_LENGTH;
  for (let i = 0; i < count; i++) {
    if (o + FACIAL_INFORMATION_LENGTH > bdb.length) throw bad('facial information runs past the record');
    const blockLength = dv.getUint32(o);
    const end = o + blockLength;
    const nfp = dv.getUint16(o + 4);
    const imgInfoAt = o + FACIAL_INFORMATION_LENGTH + FEATURE_POINT_LENGTH * nfp;
    if (end > bdb.length || imgInfoAt + IMAGE_INFORMATION_LENGTH > end) throw bad('facial record data length inconsistent');
    const featurePoints: FeaturePoint[] = [];
    for (let k = 0; k < nfp; k++) {
      const p = o + FACIAL_INFORMATION_LENGTH + FEATURE_POINT_LENGTH * k;
      featurePoints.push({ type: bdb[p]!, code: bdb[p + 1]!, x: dv.getUint16(p + 2), y: dv.getUint16(p + 4) });
    }
    const q = imgInfoAt;
    images.push({
      gender: bdb[o + 6]!,
      eyeColour: bdb[o + 7]!,
      hairColour: bdb[o + 8]!,
      featureMask: (bdb[o + 9]! << 16) | (bdb[o + 10]! << 8) | bdb[o + 11]!,
      expression: dv.getUint16(o + 12),
      poseAngle: [bdb[o + 14]!, bdb[o + 15]!, bdb[o + 16]!],
      poseAngleUncertainty: [bdb[o + 17]!, bdb[o + 18]!, bdb[o + 19]!],
      featurePoints,
      faceImageType: bdb[q]!,
      imageDataType: bdb[q + 1]!,
      width: dv.getUint16(q + 2),
      height: dv.getUint16(q + 4),
      colourSpace: bdb[q + 6]!,
      sourceType: bdb[q + 7]!,
      deviceType: dv.getUint16(q + 8),
      quality: dv.getUint16(q + 10),
      image: bdb.subarray(q + IMAGE_INFORMATION_LENGTH, end),
    });
    o = end;
  }
  if (o !== bdb.length) throw bad('bytes after the last facial image');
  return { version, images, raw: bdb };
}
