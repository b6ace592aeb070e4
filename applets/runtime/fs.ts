/**
 * The card's ISO/IEC 7816-4 file system (§7: files, file identifiers, short EF identifiers, file control
 * parameters) as plain data, so the card store can persist it as JSON.
 *
 * ```
 *   MF 3F00                       master file (the OS's)
 *     EF 011C  EF.CardAccess      read ALWAYS (ICAO 9303-10 §3.11.2: in the MF, readable without access control)
 *     EF 2F01  EF.ATR/INFO        read ALWAYS (ISO 7816-4 §8.2.1.1: extended length information 7F66)
 *     DF (AID A0000002471001)     eMRTD LDS1 application DF, no FID
 *       EF 011E EF.COM, 011D EF.SOD, 0101..0110 DG1..DG16   read SECURE, update PERSO
 * ```
 * Only transparent working EFs (FDB '01') are supported: that is all the LDS needs. Records are not.
 *
 * Access conditions are evaluated by the applet that owns the DF (the MF's by the runtime):
 * - read `ALWAYS`: no condition; `SECURE`: before the application is locked an authenticated SCP03 session,
 *   after lock ICAO secure messaging (BAC); `NEVER`.
 * - update `PERSO`: an authenticated SCP03 session with C-MAC while the application is not locked; `NEVER`.
 *
 * FCP template (ISO/IEC 7816-4 §7.4.3, Table 12), as CREATE FILE takes it and SELECT returns it:
 * ```
 *   62 L  FCP template
 *     80 02 XXXX   number of data bytes in the file (1 or 2 bytes accepted; 3 for files above 64 KiB are refused)
 *     82 01 01     file descriptor byte: working EF, transparent structure
 *     83 02 XXXX   file identifier
 *     88 01 XX     short EF identifier in b8-b4, b3-b1 = 000 ('08' = SFI 1, 'E8' = SFI 29);
 *                  '88 00' (empty) = no SFI; absent = the 5 low bits of the FID (§7.4.3)
 *     8A 01 05     life cycle status: operational, activated (returned only)
 * ```
 * (Debian's vicc codes tag 88 the same way.)
 */
import { CardStatus, SW_FILE_EXISTS, SW_FILE_NOT_FOUND, SW_INCORRECT_P1P2, SW_WRONG_DATA, FID_MF } from './iso.ts';

export type ReadAccess = 'ALWAYS' | 'SECURE' | 'NEVER';
export type UpdateAccess = 'PERSO' | 'NEVER';

/** A transparent EF. `data` has exactly `size` bytes (zero-filled at creation). */
export interface ElementaryFile {
  kind: 'EF';
  fid: number;
  /** Short EF identifier 1..30, or undefined. */
  sfi: number | undefined;
  data: Uint8Array;
  read: ReadAccess;
  update: UpdateAccess;
  /** Highest offset written + 1 (bytes beyond were never written; informative only). */
  written: number;
}

/** A DF: the MF (fid 3F00), or an application DF found by its AID (DF name). */
export interface DedicatedFile {
  kind: 'DF';
  fid: number | undefined;
  /** DF name (application identifier) as upper-case hex, or undefined. */
  aid: string | undefined;
  children: Array<DedicatedFile | ElementaryFile>;
}

export type FileNode = DedicatedFile | ElementaryFile;

/** FCP tags (ISO/IEC 7816-4 Table 12). */
export const TAG_FCP = 0x62;
export const TAG_FCP_SIZE = 0x80;
export const TAG_FCP_TOTAL_SIZE = 0x81;
export const TAG_FCP_FDB = 0x82;
export const TAG_FCP_FID = 0x83;
export const TAG_FCP_DF_NAME = 0x84;
export const TAG_FCP_SFI = 0x88;
export const TAG_FCP_LCS = 0x8a;
/** File descriptor byte: working EF, transparent structure. */
export const FDB_TRANSPARENT_EF = 0x01;
/** Life cycle status byte: operational state, activated. */
export const LCS_OPERATIONAL_ACTIVATED = 0x05;
/** Largest EF this card creates (the FCP size field is 2 bytes; the LDS's largest files fit). */
export const MAX_EF_SIZE = 0xffff;

/** A new, empty MF. */
export function newMasterFile(): DedicatedFile {
  return { kind: 'DF', fid: FID_MF, aid: undefined, children: [] };
}

