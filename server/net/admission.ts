// Who may open which room: the URL names the room, the token says who is asking, the session id
// must belong to that actor. Every refusal says what to do about it.
import { randomBytes } from 'node:crypto'
import { CloseCode } from '../../shared/close-codes.js'
import { checkSession, parseRoom, type RoomName } from '../../shared/names.js'
import { LOCKS_ONLY_PARAM } from '../../shared/lock-channel.js'
import { coversWorkspace, TokenError, type VerifiedToken, verifyToken } from '../auth/tokens.js'
import type { SessionBindings } from '../auth/sessions.js'
import type { RevocationCheck } from '../auth/tokens.js'

export interface Admitted {
  ok: true
  room: RoomName
  identity: VerifiedToken
  session: string
  /** `?locks-only=1`: lock requests instead of the document (shared/lock-channel.ts) */
  lockOnly: boolean
}

export interface Refused {
  ok: false
  code: number
  reason: string
  /** what is known of the caller, for the audit entry */
  room?: RoomName
  identity?: VerifiedToken
  session?: string
}

/**
 * `fresh`, in a cluster: rereads the revocations other nodes wrote (cluster/credentials.ts).
 * `generated`: the session id an earlier node generated for this very connection (cluster
 * rebalancing), kept when the client chose none.
 */
export async function admit(
  url: URL,
  key: Uint8Array,
  revoked: RevocationCheck,
  sessions: SessionBindings,
  fresh?: () => Promise<void>,
  generated?: string,
): Promise<Admitted | Refused> {
  const room = parseRoom(decodeRoom(url.pathname))
  if (typeof room === 'string') return { ok: false, code: CloseCode.malformed, reason: room }
  let identity: VerifiedToken
  try {
    identity = await verifyToken(key, url.searchParams.get('token'))
  } catch (error) {
    if (error instanceof TokenError) return { ok: false, code: CloseCode.unauthorized, reason: error.message, room }
    throw error
  }
  try {
    await fresh?.()
  } catch (error) {
    return { ok: false, code: CloseCode.tryAgainLater, reason: `storage unavailable: ${(error as Error).message}; reconnect shortly`, room, identity }
  }
  const revocation = revoked(identity)
  if (revocation) return { ok: false, code: CloseCode.unauthorized, reason: revocation, room, identity }
  if (!coversWorkspace(identity, room.workspace)) {
    return {
      ok: false,
      code: CloseCode.forbidden,
      reason: `your token is for workspace "${identity.workspace}", not "${room.workspace}": ask for a token for this workspace`,
      room,
      identity,
    }
  }
  const lockOnly = url.searchParams.get(LOCKS_ONLY_PARAM) === '1'
  const chosen = url.searchParams.get('session')
  // refused once the token is verified, so that it is audited
  if (lockOnly && room.path !== null) {
    const reason = `?${LOCKS_ONLY_PARAM}=1 is for a workspace's coordination room "${room.workspace}", not a document: drop it to edit ${room.room}`
    return { ok: false, code: CloseCode.malformed, reason, room, identity, ...(chosen !== null && !checkSession(chosen) ? { session: chosen } : {}) }
  }
  // A generated id is new and unguessable: nothing to bind, and no binding to store for ever.
  if (chosen === null) return { ok: true, room, identity, session: generated ?? newSessionId(), lockOnly }
  const badSession = checkSession(chosen)
  if (badSession) return { ok: false, code: CloseCode.malformed, reason: badSession, room, identity }
  const session = chosen
  const taken = await sessions.bind(session, identity.actor, identity.expiresAt)
  if (taken) return { ok: false, code: CloseCode.forbidden, reason: taken, room, identity, session }
  return { ok: true, room, identity, session, lockOnly }
}

function decodeRoom(pathname: string): string {
  try {
    return decodeURIComponent(pathname.replace(/^\/+/, ''))
  } catch {
    return pathname
  }
}

/** Stock y-websocket clients send no session id; each such connection gets its own. */
function newSessionId(): string {
  return randomBytes(16).toString('base64url')
}
