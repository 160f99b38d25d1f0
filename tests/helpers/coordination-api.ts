// The REST API as the authority's tests use it: any method with a bearer token, the audit log
// paged in full, the coordination state.
import type { LockValue, OutcomeValue } from '../../shared/coordination.js'
import { httpRequest, type ServerLike } from './server.js'

export interface ApiResponse<T = unknown> {
  status: number
  body: T
}

export async function api<T = Record<string, unknown>>(server: ServerLike, method: string, path: string, token?: string): Promise<ApiResponse<T>> {
  const response = await httpRequest(`${server.httpUrl}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {}, timeoutMs: 10_000 })
  let body: unknown = response.body
  try {
    body = JSON.parse(response.body)
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: body as T }
}

export interface AuditEntry {
  seq: number
  at: number
  type: string
  actor?: string
  session?: string
  data?: Record<string, unknown> & { input?: unknown; write?: { type: string; key: string; subKey?: string }; reason?: string }
  prev: string
  hash: string
}

/** Every audit entry of `workspace`, paging with after/limit. */
export async function fetchAudit(server: ServerLike, workspace: string, token: string, pageSize = 1000): Promise<AuditEntry[]> {
  const all: AuditEntry[] = []
  for (;;) {
    const after = all.length > 0 ? all[all.length - 1]!.seq : 0
    const response = await api<{ entries: AuditEntry[] }>(server, 'GET', `/api/workspaces/${workspace}/audit?after=${after}&limit=${pageSize}`, token)
    if (response.status !== 200) throw new Error(`GET audit: ${response.status} ${JSON.stringify(response.body)}`)
    all.push(...response.body.entries)
    if (response.body.entries.length < pageSize) return all
  }
}

/** The `refused` entries that record an undone write (not refused connections). */
export function refusedWrites(entries: AuditEntry[], session?: string): AuditEntry[] {
  return entries.filter((entry) => entry.type === 'refused' && entry.data?.write && (session === undefined || entry.session === session))
}

export async function getState(
  server: ServerLike,
  workspace: string,
  token: string,
): Promise<{
  locks: Record<string, LockValue>
  outcomes: Record<string, OutcomeValue>
  approvals: Record<string, Record<string, unknown>>
  sessions: Record<string, { actor: string; online: boolean }>
  meta: { fence?: number }
}> {
  const response = await api<Awaited<ReturnType<typeof getState>>>(server, 'GET', `/api/workspaces/${workspace}/state`, token)
  if (response.status !== 200) throw new Error(`GET state: ${response.status} ${JSON.stringify(response.body)}`)
  return response.body
}