/** Reserved FIDs that can never name an EF: MF, "current DF" (3FFF), RFU FFFF. */
export function isReservedFid(fid: number): boolean {
  return fid === FID_MF || fid === 0x3fff || fid === 0xffff;
}

export function findChild(df: DedicatedFile, fid: number): FileNode | undefined {
  return df.children.find((c) => c.fid === fid);
}

export function findEf(df: DedicatedFile, fid: number): ElementaryFile | undefined {
  const c = findChild(df, fid);
  return c?.kind === 'EF' ? c : undefined;
}

export function findEfBySfi(df: DedicatedFile, sfi: number): ElementaryFile | undefined {
  return df.children.find((c): c is ElementaryFile => c.kind === 'EF' && c.sfi === sfi);
}

/** The application DF with this AID (hex, any case) directly under `mf`. */
export function findApplicationDf(mf: DedicatedFile, aidHex: string): DedicatedFile | undefined {
  const want = aidHex.toUpperCase();
  return mf.children.find((c): c is DedicatedFile => c.kind === 'DF' && c.aid === want);
}

/** Adds (or returns the existing) application DF for `aidHex` under the MF. */
export function ensureApplicationDf(mf: DedicatedFile, aidHex: string): DedicatedFile {
  const existing = findApplicationDf(mf, aidHex);
  if (existing) return existing;
  const df: DedicatedFile = { kind: 'DF', fid: undefined, aid: aidHex.toUpperCase(), children: [] };
  mf.children.push(df);
  return df;
}

/** What CREATE FILE asks for, parsed from its FCP template. */
export interface FileSpec {
  fid: number;
  size: number;
  /** undefined: derive from the FID; null: explicitly none. */
  sfi: number | null | undefined;
}

/** Reads simple BER-TLV (1-byte tags, definite lengths) objects of one level. Throws 6A80 on malformed data. */
export function readSimpleTlvs(data: Uint8Array): Array<{ tag: number; value: Uint8Array }> {
  const out: Array<{ tag: number; value: Uint8Array }> = [];
  let i = 0;
  while (i < data.length) {
    let tag = data[i++]!;
    if ((tag & 0x1f) === 0x1f) {
      // two-byte tag (enough for the card's own data objects: 5F.., 7F.., 9F.., BF..)
      if (i >= data.length) throw new CardStatus(SW_WRONG_DATA, 'truncated tag');
      tag = (tag << 8) | data[i++]!;
    }
    if (i >= data.length) throw new CardStatus(SW_WRONG_DATA, 'truncated length');
    let len = data[i++]!;
    if (len === 0x81) {
      len = data[i++] ?? -1;
    } else if (len === 0x82) {
      len = ((data[i] ?? 0) << 8) | (data[i + 1] ?? 0);
      i += 2;
    } else if (len > 0x80) {
      throw new CardStatus(SW_WRONG_DATA, 'unsupported length form');
    }
    if (len < 0 || i + len > data.length) throw new CardStatus(SW_WRONG_DATA, 'value runs past the data');
    out.push({ tag, value: data.subarray(i, i + len) });
    i += len;
  }
  return out;
}

function beUint(v: Uint8Array): number {
  let n = 0;
  for (const b of v) n = n * 256 + b;
  return n;
}

