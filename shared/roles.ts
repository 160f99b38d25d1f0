// Roles of docs/design.md §3. Each role includes the ones before it.
export const ROLES = ['viewer', 'editor', 'approver', 'admin'] as const
export type Role = (typeof ROLES)[number]
export const KINDS = ['human', 'agent'] as const
export type Kind = (typeof KINDS)[number]

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value)
}

export function isKind(value: unknown): value is Kind {
  return typeof value === 'string' && (KINDS as readonly string[]).includes(value)
}

/** True when `role` includes the rights of `needed`. */
export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed)
}

/** The authenticated identity behind a connection, from its token. */
export interface Identity {
  actor: string
  name: string
  kind: Kind
  role: Role
  /** a workspace name, or `*` for every workspace */
  workspace: string
}

/** Only humans with role approver or admin vote (docs/design.md §3, §4). */
export function canVote(identity: Pick<Identity, 'kind' | 'role'>): boolean {
  return identity.kind === 'human' && roleAtLeast(identity.role, 'approver')
}
