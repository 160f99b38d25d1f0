// The REST API under /api/workspaces/<ws>/ (bearer token). Reads need no WebSocket session, so
// listings use it; force-release and the audit log exist only here.
import type { ActivityEntry } from '../shared/coordination.js'
import type { SessionValue } from '../shared/coordination.js'
import { checkResource, checkWorkspace } from '../shared/names.js'
import { roleAtLeast } from '../shared/roles.js'
import { check, type ErrorCode, HuddleError } from './errors.js'
import { tokenIdentity, type TokenIdentity } from './identity.js'
import { serverUrls } from './urls.js'
import { type ApprovalInfo, approvalInfos, type LockInfo, lockInfos } from './views.js'

export interface ApiOptions {
  /** http(s):// or ws(s):// address of the server */
  url: string
  workspace: string
  token: string
}

/** One entry of the hash-chained audit log. */
export type AuditEntry = ActivityEntry

export interface AuditPage {
  /** entries with a larger seq only (default 0: from the start) */
  after?: number
  /** at most this many, 1-1000 (default 100) */
  limit?: number
}

const STATUS_CODES: Record<number, ErrorCode> = { 401: 'unauthorized', 403: 'forbidden', 404: 'not-found', 409: 'refused' }

export class HuddleApi {
  readonly identity: TokenIdentity
  private readonly base: string

  constructor(private readonly options: ApiOptions) {
    check(checkWorkspace(options.workspace))
    this.identity = tokenIdentity(options.token, options.workspace)
    this.base = `${serverUrls(options.url).http}/api/workspaces/${encodeURIComponent(options.workspace)}`
  }

  async locks(): Promise<LockInfo[]> {
    const body = (await this.call('GET', '/locks')) as { locks: Record<string, unknown>; queue?: Record<string, unknown> }
    return lockInfos(Object.entries(body.locks), Object.entries(body.queue ?? {}))
  }

  async approvals(): Promise<ApprovalInfo[]> {
    const body = (await this.call('GET', '/approvals')) as { approvals: Record<string, unknown> }
    return approvalInfos(body.approvals)
  }

  async sessions(): Promise<Record<string, SessionValue>> {
    const body = (await this.call('GET', '/sessions')) as { sessions: Record<string, SessionValue> }
    return body.sessions
  }

  /** The content documents stored in the workspace, by path. */
  async documents(): Promise<Array<{ path: string }>> {
    const body = (await this.call('GET', '/documents')) as { documents: Array<{ path: string }> }
    return body.documents
  }

  async audit(page: AuditPage = {}): Promise<AuditEntry[]> {
    const after = page.after ?? 0
    const limit = page.limit ?? 100
    if (!Number.isInteger(after) || after < 0) throw new HuddleError('invalid-argument', `after must be a whole number ≥ 0, not ${after}`)
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new HuddleError('invalid-argument', `limit must be a whole number from 1 to 1000, not ${limit}`)
    const body = (await this.call('GET', `/audit?after=${after}&limit=${limit}`)) as { entries: AuditEntry[] }
    return body.entries
  }

  /** Takes `resource` away from every holder (admin only); their outcome becomes `revoked`. */
  async forceRelease(resource: string, reason?: string): Promise<void> {
    check(checkResource(resource))
    if (reason !== undefined && reason.length > 1000) throw new HuddleError('invalid-argument', `reason is ${reason.length} characters long; the limit is 1000`)
    if (!roleAtLeast(this.identity.role, 'admin')) {
      throw new HuddleError('forbidden', `force-releasing a lock needs role admin; the token for ${this.identity.actor} has role ${this.identity.role}`)
    }
    const query = reason ? `?reason=${encodeURIComponent(reason)}` : ''
    await this.call('DELETE', `/locks/${encodeURIComponent(resource)}${query}`)
  }

  /**
   * Revokes `token`, a token of this workspace (admin only): the server refuses it from then on and
   * closes its live connections within a second. False when it was revoked already.
   */
  async revokeToken(token: string): Promise<boolean> {
    if (!roleAtLeast(this.identity.role, 'admin')) {
      throw new HuddleError('forbidden', `revoking a token needs role admin; the token for ${this.identity.actor} has role ${this.identity.role}`)
    }
    const body = (await this.call('POST', '/tokens/revoke', { token })) as { alreadyRevoked: boolean }
    return !body.alreadyRevoked
  }

  get workspace(): string {
    return this.options.workspace
  }

  /** One request under /api/workspaces/<ws> (for the library's own modules); throws HuddleError. */
  call(method: string, path: string, json?: unknown): Promise<unknown> {
    return requestJson(method, `${this.base}${path}`, { token: this.options.token, json })
  }
}

/**
 * One JSON request to the server's REST API (the only fetch wrapper: the dashboard uses it too).
 * Throws HuddleError: `unreachable`, or a code from the status with `http` set to the server's answer.
 */
export async function requestJson(method: string, url: string, options: { token?: string; json?: unknown } = {}): Promise<unknown> {
  const { token, json } = options
  let response: Response
  try {
    const headers = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(json === undefined ? {} : { 'content-type': 'application/json' }) }
    response = await fetch(url, { method, headers, ...(json === undefined ? {} : { body: JSON.stringify(json) }) })
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message
    throw new HuddleError('unreachable', `could not reach ${url} (${cause}): is the server running there? Check --url or HUDDLE_URL`, { cause: error })
  }
  const text = await response.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = { error: text.slice(0, 200) }
  }
  if (!response.ok) {
    const message = (body as { error?: string } | null)?.error ?? `HTTP ${response.status}`
    throw new HuddleError(STATUS_CODES[response.status] ?? 'http', `${method} ${url}: ${message}`, { http: { status: response.status, message } })
  }
  return body
}
