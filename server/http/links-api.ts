// Share links over REST: admins create, list and revoke; anyone holding a link inspects and
// redeems it (with its password, if it has one).
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AuditLog } from '../audit/log.js'
import type { FailedAttempts } from '../auth/attempts.js'
import { PasswordsBusy } from '../auth/passwords.js'
import { LinkError, type ShareLinks } from '../auth/share-links.js'
import { type AuthDeps, authorize, freshCredentials, HttpError, readJson } from './request.js'
import { sendJson } from './routes.js'

export interface LinksDeps extends AuthDeps {
  links: ShareLinks
  /** wrong passwords per link and per client address */
  linkAttempts: FailedAttempts
  audit: AuditLog
  /** in a cluster: the client's address also when a node forwarded the call (cluster/client-address.ts) */
  clientAddress?: (request: IncomingMessage) => string
}

/** `/api/workspaces/<ws>/links[/<id>]`, after the workspace name was checked. */
export async function workspaceLinks(
  deps: LinksDeps,
  request: IncomingMessage,
  response: ServerResponse,
  workspace: string,
  id: string | undefined,
): Promise<void> {
  const admin = await authorize(deps, request, workspace, 'admin')
  const method = request.method ?? 'GET'
  await asHttp(response, async () => {
    if (id === undefined && method === 'GET') return sendJson(response, 200, { links: deps.links.list(workspace) })
    if (id === undefined && method === 'POST') {
      const link = await deps.links.create(workspace, await readJson(request), admin.actor)
      return sendJson(response, 201, { link, url: `/join/${link.id}` })
    }
    if (id !== undefined && method === 'DELETE') {
      await deps.links.revoke(workspace, id)
      return sendJson(response, 200, { revoked: id })
    }
    throw new HttpError(405, 'use GET or POST /api/workspaces/<ws>/links, or DELETE /api/workspaces/<ws>/links/<id>')
  })
}

/** `/api/links/<id>` and `/api/links/<id>/redeem`: no token needed, the link is the credential. */
export async function publicLinks(deps: LinksDeps, request: IncomingMessage, response: ServerResponse, id: string, action: string | undefined): Promise<void> {
  const method = request.method ?? 'GET'
  await freshCredentials(deps)
  await asHttp(response, async () => {
    if (action === undefined && method === 'GET') return sendJson(response, 200, deps.links.describe(id))
    if (action === 'redeem' && method === 'POST') return sendJson(response, 200, await redeem(deps, request, response, id))
    throw new HttpError(405, 'use GET /api/links/<id> or POST /api/links/<id>/redeem')
  })
}

/**
 * Redeems with a limit on wrong passwords per link and per client address (429 with Retry-After
 * before any hashing); each wrong password is audited in the link's workspace.
 */
async function redeem(deps: LinksDeps, request: IncomingMessage, response: ServerResponse, id: string) {
  const address = deps.clientAddress?.(request) ?? request.socket.remoteAddress ?? 'unknown'
  const keys = [`link:${id}`, `address:${address}`]
  const wait = deps.linkAttempts.retryAfter(keys)
  if (wait > 0) {
    response.setHeader('retry-after', String(wait))
    throw new HttpError(429, `too many wrong passwords for this link or from your address: retry in ${wait} s`)
  }
  const input = await readJson(request)
  try {
    return await deps.links.redeem(id, input)
  } catch (error) {
    if (error instanceof LinkError && error.status === 401) {
      deps.linkAttempts.fail(keys)
      const workspace = deps.links.workspaceOf(id)
      if (workspace) await deps.audit.appendLater(workspace, { type: 'refused', data: { reason: 'wrong share-link password', link: id, address } })
    }
    throw error
  }
}

async function asHttp(response: ServerResponse, handler: () => Promise<void>): Promise<void> {
  try {
    await handler()
  } catch (error) {
    if (error instanceof LinkError) throw new HttpError(error.status, error.message)
    if (error instanceof PasswordsBusy) {
      response.setHeader('retry-after', '1')
      throw new HttpError(503, error.message)
    }
    throw error
  }
}
