// Change sets over REST, under /api/workspaces/<ws>/changesets (docs/agents.md): propose, list,
// read, apply, cancel, revert. Viewers read; editors propose and apply.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { checkWorkspace } from '../../shared/names.js'
import { CHANGESET_LIMITS, ChangeSetError, parseProposal } from '../documents/changeset-rules.js'
import type { ChangeSets } from '../documents/changesets.js'
import { authorize, type AuthDeps, decodeSegment, HttpError, readJson } from './request.js'
import { type Route, sendJson } from './routes.js'

export interface ChangeSetsApiDeps extends AuthDeps {
  changesets: ChangeSets
}

const PATTERN = /^\/api\/workspaces\/([^/]+)\/changesets(?:\/([^/]+)(?:\/(apply|cancel|revert))?)?$/
/** Base64 and JSON quoting make the body larger than the documents' bytes. */
const MAX_BODY = Math.ceil(CHANGESET_LIMITS.bytes * 1.4) + 64 * 1024

export function changesetsRoute(deps: ChangeSetsApiDeps): Route {
  return async (request, response, url) => {
    const match = PATTERN.exec(url.pathname)
    if (!match) return false
    try {
      await handle(deps, request, response, match)
    } catch (error) {
      if (error instanceof HttpError || error instanceof ChangeSetError) sendJson(response, error.status, { error: error.message })
      else throw error
    }
    return true
  }
}

async function handle(deps: ChangeSetsApiDeps, request: IncomingMessage, response: ServerResponse, match: RegExpExecArray): Promise<void> {
  const workspace = decodeSegment(match[1]!)
  const badName = checkWorkspace(workspace)
  if (badName) throw new HttpError(400, badName)
  const id = match[2] === undefined ? undefined : decodeSegment(match[2])
  const action = match[3]
  const method = request.method ?? 'GET'
  const expected = action ? ['POST'] : id === undefined ? ['GET', 'POST'] : ['GET']
  if (!expected.includes(method)) throw new HttpError(405, `use ${expected.join(' or ')} for this change set URL`)
  const identity = await authorize(deps, request, workspace, method === 'GET' ? 'viewer' : 'editor')
  const changesets = deps.changesets
  if (id === undefined && method === 'GET') return sendJson(response, 200, { changesets: await changesets.list(workspace) })
  if (id === undefined) {
    const proposal = parseProposal(await readJson(request, MAX_BODY), workspace)
    if (typeof proposal === 'string') throw new HttpError(400, proposal)
    return sendJson(response, 201, await changesets.propose(workspace, identity, proposal))
  }
  if (action === undefined) return sendJson(response, 200, await changesets.get(workspace, id))
  const run = action === 'apply' ? changesets.apply : action === 'cancel' ? changesets.cancel : changesets.revert
  sendJson(response, 200, await run.call(changesets, workspace, id, identity))
}
