// What the token says about us. The server verifies it; the client only reads it, to fill in
// `requester`, to skip writes the server would refuse (an agent's vote) and to explain problems
// before connecting.
import { decodeJwt } from 'jose'
import { isKind, isRole, type Identity } from '../shared/roles.js'
import { checkActor, checkWorkspace } from '../shared/names.js'
import { HuddleError } from './errors.js'

export interface TokenIdentity extends Identity {
  /** ms since the epoch */
  expiresAt: number
}

const MINT_HINT = 'mint one with `huddle token --actor <you> --workspace <ws> --role editor`'

/**
 * The identity a token claims (not verified: only the server can), or what is wrong with it, in
 * words that fit a command line and a web page alike. No workspace check: see `tokenIdentity`.
 */
export function claimedIdentity(token: string, now = Date.now()): TokenIdentity | string {
  let claims: Record<string, unknown>
  try {
    claims = decodeJwt(token.trim())
  } catch {
    return 'the token is not a JWT (three parts separated by dots)'
  }
  const actor = claims.sub
  const workspaceProblem = claims.ws === '*' ? null : checkWorkspace(claims.ws)
  if (checkActor(actor) || !isRole(claims.role) || !isKind(claims.kind) || workspaceProblem) {
    return 'the token is not a Huddle token (it needs sub, role, kind and ws claims)'
  }
  const expiresAt = typeof claims.exp === 'number' ? claims.exp * 1000 : 0
  if (expiresAt <= now) return `the token for ${actor as string} has expired${expiresAt ? ` (${new Date(expiresAt).toISOString()})` : ''}`
  return {
    actor: actor as string,
    name: typeof claims.name === 'string' && claims.name ? claims.name : (actor as string),
    kind: claims.kind,
    role: claims.role,
    workspace: claims.ws as string,
    expiresAt,
  }
}

/** The identity a token claims for `workspace`; throws a HuddleError saying how to get a usable one. */
export function tokenIdentity(token: string, workspace: string, now = Date.now()): TokenIdentity {
  if (!token) throw new HuddleError('unauthorized', `no token: pass one (--token or HUDDLE_TOKEN); ${MINT_HINT}`)
  const identity = claimedIdentity(token, now)
  if (typeof identity === 'string') throw new HuddleError('unauthorized', `${identity}: ${MINT_HINT}`)
  if (identity.workspace !== '*' && identity.workspace !== workspace) {
    throw new HuddleError(
      'forbidden',
      `the token is for workspace "${identity.workspace}", not "${workspace}": use --workspace ${identity.workspace} or a token for ${workspace}`,
    )
  }
  return identity
}

/** The workspace a token is limited to, or null for a `*` token or one that cannot be read. */
export function tokenWorkspace(token: string): string | null {
  try {
    const ws = decodeJwt(token).ws
    return typeof ws === 'string' && ws !== '*' ? ws : null
  } catch {
    return null
  }
}
