/**
 * EF.SOD (ICAO 9303-10 §4.6.2) and EF.CardSecurity (BSI TR-03110-3) content.
 *
 * ```
 * EF.SOD ::= [APPLICATION 23] ContentInfo                 -- tag 0x77, content SignedData
 *   eContentType: id-icao-mrtd-security-ldsSecurityObject (2.23.136.1.1.1)
 *
 * LDSSecurityObject ::= SEQUENCE {
 *   version               LDSSecurityObjectVersion,       -- INTEGER { v0(0), v1(1) }
 *   hashAlgorithm         DigestAlgorithmIdentifier,
 *   dataGroupHashValues   SEQUENCE SIZE (2..ub-DataGroups) OF DataGroupHash,
 *   ldsVersionInfo        LDSVersionInfo OPTIONAL }       -- present iff version is v1
 * DataGroupHash ::= SEQUENCE { dataGroupNumber DataGroupNumber, dataGroupHashValue OCTET STRING }
 * DataGroupNumber ::= INTEGER { dataGroup1(1) .. dataGroup16(16) }
 * LDSVersionInfo ::= SEQUENCE { ldsVersion PrintableString, unicodeVersion PrintableString }
 *
 * EF.CardSecurity ::= ContentInfo                          -- SignedData,
 *   eContentType: id-SecurityObject (0.4.0.127.0.7.3.2.1), eContent: SecurityInfos
 * SecurityInfos ::= SET OF SecurityInfo
 * SecurityInfo ::= SEQUENCE { protocol OBJECT IDENTIFIER, requiredData ANY, optionalData ANY OPTIONAL }
 * ```
 */
import { type AlgorithmIdentifier, type SignatureScheme, digestOf, parseAlgorithmIdentifier, signatureScheme } from './algorithms.ts';
import { Tag, parseAsn1, readOctets, readOid, readSmallInt, readString } from './der.ts';
import { type SignedData, type SignerInfo, parseSignedData } from './cms.ts';
import { PkiCode, PkiError } from './errors.ts';
import { type DigestName, Oid } from './oids.ts';

export interface LdsSecurityObject {
  /** 0 (v0) or 1 (v1). */
  version: number;
  hashAlgorithm: AlgorithmIdentifier;
  /** Digest name of hashAlgorithm. */
  hash: DigestName;
  /** Data group number -> hash value, in the order listed. */
  dataGroupHashes: Map<number, Uint8Array>;
  ldsVersion?: string;
  unicodeVersion?: string;
}

export interface Sod {
  signedData: SignedData;
  /** The (single) SignerInfo. */
  signer: SignerInfo;
  /** The signer's signature scheme (RSA-PSS parameters resolved); undefined if the algorithm is unsupported. */
  signatureScheme?: SignatureScheme;
  lds: LdsSecurityObject;
}

export interface SecurityInfo {
  protocol: string;
  /** The SecurityInfo as read. */
  raw: Uint8Array;
}

export interface CardSecurity {
  signedData: SignedData;
  signer: SignerInfo;
  securityInfos: SecurityInfo[];
}

function bad(message: string, cause?: unknown): PkiError {
  return new PkiError(PkiCode.SOD_MALFORMED, message, cause === undefined ? {} : { cause });
}

function singleSigner(sd: SignedData): SignerInfo {
  if (sd.signerInfos.length !== 1) throw bad(`expected exactly one SignerInfo, found ${sd.signerInfos.length}`);
  return sd.signerInfos[0]!;
}

/** Reads an EF.SOD (with or without the 0x77 wrapper): SignedData + LDSSecurityObject. */
export function parseSod(bytes: Uint8Array): Sod {
  const signedData = parseSignedData(bytes, { expectedContentType: Oid.ldsSecurityObject });
  const signer = singleSigner(signedData);
  const lds = parseLdsSecurityObject(signedData.eContent);
  let scheme: SignatureScheme | undefined;
  try {
    scheme = signatureScheme(signer.signatureAlgorithm, digestOf(signer.digestAlgorithm));
  } catch {
    scheme = undefined; // reported by verifySod as ALGORITHM_UNSUPPORTED
  }
  return { signedData, signer, ...(scheme ? { signatureScheme: scheme } : {}), lds };
}

export function parseLdsSecurityObject(bytes: Uint8Array): LdsSecurityObject {
  try {
    const root = parseAsn1(bytes);
    const [v, alg, list, info] = root.children;
    if (!root.isUniversal(Tag.SEQUENCE) || !v || !alg || !list || !list.isUniversal(Tag.SEQUENCE)) {
      throw bad('LDSSecurityObject must be SEQUENCE { version, hashAlgorithm, dataGroupHashValues, ... }');
    }
    const version = readSmallInt(v);
    if (version > 1) throw bad(`LDSSecurityObject version ${version} unknown`);
    const hashAlgorithm = parseAlgorithmIdentifier(alg, PkiCode.SOD_MALFORMED);
    const dataGroupHashes = new Map<number, Uint8Array>();
    for (const e of list.children) {
      const [num, val] = e.children;
      if (!num || !val) throw bad('DataGroupHash malformed');
      const n = readSmallInt(num);
      if (n < 1 || n > 16) throw bad(`data group number ${n} out of range 1..16`);
      if (dataGroupHashes.has(n)) throw bad(`data group ${n} listed twice`);
      dataGroupHashes.set(n, readOctets(val));
    }
    const out: LdsSecurityObject = { version, hashAlgorithm, hash: digestOf(hashAlgorithm), dataGroupHashes };
    if (info) {
      const [lv, uv] = info.children;
      if (lv) out.ldsVersion = readString(lv);
      if (uv) out.unicodeVersion = readString(uv);
    }
    return out;
  } catch (e) {
    if (e instanceof PkiError && (e.code === PkiCode.SOD_MALFORMED || e.code === PkiCode.ALGORITHM_UNSUPPORTED)) throw e;
    throw bad(`LDSSecurityObject: ${(e as Error).message}`, e);
  }
}

/** Reads an EF.CardSecurity: SignedData with id-SecurityObject content (SecurityInfos). */
export function parseCardSecurity(bytes: Uint8Array): CardSecurity {
  const signedData = parseSignedData(bytes, { expectedContentType: Oid.securityObject });
  const signer = singleSigner(signedData);
  try {
    const set = parseAsn1(signedData.eContent);
    if (!set.isUniversal(Tag.SET)) throw bad('SecurityInfos must be a SET');
    const securityInfos = set.children.map((si) => {
      const p = si.children[0];
      if (!si.isUniversal(Tag.SEQUENCE) || !p) throw bad('SecurityInfo malformed');
      return { protocol: readOid(p), raw: si.raw };
    });
    return { signedData, signer, securityInfos };
  } catch (e) {
    if (e instanceof PkiError && e.code === PkiCode.SOD_MALFORMED) throw e;
    throw bad(`SecurityInfos: ${(e as Error).message}`, e);
  }
}