/** Parses the FCP template of CREATE FILE (see the module comment). Throws 6A80 for anything else. */
export function parseFcp(data: Uint8Array): FileSpec {
  const top = readSimpleTlvs(data);
  if (top.length !== 1 || top[0]!.tag !== TAG_FCP) throw new CardStatus(SW_WRONG_DATA, 'expected one FCP template 62');
  let fid: number | undefined;
  let size: number | undefined;
  let sfi: number | null | undefined;
  let fdb: number | undefined;
  for (const { tag, value } of readSimpleTlvs(top[0]!.value)) {
    switch (tag) {
      case TAG_FCP_SIZE:
      case TAG_FCP_TOTAL_SIZE:
        if (value.length < 1 || value.length > 2) throw new CardStatus(SW_WRONG_DATA, 'file size must be 1 or 2 bytes');
        if (tag === TAG_FCP_SIZE || size === undefined) size = beUint(value);
        break;
      case TAG_FCP_FDB:
        if (value.length < 1) throw new CardStatus(SW_WRONG_DATA, 'empty file descriptor');
        fdb = value[0]!;
        break;
      case TAG_FCP_FID:
        if (value.length !== 2) throw new CardStatus(SW_WRONG_DATA, 'file identifier must be 2 bytes');
        fid = beUint(value);
        break;
      case TAG_FCP_SFI:
        if (value.length === 0) sfi = null;
        else if (value.length === 1) {
          const v = value[0]!;
          sfi = v >>> 3;
          if ((v & 0x07) !== 0 || sfi < 1 || sfi > 30) throw new CardStatus(SW_WRONG_DATA, 'SFI must be coded in b8-b4, 1..30');
        } else throw new CardStatus(SW_WRONG_DATA, 'SFI must be one byte');
        break;
      default:
        // Other FCP objects (security attributes, LCS, proprietary) are accepted and ignored: this card decides
        // access conditions by location (see the module comment).
        break;
    }
  }
  if (fdb !== undefined && fdb !== FDB_TRANSPARENT_EF) throw new CardStatus(SW_WRONG_DATA, 'only transparent EFs (FDB 01)');
  if (fid === undefined) throw new CardStatus(SW_WRONG_DATA, 'FCP without file identifier 83');
  if (isReservedFid(fid)) throw new CardStatus(SW_WRONG_DATA, 'reserved file identifier');
  if (size === undefined || size < 1 || size > MAX_EF_SIZE) throw new CardStatus(SW_WRONG_DATA, 'file size 80 missing or 0');
  return { fid, size, sfi };
}

/** The SFI a new EF gets: explicit, none, or the 5 low bits of the FID (ISO 7816-4 §7.4.3). */
export function effectiveSfi(spec: FileSpec): number | undefined {
  if (spec.sfi === null) return undefined;
  if (spec.sfi !== undefined) return spec.sfi;
  const low = spec.fid & 0x1f;
  return low >= 1 && low <= 30 ? low : undefined;
}

/** Creates an EF in `df`. Throws 6A89 if the FID (or SFI) is taken. */
export function createEf(df: DedicatedFile, spec: FileSpec, read: ReadAccess, update: UpdateAccess): ElementaryFile {
  if (findChild(df, spec.fid)) throw new CardStatus(SW_FILE_EXISTS, 'FID exists');
  const sfi = effectiveSfi(spec);
  if (sfi !== undefined && findEfBySfi(df, sfi)) throw new CardStatus(SW_FILE_EXISTS, 'SFI exists');
  const ef: ElementaryFile = { kind: 'EF', fid: spec.fid, sfi, data: new Uint8Array(spec.size), read, update, written: 0 };
  df.children.push(ef);
  return ef;
}

/** FCP of an EF as SELECT returns it (P2 = '04'). */
export function encodeFcp(ef: ElementaryFile): Uint8Array {
  const size = ef.data.length;
  const body = [
    TAG_FCP_SIZE, 2, size >>> 8, size & 0xff,
    TAG_FCP_FDB, 1, FDB_TRANSPARENT_EF,
    TAG_FCP_FID, 2, ef.fid >>> 8, ef.fid & 0xff,
    ...(ef.sfi !== undefined ? [TAG_FCP_SFI, 1, ef.sfi << 3] : []),
    TAG_FCP_LCS, 1, LCS_OPERATIONAL_ACTIVATED,
  ];
  return Uint8Array.of(TAG_FCP, body.length, ...body);
}

/** FCP of a DF (the MF or an application DF). */
export function encodeDfFcp(df: DedicatedFile): Uint8Array {
  const body: number[] = [TAG_FCP_FDB, 1, 0x38]; // DF
  if (df.fid !== undefined) body.push(TAG_FCP_FID, 2, df.fid >>> 8, df.fid & 0xff);
  if (df.aid !== undefined) {
    const aid = Buffer.from(df.aid, 'hex');
    body.push(TAG_FCP_DF_NAME, aid.length, ...aid);
  }
  body.push(TAG_FCP_LCS, 1, LCS_OPERATIONAL_ACTIVATED);
  return Uint8Array.of(TAG_FCP, body.length, ...body);
}

/** Result of READ BINARY on a transparent EF (ISO/IEC 7816-4 §11.3.3). */
export interface ReadResult {
  data: Uint8Array;
  /** 9000, or 6282 when the end of the file came before Ne bytes. */
  sw: number;
}

/**
 * Reads up to `ne` bytes from `offset`. Offset beyond the end: 6B00 (ISO: "wrong parameters P1-P2: offset
 * outside the EF"). Fewer bytes than Ne available: those bytes and 6282.
 */
