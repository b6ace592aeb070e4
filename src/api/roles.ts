/**
 * Roles and what each may do: the one permission table of the API and the console (docs/operator/console.md
 * prints the same table). Every /api route names exactly one permission (or `public` / `authenticated`), and the
 * request is refused with 403 FORBIDDEN unless the caller's role holds it. DESIGN.md §5: an operator cannot pass
 * QC, QC cannot dispatch, only a key custodian touches keys; the admin manages users and runs no production step.
 */
export const ROLES = ['operator', 'qc', 'logistics', 'custodian', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

export const ROLE_DESCRIPTIONS: Readonly<Record<Role, string>> = {
  operator: 'Card bureau operator: takes records in, creates and runs production batches, watches the line.',
  qc: 'Quality control: verifies chips and printed faces, passes or fails cards.',
  logistics: 'Logistics: packs and ships boxes, scans them at hand-overs, issues cards to citizens, handles returns.',
  custodian: 'Key custodian (security officer): key listing, Document Signer rotation, CRLs; audit verification.',
  admin: 'Administrator: manages users and roles; read-only views and audit verification; no production step.',
};

/**
 * Permissions, each with the roles that hold it. Read this as the table:
 *
 * | permission              | operator | qc | logistics | custodian | admin |
 * |-------------------------|:--------:|:--:|:---------:|:---------:|:-----:|
 * | status.read             |    x     | x  |     x     |     x     |   x   |  dashboard, counts, SSE, metrics, encoders, centres
 * | batch.read              |    x     | x  |     x     |           |   x   |
 * | batch.create            |    x     |    |           |           |       |
 * | batch.run               |    x     |    |           |           |       |  submit a batch to the pipeline
 * | card.read               |    x     | x  |     x     |           |   x   |  state + history, no holder data
 * | card.read_personal      |          | x  |     x     |           |       |  holder name / national number in bodies
 * | intake.run              |    x     |    |           |           |       |
 * | qc.read                 |    x     | x  |           |           |       |
 * | qc.submit               |          | x  |           |           |       |
 * | dispatch.read           |    x     |    |     x     |           |   x   |  boxes, shipments, ageing
 * | dispatch.pack           |          |    |     x     |           |       |  pack, seal, ship
 * | dispatch.scan           |          |    |     x     |           |       |  box scans at hand-overs
 * | dispatch.issue          |          |    |     x     |           |       |  hand a card to its holder
 * | dispatch.return         |          |    |     x     |           |       |  uncollected cards back
 * | stock.receive           |          |    |     x     |           |       |  blank lots delivered
 * | reconciliation.read     |    x     |    |     x     |     x     |   x   |
 * | audit.verify            |          |    |           |     x     |   x   |
 * | keys.read               |          |    |           |     x     |   x   |
 * | keys.manage             |          |    |           |     x     |       |  DS rotation, CRL issuance
 * | users.manage            |          |    |           |           |   x   |
 */
export const PERMISSIONS = {
  'status.read': ['operator', 'qc', 'logistics', 'custodian', 'admin'],
  'batch.read': ['operator', 'qc', 'logistics', 'admin'],
  'batch.create': ['operator'],
  'batch.run': ['operator'],
  'card.read': ['operator', 'qc', 'logistics', 'admin'],
  'card.read_personal': ['qc', 'logistics'],
  'intake.run': ['operator'],
  'qc.read': ['operator', 'qc'],
  'qc.submit': ['qc'],
  'dispatch.read': ['operator', 'logistics', 'admin'],
  'dispatch.pack': ['logistics'],
  'dispatch.scan': ['logistics'],
  'dispatch.issue': ['logistics'],
  'dispatch.return': ['logistics'],
  'stock.receive': ['logistics'],
  'reconciliation.read': ['operator', 'logistics', 'custodian', 'admin'],
  'audit.verify': ['custodian', 'admin'],
  'keys.read': ['custodian', 'admin'],
  'keys.manage': ['custodian'],
  'users.manage': ['admin'],
} as const satisfies Record<string, readonly Role[]>;

export type Permission = keyof typeof PERMISSIONS;

/** What a route requires: a permission, any logged-in user, or nobody (login, the OpenAPI document). */
export type Access = Permission | 'authenticated' | 'public';

export function isPermission(s: string): s is Permission {
  return Object.hasOwn(PERMISSIONS, s);
}

export function can(role: Role, permission: Permission): boolean {
  return (PERMISSIONS[permission] as readonly Role[]).includes(role);
}

/** Every permission a role holds (the console shows only what the role may use). */
export function permissionsOf(role: Role): Permission[] {
  return (Object.keys(PERMISSIONS) as Permission[]).filter((p) => can(role, p));
}
