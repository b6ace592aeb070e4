/**
 * LDSSecurityObject, the signed content (eContent) of EF.SOD, ICAO Doc 9303-10 §4.6.2.2 (Appendix "ASN.1
 * specification of the LDS Security Object"):
 * ```
 *   LDSSecurityObject ::= SEQUENCE {
 *     version              LDSSecurityObjectVersion,
 *     hashAlgorithm        DigestAlgorithmIdentifier,
 *     dataGroupHashValues  SEQUENCE SIZE (2..ub-DataGroups) OF DataGroupHash,
 *     ldsVersionInfo       LDSVersionInfo OPTIONAL }   -- if present, version MUST be v1
 *
 *   DataGroupHash ::= SEQUENCE {
 *     dataGroupNumber     DataGroupNumber,
 *     dataGroupHashValue  OCTET STRING }
 *
 *   DataGroupNumber ::= INTEGER { dataGroup1(1), ..., dataGroup16(16) }
 *   LDSSecurityObjectVersion ::= INTEGER { v0(0), v1(1) }   -- v1: ldsVersionInfo present (LDS 1.7 and later)
 *   DigestAlgorithmIdentifier ::= AlgorithmIdentifier     -- RFC 5652; SHA-1/224/256/384/512
 *   LDSVersionInfo ::= SEQUENCE {
 *     ldsVersion      PrintableString,                   -- "aabb", e.g. "0108"
 *     unicodeVersion  PrintableString }                  -- "aabbcc", e.g. "040000"
 *   ub-DataGroups INTEGER ::= 16
 *   id-icao-mrtd-security-ldsSecurityObject OBJECT IDENTIFIER ::= 2.23.136.1.1.1   -- the eContentType
 * ```
 * The encoder is the SOD hot path: hand-written DER on precomputed sizes, one allocation, the AlgorithmIdentifier
 * bytes cached per algorithm. Hashes are computed by the caller (this core has no crypto): pass precomputed hashes,
 * or a {@link DigestFn} port to {@link computeDataGroupHashes}.
 */
import {
  DER_INTEGER,
  DER_OCTET_STRING,
  DER_NULL,
  DER_PRINTABLE_STRING,
  DER_SEQUENCE,
  type TlvNode,
  type TlvParseOptions,
  decodeAscii,
  derAlgorithmIdentifier,
  derNull,
  derPrintableString,
  derSequence,
  encodeItem,
  expectTag,
  lengthSize,
  parseTlv,
  readInteger,
  readOctetString,
  readOid,
  writeLength,
} from '../tlv/index.ts';
import { ldsInvalid, ldsMalformed } from './errors.ts';

/** eContentType of EF.SOD. */
export const OID_LDS_SECURITY_OBJECT = '2.23.136.1.1.1';

export type HashAlgorithm = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

export const HASH_ALGORITHM_OIDS: Readonly<Record<HashAlgorithm, string>> = {
  sha1: '1.3.14.3.2.26',
  sha224: '2.16.840.1.101.3.4.2.4',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
};

/** Digest lengths in bytes. */
export const HASH_LENGTHS: Readonly<Record<HashAlgorithm, number>> = {
  sha1: 20,
  sha224: 28,
  sha256: 32,
  sha384: 48,
  sha512: 64,
};

/** Port for hashing: the caller supplies the implementation (node:crypto, the HSM, WebCrypto). */
export type DigestFn = (algorithm: HashAlgorithm, data: Uint8Array) => Uint8Array;

export interface DataGroupHash {
  /** 1-16. */
  dataGroupNumber: number;
  hash: Uint8Array;
}

export interface LdsVersionInfo {
  /** "aabb", e.g. "0108". */
  ldsVersion: string;
  /** "aabbcc", e.g. "040000". */
  unicodeVersion: string;
}