export function readBinary(ef: ElementaryFile, offset: number, ne: number): ReadResult {
  const size = ef.data.length;
  if (offset > size) throw new CardStatus(0x6b00, 'offset outside the EF');
  const end = Math.min(size, offset + ne);
  return { data: ef.data.slice(offset, end), sw: end - offset < ne ? 0x6282 : 0x9000 };
}

/** Writes `data` at `offset`. Outside the EF: 6B00 (offset) or 6700 (data runs past the end). */
export function updateBinary(ef: ElementaryFile, offset: number, data: Uint8Array): void {
  const size = ef.data.length;
  if (offset > size) throw new CardStatus(0x6b00, 'offset outside the EF');
  if (offset + data.length > size) throw new CardStatus(0x6700, 'data runs past the end of the EF');
  ef.data.set(data, offset);
  ef.written = Math.max(ef.written, offset + data.length);
}

/**
 * Offset and target of READ/UPDATE BINARY with even INS (ISO/IEC 7816-4 §11.3.3): P1 b8 = 1 → b5-b1 of P1 are an
 * SFI and P2 is the offset (0..255); else P1-P2 is a 15-bit offset in the current EF.
 */
export function binaryTarget(p1: number, p2: number): { sfi: number | undefined; offset: number } {
  if (p1 & 0x80) {
    if (p1 & 0x60) throw new CardStatus(SW_INCORRECT_P1P2, 'P1 b7-b6 must be 0 with an SFI');
    const sfi = p1 & 0x1f;
    if (sfi === 0 || sfi === 31) throw new CardStatus(SW_INCORRECT_P1P2, 'bad SFI');
    return { sfi, offset: p2 };
  }
  return { sfi: undefined, offset: (p1 << 8) | p2 };
}

/** Offset data object '54' of odd-INS READ/UPDATE BINARY (1..3 bytes). */
export function oddInsOffset(value: Uint8Array): number {
  if (value.length < 1 || value.length > 3) throw new CardStatus(SW_WRONG_DATA, 'offset DO 54 must be 1..3 bytes');
  return beUint(value);
}

/** Fetches the EF an even/odd INS file command addresses: by SFI in `df`, else the current EF. */
export function resolveEf(df: DedicatedFile, sfi: number | undefined, current: ElementaryFile | undefined): ElementaryFile {
  if (sfi !== undefined) {
    const ef = findEfBySfi(df, sfi);
    if (!ef) throw new CardStatus(SW_FILE_NOT_FOUND, 'no EF with this SFI');
    return ef;
  }
  if (!current) throw new CardStatus(0x6986, 'no current EF');
  return current;
}

// ---- JSON form (card store) -------------------------------------------------------------------------------

/** JSON form of a file node: data as base64, numbers as numbers. */
export type FileNodeJson =
  | { kind: 'DF'; fid?: number; aid?: string; children: FileNodeJson[] }
  | { kind: 'EF'; fid: number; sfi?: number; size: number; data: string; read: ReadAccess; update: UpdateAccess; written: number };

export function fileNodeToJson(n: FileNode): FileNodeJson {
  if (n.kind === 'DF') {
    return {
      kind: 'DF',
      ...(n.fid !== undefined ? { fid: n.fid } : {}),
      ...(n.aid !== undefined ? { aid: n.aid } : {}),
      children: n.children.map(fileNodeToJson),
    };
  }
  return {
    kind: 'EF',
    fid: n.fid,
    ...(n.sfi !== undefined ? { sfi: n.sfi } : {}),
    size: n.data.length,
    data: Buffer.from(n.data).toString('base64'),
    read: n.read,
    update: n.update,
    written: n.written,
  };
}

export function fileNodeFromJson(j: FileNodeJson): FileNode {
  if (j.kind === 'DF') {
    return { kind: 'DF', fid: j.fid, aid: j.aid?.toUpperCase(), children: j.children.map(fileNodeFromJson) };
  }
  const data = new Uint8Array(Buffer.from(j.data, 'base64'));
  if (data.length !== j.size) throw new Error(`EF ${j.fid.toString(16)}: stored data is ${data.length} bytes, size ${j.size}`);
  return { kind: 'EF', fid: j.fid, sfi: j.sfi, data, read: j.read, update: j.update, written: j.written };
}
