// Webhook endpoints over REST, for a workspace's admins (docs/design.md §10):
//   POST   /api/workspaces/<ws>/webhooks {url, events, format?, secret?}  → {id, secret, …}
//   GET    /api/workspaces/<ws>/webhooks                                  → {webhooks: [… with health]}
//   GET    /api/workspaces/<ws>/webhooks/<id>
//   DELETE /api/workspaces/<ws>/webhooks/<id>
//   GET    /api/workspaces/<ws>/webhooks/<id>/deliveries?limit=           → {deliveries: [newest first]}
//   POST   /api/workspaces/<ws>/webhooks/<id>/redeliver {from?, ids?}
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AuditLog } from '../audit/log.js'
import { checkWorkspace } from '../../shared/names.js'
import { checkSubscriptions } from '../../shared/events.js'
import { parseDestination, refusedAddress } from '../webhooks/destination.js'
import type { Format } from '../webhooks/payload.js'
import type { Webhooks } from '../webhooks/service.js'
import { checkSecret, generateSecret } from '../webhooks/signature.js'
import { type AuthDeps, authorize, HttpError, intParam, readJson } from './request.js'
import { type Route, sendJson } from './routes.js'

export interface WebhooksDeps extends AuthDeps {
  webhooks: Webhooks
  audit: AuditLog
  allowPrivate: boolean
}

const PATTERN = /^\/api\/workspaces\/([^/]+)\/webhooks(?:\/([^/]+)(?:\/(deliveries|redeliver))?)?\/?$/
const FORMATS: readonly Format[] = ['standard', 'slack']
const USAGE = 'POST/GET /api/workspaces/<ws>/webhooks, GET/DELETE …/webhooks/<id>, GET …/webhooks/<id>/deliveries, POST …/webhooks/<id>/redeliver'

export function webhooksRoute(deps: WebhooksDeps): Route {
  return async (request, response, url) => {
    const match = PATTERN.exec(url.pathname)
    if (!match) return false
    try {
      await handle(deps, request, response, url, match)
    } catch (error) {
      if (!(error instanceof HttpError)) throw error
      sendJson(response, error.status, { error: error.message })
    }
    return true
  }
}

async function handle(deps: WebhooksDeps, request: IncomingMessage, response: ServerResponse, url: URL, match: RegExpExecArray): Promise<void> {
  const workspace = decodeURIComponent(match[1]!)
  const badName = checkWorkspace(workspace)
  if (badName) throw new HttpError(400, badName)
  const admin = await authorize(deps, request, workspace, 'admin')
  await deps.webhooks.ready(workspace)
  const id = match[2] === undefined ? undefined : decodeURIComponent(match[2])
  const action = `${request.method ?? 'GET'} ${match[3] ?? (id === undefined ? 'list' : 'one')}`
  if (id === undefined) {
    if (action === 'POST list')
      return sendJson(
        response,
        201,
        await create(deps, workspace, await readJson(request), admin.actor).catch((error) => refused(deps, workspace, admin.actor, error)),
      )
    if (action === 'GET list') return sendJson(response, 200, { webhooks: deps.webhooks.list(workspace) })
  } else {
    const missing = () => new HttpError(404, `no webhook ${JSON.stringify(id)} in workspace ${workspace}: GET /api/workspaces/${workspace}/webhooks lists them`)
    if (action === 'GET one') return sendJson(response, 200, deps.webhooks.get(workspace, id) ?? raise(missing()))
    if (action === 'DELETE one') return (await deps.webhooks.remove(workspace, id, admin.actor)) ? sendJson(response, 200, { deleted: id }) : raise(missing())
    if (action === 'GET deliveries') {
      const deliveries = await deps.webhooks.deliveries(workspace, id, Math.min(1000, intParam(url, 'limit', 100)))
      return sendJson(response, 200, { deliveries: deliveries ?? raise(missing()) })
    }
    if (action === 'POST redeliver') {
      const body = await readJson(request)
      const redelivered = (await deps.webhooks.redeliver(workspace, id, redelivery(body, workspace))) ?? raise(missing())
      if ('refused' in redelivered) throw new HttpError(409, redelivered.refused)
      return sendJson(response, 200, redelivered)
    }
  }
  throw new HttpError(405, `${action.split(' ')[0]} is not supported here: ${USAGE}`)
}

async function create(deps: WebhooksDeps, workspace: string, body: Record<string, unknown>, actor: string) {
  const url = parseDestination(body.url)
  if (typeof url === 'string') throw new HttpError(400, url)
  const refused = await refusedAddress(url, deps.allowPrivate)
  if (refused) throw new HttpError(400, refused)
  const badEvents = checkSubscriptions(body.events)
  if (badEvents) throw new HttpError(400, badEvents)
  const format = body.format ?? 'standard'
  if (!FORMATS.includes(format as Format))
    throw new HttpError(400, `format must be "standard" (Standard Webhooks, signed) or "slack" (a Slack incoming webhook), not ${JSON.stringify(format)}`)
  if (body.secret !== undefined) {
    const badSecret = checkSecret(body.secret)
    if (badSecret) throw new HttpError(400, badSecret)
  }
  const secret = (body.secret as string | undefined) ?? generateSecret()
  const endpoint = await deps.webhooks.create(
    workspace,
    { url: url.href, events: [...new Set(body.events as string[])], format: format as Format, secret },
    actor,
  )
  return { id: endpoint.id, secret, url: endpoint.url, events: endpoint.events, format: endpoint.format }
}

/** `from`: an audit sequence number; `ids`: webhook-ids (`<workspace>:<seq>`) or sequence numbers. */
function redelivery(body: Record<string, unknown>, workspace: string): { from?: number; seqs?: number[] } {
  const usage = `send {"from": <audit seq>} to resend everything from there, and/or {"ids": ["${workspace}:<seq>", …]} for single events`
  if (body.from === undefined && body.ids === undefined) throw new HttpError(400, usage)
  const result: { from?: number; seqs?: number[] } = {}
  if (body.from !== undefined) {
    if (!Number.isInteger(body.from) || (body.from as number) < 1) throw new HttpError(400, `from must be an audit sequence number ≥ 1; ${usage}`)
    result.from = body.from as number
  }
  if (body.ids !== undefined) {
    if (!Array.isArray(body.ids) || body.ids.length > 1000) throw new HttpError(400, `ids must be an array of at most 1000 ids; ${usage}`)
    result.seqs = body.ids.map((id) => {
      const seq = typeof id === 'number' ? id : typeof id === 'string' && id.startsWith(`${workspace}:`) ? Number(id.slice(workspace.length + 1)) : NaN
      if (!Number.isInteger(seq) || seq < 1) throw new HttpError(400, `${JSON.stringify(id)} is not an event id of workspace ${workspace}; ${usage}`)
      return seq
    })
  }
  return result
}

/** An admin's refused endpoint is audited with the reason, then answered. */
async function refused(deps: WebhooksDeps, workspace: string, actor: string, error: unknown): Promise<never> {
  if (error instanceof HttpError && error.status === 400) {
    await deps.audit.appendLater(workspace, { type: 'refused', actor, data: { reason: error.message, request: 'create webhook' } })
  }
  throw error
}

function raise(error: HttpError): never {
  throw error
}