export interface LdsSecurityObjectInput {
  hashAlgorithm: HashAlgorithm;
  /** Written in the given order ({@link computeDataGroupHashes} returns ascending data group numbers). */
  dataGroupHashes: readonly DataGroupHash[];
  /** When given, version v1 is written (LDS 1.7+), otherwise v0. */
  ldsVersionInfo?: LdsVersionInfo;
  /**
   * AlgorithmIdentifier parameters: `absent` (RFC 5754 for SHA-2, the default) or `null` (an explicit NULL, as
   * many issuers write).
   */
  algorithmParameters?: 'absent' | 'null';
}

export interface LdsSecurityObject {
  version: number;
  /** Known algorithm name, or undefined for an unknown OID (see `hashAlgorithmOid`). */
  hashAlgorithm?: HashAlgorithm;
  hashAlgorithmOid: string;
  algorithmParameters: 'absent' | 'null' | 'other';
  dataGroupHashes: DataGroupHash[];
  ldsVersionInfo?: LdsVersionInfo;
  /** The encoding as read. */
  raw: Uint8Array;
  node: TlvNode;
}

const algCache = new Map<string, Uint8Array>();

/** DER AlgorithmIdentifier of a hash algorithm, cached (do not mutate). */
export function hashAlgorithmIdentifier(alg: HashAlgorithm, parameters: 'absent' | 'null' = 'absent'): Uint8Array {
  const key = `${alg}:${parameters}`;
  let b = algCache.get(key);
  if (!b) {
    const oid = HASH_ALGORITHM_OIDS[alg];
    if (!oid) throw ldsInvalid('hashAlgorithm', `expected one of ${Object.keys(HASH_ALGORITHM_OIDS).join(', ')}`);
    b = encodeItem(parameters === 'null' ? derAlgorithmIdentifier(oid, derNull()) : derAlgorithmIdentifier(oid));
    algCache.set(key, b);
  }
  return b;
}

const versionInfoCache = new Map<string, Uint8Array>();

/** DER LDSVersionInfo, validated and cached (there are only a few versions in use). */
function versionInfoBytes(v: LdsVersionInfo): Uint8Array {
  const key = v ? `${v.ldsVersion}/${v.unicodeVersion}` : '';
  let b = versionInfoCache.get(key);
  if (b) return b;
  if (!v || !/^\d{4}$/.test(v.ldsVersion)) throw ldsInvalid('ldsVersionInfo.ldsVersion', 'expected 4 digits "aabb"');
  if (!/^\d{6}$/.test(v.unicodeVersion)) throw ldsInvalid('ldsVersionInfo.unicodeVersion', 'expected 6 digits "aabbcc"');
  b = encodeItem(derSequence([derPrintableString(v.ldsVersion), derPrintableString(v.unicodeVersion)]));
  if (versionInfoCache.size < 64) versionInfoCache.set(key, b);
  return b;
}

/**
 * DER LDSSecurityObject. Validates: known hash algorithm, 2 to 16 entries, data group numbers 1-16 without
 * duplicates, every hash of the algorithm's length.
 */
