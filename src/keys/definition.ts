/**
 * The key-ceremony definition: who the CSCA and Document Signers are, which algorithms, and the usage
 * policies (ICAO 9303-12 §5). Kept as data in `hsm/ceremony.json` so custodians review one file; validated once
 * here. Every period is documented with its unit.
 */
import { z } from 'zod';
import { KEY_ALGORITHMS, type KeyAlgorithm, MAX_DS_PKUP_MONTHS } from '../pki/index.ts';
import { KeysCode, KeysError } from './errors.ts';

const algorithm = z.enum(KEY_ALGORITHMS as unknown as [KeyAlgorithm, ...KeyAlgorithm[]]);
const labelPrefix = z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'lower-case letters, digits and "-", at most 32 characters');

const schema = z.object({
  /** ISO 3166-1 alpha-2 country code of the issuing state (countryName in every certificate). */
  country: z.string().regex(/^[A-Z]{2}$/, 'ISO 3166-1 alpha-2 code, e.g. KE'),
  organization: z.string().min(1).max(64),
  organizationalUnit: z.string().min(1).max(64).optional(),
  /** Contact written as subjectAltName / issuerAltName (ICAO 9303-12 recommends one). */
  contact: z.object({ email: z.string().email().optional(), uri: z.string().url().optional() }).optional(),
  /** cRLDistributionPoints URIs (ICAO asks for one pointing to the ICAO PKD). Empty: no extension. */
  crlDistributionPoints: z.array(z.string().url()).default([]),
  csca: z.object({
    commonName: z.string().min(1).max(64),
    algorithm: algorithm.default('ecdsa-p256'),
    labelPrefix: labelPrefix.default('kadi-csca'),
    /** CSCA private key usage period in years (ICAO: 3 to 5). */
    privateKeyUsageYears: z.number().int().min(1).max(5).default(3),
  }),
  ds: z.object({
    commonName: z.string().min(1).max(48),
    /** Default: the CSCA's algorithm. */
    algorithm: algorithm.optional(),
    labelPrefix: labelPrefix.default('kadi-ds'),
    /** DS private key usage period in calendar months (ICAO: at most 3). */
    privateKeyUsageMonths: z.number().int().min(1).max(MAX_DS_PKUP_MONTHS).default(3),
    /** Longest validity of a document signed by the DS, in years (the DS certificate outlives its key use by this). */
    documentValidityYears: z.number().int().min(1).max(15).default(10),
    /** documentTypeList: document codes as in the MRZ ("ID" for the TD1 identity card). */
    documentTypes: z.array(z.string().regex(/^[A-Z<]{1,2}$/)).min(1).default(['ID']),
  }),
  crl: z
    .object({
      /** Days from thisUpdate to nextUpdate (ICAO: a new CRL at least every 90 days). */
      nextUpdateDays: z.number().int().min(1).max(90).default(90),
    })
    .default({ nextUpdateDays: 90 }),
});

export type CeremonyDefinition = z.infer<typeof schema>;

/** Validates a parsed ceremony definition (JSON object); throws KEYS_DEFINITION_INVALID naming the field. */
export function parseCeremonyDefinition(json: unknown): CeremonyDefinition {
  const r = schema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new KeysError(KeysCode.DEFINITION_INVALID, `ceremony definition: ${i.path.join('.') || '(root)'}: ${i.message}`, {
      hint: 'Fix hsm/ceremony.json (or the file given with --definition).',
      details: { field: i.path.join('.') },
    });
  }
  return r.data;
}
