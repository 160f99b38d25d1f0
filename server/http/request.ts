// Request helpers shared by the REST handlers: errors with a status, JSON bodies, bearer tokens.
import type { IncomingMessage } from 'node:http'
import { roleAtLeast, type Role } from '../../shared/roles.js'
import type { AuditLog } from '../audit/log.js'
import { log } from '../log.js'
import { coversWorkspace, type RevocationCheck, TokenError, type VerifiedToken, verifyToken } from '../auth/tokens.js'

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

export interface AuthDeps {
  key: Uint8Array
  revoked: RevocationCheck
  /** where a member's refused call is recorded */
  audit: Pick<AuditLog, 'appendLater'>
  /** in a cluster: rereads the revocations other nodes wrote (cluster/credentials.ts) */
  fresh?: () => Promise<void>
}

const MAX_BODY = 64 * 1024

export async function authorize(deps: AuthDeps, request: IncomingMessage, workspace: string, needed: Role): Promise<VerifiedToken> {
  const token = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1]
  let identity: VerifiedToken
  try {
    identity = await verifyToken(deps.key, token)
  } catch (error) {
    if (error instanceof TokenError) throw new HttpError(401, `${error.message} (send it as "Authorization: Bearer <jwt>")`)
    throw error
  }
  await freshCredentials(deps)
  const revoked = deps.revoked(identity)
  if (revoked) throw new HttpError(401, revoked)
  if (!coversWorkspace(identity, workspace)) throw new HttpError(403, `your token is for workspace "${identity.workspace}", not "${workspace}"`)
  if (!roleAtLeast(identity.role, needed)) {
    // A verified member of the workspace: its refused call goes into the workspace's audit log
    // (a token of another workspace is not: anyone with a token anywhere could fill this one's log).
    const reason = `this needs role ${needed}; yours is ${identity.role}`
    const call = `${request.method ?? 'GET'} ${pathOf(request)}`
    // The caller is refused either way: a failure to record it must not turn the 403 into a 500.
    await deps.audit.appendLater(workspace, { type: 'refused', actor: identity.actor, data: { reason, request: call } }).catch((error: Error) => {
      log('a refused REST call could not be audited', { workspace, actor: identity.actor, call, error: error.message })
    })
    throw new HttpError(403, reason)
  }
  return identity
}

/** The request's path without its query (which may carry a token). */
function pathOf(request: IncomingMessage): string {
  return (request.url ?? '/').split('?')[0]!
}

/** In a cluster, rereads what other nodes revoked or created; Redis gone is a 503 to retry. */
export async function freshCredentials(deps: AuthDeps): Promise<void> {
  try {
    await deps.fresh?.()
  } catch (error) {
    throw new HttpError(503, `storage unavailable: ${(error as Error).message}; retry in a few seconds`)
  }
}

/** A JSON object body of at most `limit` bytes (a change set's is larger than the default). */
export async function readJson(request: IncomingMessage, limit = MAX_BODY): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request) {
    size += (chunk as Buffer).length
    if (size > limit) throw new HttpError(413, `request body over ${limit} bytes`)
    chunks.push(chunk as Buffer)
  }
  if (size === 0) return {}
  let body: unknown
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new HttpError(400, 'request body is not valid JSON')
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'request body must be a JSON object')
  return body as Record<string, unknown>
}

/** A request's URL, or null when it cannot be parsed (`GET //[` makes `new URL` throw). */
export function requestUrl(target: string | undefined): URL | null {
  try {
    return new URL(target ?? '/', 'http://localhost')
  } catch {
    return null
  }
}

/** A percent-decoded path segment; a malformed escape (`%E0%A4%A`) is the client's error, not ours. */
export function decodeSegment(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    throw new HttpError(400, `malformed percent-escape in the path (${JSON.stringify(text.slice(0, 80))}): encode it with encodeURIComponent`)
  }
}

export function intParam(url: URL, name: string, fallback: number): number {
  const text = url.searchParams.get(name)
  if (text === null) return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < 0) throw new HttpError(400, `${name} must be a whole number, not ${JSON.stringify(text)}`)
  return value
}
