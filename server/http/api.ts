// The REST API under /api/, bearer token in Authorization. Reads of the audit log and of the
// current coordination state for any member; force-release of a lock for admins.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { checkResource, checkWorkspace } from '../../shared/names.js'
import { roleAtLeast, type Role } from '../../shared/roles.js'
import type { AuditLog } from '../audit/log.js'
import type { CoordinationAuthority } from '../authority/coordination.js'
import { coversWorkspace, TokenError, type VerifiedToken, verifyToken } from '../auth/tokens.js'
import type { Room } from '../rooms/room.js'
import { type Route, sendJson } from './routes.js'

export interface ApiDeps {
  key: Uint8Array
  audit: AuditLog
  authority: CoordinationAuthority
  /** opens (loading if needed) the coordination document of a workspace */
  openWorkspace(workspace: string): Promise<Room>
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message)
  }
}

const PATTERN = /^\/api\/workspaces\/([^/]+)\/(audit\/verify|audit|locks|approvals|sessions|state)(?:\/(.+))?$/

export function apiRoute(deps: ApiDeps): Route {
  return async (request, response, url) => {
    if (!url.pathname.startsWith('/api/')) return false
    try {
      await handle(deps, request, response, url)
    } catch (error) {
      if (!(error instanceof HttpError)) throw error
      sendJson(response, error.status, { error: error.message })
    }
    return true
  }
}

async function handle(deps: ApiDeps, request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
  const match = PATTERN.exec(url.pathname)
  if (!match) throw new HttpError(404, `no API at ${url.pathname}: see /api/workspaces/<ws>/{audit,audit/verify,locks,approvals,sessions,state}`)
  const workspace = decodeURIComponent(match[1]!)
  const badName = checkWorkspace(workspace)
  if (badName) throw new HttpError(400, badName)
  const resource = match[3] === undefined ? undefined : decodeURIComponent(match[3])
  const what = match[2]!
  const method = request.method ?? 'GET'
  if (what === 'locks' && resource !== undefined) {
    if (method !== 'DELETE') throw new HttpError(405, 'use DELETE /api/workspaces/<ws>/locks/<resource> to force-release a lock')
    const identity = await authorize(deps.key, request, workspace, 'admin')
    return forceRelease(deps, response, workspace, resource, identity, url.searchParams.get('reason') ?? undefined)
  }
  if (method !== 'GET') throw new HttpError(405, `${url.pathname} is read-only: use GET`)
  if (resource !== undefined) throw new HttpError(404, `no API at ${url.pathname}`)
  await authorize(deps.key, request, workspace, 'viewer')
  if (what === 'audit') return sendJson(response, 200, { entries: await deps.audit.read(workspace, intParam(url, 'after', 0), Math.min(1000, intParam(url, 'limit', 100))) })
  if (what === 'audit/verify') return sendJson(response, 200, await deps.audit.verify(workspace))
  const room = await deps.openWorkspace(workspace)
  const maps = ['locks', 'approvals', 'sessions'] as const
  const read = (name: string) => room.doc.getMap(name).toJSON()
  if (what === 'state') return sendJson(response, 200, Object.fromEntries([...maps, 'outcomes', 'meta'].map((name) => [name, read(name)])))
  sendJson(response, 200, { [what]: read(what) })
}

async function forceRelease(deps: ApiDeps, response: ServerResponse, workspace: string, resource: string, identity: VerifiedToken, reason?: string): Promise<void> {
  const badResource = checkResource(resource)
  if (badResource) throw new HttpError(400, badResource)
  await deps.openWorkspace(workspace)
  const authority = deps.authority.get(workspace)
  if (!authority) throw new HttpError(503, `workspace ${workspace} is unloading; retry`)
  const refusal = authority.revoke(resource, identity, reason)
  if (refusal) throw new HttpError(409, refusal)
  sendJson(response, 200, { released: resource })
}

async function authorize(key: Uint8Array, request: IncomingMessage, workspace: string, needed: Role): Promise<VerifiedToken> {
  const header = request.headers.authorization ?? ''
  const token = /^Bearer\s+(.+)$/i.exec(header)?.[1]
  let identity: VerifiedToken
  try {
    identity = await verifyToken(key, token)
  } catch (error) {
    if (error instanceof TokenError) throw new HttpError(401, `${error.message} (send it as "Authorization: Bearer <jwt>")`)
    throw error
  }
  if (!coversWorkspace(identity, workspace)) throw new HttpError(403, `your token is for workspace "${identity.workspace}", not "${workspace}"`)
  if (!roleAtLeast(identity.role, needed)) throw new HttpError(403, `this needs role ${needed}; yours is ${identity.role}`)
  return identity
}

function intParam(url: URL, name: string, fallback: number): number {
  const text = url.searchParams.get(name)
  if (text === null) return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < 0) throw new HttpError(400, `${name} must be a whole number, not ${JSON.stringify(text)}`)
  return value
}
