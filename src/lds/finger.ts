/**
 * ISO/IEC 19794-4:2005 finger image record, the biometric data block of EF.DG3 (format owner 0101, format type
 * 0007). All numbers big-endian.
 * ```
 *   General record header (32 bytes)
 *     4  format identifier            'FIR' 00
 *     4  version number               '010' 00
 *     6  record length                whole record, header included
 *     2  capture device ID            0000 = unreported
 *     2  image acquisition level      10, 20, 30, 31 (500 ppi), 40, 41 (1000 ppi)
 *     1  number of fingers/palms      finger records that follow
 *     1  scale units                  01 pixels per inch, 02 pixels per centimetre
 *     2  horizontal scan resolution   2  vertical scan resolution
 *     2  horizontal image resolution  2  vertical image resolution
 *     1  pixel depth                  bits per pixel (8 for greyscale)
 *     1  image compression algorithm  00 uncompressed, 01 uncompressed bit-packed, 02 WSQ, 03 JPEG,
 *                                     04 JPEG 2000, 05 PNG
 *     2  reserved                     0000
 *   Finger image record, per finger (14-byte header + image)
 *     4  length of finger data block  header + image
 *     1  finger/palm position         00 unknown, 01 right thumb, 02 right index, 03 right middle, 04 right ring,
 *                                     05 right little, 06 left thumb, 07 left index, 08 left middle,
 *                                     09 left ring, 10 left little, ...
 *     1  count of views               1  view number (1..count)
 *     1  finger/palm image quality    0-100 (0 = not available)
 *     1  impression type              00 live-scan plain, 01 live-scan rolled, 02 non-live plain, ...
 *     2  horizontal line length       pixels     2  vertical line length   pixels
 *     1  reserved                     00
 *     image data
 * ```
 */
import type { TlvItem } from '../tlv/index.ts';
import { ldsInvalid, ldsMalformed } from './errors.ts';
import { imageSize } from './image.ts';

/** 'FIR' 00 */
export const FINGER_FORMAT_IDENTIFIER = 0x46495200;
/** '010' 00 */
export const FINGER_VERSION_010 = 0x30313000;
export const FINGER_GENERAL_HEADER_LENGTH = 32;
export const FINGER_IMAGE_HEADER_LENGTH = 14;

export const FINGER_COMPRESSION = {
  uncompressed: 0,
  uncompressedBitPacked: 1,
  wsq: 2,
  jpeg: 3,
  jpeg2000: 4,
  png: 5,
} as const;

export const SCALE_UNITS_PPI = 1;
export const SCALE_UNITS_PPCM = 2;

export interface FingerImageInput {
  /** Finger position code 0-10 (and palm codes above). */
  position: number;
  image: Uint8Array;
  /** Pixels; default read from a JPEG / JPEG 2000 header (required for WSQ, PNG and raw). */
  width?: number;
  height?: number;
  /** 0-100, default 0 (not available). */
  quality?: number;
  /** Default 0 (live-scan plain). */
  impressionType?: number;
  /** Default 1. */
  viewCount?: number;
  /** Default 1. */
  viewNumber?: number;
}

export interface FingerRecordInput {
  /** Default `wsq`. */
  compression?: keyof typeof FINGER_COMPRESSION;
  /** Default 31 (500 ppi). */
  imageAcquisitionLevel?: number;
  /** Default 0 (unreported). */
  captureDeviceId?: number;
  /** Default pixels per inch. */
  scaleUnits?: number;
  /** Default 500. */
  scanResolution?: number;
  /** Default = scan resolution. */
  imageResolution?: number;
  /** Default 8. */
  pixelDepth?: number;
  fingers: readonly FingerImageInput[];
}

export interface FingerImage {
  position: number;
  viewCount: number;
  viewNumber: number;
  quality: number;
  impressionType: number;
  width: number;
  height: number;
  /** Image bytes (view of the input). */
  image: Uint8Array;
}

export interface FingerRecord {
  version: string;
  captureDeviceId: number;
  imageAcquisitionLevel: number;
  scaleUnits: number;
  scanResolution: { horizontal: number; vertical: number };
  imageResolution: { horizontal: number; vertical: number };
  pixelDepth: number;
  compression: number;
  fingers: FingerImage[];
  raw: Uint8Array;
}

function u(n: number | undefined, max: number, field: string, dflt: number): number {
  const v = n ?? dflt;
  if (!Number.isInteger(v) || v < 0 || v > max) throw ldsInvalid(field, `expected an integer 0..${max}`);
  return v;
}

