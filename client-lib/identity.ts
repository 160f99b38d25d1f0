// What the token says about us. The server verifies it; the client only reads it, to fill in
// `requester`, to skip writes the server would refuse (an agent's vote) and to explain problems
// before connecting.
import { decodeJwt } from 'jose'
import { isKind, isRole, type Identity } from '../shared/roles.js'
import { checkActor } from '../shared/names.js'
import { HuddleError } from './errors.js'

export interface TokenIdentity extends Identity {
  /** ms since the epoch */
  expiresAt: number
}

const MINT_HINT = 'mint one with `huddle token --actor <you> --workspace <ws> --role editor`'

export function readToken(token: string, workspace: string, now = Date.now()): TokenIdentity {
  if (!token) throw new HuddleError('unauthorized', `no token: pass one (--token or HUDDLE_TOKEN); ${MINT_HINT}`)
  let claims: Record<string, unknown>
  try {
    claims = decodeJwt(token)
  } catch {
    throw new HuddleError('unauthorized', `the token is not a JWT: ${MINT_HINT}`)
  }
  const actor = claims.sub
  if (checkActor(actor) || !isRole(claims.role) || !isKind(claims.kind) || typeof claims.ws !== 'string') {
    throw new HuddleError('unauthorized', `the token is not a Huddle token (it needs sub, role, kind and ws claims): ${MINT_HINT}`)
  }
  const expiresAt = typeof claims.exp === 'number' ? claims.exp * 1000 : 0
  if (expiresAt <= now) throw new HuddleError('unauthorized', `the token for ${actor as string} has expired: ${MINT_HINT}`)
  if (claims.ws !== '*' && claims.ws !== workspace) {
    throw new HuddleError('forbidden', `the token is for workspace "${claims.ws}", not "${workspace}": use --workspace ${claims.ws} or a token for ${workspace}`)
  }
  return {
    actor: actor as string,
    name: typeof claims.name === 'string' && claims.name ? claims.name : (actor as string),
    kind: claims.kind,
    role: claims.role,
    workspace: claims.ws,
    expiresAt,
  }
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
