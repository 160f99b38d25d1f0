// Token revocation over REST: an admin of a workspace sends a token of that workspace to
// `POST /api/workspaces/<ws>/tokens/revoke`; from then on it is refused, and connections using it
// close within a second. A token for every workspace (`ws: "*"`) needs an admin of every workspace.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AuditLog } from '../audit/log.js'
import type { RevokedTokens } from '../auth/revoked-tokens.js'
import { TokenError, type VerifiedToken, verifyToken } from '../auth/tokens.js'
import { type AuthDeps, authorize, HttpError, readJson } from './request.js'
import { sendJson } from './routes.js'

export interface TokensDeps extends AuthDeps {
  revokedTokens: RevokedTokens
  audit: AuditLog
}

export async function revokeToken(deps: TokensDeps, request: IncomingMessage, response: ServerResponse, workspace: string): Promise<void> {
  if (request.method !== 'POST') throw new HttpError(405, 'use POST /api/workspaces/<ws>/tokens/revoke with {"token": "<jwt>"}')
  const admin = await authorize(deps, request, workspace, 'admin')
  const body = await readJson(request)
  if (typeof body.token !== 'string' || body.token.length === 0) throw new HttpError(400, 'send the token to revoke as {"token": "<jwt>"}')
  const target = await tokenToRevoke(deps.key, body.token)
  if (target.workspace !== workspace && !(target.workspace === '*' && admin.workspace === '*')) {
    const where =
      target.workspace === '*'
        ? 'every workspace: revoke it with an admin token for "*"'
        : `workspace "${target.workspace}": revoke it through /api/workspaces/${target.workspace}/tokens/revoke`
    throw new HttpError(403, `that token is for ${where}`)
  }
  const revoked = await deps.revokedTokens.revoke(target, admin.actor)
  if (revoked) {
    await deps.audit.appendLater(workspace, {
      type: 'token-revoked',
      actor: admin.actor,
      data: { subject: target.actor, role: target.role, kind: target.kind, workspace: target.workspace, expiresAt: target.expiresAt },
    })
  }
  sendJson(response, 200, { revoked: true, alreadyRevoked: !revoked, subject: target.actor, expiresAt: target.expiresAt })
}

async function tokenToRevoke(key: Uint8Array, token: string): Promise<VerifiedToken> {
  try {
    return await verifyToken(key, token)
  } catch (error) {
    if (error instanceof TokenError) throw new HttpError(400, `nothing to revoke: ${error.message}`)
    throw error
  }
}