/** The finger record as a builder item; wrap with `constructed(0x5F2E, [fingerRecordItem(...)])`. */
export function fingerRecordItem(rec: FingerRecordInput): TlvItem {
  if (!rec || !Array.isArray(rec.fingers) || rec.fingers.length === 0 || rec.fingers.length > 0xff) {
    throw ldsInvalid('fingers', 'expected 1 to 255 finger images');
  }
  const compressionName = rec.compression ?? 'wsq';
  const compression = FINGER_COMPRESSION[compressionName];
  if (compression === undefined) throw ldsInvalid('compression', `expected one of ${Object.keys(FINGER_COMPRESSION).join(', ')}`);
  const h = {
    captureDeviceId: u(rec.captureDeviceId, 0xffff, 'captureDeviceId', 0),
    level: u(rec.imageAcquisitionLevel, 0xffff, 'imageAcquisitionLevel', 31),
    scaleUnits: u(rec.scaleUnits, 0xff, 'scaleUnits', SCALE_UNITS_PPI),
    scan: u(rec.scanResolution, 0xffff, 'scanResolution', 500),
    pixelDepth: u(rec.pixelDepth, 0xff, 'pixelDepth', 8),
  };
  const imageRes = u(rec.imageResolution, 0xffff, 'imageResolution', h.scan);
  const fingers = rec.fingers.map((f, i) => {
    const k = `fingers[${i}]`;
    if (!f || !(f.image instanceof Uint8Array) || f.image.length === 0) throw ldsInvalid(`${k}.image`, 'expected image bytes');
    const size = f.width !== undefined && f.height !== undefined ? undefined : imageSize(f.image);
    const width = f.width ?? size?.width;
    const height = f.height ?? size?.height;
    if (width === undefined || height === undefined) throw ldsInvalid(`${k}.image`, 'width and height required for this image format');
    return {
      position: u(f.position, 0xff, `${k}.position`, 0),
      viewCount: u(f.viewCount, 0xff, `${k}.viewCount`, 1),
      viewNumber: u(f.viewNumber, 0xff, `${k}.viewNumber`, 1),
      quality: u(f.quality, 100, `${k}.quality`, 0),
      impressionType: u(f.impressionType, 0xff, `${k}.impressionType`, 0),
      width: u(width, 0xffff, `${k}.width`, 0),
      height: u(height, 0xffff, `${k}.height`, 0),
      image: f.image,
    };
  });
  let total = FINGER_GENERAL_HEADER_LENGTH;
  for (const f of fingers) total += FINGER_IMAGE_HEADER_LENGTH + f.image.length;
  if (total > 0xffffffffffff) throw ldsInvalid('fingers', 'record too large');
  const size = total;
  return {
    size,
    writeTo(out, o) {
      const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
      dv.setUint32(o, FINGER_FORMAT_IDENTIFIER);
      dv.setUint32(o + 4, FINGER_VERSION_010);
      dv.setUint16(o + 8, Math.floor(size / 0x100000000));
      dv.setUint32(o + 10, size >>> 0);
      dv.setUint16(o + 14, h.captureDeviceId);
      dv.setUint16(o + 16, h.level);
      out[o + 18] = fingers.length;
      out[o + 19] = h.scaleUnits;
      dv.setUint16(o + 20, h.scan);
      dv.setUint16(o + 22, h.scan);
      dv.setUint16(o + 24, imageRes);
      dv.setUint16(o + 26, imageRes);
      out[o + 28] = h.pixelDepth;
      out[o + 29] = compression;
      dv.setUint16(o + 30, 0);
      o += FINGER_GENERAL_HEADER_LENGTH;
      for (const f of fingers) {
        dv.setUint32(o, FINGER_IMAGE_HEADER_LENGTH + f.image.length);
        out[o + 4] = f.position;
        out[o + 5] = f.viewCount;
        out[o + 6] = f.viewNumber;
        out[o + 7] = f.quality;
        out[o + 8] = f.impressionType;
        dv.setUint16(o + 9, f.width);
        dv.setUint16(o + 11, f.height);
        out[o + 13] = 0;
        o += FINGER_IMAGE_HEADER_LENGTH;
        out.set(f.image, o);
        o += f.image.length;
      }
      return o;
    },
  };
}

/** Decodes an ISO/IEC 19794-4 finger image record (the DG3 biometric data block). */
export function decodeFingerRecord(bdb: Uint8Array): FingerRecord {
  const bad = (what: string): Error => ldsMalformed(`finger record: ${what}`, { file: 'DG3' });
  if (bdb.length < FINGER_GENERAL_HEADER_LENGTH) throw bad('shorter than its header');
  const dv = new DataView(bdb.buffer, bdb.byteOffset, bdb.byteLength);
  if (dv.getUint32(0) !== FINGER_FORMAT_IDENTIFIER) throw bad("format identifier is not 'FIR'");
  const version = String.fromCharCode(bdb[4]!, bdb[5]!, bdb[6]!);
  if (bdb[7] !== 0 || !/^\d{3}$/.test(version)) throw bad('bad version number');
  const length = dv.getUint16(8) * 0x100000000 + dv.getUint32(10);
  if (length !== bdb.length) throw bad(`record length ${length} differs from the ${bdb.length} bytes present`);
  const count = bdb[18]!;
  const fingers: FingerImage[] = [];
  let o = FINGER_GENERAL_HEADER_LENGTH;
  for (let i = 0; i < count; i++) {
    if (o + FINGER_IMAGE_HEADER_LENGTH > bdb.length) throw bad('finger image header runs past the record');
    const blockLength = dv.getUint32(o);
    const end = o + blockLength;
    if (blockLength < FINGER_IMAGE_HEADER_LENGTH || end > bdb.length) throw bad('finger data block length inconsistent');
    fingers.push({
      position: bdb[o + 4]!,
      viewCount: bdb[o + 5]!,
      viewNumber: bdb[o + 6]!,
      quality: bdb[o + 7]!,
      impressionType: bdb[o + 8]!,
      width: dv.getUint16(o + 9),
      height: dv.getUint16(o + 11),
      image: bdb.subarray(o + FINGER_IMAGE_HEADER_LENGTH, end),
    });
    o = end;
  }
  if (o !== bdb.length) throw bad('bytes after the last finger image');
  return {
    version,
    captureDeviceId: dv.getUint16(14),
    imageAcquisitionLevel: dv.getUint16(16),
    scaleUnits: bdb[19]!,
    scanResolution: { horizontal: dv.getUint16(20), vertical: dv.getUint16(22) },
    imageResolution: { horizontal: dv.getUint16(24), vertical: dv.getUint16(26) },
    pixelDepth: bdb[28]!,
    compression: bdb[29]!,
    fingers,
    raw: bdb,
  };
}
