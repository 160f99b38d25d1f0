// JWT (HS256) tokens of docs/design.md §3. Verification turns every failure into a reason a person can
// act on; the connection layer maps it to close code 4401 (bad token) or 4403 (wrong workspace).
import { createHash, randomBytes } from 'node:crypto'
import { SignJWT, errors, jwtVerify } from 'jose'
import { checkActor, checkWorkspace } from '../../shared/names.js'
import { type Identity, isKind, isRole, type Kind, type Role } from '../../shared/roles.js'

export interface VerifiedToken extends Identity {
  /** expiry, ms since the epoch */
  expiresAt: number
  /** the share link the token was redeemed from; revoking the link revokes the token */
  link?: string
  /**
   * What a revocation names: the token's identity, so every spelling of one token is the same
   * token. SHA-256 of (sub, exp, jti); a token without a jti (minted before tokens carried one)
   * is named by its canonical text instead (see canonicalText).
   */
  id: string
  /** SHA-256 of the canonical text: what revocations stored before identities named a token by */
  textDigest: string
}

export class TokenError extends Error {}

/** Says why a valid token no longer counts (it or its share link was revoked), or null. */
export type RevocationCheck = (identity: VerifiedToken) => string | null

export interface TokenSpec {
  actor: string
  workspace: string
  role: Role
  kind?: Kind
  name?: string
  ttlMs: number
  link?: string
}

export async function signToken(key: Uint8Array, spec: TokenSpec): Promise<string> {
  const problem = checkActor(spec.actor) ?? (spec.workspace === '*' ? null : checkWorkspace(spec.workspace))
  if (problem) throw new TokenError(problem)
  const jwt = new SignJWT({
    name: spec.name ?? spec.actor,
    kind: spec.kind ?? 'human',
    ws: spec.workspace,
    role: spec.role,
    ...(spec.link ? { lnk: spec.link } : {}),
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(spec.actor)
    // Two tokens minted alike in the same second would otherwise be the same text, and revoking one would revoke both.
    .setJti(randomBytes(9).toString('base64url'))
    .setIssuedAt()
    .setExpirationTime(Math.floor((Date.now() + spec.ttlMs) / 1000))
  return jwt.sign(key)
}

export async function verifyToken(key: Uint8Array, token: string | null | undefined): Promise<VerifiedToken> {
  if (!token) throw new TokenError('missing token: add ?token=<jwt> to the URL (mint one with `huddle token`)')
  let payload
  try {
    ;({ payload } = await jwtVerify(token, key, { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] }))
  } catch (error) {
    throw new TokenError(explain(error))
  }
  const claims = payload as Record<string, unknown>
  const problem =
    checkActor(claims.sub) ??
    (isKind(claims.kind) ? null : `token claim "kind" must be "human" or "agent", not ${JSON.stringify(claims.kind)}`) ??
    (isRole(claims.role) ? null : `token claim "role" must be viewer, editor, approver or admin, not ${JSON.stringify(claims.role)}`) ??
    (claims.ws === '*' ? null : checkWorkspace(claims.ws))
  if (problem) throw new TokenError(`invalid token: ${problem}`)
  return {
    actor: claims.sub as string,
    name: typeof claims.name === 'string' && claims.name.length > 0 ? claims.name.slice(0, 128) : (claims.sub as string),
    kind: claims.kind as Kind,
    role: claims.role as Role,
    workspace: claims.ws as string,
    expiresAt: (claims.exp as number) * 1000,
    ...(typeof claims.lnk === 'string' ? { link: claims.lnk } : {}),
    ...identityOf(token, claims),
  }
}

function identityOf(token: string, claims: Record<string, unknown>): Pick<VerifiedToken, 'id' | 'textDigest'> {
  const textDigest = sha256(canonicalText(token))
  const jti = typeof claims.jti === 'string' && claims.jti.length > 0 ? claims.jti : null
  return { id: jti === null ? textDigest : sha256(JSON.stringify([claims.sub, claims.exp, jti])), textDigest }
}

/**
 * A verified token spelled the one way this server writes it. The signature covers the header and
 * payload text exactly, so only the signature's spelling can vary: base64url decoding (atob)
 * ignores a trailing `=` and the unused low bits of the last character.
 */
function canonicalText(token: string): string {
  const [header, payload, signature] = token.split('.')
  return `${header}.${payload}.${Buffer.from(signature ?? '', 'base64url').toString('base64url')}`
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('base64url')
}

function explain(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token expired: mint a new one with `huddle token`'
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'token is not valid yet (nbf is in the future): check the clocks or mint a new one'
    return `invalid token: claim "${error.claim}" ${error.reason === 'missing' ? 'is missing' : 'is invalid'}`
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return 'token algorithm not allowed: only HS256 tokens signed by this server are accepted'
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return "token signature does not match this server's secret: mint a token from this server (`huddle token`)"
  return 'malformed token: expected a JWT signed by this server (`huddle token` prints one)'
}

/** Whether `identity` may open documents of `workspace`. */
export function coversWorkspace(identity: Identity, workspace: string): boolean {
  return identity.workspace === '*' || identity.workspace === workspace
}
