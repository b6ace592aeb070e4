/** Schemas shared by several route modules. */
import { z } from 'zod';
import { ROLES } from '../roles.ts';

export const DocumentNumber = z
  .string()
  .min(1)
  .max(16)
  .regex(/^[A-Za-z0-9<]+$/, 'letters and digits')
  .describe('Document number printed on the card (e.g. KA0000001).');

export const CentreCode = z.string().min(1).max(16).regex(/^[A-Za-z0-9-]+$/).describe('Collection centre code, e.g. KE-047-01.');

export const Role = z.enum(ROLES);

export const UserOut = z.object({
  id: z.number().int(),
  name: z.string(),
  role: Role,
  active: z.boolean(),
  createdAt: z.string(),
  createdBy: z.string(),
  updatedAt: z.string(),
  passwordChangedAt: z.string(),
  lastLoginAt: z.string().nullable(),
});

/**
 * An integer in a path or query string. The request validator does not coerce types (a JSON body must carry
 * real booleans and numbers), so path and query integers are declared as digit strings and converted here.
 */
export const intParam = (min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]{1,10}$/, 'digits')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

export const IdParam = z.strictObject({ id: intParam(1, 2_147_483_647) });

/** A free-form object owned by a domain module (documented there). */
export const DomainObject = (description: string) => z.looseObject({}).describe(description);

export const Ok = z.object({ ok: z.boolean() });

export const Counts = z.record(z.string(), z.number());
