// Share links (docs/design.md §3): an admin creates a link for a workspace and role, with an expiry,
// an optional password and an optional use limit; redeeming it returns a token. All links are
// kept in memory (they are few) so revocation can be checked on every live connection each second.
import { createHmac, randomBytes } from 'node:crypto'
import { isRole, type Role } from '../../shared/roles.js'
import type { Storage as Store } from '../store/storage.js'
import { checkPassword, hashPassword, MIN_PASSWORD_LENGTH } from './passwords.js'
import { signToken } from './tokens.js'

export interface ShareLink {
  id: string
  workspace: string
  role: Role
  label?: string
  expiresAt: number
  maxUses?: number
  uses: number
  passwordHash?: string
  createdBy: string
  createdAt: number
  revokedAt?: number
  /** the actor of each holder that redeemed it, by HMAC of the holder id (the id itself is not kept) */
  holders?: Record<string, string>
}

/** What an admin sees of a link (never the password hash or its holders). */
export type LinkView = Omit<ShareLink, 'passwordHash' | 'holders'> & { hasPassword: boolean }

export interface LinkSpec {
  role?: unknown
  expiresInMs?: unknown
  password?: unknown
  maxUses?: unknown
  label?: unknown
}

/** A refusal with the HTTP status that fits it. */
export class LinkError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

const UNKNOWN_LINK = 'this share link does not exist: check that the address was copied completely, or ask for a new link'
const DEFAULT_EXPIRY_MS = 7 * 86_400_000
const MAX_EXPIRY_MS = 365 * 86_400_000
const encoder = new TextEncoder()
const decoder = new TextDecoder()

export class ShareLinks {
  private readonly links = new Map<string, ShareLink>()
  /** links whose write is under way: newer here than in the store */
  private readonly saving = new Map<string, number>()

  private constructor(
    private readonly store: Store,
    private readonly key: Uint8Array,
  ) {}

  static async load(store: Store, key: Uint8Array): Promise<ShareLinks> {
    const links = new ShareLinks(store, key)
    await links.reload()
    return links
  }

  /** Rereads the stored links (in a cluster, other nodes write them too); links are never deleted. */
  async reload(): Promise<void> {
    for (const [, value] of await this.store.readRange({ gt: 'link!', lt: 'link!~' })) {
      const link = JSON.parse(decoder.decode(value)) as ShareLink
      if (!this.saving.has(link.id)) this.links.set(link.id, link)
    }
  }

  async create(workspace: string, spec: LinkSpec, createdBy: string, now = Date.now()): Promise<LinkView> {
    const link: ShareLink = {
      id: randomBytes(12).toString('base64url'),
      workspace,
      ...validate(spec),
      uses: 0,
      createdBy,
      createdAt: now,
      expiresAt: now + expiry(spec.expiresInMs),
    }
    if (typeof spec.password === 'string' && spec.password.length > 0) link.passwordHash = await hashPassword(spec.password)
    await this.save(link)
    return view(link)
  }

  list(workspace: string): LinkView[] {
    return [...this.links.values()]
      .filter((link) => link.workspace === workspace)
      .sort((a, b) => b.createdAt - a.createdAt)
      .map(view)
  }

  async revoke(workspace: string, id: string, now = Date.now()): Promise<void> {
    const link = this.links.get(id)
    if (!link || link.workspace !== workspace) throw new LinkError(404, `no share link ${id} in workspace ${workspace}`)
    if (link.revokedAt === undefined) await this.save({ ...link, revokedAt: now })
  }

  /** What the redemption page shows before asking for a name and password. */
  describe(id: string, now = Date.now()) {
    const link = this.links.get(id)
    // The join page asks before showing a form: an unknown link is an answer, not an error.
    if (!link) return { id, usable: false, problem: UNKNOWN_LINK }
    const problem = unusable(link, now)
    return {
      id,
      workspace: link.workspace,
      role: link.role,
      expiresAt: link.expiresAt,
      hasPassword: link.passwordHash !== undefined,
      usable: problem === null,
      ...(problem ? { problem } : {}),
    }
  }

