/**
 * api — the HTTP API (fastify) and the web console. An entry point: `kadi serve` (src/cli/serve.ts) builds the
 * dependencies from the configuration and calls buildServer. Users and sessions (users.ts) are also used by
 * `kadi users` to create the first admin.
 */
export { buildServer, ROUTE_MODULES, type KadiServer, type RouteModule } from './server.ts';
export { DEFAULT_API_OPTIONS, type ApiContext, type ApiDeps, type ApiOptions, type KeysApiDeps, type PipelineApiDeps } from './deps.ts';
export { defineRoute, type RouteSpec, type HandlerContext } from './http.ts';
export { ApiError } from './errors.ts';
export { PERMISSIONS, ROLES, ROLE_DESCRIPTIONS, can, isRole, permissionsOf, type Access, type Permission, type Role } from './roles.ts';
export {
  createUser,
  findUserByName,
  getUser,
  listUsers,
  normaliseUserName,
  setPassword,
  updateUser,
  type User,
} from './users.ts';
export { generatePassword, MIN_PASSWORD_LENGTH } from './passwords.ts';