export function encodeLdsSecurityObject(input: LdsSecurityObjectInput): Uint8Array {
  const alg = hashAlgorithmIdentifier(input.hashAlgorithm, input.algorithmParameters ?? 'absent');
  const hl = HASH_LENGTHS[input.hashAlgorithm];
  const hashes = input.dataGroupHashes;
  const n = hashes.length;
  if (n < 2 || n > 16) throw ldsInvalid('dataGroupHashes', 'expected 2 to 16 data group hashes');
  let seen = 0;
  for (let i = 0; i < n; i++) {
    const h = hashes[i]!;
    const dg = h.dataGroupNumber;
    if (!Number.isInteger(dg) || dg < 1 || dg > 16) throw ldsInvalid('dataGroupNumber', 'expected 1 to 16');
    if (seen & (1 << dg)) throw ldsInvalid('dataGroupNumber', 'duplicate data group');
    seen |= 1 << dg;
    if (!(h.hash instanceof Uint8Array) || h.hash.length !== hl) {
      throw ldsInvalid('hash', `expected ${hl} bytes for ${input.hashAlgorithm}`);
    }
  }
  const lvi = input.ldsVersionInfo ? versionInfoBytes(input.ldsVersionInfo) : undefined;

  // Sizes: DataGroupHash = 30 L { 02 01 nn, 04 L hash }.
  const octetLen = 1 + lengthSize(hl) + hl;
  const dghContent = 3 + octetLen;
  const dghLen = 1 + lengthSize(dghContent) + dghContent;
  const seqContent = n * dghLen;
  const seqLen = 1 + lengthSize(seqContent) + seqContent;
  const content = 3 + alg.length + seqLen + (lvi ? lvi.length : 0);
  const out = new Uint8Array(1 + lengthSize(content) + content);

  let o = 0;
  out[o++] = DER_SEQUENCE;
  o = writeLength(out, o, content);
  out[o++] = DER_INTEGER;
  out[o++] = 1;
  out[o++] = lvi ? 1 : 0;
  out.set(alg, o);
  o += alg.length;
  out[o++] = DER_SEQUENCE;
  o = writeLength(out, o, seqContent);
  for (let i = 0; i < n; i++) {
    const h = hashes[i]!;
    out[o++] = DER_SEQUENCE;
    o = writeLength(out, o, dghContent);
    out[o++] = DER_INTEGER;
    out[o++] = 1;
    out[o++] = h.dataGroupNumber;
    out[o++] = DER_OCTET_STRING;
    o = writeLength(out, o, hl);
    out.set(h.hash, o);
    o += hl;
  }
  if (lvi) {
    out.set(lvi, o);
    o += lvi.length;
  }
  if (o !== out.length) throw ldsInvalid('internal', 'size mismatch');
  return out;
}

const OID_TO_ALG: ReadonlyMap<string, HashAlgorithm> = new Map(
  (Object.entries(HASH_ALGORITHM_OIDS) as Array<[HashAlgorithm, string]>).map(([k, v]) => [v, k]),
);

export interface DecodeLdsSecurityObjectOptions {
  /** TLV options; default definite lengths only (BER long forms accepted). */
  tlv?: TlvParseOptions;
}

/** Decodes an LDSSecurityObject (the eContent of EF.SOD), keeping the bytes as read. */
export function decodeLdsSecurityObject(bytes: Uint8Array, opts: DecodeLdsSecurityObjectOptions = {}): LdsSecurityObject {
  const node = parseTlv(bytes, opts.tlv);
  const bad = (what: string): Error => ldsMalformed(`LDSSecurityObject: ${what}`, { file: 'EF.SOD' });
  if (node.tag !== DER_SEQUENCE || node.children.length < 3 || node.children.length > 4) throw bad('not a SEQUENCE of 3 or 4');
  const [v, algNode, hashesNode, lviNode] = node.children as [TlvNode, TlvNode, TlvNode, TlvNode | undefined];
  const version = readInteger(v, 'version');
  if (version !== 0 && version !== 1) throw bad(`unknown version ${version}`);
  if (algNode.tag !== DER_SEQUENCE || algNode.children.length < 1 || algNode.children.length > 2) {
    throw bad('hashAlgorithm is not an AlgorithmIdentifier');
  }
  const hashAlgorithmOid = readOid(algNode.children[0]!, 'hashAlgorithm');
  const params = algNode.children[1];
  const algorithmParameters = !params ? 'absent' : params.tag === DER_NULL && params.length === 0 ? 'null' : 'other';
  const hashAlgorithm = OID_TO_ALG.get(hashAlgorithmOid);
  expectTag(hashesNode, DER_SEQUENCE, 'dataGroupHashValues');
  const dataGroupHashes = hashesNode.children.map((d): DataGroupHash => {
    if (d.tag !== DER_SEQUENCE || d.children.length !== 2) throw bad('DataGroupHash is not a SEQUENCE of 2');
    return {
      dataGroupNumber: readInteger(d.children[0]!, 'dataGroupNumber'),
      hash: readOctetString(d.children[1]!, 'dataGroupHashValue'),
    };
  });
  const out: LdsSecurityObject = {
    version,
    ...(hashAlgorithm ? { hashAlgorithm } : {}),
    hashAlgorithmOid,
    algorithmParameters,
    dataGroupHashes,
    raw: node.raw,
    node,
  };
  if (lviNode) {
    if (lviNode.tag !== DER_SEQUENCE || lviNode.children.length !== 2) throw bad('ldsVersionInfo is not a SEQUENCE of 2');
    const [a, b] = lviNode.children.map((c) => decodeAscii(expectTag(c, DER_PRINTABLE_STRING, 'ldsVersionInfo').value)) as [string, string];
    out.ldsVersionInfo = { ldsVersion: a, unicodeVersion: b };
  }
  return out;
}

