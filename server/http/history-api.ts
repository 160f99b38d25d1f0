// Document history over REST, under /api/workspaces/<ws>/docs/<path>/: versions (list, take with
// a label, read one), diff, blame and revert (docs/design.md, history). Viewers read; editors label and revert.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Point } from '../../shared/history.js'
import { checkSession, checkWorkspace, parseRoom, type RoomName } from '../../shared/names.js'
import { roleAtLeast } from '../../shared/roles.js'
import { HistoryError, type HistoryService } from '../history/service.js'
import { authorize, type AuthDeps, decodeSegment, HttpError, readJson } from './request.js'
import { type Route, sendJson } from './routes.js'

export interface HistoryApiDeps extends AuthDeps {
  history: HistoryService
  /** the content document paths stored for a workspace */
  listDocuments(workspace: string): Promise<string[]>
}

const PATTERN = /^\/api\/workspaces\/([^/]+)\/docs\/(.+)\/(versions|versions\/[^/]+|diff|blame|revert)$/
const LAST_EDITS = /^\/api\/workspaces\/([^/]+)\/history\/last-edits$/
const MAX_LABEL = 200

export function historyRoute(deps: HistoryApiDeps): Route {
  return async (request, response, url) => {
    const match = PATTERN.exec(url.pathname)
    const lastEdits = match ? null : LAST_EDITS.exec(url.pathname)
    if (!match && !lastEdits) return false
    try {
      if (lastEdits) await listLastEdits(deps, request, response, decodeSegment(lastEdits[1]!))
      else await handle(deps, request, response, url, match!)
    } catch (error) {
      if (error instanceof HttpError || error instanceof HistoryError) sendJson(response, error.status, { error: error.message })
      else throw error
    }
    return true
  }
}

async function handle(deps: HistoryApiDeps, request: IncomingMessage, response: ServerResponse, url: URL, match: RegExpExecArray): Promise<void> {
  const room = roomOf(decodeSegment(match[1]!), decodeSegment(match[2]!))
  const [what, id] = match[3]!.split('/') as [string, string | undefined]
  const method = request.method ?? 'GET'
  const allowed = what === 'revert' ? ['POST'] : what === 'versions' && id === undefined ? ['GET', 'POST'] : ['GET']
  if (!allowed.includes(method)) throw new HttpError(405, `use ${allowed.join(' or ')} for ${url.pathname}`)
  const write = method === 'POST'
  const identity = await authorize(deps, request, room.workspace, 'viewer')
  const history = deps.history
  if (write && !roleAtLeast(identity.role, 'editor')) {
    // A verified member of the workspace: its refused write goes into the workspace's audit log.
    const reason = `this needs role editor; yours is ${identity.role}`
    history.refused(room, identity, null, reason, what === 'revert' ? 'revert' : 'label')
    throw new HttpError(403, reason)
  }
  if (what === 'versions' && id !== undefined) return sendJson(response, 200, await history.version(room, versionId(id, 'version id')))
  if (what === 'versions' && !write) return sendJson(response, 200, { versions: await history.versions(room) })
  if (what === 'versions') {
    const { label } = await readJson(request)
    if (typeof label !== 'string' || label.trim() === '' || label.length > MAX_LABEL)
      throw new HttpError(400, `send {"label": "<1-${MAX_LABEL} characters>"} to name the version`)
    return sendJson(response, 201, { id: (await history.label(room, label)).id })
  }
  if (what === 'diff') {
    const from = url.searchParams.get('from')
    return sendJson(
      response,
      200,
      await history.diff(room, from === null ? undefined : pointOf(from, 'from'), pointOf(url.searchParams.get('to') ?? 'current', 'to')),
    )
  }
  if (what === 'blame') return sendJson(response, 200, await history.blame(room, url.searchParams.get('name') ?? undefined))
  const { version, session } = await readJson(request)
  const target = typeof version === 'number' ? version : typeof version === 'string' ? versionId(version, 'version') : undefined
  if (target === undefined) throw new HttpError(400, 'send {"version": <id>} naming the version to restore (GET versions lists them)')
  const badSession = session === undefined ? null : checkSession(session)
  if (badSession) throw new HttpError(400, `${badSession} (send the session that holds the doc:<path> lock, or none)`)
  return sendJson(response, 200, { version: (await history.revert(room, target, identity, session as string | undefined)).id, restored: target })
}

async function listLastEdits(deps: HistoryApiDeps, request: IncomingMessage, response: ServerResponse, workspace: string): Promise<void> {
  if ((request.method ?? 'GET') !== 'GET') throw new HttpError(405, 'use GET for last edits')
  const badName = checkWorkspace(workspace)
  if (badName) throw new HttpError(400, badName)
  await authorize(deps, request, workspace, 'viewer')
  const paths = await deps.listDocuments(workspace)
  const documents = await Promise.all(paths.map(async (path) => ({ path, lastEdit: await deps.history.lastEdit(`${workspace}/${path}`) })))
  sendJson(response, 200, { documents })
}

function roomOf(workspace: string, path: string): RoomName {
  const room = parseRoom(`${workspace}/${path}`)
  if (typeof room === 'string') throw new HttpError(400, room)
  return room
}

function versionId(text: string, what: string): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1)
    throw new HttpError(400, `${what} must be a version id (a whole number from GET versions), not ${JSON.stringify(text)}`)
  return value
}

function pointOf(text: string, what: string): Point {
  return text === 'current' ? 'current' : versionId(text, `${what}`)
}