  /**
   * Trades the link for a token. `holder` is a random id the redeeming browser keeps for this link
   * (the response returns a new one when none is sent): the same holder gets the same actor again,
   * so redeeming twice does not make two people. What one person can do with several holder ids
   * is bounded by the approval rule that counts one vote per link.
   */
  async redeem(id: string, input: { name?: unknown; password?: unknown; holder?: unknown }, now = Date.now()) {
    const holder = parseHolder(input.holder)
    const link = this.found(id)
    const problem = unusable(link, now)
    if (problem) throw new LinkError(410, problem)
    if (link.passwordHash !== undefined) {
      const ok = typeof input.password === 'string' && (await checkPassword(input.password, link.passwordHash))
      if (!ok) throw new LinkError(401, 'wrong password for this share link: check it with whoever sent you the link')
    }
    // Re-read after the slow password check: the limit must hold against concurrent redemptions.
    const current = this.found(id)
    const lateProblem = unusable(current, now)
    if (lateProblem) throw new LinkError(410, lateProblem)
    const name = displayName(input.name)
    const known = createHmac('sha256', this.key).update(`${id}\n${holder}`).digest('hex').slice(0, 32)
    const holders: Record<string, string> = Object.assign(Object.create(null), current.holders)
    const actor =
      holders[known] ??
      `guest-${
        name
          .toLowerCase()
          .replace(/[^a-z0-9]+/g, '-')
          .replace(/^-|-$/g, '')
          .slice(0, 40) || 'user'
      }-${randomBytes(3).toString('hex')}`
    holders[known] = actor
    const updated = { ...current, uses: current.uses + 1, holders }
    this.links.set(id, updated)
    await this.save(updated)
    const token = await signToken(this.key, { actor, name, workspace: link.workspace, role: link.role, kind: 'human', ttlMs: link.expiresAt - now, link: id })
    return { token, workspace: link.workspace, role: link.role, actor, expiresAt: link.expiresAt, holder }
  }

  /** The workspace of link `id`, if it exists. */
  workspaceOf(id: string): string | undefined {
    return this.links.get(id)?.workspace
  }

  /** Why tokens redeemed from this link no longer count, or null while it stands. */
  revokedReason(linkId: string): string | null {
    const link = this.links.get(linkId)
    if (!link) return 'the share link this token came from no longer exists'
    return link.revokedAt === undefined ? null : 'the share link this token came from was revoked: ask an admin for a new link'
  }

  private found(id: string): ShareLink {
    const link = this.links.get(id)
    if (!link) throw new LinkError(404, UNKNOWN_LINK)
    return link
  }

  private async save(link: ShareLink): Promise<void> {
    this.links.set(link.id, link)
    this.saving.set(link.id, (this.saving.get(link.id) ?? 0) + 1)
    try {
      await this.store.put(`link!${link.id}`, encoder.encode(JSON.stringify(link)))
    } finally {
      const left = (this.saving.get(link.id) ?? 1) - 1
      if (left > 0) this.saving.set(link.id, left)
      else this.saving.delete(link.id)
    }
  }
}

function validate(spec: LinkSpec): Pick<ShareLink, 'role'> & Partial<Pick<ShareLink, 'maxUses' | 'label'>> {
  if (!isRole(spec.role)) throw new LinkError(400, 'role must be viewer, editor, approver or admin')
  if (spec.maxUses !== undefined && (!Number.isInteger(spec.maxUses) || (spec.maxUses as number) < 1))
    throw new LinkError(400, 'maxUses must be a whole number of at least 1 (leave it out for no limit)')
  if (spec.password !== undefined && (typeof spec.password !== 'string' || spec.password.length > 200))
    throw new LinkError(400, 'password must be a string of at most 200 characters')
  if (typeof spec.password === 'string' && spec.password.length > 0 && spec.password.length < MIN_PASSWORD_LENGTH) {
    throw new LinkError(
      400,
      `password must be at least ${MIN_PASSWORD_LENGTH} characters (a short one is guessed in minutes); leave it out for a link without one`,
    )
  }
  if (spec.label !== undefined && (typeof spec.label !== 'string' || spec.label.length > 200))
    throw new LinkError(400, 'label must be a string of at most 200 characters')
  return { role: spec.role, ...(spec.maxUses !== undefined ? { maxUses: spec.maxUses as number } : {}), ...(spec.label ? { label: spec.label as string } : {}) }
}

function expiry(value: unknown): number {
  if (value === undefined) return DEFAULT_EXPIRY_MS
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1000 || value > MAX_EXPIRY_MS) {
    throw new LinkError(400, 'expiresInMs must be between 1000 (1 s) and 31536000000 (365 days)')
  }
  return Math.round(value)
}

function unusable(link: ShareLink, now: number): string | null {
  if (link.revokedAt !== undefined) return 'this link was revoked: ask an admin of the workspace for a new one'
  if (now >= link.expiresAt) return 'this link expired: ask an admin of the workspace for a new one'
  if (link.maxUses !== undefined && link.uses >= link.maxUses) return 'this link was used up: ask an admin of the workspace for a new one'
  return null
}

function displayName(value: unknown): string {
  const name = typeof value === 'string' ? value.trim().slice(0, 80) : ''
  return name.length > 0 ? name : 'Guest'
}

const HOLDER = /^[A-Za-z0-9_-]{16,64}$/

/** The holder id sent, or a new one for a first redemption. */
function parseHolder(value: unknown): string {
  if (value === undefined || value === null) return randomBytes(18).toString('base64url')
  if (typeof value !== 'string' || !HOLDER.test(value))
    throw new LinkError(400, 'holder must be the id this browser got from its first redemption of the link (16-64 characters of A-Z a-z 0-9 _ -), or left out')
  return value
}

function view(link: ShareLink): LinkView {
  const { passwordHash, holders, ...rest } = link
  return { ...rest, hasPassword: passwordHash !== undefined }
}