/** Data groups to hash: a map or record from data group number to the file bytes (as written / as read). */
export type DataGroupFiles = ReadonlyMap<number, Uint8Array> | Readonly<Record<number, Uint8Array>>;

function entries(files: DataGroupFiles): Array<[number, Uint8Array]> {
  const list: Array<[number, Uint8Array]> =
    files instanceof Map ? [...files.entries()] : Object.entries(files).map(([k, v]) => [Number(k), v as Uint8Array]);
  return list.sort((a, b) => a[0] - b[0]);
}

/** Hashes every data group (whole file: tag, length and value) with the given digest port, ascending order. */
export function computeDataGroupHashes(files: DataGroupFiles, algorithm: HashAlgorithm, digest: DigestFn): DataGroupHash[] {
  const hl = HASH_LENGTHS[algorithm];
  if (hl === undefined) throw ldsInvalid('hashAlgorithm', `expected one of ${Object.keys(HASH_LENGTHS).join(', ')}`);
  return entries(files).map(([dataGroupNumber, bytes]) => {
    if (!Number.isInteger(dataGroupNumber) || dataGroupNumber < 1 || dataGroupNumber > 16) {
      throw ldsInvalid('dataGroupNumber', 'expected 1 to 16');
    }
    const hash = digest(algorithm, bytes);
    if (hash.length !== hl) throw ldsInvalid('digest', `digest port returned ${hash.length} bytes, expected ${hl}`);
    return { dataGroupNumber, hash };
  });
}

export interface DataGroupHashCheck {
  dataGroupNumber: number;
  /** `missing`: the SOD lists a hash but no file was given; `unlisted`: a file was given the SOD has no hash for. */
  status: 'match' | 'mismatch' | 'missing' | 'unlisted';
}

/**
 * Compares the hashes in a decoded security object with the data groups as read (QC read-back / passive
 * authentication, hash part only; the signature is pki's job).
 */
export function verifyDataGroupHashes(sod: LdsSecurityObject, files: DataGroupFiles, digest: DigestFn): DataGroupHashCheck[] {
  if (!sod.hashAlgorithm) throw ldsMalformed('LDSSecurityObject: unknown hash algorithm', { file: 'EF.SOD' });
  const given = new Map(entries(files));
  const out: DataGroupHashCheck[] = [];
  for (const h of sod.dataGroupHashes) {
    const f = given.get(h.dataGroupNumber);
    if (!f) {
      out.push({ dataGroupNumber: h.dataGroupNumber, status: 'missing' });
      continue;
    }
    const d = digest(sod.hashAlgorithm, f);
    let same = d.length === h.hash.length;
    for (let i = 0; same && i < d.length; i++) same = d[i] === h.hash[i];
    out.push({ dataGroupNumber: h.dataGroupNumber, status: same ? 'match' : 'mismatch' });
    given.delete(h.dataGroupNumber);
  }
  for (const n of given.keys()) out.push({ dataGroupNumber: n, status: 'unlisted' });
  return out;
}
