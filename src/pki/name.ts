/**
 * X.501 distinguished names (RFC 5280 §4.1.2.4).
 *
 * ```
 * Name ::= CHOICE { rdnSequence RDNSequence }
 * RDNSequence ::= SEQUENCE OF RelativeDistinguishedName
 * RelativeDistinguishedName ::= SET SIZE (1..MAX) OF AttributeTypeAndValue
 * AttributeTypeAndValue ::= SEQUENCE { type AttributeType, value AttributeValue }
 * ```
 *
 * Matching. RFC 5280 §7.1 compares names RDN by RDN, in order, with caseIgnoreMatch after string preparation.
 * Real documents do not always obey: the Malaysian SOD's SignerInfo names its issuer with the RDNs in another
 * order than the DS certificate's issuer field. Kadi therefore matches names *order-insensitively*: two names
 * match when they hold the same multiset of (attribute type, prepared value) pairs, where preparation is NFKC,
 * trimming, collapsing inner white space and lower-casing. Matching only selects candidate certificates; every
 * candidate must still verify the signature, so the tolerance cannot make a forged object pass.
 */
import { type Asn1, Tag, readOid, readString } from './der.ts';
import { PkiCode, PkiError } from './errors.ts';

export interface NameAttribute {
  /** Attribute type OID. */
  type: string;
  /** Short name (C, O, OU, CN, ...) or the dotted OID if unknown. */
  shortName: string;
  /** Decoded value; `#hex` of the encoding (as OpenSSL prints it) if the value is not a string type. */
  value: string;
  /** The AttributeValue element as read. */
  rawValue: Uint8Array;
}

export interface Name {
  /** The Name (RDNSequence) as read. */
  raw: Uint8Array;
  /** RDNs in encoded order; each RDN is a set of one or more attributes. */
  rdns: NameAttribute[][];
  /** One-line form in encoded order, as `openssl -nameopt oneline` prints it: "C = AT, O = GV, CN = CSCA". */
  text: string;
  /** Order-insensitive normalized key: equal keys = matching names (see module comment). */
  matchKey: string;
  /** Order-sensitive normalized key (RFC 5280 §7.1 comparison, simplified string preparation). */
  orderedKey: string;
}

const SHORT_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '2.5.4.97': 'organizationIdentifier',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

/** Value preparation for matching (a practical subset of RFC 4518 string prep). */
export function prepareValue(v: string): string {
  return v.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
}

export function parseName(n: Asn1): Name {
  if (!n.isUniversal(Tag.SEQUENCE)) throw new PkiError(PkiCode.CERT_MALFORMED, `Name: expected SEQUENCE, found ${n.describe()}`);
  const rdns: NameAttribute[][] = [];
  for (const rdn of n.children) {
    if (!rdn.isUniversal(Tag.SET)) throw new PkiError(PkiCode.CERT_MALFORMED, `RDN: expected SET, found ${rdn.describe()}`);
    const attrs: NameAttribute[] = [];
    for (const atv of rdn.children) {
      const [t, v] = atv.children;
      if (!atv.isUniversal(Tag.SEQUENCE) || !t || !v) throw new PkiError(PkiCode.CERT_MALFORMED, 'AttributeTypeAndValue malformed');
      const type = readOid(t);
      let value: string;
      try {
        value = readString(v);
      } catch {
        value = '#' + Buffer.from(v.raw).toString('hex');
      }
      attrs.push({ type, shortName: SHORT_NAMES[type] ?? type, value, rawValue: v.raw });
    }
    rdns.push(attrs);
  }
  const text = rdns.map((rdn) => rdn.map((a) => `${a.shortName} = ${a.value}`).join(' + ')).join(', ');
  const atv = (a: NameAttribute): string => `${a.type}=${JSON.stringify(prepareValue(a.value))}`;
  const matchKey = rdns.flat().map(atv).sort().join(',');
  const orderedKey = rdns.map((rdn) => rdn.map(atv).sort().join('+')).join(',');
  return { raw: n.raw, rdns, text, matchKey, orderedKey };
}

/** True when the two names match (order-insensitive, see module comment). */
export function namesMatch(a: Name, b: Name): boolean {
  return a.matchKey === b.matchKey;
}

/** True when the two names match RDN by RDN in the same order (the RFC 5280 comparison). */
export function namesMatchStrict(a: Name, b: Name): boolean {
  return a.orderedKey === b.orderedKey;
}
