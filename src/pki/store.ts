/**
 * A trust store of Country Signing CA certificates, indexed once by subject name and subject key identifier.
 *
 * Build it once (e.g. from a master-list bundle of several hundred CSCAs) and pass it to every verification;
 * keys are imported lazily, once per certificate.
 */
import { type Certificate, parseCertificate, readPem } from './certificate.ts';
import { PkiError } from './errors.ts';
import { toHex } from '../shared/index.ts';

export interface RejectedCertificate {
  /** 1-based position in the input. */
  index: number;
  reason: string;
}

export class CscaStore {
  private readonly list: Certificate[] = [];
  private readonly byName = new Map<string, Certificate[]>();
  private readonly bySki = new Map<string, Certificate[]>();
  private readonly fingerprints = new Set<string>();
  /** Input certificates that could not be parsed (skipped, never trusted). */
  readonly rejected: RejectedCertificate[] = [];

  constructor(certificates: Iterable<Certificate> = []) {
    for (const c of certificates) this.add(c);
  }

  /**
   * A store from PEM text holding any number of CERTIFICATE blocks. A block that does not parse is skipped and
   * listed in `rejected` (one bad entry in a master list must not disable the other countries).
   */
  static fromPem(text: string): CscaStore {
    const store = new CscaStore();
    readPem(text)
      .filter((b) => b.label === 'CERTIFICATE' || b.label === 'X509 CERTIFICATE')
      .forEach((b, i) => {
        try {
          store.add(parseCertificate(b.der));
        } catch (e) {
          store.rejected.push({ index: i + 1, reason: e instanceof PkiError ? `${e.code}: ${e.message}` : String(e) });
        }
      });
    return store;
  }

  /** Adds a certificate (duplicates, by SHA-256 fingerprint, are ignored). Returns false for a duplicate. */
  add(cert: Certificate): boolean {
    if (this.fingerprints.has(cert.sha256Fingerprint)) return false;
    this.fingerprints.add(cert.sha256Fingerprint);
    this.list.push(cert);
    push(this.byName, cert.subject.matchKey, cert);
    if (cert.subjectKeyIdentifier) push(this.bySki, toHex(cert.subjectKeyIdentifier), cert);
    return true;
  }

  get size(): number {
    return this.list.length;
  }

  get certificates(): readonly Certificate[] {
    return this.list;
  }

  /**
   * Candidate issuers of `cert`: CSCAs whose subject matches its issuer name (order-insensitively, see name.ts)
   * or whose subjectKeyIdentifier equals its authorityKeyIdentifier. Candidates matching both come first.
   * The caller must verify the signature with each candidate until one succeeds.
   */
  findIssuers(cert: Certificate): Certificate[] {
    const byName = this.byName.get(cert.issuer.matchKey) ?? [];
    const byKey = cert.authorityKeyIdentifier ? (this.bySki.get(toHex(cert.authorityKeyIdentifier)) ?? []) : [];
    const both = byName.filter((c) => byKey.includes(c));
    const out = [...both];
    for (const c of [...byName, ...byKey]) if (!out.includes(c)) out.push(c);
    return out;
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}
