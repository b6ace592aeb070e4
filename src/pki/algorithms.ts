/**
 * Algorithm identifiers and the signature schemes they name.
 *
 * ```
 * AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY DEFINED BY algorithm OPTIONAL }
 *
 * RSASSA-PSS-params ::= SEQUENCE {                  -- RFC 8017 A.2.3
 *   hashAlgorithm     [0] HashAlgorithm    DEFAULT sha1,
 *   maskGenAlgorithm  [1] MaskGenAlgorithm DEFAULT mgf1SHA1,
 *   saltLength        [2] INTEGER          DEFAULT 20,
 *   trailerField      [3] TrailerField     DEFAULT trailerFieldBC }   -- trailerFieldBC = 1
 * MaskGenAlgorithm ::= AlgorithmIdentifier { id-mgf1, HashAlgorithm }
 * ```
 */
import { type Asn1, Tag, readOid, readSmallInt } from './der.ts';
import { PkiCode, PkiError } from './errors.ts';
import { DIGEST_BY_OID, type DigestName, Oid, oidName } from './oids.ts';

export interface AlgorithmIdentifier {
  oid: string;
  /** OpenSSL-style name, or the dotted OID if unknown. */
  name: string;
  /** The parameters element, if present (NULL included). */
  parameters?: Asn1;
  /** The AlgorithmIdentifier as read. */
  raw: Uint8Array;
}

export interface PssParams {
  hash: DigestName;
  mgfHash: DigestName;
  saltLength: number;
  trailerField: number;
}

/** How a signature is computed and encoded. */
export type SignatureScheme =
  | { kind: 'rsa-pkcs1'; hash: DigestName }
  | ({ kind: 'rsa-pss' } & PssParams)
  | { kind: 'ecdsa'; hash: DigestName; encoding: 'der' | 'plain' };

export function parseAlgorithmIdentifier(n: Asn1, code: PkiCode = PkiCode.CERT_MALFORMED): AlgorithmIdentifier {
  const [o, p] = n.children;
  if (!n.isUniversal(Tag.SEQUENCE) || !o) throw new PkiError(code, `AlgorithmIdentifier: expected SEQUENCE { OID, ... }, found ${n.describe()}`);
  const oid = readOid(o);
  return { oid, name: oidName(oid), ...(p ? { parameters: p } : {}), raw: n.raw };
}

/** The digest named by a DigestAlgorithmIdentifier. */
export function digestOf(alg: AlgorithmIdentifier): DigestName {
  const d = DIGEST_BY_OID[alg.oid];
  if (!d) throw new PkiError(PkiCode.ALGORITHM_UNSUPPORTED, `unsupported digest algorithm ${alg.name}`);
  return d;
}

const RSA_PKCS1: Readonly<Record<string, DigestName>> = {
  [Oid.sha1WithRSAEncryption]: 'sha1',
  [Oid.sha224WithRSAEncryption]: 'sha224',
  [Oid.sha256WithRSAEncryption]: 'sha256',
  [Oid.sha384WithRSAEncryption]: 'sha384',
  [Oid.sha512WithRSAEncryption]: 'sha512',
};
const ECDSA_DER: Readonly<Record<string, DigestName>> = {
  [Oid.ecdsaWithSHA1]: 'sha1',
  [Oid.ecdsaWithSHA224]: 'sha224',
  [Oid.ecdsaWithSHA256]: 'sha256',
  [Oid.ecdsaWithSHA384]: 'sha384',
  [Oid.ecdsaWithSHA512]: 'sha512',
};
const ECDSA_PLAIN: Readonly<Record<string, DigestName>> = {
  [Oid.ecdsaPlainSHA1]: 'sha1',
  [Oid.ecdsaPlainSHA224]: 'sha224',
  [Oid.ecdsaPlainSHA256]: 'sha256',
  [Oid.ecdsaPlainSHA384]: 'sha384',
  [Oid.ecdsaPlainSHA512]: 'sha512',
};

/** Parses RSASSA-PSS-params, applying the ASN.1 defaults for absent fields. */
export function parsePssParams(p: Asn1 | undefined): PssParams {
  const out: PssParams = { hash: 'sha1', mgfHash: 'sha1', saltLength: 20, trailerField: 1 };
  if (!p || p.isUniversal(Tag.NULL)) return out;
  if (!p.isUniversal(Tag.SEQUENCE)) throw new PkiError(PkiCode.ALGORITHM_UNSUPPORTED, 'RSASSA-PSS-params is not a SEQUENCE');
  for (const f of p.children) {
    const inner = f.children[0];
    if (!inner) throw new PkiError(PkiCode.ALGORITHM_UNSUPPORTED, 'empty RSASSA-PSS-params field');
    if (f.isContext(0)) {
      out.hash = digestOf(parseAlgorithmIdentifier(inner));
    } else if (f.isContext(1)) {
      const mgf = parseAlgorithmIdentifier(inner);
      if (mgf.oid !== Oid.mgf1 || !mgf.parameters) throw new PkiError(PkiCode.ALGORITHM_UNSUPPORTED, `unsupported mask generation ${mgf.name}`);
      out.mgfHash = digestOf(parseAlgorithmIdentifier(mgf.parameters));
    } else if (f.isContext(2)) {
      out.saltLength = readSmallInt(inner);
    } else if (f.isContext(3)) {
      out.trailerField = readSmallInt(inner);
    }
  }
  if (out.trailerField !== 1) throw new PkiError(PkiCode.ALGORITHM_UNSUPPORTED, `RSASSA-PSS trailerField ${out.trailerField}`);
  return out;
}

/**
 * The scheme of a signature algorithm. `digest` is the separately stated digest (the CMS SignerInfo's
 * digestAlgorithm), needed when the signature algorithm names only the key type (rsaEncryption,
 * id-ecPublicKey), which RFC 5652 §10.1.2 and many issuers use.
 */
export function signatureScheme(alg: AlgorithmIdentifier, digest?: DigestName): SignatureScheme {
  const h1 = RSA_PKCS1[alg.oid];
  if (h1) return { kind: 'rsa-pkcs1', hash: h1 };
  const h2 = ECDSA_DER[alg.oid];
  if (h2) return { kind: 'ecdsa', hash: h2, encoding: 'der' };
  const h3 = ECDSA_PLAIN[alg.oid];
  if (h3) return { kind: 'ecdsa', hash: h3, encoding: 'plain' };
  if (alg.oid === Oid.rsassaPss) return { kind: 'rsa-pss', ...parsePssParams(alg.parameters) };
  if (alg.oid === Oid.rsaEncryption && digest) return { kind: 'rsa-pkcs1', hash: digest };
  if (alg.oid === Oid.ecPublicKey && digest) return { kind: 'ecdsa', hash: digest, encoding: 'der' };
  throw new PkiError(PkiCode.ALGORITHM_UNSUPPORTED, `unsupported signature algorithm ${alg.name}`);
}

/** "rsassaPss(sha256, mgf1-sha256, salt 32)", "ecdsa-with-SHA256", "sha256WithRSAEncryption". */
export function describeScheme(alg: AlgorithmIdentifier, s: SignatureScheme): string {
  if (s.kind === 'rsa-pss') return `${alg.name}(${s.hash}, mgf1-${s.mgfHash}, salt ${s.saltLength})`;
  if (alg.oid === Oid.rsaEncryption || alg.oid === Oid.ecPublicKey) return `${alg.name} with ${s.hash}`;
  return alg.name;
}
