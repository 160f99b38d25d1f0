// Who is signed in: the token lives in sessionStorage (this tab only), its claims are read here for
// display and for deciding what to offer; the server verifies it on every connection and request.
import { checkSession } from '../../shared/names.js'
import { claimedIdentity, type TokenIdentity } from '../../client-lib/identity.js'
import { newSessionId } from '../../client-lib/ids.js'

const TOKEN_KEY = 'huddle.token'
const SESSION_KEY = 'huddle.session'

export interface Me extends TokenIdentity {
  token: string
}

/** Who a pasted token says we are (the client library reads it), or what is wrong with it. */
export function meFromToken(token: string): Me | string {
  const identity = claimedIdentity(token)
  if (typeof identity === 'string') return `${identity}: check that it was copied completely, or ask for a new one (\`huddle token\` prints one)`
  return { ...identity, token: token.trim() }
}

export function coversWorkspace(me: Me, workspace: string): boolean {
  return me.workspace === '*' || me.workspace === workspace
}

export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY)
  } catch {
    return null
  }
}

export function storeToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token.trim())
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY)
}

/** The signed-in identity of this tab, if its token is still readable and unexpired. */
export function currentUser(): Me | null {
  const token = storedToken()
  if (!token) return null
  const me = meFromToken(token)
  return typeof me === 'string' ? null : me
}

/**
 * `/w/<ws>#token=<jwt>`: keeps the token for this tab and removes it from the address bar (and so
 * from the history), as a CLI-printed link would otherwise leave it lying around.
 */
export function takeTokenFromFragment(): string | null {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash)
  if (!match) return null
  const token = decodeURIComponent(match[1]!)
  const rest = location.hash
    .slice(1)
    .split('&')
    .filter((part) => !part.startsWith('token='))
    .join('&')
  history.replaceState(history.state, '', location.pathname + location.search + (rest ? `#${rest}` : ''))
  storeToken(token)
  return token
}

/**
 * The session id of this tab for `actor` (docs/design.md §2: chosen once, kept across reconnects).
 * The server binds a session id to the first actor using it, so signing in as someone else in the
 * same tab starts a new one.
 */
export function sessionFor(actor: string): string {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null') as { actor?: string; id?: string } | null
    if (saved && saved.actor === actor && typeof saved.id === 'string' && checkSession(saved.id) === null) return saved.id
  } catch {
    // a damaged entry: make a new one
  }
  const id = newSessionId()
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ actor, id }))
  return id
}
