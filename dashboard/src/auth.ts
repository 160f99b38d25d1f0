// Who is signed in: the token lives in sessionStorage (this tab only), its claims are read here for
// display and for deciding what to offer; the server verifies it on every connection and request.
import { checkActor, checkSession, checkWorkspace } from '../../shared/names.js'
import { isKind, isRole, type Kind, type Role } from '../../shared/roles.js'

const TOKEN_KEY = 'huddle.token'
const SESSION_KEY = 'huddle.session'

export interface Me {
  token: string
  actor: string
  name: string
  kind: Kind
  role: Role
  /** a workspace name, or `*` */
  workspace: string
  /** ms since the epoch */
  expiresAt: number
}

/** Reads a token's claims (without verifying: only the server can). Returns a problem as text. */
export function readToken(token: string): Me | string {
  const parts = token.trim().split('.')
  if (parts.length !== 3) return 'that is not a token: a Huddle token is a JWT, three parts separated by dots (`huddle token` prints one)'
  let claims: Record<string, unknown>
  try {
    const json = atob(parts[1]!.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(parts[1]!.length / 4) * 4, '='))
    claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as Record<string, unknown>
  } catch {
    return 'that token cannot be read: check that it was copied completely'
  }
  const problem =
    checkActor(claims.sub) ??
    (isKind(claims.kind) ? null : 'the token has no valid "kind"') ??
    (isRole(claims.role) ? null : 'the token has no valid "role"') ??
    (claims.ws === '*' ? null : checkWorkspace(claims.ws)) ??
    (typeof claims.exp === 'number' ? null : 'the token has no expiry')
  if (problem) return `this is not a Huddle token: ${problem}`
  const expiresAt = (claims.exp as number) * 1000
  if (expiresAt <= Date.now()) return `this token expired ${new Date(expiresAt).toLocaleString()}: ask for a new one`
  return {
    token: token.trim(),
    actor: claims.sub as string,
    name: typeof claims.name === 'string' && claims.name ? claims.name : (claims.sub as string),
    kind: claims.kind as Kind,
    role: claims.role as Role,
    workspace: claims.ws as string,
    expiresAt,
  }
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
  const me = readToken(token)
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
  const rest = location.hash.slice(1).split('&').filter((part) => !part.startsWith('token=')).join('&')
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
  const id = randomId(24)
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ actor, id }))
  return id
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

export function randomId(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length))
  return Array.from(bytes, (b) => ALPHABET[b & 63]).join('')
}
