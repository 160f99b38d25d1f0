// The REST API under /api/, bearer token in Authorization. Reads of the audit log and of the
// current coordination state for any member; force-release of a lock for admins.
import type { IncomingMessage, ServerResponse } from 'node:http'
import * as Y from 'yjs'
import { COORD, type CoordinationType } from '../../shared/coordination.js'
import { checkResource, checkWorkspace } from '../../shared/names.js'
import type { AuditLog } from '../audit/log.js'
import type { CoordinationAuthority } from '../authority/coordination.js'
import type { VerifiedToken } from '../auth/tokens.js'
import type { Room } from '../rooms/room.js'
import { publicLinks, workspaceLinks, type LinksDeps } from './links-api.js'
import { authorize, decodeSegment, HttpError, intParam } from './request.js'
import { type Route, sendJson } from './routes.js'
import { revokeToken, type TokensDeps } from './tokens-api.js'

export interface ApiDeps extends LinksDeps, TokensDeps {
  audit: AuditLog
  authority: CoordinationAuthority
  /** the content document paths stored for a workspace */
  listDocuments(workspace: string): Promise<string[]>
  /** opens (loading if needed) the coordination document of a workspace */
  openWorkspace(workspace: string): Promise<Room>
}

const PATTERN = /^\/api\/workspaces\/([^/]+)\/(audit\/verify|audit|locks|approvals|sessions|state|links|documents|tokens\/revoke)(?:\/(.+))?$/
/** What GET /api/workspaces/<ws>/state answers with, in this order. */
const STATE_TYPES = [COORD.locks, COORD.approvals, COORD.sessions, COORD.queue, COORD.outcomes, COORD.meta] as const
const LINK_PATTERN = /^\/api\/links\/([^/]+)(?:\/(redeem))?$/

export function apiRoute(deps: ApiDeps): Route {
  return async (request, response, url) => {
    if (!url.pathname.startsWith('/api/')) return false
    try {
      await handle(deps, request, response, url)
    } catch (error) {
      // A route module that decodes a path itself and meets a bad escape answers 400 too.
      if (error instanceof URIError)
        sendJson(response, 400, { error: `malformed percent-escape in ${url.pathname.slice(0, 200)}: encode path segments with encodeURIComponent` })
      else if (error instanceof HttpError) sendJson(response, error.status, { error: error.message })
      else throw error
    }
    return true
  }
}

async function handle(deps: ApiDeps, request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
  const link = LINK_PATTERN.exec(url.pathname)
  if (link) return publicLinks(deps, request, response, decodeSegment(link[1]!), link[2])
  const match = PATTERN.exec(url.pathname)
  if (!match)
    throw new HttpError(
      404,
      `no API at ${url.pathname}: see /api/workspaces/<ws>/{audit,audit/verify,locks,approvals,sessions,state,links,documents,tokens/revoke} and /api/links/<id>`,
    )
  const workspace = decodeSegment(match[1]!)
  const badName = checkWorkspace(workspace)
  if (badName) throw new HttpError(400, badName)
  const resource = match[3] === undefined ? undefined : decodeSegment(match[3])
  const what = match[2]!
  const method = request.method ?? 'GET'
  if (what === 'links') return workspaceLinks(deps, request, response, workspace, resource)
  if (what === 'tokens/revoke') {
    if (resource !== undefined) throw new HttpError(404, `no API at ${url.pathname}: POST /api/workspaces/<ws>/tokens/revoke`)
    return revokeToken(deps, request, response, workspace)
  }
  if (what === 'locks' && resource !== undefined) {
    if (method !== 'DELETE') throw new HttpError(405, 'use DELETE /api/workspaces/<ws>/locks/<resource> to force-release a lock')
    const identity = await authorize(deps, request, workspace, 'admin')
    return forceRelease(deps, response, workspace, resource, identity, url.searchParams.get('reason') ?? undefined)
  }
  if (method !== 'GET') throw new HttpError(405, `${url.pathname} is read-only: use GET`)
  if (resource !== undefined) throw new HttpError(404, `no API at ${url.pathname}`)
  await authorize(deps, request, workspace, 'viewer')
  if (what === 'audit')
    return sendJson(response, 200, { entries: await deps.audit.read(workspace, intParam(url, 'after', 0), Math.min(1000, intParam(url, 'limit', 100))) })
  if (what === 'audit/verify') return sendJson(response, 200, await deps.audit.verify(workspace))
  if (what === 'documents') return sendJson(response, 200, { documents: (await deps.listDocuments(workspace)).map((path) => ({ path })) })
  const room = await deps.openWorkspace(workspace)
  const read = (name: CoordinationType) => jsonOf(room.doc.getMap(name))
  if (what === 'state') return sendJson(response, 200, Object.fromEntries(STATE_TYPES.map((name) => [name, read(name)])))
  // A lock's waiters are the `queue` entries naming it (docs/authority.md).
  if (what === 'locks') return sendJson(response, 200, { locks: read(COORD.locks), queue: read(COORD.queue) })
  if (what === 'approvals') return sendJson(response, 200, { approvals: read(COORD.approvals) })
  sendJson(response, 200, { sessions: read(COORD.sessions) })
}

async function forceRelease(
  deps: ApiDeps,
  response: ServerResponse,
  workspace: string,
  resource: string,
  identity: VerifiedToken,
  reason?: string,
): Promise<void> {
  const badResource = checkResource(resource)
  if (badResource) throw new HttpError(400, badResource)
  await deps.openWorkspace(workspace)
  const authority = deps.authority.get(workspace)
  if (!authority) throw new HttpError(503, `workspace ${workspace} is unloading; retry`)
  const refusal = authority.revoke(resource, identity, reason)
  if (refusal) throw new HttpError(409, refusal)
  sendJson(response, 200, { released: resource })
}

/**
 * A map's JSON with every key: `Y.Map#toJSON` assigns into `{}`, where a `__proto__` key (a legal
 * resource name) sets the prototype instead of a property, and that lock vanished from the answer.
 */
function jsonOf(map: Y.Map<unknown>): Record<string, unknown> {
  return Object.fromEntries([...map.entries()].map(([key, value]) => [key, value instanceof Y.AbstractType ? value.toJSON() : value]))
}
