/**
 * /api/keys: the key custodian's routine operations through src/keys. Listing reads the database only;
 * Document Signer rotation and CRL issuance open the HSM key store (deps.keys) for the one operation and close
 * it. Only the custodian role holds keys.manage. The key ceremony itself (CSCA generation) is not offered over
 * HTTP: it is a witnessed event run with `kadi keys ceremony` at the HSM's host.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { crlPem, currentCrl, issueCrl, listKeys, rotateDs, type KeyRecord } from '../../keys/index.ts';
import { KEY_ALGORITHMS } from '../../pki/index.ts';
import type { ApiContext } from '../deps.ts';
import { unavailable } from '../errors.ts';
import { defineRoute } from '../http.ts';

const KeyOut = z.object({
  kind: z.string(),
  label: z.string(),
  algorithm: z.string(),
  status: z.string(),
  subject: z.string(),
  serial: z.string(),
  notBefore: z.string(),
  notAfter: z.string(),
  privateKeyUsage: z.object({ notBefore: z.string(), notAfter: z.string() }),
  inUsagePeriod: z.boolean(),
  sha256: z.string(),
  createdAt: z.string(),
  createdBy: z.string(),
});

const KeyRecordOut = z.object({ kind: z.string(), label: z.string(), algorithm: z.string(), status: z.string(), serial: z.string(), subject: z.string(), privateKeyUsageNotAfter: z.string() });

function keyRecord(k: KeyRecord): z.input<typeof KeyRecordOut> {
  return { kind: k.kind, label: k.label, algorithm: k.algorithm, status: k.status, serial: k.serialHex, subject: k.subject, privateKeyUsageNotAfter: k.pkupNotAfter.toISOString() };
}

const KEYS_ERRORS = ['KEYS_UNAVAILABLE', 'KEYS_NO_CSCA', 'KEYS_SERIAL_UNKNOWN', 'KEYS_DEFINITION_INVALID', 'HSM_LOGIN_FAILED', 'HSM_TOKEN_NOT_FOUND'] as const;

export function registerKeyRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { db, clock } = ctx;

  async function withKeyStore<T>(f: (keyStore: ReturnType<NonNullable<ApiContext['keys']>['openKeyStore']>) => Promise<T>): Promise<T> {
    if (!ctx.keys) throw unavailable('KEYS_UNAVAILABLE', 'the HSM key store');
    const ks = ctx.keys.openKeyStore();
    try {
      return await f(ks);
    } finally {
      await ks.close();
    }
  }

  defineRoute(app, {
    method: 'GET',
    url: '/api/keys',
    access: 'keys.read',
    tag: 'keys',
    summary: 'Every CSCA and Document Signer key on record (labels, certificates, usage periods; never key material)',
    response: z.object({ keys: z.array(KeyOut), crl: z.object({ crlNumber: z.number(), thisUpdate: z.string(), nextUpdate: z.string() }).nullable() }),
    handler: async () => {
      const crl = await currentCrl(db);
      return {
        keys: await listKeys(db, clock),
        crl: crl ? { crlNumber: crl.crlNumber, thisUpdate: crl.thisUpdate.toISOString(), nextUpdate: crl.nextUpdate.toISOString() } : null,
      };
    },
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/keys/rotate-ds',
    access: 'keys.manage',
    tag: 'keys',
    summary: 'Rotate the Document Signer: a new key pair in the HSM and its certificate; the previous DS is retired',
    body: z.strictObject({ algorithm: z.enum(KEY_ALGORITHMS).optional() }),
    status: 201,
    response: z.object({ ds: KeyRecordOut, retired: z.array(z.string()) }),
    errors: KEYS_ERRORS,
    handler: async ({ body, actor }) =>
      withKeyStore(async (keyStore) => {
        const r = await rotateDs({ db, keyStore, actor, clock }, ctx.keys!.definition, body.algorithm ? { algorithm: body.algorithm } : {});
        return { ds: keyRecord(r.ds), retired: r.retired };
      }),
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/keys/crl',
    access: 'keys.manage',
    tag: 'keys',
    summary: 'Issue a new CRL from the CSCA, optionally revoking Document Signers (by serial, hex)',
    body: z.strictObject({
      revoke: z.array(z.string().regex(/^[0-9A-Fa-f:]{1,64}$/)).max(100).default([]),
      nextUpdateDays: z.number().int().min(1).max(90).optional(),
    }),
    status: 201,
    response: z.object({
      crlNumber: z.number(),
      thisUpdate: z.string(),
      nextUpdate: z.string(),
      issuer: z.string(),
      revoked: z.array(z.object({ serialHex: z.string(), revocationDate: z.string() })),
      newlyRevoked: z.array(z.string()),
      pem: z.string(),
    }),
    errors: KEYS_ERRORS,
    handler: async ({ body, actor }) =>
      withKeyStore(async (keyStore) => {
        const r = await issueCrl({ db, keyStore, actor, clock }, ctx.keys!.definition, { revoke: body.revoke, ...(body.nextUpdateDays ? { nextUpdateDays: body.nextUpdateDays } : {}) });
        return {
          crlNumber: r.crl.crlNumber,
          thisUpdate: r.crl.thisUpdate.toISOString(),
          nextUpdate: r.crl.nextUpdate.toISOString(),
          issuer: r.issuer,
          revoked: r.revoked,
          newlyRevoked: r.newlyRevoked,
          pem: crlPem(r.crl.der),
        };
      }),
  });
}
