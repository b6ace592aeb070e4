/** /api/users: the admin manages staff accounts (users are addressed by id: no names in URLs). */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiContext } from '../deps.ts';
import { defineRoute } from '../http.ts';
import { MAX_PASSWORD_LENGTH } from '../passwords.ts';
import { ROLE_DESCRIPTIONS, ROLES, permissionsOf } from '../roles.ts';
import { createUser, getUser, listUsers, setPassword, updateUser } from '../users.ts';
import { IdParam, Role, UserOut } from './schemas.ts';

export function registerUserRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { db } = ctx;

  defineRoute(app, {
    method: 'GET',
    url: '/api/users',
    access: 'users.manage',
    tag: 'users',
    summary: 'Every user with role and state',
    response: z.object({ users: z.array(UserOut) }),
    handler: async () => ({ users: await listUsers(db) }),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/roles',
    access: 'authenticated',
    tag: 'users',
    summary: 'The roles and the permissions each holds',
    response: z.object({ roles: z.array(z.object({ role: Role, description: z.string(), permissions: z.array(z.string()) })) }),
    handler: async () => ({ roles: ROLES.map((role) => ({ role, description: ROLE_DESCRIPTIONS[role], permissions: permissionsOf(role) })) }),
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/users',
    access: 'users.manage',
    tag: 'users',
    summary: 'Create a user; without a password, one is generated and returned once',
    body: z.strictObject({
      name: z.string().min(2).max(32),
      role: Role,
      password: z.string().min(1).max(MAX_PASSWORD_LENGTH).optional(),
    }),
    status: 201,
    response: z.object({ user: UserOut, password: z.string().optional().describe('The generated password; shown once') }),
    errors: ['USER_EXISTS', 'USER_NAME_INVALID', 'PASSWORD_POLICY'],
    handler: async ({ body, actor }) => {
      const r = await createUser(db, { name: body.name, role: body.role, ...(body.password === undefined ? {} : { password: body.password }), actor, clock: ctx.clock });
      return { user: r.user, ...(r.generatedPassword ? { password: r.generatedPassword } : {}) };
    },
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/users/:id',
    access: 'users.manage',
    tag: 'users',
    summary: 'One user',
    params: IdParam,
    response: z.object({ user: UserOut }),
    errors: ['USER_NOT_FOUND'],
    handler: async ({ params }) => ({ user: await getUser(db, params.id) }),
  });

  defineRoute(app, {
    method: 'PATCH',
    url: '/api/users/:id',
    access: 'users.manage',
    tag: 'users',
    summary: 'Change a user\'s role or enable/disable the account (disabling revokes its sessions and tokens)',
    params: IdParam,
    body: z.strictObject({ role: Role.optional(), active: z.boolean().optional() }),
    response: z.object({ user: UserOut }),
    errors: ['USER_NOT_FOUND', 'USER_LAST_ADMIN'],
    handler: async ({ params, body, actor }) => ({
      user: await updateUser(db, params.id, { ...(body.role ? { role: body.role } : {}), ...(body.active === undefined ? {} : { active: body.active }), actor, clock: ctx.clock }),
    }),
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/users/:id/password',
    access: 'users.manage',
    tag: 'users',
    summary: 'Reset a user\'s password (generated when omitted, returned once); revokes the user\'s sessions',
    params: IdParam,
    body: z.strictObject({ password: z.string().min(1).max(MAX_PASSWORD_LENGTH).optional() }),
    response: z.object({ user: UserOut, password: z.string().optional() }),
    errors: ['USER_NOT_FOUND', 'PASSWORD_POLICY'],
    handler: async ({ params, body, actor }) => {
      const r = await setPassword(db, params.id, { ...(body.password === undefined ? {} : { password: body.password }), actor, clock: ctx.clock });
      return { user: r.user, ...(r.generatedPassword ? { password: r.generatedPassword } : {}) };
    },
  });
}
